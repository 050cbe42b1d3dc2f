//! Where an archive's bytes land: one file, or numbered parts of at most a given size
//! (`FILE.000`, `FILE.001`, … for FAT32 media), written atomically.
//!
//! Everything is written under temp names beside the destination
//! (`FILE.tmp-<pid>-<nanos>`, `FILE.000.tmp-…`); [`Output::commit`] fsyncs, then
//! renames each part to its final name without ever replacing an existing file, and
//! fsyncs the directory. Parts are renamed last-to-first with `.000` last, so a crash
//! in the middle of the renames leaves no `.000`: the set is either complete or
//! invisible to a reader that starts from the first part (stray `.001`… may remain).
//! Dropping an uncommitted `Output` removes every file it created.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::store::layout::sync_dir;
use crate::{Error, Result};

/// Most parts a split archive may have (three-digit suffixes).
pub const MAX_PARTS: usize = 1000;

/// Every this many bytes, writeback of what was just written is started (see
/// [`Output::write`]).
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// A file written by an export.
#[derive(Clone, Debug, Serialize)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub size: u64,
}

pub struct Output {
    dest: PathBuf,
    split: Option<u64>,
    tag: String,
    /// (temp path, final path, size); the last one is the one being written.
    parts: Vec<(PathBuf, PathBuf, u64)>,
    cur: Option<File>,
    /// Bytes written to the current part since writeback was last started.
    unadvised: u64,
    /// Final names this output has created (undone if the commit fails midway).
    placed: Vec<PathBuf>,
    committed: bool,
    /// The temp parts, registered for removal on SIGINT/SIGTERM.
    _guards: Vec<crate::cleanup::Guard>,
}

impl Output {
    /// Prepares to write `dest` (or its parts of at most `split` bytes). Refuses if
    /// `dest` or any part name `dest.NNN` exists: an export never overwrites, and a
    /// stale part of an earlier, longer export would be read as part of this one.
    pub fn create(dest: &Path, split: Option<u64>) -> Result<Output> {
        if split == Some(0) {
            return Err(Error::Usage("--split needs a size above 0".into()));
        }
        let name = dest
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Usage(format!("{}: not a file name", dest.display())))?;
        let dir = parent(dest);
        match split {
            None => {
                if fs::symlink_metadata(dest).is_ok() {
                    return Err(exists(dest));
                }
            }
            Some(_) => {
                let entries = fs::read_dir(dir).map_err(|e| Error::io_path("reading", dir, e))?;
                for e in entries.flatten() {
                    let n = e.file_name();
                    if let Some(suffix) = n.to_str().and_then(|n| n.strip_prefix(name))
                        && let Some(num) = suffix.strip_prefix('.')
                        && num.len() == 3
                        && num.bytes().all(|b| b.is_ascii_digit())
                    {
                        return Err(exists(&e.path()));
                    }
                }
            }
        }
        let tag = format!(
            ".tmp-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let mut out = Output {
            dest: dest.to_path_buf(),
            split,
            tag,
            parts: Vec::new(),
            cur: None,
            unadvised: 0,
            placed: Vec::new(),
            committed: false,
            _guards: Vec::new(),
        };
        // The first file now, so an unwritable destination fails before any reading.
        out.next_part()
            .map_err(|e| Error::io_path("creating", &out.parts_tmp_hint(), e))?;
        Ok(out)
    }

    fn parts_tmp_hint(&self) -> PathBuf {
        self.parts
            .last()
            .map_or_else(|| self.dest.clone(), |p| p.0.clone())
    }

    fn next_part(&mut self) -> io::Result<()> {
        if let Some(f) = self.cur.take() {
            // A finished part is made durable now, while the next one fills.
            f.sync_all()?;
        }
        let i = self.parts.len();
        if i == MAX_PARTS {
            return Err(io::Error::other(format!(
                "more than {MAX_PARTS} parts: choose a larger --split"
            )));
        }
        let final_path = match self.split {
            None => self.dest.clone(),
            Some(_) => suffixed(&self.dest, &format!(".{i:03}")),
        };
        let tmp = suffixed(&final_path, &self.tag);
        self._guards.push(crate::cleanup::register(&tmp));
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        self.parts.push((tmp, final_path, 0));
        self.cur = Some(f);
        self.unadvised = 0;
        Ok(())
    }

    /// Makes the files durable and gives them their final names.
    pub fn commit(mut self) -> Result<Vec<WrittenFile>> {
        if let Some(f) = self.cur.take() {
            let tmp = &self.parts.last().expect("a part").0;
            f.sync_all()
                .map_err(|e| Error::io_path("syncing", tmp, e))?;
        }
        // `.000` last: see the module's note.
        let order: Vec<usize> = (1..self.parts.len()).rev().chain([0]).collect();
        for i in order {
            let (tmp, final_path, _) = &self.parts[i];
            rename_noreplace(tmp, final_path)?;
            self.placed.push(final_path.clone());
        }
        let dir = parent(&self.dest).to_path_buf();
        sync_dir(&dir)?;
        self.committed = true;
        Ok(self
            .parts
            .iter()
            .map(|(_, p, n)| WrittenFile {
                path: p.clone(),
                size: *n,
            })
            .collect())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = self.parts.last().map_or(0, |p| p.2);
        if let Some(limit) = self.split
            && len == limit
        {
            self.next_part()?;
        }
        let len = self.parts.last().map_or(0, |p| p.2);
        let room = self.split.map_or(buf.len() as u64, |l| l - len);
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let f = self.cur.as_mut().expect("a part is open");
        let n = f.write(&buf[..n]).map_err(|e| {
            if e.kind() == io::ErrorKind::FileTooLarge {
                // FAT32's limit is 4 GiB - 1, so `--split 4G` is one byte too many.
                io::Error::other(format!(
                    "{e} after {len} bytes: the file system limits file sizes \
                     (FAT32: 4 GiB - 1); use --split 4095M or smaller"
                ))
            } else {
                e
            }
        })?;
        let part = self.parts.last_mut().expect("a part");
        part.2 += n as u64;
        self.unadvised += n as u64;
        if self.unadvised >= WRITEBACK_STEP {
            // Start writing back what was just written, and drop from the page cache
            // what has been written back already. Without this the whole archive would
            // sit dirty in memory until the final fsync, which would then wait for the
            // disk alone, after a progress bar at 100% (minutes on a USB stick);
            // with it, the disk works while the next blobs are read and hashed, and a
            // large export does not push everything else out of the page cache.
            let end = part.2;
            let start = end.saturating_sub(4 * WRITEBACK_STEP);
            let _ = rustix::fs::fadvise(
                &*f,
                start,
                std::num::NonZeroU64::new(end - start),
                rustix::fs::Advice::DontNeed,
            );
            self.unadvised = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        self.cur = None;
        for (tmp, _, _) in &self.parts {
            let _ = fs::remove_file(tmp);
        }
        for p in &self.placed {
            let _ = fs::remove_file(p);
        }
    }
}

/// Renames without replacing: `renameat2(RENAME_NOREPLACE)`, or where the file system
/// lacks it (FAT, some network file systems) an existence check and a rename.
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(exists(to)),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(exists(to));
            }
            fs::rename(from, to).map_err(|e| Error::io_path("renaming to", to, e))
        }
        Err(e) => Err(Error::io_path("renaming to", to, e.into())),
    }
}

fn exists(p: &Path) -> Error {
    Error::Usage(format!(
        "{} already exists; export never overwrites: remove it or choose another name",
        p.display()
    ))
}

/// The directory holding `p` (`.` for a bare file name).
pub fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `p` with `suffix` appended to its file name.
pub fn suffixed(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn splits_into_bounded_parts_atomically() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dest = tmp.path().join("x.tar");
        let mut o = Output::create(&dest, Some(10)).unwrap();
        o.write_all(&[1u8; 25]).unwrap();
        assert_eq!(names(tmp.path()).len(), 3);
        assert!(names(tmp.path()).iter().all(|n| n.contains(".tmp-")));
        let files = o.commit().unwrap();
        assert_eq!(names(tmp.path()), ["x.tar.000", "x.tar.001", "x.tar.002"]);
        let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
        assert_eq!(sizes, [10, 10, 5]);

        // an exact multiple makes no empty last part
        let dest2 = tmp.path().join("y.tar");
        let mut o = Output::create(&dest2, Some(10)).unwrap();
        o.write_all(&[1u8; 20]).unwrap();
        assert_eq!(o.commit().unwrap().len(), 2);

        // any existing part refuses the export, before anything is written
        let e = Output::create(&dest, Some(10)).err().unwrap();
        assert!(e.to_string().contains("already exists"), "{e}");
        let e = Output::create(&dest, Some(0)).err().unwrap();
        assert!(e.to_string().contains("above 0"), "{e}");
    }

    #[test]
    fn dropping_removes_everything() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dest = tmp.path().join("x.tar");
        let mut o = Output::create(&dest, Some(4)).unwrap();
        o.write_all(b"0123456789").unwrap();
        drop(o);
        assert!(names(tmp.path()).is_empty());
        let mut o = Output::create(&dest, None).unwrap();
        o.write_all(b"0123456789").unwrap();
        drop(o);
        assert!(names(tmp.path()).is_empty());
        fs::write(&dest, b"old").unwrap();
        assert!(Output::create(&dest, None).is_err());
        assert_eq!(fs::read(&dest).unwrap(), b"old");
    }

    #[test]
    fn too_many_parts_fail() {
        let tmp = tempfile::TempDir::new().unwrap();
        let mut o = Output::create(&tmp.path().join("x"), Some(1)).unwrap();
        let e = o.write_all(&[0u8; MAX_PARTS + 1]).unwrap_err();
        assert!(e.to_string().contains("more than 1000 parts"), "{e}");
        drop(o);
        assert!(names(tmp.path()).is_empty());
    }
}
