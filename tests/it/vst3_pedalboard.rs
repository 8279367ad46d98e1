//! The built `OSP Jam.vst3` loaded by pedalboard (Spotify's VST3 host, from PyPI): processing,
//! parameters in plain units, and state. The checks live in `vst3_pedalboard.py`; this runs it
//! with the venv `scripts/install-deps.sh` made.

use std::path::PathBuf;
use std::process::Command;

use crate::support::bundled;

fn venv_python() -> PathBuf {
    let venv = match std::env::var_os("OSP_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/osp-jam/venv")
        }
    };
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-deps.sh (it makes the pedalboard venv)",
        python.display()
    );
    python
}

#[test]
fn vst3_bundle_processes_and_keeps_state_in_pedalboard() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("it/vst3_pedalboard.py");
    let out = Command::new(venv_python())
        .arg(script)
        .arg(bundled("OSP Jam.vst3"))
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pedalboard checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.lines().any(|l| l == "ok: 7 checks"), "{stdout}");
}
