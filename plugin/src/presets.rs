//! Named effect-chain presets in the user's folder: `$XDG_CONFIG_HOME/osp-jam/presets/NAME.json`,
//! each the chain's reference JSON (the format `osp-jam --preset` and `osp-fx` read). The
//! editor saves the chain's current settings under a name and loads one back through the host's
//! parameters.

use std::path::{Path, PathBuf};

use dsp::chain::{Preset, PresetError};

/// The longest preset name, characters.
const MAX_NAME: usize = 64;

/// Why a preset could not be saved or loaded: each reads as one sentence for the player.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PresetFileError {
    /// A name that cannot be a file name here.
    #[error("{0:?} is not a preset name: use letters, digits, spaces, - and _ (up to 64)")]
    Name(String),
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a chain preset.
    #[error("{path} is not a chain preset: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: PresetError,
    },
}

/// The folder of saved presets.
#[derive(Clone, Debug)]
pub struct PresetStore {
    dir: PathBuf,
}

impl PresetStore {
    /// The user's presets, or `None` when neither `XDG_CONFIG_HOME` nor `HOME` is set.
    pub fn for_user() -> Option<Self> {
        Some(Self::at(crate::user_dir::config_dir()?.join("presets")))
    }

    /// Presets in the folder `dir`.
    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Where the presets are kept.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The saved presets' names, sorted (none when the folder does not exist yet).
    pub fn names(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let path = entry.path();
                (path.extension()? == "json")
                    .then(|| path.file_stem()?.to_str().map(str::to_owned))?
            })
            .filter(|name| valid_name(name))
            .collect();
        names.sort_unstable_by_key(|name| name.to_lowercase());
        names
    }

    /// Writes `preset` as `name` (replacing a preset of that name).
    ///
    /// # Errors
    /// A name that is no file name, or the folder or file could not be written.
    pub fn save(&self, name: &str, preset: &Preset) -> Result<PathBuf, PresetFileError> {
        let path = self.path_of(name)?;
        let io = |source| PresetFileError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        // Written beside, then renamed over: a crash never leaves half a preset.
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, preset.to_json()).map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
        Ok(path)
    }

    /// Reads the preset `name`.
    ///
    /// # Errors
    /// A name that is no file name, a file that cannot be read, or one that is not a preset.
    pub fn load(&self, name: &str) -> Result<Preset, PresetFileError> {
        let path = self.path_of(name)?;
        let text = std::fs::read_to_string(&path).map_err(|source| PresetFileError::Io {
            path: path.clone(),
            source,
        })?;
        Preset::from_json(&text).map_err(|source| PresetFileError::Invalid { path, source })
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, PresetFileError> {
        let name = name.trim();
        if !valid_name(name) {
            return Err(PresetFileError::Name(name.to_owned()));
        }
        Ok(self.dir.join(format!("{name}.json")))
    }
}

/// A name that is a plain file name on every system: no separators, no leading dot.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && !name.starts_with(['.', ' '])
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_saved_listed_and_loaded_by_name_and_bad_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("osp-jam-presets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = PresetStore::at(dir.clone());
        assert!(store.names().is_empty());
        let preset =
            Preset::from_json(r#"{"compressor": {"enabled": true, "threshold": -30}}"#).unwrap();
        store.save("Warm lead", &preset).unwrap();
        store.save("clean", &Preset::default()).unwrap();
        assert_eq!(store.names(), ["clean", "Warm lead"]);
        assert_eq!(store.load("Warm lead").unwrap().units, preset.units);

        for bad in ["", "../secrets", "a/b", ".hidden"] {
            assert!(
                matches!(store.save(bad, &preset), Err(PresetFileError::Name(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            store.load("missing"),
            Err(PresetFileError::Io { .. })
        ));
        std::fs::write(dir.join("broken.json"), "{ not json").unwrap();
        let err = store.load("broken").unwrap_err();
        assert!(matches!(err, PresetFileError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("broken.json"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
