//! `airsign ls`: what the store holds.

use std::path::Path;

use crate::Result;
use crate::store::ReadLayout;
use crate::store::descriptor::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::store::listing::list;

pub fn run(store: &Path, location: Option<&str>, json: bool) -> Result<()> {
    let layout: Box<dyn ReadLayout> = match location {
        None => Box::new(super::open_store(store)?),
        Some(loc) => super::open_location(loc)?,
    };
    // the store lists every referrer it holds; another layout may keep some only in
    // its blobs
    let entries = list(layout.as_ref(), location.is_some())?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("serialisable")
        )?;
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
    outln!(
        "{:width$}  {:19}  {:15}  {:pwidth$}  SIGNATURES  REFERRERS",
        "REFERENCE",
        "DIGEST",
        "TYPE",
        "PLATFORMS"
    )?;
    for (e, platforms) in entries.iter().zip(&platforms) {
        let short = format!("{}:{}", e.digest.algorithm().name(), &e.digest.hex()[..12]);
        let sigs = match (e.signatures, e.platform_signatures) {
            (None, _) => "-".to_owned(),
            (Some(n), Some(p)) if p > 0 => format!("{n}+{p}p"),
            (Some(n), _) => n.to_string(),
        };
        let refs = if e.referrers.is_empty() {
            "-".to_owned()
        } else {
            e.referrers
                .iter()
                .map(|(k, n)| format!("{k}:{n}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        outln!(
            "{:width$}  {short:19}  {:15}  {platforms:pwidth$}  {sigs:10}  {refs}",
            e.reference,
            short_type(&e.media_type)
        )?;
    }
    Ok(())
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
