//! Fetching one tree — a manifest or index and everything below it — from a
//! repository into the store. Manifests and indexes are kept as the registry's exact
//! bytes (fetched by digest, so they hash to what their parent names) and staged by
//! the caller; configs and layers stream to disk on `jobs` threads, each hashed and
//! size-checked before it lands, and each landed on its own so that an interrupted
//! pull keeps what arrived.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::ProgressBar;
use serde::Serialize;

use crate::digest::Digest;
use crate::registry::{RegistryClient, Repository};
use crate::store::manifest::{self, MAX_DEPTH, MAX_MANIFEST};
use crate::store::{Descriptor, Kind, Layout};
use crate::{Error, Result};

/// What a pull fetched and what the store already had.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counts {
    pub manifests_fetched: u64,
    pub manifests_present: u64,
    pub blobs_fetched: u64,
    pub blobs_present: u64,
    /// Bytes of configs and layers downloaded.
    pub bytes_fetched: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.manifests_fetched += o.manifests_fetched;
        self.manifests_present += o.manifests_present;
        self.blobs_fetched += o.blobs_fetched;
        self.blobs_present += o.blobs_present;
        self.bytes_fetched += o.bytes_fetched;
    }
}

/// A manifest or index and its exact bytes.
#[derive(Clone, Debug)]
pub struct Doc {
    pub desc: Descriptor,
    pub raw: Vec<u8>,
}

/// One fetched tree.
#[derive(Debug, Default)]
pub struct Tree {
    /// Manifests and indexes, the root first; to be staged by the caller.
    pub docs: Vec<Doc>,
    /// Every config and layer the tree names (now all in the store).
    pub blobs: Vec<Digest>,
}

pub struct Fetcher<'a> {
    pub client: &'a RegistryClient,
    pub store: &'a Layout,
    pub jobs: usize,
    pub bytes: &'a ProgressBar,
}

impl Fetcher<'_> {
    /// A manifest or index by digest: from the store when it has it, else from the
    /// registry (whose bytes must hash to the digest and have the descriptor's size).
    pub fn document(
        &self,
        repo: &Repository,
        desc: &Descriptor,
        counts: &mut Counts,
    ) -> Result<Vec<u8>> {
        // refused before a request: nothing above the cap is ever read
        if desc.size > MAX_MANIFEST {
            return Err(Error::invalid(format!(
                "{repo}: manifest {} is {} bytes, over the {MAX_MANIFEST}-byte limit",
                desc.digest, desc.size
            )));
        }
        if self.store.has_blob(&desc.digest)? {
            counts.manifests_present += 1;
            return self.store.read_blob(desc, MAX_MANIFEST);
        }
        let m = self
            .client
            .get_manifest(repo, &desc.digest.to_string(), &[])?;
        if m.bytes.len() as u64 != desc.size {
            return Err(Error::Registry(format!(
                "{repo}: manifest {} is {} bytes, its descriptor says {}",
                desc.digest,
                m.bytes.len(),
                desc.size
            )));
        }
        counts.manifests_fetched += 1;
        Ok(m.bytes)
    }

    /// Fetches everything below `root` (whose bytes the caller has), downloads the
    /// blobs the store lacks, and returns the documents to stage.
    pub fn tree(&self, repo: &Repository, root: Doc, counts: &mut Counts) -> Result<Tree> {
        let mut tree = Tree::default();
        let mut seen_docs: HashSet<Digest> = HashSet::from([root.desc.digest.clone()]);
        let mut seen_blobs: HashMap<Digest, u64> = HashMap::new();
        let mut missing: Vec<Descriptor> = Vec::new();
        let mut stack = vec![(root, 0usize)];
        while let Some((doc, depth)) = stack.pop() {
            let what = format!("{repo}: {} {}", doc.desc.media_type, doc.desc.digest);
            let parsed = manifest::parse(&doc.raw, &doc.desc, &what)?;
            for child in parsed.children() {
                if child.kind() == Kind::Blob {
                    // one digest, one size: a second descriptor of the same bytes
                    // with another size would be stored unchecked otherwise
                    if let Some(size) = seen_blobs.get(&child.digest) {
                        if *size != child.size {
                            return Err(Error::invalid(format!(
                                "{what}: blob {} is described as {} bytes and as {size}",
                                child.digest, child.size
                            )));
                        }
                        continue;
                    }
                    seen_blobs.insert(child.digest.clone(), child.size);
                    tree.blobs.push(child.digest.clone());
                    match self.store.open_blob(&child.digest)? {
                        // the store's copy was verified when it landed; its size
                        // must still be the descriptor's
                        Some((_, len)) if len != child.size => {
                            return Err(Error::invalid(format!(
                                "{what}: blob {} is {} bytes, the store's is {len}",
                                child.digest, child.size
                            )));
                        }
                        Some(_) => counts.blobs_present += 1,
                        None => missing.push(child.clone()),
                    }
                    continue;
                }
                if !seen_docs.insert(child.digest.clone()) {
                    continue;
                }
                if depth + 1 > MAX_DEPTH {
                    return Err(Error::invalid(format!(
                        "{what}: indexes nested deeper than {MAX_DEPTH}"
                    )));
                }
                let raw = self.document(repo, child, counts)?;
                stack.push((
                    Doc {
                        desc: child.clone(),
                        raw,
                    },
                    depth + 1,
                ));
            }
            tree.docs.push(doc);
        }
        self.download(repo, &missing, counts)?;
        Ok(tree)
    }

    /// Downloads blobs on up to `jobs` threads, each into its own staged write that
    /// lands as soon as the blob is complete and verified. The first failure stops
    /// the others; blobs already landed stay (a rerun skips them).
    fn download(&self, repo: &Repository, blobs: &[Descriptor], counts: &mut Counts) -> Result<()> {
        if blobs.is_empty() {
            return Ok(());
        }
        self.bytes
            .inc_length(blobs.iter().map(|b| b.size).sum::<u64>());
        let next = AtomicUsize::new(0);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let done: Mutex<(u64, u64)> = Mutex::new((0, 0));
        let threads = self.jobs.clamp(1, blobs.len());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(b) = blobs.get(i) else {
                            return;
                        };
                        match self.blob(repo, b) {
                            Ok(fetched) => {
                                let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
                                if fetched {
                                    d.0 += 1;
                                    d.1 += b.size;
                                }
                            }
                            Err(e) => {
                                next.store(usize::MAX / 2, Ordering::Relaxed);
                                first_error
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .get_or_insert(e);
                                return;
                            }
                        }
                    }
                });
            }
        });
        let (n, bytes) = done.into_inner().unwrap_or_else(|p| p.into_inner());
        counts.blobs_fetched += n;
        counts.bytes_fetched += bytes;
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One blob: streamed, resumed after a break, hashed and size-checked, landed.
    /// False if another writer landed it meanwhile.
    fn blob(&self, repo: &Repository, b: &Descriptor) -> Result<bool> {
        let (digest, size) = (&b.digest, b.size);
        // the client reopens a broken body from the byte reached, under its retry
        // policy; the store hashes and size-checks what it reads
        let reader = self.client.open_blob(repo, digest, size);
        let mut reader = self.bytes.wrap_read(reader);
        let mut tx = self.store.begin()?;
        let staged = tx
            .put_blob(digest, size, &mut reader)
            .map_err(|e| match e {
                // the store's "content hashes to …": say which registry sent it
                Error::Invalid(m) => Error::Invalid(format!("{repo}: {m}")),
                Error::DigestMismatch(m) => Error::DigestMismatch(format!("{repo}: {m}")),
                Error::Io { context, source } => {
                    Error::Registry(format!("{repo}: {context}: {source}"))
                }
                e => e,
            })?;
        tx.land()?;
        Ok(staged)
    }
}
