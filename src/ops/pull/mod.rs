//! `airsign pull IMAGE...`: images from registries into the store, with their
//! cosign `.sig`/`.att`/`.sbom` tags and OCI 1.1 referrers, every digest kept.
//!
//! Per image: the manifest or index is fetched by tag or digest (its raw bytes are
//! the truth), everything below it by digest — from the store when it has it — and
//! each config and layer streams to disk, hashed and size-checked before it lands
//! (see `fetch.rs`; a broken download resumes from the byte reached). Then the
//! artifacts of every manifest digest pulled (`artifacts.rs`). Manifests, indexes
//! and the documents made here are staged in one transaction, and `index.json`
//! changes last, once per image, under the store's lock. See `docs/pull.md`.

mod artifacts;
mod fetch;
mod platform;

use std::path::Path;

use super::progress::{self, Unit};
use serde::Serialize;

use self::artifacts::ArtifactReport;
use self::fetch::{Counts, Doc, Fetcher};
pub use self::platform::PlatformSpec;
use super::registry_access::RegistryAccess;
use crate::digest::Digest;
use crate::ops::Status;
use crate::reference::Reference;
use crate::registry::{RegistryClient, Repository, RequestStats};
use crate::store::descriptor::{COSIGN_KIND, REF_NAME};
use crate::store::manifest;
use crate::store::resolve::Catalog;
use crate::store::{Descriptor, Kind, Layout};
use crate::{Error, Result};

#[derive(Debug, Default)]
pub struct PullOptions {
    /// `OS/ARCH[/VARIANT]`: only that platform's manifest of an index.
    pub platform: Option<String>,
    /// Every platform of an index (the default, said explicitly).
    pub all_platforms: bool,
    pub registry: RegistryAccess,
    /// Blobs downloaded at once.
    pub jobs: usize,
    pub json: bool,
}

/// The `--json` report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub images: Vec<ImageReport>,
    pub failed: usize,
    pub requests: RequestStats,
}

#[derive(Debug, Serialize)]
pub struct ImageReport {
    /// The image asked for, normalised.
    pub reference: String,
    /// Its name in the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    #[serde(rename = "mediaType", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The platforms pulled (an index's, or the one `--platform` chose).
    pub platforms: Vec<String>,
    /// `pulled` (the store changed), `present` (it already had everything) or `failed`.
    pub status: Status,
    #[serde(flatten)]
    pub counts: Counts,
    pub artifacts: Vec<ArtifactReport>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

pub fn run(store: &Path, images: &[String], opts: &PullOptions) -> Result<()> {
    if images.is_empty() {
        return Err(Error::Usage("name the images to pull".into()));
    }
    if opts.jobs == 0 {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    let platform = opts
        .platform
        .as_deref()
        .map(PlatformSpec::parse)
        .transpose()?;
    // every argument checked before the first request
    let wanted: Vec<Wanted> = images
        .iter()
        .map(|i| Wanted::parse(i))
        .collect::<Result<_>>()?;
    let wanted = distinct(wanted)?;
    let store = super::open_store(store)?;
    store.read_index()?;
    let client = opts.registry.client()?;

    let bytes = progress::bar(progress::shown(opts.json), "pull", Unit::Bytes, 0);
    let fetcher = Fetcher {
        client: &client,
        store: &store,
        jobs: opts.jobs,
        bytes: &bytes,
    };

    let mut reports = Vec::with_capacity(wanted.len());
    let mut errors: Vec<Error> = Vec::new();
    for w in &wanted {
        bytes.set_prefix(w.reference.to_string());
        let mut r = ImageReport {
            reference: w.reference.to_string(),
            entry: Some(w.entry.clone()),
            digest: None,
            media_type: None,
            platforms: Vec::new(),
            status: Status::Failed,
            counts: Counts::default(),
            artifacts: Vec::new(),
            warnings: Vec::new(),
            error: None,
        };
        if let Err(e) = pull_one(&fetcher, &store, w, platform.as_ref(), &mut r) {
            r.error = Some(e.to_string());
            errors.push(e);
        }
        reports.push(r);
    }
    bytes.finish_and_clear();

    let report = Report {
        failed: errors.len(),
        images: reports,
        requests: client.stats(),
    };
    for i in &report.images {
        for w in &i.warnings {
            eprintln!("airsign: warning: {w}");
        }
    }
    if opts.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        )?;
    } else if report.failed < report.images.len() {
        // when nothing was pulled, the error line says it all
        print_human(&report, &store, &client)?;
    }
    finish(errors, report.images.len())
}

/// One error as it is when one image failed (its exit code too: 11 for an image
/// the registry does not have); a count and the first otherwise.
fn finish(mut errors: Vec<Error>, total: usize) -> Result<()> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        n => {
            let all_missing = errors.iter().all(|e| matches!(e, Error::ImageNotFound(_)));
            let msg = format!(
                "pull failed for {n} of {total} image(s) (first: {})",
                errors[0]
            );
            Err(if all_missing {
                Error::ImageNotFound(msg)
            } else {
                Error::Registry(msg)
            })
        }
    }
}

fn print_human(report: &Report, store: &Layout, client: &RegistryClient) -> Result<()> {
    let mut artifacts = 0;
    let mut totals = Counts::default();
    for i in &report.images {
        if let (Some(entry), Some(d)) = (&i.entry, &i.digest)
            && i.error.is_none()
        {
            outln!("{entry}  {d}")?;
        }
        for a in &i.artifacts {
            eprintln!("  {} {}: {}", a.kind, a.name, a.status);
        }
        artifacts += i.artifacts.len();
        totals.add(&i.counts);
    }
    eprintln!(
        "pulled {} of {} image(s) and {artifacts} artifact(s) into {}: {} blob(s), {} byte(s) and {} manifest(s) fetched, {} blob(s) and {} manifest(s) already there; {} request(s)",
        report.images.len() - report.failed,
        report.images.len(),
        store.root().display(),
        totals.blobs_fetched,
        totals.bytes_fetched,
        totals.manifests_fetched,
        totals.blobs_present,
        totals.manifests_present,
        client.stats().total,
    );
    Ok(())
}

/// The images once each: a repeated argument is pulled once, and two different
/// references naming one store entry (`app:v1` and `app:v1@sha256:…`) are refused,
/// since the second would silently replace the first.
fn distinct(wanted: Vec<Wanted>) -> Result<Vec<Wanted>> {
    let mut out: Vec<Wanted> = Vec::with_capacity(wanted.len());
    for w in wanted {
        match out.iter().find(|o| o.entry == w.entry) {
            Some(o) if o.reference == w.reference => {}
            Some(o) => {
                return Err(Error::Usage(format!(
                    "{} and {} both name the store entry {}: pull them in separate runs, or tag them apart",
                    o.reference, w.reference, w.entry
                )));
            }
            None => out.push(w),
        }
    }
    Ok(out)
}

/// An image to pull: the reference to fetch, and its name in the store.
struct Wanted {
    reference: Reference,
    /// `registry/path:tag`: a tag names the entry even when a digest is given
    /// (`REPO:TAG@sha256:…` fetches by digest); without a tag, `REPO@sha256:…` (the
    /// digest of what is stored: with `--platform`, the platform's manifest).
    entry: String,
    /// Named by its digest alone (no tag).
    by_digest: bool,
}

impl Wanted {
    fn parse(arg: &str) -> Result<Wanted> {
        let s = arg.strip_prefix("docker://").unwrap_or(arg);
        let reference = Reference::parse(s)?;
        let (entry, by_digest) = match reference.tag() {
            Some(tag) => (format!("{}:{tag}", reference.name()), false),
            None => (reference.to_string(), true),
        };
        Ok(Wanted {
            reference,
            entry,
            by_digest,
        })
    }

    /// What the registry is asked for: the digest when there is one.
    fn manifest_ref(&self) -> String {
        match self.reference.digest() {
            Some(d) => d.to_string(),
            None => self.reference.tag().expect("checked in parse").to_owned(),
        }
    }
}

fn pull_one(
    f: &Fetcher<'_>,
    store: &Layout,
    w: &Wanted,
    platform: Option<&PlatformSpec>,
    r: &mut ImageReport,
) -> Result<()> {
    let repo = Repository::of(&w.reference);
    let m = match f.client.get_manifest(&repo, &w.manifest_ref(), &[]) {
        Ok(m) => m,
        Err(Error::NotFound(why)) => {
            return Err(Error::ImageNotFound(format!(
                "image {} not found ({why})",
                w.reference
            )));
        }
        Err(e) => return Err(e),
    };
    let root = Descriptor::new(&m.media_type, m.digest.clone(), m.bytes.len() as u64);
    if store.has_blob(&root.digest)? {
        r.counts.manifests_present += 1;
    } else {
        r.counts.manifests_fetched += 1;
    }
    let root = Doc {
        desc: root,
        raw: m.bytes,
    };
    let what = format!("{repo}: {} {}", root.desc.media_type, root.desc.digest);
    let parsed = manifest::parse(&root.raw, &root.desc, &what)?;

    // The entry: the whole index (its digest is the one signed), or with --platform
    // the one manifest of that platform.
    let (entry_doc, entry_desc) = match (platform, root.desc.kind()) {
        (Some(p), Kind::Index) => {
            let children = parsed.children();
            let child = p.choose(&children).ok_or_else(|| {
                Error::NotFound(format!(
                    "{}: no manifest for platform {p} in the index (it has: {})",
                    w.reference,
                    platform::list(&children).join(", ")
                ))
            })?;
            let raw = f.document(&repo, child, &mut r.counts)?;
            if let Some(p) = &child.platform {
                r.platforms.push(p.to_string());
            }
            let mut desc = child.clone();
            desc.annotations.remove(REF_NAME);
            desc.annotations.remove(COSIGN_KIND);
            (
                Doc {
                    desc: child.clone(),
                    raw,
                },
                desc,
            )
        }
        (p, kind) => {
            if let (Some(p), Kind::Manifest) = (p, kind) {
                r.warnings.push(format!(
                    "{}: a single manifest, not an index: pulled as it is (--platform {p} not applied)",
                    w.reference
                ));
            }
            if kind == Kind::Index {
                r.platforms = platform::list(&parsed.children());
            }
            let desc = root.desc.clone();
            (root, desc)
        }
    };
    r.digest = Some(entry_desc.digest.clone());
    r.media_type = Some(entry_desc.media_type.clone());

    let tree = f.tree(&repo, entry_doc, &mut r.counts)?;
    // artifacts of the entry's digest and of every manifest below it
    let subjects: Vec<Digest> = tree.docs.iter().map(|d| d.desc.digest.clone()).collect();
    let catalog = Catalog::open(store)?;
    let found = artifacts::fetch(
        f,
        &repo,
        &w.reference.name(),
        &catalog,
        &subjects,
        &mut r.counts,
    )?;
    r.warnings.extend(found.warnings);
    r.artifacts = found.reports;

    // An image named by its digest alone is stored under the digest of what is kept.
    let entry_name = if w.by_digest {
        w.reference.at_digest(&entry_desc.digest).to_string()
    } else {
        w.entry.clone()
    };
    r.entry = Some(entry_name.clone());
    // Artifact entries were merged with what the store held when it was read; a
    // `sign` committing meanwhile must not lose its signatures to this write.
    let read_as: Vec<(String, Option<Digest>)> = found
        .entries
        .iter()
        .map(|(n, _)| (n.clone(), catalog.named(n).map(|e| e.digest.clone())))
        .collect();
    let unchanged = catalog
        .named(&entry_name)
        .is_some_and(|e| e.digest == entry_desc.digest && e.media_type == entry_desc.media_type)
        && found
            .entries
            .iter()
            .all(|(n, d)| catalog.named(n).is_some_and(|e| e.digest == d.digest));
    drop(catalog);

    let mut tx = store.begin()?;
    for doc in tree.docs.iter().chain(&found.docs) {
        tx.put_blob(&doc.desc.digest, doc.desc.size, &mut doc.raw.as_slice())?;
    }
    for bytes in &found.made {
        tx.put_bytes(bytes)?;
    }
    // landed earlier: the commit checks, under the lock, that they are still there
    for d in tree.blobs.iter().chain(&found.blobs) {
        if !tx.has_blob(d)? {
            return Err(Error::NotFound(format!(
                "blob {d} is missing from {} after its download",
                store.root().display()
            )));
        }
    }
    let mut entries = vec![(entry_name, entry_desc)];
    entries.extend(found.entries);
    tx.commit(|idx| {
        for (name, was) in &read_as {
            let now = idx.manifests.iter().find(|d| d.ref_name() == Some(name));
            if now.map(|d| &d.digest) != was.as_ref() {
                return Err(Error::invalid(format!(
                    "{name} changed in the store during the pull (a concurrent sign?): \
                     nothing written; pull again to merge with it"
                )));
            }
        }
        idx.set_named_many(entries);
        Ok(())
    })?;
    let fetched = r.counts.blobs_fetched + r.counts.manifests_fetched;
    r.status = if unchanged && fetched == 0 {
        Status::Present
    } else {
        Status::Pulled
    };
    Ok(())
}
