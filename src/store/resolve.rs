//! Finding an image in a layout. Layouts name their `index.json` entries three ways,
//! and all are read:
//! - the store: a full reference (`registry.example.com/team/app:v1`);
//! - skopeo, umoci, oras: a bare tag (`v1`);
//! - `cosign save`: no name, a `kind` annotation (`dev.cosignproject.cosign/image`).

use super::descriptor::{COSIGN_KIND, Descriptor, Index, Kind};
use super::layout::Layout;
use super::manifest::{self, MAX_MANIFEST};
use crate::digest::{Digest, printable};
use crate::reference::{Reference, validate_tag};
use crate::{Error, Result};

/// What an `index.json` entry is called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryName {
    /// A full, normalised reference.
    Full(Reference),
    /// A bare tag, as skopeo and umoci write.
    Tag(String),
    /// No name; `cosign save`'s `kind` annotation, if any.
    Unnamed(Option<String>),
}

impl EntryName {
    pub fn of(desc: &Descriptor) -> EntryName {
        match desc.ref_name() {
            Some(name) if !name.contains('/') && validate_tag(name).is_ok() => {
                EntryName::Tag(name.to_owned())
            }
            Some(name) => match Reference::parse(name) {
                Ok(r) => EntryName::Full(r),
                // An unparsable name is still a name; treat it as an opaque tag.
                Err(_) => EntryName::Tag(name.to_owned()),
            },
            None => EntryName::Unnamed(desc.annotations.get(COSIGN_KIND).cloned()),
        }
    }

    /// The tag part, if any.
    pub fn tag(&self) -> Option<&str> {
        match self {
            EntryName::Full(r) => r.tag(),
            EntryName::Tag(t) => Some(t),
            EntryName::Unnamed(_) => None,
        }
    }
}

/// Whether an entry is a cosign artifact (`.sig`, `.att`, `.sbom`, or a referrers
/// fallback tag) rather than an image.
pub fn is_artifact(desc: &Descriptor) -> bool {
    let name = EntryName::of(desc);
    if let EntryName::Unnamed(Some(kind)) = &name {
        return matches!(
            kind.as_str(),
            "dev.cosignproject.cosign/sigs"
                | "dev.cosignproject.cosign/atts"
                | "dev.cosignproject.cosign/sboms"
        );
    }
    name.tag().is_some_and(is_artifact_tag)
}

/// `sha256-<hex>.sig|.att|.sbom`, or `sha256-<hex>` (the OCI 1.1 referrers fallback).
pub fn is_artifact_tag(tag: &str) -> bool {
    let base = tag
        .strip_suffix(".sig")
        .or_else(|| tag.strip_suffix(".att"))
        .or_else(|| tag.strip_suffix(".sbom"))
        .unwrap_or(tag);
    base.split_once('-')
        .is_some_and(|(alg, hex)| format!("{alg}:{hex}").parse::<Digest>().is_ok())
}

/// An image found in a layout.
#[derive(Clone, Debug)]
pub struct Found {
    pub descriptor: Descriptor,
    /// The entry's name, `None` when found by digest below the top level.
    pub name: Option<EntryName>,
}

impl Found {
    /// The full reference, when the entry has one.
    pub fn reference(&self) -> Option<&Reference> {
        match &self.name {
            Some(EntryName::Full(r)) => Some(r),
            _ => None,
        }
    }
}

/// Finds one image: `query` is what followed `oci:DIR:` (a tag, a full reference or a
/// digest), or `None` for "the layout's only image".
pub fn find(layout: &Layout, index: &Index, query: Option<&str>) -> Result<Found> {
    let images: Vec<&Descriptor> = index.manifests.iter().filter(|d| !is_artifact(d)).collect();
    let Some(q) = query else {
        return match images.as_slice() {
            [one] => Ok(found(one)),
            [] => Err(Error::NotFound(format!(
                "{} holds no image",
                layout.root().display()
            ))),
            many => Err(Error::Usage(format!(
                "{} holds {} images; name one ({})",
                layout.root().display(),
                many.len(),
                names_of(many)
            ))),
        };
    };
    if q.contains(':')
        && let Ok(d) = q.parse::<Digest>()
    {
        return find_digest(layout, index, &d, None);
    }
    if let Some(d) = index.manifests.iter().find(|d| d.ref_name() == Some(q)) {
        return Ok(found(d));
    }
    match Reference::parse(q) {
        Ok(r) if q.contains('/') || q.contains('@') => find_reference(layout, index, &r),
        _ => Err(not_found(layout, q, &images)),
    }
}

/// Finds the image a full reference names in a layout whose entries carry full
/// references (the store).
pub fn find_reference(layout: &Layout, index: &Index, r: &Reference) -> Result<Found> {
    if let Some(tag) = r.tag() {
        let hit = index.manifests.iter().find(|d| match EntryName::of(d) {
            EntryName::Full(n) => n.name() == r.name() && n.tag() == Some(tag),
            _ => false,
        });
        return match (hit, r.digest()) {
            (Some(d), Some(want)) if d.digest != *want => Err(Error::NotFound(format!(
                "{r}: the tag points to {} instead",
                d.digest
            ))),
            (Some(d), _) => Ok(found(d)),
            (None, _) => Err(not_found(
                layout,
                &r.to_string(),
                &index.manifests.iter().collect::<Vec<_>>(),
            )),
        };
    }
    let d = r.digest().expect("a reference has a tag or a digest");
    find_digest(layout, index, d, Some(&r.name()))
}

/// Finds a manifest or index by digest: an entry of the layout (of repository `repo`
/// when given, else any), else a manifest one index below an entry.
fn find_digest(layout: &Layout, index: &Index, d: &Digest, repo: Option<&str>) -> Result<Found> {
    let in_repo = |desc: &Descriptor| match (repo, EntryName::of(desc)) {
        (None, _) => true,
        (Some(repo), EntryName::Full(n)) => n.name() == repo,
        (Some(_), _) => true,
    };
    if let Some(hit) = index
        .manifests
        .iter()
        .find(|e| e.digest == *d && in_repo(e))
    {
        let mut f = found(hit);
        // Found by digest: the tag is incidental, only the repository is kept.
        if let Some(EntryName::Full(r)) = &f.name {
            f.name = Some(EntryName::Full(r.at_digest(d)));
        }
        return Ok(f);
    }
    for entry in index
        .manifests
        .iter()
        .filter(|e| e.kind() == Kind::Index && in_repo(e))
    {
        let raw = layout.read_blob(entry, MAX_MANIFEST)?;
        let doc = manifest::parse(&raw, entry, &format!("index {}", entry.digest))?;
        if let Some(child) = doc.children().into_iter().find(|c| c.digest == *d) {
            let name = match EntryName::of(entry) {
                EntryName::Full(r) => Some(EntryName::Full(r.at_digest(d))),
                _ => None,
            };
            return Ok(Found {
                descriptor: child.clone(),
                name,
            });
        }
    }
    Err(Error::NotFound(format!(
        "image {d} not found in {}",
        layout.root().display()
    )))
}

fn found(d: &Descriptor) -> Found {
    Found {
        descriptor: d.clone(),
        name: Some(EntryName::of(d)),
    }
}

fn names_of(entries: &[&Descriptor]) -> String {
    let mut names: Vec<String> = entries
        .iter()
        .take(5)
        .map(|d| {
            d.ref_name()
                .map_or_else(|| d.digest.to_string(), str::to_owned)
        })
        .collect();
    if entries.len() > 5 {
        names.push(format!("and {} more", entries.len() - 5));
    }
    names.join(", ")
}

fn not_found(layout: &Layout, q: &str, entries: &[&Descriptor]) -> Error {
    let images: Vec<&Descriptor> = entries
        .iter()
        .copied()
        .filter(|d| !is_artifact(d))
        .collect();
    Error::NotFound(format!(
        "image {:?} not found in {}{}",
        printable(q),
        layout.root().display(),
        if images.is_empty() {
            String::new()
        } else {
            format!(" (it has: {})", names_of(&images))
        }
    ))
}
