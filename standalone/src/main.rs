//! `osp-jam`: the OSP Jam plugin as a standalone app on JACK, ALSA or a dummy device.
//!
//! `osp-jam --backend jack` joins the running JACK server (the one `JACK_DEFAULT_SERVER` names)
//! as client `osp_jam`, or under the unique name JACK gives when another instance has that
//! (`--client-name` picks an exact one); it prints `jack client NAME`. `osp-jam --backend
//! dummy` runs headless without any audio hardware. The session flags join a room:
//!
//! ```text
//! osp-jam --backend jack --room band --secret s3cret --listen 0.0.0.0:48500 \
//!         --peer 192.0.2.7:48500 --codec opus --frame 120 --bitrate 128000 --jitter auto --stats
//! ```
//!
//! Once in the room it prints `listening on ADDR` (the bound address: with `--listen
//! 127.0.0.1:0` the port the OS chose) on stdout.
//!
//! With a display (`DISPLAY` or `WAYLAND_DISPLAY`) the plugin's editor opens in a window titled
//! "OSP Jam", and closing it quits; without one, or with `--no-gui`, the app runs headless.
//!
//! JACK runs on our own shell ([`jack_shell`], which says why); ALSA and dummy on nice-plug's.
//! Every failure to start prints one line `osp-jam: <why>` on stderr and exits with status 2;
//! log messages (ours, nice-plug's, JACK's with `RUST_LOG=jack=info`) go to stderr, filtered
//! by `RUST_LOG`. Ctrl-C or SIGTERM leaves the room (peers are told) and exits 0, with or
//! without the window.

mod host;
mod jack_shell;
mod logging;
mod session_flags;
mod shell_args;
mod window;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::jack_shell::{Ended, StartError};
use crate::shell_args::{Backend, Shell};

/// Exit status of a failure to start.
const START_FAILED: u8 = 2;

fn main() -> ExitCode {
    logging::install();
    match run() {
        Ok(code) => code,
        Err(why) => {
            eprintln!("osp-jam: {why}");
            ExitCode::from(START_FAILED)
        }
    }
}

/// Parses the command line and runs the chosen shell; `Err` is a failure to start.
fn run() -> Result<ExitCode, String> {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(preset) = session_flags::take_preset(&mut args)? {
        plugin::effects::set_standalone_preset(preset);
    }
    let (settings, rest) = session_flags::parse(args)?;
    let shell = match Shell::try_parse_from(&rest) {
        Ok(shell) => shell,
        Err(err) if err.kind() == clap::error::ErrorKind::DisplayHelp => {
            // A closed pipe (`osp-jam --help | head`) is not an error worth a panic.
            let _ = write!(
                std::io::stdout(),
                "{}\nAudio shell flags:\n{}",
                session_flags::SESSION_HELP,
                err.render()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(err) => return Err(clap_line(&err)),
    };
    if shell.no_gui || !window::display_available() {
        plugin::editor::disable();
    } else {
        plugin::editor::on_window_open(window::close_on_signals);
    }
    if settings.is_enabled() {
        plugin::session::set_standalone(settings);
        // A room that cannot be joined (the UDP port taken, ...) is a failure to start, in
        // either shell: the plugin reports it here while it activates.
        plugin::session::on_standalone_start_failure(|why| {
            eprintln!("osp-jam: {why}");
            std::process::exit(i32::from(START_FAILED));
        });
    }
    let nice_plug_backend = match shell.backend {
        Backend::Jack | Backend::Auto => match jack_shell::run(&shell) {
            Ok(Ended::Stopped) => return Ok(ExitCode::SUCCESS),
            Ok(Ended::Lost(why)) => {
                eprintln!("osp-jam: {why}");
                return Ok(ExitCode::FAILURE);
            }
            Err(StartError::NoServer(_)) if shell.backend == Backend::Auto => "auto",
            Err(StartError::NoServer(why) | StartError::Failed(why)) => return Err(why),
        },
        Backend::Alsa => "alsa",
        Backend::Dummy => "dummy",
    };
    let args = shell.nice_plug_args(nice_plug_backend)?;
    if nice_plug::prelude::nice_export_standalone_with_args::<plugin::OspJam, _>(args) {
        Ok(ExitCode::SUCCESS)
    } else {
        // nice-plug logged why (one `osp-jam: error: ...` line through our logger).
        Ok(ExitCode::from(START_FAILED))
    }
}

/// clap's error as one line (its first, without the `error: ` prefix and the usage after it).
fn clap_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first = text.lines().next().unwrap_or("bad command line");
    format!(
        "{} (osp-jam --help lists the flags)",
        first.strip_prefix("error: ").unwrap_or(first)
    )
}
