//! A blob download that survives a connection breaking mid-body: when the stream
//! fails or ends before the blob's size, it is reopened from the byte reached
//! (`Range: bytes=N-`), so the bytes already hashed are not fetched again. Whoever
//! reads it still hashes everything and checks the digest: a registry that sends
//! other bytes after the break is caught there.

use std::io::{self, Read};
use std::time::Duration;

use crate::Result;

/// Opens the blob from an offset; returns the stream and the offset it really starts
/// at (0 when the server ignored the range and sends the whole blob again).
pub(super) type Opener<'a> = dyn FnMut(u64) -> Result<(Box<dyn Read + 'a>, u64)> + 'a;

/// Reopenings in a row without a byte of progress before giving up.
const MAX_STALLED: u32 = 4;
/// Reopenings of one blob in all.
const MAX_REOPEN: u32 = 32;

pub(super) struct ResumingReader<'a> {
    open: Box<Opener<'a>>,
    current: Option<Box<dyn Read + 'a>>,
    /// Bytes handed on so far.
    offset: u64,
    /// The blob's size, from its descriptor.
    size: u64,
    /// Bytes of the current stream to drop (it restarted before `offset`).
    skip: u64,
    stalled: u32,
    reopened: u32,
    progress_at_last_open: u64,
    /// Pause before reopening (none in unit tests).
    backoff: Duration,
}

impl<'a> ResumingReader<'a> {
    pub(super) fn new(size: u64, open: Box<Opener<'a>>) -> ResumingReader<'a> {
        ResumingReader {
            open,
            current: None,
            offset: 0,
            size,
            skip: 0,
            stalled: 0,
            reopened: 0,
            progress_at_last_open: 0,
            backoff: Duration::from_millis(200),
        }
    }

    /// Opens (or reopens) the stream at `offset`.
    fn reopen(&mut self, why: Option<io::Error>) -> io::Result<()> {
        if self.current.is_some() || why.is_some() {
            if self.offset > self.progress_at_last_open {
                self.stalled = 0;
            } else {
                self.stalled += 1;
            }
            self.reopened += 1;
            if self.stalled >= MAX_STALLED || self.reopened > MAX_REOPEN {
                let why =
                    why.map_or_else(|| "the stream ended early".to_owned(), |e| e.to_string());
                return Err(io::Error::other(format!(
                    "{why} (at byte {} of {}, after {} attempts)",
                    self.offset, self.size, self.reopened
                )));
            }
            // exponential, capped: a registry restarting gets a moment
            let factor = 1u32 << self.stalled.min(5);
            std::thread::sleep((self.backoff * factor).min(Duration::from_secs(5)));
        }
        self.current = None;
        self.progress_at_last_open = self.offset;
        let (stream, start) =
            (self.open)(self.offset).map_err(|e| io::Error::other(e.to_string()))?;
        if start > self.offset {
            return Err(io::Error::other(format!(
                "asked for bytes from {}, the registry sent bytes from {start}",
                self.offset
            )));
        }
        self.skip = self.offset - start;
        self.current = Some(stream);
        Ok(())
    }
}

impl Read for ResumingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.current.is_none() {
                self.reopen(None)?;
            }
            let stream = self.current.as_mut().expect("opened above");
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                match stream.read(&mut buf[..n]) {
                    Ok(0) => self.reopen(None)?,
                    Ok(k) => self.skip -= k as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => self.reopen(Some(e))?,
                }
                continue;
            }
            match stream.read(buf) {
                Ok(0) if self.offset < self.size => self.reopen(None)?,
                Ok(k) => {
                    self.offset += k as u64;
                    return Ok(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // All the promised bytes arrived: the digest check decides.
                Err(_) if self.offset >= self.size => return Ok(0),
                Err(e) => self.reopen(Some(e))?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Serves `data` from an offset, breaking after `cut` bytes of each stream
    /// (an error or an early end, alternately); honours ranges unless `whole`.
    fn breaking(
        data: Vec<u8>,
        cut: usize,
        whole: bool,
    ) -> (Box<Opener<'static>>, Rc<RefCell<Vec<u64>>>) {
        let opened = Rc::new(RefCell::new(Vec::new()));
        let log = opened.clone();
        let open = move |offset: u64| -> Result<(Box<dyn Read>, u64)> {
            log.borrow_mut().push(offset);
            let start = if whole { 0 } else { offset as usize };
            let end = (start + cut).min(data.len());
            let fail = log.borrow().len() % 2 == 0;
            let part = io::Cursor::new(data[start..end].to_vec());
            let tail: Box<dyn Read> = if end < data.len() && fail {
                Box::new(part.chain(Failing))
            } else {
                Box::new(part)
            };
            Ok((tail, start as u64))
        };
        (Box::new(open), opened)
    }

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset",
            ))
        }
    }

    fn quick(size: u64, open: Box<Opener<'static>>) -> ResumingReader<'static> {
        let mut r = ResumingReader::new(size, open);
        r.backoff = Duration::ZERO;
        r
    }

    #[test]
    fn resumes_from_the_byte_reached_after_errors_and_early_ends() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (open, opened) = breaking(data.clone(), 3000, false);
        let mut out = Vec::new();
        quick(data.len() as u64, open)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        assert_eq!(*opened.borrow(), vec![0, 3000, 6000, 9000]);
    }

    #[test]
    fn a_server_ignoring_ranges_is_skipped_forward() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 13) as u8).collect();
        // every stream starts again at 0 and breaks at 2000: the bytes already had
        // are dropped, and with no progress past 2000 it gives up, saying where
        let (open, opened) = breaking(data.clone(), 2000, true);
        let err = quick(data.len() as u64, open)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("at byte 2000 of 5000"), "{err}");
        assert_eq!(opened.borrow().len() as u32, MAX_STALLED + 1);
        // a whole-blob answer that runs to the end is simply read
        let (open, _) = breaking(data.clone(), 5000, true);
        let mut out = Vec::new();
        quick(data.len() as u64, open)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn extra_bytes_are_handed_on_for_the_size_check_to_catch() {
        let data = vec![1u8; 100];
        let open = move |_: u64| -> Result<(Box<dyn Read>, u64)> {
            Ok((Box::new(io::Cursor::new(data.clone())), 0))
        };
        let mut out = Vec::new();
        quick(50, Box::new(open)).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 100);
    }
}
