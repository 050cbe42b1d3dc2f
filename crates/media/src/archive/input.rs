//! The bytes under an archive: one file or numbered parts read as one (positional
//! reads, so many readers can share the files without a shared cursor), optionally
//! through a zstd decoder.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

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

/// A zstd stream (one or more frames, skippable frames allowed) decoded with bounded
/// memory: the window is capped at [`MAX_ZSTD_WINDOW`], and content checksums are
/// verified at the end of each frame.
pub struct Zstd<R: BufRead> {
    src: R,
    dec: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> Zstd<R> {
    pub fn new(src: R) -> Zstd<R> {
        let mut dec = FrameDecoder::new();
        dec.set_max_window_size(MAX_ZSTD_WINDOW);
        Zstd {
            src,
            dec,
            in_frame: false,
        }
    }

    /// Starts the next frame; false at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.src.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.dec.reset(&mut self.src) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped = io::copy(
                        &mut (&mut self.src).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                    if skipped < u64::from(length) {
                        return Err(zstd_error("truncated skippable frame"));
                    }
                }
                Err(e) => return Err(zstd_error(&e.to_string())),
            }
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
            if self.in_frame {
                if self.dec.can_collect() > 0 {
                    return self.dec.read(buf);
                }
                if !self.dec.is_finished() {
                    self.dec
                        .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(|e| match e {
                            FrameDecoderError::FailedToReadBlockHeader(_)
                            | FrameDecoderError::FailedToReadBlockBody(_) => {
                                zstd_error("truncated stream")
                            }
                            e => zstd_error(&e.to_string()),
                        })?;
                    continue;
                }
                if let (Some(want), Some(got)) = (
                    self.dec.get_checksum_from_data(),
                    self.dec.get_calculated_checksum(),
                ) && want != got
                {
                    return Err(zstd_error("content checksum mismatch"));
                }
                self.in_frame = false;
            }
            if !self.next_frame()? {
                return Ok(0);
            }
            self.in_frame = true;
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
