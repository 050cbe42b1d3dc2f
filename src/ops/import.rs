//! `airsign import SRC [REF...]`: copy images with their signatures into the store,
//! every digest kept, every blob hashed on the way in. Nothing lands unless all of it
//! checks out: blobs are staged, and the store's `index.json` changes once, at the end.
//!
//! Sources: `oci:DIR` (skopeo, umoci, oras, regctl, `cosign save`),
//! `oci-archive:FILE[.zst]` (also split parts) and `docker-archive:FILE`. Naming,
//! referrers, `--rename` and the admission gates (`--verify-key`, keyless
//! `--trusted-root` with the identity flags) are described in `docs/archives.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use indicatif::{MultiProgress, ProgressBar};

use super::progress::Unit;
use serde::Serialize;

use crate::archive::reader::ArchiveLayout;
use crate::copy::{self, copy};
use crate::digest::{Digest, printable};
use crate::reference::{Location, Reference, validate_tag};
use crate::signature::SignatureArtifact;
use crate::signature::policy::Trust;
use crate::store::descriptor::{COSIGN_KIND, OCI_INDEX, REF_NAME};
use crate::store::manifest;
use crate::store::referrers::Referrers;
use crate::store::resolve::{Catalog, EntryName, is_artifact, is_artifact_tag};
use crate::store::{Descriptor, Index, Kind, Layout, ReadLayout, Transaction};
use crate::{Error, Result};

const KIND_IMAGE: &str = "dev.cosignproject.cosign/image";
const KIND_IMAGE_INDEX: &str = "dev.cosignproject.cosign/imageIndex";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Images imported (not their artifacts).
    pub images: Vec<Imported>,
    /// Signature, attestation, SBOM and referrer entries imported.
    pub artifacts: Vec<Imported>,
    /// Images the admission gate (`--verify-key`, `--trusted-root`) turned away.
    pub refused: Vec<Refused>,
    /// Blobs written (those already in the store are skipped).
    pub new_blobs: u64,
    pub new_bytes: u64,
    /// False when a manifest had to be rebuilt (docker-archive): its digest is not
    /// the one the image had in its registry.
    pub digests_preserved: bool,
    /// `.sig`/`.att` entries merged with the store's own (both sets kept).
    pub merged: Vec<String>,
    /// Names the store gave to another image, moved by `--force`.
    pub moved: Vec<Moved>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Imported {
    pub reference: String,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
}

#[derive(Debug, Serialize)]
pub struct Moved {
    pub reference: String,
    pub from: Digest,
    pub to: Digest,
}

#[derive(Debug, Serialize)]
pub struct Refused {
    pub reference: String,
    pub digest: Digest,
    pub reason: String,
}

/// What `import` was asked to do besides its source.
#[derive(Debug, Default)]
pub struct ImportOptions {
    /// `REPO` (names entries that carry only a tag) or `REPO:TAG` (names the one
    /// image imported, e.g. a `cosign save` layout's).
    pub repository: Option<String>,
    /// `FROM=TO` repository renames.
    pub rename: Vec<String>,
    /// Admission key: only images with a signature it verifies are imported.
    pub verify_key: Option<String>,
    /// Keyless admission: only images with a signature that verifies against this
    /// trusted root for the identity below are imported.
    pub trusted_root: Option<std::path::PathBuf>,
    pub identity: super::trust_flags::Identity,
    /// Move names the store already gives to other images.
    pub force: bool,
    pub json: bool,
}

/// Resolved options for [`import`].
#[derive(Default)]
pub struct Plan {
    pub repository: Option<Repository>,
    pub renames: Vec<Rename>,
    /// The admission gate: only images with a signature this verifies are imported
    /// (a key, or keyless a trusted root and an identity).
    pub admission: Option<Trust>,
    /// Move names the store already gives to other images.
    pub force: bool,
    /// Show progress bars (stderr is a terminal).
    pub progress: bool,
}

#[derive(Clone, Debug)]
pub struct Repository {
    name: String,
    tag: Option<String>,
}

impl Repository {
    /// `REPO` or `REPO:TAG` (no digest).
    pub fn parse(s: &str) -> Result<Repository> {
        let bad = |why: &str| Error::Usage(format!("--repository {:?}: {why}", printable(s)));
        if s.contains('@') {
            return Err(bad("give REPO or REPO:TAG, not a digest"));
        }
        let r = Reference::parse(s).map_err(|e| bad(&e.to_string()))?;
        let last = s.rsplit('/').next().unwrap_or(s);
        let tag = last
            .contains(':')
            .then(|| r.tag().unwrap_or_default().to_owned());
        Ok(Repository {
            name: r.name(),
            tag,
        })
    }
}

/// `--rename FROM=TO`: a repository prefix, matched on `/` boundaries.
#[derive(Clone, Debug)]
pub struct Rename {
    from: String,
    to: String,
}

impl Rename {
    pub fn parse(s: &str) -> Result<Rename> {
        let bad = |why: &str| Error::Usage(format!("--rename {:?}: {why}", printable(s)));
        let (from, to) = s.split_once('=').ok_or_else(|| bad("expected FROM=TO"))?;
        let (from, to) = (normalise_prefix(from), normalise_prefix(to));
        if from.is_empty() || to.is_empty() {
            return Err(bad("FROM and TO must not be empty"));
        }
        // A ':' is allowed in the registry part (a port), not after it (a tag).
        let has_tag_or_digest =
            |p: &str| p.contains('@') || p.split_once('/').is_some_and(|(_, r)| r.contains(':'));
        if has_tag_or_digest(&from) || has_tag_or_digest(&to) {
            return Err(bad(
                "FROM and TO are repository prefixes, without tag or digest",
            ));
        }
        Ok(Rename { from, to })
    }

    fn apply(&self, repo: &str) -> Option<String> {
        let rest = repo.strip_prefix(&self.from)?;
        (rest.is_empty() || rest.starts_with('/')).then(|| format!("{}{rest}", self.to))
    }
}

/// Docker Hub is spelled `index.docker.io` in the store (as ggcr normalises it).
fn normalise_prefix(p: &str) -> String {
    let p = p.trim_end_matches('/');
    for hub in ["docker.io", "registry-1.docker.io"] {
        if p == hub {
            return crate::reference::DOCKER_HUB.to_owned();
        }
        if let Some(rest) = p.strip_prefix(&format!("{hub}/")) {
            return format!("{}/{rest}", crate::reference::DOCKER_HUB);
        }
    }
    p.to_owned()
}

/// Applies the longest matching rename to a full reference `repo:tag`.
fn rename(renames: &[Rename], full: &str) -> Result<String> {
    let r = Reference::parse(full)?;
    let repo = r.name();
    let best = renames
        .iter()
        .filter_map(|rule| rule.apply(&repo).map(|new| (rule.from.len(), new)))
        .max_by_key(|(n, _)| *n);
    let Some((_, new_repo)) = best else {
        return Ok(full.to_owned());
    };
    let tag = r.tag().expect("store names carry a tag");
    Reference::with_tag(&new_repo, tag)
        .map(|r| r.to_string())
        .map_err(|e| Error::Usage(format!("--rename turns {full} into an invalid name: {e}")))
}

/// Where the images come from.
enum Source {
    Dir(Layout),
    Archive(Box<ArchiveLayout>),
}

impl Source {
    fn layout(&self) -> &dyn ReadLayout {
        match self {
            Source::Dir(l) => l,
            Source::Archive(a) => a.as_ref(),
        }
    }
}

pub fn run(store: &Path, src: &str, refs: &[String], opts: &ImportOptions) -> Result<()> {
    if let Some(e) = super::missing_transport(src) {
        return Err(e);
    }
    let (source, inline_ref) = match Location::parse(src)? {
        Location::Layout { path, reference } => (Source::Dir(Layout::open(&path)?), reference),
        Location::Archive { path, reference } => (
            Source::Archive(Box::new(ArchiveLayout::open_for_copy(&path)?)),
            reference,
        ),
        Location::DockerArchive { path, reference } => (
            Source::Archive(Box::new(ArchiveLayout::open_docker(&path)?)),
            reference,
        ),
        Location::Store(_) => {
            return Err(Error::Usage(format!(
                "{src:?}: the source must be oci:DIR[:REF], oci-archive:FILE[:REF] or \
                 docker-archive:FILE[:REF]"
            )));
        }
    };
    let mut wanted: Vec<String> = inline_ref.into_iter().collect();
    wanted.extend(refs.iter().cloned());
    let plan = Plan {
        repository: opts
            .repository
            .as_deref()
            .map(Repository::parse)
            .transpose()?,
        renames: opts
            .rename
            .iter()
            .map(|r| Rename::parse(r))
            .collect::<Result<_>>()?,
        admission: admission(opts)?,
        force: opts.force,
        progress: super::progress::shown(opts.json),
    };

    let gate = if opts.trusted_root.is_some() {
        "--trusted-root"
    } else {
        "--verify-key"
    };
    let store = super::open_store(store)?;
    let summary = import(&source, &store, &wanted, &plan)?;
    if !summary.digests_preserved {
        eprintln!(
            "warning: {} carries no manifest (a docker save tarball): airsign built an OCI \
             manifest for each image over the config and layers as saved; the digest the \
             image had in its registry cannot be preserved, so signatures made for that \
             digest will not match",
            source.layout().location().display()
        );
    }
    for r in &summary.refused {
        eprintln!("refused {} ({}): {}", r.reference, r.digest, r.reason);
    }
    for m in &summary.merged {
        eprintln!("merged {m}");
    }
    for m in &summary.moved {
        eprintln!(
            "moved {} from {} to {} (--force)",
            m.reference, m.from, m.to
        );
    }
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    if opts.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("serialisable")
        )?;
    } else {
        for i in summary.images.iter().chain(&summary.artifacts) {
            outln!("{}  {}", i.reference, i.digest)?;
        }
    }
    eprintln!(
        "imported {} image(s) and {} signature/attestation artifact(s) into {}: {} new blob(s), {} new byte(s){}",
        summary.images.len(),
        summary.artifacts.len(),
        store.root().display(),
        summary.new_blobs,
        summary.new_bytes,
        if summary.refused.is_empty() {
            String::new()
        } else {
            format!("; {} image(s) refused by {gate}", summary.refused.len())
        }
    );
    if summary.images.is_empty() && !summary.refused.is_empty() {
        return Err(Error::Check(format!(
            "no image passed {gate} ({} refused); nothing imported",
            summary.refused.len()
        )));
    }
    Ok(())
}

/// An entry to import: the descriptor as the source lists it, and its store name.
struct Planned {
    desc: Descriptor,
    source_name: EntryName,
    name: String,
    /// The image this entry belongs to, for artifacts (`.sig`, `.att`, …).
    subject: Option<Digest>,
    /// Made here (a referrers index), already staged: nothing to copy.
    made: bool,
}

/// Copies the `wanted` entries of `source` (all when empty), with their artifacts,
/// into `store`.
fn import(source: &Source, store: &Layout, wanted: &[String], plan: &Plan) -> Result<Summary> {
    // Fail before staging anything if the store itself is damaged; the entries it
    // holds are what imported signatures merge with.
    let store_index = store.read_index()?;
    let src = source.layout();
    let catalog = Catalog::open(src)?;
    // referrers wherever the source keeps them; untagged referrer entries are not images
    let found = Referrers::discover(&catalog, true)?;
    let selected = select(&catalog, wanted, &found)?;
    if selected.is_empty() {
        return Err(Error::NotFound(format!(
            "{} holds no image",
            src.location().display()
        )));
    }

    // Name everything before copying a byte, so a naming problem changes nothing.
    let mut planned = name_all(&catalog, selected, plan)?;
    // A name the store gives to another image moves only with --force; checked
    // here, before anything is staged, and again under the lock at commit.
    let moves = name_moves(&store_index, &planned);
    if !plan.force
        && let Some(m) = moves.first()
    {
        return Err(moved_refusal(m, moves.len()));
    }

    let mut summary = Summary {
        digests_preserved: true,
        ..Summary::default()
    };
    if let Some(trust) = &plan.admission {
        let mut turned_away: HashSet<Digest> = HashSet::new();
        for p in planned.iter().filter(|p| p.subject.is_none()) {
            if let Err(e) = admit(&catalog, &p.source_name, &p.desc.digest, trust) {
                turned_away.insert(p.desc.digest.clone());
                summary.refused.push(Refused {
                    reference: p.name.clone(),
                    digest: p.desc.digest.clone(),
                    reason: e.to_string(),
                });
            }
        }
        // An artifact comes only with an admitted image.
        planned.retain(|p| p.subject.is_some() || !turned_away.contains(&p.desc.digest));
        // ... with the artifacts of every manifest below it (the per-platform
        // signatures of `sign -r`): the image's signature vouches for its whole tree
        let mut admitted: HashSet<Digest> = HashSet::new();
        for p in planned.iter().filter(|p| p.subject.is_none()) {
            admitted.extend(with_descendants(src, &p.desc)?);
        }
        planned.retain(|p| p.subject.as_ref().is_none_or(|s| admitted.contains(s)));
        if admitted.is_empty() {
            return Ok(summary);
        }
    }
    if let Source::Archive(a) = source {
        let rebuilt: HashSet<&Digest> = a.rebuilt_manifests().iter().collect();
        summary.digests_preserved = !planned.iter().any(|p| rebuilt.contains(&p.desc.digest));
    }

    let mut tx = store.begin()?;
    let referrers = referrers(&found, src, store, &mut tx, &mut planned)?;

    let bars = Bars::new(plan.progress, planned.len() as u64);
    let mut roots: Vec<Descriptor> = planned
        .iter()
        .filter(|p| !p.made)
        .map(|p| p.desc.clone())
        .collect();
    roots.extend(referrers);
    let copied = copy(src, &mut tx, &roots, &bars)?;
    summary.new_blobs += copied.blobs;
    summary.new_bytes += copied.bytes;
    bars.finish();
    keep_store_signatures(
        store,
        &store_index,
        src,
        &mut tx,
        &mut planned,
        &mut summary,
    )?;

    summary.moved = tx.commit(|idx| {
        let moves = name_moves(idx, &planned);
        if !plan.force
            && let Some(m) = moves.first()
        {
            return Err(moved_refusal(m, moves.len()));
        }
        idx.set_named_many(planned.iter().map(|p| {
            let mut entry = p.desc.clone();
            entry.annotations.remove(REF_NAME);
            entry.annotations.remove(COSIGN_KIND);
            entry.annotations.remove(CONTAINERD_NAME);
            (p.name.clone(), entry)
        }));
        Ok(moves)
    })?;
    for p in planned {
        let item = Imported {
            reference: p.name,
            digest: p.desc.digest,
            media_type: p.desc.media_type,
        };
        if p.subject.is_some() {
            summary.artifacts.push(item);
        } else {
            summary.images.push(item);
        }
    }
    Ok(summary)
}

/// The image names of `planned` that `index` gives to other images.
fn name_moves(index: &Index, planned: &[Planned]) -> Vec<Moved> {
    let named: HashMap<&str, &Digest> = index
        .manifests
        .iter()
        .filter_map(|d| d.ref_name().map(|n| (n, &d.digest)))
        .collect();
    planned
        .iter()
        .filter(|p| p.subject.is_none())
        .filter_map(|p| {
            let old = named.get(p.name.as_str())?;
            (**old != p.desc.digest).then(|| Moved {
                reference: p.name.clone(),
                from: (*old).clone(),
                to: p.desc.digest.clone(),
            })
        })
        .collect()
}

fn moved_refusal(m: &Moved, n: usize) -> Error {
    let more = if n > 1 {
        format!(" (and {} more name(s))", n - 1)
    } else {
        String::new()
    };
    Error::Conflict(format!(
        "{} in the store is {}; this import would move it to {}{more}; nothing imported          (pass --force to move it)",
        m.reference, m.from, m.to
    ))
}

/// The entries to import: every entry, or the `wanted` ones with their artifacts.
fn select(
    catalog: &Catalog<'_>,
    wanted: &[String],
    found: &Referrers,
) -> Result<Vec<(Descriptor, EntryName)>> {
    let all: Vec<(Descriptor, EntryName)> = catalog
        .entries()
        .filter(|(d, _)| !found.entries.contains(&d.digest))
        .map(|(d, n)| (d.clone(), n.clone()))
        .collect();
    if wanted.is_empty() {
        return Ok(all);
    }
    let mut out: Vec<(Descriptor, EntryName)> = Vec::new();
    for q in wanted {
        let found = catalog.find(Some(q))?;
        let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
        // the image's own artifacts and those of each manifest below it (`sign -r`
        // signs every platform of an index)
        let tree = with_descendants(catalog.layout(), &found.descriptor)?;
        out.push((found.descriptor, name.clone()));
        for (desc, n) in &all {
            if artifact_subject(n, &all).is_some_and(|s| tree.contains(&s))
                && same_repository(n, &name)
            {
                out.push((desc.clone(), n.clone()));
            }
        }
    }
    let mut seen = HashSet::new();
    out.retain(|(d, n)| seen.insert((d.digest.clone(), format!("{n:?}"))));
    Ok(out)
}

fn same_repository(a: &EntryName, b: &EntryName) -> bool {
    match (a, b) {
        (EntryName::Full(x), EntryName::Full(y)) => x.name() == y.name(),
        (EntryName::Full(_), _) | (_, EntryName::Full(_)) => false,
        _ => true,
    }
}

/// For an artifact entry, the digest of the image it belongs to: from its
/// `sha256-<hex>[.sig|.att|.sbom]` tag, or, in a `cosign save` layout, the layout's
/// image entry. `None` for images.
fn artifact_subject(name: &EntryName, all: &[(Descriptor, EntryName)]) -> Option<Digest> {
    match name {
        EntryName::Unnamed(Some(kind)) if kind.starts_with("dev.cosignproject.cosign/") => {
            if kind == KIND_IMAGE || kind == KIND_IMAGE_INDEX {
                return None;
            }
            cosign_image(all).map(|d| d.digest.clone())
        }
        _ => {
            let tag = name.tag()?;
            if !is_artifact_tag(tag) {
                return None;
            }
            let base = tag
                .strip_suffix(".sig")
                .or_else(|| tag.strip_suffix(".att"))
                .or_else(|| tag.strip_suffix(".sbom"))
                .unwrap_or(tag);
            let (alg, hex) = base.split_once('-')?;
            format!("{alg}:{hex}").parse().ok()
        }
    }
}

/// The image entry of a `cosign save` layout (`imageIndex` preferred, as cosign).
fn cosign_image(all: &[(Descriptor, EntryName)]) -> Option<&Descriptor> {
    let kind = |k: &str| {
        all.iter()
            .find(|(_, n)| matches!(n, EntryName::Unnamed(Some(x)) if x == k))
            .map(|(d, _)| d)
    };
    kind(KIND_IMAGE_INDEX).or_else(|| kind(KIND_IMAGE))
}

/// Gives every selected entry its store name (`--repository`, then `--rename`).
fn name_all(
    catalog: &Catalog<'_>,
    selected: Vec<(Descriptor, EntryName)>,
    plan: &Plan,
) -> Result<Vec<Planned>> {
    let location = catalog.layout().location().display().to_string();
    let all: Vec<(Descriptor, EntryName)> = catalog
        .entries()
        .map(|(d, n)| (d.clone(), n.clone()))
        .collect();
    let images = selected
        .iter()
        .filter(|(d, n)| artifact_subject(n, &all).is_none() && !is_artifact(d))
        .count();
    let repo = plan.repository.as_ref();
    if let Some(Repository { tag: Some(_), .. }) = repo
        && images != 1
    {
        return Err(Error::Usage(format!(
            "--repository REPO:TAG names one image, and {location} holds {images} to import; \
             name one (airsign import SRC REF) or pass --repository REPO"
        )));
    }
    // Images first: their repository names their artifacts.
    let mut out: Vec<Planned> = Vec::new();
    let mut repo_of: HashMap<Digest, String> = HashMap::new();
    for (desc, name) in &selected {
        if artifact_subject(name, &all).is_some() || is_artifact(desc) {
            continue;
        }
        let full = image_name(desc, name, repo, &location)?;
        let r = Reference::parse(&full)?;
        repo_of.insert(desc.digest.clone(), r.name());
        out.push(Planned {
            desc: desc.clone(),
            source_name: name.clone(),
            name: full,
            subject: None,
            made: false,
        });
    }
    for (desc, name) in &selected {
        let Some(subject) = artifact_subject(name, &all) else {
            if is_artifact(desc) {
                return Err(Error::invalid(format!(
                    "{location}: entry {} looks like an artifact but names no image",
                    desc.digest
                )));
            }
            continue;
        };
        let tag = match name {
            EntryName::Unnamed(Some(kind)) => {
                let suffix = match kind.as_str() {
                    "dev.cosignproject.cosign/sigs" => "sig",
                    "dev.cosignproject.cosign/atts" => "att",
                    "dev.cosignproject.cosign/sboms" => "sbom",
                    other => {
                        return Err(Error::invalid(format!(
                            "{location}: unknown cosign kind {:?}",
                            printable(other)
                        )));
                    }
                };
                format!("{}.{suffix}", subject.tag_form())
            }
            n => n.tag().expect("artifacts have tags").to_owned(),
        };
        // An artifact named by a full reference stays in its own repository: the same
        // image can be in several repositories, each with its own signatures.
        let repository = match (name, repo_of.get(&subject), repo) {
            (EntryName::Full(r), _, _) => r.name(),
            (_, Some(r), _) => r.clone(),
            (_, None, Some(r)) => r.name.clone(),
            (_, None, None) => {
                return Err(Error::Usage(format!(
                    "{location}: entry {tag:?} has only a tag; pass --repository REGISTRY/REPO to name it"
                )));
            }
        };
        out.push(Planned {
            desc: desc.clone(),
            source_name: name.clone(),
            name: Reference::with_tag(&repository, &tag)?.to_string(),
            subject: Some(subject),
            made: false,
        });
    }
    for p in &mut out {
        p.name = rename(&plan.renames, &p.name)?;
    }
    // One name, one image: a source (or a --rename) giving one name to two images
    // would keep only the last of them.
    let mut by_name: HashMap<&str, &Digest> = HashMap::new();
    for p in &out {
        if let Some(other) = by_name.insert(&p.name, &p.desc.digest)
            && *other != p.desc.digest
        {
            return Err(Error::invalid(format!(
                "{location}: {} names two different images ({other} and {}); import one of                  them by digest (airsign import SRC DIGEST --repository REPO:TAG)",
                p.name, p.desc.digest
            )));
        }
    }
    let mut seen = HashSet::new();
    out.retain(|p| seen.insert(p.name.clone()));
    Ok(out)
}

/// The store name of an image entry.
fn image_name(
    desc: &Descriptor,
    name: &EntryName,
    repo: Option<&Repository>,
    location: &str,
) -> Result<String> {
    if let Some(Repository {
        name: r,
        tag: Some(t),
    }) = repo
    {
        return Ok(Reference::with_tag(r, t)?.to_string());
    }
    match name {
        EntryName::Full(r) => match r.tag() {
            Some(tag) => Ok(format!("{}:{tag}", r.name())),
            // named by digest (or found by digest below an index): `REPO@sha256:…`
            None => Ok(r.at_digest(&desc.digest).to_string()),
        },
        EntryName::Tag(t) => match repo {
            Some(r) => {
                validate_tag(t).map_err(|why| {
                    Error::invalid(format!("{location}: entry {}: {why}", desc.digest))
                })?;
                Ok(Reference::with_tag(&r.name, t)?.to_string())
            }
            None => Err(Error::Usage(format!(
                "{location}: entry {t:?} ({}) has only a tag; pass --repository REGISTRY/REPO to name it",
                desc.digest
            ))),
        },
        // an untagged image: named by its digest in the repository given
        EntryName::Unnamed(_) => match repo {
            Some(r) => Ok(format!("{}@{}", r.name, desc.digest)),
            None => Err(Error::Usage(format!(
                "{location}: image {} has no name (a cosign save layout, or an untagged \
                 image); pass --repository REGISTRY/REPO (it is then named \
                 REPO@sha256:…) or REGISTRY/REPO:TAG",
                desc.digest
            ))),
        },
    }
}

/// The admission gate's trust: `--verify-key`, or keyless `--trusted-root` with the
/// identity flags (both required, as `verify` requires them).
fn admission(opts: &ImportOptions) -> Result<Option<Trust>> {
    if let Some(key) = &opts.verify_key {
        if opts.trusted_root.is_some() {
            return Err(Error::Usage(
                "--verify-key and --trusted-root are two gates: give one".into(),
            ));
        }
        return Ok(Some(Trust {
            key: Some(crate::keys::load_public_key(key)?),
            ..Trust::default()
        }));
    }
    let identity_given = opts.identity.is_given();
    match &opts.trusted_root {
        None if identity_given => Err(Error::Usage(
            "--certificate-identity and --certificate-oidc-issuer need --trusted-root".into(),
        )),
        None => Ok(None),
        Some(root) => super::trust_flags::load_trust(&super::trust_flags::TrustFlags {
            trusted_root: Some(root.clone()),
            identity: opts.identity.clone(),
            ..Default::default()
        })
        .map(Some),
    }
}

/// The admission gate: the image is admitted when at least one of its signatures
/// (`.sig` layers, bundle referrers) in the source verifies with `trust` and claims
/// its digest (as `airsign verify`).
fn admit(catalog: &Catalog<'_>, name: &EntryName, digest: &Digest, trust: &Trust) -> Result<()> {
    let shown = match name {
        EntryName::Full(r) => r.to_string(),
        EntryName::Tag(t) => t.clone(),
        EntryName::Unnamed(_) => digest.to_string(),
    };
    let signatures = crate::signature::policy::gather_signatures(catalog, name, digest, &shown)?;
    crate::signature::policy::judge(&signatures, trust, &BTreeMap::new()).map(drop)
}

/// Referrer manifests (OCI 1.1 `subject`) of the imported images and of every
/// manifest below them, found wherever the source keeps them
/// ([`Referrers::discover`]). In the store they are listed, as registries without
/// the referrers API do, in an index at the fallback tag `REPO:sha256-<hex>`,
/// merged with the one already there. A referrer belongs to a repository: one a
/// source listing lists goes only where that listing goes, never to another
/// repository that holds the same digest; one the source keeps untagged or only in
/// its blobs names no repository, so it goes with every imported image it refers
/// to. Returns the referrer manifests to copy.
fn referrers(
    found: &Referrers,
    src: &dyn ReadLayout,
    store: &Layout,
    tx: &mut Transaction<'_>,
    planned: &mut Vec<Planned>,
) -> Result<Vec<Descriptor>> {
    // The repositories of every imported image and of each manifest below it (a
    // referrer may have a platform manifest as its subject).
    let mut repos_of: HashMap<Digest, BTreeSet<String>> = HashMap::new();
    for p in planned.iter().filter(|p| p.subject.is_none()) {
        if let Ok(r) = Reference::parse(&p.name) {
            for d in with_descendants(src, &p.desc)? {
                repos_of.entry(d).or_default().insert(r.name());
            }
        }
    }
    // (subject, repository) → the listing's new children from this source
    let mut targets: BTreeMap<(Digest, String), Vec<Descriptor>> = BTreeMap::new();
    let mut copy: Vec<Descriptor> = Vec::new();
    for (subject, repos) in &repos_of {
        let unlisted: Vec<Descriptor> = found.unlisted(subject).map(|r| r.desc.clone()).collect();
        if unlisted.is_empty() {
            continue;
        }
        copy.extend(unlisted.iter().cloned());
        for repo in repos {
            targets
                .entry((subject.clone(), repo.clone()))
                .or_default()
                .extend(unlisted.iter().cloned());
        }
    }
    // The source's own listings that are imported: merged with the store's too.
    for p in planned.iter() {
        if let Some(subject) = &p.subject
            && p.name.ends_with(&format!(":{}", subject.tag_form()))
            && p.desc.kind() == Kind::Index
        {
            let repo = p.name[..p.name.len() - subject.tag_form().len() - 1].to_owned();
            let kids = manifest::index_children(src, &p.desc)?;
            copy.extend(kids.iter().cloned());
            targets
                .entry((subject.clone(), repo))
                .or_default()
                .extend(kids);
        }
    }
    if targets.is_empty() {
        return Ok(copy);
    }
    // the store's index.json, read once for every subject (not once each)
    let store_cat = Catalog::open(store)?;
    for ((subject, repo), refs) in targets {
        let name = format!("{repo}:{}", subject.tag_form());
        let mut children: Vec<Descriptor> = Vec::new();
        // What the store already lists there, then what this source brings.
        if let Some(existing) = store_cat.named(&name) {
            children.extend(manifest::index_children(store, existing)?);
        }
        planned.retain(|p| p.name != name);
        children.extend(refs);
        let mut seen = HashSet::new();
        children.retain(|c| seen.insert(c.digest.clone()));
        let bytes = Index::listing(children).to_bytes();
        let digest = tx.put_bytes(&bytes)?;
        planned.push(Planned {
            desc: Descriptor::new(OCI_INDEX, digest, bytes.len() as u64),
            source_name: EntryName::Unnamed(None),
            name,
            subject: Some(subject),
            made: true,
        });
    }
    Ok(copy)
}

/// `desc`'s digest and those of every manifest and index below it.
fn with_descendants(layout: &dyn ReadLayout, desc: &Descriptor) -> Result<HashSet<Digest>> {
    let tree = copy::tree(layout, std::slice::from_ref(desc))?;
    Ok(tree.manifests.into_iter().map(|m| m.desc.digest).collect())
}

/// A `.sig` (or `.att`) the store already holds, under the name an imported one
/// takes, with other signatures: keep both sets — the imported artifact's layers,
/// then each of the store's it lacks, appended as `cosign sign` appends — instead of
/// replacing the store's (which would silently drop signatures). An SBOM is
/// replaced, with a warning.
fn keep_store_signatures(
    store: &Layout,
    index: &Index,
    src: &dyn ReadLayout,
    tx: &mut Transaction<'_>,
    planned: &mut [Planned],
    summary: &mut Summary,
) -> Result<()> {
    let existing: HashMap<&str, &Descriptor> = index
        .manifests
        .iter()
        .filter_map(|d| d.ref_name().map(|n| (n, d)))
        .collect();
    for p in planned
        .iter_mut()
        .filter(|p| p.subject.is_some() && !p.made)
    {
        let Some(ours) = existing.get(p.name.as_str()).copied() else {
            continue;
        };
        if ours.digest == p.desc.digest {
            continue;
        }
        if p.name.ends_with(".sbom") {
            summary.warnings.push(format!(
                "{}: the store's SBOM {} is replaced by the imported {}",
                p.name, ours.digest, p.desc.digest
            ));
            continue;
        }
        if !(p.name.ends_with(".sig") || p.name.ends_with(".att")) {
            continue;
        }
        let theirs = SignatureArtifact::read(src, &p.desc)?;
        let mine = match SignatureArtifact::read(store, ours) {
            Ok(a) => a,
            Err(e) => {
                summary.warnings.push(format!(
                    "{}: the store's artifact {} is unreadable ({e}); replaced by the imported one",
                    p.name, ours.digest
                ));
                continue;
            }
        };
        if theirs.holds_all_of(&mine) {
            continue; // the imported one holds every signature of the store's
        }
        if mine.holds_all_of(&theirs) {
            p.desc = ours.clone(); // and the store's every one of the imported
            continue;
        }
        let merged = theirs.merged_with(&mine)?;
        let (config, manifest) = merged.to_bytes();
        tx.put_bytes(&config)?;
        tx.put_bytes(&manifest)?;
        let desc = Descriptor::new(
            &p.desc.media_type,
            Digest::sha256(&manifest),
            manifest.len() as u64,
        );
        summary.merged.push(format!(
            "{}: the store's {} and the imported {} merged into {}",
            p.name, ours.digest, p.desc.digest, desc.digest
        ));
        p.desc = desc;
    }
    Ok(())
}

/// Progress on stderr (bytes and images), drawn only on a terminal.
struct Bars {
    _multi: MultiProgress,
    images: ProgressBar,
    bytes: ProgressBar,
}

impl Bars {
    fn new(show: bool, images: u64) -> Bars {
        let multi = super::progress::group(show);
        let images_bar = super::progress::add(&multi, show, "entries", Unit::Items, images);
        let bytes = super::progress::add(&multi, show, "bytes", Unit::Bytes, 0);
        Bars {
            _multi: multi,
            images: images_bar,
            bytes,
        }
    }

    fn finish(&self) {
        self.images.finish_and_clear();
        self.bytes.finish_and_clear();
    }
}

impl copy::Progress for Bars {
    fn total(&self, bytes: u64) {
        self.bytes.set_length(bytes);
    }

    fn bytes(&self, n: u64) {
        self.bytes.inc(n);
    }

    fn root(&self, _root: &Descriptor) {
        self.images.inc(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(r: &[&str]) -> Vec<Rename> {
        r.iter().map(|x| Rename::parse(x).unwrap()).collect()
    }

    #[test]
    fn renames_match_whole_components_longest_first() {
        let r = rules(&[
            "registry.example.com=mirror.internal",
            "registry.example.com/team/special=mirror.internal/vip",
        ]);
        assert_eq!(
            rename(&r, "registry.example.com/team/app:v1").unwrap(),
            "mirror.internal/team/app:v1"
        );
        assert_eq!(
            rename(&r, "registry.example.com/team/special:sha256-ab.sig").unwrap(),
            "mirror.internal/vip:sha256-ab.sig"
        );
        // No match on a partial component.
        assert_eq!(
            rename(&r, "registry.example.community/app:v1").unwrap(),
            "registry.example.community/app:v1"
        );
        let hub = rules(&["docker.io/library=localhost:5000/hub"]);
        assert_eq!(
            rename(&hub, "index.docker.io/library/busybox:1").unwrap(),
            "localhost:5000/hub/busybox:1"
        );
        for bad in ["x", "=y", "x=", "a/b:v1=c", "a=b@sha256:00"] {
            assert!(Rename::parse(bad).is_err(), "{bad}");
        }
        assert!(Rename::parse("localhost:5000=mirror:443").is_ok());
    }

    #[test]
    fn repository_with_and_without_tag() {
        let r = Repository::parse("registry.example.com/app:v1").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_deref()),
            ("registry.example.com/app", Some("v1"))
        );
        let r = Repository::parse("localhost:5000/app").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_deref()),
            ("localhost:5000/app", None)
        );
        assert!(Repository::parse("app@sha256:00").is_err());
    }
}
