//! `osp-jam`: the OSP Jam plugin as a standalone app on JACK, ALSA or a dummy device.
//!
//! `osp-jam --backend dummy` runs headless without any audio hardware; `osp-jam --backend jack`
//! joins the running JACK server (the one `JACK_DEFAULT_SERVER` names). `osp-jam --help` lists
//! every flag: sample rate, period size, devices, port connections, tempo and time signature of
//! the standalone's own transport.

use std::process::ExitCode;

fn main() -> ExitCode {
    if nice_plug::prelude::nice_export_standalone::<plugin::OspJam>() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
