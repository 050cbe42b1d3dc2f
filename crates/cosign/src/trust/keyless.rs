//! Keyless verification of a Sigstore bundle, offline, against a pinned trusted
//! root (what `cosign verify-blob --bundle --trusted-root --certificate-identity …`
//! does without the network):
//!
//! 1. every transparency-log entry is from a log of the trusted root and proves
//!    itself: its SET (the log's signature over the entry and its integratedTime)
//!    with that log's key valid at that time, its inclusion proof (required from
//!    bundle v0.2 on) up to a checkpoint signed by the log, and its body is this
//!    bundle's (artifact digest or DSSE payload hash, signature, certificate);
//! 2. the signing certificate chains to a certificate authority of the trusted root
//!    valid at the entry's integratedTime, allows code signing, and names the
//!    expected identity and issuer;
//! 3. the signature verifies with the certificate's key over the artifact (a
//!    message signature) or the DSSE envelope (whose statement names the artifact).
//!
//! 4. at least one SCT embedded in the certificate is from a CT log of the trusted
//!    root and verifies ([`super::sct`]).
//!
//! Times: a Rekor v1 entry's SET vouches for its integratedTime; every RFC 3161
//! timestamp of the bundle must verify against a timestamp authority of the trusted
//! root ([`super::tsa`]) and vouches for its genTime. Rekor v2 entries
//! (hashedrekord and dsse 0.0.2) carry no time, only an inclusion proof and a
//! checkpoint signed under the log's origin, so such a bundle needs a timestamp.
//! At least one trusted time is required, and the certificate and its chain must be
//! valid at every one of them.
//!
//! Refused rather than passed unchecked: v1 entries without a SET, SCTs outside the
//! certificate (detached).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{Authority, TrustedRoot, b64, tlog};
use crate::bundle::{BUNDLE_V01, Bundle, Content, Material, check_statement};
use crate::digest::Digest;
use crate::signature::certs::{Cert, verify_chain};
use crate::signature::identity::IdentityPolicy;
use crate::{Error, Result};
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey as _;

/// What a keyless verification established.
#[derive(Debug)]
pub struct Verified {
    /// The signing certificate.
    pub certificate: Cert,
    /// The earliest time vouched for (a log's integratedTime or a timestamp's
    /// genTime).
    pub signed_at: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    verification_material: RawMaterial,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    #[serde(default)]
    tlog_entries: Vec<RawEntry>,
    timestamp_verification_data: Option<RawTimestamps>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamps {
    #[serde(default)]
    rfc3161_timestamps: Vec<RawTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamp {
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    log_index: Option<String>,
    log_id: Option<RawLogId>,
    kind_version: Option<RawKind>,
    integrated_time: Option<String>,
    inclusion_promise: Option<RawPromise>,
    inclusion_proof: Option<RawProof>,
    canonicalized_body: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawKind {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: Option<String>,
    root_hash: Option<String>,
    tree_size: Option<String>,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: String,
}

fn fail(msg: impl std::fmt::Display) -> Error {
    Error::invalid(msg.to_string())
}

fn int(what: &str, s: Option<&str>) -> Result<i64> {
    let s = s.ok_or_else(|| fail(format!("the tlog entry has no {what}")))?;
    s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        fail(format!(
            "the tlog entry's {what} is not a non-negative integer"
        ))
    })
}

/// Verifies the bundle `raw` over the artifact whose SHA-256 is `artifact`, keyless,
/// against `root`, for the identity `policy` (which must name a subject and an
/// issuer: a keyless signature says nothing without them).
pub fn verify_bundle(
    raw: &[u8],
    root: &TrustedRoot,
    policy: &IdentityPolicy,
    artifact: &Digest,
) -> Result<Verified> {
    if !policy.has_subject() || !policy.has_issuer() {
        return Err(Error::Usage(
            "keyless verification needs --certificate-identity[-regexp] and \
             --certificate-oidc-issuer[-regexp]"
                .into(),
        ));
    }
    let bundle = Bundle::parse(raw)?;
    let leaf_der = match &bundle.material {
        Material::Certificate(der) => der.clone(),
        Material::Chain(chain) => {
            for (i, der) in chain.iter().enumerate().skip(1) {
                let c = Cert::from_der(der.clone())
                    .map_err(|e| fail(format!("the bundle's chain certificate {}: {e}", i + 1)))?;
                if c.is_self_signed() {
                    return Err(fail(format!(
                        "the bundle's certificate chain holds a root ({}): roots come from the \
                         trusted root only",
                        c.subject()
                    )));
                }
            }
            chain[0].clone()
        }
        Material::PublicKey { .. } => {
            return Err(fail(
                "the bundle is signed with a key, not a certificate: verify it with --key",
            ));
        }
    };
    let leaf = Cert::from_der(leaf_der.clone())
        .map_err(|e| fail(format!("the bundle's certificate: {e}")))?;
    let times = logged_times(raw, &bundle, root, &Verifier::Cert(&leaf_der), artifact)?;
    let at = *times.iter().min().expect("at least one time");

    // the certificate, at every time vouched for
    leaf.check_code_signing().map_err(fail)?;
    let mut chained = None;
    for &t in &times {
        leaf.check_valid_at(t).map_err(|e| {
            fail(format!(
                "the signing certificate at the signing time {}: {e}",
                crate::signature::certs::rfc3339(t)
            ))
        })?;
        chained = Some(chain_at(&leaf, root, t)?);
    }
    let ca = chained.expect("at least one time");
    // the CT logs' promises (SCTs) embedded in the certificate
    let issuer = ca
        .chain
        .iter()
        .find(|c| leaf.named_issuer_is(c))
        .ok_or_else(|| fail("the signing certificate's issuer is not in the trusted chain"))?;
    super::sct::verify_embedded_scts(&leaf, issuer, root)
        .map_err(|e| fail(format!("the signing certificate: {e}")))?;
    policy.check(&leaf).map_err(fail)?;

    // the signature
    let key = leaf.verifying_key().map_err(fail)?;
    match &bundle.content {
        Content::MessageSignature { .. } => bundle.verify_message_digest(&key, artifact)?,
        Content::Dsse { .. } => {
            let (t, p) = bundle.verify_dsse(&key)?;
            check_statement(t, p, artifact, None)?;
        }
    }
    Ok(Verified {
        certificate: leaf,
        signed_at: at,
    })
}

/// Verifies the bundle `raw`, signed with `key` (a managed key), over the artifact
/// whose SHA-256 is `artifact`, with its transparency-log entries and timestamps
/// checked against `root` (what `cosign verify-blob --key --trusted-root` does).
/// Returns the earliest time vouched for.
pub fn verify_bundle_with_key(
    raw: &[u8],
    root: &TrustedRoot,
    key: &VerifyingKey,
    artifact: &Digest,
) -> Result<Duration> {
    let bundle = Bundle::parse(raw)?;
    let times = logged_times(raw, &bundle, root, &Verifier::Key(key), artifact)?;
    match &bundle.content {
        Content::MessageSignature { .. } => bundle.verify_message_digest(key, artifact)?,
        Content::Dsse { .. } => {
            let (t, p) = bundle.verify_dsse(key)?;
            check_statement(t, p, artifact, None)?;
        }
    }
    Ok(*times.iter().min().expect("at least one time"))
}

/// Who the log entries must name as the signer.
enum Verifier<'a> {
    /// The signing certificate's DER.
    Cert(&'a [u8]),
    Key(&'a VerifyingKey),
}

impl Verifier<'_> {
    /// A Rekor v1 verifier: base64 of a PEM certificate or public key.
    fn is_pem(&self, b64pem: Option<&str>) -> bool {
        let Some(pem) = b64pem.and_then(|t| b64(t).ok()) else {
            return false;
        };
        match self {
            Verifier::Cert(der) => {
                crate::signature::certs::read_certificate(&pem).is_ok_and(|c| c.der() == *der)
            }
            Verifier::Key(key) => std::str::from_utf8(&pem)
                .ok()
                .and_then(|p| VerifyingKey::from_public_key_pem(p).ok())
                .is_some_and(|k| k == **key),
        }
    }

    /// A Rekor v2 verifier: `{"x509Certificate": {"rawBytes"}}` or
    /// `{"publicKey": {"rawBytes"}}` (DER).
    fn is_v2(&self, v: Option<&Value>) -> bool {
        match self {
            Verifier::Cert(der) => {
                v2_bytes(v.and_then(|v| v.pointer("/x509Certificate/rawBytes"))).as_deref()
                    == Some(*der)
            }
            Verifier::Key(key) => v2_bytes(v.and_then(|v| v.pointer("/publicKey/rawBytes")))
                .and_then(|d| VerifyingKey::from_public_key_der(&d).ok())
                .is_some_and(|k| k == **key),
        }
    }
}

/// The bundle's transparency-log entries and RFC 3161 timestamps, each verified
/// against `root` and naming `signer`; returns the times they vouch for (at least
/// one).
fn logged_times(
    raw: &[u8],
    bundle: &Bundle,
    root: &TrustedRoot,
    signer: &Verifier<'_>,
    artifact: &Digest,
) -> Result<Vec<Duration>> {
    let rb: RawBundle =
        serde_json::from_slice(raw).map_err(|e| fail(format!("invalid Sigstore bundle: {e}")))?;
    let entries = &rb.verification_material.tlog_entries;
    if entries.is_empty() {
        return Err(fail(
            "the bundle has no transparency-log entry to check against the trusted root",
        ));
    }
    let v01 = bundle.media_type == BUNDLE_V01;
    let mut times = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let t = verify_entry(e, root, v01, bundle, signer, artifact)
            .map_err(|err| fail(format!("tlog entry {i}: {err}")))?;
        times.extend(t);
    }
    let signature = match &bundle.content {
        Content::MessageSignature { signature, .. } => signature.as_slice(),
        Content::Dsse { signatures, .. } => signatures.first().map_or(&[][..], Vec::as_slice),
    };
    let stamps = rb
        .verification_material
        .timestamp_verification_data
        .as_ref()
        .map_or(&[][..], |t| t.rfc3161_timestamps.as_slice());
    for (i, ts) in stamps.iter().enumerate() {
        let token =
            b64(&ts.signed_timestamp).map_err(|m| fail(format!("RFC 3161 timestamp {i}: {m}")))?;
        let t = super::tsa::verify(&token, signature, root)
            .map_err(|m| fail(format!("RFC 3161 timestamp {i}: {m}")))?;
        times.push(t.time);
    }
    if times.is_empty() {
        return Err(fail(
            "no trusted signing time: the log entries carry no integratedTime (Rekor v2) and \
             the bundle has no RFC 3161 timestamp",
        ));
    }
    Ok(times)
}

/// The certificate authority of the trusted root, valid at `at`, that `leaf` chains
/// to at `at`.
fn chain_at<'r>(leaf: &Cert, root: &'r TrustedRoot, at: Duration) -> Result<&'r Authority> {
    let mut last = String::from("the trusted root has no certificate authority");
    for ca in &root.certificate_authorities {
        if !ca.valid.contains(at) {
            last = format!(
                "no certificate authority of the trusted root is valid at {}",
                crate::signature::certs::rfc3339(at)
            );
            continue;
        }
        let (roots, inters): (Vec<Cert>, Vec<Cert>) =
            ca.chain.iter().cloned().partition(Cert::is_self_signed);
        match verify_chain(leaf, &roots, &inters, at) {
            Ok(()) => return Ok(ca),
            Err(e) => last = e,
        }
    }
    Err(fail(format!("the signing certificate: {last}")))
}

/// One transparency-log entry. A Rekor v1 entry returns its integratedTime once
/// the SET vouches for it; a Rekor v2 entry (kind version 0.0.2) has no time, and
/// must prove its inclusion under a checkpoint signed with the log's origin.
fn verify_entry(
    e: &RawEntry,
    root: &TrustedRoot,
    v01: bool,
    bundle: &Bundle,
    signer: &Verifier<'_>,
    artifact: &Digest,
) -> Result<Option<Duration>> {
    let kind = e
        .kind_version
        .as_ref()
        .ok_or_else(|| fail("no kindVersion"))?;
    let key_id = e
        .log_id
        .as_ref()
        .ok_or_else(|| fail("no logId"))
        .and_then(|l| b64(&l.key_id).map_err(|m| fail(format!("logId.keyId: {m}"))))?;
    let log = root
        .tlog(&key_id)
        .ok_or_else(|| fail("not from a transparency log of the trusted root (unknown logId)"))?;
    let body_b64 = e
        .canonicalized_body
        .as_deref()
        .ok_or_else(|| fail("no canonicalizedBody"))?;
    let body = b64(body_b64).map_err(|m| fail(format!("canonicalizedBody: {m}")))?;
    let log_index = int("logIndex", e.log_index.as_deref())?;

    if kind.version == "0.0.2" && matches!(kind.kind.as_str(), "hashedrekord" | "dsse") {
        // Rekor v2: no integratedTime, no SET; the inclusion proof is the proof
        let p = e
            .inclusion_proof
            .as_ref()
            .ok_or_else(|| fail("no inclusion proof (a Rekor v2 entry must carry one)"))?;
        verify_inclusion(p, log, &body, Some(&origin_of(log)))?;
        check_body(&body, &kind.kind, &kind.version, bundle, signer, artifact)?;
        return Ok(None);
    }

    let integrated = int("integratedTime", e.integrated_time.as_deref())?;
    if integrated == 0 {
        return Err(fail(
            "no integratedTime in a Rekor v1 entry, so no time its SET vouches for",
        ));
    }
    let at = Duration::from_secs(integrated as u64);

    // the SET: the log promises the entry at integratedTime
    let promise = e
        .inclusion_promise
        .as_ref()
        .ok_or_else(|| fail("no inclusion promise (SET) in a Rekor v1 entry"))?;
    let set = b64(&promise.signed_entry_timestamp)
        .map_err(|m| fail(format!("signedEntryTimestamp: {m}")))?;
    if !log.valid.contains(at) {
        return Err(fail(format!(
            "the log's key is not valid at the entry's integratedTime {}",
            crate::signature::certs::rfc3339(at)
        )));
    }
    tlog::verify_log_signature(
        log,
        &tlog::set_message(body_b64.trim(), integrated, &key_id, log_index),
        &set,
    )
    .map_err(|m| fail(format!("the signed entry timestamp: {m}")))?;

    // the inclusion proof, and the checkpoint it must agree with
    match &e.inclusion_proof {
        None if v01 => {}
        None => return Err(fail("no inclusion proof (required from bundle v0.2 on)")),
        Some(p) => verify_inclusion(p, log, &body, None)?,
    }

    check_body(&body, &kind.kind, &kind.version, bundle, signer, artifact)?;
    Ok(Some(at))
}

/// A Rekor v2 log's origin, as its checkpoints name it: its base URL's host (and
/// path), without the scheme.
fn origin_of(log: &super::LogKey) -> String {
    let url = log.base_url.trim_end_matches('/');
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .to_owned()
}

fn verify_inclusion(
    p: &RawProof,
    log: &super::LogKey,
    body: &[u8],
    origin: Option<&str>,
) -> Result<()> {
    let index = int("inclusion proof's logIndex", p.log_index.as_deref())? as u64;
    let size = int("inclusion proof's treeSize", p.tree_size.as_deref())? as u64;
    let root_hash = p
        .root_hash
        .as_deref()
        .ok_or_else(|| fail("the inclusion proof has no rootHash"))
        .and_then(|r| b64(r).map_err(|m| fail(format!("the inclusion proof's rootHash: {m}"))))?;
    let hashes = p
        .hashes
        .iter()
        .map(|h| b64(h).map_err(|m| fail(format!("an inclusion proof hash: {m}"))))
        .collect::<Result<Vec<_>>>()?;
    let computed = tlog::root_from_inclusion_proof(index, size, tlog::leaf_hash(body), &hashes)
        .map_err(fail)?;
    if computed[..] != root_hash[..] {
        return Err(fail(
            "the inclusion proof does not lead to its root hash (the entry is not in that tree)",
        ));
    }
    let cp = p
        .checkpoint
        .as_ref()
        .ok_or_else(|| fail("the inclusion proof has no checkpoint"))?;
    let cp = tlog::verify_checkpoint(&cp.envelope, log).map_err(fail)?;
    if let Some(origin) = origin
        && cp.origin != origin
    {
        return Err(fail(format!(
            "the checkpoint's origin {:?} is not the log's ({origin:?})",
            crate::digest::printable(&cp.origin)
        )));
    }
    if cp.size != size || cp.root_hash != root_hash {
        return Err(fail(format!(
            "the checkpoint ({}, size {}) is not for the inclusion proof's tree (size {size}) \
             or root hash",
            crate::digest::printable(&cp.origin),
            cp.size
        )));
    }
    Ok(())
}

/// The entry's body must record this bundle: what was signed, the signature, and the
/// certificate.
fn check_body(
    body: &[u8],
    kind: &str,
    version: &str,
    bundle: &Bundle,
    signer: &Verifier<'_>,
    artifact: &Digest,
) -> Result<()> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| fail(format!("the canonicalized body is not JSON: {e}")))?;
    let s = |p: &str| v.pointer(p).and_then(Value::as_str);
    if s("/kind") != Some(kind) || s("/apiVersion") != Some(version) {
        return Err(fail(
            "the body's kind and version are not the entry's kindVersion",
        ));
    }
    let mismatch = |what: &str| fail(format!("the log entry does not match the bundle: {what}"));
    match (kind, version, &bundle.content) {
        ("hashedrekord", "0.0.1", Content::MessageSignature { signature, .. }) => {
            if s("/spec/data/hash/algorithm") != Some("sha256")
                || s("/spec/data/hash/value") != Some(artifact.hex())
            {
                return Err(mismatch("the artifact digest"));
            }
            let logged = s("/spec/signature/content").and_then(|t| b64(t).ok());
            if logged.as_deref() != Some(signature.as_slice()) {
                return Err(mismatch("the signature"));
            }
            if !signer.is_pem(s("/spec/signature/publicKey/content")) {
                return Err(mismatch("the certificate"));
            }
        }
        (
            "dsse",
            "0.0.1",
            Content::Dsse {
                payload,
                signatures,
                ..
            },
        ) => {
            if s("/spec/payloadHash/algorithm") != Some("sha256")
                || s("/spec/payloadHash/value") != Some(Digest::sha256(payload).hex())
            {
                return Err(mismatch("the DSSE payload hash"));
            }
            let logged = v
                .pointer("/spec/signatures")
                .and_then(Value::as_array)
                .ok_or_else(|| mismatch("no signatures"))?;
            if logged.len() != signatures.len() {
                return Err(mismatch("the number of DSSE signatures"));
            }
            for sig in signatures {
                let found = logged.iter().any(|l| {
                    l.get("signature")
                        .and_then(Value::as_str)
                        .and_then(|t| b64(t).ok())
                        .is_some_and(|b| b == *sig)
                        && signer.is_pem(l.get("verifier").and_then(Value::as_str))
                });
                if !found {
                    return Err(mismatch("a DSSE signature (or its certificate)"));
                }
            }
        }
        (
            "intoto",
            "0.0.2",
            Content::Dsse {
                payload,
                signatures,
                payload_type,
            },
        ) => {
            if s("/spec/content/payloadHash/algorithm") != Some("sha256")
                || s("/spec/content/payloadHash/value") != Some(Digest::sha256(payload).hex())
            {
                return Err(mismatch("the in-toto payload hash"));
            }
            if s("/spec/content/envelope/payloadType") != Some(payload_type) {
                return Err(mismatch("the payload type"));
            }
            let logged = v
                .pointer("/spec/content/envelope/signatures")
                .and_then(Value::as_array)
                .ok_or_else(|| mismatch("no signatures"))?;
            if logged.len() != signatures.len() {
                return Err(mismatch("the number of DSSE signatures"));
            }
            // intoto 0.0.2 stores each signature base64-encoded twice
            let twice = |t: &str| {
                b64(t)
                    .ok()
                    .and_then(|once| b64(&String::from_utf8(once).ok()?).ok())
            };
            for sig in signatures {
                let found = logged.iter().any(|l| {
                    l.get("sig")
                        .and_then(Value::as_str)
                        .and_then(twice)
                        .is_some_and(|b| b == *sig)
                        && signer.is_pem(l.get("publicKey").and_then(Value::as_str))
                });
                if !found {
                    return Err(mismatch("a DSSE signature (or its certificate)"));
                }
            }
        }
        ("hashedrekord", "0.0.2", content) => {
            // over a DSSE envelope, Rekor v2 logs Hash(PAE(type, payload)) and the
            // envelope's one signature
            let (digest, signature) = match content {
                Content::MessageSignature { signature, .. } => {
                    (artifact.hex().to_owned(), signature.as_slice())
                }
                Content::Dsse {
                    payload_type,
                    payload,
                    signatures,
                } => match signatures.as_slice() {
                    [one] => (
                        Digest::sha256(&crate::bundle::pae(payload_type, payload))
                            .hex()
                            .to_owned(),
                        one.as_slice(),
                    ),
                    _ => return Err(mismatch("a DSSE envelope with more than one signature")),
                },
            };
            let spec = v
                .pointer("/spec/hashedRekordV002")
                .ok_or_else(|| mismatch("no hashedRekordV002 spec"))?;
            if !v2_hash_is(spec.get("data"), &digest) {
                return Err(mismatch(match content {
                    Content::MessageSignature { .. } => "the artifact digest",
                    Content::Dsse { .. } => "the DSSE envelope (its PAE hash)",
                }));
            }
            let logged = spec.get("signature");
            if v2_bytes(logged.and_then(|l| l.get("content"))).as_deref() != Some(signature) {
                return Err(mismatch("the signature"));
            }
            if !signer.is_v2(logged.and_then(|l| l.get("verifier"))) {
                return Err(mismatch("the certificate"));
            }
        }
        (
            "dsse",
            "0.0.2",
            Content::Dsse {
                payload,
                signatures,
                ..
            },
        ) => {
            let spec = v
                .pointer("/spec/dsseV002")
                .ok_or_else(|| mismatch("no dsseV002 spec"))?;
            if !v2_hash_is(spec.get("payloadHash"), Digest::sha256(payload).hex()) {
                return Err(mismatch("the DSSE payload hash"));
            }
            let logged = spec
                .get("signatures")
                .and_then(Value::as_array)
                .ok_or_else(|| mismatch("no signatures"))?;
            if logged.len() != signatures.len() {
                return Err(mismatch("the number of DSSE signatures"));
            }
            for sig in signatures {
                let found = logged.iter().any(|l| {
                    v2_bytes(l.get("content")).as_deref() == Some(sig.as_slice())
                        && signer.is_v2(l.get("verifier"))
                });
                if !found {
                    return Err(mismatch("a DSSE signature (or its certificate)"));
                }
            }
        }
        (k, ver, _) => {
            return Err(fail(format!(
                "a {} {} entry for this bundle's content, which airsign does not verify: refused",
                crate::digest::printable(k),
                crate::digest::printable(ver)
            )));
        }
    }
    Ok(())
}

/// Rekor v2 (protojson) bytes: standard base64.
fn v2_bytes(v: Option<&Value>) -> Option<Vec<u8>> {
    v.and_then(Value::as_str).and_then(|t| b64(t).ok())
}

/// A Rekor v2 `HashOutput` (`{"algorithm": "SHA2_256", "digest": b64}`) equal to
/// the SHA-256 whose hex is `hex`.
fn v2_hash_is(v: Option<&Value>, hex: &str) -> bool {
    let Some(v) = v else { return false };
    let digest = v2_bytes(v.get("digest"));
    v.get("algorithm").and_then(Value::as_str) == Some("SHA2_256")
        && digest.is_some_and(|d| {
            let h: String = d.iter().map(|b| format!("{b:02x}")).collect();
            h == hex
        })
}
