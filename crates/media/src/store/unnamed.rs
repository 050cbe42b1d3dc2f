//! Unnamed staging: a small blob is written to a file that has no name yet
//! (`O_TMPFILE`, made in the blob's own directory), and linked to its blob path once
//! it is durable (`linkat` of `/proc/self/fd/N`, which fails on an existing name, so a
//! blob is never replaced). There is no temp name to create, rename or remove: a bulk
//! `sign` of 10,000 images stages 30,000 blobs, and on ext4 the temp names and the
//! cross-directory renames (one at a time, under the file system's rename lock) were
//! half of its file system time. A run that dies leaves nothing behind, as the kernel
//! frees an unnamed file when its last descriptor closes.
//!
//! Each staged file holds a descriptor until it lands, so how many may wait is bounded
//! by the process's open-file limit ([`budget`]); past it, and where the file system
//! has no `O_TMPFILE` (FAT, NFS) or `/proc` is not mounted, blobs are staged as named
//! temp files as before.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, CWD, OFlags, linkat};
use rustix::io::Errno;

/// Descriptors kept free for everything else a process opens while it stages.
const RESERVED_FDS: u64 = 256;

/// Makes an unnamed file in `dir`, for writing. `Ok(None)` where that cannot work:
/// the file system has no `O_TMPFILE`, or `/proc/self/fd` (the way to link it
/// without privileges) is missing.
pub fn create_in(dir: &Path) -> io::Result<Option<File>> {
    if !proc_fd_available() {
        return Ok(None);
    }
    match OpenOptions::new()
        .write(true)
        .custom_flags(OFlags::TMPFILE.bits() as i32)
        .mode(0o644)
        .open(dir)
    {
        Ok(f) => Ok(Some(f)),
        // no O_TMPFILE here: EOPNOTSUPP from the file system; EISDIR or EINVAL from
        // kernels that predate it
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

/// Gives the unnamed `file` the name `name` in the directory `dir`. `Ok(false)` if
/// that name exists already (another writer landed the same blob: same digest, same
/// bytes), and the file is left unnamed, to vanish when it is closed.
///
/// `linkat(fd, "", AT_EMPTY_PATH)` names the file itself; the kernel allows it to
/// processes with CAP_DAC_READ_SEARCH, and since Linux 6.10 to the process that
/// opened the file. Elsewhere it fails with ENOENT, and the file is linked by its
/// `/proc/self/fd` path instead (a path walk through procfs per link).
pub fn link(file: &File, dir: &File, name: &str) -> io::Result<bool> {
    static EMPTY_PATH_WORKS: AtomicBool = AtomicBool::new(true);
    let linked = if EMPTY_PATH_WORKS.load(Ordering::Relaxed) {
        match linkat(file, "", dir, name, AtFlags::EMPTY_PATH) {
            Err(Errno::NOENT | Errno::PERM | Errno::INVAL) => {
                EMPTY_PATH_WORKS.store(false, Ordering::Relaxed);
                None
            }
            other => Some(other),
        }
    } else {
        None
    };
    let linked = match linked {
        Some(l) => l,
        None => {
            let fd_path = format!("/proc/self/fd/{}", file.as_raw_fd());
            linkat(CWD, fd_path.as_str(), dir, name, AtFlags::SYMLINK_FOLLOW)
        }
    };
    match linked {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        Err(e) => Err(e.into()),
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

fn proc_fd_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_unnamed_file_is_invisible_until_linked_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let Some(mut f) = create_in(dir.path()).unwrap() else {
            // a file system without O_TMPFILE: nothing of this applies
            return;
        };
        f.write_all(b"hello").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let d = File::open(dir.path()).unwrap();
        assert!(link(&f, &d, "blob").unwrap());
        assert_eq!(std::fs::read(dir.path().join("blob")).unwrap(), b"hello");
        let mut g = create_in(dir.path()).unwrap().unwrap();
        g.write_all(b"other").unwrap();
        assert!(!link(&g, &d, "blob").unwrap(), "an existing name is kept");
        assert_eq!(std::fs::read(dir.path().join("blob")).unwrap(), b"hello");
    }
}
