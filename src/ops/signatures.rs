//! `airsign signatures IMAGE`: every signature, attestation and referrer of an image
//! and its platform manifests, in every format, with who signed it and (`--key`, or
//! keyless `--trusted-root` with the identity flags) whether it verifies. Like
//! `cosign tree`, offline, with more.

use std::path::Path;

use crate::keys;
use crate::signature::inventory::{Listed, inventory};
use crate::signature::policy::Trust;
use crate::store::resolve::{Catalog, EntryName};
use crate::{Error, Result};

#[derive(Debug, Default)]
pub struct SignaturesOptions {
    pub key: Option<String>,
    pub trusted_root: Option<std::path::PathBuf>,
    pub identity: super::trust_flags::Identity,
    pub json: bool,
}

pub fn run(store: &Path, image: &str, opts: &SignaturesOptions) -> Result<()> {
    let trust = match (&opts.key, &opts.trusted_root) {
        (Some(k), _) => Some(Trust {
            key: Some(keys::load_public_key(k)?),
            ..Trust::default()
        }),
        (None, Some(_)) => Some(super::trust_flags::load_trust(
            &super::trust_flags::TrustFlags {
                trusted_root: opts.trusted_root.clone(),
                identity: opts.identity.clone(),
                ..Default::default()
            },
        )?),
        (None, None) => None,
    };
    let json = opts.json;
    let (layout, query) = super::open_image_read(store, image)?;
    let catalog = Catalog::open(layout.as_ref())?;
    let found = catalog.resolve(&query).map_err(|e| match e {
        Error::NotFound(m) => Error::ImageNotFound(m),
        e => e,
    })?;
    let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
    let listed = inventory(&catalog, &name, &found.descriptor, image, trust.as_ref())?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&listed).expect("serialisable")
        )?;
        return Ok(());
    }
    print_table(image, &found.descriptor.digest.to_string(), &listed)
}

fn short(d: &str) -> &str {
    &d[..d.len().min(19)]
}

fn print_table(image: &str, digest: &str, listed: &[Listed]) -> Result<()> {
    outln!("{image} ({digest})")?;
    if listed.is_empty() {
        outln!("  no signatures, attestations or referrers")?;
        return Ok(());
    }
    outln!(
        "  {:<19} {:<15} {:<18} {:<8} SIGNER / DETAILS",
        "MANIFEST",
        "PLATFORM",
        "FORMAT",
        "VERIFIED"
    )?;
    for l in listed {
        let verified = match l.verified {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        let mut details: Vec<String> = Vec::new();
        if let Some(s) = &l.signer {
            details.push(s.clone());
        }
        if let Some(i) = &l.issuer {
            details.push(format!("issuer {i}"));
        }
        if let Some(p) = &l.predicate_type
            && l.format != "sig"
            && l.format != "bundle"
        {
            details.push(p.clone());
        }
        if l.format == "sig" || l.format.starts_with("bundle") {
            details.extend(l.annotations.iter().map(|(k, v)| format!("{k}={v}")));
        }
        if let Some(e) = &l.error {
            details.push(format!("({e})"));
        }
        outln!(
            "  {:<19} {:<15} {:<18} {:<8} {}",
            short(&l.subject),
            l.platform.as_deref().unwrap_or("-"),
            l.format,
            verified,
            details.join("  ")
        )?;
    }
    Ok(())
}
