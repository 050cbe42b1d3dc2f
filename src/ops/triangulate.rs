//! `airsign triangulate`: where an image's signature (attestation, SBOM) lives, as
//! cosign prints it: `registry/repo:sha256-<hex>.sig`, or `registry/repo@sha256:…`
//! for `--type digest`.

use std::path::Path;

use crate::store::resolve::{Catalog, EntryName, artifact_name};
use crate::{Error, Result};

pub fn run(store: &Path, image: &str, kind: &str) -> Result<()> {
    let (layout, query) = super::open_image_read(store, image)?;
    let found = Catalog::open(layout.as_ref())?.resolve(&query)?;
    let digest = &found.descriptor.digest;
    let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
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
    println!("{line}");
    Ok(())
}
