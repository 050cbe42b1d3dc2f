//! Finding an image in a layout. Layouts name their `index.json` entries three ways,
//! and all are read:
//! - the store: a full reference (`registry.example.com/team/app:v1`);
//! - skopeo, umoci, oras: a bare tag (`v1`);
//! - `cosign save`: no name, a `kind` annotation (`dev.cosignproject.cosign/image`).

use std::collections::HashMap;

use super::descriptor::{COSIGN_KIND, Descriptor, Index, Kind};
use super::manifest::{self, MAX_MANIFEST};
use super::source::ReadLayout;
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

/// The name of the `.sig` (or `.att`, `.sbom`: `suffix`) entry of image `digest` whose
/// entry is named `image`: `REPO:sha256-<hex>.sig` in a layout of full references,
/// the bare tag `sha256-<hex>.sig` in one of bare tags; `None` for unnamed entries.
pub fn artifact_name(image: &EntryName, digest: &Digest, suffix: &str) -> Option<String> {
    let tag = format!("{}.{suffix}", digest.tag_form());
    match image {
        EntryName::Full(r) => Some(format!("{}:{tag}", r.name())),
        EntryName::Tag(_) => Some(tag),
        EntryName::Unnamed(_) => None,
    }
}

/// The name of the OCI 1.1 referrers fallback entry of `digest` (an index listing
/// its referrers) beside an image entry named `image`: `REPO:sha256-<hex>`, or the
/// bare tag `sha256-<hex>`; `None` for unnamed entries.
pub fn referrers_name(image: &EntryName, digest: &Digest) -> Option<String> {
    match image {
        EntryName::Full(r) => Some(format!("{}:{}", r.name(), digest.tag_form())),
        EntryName::Tag(_) => Some(digest.tag_form()),
        EntryName::Unnamed(_) => None,
    }
}

/// The `.sig` entry of an image, if the layout has one. In a `cosign save` layout
/// (unnamed entries) it is the entry of kind `dev.cosignproject.cosign/sigs`.
pub fn signature_entry<'c>(
    catalog: &'c Catalog<'_>,
    image: &EntryName,
    digest: &Digest,
) -> Option<&'c Descriptor> {
    match artifact_name(image, digest, "sig") {
        Some(name) => catalog.named(&name),
        None => catalog
            .entries()
            .find(|(_, n)| matches!(n, EntryName::Unnamed(Some(k)) if k == "dev.cosignproject.cosign/sigs"))
            .map(|(d, _)| d),
    }
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

/// What to look for in a layout: a reference (in the store), or whatever followed
/// `oci:DIR:` (`None`: the only image).
#[derive(Clone, Debug)]
pub enum Query {
    Reference(Reference),
    InLayout(Option<String>),
}

/// A layout's `index.json` with every entry's name parsed once, so lookups in a store
/// of many thousands of images stay cheap.
pub struct Catalog<'a> {
    layout: Box<dyn ReadLayout + 'a>,
    pub index: Index,
    names: Vec<EntryName>,
    /// Raw `ref.name` values and normalised full references → entry position.
    by_name: HashMap<String, usize>,
}

impl<'a> Catalog<'a> {
    /// Reads the layout's `index.json`.
    pub fn open(layout: impl ReadLayout + 'a) -> Result<Catalog<'a>> {
        let index = layout.read_index()?;
        Ok(Catalog::new(layout, index))
    }

    pub fn new(layout: impl ReadLayout + 'a, index: Index) -> Catalog<'a> {
        let names: Vec<EntryName> = index.manifests.iter().map(EntryName::of).collect();
        let mut by_name = HashMap::with_capacity(index.manifests.len() * 2);
        for (i, (d, n)) in index.manifests.iter().zip(&names).enumerate() {
            if let Some(raw) = d.ref_name() {
                by_name.entry(raw.to_owned()).or_insert(i);
            }
            if let EntryName::Full(r) = n {
                by_name.entry(r.to_string()).or_insert(i);
            }
        }
        Catalog {
            layout: Box::new(layout),
            index,
            names,
            by_name,
        }
    }

    pub fn layout(&self) -> &dyn ReadLayout {
        self.layout.as_ref()
    }

    /// Every entry with its parsed name, in `index.json` order.
    pub fn entries(&self) -> impl Iterator<Item = (&Descriptor, &EntryName)> {
        self.index.manifests.iter().zip(&self.names)
    }

    /// The entry with this exact name (raw, or a normalised full reference).
    pub fn named(&self, name: &str) -> Option<&Descriptor> {
        self.by_name.get(name).map(|&i| &self.index.manifests[i])
    }

    /// Finds one image: `query` is what followed `oci:DIR:` (a tag, a full reference
    /// or a digest), or `None` for "the layout's only image".
    pub fn find(&self, query: Option<&str>) -> Result<Found> {
        let Some(q) = query else {
            let images: Vec<&Descriptor> = self
                .entries()
                .filter(|(d, _)| !is_artifact(d))
                .map(|(d, _)| d)
                .collect();
            return match images.as_slice() {
                [one] => Ok(found(one)),
                [] => Err(Error::NotFound(format!(
                    "{} holds no image",
                    self.layout.location().display()
                ))),
                many => Err(Error::Usage(format!(
                    "{} holds {} images; name one ({})",
                    self.layout.location().display(),
                    many.len(),
                    names_of(many)
                ))),
            };
        };
        if q.contains(':')
            && let Ok(d) = q.parse::<Digest>()
        {
            return self.find_digest(&d, None);
        }
        if let Some(d) = self.named(q) {
            return Ok(found(d));
        }
        match Reference::parse(q) {
            Ok(r) if q.contains('/') || q.contains('@') => self.find_reference(&r),
            _ => Err(self.not_found(q)),
        }
    }

    /// Finds what a [`Query`] asks for.
    pub fn resolve(&self, q: &Query) -> Result<Found> {
        match q {
            Query::Reference(r) => self.find_reference(r),
            Query::InLayout(q) => self.find(q.as_deref()),
        }
    }

    /// Finds the image a full reference names (the store's naming).
    pub fn find_reference(&self, r: &Reference) -> Result<Found> {
        if let Some(tag) = r.tag() {
            let hit = self.named(&format!("{}:{tag}", r.name()));
            return match (hit, r.digest()) {
                (Some(d), Some(want)) if d.digest != *want => Err(Error::NotFound(format!(
                    "{r}: the tag points to {} instead",
                    d.digest
                ))),
                (Some(d), _) => Ok(found(d)),
                (None, _) => Err(self.not_found(&r.to_string())),
            };
        }
        let d = r.digest().expect("a reference has a tag or a digest");
        self.find_digest(d, Some(&r.name()))
    }

    /// Finds a manifest or index by digest: an entry of the layout (of repository
    /// `repo` when given, else any), else a manifest one index below an entry.
    fn find_digest(&self, d: &Digest, repo: Option<&str>) -> Result<Found> {
        let in_repo = |name: &EntryName| match (repo, name) {
            (Some(repo), EntryName::Full(n)) => n.name() == repo,
            _ => true,
        };
        if let Some((hit, name)) = self.entries().find(|(e, n)| e.digest == *d && in_repo(n)) {
            // Found by digest: the tag is incidental, only the repository is kept.
            let name = match name {
                EntryName::Full(r) => EntryName::Full(r.at_digest(d)),
                other => other.clone(),
            };
            return Ok(Found {
                descriptor: hit.clone(),
                name: Some(name),
            });
        }
        for (entry, name) in self
            .entries()
            .filter(|(e, n)| e.kind() == Kind::Index && in_repo(n))
        {
            let raw = self.layout.read_blob(entry, MAX_MANIFEST)?;
            let doc = manifest::parse(&raw, entry, &format!("index {}", entry.digest))?;
            if let Some(child) = doc.children().into_iter().find(|c| c.digest == *d) {
                let name = match name {
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
            self.layout.location().display()
        )))
    }

    fn not_found(&self, q: &str) -> Error {
        let images: Vec<&Descriptor> = self
            .entries()
            .filter(|(d, _)| !is_artifact(d))
            .map(|(d, _)| d)
            .collect();
        Error::NotFound(format!(
            "image {:?} not found in {}{}",
            printable(q),
            self.layout.location().display(),
            if images.is_empty() {
                String::new()
            } else {
                format!(" (it has: {})", names_of(&images))
            }
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_and_referrers_entries_are_named_like_their_image() {
        let d = Digest::sha256(b"image");
        let hex = d.hex().to_owned();
        let full = EntryName::Full(Reference::parse("registry.example.com/team/app:v1").unwrap());
        let tag = EntryName::Tag("v1".into());
        let unnamed = EntryName::Unnamed(None);
        assert_eq!(
            artifact_name(&full, &d, "sig").unwrap(),
            format!("registry.example.com/team/app:sha256-{hex}.sig")
        );
        assert_eq!(
            referrers_name(&full, &d).unwrap(),
            format!("registry.example.com/team/app:sha256-{hex}")
        );
        assert_eq!(
            artifact_name(&tag, &d, "att").unwrap(),
            format!("sha256-{hex}.att")
        );
        assert_eq!(referrers_name(&tag, &d).unwrap(), format!("sha256-{hex}"));
        assert_eq!(artifact_name(&unnamed, &d, "sig"), None);
        assert_eq!(referrers_name(&unnamed, &d), None);
    }
}
