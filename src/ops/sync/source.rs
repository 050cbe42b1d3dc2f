//! Where sync reads from: the store, an `oci:` directory or an `oci-archive:`
//! tarball, and a blob of any of them as the seekable stream an upload needs.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use indicatif::ProgressBar;

use crate::digest::Digest;
use crate::store::{Layout, ReadLayout};
use crate::{Error, Result};

/// One layout a run reads images from.
pub struct Source<'a> {
    pub layout: &'a dyn ReadLayout,
    /// The same layout when it is a directory: its blob files seek for real.
    pub dir: Option<&'a Layout>,
    /// `oci:DIR`, `oci-archive:FILE` or the store, for messages and reports.
    pub label: String,
    /// Look for referrers no entry lists (in its blobs): in layouts other tools
    /// wrote, not in the store.
    pub scan_referrers: bool,
}

/// A blob of a [`Source`] as a `Read + Seek` stream, opened lazily. A directory's
/// blob is its file; an archive member is read in place (by offset, or decoded for a
/// `.tar.zst`), and a seek backwards opens it again and skips forward — uploads seek
/// only to resume, so that is rare. Every byte read is counted (`sent`) and shown
/// on the progress bar.
pub struct BlobStream<'a> {
    source: &'a Source<'a>,
    digest: Digest,
    size: u64,
    inner: Option<Inner<'a>>,
    pos: u64,
    /// Bytes read in all (re-reads after a retry included): what went to the network.
    pub sent: u64,
    bar: ProgressBar,
}

enum Inner<'a> {
    File(File),
    Stream(Box<dyn Read + 'a>),
}

impl<'a> BlobStream<'a> {
    pub fn new(source: &'a Source<'a>, digest: &Digest, size: u64, bar: ProgressBar) -> Self {
        BlobStream {
            source,
            digest: digest.clone(),
            size,
            inner: None,
            pos: 0,
            sent: 0,
            bar,
        }
    }

    /// Opens the blob at offset 0, checking that the source has it at its size.
    fn open(&self) -> Result<Inner<'a>> {
        let missing = || {
            Error::NotFound(format!(
                "blob {} is missing from {}",
                self.digest, self.source.label
            ))
        };
        let wrong = |len: u64| {
            Error::invalid(format!(
                "blob {} in {} is {len} bytes, its descriptor says {}",
                self.digest, self.source.label, self.size
            ))
        };
        if let Some(dir) = self.source.dir {
            let (f, len) = dir.open_blob(&self.digest)?.ok_or_else(missing)?;
            return if len == self.size {
                Ok(Inner::File(f))
            } else {
                Err(wrong(len))
            };
        }
        let (r, len) = self
            .source
            .layout
            .open_blob(&self.digest)?
            .ok_or_else(missing)?;
        if len != self.size {
            return Err(wrong(len));
        }
        Ok(Inner::Stream(r))
    }

    /// Makes sure a reader stands at `self.pos`.
    fn ready(&mut self) -> io::Result<&mut Inner<'a>> {
        if self.inner.is_none() {
            let mut inner = self.open().map_err(io::Error::other)?;
            match &mut inner {
                Inner::File(f) => {
                    f.seek(SeekFrom::Start(self.pos))?;
                }
                Inner::Stream(r) => skip(r, self.pos)?,
            }
            self.inner = Some(inner);
        }
        Ok(self.inner.as_mut().expect("just opened"))
    }
}

fn skip(r: &mut dyn Read, n: u64) -> io::Result<()> {
    let skipped = io::copy(&mut r.take(n), &mut io::sink())?;
    if skipped != n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the blob ended before the resume offset",
        ));
    }
    Ok(())
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.ready()? {
            Inner::File(f) => f.read(buf)?,
            Inner::Stream(r) => r.read(buf)?,
        };
        self.pos += n as u64;
        self.sent += n as u64;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

impl Seek for BlobStream<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if target == self.pos {
            return Ok(target);
        }
        match &mut self.inner {
            Some(Inner::File(f)) => {
                f.seek(SeekFrom::Start(target))?;
            }
            Some(Inner::Stream(r)) if target > self.pos => skip(r, target - self.pos)?,
            // backwards in a stream, or not open yet: (re)open there when read
            _ => self.inner = None,
        }
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads 4 bytes at 10, then everything from 3: the same bytes whether the blob
    /// seeks for real (a directory's file) or is re-opened and skipped (a stream).
    #[test]
    fn seeks_forward_and_back_in_files_and_streams() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::init(tmp.path()).unwrap();
        let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let mut tx = layout.begin().unwrap();
        let d = tx.put_bytes(&bytes).unwrap();
        tx.commit(|_| Ok(())).unwrap();
        for dir in [Some(&layout), None] {
            let source = Source {
                layout: &layout,
                dir,
                label: "test".into(),
                scan_referrers: false,
            };
            let mut s = BlobStream::new(&source, &d, bytes.len() as u64, ProgressBar::hidden());
            let mut four = [0u8; 4];
            s.seek(SeekFrom::Start(10)).unwrap();
            s.read_exact(&mut four).unwrap();
            assert_eq!(four, bytes[10..14]);
            s.seek(SeekFrom::Start(3)).unwrap();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, bytes[3..]);
            assert_eq!(s.sent, 4 + bytes.len() as u64 - 3);
        }
        // a descriptor that lies about the size is refused on the first read
        let source = Source {
            layout: &layout,
            dir: None,
            label: "test".into(),
            scan_referrers: false,
        };
        let mut s = BlobStream::new(&source, &d, 12, ProgressBar::hidden());
        assert!(s.read(&mut [0u8; 4]).is_err());
    }
}
