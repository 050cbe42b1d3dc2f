//! cosign's verification policy over a layout, offline: the signatures of an image
//! read from its `.sig` ([`gather_signatures`]), and the verdict on them
//! ([`judge`]): each layer's signature, digest claim and `-a` claims checked with a
//! key, certificate authorities, or both ([`Trust`]); the image passes when at least
//! one layer does. `airsign verify` and the `import --verify-key` admission gate
//! both use it, so they cannot disagree.

use std::collections::BTreeMap;

use crate::keys::PublicKey;

use super::certs::{self, Cert};
use super::identity::IdentityPolicy;
use super::verify::{check_claims, decode_base64_signature, verify_signature};
use super::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, MAX_PAYLOAD, SIMPLESIGNING,
    SigLayer, SignatureArtifact,
};
use crate::bundle::{
    Bundle, COSIGN_SIGN_PREDICATE, Content, MAX_BUNDLE, Material, check_statement, is_bundle_type,
};
use crate::store::manifest::{self, Document, MAX_MANIFEST};
use crate::store::referrers::Referrers;
use crate::store::resolve::{Catalog, EntryName, referrers_name, signature_entry};
use crate::store::{Descriptor, Kind};
use crate::trust::TrustedRoot;
use crate::{Error, Result};

/// Trusted roots and the intermediates that may lead to them.
#[derive(Debug, Default, Clone)]
pub struct CaTrust {
    pub roots: Vec<Cert>,
    pub intermediates: Vec<Cert>,
}

/// What signatures are verified with: a key, certificate authorities, or both; or,
/// keyless, a pinned Sigstore trusted root.
#[derive(Debug, Default, Clone)]
pub struct Trust {
    pub key: Option<PublicKey>,
    pub ca: Option<CaTrust>,
    /// Who a certificate validated against `ca` or `trusted_root` must name.
    pub identity: IdentityPolicy,
    /// Keyless (`--trusted-root`): every signature must carry a Fulcio certificate
    /// and transparency-log proofs checked against this root ([`crate::trust`]);
    /// `key` and `ca` are then unused.
    pub trusted_root: Option<std::sync::Arc<TrustedRoot>>,
}

/// One verified signature layer.
#[derive(Debug)]
pub struct Verified {
    /// The payload bytes as stored.
    pub payload: Vec<u8>,
    /// The payload, parsed.
    pub value: serde_json::Value,
    /// The layer's certificate, if it has one.
    pub certificate: Option<Cert>,
    /// Whether that certificate was validated against the CA flags (or, keyless,
    /// the trusted root).
    pub ca_verified: bool,
    /// Keyless: the transparency-log entry was verified offline (its SET, and for a
    /// bundle its inclusion proof).
    pub tlog_verified: bool,
    /// Keyless `.sig` layer: its bundle annotation, which cosign prints as
    /// `optional.Bundle`.
    pub rekor_bundle: Option<serde_json::Value>,
    /// A Sigstore bundle (cosign 3): its claims are printed as cosign 3.1.1 prints
    /// them, without the certificate's fields.
    pub from_bundle: bool,
}

/// One image's signatures, read from its layout: each `.sig` layer with its payload
/// bytes, and each Sigstore bundle referrer's bundle (or why they could not be read).
pub struct Gathered {
    pub image: String,
    pub digest: crate::digest::Digest,
    pub layers: Vec<(SigLayer, Result<Vec<u8>>)>,
    /// (the referrer manifest's digest, the bundle JSON)
    pub bundles: Vec<(crate::digest::Digest, Result<Vec<u8>>)>,
}

/// Reads the signatures of the image `name` (digest `digest`) in `catalog`'s layout;
/// `image` names it in messages.
pub fn gather_signatures(
    catalog: &Catalog<'_>,
    name: &EntryName,
    digest: &crate::digest::Digest,
    image: &str,
) -> Result<Gathered> {
    let layout = catalog.layout();
    let digest = digest.clone();
    let bundles = gather_bundles(catalog, name, &digest)?;
    let layers = match signature_entry(catalog, name, &digest) {
        None => Vec::new(),
        Some(sig) => SignatureArtifact::read(layout, sig)?
            .layers
            .into_iter()
            .map(|layer| {
                let desc = Descriptor::new(&layer.media_type, layer.digest.clone(), layer.size);
                let payload = layout.read_blob(&desc, MAX_PAYLOAD);
                (layer, payload)
            })
            .collect(),
    };
    if layers.is_empty() && bundles.is_empty() {
        return Err(Error::NoSignatures(format!(
            "no signatures found for {image} ({digest})"
        )));
    }
    Ok(Gathered {
        image: image.to_owned(),
        digest,
        layers,
        bundles,
    })
}

/// Whether the referrers listed under `listing` (`REPO:sha256-<hex>`) include a
/// Sigstore bundle signature: then cosign 3 reads bundles only, and a `.sig` alone
/// would go unseen by it.
pub fn listing_has_bundle(catalog: &Catalog<'_>, listing: &str) -> Result<bool> {
    Ok(!split_listing(catalog, listing)?.0.is_empty())
}

/// The referrers listed under `listing`, split: (Sigstore bundles, the others).
pub fn split_listing(
    catalog: &Catalog<'_>,
    listing: &str,
) -> Result<(Vec<Descriptor>, Vec<Descriptor>)> {
    let layout = catalog.layout();
    let Some(entry) = catalog.named(listing) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let (mut bundles, mut others) = (Vec::new(), Vec::new());
    for r in manifest::index_children(layout, entry)? {
        let bundle = r.kind() == Kind::Manifest
            && (r.artifact_type.as_deref().is_some_and(is_bundle_type) || {
                let raw = layout.read_blob(&r, MAX_MANIFEST)?;
                matches!(
                    manifest::parse(&raw, &r, "referrer")?,
                    Document::Manifest { ref layers, .. }
                        if layers.iter().any(|l| is_bundle_type(&l.media_type))
                )
            });
        if bundle {
            bundles.push(r);
        } else {
            others.push(r);
        }
    }
    Ok((bundles, others))
}

/// The Sigstore bundles (cosign 3's signatures) that refer to `digest`: listed at
/// the image repository's fallback tag (`REPO:sha256-<hex>`, where pull, import and
/// sync keep referrers), or, in a layout with unnamed entries (`cosign save`),
/// wherever a referrer names it as its subject. Each referrer manifest's layers of
/// a bundle media type are read.
pub(crate) fn gather_bundles(
    catalog: &Catalog<'_>,
    name: &EntryName,
    digest: &crate::digest::Digest,
) -> Result<Vec<(crate::digest::Digest, Result<Vec<u8>>)>> {
    let layout = catalog.layout();
    let referrers: Vec<Descriptor> =
        match referrers_name(name, digest).and_then(|n| catalog.named(&n)) {
            Some(listing) => manifest::index_children(layout, listing)?,
            None if matches!(name, EntryName::Unnamed(_)) => Referrers::discover(catalog, true)?
                .by_subject
                .remove(digest)
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.desc)
                .collect(),
            None => Vec::new(),
        };
    let mut out = Vec::new();
    for r in referrers.iter().filter(|r| r.kind() == Kind::Manifest) {
        let raw = layout.read_blob(r, MAX_MANIFEST)?;
        let Document::Manifest { layers, .. } =
            manifest::parse(&raw, r, &format!("referrer {} of {digest}", r.digest))?
        else {
            continue;
        };
        for l in layers.iter().filter(|l| is_bundle_type(&l.media_type)) {
            out.push((r.digest.clone(), layout.read_blob(l, MAX_BUNDLE)));
        }
    }
    Ok(out)
}

/// [`judge`] for many images, on every core, results in order.
pub fn judge_all(
    gathered: &[Gathered],
    trust: &Trust,
    required: &BTreeMap<String, String>,
) -> Vec<Result<Vec<Verified>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if gathered.len() < 16 || threads == 1 {
        return gathered.iter().map(|g| judge(g, trust, required)).collect();
    }
    let chunk = gathered.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = gathered
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    c.iter()
                        .map(|g| judge(g, trust, required))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("verification does not panic"))
            .collect()
    })
}

/// Checks every layer of one image: at least one must verify.
pub fn judge(
    g: &Gathered,
    trust: &Trust,
    required: &BTreeMap<String, String>,
) -> Result<Vec<Verified>> {
    let image = &g.image;
    let mut verified = Vec::new();
    let mut errors = Vec::new();
    let mut without_certificate = 0;
    for (i, (layer, payload)) in g.layers.iter().enumerate() {
        match check_layer(layer, payload, trust, &g.digest, required) {
            Ok(v) => verified.push(v),
            Err(e) => {
                if matches!(e, Error::NoCertificate(_)) {
                    without_certificate += 1;
                }
                errors.push(format!("signature {}: {e}", i + 1));
            }
        }
    }
    for (referrer, raw) in &g.bundles {
        match check_bundle(raw, trust, &g.image, &g.digest, required) {
            Ok(v) => verified.push(v),
            Err(e) => {
                if matches!(e, Error::NoCertificate(_)) {
                    without_certificate += 1;
                }
                errors.push(format!("bundle {referrer}: {e}"));
            }
        }
    }
    if verified.is_empty() {
        // cosign wraps this case in "no matching signatures" (12) for images; its
        // own code for it, 13, says more.
        if without_certificate == errors.len() {
            return Err(Error::NoCertificate(format!(
                "no certificate found on signature: none of the {} signature(s) of {image} \
                 carries one (verify key-signed images with --key)",
                errors.len()
            )));
        }
        return Err(Error::NoMatchingSignatures(format!(
            "no matching signatures for {image}: {}",
            errors.join("; ")
        )));
    }
    Ok(verified)
}

/// The verified payloads of one image, checked with a key (at least one, or an
/// error with cosign's code).
pub(crate) fn check_layer(
    layer: &SigLayer,
    payload: &Result<Vec<u8>>,
    trust: &Trust,
    digest: &crate::digest::Digest,
    required: &BTreeMap<String, String>,
) -> Result<Verified> {
    if layer.media_type != SIMPLESIGNING {
        return Err(Error::invalid(format!(
            "layer media type {} is not a simple-signing payload",
            layer.media_type
        )));
    }
    let sig_text = layer.signature().ok_or_else(|| {
        Error::invalid("the layer has no dev.cosignproject.cosign/signature annotation")
    })?;
    let certificate = layer_certificate(layer)?;
    if let Some(root) = &trust.trusted_root {
        return check_layer_keyless(
            layer,
            sig_text,
            certificate,
            payload,
            root,
            trust,
            digest,
            required,
        );
    }
    let mut ca_verified = false;
    if let (Some(ca), Some(cert)) = (&trust.ca, &certificate) {
        validate_certificate(cert, chain_intermediates(layer)?, ca)?;
        trust.identity.check(cert).map_err(Error::Invalid)?;
        ca_verified = true;
    }
    let key = match (&trust.key, &certificate) {
        (Some(key), Some(cert)) if ca_verified && !cert.matches_key(key) => {
            return Err(Error::invalid(
                "the certificate on the signature does not certify the --key public key",
            ));
        }
        (Some(key), _) => key.clone(),
        (None, Some(cert)) => cert.verifying_key().map_err(Error::Invalid)?,
        (None, None) => {
            return Err(Error::NoCertificate(
                "no certificate found on signature".into(),
            ));
        }
    };
    let payload = match payload {
        Ok(p) => p.clone(),
        Err(e) => return Err(Error::invalid(e.to_string())),
    };
    let sig = decode_base64_signature(sig_text)?;
    verify_signature(&key, &payload, &sig)?;
    let value = check_claims(&payload, digest, required)?;
    if let Some(cert) = &certificate {
        check_expiry(cert)?;
    }
    Ok(Verified {
        payload,
        value,
        certificate,
        ca_verified,
        tlog_verified: false,
        rekor_bundle: None,
        from_bundle: false,
    })
}

/// A `.sig` layer keyless ([`crate::trust::legacy`]): its Fulcio certificate and
/// Rekor bundle annotation against the trusted root, then the same claims as with
/// a key. The certificate is judged at the log's time, not now: that is what the
/// transparency log is for.
#[allow(clippy::too_many_arguments)]
fn check_layer_keyless(
    layer: &SigLayer,
    sig_text: &str,
    certificate: Option<Cert>,
    payload: &Result<Vec<u8>>,
    root: &TrustedRoot,
    trust: &Trust,
    digest: &crate::digest::Digest,
    required: &BTreeMap<String, String>,
) -> Result<Verified> {
    let Some(cert) = certificate else {
        return Err(Error::NoCertificate(
            "no certificate found on signature".into(),
        ));
    };
    let payload = match payload {
        Ok(p) => p.clone(),
        Err(e) => return Err(Error::invalid(e.to_string())),
    };
    let v = crate::trust::legacy::verify_signature_layer(
        &payload,
        sig_text,
        &cert,
        layer.annotations.get(BUNDLE_ANNOTATION).map(String::as_str),
        root,
        &trust.identity,
    )?;
    let value = check_claims(&payload, digest, required)?;
    Ok(Verified {
        payload,
        value,
        certificate: Some(v.certificate),
        ca_verified: true,
        tlog_verified: true,
        rekor_bundle: Some(v.rekor_bundle),
        from_bundle: false,
    })
}

/// A Sigstore bundle of the image keyless ([`crate::trust::keyless`]): the bundle
/// against the trusted root with the image's manifest digest as the artifact, then,
/// for a DSSE bundle, cosign's signature predicate and the `-a` annotations of the
/// statement's subject. A message-signature bundle over the manifest digest carries
/// no annotations.
fn check_bundle_keyless(
    raw: &[u8],
    bundle: &Bundle,
    root: &TrustedRoot,
    trust: &Trust,
    image: &str,
    digest: &crate::digest::Digest,
    required: &BTreeMap<String, String>,
) -> Result<Verified> {
    if let Material::PublicKey { .. } = bundle.material {
        return Err(Error::NoCertificate(
            "no certificate found on the bundle (it is signed with a key: verify with --key)"
                .into(),
        ));
    }
    let v = crate::trust::keyless::verify_bundle(raw, root, &trust.identity, digest)?;
    let (payload, value) = match &bundle.content {
        Content::Dsse {
            payload,
            payload_type,
            ..
        } => {
            let statement =
                check_statement(payload_type, payload, digest, Some(COSIGN_SIGN_PREDICATE))?;
            (
                payload.clone(),
                signed_claims(&statement, image, digest, required)?,
            )
        }
        Content::MessageSignature { .. } => {
            let none = serde_json::Value::Null;
            (Vec::new(), signed_claims(&none, image, digest, required)?)
        }
    };
    Ok(Verified {
        payload,
        value,
        certificate: Some(v.certificate),
        ca_verified: true,
        tlog_verified: true,
        rekor_bundle: None,
        from_bundle: true,
    })
}

/// One Sigstore bundle of the image (cosign 3): a DSSE envelope over an in-toto
/// statement whose subject is the image and whose predicate type is cosign's
/// signature, signed by the key or by a certificate validated against the CA flags
/// (as for a `.sig` layer); `-a` annotations are checked against the subject's
/// annotations, where cosign 3 puts them. Transparency-log entries and timestamps
/// are not checked (`--insecure-ignore-tlog`, offline).
pub(crate) fn check_bundle(
    raw: &Result<Vec<u8>>,
    trust: &Trust,
    image: &str,
    digest: &crate::digest::Digest,
    required: &BTreeMap<String, String>,
) -> Result<Verified> {
    let raw = match raw {
        Ok(r) => r,
        Err(e) => return Err(Error::invalid(e.to_string())),
    };
    check_raw_bundle(raw, &Bundle::parse(raw)?, trust, image, digest, required)
}

/// [`check_bundle`] for a bundle already parsed from `raw`: keyless against the
/// trusted root when there is one, else with the key or CA flags.
pub(crate) fn check_raw_bundle(
    raw: &[u8],
    bundle: &Bundle,
    trust: &Trust,
    image: &str,
    digest: &crate::digest::Digest,
    required: &BTreeMap<String, String>,
) -> Result<Verified> {
    match &trust.trusted_root {
        Some(root) => check_bundle_keyless(raw, bundle, root, trust, image, digest, required),
        None => check_parsed_bundle(bundle, trust, image, digest, required),
    }
}

/// [`check_bundle`] for a bundle already parsed (`signatures` lists it first).
pub(crate) fn check_parsed_bundle(
    bundle: &Bundle,
    trust: &Trust,
    image: &str,
    digest: &crate::digest::Digest,
    required: &BTreeMap<String, String>,
) -> Result<Verified> {
    let (certificate, chain) = match &bundle.material {
        Material::PublicKey { .. } => (None, Vec::new()),
        Material::Certificate(der) => (Some(bundle_cert(der)?), Vec::new()),
        Material::Chain(ders) => {
            let mut certs = ders
                .iter()
                .map(|d| bundle_cert(d))
                .collect::<Result<Vec<_>>>()?;
            let leaf = certs.remove(0);
            (Some(leaf), offered_intermediates(certs))
        }
    };
    let mut ca_verified = false;
    if let (Some(ca), Some(cert)) = (&trust.ca, &certificate) {
        validate_certificate(cert, chain, ca)?;
        trust.identity.check(cert).map_err(Error::Invalid)?;
        ca_verified = true;
    }
    let key = match (&trust.key, &certificate) {
        (Some(key), Some(cert)) if ca_verified && !cert.matches_key(key) => {
            return Err(Error::invalid(
                "the certificate in the bundle does not certify the --key public key",
            ));
        }
        (Some(key), _) => key.clone(),
        (None, Some(cert)) if ca_verified => cert.verifying_key().map_err(Error::Invalid)?,
        (None, _) => {
            return Err(Error::NoCertificate(
                "no certificate found on the bundle that the CA flags validate".into(),
            ));
        }
    };
    let (payload_type, payload) = bundle.verify_dsse(&key)?;
    let statement = check_statement(payload_type, payload, digest, Some(COSIGN_SIGN_PREDICATE))?;
    let value = signed_claims(&statement, image, digest, required)?;
    if let Some(cert) = &certificate
        && ca_verified
    {
        check_expiry(cert)?;
    }
    Ok(Verified {
        payload: payload.to_vec(),
        value,
        certificate,
        ca_verified,
        tlog_verified: false,
        rekor_bundle: None,
        from_bundle: true,
    })
}

/// The subject's `-a` annotations of a cosign 3 signature statement checked against
/// `required`, and what cosign 3 prints for it: the claims a simple-signing payload
/// would make, the identity being the image as the user named it, `optional` the
/// subject's annotations.
fn signed_claims(
    statement: &serde_json::Value,
    image: &str,
    digest: &crate::digest::Digest,
    required: &BTreeMap<String, String>,
) -> Result<serde_json::Value> {
    let claimed = statement
        .pointer("/subject")
        .and_then(serde_json::Value::as_array)
        .and_then(|subjects| {
            subjects.iter().find(|s| {
                s.pointer(&format!("/digest/{}", digest.algorithm().name()))
                    .and_then(serde_json::Value::as_str)
                    == Some(digest.hex())
            })
        })
        .and_then(|s| s.get("annotations"));
    for (k, v) in required {
        let got = claimed
            .and_then(|a| a.get(k))
            .and_then(serde_json::Value::as_str);
        if got != Some(v.as_str()) {
            return Err(Error::invalid(format!(
                "missing or incorrect annotation {k}={v} in the statement's subject"
            )));
        }
    }
    Ok(serde_json::json!({
        "critical": {
            "identity": {"docker-reference": image},
            "image": {"docker-manifest-digest": digest.to_string()},
            "type": COSIGN_SIGN_PREDICATE,
        },
        "optional": claimed.cloned().unwrap_or_else(|| serde_json::json!({})),
    }))
}

fn bundle_cert(der: &[u8]) -> Result<Cert> {
    Cert::from_der(der.to_vec())
        .map_err(|e| Error::invalid(format!("invalid certificate in the bundle: {e}")))
}

/// The layer's certificate, as cosign's `Signature.Cert()` reads it: absent or empty
/// means none; otherwise PEM certificates, the first being the signer's.
pub(crate) fn layer_certificate(layer: &SigLayer) -> Result<Option<Cert>> {
    match layer.annotations.get(CERTIFICATE_ANNOTATION) {
        None => Ok(None),
        Some(pem) if pem.is_empty() => Ok(None),
        Some(pem) => certs::parse_pem_certificates(pem.as_bytes())
            .map(|c| c.into_iter().next())
            .map_err(|e| Error::invalid(format!("invalid certificate found on signature: {e}"))),
    }
}

/// Intermediates offered by the layer's `chain` annotation: its certificates except
/// a self-issued last one (a root: only the verifier's flags say which roots to
/// trust). cosign drops the last one whatever it is; keeping a non-root also reads
/// cosign 3's annotation, which holds intermediates only. Intermediates add no trust
/// by themselves: the path must still end at a trusted root.
fn chain_intermediates(layer: &SigLayer) -> Result<Vec<Cert>> {
    match layer.annotations.get(CHAIN_ANNOTATION) {
        None => Ok(Vec::new()),
        Some(pem) if pem.trim().is_empty() => Ok(Vec::new()),
        Some(pem) => {
            let chain = certs::parse_pem_certificates(pem.as_bytes()).map_err(|e| {
                Error::invalid(format!("invalid certificate chain found on signature: {e}"))
            })?;
            Ok(offered_intermediates(chain))
        }
    }
}

/// The certificates a signature offers beside its signing certificate, without a
/// self-issued last one (a root: only the verifier's flags say which roots to trust).
fn offered_intermediates(mut chain: Vec<Cert>) -> Vec<Cert> {
    if chain.last().is_some_and(Cert::is_self_issued) {
        chain.pop();
    }
    chain
}

/// cosign's `TrustedCert`: the path to a trusted root at the certificate's notBefore
/// ("the certificate is treated as trusted forever"; expiry is checked apart), with
/// EKU code signing; `offered` are intermediates the signature brings.
fn validate_certificate(cert: &Cert, offered: Vec<Cert>, ca: &CaTrust) -> Result<()> {
    let failed = |e: String| Error::invalid(format!("certificate verification failed: {e}"));
    cert.check_code_signing().map_err(failed)?;
    let mut intermediates = ca.intermediates.clone();
    intermediates.extend(offered);
    certs::verify_chain(cert, &ca.roots, &intermediates, cert.not_before()).map_err(failed)
}

/// cosign's expiry check without Rekor or a timestamp: against the current time.
fn check_expiry(cert: &Cert) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    cert.check_valid_at(now).map_err(|e| {
        Error::invalid(format!(
            "checking expiry on certificate: {e}; an expired certificate verifies only with \
             a signed timestamp, which airsign does not check"
        ))
    })
}

/// The payload as cosign prints it for a signature with a certificate: `optional`
/// gains `Subject` (the first SAN) and, for Fulcio certificates, `Issuer`.
pub fn with_certificate_fields(value: &serde_json::Value, cert: &Cert) -> serde_json::Value {
    let mut v = value.clone();
    if let Some(obj) = v.as_object_mut() {
        let optional = obj.entry("optional").or_insert(serde_json::Value::Null);
        if !optional.is_object() {
            *optional = serde_json::Value::Object(serde_json::Map::new());
        }
        if let Some(o) = optional.as_object_mut() {
            o.insert(
                "Subject".into(),
                cert.first_san().unwrap_or_default().into(),
            );
            if let Some(issuer) = cert.fulcio_issuer() {
                o.insert("Issuer".into(), issuer.clone().into());
                o.insert("1.3.6.1.4.1.57264.1.1".into(), issuer.into());
            }
        }
    }
    v
}
