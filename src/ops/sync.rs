//! `airsign sync`: images and their `.sig`/`.att`/`.sbom` artifacts from the store to
//! registries, byte for byte, in dependency order (blobs, child manifests, the tagged
//! manifest or index, then the artifact tags, signatures last).
//!
//! The whole plan — what goes where, every manifest read and parsed, every signature's
//! identity checked — is made before the first request, so that `--strict-identity`
//! and mapping errors refuse without sending anything. The registry then decides what
//! is sent: a tag whose HEAD already gives our digest costs one request and nothing
//! below it is looked at (a registry refuses a manifest whose blobs or children are
//! missing, so a present tag implies a present tree). A `.sig` the destination holds
//! with other signatures is merged, never replaced. See `docs/sync.md`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::digest::Digest;
use crate::reference::{Location, Reference};
use crate::registry::{
    BlobPush, CredentialSource, Options, RegistryClient, Repository, RequestStats,
    default_auth_files,
};
use crate::signature::{MAX_PAYLOAD, SIMPLESIGNING, SigLayer, SignatureArtifact};
use crate::store::descriptor::Index;
use crate::store::manifest::{self, Document, MAX_MANIFEST};
use crate::store::resolve::{Catalog, EntryName, artifact_name, is_artifact};
use crate::store::{Descriptor, Kind, Layout, ReadLayout};
use crate::{Error, Result};

#[derive(Debug, Default)]
pub struct SyncOptions {
    pub all: bool,
    /// `REGISTRY[/PREFIX]`.
    pub to: Option<String>,
    /// `FROM=TO` repository rewrites.
    pub map: Vec<String>,
    pub creds: Option<String>,
    pub ca_certs: Vec<PathBuf>,
    pub cert_dirs: Vec<PathBuf>,
    pub insecure: bool,
    pub plain_http: bool,
    pub dry_run: bool,
    pub strict_identity: bool,
    pub json: bool,
}

/// Artifact kinds carried with an image, in push order (signatures last).
const SUFFIXES: [&str; 3] = ["sbom", "att", "sig"];
/// Indexes nest at most this deep (an index of indexes of manifests is already rare).
const MAX_DEPTH: usize = 8;

pub fn run(store: &Path, images: &[String], opts: &SyncOptions) -> Result<()> {
    let store = super::store::open(store)?;
    let client = RegistryClient::new(Options {
        credentials: match &opts.creds {
            Some(c) => CredentialSource::from_creds(c)?,
            None => CredentialSource::DockerConfig {
                files: default_auth_files(),
            },
        },
        ca_files: opts.ca_certs.clone(),
        certs_dirs: opts.cert_dirs.clone(),
        insecure: opts.insecure,
        plain_http: opts.plain_http,
        ..Options::default()
    })?;
    let plan = plan(&store, images, opts)?;
    for w in plan.iter().flat_map(|u| &u.warnings) {
        eprintln!("airsign: warning: {w}");
    }
    if opts.strict_identity {
        let bad: Vec<&String> = plan.iter().flat_map(|u| &u.warnings).collect();
        if !bad.is_empty() {
            return Err(Error::Usage(format!(
                "--strict-identity: {} signature(s) name another repository than their destination \
                 (first: {}); nothing was sent",
                bad.len(),
                bad[0]
            )));
        }
    }
    let report = execute(&store, &client, plan, opts.dry_run);
    if opts.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        );
    } else {
        print_human(&report, opts.dry_run);
    }
    if report.failed > 0 || !report.missing_signatures.is_empty() {
        let mut msg = format!(
            "sync failed for {} of {} image(s)",
            report.failed,
            report.images.len()
        );
        if let Some(e) = report.images.iter().find_map(|i| i.error.as_deref()) {
            let _ = write!(msg, " (first: {e})");
        }
        if !report.missing_signatures.is_empty() {
            let _ = write!(
                msg,
                "; signatures missing at the destination: {}",
                report.missing_signatures.join(", ")
            );
        }
        return Err(Error::Registry(msg));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Destinations

/// Where an image goes. `--map` rules are explicit overrides: the longest `FROM`
/// matching the source repository (`registry/path`, on component boundaries) gives
/// the destination and `--to` is not applied to it. Other images go to `--to`
/// (registry replaced, prefix added) or, without it, to their own repository.
pub fn destination(source: &Reference, to: Option<&str>, map: &[String]) -> Result<Repository> {
    let name = source.name();
    let mut best: Option<(&str, &str)> = None;
    for rule in map {
        let Some((from, dest)) = rule.split_once('=') else {
            return Err(Error::Usage(format!(
                "--map {rule:?}: expected FROM=TO (repository prefixes)"
            )));
        };
        let (from, dest) = (from.trim_end_matches('/'), dest.trim_end_matches('/'));
        if from.is_empty() || dest.is_empty() {
            return Err(Error::Usage(format!(
                "--map {rule:?}: FROM and TO must not be empty"
            )));
        }
        let hit = name == from
            || name
                .strip_prefix(from)
                .is_some_and(|rest| rest.starts_with('/'));
        if hit && best.is_none_or(|(f, _)| from.len() > f.len()) {
            best = Some((from, dest));
        }
    }
    let mapped = match (best, to) {
        (Some((from, dest)), _) => format!("{dest}{}", &name[from.len()..]),
        (None, Some(to)) => {
            let to = to.trim_end_matches('/');
            if to.is_empty() {
                return Err(Error::Usage("--to wants REGISTRY[/PREFIX]".into()));
            }
            format!("{to}/{}", source.repository())
        }
        (None, None) => return Ok(Repository::of(source)),
    };
    let (registry, path) = mapped.split_once('/').unwrap_or((&mapped, ""));
    if path.is_empty() {
        return Err(Error::Usage(format!(
            "{source}: maps to {mapped:?}, which names no repository on a registry"
        )));
    }
    Repository::new(registry, path).map_err(|e| {
        Error::Usage(format!(
            "{source}: maps to {mapped:?}, not a valid repository ({e})"
        ))
    })
}

// ---------------------------------------------------------------------------------
// The plan

/// A manifest or index with its exact bytes.
struct Node {
    desc: Descriptor,
    raw: Vec<u8>,
}

/// Everything one tagged manifest reaches, in push order.
#[derive(Default)]
struct Tree {
    /// Configs and layers, each once.
    blobs: Vec<Descriptor>,
    /// Manifests and indexes, children before parents: the root is last.
    manifests: Vec<Node>,
}

impl Tree {
    fn of(store: &Layout, root: &Descriptor) -> Result<Tree> {
        let mut t = Tree::default();
        let mut seen = HashSet::new();
        t.visit(store, root, &mut seen, 0)?;
        Ok(t)
    }

    fn visit(
        &mut self,
        store: &Layout,
        d: &Descriptor,
        seen: &mut HashSet<Digest>,
        depth: usize,
    ) -> Result<()> {
        if !seen.insert(d.digest.clone()) {
            return Ok(());
        }
        if d.kind() == Kind::Blob {
            self.blobs.push(d.clone());
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(Error::invalid(format!(
                "{}: indexes nested deeper than {MAX_DEPTH}",
                d.digest
            )));
        }
        let raw = store.read_blob(d, MAX_MANIFEST)?;
        let doc = manifest::parse(&raw, d, &format!("{} {}", d.media_type, d.digest))?;
        for c in doc.children() {
            self.visit(store, c, seen, depth + 1)?;
        }
        self.manifests.push(Node {
            desc: d.clone(),
            raw,
        });
        Ok(())
    }

    fn root(&self) -> &Node {
        self.manifests.last().expect("a tree has its root")
    }
}

/// A `.sig`, `.att` or `.sbom` artifact of the image (or of one of its manifests).
struct Artifact {
    tag: String,
    suffix: &'static str,
    tree: Tree,
    /// Its layers, for merging with the destination's (`.sig` and `.att`).
    layers: Option<SignatureArtifact>,
}

/// One image entry of the store and where it goes.
struct Unit {
    source: Reference,
    dest: Repository,
    tag: String,
    tree: Tree,
    artifacts: Vec<Artifact>,
    warnings: Vec<String>,
}

fn plan(store: &Layout, images: &[String], opts: &SyncOptions) -> Result<Vec<Unit>> {
    match (images.is_empty(), opts.all) {
        (true, false) => {
            return Err(Error::Usage(
                "name the images to sync, or pass --all".into(),
            ));
        }
        (false, true) => return Err(Error::Usage("give images or --all, not both".into())),
        _ => {}
    }
    let catalog = Catalog::open(store)?;
    let mut entries: Vec<Descriptor> = Vec::new();
    if opts.all {
        entries.extend(
            catalog
                .entries()
                .filter(|(d, _)| !is_artifact(d))
                .map(|(d, _)| d.clone()),
        );
        if entries.is_empty() {
            return Err(Error::NotFound(format!(
                "{} holds no image to sync",
                store.root().display()
            )));
        }
    } else {
        for i in images {
            entries.extend(select(&catalog, i)?);
        }
    }
    let mut seen = HashSet::new();
    entries.retain(|d| seen.insert((d.ref_name().map(str::to_owned), d.digest.clone())));

    // two images must not claim one destination tag
    let mut claimed: HashMap<(Repository, String), (Digest, String)> = HashMap::new();
    let mut units = Vec::with_capacity(entries.len());
    for e in entries {
        let name = EntryName::of(&e);
        let EntryName::Full(source) = &name else {
            return Err(Error::invalid(format!(
                "store entry {} has no full reference name",
                e.digest
            )));
        };
        let tag = source.tag().expect("store entries are tagged").to_owned();
        let dest = destination(source, opts.to.as_deref(), &opts.map)?;
        match claimed.get(&(dest.clone(), tag.clone())) {
            Some((d, other)) if *d != e.digest => {
                return Err(Error::Usage(format!(
                    "{source} and {other} both map to {dest}:{tag} with different digests"
                )));
            }
            _ => {
                claimed.insert(
                    (dest.clone(), tag.clone()),
                    (e.digest.clone(), source.to_string()),
                );
            }
        }
        let tree = Tree::of(store, &e)?;
        let mut artifacts = Vec::new();
        let mut warnings = Vec::new();
        for suffix in SUFFIXES {
            for m in &tree.manifests {
                let Some(n) = artifact_name(&name, &m.desc.digest, suffix) else {
                    continue;
                };
                let Some(a) = catalog.named(&n) else {
                    continue;
                };
                let layers = match suffix {
                    "sig" | "att" => Some(SignatureArtifact::read(store, a)?),
                    _ => None,
                };
                if let (Some(sig), "sig") = (&layers, suffix) {
                    warnings.extend(identity_warnings(store, source, &dest, sig)?);
                }
                artifacts.push(Artifact {
                    tag: n.rsplit_once(':').map_or(n.as_str(), |(_, t)| t).to_owned(),
                    suffix,
                    tree: Tree::of(store, a)?,
                    layers,
                });
            }
        }
        units.push(Unit {
            source: source.clone(),
            dest,
            tag,
            tree,
            artifacts,
            warnings,
        });
    }
    Ok(units)
}

/// The store entries an IMAGE argument names: the tagged entry, or for a digest
/// reference every tagged entry of that repository with that digest.
fn select(catalog: &Catalog<'_>, image: &str) -> Result<Vec<Descriptor>> {
    let r = match Location::parse(image)? {
        Location::Store(r) => r,
        _ => {
            return Err(Error::Usage(format!(
                "{image}: sync takes references in the store (import other layouts first)"
            )));
        }
    };
    let found = catalog.find_reference(&r)?;
    if is_artifact(&found.descriptor) {
        return Err(Error::Usage(format!(
            "{image} is a signature artifact: sync the image it belongs to"
        )));
    }
    if r.tag().is_some() {
        return Ok(vec![found.descriptor]);
    }
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
            "{image} has no tag in the store (a platform of an index?); sync the image it belongs to"
        )));
    }
    Ok(hits)
}

/// One warning per signature whose `docker-reference` skopeo's `matchRepository`
/// would reject at `dest`.
fn identity_warnings(
    store: &Layout,
    source: &Reference,
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
        let raw = store.read_blob(&desc, MAX_PAYLOAD)?;
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

// ---------------------------------------------------------------------------------
// Running it

/// What `--json` prints.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub images: Vec<ImageReport>,
    pub failed: usize,
    /// `REPO:sha256-….sig` tags of the source that are not at the destination.
    pub missing_signatures: Vec<String>,
    pub requests: RequestStats,
}

#[derive(Debug, Default, Serialize)]
pub struct ImageReport {
    pub source: String,
    pub destination: String,
    pub digest: String,
    /// `pushed`, `present` (nothing to send), `would-push` (dry run) or `failed`.
    pub status: String,
    pub blobs: BlobCounts,
    /// Manifests and indexes, artifacts' included.
    pub manifests_pushed: u64,
    pub manifests_present: u64,
    pub artifacts: Vec<ArtifactReport>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct BlobCounts {
    /// Already at the destination (HEAD), or below a tag that already was.
    pub present: u64,
    pub uploaded: u64,
    pub mounted: u64,
    /// Missing, in a dry run.
    pub missing: u64,
    /// Bytes uploaded (or, in a dry run, that would be).
    pub bytes_sent: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct ArtifactReport {
    pub tag: String,
    pub kind: String,
    pub digest: String,
    /// `pushed`, `present`, `merged` (our layers appended to the destination's),
    /// `contained` (the destination's already has all our layers), `replaced`
    /// (`.sbom`), `would-push`, `would-merge`, or `failed`.
    pub status: String,
    /// Layers (signatures, attestations) in ours.
    pub layers: usize,
    /// Layers the destination held before and kept.
    pub kept_layers: usize,
    /// The digest at the destination afterwards (differs from ours after a merge).
    pub destination_digest: Option<String>,
}

struct Run<'a> {
    store: &'a Layout,
    client: &'a RegistryClient,
    dry_run: bool,
    /// Where this run found or put each blob, per registry: the mount source.
    located: HashMap<(String, Digest), Repository>,
    /// (repository, digest) pairs known present, so shared blobs are HEADed once.
    present: HashSet<(Repository, Digest)>,
    /// Artifact tags handled so far: their status and destination digest.
    done_tags: HashMap<(Repository, String), (String, Option<String>)>,
}

fn execute(store: &Layout, client: &RegistryClient, plan: Vec<Unit>, dry_run: bool) -> Report {
    let mut run = Run {
        store,
        client,
        dry_run,
        located: HashMap::new(),
        present: HashSet::new(),
        done_tags: HashMap::new(),
    };
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    // with one image, the final error says it all, on one line
    let many = plan.len() > 1;
    for unit in plan {
        let mut r = ImageReport {
            source: unit.source.to_string(),
            destination: format!("{}:{}", unit.dest, unit.tag),
            digest: unit.tree.root().desc.digest.to_string(),
            warnings: unit.warnings.clone(),
            ..ImageReport::default()
        };
        let result = run.image(&unit, &mut r);
        if let Err(e) = result {
            if many {
                eprintln!("airsign: sync: {} -> {}: {e}", unit.source, r.destination);
            }
            r.status = "failed".into();
            r.error = Some(e.to_string());
            report.failed += 1;
        }
        // accounting: every .sig of the source reached the destination (a successful
        // PUT, or a HEAD that showed it, or a merge that holds all of it)
        if !dry_run {
            for a in unit.artifacts.iter().filter(|a| a.suffix == "sig") {
                let ok = r.artifacts.iter().any(|x| {
                    x.tag == a.tag
                        && matches!(
                            x.status.as_str(),
                            "pushed" | "present" | "merged" | "contained"
                        )
                });
                if !ok {
                    report
                        .missing_signatures
                        .push(format!("{}:{}", unit.dest, a.tag));
                }
            }
        }
        report.images.push(r);
    }
    report.requests = client.stats();
    report
}

impl Run<'_> {
    fn image(&mut self, unit: &Unit, r: &mut ImageReport) -> Result<()> {
        let sent = self.tagged(&unit.dest, &unit.tag, &unit.tree, r)?;
        r.status = match (sent, self.dry_run) {
            (false, _) => "present",
            (true, false) => "pushed",
            (true, true) => "would-push",
        }
        .into();
        for a in &unit.artifacts {
            let mut ar = ArtifactReport {
                tag: a.tag.clone(),
                kind: a.suffix.into(),
                digest: a.tree.root().desc.digest.to_string(),
                layers: a.layers.as_ref().map_or(0, |l| l.layers.len()),
                ..ArtifactReport::default()
            };
            // two tags of one image in one repository share their artifacts: the
            // second finds them as the first left them
            let key = (unit.dest.clone(), a.tag.clone());
            if let Some((status, digest)) = self.done_tags.get(&key) {
                ar.status = match status.as_str() {
                    "pushed" | "merged" | "replaced" => "present".into(),
                    other => other.into(),
                };
                ar.destination_digest = digest.clone();
                r.artifacts.push(ar);
                continue;
            }
            let res = self.artifact(&unit.dest, a, &mut ar, r);
            if let Err(e) = res {
                ar.status = "failed".into();
                r.artifacts.push(ar);
                return Err(e);
            }
            if ar.status != "present" && ar.status != "contained" && !self.dry_run {
                r.status = "pushed".into();
            }
            self.done_tags
                .insert(key, (ar.status.clone(), ar.destination_digest.clone()));
            r.artifacts.push(ar);
        }
        Ok(())
    }

    /// The digest `repo:tag` has now, `None` if absent. One HEAD; a GET only when
    /// the registry's HEAD carries no digest.
    fn tag_digest(&self, repo: &Repository, tag: &str) -> Result<Option<Digest>> {
        match self.client.head_manifest(repo, tag, &[])? {
            None => Ok(None),
            Some(h) => match h.digest {
                Some(d) => Ok(Some(d)),
                None => Ok(Some(self.client.get_manifest(repo, tag, &[])?.digest)),
            },
        }
    }

    /// Pushes a tree under `tag` unless the tag already names it. Returns whether
    /// anything was (or, in a dry run, would be) sent.
    fn tagged(
        &mut self,
        repo: &Repository,
        tag: &str,
        tree: &Tree,
        r: &mut ImageReport,
    ) -> Result<bool> {
        let ours = &tree.root().desc.digest;
        if self.tag_digest(repo, tag)?.as_ref() == Some(ours) {
            r.blobs.present += tree.blobs.len() as u64;
            r.manifests_present += tree.manifests.len() as u64;
            self.note_tree(repo, tree);
            return Ok(false);
        }
        self.push_tree(repo, tag, tree, r)?;
        Ok(true)
    }

    /// Remembers a tree's blobs as present at `repo` (a mount source for later).
    fn note_tree(&mut self, repo: &Repository, tree: &Tree) {
        for b in &tree.blobs {
            self.located
                .entry((repo.registry().to_owned(), b.digest.clone()))
                .or_insert_with(|| repo.clone());
            self.present.insert((repo.clone(), b.digest.clone()));
        }
    }

    /// Blobs, then child manifests by digest, then the root by tag.
    fn push_tree(
        &mut self,
        repo: &Repository,
        tag: &str,
        tree: &Tree,
        r: &mut ImageReport,
    ) -> Result<()> {
        for b in &tree.blobs {
            self.blob(repo, b, r)?;
        }
        let last = tree.manifests.len() - 1;
        for (i, m) in tree.manifests.iter().enumerate() {
            let reference = if i == last {
                tag.to_owned()
            } else {
                let d = m.desc.digest.to_string();
                if self.client.head_manifest(repo, &d, &[])?.is_some() {
                    r.manifests_present += 1;
                    continue;
                }
                d
            };
            if !self.dry_run {
                self.client
                    .put_manifest(repo, &reference, &m.raw, &m.desc.media_type)?;
            }
            r.manifests_pushed += 1;
        }
        Ok(())
    }

    /// One blob from the store: nothing if `repo` has it, else a mount from a
    /// repository of the same registry this run saw it in, else an upload.
    fn blob(&mut self, repo: &Repository, d: &Descriptor, r: &mut ImageReport) -> Result<()> {
        let key = (repo.clone(), d.digest.clone());
        if self.present.contains(&key) {
            r.blobs.present += 1;
            return Ok(());
        }
        if self.client.blob_exists(repo, &d.digest)?.is_some() {
            r.blobs.present += 1;
        } else if self.dry_run {
            r.blobs.missing += 1;
            r.blobs.bytes_sent += d.size;
            return Ok(());
        } else {
            let mut f = open_blob(self.store, &d.digest, d.size)?;
            let from = self
                .located
                .get(&(repo.registry().to_owned(), d.digest.clone()))
                .filter(|from| *from != repo)
                .cloned();
            let pushed = match from {
                Some(from) => self
                    .client
                    .mount_blob(repo, &d.digest, d.size, &from, &mut f)?,
                None => {
                    self.client.upload_blob(repo, &d.digest, d.size, &mut f)?;
                    BlobPush::Uploaded
                }
            };
            match pushed {
                BlobPush::Mounted => r.blobs.mounted += 1,
                BlobPush::Uploaded => {
                    r.blobs.uploaded += 1;
                    r.blobs.bytes_sent += d.size;
                }
            }
        }
        self.located
            .entry((repo.registry().to_owned(), d.digest.clone()))
            .or_insert_with(|| repo.clone());
        self.present.insert(key);
        Ok(())
    }

    /// An artifact tag: pushed if absent, left if it is ours, merged if it holds
    /// other signatures (`.sig`, `.att`); a different `.sbom` is replaced.
    fn artifact(
        &mut self,
        repo: &Repository,
        a: &Artifact,
        ar: &mut ArtifactReport,
        r: &mut ImageReport,
    ) -> Result<()> {
        let ours = a.tree.root().desc.digest.clone();
        let theirs = self.tag_digest(repo, &a.tag)?;
        let Some(theirs) = theirs else {
            self.push_tree(repo, &a.tag, &a.tree, r)?;
            ar.status = if self.dry_run { "would-push" } else { "pushed" }.into();
            ar.destination_digest = (!self.dry_run).then(|| ours.to_string());
            return Ok(());
        };
        if theirs == ours {
            r.blobs.present += a.tree.blobs.len() as u64;
            r.manifests_present += a.tree.manifests.len() as u64;
            ar.status = "present".into();
            ar.destination_digest = Some(ours.to_string());
            return Ok(());
        }
        let Some(mine) = &a.layers else {
            r.warnings.push(format!(
                "{repo}:{}: replacing the destination's {theirs} with ours",
                a.tag
            ));
            self.push_tree(repo, &a.tag, &a.tree, r)?;
            ar.status = if self.dry_run {
                "would-push"
            } else {
                "replaced"
            }
            .into();
            ar.destination_digest = (!self.dry_run).then(|| ours.to_string());
            return Ok(());
        };
        self.merge(repo, a, mine, ar, r)
    }

    /// Starts from the destination's artifact and appends each of our layers it
    /// lacks (same digest and annotations = same layer), as `cosign sign` appends.
    fn merge(
        &mut self,
        repo: &Repository,
        a: &Artifact,
        mine: &SignatureArtifact,
        ar: &mut ArtifactReport,
        r: &mut ImageReport,
    ) -> Result<()> {
        let ctx = format!("{repo}:{}", a.tag);
        let m = self.client.get_manifest(repo, &a.tag, &[])?;
        let desc = Descriptor::new(&m.media_type, m.digest.clone(), m.bytes.len() as u64);
        let doc = manifest::parse(&m.bytes, &desc, &format!("{ctx} at the destination"))?;
        let Document::Manifest { config, layers, .. } = doc else {
            return Err(Error::Registry(format!(
                "{ctx}: the destination's artifact is an index, not a signature image: refusing to replace it"
            )));
        };
        let same =
            |x: &SigLayer, y: &Descriptor| x.digest == y.digest && x.annotations == y.annotations;
        let new: Vec<&SigLayer> = mine
            .layers
            .iter()
            .filter(|l| !layers.iter().any(|t| same(l, t)))
            .collect();
        ar.kept_layers = layers.len();
        if new.is_empty() {
            ar.status = "contained".into();
            ar.destination_digest = Some(m.digest.to_string());
            return Ok(());
        }
        if self.dry_run {
            ar.status = "would-merge".into();
            return Ok(());
        }
        if config.size > MAX_MANIFEST {
            return Err(Error::Registry(format!(
                "{ctx}: the destination's config {} is {} bytes, over the {MAX_MANIFEST}-byte limit",
                config.digest, config.size
            )));
        }
        let mut config_raw = Vec::new();
        self.client
            .fetch_blob(repo, &config.digest, Some(config.size), &mut config_raw)?;
        let mem = MemLayout {
            at: PathBuf::from(&ctx),
            blobs: HashMap::from([
                (m.digest.clone(), m.bytes.clone()),
                (config.digest.clone(), config_raw),
            ]),
        };
        let mut merged = SignatureArtifact::read(&mem, &desc)?;
        for l in &new {
            merged.append((*l).clone())?;
            let d = Descriptor::new(&l.media_type, l.digest.clone(), l.size);
            self.blob(repo, &d, r)?;
        }
        let (config_bytes, manifest_bytes) = merged.to_bytes();
        let cd = Digest::sha256(&config_bytes);
        if self.client.blob_exists(repo, &cd)?.is_none() {
            self.client.upload_blob(
                repo,
                &cd,
                config_bytes.len() as u64,
                &mut Cursor::new(&config_bytes),
            )?;
            r.blobs.uploaded += 1;
            r.blobs.bytes_sent += config_bytes.len() as u64;
        }
        let got = self
            .client
            .put_manifest(repo, &a.tag, &manifest_bytes, &m.media_type)?;
        r.manifests_pushed += 1;
        ar.status = "merged".into();
        ar.destination_digest = Some(got.to_string());
        Ok(())
    }
}

/// Opens a store blob to send, checking its size against its descriptor's.
fn open_blob(store: &Layout, d: &Digest, size: u64) -> Result<File> {
    match store.open_blob(d)? {
        None => Err(Error::NotFound(format!(
            "blob {d} is missing from {} (run airsign fsck)",
            store.root().display()
        ))),
        Some((_, len)) if len != size => Err(Error::invalid(format!(
            "blob {d} in {} is {len} bytes, its descriptor says {size} (run airsign fsck)",
            store.root().display()
        ))),
        Some((f, _)) => Ok(f),
    }
}

/// The destination's `.sig` manifest and config, fetched, read through the same
/// [`SignatureArtifact::read`] as the store's so the merge re-serialises like cosign.
struct MemLayout {
    at: PathBuf,
    blobs: HashMap<Digest, Vec<u8>>,
}

impl ReadLayout for MemLayout {
    fn location(&self) -> &Path {
        &self.at
    }

    fn read_index(&self) -> Result<Index> {
        Ok(Index::default())
    }

    fn read_blob(&self, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        match self.blobs.get(&desc.digest) {
            Some(b)
                if b.len() as u64 == desc.size && desc.size <= max && desc.digest.matches(b) =>
            {
                Ok(b.clone())
            }
            _ => Err(Error::Registry(format!(
                "{}: blob {} missing or not as described",
                self.at.display(),
                desc.digest
            ))),
        }
    }

    fn open_blob(&self, d: &Digest) -> Result<Option<(Box<dyn Read + '_>, u64)>> {
        Ok(self.blobs.get(d).map(|b| {
            (
                Box::new(Cursor::new(b.as_slice())) as Box<dyn Read>,
                b.len() as u64,
            )
        }))
    }

    fn has_blob(&self, d: &Digest) -> Result<bool> {
        Ok(self.blobs.contains_key(d))
    }
}

// ---------------------------------------------------------------------------------
// Output

fn print_human(report: &Report, dry_run: bool) {
    // failed images were reported as they failed, or are the final error
    for i in report.images.iter().filter(|i| i.error.is_none()) {
        let mut line = format!("{}  {}  {}", i.status, i.destination, i.digest);
        if dry_run {
            let _ = write!(
                line,
                "\n  blobs: {} present, {} missing ({} bytes to send); manifests: {} to push, {} present",
                i.blobs.present,
                i.blobs.missing,
                i.blobs.bytes_sent,
                i.manifests_pushed,
                i.manifests_present
            );
        } else {
            let _ = write!(
                line,
                " ({} blob(s) uploaded, {} mounted, {} present; {} bytes; {} manifest(s) pushed)",
                i.blobs.uploaded,
                i.blobs.mounted,
                i.blobs.present,
                i.blobs.bytes_sent,
                i.manifests_pushed
            );
        }
        for a in &i.artifacts {
            let _ = write!(line, "\n  {} {} ({} layer(s)", a.status, a.tag, a.layers);
            if a.kept_layers > 0 {
                let _ = write!(line, ", {} kept from the destination", a.kept_layers);
            }
            line.push(')');
        }
        if dry_run {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
    if report.failed == report.images.len() {
        return;
    }
    let s = &report.requests;
    let tally: BTreeMap<&str, u64> = BTreeMap::from([
        ("GET", s.get),
        ("HEAD", s.head),
        ("POST", s.post),
        ("PUT", s.put),
        ("PATCH", s.patch),
    ]);
    let tally: Vec<String> = tally
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(m, n)| format!("{n} {m}"))
        .collect();
    eprintln!(
        "{} {} image(s), {} failed; {} request(s) ({}), {} bytes sent",
        if dry_run { "planned" } else { "synced" },
        report.images.len(),
        report.failed,
        s.total,
        tally.join(", "),
        s.bytes_sent
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(src: &str, to: Option<&str>, map: &[&str]) -> Result<String> {
        let map: Vec<String> = map.iter().map(|s| s.to_string()).collect();
        destination(&Reference::parse(src).unwrap(), to, &map).map(|r| r.to_string())
    }

    #[test]
    fn destinations() {
        let src = "registry.example.com/team/app:v1";
        assert_eq!(
            dest(src, None, &[]).unwrap(),
            "registry.example.com/team/app"
        );
        assert_eq!(
            dest(src, Some("127.0.0.1:5000/mirror"), &[]).unwrap(),
            "127.0.0.1:5000/mirror/team/app"
        );
        assert_eq!(
            dest(src, Some("127.0.0.1:5000/"), &[]).unwrap(),
            "127.0.0.1:5000/team/app"
        );
        // --map wins over --to; the longest FROM wins; only whole components match
        assert_eq!(
            dest(
                src,
                Some("h:1"),
                &[
                    "registry.example.com=m:5000/x",
                    "registry.example.com/team=m:5000/t"
                ]
            )
            .unwrap(),
            "m:5000/t/app"
        );
        assert_eq!(
            dest(src, Some("h:1"), &["registry.example.com/te=m:5000/x"]).unwrap(),
            "h:1/team/app"
        );
        assert_eq!(
            dest(src, None, &["registry.example.com/team/app=m:5000/other"]).unwrap(),
            "m:5000/other"
        );
        assert!(dest(src, None, &["registry.example.com/team/app=m:5000"]).is_err());
        assert!(dest(src, None, &["nothing"]).is_err());
        assert!(dest(src, Some("h:1/UPPER"), &[]).is_err());
    }
}
