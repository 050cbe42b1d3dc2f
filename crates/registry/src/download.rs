//! A blob download that survives a connection breaking mid-body: when the stream
//! fails or ends before the blob's size, it is reopened from the byte reached
//! (`Range: bytes=N-`), so the bytes already hashed are not fetched again. Whoever
//! reads it still hashes everything and checks the digest: a registry that sends
//! other bytes after the break is caught there.
//!
//! When to reopen is the client's one retry policy ([`RetryPolicy`]), through the
//! budget uploads resume under too ([`Resumes`]): a break is worth a reopening
//! unless the request's deadline cut it or it is an error that would come again;
//! the wait is the policy's backoff; the policy's attempts and time are per stretch
//! without progress (a reopening that brings no new byte uses the stretch up, one
//! that does starts a new one), and reopenings in all are bounded.

use std::io::{self, Read};

use super::client::{RegistryClient, Repository, transient};
use super::deadline;
use super::retry::{Resumes, RetryPolicy};
use crate::digest::Digest;
use crate::{Error, Result};

/// Opens the blob from an offset; returns the stream and the offset it really starts
/// at (0 when the server ignored the range and sends the whole blob again).
pub(crate) type Opener = dyn FnMut(u64) -> Result<(Box<dyn Read + Send>, u64)> + Send;

/// A blob being downloaded ([`RegistryClient::open_blob`]): a `Read` of its bytes
/// that reopens the stream from the byte reached when it breaks. It does not hash:
/// whoever reads it hashes every byte and checks the size and digest.
pub struct BlobDownload {
    open: Box<Opener>,
    current: Option<Box<dyn Read + Send>>,
    /// Bytes handed on so far.
    offset: u64,
    /// The blob's size, from its descriptor.
    size: u64,
    /// Bytes of the current stream to drop (it restarted before `offset`).
    skip: u64,
    budget: Resumes,
}

impl RegistryClient {
    /// A download of the blob `digest` of `size` bytes (its descriptor's), read
    /// as a stream that resumes after a break (`Range: bytes=N-` from the byte
    /// reached; a registry that ignores the range and sends the whole blob again
    /// is skipped forward) under the client's retry policy. Nothing is sent before
    /// the first read. The reader does not hash: the caller hashes what it reads
    /// and checks the digest and size (a registry may send more than `size`).
    pub fn open_blob(&self, repo: &Repository, digest: &Digest, size: u64) -> BlobDownload {
        let (client, repo, digest) = (self.clone(), repo.clone(), digest.clone());
        let open = move |offset: u64| -> Result<(Box<dyn Read + Send>, u64)> {
            let (r, start) = client.get_blob_from(&repo, &digest, offset)?;
            if let Some(len) = r.size()
                && start == 0
                && len != size
            {
                return Err(Error::Registry(format!(
                    "{repo}: GET blob {digest}: the registry announces {len} bytes, its descriptor says {size}"
                )));
            }
            Ok((Box::new(r), start))
        };
        let o = self.opts();
        BlobDownload::new(size, &o.retry, o.chunk_size, Box::new(open))
    }
}

impl BlobDownload {
    pub(crate) fn new(
        size: u64,
        policy: &RetryPolicy,
        stretch: u64,
        open: Box<Opener>,
    ) -> BlobDownload {
        BlobDownload {
            open,
            current: None,
            offset: 0,
            size,
            skip: 0,
            budget: Resumes::new(policy, size, stretch, 0),
        }
    }

    /// Opens the stream at `offset`.
    fn open(&mut self) -> io::Result<()> {
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

    /// The stream broke (`why`, or it ended early): drops it and, if the policy
    /// says so, waits before the next read reopens it; else the error to return.
    fn broke(&mut self, why: Option<io::Error>) -> io::Result<()> {
        self.current = None;
        if let Some(e) = why {
            if !worth_reopening(&e) {
                return Err(e);
            }
            return self.wait(e.to_string());
        }
        self.wait("the stream ended early".to_owned())
    }

    fn wait(&mut self, why: String) -> io::Result<()> {
        let wait = if self.budget.failed(self.offset) {
            self.budget.backoff(None)
        } else {
            None
        };
        match wait {
            Some(d) => {
                std::thread::sleep(d);
                Ok(())
            }
            None => Err(io::Error::other(format!(
                "{why} (at byte {} of {}, after {} attempts)",
                self.offset,
                self.size,
                self.budget.failures()
            ))),
        }
    }
}

/// Whether a broken body is worth a reopening: not when the request's deadline cut
/// it (the time was the budget), nor for an error of ureq's that the client would
/// not retry a request for ([`transient`]); connection trouble, a read that stalled
/// (`io_timeout`), a protocol error and an early end are.
fn worth_reopening(e: &io::Error) -> bool {
    if deadline::is_cut(e) {
        return false;
    }
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
    {
        Some(u) => transient(u),
        None => true,
    }
}

impl Read for BlobDownload {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(stream) = self.current.as_mut() else {
                self.open()?;
                continue;
            };
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                match stream.read(&mut buf[..n]) {
                    Ok(0) => self.broke(None)?,
                    Ok(k) => self.skip -= k as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => self.broke(Some(e))?,
                }
                continue;
            }
            match stream.read(buf) {
                Ok(0) if self.offset < self.size => self.broke(None)?,
                Ok(k) => {
                    self.offset += k as u64;
                    return Ok(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // All the promised bytes arrived: the digest check decides.
                Err(_) if self.offset >= self.size => return Ok(0),
                Err(e) => self.broke(Some(e))?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Attempts as given, no waiting, time enough.
    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_total: Duration::from_secs(60),
        }
    }

    /// The offsets each stream was opened at.
    type Log = Arc<Mutex<Vec<u64>>>;

    /// Serves `data` from an offset, breaking after `cut` bytes of each stream
    /// (an error or an early end, alternately); honours ranges unless `whole`.
    fn breaking(data: Vec<u8>, cut: usize, whole: bool) -> (Box<Opener>, Log) {
        serving(data, cut, whole, || {
            io::Error::new(io::ErrorKind::ConnectionReset, "connection reset")
        })
    }

    /// As [`breaking`], the error made by `error`.
    fn serving(
        data: Vec<u8>,
        cut: usize,
        whole: bool,
        error: impl Fn() -> io::Error + Send + Sync + 'static,
    ) -> (Box<Opener>, Log) {
        let opened: Log = Arc::default();
        let log = opened.clone();
        let error = Arc::new(error);
        let open = move |offset: u64| -> Result<(Box<dyn Read + Send>, u64)> {
            let n = {
                let mut l = log.lock().unwrap();
                l.push(offset);
                l.len()
            };
            let start = if whole { 0 } else { offset as usize };
            let end = (start + cut).min(data.len());
            let fail = n % 2 == 0;
            let part = io::Cursor::new(data[start..end].to_vec());
            let tail: Box<dyn Read + Send> = if end < data.len() && fail {
                Box::new(part.chain(Failing(error.clone())))
            } else {
                Box::new(part)
            };
            Ok((tail, start as u64))
        };
        (Box::new(open), opened)
    }

    /// A stream that fails with its error.
    struct Failing(Arc<dyn Fn() -> io::Error + Send + Sync>);

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err((self.0)())
        }
    }

    fn download(size: u64, max_attempts: u32, open: Box<Opener>) -> BlobDownload {
        BlobDownload::new(size, &policy(max_attempts), 1 << 20, open)
    }

    #[test]
    fn resumes_from_the_byte_reached_after_errors_and_early_ends() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (open, opened) = breaking(data.clone(), 3000, false);
        let mut out = Vec::new();
        // each break follows progress: two attempts per stretch are enough
        download(data.len() as u64, 2, open)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        assert_eq!(*opened.lock().unwrap(), vec![0, 3000, 6000, 9000]);
    }

    #[test]
    fn a_server_ignoring_ranges_is_skipped_forward_until_the_policy_says_stop() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 13) as u8).collect();
        // every stream starts again at 0 and breaks at 2000: the bytes already had
        // are dropped, and with no progress past 2000 it gives up, saying where,
        // once the policy's attempts for that stretch are used
        let (open, opened) = breaking(data.clone(), 2000, true);
        let err = download(data.len() as u64, 4, open)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("at byte 2000 of 5000"), "{err}");
        assert!(err.to_string().contains("after 4 attempts"), "{err}");
        assert_eq!(*opened.lock().unwrap(), vec![0, 2000, 2000, 2000]);
        // a whole-blob answer that runs to the end is simply read
        let (open, _) = breaking(data.clone(), 5000, true);
        let mut out = Vec::new();
        download(data.len() as u64, 4, open)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn a_stream_that_never_brings_a_byte_is_given_up_with_the_policy() {
        let data = vec![7u8; 100];
        let (open, opened) = breaking(data.clone(), 0, false);
        let err = download(100, 3, open)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(opened.lock().unwrap().len(), 3);
        let msg = err.to_string();
        assert!(msg.contains("at byte 0 of 100, after 3 attempts"), "{msg}");
        // the last break was an early end (odd opens end, even ones fail)
        assert!(msg.starts_with("the stream ended early"), "{msg}");
        // and no reopening at all when the policy allows no retry
        let (open, opened) = breaking(data, 0, false);
        download(100, 1, open)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(opened.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_policy_s_time_bounds_the_reopenings() {
        // a backoff longer than the time the policy gives: no reopening
        let slow = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(30),
            max_total: Duration::from_secs(1),
        };
        let (open, opened) = breaking(vec![1u8; 100], 10, false);
        let err = BlobDownload::new(100, &slow, 1 << 20, open)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("at byte 10 of 100"), "{err}");
        assert_eq!(opened.lock().unwrap().len(), 1);
    }

    #[test]
    fn progress_a_byte_at_a_time_is_bounded_in_all() {
        // every stream brings one byte, then breaks: each break is progress, so
        // only the bound in all stops it (attempts × (1 + chunk-sized stretches))
        let data = vec![3u8; 1000];
        let (open, opened) = breaking(data, 1, false);
        let err = download(1000, 3, open)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("after 7 attempts"), "{msg}");
        assert_eq!(opened.lock().unwrap().len(), 7);
    }

    #[test]
    fn a_deadline_cut_or_an_error_that_would_come_again_is_not_reopened() {
        let data = vec![5u8; 100];
        // every stream is cut after 10 bytes (the first included: the error on
        // every open)
        let always = |data: &Vec<u8>, e: fn() -> io::Error| {
            let data = data.clone();
            let opened: Log = Arc::default();
            let log = opened.clone();
            let open = move |offset: u64| -> Result<(Box<dyn Read + Send>, u64)> {
                log.lock().unwrap().push(offset);
                let part = io::Cursor::new(data[offset as usize..][..10].to_vec());
                Ok((Box::new(part.chain(Failing(Arc::new(e)))), offset))
            };
            (Box::new(open) as Box<Opener>, opened)
        };
        let (open, opened) = always(&data, || {
            deadline::cut("HOST/REPO: GET blob X: timed out after 1.0s with 10 of 100 bytes".into())
        });
        let err = download(100, 6, open)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(opened.lock().unwrap().len(), 1, "a deadline is not retried");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            "HOST/REPO: GET blob X: timed out after 1.0s with 10 of 100 bytes"
        );
        // an error the client would not retry a request for would come again
        let (open, opened) = always(&data, || {
            io::Error::other(ureq::Error::BodyExceedsLimit(10))
        });
        download(100, 6, open)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(opened.lock().unwrap().len(), 1);
        // while a read that stalled (a timeout of another kind) or a protocol
        // error from ureq is reopened
        let (open, opened) = always(&data, || {
            io::Error::other(ureq::Error::Timeout(ureq::Timeout::RecvBody))
        });
        let mut out = Vec::new();
        download(100, 6, open).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(
            *opened.lock().unwrap(),
            (0..10).map(|i| i * 10).collect::<Vec<u64>>()
        );
        let (open, opened) = always(&data, || {
            io::Error::new(io::ErrorKind::TimedOut, "read timed out")
        });
        download(100, 6, open).read_to_end(&mut Vec::new()).unwrap();
        assert_eq!(opened.lock().unwrap().len(), 10);
    }

    #[test]
    fn a_stream_starting_beyond_the_offset_asked_is_refused() {
        let data = [9u8; 100];
        let open = move |offset: u64| -> Result<(Box<dyn Read + Send>, u64)> {
            // the first stream breaks at 40; the next starts at 50
            if offset == 0 {
                let part = io::Cursor::new(data[..40].to_vec());
                let e = || io::Error::new(io::ErrorKind::ConnectionReset, "reset");
                return Ok((Box::new(part.chain(Failing(Arc::new(e)))), 0));
            }
            Ok((Box::new(io::Cursor::new(data[50..].to_vec())), 50))
        };
        let err = download(100, 6, Box::new(open))
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "asked for bytes from 40, the registry sent bytes from 50"
        );
    }

    #[test]
    fn an_open_that_fails_is_not_reopened_here() {
        // the request's own retries (execute) have been used by then
        let opened: Log = Arc::default();
        let log = opened.clone();
        let open = move |offset: u64| -> Result<(Box<dyn Read + Send>, u64)> {
            log.lock().unwrap().push(offset);
            Err(Error::Registry(
                "HOST/REPO: GET blob X: 503 Service Unavailable (after 6 attempts)".into(),
            ))
        };
        let err = download(100, 6, Box::new(open))
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(opened.lock().unwrap().len(), 1);
        assert!(err.to_string().contains("503"), "{err}");
    }

    #[test]
    fn extra_bytes_are_handed_on_for_the_size_check_to_catch() {
        let data = vec![1u8; 100];
        let open = move |_: u64| -> Result<(Box<dyn Read + Send>, u64)> {
            Ok((Box::new(io::Cursor::new(data.clone())), 0))
        };
        let mut out = Vec::new();
        download(50, 6, Box::new(open))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 100);
    }
}
