//! [`ArchiveLayout`]: an OCI layout inside a tar archive, read in place — never
//! unpacked — as a [`ReadLayout`]. Also a `docker save` tarball, seen as a layout.
//!
//! Opening scans every header once ([`super::tar`]) and accepts only regular files at
//! `oci-layout`, `index.json` and `blobs/<alg>/<hex>` (plus, for `docker save`,
//! `manifest.json`, `repositories`, the legacy `<id>/{VERSION,json,layer.tar}` and
//! the files `manifest.json` names). Anything else — a link, a device, a path that
//! escapes, a duplicate, an unexpected name — refuses the whole archive.
//!
//! - A plain `.tar` (or split `.tar.000`, `.001`, …) is read with positional reads:
//!   the scan records each blob's offset and size, and blobs are read from there.
//!   A blob's content is checked against its name when it is read, by `read_blob`
//!   here or by whoever consumes `open_blob`'s stream (import, fsck).
//! - A `.tar.zst` cannot seek. Opening decodes it once, hashing every blob (a
//!   mismatch refuses the archive) and keeping JSON blobs up to 4 MiB each, 64 MiB
//!   in all, in memory; other blobs are recorded as present with their size. Reading
//!   one of those decodes the archive again up to it: slow, but memory stays
//!   bounded. [`ArchiveLayout::visit_blobs`] reads many blobs in one pass (import).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::input::{Compression, Parts, zstd_stream};
use super::tar::{Entry, EntryKind, Input, Scanner};
use crate::digest::{Algorithm, Digest, printable};
use crate::reference::Reference;
use crate::store::ReadLayout;
use crate::store::descriptor::{Descriptor, Index, MAX_INDEX_JSON, OCI_MANIFEST, REF_NAME};
use crate::store::layout::LAYOUT_VERSION;
use crate::store::manifest::MAX_MANIFEST;
use crate::verify::{VerifyingReader, check_bytes};
use crate::{Error, Result};

/// Most entries an archive may have: bounds the memory of the entry table.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Total bytes of JSON blobs a `.tar.zst` keeps in memory after its first pass.
pub const MAX_CACHE: u64 = 64 * 1024 * 1024;
/// Largest `manifest.json` or image config of a `docker save` tarball read.
const MAX_DOCKER_JSON: u64 = 16 * 1024 * 1024;
/// `oci-layout` is 30-odd bytes.
const MAX_OCI_LAYOUT: u64 = 4096;
/// The annotation containerd and docker ≥ 25 put on `index.json` entries.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// docker save layers are uncompressed tars, and say so.
const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// What the archive is expected to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `oci-archive`: an OCI image layout in a tar.
    Oci,
    /// `docker-archive`: `docker save` output (with or without an OCI layout inside).
    Docker,
}

#[derive(Debug)]
struct Blob {
    size: u64,
    /// Offset of the entry's data in the (decompressed) tar stream.
    offset: u64,
    /// The verified bytes, when kept in memory.
    bytes: Option<Arc<Vec<u8>>>,
}

pub struct ArchiveLayout {
    path: PathBuf,
    parts: Parts,
    /// Which blobs opening hashed: none for a plain archive (read in place, hashed
    /// where used); all, or only documents ([`ArchiveLayout::open_for_copy`]), for a
    /// `.tar.zst` (a stream).
    hashed: Hashed,
    index: Index,
    blobs: HashMap<Digest, Blob>,
    /// For a `docker save` tarball without an OCI layout: the manifests airsign built.
    rebuilt: Vec<Digest>,
}

/// A regular file seen by the scan.
#[derive(Clone, Debug)]
struct FileEntry {
    offset: u64,
    size: u64,
}

/// What a scan collected.
#[derive(Default)]
struct Scan {
    oci_layout: Option<Vec<u8>>,
    index_json: Option<Vec<u8>>,
    manifest_json: Option<Vec<u8>>,
    blobs: HashMap<Digest, Blob>,
    /// Every regular file (docker mode needs to look names up).
    files: HashMap<String, FileEntry>,
    /// Symlinks tolerated in docker mode (legacy `<id>/layer.tar`), never followed
    /// except to resolve a path `manifest.json` names, inside the archive.
    links: HashMap<String, String>,
}

impl ArchiveLayout {
    /// Opens an `oci-archive` (plain, split, or zstd-compressed).
    pub fn open(path: &Path) -> Result<ArchiveLayout> {
        Self::open_as(path, Flavor::Oci, Hashed::All)
    }

    /// As [`Self::open`], for a copy out of the archive (`import`): a `.tar.zst`'s
    /// blobs over [`MAX_MANIFEST`] bytes are not hashed while the archive is indexed,
    /// only once, where the copy reads them — the destination's sink hashes every
    /// blob it stages and refuses the copy, committing nothing, on a mismatch; a blob
    /// the destination already holds is not read at all, as from a plain archive.
    /// Documents (manifests, indexes, configs) are hashed on opening as always. The
    /// decoded stream is hashed once instead of twice: most of a `.tar.zst`
    /// import's time was the second hash.
    pub fn open_for_copy(path: &Path) -> Result<ArchiveLayout> {
        Self::open_as(path, Flavor::Oci, Hashed::Documents)
    }

    /// Opens a `docker save` tarball as a layout (see [`Self::rebuilt_manifests`]).
    pub fn open_docker(path: &Path) -> Result<ArchiveLayout> {
        Self::open_as(path, Flavor::Docker, Hashed::All)
    }

    /// `streamed_hashing`: what a `.tar.zst` has hashed while it is indexed.
    fn open_as(path: &Path, flavor: Flavor, streamed_hashing: Hashed) -> Result<ArchiveLayout> {
        let parts = Parts::open(path)?;
        let at = |e: Error| in_archive(path, e);
        let streamed = match parts.sniff()? {
            Compression::None => false,
            Compression::Zstd if flavor == Flavor::Docker => {
                return Err(Error::invalid(format!(
                    "{}: a zstd-compressed docker-archive; decompress it first (zstd -d)",
                    path.display()
                )));
            }
            Compression::Zstd => true,
        };
        let hashed = if streamed {
            streamed_hashing
        } else {
            Hashed::None
        };
        let scan = if streamed {
            scan(zstd_stream(&parts), flavor, hashed).map_err(at)?
        } else {
            scan(parts.reader(0, parts.len()), flavor, hashed).map_err(at)?
        };
        let mut layout = ArchiveLayout {
            path: path.to_path_buf(),
            parts,
            hashed,
            index: Index::default(),
            blobs: HashMap::new(),
            rebuilt: Vec::new(),
        };
        let has_oci = scan.index_json.is_some() || scan.oci_layout.is_some();
        if flavor == Flavor::Docker && !has_oci {
            layout.rebuild_docker(scan).map_err(at)?;
            return Ok(layout);
        }
        if flavor == Flavor::Docker {
            check_docker_names(&scan).map_err(at)?;
        }
        let Some(marker) = &scan.oci_layout else {
            return Err(Error::invalid(format!(
                "{}: not an OCI archive (no oci-layout entry)",
                path.display()
            )));
        };
        check_oci_layout(marker).map_err(at)?;
        let Some(raw) = &scan.index_json else {
            return Err(Error::invalid(format!(
                "{}: no index.json entry",
                path.display()
            )));
        };
        let mut index = parse_index(raw).map_err(at)?;
        if flavor == Flavor::Docker {
            name_from_containerd(&mut index);
        }
        layout.index = index;
        layout.blobs = scan.blobs;
        Ok(layout)
    }

    /// Whether the archive is decoded as a stream (zstd) rather than read in place.
    pub fn is_streamed(&self) -> bool {
        self.hashed != Hashed::None
    }

    /// Whether a `.tar.zst` had every blob hashed when it was opened (not when
    /// opened by [`Self::open_for_copy`]).
    pub fn all_blobs_hashed_on_open(&self) -> bool {
        self.hashed == Hashed::All
    }

    /// The manifests airsign built for a `docker save` tarball that carries none:
    /// their digests are not the ones the images had in their registry.
    pub fn rebuilt_manifests(&self) -> &[Digest] {
        &self.rebuilt
    }

    /// How many files the archive spans.
    pub fn part_count(&self) -> usize {
        self.parts.part_count()
    }

    /// Every blob with its size, in archive order.
    pub fn blob_list(&self) -> Vec<(Digest, u64)> {
        let mut v: Vec<(&Digest, &Blob)> = self.blobs.iter().collect();
        v.sort_by_key(|(_, b)| b.offset);
        v.into_iter().map(|(d, b)| (d.clone(), b.size)).collect()
    }

    /// Up to `n` first bytes of a blob, as stored, where that is cheap: nothing for
    /// a `.tar.zst` blob not kept in memory (those are not JSON).
    pub fn peek(&self, d: &Digest, n: usize) -> Result<Vec<u8>> {
        let Some(b) = self.blobs.get(d) else {
            return Ok(Vec::new());
        };
        if let Some(bytes) = &b.bytes {
            return Ok(bytes[..n.min(bytes.len())].to_vec());
        }
        if self.is_streamed() {
            return Ok(Vec::new());
        }
        let mut buf = Vec::with_capacity(n);
        self.parts
            .reader(b.offset, b.offset + b.size)
            .take(n as u64)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("reading the archive", e))?;
        Ok(buf)
    }

    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        self.blobs.get(d).map(|b| b.size)
    }

    /// Calls `f` with each blob of `wanted` that the archive has, streaming its bytes
    /// as stored, in archive order: one sequential pass even for a `.tar.zst`.
    /// `f` must hash what it reads: nothing here checks the content.
    pub fn visit_blobs(
        &self,
        wanted: &[Digest],
        mut f: impl FnMut(&Digest, u64, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let mut list: Vec<(&Digest, &Blob)> = wanted
            .iter()
            .filter_map(|d| self.blobs.get_key_value(d))
            .collect();
        list.sort_by_key(|(_, b)| b.offset);
        list.dedup_by_key(|(d, _)| (*d).clone());
        let mut streamed = Vec::new();
        for (d, b) in list {
            if let Some(bytes) = &b.bytes {
                f(d, b.size, &mut Cursor::new(bytes.as_slice()))?;
            } else if self.is_streamed() {
                streamed.push((d, b));
            } else {
                let mut r = BufReader::with_capacity(
                    256 * 1024,
                    self.parts.reader(b.offset, b.offset + b.size),
                );
                f(d, b.size, &mut r)?;
            }
        }
        if streamed.is_empty() {
            return Ok(());
        }
        let by_offset: HashMap<u64, &Digest> =
            streamed.iter().map(|(d, b)| (b.offset, *d)).collect();
        let mut s = Scanner::new(zstd_stream(&self.parts));
        let mut left = by_offset.len();
        while left > 0 {
            let Some(e) = s.next_entry().map_err(|e| in_archive(&self.path, e))? else {
                return Err(self.changed());
            };
            if let Some(d) = by_offset.get(&e.offset) {
                f(d, e.size, &mut s.data())?;
                left -= 1;
            }
        }
        Ok(())
    }

    fn changed(&self) -> Error {
        Error::invalid(format!(
            "{}: the archive changed while being read",
            self.path.display()
        ))
    }

    /// A `.tar.zst` blob not kept in memory: decode the archive again up to it.
    fn restream(&self, b: &Blob) -> Result<Box<dyn Read + '_>> {
        let mut s = Scanner::new(zstd_stream(&self.parts));
        loop {
            match s.next_entry().map_err(|e| in_archive(&self.path, e))? {
                Some(e) if e.offset == b.offset && e.size == b.size => {
                    return Ok(Box::new(s.into_data()));
                }
                Some(e) if e.offset > b.offset => return Err(self.changed()),
                Some(_) => {}
                None => return Err(self.changed()),
            }
        }
    }

    fn reader(&self, b: &Blob) -> Result<Box<dyn Read + '_>> {
        if let Some(bytes) = &b.bytes {
            return Ok(Box::new(Cursor::new(Arc::clone(bytes).as_ref().clone())));
        }
        if self.is_streamed() {
            return self.restream(b);
        }
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            self.parts.reader(b.offset, b.offset + b.size),
        )))
    }

    /// Builds a layout view of a legacy `docker save` tarball: per image, an OCI
    /// manifest over the bytes as saved (the config, then each uncompressed layer by
    /// its diff_id), named by its `RepoTags`. OCI rather than docker v2 media types,
    /// because skopeo and other OCI-layout readers refuse docker manifests in a
    /// layout; the image's registry digest is lost either way.
    fn rebuild_docker(&mut self, scan: Scan) -> Result<()> {
        check_docker_names(&scan)?;
        let Some(raw) = &scan.manifest_json else {
            return Err(Error::invalid(
                "not a docker-archive (no manifest.json, no index.json)",
            ));
        };
        #[derive(Deserialize)]
        struct Item {
            #[serde(rename = "Config")]
            config: String,
            #[serde(rename = "RepoTags", default)]
            repo_tags: Option<Vec<String>>,
            #[serde(rename = "Layers", default)]
            layers: Vec<String>,
        }
        #[derive(Deserialize)]
        struct Config {
            rootfs: RootFs,
        }
        #[derive(Deserialize)]
        struct RootFs {
            diff_ids: Vec<String>,
        }
        let items: Vec<Item> = serde_json::from_slice(raw)
            .map_err(|e| Error::invalid(format!("manifest.json: {e}")))?;
        if items.is_empty() {
            return Err(Error::invalid("manifest.json lists no image"));
        }
        let mut index = Index::default();
        for item in items {
            let cfg_entry = resolve_docker_path(&scan, &item.config)?;
            if cfg_entry.size > MAX_DOCKER_JSON {
                return Err(Error::invalid(format!(
                    "image config {:?} is {} bytes (at most {MAX_DOCKER_JSON})",
                    printable(&item.config),
                    cfg_entry.size
                )));
            }
            let cfg_bytes = self.read_region(&cfg_entry)?;
            let cfg_digest = Digest::sha256(&cfg_bytes);
            let cfg: Config = serde_json::from_slice(&cfg_bytes).map_err(|e| {
                Error::invalid(format!("image config {:?}: {e}", printable(&item.config)))
            })?;
            if cfg.rootfs.diff_ids.len() != item.layers.len() {
                return Err(Error::invalid(format!(
                    "image config {:?} lists {} layers, manifest.json {}",
                    printable(&item.config),
                    cfg.rootfs.diff_ids.len(),
                    item.layers.len()
                )));
            }
            let mut layers = Vec::new();
            for (path, diff_id) in item.layers.iter().zip(&cfg.rootfs.diff_ids) {
                let d: Digest = diff_id.parse().map_err(|e: Error| {
                    Error::invalid(format!("image config {:?}: {e}", printable(&item.config)))
                })?;
                let entry = resolve_docker_path(&scan, path)?;
                let mut head = [0u8; 4];
                let n = self
                    .parts
                    .read_at(&mut head, entry.offset)
                    .map_err(|e| Error::io("reading the archive", e))?;
                let head = &head[..n.min(entry.size as usize)];
                if head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                    return Err(Error::invalid(format!(
                        "layer {:?} is compressed; airsign imports docker-archive layers as \
                         docker saves them (uncompressed). Convert the archive with \
                         skopeo copy docker-archive:… oci:DIR first",
                        printable(path)
                    )));
                }
                // The first path for a diff_id wins, as in skopeo: docker save makes
                // repeated layers links to the first one.
                self.blobs.entry(d.clone()).or_insert(Blob {
                    size: entry.size,
                    offset: entry.offset,
                    bytes: None,
                });
                layers.push((d, entry.size));
            }
            let manifest = oci_manifest(&cfg_digest, cfg_bytes.len() as u64, &layers);
            let mdigest = Digest::sha256(&manifest);
            let mdesc = Descriptor::new(OCI_MANIFEST, mdigest.clone(), manifest.len() as u64);
            self.blobs.insert(
                cfg_digest,
                Blob {
                    size: cfg_bytes.len() as u64,
                    offset: cfg_entry.offset,
                    bytes: Some(Arc::new(cfg_bytes)),
                },
            );
            self.blobs.insert(
                mdigest.clone(),
                Blob {
                    size: manifest.len() as u64,
                    offset: u64::MAX,
                    bytes: Some(Arc::new(manifest)),
                },
            );
            self.rebuilt.push(mdigest);
            let tags = item.repo_tags.unwrap_or_default();
            if tags.is_empty() {
                index.manifests.push(mdesc.clone());
            }
            for t in tags {
                let r = Reference::parse(&t)
                    .map_err(|e| Error::invalid(format!("manifest.json RepoTags: {e}")))?;
                let mut d = mdesc.clone();
                d.annotations.insert(REF_NAME.to_owned(), r.to_string());
                index.manifests.push(d);
            }
        }
        self.index = index;
        Ok(())
    }

    fn read_region(&self, e: &FileEntry) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(e.size as usize);
        self.parts
            .reader(e.offset, e.offset + e.size)
            .read_to_end(&mut buf)
            .map_err(|err| Error::io("reading the archive", err))?;
        if buf.len() as u64 != e.size {
            return Err(self.changed());
        }
        Ok(buf)
    }
}

impl ReadLayout for ArchiveLayout {
    fn location(&self) -> &Path {
        &self.path
    }

    fn blob_list(&self) -> Result<Vec<(Digest, u64)>> {
        Ok(ArchiveLayout::blob_list(self))
    }

    fn peek(&self, d: &Digest, n: usize) -> Result<Vec<u8>> {
        ArchiveLayout::peek(self, d, n)
    }

    fn sequential(&self) -> bool {
        self.is_streamed()
    }

    fn visit_blobs(
        &self,
        wanted: &[Digest],
        f: &mut dyn FnMut(&Digest, u64, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        ArchiveLayout::visit_blobs(self, wanted, f)
    }

    fn read_index(&self) -> Result<Index> {
        Ok(self.index.clone())
    }

    fn read_blob(&self, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        let d = &desc.digest;
        let Some(b) = self.blobs.get(d) else {
            return Err(Error::NotFound(format!(
                "blob {d} is missing from {}",
                self.path.display()
            )));
        };
        if desc.size > max {
            return Err(Error::invalid(format!(
                "blob {d}: descriptor size {} is over the {max}-byte limit",
                desc.size
            )));
        }
        if b.size != desc.size {
            return Err(Error::invalid(format!(
                "blob {d}: {} bytes in {}, descriptor says {}",
                b.size,
                self.path.display(),
                desc.size
            )));
        }
        if let Some(bytes) = &b.bytes {
            return Ok(bytes.as_ref().clone());
        }
        let mut buf = Vec::with_capacity(b.size as usize);
        self.reader(b)?
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(format!("reading blob {d} from {}", self.path.display()), e))?;
        check_bytes(d, desc.size, &buf).map_err(|e| e.within(self.path.display()))?;
        Ok(buf)
    }

    fn open_blob(&self, d: &Digest) -> Result<Option<(Box<dyn Read + '_>, u64)>> {
        match self.blobs.get(d) {
            None => Ok(None),
            Some(b) => Ok(Some((self.reader(b)?, b.size))),
        }
    }

    fn has_blob(&self, d: &Digest) -> Result<bool> {
        Ok(self.blobs.contains_key(d))
    }
}

fn in_archive(path: &Path, e: Error) -> Error {
    match e {
        Error::Invalid(m) => Error::Invalid(format!("{}: {m}", path.display())),
        Error::DigestMismatch(m) => Error::DigestMismatch(format!("{}: {m}", path.display())),
        e => e,
    }
}

/// One pass over the headers (and, for a stream, the data) of an archive.
/// Which blobs [`scan`] hashes as the stream passes: those of a `.tar.zst` (read
/// once, so hashed now or on a later pass), all or only the documents; a plain
/// archive's none (its blobs are read in place, hashed where they are used).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hashed {
    None,
    Documents,
    All,
}

fn scan<I: Input>(input: I, flavor: Flavor, hashed: Hashed) -> Result<Scan> {
    let mut s = Scanner::new(input);
    let mut out = Scan::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut cache_left = MAX_CACHE;
    let mut count = 0usize;
    while let Some(e) = s.next_entry()? {
        count += 1;
        if count > MAX_ENTRIES {
            return Err(Error::invalid(format!(
                "more than {MAX_ENTRIES} entries; refusing to index it"
            )));
        }
        if !seen.insert(e.name.clone()) {
            return Err(Error::invalid(format!(
                "entry {:?} appears twice (which one counts differs between tools)",
                printable(&e.name)
            )));
        }
        match classify(&e, flavor)? {
            Role::Ignore => {}
            Role::OciLayout => out.oci_layout = Some(read_small(&mut s, &e, MAX_OCI_LAYOUT)?),
            Role::IndexJson => out.index_json = Some(read_small(&mut s, &e, MAX_INDEX_JSON)?),
            Role::ManifestJson => {
                out.manifest_json = Some(read_small(&mut s, &e, MAX_DOCKER_JSON)?);
            }
            Role::Link(target) => {
                out.links.insert(e.name.clone(), target);
            }
            Role::DockerFile => {
                out.files.insert(
                    e.name.clone(),
                    FileEntry {
                        offset: e.offset,
                        size: e.size,
                    },
                );
            }
            Role::Blob(d) => {
                let hash = match hashed {
                    Hashed::None => false,
                    Hashed::Documents => e.size <= MAX_MANIFEST,
                    Hashed::All => true,
                };
                let bytes = if hash {
                    hash_streamed(&mut s, &e, &d, &mut cache_left)?
                } else {
                    None
                };
                out.files.insert(
                    e.name.clone(),
                    FileEntry {
                        offset: e.offset,
                        size: e.size,
                    },
                );
                out.blobs.insert(
                    d,
                    Blob {
                        size: e.size,
                        offset: e.offset,
                        bytes,
                    },
                );
            }
        }
    }
    Ok(out)
}

enum Role {
    Ignore,
    OciLayout,
    IndexJson,
    ManifestJson,
    Blob(Digest),
    /// docker mode: a regular file outside the OCI names, checked against
    /// manifest.json once it is read.
    DockerFile,
    Link(String),
}

/// What an entry is, or why it is refused.
fn classify(e: &Entry, flavor: Flavor) -> Result<Role> {
    let name = e.name.as_str();
    let refuse = |why: String| -> Result<Role> {
        Err(Error::invalid(format!(
            "entry {:?}: {why}",
            printable(name)
        )))
    };
    let parts: Vec<&str> = if name.is_empty() {
        Vec::new()
    } else {
        name.split('/').collect()
    };
    let docker = flavor == Flavor::Docker;
    let legacy_dir = |c: &str| c.len() == 64 && Digest::new(Algorithm::Sha256, c).is_ok();
    match &e.kind {
        EntryKind::File => {}
        EntryKind::Dir => {
            let ok = match parts.as_slice() {
                [] | ["blobs"] => true,
                ["blobs", alg] => Algorithm::from_name(alg).is_some(),
                [id] if docker => legacy_dir(id),
                _ => false,
            };
            return if ok {
                Ok(Role::Ignore)
            } else {
                refuse("unexpected directory".into())
            };
        }
        // docker save (< 25) writes repeated layers as `<id>/layer.tar` symlinks
        // (skopeo too); they are never followed, except to resolve a path that
        // manifest.json names, and then only to another entry of the archive.
        EntryKind::Symlink(target) if docker => {
            return match parts.as_slice() {
                [id, "layer.tar"] if legacy_dir(id) => Ok(Role::Link(target.clone())),
                _ => refuse(format!(
                    "{}: an archive may hold only regular files and directories",
                    e.kind.describe()
                )),
            };
        }
        other => {
            return refuse(format!(
                "{}: an archive may hold only regular files and directories",
                other.describe()
            ));
        }
    }
    match parts.as_slice() {
        ["oci-layout"] => Ok(Role::OciLayout),
        ["index.json"] => Ok(Role::IndexJson),
        ["blobs", alg, hex] => match Algorithm::from_name(alg) {
            Some(a) => match Digest::new(a, hex) {
                Ok(d) => Ok(Role::Blob(d)),
                Err(err) => refuse(format!("not a blob name: {err}")),
            },
            None => refuse(format!("unknown digest algorithm {:?}", printable(alg))),
        },
        ["manifest.json"] if docker => Ok(Role::ManifestJson),
        ["repositories"] if docker => Ok(Role::Ignore),
        [id, "VERSION" | "json"] if docker && legacy_dir(id) => Ok(Role::Ignore),
        _ if docker => Ok(Role::DockerFile),
        _ => refuse(
            "unexpected entry (an oci-archive holds only oci-layout, index.json and \
             blobs/<alg>/<hex>)"
                .into(),
        ),
    }
}

/// Reads a small entry whole, refusing it if it is over `cap` (before reading).
fn read_small<I: Input>(s: &mut Scanner<I>, e: &Entry, cap: u64) -> Result<Vec<u8>> {
    if e.size > cap {
        return Err(Error::invalid(format!(
            "entry {:?} is {} bytes, over the {cap}-byte cap",
            printable(&e.name),
            e.size
        )));
    }
    let mut buf = Vec::with_capacity(e.size as usize);
    s.data()
        .read_to_end(&mut buf)
        .map_err(|err| read_error(err, &e.name))?;
    Ok(buf)
}

fn read_error(err: io::Error, name: &str) -> Error {
    if err.get_ref().is_some_and(|x| x.is::<Error>()) {
        // the verifying reader's verdict, typed
        return Error::io("", err).within(format!("entry {:?}", printable(name)));
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => {
            Error::invalid(err.to_string())
        }
        _ => Error::io(format!("reading entry {:?}", printable(name)), err),
    }
}

/// A blob of a `.tar.zst`, hashed as it streams past; kept in memory when it looks
/// like JSON, is at most [`MAX_MANIFEST`] bytes and the cache has room.
fn hash_streamed<I: Input>(
    s: &mut Scanner<I>,
    e: &Entry,
    d: &Digest,
    cache_left: &mut u64,
) -> Result<Option<Arc<Vec<u8>>>> {
    let mut keep: Option<Vec<u8>> = (e.size <= MAX_MANIFEST && e.size <= *cache_left)
        .then(|| Vec::with_capacity(e.size as usize));
    let mut buf = vec![0u8; 256 * 1024];
    let mut r = VerifyingReader::new(s.data(), d, e.size);
    let mut first = true;
    loop {
        let k = r.read(&mut buf).map_err(|err| read_error(err, &e.name))?;
        if k == 0 {
            break;
        }
        if first {
            first = false;
            let json = buf[..k]
                .iter()
                .find(|c| !c.is_ascii_whitespace())
                .is_some_and(|&c| c == b'{');
            if !json {
                keep = None;
            }
        }
        if let Some(v) = &mut keep {
            v.extend_from_slice(&buf[..k]);
        }
    }
    Ok(keep.map(|v| {
        *cache_left -= v.len() as u64;
        Arc::new(v)
    }))
}

fn check_oci_layout(raw: &[u8]) -> Result<()> {
    #[derive(Deserialize)]
    struct OciLayout {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let parsed: OciLayout = serde_json::from_slice(raw)
        .map_err(|e| Error::invalid(format!("oci-layout: malformed JSON: {e}")))?;
    if parsed.version != LAYOUT_VERSION {
        return Err(Error::invalid(format!(
            "oci-layout: unknown imageLayoutVersion {:?} (only {LAYOUT_VERSION} exists)",
            printable(&parsed.version)
        )));
    }
    Ok(())
}

fn parse_index(raw: &[u8]) -> Result<Index> {
    let index: Index =
        serde_json::from_slice(raw).map_err(|e| Error::invalid(format!("index.json: {e}")))?;
    if index.schema_version != 2 {
        return Err(Error::invalid(format!(
            "index.json: schemaVersion {} (2 expected)",
            index.schema_version
        )));
    }
    Ok(index)
}

/// docker ≥ 25 names images in `io.containerd.image.name` (a full reference) and
/// puts only the tag in `ref.name`; the full name is the one the store wants.
fn name_from_containerd(index: &mut Index) {
    for d in &mut index.manifests {
        if let Some(r) = d
            .annotations
            .get(CONTAINERD_NAME)
            .and_then(|n| Reference::parse(n).ok())
            .filter(|r| r.tag().is_some())
        {
            d.annotations.insert(REF_NAME.to_owned(), r.to_string());
        }
    }
}

/// In docker mode, every regular file outside the OCI names must be one that
/// manifest.json names (config or layer).
fn check_docker_names(scan: &Scan) -> Result<()> {
    let mut named: HashSet<String> = HashSet::new();
    if let Some(raw) = &scan.manifest_json {
        #[derive(Deserialize)]
        struct Item {
            #[serde(rename = "Config", default)]
            config: Option<String>,
            #[serde(rename = "Layers", default)]
            layers: Vec<String>,
            #[serde(rename = "LayerSources", default)]
            _layer_sources: Option<BTreeMap<String, serde_json::Value>>,
        }
        let items: Vec<Item> = serde_json::from_slice(raw)
            .map_err(|e| Error::invalid(format!("manifest.json: {e}")))?;
        for i in items {
            for p in i.config.iter().chain(&i.layers) {
                if let Ok(n) = super::tar::clean_name(p) {
                    named.insert(n);
                }
            }
        }
    }
    // A file under blobs/ was already classified as a blob.
    let mut extra: Vec<&String> = scan
        .files
        .keys()
        .filter(|n| !n.starts_with("blobs/") && !named.contains(*n))
        .collect();
    extra.sort();
    match extra.first() {
        Some(n) => Err(Error::invalid(format!(
            "entry {:?}: unexpected in a docker-archive (manifest.json does not name it)",
            printable(n)
        ))),
        None => Ok(()),
    }
}

/// The regular-file entry a manifest.json path names, following at most one
/// legacy `layer.tar` symlink, inside the archive only.
fn resolve_docker_path(scan: &Scan, raw: &str) -> Result<FileEntry> {
    let bad =
        |why: &str| Error::invalid(format!("manifest.json names {:?}: {why}", printable(raw)));
    let name = super::tar::clean_name(raw).map_err(|w| bad(&w))?;
    if let Some(f) = scan.files.get(&name) {
        return Ok(f.clone());
    }
    if let Some(target) = scan.links.get(&name) {
        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
        let mut comps: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
        if target.starts_with('/') {
            return Err(bad("a symlink with an absolute target"));
        }
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if comps.pop().is_none() {
                        return Err(bad("a symlink pointing out of the archive"));
                    }
                }
                c => comps.push(c),
            }
        }
        let resolved = comps.join("/");
        return scan
            .files
            .get(&resolved)
            .cloned()
            .ok_or_else(|| bad("a symlink to no regular file of the archive"));
    }
    Err(bad("no such regular file in the archive"))
}

/// An OCI manifest in the field order Go's `json.Marshal` gives ggcr's and
/// containers/image's structs (`mediaType`, `digest`, `size`).
fn oci_manifest(config: &Digest, config_size: u64, layers: &[(Digest, u64)]) -> Vec<u8> {
    let mut s = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config}","size":{config_size}}},"layers":["#
    );
    for (i, (d, n)) in layers.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"mediaType":"{OCI_LAYER_TAR}","digest":"{d}","size":{n}}}"#
        ));
    }
    s.push_str("]}");
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.tar.zst` holding an OCI layout with no images and one blob of `size`
    /// bytes under a name its content does not hash to.
    fn tar_zst_with_a_misnamed_blob(dir: &Path, size: usize) -> PathBuf {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        let name = Digest::sha256(b"something else").hex().to_owned();
        add(&format!("blobs/sha256/{name}"), &vec![7u8; size]);
        add(
            "index.json",
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
        );
        let tar = b.into_inner().unwrap();
        let path = dir.join(format!("a-{size}.tar.zst"));
        std::fs::write(
            &path,
            zstd::encode_all(&tar[..], super::super::writer::ZSTD_DEFAULT_LEVEL).unwrap(),
        )
        .unwrap();
        path
    }

    /// `open` hashes every blob of a `.tar.zst`; `open_for_copy` only documents
    /// (up to MAX_MANIFEST bytes), leaving large blobs to the copy's sink, which
    /// hashes what it stages: a misnamed large blob is found by the one and not
    /// read by the other, a misnamed small one by both.
    #[test]
    fn open_for_copy_hashes_a_tar_zst_once() {
        let tmp = tempfile::TempDir::new().unwrap();
        let large = tar_zst_with_a_misnamed_blob(tmp.path(), MAX_MANIFEST as usize + 1);
        let err = ArchiveLayout::open(&large).err().unwrap().to_string();
        assert!(err.contains("hashes to"), "{err}");
        let lazy = ArchiveLayout::open_for_copy(&large).unwrap();
        assert!(lazy.is_streamed() && !lazy.all_blobs_hashed_on_open());
        let small = tar_zst_with_a_misnamed_blob(tmp.path(), 1000);
        for open in [ArchiveLayout::open, ArchiveLayout::open_for_copy] {
            let err = open(&small).err().unwrap().to_string();
            assert!(err.contains("hashes to"), "{err}");
        }
    }

    #[test]
    fn rebuilt_manifests_are_valid_and_stable() {
        let cfg: Digest = "sha256:1775eae3636c1a1bdf8eed338e412db4b1bc58e372aa59d09498b53352297189"
            .parse()
            .unwrap();
        let layer: Digest =
            "sha256:688b571963c4d19203b58cfdc57a518e310a6508aa24284c97adcebe077d3a06"
                .parse()
                .unwrap();
        let m = oci_manifest(&cfg, 392, &[(layer.clone(), 20480), (layer, 20480)]);
        let desc = Descriptor::new(OCI_MANIFEST, Digest::sha256(&m), m.len() as u64);
        let doc = crate::store::manifest::parse(&m, &desc, "m").unwrap();
        assert_eq!(doc.children().len(), 3);
        // fixtures/single.docker.tar imports as this digest; a change here changes
        // what users already have in their stores.
        let one = oci_manifest(
            &cfg,
            392,
            &[(
                "sha256:688b571963c4d19203b58cfdc57a518e310a6508aa24284c97adcebe077d3a06"
                    .parse()
                    .unwrap(),
                20480,
            )],
        );
        assert_eq!(
            Digest::sha256(&one).to_string(),
            "sha256:1483335feb058766dc784ae74043949296087dc0e88e06fe8bcf9a3635c8021d"
        );
    }
}
