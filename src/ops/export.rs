//! `airsign export`: images with their signatures out of the store, to an
//! `oci-archive` tarball (optionally zstd-compressed and split), an OCI layout
//! directory, or cosign's `save` layout.
//!
//! Every blob is streamed from the store and hashed on the way out; a blob that does
//! not match its digest fails the export (a corrupt store must never yield a "good"
//! archive). Nothing partial is left behind: archives and cosign layouts are written
//! under temp names and renamed at the end, and a layout directory changes only in a
//! [`crate::store::Transaction`] commit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use indicatif::{MultiProgress, ProgressBar};

use super::progress::{self, Unit};
use serde::Serialize;

use crate::archive::output::{self, WrittenFile, rename_noreplace, suffixed};
use crate::archive::sink;
use crate::archive::writer::{self, Compression};
use crate::copy::{self, copy};
use crate::digest::Digest;
use crate::reference::Location;
use crate::store::layout::sync_dir;
use crate::store::manifest;
use crate::store::resolve::{self, Catalog, EntryName, is_artifact};
use crate::store::{Descriptor, Index, Kind, Layout};
use crate::verify::VerifyingReader;
use crate::{Error, Result};

#[derive(Debug, Default)]
pub struct ExportOptions {
    pub all: bool,
    pub to: String,
    pub format: String,
    pub compress: Option<String>,
    /// zstd's level (1–19); `None` is zstd's default, 3.
    pub compress_level: Option<i32>,
    pub split: Option<String>,
    pub no_signatures: bool,
    pub json: bool,
}

/// What an export wrote (`--json` prints it).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `oci-archive`, `oci` or `cosign`.
    pub format: &'static str,
    pub destination: PathBuf,
    pub compression: Option<&'static str>,
    pub images: Vec<Exported>,
    /// `.sig`, `.att`, `.sbom` and referrers-tag entries exported with the images.
    pub artifacts: Vec<Exported>,
    /// Distinct blobs (manifests, configs, layers) in the export, and their bytes.
    pub blobs: u64,
    pub bytes: u64,
    /// Bytes written: the archive's files, or the blobs new to a layout directory.
    pub written_bytes: u64,
    pub files: Vec<WrittenFile>,
}

#[derive(Debug, Serialize)]
pub struct Exported {
    pub reference: Option<String>,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
}

pub fn run(store: &Path, images: &[String], opts: &ExportOptions) -> Result<()> {
    let store = super::open_store(store)?;
    let summary = export(&store, images, opts, progress::shown(opts.json))?;
    if opts.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("serialisable")
        )?;
        return Ok(());
    }
    for i in &summary.images {
        outln!(
            "{}  {}",
            i.reference.as_deref().unwrap_or("(unnamed)"),
            i.digest
        )?;
    }
    let files = match (summary.format, summary.files.as_slice()) {
        ("oci-archive", [one]) => format!("{} ({} bytes)", one.path.display(), one.size),
        ("oci-archive", many) => format!(
            "{} parts {} … {} ({} bytes)",
            many.len(),
            many[0].path.display(),
            many[many.len() - 1].path.display(),
            summary.written_bytes
        ),
        ("oci", _) => format!(
            "{} ({} new bytes)",
            summary.destination.display(),
            summary.written_bytes
        ),
        _ => format!(
            "{} (cosign save layout, {} bytes)",
            summary.destination.display(),
            summary.written_bytes
        ),
    };
    eprintln!(
        "exported {} image(s) and {} signature artifact(s), {} blob(s) of {} bytes, to {files}",
        summary.images.len(),
        summary.artifacts.len(),
        summary.blobs,
        summary.bytes,
    );
    Ok(())
}

/// Where the export goes, from `--to`, `--format`, `--compress` and `--split`.
#[derive(Debug, PartialEq)]
enum Dest {
    Archive {
        path: PathBuf,
        compression: Compression,
        split: Option<u64>,
    },
    Layout(PathBuf),
    Cosign(PathBuf),
}

fn destination(opts: &ExportOptions) -> Result<Dest> {
    let usage = |m: String| Error::Usage(m);
    let to = opts.to.as_str();
    let dir_only = |what: &str| -> Result<()> {
        if opts.compress.is_some() || opts.compress_level.is_some() || opts.split.is_some() {
            return Err(usage(format!(
                "--compress, --compress-level and --split apply to oci-archive files, not to {what}"
            )));
        }
        Ok(())
    };
    if opts.format == "cosign" {
        dir_only("a cosign layout directory")?;
        if to.starts_with("oci-archive:") || to.starts_with("docker-archive:") {
            return Err(usage(format!(
                "--format cosign writes a directory (cosign save's layout): --to DIR, not {to:?}"
            )));
        }
        let path = to.strip_prefix("oci:").unwrap_or(to);
        if path.is_empty() || path.contains(':') && to.starts_with("oci:") {
            return Err(usage(format!("--to {to:?}: give a directory")));
        }
        return Ok(Dest::Cosign(PathBuf::from(path)));
    }
    if opts.format != "oci" {
        return Err(usage(format!("unknown --format {:?}", opts.format)));
    }
    let no_ref = |reference: Option<String>| match reference {
        Some(r) => Err(usage(format!(
            "--to {to:?}: no image name after the path ({r:?}); entries keep their store names"
        ))),
        None => Ok(()),
    };
    match Location::parse(to) {
        Ok(Location::Archive { path, reference }) => {
            no_ref(reference)?;
            let name = path.to_string_lossy().into_owned();
            for ext in [".gz", ".tgz", ".xz", ".bz2", ".lz4"] {
                if name.ends_with(ext) {
                    return Err(usage(format!(
                        "--to {to:?}: only zstd compression is written (--compress zstd, FILE.tar.zst)"
                    )));
                }
            }
            let zst = name.ends_with(".zst");
            let level = match opts.compress_level {
                Some(l) if !writer::ZSTD_LEVELS.contains(&l) => {
                    return Err(usage(format!(
                        "--compress-level {l}: zstd levels go from {} to {}",
                        writer::ZSTD_LEVELS.start(),
                        writer::ZSTD_LEVELS.end()
                    )));
                }
                Some(l) => l,
                None => writer::ZSTD_DEFAULT_LEVEL,
            };
            let compression = match opts.compress.as_deref() {
                Some("zstd") => Compression::Zstd { level },
                Some(other) => return Err(usage(format!("unknown --compress {other:?}"))),
                None if zst => Compression::Zstd { level },
                None if opts.compress_level.is_some() => {
                    return Err(usage(format!(
                        "--compress-level applies to zstd archives: add --compress zstd \
                         (or name the file {name}.zst)"
                    )));
                }
                None => Compression::None,
            };
            let path = if compression.is_zstd() && !zst {
                suffixed(&path, ".zst")
            } else {
                path
            };
            let split = opts.split.as_deref().map(parse_size).transpose()?;
            Ok(Dest::Archive {
                path,
                compression,
                split,
            })
        }
        Ok(Location::Layout { path, reference }) => {
            no_ref(reference)?;
            dir_only("an OCI layout directory")?;
            Ok(Dest::Layout(path))
        }
        _ => Err(usage(format!(
            "--to {to:?}: expected oci-archive:FILE.tar, oci:DIR, or DIR with --format cosign"
        ))),
    }
}

/// `--split SIZE`: bytes, or a number with K, M, G or T (powers of 1024; `KiB` and
/// `KB` are read the same way).
pub fn parse_size(s: &str) -> Result<u64> {
    let bad = || {
        Error::Usage(format!(
            "--split {s:?}: expected a size above 0 such as 4G, 700M, 2K or 1048576"
        ))
    };
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let unit = unit.to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad()),
    };
    match n.checked_mul(1 << shift) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(bad()),
    }
}

/// Exports `images` (store references; every image with `opts.all`) from `store`.
pub fn export(
    store: &Layout,
    images: &[String],
    opts: &ExportOptions,
    show_progress: bool,
) -> Result<Summary> {
    let dest = destination(opts)?;
    match (images.is_empty(), opts.all) {
        (true, false) => {
            return Err(Error::Usage(
                "name the images to export, or pass --all".into(),
            ));
        }
        (false, true) => {
            return Err(Error::Usage("give images or --all, not both".into()));
        }
        _ => {}
    }
    let catalog = Catalog::open(store)?;
    let scope = match (&dest, opts.no_signatures) {
        (_, true) => Scope::None,
        (Dest::Cosign(_), false) => Scope::CosignSave,
        (_, false) => Scope::Tree,
    };
    let plan = Plan::make(store, &catalog, images, opts.all, scope)?;
    let progress = Progress::new(show_progress, plan.bytes, plan.groups.len() as u64);
    let mut summary = Summary {
        format: "oci-archive",
        destination: PathBuf::new(),
        compression: None,
        images: plan.images.iter().map(exported).collect(),
        artifacts: plan.artifacts.iter().map(|(d, _)| exported(d)).collect(),
        blobs: plan.blobs.len() as u64,
        bytes: plan.bytes,
        written_bytes: 0,
        files: Vec::new(),
    };
    match dest {
        Dest::Archive {
            path,
            compression,
            split,
        } => {
            summary.files = write_archive(store, &plan, &path, compression, split, &progress)?;
            summary.destination = path;
            summary.compression = compression.is_zstd().then_some("zstd");
            summary.written_bytes = summary.files.iter().map(|f| f.size).sum();
        }
        Dest::Layout(dir) => {
            summary.format = "oci";
            summary.written_bytes = write_layout(store, &plan, &dir, &progress)?;
            summary.destination = dir;
        }
        Dest::Cosign(dir) => {
            summary.format = "cosign";
            summary.files = write_cosign(store, &plan, &dir, &progress)?;
            summary.written_bytes = summary.files.iter().map(|f| f.size).sum();
            summary.destination = dir;
        }
    }
    progress.finish();
    Ok(summary)
}

fn exported(d: &Descriptor) -> Exported {
    Exported {
        reference: d.ref_name().map(str::to_owned),
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
    }
}

/// Which artifacts come along with an image.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scope {
    /// None (`--no-signatures`).
    None,
    /// `.sig`, `.att`, `.sbom` and the referrers fallback tag of the image and of
    /// every manifest below it (a `sign -r` signs each platform).
    Tree,
    /// What `cosign save` keeps: the image's own `.sig` and `.att`.
    CosignSave,
}

/// Artifact kinds by tag suffix (`""`: the OCI 1.1 referrers fallback tag).
const SUFFIXES: [&str; 4] = ["sig", "att", "sbom", ""];

/// Everything an export writes, decided before a byte is written.
struct Plan {
    /// The images' `index.json` entries as the store has them (full-reference names).
    images: Vec<Descriptor>,
    /// The artifact entries, with their suffix (`sig`, `att`, ...).
    artifacts: Vec<(Descriptor, &'static str)>,
    /// Every tree to copy: the images, their artifacts and (`--format cosign`) their
    /// bundles, each once.
    roots: Vec<Descriptor>,
    /// Every blob, sorted by digest (= by path in the archive), with its size and the
    /// groups (an image with its artifacts) that need it.
    blobs: Vec<(Digest, u64, Vec<u32>)>,
    /// Per group: how many blobs it needs (for the "images" progress bar).
    groups: Vec<u64>,
    bytes: u64,
}

impl Plan {
    fn make(
        store: &Layout,
        catalog: &Catalog<'_>,
        wanted: &[String],
        all: bool,
        scope: Scope,
    ) -> Result<Plan> {
        let mut images: Vec<Descriptor> = Vec::new();
        let mut loose_artifacts: Vec<Descriptor> = Vec::new();
        if all {
            for (d, _) in catalog.entries() {
                if is_artifact(d) {
                    loose_artifacts.push(d.clone());
                } else {
                    images.push(d.clone());
                }
            }
            if images.is_empty() {
                return Err(Error::NotFound(format!(
                    "{} holds no image to export",
                    store.root().display()
                )));
            }
        } else {
            for w in wanted {
                for d in select(catalog, w)? {
                    if is_artifact(&d) {
                        loose_artifacts.push(d);
                    } else {
                        images.push(d);
                    }
                }
            }
        }
        let key = |d: &Descriptor| (d.ref_name().unwrap_or("").to_owned(), d.digest.clone());
        let mut seen = HashSet::new();
        images.retain(|d| seen.insert(key(d)));
        images.sort_by_key(key);

        let mut walker = Walker {
            store,
            reached: HashMap::new(),
            sizes: BTreeMap::new(),
        };
        // One group per image: the image and its artifacts.
        let mut groups: Vec<Vec<Descriptor>> = Vec::new();
        let mut artifacts: Vec<(Descriptor, &'static str)> = Vec::new();
        let mut taken: HashSet<(String, Digest)> = HashSet::new();
        for img in &images {
            let mut group = vec![img.clone()];
            if scope != Scope::None {
                let name = EntryName::of(img);
                let manifests = if scope == Scope::Tree {
                    walker.manifests_below(img)?
                } else {
                    vec![img.digest.clone()]
                };
                for d in &manifests {
                    for suffix in SUFFIXES {
                        if scope == Scope::CosignSave && !matches!(suffix, "sig" | "att") {
                            continue;
                        }
                        let Some(n) = artifact_name(&name, d, suffix) else {
                            continue;
                        };
                        if let Some(a) = catalog.named(&n)
                            && taken.insert(key(a))
                        {
                            artifacts.push((a.clone(), suffix));
                            group.push(a.clone());
                        }
                    }
                }
                // cosign save keeps the image's referrers that have an artifact type
                // (cosign 3 bundles) as blobs only, where `cosign verify
                // --local-image` and `cosign load` find them by their subject.
                if scope == Scope::CosignSave
                    && let Some(listing) =
                        artifact_name(&name, &img.digest, "").and_then(|n| catalog.named(&n))
                {
                    let kids = walker.children(listing)?;
                    group.extend(kids.into_iter().filter(|k| k.artifact_type.is_some()));
                }
            }
            groups.push(group);
        }
        if scope != Scope::None {
            // Artifacts named on the command line, or (with --all) whose image is not
            // in the store: exported as they are, each on its own.
            for a in loose_artifacts {
                if taken.insert(key(&a)) {
                    let suffix = SUFFIXES
                        .into_iter()
                        .find(|s| {
                            !s.is_empty()
                                && a.ref_name().is_some_and(|n| n.ends_with(&format!(".{s}")))
                        })
                        .unwrap_or("");
                    artifacts.push((a.clone(), suffix));
                    groups.push(vec![a]);
                }
            }
        }
        artifacts.sort_by_key(|(d, _)| key(d));

        let mut in_roots: HashSet<&Digest> = HashSet::new();
        let roots: Vec<Descriptor> = groups
            .iter()
            .flatten()
            .filter(|d| in_roots.insert(&d.digest))
            .cloned()
            .collect();
        let mut users: BTreeMap<Digest, Vec<u32>> = BTreeMap::new();
        let mut counts = Vec::with_capacity(groups.len());
        for (g, roots) in groups.iter().enumerate() {
            let mut mine = HashSet::new();
            for root in roots {
                walker.walk(root, &mut mine)?;
            }
            counts.push(mine.len() as u64);
            for d in mine {
                users.entry(d).or_default().push(g as u32);
            }
        }
        let blobs: Vec<(Digest, u64, Vec<u32>)> = users
            .into_iter()
            .map(|(d, g)| {
                let size = walker.sizes[&d];
                (d, size, g)
            })
            .collect();
        let bytes = blobs.iter().map(|b| b.1).sum();
        Ok(Plan {
            images,
            artifacts,
            roots,
            blobs,
            groups: counts,
            bytes,
        })
    }

    /// Every entry, images and artifacts, sorted by name (then digest).
    fn progress<'a>(&'a self, bars: &'a Progress) -> PlanProgress<'a> {
        PlanProgress {
            bars,
            users: self
                .blobs
                .iter()
                .map(|(d, _, users)| (d, users.as_slice()))
                .collect(),
            left: std::sync::Mutex::new(self.groups.clone()),
        }
    }

    fn entries(&self) -> Vec<&Descriptor> {
        let mut all: Vec<&Descriptor> = self
            .images
            .iter()
            .chain(self.artifacts.iter().map(|(d, _)| d))
            .collect();
        all.sort_by(|a, b| {
            (a.ref_name().unwrap_or(""), &a.digest).cmp(&(b.ref_name().unwrap_or(""), &b.digest))
        });
        all
    }
}

/// The store entries an IMAGE argument names: the tagged entry, or for a digest
/// reference every tagged entry of that repository with that digest.
fn select(catalog: &Catalog<'_>, image: &str) -> Result<Vec<Descriptor>> {
    let r = match Location::parse(image)? {
        Location::Store(r) => r,
        _ => {
            return Err(Error::Usage(format!(
                "{image}: export takes references in the store (import other layouts first)"
            )));
        }
    };
    let found = catalog.find_reference(&r)?;
    if r.tag().is_some() {
        return Ok(vec![found.descriptor]);
    }
    let hits: Vec<Descriptor> = catalog
        .entries()
        .filter(|(d, n)| {
            d.digest == found.descriptor.digest
                && matches!(n, EntryName::Full(f) if f.name() == r.name())
        })
        .map(|(d, _)| d.clone())
        .collect();
    if hits.is_empty() {
        return Err(Error::NotFound(format!(
            "{image} has no tag in the store (a platform of an index?); export the image it belongs to"
        )));
    }
    Ok(hits)
}

/// The name of an artifact entry of `digest` beside an image entry named `image`
/// (the empty suffix of [`SUFFIXES`] is the referrers fallback entry).
fn artifact_name(image: &EntryName, digest: &Digest, suffix: &str) -> Option<String> {
    if suffix.is_empty() {
        resolve::referrers_name(image, digest)
    } else {
        resolve::artifact_name(image, digest, suffix)
    }
}

/// Walks manifests and indexes in the store, each read and validated once.
/// What each root reaches, read once by the copy engine's walk (the one graph
/// walker, with its rules: depth, one size per digest).
struct Walker<'a> {
    store: &'a Layout,
    /// Per root: its documents (the root last) and its other blobs.
    reached: HashMap<Digest, (Vec<Descriptor>, Vec<Descriptor>)>,
    sizes: BTreeMap<Digest, u64>,
}

impl Walker<'_> {
    fn reach(&mut self, root: &Descriptor) -> Result<&(Vec<Descriptor>, Vec<Descriptor>)> {
        if !self.reached.contains_key(&root.digest) {
            let t = copy::tree(self.store, std::slice::from_ref(root))?;
            let docs = t.manifests.into_iter().map(|m| m.desc).collect();
            self.reached.insert(root.digest.clone(), (docs, t.blobs));
        }
        Ok(&self.reached[&root.digest])
    }

    /// The descriptors an index lists.
    fn children(&mut self, d: &Descriptor) -> Result<Vec<Descriptor>> {
        manifest::index_children(self.store, d)
    }

    /// Adds every blob `root` reaches to `seen`, recording sizes (and refusing a
    /// digest described with two sizes across the export).
    fn walk(&mut self, root: &Descriptor, seen: &mut HashSet<Digest>) -> Result<()> {
        let root_dir = self.store.root().display().to_string();
        let (docs, blobs) = self.reach(root)?.clone();
        for d in docs.iter().chain(&blobs) {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            match self.sizes.insert(d.digest.clone(), d.size) {
                Some(other) if other != d.size => {
                    return Err(Error::invalid(format!(
                        "blob {} is described with sizes {other} and {} in {root_dir}",
                        d.digest, d.size
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The digests of `root` and of every manifest and index below it.
    fn manifests_below(&mut self, root: &Descriptor) -> Result<Vec<Digest>> {
        Ok(self
            .reach(root)?
            .0
            .iter()
            .map(|d| d.digest.clone())
            .collect())
    }
}

/// The `oci-layout` file of an archive, as the store writes its own.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The archive's `index.json`: compact, entries sorted by name, each as in the store.
fn archive_index(plan: &Plan) -> Vec<u8> {
    Index::listing(plan.entries().into_iter().cloned().collect()).to_bytes()
}

fn write_archive(
    store: &Layout,
    plan: &Plan,
    path: &Path,
    compression: Compression,
    split: Option<u64>,
    progress: &Progress,
) -> Result<Vec<WrittenFile>> {
    let index = archive_index(plan);
    let paths: Vec<String> = plan.blobs.iter().map(|b| writer::blob_path(&b.0)).collect();
    if let (Some(limit), Compression::None) = (split, compression) {
        let total = writer::archive_len(
            [
                ("oci-layout", OCI_LAYOUT.len() as u64),
                ("index.json", index.len() as u64),
            ]
            .into_iter()
            .chain(
                paths
                    .iter()
                    .zip(&plan.blobs)
                    .map(|(p, b)| (p.as_str(), b.1)),
            ),
        );
        if total.div_ceil(limit) > output::MAX_PARTS as u64 {
            return Err(Error::Usage(format!(
                "the archive is {total} bytes: more than {} parts of {limit} bytes; choose a larger --split",
                output::MAX_PARTS
            )));
        }
    }
    let roots: Vec<Descriptor> = plan.entries().into_iter().cloned().collect();
    let progress = plan.progress(progress);
    sink::write_archive(store, &roots, &index, path, compression, split, &progress)
        .map_err(fsck_hint(store))
}

/// Copies the plan into an OCI layout directory (created if need be): blobs staged
/// and verified by a transaction, `index.json` updated under the layout's lock.
/// Returns the bytes of the blobs that were new there.
fn write_layout(store: &Layout, plan: &Plan, dir: &Path, progress: &Progress) -> Result<u64> {
    if let (Ok(a), Ok(b)) = (fs::canonicalize(dir), fs::canonicalize(store.root()))
        && a == b
    {
        return Err(Error::Usage(format!(
            "{} is the store itself; export to another directory",
            dir.display()
        )));
    }
    let layout = Layout::init(dir)?;
    layout.read_index()?;
    let mut tx = layout.begin()?;
    let entries: Vec<Descriptor> = plan.entries().into_iter().cloned().collect();
    let copied =
        copy(store, &mut tx, &entries, &plan.progress(progress)).map_err(fsck_hint(store))?;
    tx.commit(|idx| {
        for e in entries {
            match e.ref_name().map(str::to_owned) {
                Some(name) => idx.set_named(&name, e),
                None if !idx.manifests.contains(&e) => idx.manifests.push(e),
                None => {}
            }
        }
        Ok(())
    })?;
    Ok(copied.bytes)
}

/// A damaged store blob met on the way out: say so, and what to run.
fn fsck_hint(store: &Layout) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::Invalid(m) | Error::DigestMismatch(m) | Error::NotFound(m)
            if m.contains(&*store.root().to_string_lossy()) =>
        {
            Error::Invalid(format!("{m} (run airsign fsck)"))
        }
        e => e,
    }
}

/// The export's progress as the copy engine reports it: bytes, and an image
/// completed when the last blob it needs is out.
struct PlanProgress<'a> {
    bars: &'a Progress,
    users: HashMap<&'a Digest, &'a [u32]>,
    left: std::sync::Mutex<Vec<u64>>,
}

impl copy::Progress for PlanProgress<'_> {
    fn bytes(&self, n: u64) {
        self.bars.bytes(n);
    }

    fn blob(&self, d: &Digest) {
        if let Some(users) = self.users.get(d) {
            let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
            self.bars.blob_done(users, &mut left);
        }
    }
}

/// cosign's `oci-layout`: Go's 4-space `MarshalIndent`, no trailing newline.
pub const COSIGN_OCI_LAYOUT: &[u8] = b"{\n    \"imageLayoutVersion\": \"1.0.0\"\n}";

/// The `kind` annotation `cosign save` gives each entry.
fn cosign_kind(d: &Descriptor, suffix: &str) -> &'static str {
    match (suffix, d.kind()) {
        ("sig", _) => "dev.cosignproject.cosign/sigs",
        ("att", _) => "dev.cosignproject.cosign/atts",
        (_, Kind::Index) => "dev.cosignproject.cosign/imageIndex",
        _ => "dev.cosignproject.cosign/image",
    }
}

/// `index.json` as cosign (ggcr's `layout`) writes it: `json.MarshalIndent` with three
/// spaces, descriptors as `mediaType, size, digest, annotations`, the image first,
/// then its `sigs`, then its `atts`.
fn cosign_index(image: &Descriptor, artifacts: &[(Descriptor, &'static str)]) -> Vec<u8> {
    #[derive(Serialize)]
    struct CosignIndex<'a> {
        #[serde(rename = "schemaVersion")]
        schema_version: u32,
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        manifests: Vec<CosignDescriptor<'a>>,
    }
    #[derive(Serialize)]
    struct CosignDescriptor<'a> {
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        size: u64,
        digest: String,
        annotations: BTreeMap<&'static str, &'static str>,
    }
    fn entry<'a>(d: &'a Descriptor, suffix: &str) -> CosignDescriptor<'a> {
        CosignDescriptor {
            media_type: &d.media_type,
            size: d.size,
            digest: d.digest.to_string(),
            annotations: BTreeMap::from([("kind", cosign_kind(d, suffix))]),
        }
    }
    let mut manifests = vec![entry(image, "")];
    for want in ["sig", "att"] {
        manifests.extend(
            artifacts
                .iter()
                .filter(|(_, s)| *s == want)
                .map(|(d, s)| entry(d, s)),
        );
    }
    let index = CosignIndex {
        schema_version: 2,
        media_type: crate::store::descriptor::OCI_INDEX,
        manifests,
    };
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    index.serialize(&mut ser).expect("serialisable");
    out
}

/// Writes cosign's `save` layout for one image into `dir` (absent or empty), by way of
/// a temp directory beside it that is renamed into place at the end.
fn write_cosign(
    store: &Layout,
    plan: &Plan,
    dir: &Path,
    progress: &Progress,
) -> Result<Vec<WrittenFile>> {
    let image = match plan.images.as_slice() {
        [one]
            if plan
                .artifacts
                .iter()
                .all(|(_, s)| matches!(*s, "sig" | "att")) =>
        {
            one
        }
        [_] => {
            return Err(Error::Usage(
                "--format cosign exports an image with its signatures; name the image, not an artifact"
                    .into(),
            ));
        }
        [] => return Err(Error::NotFound("no image to export".into())),
        many => {
            return Err(Error::Usage(format!(
                "--format cosign holds one image, and {} were named; export them one by one \
                 (or use --to oci-archive:FILE for many)",
                many.len()
            )));
        }
    };
    let existing_empty = match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Usage(format!(
                    "{} exists and is not empty; export never overwrites: give a new directory",
                    dir.display()
                )));
            }
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io_path("reading", dir, e)),
    };
    let parent = output::parent(dir).to_path_buf();
    fs::create_dir_all(&parent).map_err(|e| Error::io_path("creating", &parent, e))?;
    let tmp = TempDir::create(dir)?;
    let mut sink = NewDir {
        tmp: &tmp.0,
        shown: dir,
        files: Vec::new(),
        dirs: HashSet::new(),
    };
    sink.write("oci-layout", &mut &COSIGN_OCI_LAYOUT[..])?;
    // the image, its artifacts and (cosign 3) its bundles, as the plan found them
    copy(store, &mut sink, &plan.roots, &plan.progress(progress)).map_err(fsck_hint(store))?;
    sink.write("index.json", &mut &cosign_index(image, &plan.artifacts)[..])?;
    for d in &sink.dirs {
        sync_dir(d)?;
    }
    let files = sink.files;
    sync_dir(&tmp.0.join("blobs"))?;
    sync_dir(&tmp.0)?;
    if existing_empty {
        // rename(2) replaces an empty directory atomically, and fails if it has
        // gained files meanwhile.
        fs::rename(&tmp.0, dir).map_err(|e| Error::io_path("renaming to", dir, e))?;
    } else {
        rename_noreplace(&tmp.0, dir)?;
    }
    tmp.keep();
    sync_dir(&parent)?;
    Ok(files)
}

/// A directory being written file by file under a temp name (`--format cosign`):
/// the copy engine's sink, each blob verified on its way into its file and fsynced.
struct NewDir<'a> {
    tmp: &'a Path,
    shown: &'a Path,
    files: Vec<WrittenFile>,
    dirs: HashSet<PathBuf>,
}

impl NewDir<'_> {
    fn write(&mut self, rel: &str, r: &mut dyn Read) -> Result<()> {
        let path = self.tmp.join(rel);
        if let Some(dir) = path.parent()
            && self.dirs.insert(dir.to_path_buf())
        {
            fs::create_dir_all(dir).map_err(|e| Error::io_path("creating", dir, e))?;
        }
        let mut f = File::create(&path).map_err(|e| Error::io_path("creating", &path, e))?;
        io::copy(r, &mut f).map_err(|e| Error::io_path("writing", &path, e))?;
        f.sync_all()
            .map_err(|e| Error::io_path("syncing", &path, e))?;
        let size = f
            .metadata()
            .map_err(|e| Error::io_path("reading", &path, e))?
            .len();
        self.files.push(WrittenFile {
            path: self.shown.join(rel),
            size,
        });
        Ok(())
    }
}

impl copy::Sink for NewDir<'_> {
    fn location(&self) -> String {
        self.shown.display().to_string()
    }

    fn has_blob(&mut self, desc: &Descriptor) -> Result<bool> {
        Ok(self.tmp.join(writer::blob_path(&desc.digest)).exists())
    }

    fn put_blob(&mut self, desc: &Descriptor, r: &mut dyn Read) -> Result<bool> {
        let mut r = VerifyingReader::new(r, &desc.digest, desc.size);
        self.write(&writer::blob_path(&desc.digest), &mut r)?;
        Ok(true)
    }
}

/// A temp directory beside the destination, removed unless kept (and on SIGINT or
/// SIGTERM, by [`crate::cleanup`]).
struct TempDir(PathBuf, bool, #[allow(dead_code)] crate::cleanup::Guard);

impl TempDir {
    fn create(dest: &Path) -> Result<TempDir> {
        let path = suffixed(
            dest,
            &format!(
                ".tmp-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
        );
        let guard = crate::cleanup::register(&path);
        fs::create_dir(&path).map_err(|e| Error::io_path("creating", &path, e))?;
        Ok(TempDir(path, false, guard))
    }

    fn keep(mut self) {
        self.1 = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.1 {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Progress bars on stderr (bytes, and images completed), drawn only on a terminal.
struct Progress {
    bytes: ProgressBar,
    images: ProgressBar,
    _multi: Option<MultiProgress>,
}

impl Progress {
    fn new(show: bool, total_bytes: u64, images: u64) -> Progress {
        if !show {
            return Progress {
                bytes: ProgressBar::hidden(),
                images: ProgressBar::hidden(),
                _multi: None,
            };
        }
        let multi = progress::group(true);
        let bytes = progress::add(&multi, true, "bytes", Unit::Bytes, total_bytes);
        let imgs = progress::add(&multi, true, "images", Unit::Items, images);
        Progress {
            bytes,
            images: imgs,
            _multi: Some(multi),
        }
    }

    fn bytes(&self, n: u64) {
        self.bytes.inc(n);
    }

    /// One blob is out: an image whose every blob is out is complete.
    fn blob_done(&self, users: &[u32], left: &mut [u64]) {
        for &g in users {
            let l = &mut left[g as usize];
            *l -= 1;
            if *l == 0 {
                self.images.inc(1);
            }
        }
    }

    fn finish(&self) {
        self.bytes.finish_and_clear();
        self.images.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2K").unwrap(), 2048);
        assert_eq!(parse_size("700M").unwrap(), 700 << 20);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("4gib").unwrap(), 4 << 30);
        assert_eq!(parse_size("1T").unwrap(), 1 << 40);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        for bad in [
            "0",
            "0K",
            "",
            "K",
            "2X",
            "-1",
            "1.5G",
            "99999999999T",
            "2 K",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    fn opts(to: &str) -> ExportOptions {
        ExportOptions {
            to: to.into(),
            format: "oci".into(),
            ..ExportOptions::default()
        }
    }

    #[test]
    fn destinations() {
        let archive = |p: &str, c, s| Dest::Archive {
            path: p.into(),
            compression: c,
            split: s,
        };
        assert_eq!(
            destination(&opts("oci-archive:x.tar")).unwrap(),
            archive("x.tar", Compression::None, None)
        );
        assert_eq!(
            destination(&opts("oci-archive:x.tar.zst")).unwrap(),
            archive("x.tar.zst", Compression::ZSTD, None)
        );
        let mut o = opts("oci-archive:x.tar");
        o.compress = Some("zstd".into());
        o.split = Some("2K".into());
        assert_eq!(
            destination(&o).unwrap(),
            archive("x.tar.zst", Compression::ZSTD, Some(2048))
        );
        o.compress_level = Some(19);
        assert_eq!(
            destination(&o).unwrap(),
            archive("x.tar.zst", Compression::Zstd { level: 19 }, Some(2048))
        );
        for (to, compress, level, why) in [
            ("oci-archive:x.tar", None, 5, "add --compress zstd"),
            ("oci-archive:x.tar", Some("zstd"), 0, "from 1 to 19"),
            ("oci-archive:x.tar.zst", None, 20, "from 1 to 19"),
            ("oci:d", None, 5, "apply to oci-archive files"),
        ] {
            let mut o = opts(to);
            o.compress = compress.map(Into::into);
            o.compress_level = Some(level);
            let e = destination(&o).unwrap_err().to_string();
            assert!(e.contains(why), "{to} {level}: {e}");
        }
        assert_eq!(
            destination(&opts("oci:d")).unwrap(),
            Dest::Layout("d".into())
        );
        let mut o = opts("d");
        o.format = "cosign".into();
        assert_eq!(destination(&o).unwrap(), Dest::Cosign("d".into()));
        for bad in [
            "d",
            "oci-archive:x.tar:v1",
            "oci:d:v1",
            "oci-archive:x.tar.gz",
        ] {
            assert!(destination(&opts(bad)).is_err(), "{bad}");
        }
        let mut o = opts("oci:d");
        o.split = Some("1K".into());
        assert!(destination(&o).is_err());
    }
}
