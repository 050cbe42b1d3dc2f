//! The plan: every image a run pushes, where it goes, and everything it reaches —
//! manifests read and parsed, `.sig`/`.att`/`.sbom` artifacts and OCI 1.1 referrers
//! found, signature identities checked — before the first request, so that
//! `--strict-identity` and mapping errors refuse with nothing sent.

use std::collections::{HashMap, HashSet};

use super::destination;
use super::source::Source;
use crate::digest::Digest;
use crate::reference::Reference;
use crate::registry::Repository;
use crate::signature::{ArtifactKind, MAX_PAYLOAD, SIMPLESIGNING, SignatureArtifact};
use crate::store::descriptor::OCI_INDEX;
use crate::store::manifest::{self, Document, MAX_MANIFEST};
use crate::store::referrers::Referrers;
use crate::store::resolve::{
    Catalog, EntryName, Found, artifact_name, is_artifact, referrers_name,
};
use crate::store::{Descriptor, Index, Kind, ReadLayout};
use crate::{Error, Result};

/// Artifact kinds carried with an image, in push order (signatures last).
pub const KINDS: [ArtifactKind; 3] = [
    ArtifactKind::Sbom,
    ArtifactKind::Attestation,
    ArtifactKind::Signature,
];

/// A manifest or index with its exact bytes, and a tree read whole (documents
/// children first): the copy engine's, read by the one graph walker.
pub use crate::copy::{Doc as Node, Tree};

/// Everything one manifest reaches, read before the first request.
fn tree_of(layout: &dyn ReadLayout, root: &Descriptor) -> Result<Tree> {
    crate::copy::tree(layout, std::slice::from_ref(root))
}

/// A `.sig`, `.att` or `.sbom` artifact of the image (or of one of its manifests).
pub struct Artifact {
    pub tag: String,
    pub kind: ArtifactKind,
    pub tree: Tree,
    /// Its layers, for merging with the destination's (`.sig` and `.att`).
    pub layers: Option<SignatureArtifact>,
}

/// The OCI 1.1 referrers of one manifest, as the source lists them: an index at
/// the fallback tag `sha256-<hex>` naming each referrer manifest.
pub struct ReferrerSet {
    pub subject: Digest,
    /// `sha256-<hex>`.
    pub tag: String,
    /// The source's fallback index, exact bytes.
    pub index: Node,
    /// The descriptors that index lists (parsed once, here).
    pub listed: Vec<Descriptor>,
    /// Each referrer manifest with what it reaches.
    pub referrers: Vec<Tree>,
}

/// One image entry of a source and where it goes, or (`image: None`) artifacts
/// whose image is not in the source (`--all` pushes those too).
pub struct Unit {
    /// Which of the run's sources it comes from.
    pub src: usize,
    /// The entry as reports name it.
    pub source: String,
    pub dest: Repository,
    /// The destination tag and the tree under it.
    pub image: Option<(String, Tree)>,
    /// Pushed after the image, before the artifacts.
    pub referrers: Vec<ReferrerSet>,
    pub artifacts: Vec<Artifact>,
    pub warnings: Vec<String>,
}

impl Unit {
    pub fn digest(&self) -> Option<&Digest> {
        self.image.as_ref().map(|(_, t)| &t.root().desc.digest)
    }
}

/// What a run was asked to push from one source.
pub enum Selection {
    /// Every entry (`--all`): images, and artifacts whose image is not there.
    All,
    /// These entries.
    Entries(Vec<Descriptor>),
}

/// Turns the selected entries of each source into units.
pub fn plan(
    sources: &[(&Source<'_>, &Catalog<'_>, Selection)],
    to: Option<&str>,
    map: &[String],
) -> Result<Vec<Unit>> {
    // two images must not claim one destination tag
    let mut claimed: HashMap<(Repository, String), (Digest, String)> = HashMap::new();
    let mut units = Vec::new();
    for (i, (source, catalog, selection)) in sources.iter().enumerate() {
        let found = Referrers::discover(catalog, source.scan_referrers)?;
        let mut entries: Vec<Descriptor> = match selection {
            Selection::All => catalog
                .entries()
                .filter(|(d, _)| !is_artifact(d) && !found.entries.contains(&d.digest))
                .map(|(d, _)| d.clone())
                .collect(),
            Selection::Entries(e) => e.clone(),
        };
        if matches!(selection, Selection::All) && catalog.entries().next().is_none() {
            return Err(Error::NotFound(format!(
                "{} holds nothing to sync",
                source.label
            )));
        }
        let mut seen = HashSet::new();
        entries.retain(|d| seen.insert((d.ref_name().map(str::to_owned), d.digest.clone())));
        // artifact entries that go with an image; the others are loose
        let mut used: HashSet<String> = HashSet::new();
        for e in entries {
            let unit = image_unit(i, source, catalog, &found, &e, to, map, &mut used)?;
            let (tag, tree) = unit.image.as_ref().expect("an image unit");
            let key = (unit.dest.clone(), tag.clone());
            let digest = tree.root().desc.digest.clone();
            match claimed.get(&key) {
                Some((d, other)) if *d != digest => {
                    return Err(Error::Usage(format!(
                        "{} and {other} both map to {}:{tag} with different digests",
                        unit.source, unit.dest
                    )));
                }
                _ => {
                    claimed.insert(key, (digest, unit.source.clone()));
                }
            }
            units.push(unit);
        }
        if matches!(selection, Selection::All) {
            for (d, name) in catalog.entries() {
                let loose = is_artifact(d) && d.ref_name().is_some_and(|n| !used.contains(n));
                if loose {
                    units.push(loose_unit(i, source, d, name, to, map)?);
                }
            }
        }
    }
    Ok(units)
}

/// Where an entry of a source goes, and how reports call it.
fn dest_of(
    source: &Source<'_>,
    d: &Descriptor,
    name: &EntryName,
    to: Option<&str>,
    map: &[String],
) -> Result<(Repository, String, String)> {
    match name {
        // an image named by its digest alone goes by digest (a manifest PUT to
        // `sha256:…`, no tag)
        EntryName::Full(r) => Ok((
            destination(r, to, map)?,
            r.tag().map_or_else(|| d.digest.to_string(), str::to_owned),
            r.to_string(),
        )),
        EntryName::Tag(t) => {
            let shown = format!("{}:{t}", source.label);
            Ok((bare_destination(&shown, to)?, t.clone(), shown))
        }
        EntryName::Unnamed(_) => Err(Error::Usage(format!(
            "{}: entry {} has no name (a cosign save layout?); import it with --repository first",
            source.label, d.digest
        ))),
    }
}

/// The destination of an entry named by a bare tag: `--to` must then name the
/// whole repository (`REGISTRY/REPO`); `--map` has no name to match.
pub fn bare_destination(shown: &str, to: Option<&str>) -> Result<Repository> {
    let Some(to) = to.map(|t| t.trim_end_matches('/')) else {
        return Err(Error::Usage(format!(
            "{shown} is named by a tag only: give --to REGISTRY/REPOSITORY for it"
        )));
    };
    match to.split_once('/') {
        Some((registry, path)) if !path.is_empty() => Repository::new(registry, path)
            .map_err(|e| Error::Usage(format!("--to {to:?}: not a valid repository ({e})"))),
        _ => Err(Error::Usage(format!(
            "{shown} is named by a tag only: --to must name a repository (REGISTRY/REPOSITORY), not {to:?}"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn image_unit(
    src: usize,
    source: &Source<'_>,
    catalog: &Catalog<'_>,
    found: &Referrers,
    e: &Descriptor,
    to: Option<&str>,
    map: &[String],
    used: &mut HashSet<String>,
) -> Result<Unit> {
    let layout = source.layout;
    let name = EntryName::of(e);
    let (dest, tag, shown) = dest_of(source, e, &name, to, map)?;
    let tree = tree_of(layout, e)?;
    let mut artifacts = Vec::new();
    let mut referrers = Vec::new();
    let mut warnings = Vec::new();
    for m in &tree.manifests {
        let Some(n) = referrers_name(&name, &m.desc.digest) else {
            continue;
        };
        if let Some(index) = catalog.named(&n) {
            used.insert(n);
            referrers.push(ReferrerSet::read(layout, &m.desc.digest, index)?);
        }
    }
    // referrers no listing names (untagged entries, blobs): with every image they
    // refer to, in a listing made here (merged with the source's own, if any)
    for m in &tree.manifests {
        let unlisted: Vec<Descriptor> = found
            .unlisted(&m.desc.digest)
            .map(|r| r.desc.clone())
            .collect();
        if unlisted.is_empty() {
            continue;
        }
        let mut listed = Vec::new();
        if let Some(pos) = referrers.iter().position(|r| r.subject == m.desc.digest) {
            listed = referrers.remove(pos).listed;
        }
        listed.extend(unlisted);
        let mut seen = HashSet::new();
        listed.retain(|d| seen.insert(d.digest.clone()));
        referrers.push(ReferrerSet::made(layout, &m.desc.digest, listed)?);
    }
    for kind in KINDS {
        for m in &tree.manifests {
            let Some(n) = artifact_name(&name, &m.desc.digest, kind.suffix()) else {
                continue;
            };
            let Some(a) = catalog.named(&n) else {
                continue;
            };
            used.insert(n.clone());
            let artifact = read_artifact(layout, a, &n, kind)?;
            if let (Some(sig), ArtifactKind::Signature) = (&artifact.layers, kind) {
                warnings.extend(identity_warnings(layout, &shown, &dest, sig)?);
            }
            artifacts.push(artifact);
        }
    }
    Ok(Unit {
        src,
        source: shown,
        dest,
        image: Some((tag, tree)),
        referrers,
        artifacts,
        warnings,
    })
}

/// An artifact entry whose image the source does not hold.
fn loose_unit(
    src: usize,
    source: &Source<'_>,
    d: &Descriptor,
    name: &EntryName,
    to: Option<&str>,
    map: &[String],
) -> Result<Unit> {
    let layout = source.layout;
    let (dest, tag, shown) = dest_of(source, d, name, to, map)?;
    let mut unit = Unit {
        src,
        source: shown.clone(),
        dest,
        image: None,
        referrers: Vec::new(),
        artifacts: Vec::new(),
        warnings: Vec::new(),
    };
    let kind = KINDS
        .into_iter()
        .find(|k| tag.ends_with(&format!(".{}", k.suffix())));
    match kind {
        Some(kind) => {
            let a = read_artifact(layout, d, &tag, kind)?;
            if let (Some(sig), ArtifactKind::Signature) = (&a.layers, kind) {
                unit.warnings
                    .extend(identity_warnings(layout, &shown, &unit.dest, sig)?);
            }
            unit.artifacts.push(a);
        }
        None => {
            let subject = tag
                .replacen('-', ":", 1)
                .parse::<Digest>()
                .map_err(|e| Error::invalid(format!("{shown}: not a referrers tag ({e})")))?;
            unit.referrers.push(ReferrerSet::read(layout, &subject, d)?);
        }
    }
    Ok(unit)
}

fn read_artifact(
    layout: &dyn ReadLayout,
    a: &Descriptor,
    name: &str,
    kind: ArtifactKind,
) -> Result<Artifact> {
    let layers = match kind {
        ArtifactKind::Signature | ArtifactKind::Attestation => {
            Some(SignatureArtifact::read(layout, a)?)
        }
        ArtifactKind::Sbom => None,
    };
    Ok(Artifact {
        tag: name.rsplit_once(':').map_or(name, |(_, t)| t).to_owned(),
        kind,
        tree: tree_of(layout, a)?,
        layers,
    })
}

impl ReferrerSet {
    /// A listing made here, for referrers the source keeps without one.
    fn made(
        layout: &dyn ReadLayout,
        subject: &Digest,
        listed: Vec<Descriptor>,
    ) -> Result<ReferrerSet> {
        let raw = Index::listing(listed.clone()).to_bytes();
        let desc = Descriptor::new(OCI_INDEX, Digest::sha256(&raw), raw.len() as u64);
        ReferrerSet::with_trees(layout, subject, Node { desc, raw }, listed)
    }

    /// The source's own listing (a fallback tag entry).
    fn read(layout: &dyn ReadLayout, subject: &Digest, index: &Descriptor) -> Result<ReferrerSet> {
        let what = format!("referrers index {} of {subject}", index.digest);
        if index.kind() != Kind::Index {
            return Err(Error::invalid(format!("{what}: not an index")));
        }
        let raw = layout.read_blob(index, MAX_MANIFEST)?;
        let Document::Index { manifests, .. } = manifest::parse(&raw, index, &what)? else {
            return Err(Error::invalid(format!("{what}: not an index")));
        };
        let index = Node {
            desc: index.clone(),
            raw,
        };
        ReferrerSet::with_trees(layout, subject, index, manifests)
    }

    /// The set, with what each listed referrer reaches.
    fn with_trees(
        layout: &dyn ReadLayout,
        subject: &Digest,
        index: Node,
        listed: Vec<Descriptor>,
    ) -> Result<ReferrerSet> {
        let referrers = listed
            .iter()
            .map(|m| tree_of(layout, m))
            .collect::<Result<Vec<_>>>()?;
        Ok(ReferrerSet {
            subject: subject.clone(),
            tag: subject.tag_form(),
            index,
            listed,
            referrers,
        })
    }
}

/// The entries an image argument names in its source: the tagged entry, or for a
/// digest every tagged entry of that repository with that digest.
pub fn select(catalog: &Catalog<'_>, found: Found, shown: &str) -> Result<Vec<Descriptor>> {
    if is_artifact(&found.descriptor) {
        return Err(Error::Usage(format!(
            "{shown} is a signature artifact: sync the image it belongs to (or --all)"
        )));
    }
    match &found.name {
        Some(n) if n.tag().is_some() => Ok(vec![found.descriptor]),
        Some(EntryName::Full(r)) => {
            let hits: Vec<Descriptor> = catalog
                .entries()
                .filter(|(d, n)| {
                    d.digest == found.descriptor.digest
                        && !is_artifact(d)
                        && matches!(n, EntryName::Full(f) if f.name() == r.name())
                })
                .map(|(d, _)| d.clone())
                .collect();
            if hits.is_empty() {
                return Err(Error::NotFound(format!(
                    "{shown} has no tag (a platform of an index?); sync the image it belongs to"
                )));
            }
            Ok(hits)
        }
        _ => Err(Error::NotFound(format!(
            "{shown} has no tag (a platform of an index, or an unnamed entry); sync the image it belongs to"
        ))),
    }
}

/// One warning per signature whose `docker-reference` skopeo's `matchRepository`
/// would reject at `dest`.
fn identity_warnings(
    layout: &dyn ReadLayout,
    source: &str,
    dest: &Repository,
    sig: &SignatureArtifact,
) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Payload {
        critical: Critical,
    }
    #[derive(serde::Deserialize)]
    struct Critical {
        identity: Identity,
    }
    #[derive(serde::Deserialize)]
    struct Identity {
        #[serde(rename = "docker-reference")]
        docker_reference: String,
    }
    let mut out = Vec::new();
    for l in sig.layers.iter().filter(|l| l.media_type == SIMPLESIGNING) {
        let desc = Descriptor::new(&l.media_type, l.digest.clone(), l.size);
        let raw = layout.read_blob(&desc, MAX_PAYLOAD)?;
        let identity = serde_json::from_slice::<Payload>(&raw)
            .map(|p| p.critical.identity.docker_reference)
            .map_err(|e| {
                Error::invalid(format!("{source}: signature payload {}: {e}", l.digest))
            })?;
        // compared as skopeo does: both names normalised, tag and digest ignored
        let matches = Reference::parse(&identity)
            .is_ok_and(|r| r.registry() == dest.registry() && r.repository() == dest.name());
        if !matches {
            out.push(format!(
                "{source}: signature {} claims identity {identity:?}, but goes to {dest} \
                 (skopeo's matchRepository policy would reject it)",
                l.digest
            ));
        }
    }
    Ok(out)
}
