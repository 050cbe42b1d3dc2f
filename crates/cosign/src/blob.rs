//! Blobs — any file: a Helm chart, an SBOM, an ISO — signed and verified as cosign's
//! `sign-blob` and `verify-blob` do, with a key and offline.
//!
//! cosign signs a blob over the hash its key's algorithm uses (SHA-256 for P-256 and
//! RSA, SHA-384 for P-384, SHA-512 for P-521) of its raw bytes. The file is hashed
//! here, once, streaming through a fixed buffer ([`Artifact::read`]), and the
//! signature is made and checked over that digest (the prehash), so a multi-gigabyte
//! file is never held in memory. Ed25519 (pure, as cosign signs offline) signs the
//! bytes themselves: for such a key the file is read whole, as cosign does. This is the one place besides `airsign_oci`'s
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
use serde::Deserialize;

use crate::bundle::{BUNDLE_V03, Bundle, MAX_BUNDLE, key_hint};
use crate::digest::{Algorithm, Digest, Hasher, hash_reader};
use crate::keys::algorithm::MessageHasher;
use crate::keys::{HashAlg, PublicKey, Signer};
use crate::signature::verify::{decode_base64_signature, parse_signature};
use crate::{Error, Result};

/// A blob signature file is a few hundred bytes; anything larger is not one.
pub const MAX_SIGNATURE_FILE: u64 = 64 * 1024;

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

/// A blob as its signature is made or checked over: its SHA-256 (what a bundle's
/// statement names), the hash the key signs over when that is another, and, for
/// Ed25519 (pure), the bytes themselves.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub sha256: Digest,
    other: Option<(HashAlg, Vec<u8>)>,
    whole: Option<Vec<u8>>,
}

impl Artifact {
    /// Reads everything `reader` yields once, through a fixed buffer: the SHA-256,
    /// and what `key_hash` says the key needs (`Some(hash)`: that hash too;
    /// `None`: the bytes, for Ed25519). Returns the byte count too.
    pub fn read(reader: &mut impl Read, key_hash: Option<HashAlg>) -> io::Result<(Artifact, u64)> {
        let mut sha256 = Hasher::new(Algorithm::Sha256);
        let mut other = key_hash
            .filter(|h| *h != HashAlg::Sha256)
            .map(|h| (h, MessageHasher::new(h)));
        let mut whole = key_hash.is_none().then(Vec::new);
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0u64;
        loop {
            let got = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            sha256.update(&buf[..got]);
            if let Some((_, h)) = &mut other {
                h.update(&buf[..got]);
            }
            if let Some(w) = &mut whole {
                w.extend_from_slice(&buf[..got]);
            }
            n += got as u64;
        }
        Ok((
            Artifact {
                sha256: sha256.finish(),
                other: other.map(|(alg, h)| (alg, h.finish())),
                whole,
            },
            n,
        ))
    }

    /// The artifact known only by its SHA-256 (`verify-blob sha256:<hex>`).
    pub fn from_sha256(digest: Digest) -> Result<Artifact> {
        if digest.algorithm() != Algorithm::Sha256 {
            return Err(Error::invalid(format!(
                "a blob is named by its SHA-256, not {}",
                digest.algorithm().name()
            )));
        }
        Ok(Artifact {
            sha256: digest,
            other: None,
            whole: None,
        })
    }

    /// The artifact held whole (small ones: tests, payloads).
    pub fn whole(bytes: Vec<u8>) -> Artifact {
        Artifact {
            sha256: Digest::sha256(&bytes),
            other: None,
            whole: Some(bytes),
        }
    }

    /// The artifact's `hash`, when it was computed (or can be, from the bytes).
    pub fn hash(&self, hash: HashAlg) -> Result<Vec<u8>> {
        if hash == HashAlg::Sha256 {
            return Ok(self.sha256.to_bytes());
        }
        if let Some((alg, d)) = &self.other
            && *alg == hash
        {
            return Ok(d.clone());
        }
        if let Some(w) = &self.whole {
            return Ok(hash.digest(w));
        }
        Err(Error::invalid(format!(
            "the artifact's {} is needed (the key signs over it), give the file rather than \
             its sha256 digest",
            hash.name()
        )))
    }

    /// Signs the artifact with `key`: over its hash (ECDSA, RFC 6979 nonces,
    /// DER; RSA), or over its bytes (Ed25519).
    pub fn sign(&self, key: &Signer) -> Result<Vec<u8>> {
        match key.hash() {
            Some(hash) => key.sign_prehash(hash, &self.hash(hash)?),
            None => key.sign(self.bytes()?),
        }
    }

    /// Verifies `sig` over the artifact with `key`.
    pub fn verify(&self, key: &PublicKey, sig: &[u8]) -> Result<()> {
        match key.hash() {
            Some(hash) => key.verify_prehash(hash, &self.hash(hash)?, sig),
            None => key.verify(self.bytes()?, sig),
        }
    }

    fn bytes(&self) -> Result<&[u8]> {
        self.whole.as_deref().ok_or_else(|| {
            Error::invalid(
                "an Ed25519 signature is over the artifact's bytes: give the file rather than \
                 its sha256 digest",
            )
        })
    }
}

/// The SHA-256 of everything `reader` yields, read through a fixed buffer, and the
/// byte count.
pub fn hash_artifact(reader: &mut impl Read) -> io::Result<(Digest, u64)> {
    hash_reader(Algorithm::Sha256, reader)
}

/// Signs the artifact: see [`Artifact::sign`].
pub fn sign(key: &Signer, artifact: &Artifact) -> Result<Vec<u8>> {
    artifact.sign(key)
}

/// The v0.3 Sigstore bundle of a blob signature, exactly as cosign 3.1.1's
/// `sign-blob --bundle` writes it offline with a key: compact, in protojson's field
/// order, no transparency-log entry, no trailing newline. Every value is base64 or
/// fixed, so nothing needs escaping. The message digest is by the key's hash
/// (`SHA2_384` for P-384, …); for Ed25519 it is empty (`{}`), as cosign leaves it.
pub fn new_bundle(key: &PublicKey, artifact: &Artifact, signature: &[u8]) -> Result<Vec<u8>> {
    let digest = match key.hash() {
        Some(hash) => format!(
            r#"{{"algorithm":"{}","digest":"{}"}}"#,
            hash.bundle_name(),
            B64.encode(artifact.hash(hash)?)
        ),
        None => "{}".to_owned(),
    };
    Ok(format!(
        concat!(
            r#"{{"mediaType":"{}","verificationMaterial":{{"publicKey":{{"hint":"{}"}}}},"#,
            r#""messageSignature":{{"messageDigest":{},"#,
            r#""signature":"{}"}}}}"#
        ),
        BUNDLE_V03,
        key_hint(key)?,
        digest,
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

    /// Verifies `artifact` with `key`. A legacy
    /// bundle's `cert` must be `key` (or certify it): cosign verifies with the
    /// bundle's `cert` and lets it override `--key`; airsign trusts only the key it
    /// was given, and says when the bundle names another.
    pub fn verify(&self, key: &PublicKey, artifact: &Artifact) -> Result<()> {
        match self {
            Evidence::Bundle(b) => b.verify_artifact(key, artifact),
            Evidence::Legacy(l) => {
                if let Some(cert) = &l.cert {
                    check_legacy_cert(cert, key)?;
                }
                artifact.verify(key, &l.signature)
            }
            Evidence::Signature(sig) => artifact.verify(key, sig),
        }
    }
}

/// A legacy bundle's `cert` (a PEM, once base64-decoded) must be the key, or a
/// certificate of it.
fn check_legacy_cert(pem: &[u8], key: &PublicKey) -> Result<()> {
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
/// signature bytes (its algorithm is the key's, checked when it is verified).
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
    use crate::keys::PrivateKey;

    fn fixture(name: &str) -> Vec<u8> {
        crate::fixture(&format!("bundles/{name}"))
    }

    fn key() -> PrivateKey {
        PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap())
    }

    fn other_key() -> PrivateKey {
        PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[6u8; 32]).unwrap())
    }

    fn artifact(data: &[u8], key: &PrivateKey) -> Artifact {
        Artifact::read(&mut &data[..], key.hash()).unwrap().0
    }

    #[test]
    fn a_streamed_hash_is_the_digest_of_the_bytes() {
        let data = vec![7u8; 3 * crate::digest::CHUNK + 11];
        let (d, n) = hash_artifact(&mut data.as_slice()).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, Digest::sha256(&data));
        let (a, n) = Artifact::read(&mut data.as_slice(), Some(HashAlg::Sha384)).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(a.sha256, d);
        assert_eq!(
            a.hash(HashAlg::Sha384).unwrap(),
            HashAlg::Sha384.digest(&data)
        );
        assert!(a.hash(HashAlg::Sha512).is_err());
    }

    #[test]
    fn a_prehash_signature_is_a_signature_over_the_bytes() {
        use crate::keys::Algorithm;
        let data = b"a chart, an SBOM, an ISO";
        for alg in [
            Algorithm::EcdsaP256Sha256,
            Algorithm::EcdsaP384Sha384,
            Algorithm::EcdsaP521Sha512,
            Algorithm::Ed25519,
        ] {
            let k = PrivateKey::generate(alg).unwrap();
            let sig = sign(&k.clone().into(), &artifact(data, &k)).unwrap();
            crate::signature::verify::verify_signature(&k.public_key(), data, &sig).unwrap();
            let raw = new_bundle(&k.public_key(), &artifact(data, &k), &sig).unwrap();
            let e = Evidence::parse_bundle(&raw).unwrap();
            e.verify(&k.public_key(), &artifact(data, &k)).unwrap();
            assert!(e.verify(&k.public_key(), &artifact(b"x", &k)).is_err());
        }
    }

    #[test]
    fn our_bundle_has_cosign_3s_shape_and_verifies() {
        let k = key();
        let data = b"hello blob\n";
        let d = artifact(data, &k);
        let sig = sign(&k.clone().into(), &d).unwrap();
        let raw = new_bundle(&k.public_key(), &d, &sig).unwrap();
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
        e.verify(&k.public_key(), &d).unwrap();
        let err = e.verify(&other_key().public_key(), &d).unwrap_err();
        assert!(err.to_string().contains("names another key"), "{err}");
        assert!(e.verify(&k.public_key(), &artifact(b"x", &k)).is_err());
    }

    #[test]
    fn cosign_3s_bundle_verifies_by_digest() {
        let e = Evidence::parse_bundle(&fixture("blob.sigstore.json")).unwrap();
        let key = crate::keys::public_key_from_pem(&fixture("cosign3.pub"))
            .unwrap()
            .unwrap();
        let (d, _) = hash_artifact(&mut fixture("blob.txt").as_slice()).unwrap();
        e.verify(&key, &Artifact::from_sha256(d).unwrap()).unwrap();
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
        let d = artifact(b"x", &k);
        let sig = sign(&k.clone().into(), &d).unwrap();
        let pem = crate::keys::public_key_pem(&k.public_key()).unwrap();
        let raw = legacy_bundle(&sig, &pem);
        let e = Evidence::parse_bundle(&raw).unwrap();
        e.verify(&k.public_key(), &d).unwrap();
        // cosign 2.5's: no cert
        let v2 = format!(r#"{{"base64Signature":"{}"}}"#, B64.encode(&sig));
        Evidence::parse_bundle(v2.as_bytes())
            .unwrap()
            .verify(&k.public_key(), &d)
            .unwrap();
        // a cert naming another key is refused, even with a signature by that key
        let other = other_key();
        let other_pem = crate::keys::public_key_pem(&other.public_key()).unwrap();
        let forged = legacy_bundle(&sign(&other.clone().into(), &d).unwrap(), &other_pem);
        let err = Evidence::parse_bundle(&forged)
            .unwrap()
            .verify(&k.public_key(), &d)
            .unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");
    }

    #[test]
    fn signatures_as_base64_or_raw() {
        let k = key();
        let sig = sign(&k.clone().into(), &artifact(b"x", &k)).unwrap();
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
