//! The one copy engine. Every medium is a [`Source`] (the read half: a layout
//! directory, an archive, a registry repository — anything implementing
//! [`ReadLayout`]) or a [`Sink`] (the write half: a store transaction, an archive
//! being written, …), and moving images between them is [`copy`]: the trees under
//! the given roots, walked by the one graph walker ([`crate::store::graph`]), with
//! manifests and indexes moved as their raw bytes and every blob streamed through
//! the one verifying reader ([`crate::verify`]) on its way into the sink.
//!
//! `copy` moves content only. Naming it (an `index.json` entry, a tag) is the
//! sink's commit, which its owner does after a successful copy: a failed copy
//! leaves the destination as it was.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

use crate::digest::Digest;
use crate::store::descriptor::{Descriptor, Kind};
use crate::store::graph::{self, Node, Visitor};
use crate::store::manifest::{Document, MAX_DEPTH};
use crate::store::source::{ReadLayout, missing, wrong_size};
use crate::verify::VerifyingReader;
use crate::{Error, Result};

/// Where blobs are read from: any medium's read half.
pub use crate::store::source::ReadLayout as Source;

/// The write half of a medium.
pub trait Sink {
    /// Where the sink writes, for messages.
    fn location(&self) -> String;

    /// Whether the sink holds the blob already (or has it staged). One it holds
    /// with another size than the descriptor's is an error, not a blob to skip.
    fn has_blob(&mut self, desc: &Descriptor) -> Result<bool>;

    /// Writes one blob from `r`, which the sink reads through a
    /// [`VerifyingReader`] for `desc`. False when it was there already.
    fn put_blob(&mut self, desc: &Descriptor, r: &mut dyn Read) -> Result<bool>;

    /// Writes a manifest or index: exactly `raw`, the bytes the source holds.
    fn put_document(&mut self, desc: &Descriptor, raw: &[u8]) -> Result<bool> {
        self.put_blob(desc, &mut &raw[..])
    }

    /// Whether documents must arrive after everything they name (a registry
    /// refuses a manifest whose blobs or children it lacks). Otherwise each is
    /// written as soon as it is read, and none is held in memory.
    fn children_first(&self) -> bool {
        false
    }

    /// Writes the blobs a copy needs ([`put_each`] unless the sink can do better,
    /// such as several at once on several cores).
    fn put_blobs(
        &mut self,
        source: &dyn ReadLayout,
        blobs: &[Descriptor],
        progress: &dyn Progress,
    ) -> Result<Copied> {
        put_each(self, source, blobs, progress)
    }
}

/// What a copy wrote that the sink did not have, and what it walked.
#[derive(Clone, Debug, Default)]
pub struct Copied {
    /// Blobs new in the sink, documents included, and their bytes.
    pub blobs: u64,
    pub bytes: u64,
    /// Of these, the documents (manifests and indexes).
    pub documents: u64,
    pub document_bytes: u64,
    /// Blobs (not documents) under the roots that the sink held already.
    pub present: u64,
    /// Every document under the roots, each once, in walk order (roots first).
    pub walked_documents: Vec<Descriptor>,
    /// Every other blob under the roots, each once.
    pub walked_blobs: Vec<Descriptor>,
}

impl Copied {
    pub fn add(&mut self, d: &Descriptor) {
        self.blobs += 1;
        self.bytes += d.size;
    }

    /// A document new in the sink (counted among the blobs too).
    pub fn add_document(&mut self, d: &Descriptor) {
        self.add(d);
        self.documents += 1;
        self.document_bytes += d.size;
    }

    /// Whether nothing was new in the sink.
    pub fn nothing_new(&self) -> bool {
        self.blobs == 0
    }
}

/// Hears how a copy goes (progress bars); every method does nothing by default.
pub trait Progress: Sync {
    /// The bytes of the blobs about to be copied (documents not included).
    fn total(&self, _bytes: u64) {}
    /// Bytes of a blob read.
    fn bytes(&self, _n: u64) {}
    /// A blob is in the sink (copied, or found there).
    fn blob(&self, _d: &Digest) {}
    /// Every document under one root is read.
    fn root(&self, _root: &Descriptor) {}
}

/// No progress shown.
pub struct Quiet;
impl Progress for Quiet {}

/// A reader that tells [`Progress::bytes`] what passes.
pub struct Counting<'a, R>(pub R, pub &'a dyn Progress);

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.bytes(n as u64);
        Ok(n)
    }
}

/// A manifest or index with its exact bytes.
#[derive(Clone, Debug)]
pub struct Doc {
    pub desc: Descriptor,
    pub raw: Vec<u8>,
}

/// Everything under some roots, read whole before anything is sent (for a sink that
/// needs documents after all they name, or a caller that plans before it sends).
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// Configs and layers, each once.
    pub blobs: Vec<Descriptor>,
    /// Manifests and indexes, each after every document it names: the (last) root
    /// is last.
    pub manifests: Vec<Doc>,
}

impl Tree {
    pub fn root(&self) -> &Doc {
        self.manifests.last().expect("a tree has its root")
    }
}

/// Reads the trees under `roots` whole, by the one graph walker and the copy's
/// rules (depth, one size per digest), without sending anything.
pub fn tree(source: &dyn ReadLayout, roots: &[Descriptor]) -> Result<Tree> {
    let mut walk = Walk::new(None, &Quiet);
    walk.hold = Some(Held::default());
    for root in roots {
        graph::walk(source, std::slice::from_ref(root), false, &mut walk)
            .map_err(|e| at_source(source, e))?;
    }
    let Held {
        mut docs,
        children,
        order,
    } = walk.hold.take().expect("held");
    let ordered = held_order(&children, &order, |d| docs.contains_key(d));
    Ok(Tree {
        blobs: walk.blobs,
        manifests: ordered
            .into_iter()
            .map(|d| {
                let (desc, raw) = docs.remove(&d).expect("each held once");
                Doc { desc, raw }
            })
            .collect(),
    })
}

/// Sends a tree read by [`tree`] into `sink`: the blobs it lacks, then the
/// documents, children first.
pub fn send(
    source: &dyn ReadLayout,
    sink: &mut dyn Sink,
    tree: &Tree,
    progress: &dyn Progress,
) -> Result<Copied> {
    let mut copied = Copied::default();
    let mut blobs = Vec::new();
    for b in &tree.blobs {
        copied.walked_blobs.push(b.clone());
        if sink.has_blob(b)? {
            copied.present += 1;
            progress.blob(&b.digest);
        } else {
            blobs.push(b.clone());
        }
    }
    transfer(source, sink, &blobs, progress, &mut copied)?;
    for doc in &tree.manifests {
        copied.walked_documents.push(doc.desc.clone());
        if sink.put_document(&doc.desc, &doc.raw)? {
            copied.add_document(&doc.desc);
        }
    }
    Ok(copied)
}

/// Copies the trees under `roots` from `source` into `sink`: documents (validated,
/// raw bytes), then every blob the sink lacks — in parallel when the source allows
/// it, in one sequential pass when it is a stream (a `.tar.zst`). Returns what was
/// new in the sink. Indexes nested more than [`MAX_DEPTH`] deep are refused.
///
/// Documents go to the sink as they are read, none held in memory — unless the
/// sink wants them after all they name ([`Sink::children_first`]): then the trees
/// are read whole first ([`tree`]) and sent ([`send`]).
pub fn copy(
    source: &dyn ReadLayout,
    sink: &mut dyn Sink,
    roots: &[Descriptor],
    progress: &dyn Progress,
) -> Result<Copied> {
    if sink.children_first() {
        let t = tree(source, roots)?;
        for root in roots {
            progress.root(root);
        }
        return send(source, sink, &t, progress);
    }
    let mut walk = Walk::new(Some(sink), progress);
    for root in roots {
        graph::walk(source, std::slice::from_ref(root), false, &mut walk)
            .map_err(|e| at_source(source, e))?;
        progress.root(root);
    }
    let Walk {
        sink,
        blobs,
        mut copied,
        ..
    } = walk;
    let sink = sink.expect("given");
    transfer(source, sink, &blobs, progress, &mut copied)?;
    Ok(copied)
}

/// The blobs a sink lacks, into it.
fn transfer(
    source: &dyn ReadLayout,
    sink: &mut dyn Sink,
    blobs: &[Descriptor],
    progress: &dyn Progress,
    copied: &mut Copied,
) -> Result<()> {
    progress.total(blobs.iter().map(|b| b.size).sum());
    let c = sink
        .put_blobs(source, blobs, progress)
        .map_err(|e| at_source(source, e))?;
    copied.blobs += c.blobs;
    copied.bytes += c.bytes;
    copied.present += c.present;
    Ok(())
}

/// [`Sink::put_blobs`] one blob at a time: in the source's own order and one pass
/// when it is a stream, else opened one by one. Refuses a blob the source lacks or
/// holds with another size.
pub fn put_each<S: Sink + ?Sized>(
    sink: &mut S,
    source: &dyn ReadLayout,
    blobs: &[Descriptor],
    progress: &dyn Progress,
) -> Result<Copied> {
    let mut copied = Copied::default();
    if !source.sequential() {
        for b in blobs {
            let mut r = Counting(source.open_described(b)?, progress);
            if sink.put_blob(b, &mut r)? {
                copied.add(b);
            }
            progress.blob(&b.digest);
        }
        return Ok(copied);
    }
    // the blobs not met yet
    let mut left: HashMap<&Digest, &Descriptor> = blobs.iter().map(|b| (&b.digest, b)).collect();
    let list: Vec<Digest> = blobs.iter().map(|b| b.digest.clone()).collect();
    source.visit_blobs(&list, &mut |d, len, r| {
        let Some(b) = left.remove(d) else {
            return Ok(());
        };
        if len != b.size {
            return Err(wrong_size(source.location(), b, len));
        }
        if sink.put_blob(b, &mut Counting(r, progress))? {
            copied.add(b);
        }
        progress.blob(d);
        Ok(())
    })?;
    match blobs.iter().find(|b| left.contains_key(&b.digest)) {
        Some(b) => Err(missing(source.location(), b)),
        None => Ok(copied),
    }
}

/// Documents held whole while a tree is read.
#[derive(Default)]
struct Held {
    docs: HashMap<Digest, (Descriptor, Vec<u8>)>,
    children: HashMap<Digest, Vec<Digest>>,
    order: Vec<Digest>,
}

/// Every held document after every held document it names (post-order).
fn held_order(
    children: &HashMap<Digest, Vec<Digest>>,
    order: &[Digest],
    held: impl Fn(&Digest) -> bool,
) -> Vec<Digest> {
    let mut out = Vec::with_capacity(order.len());
    let mut done: HashSet<&Digest> = HashSet::new();
    for root in order {
        // (digest, children pushed yet)
        let mut stack = vec![(root, false)];
        while let Some((d, expanded)) = stack.pop() {
            if done.contains(d) {
                continue;
            }
            if expanded {
                done.insert(d);
                out.push(d.clone());
                continue;
            }
            stack.push((d, true));
            for c in children.get(d).into_iter().flatten().rev() {
                if held(c) && !done.contains(c) {
                    stack.push((c, false));
                }
            }
        }
    }
    out
}

struct Walk<'a> {
    /// Where documents go as they are read; `None` while a tree is read whole.
    sink: Option<&'a mut dyn Sink>,
    hold: Option<Held>,
    /// Blobs to send: those the sink lacks (all of them without a sink).
    blobs: Vec<Descriptor>,
    /// Each blob's size as first described.
    seen_blobs: HashMap<Digest, u64>,
    copied: Copied,
    progress: &'a dyn Progress,
}

impl<'a> Walk<'a> {
    fn new(sink: Option<&'a mut dyn Sink>, progress: &'a dyn Progress) -> Walk<'a> {
        Walk {
            sink,
            hold: None,
            blobs: Vec::new(),
            seen_blobs: HashMap::new(),
            copied: Copied::default(),
            progress,
        }
    }

    /// A blob met under a document (or as a root): once per digest, with one size.
    fn blob(&mut self, d: &Descriptor) -> Result<()> {
        match self.seen_blobs.get(&d.digest) {
            // one digest, one size: a second descriptor of the same bytes with
            // another size is a forgery (or a broken tool), not a second blob
            Some(&size) if size != d.size => Err(Error::invalid(format!(
                "blob {} is described as {} bytes and as {size}",
                d.digest, d.size
            ))),
            Some(_) => Ok(()),
            None => {
                self.seen_blobs.insert(d.digest.clone(), d.size);
                self.copied.walked_blobs.push(d.clone());
                let held = match &mut self.sink {
                    Some(sink) => sink.has_blob(d)?,
                    None => false,
                };
                if held {
                    self.copied.present += 1;
                    self.progress.blob(&d.digest);
                } else {
                    self.blobs.push(d.clone());
                }
                Ok(())
            }
        }
    }
}

impl Visitor for Walk<'_> {
    fn node(&mut self, node: &Node) -> Result<bool> {
        let d = &node.desc;
        if d.kind() == Kind::Blob {
            // blobs below a document were taken when it was read
            if node.parent.is_none() {
                self.blob(d)?;
            }
            return Ok(false);
        }
        if node.depth > MAX_DEPTH {
            return Err(Error::invalid(format!(
                "{} {}: indexes nested more than {MAX_DEPTH} deep",
                d.media_type, d.digest
            )));
        }
        Ok(true)
    }

    fn raw(&mut self, node: &Node, raw: &[u8]) -> Result<()> {
        let d = &node.desc;
        self.copied.walked_documents.push(d.clone());
        if let Some(held) = &mut self.hold {
            held.order.push(d.digest.clone());
            held.docs
                .insert(d.digest.clone(), (d.clone(), raw.to_vec()));
        } else if let Some(sink) = &mut self.sink
            && sink.put_document(d, raw)?
        {
            self.copied.add_document(d);
        }
        Ok(())
    }

    fn document(&mut self, node: &Node, doc: Result<&Document>) -> Result<()> {
        let doc = doc?;
        let children = doc.children();
        for c in &children {
            if c.kind() == Kind::Blob {
                self.blob(c)?;
            }
        }
        if let Some(held) = &mut self.hold {
            held.children.insert(
                node.desc.digest.clone(),
                children.into_iter().map(|c| c.digest.clone()).collect(),
            );
        }
        Ok(())
    }
}

/// A problem with what the source holds says where the source is.
fn at_source(source: &dyn ReadLayout, e: Error) -> Error {
    let here = source.location().to_string_lossy().into_owned();
    match &e {
        Error::Invalid(m) | Error::DigestMismatch(m) if !m.contains(&here) => e.within(here),
        _ => e,
    }
}

/// Reads a blob through the verifying reader into `w` (a sink's helper).
pub fn verified_copy(desc: &Descriptor, r: &mut dyn Read, w: &mut dyn io::Write) -> Result<u64> {
    let d = &desc.digest;
    io::copy(&mut VerifyingReader::new(r, d, desc.size), w)
        .map_err(|e| Error::io(format!("copying blob {d}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::descriptor::{Index, OCI_INDEX, OCI_MANIFEST};
    use std::path::Path;

    /// A layout in memory.
    #[derive(Default)]
    struct Mem {
        blobs: HashMap<Digest, Vec<u8>>,
        sequential: bool,
    }

    impl Mem {
        fn add(&mut self, media_type: &str, bytes: &[u8]) -> Descriptor {
            let d = Digest::sha256(bytes);
            self.blobs.insert(d.clone(), bytes.to_vec());
            Descriptor::new(media_type, d, bytes.len() as u64)
        }
    }

    impl ReadLayout for Mem {
        fn location(&self) -> &Path {
            Path::new("mem")
        }
        fn read_index(&self) -> Result<Index> {
            Ok(Index::listing(Vec::new()))
        }
        fn read_blob(&self, desc: &Descriptor, _max: u64) -> Result<Vec<u8>> {
            let b = self.blobs.get(&desc.digest).cloned().unwrap_or_default();
            crate::verify::check_bytes(&desc.digest, desc.size, &b)?;
            Ok(b)
        }
        fn open_blob(&self, d: &Digest) -> Result<Option<(Box<dyn Read + '_>, u64)>> {
            Ok(self
                .blobs
                .get(d)
                .map(|b| (Box::new(&b[..]) as Box<dyn Read>, b.len() as u64)))
        }
        fn has_blob(&self, d: &Digest) -> Result<bool> {
            Ok(self.blobs.contains_key(d))
        }
        fn blob_list(&self) -> Result<Vec<(Digest, u64)>> {
            Ok(self
                .blobs
                .iter()
                .map(|(d, b)| (d.clone(), b.len() as u64))
                .collect())
        }
        fn sequential(&self) -> bool {
            self.sequential
        }
    }

    /// A sink in memory that records the order of writes.
    #[derive(Default)]
    struct Rec {
        have: HashMap<Digest, Vec<u8>>,
        order: Vec<Digest>,
        children_first: bool,
    }

    impl Sink for Rec {
        fn location(&self) -> String {
            "rec".into()
        }
        fn has_blob(&mut self, desc: &Descriptor) -> Result<bool> {
            Ok(self.have.contains_key(&desc.digest))
        }
        fn put_blob(&mut self, desc: &Descriptor, r: &mut dyn Read) -> Result<bool> {
            if self.have.contains_key(&desc.digest) {
                return Ok(false);
            }
            let mut v = Vec::new();
            verified_copy(desc, r, &mut v)?;
            self.order.push(desc.digest.clone());
            self.have.insert(desc.digest.clone(), v);
            Ok(true)
        }
        fn children_first(&self) -> bool {
            self.children_first
        }
    }

    fn manifest(m: &mut Mem, config: &[u8], layers: &[&[u8]]) -> Descriptor {
        let c = m.add("application/vnd.oci.image.config.v1+json", config);
        let ls: Vec<String> = layers
            .iter()
            .map(|l| {
                let d = m.add("application/vnd.oci.image.layer.v1.tar", l);
                format!(
                    r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}"#,
                    d.digest, d.size
                )
            })
            .collect();
        let raw = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}]}}"#,
            c.digest,
            c.size,
            ls.join(",")
        );
        m.add(OCI_MANIFEST, raw.as_bytes())
    }

    fn index(m: &mut Mem, children: &[&Descriptor]) -> Descriptor {
        let cs: Vec<String> = children
            .iter()
            .map(|c| {
                format!(
                    r#"{{"mediaType":"{}","digest":"{}","size":{}}}"#,
                    c.media_type, c.digest, c.size
                )
            })
            .collect();
        let raw = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            cs.join(",")
        );
        m.add(OCI_INDEX, raw.as_bytes())
    }

    #[test]
    fn copies_every_byte_of_a_tree_once_and_skips_what_the_sink_has() {
        let mut m = Mem::default();
        let a = manifest(&mut m, b"{}", &[b"one", b"shared"]);
        let b = manifest(&mut m, b"{ }", &[b"two", b"shared"]);
        let i = index(&mut m, &[&a, &b]);
        let mut sink = Rec::default();
        let c = copy(&m, &mut sink, std::slice::from_ref(&i), &Quiet).unwrap();
        assert_eq!(c.blobs as usize, m.blobs.len());
        assert_eq!(sink.have, m.blobs);
        // again: nothing new
        let again = copy(&m, &mut sink, &[i], &Quiet).unwrap();
        assert!(again.nothing_new(), "{again:?}");
        assert_eq!(again.present, 5, "config ×2, one, two, shared");
        assert_eq!(again.walked_documents.len(), 3);
        assert_eq!(again.walked_blobs.len(), 5);
    }

    #[test]
    fn a_children_first_sink_gets_documents_after_all_they_name() {
        for sequential in [false, true] {
            let mut m = Mem {
                sequential,
                ..Mem::default()
            };
            let a = manifest(&mut m, b"{}", &[b"one"]);
            let b = manifest(&mut m, b"{ }", &[b"two"]);
            // the same manifest under two indexes, met under the first one first
            let i1 = index(&mut m, &[&a]);
            let i2 = index(&mut m, &[&b, &a]);
            let mut sink = Rec {
                children_first: true,
                ..Rec::default()
            };
            copy(&m, &mut sink, &[i1, i2], &Quiet).unwrap();
            let pos = |d: &Digest| sink.order.iter().position(|x| x == d).unwrap();
            for (parent, raw) in &m.blobs {
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(raw) else {
                    continue;
                };
                let kids = v["manifests"]
                    .as_array()
                    .or(v["layers"].as_array())
                    .cloned()
                    .unwrap_or_default();
                for k in kids {
                    let k: Digest = k["digest"].as_str().unwrap().parse().unwrap();
                    assert!(pos(&k) < pos(parent), "{k} before {parent}");
                }
            }
        }
    }

    #[test]
    fn a_corrupt_or_missing_blob_fails_the_copy_naming_the_source() {
        let mut m = Mem::default();
        let a = manifest(&mut m, b"{}", &[b"layer"]);
        let layer = Digest::sha256(b"layer");
        m.blobs.insert(layer.clone(), b"lay3r".to_vec());
        let e = copy(&m, &mut Rec::default(), std::slice::from_ref(&a), &Quiet).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch(_)), "{e}");
        assert!(e.to_string().starts_with("mem: "), "{e}");
        m.blobs.remove(&layer);
        let e = copy(&m, &mut Rec::default(), &[a], &Quiet).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
    }

    #[test]
    fn one_blob_described_with_two_sizes_is_refused() {
        let mut m = Mem::default();
        let a = manifest(&mut m, b"{}", &[b"layer"]);
        let layer = Digest::sha256(b"layer");
        // a second manifest naming the same layer as 6 bytes
        let raw = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":6}}]}}"#,
            Digest::sha256(b"{}")
        );
        let b = m.add(OCI_MANIFEST, raw.as_bytes());
        let i = index(&mut m, &[&a, &b]);
        let e = copy(&m, &mut Rec::default(), &[i], &Quiet).unwrap_err();
        assert!(
            e.to_string().contains("described as 6 bytes and as 5"),
            "{e}"
        );
    }

    #[test]
    fn indexes_nested_too_deep_are_refused() {
        let mut m = Mem::default();
        let mut top = manifest(&mut m, b"{}", &[b"x"]);
        for _ in 0..=MAX_DEPTH {
            top = index(&mut m, &[&top]);
        }
        let e = copy(&m, &mut Rec::default(), &[top], &Quiet).unwrap_err();
        assert!(e.to_string().contains("nested more than"), "{e}");
    }
}
