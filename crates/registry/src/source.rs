//! A registry repository as a [`ReadLayout`], so that pulling is a copy like any
//! other ([`crate::copy`]): documents are `GET`s of manifests by digest (whose bytes
//! the client checks against the digest), blobs are downloads that resume after a
//! broken connection. A layout given as a cache (the store) serves the documents it
//! holds already, without a request.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::client::{RegistryClient, Repository};
use crate::digest::Digest;
use crate::store::descriptor::{Descriptor, Index};
use crate::store::manifest::MAX_MANIFEST;
use crate::store::source::ReadLayout;
use crate::{Error, Result};

pub struct RepositorySource<'a> {
    client: &'a RegistryClient,
    repo: Repository,
    shown: PathBuf,
    cache: Option<&'a dyn ReadLayout>,
    /// Documents the caller fetched already (the image's root, by tag).
    known: Mutex<HashMap<Digest, Vec<u8>>>,
    /// Documents found in the cache, and fetched.
    pub documents_present: AtomicU64,
    pub documents_fetched: AtomicU64,
}

impl<'a> RepositorySource<'a> {
    pub fn new(client: &'a RegistryClient, repo: &Repository) -> RepositorySource<'a> {
        RepositorySource {
            client,
            repo: repo.clone(),
            shown: PathBuf::from(repo.to_string()),
            cache: None,
            known: Mutex::new(HashMap::new()),
            documents_present: AtomicU64::new(0),
            documents_fetched: AtomicU64::new(0),
        }
    }

    /// Documents `cache` holds are read there.
    pub fn with_cache(mut self, cache: &'a dyn ReadLayout) -> Self {
        self.cache = Some(cache);
        self
    }

    /// A document whose bytes the caller has already (checked by the read).
    pub fn know(&self, digest: &Digest, raw: Vec<u8>) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.clone(), raw);
    }
}

impl ReadLayout for RepositorySource<'_> {
    fn location(&self) -> &Path {
        &self.shown
    }

    /// A registry has no `index.json`: what to copy is named by the caller.
    fn read_index(&self) -> Result<Index> {
        Err(Error::invalid(format!(
            "{}: a registry repository has no index.json; name the image",
            self.repo
        )))
    }

    fn read_blob(&self, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        let d = &desc.digest;
        // refused before a request: nothing above the cap is ever read
        if desc.size > max.min(MAX_MANIFEST) {
            return Err(Error::invalid(format!(
                "{}: manifest {d} is {} bytes, over the {}-byte limit",
                self.repo,
                desc.size,
                max.min(MAX_MANIFEST)
            )));
        }
        let known = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(d);
        if let Some(raw) = known {
            crate::verify::check_bytes(d, desc.size, &raw).map_err(|e| e.within(&self.repo))?;
            return Ok(raw);
        }
        if let Some(cache) = self.cache {
            match cache.read_blob(desc, max) {
                Ok(raw) => {
                    self.documents_present.fetch_add(1, Ordering::Relaxed);
                    return Ok(raw);
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let m = self.client.get_manifest(&self.repo, &d.to_string(), &[])?;
        if m.bytes.len() as u64 != desc.size {
            return Err(Error::Registry(format!(
                "{}: manifest {d} is {} bytes, its descriptor says {}",
                self.repo,
                m.bytes.len(),
                desc.size
            )));
        }
        self.documents_fetched.fetch_add(1, Ordering::Relaxed);
        Ok(m.bytes)
    }

    /// A blob whose size is not known: the registry's announced length stands in.
    fn open_blob(&self, d: &Digest) -> Result<Option<(Box<dyn Read + '_>, u64)>> {
        let r = match self.client.get_blob(&self.repo, d) {
            Ok(r) => r,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(len) = r.size() else {
            return Err(Error::Registry(format!(
                "{}: GET blob {d}: the registry does not say how long it is",
                self.repo
            )));
        };
        Ok(Some((Box::new(r), len)))
    }

    /// The resuming download ([`RegistryClient::open_blob`]): no request is made
    /// before the first read.
    fn open_described(&self, desc: &Descriptor) -> Result<Box<dyn Read + '_>> {
        Ok(Box::new(self.client.open_blob(
            &self.repo,
            &desc.digest,
            desc.size,
        )))
    }

    fn has_blob(&self, d: &Digest) -> Result<bool> {
        Ok(self.client.blob_exists(&self.repo, d)?.is_some())
    }

    /// A registry does not list its blobs: referrers are found by its Referrers
    /// API or fallback tag instead.
    fn blob_list(&self) -> Result<Vec<(Digest, u64)>> {
        Ok(Vec::new())
    }
}
