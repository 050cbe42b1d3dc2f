//! Read access to an OCI layout wherever it is — a directory or an archive — so that
//! listing, resolving, verifying and copying never special-case the medium.

use std::io::Read;
use std::path::Path;

use super::descriptor::{Descriptor, Index};
use crate::Result;
use crate::digest::Digest;

/// `Sync`, so several threads can read blobs of one layout at once (import).
pub trait ReadLayout: Sync {
    /// Where the layout is (a directory or an archive file), for messages.
    fn location(&self) -> &Path;

    /// The layout's `index.json`, validated.
    fn read_index(&self) -> Result<Index>;

    /// A whole blob (at most `max` bytes), checked against its descriptor's size and
    /// digest. For manifests, indexes, configs and payloads; never for layers.
    fn read_blob(&self, desc: &Descriptor, max: u64) -> Result<Vec<u8>>;

    /// A blob as a stream and its stored size, `None` if absent. The bytes are as
    /// stored: whoever consumes them hashes them.
    fn open_blob(&self, d: &Digest) -> Result<Option<(Box<dyn Read + '_>, u64)>>;

    /// A blob as a stream, its descriptor known: refused when missing, or when the
    /// medium stores another size than the descriptor says. The bytes are as stored
    /// (the copy engine reads them through the verifying reader). A registry opens a
    /// download here that resumes where a broken connection left it.
    fn open_described(&self, desc: &Descriptor) -> Result<Box<dyn Read + '_>> {
        match self.open_blob(&desc.digest)? {
            None => Err(missing(self.location(), desc)),
            Some((_, len)) if len != desc.size => Err(wrong_size(self.location(), desc, len)),
            Some((r, _)) => Ok(r),
        }
    }

    fn has_blob(&self, d: &Digest) -> Result<bool>;

    /// Every blob the layout holds, with its stored size (referrers kept only in
    /// the blobs are found this way).
    fn blob_list(&self) -> Result<Vec<(Digest, u64)>>;

    /// Whether blobs come best in one sequential pass (a compressed archive) rather
    /// than opened one by one, in any order and on several threads.
    fn sequential(&self) -> bool {
        false
    }

    /// Calls `f` with each blob of `wanted` that the layout holds, its stored size and
    /// its bytes as stored, in the order the medium reads best. `f` must check what it
    /// reads (the copy engine does, through the verifying reader).
    fn visit_blobs(
        &self,
        wanted: &[Digest],
        f: &mut dyn FnMut(&Digest, u64, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        for d in wanted {
            if let Some((mut r, len)) = self.open_blob(d)? {
                f(d, len, &mut r)?;
            }
        }
        Ok(())
    }

    /// Up to `n` first bytes of a blob as stored (empty if absent, or where that
    /// is costly: a compressed archive's blob not kept in memory).
    fn peek(&self, d: &Digest, n: usize) -> Result<Vec<u8>> {
        let Some((r, _)) = self.open_blob(d)? else {
            return Ok(Vec::new());
        };
        let mut buf = Vec::with_capacity(n);
        r.take(n as u64)
            .read_to_end(&mut buf)
            .map_err(|e| crate::Error::io(format!("reading blob {d}"), e))?;
        Ok(buf)
    }
}

/// A borrowed layout reads as the layout itself (so a [`crate::store::resolve::Catalog`]
/// can borrow or own its layout).
impl<T: ReadLayout + ?Sized> ReadLayout for &T {
    fn location(&self) -> &Path {
        (**self).location()
    }

    fn read_index(&self) -> Result<Index> {
        (**self).read_index()
    }

    fn read_blob(&self, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        (**self).read_blob(desc, max)
    }

    fn open_blob(&self, d: &Digest) -> Result<Option<(Box<dyn Read + '_>, u64)>> {
        (**self).open_blob(d)
    }

    fn open_described(&self, desc: &Descriptor) -> Result<Box<dyn Read + '_>> {
        (**self).open_described(desc)
    }

    fn has_blob(&self, d: &Digest) -> Result<bool> {
        (**self).has_blob(d)
    }

    fn blob_list(&self) -> Result<Vec<(Digest, u64)>> {
        (**self).blob_list()
    }

    fn sequential(&self) -> bool {
        (**self).sequential()
    }

    fn visit_blobs(
        &self,
        wanted: &[Digest],
        f: &mut dyn FnMut(&Digest, u64, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        (**self).visit_blobs(wanted, f)
    }

    fn peek(&self, d: &Digest, n: usize) -> Result<Vec<u8>> {
        (**self).peek(d, n)
    }
}

impl<T: ReadLayout + ?Sized> ReadLayout for Box<T> {
    fn location(&self) -> &Path {
        (**self).location()
    }

    fn read_index(&self) -> Result<Index> {
        (**self).read_index()
    }

    fn read_blob(&self, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        (**self).read_blob(desc, max)
    }

    fn open_blob(&self, d: &Digest) -> Result<Option<(Box<dyn Read + '_>, u64)>> {
        (**self).open_blob(d)
    }

    fn open_described(&self, desc: &Descriptor) -> Result<Box<dyn Read + '_>> {
        (**self).open_described(desc)
    }

    fn has_blob(&self, d: &Digest) -> Result<bool> {
        (**self).has_blob(d)
    }

    fn blob_list(&self) -> Result<Vec<(Digest, u64)>> {
        (**self).blob_list()
    }

    fn sequential(&self) -> bool {
        (**self).sequential()
    }

    fn visit_blobs(
        &self,
        wanted: &[Digest],
        f: &mut dyn FnMut(&Digest, u64, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        (**self).visit_blobs(wanted, f)
    }

    fn peek(&self, d: &Digest, n: usize) -> Result<Vec<u8>> {
        (**self).peek(d, n)
    }
}

/// A blob a layout lacks, named with where it was looked for.
pub(crate) fn missing(location: &Path, b: &Descriptor) -> crate::Error {
    crate::Error::NotFound(format!(
        "{}: blob {} ({}) is missing",
        location.display(),
        b.digest,
        b.media_type
    ))
}

/// A blob a layout holds with another size than its descriptor says.
pub(crate) fn wrong_size(location: &Path, b: &Descriptor, len: u64) -> crate::Error {
    crate::Error::invalid(format!(
        "{}: blob {} is {len} bytes, its descriptor says {}",
        location.display(),
        b.digest,
        b.size
    ))
}
