//! Keyless verification of cosign's legacy `.sig` layer, offline, against a pinned
//! trusted root: what `cosign verify --trusted-root … --certificate-identity …`
//! checks for a signature stored as a simple-signing layer with the
//! `dev.sigstore.cosign/certificate` and `dev.sigstore.cosign/bundle` annotations.
//!
//! 1. the bundle annotation (cosign's `RekorBundle`: a Rekor v1 entry and its signed
//!    entry timestamp, SET) is from a transparency log of the trusted root whose key
//!    is valid at the entry's integratedTime, and the SET verifies with that key;
//! 2. the entry's body (hashedrekord 0.0.1) records this layer: the SHA-256 of the
//!    payload, the signature, and the certificate;
//! 3. the certificate was valid at integratedTime, allows code signing, chains to a
//!    certificate authority of the trusted root valid at that time, carries an SCT
//!    from a CT log of the trusted root ([`super::sct`]), and names the expected
//!    identity and issuer ([`verify_certificate`]);
//! 4. the signature verifies over the payload with the certificate's key.
//!
//! The payload's claims (its digest, `-a` annotations) are the caller's: they are
//! the same checks as with a key. A layer without a bundle annotation has no
//! trusted signing time (cosign would search Rekor online); it is refused.
//!
//! An `.att` layer (a DSSE envelope, [`verify_envelope_layer`]) is checked the same
//! way, its entry being an intoto 0.0.2 or dsse 0.0.1 record of the envelope's
//! payload hash and signatures, and a signature verifying over the envelope's PAE.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::entry::{Signed, Signer, check_body};
use super::{TrustedRoot, b64, tlog};
use crate::digest::Digest;
use crate::signature::certs::{self, Cert};
use crate::signature::identity::IdentityPolicy;
use crate::signature::verify::{decode_base64_signature, verify_signature};
use crate::{Error, Result};

/// What a keyless verification of a `.sig` layer established.
#[derive(Debug)]
pub struct Verified {
    /// The signing certificate.
    pub certificate: Cert,
    /// The time the log vouches the signature existed (integratedTime).
    pub signed_at: Duration,
    /// The bundle annotation, parsed: what cosign prints as `optional.Bundle`.
    pub rekor_bundle: Value,
}

/// cosign's `RekorBundle` (the `dev.sigstore.cosign/bundle` annotation).
#[derive(Deserialize)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    set: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize)]
struct RekorPayload {
    body: Value,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

fn fail(msg: impl std::fmt::Display) -> Error {
    Error::invalid(msg.to_string())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A log entry proven by its SET: the body (decoded) and its integratedTime.
struct Entry {
    body: Vec<u8>,
    at: Duration,
}

/// Checks the `RekorBundle` annotation `raw` against `root`: the log is one of the
/// trusted root's, its key valid at integratedTime, and the SET verifies.
fn verify_set(raw: &str, root: &TrustedRoot) -> Result<(Entry, Value)> {
    let bad = |m: String| fail(format!("the signature's bundle annotation: {m}"));
    let value: Value =
        serde_json::from_str(raw).map_err(|e| bad(format!("not cosign's RekorBundle ({e})")))?;
    let rb: RekorBundle = serde_json::from_value(value.clone())
        .map_err(|e| bad(format!("not cosign's RekorBundle ({e})")))?;
    let body_b64 = rb
        .payload
        .body
        .as_str()
        .ok_or_else(|| bad("the entry's body is not a string".into()))?;
    if rb.payload.integrated_time <= 0 {
        return Err(bad("the entry has no integratedTime".into()));
    }
    if rb.payload.log_index < 0 {
        return Err(bad("the entry's logIndex is negative".into()));
    }
    let key_id =
        hex_decode(&rb.payload.log_id).ok_or_else(|| bad("the entry's logID is not hex".into()))?;
    let log = root.tlog(&key_id).ok_or_else(|| {
        bad("the entry is not from a transparency log of the trusted root (unknown logID)".into())
    })?;
    let at = Duration::from_secs(rb.payload.integrated_time as u64);
    if !log.valid.contains(at) {
        return Err(bad(format!(
            "the log's key is not valid at the entry's integratedTime {}",
            certs::rfc3339(at)
        )));
    }
    let set = b64(&rb.set).map_err(|m| bad(format!("SignedEntryTimestamp: {m}")))?;
    tlog::verify_log_signature(
        log,
        &tlog::set_message(
            body_b64,
            rb.payload.integrated_time,
            &key_id,
            rb.payload.log_index,
        ),
        &set,
    )
    .map_err(|m| bad(format!("the signed entry timestamp: {m}")))?;
    let body = b64(body_b64).map_err(|m| bad(format!("the entry's body: {m}")))?;
    Ok((Entry { body, at }, value))
}

/// The Fulcio checks of a signing certificate at the time `at` a log vouches for:
/// valid then, code signing, a path to a certificate authority of `root` valid
/// then, an embedded SCT of a CT log of `root`, and the expected identity and
/// issuer (`policy`, which must name both).
pub fn verify_certificate(
    leaf: &Cert,
    root: &TrustedRoot,
    at: Duration,
    policy: &IdentityPolicy,
) -> Result<()> {
    if !policy.has_subject() || !policy.has_issuer() {
        return Err(Error::Usage(
            "keyless verification needs --certificate-identity[-regexp] and \
             --certificate-oidc-issuer[-regexp]"
                .into(),
        ));
    }
    super::keyless::check_fulcio_certificate(leaf, root, &[at])?;
    policy.check(leaf).map_err(fail)
}

/// Verifies a legacy `.sig` layer keyless: `payload` (the layer's blob) signed with
/// `signature_b64` (the signature annotation) by `certificate` (the certificate
/// annotation), logged as `rekor_bundle` (the bundle annotation, `None` when the
/// layer has none).
pub fn verify_signature_layer(
    payload: &[u8],
    signature_b64: &str,
    certificate: &Cert,
    rekor_bundle: Option<&str>,
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<Verified> {
    let raw = rekor_bundle.ok_or_else(|| {
        fail(
            "the signature has no dev.sigstore.cosign/bundle annotation (no transparency-log \
             entry), so no trusted signing time: refused keyless (cosign would search Rekor \
             online)",
        )
    })?;
    let (entry, value) = verify_set(raw, root)?;
    let signature = decode_base64_signature(signature_b64)?;
    let digest = Digest::sha256(payload);
    let signed = Signed::Message {
        digest: &digest,
        signature: &signature,
    };
    let signer = Signer::Cert(certificate.der());
    check_body(&entry.body, &signed, &signer, "the signature")?;
    verify_certificate(certificate, root, entry.at, policy)?;
    let key = certificate.verifying_key().map_err(fail)?;
    verify_signature(&key, payload, &signature)?;
    Ok(Verified {
        certificate: certificate.clone(),
        signed_at: entry.at,
        rekor_bundle: value,
    })
}

/// Verifies a legacy `.att` layer keyless: a DSSE envelope (`payload_type`,
/// `payload`, `signatures`) signed by `certificate` (the certificate annotation),
/// logged as `rekor_bundle` (the bundle annotation). The statement is the caller's.
pub fn verify_envelope_layer(
    payload_type: &str,
    payload: &[u8],
    signatures: &[Vec<u8>],
    certificate: &Cert,
    rekor_bundle: Option<&str>,
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<Verified> {
    let raw = rekor_bundle.ok_or_else(|| {
        fail(
            "the attestation has no dev.sigstore.cosign/bundle annotation (no \
             transparency-log entry), so no trusted signing time: refused keyless",
        )
    })?;
    let (entry, value) = verify_set(raw, root)?;
    let signed = Signed::Envelope {
        payload_type,
        payload,
        signatures,
    };
    let signer = Signer::Cert(certificate.der());
    check_body(&entry.body, &signed, &signer, "the attestation")?;
    verify_certificate(certificate, root, entry.at, policy)?;
    let key = certificate.verifying_key().map_err(fail)?;
    let pae = crate::bundle::pae(payload_type, payload);
    let mut last = fail("the DSSE envelope has no signature");
    for sig in signatures {
        match verify_signature(&key, &pae, sig) {
            Ok(()) => {
                return Ok(Verified {
                    certificate: certificate.clone(),
                    signed_at: entry.at,
                    rekor_bundle: value,
                });
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ids_are_hex() {
        assert_eq!(hex_decode("c0d2"), Some(vec![0xc0, 0xd2]));
        assert_eq!(hex_decode("c0d"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode(""), None);
    }

    fn root() -> TrustedRoot {
        TrustedRoot {
            tlogs: Vec::new(),
            ctlogs: Vec::new(),
            certificate_authorities: Vec::new(),
            timestamp_authorities: Vec::new(),
        }
    }

    #[test]
    fn bad_bundle_annotations_are_one_line_refusals() {
        let cases = [
            ("{", "not cosign's RekorBundle"),
            (
                r#"{"SignedEntryTimestamp":"AA=="}"#,
                "not cosign's RekorBundle",
            ),
            (
                r#"{"SignedEntryTimestamp":"AA==","Payload":{"body":5,"integratedTime":1,"logIndex":1,"logID":"00"}}"#,
                "not a string",
            ),
            (
                r#"{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":-1,"logID":"00"}}"#,
                "negative",
            ),
            (
                r#"{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":0,"logIndex":1,"logID":"00"}}"#,
                "no integratedTime",
            ),
            (
                r#"{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"xyz"}}"#,
                "not hex",
            ),
            (
                r#"{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"0011"}}"#,
                "unknown logID",
            ),
        ];
        for (raw, want) in cases {
            let e = verify_set(raw, &root()).err().expect(raw).to_string();
            assert!(e.contains(want), "{raw}: {e}");
            assert!(e.starts_with("the signature's bundle annotation: "), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
