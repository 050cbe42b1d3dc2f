//! `airsign clean` (cosign's `clean`, on the layout) and `airsign gc`.

use std::io::IsTerminal as _;
use std::path::Path;

use crate::signature::policy::split_listing;
use crate::store::descriptor::{Index, OCI_INDEX};
use crate::store::gc;
use crate::store::resolve::{Catalog, EntryName, artifact_name, referrers_name};
use crate::{Error, Result};

/// Removes an image's `.sig`/`.att`/`.sbom` entries, then the blobs nothing needs.
pub fn clean(store: &Path, image: &str, kind: &str, force: bool) -> Result<()> {
    if let crate::reference::Location::Archive { path, reference } =
        crate::reference::Location::parse(image)?
    {
        return super::rewrite::rewrite_archive(&path, |layout| {
            clean(
                store,
                &super::rewrite::image_in(layout, reference.as_deref()),
                kind,
                force,
            )?;
            Ok(true)
        });
    }
    let suffixes: &[&str] = match kind {
        "signature" => &["sig"],
        "attestation" => &["att"],
        "sbom" => &["sbom"],
        "referrer" => &[],
        _ => &["sig", "att", "sbom"],
    };
    let (layout, query) = super::open_image(store, image)?;
    let catalog = Catalog::open(&layout)?;
    let found = catalog.resolve(&query)?;
    let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
    let mut targets: Vec<String> = suffixes
        .iter()
        .filter_map(|s| artifact_name(&name, &found.descriptor.digest, s))
        .filter(|n| catalog.named(n).is_some())
        .collect();
    // cosign's `referrer` (and `all`): the image's Sigstore bundle referrers; its
    // other referrers (SBOMs, notation signatures) stay listed
    let mut listing_change: Option<(String, Vec<crate::store::Descriptor>)> = None;
    if matches!(kind, "referrer" | "all")
        && let Some(listing) = referrers_name(&name, &found.descriptor.digest)
    {
        let (bundles, others) = split_listing(&catalog, &listing)?;
        if !bundles.is_empty() {
            targets.push(format!("{} bundle(s) listed at {listing}", bundles.len()));
            listing_change = Some((listing, others));
        }
    }
    if targets.is_empty() {
        eprintln!("{image}: nothing to clean");
        return Ok(());
    }
    if !force {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(format!(
                "clean would remove {}; pass -f to confirm (there is no terminal to ask on)",
                targets.join(", ")
            )));
        }
        eprint!(
            "This will remove {} from {}.\nAre you sure you would like to continue? [y/N] ",
            targets.join(", "),
            layout.root().display()
        );
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Error::io("reading the answer", e))?;
        if !matches!(line.trim(), "y" | "Y") {
            return Err(Error::Usage("not cleaning: not confirmed".into()));
        }
    }
    drop(catalog);
    let mut tx = layout.begin()?;
    let relisted = match &listing_change {
        Some((listing, others)) if !others.is_empty() => {
            let bytes = Index::listing(others.clone()).to_bytes();
            let d = tx.put_bytes(&bytes)?;
            Some((
                listing.clone(),
                crate::store::Descriptor::new(OCI_INDEX, d, bytes.len() as u64),
            ))
        }
        _ => None,
    };
    tx.commit(|index| {
        index
            .manifests
            .retain(|d| !d.ref_name().is_some_and(|n| targets.iter().any(|t| t == n)));
        match (&listing_change, relisted) {
            (_, Some((name, desc))) => index.set_named(&name, desc),
            (Some((name, _)), None) => index
                .manifests
                .retain(|d| d.ref_name() != Some(name.as_str())),
            (None, None) => {}
        }
        Ok(())
    })?;
    for t in &targets {
        eprintln!("Removed {t} from {}", layout.root().display());
    }
    report(gc::collect(&layout)?);
    Ok(())
}

pub fn gc(store: &Path, json: bool) -> Result<()> {
    let layout = super::open_store(store)?;
    let r = gc::collect(&layout)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&r).expect("serialisable")
        )?;
    } else {
        report(r);
    }
    Ok(())
}

fn report(r: gc::GcReport) {
    eprintln!(
        "gc: removed {} blob(s) ({} bytes), kept {}",
        r.removed_blobs, r.removed_bytes, r.kept_blobs
    );
}
