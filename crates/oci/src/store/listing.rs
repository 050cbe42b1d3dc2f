//! What a layout holds, entry by entry, as `ls` shows it and `fsck` of an archive
//! reports it: each `index.json` entry with its platforms, its `.sig` signatures
//! (and those of its platform manifests), and its OCI 1.1 referrers by kind.

use std::collections::BTreeMap;

use serde::Serialize;

use super::manifest::{self, Document, MAX_MANIFEST};
use super::referrers::Referrers;
use super::resolve::{Catalog, EntryName, is_artifact, referrers_name, signature_entry};
use super::{Descriptor, Kind, ReadLayout};
use crate::Result;
use crate::digest::Digest;

#[derive(Debug, Serialize)]
pub struct Entry {
    pub reference: String,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub platforms: Vec<String>,
    /// Signatures in the image's `.sig` artifact (`null` for artifacts themselves).
    pub signatures: Option<usize>,
    /// Signatures in the `.sig` artifacts of the image's platform manifests (`sign
    /// -r`, skopeo `--all`); `null` for artifacts.
    pub platform_signatures: Option<usize>,
    /// OCI 1.1 referrers of the image and its platform manifests, by kind:
    /// `bundle` (Sigstore, cosign 3), `notation`, `sbom`, `other`.
    pub referrers: BTreeMap<&'static str, usize>,
    /// Whether this entry is a cosign artifact (`.sig`, `.att`, `.sbom`).
    pub artifact: bool,
}

/// Every entry of the layout's `index.json`, in its order. `scan` also looks for
/// referrers no entry lists (in the blobs of a layout another tool wrote).
pub fn list(layout: &dyn ReadLayout, scan: bool) -> Result<Vec<Entry>> {
    let catalog = Catalog::open(layout)?;
    let found = Referrers::discover(&catalog, scan)?;
    let mut out = Vec::with_capacity(catalog.index.manifests.len());
    for (d, name) in catalog.entries() {
        let reference = match name {
            EntryName::Full(r) => r.to_string(),
            EntryName::Tag(t) => t.clone(),
            EntryName::Unnamed(kind) => kind.clone().unwrap_or_else(|| "<unnamed>".into()),
        };
        let artifact = is_artifact(d) || found.entries.contains(&d.digest);
        // an index's entries, read once: its platforms and its platform manifests
        let kids = manifest::index_children(layout, d)?;
        let (mut signatures, mut platform_signatures) = (None, None);
        let mut referrers = BTreeMap::new();
        if !artifact {
            let sigs = |m: &Digest| -> Result<usize> {
                match signature_entry(&catalog, name, m) {
                    Some(sig) => count_layers(layout, sig),
                    None => Ok(0),
                }
            };
            signatures = Some(sigs(&d.digest)?);
            let children: Vec<Digest> = kids
                .iter()
                .filter(|c| c.kind() != Kind::Blob)
                .map(|c| c.digest.clone())
                .collect();
            platform_signatures = Some(children.iter().map(&sigs).sum::<Result<usize>>()?);
            for m in std::iter::once(&d.digest).chain(&children) {
                let listing = referrers_name(name, m);
                for r in found.for_listing(m, listing.as_deref()) {
                    *referrers.entry(referrer_kind(&r.desc)).or_insert(0) += 1;
                }
            }
        }
        out.push(Entry {
            reference,
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            platforms: platforms(layout, d, &kids)?,
            signatures,
            platform_signatures,
            referrers,
            artifact,
        });
    }
    Ok(out)
}

/// What a referrer is, from its artifact type (the config media type when it has
/// none, as the image spec says).
fn referrer_kind(d: &Descriptor) -> &'static str {
    let t = d.artifact_type.as_deref().unwrap_or("");
    if t.starts_with("application/vnd.dev.sigstore.bundle") {
        "bundle"
    } else if t == "application/vnd.cncf.notary.signature" {
        "notation"
    } else if ["spdx", "cyclonedx", "syft"].iter().any(|k| t.contains(k)) {
        "sbom"
    } else {
        "other"
    }
}

fn count_layers(layout: &dyn ReadLayout, sig: &Descriptor) -> Result<usize> {
    let raw = layout.read_blob(sig, MAX_MANIFEST)?;
    match manifest::parse(&raw, sig, &format!("signature manifest {}", sig.digest))? {
        Document::Manifest { layers, .. } => Ok(layers.len()),
        Document::Index { .. } => Ok(0),
    }
}

/// The platforms of an entry: from its descriptor, its index's children (`kids`, read
/// by the caller), or its image config (`os`/`architecture`/`variant`).
fn platforms(layout: &dyn ReadLayout, d: &Descriptor, kids: &[Descriptor]) -> Result<Vec<String>> {
    if let Some(p) = &d.platform {
        return Ok(vec![p.to_string()]);
    }
    match d.kind() {
        Kind::Blob => Ok(Vec::new()),
        Kind::Index => Ok(kids
            .iter()
            .filter_map(|c| c.platform.as_ref().map(ToString::to_string))
            .collect()),
        Kind::Manifest => {
            let raw = layout.read_blob(d, MAX_MANIFEST)?;
            let Document::Manifest { config, .. } =
                manifest::parse(&raw, d, &format!("manifest {}", d.digest))?
            else {
                return Ok(Vec::new());
            };
            #[derive(serde::Deserialize)]
            struct ImageConfig {
                #[serde(default)]
                os: String,
                #[serde(default)]
                architecture: String,
                #[serde(default)]
                variant: Option<String>,
            }
            if !config.media_type.ends_with("config.v1+json") {
                return Ok(Vec::new());
            }
            let raw = layout.read_blob(&config, MAX_MANIFEST)?;
            let Ok(c) = serde_json::from_slice::<ImageConfig>(&raw) else {
                return Ok(Vec::new());
            };
            if c.os.is_empty() {
                return Ok(Vec::new());
            }
            let mut p = format!("{}/{}", c.os, c.architecture);
            if let Some(v) = c.variant {
                p = format!("{p}/{v}");
            }
            Ok(vec![p])
        }
    }
}
