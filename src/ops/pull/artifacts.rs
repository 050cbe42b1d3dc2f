//! What comes with an image: its cosign `.sig`, `.att` and `.sbom` tags, and its
//! OCI 1.1 referrers (the Referrers API, or the `sha256-<hex>` fallback tag). Each
//! is fetched for every manifest digest pulled (an index and each of its platforms),
//! and named in the store as `sign` and `import` name them.
//!
//! A `.sig` or `.att` the store already holds with other signatures is never
//! dropped: when neither holds all of the other's layers, the registry's artifact is
//! taken and the store's missing layers appended, as `cosign sign` appends.
//! Referrers listed by the fallback tag are each fetched and kept only if their
//! `subject` really is the image (a registry that resolves the tag as the digest
//! itself, or a stale or hostile index, would otherwise smuggle in anything).

use serde::Serialize;

use super::fetch::{Counts, Doc, Fetcher};
use crate::digest::{Digest, printable};
use crate::ops::Status;
use crate::registry::{ReferrersSource, Repository};
use crate::signature::{ArtifactKind, MAX_LAYERS, MAX_PAYLOAD, SignatureArtifact};
use crate::store::descriptor::{Index, OCI_INDEX, REF_NAME};
use crate::store::manifest::{self, Document, MAX_MANIFEST};
use crate::store::resolve::Catalog;
use crate::store::{Descriptor, Kind};
use crate::{Error, Result};

/// cosign's artifact tags, signatures first.
const KINDS: [ArtifactKind; 3] = [
    ArtifactKind::Signature,
    ArtifactKind::Attestation,
    ArtifactKind::Sbom,
];
/// The largest `.att` or `.sbom` layer taken: cosign's own default
/// (`COSIGN_MAX_ATTACHMENT_SIZE`, 128 MiB).
const MAX_ATTACHMENT: u64 = 128 * 1024 * 1024;

#[derive(Debug, Serialize)]
pub struct ArtifactReport {
    /// The store entry: `REPO:sha256-<hex>.sig`, or `REPO:sha256-<hex>` for referrers.
    pub name: String,
    /// `sig`, `att`, `sbom` or `referrer`.
    pub kind: String,
    /// The manifest it belongs to.
    pub subject: Digest,
    /// The registry's digest (for a referrer, the referrer manifest's).
    pub digest: Digest,
    /// `pulled`, `present` (the store had it), `merged` (with the store's own
    /// signatures), `kept` (the store's already holds every layer of the registry's)
    /// or `replaced` (an `.sbom` that differed).
    pub status: Status,
    /// For referrers: `api` or `fallback-tag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The digest the store entry names afterwards, when it is not `digest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_digest: Option<Digest>,
}

/// What the artifacts add to the image's commit.
#[derive(Default)]
pub struct Found {
    /// `index.json` entries to set.
    pub entries: Vec<(String, Descriptor)>,
    /// Manifests to stage.
    pub docs: Vec<Doc>,
    /// Blobs (already landed) the entries rely on.
    pub blobs: Vec<Digest>,
    /// Documents made here (merged signatures, referrers indexes), to stage.
    pub made: Vec<Vec<u8>>,
    pub reports: Vec<ArtifactReport>,
    pub warnings: Vec<String>,
}

/// Fetches the artifacts and referrers of each of `subjects` in `repo`; `name` is
/// the repository as store entries spell it (`registry/path`).
pub fn fetch(
    f: &Fetcher<'_>,
    repo: &Repository,
    name: &str,
    catalog: &Catalog<'_>,
    subjects: &[Digest],
    counts: &mut Counts,
) -> Result<Found> {
    let mut out = Found::default();
    for subject in subjects {
        for kind in KINDS {
            cosign_tag(f, repo, name, catalog, subject, kind, counts, &mut out)?;
        }
        referrers(f, repo, name, catalog, subject, counts, &mut out)?;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn cosign_tag(
    f: &Fetcher<'_>,
    repo: &Repository,
    name: &str,
    catalog: &Catalog<'_>,
    subject: &Digest,
    kind: ArtifactKind,
    counts: &mut Counts,
    out: &mut Found,
) -> Result<()> {
    let tag = kind.tag_for(subject);
    let entry = format!("{name}:{tag}");
    // HEAD first: on a rerun an artifact the store has costs one request
    let Some(head) = f.client.head_manifest(repo, &tag, &[])? else {
        return Ok(());
    };
    let existing = catalog.named(&entry).cloned();
    let report = |digest: &Digest, status: Status| ArtifactReport {
        name: entry.clone(),
        kind: kind.suffix().to_owned(),
        subject: subject.clone(),
        digest: digest.clone(),
        status,
        source: None,
        stored_digest: None,
    };
    if let (Some(h), Some(e)) = (&head.digest, &existing)
        && *h == e.digest
        && f.store.has_blob(h)?
    {
        counts.manifests_present += 1;
        out.reports.push(report(h, Status::Present));
        return Ok(());
    }
    let m = match f.client.get_manifest(repo, &tag, &[]) {
        Ok(m) => m,
        // deleted between the HEAD and the GET
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let desc = Descriptor::new(&m.media_type, m.digest.clone(), m.bytes.len() as u64);
    // before a byte of what it lists is fetched
    check_bounds(
        &m.bytes,
        &desc,
        kind,
        &format!("{repo}: {tag} {}", m.digest),
    )?;
    if f.store.has_blob(&m.digest)? {
        counts.manifests_present += 1;
    } else {
        counts.manifests_fetched += 1;
    }
    let tree = f.tree(
        repo,
        Doc {
            desc: desc.clone(),
            raw: m.bytes,
        },
        counts,
    )?;
    let ours = existing.filter(|e| e.digest != m.digest);
    let Some(ours) = ours else {
        let same = catalog.named(&entry).is_some();
        out.reports.push(report(
            &m.digest,
            if same {
                Status::Present
            } else {
                Status::Pulled
            },
        ));
        take(out, entry.clone(), desc, tree.docs, tree.blobs);
        return Ok(());
    };
    if kind == ArtifactKind::Sbom {
        out.warnings.push(format!(
            "{entry}: the store's SBOM {} is replaced by the registry's {}",
            ours.digest, m.digest
        ));
        out.reports.push(report(&m.digest, Status::Replaced));
        take(out, entry.clone(), desc, tree.docs, tree.blobs);
        return Ok(());
    }
    // Two different `.sig` (or `.att`) images: keep every signature of both. The
    // registry's manifest is fetched but not staged yet (the tree's root); its
    // config has landed in the store.
    let theirs = SignatureArtifact::from_manifest(&desc, &tree.docs[0].raw, |config| {
        f.store.read_blob(config, MAX_MANIFEST)
    })?;
    let mine = match SignatureArtifact::read(f.store, &ours) {
        Ok(a) => a,
        Err(e) => {
            out.warnings.push(format!(
                "{entry}: the store's artifact {} is unreadable ({e}); replaced by the registry's",
                ours.digest
            ));
            out.reports.push(report(&m.digest, Status::Replaced));
            take(out, entry.clone(), desc, tree.docs, tree.blobs);
            return Ok(());
        }
    };
    if theirs.holds_all_of(&mine) {
        // the registry's holds all of the store's (it was signed again since)
        out.reports.push(report(&m.digest, Status::Pulled));
        take(out, entry.clone(), desc, tree.docs, tree.blobs);
        return Ok(());
    }
    if mine.holds_all_of(&theirs) {
        let mut r = report(&m.digest, Status::Kept);
        r.stored_digest = Some(ours.digest.clone());
        out.reports.push(r);
        return Ok(());
    }
    let merged = theirs.merged_with(&mine)?;
    let (config, manifest) = merged.to_bytes();
    let merged_desc = Descriptor::new(
        &desc.media_type,
        Digest::sha256(&manifest),
        manifest.len() as u64,
    );
    let mut r = report(&m.digest, Status::Merged);
    r.stored_digest = Some(merged_desc.digest.clone());
    out.reports.push(r);
    out.made.push(config);
    out.made.push(manifest);
    // the registry's layers (landed) and the store's own (already there)
    out.blobs.extend(tree.blobs);
    out.blobs
        .extend(mine.layers.iter().map(|l| l.digest.clone()));
    out.entries.push((entry, merged_desc));
    Ok(())
}

/// Refuses a cosign artifact that is not one image manifest within cosign's own
/// bounds, before anything it lists is downloaded (cosign GHSA-88jx-383q-w4qc: a
/// registry must not make a client fetch or allocate by a count it chose): at most
/// [`MAX_LAYERS`] layers, a config no larger than a manifest, and each layer at most
/// [`MAX_PAYLOAD`] for a `.sig` (a simple-signing payload, as `verify` and `sync`
/// read them) or [`MAX_ATTACHMENT`] for an `.att` or `.sbom`.
fn check_bounds(raw: &[u8], desc: &Descriptor, kind: ArtifactKind, what: &str) -> Result<()> {
    if desc.kind() != Kind::Manifest {
        return Err(Error::invalid(format!(
            "{what}: a {}, not an image manifest",
            printable(&desc.media_type)
        )));
    }
    let Document::Manifest { config, layers, .. } = manifest::parse(raw, desc, what)? else {
        unreachable!("a manifest descriptor parses as a manifest");
    };
    if layers.len() > MAX_LAYERS {
        return Err(Error::invalid(format!(
            "{what}: {} layers, more than cosign's limit of {MAX_LAYERS}",
            layers.len()
        )));
    }
    if config.size > MAX_MANIFEST {
        return Err(Error::invalid(format!(
            "{what}: its config is {} bytes, over the {MAX_MANIFEST}-byte limit",
            config.size
        )));
    }
    let max = if kind == ArtifactKind::Signature {
        MAX_PAYLOAD
    } else {
        MAX_ATTACHMENT
    };
    if let Some(l) = layers.iter().find(|l| l.size > max) {
        return Err(Error::invalid(format!(
            "{what}: layer {} is {} bytes, over the {max}-byte limit for a .{}",
            l.digest,
            l.size,
            kind.suffix()
        )));
    }
    Ok(())
}

fn take(out: &mut Found, entry: String, desc: Descriptor, docs: Vec<Doc>, blobs: Vec<Digest>) {
    out.entries.push((entry, desc));
    out.docs.extend(docs);
    out.blobs.extend(blobs);
}

fn referrers(
    f: &Fetcher<'_>,
    repo: &Repository,
    name: &str,
    catalog: &Catalog<'_>,
    subject: &Digest,
    counts: &mut Counts,
    out: &mut Found,
) -> Result<()> {
    let found = f.client.referrers(repo, subject, None)?;
    let source = match &found.source {
        ReferrersSource::Api => "api",
        ReferrersSource::FallbackTag => "fallback-tag",
        ReferrersSource::None => return Ok(()),
        ReferrersSource::FallbackRejected(why) => {
            out.warnings
                .push(format!("{repo}: referrers of {subject} not pulled: {why}"));
            return Ok(());
        }
    };
    let entry = format!("{name}:{}", subject.tag_form());
    let listed: Vec<Descriptor> = match catalog.named(&entry) {
        Some(e) => manifest::index_children(f.store, e)?,
        None => Vec::new(),
    };
    let mut children = listed.clone();
    for d in found.manifests {
        let skip =
            |why: String| format!("{repo}: referrer {} of {subject} skipped: {why}", d.digest);
        if d.kind() == Kind::Blob {
            out.warnings
                .push(skip(format!("{} is not a manifest", d.media_type)));
            continue;
        }
        let raw = f.document(repo, &d, counts)?;
        let doc = match manifest::parse(&raw, &d, &format!("referrer {}", d.digest)) {
            Ok(doc) => doc,
            Err(e) => {
                out.warnings.push(skip(e.to_string()));
                continue;
            }
        };
        match doc.subject() {
            Some(s) if s.digest == *subject => {}
            Some(s) => {
                out.warnings
                    .push(skip(format!("its subject is {}, not the image", s.digest)));
                continue;
            }
            None => {
                out.warnings.push(skip("it has no subject".into()));
                continue;
            }
        }
        let tree = f.tree(
            repo,
            Doc {
                desc: d.clone(),
                raw,
            },
            counts,
        )?;
        out.docs.extend(tree.docs);
        out.blobs.extend(tree.blobs);
        let known = children.iter().any(|c| c.digest == d.digest);
        out.reports.push(ArtifactReport {
            name: entry.clone(),
            kind: "referrer".into(),
            subject: subject.clone(),
            digest: d.digest.clone(),
            status: if known {
                Status::Present
            } else {
                Status::Pulled
            },
            source: Some(source.into()),
            stored_digest: None,
        });
        if !known {
            let mut listed_as = d.clone();
            listed_as.annotations.remove(REF_NAME);
            children.push(listed_as);
        }
    }
    if children.len() == listed.len() {
        return Ok(());
    }
    // The store lists referrers as a registry without the API does: an OCI index
    // at the fallback tag (docs/store-format.md), the union of old and new.
    let bytes = Index::listing(children).to_bytes();
    let desc = Descriptor::new(OCI_INDEX, Digest::sha256(&bytes), bytes.len() as u64);
    out.made.push(bytes);
    out.blobs.extend(listed.iter().map(|c| c.digest.clone()));
    out.entries.push((entry, desc));
    Ok(())
}
