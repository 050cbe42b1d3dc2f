//! `airsign triangulate`: where an image's signature (attestation, SBOM) lives, as
//! cosign prints it: `registry/repo:sha256-<hex>.sig`, or `registry/repo@sha256:…`
//! for `--type digest`.

use std::path::Path;

use crate::reference::Location;
use crate::store::resolve::{Catalog, EntryName, artifact_name};
use crate::{Error, Result};

pub fn run(store: &Path, image: &str, kind: &str) -> Result<()> {
    let (digest, name) = match Location::parse(image)? {
        // A digest reference names its artifacts by itself, as with cosign: no store.
        Location::Store(r) if r.digest().is_some() => {
            let d = r.digest().cloned().expect("checked");
            (d.clone(), EntryName::Full(r.at_digest(&d)))
        }
        _ => {
            let (layout, query) = super::open_image_read(store, image)?;
            let found = Catalog::open(layout.as_ref())?.resolve(&query)?;
            let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
            (found.descriptor.digest, name)
        }
    };
    let digest = &digest;
    let line = match kind {
        "digest" => match &name {
            EntryName::Full(r) => r.at_digest(digest).to_string(),
            _ => digest.to_string(),
        },
        kind => {
            let suffix = match kind {
                "attestation" => "att",
                "sbom" => "sbom",
                _ => "sig",
            };
            artifact_name(&name, digest, suffix).ok_or_else(|| {
                Error::Usage(format!("{image}: an unnamed entry has no artifact tag"))
            })?
        }
    };
    outln!("{line}")?;
    Ok(())
}
