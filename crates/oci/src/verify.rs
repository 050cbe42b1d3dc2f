//! The one place where airsign checks that bytes are the blob a digest names.
//!
//! Every medium's read of a blob it did not just create goes through here: the
//! store's staged writes, archives read and written, export, fsck, the whole-image
//! check, and registry downloads. [`VerifyingReader`] wraps any stream; it yields
//! exactly the promised number of bytes, hashing them in the caller's own buffer (no
//! extra copy), and on the read after the last byte it checks that the stream has
//! ended there and that the hash is the digest. A consumer that reads to the end (as
//! `io::copy` does) cannot skip the check. [`check_bytes`] is the same check for a
//! blob already in memory (manifests, indexes, configs).
//!
//! A failed check is a typed [`Error`]: [`Error::DigestMismatch`] when the content
//! hashes to something else, [`Error::Invalid`] when it is shorter or longer than
//! its descriptor says. Inside `io::Read` it travels as an `io::Error` of kind
//! `InvalidData`, and [`Error::io`] takes it out again, so the type survives any
//! `map_err(|e| Error::io(…))` on the way up.

use std::io::{self, Read};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

/// A check in progress: the bytes seen so far against the digest and size promised.
struct Check {
    expected: Digest,
    size: u64,
    hasher: Hasher,
    seen: u64,
}

impl Check {
    fn new(expected: &Digest, size: u64) -> Check {
        Check {
            expected: expected.clone(),
            size,
            hasher: Hasher::new(expected.algorithm()),
            seen: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.seen += bytes.len() as u64;
    }

    /// The verdict once the stream has ended after `seen` bytes (`longer`: it had
    /// more than `size`).
    fn finish(self, longer: bool) -> Result<()> {
        let (d, size) = (&self.expected, self.size);
        if longer {
            return Err(Error::invalid(format!(
                "blob {d}: expected {size} bytes, got more than {size}"
            )));
        }
        if self.seen != size {
            return Err(Error::invalid(format!(
                "blob {d}: expected {size} bytes, got {}",
                self.seen
            )));
        }
        let got = self.hasher.finish();
        if got != *d {
            return Err(Error::DigestMismatch(format!(
                "blob {d} is corrupt: content does not match its digest (it hashes to {got})"
            )));
        }
        Ok(())
    }
}

/// Checks a blob held in memory against its digest and size.
pub fn check_bytes(expected: &Digest, size: u64, bytes: &[u8]) -> Result<()> {
    let mut c = Check::new(expected, size);
    let longer = bytes.len() as u64 > size;
    c.update(&bytes[..bytes.len().min(usize::try_from(size).unwrap_or(usize::MAX))]);
    c.finish(longer)
}

/// Whether `bytes` hash to `expected` (whatever their length).
pub fn matches(expected: &Digest, bytes: &[u8]) -> bool {
    check_bytes(expected, bytes.len() as u64, bytes).is_ok()
}

/// A stream that must yield exactly `size` bytes hashing to a digest; see the
/// module documentation.
pub struct VerifyingReader<R> {
    inner: R,
    /// `None` once the verdict is given.
    check: Option<Check>,
    position: u64,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: &Digest, size: u64) -> VerifyingReader<R> {
        VerifyingReader {
            inner,
            check: Some(Check::new(expected, size)),
            position: 0,
        }
    }

    /// Bytes handed on so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Reads what the caller left unread (hashing it) and gives the verdict; `Ok`
    /// also when a read already reached the end and passed.
    pub fn finish(mut self) -> Result<R> {
        let mut buf = [0u8; 8192];
        while self.check.is_some() {
            match self.read(&mut buf) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("reading blob", e)),
            }
        }
        Ok(self.inner)
    }

    fn verdict(&mut self, longer: bool) -> io::Result<usize> {
        let check = self.check.take().expect("called while checking");
        check
            .finish(longer)
            .map(|()| 0)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(check) = &mut self.check else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let left = check.size - check.seen;
        if left == 0 {
            // One byte more than promised means a longer stream.
            let mut probe = [0u8; 1];
            let n = loop {
                match self.inner.read(&mut probe) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    r => break r?,
                }
            };
            return self.verdict(n > 0);
        }
        let room = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..room])?;
        if n == 0 {
            return self.verdict(false);
        }
        check.update(&buf[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Algorithm;

    fn drain(r: &mut impl Read) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        r.read_to_end(&mut v).map_err(|e| Error::io("reading", e))?;
        Ok(v)
    }

    #[test]
    fn the_right_bytes_pass_and_are_handed_on_unchanged() {
        let d = Digest::sha256(b"hello");
        let mut r = VerifyingReader::new(&b"hello"[..], &d, 5);
        assert_eq!(drain(&mut r).unwrap(), b"hello");
        assert_eq!(r.position(), 5);
        r.finish().unwrap();
        check_bytes(&d, 5, b"hello").unwrap();
        assert!(matches(&d, b"hello"));
        let d512 = Digest::of(Algorithm::Sha512, b"hello");
        check_bytes(&d512, 5, b"hello").unwrap();
    }

    #[test]
    fn other_content_is_a_typed_digest_mismatch_even_through_error_io() {
        let d = Digest::sha256(b"hello");
        let mut r = VerifyingReader::new(&b"jello"[..], &d, 5);
        let e = drain(&mut r).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch(_)), "{e}");
        assert!(e.to_string().contains("does not match its digest"), "{e}");
        assert!(
            e.to_string()
                .contains(&Digest::sha256(b"jello").to_string())
        );
        assert!(matches!(
            check_bytes(&d, 5, b"jello"),
            Err(Error::DigestMismatch(_))
        ));
        assert!(!matches(&d, b"jello"));
    }

    #[test]
    fn a_short_or_long_stream_is_refused_and_a_long_one_is_not_read_on() {
        let d = Digest::sha256(b"hello");
        let e = drain(&mut VerifyingReader::new(&b"hell"[..], &d, 5)).unwrap_err();
        assert!(e.to_string().contains("expected 5 bytes, got 4"), "{e}");
        let long = b"hello and a great deal more";
        let mut src = &long[..];
        let e = drain(&mut VerifyingReader::new(&mut src, &d, 5)).unwrap_err();
        assert!(e.to_string().contains("got more than 5"), "{e}");
        // five bytes and the one-byte probe: no more
        assert_eq!(src.len(), long.len() - 6);
        assert!(check_bytes(&d, 5, long).is_err());
        assert!(check_bytes(&d, 6, b"hello").is_err());
    }

    #[test]
    fn finish_checks_what_the_caller_left_unread() {
        let d = Digest::sha256(b"hello");
        let mut r = VerifyingReader::new(&b"hello"[..], &d, 5);
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        r.finish().unwrap();
        let mut r = VerifyingReader::new(&b"help!"[..], &d, 5);
        r.read_exact(&mut two).unwrap();
        assert!(matches!(r.finish(), Err(Error::DigestMismatch(_))));
    }

    #[test]
    fn an_empty_blob_checks_that_nothing_follows() {
        let d = Digest::sha256(b"");
        drain(&mut VerifyingReader::new(&b""[..], &d, 0)).unwrap();
        assert!(drain(&mut VerifyingReader::new(&b"x"[..], &d, 0)).is_err());
    }
}
