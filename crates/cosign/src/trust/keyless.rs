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

use super::entry::{Signed, Signer, check_body};
use super::{Authority, TrustedRoot, b64, tlog};
use crate::bundle::{BUNDLE_V01, Bundle, Content, Material, check_statement};
use crate::digest::Digest;
use crate::keys::PublicKey;
use crate::signature::certs::{Cert, verify_chain};
use crate::signature::identity::IdentityPolicy;
use crate::{Error, Result};

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
    let times = logged_times(raw, &bundle, root, &Signer::Cert(&leaf_der), artifact)?;
    let at = *times.iter().min().expect("at least one time");

    // the certificate, at every time vouched for
    check_fulcio_certificate(&leaf, root, &times)?;
    policy.check_bundle(&leaf).map_err(fail)?;

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
    key: &PublicKey,
    artifact: &Digest,
) -> Result<Duration> {
    let bundle = Bundle::parse(raw)?;
    let times = logged_times(raw, &bundle, root, &Signer::Key(key), artifact)?;
    match &bundle.content {
        Content::MessageSignature { .. } => bundle.verify_message_digest(key, artifact)?,
        Content::Dsse { .. } => {
            let (t, p) = bundle.verify_dsse(key)?;
            check_statement(t, p, artifact, None)?;
        }
    }
    Ok(*times.iter().min().expect("at least one time"))
}

/// The bundle's transparency-log entries and RFC 3161 timestamps, each verified
/// against `root` and naming `signer`; returns the times they vouch for (at least
/// one).
fn logged_times(
    raw: &[u8],
    bundle: &Bundle,
    root: &TrustedRoot,
    signer: &Signer<'_>,
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

/// The entry's body must be of its kindVersion and record this bundle's signature
/// (by `signer`) over `artifact`.
fn check_entry_body(
    body: &[u8],
    kind: &RawKind,
    bundle: &Bundle,
    signer: &Signer<'_>,
    artifact: &Digest,
) -> Result<()> {
    let signed = match &bundle.content {
        Content::MessageSignature { signature, .. } => Signed::Message {
            digest: artifact,
            signature,
        },
        Content::Dsse {
            payload_type,
            payload,
            signatures,
        } => Signed::Envelope {
            payload_type,
            payload,
            signatures,
        },
    };
    let (k, v) = check_body(body, &signed, signer, "the bundle")?;
    if (k.as_str(), v.as_str()) != (kind.kind.as_str(), kind.version.as_str()) {
        return Err(fail(
            "the body's kind and version are not the entry's kindVersion",
        ));
    }
    Ok(())
}

/// The Fulcio checks of a signing certificate at every time in `times` (at least
/// one) that a log or a timestamp vouches for: it allows code signing, is valid
/// then, chains to a certificate authority of `root` valid then, and carries an
/// embedded SCT from a CT log of `root`. The identity is the caller's.
pub(super) fn check_fulcio_certificate(
    leaf: &Cert,
    root: &TrustedRoot,
    times: &[Duration],
) -> Result<()> {
    leaf.check_code_signing().map_err(fail)?;
    let mut chained = None;
    for &t in times {
        leaf.check_valid_at(t).map_err(|e| {
            fail(format!(
                "the signing certificate at the signing time {}: {e}",
                crate::signature::certs::rfc3339(t)
            ))
        })?;
        chained = Some(chain_at(leaf, root, t)?);
    }
    let ca = chained.ok_or_else(|| fail("no signing time to check the certificate at"))?;
    // the CT logs' promises (SCTs) embedded in the certificate
    let issuer = ca
        .chain
        .iter()
        .find(|c| leaf.named_issuer_is(c))
        .ok_or_else(|| fail("the signing certificate's issuer is not in the trusted chain"))?;
    super::sct::verify_embedded_scts(leaf, issuer, root)
        .map_err(|e| fail(format!("the signing certificate: {e}")))
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
    signer: &Signer<'_>,
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
        check_entry_body(&body, kind, bundle, signer, artifact)?;
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

    check_entry_body(&body, kind, bundle, signer, artifact)?;
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
