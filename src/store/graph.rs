//! The one walker over a layout's graph of manifests, indexes and blobs. `fsck` and
//! `gc` (and the archive fsck) walk through it, so they agree on what is reachable:
//! each digest is visited once (a cycle ends), children in document order, and a
//! referrer's `subject` is followed only when the caller asks (gc keeps a subject
//! alive; fsck does not require it, since it may live in another layout).

use std::collections::HashSet;

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
        let doc = layout
            .read_blob(&node.desc, MAX_MANIFEST)
            .and_then(|raw| manifest::parse(&raw, &node.desc, &what));
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
                    })
                    .collect();
                if subjects && let Some(s) = doc.subject() {
                    next.push(Node {
                        desc: s.clone(),
                        edge: Edge::Subject,
                        parent: Some(me.clone()),
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
