//! Room secrets, kept out of the project: a shared project file must not carry the key to its
//! author's rooms. They live in one per-user file, `$XDG_CONFIG_HOME/osp-jam/secrets.json`
//! (`~/.config/...` without it), a JSON object from room name to secret, readable by its owner
//! only (mode 0600, its folder 0700).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The per-user secrets file.
#[derive(Clone, Debug)]
pub struct SecretStore {
    path: PathBuf,
}

impl SecretStore {
    /// The user's store, or `None` when neither `XDG_CONFIG_HOME` nor `HOME` is set.
    pub fn for_user() -> Option<Self> {
        Some(Self::at(
            crate::user_dir::config_dir()?.join("secrets.json"),
        ))
    }

    /// A store in the file `path`.
    pub fn at(path: PathBuf) -> Self {
        Self { path }
    }

    /// Where the secrets are kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The secret saved for `room`, if any (a missing or unreadable file has none).
    pub fn get(&self, room: &str) -> Option<String> {
        self.read().remove(room)
    }

    /// Saves `secret` for `room` (an empty secret forgets the room).
    ///
    /// # Errors
    /// The file or its folder could not be written.
    pub fn set(&self, room: &str, secret: &str) -> std::io::Result<()> {
        let mut secrets = self.read();
        if secret.is_empty() {
            secrets.remove(room);
        } else {
            secrets.insert(room.to_owned(), secret.to_owned());
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_string_pretty(&secrets).map_err(std::io::Error::other)?;
        // Written to a private temporary file, then renamed over the old one: the secrets are
        // never readable by others, not even while being written.
        let temporary = self.path.with_extension("json.tmp");
        {
            let mut file = private_file(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        std::fs::rename(&temporary, &self.path)
    }

    fn read(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_kept_per_room_in_an_owner_only_file() {
        let dir = std::env::temp_dir().join(format!("osp-jam-secrets-{}", std::process::id()));
        let store = SecretStore::at(dir.join("osp-jam").join("secrets.json"));
        assert_eq!(store.get("band"), None);
        store.set("band", "s3cret").unwrap();
        store.set("duo", "other").unwrap();
        assert_eq!(store.get("band").as_deref(), Some("s3cret"));
        assert_eq!(store.get("duo").as_deref(), Some("other"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.set("band", "").unwrap();
        assert_eq!(store.get("band"), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
