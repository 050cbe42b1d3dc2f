//! Unnamed staging: a small blob is written to a file that has no name yet
//! (`O_TMPFILE`, made in the blob's own directory), and linked to its blob path once
//! it is durable (`linkat(AT_EMPTY_PATH)`, or `linkat` of `/proc/self/fd/N` where the
//! kernel refuses that; both fail on an existing name, so a blob is never replaced). There is no temp name to create, rename or remove: a bulk
//! `sign` of 10,000 images stages 30,000 blobs, and on ext4 the temp names and the
//! cross-directory renames (one at a time, under the file system's rename lock) were
//! half of its file system time. A run that dies leaves nothing behind, as the kernel
//! frees an unnamed file when its last descriptor closes.
//!
//! Each staged file holds a descriptor until it lands, so how many may wait is bounded
//! by the process's open-file limit ([`budget`]); past it, and where the file system
//! has no `O_TMPFILE` (FAT, NFS) or `/proc` is not mounted, blobs are staged as named
//! temp files as before.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, CWD, Mode, OFlags, linkat, openat};
use rustix::io::Errno;

/// Descriptors kept free for everything else a process opens while it stages.
const RESERVED_FDS: u64 = 256;

/// A blob directory unnamed files are made in and linked into, held open: each
/// file is made relative to it (no path walk per blob).
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    fd: File,
    /// Whether a file was linked here (its link count then needs a flush).
    linked: AtomicBool,
}

impl Dir {
    /// Opens `path` for unnamed files. `Ok(None)` where they cannot work: the file
    /// system has no `O_TMPFILE` (tried once, with a file that is dropped at once),
    /// or `/proc/self/fd` (the way to link one without privileges) is missing.
    pub fn open(path: &Path) -> io::Result<Option<Dir>> {
        if !Path::new("/proc/self/fd").is_dir() {
            return Ok(None);
        }
        let dir = Dir {
            path: path.to_path_buf(),
            fd: File::open(path)?,
            linked: AtomicBool::new(false),
        };
        match dir.create() {
            Ok(_) => Ok(Some(dir)),
            // no O_TMPFILE here: EOPNOTSUPP from the file system; EISDIR or EINVAL
            // from kernels that predate it
            Err(e)
                if matches!(
                    Errno::from_io_error(&e),
                    Some(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a file has been linked here.
    pub fn linked(&self) -> bool {
        self.linked.load(Ordering::Relaxed)
    }

    /// Flushes the file system this directory is on (syncfs(2) through the
    /// descriptor held since it was opened: a writeback error since then is
    /// reported, not lost).
    pub fn sync_filesystem(&self) -> io::Result<()> {
        rustix::fs::syncfs(&self.fd).map_err(io::Error::from)
    }

    /// A new unnamed file in this directory, open for writing.
    pub fn create(&self) -> io::Result<File> {
        let fd = openat(
            &self.fd,
            ".",
            OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        Ok(File::from(fd))
    }

    /// Gives the unnamed `file` the name `name` here. `Ok(false)` if that name exists
    /// already (another writer landed the same blob: same digest, same bytes), and the
    /// file is left unnamed, to vanish when it is closed.
    ///
    /// `linkat(fd, "", AT_EMPTY_PATH)` names the file itself; the kernel allows it to
    /// processes with CAP_DAC_READ_SEARCH, and since Linux 6.10 to the process that
    /// opened the file. Elsewhere it fails with ENOENT, and the file is linked by its
    /// `/proc/self/fd` path instead (a path walk through procfs per link).
    pub fn link(&self, file: &File, name: &str) -> io::Result<bool> {
        static EMPTY_PATH_WORKS: AtomicBool = AtomicBool::new(true);
        let mut linked = None;
        if EMPTY_PATH_WORKS.load(Ordering::Relaxed) {
            match linkat(file, "", &self.fd, name, AtFlags::EMPTY_PATH) {
                Err(Errno::NOENT | Errno::PERM | Errno::INVAL) => {
                    EMPTY_PATH_WORKS.store(false, Ordering::Relaxed);
                }
                other => linked = Some(other),
            }
        }
        match linked.unwrap_or_else(|| self.link_by_proc_path(file, name)) {
            Ok(()) => {
                self.linked.store(true, Ordering::Relaxed);
                Ok(true)
            }
            Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn link_by_proc_path(&self, file: &File, name: &str) -> rustix::io::Result<()> {
        let fd_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        linkat(
            CWD,
            fd_path.as_str(),
            &self.fd,
            name,
            AtFlags::SYMLINK_FOLLOW,
        )
    }
}

/// How many unnamed files one transaction may hold open: half of what the open-file
/// limit leaves after [`RESERVED_FDS`] (copies open their sources in parallel too).
pub fn budget() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    usize::try_from(soft.saturating_sub(RESERVED_FDS) / 2).unwrap_or(usize::MAX)
}

/// Raises this process's soft open-file limit to its hard limit, as Go programs
/// (cosign, skopeo) do at start: the soft default (1024 on many systems) would make
/// a bulk write fall back to named temp files. A failure changes nothing.
pub fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A temp directory for unnamed files and one written there; `None` on a file
    /// system without `O_TMPFILE` (nothing of this applies there).
    fn with_file(bytes: &[u8]) -> Option<(tempfile::TempDir, Dir, File)> {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap()?;
        let mut f = dir.create().unwrap();
        f.write_all(bytes).unwrap();
        Some((tmp, dir, f))
    }

    #[test]
    fn an_unnamed_file_is_invisible_until_linked_and_never_replaces() {
        let Some((tmp, dir, f)) = with_file(b"hello") else {
            return;
        };
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
        assert!(dir.link(&f, "blob").unwrap());
        assert_eq!(std::fs::read(tmp.path().join("blob")).unwrap(), b"hello");
        let mut g = dir.create().unwrap();
        g.write_all(b"other").unwrap();
        assert!(!dir.link(&g, "blob").unwrap(), "an existing name is kept");
        assert_eq!(std::fs::read(tmp.path().join("blob")).unwrap(), b"hello");
        drop((f, g));
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    /// The way without CAP_DAC_READ_SEARCH (or before Linux 6.10), which a test run as
    /// root would otherwise never take.
    #[test]
    fn linking_by_the_proc_path_works_too() {
        let Some((tmp, dir, f)) = with_file(b"by proc") else {
            return;
        };
        dir.link_by_proc_path(&f, "blob").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("blob")).unwrap(), b"by proc");
        let g = dir.create().unwrap();
        assert_eq!(dir.link_by_proc_path(&g, "blob"), Err(Errno::EXIST));
    }
}
