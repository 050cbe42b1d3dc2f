//! `airsign verify`: cosign's legacy verification, offline. Each layer of the image's
//! `.sig` is checked (signature, digest claim, `-a` claims); the image passes when at
//! least one does. stdout: the verified payloads (JSON array, or raw with `-o text`);
//! stderr: the checks performed. Exit codes as cosign: 10 no signatures, 11 image not
//! found, 12 none matched; 13 when verifying by certificate and no signature carries
//! one.
//!
//! What a signature is verified with:
//! - `--key`: that key. A certificate on the layer must still parse and be unexpired,
//!   as cosign requires.
//! - no `--key`: the layer's certificate, validated against `--certificate-chain`
//!   (its last certificate is the root) or `--ca-roots` (+ `--ca-intermediates`),
//!   with the layer's `chain` annotation offering more intermediates; then its key.
//!   As cosign without Rekor: the chain at the certificate's notBefore, EKU code
//!   signing, and the certificate unexpired now.
//! - both: the key, and a certificate on the layer must also validate against the
//!   CA flags and certify that same key (cosign ignores the CA flags given a key;
//!   airsign checks what it was asked to check).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use p256::ecdsa::VerifyingKey;

use crate::keys;
use crate::payload;
use crate::signature::certs::{self, Cert};
use crate::signature::identity::IdentityPolicy;
use crate::signature::verify::{
    check_claims, cosign_json, decode_base64_signature, verify_signature,
};
use crate::signature::{
    CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, MAX_PAYLOAD, SIMPLESIGNING, SigLayer,
    SignatureArtifact,
};
use crate::store::Descriptor;
use crate::store::graph::{Checked, ImageCheck, check_images};
use crate::store::resolve::{Catalog, EntryName, signature_entry};
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Output {
    #[default]
    Json,
    Text,
}

#[derive(Debug, Default)]
pub struct VerifyOptions {
    pub key: Option<String>,
    pub certificate_chain: Option<std::path::PathBuf>,
    pub ca_roots: Option<std::path::PathBuf>,
    pub ca_intermediates: Option<std::path::PathBuf>,
    pub annotations: Vec<String>,
    pub output: Output,
    /// cosign's `--certificate-identity`, `--certificate-identity-regexp`,
    /// `--certificate-oidc-issuer`, `--certificate-oidc-issuer-regexp`.
    pub certificate_identity: Option<String>,
    pub certificate_identity_regexp: Option<String>,
    pub certificate_oidc_issuer: Option<String>,
    pub certificate_oidc_issuer_regexp: Option<String>,
}

/// Trusted roots and the intermediates that may lead to them.
#[derive(Debug, Default, Clone)]
pub struct CaTrust {
    pub roots: Vec<Cert>,
    pub intermediates: Vec<Cert>,
}

/// What signatures are verified with: a key, certificate authorities, or both.
#[derive(Debug, Default, Clone)]
pub struct Trust {
    pub key: Option<VerifyingKey>,
    pub ca: Option<CaTrust>,
    /// Who a certificate validated against `ca` must name.
    pub identity: IdentityPolicy,
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
    /// Whether that certificate was validated against the CA flags.
    pub ca_verified: bool,
}

pub fn run(store: &Path, images: &[String], opts: &VerifyOptions) -> Result<()> {
    if images.is_empty() {
        return Err(Error::Usage("name at least one image to verify".into()));
    }
    let required = payload::parse_annotations(&opts.annotations)?;
    let ca = load_ca(opts)?;
    if opts.key.is_none() && ca.is_none() {
        return Err(Error::Usage(
            "pass --key, or verify by certificate with --certificate-chain or --ca-roots".into(),
        ));
    }
    let identity = identity_policy(opts, ca.is_some())?;
    let key = opts.key.as_deref().map(keys::load_public_key).transpose()?;
    let trust = Trust { key, ca, identity };
    // Read everything first (one catalog per layout), then check signatures on every
    // core — ECDSA verification is nearly all of the time — then report in order,
    // stopping at the first image that fails, as cosign does.
    let mut catalogs = super::Catalogs::new();
    // what the run found whole and intact, per layout (images share layers: each
    // blob is hashed once)
    let mut checked: std::collections::HashMap<usize, Checked> = std::collections::HashMap::new();
    // In batches, so memory stays bounded however many images are named.
    for batch in images.chunks(BATCH) {
        let mut gathered = Vec::with_capacity(batch.len());
        let mut first_error = None;
        for image in batch {
            match gather(&mut catalogs, store, image) {
                Ok((g, i, root)) => {
                    checked.entry(i).or_default();
                    gathered.push((g, i, root));
                }
                Err(e) => {
                    first_error = Some(e);
                    break;
                }
            }
        }
        // A signature over content the layout does not really hold proves nothing:
        // every image is checked whole, on every core.
        let checks: Vec<ImageCheck<'_>> = gathered
            .iter()
            .map(|(g, i, root)| ImageCheck {
                layout: catalogs.catalog(*i).layout(),
                root,
                what: &g.image,
                checked: &checked[i],
            })
            .collect();
        let intact = check_images(&checks);
        drop(checks);
        let gathered: Vec<Gathered> = gathered.into_iter().map(|(g, _, _)| g).collect();
        let judged = judge_all(&gathered, &trust, &required);
        for ((g, verified), intact) in gathered.iter().zip(judged).zip(intact) {
            intact?;
            report(&g.image, &verified?, &trust, &required, opts.output)?;
        }
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    Ok(())
}

/// Images read and checked together: enough to keep every core busy, few enough
/// that their payloads never add up to much memory.
const BATCH: usize = 256;

/// One image's signatures, read from its layout: each layer with its payload bytes
/// (or why they could not be read).
pub struct Gathered {
    image: String,
    digest: crate::digest::Digest,
    layers: Vec<(SigLayer, Result<Vec<u8>>)>,
}

/// Finds an image and reads its signature layers and payloads; also says in which
/// of `catalogs` it is and its root descriptor (to check the image whole).
pub fn gather(
    catalogs: &mut super::Catalogs,
    store: &Path,
    image: &str,
) -> Result<(Gathered, usize, Descriptor)> {
    let (i, query) = catalogs.lookup(store, image, false).map_err(not_found)?;
    let catalog = catalogs.catalog(i);
    let found = catalog.resolve(&query).map_err(not_found)?;
    let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
    let g = gather_signatures(catalog, &name, &found.descriptor.digest, image)?;
    Ok((g, i, found.descriptor))
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
    let Some(sig) = signature_entry(catalog, name, &digest) else {
        return Err(Error::NoSignatures(format!(
            "no signatures found for {image} ({digest})"
        )));
    };
    let artifact = SignatureArtifact::read(layout, sig)?;
    if artifact.layers.is_empty() {
        return Err(Error::NoSignatures(format!(
            "no signatures found for {image} ({digest})"
        )));
    }
    let layers = artifact
        .layers
        .into_iter()
        .map(|layer| {
            let desc = Descriptor::new(&layer.media_type, layer.digest.clone(), layer.size);
            let payload = layout.read_blob(&desc, MAX_PAYLOAD);
            (layer, payload)
        })
        .collect();
    Ok(Gathered {
        image: image.to_owned(),
        digest,
        layers,
    })
}

/// [`judge`] for many images, on every core, results in order.
fn judge_all(
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

/// The identity flags, as cosign requires them: both an identity and an issuer flag
/// when verifying by certificate alone ("keyless mode"). Without CA flags there is no
/// validated certificate to check them against, so they are refused rather than
/// silently ignored (cosign ignores them next to `--key`).
fn identity_policy(opts: &VerifyOptions, by_ca: bool) -> Result<IdentityPolicy> {
    let policy = IdentityPolicy::new(
        opts.certificate_identity.as_deref(),
        opts.certificate_identity_regexp.as_deref(),
        opts.certificate_oidc_issuer.as_deref(),
        opts.certificate_oidc_issuer_regexp.as_deref(),
    )
    .map_err(Error::Usage)?;
    if !by_ca {
        if !policy.is_empty() {
            return Err(Error::Usage(
                "--certificate-identity and --certificate-oidc-issuer check a certificate \
                 validated by --certificate-chain or --ca-roots; with --key alone none is"
                    .into(),
            ));
        }
    } else if opts.key.is_none() {
        if !policy.has_subject() {
            return Err(Error::Usage(
                "--certificate-identity or --certificate-identity-regexp is required for \
                 verification in keyless mode"
                    .into(),
            ));
        }
        if !policy.has_issuer() {
            return Err(Error::Usage(
                "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required \
                 for verification in keyless mode (a private CA's certificates name no \
                 issuer: --certificate-oidc-issuer-regexp '.*')"
                    .into(),
            ));
        }
    }
    Ok(policy)
}

/// The CA flags: `--certificate-chain` (the last certificate is the root, the others
/// intermediates, as cosign reads it) or `--ca-roots` with `--ca-intermediates`.
fn load_ca(opts: &VerifyOptions) -> Result<Option<CaTrust>> {
    let read = |flag: &str, p: &Path| -> Result<Vec<Cert>> {
        let raw = super::sign::read_file(p, certs::MAX_CERT_FILE)?;
        certs::parse_pem_certificates(&raw)
            .map_err(|e| Error::invalid(format!("--{flag} {}: {e}", p.display())))
    };
    match (
        &opts.certificate_chain,
        &opts.ca_roots,
        &opts.ca_intermediates,
    ) {
        (None, None, None) => Ok(None),
        (Some(_), Some(_), _) => Err(Error::Usage(
            "--certificate-chain and --ca-roots cannot be used together".into(),
        )),
        (_, None, Some(_)) => Err(Error::Usage("--ca-intermediates needs --ca-roots".into())),
        (Some(chain), None, None) => {
            let mut intermediates = read("certificate-chain", chain)?;
            let roots = intermediates.pop().into_iter().collect();
            Ok(Some(CaTrust {
                roots,
                intermediates,
            }))
        }
        (None, Some(roots), intermediates) => Ok(Some(CaTrust {
            roots: read("ca-roots", roots)?,
            intermediates: match intermediates {
                Some(p) => read("ca-intermediates", p)?,
                None => Vec::new(),
            },
        })),
    }
}

/// The verified payloads of one image, checked with a key (at least one, or an
/// error with cosign's code).
fn check_layer(
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
    let mut ca_verified = false;
    if let (Some(ca), Some(cert)) = (&trust.ca, &certificate) {
        validate_certificate(cert, layer, ca)?;
        trust.identity.check(cert).map_err(Error::Invalid)?;
        ca_verified = true;
    }
    let key = match (&trust.key, &certificate) {
        (Some(key), Some(cert)) if ca_verified && !cert.matches_key(key) => {
            return Err(Error::invalid(
                "the certificate on the signature does not certify the --key public key",
            ));
        }
        (Some(key), _) => *key,
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
    })
}

/// The layer's certificate, as cosign's `Signature.Cert()` reads it: absent or empty
/// means none; otherwise PEM certificates, the first being the signer's.
fn layer_certificate(layer: &SigLayer) -> Result<Option<Cert>> {
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
            let mut chain = certs::parse_pem_certificates(pem.as_bytes()).map_err(|e| {
                Error::invalid(format!("invalid certificate chain found on signature: {e}"))
            })?;
            if chain.last().is_some_and(Cert::is_self_issued) {
                chain.pop();
            }
            Ok(chain)
        }
    }
}

/// cosign's `TrustedCert`: the path to a trusted root at the certificate's notBefore
/// ("the certificate is treated as trusted forever"; expiry is checked apart), with
/// EKU code signing.
fn validate_certificate(cert: &Cert, layer: &SigLayer, ca: &CaTrust) -> Result<()> {
    let failed = |e: String| Error::invalid(format!("certificate verification failed: {e}"));
    cert.check_code_signing().map_err(failed)?;
    let mut intermediates = ca.intermediates.clone();
    intermediates.extend(chain_intermediates(layer)?);
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
fn with_certificate_fields(value: &serde_json::Value, cert: &Cert) -> serde_json::Value {
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

fn report(
    image: &str,
    verified: &[Verified],
    trust: &Trust,
    required: &BTreeMap<String, String>,
    output: Output,
) -> Result<()> {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\nVerification for {image} --");
    let _ = writeln!(
        err,
        "The following checks were performed on each of these signatures:"
    );
    if !required.is_empty() {
        let _ = writeln!(err, "  - The specified annotations were verified.");
    }
    let _ = writeln!(err, "  - The cosign claims were validated");
    if trust.key.is_some() {
        let _ = writeln!(
            err,
            "  - The signatures were verified against the specified public key"
        );
    }
    if verified.iter().any(|v| v.ca_verified) {
        let _ = writeln!(
            err,
            "  - The code-signing certificate was verified using trusted certificate authority certificates"
        );
    }
    let mut out = std::io::stdout().lock();
    let result = match output {
        Output::Json => {
            let items: Vec<String> = verified
                .iter()
                .map(|v| match &v.certificate {
                    Some(cert) => cosign_json(&with_certificate_fields(&v.value, cert)),
                    None => cosign_json(&v.value),
                })
                .collect();
            writeln!(out, "\n[{}]", items.join(","))
        }
        Output::Text => verified.iter().try_for_each(|v| {
            if let Some(cert) = &v.certificate {
                let _ = writeln!(
                    err,
                    "Certificate subject: {}",
                    cert.first_san().unwrap_or_default()
                );
                if let Some(issuer) = cert.fulcio_issuer() {
                    let _ = writeln!(err, "Certificate issuer URL: {issuer}");
                }
            }
            out.write_all(&v.payload)?;
            out.write_all(b"\n")
        }),
    };
    result
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing stdout", e))
}

/// A missing image (or layout) is cosign's exit code 11.
fn not_found(e: Error) -> Error {
    match e {
        Error::NotFound(m) => Error::ImageNotFound(m),
        e => e,
    }
}
