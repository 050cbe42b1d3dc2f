//! An `oci-archive` being written, as a [`Sink`] of the copy engine: `oci-layout`
//! and `index.json` first (so a streaming reader knows the whole content before the
//! first blob), then every blob — manifests and indexes among them — sorted by
//! path, so the bytes depend only on the content. Documents (at most 4 MiB each,
//! read whole anyway) wait in memory for their place in that order; layers stream.
//! Nothing is visible at the destination before [`ArchiveSink::finish`] renames the
//! file(s) into place.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::Path;

use super::output::{Output, WrittenFile};
use super::writer::{Compression, TarWriter, blob_path};
use crate::Result;
use crate::copy::{Copied, Counting, Progress, Sink, copy};
use crate::digest::Digest;
use crate::store::ReadLayout;
use crate::store::descriptor::Descriptor;

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

pub struct ArchiveSink {
    tar: TarWriter<Output>,
    written: HashSet<Digest>,
    /// Documents not yet written, by path.
    documents: BTreeMap<String, (Descriptor, Vec<u8>)>,
    location: String,
}

impl ArchiveSink {
    /// Starts the archive at `path` (numbered parts of `split` bytes, if given) with
    /// its `index.json` bytes.
    pub fn create(
        path: &Path,
        compression: Compression,
        split: Option<u64>,
        index: &[u8],
    ) -> Result<ArchiveSink> {
        let mut tar = TarWriter::new(Output::create(path, split)?, compression);
        tar.append_bytes("oci-layout", OCI_LAYOUT)?;
        tar.append_bytes("index.json", index)?;
        Ok(ArchiveSink {
            tar,
            written: HashSet::new(),
            documents: BTreeMap::new(),
            location: path.display().to_string(),
        })
    }

    /// Ends the archive and puts it in place.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>> {
        for (_, (desc, raw)) in std::mem::take(&mut self.documents) {
            self.put_blob(&desc, &mut &raw[..])?;
        }
        self.tar.finish()?.commit()
    }
}

impl Sink for ArchiveSink {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn has_blob(&mut self, desc: &Descriptor) -> Result<bool> {
        let d = &desc.digest;
        Ok(self.written.contains(d) || self.documents.contains_key(&blob_path(d)))
    }

    fn put_document(&mut self, desc: &Descriptor, raw: &[u8]) -> Result<bool> {
        if self.has_blob(desc)? {
            return Ok(false);
        }
        self.documents
            .insert(blob_path(&desc.digest), (desc.clone(), raw.to_vec()));
        Ok(true)
    }

    fn put_blob(&mut self, desc: &Descriptor, r: &mut dyn Read) -> Result<bool> {
        let d = &desc.digest;
        if self.written.contains(d) {
            return Ok(false);
        }
        self.tar
            .append_blob(&blob_path(d), d, desc.size, r, &mut |_| {})?;
        self.written.insert(d.clone());
        Ok(true)
    }

    fn put_blobs(
        &mut self,
        source: &dyn ReadLayout,
        blobs: &[Descriptor],
        progress: &dyn Progress,
    ) -> Result<Copied> {
        let mut sorted: Vec<(String, &Descriptor)> =
            blobs.iter().map(|b| (blob_path(&b.digest), b)).collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut copied = Copied::default();
        for (path, b) in sorted {
            // the documents that sort before this blob go first
            while let Some(entry) = self.documents.first_entry() {
                if *entry.key() > path {
                    break;
                }
                let (desc, raw) = entry.remove();
                self.put_blob(&desc, &mut &raw[..])?;
            }
            let mut r = Counting(source.open_described(b)?, progress);
            if self.put_blob(b, &mut r)? {
                copied.add(b);
            }
            progress.blob(&b.digest);
        }
        Ok(copied)
    }
}

/// Writes the trees under `roots` of `source` as an `oci-archive` at `path` whose
/// `index.json` is `index`; every blob is verified on its way in.
pub fn write_archive(
    source: &dyn ReadLayout,
    roots: &[Descriptor],
    index: &[u8],
    path: &Path,
    compression: Compression,
    split: Option<u64>,
    progress: &dyn Progress,
) -> Result<Vec<WrittenFile>> {
    let mut sink = ArchiveSink::create(path, compression, split, index)?;
    copy(source, &mut sink, roots, progress)?;
    sink.finish()
}
