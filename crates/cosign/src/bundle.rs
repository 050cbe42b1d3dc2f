//! Sigstore bundles (`application/vnd.dev.sigstore.bundle…`), as cosign 3 writes them
//! for images (an OCI referrer whose layer is the bundle, DSSE over an in-toto
//! statement) and for blobs (`sign-blob --bundle`, a message signature). Parsing is
//! strict about what verification relies on and tolerant of what it does not read;
//! every refusal is one line saying what is wrong.
//!
//! The JSON is protojson: camelCase names, bytes as standard base64, 64-bit integers
//! as strings. Its spacing is not stable between cosign builds, so bundles are only
//! ever parsed, never compared as bytes.

use crate::blob::Artifact;
use crate::keys::PublicKey;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::digest::Digest;
use crate::signature::verify::verify_signature;
use crate::{Error, Result};

/// The media type of a v0.3 bundle, also the `artifactType` of its OCI referrer.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The older spellings, still accepted.
pub const BUNDLE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
pub const BUNDLE_V02: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
pub const BUNDLE_V03_ALT: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The predicate type of cosign 3's image signatures.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Bundles larger than this are refused unread (cosign's are a few KiB).
pub const MAX_BUNDLE: u64 = 1024 * 1024;

/// Whether `media_type` names a Sigstore bundle (any supported version).
pub fn is_bundle_type(media_type: &str) -> bool {
    matches!(
        media_type,
        BUNDLE_V01 | BUNDLE_V02 | BUNDLE_V03 | BUNDLE_V03_ALT
    )
}

/// What signs the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Material {
    /// A key the verifier must bring; `hint` is cosign's base64 SHA-256 of its DER.
    PublicKey { hint: Option<String> },
    /// The signing certificate (DER), v0.3.
    Certificate(Vec<u8>),
    /// The signing certificate first, then intermediates (DER), v0.1/v0.2.
    Chain(Vec<Vec<u8>>),
}

impl Material {
    /// The signing certificate's DER, when the material is a certificate.
    pub fn leaf_der(&self) -> Option<&[u8]> {
        match self {
            Material::Certificate(der) => Some(der),
            Material::Chain(chain) => chain.first().map(Vec::as_slice),
            Material::PublicKey { .. } => None,
        }
    }
}

/// What is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A signature over an artifact (a blob), with the artifact's digest.
    MessageSignature {
        digest: Option<(String, Vec<u8>)>,
        signature: Vec<u8>,
    },
    /// A DSSE envelope: signatures over PAE(payloadType, payload).
    Dsse {
        payload_type: String,
        payload: Vec<u8>,
        signatures: Vec<Vec<u8>>,
    },
}

/// A parsed bundle. Transparency-log entries and timestamps are counted here and
/// checked only against a trusted root (not yet): a key-verified bundle is what
/// `cosign verify --insecure-ignore-tlog` accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub media_type: String,
    pub material: Material,
    pub content: Content,
    pub tlog_entries: usize,
    pub timestamps: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: Option<String>,
    verification_material: Option<RawMaterial>,
    message_signature: Option<RawMessage>,
    dsse_envelope: Option<RawDsse>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    public_key: Option<RawHint>,
    certificate: Option<RawCert>,
    x509_certificate_chain: Option<RawChain>,
    #[serde(default)]
    tlog_entries: Vec<Value>,
    timestamp_verification_data: Option<RawTimestamps>,
}

#[derive(Deserialize)]
struct RawHint {
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamps {
    #[serde(default)]
    rfc3161_timestamps: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    message_digest: Option<RawDigest>,
    signature: String,
}

/// protojson leaves out empty fields: cosign writes `"messageDigest":{}` for an
/// Ed25519 (pure) signature, which is over the message, not a digest.
#[derive(Deserialize)]
struct RawDigest {
    #[serde(default)]
    algorithm: String,
    #[serde(default)]
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDsse {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<RawDsseSig>,
}

#[derive(Deserialize)]
struct RawDsseSig {
    sig: String,
}

fn b64(what: &str, s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| bad(format!("{what} is not valid base64: {e}")))
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid Sigstore bundle: {msg}"))
}

impl Bundle {
    /// Parses a bundle's JSON.
    pub fn parse(raw: &[u8]) -> Result<Bundle> {
        if raw.len() as u64 > MAX_BUNDLE {
            return Err(bad(format!("over the {MAX_BUNDLE}-byte limit")));
        }
        let r: RawBundle = serde_json::from_slice(raw).map_err(|e| bad(format!("{e}")))?;
        let media_type = r.media_type.ok_or_else(|| bad("no mediaType"))?;
        if !is_bundle_type(&media_type) {
            return Err(bad(format!(
                "unsupported media type {:?} (supported: v0.1 to v0.3)",
                crate::digest::printable(&media_type)
            )));
        }
        let m = r
            .verification_material
            .ok_or_else(|| bad("no verificationMaterial"))?;
        let material = match (m.public_key, m.certificate, m.x509_certificate_chain) {
            (Some(k), None, None) => Material::PublicKey { hint: k.hint },
            (None, Some(c), None) => Material::Certificate(b64("the certificate", &c.raw_bytes)?),
            (None, None, Some(chain)) => {
                if chain.certificates.is_empty() {
                    return Err(bad("an empty x509CertificateChain"));
                }
                Material::Chain(
                    chain
                        .certificates
                        .iter()
                        .map(|c| b64("a chain certificate", &c.raw_bytes))
                        .collect::<Result<_>>()?,
                )
            }
            (None, None, None) => {
                return Err(bad(
                    "verificationMaterial has no publicKey, certificate or x509CertificateChain",
                ));
            }
            _ => {
                return Err(bad(
                    "verificationMaterial has more than one kind of key material",
                ));
            }
        };
        for e in &m.tlog_entries {
            check_tlog_entry(e)?;
        }
        let content = match (r.message_signature, r.dsse_envelope) {
            (Some(ms), None) => Content::MessageSignature {
                digest: ms
                    .message_digest
                    .filter(|d| !(d.algorithm.is_empty() && d.digest.is_empty()))
                    .map(|d| Ok::<_, Error>((d.algorithm, b64("the message digest", &d.digest)?)))
                    .transpose()?,
                signature: b64("the signature", &ms.signature)?,
            },
            (None, Some(d)) => {
                if d.signatures.is_empty() {
                    return Err(bad("the DSSE envelope has no signature"));
                }
                Content::Dsse {
                    payload: b64("the DSSE payload", &d.payload)?,
                    payload_type: d.payload_type,
                    signatures: d
                        .signatures
                        .iter()
                        .map(|s| b64("a DSSE signature", &s.sig))
                        .collect::<Result<_>>()?,
                }
            }
            (None, None) => return Err(bad("neither messageSignature nor dsseEnvelope")),
            (Some(_), Some(_)) => return Err(bad("both messageSignature and dsseEnvelope")),
        };
        Ok(Bundle {
            media_type,
            material,
            tlog_entries: m.tlog_entries.len(),
            timestamps: m
                .timestamp_verification_data
                .map_or(0, |t| t.rfc3161_timestamps.len()),
            content,
        })
    }

    /// Verifies a DSSE bundle's signature with `key` (any one signature of the
    /// envelope may match) and returns the payload type and payload.
    pub fn verify_dsse(&self, key: &PublicKey) -> Result<(&str, &[u8])> {
        let Content::Dsse {
            payload_type,
            payload,
            signatures,
        } = &self.content
        else {
            return Err(Error::invalid(
                "the bundle holds a message signature, not a DSSE envelope",
            ));
        };
        let pae = pae(payload_type, payload);
        let mut last = None;
        for sig in signatures {
            match verify_signature(key, &pae, sig) {
                Ok(()) => return Ok((payload_type, payload)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::invalid("the DSSE envelope has no signature")))
    }

    /// cosign's duplicate rule for a bundle: `self` is `new` but for the envelope's
    /// signatures (same media type, verification material, statement, log entries
    /// and timestamps), and one of its signatures verifies with `key`. ECDSA
    /// signatures with random nonces differ each time the same statement is signed.
    pub fn same_signature_as(&self, new: &Bundle, key: &PublicKey) -> bool {
        let unsigned = |b: &Bundle| {
            let mut b = b.clone();
            if let Content::Dsse { signatures, .. } = &mut b.content {
                signatures.clear();
            }
            b
        };
        matches!(self.content, Content::Dsse { .. })
            && unsigned(self) == unsigned(new)
            && self.verify_dsse(key).is_ok()
    }

    /// Verifies a message-signature bundle over the artifact `artifact` (its bytes,
    /// held whole).
    pub fn verify_message(&self, key: &PublicKey, artifact: &[u8]) -> Result<()> {
        self.verify_message_artifact(key, &Artifact::whole(artifact.to_vec()))
    }

    /// Verifies a message-signature bundle over the artifact whose SHA-256 is
    /// `artifact` (keyless: what the certificate's key signs over must be SHA-256).
    pub fn verify_message_digest(&self, key: &PublicKey, artifact: &Digest) -> Result<()> {
        self.verify_message_artifact(key, &Artifact::from_sha256(artifact.clone())?)
    }

    /// Verifies a message-signature bundle over `artifact` (hashed while it streamed
    /// past, so a multi-gigabyte file is never held, or held whole for Ed25519): the
    /// bundle's digest, when it states one, must be the artifact's by the hash the
    /// key signs with (SHA2_384 for P-384, …), and the signature must verify over it.
    pub fn verify_message_artifact(&self, key: &PublicKey, artifact: &Artifact) -> Result<()> {
        let Content::MessageSignature { digest, signature } = &self.content else {
            return Err(Error::invalid(
                "the bundle holds a DSSE envelope, not a message signature",
            ));
        };
        if let Some((alg, d)) = digest {
            let Some(hash) = crate::keys::HashAlg::from_bundle_name(alg) else {
                return Err(Error::invalid(format!(
                    "the bundle's message digest is {}, not one of SHA2_256, SHA2_384, SHA2_512",
                    crate::digest::printable(alg)
                )));
            };
            if key.hash().is_some() && key.hash() != Some(hash) {
                return Err(Error::invalid(format!(
                    "the bundle's message digest is {alg}, but an {} key signs the {}",
                    key.kind(),
                    key.hash().map_or("message", |h| h.name())
                )));
            }
            if artifact.hash(hash)?.as_slice() != d.as_slice() {
                return Err(Error::invalid(
                    "the bundle's message digest is not the artifact's",
                ));
            }
        }
        artifact.verify(key, signature)
    }

    /// Verifies a bundle over a blob (`cosign verify-blob`): a message signature over
    /// the artifact (see [`Bundle::verify_message_digest`]), or a DSSE envelope
    /// signed by `key` whose in-toto statement names the artifact's digest among its
    /// subjects (what `cosign attest-blob` writes). The key material must be `key`
    /// when it says so: a certificate is compared with it; a public-key hint, which
    /// any producer may fill with a name of its own, only explains a failure.
    pub fn verify_artifact(&self, key: &PublicKey, artifact: &Artifact) -> Result<()> {
        if let Some(der) = self.material.leaf_der() {
            check_certificate_key(der, key)?;
        }
        let verified = match &self.content {
            Content::MessageSignature { .. } => self.verify_message_artifact(key, artifact),
            Content::Dsse { .. } => self
                .verify_dsse(key)
                .and_then(|(t, p)| check_statement(t, p, &artifact.sha256, None).map(|_| ())),
        };
        let other_hint = match &self.material {
            Material::PublicKey { hint: Some(hint) } if *hint != key_hint(key)? => Some(hint),
            _ => None,
        };
        match (verified, other_hint) {
            (Err(Error::Invalid(msg)), Some(hint)) => Err(Error::invalid(format!(
                "{msg} (the bundle names another key: hint {})",
                crate::digest::printable(hint)
            ))),
            (result, _) => result,
        }
    }
}

/// cosign's `publicKey.hint`: the standard base64 of the SHA-256 of the key's PKIX
/// (SubjectPublicKeyInfo) DER.
pub fn key_hint(key: &PublicKey) -> Result<String> {
    let der = key.to_spki_der()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(Digest::sha256(&der).to_bytes()))
}

/// A bundle's certificate must certify the verification key.
fn check_certificate_key(der: &[u8], key: &PublicKey) -> Result<()> {
    let cert = crate::signature::certs::Cert::from_der(der.to_vec())
        .map_err(|e| bad(format!("the certificate: {e}")))?;
    if cert.matches_key(key) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "the bundle's certificate ({}) is for another key than the one given",
            crate::digest::printable(&cert.subject())
        )))
    }
}

/// What every transparency-log entry must look like to be read at all (its proofs
/// are checked against a trusted root, not here): a numeric, non-negative log index.
fn check_tlog_entry(e: &Value) -> Result<()> {
    let index = e
        .get("logIndex")
        .ok_or_else(|| bad("a tlog entry has no logIndex"))?;
    let n = match index {
        Value::String(s) => s.parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| bad("a tlog entry's logIndex is not a number"))?;
    if n < 0 {
        return Err(bad(format!("a tlog entry's logIndex is negative ({n})")));
    }
    Ok(())
}

/// DSSE's pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Checks an in-toto statement (v0.1 or v1) names `subject` among its subjects and,
/// when given, has `predicate_type`. Returns the statement, parsed.
pub fn check_statement(
    payload_type: &str,
    payload: &[u8],
    subject: &Digest,
    predicate_type: Option<&str>,
) -> Result<Value> {
    if payload_type != IN_TOTO {
        return Err(Error::invalid(format!(
            "the DSSE payload type is {:?}, not {IN_TOTO}",
            crate::digest::printable(payload_type)
        )));
    }
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| Error::invalid(format!("the in-toto statement is not JSON: {e}")))?;
    let kind = v.get("_type").and_then(Value::as_str).unwrap_or("");
    if !matches!(
        kind,
        "https://in-toto.io/Statement/v1" | "https://in-toto.io/Statement/v0.1"
    ) {
        return Err(Error::invalid(format!(
            "the payload is not an in-toto statement (_type {:?})",
            crate::digest::printable(kind)
        )));
    }
    if let Some(want) = predicate_type {
        let got = v.get("predicateType").and_then(Value::as_str).unwrap_or("");
        if got != want {
            return Err(Error::invalid(format!(
                "the statement's predicate type is {:?}, not {want}",
                crate::digest::printable(got)
            )));
        }
    }
    let alg = subject.algorithm().name();
    let names_it = v
        .get("subject")
        .and_then(Value::as_array)
        .is_some_and(|subjects| {
            subjects.iter().any(|s| {
                s.pointer(&format!("/digest/{alg}"))
                    .and_then(Value::as_str)
                    .is_some_and(|h| h == subject.hex())
            })
        });
    if !names_it {
        return Err(Error::invalid(format!(
            "the statement's subjects do not include {subject}"
        )));
    }
    Ok(v)
}

/// The in-toto statement cosign 3 signs for an image: its digest as the one
/// subject (no name), the `-a` annotations on it, cosign's sign predicate, an empty
/// predicate — in the field order cosign writes.
pub fn sign_statement(
    subject: &Digest,
    annotations: &std::collections::BTreeMap<String, String>,
) -> Vec<u8> {
    let mut a = serde_json::Map::new();
    for (k, v) in annotations {
        a.insert(k.clone(), Value::String(v.clone()));
    }
    // cosign's field order (_type, subject, predicateType, predicate; digest before
    // annotations), written by hand; the annotations' keys sorted, as protojson does
    format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{{}:{}}},"annotations":{}}}],"predicateType":"{COSIGN_SIGN_PREDICATE}","predicate":{{}}}}"#,
        Value::String(subject.algorithm().name().to_owned()),
        Value::String(subject.hex().to_owned()),
        Value::Object(a)
    )
    .into_bytes()
}

/// A v0.3 bundle with a DSSE envelope: the bytes cosign 3 writes (a key's
/// `publicKey.hint`, or the signing `certificate`; one signature without a key id).
pub fn dsse_bundle(
    payload_type: &str,
    payload: &[u8],
    signature_der: &[u8],
    material: &Material,
) -> Vec<u8> {
    let b = |x: &[u8]| base64::engine::general_purpose::STANDARD.encode(x);
    let material = match material {
        Material::PublicKey { hint } => format!(
            r#"{{"publicKey":{{"hint":{}}}}}"#,
            Value::String(hint.clone().unwrap_or_default())
        ),
        Material::Certificate(der) => format!(r#"{{"certificate":{{"rawBytes":"{}"}}}}"#, b(der)),
        Material::Chain(ders) => format!(
            r#"{{"x509CertificateChain":{{"certificates":[{}]}}}}"#,
            ders.iter()
                .map(|d| format!(r#"{{"rawBytes":"{}"}}"#, b(d)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    format!(
        r#"{{"mediaType":"{BUNDLE_V03}","verificationMaterial":{material},"dsseEnvelope":{{"payload":"{}","payloadType":{},"signatures":[{{"sig":"{}"}}]}}}}"#,
        b(payload),
        Value::String(payload_type.to_owned()),
        b(signature_der)
    )
    .into_bytes()
}

/// The empty config every bundle referrer points to.
pub const EMPTY_CONFIG: &[u8] = b"{}";
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// The OCI referrer manifest cosign 3 writes for a bundle of `subject`: the empty
/// config (with the bundle's artifact type, as cosign writes it), the bundle as the
/// one layer, cosign's annotations (`created`: RFC 3339, seconds, UTC), the subject,
/// the artifact type.
pub fn referrer_manifest(
    bundle: &[u8],
    predicate_type: &str,
    created: &str,
    subject_media_type: &str,
    subject: &Digest,
    subject_size: u64,
) -> Vec<u8> {
    let s = |x: &str| Value::String(x.to_owned());
    format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""config":{{"mediaType":"{empty}","size":2,"digest":"{cfg}","artifactType":"{bt}"}},"#,
            r#""layers":[{{"mediaType":"{bt}","size":{blen},"digest":"{bdig}"}}],"#,
            r#""annotations":{{"dev.sigstore.bundle.content":"dsse-envelope","dev.sigstore.bundle.predicateType":{pt},"org.opencontainers.image.created":{created}}},"#,
            r#""subject":{{"mediaType":{smt},"size":{ssize},"digest":"{sdig}"}},"#,
            r#""artifactType":"{bt}"}}"#
        ),
        empty = EMPTY_MEDIA_TYPE,
        cfg = Digest::sha256(EMPTY_CONFIG),
        bt = BUNDLE_V03,
        blen = bundle.len(),
        bdig = Digest::sha256(bundle),
        pt = s(predicate_type),
        created = s(created),
        smt = s(subject_media_type),
        ssize = subject_size,
        sdig = subject,
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        crate::fixture(&format!("bundles/{name}"))
    }

    #[test]
    fn a_cosign_3_blob_bundle_verifies_with_its_key_only() {
        let b = Bundle::parse(&fixture("blob.sigstore.json")).unwrap();
        assert_eq!(b.media_type, BUNDLE_V03);
        assert!(matches!(b.material, Material::PublicKey { hint: Some(_) }));
        let key = crate::keys::public_key_from_pem(&fixture("cosign3.pub"))
            .unwrap()
            .unwrap();
        let blob = fixture("blob.txt");
        b.verify_message(&key, &blob).unwrap();
        // another artifact: the stated digest no longer matches
        let e = b.verify_message(&key, b"other bytes").unwrap_err();
        assert!(e.to_string().contains("not the artifact's"), "{e}");
        // another key
        let other =
            crate::keys::PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap());
        assert!(b.verify_message(&other.public_key(), &blob).is_err());
        // it is not a DSSE bundle
        assert!(b.verify_dsse(&key).is_err());
    }

    #[test]
    fn what_we_write_is_what_cosign_3_writes_and_reads_back() {
        let key = crate::keys::public_key_from_pem(&fixture("cosign3.pub"))
            .unwrap()
            .unwrap();
        // the hint cosign 3.1.1 wrote for this key
        let b = Bundle::parse(&fixture("blob.sigstore.json")).unwrap();
        let Material::PublicKey { hint: Some(theirs) } = &b.material else {
            panic!("{:?}", b.material)
        };
        assert_eq!(&key_hint(&key).unwrap(), theirs);
        // cosign 3.1.1's statement for an image signed with -a foo=bar
        let d: Digest = "sha256:87a0bbd518e444cc53593183783682d6864c23a69713509cd176ddb3cfbfb018"
            .parse()
            .unwrap();
        let mut a = std::collections::BTreeMap::new();
        a.insert("foo".to_owned(), "bar".to_owned());
        assert_eq!(
            String::from_utf8(sign_statement(&d, &a)).unwrap(),
            r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"87a0bbd518e444cc53593183783682d6864c23a69713509cd176ddb3cfbfb018"},"annotations":{"foo":"bar"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}"#
        );
        // a bundle we write parses back, and its signature verifies
        let sk =
            crate::keys::PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap());
        let st = sign_statement(&d, &a);
        let sig = sk.sign(&pae(IN_TOTO, &st)).unwrap();
        let hint = Material::PublicKey {
            hint: Some(key_hint(&sk.public_key()).unwrap()),
        };
        let raw = dsse_bundle(IN_TOTO, &st, &sig, &hint);
        assert_eq!(Bundle::parse(&raw).unwrap().material, hint);
        let back = Bundle::parse(&raw).unwrap();
        let (t, p) = back.verify_dsse(&sk.public_key()).unwrap();
        check_statement(t, p, &d, Some(COSIGN_SIGN_PREDICATE)).unwrap();
        // the referrer manifest: cosign 3.1.1's bytes for its bundle, but for the bundle
        let m = referrer_manifest(
            &raw,
            COSIGN_SIGN_PREDICATE,
            "2026-12-05T01:26:04Z",
            "application/vnd.oci.image.manifest.v1+json",
            &d,
            401,
        );
        let v: Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["subject"]["digest"], d.to_string());
        assert_eq!(v["layers"][0]["digest"], Digest::sha256(&raw).to_string());
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn a_statement_signed_again_by_the_same_key_is_the_same_signature_and_nothing_else_is() {
        use crate::keys::{PrivateKey, Signer};
        let d: Digest = "sha256:87a0bbd518e444cc53593183783682d6864c23a69713509cd176ddb3cfbfb018"
            .parse()
            .unwrap();
        let a = std::collections::BTreeMap::new();
        // a key file's signer: P-256 with hedged nonces
        let key = Signer::from(PrivateKey::P256(
            p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap(),
        ));
        let public = key.public_key();
        let hint = Material::PublicKey {
            hint: Some(key_hint(&public).unwrap()),
        };
        let bundle = |statement: &[u8], signer: &Signer| {
            let sig = signer.sign(&pae(IN_TOTO, statement)).unwrap();
            let raw = dsse_bundle(IN_TOTO, statement, &sig, &hint);
            (raw.clone(), Bundle::parse(&raw).unwrap())
        };
        let st = sign_statement(&d, &a);
        let (raw1, first) = bundle(&st, &key);
        let (raw2, second) = bundle(&st, &key);
        assert_ne!(raw1, raw2, "the nonces differ, so do the bytes");
        assert!(first.same_signature_as(&second, &public));
        // another statement (another annotation)
        let mut other_a = a.clone();
        other_a.insert("k".to_owned(), "v".to_owned());
        let (_, other_statement) = bundle(&sign_statement(&d, &other_a), &key);
        assert!(!other_statement.same_signature_as(&second, &public));
        // the same statement and hint, but signed by another key: its signature does
        // not verify with ours
        let stranger = Signer::from(PrivateKey::P256(
            p256::ecdsa::SigningKey::from_slice(&[4u8; 32]).unwrap(),
        ));
        let (_, forged) = bundle(&st, &stranger);
        assert!(!forged.same_signature_as(&second, &public));
        // other verification material
        let sig = key.sign(&pae(IN_TOTO, &st)).unwrap();
        let no_hint = Bundle::parse(&dsse_bundle(
            IN_TOTO,
            &st,
            &sig,
            &Material::PublicKey { hint: None },
        ))
        .unwrap();
        assert!(!no_hint.same_signature_as(&second, &public));
    }

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("application/example", b"hello world"),
            b"DSSEv1 19 application/example 11 hello world"
        );
    }

    #[test]
    fn bad_bundles_are_one_line_refusals() {
        let cases: [(&str, &str); 8] = [
            ("{", "invalid Sigstore bundle"),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v9+json"}"#,
                "unsupported media type",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#,
                "no verificationMaterial",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"messageSignature":{"signature":"!!"}}"#,
                "not valid base64",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}}}"#,
                "neither messageSignature nor dsseEnvelope",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{},"tlogEntries":[{"logIndex":"-1"}]},"messageSignature":{"signature":"AA=="}}"#,
                "negative",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"","payloadType":"x","signatures":[]}}"#,
                "no signature",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}, "messageSignature":{"signature":"AA=="}}"#,
                "no publicKey",
            ),
        ];
        for (raw, want) in cases {
            let e = Bundle::parse(raw.as_bytes()).unwrap_err();
            let s = e.to_string();
            assert!(s.contains(want), "{raw}: {s}");
            assert!(!s.contains('\n'), "{s}");
        }
    }

    #[test]
    fn a_statement_must_name_the_subject_and_predicate() {
        let d = Digest::sha256(b"image");
        let st = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{}"}}}}],"predicateType":"{COSIGN_SIGN_PREDICATE}","predicate":{{}}}}"#,
            d.hex()
        );
        check_statement(IN_TOTO, st.as_bytes(), &d, Some(COSIGN_SIGN_PREDICATE)).unwrap();
        let other = Digest::sha256(b"other");
        assert!(check_statement(IN_TOTO, st.as_bytes(), &other, None).is_err());
        assert!(check_statement(IN_TOTO, st.as_bytes(), &d, Some("x")).is_err());
        assert!(check_statement("text/plain", st.as_bytes(), &d, None).is_err());
    }
}
