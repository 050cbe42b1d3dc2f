//! The one walker over a layout's graph of manifests, indexes and blobs. `fsck` and
//! `gc` (and the archive fsck) walk through it, so they agree on what is reachable:
//! each digest is visited once (a cycle ends), children in document order, and a
//! referrer's `subject` is followed only when the caller asks (gc keeps a subject
//! alive; fsck does not require it, since it may live in another layout).

use std::collections::HashSet;
use std::io::Read;

use super::descriptor::{Descriptor, Kind};
use super::manifest::{self, Document, MAX_MANIFEST};
use super::source::ReadLayout;
use crate::digest::Digest;
use crate::{Error, Result};

/// How a node was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// Listed in `index.json` (or given as a root).
    Root,
    /// A config, layer or index entry of its parent.
    Child,
    /// The `subject` of its parent (a referrer).
    Subject,
}

/// One descriptor met on the walk.
#[derive(Debug)]
pub struct Node {
    pub desc: Descriptor,
    pub edge: Edge,
    /// The document that points here; `None` for roots.
    pub parent: Option<Digest>,
    /// Documents above this one (0 for roots).
    pub depth: usize,
}

impl Node {
    /// Who refers to this node, for messages: `index.json` or the parent's digest.
    pub fn parent_name(&self) -> String {
        self.parent
            .as_ref()
            .map_or_else(|| "index.json".to_owned(), ToString::to_string)
    }
}

/// What the walk tells its caller.
pub trait Visitor {
    /// A node met for the first time. Return `true` to read it (when it is a
    /// manifest or an index) and go on below it.
    fn node(&mut self, node: &Node) -> Result<bool>;

    /// The node's document, read (size and digest checked) and parsed, or why that
    /// failed. An `Err` returned from here stops the walk.
    fn document(&mut self, node: &Node, doc: Result<&Document>) -> Result<()>;

    /// The document's raw bytes, as read (before [`Visitor::document`]), for a
    /// visitor that keeps or copies them.
    fn raw(&mut self, _node: &Node, _raw: &[u8]) -> Result<()> {
        Ok(())
    }
}

/// Walks from `roots` down. With `subjects`, a referrer's subject is walked too
/// (as an [`Edge::Subject`] node).
pub fn walk(
    layout: &dyn ReadLayout,
    roots: &[Descriptor],
    subjects: bool,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let mut seen: HashSet<Digest> = HashSet::new();
    // Depth-first, children in document order: the stack holds them reversed.
    let mut stack: Vec<Node> = roots
        .iter()
        .rev()
        .map(|d| Node {
            desc: d.clone(),
            edge: Edge::Root,
            parent: None,
            depth: 0,
        })
        .collect();
    while let Some(node) = stack.pop() {
        if !seen.insert(node.desc.digest.clone()) {
            continue;
        }
        if !visitor.node(&node)? || node.desc.kind() == Kind::Blob {
            continue;
        }
        let what = format!("{} {}", node.desc.media_type, node.desc.digest);
        let doc = layout.read_blob(&node.desc, MAX_MANIFEST).and_then(|raw| {
            visitor.raw(&node, &raw)?;
            manifest::parse(&raw, &node.desc, &what)
        });
        match doc {
            Ok(doc) => {
                visitor.document(&node, Ok(&doc))?;
                let me = &node.desc.digest;
                let mut next: Vec<Node> = doc
                    .children()
                    .into_iter()
                    .map(|c| Node {
                        desc: c.clone(),
                        edge: Edge::Child,
                        parent: Some(me.clone()),
                        depth: node.depth + 1,
                    })
                    .collect();
                if subjects && let Some(s) = doc.subject() {
                    next.push(Node {
                        desc: s.clone(),
                        edge: Edge::Subject,
                        parent: Some(me.clone()),
                        depth: node.depth + 1,
                    });
                }
                stack.extend(next.into_iter().rev());
            }
            Err(e) => visitor.document(&node, Err(e))?,
        }
    }
    Ok(())
}

/// Every digest reachable from `roots`, subjects included, as gc needs it: a
/// document that cannot be read or parsed stops the walk (deleting below a document
/// one cannot read could lose data); a missing blob is simply not there.
pub fn reachable(layout: &dyn ReadLayout, roots: &[Descriptor]) -> Result<HashSet<Digest>> {
    struct Collect(HashSet<Digest>);
    impl Visitor for Collect {
        fn node(&mut self, node: &Node) -> Result<bool> {
            self.0.insert(node.desc.digest.clone());
            Ok(true)
        }
        fn document(&mut self, _: &Node, doc: Result<&Document>) -> Result<()> {
            match doc {
                Ok(_) => Ok(()),
                // A subject may live elsewhere, and a missing blob is nothing to keep.
                Err(Error::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
    let mut c = Collect(HashSet::new());
    walk(layout, roots, true, &mut c)?;
    Ok(c.0)
}

/// Checks one blob in `layout`: present, of its descriptor's size, and hashing to
/// its digest (streamed through `buf`). `parent` names who refers to it.
pub fn check_blob(
    layout: &dyn ReadLayout,
    desc: &Descriptor,
    parent: &str,
    buf: &mut [u8],
) -> Result<()> {
    let d = &desc.digest;
    let Some((r, len)) = layout.open_blob(d)? else {
        return Err(Error::NotFound(format!(
            "blob {d} ({}) referenced by {parent} is missing",
            desc.media_type
        )));
    };
    if len != desc.size {
        return Err(Error::invalid(format!(
            "blob {d} is {len} bytes; {parent} says {}",
            desc.size
        )));
    }
    let mut r = crate::verify::VerifyingReader::new(r, d, len);
    loop {
        match r.read(buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("reading blob {d}"), e)),
        }
    }
}

/// What a run has found whole and intact (digests), shared by the threads that
/// check images: images share layers, and each is hashed once per run.
#[derive(Debug, Default)]
pub struct Checked(std::sync::Mutex<HashSet<Digest>>);

impl Checked {
    fn has(&self, d: &Digest) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).contains(d)
    }

    fn add(&self, d: &Digest) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(d.clone());
    }
}

/// Checks that the image below `root` is whole and intact in `layout` before it is
/// signed or verified: every manifest and index read (size and digest checked),
/// every config and layer present with its size and re-hashed, through `buf`.
/// `checked` holds what this run already found good. The error names the image
/// (`what`) and the first problem.
pub fn check_complete(
    layout: &dyn ReadLayout,
    root: &Descriptor,
    what: &str,
    checked: &Checked,
    buf: &mut [u8],
) -> Result<()> {
    struct Check<'a> {
        layout: &'a dyn ReadLayout,
        checked: &'a Checked,
        buf: &'a mut [u8],
    }
    impl Visitor for Check<'_> {
        fn node(&mut self, node: &Node) -> Result<bool> {
            let (desc, d) = (&node.desc, &node.desc.digest);
            if self.checked.has(d) {
                return Ok(false);
            }
            if desc.kind() != Kind::Blob {
                return Ok(true);
            }
            check_blob(self.layout, desc, &node.parent_name(), self.buf)?;
            self.checked.add(d);
            Ok(false)
        }

        // (documents are read whole each time: they are small, and rarely shared,
        // so remembering them would cost more memory than it saves reads)
        fn document(&mut self, _: &Node, doc: Result<&Document>) -> Result<()> {
            doc.map(drop)
        }
    }
    let mut check = Check {
        layout,
        checked,
        buf,
    };
    walk(layout, std::slice::from_ref(root), false, &mut check).map_err(|e| {
        let why = format!(
            "{what} is incomplete or damaged in {}: {e} (run airsign fsck)",
            layout.location().display()
        );
        match e {
            Error::NotFound(_) => Error::NotFound(why),
            Error::DigestMismatch(_) => Error::DigestMismatch(why),
            _ => Error::Invalid(why),
        }
    })
}

/// One image for [`check_images`].
pub struct ImageCheck<'a> {
    pub layout: &'a dyn ReadLayout,
    pub root: &'a Descriptor,
    /// How messages name it.
    pub what: &'a str,
    /// What the run found good in this image's layout.
    pub checked: &'a Checked,
}

/// [`check_complete`] for many images on every core (contiguous runs of them per
/// thread, one buffer each); the results in the images' order.
pub fn check_images(images: &[ImageCheck<'_>]) -> Vec<Result<()>> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(images.len().max(1));
    let per = images.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = images
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || {
                    let mut buf = vec![0u8; 256 * 1024];
                    chunk
                        .iter()
                        .map(|i| check_complete(i.layout, i.root, i.what, i.checked, &mut buf))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checking does not panic"))
            .collect()
    })
}
