//! Adding signatures to images in a layout, both ways cosign stores them: layers
//! appended to the `.sig` entry (read the current one, append, stage payload, config
//! and manifest), and Sigstore bundles as OCI referrers (bundle, empty config and
//! referrer manifest staged, the image's `REPO:sha256-<hex>` listing extended) —
//! one staged transaction and one `index.json` update for the whole batch.

use std::collections::HashMap;

use crate::signature::{SigLayer, SignatureArtifact};
use crate::store::descriptor::OCI_MANIFEST;
use crate::store::resolve::Catalog;
use crate::store::{Descriptor, Layout};
use crate::{Error, Result};

/// A signature to add: the `index.json` name of the `.sig` entry it goes to, the
/// payload bytes, and the layer describing them.
#[derive(Clone)]
pub struct NewSignature {
    pub sig_name: String,
    pub payload: Vec<u8>,
    pub layer: SigLayer,
}

/// A Sigstore bundle to add as a referrer of `subject`, listed under `listing`
/// (`REPO:sha256-<hex>`).
pub struct NewBundle {
    pub listing: String,
    pub subject: Descriptor,
    pub bundle: Vec<u8>,
    /// The statement's predicate type (cosign's sign predicate for a signature),
    /// annotated on the referrer as cosign does.
    pub predicate_type: String,
    /// `org.opencontainers.image.created`: RFC 3339, seconds, UTC.
    pub created: String,
    /// The key that signed it, for cosign's duplicate rule: a bundle the listing holds
    /// that is this one but for its signatures, one of which verifies with this key,
    /// is the same signature (ECDSA signatures of one statement differ from run to
    /// run). `None`: only the same bytes are a duplicate (attestations, as cosign
    /// appends each one).
    pub signed_by: Option<crate::keys::PublicKey>,
}

/// Appends every signature that `is_duplicate` does not reject, and every bundle
/// whose listing does not already hold the same bundle; returns the names of the
/// entries written. One staged transaction, one `index.json` update.
pub fn append_signatures(
    layout: &Layout,
    signatures: &[NewSignature],
    bundles: &[NewBundle],
    is_duplicate: impl Fn(&SignatureArtifact, &NewSignature) -> bool,
) -> Result<Vec<String>> {
    let names: Vec<&str> = signatures.iter().map(|s| s.sig_name.as_str()).collect();
    append_signatures_streamed(
        layout,
        &names,
        signatures.iter().map(|s| Ok(s.clone())),
        bundles,
        is_duplicate,
        false,
    )
}

/// [`append_signatures`] for signatures made while they are stored: `signatures`
/// yields one for each of `names`, in that order (an `Err`, or fewer than `names`,
/// stops the write with nothing committed). With `land_early`, each batch of blobs
/// lands while the next signatures are made (see `Transaction::land_while_staging`):
/// the artifacts and listings already there are read first, so that a damaged one
/// refuses the write before anything lands.
pub fn append_signatures_streamed(
    layout: &Layout,
    names: &[&str],
    signatures: impl IntoIterator<Item = Result<NewSignature>>,
    bundles: &[NewBundle],
    is_duplicate: impl Fn(&SignatureArtifact, &NewSignature) -> bool,
    land_early: bool,
) -> Result<Vec<String>> {
    let catalog = Catalog::open(layout)?;
    let mut tx = layout.begin()?;
    if land_early {
        check_existing(layout, &catalog, names, bundles)?;
        tx.land_while_staging();
    }
    // An artifact stays in memory only while more signatures for it follow, and is
    // staged as soon as its last one is in: a bulk sign of thousands of images never
    // holds thousands of artifacts.
    let mut left: HashMap<String, usize> = HashMap::new();
    for name in names {
        *left.entry((*name).to_owned()).or_default() += 1;
    }
    let mut pending: HashMap<String, (SignatureArtifact, bool)> = HashMap::new();
    let mut entries: Vec<(String, Descriptor)> = Vec::new();
    // Blobs are written in batches, on every core (see `Transaction::put_many_bytes`).
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let flush = |tx: &mut crate::store::Transaction<'_>, batch: &mut Vec<Vec<u8>>| -> Result<()> {
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        tx.put_many_bytes(&refs)?;
        batch.clear();
        Ok(())
    };
    for new in signatures {
        let new = new?;
        let name = new.sig_name.as_str();
        let (mut artifact, mut changed) = match pending.remove(name) {
            Some(p) => p,
            None => match catalog.named(name) {
                Some(existing) => (
                    SignatureArtifact::read(layout, existing)
                        .map_err(|e| Error::invalid(format!("{name}: {e}")))?,
                    false,
                ),
                None => (SignatureArtifact::default(), false),
            },
        };
        if !is_duplicate(&artifact, &new) {
            artifact.append(new.layer.clone())?;
            batch.push(new.payload.clone());
            changed = true;
        }
        let n = left
            .get_mut(name)
            .ok_or_else(|| Error::invalid(format!("{name}: a signature nobody asked for")))?;
        *n -= 1;
        if *n > 0 {
            pending.insert(name.to_owned(), (artifact, changed));
        } else if changed {
            let (config, manifest) = artifact.to_bytes();
            let digest = crate::digest::Digest::sha256(&manifest);
            entries.push((
                name.to_owned(),
                Descriptor::new(OCI_MANIFEST, digest, manifest.len() as u64),
            ));
            batch.push(config);
            batch.push(manifest);
        }
        if batch.len() >= 3 * 1024 {
            flush(&mut tx, &mut batch)?;
        }
    }
    if let Some((name, _)) = left.iter().find(|(_, n)| **n > 0) {
        // the signatures stopped short (a signing thread that died): commit nothing
        return Err(Error::invalid(format!(
            "{name}: no signature was made for it; nothing was written to the index"
        )));
    }
    flush(&mut tx, &mut batch)?;
    let listings = stage_bundles(layout, &catalog, &mut tx, bundles)?;
    entries.extend(listings);
    drop(catalog);
    tx.commit(|index| {
        index.set_named_many(entries.iter().cloned());
        Ok(())
    })?;
    Ok(entries.into_iter().map(|(n, _)| n).collect())
}

/// Reads every `.sig` artifact and bundle listing the write will extend, so that a
/// damaged one is refused before any blob lands.
fn check_existing(
    layout: &Layout,
    catalog: &Catalog<'_>,
    names: &[&str],
    bundles: &[NewBundle],
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for name in names.iter().copied().filter(|n| seen.insert(*n)) {
        if let Some(existing) = catalog.named(name) {
            SignatureArtifact::read(layout, existing)
                .map_err(|e| Error::invalid(format!("{name}: {e}")))?;
        }
    }
    for b in bundles {
        if seen.insert(b.listing.as_str())
            && let Some(d) = catalog.named(&b.listing)
        {
            crate::store::manifest::index_children(layout, d)
                .map_err(|e| Error::invalid(format!("{}: {e}", b.listing)))?;
        }
    }
    Ok(())
}

/// Stages each bundle, its referrer manifest and the empty config, and returns the
/// listings to write: each subject's current listing with the new referrers added
/// (a bundle the listing already holds — the same bytes, or with `signed_by` the same
/// statement signed by that key — is skipped, whatever its manifest's timestamp).
fn stage_bundles(
    layout: &Layout,
    catalog: &Catalog<'_>,
    tx: &mut crate::store::Transaction<'_>,
    bundles: &[NewBundle],
) -> Result<Vec<(String, Descriptor)>> {
    use crate::bundle::{BUNDLE_V03, EMPTY_CONFIG, referrer_manifest};
    use crate::store::descriptor::{Index, OCI_INDEX};
    use crate::store::manifest::{self, Document, MAX_MANIFEST};
    let mut listings: Vec<(String, Vec<Descriptor>, bool)> = Vec::new();
    for b in bundles {
        let pos = match listings.iter().position(|(n, _, _)| *n == b.listing) {
            Some(p) => p,
            None => {
                let current = match catalog.named(&b.listing) {
                    Some(d) => manifest::index_children(layout, d)
                        .map_err(|e| Error::invalid(format!("{}: {e}", b.listing)))?,
                    None => Vec::new(),
                };
                listings.push((b.listing.clone(), current, false));
                listings.len() - 1
            }
        };
        let bundle_digest = crate::digest::Digest::sha256(&b.bundle);
        // the new bundle parsed once, for the comparisons with the ones held
        let parsed = match &b.signed_by {
            Some(_) => Some(crate::bundle::Bundle::parse(&b.bundle)?),
            None => None,
        };
        let same = |l: &Descriptor| {
            l.digest == bundle_digest
                || b.signed_by
                    .as_ref()
                    .zip(parsed.as_ref())
                    .is_some_and(|(key, new)| {
                        crate::bundle::is_bundle_type(&l.media_type)
                            && layout
                                .read_blob(l, crate::bundle::MAX_BUNDLE)
                                .ok()
                                .and_then(|raw| crate::bundle::Bundle::parse(&raw).ok())
                                .is_some_and(|held| held.same_signature_as(new, key))
                    })
        };
        let held = listings[pos].1.iter().any(|r| {
            r.kind() == crate::store::Kind::Manifest
                && layout
                    .read_blob(r, MAX_MANIFEST)
                    .ok()
                    .and_then(|raw| manifest::parse(&raw, r, "referrer").ok())
                    .is_some_and(|doc| match doc {
                        Document::Manifest { layers, .. } => layers.iter().any(same),
                        Document::Index { .. } => false,
                    })
        });
        if held {
            eprintln!("{}: an equal bundle is already there; skipped", b.listing);
            continue;
        }
        let m = referrer_manifest(
            &b.bundle,
            &b.predicate_type,
            &b.created,
            &b.subject.media_type,
            &b.subject.digest,
            b.subject.size,
        );
        tx.put_many_bytes(&[&b.bundle, EMPTY_CONFIG, &m])?;
        let mut desc = Descriptor::new(
            OCI_MANIFEST,
            crate::digest::Digest::sha256(&m),
            m.len() as u64,
        );
        desc.artifact_type = Some(BUNDLE_V03.to_owned());
        for (k, v) in [
            ("dev.sigstore.bundle.content", "dsse-envelope"),
            (
                "dev.sigstore.bundle.predicateType",
                b.predicate_type.as_str(),
            ),
            ("org.opencontainers.image.created", b.created.as_str()),
        ] {
            desc.annotations.insert(k.to_owned(), v.to_owned());
        }
        listings[pos].1.push(desc);
        listings[pos].2 = true;
    }
    let mut out = Vec::new();
    for (name, referrers, changed) in listings {
        if !changed {
            continue;
        }
        let bytes = Index::listing(referrers).to_bytes();
        let d = tx.put_bytes(&bytes)?;
        out.push((name, Descriptor::new(OCI_INDEX, d, bytes.len() as u64)));
    }
    Ok(out)
}
