//! Blobs — any file: a Helm chart, an SBOM, an ISO — signed and verified as cosign's
//! `sign-blob` and `verify-blob` do, with a key and offline.
//!
//! cosign signs a blob with ECDSA P-256 over the SHA-256 of its raw bytes. The file is
//! hashed here, once, streaming through a fixed buffer ([`hash_artifact`]), and the
//! signature is made and checked over that digest (the prehash), so a multi-gigabyte
//! file is never held in memory. This is the one place besides `airsign_oci`'s
//! digest and verifying reader that hashes content: a blob comes with no digest to be
//! checked against before it is hashed (`tests/architecture.rs` names it).
//!
//! What is written, byte for byte as cosign 3.1.1 writes it offline (with a key, no
//! transparency log):
//!
//! - the v0.3 Sigstore bundle ([`new_bundle`]), cosign 3's default:
//!   `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":H}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":D},"signature":S}}`,
//!   no trailing newline;
//! - the legacy bundle ([`legacy_bundle`], `--new-bundle-format=false`):
//!   `{"base64Signature":S,"cert":C}`, C the base64 of the public key PEM (cosign
//!   2.5 leaves `cert` out for a key; both read both).
//!
//! What is read: either bundle ([`Evidence::parse_bundle`]), or a bare signature
//! ([`signature_bytes`]: base64 text, or the raw DER).

use std::io::{self, Read};

use base64::Engine as _;
use p256::ecdsa::VerifyingKey;
use serde::Deserialize;

use crate::bundle::{BUNDLE_V03, Bundle, MAX_BUNDLE, key_hint};
use crate::digest::{Algorithm, Digest, hash_reader};
use crate::keys::Signer;
use crate::signature::verify::{decode_base64_signature, parse_signature, verify_prehash};
use crate::{Error, Result};

/// A blob signature file is a few hundred bytes; anything larger is not one.
pub const MAX_SIGNATURE_FILE: u64 = 64 * 1024;

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

/// The SHA-256 of everything `reader` yields, read through a fixed buffer, and the
/// byte count.
pub fn hash_artifact(reader: &mut impl Read) -> io::Result<(Digest, u64)> {
    hash_reader(Algorithm::Sha256, reader)
}

/// Signs the artifact whose SHA-256 is `artifact`: ECDSA P-256 over the prehash
/// (deterministic, RFC 6979), ASN.1 DER — the same signature as over the bytes.
pub fn sign(key: &Signer, artifact: &Digest) -> Result<Vec<u8>> {
    if artifact.algorithm() != Algorithm::Sha256 {
        return Err(Error::invalid(format!(
            "a blob is signed over its SHA-256, not {}",
            artifact.algorithm().name()
        )));
    }
    key.sign_prehash(&artifact.to_bytes())
}

/// The v0.3 Sigstore bundle of a blob signature, exactly as cosign 3.1.1's
/// `sign-blob --bundle` writes it offline with a key: compact, in protojson's field
/// order, no transparency-log entry, no trailing newline. Every value is base64 or
/// fixed, so nothing needs escaping.
pub fn new_bundle(key: &VerifyingKey, artifact: &Digest, signature: &[u8]) -> Result<Vec<u8>> {
    Ok(format!(
        concat!(
            r#"{{"mediaType":"{}","verificationMaterial":{{"publicKey":{{"hint":"{}"}}}},"#,
            r#""messageSignature":{{"messageDigest":{{"algorithm":"SHA2_256","digest":"{}"}},"#,
            r#""signature":"{}"}}}}"#
        ),
        BUNDLE_V03,
        key_hint(key)?,
        B64.encode(artifact.to_bytes()),
        B64.encode(signature),
    )
    .into_bytes())
}

/// The legacy bundle (cosign's `LocalSignedPayload`) of `sign-blob
/// --new-bundle-format=false --bundle F`, as cosign 3.1.1 writes it offline:
/// `{"base64Signature":…,"cert":…}`, `cert` the base64 of the public key PEM, no
/// `rekorBundle`, no trailing newline (Go's `json.Marshal`).
pub fn legacy_bundle(signature: &[u8], public_key_pem: &str) -> Vec<u8> {
    format!(
        r#"{{"base64Signature":"{}","cert":"{}"}}"#,
        B64.encode(signature),
        B64.encode(public_key_pem.as_bytes())
    )
    .into_bytes()
}

/// A legacy bundle as read: the signature, and what `cert` holds (a public key or
/// certificate PEM; absent or empty from cosign 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyBundle {
    pub signature: Vec<u8>,
    pub cert: Option<Vec<u8>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLegacy {
    base64_signature: String,
    #[serde(default)]
    cert: Option<String>,
}

/// What `verify-blob` checks a file against.
#[derive(Clone, Debug)]
pub enum Evidence {
    /// A Sigstore bundle (any version; message signature or DSSE).
    Bundle(Box<Bundle>),
    /// cosign's legacy bundle (`base64Signature`).
    Legacy(LegacyBundle),
    /// A bare signature (`--signature`), decoded.
    Signature(Vec<u8>),
}

impl Evidence {
    /// A `--bundle` file: a Sigstore bundle when it has a `mediaType`, cosign's
    /// legacy bundle when it has a `base64Signature`.
    pub fn parse_bundle(raw: &[u8]) -> Result<Evidence> {
        if raw.len() as u64 > MAX_BUNDLE {
            return Err(Error::invalid(format!(
                "invalid bundle: over the {MAX_BUNDLE}-byte limit"
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(raw)
            .map_err(|e| Error::invalid(format!("invalid bundle: not JSON: {e}")))?;
        let Some(obj) = v.as_object() else {
            return Err(Error::invalid("invalid bundle: not a JSON object"));
        };
        if obj.contains_key("mediaType") {
            return Ok(Evidence::Bundle(Box::new(Bundle::parse(raw)?)));
        }
        if !obj.contains_key("base64Signature") {
            return Err(Error::invalid(
                "invalid bundle: neither a Sigstore bundle (mediaType) nor cosign's legacy \
                 bundle (base64Signature)",
            ));
        }
        let r: RawLegacy = serde_json::from_value(v)
            .map_err(|e| Error::invalid(format!("invalid legacy bundle: {e}")))?;
        let signature = decode_base64_signature(&r.base64_signature)
            .map_err(|e| Error::invalid(format!("invalid legacy bundle: {e}")))?;
        let cert = match r.cert.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(B64.decode(c).map_err(|e| {
                Error::invalid(format!(
                    "invalid legacy bundle: cert is not valid base64: {e}"
                ))
            })?),
        };
        Ok(Evidence::Legacy(LegacyBundle { signature, cert }))
    }

    /// Verifies the artifact whose SHA-256 is `artifact` with `key`. A legacy
    /// bundle's `cert` must be `key` (or certify it): cosign verifies with the
    /// bundle's `cert` and lets it override `--key`; airsign trusts only the key it
    /// was given, and says when the bundle names another.
    pub fn verify(&self, key: &VerifyingKey, artifact: &Digest) -> Result<()> {
        match self {
            Evidence::Bundle(b) => b.verify_artifact(key, artifact),
            Evidence::Legacy(l) => {
                if let Some(cert) = &l.cert {
                    check_legacy_cert(cert, key)?;
                }
                verify_prehash(key, &artifact.to_bytes(), &l.signature)
            }
            Evidence::Signature(sig) => verify_prehash(key, &artifact.to_bytes(), sig),
        }
    }
}

/// A legacy bundle's `cert` (a PEM, once base64-decoded) must be the key, or a
/// certificate of it.
fn check_legacy_cert(pem: &[u8], key: &VerifyingKey) -> Result<()> {
    let named = if String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
        let cert = crate::signature::certs::read_certificate(pem)
            .map_err(|e| Error::invalid(format!("invalid legacy bundle: cert: {e}")))?;
        cert.matches_key(key)
    } else {
        match crate::keys::public_key_from_pem(pem) {
            Ok(Some(k)) => k == *key,
            Ok(None) => {
                return Err(Error::invalid(
                    "invalid legacy bundle: cert holds a private key",
                ));
            }
            Err(e) => return Err(Error::invalid(format!("invalid legacy bundle: cert: {e}"))),
        }
    };
    if named {
        Ok(())
    } else {
        Err(Error::invalid(
            "the legacy bundle's cert is another key than the one given (airsign verifies \
             with --key only)",
        ))
    }
}

/// A `--signature` as cosign's `verify-blob` reads it, from a file's bytes or the
/// argument itself: base64 text (whitespace ignored) when it decodes, else the raw
/// signature bytes. Either way it must be an ECDSA P-256 signature (DER or r‖s).
pub fn signature_bytes(input: &[u8]) -> Result<Vec<u8>> {
    let decoded = std::str::from_utf8(input)
        .ok()
        .and_then(|t| decode_base64_signature(t).ok());
    let sig = match decoded {
        Some(d) => d,
        None if input.is_empty() || input.iter().all(u8::is_ascii_whitespace) => {
            return Err(Error::invalid("the signature is empty"));
        }
        None => input.to_vec(),
    };
    parse_signature(&sig)?;
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;

    fn fixture(name: &str) -> Vec<u8> {
        crate::fixture(&format!("bundles/{name}"))
    }

    fn key() -> SigningKey {
        SigningKey::from_slice(&[5u8; 32]).unwrap()
    }

    #[test]
    fn a_streamed_hash_is_the_digest_of_the_bytes() {
        let data = vec![7u8; 3 * crate::digest::CHUNK + 11];
        let (d, n) = hash_artifact(&mut data.as_slice()).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, Digest::sha256(&data));
    }

    #[test]
    fn a_prehash_signature_is_a_signature_over_the_bytes() {
        let k = key();
        let data = b"a chart, an SBOM, an ISO";
        let sig = sign(&k.clone().into(), &Digest::sha256(data)).unwrap();
        crate::signature::verify::verify_signature(k.verifying_key(), data, &sig).unwrap();
    }

    #[test]
    fn our_bundle_has_cosign_3s_shape_and_verifies() {
        let k = key();
        let data = b"hello blob\n";
        let d = Digest::sha256(data);
        let sig = sign(&k.clone().into(), &d).unwrap();
        let raw = new_bundle(k.verifying_key(), &d, &sig).unwrap();
        let text = String::from_utf8(raw.clone()).unwrap();
        assert!(text.starts_with(
            r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""#
        ));
        // the digest of "hello blob\n", as cosign 3.1.1 wrote it
        assert!(text.contains(
            r#""messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"oGOdA+fnfXYw3/znv+JtUYE9THmfE4IeW2eG4nNrqu0="},"signature":""#
        ));
        assert!(text.ends_with("\"}}"));
        let e = Evidence::parse_bundle(&raw).unwrap();
        e.verify(k.verifying_key(), &d).unwrap();
        let other = SigningKey::from_slice(&[6u8; 32]).unwrap();
        let err = e.verify(other.verifying_key(), &d).unwrap_err();
        assert!(err.to_string().contains("names another key"), "{err}");
        assert!(e.verify(k.verifying_key(), &Digest::sha256(b"x")).is_err());
    }

    #[test]
    fn cosign_3s_bundle_verifies_by_digest() {
        let e = Evidence::parse_bundle(&fixture("blob.sigstore.json")).unwrap();
        let key = crate::keys::public_key_from_pem(&fixture("cosign3.pub"))
            .unwrap()
            .unwrap();
        let (d, _) = hash_artifact(&mut fixture("blob.txt").as_slice()).unwrap();
        e.verify(&key, &d).unwrap();
        // the hint cosign wrote is ours for its key
        let Evidence::Bundle(b) = &e else { panic!() };
        let crate::bundle::Material::PublicKey { hint: Some(h) } = &b.material else {
            panic!()
        };
        assert_eq!(*h, key_hint(&key).unwrap());
    }

    #[test]
    fn legacy_bundles_both_ways() {
        let k = key();
        let d = Digest::sha256(b"x");
        let sig = sign(&k.clone().into(), &d).unwrap();
        let pem = crate::keys::public_key_pem(k.verifying_key()).unwrap();
        let raw = legacy_bundle(&sig, &pem);
        let e = Evidence::parse_bundle(&raw).unwrap();
        e.verify(k.verifying_key(), &d).unwrap();
        // cosign 2.5's: no cert
        let v2 = format!(r#"{{"base64Signature":"{}"}}"#, B64.encode(&sig));
        Evidence::parse_bundle(v2.as_bytes())
            .unwrap()
            .verify(k.verifying_key(), &d)
            .unwrap();
        // a cert naming another key is refused, even with a signature by that key
        let other = SigningKey::from_slice(&[6u8; 32]).unwrap();
        let other_pem = crate::keys::public_key_pem(other.verifying_key()).unwrap();
        let forged = legacy_bundle(&sign(&other.clone().into(), &d).unwrap(), &other_pem);
        let err = Evidence::parse_bundle(&forged)
            .unwrap()
            .verify(k.verifying_key(), &d)
            .unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");
    }

    #[test]
    fn signatures_as_base64_or_raw() {
        let k = key();
        let sig = sign(&k.clone().into(), &Digest::sha256(b"x")).unwrap();
        assert_eq!(signature_bytes(&sig).unwrap(), sig);
        let text = format!("{}\n", B64.encode(&sig));
        assert_eq!(signature_bytes(text.as_bytes()).unwrap(), sig);
        assert!(signature_bytes(b"").is_err());
        assert!(signature_bytes(b" \n").is_err());
        assert!(signature_bytes(b"not a signature").is_err());
        assert!(signature_bytes(B64.encode(b"short").as_bytes()).is_err());
    }

    #[test]
    fn bad_bundle_files_are_one_line_refusals() {
        for (raw, want) in [
            (&b"{"[..], "not JSON"),
            (b"[]", "not a JSON object"),
            (b"{}", "neither a Sigstore bundle"),
            (br#"{"base64Signature":"!!"}"#, "not valid base64"),
            (
                br#"{"base64Signature":"AA==","cert":"%"}"#,
                "cert is not valid base64",
            ),
            (br#"{"mediaType":"x"}"#, "unsupported media type"),
        ] {
            let e = Evidence::parse_bundle(raw).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
            assert!(!e.contains('\n'));
        }
    }
}
