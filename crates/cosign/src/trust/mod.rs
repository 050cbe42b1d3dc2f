//! Sigstore trust, offline: a pinned TUF `trusted_root.json` ([`TrustedRoot`]) and
//! keyless verification of a Sigstore bundle against it ([`keyless`]), with the
//! transparency-log proofs checked in [`tlog`]; cosign's legacy `.sig` layers with a
//! Fulcio certificate and a Rekor bundle annotation, keyless, in [`legacy`].
//!
//! `trusted_root.json` is protojson (`dev.sigstore.trustroot.v1.TrustedRoot`):
//! camelCase names, bytes as standard base64, times as RFC 3339. Parsing is strict
//! about what verification relies on (every key and chain decodes, every validity
//! period has its start) and tolerant of fields it does not read; a refusal is one
//! line.

pub mod entry;
pub mod keyless;
pub mod legacy;
pub mod sct;
pub mod tlog;
pub mod tsa;

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use crate::signature::certs::Cert;
use crate::{Error, Result};

/// The media types of a trusted root.
pub const TRUSTED_ROOT_V01: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
pub const TRUSTED_ROOT_V02: &str = "application/vnd.dev.sigstore.trustedroot.v0.2+json";
/// A trusted root is a few tens of KiB.
pub const MAX_TRUSTED_ROOT: u64 = 4 * 1024 * 1024;

/// A closed interval of time (`TimeRange`: both ends inclusive); no end is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub start: Duration,
    pub end: Option<Duration>,
}

impl Validity {
    pub fn contains(&self, t: Duration) -> bool {
        t >= self.start && self.end.is_none_or(|e| t <= e)
    }
}

/// The signature scheme of a log's key (`keyDetails`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScheme {
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    Ed25519,
}

/// A transparency log or CT log: its key and when it may be trusted.
#[derive(Clone, Debug)]
pub struct LogKey {
    pub base_url: String,
    /// `logId.keyId`: the SHA-256 of the key's DER, as the log names itself.
    pub key_id: Vec<u8>,
    /// The SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
    /// `None` for a scheme airsign cannot verify (the log is then never used).
    pub scheme: Option<KeyScheme>,
    pub details: String,
    pub valid: Validity,
}

/// A certificate authority (Fulcio) or a timestamp authority: its chain, leaf
/// (intermediate) first and root last, and when it may be trusted.
#[derive(Clone, Debug)]
pub struct Authority {
    pub uri: String,
    pub chain: Vec<Cert>,
    pub valid: Validity,
}

/// A parsed `trusted_root.json`.
#[derive(Clone, Debug)]
pub struct TrustedRoot {
    pub tlogs: Vec<LogKey>,
    pub ctlogs: Vec<LogKey>,
    pub certificate_authorities: Vec<Authority>,
    pub timestamp_authorities: Vec<Authority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: Option<String>,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
    #[serde(default)]
    timestamp_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: Option<RawPublicKey>,
    log_id: Option<RawLogId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: Option<String>,
    key_details: Option<String>,
    valid_for: Option<RawRange>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawRange {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    #[serde(default)]
    uri: String,
    cert_chain: Option<RawChain>,
    valid_for: Option<RawRange>,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid trusted root: {msg}"))
}

/// protojson bytes: standard base64 (URL-safe accepted too, as Go's protojson
/// does), with line breaks ignored as Go's decoder ignores them.
pub(crate) fn b64(s: &str) -> std::result::Result<Vec<u8>, String> {
    let s = s.trim();
    let joined;
    let s = if s.contains(['\r', '\n']) {
        joined = s.replace(['\r', '\n'], "");
        joined.as_str()
    } else {
        s
    };
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|e| {
            base64::engine::general_purpose::URL_SAFE
                .decode(s)
                .map_err(|_| e)
        })
        .map_err(|e| format!("not valid base64 ({e})"))
}

impl TrustedRoot {
    /// Parses `trusted_root.json`.
    pub fn parse(raw: &[u8]) -> Result<TrustedRoot> {
        if raw.len() as u64 > MAX_TRUSTED_ROOT {
            return Err(bad(format!("over the {MAX_TRUSTED_ROOT}-byte limit")));
        }
        let r: RawRoot = serde_json::from_slice(raw).map_err(|e| bad(format!("{e}")))?;
        match r.media_type.as_deref() {
            Some(TRUSTED_ROOT_V01 | TRUSTED_ROOT_V02) => {}
            Some(other) => {
                return Err(bad(format!(
                    "unsupported media type {:?}",
                    crate::digest::printable(other)
                )));
            }
            None => return Err(bad("no mediaType")),
        }
        let tlogs = r
            .tlogs
            .iter()
            .enumerate()
            .map(|(i, l)| log_key(l).map_err(|e| bad(format!("tlogs[{i}]: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        let ctlogs = r
            .ctlogs
            .iter()
            .enumerate()
            .map(|(i, l)| log_key(l).map_err(|e| bad(format!("ctlogs[{i}]: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        let cas = r
            .certificate_authorities
            .iter()
            .enumerate()
            .map(|(i, a)| {
                authority(a).map_err(|e| bad(format!("certificateAuthorities[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let tsas = r
            .timestamp_authorities
            .iter()
            .enumerate()
            .map(|(i, a)| authority(a).map_err(|e| bad(format!("timestampAuthorities[{i}]: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(TrustedRoot {
            tlogs,
            ctlogs,
            certificate_authorities: cas,
            timestamp_authorities: tsas,
        })
    }

    /// The transparency log whose `logId.keyId` is `key_id`.
    pub fn tlog(&self, key_id: &[u8]) -> Option<&LogKey> {
        self.tlogs.iter().find(|l| l.key_id == key_id)
    }
}

fn range(r: Option<&RawRange>) -> std::result::Result<Validity, String> {
    let r = r.ok_or("no validFor")?;
    let start = r
        .start
        .as_deref()
        .ok_or("validFor has no start (a missing bound is not unbounded)")?;
    let start = parse_time(start).map_err(|e| format!("validFor.start: {e}"))?;
    let end = r
        .end
        .as_deref()
        .map(|e| parse_time(e).map_err(|e| format!("validFor.end: {e}")))
        .transpose()?;
    if end.is_some_and(|e| e < start) {
        return Err("validFor ends before it starts".into());
    }
    Ok(Validity { start, end })
}

fn log_key(l: &RawLog) -> std::result::Result<LogKey, String> {
    let pk = l.public_key.as_ref().ok_or("no publicKey")?;
    let spki = b64(pk.raw_bytes.as_deref().ok_or("publicKey has no rawBytes")?)
        .map_err(|e| format!("publicKey.rawBytes: {e}"))?;
    let details = pk
        .key_details
        .clone()
        .ok_or("publicKey has no keyDetails")?;
    let scheme = match details.as_str() {
        "PKIX_ECDSA_P256_SHA_256" => Some(KeyScheme::EcdsaP256Sha256),
        "PKIX_ECDSA_P384_SHA_384" => Some(KeyScheme::EcdsaP384Sha384),
        "PKIX_ED25519" => Some(KeyScheme::Ed25519),
        _ => None,
    };
    if scheme.is_some() {
        tlog::spki_key_bits(&spki).map_err(|e| format!("publicKey.rawBytes: {e}"))?;
    }
    let valid = range(pk.valid_for.as_ref()).map_err(|e| format!("publicKey.{e}"))?;
    let key_id = b64(&l.log_id.as_ref().ok_or("no logId")?.key_id)
        .map_err(|e| format!("logId.keyId: {e}"))?;
    if key_id.is_empty() {
        return Err("logId.keyId is empty".into());
    }
    Ok(LogKey {
        base_url: l.base_url.clone(),
        key_id,
        spki,
        scheme,
        details,
        valid,
    })
}

fn authority(a: &RawAuthority) -> std::result::Result<Authority, String> {
    let chain = a.cert_chain.as_ref().ok_or("no certChain")?;
    if chain.certificates.is_empty() {
        return Err("an empty certChain".into());
    }
    let chain = chain
        .certificates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            b64(&c.raw_bytes)
                .and_then(Cert::from_der)
                .map_err(|e| format!("certChain certificate {}: {e}", i + 1))
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    Ok(Authority {
        uri: a.uri.clone(),
        chain,
        valid: range(a.valid_for.as_ref())?,
    })
}

/// RFC 3339 in UTC as protojson writes a Timestamp: `2021-01-12T11:53:27Z`, with
/// optional fractional seconds.
pub fn parse_time(s: &str) -> std::result::Result<Duration, String> {
    let err = || {
        format!(
            "{:?} is not an RFC 3339 UTC time",
            crate::digest::printable(s)
        )
    };
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return Err(err());
    }
    if b[16] != b':' || *b.last().ok_or_else(err)? != b'Z' {
        return Err(err());
    }
    let num = |r: std::ops::Range<usize>| -> std::result::Result<u64, String> {
        let t = s.get(r).ok_or_else(err)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        t.parse().map_err(|_| err())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = &s[19..s.len() - 1];
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits = frac.strip_prefix('.').ok_or_else(err)?;
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        let n: u32 = digits.parse().map_err(|_| err())?;
        n * 10u32.pow(9 - digits.len() as u32)
    };
    let at =
        x509_cert::der::DateTime::new(y as u16, mo as u8, d as u8, h as u8, mi as u8, sec as u8)
            .map_err(|_| err())?;
    let secs = at.unix_duration().as_secs();
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_protojson_writes_them() {
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            Duration::from_secs(1_700_000_000)
        );
        assert_eq!(
            parse_time("2022-12-31T23:59:59.999Z").unwrap(),
            Duration::new(1_672_531_199, 999_000_000)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_time("2024-02-29T00:00:00Z").unwrap(),
            Duration::from_secs(1_709_164_800)
        );
        for bad in [
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20+01:00",
            "",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-11-14T24:00:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_validity_is_closed() {
        let v = Validity {
            start: Duration::from_secs(10),
            end: Some(Duration::from_secs(20)),
        };
        assert!(v.contains(Duration::from_secs(10)) && v.contains(Duration::from_secs(20)));
        assert!(!v.contains(Duration::from_secs(9)) && !v.contains(Duration::from_secs(21)));
    }

    #[test]
    fn bad_roots_are_one_line_refusals() {
        let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==";
        let cases = [
            ("{", "invalid trusted root"),
            (r#"{"mediaType":"x"}"#, "unsupported media type"),
            (
                &format!(
                    r#"{{"mediaType":"{TRUSTED_ROOT_V01}","tlogs":[{{"publicKey":{{"rawBytes":"{key}","keyDetails":"PKIX_ECDSA_P256_SHA_256","validFor":{{}}}},"logId":{{"keyId":"AA=="}}}}]}}"#
                ),
                "no start",
            ),
            (
                &format!(
                    r#"{{"mediaType":"{TRUSTED_ROOT_V01}","certificateAuthorities":[{{"certChain":{{"certificates":[]}},"validFor":{{"start":"2021-01-01T00:00:00Z"}}}}]}}"#
                ),
                "empty certChain",
            ),
        ];
        for (raw, want) in cases {
            let e = TrustedRoot::parse(raw.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{raw}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
