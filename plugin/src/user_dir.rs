//! The per-user folder OSP Jam keeps its own files in (secrets, presets):
//! `$XDG_CONFIG_HOME/osp-jam`, or `~/.config/osp-jam` without it.

use std::path::PathBuf;

/// The folder, or `None` when neither `XDG_CONFIG_HOME` nor `HOME` is set.
pub(crate) fn config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("osp-jam"))
}
