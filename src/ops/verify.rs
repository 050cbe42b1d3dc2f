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
//! - `--trusted-root FILE` (keyless, with the identity flags): a Sigstore bundle
//!   referrer is verified as `verify-blob` verifies one, with the image's manifest
//!   digest as the artifact ([`crate::trust::keyless`]); a `.sig` layer needs its
//!   Fulcio certificate and its Rekor bundle annotation ([`crate::trust::legacy`]):
//!   the SET, the logged body against the layer, the certificate at the log's time
//!   against the trusted root's CAs and CT logs, the identity, the signature, then
//!   the claims. A layer without a bundle annotation has no trusted time: refused.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use crate::payload;
use crate::signature::policy::{
    Gathered, Trust, Verified, gather_signatures, judge_all, with_certificate_fields,
};
use crate::signature::verify::cosign_json;
use crate::store::Descriptor;
use crate::store::graph::{Checked, ImageCheck, check_images};
use crate::store::resolve::EntryName;
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
    pub identity: super::trust_flags::Identity,
    /// Keyless: a pinned Sigstore `trusted_root.json`.
    pub trusted_root: Option<std::path::PathBuf>,
}

impl VerifyOptions {
    /// The flags that say what signatures are verified with.
    fn trust_flags(&self) -> super::trust_flags::TrustFlags {
        super::trust_flags::TrustFlags {
            key: self.key.clone(),
            certificate_chain: self.certificate_chain.clone(),
            ca_roots: self.ca_roots.clone(),
            ca_intermediates: self.ca_intermediates.clone(),
            identity: self.identity.clone(),
            trusted_root: self.trusted_root.clone(),
        }
    }
}

pub fn run(store: &Path, images: &[String], opts: &VerifyOptions) -> Result<()> {
    if images.is_empty() {
        return Err(Error::Usage("name at least one image to verify".into()));
    }
    let required = payload::parse_annotations(&opts.annotations)?;
    let trust = super::trust_flags::load_trust(&opts.trust_flags())?;
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
    if verified.iter().any(|v| v.tlog_verified) {
        let _ = writeln!(
            err,
            "  - Existence of the claims in the transparency log was verified offline"
        );
    }
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
                    Some(cert) if !v.from_bundle => {
                        let mut value = with_certificate_fields(&v.value, cert);
                        if let (Some(b), Some(o)) = (
                            &v.rekor_bundle,
                            value.get_mut("optional").and_then(|o| o.as_object_mut()),
                        ) {
                            o.insert("Bundle".into(), b.clone());
                        }
                        cosign_json(&value)
                    }
                    _ => cosign_json(&v.value),
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
        .map_err(super::stdout_error)
}

/// A missing image (or layout) is cosign's exit code 11.
fn not_found(e: Error) -> Error {
    match e {
        Error::NotFound(m) => Error::ImageNotFound(m),
        e => e,
    }
}
