//! Running a plan: units (an image with its referrers and artifacts) on `--jobs`
//! worker threads, the blobs of one tree on up to as many more, at most `--jobs`
//! blob transfers at once. Order is kept per unit: blobs, child manifests, the
//! tagged manifest or index, referrers, then `.sbom`, `.att` and `.sig` tags.
//!
//! The registry decides what is sent: a tag whose HEAD gives our digest costs one
//! request and nothing below it is looked at (a registry refuses a manifest whose
//! blobs or children are missing, so a present tag implies a present tree). A blob
//! is claimed per (registry, digest) while it is looked at or sent, so two units
//! sharing it never upload it twice in one run, and the second mounts it from the
//! repository the first put it in. A `.sig` the destination holds with other
//! signatures is merged, never replaced.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use indicatif::ProgressBar;
use serde::Serialize;

use super::journal::Journal;
use super::plan::{Artifact, ReferrerSet, Tree, Unit};
use super::source::{BlobStream, Source};
use crate::copy::{Copied, Doc, Sink};
use crate::digest::Digest;
use crate::ops::Status;
use crate::registry::{
    BlobPush, PushBlob, ReferrersSource, RegistryClient, Repository, RequestStats,
};
use crate::signature::{ArtifactKind, SigLayer, SignatureArtifact};
use crate::store::descriptor::{Index, OCI_INDEX};
use crate::store::manifest::{self, Document, MAX_MANIFEST};
use crate::store::{Descriptor, ReadLayout};
use crate::{Error, Result};

// ---------------------------------------------------------------------------------
// Reports

/// What `--json` prints.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub images: Vec<ImageReport>,
    pub failed: usize,
    /// `REPO:sha256-….sig` tags of the source that are not at the destination.
    pub missing_signatures: Vec<String>,
    pub requests: RequestStats,
}

#[derive(Debug, Default, Serialize)]
pub struct ImageReport {
    pub source: String,
    pub destination: String,
    /// The image's digest; `null` for loose artifacts (their image is not in the source).
    pub digest: Option<String>,
    /// `pushed`, `present` (nothing to send), `would-push` (dry run) or `failed`.
    pub status: Status,
    pub blobs: BlobCounts,
    /// Manifests and indexes, artifacts' and referrers' included.
    pub manifests_pushed: u64,
    pub manifests_present: u64,
    pub referrers: Vec<ReferrerReport>,
    pub artifacts: Vec<ArtifactReport>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct BlobCounts {
    /// Already at the destination (HEAD), or below a tag that already was.
    pub present: u64,
    pub uploaded: u64,
    pub mounted: u64,
    /// Missing, in a dry run.
    pub missing: u64,
    /// Blob bytes sent (or, in a dry run, that would be).
    pub bytes_sent: u64,
    /// Uploads continued from a session an earlier (killed) run left open.
    pub resumed: u64,
    /// Bytes those sessions already held, not sent again.
    pub resumed_bytes: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct ArtifactReport {
    pub tag: String,
    pub kind: String,
    pub digest: String,
    /// `pushed`, `present`, `merged` (our layers appended to the destination's),
    /// `contained` (the destination's already has all our layers), `replaced`
    /// (`.sbom`), `would-push`, `would-merge`, or `failed`.
    pub status: Status,
    /// Layers (signatures, attestations) in ours.
    pub layers: usize,
    /// Layers the destination held before and kept.
    pub kept_layers: usize,
    /// The digest at the destination afterwards (differs from ours after a merge).
    pub destination_digest: Option<String>,
}

/// The OCI 1.1 referrers of one manifest.
#[derive(Debug, Default, Serialize)]
pub struct ReferrerReport {
    pub subject: String,
    /// The fallback tag, `sha256-<hex>`.
    pub tag: String,
    pub referrers: usize,
    /// Of the fallback tag: `pushed` (ours, byte for byte), `present`, `merged`
    /// (ours added to the destination's list, which is kept), `contained`, `api`
    /// (the registry has the Referrers API and lists them itself; the tag is not
    /// touched), `would-push`, `would-merge`, or `failed`.
    pub status: Status,
    /// Entries the destination's fallback index held before and kept.
    pub kept: usize,
}

// ---------------------------------------------------------------------------------
// Shared state of the workers

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panicking worker must not wedge the others: the maps stay consistent
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keys one worker at a time may hold; the others wait.
struct Claims<K> {
    busy: Mutex<HashSet<K>>,
    freed: Condvar,
}

impl<K: Eq + Hash + Clone> Claims<K> {
    fn new() -> Self {
        Claims {
            busy: Mutex::new(HashSet::new()),
            freed: Condvar::new(),
        }
    }

    fn claim(&self, key: K) -> Claim<'_, K> {
        let mut busy = lock(&self.busy);
        while busy.contains(&key) {
            busy = self.freed.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        busy.insert(key.clone());
        Claim { claims: self, key }
    }
}

struct Claim<'a, K: Eq + Hash> {
    claims: &'a Claims<K>,
    key: K,
}

impl<K: Eq + Hash> Drop for Claim<'_, K> {
    fn drop(&mut self) {
        lock(&self.claims.busy).remove(&self.key);
        self.claims.freed.notify_all();
    }
}

/// At most `n` holders at once.
struct Semaphore {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Semaphore {
    fn acquire(&self) -> Permit<'_> {
        let mut free = lock(&self.free);
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

struct Permit<'a>(&'a Semaphore);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *lock(&self.0.free) += 1;
        self.0.freed.notify_one();
    }
}

/// What the run knows about the destination's blobs.
#[derive(Default)]
struct Known {
    /// (repository, digest) pairs known present, so shared blobs are HEADed once.
    present: HashSet<(Repository, Digest)>,
    /// Where this run found or put each blob, per registry: the mount source.
    located: HashMap<(String, Digest), Repository>,
}

/// The progress bars (hidden when stderr is not a terminal, or with `--json`).
pub struct Bars {
    pub bytes: ProgressBar,
    pub images: ProgressBar,
}

/// Everything the workers share.
pub struct Pusher<'a> {
    sources: &'a [Source<'a>],
    client: &'a RegistryClient,
    dry_run: bool,
    jobs: usize,
    journal: &'a Journal,
    bars: &'a Bars,
    known: Mutex<Known>,
    blob_claims: Claims<(String, Digest)>,
    tag_claims: Claims<(Repository, String)>,
    /// Artifact tags handled so far: their status and destination digest.
    done_tags: Mutex<HashMap<(Repository, String), TagDone>>,
    transfers: Semaphore,
    /// Warnings met while pushing (a session that could not be saved).
    notes: Mutex<Vec<String>>,
}

/// An artifact tag this run handled: its status and the digest there afterwards.
type TagDone = (Status, Option<String>);

/// What happened to one blob.
enum Outcome {
    Present,
    /// Dry run: would be sent.
    Missing(u64),
    Mounted,
    Uploaded {
        sent: u64,
        resumed_from: u64,
    },
}

impl<'a> Pusher<'a> {
    pub fn new(
        sources: &'a [Source<'a>],
        client: &'a RegistryClient,
        dry_run: bool,
        jobs: usize,
        journal: &'a Journal,
        bars: &'a Bars,
    ) -> Pusher<'a> {
        Pusher {
            sources,
            client,
            dry_run,
            jobs: jobs.max(1),
            journal,
            bars,
            known: Mutex::default(),
            blob_claims: Claims::new(),
            tag_claims: Claims::new(),
            done_tags: Mutex::default(),
            transfers: Semaphore {
                free: Mutex::new(jobs.max(1)),
                freed: Condvar::new(),
            },
            notes: Mutex::default(),
        }
    }

    /// Warnings met on the way.
    pub fn notes(&self) -> Vec<String> {
        lock(&self.notes).clone()
    }

    /// Runs every unit, `jobs` at a time; reports in the units' order. An image
    /// that fails does not stop the others; `on_failure` hears of each.
    pub fn run(
        &self,
        units: &[Unit],
        on_failure: &(dyn Fn(&Unit, &ImageReport) + Sync),
    ) -> Vec<ImageReport> {
        let next = AtomicUsize::new(0);
        let done: Mutex<Vec<Option<ImageReport>>> =
            Mutex::new(units.iter().map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..self.jobs.min(units.len()) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(unit) = units.get(i) else { break };
                        let r = self.unit(unit);
                        if r.error.is_some() {
                            on_failure(unit, &r);
                        }
                        self.bars.images.inc(1);
                        lock(&done)[i] = Some(r);
                    }
                });
            }
        });
        done.into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .map(|r| r.expect("every unit ran"))
            .collect()
    }

    fn unit(&self, unit: &Unit) -> ImageReport {
        let mut r = ImageReport {
            source: unit.source.clone(),
            destination: match &unit.image {
                // `REPO@sha256:…` for an image synced by digest
                Some((tag, _)) if tag.parse::<Digest>().is_ok() => format!("{}@{tag}", unit.dest),
                Some((tag, _)) => format!("{}:{tag}", unit.dest),
                None => unit.dest.to_string(),
            },
            digest: unit.digest().map(Digest::to_string),
            warnings: unit.warnings.clone(),
            ..ImageReport::default()
        };
        if let Err(e) = self.image(unit, &mut r) {
            r.status = Status::Failed;
            r.error = Some(e.to_string());
        }
        r
    }

    fn image(&self, unit: &Unit, r: &mut ImageReport) -> Result<()> {
        let src = unit.src;
        r.status = Status::Present;
        if let Some((tag, tree)) = &unit.image {
            let _tag = self.tag_claims.claim((unit.dest.clone(), tag.clone()));
            if self.ensure(src, &unit.dest, Some(tag), tree, r)? {
                r.status = self.sent_status();
            }
        }
        for rs in &unit.referrers {
            let mut rr = ReferrerReport {
                subject: rs.subject.to_string(),
                tag: rs.tag.clone(),
                referrers: rs.referrers.len(),
                ..ReferrerReport::default()
            };
            let res = self.referrer_set(src, &unit.dest, rs, &mut rr, r);
            let failed = res.is_err();
            if failed {
                rr.status = Status::Failed;
            }
            // a dry run's status is the image's own; referrers and artifacts say theirs
            if !self.dry_run
                && !matches!(
                    rr.status,
                    Status::Present | Status::Contained | Status::Api | Status::Failed
                )
            {
                r.status = Status::Pushed;
            }
            r.referrers.push(rr);
            res?;
        }
        for a in &unit.artifacts {
            let mut ar = ArtifactReport {
                tag: a.tag.clone(),
                kind: a.kind.suffix().into(),
                digest: a.tree.root().desc.digest.to_string(),
                layers: a.layers.as_ref().map_or(0, |l| l.layers.len()),
                ..ArtifactReport::default()
            };
            // two tags of one image in one repository share their artifacts: the
            // second finds them as the first left them
            let key = (unit.dest.clone(), a.tag.clone());
            let _tag = self.tag_claims.claim(key.clone());
            if let Some((status, digest)) = lock(&self.done_tags).get(&key) {
                ar.status = match status {
                    Status::Pushed | Status::Merged | Status::Replaced => Status::Present,
                    other => *other,
                };
                ar.destination_digest = digest.clone();
                r.artifacts.push(ar);
                continue;
            }
            let res = self.artifact(src, &unit.dest, a, &mut ar, r);
            if let Err(e) = res {
                ar.status = Status::Failed;
                r.artifacts.push(ar);
                return Err(e);
            }
            if !self.dry_run && ar.status != Status::Present && ar.status != Status::Contained {
                r.status = Status::Pushed;
            }
            lock(&self.done_tags).insert(key, (ar.status, ar.destination_digest.clone()));
            r.artifacts.push(ar);
        }
        // artifacts without their image: in a dry run, say whether any would be written
        if self.dry_run
            && unit.image.is_none()
            && (r.artifacts.iter().any(|a| a.status.is_would())
                || r.referrers.iter().any(|x| x.status.is_would()))
        {
            r.status = Status::WouldPush;
        }
        Ok(())
    }

    fn sent_status(&self) -> Status {
        if self.dry_run {
            Status::WouldPush
        } else {
            Status::Pushed
        }
    }

    /// The digest `repo:reference` has now, `None` if absent. One HEAD; a GET only
    /// when the registry's HEAD carries no digest.
    fn digest_at(&self, repo: &Repository, reference: &str) -> Result<Option<Digest>> {
        match self.client.head_manifest(repo, reference, &[])? {
            None => Ok(None),
            Some(h) => match h.digest {
                Some(d) => Ok(Some(d)),
                None => Ok(Some(self.client.get_manifest(repo, reference, &[])?.digest)),
            },
        }
    }

    /// Pushes a tree under `tag` (by its digest when `None`) unless the registry
    /// already has it there. Returns whether anything was (or would be) sent.
    fn ensure(
        &self,
        src: usize,
        repo: &Repository,
        tag: Option<&str>,
        tree: &Tree,
        r: &mut ImageReport,
    ) -> Result<bool> {
        let ours = &tree.root().desc.digest;
        let reference = tag.map_or_else(|| ours.to_string(), str::to_owned);
        if self.digest_at(repo, &reference)?.as_ref() == Some(ours) {
            r.blobs.present += tree.blobs.len() as u64;
            r.manifests_present += tree.manifests.len() as u64;
            self.note_present(repo, tree.blobs.iter().map(|b| &b.digest));
            return Ok(false);
        }
        self.push_tree(src, repo, tag, tree, r)?;
        Ok(true)
    }

    /// Remembers blobs as present at `repo` (a mount source for later).
    fn note_present<'d>(&self, repo: &Repository, blobs: impl Iterator<Item = &'d Digest>) {
        let mut k = lock(&self.known);
        for d in blobs {
            k.located
                .entry((repo.registry().to_owned(), d.clone()))
                .or_insert_with(|| repo.clone());
            k.present.insert((repo.clone(), d.clone()));
        }
    }

    /// Blobs (several at once), then child manifests by digest, then the root by
    /// tag (or digest): a copy of the tree into the repository ([`RepoSink`]).
    fn push_tree(
        &self,
        src: usize,
        repo: &Repository,
        tag: Option<&str>,
        tree: &Tree,
        r: &mut ImageReport,
    ) -> Result<()> {
        let mut sink = RepoSink {
            pusher: self,
            src,
            repo,
            tag,
            r,
            docs: &tree.manifests,
            next: 0,
        };
        crate::copy::send(
            self.sources[src].layout,
            &mut sink,
            tree,
            &crate::copy::Quiet,
        )?;
        Ok(())
    }

    /// A manifest refused because a child it names is missing, though a HEAD said
    /// each child was there (a registry that answers HEAD for a manifest it has not
    /// durably committed, oras-go#1211): every manifest below it is put again,
    /// without asking, then it is put once more. Still refused: a clear error.
    fn heal(
        &self,
        repo: &Repository,
        children: &[Doc],
        reference: &str,
        m: &Doc,
        why: &str,
        r: &mut ImageReport,
    ) -> Result<()> {
        for c in children {
            self.client.put_manifest(
                repo,
                &c.desc.digest.to_string(),
                &c.raw,
                &c.desc.media_type,
            )?;
            r.manifests_pushed += 1;
        }
        self.client
            .put_manifest(repo, reference, &m.raw, &m.desc.media_type)
            .map_err(|e| {
                Error::Registry(format!(
                    "{why}; its child manifests, which the registry had said it held, \
                     were put again, and it still refuses it: {e}"
                ))
            })?;
        Ok(())
    }

    /// After a `.sig` was written: the registry must show it under its tag, with
    /// the digest we put (a registry or proxy that answers a PUT without storing
    /// it must not pass for a signature delivered).
    fn confirm(&self, repo: &Repository, tag: &str, want: &Digest) -> Result<()> {
        match self.digest_at(repo, tag)? {
            Some(d) if d == *want => Ok(()),
            other => Err(Error::Registry(format!(
                "{repo}:{tag}: the registry accepted the signature, but its tag now shows {}",
                other.map_or_else(|| "nothing".to_owned(), |d| d.to_string())
            ))),
        }
    }

    /// The blobs of one tree, on up to `jobs` threads; the first error wins.
    fn blobs(
        &self,
        src: usize,
        repo: &Repository,
        blobs: &[Descriptor],
        r: &mut ImageReport,
    ) -> Result<()> {
        let outcomes: Vec<Result<Outcome>> = if self.jobs == 1 || blobs.len() < 2 {
            blobs.iter().map(|b| self.blob(src, repo, b)).collect()
        } else {
            let next = AtomicUsize::new(0);
            let out: Mutex<Vec<(usize, Result<Outcome>)>> = Mutex::default();
            std::thread::scope(|s| {
                for _ in 0..self.jobs.min(blobs.len()) {
                    s.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(b) = blobs.get(i) else { break };
                            let o = self.blob(src, repo, b);
                            lock(&out).push((i, o));
                        }
                    });
                }
            });
            let mut v = out.into_inner().unwrap_or_else(|p| p.into_inner());
            v.sort_by_key(|(i, _)| *i);
            v.into_iter().map(|(_, o)| o).collect()
        };
        for o in outcomes {
            match o? {
                Outcome::Present => r.blobs.present += 1,
                Outcome::Missing(n) => {
                    r.blobs.missing += 1;
                    r.blobs.bytes_sent += n;
                }
                Outcome::Mounted => r.blobs.mounted += 1,
                Outcome::Uploaded { sent, resumed_from } => {
                    r.blobs.uploaded += 1;
                    r.blobs.bytes_sent += sent;
                    if resumed_from > 0 {
                        r.blobs.resumed += 1;
                        r.blobs.resumed_bytes += resumed_from;
                    }
                }
            }
        }
        Ok(())
    }

    /// One blob from the source: nothing if `repo` has it, else a mount from a
    /// repository of the same registry this run saw it in, else an upload
    /// (continuing a session a killed run left open).
    fn blob(&self, src: usize, repo: &Repository, d: &Descriptor) -> Result<Outcome> {
        let key = (repo.clone(), d.digest.clone());
        if lock(&self.known).present.contains(&key) {
            return Ok(Outcome::Present);
        }
        // one worker per (registry, blob): another unit sending the same blob to
        // another repository finishes first, and this one mounts it
        let _claim = self
            .blob_claims
            .claim((repo.registry().to_owned(), d.digest.clone()));
        if lock(&self.known).present.contains(&key) {
            return Ok(Outcome::Present);
        }
        if self.client.blob_exists(repo, &d.digest)?.is_some() {
            self.note_present(repo, std::iter::once(&d.digest));
            // a session a killed run left open for it is of no use any more
            if !self.dry_run && d.size > self.client_threshold() {
                self.journal.forget(repo, &d.digest);
            }
            return Ok(Outcome::Present);
        }
        if self.dry_run {
            // what the real run would send must be there and intact
            let source = &self.sources[src];
            crate::store::graph::check_blob(
                source.layout,
                d,
                &source.label,
                &mut vec![0; 256 * 1024],
            )
            .map_err(|e| {
                Error::invalid(format!(
                    "{}: {e} (run airsign fsck)",
                    source.layout.location().display()
                ))
            })?;
            return Ok(Outcome::Missing(d.size));
        }
        let from = lock(&self.known)
            .located
            .get(&(repo.registry().to_owned(), d.digest.clone()))
            .filter(|from| *from != repo)
            .cloned();
        let _permit = self.transfers.acquire();
        // only chunked uploads can be resumed; a single PUT is all or nothing
        let chunked = d.size > self.client_threshold();
        let resume = if chunked {
            self.journal
                .load(repo, &d.digest, d.size)
                .unwrap_or_else(|why| {
                    lock(&self.notes).push(format!("{repo}: resume record {why}"));
                    None
                })
        } else {
            None
        };
        self.bars.bytes.inc_length(d.size);
        let mut stream = BlobStream::new(
            &self.sources[src],
            &d.digest,
            d.size,
            self.bars.bytes.clone(),
        );
        let mut save_failed: Option<String> = None;
        let mut on_session = |s: &crate::registry::UploadSession| {
            if chunked
                && save_failed.is_none()
                && let Err(e) = self.journal.save(repo, &d.digest, d.size, s)
            {
                save_failed = Some(e.to_string());
            }
        };
        let pushed = self.client.push_blob(
            repo,
            &d.digest,
            d.size,
            &mut stream,
            PushBlob {
                mount_from: from.as_ref(),
                resume,
                on_session: &mut on_session,
            },
        )?;
        if let Some(e) = save_failed {
            lock(&self.notes).push(format!(
                "{repo}: could not record the upload of {} for resuming: {e}",
                d.digest
            ));
        }
        if chunked {
            self.journal.forget(repo, &d.digest);
        }
        self.note_present(repo, std::iter::once(&d.digest));
        Ok(match pushed.how {
            BlobPush::Mounted => {
                self.bars.bytes.dec_length(d.size);
                Outcome::Mounted
            }
            BlobPush::Uploaded => {
                self.bars.bytes.dec_length(pushed.resumed_from);
                Outcome::Uploaded {
                    sent: stream.sent,
                    resumed_from: pushed.resumed_from,
                }
            }
        })
    }

    fn client_threshold(&self) -> u64 {
        self.client.opts().monolithic_threshold
    }

    /// The referrers of one manifest: each referrer manifest (with its blobs) by
    /// digest, then the fallback tag — unless the registry has the Referrers API
    /// and lists them itself. An existing fallback index keeps every entry: ours
    /// are added to it, as the distribution spec asks of clients.
    fn referrer_set(
        &self,
        src: usize,
        repo: &Repository,
        rs: &ReferrerSet,
        rr: &mut ReferrerReport,
        r: &mut ImageReport,
    ) -> Result<()> {
        let _tag = self.tag_claims.claim((repo.clone(), rs.tag.clone()));
        let ours = &rs.index.desc.digest;
        if self.digest_at(repo, &rs.tag)?.as_ref() == Some(ours) {
            // the tag lists exactly ours, and we put it there after the referrers
            rr.status = Status::Present;
            r.manifests_present += 1 + rs.referrers.len() as u64;
            return Ok(());
        }
        for t in &rs.referrers {
            self.ensure(src, repo, None, t, r)?;
        }
        let theirs = self.client.referrers(repo, &rs.subject, None)?;
        let ctx = format!("{repo}:{}", rs.tag);
        match theirs.source {
            ReferrersSource::Api => {
                rr.status = Status::Api;
            }
            ReferrersSource::None => {
                if !self.dry_run {
                    self.client.put_manifest(
                        repo,
                        &rs.tag,
                        &rs.index.raw,
                        &rs.index.desc.media_type,
                    )?;
                }
                r.manifests_pushed += 1;
                rr.status = self.sent_status();
            }
            ReferrersSource::FallbackTag => {
                rr.kept = theirs.manifests.len();
                let have: HashSet<&Digest> = theirs.manifests.iter().map(|d| &d.digest).collect();
                let new: Vec<Descriptor> = rs
                    .listed
                    .iter()
                    .filter(|d| !have.contains(&d.digest))
                    .cloned()
                    .collect();
                if new.is_empty() {
                    rr.status = Status::Contained;
                    return Ok(());
                }
                if self.dry_run {
                    rr.status = Status::WouldMerge;
                    return Ok(());
                }
                let mut merged = theirs.manifests;
                merged.extend(new);
                let bytes = Index::listing(merged).to_bytes();
                self.client.put_manifest(repo, &rs.tag, &bytes, OCI_INDEX)?;
                r.manifests_pushed += 1;
                rr.status = Status::Merged;
            }
            ReferrersSource::FallbackRejected(why) => {
                return Err(Error::Registry(format!(
                    "{ctx}: the destination's fallback tag is not a referrers index ({why}); not overwriting it"
                )));
            }
        }
        Ok(())
    }

    /// An artifact tag: pushed if absent, left if it is ours, merged if it holds
    /// other signatures (`.sig`, `.att`); a different `.sbom` is replaced.
    fn artifact(
        &self,
        src: usize,
        repo: &Repository,
        a: &Artifact,
        ar: &mut ArtifactReport,
        r: &mut ImageReport,
    ) -> Result<()> {
        let ours = a.tree.root().desc.digest.clone();
        let Some(theirs) = self.digest_at(repo, &a.tag)? else {
            self.push_tree(src, repo, Some(&a.tag), &a.tree, r)?;
            if a.kind == ArtifactKind::Signature && !self.dry_run {
                self.confirm(repo, &a.tag, &ours)?;
            }
            ar.status = self.sent_status();
            ar.destination_digest = (!self.dry_run).then(|| ours.to_string());
            return Ok(());
        };
        if theirs == ours {
            r.blobs.present += a.tree.blobs.len() as u64;
            r.manifests_present += a.tree.manifests.len() as u64;
            ar.status = Status::Present;
            ar.destination_digest = Some(ours.to_string());
            return Ok(());
        }
        let Some(mine) = &a.layers else {
            r.warnings.push(format!(
                "{repo}:{}: replacing the destination's {theirs} with ours",
                a.tag
            ));
            self.push_tree(src, repo, Some(&a.tag), &a.tree, r)?;
            ar.status = if self.dry_run {
                Status::WouldPush
            } else {
                Status::Replaced
            };
            ar.destination_digest = (!self.dry_run).then(|| ours.to_string());
            return Ok(());
        };
        self.merge(src, repo, a, mine, ar, r)
    }

    /// Starts from the destination's artifact and appends each of our layers it
    /// lacks (same digest and annotations = same layer), as `cosign sign` appends.
    fn merge(
        &self,
        src: usize,
        repo: &Repository,
        a: &Artifact,
        mine: &SignatureArtifact,
        ar: &mut ArtifactReport,
        r: &mut ImageReport,
    ) -> Result<()> {
        let ctx = format!("{repo}:{}", a.tag);
        let m = self.client.get_manifest(repo, &a.tag, &[])?;
        let desc = Descriptor::new(&m.media_type, m.digest.clone(), m.bytes.len() as u64);
        let doc = manifest::parse(&m.bytes, &desc, &format!("{ctx} at the destination"))?;
        let Document::Manifest { config, layers, .. } = doc else {
            return Err(Error::Registry(format!(
                "{ctx}: the destination's artifact is an index, not a signature image: refusing to replace it"
            )));
        };
        // which of our signatures it lacks, before its config is fetched: a
        // destination holding them all costs no more requests
        let theirs: Vec<SigLayer> = layers.into_iter().map(SigLayer::from).collect();
        let new: Vec<&SigLayer> = mine
            .layers
            .iter()
            .filter(|l| !theirs.iter().any(|t| t.same_signature(l)))
            .collect();
        ar.kept_layers = theirs.len();
        if new.is_empty() {
            ar.status = Status::Contained;
            ar.destination_digest = Some(m.digest.to_string());
            return Ok(());
        }
        if self.dry_run {
            ar.status = Status::WouldMerge;
            return Ok(());
        }
        if config.size > MAX_MANIFEST {
            return Err(Error::Registry(format!(
                "{ctx}: the destination's config {} is {} bytes, over the {MAX_MANIFEST}-byte limit",
                config.digest, config.size
            )));
        }
        let mut config_raw = Vec::new();
        self.client
            .fetch_blob(repo, &config.digest, Some(config.size), &mut config_raw)?;
        // read as the source's is, so the merge re-serialises like cosign
        let merged = SignatureArtifact::from_manifest(&desc, &m.bytes, |_| Ok(config_raw))?
            .merged_with(mine)?;
        let payloads: Vec<Descriptor> = new
            .iter()
            .map(|l| Descriptor::new(&l.media_type, l.digest.clone(), l.size))
            .collect();
        self.blobs(src, repo, &payloads, r)?;
        let (config_bytes, manifest_bytes) = merged.to_bytes();
        let cd = Digest::sha256(&config_bytes);
        if self.client.blob_exists(repo, &cd)?.is_none() {
            self.client.upload_blob(
                repo,
                &cd,
                config_bytes.len() as u64,
                &mut Cursor::new(&config_bytes),
            )?;
            r.blobs.uploaded += 1;
            r.blobs.bytes_sent += config_bytes.len() as u64;
        }
        let got = self
            .client
            .put_manifest(repo, &a.tag, &manifest_bytes, &m.media_type)?;
        if a.kind == ArtifactKind::Signature {
            self.confirm(repo, &a.tag, &got)?;
        }
        r.manifests_pushed += 1;
        ar.status = Status::Merged;
        ar.destination_digest = Some(got.to_string());
        Ok(())
    }
}

/// One repository of the destination as the copy engine's sink, for one tree: each
/// blob HEADed, mounted or uploaded by the pusher (it reads the source itself, as
/// the seekable stream a resumed upload needs); documents after all they name,
/// child manifests by digest (skipped when the registry has them), the root by the
/// tag.
struct RepoSink<'p, 'r> {
    pusher: &'p Pusher<'p>,
    src: usize,
    repo: &'r Repository,
    tag: Option<&'r str>,
    r: &'r mut ImageReport,
    /// The tree's documents, in the order `copy::send` puts them (children first, the
    /// root last): those before `next` are what a refused manifest's children are put
    /// again from (see [`Pusher::heal`]).
    docs: &'r [Doc],
    next: usize,
}

impl Sink for RepoSink<'_, '_> {
    fn location(&self) -> String {
        self.repo.to_string()
    }

    /// Asked per blob by the pusher, which knows what this run has seen.
    fn has_blob(&mut self, _desc: &Descriptor) -> Result<bool> {
        Ok(false)
    }

    fn put_blob(&mut self, desc: &Descriptor, _r: &mut dyn Read) -> Result<bool> {
        self.pusher
            .blobs(self.src, self.repo, std::slice::from_ref(desc), self.r)?;
        Ok(true)
    }

    fn put_blobs(
        &mut self,
        _source: &dyn ReadLayout,
        blobs: &[Descriptor],
        _progress: &dyn crate::copy::Progress,
    ) -> Result<Copied> {
        self.pusher.blobs(self.src, self.repo, blobs, self.r)?;
        Ok(Copied::default())
    }

    fn children_first(&self) -> bool {
        true
    }

    fn put_document(&mut self, desc: &Descriptor, raw: &[u8]) -> Result<bool> {
        let (p, repo) = (self.pusher, self.repo);
        let i = self.next;
        self.next += 1;
        let (before, m) = (&self.docs[..i], &self.docs[i]);
        debug_assert_eq!(
            m.desc.digest, desc.digest,
            "send puts the tree's documents in order"
        );
        let is_root = i + 1 == self.docs.len();
        let reference = match self.tag {
            Some(t) if is_root => t.to_owned(),
            _ => {
                let d = desc.digest.to_string();
                if !is_root && p.client.head_manifest(repo, &d, &[])?.is_some() {
                    self.r.manifests_present += 1;
                    return Ok(false);
                }
                d
            }
        };
        if !p.dry_run {
            match p
                .client
                .put_manifest(repo, &reference, raw, &desc.media_type)
            {
                Err(Error::NotFound(why)) if !before.is_empty() => {
                    p.heal(repo, before, &reference, m, &why, self.r)?;
                }
                res => {
                    res?;
                }
            }
        }
        self.r.manifests_pushed += 1;
        Ok(true)
    }
}
