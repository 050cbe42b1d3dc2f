//! Where a pull writes: a [`Sink`] whose blobs each land in the layout on their own,
//! as soon as they are whole and verified, several at once (an interrupted pull
//! keeps what arrived, and a rerun skips it), while the documents wait in memory
//! for the caller, who stages them with the `index.json` entries in one commit —
//! so no name ever points at an incomplete image.

use std::collections::HashSet;
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::descriptor::Descriptor;
use super::layout::Layout;
use super::source::ReadLayout;
use crate::copy::{Copied, Counting, Progress, Sink};
use crate::digest::Digest;
use crate::{Error, Result};

pub struct Landing<'a> {
    layout: &'a Layout,
    jobs: usize,
    /// The documents read, in walk order (roots first), to stage at commit.
    pub documents: Vec<(Descriptor, Vec<u8>)>,
    have: HashSet<Digest>,
}

impl<'a> Landing<'a> {
    /// Lands blobs in `layout` on up to `jobs` threads.
    pub fn new(layout: &'a Layout, jobs: usize) -> Landing<'a> {
        Landing {
            layout,
            jobs: jobs.max(1),
            documents: Vec::new(),
            have: HashSet::new(),
        }
    }

    fn land(layout: &Layout, desc: &Descriptor, mut r: &mut dyn Read) -> Result<bool> {
        let mut tx = layout.begin()?;
        let new = tx.put_blob(&desc.digest, desc.size, &mut r)?;
        tx.land()?;
        Ok(new)
    }
}

impl Sink for Landing<'_> {
    fn location(&self) -> String {
        self.layout.root().display().to_string()
    }

    fn has_blob(&mut self, desc: &Descriptor) -> Result<bool> {
        Ok(self.have.contains(&desc.digest) || self.layout.holds(desc)?)
    }

    fn put_document(&mut self, desc: &Descriptor, raw: &[u8]) -> Result<bool> {
        if !self.have.insert(desc.digest.clone()) {
            return Ok(false);
        }
        self.documents.push((desc.clone(), raw.to_vec()));
        Ok(true)
    }

    fn put_blob(&mut self, desc: &Descriptor, r: &mut dyn Read) -> Result<bool> {
        Landing::land(self.layout, desc, r)
    }

    /// On up to `jobs` threads; the first failure stops the others, and what
    /// landed stays.
    fn put_blobs(
        &mut self,
        source: &dyn ReadLayout,
        blobs: &[Descriptor],
        progress: &dyn Progress,
    ) -> Result<Copied> {
        if source.sequential() {
            return crate::copy::put_each(self, source, blobs, progress);
        }
        let next = AtomicUsize::new(0);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let done: Mutex<Copied> = Mutex::new(Copied::default());
        let layout = self.layout;
        std::thread::scope(|s| {
            for _ in 0..self.jobs.min(blobs.len()) {
                s.spawn(|| {
                    while let Some(b) = blobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let landed = source
                            .open_described(b)
                            .and_then(|r| Landing::land(layout, b, &mut Counting(r, progress)));
                        match landed {
                            Ok(new) => {
                                if new {
                                    done.lock().unwrap_or_else(|p| p.into_inner()).add(b);
                                }
                                progress.blob(&b.digest);
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
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(done.into_inner().unwrap_or_else(|p| p.into_inner())),
        }
    }
}
