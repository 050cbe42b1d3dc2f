//! Checking one signature the way cosign's legacy verifier does: the signature over the
//! payload bytes (ASN.1 DER or raw r‖s), then the claims — the payload's digest must be
//! the image's, and each `-a key=value` must equal `optional[key]`. The identity
//! (`docker-reference`) and `type` are not checked, as cosign does not check them.

use std::collections::BTreeMap;

use crate::keys::PublicKey;
use base64::Engine as _;
use serde_json::Value;

use crate::digest::Digest;
use crate::gojson;
use crate::{Error, Result};

/// Decodes a signature annotation or file: standard base64, whitespace around it and
/// line breaks inside it ignored (Go's decoder skips `\r\n`; cosign#2790).
pub fn decode_base64_signature(text: &str) -> Result<Vec<u8>> {
    let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if cleaned.is_empty() {
        return Err(Error::invalid("the signature is empty"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| Error::invalid(format!("the signature is not valid base64: {e}")))
}

/// Checks that `bytes` has the shape of a signature of some supported algorithm
/// (which one is the key's, known only when verifying): ECDSA DER, or the raw size
/// of an ECDSA r‖s, Ed25519 or RSA 2048/3072/4096 signature.
pub fn parse_signature(bytes: &[u8]) -> Result<()> {
    let raw_sizes = [64, 96, 132, 256, 384, 512];
    if raw_sizes.contains(&bytes.len())
        || p256::ecdsa::Signature::from_der(bytes).is_ok()
        || p384::ecdsa::Signature::from_der(bytes).is_ok()
        || p521::ecdsa::Signature::from_der(bytes).is_ok()
    {
        return Ok(());
    }
    Err(Error::invalid(
        "the signature is not an ECDSA (DER or r||s), RSA or Ed25519 signature",
    ))
}

/// Verifies `sig` (bytes as found: for ECDSA DER or r‖s) over `payload`, hashed
/// as `key`'s algorithm does (P-256 SHA-256, P-384 SHA-384, …; Ed25519 pure).
pub fn verify_signature(key: &PublicKey, payload: &[u8], sig: &[u8]) -> Result<()> {
    key.verify(payload, sig)
}

/// Parses a payload and checks cosign's claims against the image digest and the
/// required annotations. Returns the parsed payload.
pub fn check_claims(
    payload: &[u8],
    digest: &Digest,
    required: &BTreeMap<String, String>,
) -> Result<Value> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| Error::invalid(format!("the payload is not JSON: {e}")))?;
    let claimed = v
        .pointer("/critical/image/docker-manifest-digest")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("invalid or missing digest in claim"))?;
    if claimed != digest.to_string() {
        return Err(Error::invalid(format!(
            "invalid or missing digest in claim: the payload is for {}, not {digest}",
            crate::digest::printable(claimed)
        )));
    }
    for (k, want) in required {
        match v.pointer("/optional").and_then(|o| o.get(k)) {
            Some(Value::String(got)) if got == want => {}
            Some(got) => {
                return Err(Error::invalid(format!(
                    "annotation {k:?} is {got}, not {want:?}"
                )));
            }
            None => return Err(Error::invalid(format!("missing annotation {k:?}"))),
        }
    }
    Ok(v)
}

/// The payload as `cosign verify` prints it: re-marshalled through cosign's
/// `SimpleContainerImage` struct (critical fields in struct order, `optional` sorted).
pub fn cosign_json(v: &Value) -> String {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"critical":{"identity":{"docker-reference":"#);
    gojson::push_string(&mut out, s("/critical/identity/docker-reference"));
    out.push_str(r#"},"image":{"docker-manifest-digest":"#);
    gojson::push_string(&mut out, s("/critical/image/docker-manifest-digest"));
    out.push_str(r#"},"type":"#);
    gojson::push_string(&mut out, s("/critical/type"));
    out.push_str(r#"},"optional":"#);
    match v.get("optional") {
        Some(o @ Value::Object(_)) => gojson::push_value(&mut out, o),
        _ => out.push_str("null"),
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::HashAlg;

    #[test]
    fn base64_with_whitespace_and_bad_base64() {
        assert_eq!(
            decode_base64_signature(" AAEC\r\nAw==\n").unwrap(),
            vec![0, 1, 2, 3]
        );
        assert!(decode_base64_signature("not base64!").is_err());
        assert!(decode_base64_signature("  \n").is_err());
    }

    #[test]
    fn a_prehash_verifies_as_the_bytes_it_is_the_hash_of() {
        let key =
            crate::keys::PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap());
        let public = key.public_key();
        let msg = b"an artifact";
        let sig = key.sign(msg).unwrap();
        let prehash = Digest::sha256(msg).to_bytes();
        public
            .verify_prehash(HashAlg::Sha256, &prehash, &sig)
            .unwrap();
        verify_signature(&public, msg, &sig).unwrap();
        let other = Digest::sha256(b"another").to_bytes();
        assert!(
            public
                .verify_prehash(HashAlg::Sha256, &other, &sig)
                .is_err()
        );
        assert!(
            public
                .verify_prehash(HashAlg::Sha256, &prehash[..31], &sig)
                .is_err()
        );
        assert!(
            public
                .verify_prehash(HashAlg::Sha384, &prehash, &sig)
                .is_err()
        );
    }

    #[test]
    fn claims() {
        let d: Digest = "sha256:87a0bbd518e444cc53593183783682d6864c23a69713509cd176ddb3cfbfb018"
            .parse()
            .unwrap();
        let p = crate::payload::simple_signing(
            "r.example/a",
            &d,
            &[("k".to_string(), "v".to_string())].into(),
        );
        let mut want = BTreeMap::new();
        check_claims(&p, &d, &want).unwrap();
        want.insert("k".into(), "v".into());
        let v = check_claims(&p, &d, &want).unwrap();
        assert_eq!(cosign_json(&v).as_bytes(), p.as_slice());
        want.insert("k".into(), "other".into());
        assert!(check_claims(&p, &d, &want).is_err());
        let other = Digest::sha256(b"x");
        assert!(check_claims(&p, &other, &BTreeMap::new()).is_err());
        assert!(check_claims(b"{]", &d, &BTreeMap::new()).is_err());
    }
}
