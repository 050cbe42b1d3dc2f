//! `airsign ls`: what the store holds.

use std::path::Path;

use serde::Serialize;

use crate::Result;
use crate::digest::Digest;
use crate::store::descriptor::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::store::manifest::{self, Document, MAX_MANIFEST};
use crate::store::resolve::{Catalog, EntryName, is_artifact, signature_entry};
use crate::store::{Descriptor, Kind, ReadLayout};

#[derive(Debug, Serialize)]
pub struct Entry {
    pub reference: String,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub platforms: Vec<String>,
    /// Signatures in the image's `.sig` artifact (`null` for artifacts themselves).
    pub signatures: Option<usize>,
    /// Whether this entry is a cosign artifact (`.sig`, `.att`, `.sbom`).
    pub artifact: bool,
}

pub fn run(store: &Path, location: Option<&str>, json: bool) -> Result<()> {
    let layout: Box<dyn ReadLayout> = match location {
        None => Box::new(super::store::open(store)?),
        Some(loc) => super::open_location(loc)?,
    };
    let entries = list(layout.as_ref())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("serialisable")
        );
        return Ok(());
    }
    // columns as wide as their longest value (many platforms make a long one)
    let platforms: Vec<String> = entries
        .iter()
        .map(|e| {
            if e.platforms.is_empty() {
                "-".to_owned()
            } else {
                e.platforms.join(",")
            }
        })
        .collect();
    let width = entries
        .iter()
        .map(|e| e.reference.len())
        .max()
        .unwrap_or(0)
        .max(9);
    let pwidth = platforms.iter().map(String::len).max().unwrap_or(0).max(9);
    println!(
        "{:width$}  {:19}  {:15}  {:pwidth$}  SIGNATURES",
        "REFERENCE", "DIGEST", "TYPE", "PLATFORMS"
    );
    for (e, platforms) in entries.iter().zip(&platforms) {
        let short = format!("{}:{}", e.digest.algorithm().name(), &e.digest.hex()[..12]);
        let sigs = e
            .signatures
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        println!(
            "{:width$}  {short:19}  {:15}  {platforms:pwidth$}  {sigs}",
            e.reference,
            short_type(&e.media_type)
        );
    }
    Ok(())
}

/// Every entry of the store's `index.json`, in its order.
pub fn list(layout: &dyn ReadLayout) -> Result<Vec<Entry>> {
    let catalog = Catalog::open(layout)?;
    let mut out = Vec::with_capacity(catalog.index.manifests.len());
    for (d, name) in catalog.entries() {
        let reference = match name {
            EntryName::Full(r) => r.to_string(),
            EntryName::Tag(t) => t.clone(),
            EntryName::Unnamed(kind) => kind.clone().unwrap_or_else(|| "<unnamed>".into()),
        };
        let artifact = is_artifact(d);
        let signatures = if artifact {
            None
        } else {
            match signature_entry(&catalog, name, &d.digest) {
                Some(sig) => Some(count_layers(layout, sig)?),
                None => Some(0),
            }
        };
        out.push(Entry {
            reference,
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            platforms: platforms(layout, d)?,
            signatures,
            artifact,
        });
    }
    Ok(out)
}

fn count_layers(layout: &dyn ReadLayout, sig: &Descriptor) -> Result<usize> {
    let raw = layout.read_blob(sig, MAX_MANIFEST)?;
    match manifest::parse(&raw, sig, &format!("signature manifest {}", sig.digest))? {
        Document::Manifest { layers, .. } => Ok(layers.len()),
        Document::Index { .. } => Ok(0),
    }
}

/// The platforms of an entry: from its descriptor, its index's children, or its
/// image config (`os`/`architecture`/`variant`).
fn platforms(layout: &dyn ReadLayout, d: &Descriptor) -> Result<Vec<String>> {
    if let Some(p) = &d.platform {
        return Ok(vec![p.to_string()]);
    }
    match d.kind() {
        Kind::Blob => Ok(Vec::new()),
        Kind::Index => {
            let raw = layout.read_blob(d, MAX_MANIFEST)?;
            let doc = manifest::parse(&raw, d, &format!("index {}", d.digest))?;
            Ok(doc
                .children()
                .iter()
                .filter_map(|c| c.platform.as_ref().map(ToString::to_string))
                .collect())
        }
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

fn short_type(media_type: &str) -> &str {
    match media_type {
        OCI_MANIFEST => "oci-manifest",
        OCI_INDEX => "oci-index",
        DOCKER_MANIFEST => "docker-manifest",
        DOCKER_MANIFEST_LIST => "docker-list",
        other => other,
    }
}
