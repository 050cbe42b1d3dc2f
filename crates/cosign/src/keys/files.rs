//! Writing key files so that a crash never leaves half a key: each file is written
//! whole to a temporary name in the same directory (created with its final mode,
//! so a private key is never readable by others, not even for an instant), synced,
//! then moved into place.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Mode of private key files, as cosign writes them.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of public key files (before the umask), as cosign writes them.
pub const PUBLIC_MODE: u32 = 0o644;

/// A file written under a temporary name, waiting to be moved to `dest`. Dropping
/// it without [`StagedFile::commit`] removes the temporary file.
pub struct StagedFile {
    temp: PathBuf,
    dest: PathBuf,
    committed: bool,
    _guard: crate::cleanup::Guard,
}

impl StagedFile {
    /// Writes `contents` to a new temporary file next to `dest`, with `mode`.
    pub fn write(dest: &Path, contents: &[u8], mode: u32) -> Result<Self> {
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{}: not a file name", dest.display())))?;
        let random = getrandom::u32().map_err(|e| Error::Key(format!("random name: {e}")))?;
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".tmp-{}-{random:08x}", std::process::id()));
        let temp = dest.with_file_name(temp_name);
        let guard = crate::cleanup::register(&temp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(|e| Error::io_path("creating", dest, e))?;
        let staged = Self {
            temp,
            dest: dest.to_path_buf(),
            committed: false,
            _guard: guard,
        };
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io_path("writing", dest, e))?;
        Ok(staged)
    }

    /// Moves the file into place. Without `overwrite`, an existing `dest` is an
    /// error and stays as it was (a hard link never replaces its target).
    pub fn commit(mut self, overwrite: bool) -> Result<()> {
        if overwrite {
            std::fs::rename(&self.temp, &self.dest)
                .map_err(|e| Error::io_path("renaming to", &self.dest, e))?;
        } else {
            match std::fs::hard_link(&self.temp, &self.dest) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&self.temp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(already_exists(&self.dest));
                }
                // File systems without hard links: check, then rename.
                Err(_) if !self.dest.exists() => std::fs::rename(&self.temp, &self.dest)
                    .map_err(|e| Error::io_path("renaming to", &self.dest, e))?,
                Err(_) => return Err(already_exists(&self.dest)),
            }
        }
        self.committed = true;
        // Make the rename itself durable; failing to is not worth an error.
        if let Some(dir) = self.dest.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

pub fn already_exists(path: &Path) -> Error {
    Error::Usage(format!(
        "{} already exists (pass --yes to overwrite it)",
        path.display()
    ))
}

/// `PREFIX.key` and `PREFIX.pub`, appended to the prefix as bytes (a prefix may
/// contain dots, and need not be UTF-8).
pub fn key_pair_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut name = prefix.as_os_str().to_os_string();
        name.push(ext);
        PathBuf::from(name)
    };
    (with(".key"), with(".pub"))
}

/// Writes a key pair: nothing is written unless both files can be (existing files
/// are refused up front without `overwrite`), and each file appears whole.
pub fn write_key_pair(
    key_path: &Path,
    private_pem: &[u8],
    pub_path: &Path,
    public_pem: &[u8],
    overwrite: bool,
) -> Result<()> {
    if !overwrite {
        for path in [key_path, pub_path] {
            if path.symlink_metadata().is_ok() {
                return Err(already_exists(path));
            }
        }
    }
    let staged_key = StagedFile::write(key_path, private_pem, PRIVATE_MODE)?;
    let staged_pub = StagedFile::write(pub_path, public_pem, PUBLIC_MODE)?;
    staged_key.commit(overwrite)?;
    staged_pub.commit(overwrite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn writes_with_modes_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = key_pair_paths(&dir.path().join("my.prefix"));
        assert_eq!(key.file_name().unwrap(), "my.prefix.key");
        write_key_pair(&key, b"private", &public, b"public", false).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(std::fs::read(&public).unwrap(), b"public");
        let err = write_key_pair(&key, b"other", &public, b"other", false).unwrap_err();
        assert!(err.to_string().contains("already exists"));
        assert_eq!(std::fs::read(&key).unwrap(), b"private");
        write_key_pair(&key, b"new", &public, b"new", true).unwrap();
        assert_eq!(std::fs::read(&key).unwrap(), b"new");
        assert_eq!(mode(&key), 0o600);
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
