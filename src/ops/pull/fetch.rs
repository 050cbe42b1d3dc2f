//! Fetching one tree — a manifest or index and everything below it — from a
//! repository into the store. Manifests and indexes are kept as the registry's exact
//! bytes (fetched by digest, so they hash to what their parent names) and staged by
//! the caller; configs and layers stream to disk on `jobs` threads, each hashed and
//! size-checked before it lands, and each landed on its own so that an interrupted
//! pull keeps what arrived.

use std::sync::atomic::Ordering;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::Result;
use crate::copy::{self, copy};
use crate::digest::Digest;
use crate::registry::{RegistryClient, Repository, RepositorySource};
use crate::store::landing::Landing;
use crate::store::manifest::MAX_MANIFEST;
use crate::store::{Descriptor, Layout, ReadLayout};

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
    fn source<'s>(&'s self, repo: &Repository) -> RepositorySource<'s> {
        RepositorySource::new(self.client, repo).with_cache(self.store)
    }

    /// A manifest or index by digest: from the store when it has it, else from the
    /// registry (whose bytes must hash to the digest and have the descriptor's size).
    pub fn document(
        &self,
        repo: &Repository,
        desc: &Descriptor,
        counts: &mut Counts,
    ) -> Result<Vec<u8>> {
        let source = self.source(repo);
        let raw = source.read_blob(desc, MAX_MANIFEST)?;
        count_documents(&source, counts);
        Ok(raw)
    }

    /// Everything below `root` (whose bytes the caller has): one copy from the
    /// repository into the store ([`crate::copy`]), blobs landing as they arrive on
    /// `jobs` threads; the documents come back for the caller to stage with its
    /// entries.
    pub fn tree(&self, repo: &Repository, root: Doc, counts: &mut Counts) -> Result<Tree> {
        let source = self.source(repo);
        source.know(&root.desc.digest, root.raw);
        let mut sink = Landing::new(self.store, self.jobs);
        let copied = copy(&source, &mut sink, &[root.desc], &Bar(self.bytes))?;
        count_documents(&source, counts);
        counts.blobs_present += copied.present;
        counts.blobs_fetched += copied.blobs - copied.documents;
        counts.bytes_fetched += copied.bytes - copied.document_bytes;
        Ok(Tree {
            docs: sink
                .documents
                .into_iter()
                .map(|(desc, raw)| Doc { desc, raw })
                .collect(),
            blobs: copied.walked_blobs.into_iter().map(|b| b.digest).collect(),
        })
    }
}

fn count_documents(source: &RepositorySource<'_>, counts: &mut Counts) {
    counts.manifests_present += source.documents_present.load(Ordering::Relaxed);
    counts.manifests_fetched += source.documents_fetched.load(Ordering::Relaxed);
}

/// The bytes bar all of a pull's images share.
struct Bar<'a>(&'a ProgressBar);

impl copy::Progress for Bar<'_> {
    fn total(&self, bytes: u64) {
        self.0.inc_length(bytes);
    }

    fn bytes(&self, n: u64) {
        self.0.inc(n);
    }
}
