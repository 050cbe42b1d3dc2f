//! The bytes under an archive: one file or numbered parts read as one (positional
//! reads, so many readers can share the files without a shared cursor), optionally
//! through a zstd decoder.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use zstd::zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer};

use super::tar::Input;
use crate::{Error, Result};

/// Largest zstd window accepted: what `zstd --long` uses (and libzstd's default
/// limit for decoding), so memory stays bounded whatever a frame header claims.
pub const MAX_ZSTD_WINDOW: u64 = 128 * 1024 * 1024;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An archive's files: `FILE`, or `FILE.000`, `FILE.001`, … concatenated.
#[derive(Debug)]
pub struct Parts {
    files: Vec<(File, u64)>,
    /// Start offset of each part in the concatenation.
    starts: Vec<u64>,
    len: u64,
    /// The first part's path, for messages.
    path: PathBuf,
}

impl Parts {
    /// Opens `path`; a name ending in `.000` (or a missing `FILE` whose `FILE.000`
    /// exists) opens every numbered part that follows. A later part given first is
    /// refused, as a part missing in the middle is impossible to notice otherwise.
    pub fn open(path: &Path) -> Result<Parts> {
        let name = path.to_string_lossy().into_owned();
        let numbered = split_suffix(&name);
        let (base, first, width) = match numbered {
            Some((base, digits)) => {
                if digits.bytes().any(|c| c != b'0') {
                    return Err(Error::Usage(format!(
                        "{name} is not the first part of a split archive; give {base}.{}",
                        "0".repeat(digits.len())
                    )));
                }
                (base.to_owned(), 0u64, digits.len())
            }
            None if !path.exists() && Path::new(&format!("{name}.000")).exists() => {
                (name.clone(), 0, 3)
            }
            None => {
                let f = open_regular(path)?;
                let len = f.1;
                return Ok(Parts {
                    files: vec![f],
                    starts: vec![0],
                    len,
                    path: path.to_path_buf(),
                });
            }
        };
        let mut files = Vec::new();
        let mut starts = Vec::new();
        let mut len = 0u64;
        let mut i = first;
        loop {
            let p = PathBuf::from(format!("{base}.{i:0width$}"));
            if i > 0 && !p.exists() {
                break;
            }
            let f = open_regular(&p)?;
            starts.push(len);
            len += f.1;
            files.push(f);
            i += 1;
        }
        Ok(Parts {
            files,
            starts,
            len,
            path: PathBuf::from(format!("{base}.{:0width$}", first)),
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn part_count(&self) -> usize {
        self.files.len()
    }

    /// Reads at `offset` of the concatenation (short only at the end).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let i = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        // Skip empty parts sharing this start offset.
        let mut i = i;
        while self.files[i].1 == 0 {
            i += 1;
        }
        let (f, flen) = &self.files[i];
        let local = offset - self.starts[i];
        let want = buf
            .len()
            .min(usize::try_from(flen - local).unwrap_or(usize::MAX));
        let k = f.read_at(&mut buf[..want], local)?;
        if k == 0 {
            // The part shrank since it was opened.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive changed while being read",
            ));
        }
        Ok(k)
    }

    /// A reader over `[start, end)`.
    pub fn reader(&self, start: u64, end: u64) -> PartsReader<'_> {
        PartsReader {
            parts: self,
            pos: start,
            end: end.min(self.len),
        }
    }

    /// What the archive's bytes are: zstd, gzip (refused) or plain tar.
    pub fn sniff(&self) -> Result<Compression> {
        let mut head = [0u8; 4];
        let mut n = 0;
        while n < head.len() {
            let k = self
                .read_at(&mut head[n..], n as u64)
                .map_err(|e| Error::io_path("reading", &self.path, e))?;
            if k == 0 {
                break;
            }
            n += k;
        }
        if n == 4 && head == ZSTD_MAGIC {
            return Ok(Compression::Zstd);
        }
        if n >= 2 && head[..2] == GZIP_MAGIC {
            return Err(Error::invalid(format!(
                "{}: a gzip-compressed archive; airsign reads plain .tar and zstd .tar.zst \
                 (decompress it with gunzip first)",
                self.path.display()
            )));
        }
        Ok(Compression::None)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd,
}

/// `NAME.000`-style suffix: (`NAME`, digits) when the name ends in `.` and ≥ 3 digits.
fn split_suffix(name: &str) -> Option<(&str, &str)> {
    let (base, digits) = name.rsplit_once('.')?;
    (digits.len() >= 3 && digits.bytes().all(|c| c.is_ascii_digit()) && !base.is_empty())
        .then_some((base, digits))
}

/// Opens an archive file, which must be a regular file (a FIFO or device would make
/// lengths and positional reads meaningless).
fn open_regular(p: &Path) -> Result<(File, u64)> {
    let (f, meta) = crate::store::layout::open_regular(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => Error::invalid(format!("{}: {e}", p.display())),
        _ => Error::io_path("opening", p, e),
    })?;
    Ok((f, meta.len()))
}

/// A sequential reader over a byte range of [`Parts`].
pub struct PartsReader<'a> {
    parts: &'a Parts,
    pos: u64,
    end: u64,
}

impl Read for PartsReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.end {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.end - self.pos).unwrap_or(usize::MAX));
        let k = self.parts.read_at(&mut buf[..want], self.pos)?;
        self.pos += k as u64;
        Ok(k)
    }
}

impl Input for PartsReader<'_> {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let k = n.min(self.end.saturating_sub(self.pos));
        self.pos += k;
        Ok(k)
    }
}

/// A zstd stream (one or more frames, skippable frames allowed) decoded by libzstd
/// with bounded memory: the window is capped at [`MAX_ZSTD_WINDOW`] (a frame asking
/// for more is refused before anything is allocated for it), content checksums are
/// verified at the end of each frame, and input that ends inside a frame is an error.
/// Nothing is buffered beyond libzstd's window and one block: bytes come out as the
/// caller reads them.
pub struct Zstd<R: BufRead> {
    src: R,
    dec: DCtx<'static>,
    /// libzstd's last hint was not 0: a frame is under way, the input may not end.
    in_frame: bool,
}

impl<R: BufRead> Zstd<R> {
    pub fn new(src: R) -> Zstd<R> {
        let mut dec = DCtx::create();
        dec.set_parameter(DParameter::WindowLogMax(MAX_ZSTD_WINDOW.ilog2()))
            .expect("a window log libzstd accepts");
        Zstd {
            src,
            dec,
            in_frame: false,
        }
    }
}

fn zstd_error(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {why}"))
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let input = self.src.fill_buf()?;
            let at_end = input.is_empty();
            if at_end && !self.in_frame {
                return Ok(0);
            }
            let mut inb = InBuffer::around(input);
            let mut out = OutBuffer::around(&mut *buf);
            // At the end of the input this only flushes what libzstd still holds.
            let hint = self
                .dec
                .decompress_stream(&mut out, &mut inb)
                .map_err(|code| zstd_error(zstd::zstd_safe::get_error_name(code)))?;
            let (used, made) = (inb.pos(), out.pos());
            self.src.consume(used);
            self.in_frame = hint != 0;
            if made > 0 {
                return Ok(made);
            }
            if at_end {
                if self.in_frame {
                    return Err(zstd_error("truncated stream"));
                }
                return Ok(0);
            }
            if used == 0 {
                // libzstd always moves with input and room to write; never spin.
                return Err(zstd_error("the decoder made no progress"));
            }
        }
    }
}

/// The decompressed bytes of a zstd archive, as a tar [`Input`].
pub fn zstd_stream(parts: &Parts) -> super::tar::Streamed<Zstd<BufReader<PartsReader<'_>>>> {
    super::tar::Streamed(Zstd::new(BufReader::with_capacity(
        256 * 1024,
        parts.reader(0, parts.len()),
    )))
}
