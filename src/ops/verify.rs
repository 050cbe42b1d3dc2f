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

use crate::keys;
use crate::payload;
use crate::signature::certs::{self, Cert};
use crate::signature::identity::IdentityPolicy;
use crate::signature::policy::{
    CaTrust, Gathered, Trust, Verified, gather_signatures, judge_all, with_certificate_fields,
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
    pub certificate_identity: Option<String>,
    pub certificate_identity_regexp: Option<String>,
    pub certificate_oidc_issuer: Option<String>,
    pub certificate_oidc_issuer_regexp: Option<String>,
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
        let raw = super::read_file(p, certs::MAX_CERT_FILE)?;
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
        .map_err(super::stdout_error)
}

/// A missing image (or layout) is cosign's exit code 11.
fn not_found(e: Error) -> Error {
    match e {
        Error::NotFound(m) => Error::ImageNotFound(m),
        e => e,
    }
}
