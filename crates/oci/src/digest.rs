//! Content digests (`sha256:<hex>`, `sha512:<hex>`): validated before any path is
//! built from them, and computed while bytes stream past.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

use crate::{Error, Result};

/// A digest algorithm registered by the OCI image spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the lowercase hex encoding.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// A validated digest: a known algorithm and exactly the right number of lowercase hex
/// characters, so `blobs/<alg>/<hex>` can never escape the blob directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    alg: Algorithm,
    hex: String,
}

impl Digest {
    /// Builds a digest from an algorithm and its hex encoding, validating the hex.
    pub fn new(alg: Algorithm, hex: &str) -> Result<Digest> {
        if hex.len() != alg.hex_len() {
            return Err(Error::invalid(format!(
                "invalid digest {}:{}: {} needs {} hex characters, got {}",
                alg.name(),
                printable(hex),
                alg.name(),
                alg.hex_len(),
                hex.len()
            )));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::invalid(format!(
                "invalid digest {}:{}: not lowercase hex",
                alg.name(),
                printable(hex)
            )));
        }
        Ok(Digest {
            alg,
            hex: hex.to_owned(),
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The hex part, e.g. the file name under `blobs/sha256/`.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(bytes);
        h.finish()
    }

    /// The digest of `bytes` with this digest's algorithm.
    pub fn of(alg: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(alg);
        h.update(bytes);
        h.finish()
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        crate::verify::matches(self, bytes)
    }

    /// The digest's bytes (the hex decoded): what a signature over a prehash signs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        };
        // `hex` was validated (lowercase hex, even length) when the digest was made
        self.hex
            .as_bytes()
            .chunks_exact(2)
            .map(|p| (nibble(p[0]) << 4) | nibble(p[1]))
            .collect()
    }

    /// cosign's tag form: `sha256-<hex>` (no `:`, which tags cannot hold).
    pub fn tag_form(&self) -> String {
        format!("{}-{}", self.alg.name(), self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg.name(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Digest> {
        let Some((alg, hex)) = s.split_once(':') else {
            return Err(Error::invalid(format!(
                "invalid digest {:?}: expected ALGORITHM:HEX",
                printable(s)
            )));
        };
        let Some(alg) = Algorithm::from_name(alg) else {
            return Err(Error::invalid(format!(
                "invalid digest {:?}: unsupported algorithm {:?} (sha256 and sha512 are)",
                printable(s),
                printable(alg)
            )));
        };
        Digest::new(alg, hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Keeps error messages one line and free of control characters, whatever the input;
/// for a value quoted in a message (a name, a media type): at most 80 characters.
pub fn printable(s: &str) -> String {
    printable_max(s, 80)
}

/// [`printable`] for the cause of an error (a TLS or HTTP library's message, a
/// registry's error list): kept whole up to 2000 characters, so the reason is never
/// cut in the middle — only a hostile, endless one is.
pub fn printable_cause(s: &str) -> String {
    printable_max(s, 2000)
}

fn printable_max(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).flat_map(char::escape_debug).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

enum State {
    Sha256(Sha256),
    Sha512(Sha512),
}

/// A streaming hasher for either algorithm.
pub struct Hasher {
    state: State,
}

impl Hasher {
    pub fn new(alg: Algorithm) -> Hasher {
        let state = match alg {
            Algorithm::Sha256 => State::Sha256(Sha256::new()),
            Algorithm::Sha512 => State::Sha512(Sha512::new()),
        };
        Hasher { state }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Sha256(h) => h.update(bytes),
            State::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Digest {
        let (alg, raw): (Algorithm, Vec<u8>) = match self.state {
            State::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            State::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        Digest {
            alg,
            hex: hex_lower(&raw),
        }
    }
}

pub fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Size of the read buffer for hashing: large enough to amortise syscalls, small
/// enough to stay in L2 while SHA-NI runs over it.
pub const CHUNK: usize = 256 * 1024;

/// Hashes everything `reader` yields; returns the digest and the byte count. (For
/// computing a digest; checking one is [`crate::verify`]'s job.)
pub fn hash_reader(alg: Algorithm, reader: &mut impl Read) -> io::Result<(Digest, u64)> {
    let mut buf = vec![0u8; CHUNK];
    let mut h = Hasher::new(alg);
    let mut n = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                h.update(&buf[..k]);
                n += k as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((h.finish(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_bytes_decodes_the_hex() {
        let d = Digest::sha256(b"");
        let bytes = d.to_bytes();
        assert_eq!(bytes.len(), 32);
        assert_eq!(hex_lower(&bytes), d.hex());
        assert_eq!(&bytes[..4], &[0xe3, 0xb0, 0xc4, 0x42]);
    }

    #[test]
    fn sha256_of_empty_is_the_well_known_value() {
        assert_eq!(
            Digest::sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parses_and_prints_round_trip() {
        let s = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d: Digest = s.parse().unwrap();
        assert_eq!(d.to_string(), s);
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.tag_form(), s.replace(':', "-"));
    }

    #[test]
    fn rejects_path_characters_and_bad_lengths() {
        let good = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for bad in [
            "sha256:../../../../etc/passwd".to_string(),
            format!("sha256:{}", &good[..63]),
            format!("sha256:{good}0"),
            format!("sha256:{}", good.to_uppercase()),
            format!("sha256:{}/", &good[..63]),
            format!("md5:{good}"),
            format!("sha256{good}"),
            format!("sha512:{good}"),
            format!("sha256:{}\0", &good[..63]),
            String::new(),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn sha512_is_supported() {
        let d = Digest::of(Algorithm::Sha512, b"abc");
        assert!(d.hex().starts_with("ddaf35a193617aba"));
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn hash_reader_counts_and_hashes() {
        let (d, n) = hash_reader(Algorithm::Sha256, &mut &b"hello world"[..]).unwrap();
        assert_eq!(n, 11);
        assert_eq!(d, Digest::sha256(b"hello world"));
    }
}
