//! An OCI image layout directory: `oci-layout`, `index.json`, `blobs/<alg>/<hex>`.
//!
//! Durability rules, in the order a write happens:
//! 1. a blob is staged, hashed on the way, digest and size checked: a small one
//!    written in memory (payloads, configs, manifests) goes to an unnamed file in its
//!    blob directory ([`super::unnamed`]); anything else, or where unnamed files
//!    cannot be made, streams into a temp file under `.airsign/tmp/` (same file system);
//! 2. at commit, under the layout's lock, one syncfs(2) makes every staged file
//!    durable (an fsync per blob would cap signing at ~3,000 blobs/s), then each is
//!    put in place without replacing: an unnamed file linked (`linkat`), a temp file
//!    renamed (RENAME_NOREPLACE); an existing blob is never replaced; then the new
//!    names are made durable (the renamed-into directories fsynced; a second syncfs
//!    after links);
//! 3. last, `index.json` is rewritten: temp file, fsync, rename, directory fsync.
//!
//! A failure before step 3 leaves `index.json` as it was, and a failure before step 2
//! leaves no trace at all: temp files are removed when the transaction drops, and
//! unnamed files vanish when closed. A transaction may land blobs before its commit
//! ([`Transaction::land_while_staging`], for bulk signing): those are durable and
//! unreferenced until the commit, and `gc` waits for such a writer to finish.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::descriptor::{Descriptor, Index, MAX_INDEX_JSON};
use super::unnamed;
use crate::digest::{Algorithm, Digest, printable};
use crate::verify::{VerifyingReader, check_bytes};
use crate::{Error, Result};

/// The only layout version that exists.
pub const LAYOUT_VERSION: &str = "1.0.0";
const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// airsign's private corner of a layout: temp files and the locks.
const PRIVATE_DIR: &str = ".airsign";

#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

#[derive(serde::Deserialize)]
struct OciLayoutFile {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

impl Layout {
    /// Opens an existing layout, checking its `oci-layout` version.
    pub fn open(root: &Path) -> Result<Layout> {
        let marker = root.join("oci-layout");
        let bytes = match read_small(&marker, 4096) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound(format!(
                    "{} is not an OCI image layout (no oci-layout file)",
                    root.display()
                )));
            }
            Err(e) => return Err(Error::io_path("reading", &marker, e)),
        };
        let parsed: OciLayoutFile = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("{}: malformed JSON: {e}", marker.display())))?;
        if parsed.image_layout_version != LAYOUT_VERSION {
            return Err(Error::invalid(format!(
                "{}: unknown imageLayoutVersion {:?} (only {LAYOUT_VERSION} exists)",
                marker.display(),
                printable(&parsed.image_layout_version)
            )));
        }
        Ok(Layout {
            root: root.to_path_buf(),
        })
    }

    /// Creates a layout (or opens the one that is there). Creation is itself
    /// crash-safe: `oci-layout` and `index.json` are written by rename.
    pub fn init(root: &Path) -> Result<Layout> {
        if fs::symlink_metadata(root.join("oci-layout")).is_ok() {
            return Layout::open(root)
                .and_then(|l| l.check_usable().map(|()| l))
                .map_err(|e| {
                    Error::invalid(format!(
                        "{} is an OCI image layout that cannot be used as it is: {e}",
                        root.display()
                    ))
                });
        }
        if root.exists()
            && fs::read_dir(root)
                .map_err(|e| Error::io_path("reading", root, e))?
                .next()
                .is_some()
        {
            return Err(Error::Usage(format!(
                "{} exists, is not empty and is not an OCI image layout",
                root.display()
            )));
        }
        fs::create_dir_all(root.join("blobs").join("sha256"))
            .map_err(|e| Error::io_path("creating", root, e))?;
        let layout = Layout {
            root: root.to_path_buf(),
        };
        if !root.join("index.json").exists() {
            layout.write_index_file(&Index::default())?;
        }
        drop(layout.lock()?);
        write_atomically(
            &root.join("oci-layout"),
            OCI_LAYOUT_FILE,
            &layout.tmp_dir()?,
        )?;
        sync_dir(root)?;
        Ok(layout)
    }

    /// Whether an existing layout can be read and written: `index.json` valid,
    /// `blobs/` a directory, the lock and the temp directory writable. (The blobs
    /// themselves are `fsck`'s to check: that reads everything.)
    pub fn check_usable(&self) -> Result<()> {
        self.read_index()?;
        let blobs = self.root.join("blobs");
        let meta =
            fs::symlink_metadata(&blobs).map_err(|e| Error::io_path("reading", &blobs, e))?;
        if !meta.is_dir() {
            return Err(Error::invalid(format!(
                "{} is {}, not a directory",
                blobs.display(),
                file_type_name(&meta)
            )));
        }
        drop(self.lock()?);
        let probe = self
            .tmp_dir()?
            .join(format!("probe.{}.{}", std::process::id(), nanos()));
        File::create(&probe).map_err(|e| Error::io_path("writing", &probe, e))?;
        fs::remove_file(&probe).map_err(|e| Error::io_path("removing", &probe, e))?;
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives. The digest was validated when it was parsed, so this
    /// path cannot leave `blobs/`.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().name())
            .join(d.hex())
    }

    /// Opens a blob for reading: it must be a regular file (a symlink, directory,
    /// FIFO or device is refused) and is returned with its size. `Ok(None)` if
    /// absent. One `open(O_NOFOLLOW | O_NONBLOCK)` and one `fstat` on the opened
    /// file: nothing can be swapped in between, and a FIFO never blocks.
    pub fn open_blob(&self, d: &Digest) -> Result<Option<(File, u64)>> {
        let path = self.blob_path(d);
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let f = match OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(Error::invalid(format!(
                    "blob {d} in {} is not a regular file (a symlink)",
                    self.root.display()
                )));
            }
            Err(e) => return Err(Error::io_path("opening", &path, e)),
        };
        let meta = f
            .metadata()
            .map_err(|e| Error::io_path("reading", &path, e))?;
        if !meta.is_file() {
            return Err(Error::invalid(format!(
                "blob {d} in {} is not a regular file ({})",
                self.root.display(),
                special_kind(&meta)
            )));
        }
        Ok(Some((f, meta.len())))
    }

    /// Every regular file under `blobs/<alg>/` named by a valid digest, with its size.
    pub fn blob_list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        for alg in ALGORITHMS {
            let dir = self.root.join("blobs").join(alg.name());
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io_path("reading", &dir, e)),
            };
            for e in rd {
                let e = e.map_err(|e| Error::io_path("reading", &dir, e))?;
                let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let Ok(d) = Digest::new(alg, &name) else {
                    continue;
                };
                let Ok(meta) = fs::symlink_metadata(e.path()) else {
                    continue;
                };
                if meta.is_file() {
                    out.push((d, meta.len()));
                }
            }
        }
        Ok(out)
    }

    /// Whether the blob is present (as a regular file; anything else is an error).
    pub fn has_blob(&self, d: &Digest) -> Result<bool> {
        Ok(self.blob_len(d)?.is_some())
    }

    /// The blob's stored size, `None` if absent (a regular file; anything else is an
    /// error).
    pub fn blob_len(&self, d: &Digest) -> Result<Option<u64>> {
        let path = self.blob_path(d);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => Ok(Some(m.len())),
            Ok(m) => Err(Error::invalid(format!(
                "blob {d} in {} is not a regular file ({})",
                self.root.display(),
                file_type_name(&m)
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io_path("reading", &path, e)),
        }
    }

    /// Whether the layout holds the blob a descriptor names, refusing one it holds
    /// with another size (the descriptor lies about the digest's bytes).
    pub fn holds(&self, desc: &Descriptor) -> Result<bool> {
        match self.blob_len(&desc.digest)? {
            Some(len) if len != desc.size => Err(Error::invalid(format!(
                "blob {} is {} bytes by its descriptor; the copy in {} is {len}",
                desc.digest,
                desc.size,
                self.root.display()
            ))),
            held => Ok(held.is_some()),
        }
    }

    /// Reads a whole blob into memory, checking it against its descriptor: size,
    /// digest, and `max` (for manifests and configs; layers are never read whole).
    pub fn read_blob(&self, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        let d = &desc.digest;
        let Some((f, len)) = self.open_blob(d)? else {
            return Err(Error::NotFound(format!(
                "blob {d} is missing from {}",
                self.root.display()
            )));
        };
        if desc.size > max {
            return Err(Error::invalid(format!(
                "blob {d}: descriptor size {} is over the {max}-byte limit",
                desc.size
            )));
        }
        if len != desc.size {
            return Err(Error::invalid(format!(
                "blob {d}: {len} bytes on disk, descriptor says {}",
                desc.size
            )));
        }
        let mut buf = Vec::with_capacity(len as usize);
        f.take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io_path("reading", &self.blob_path(d), e))?;
        check_bytes(d, desc.size, &buf).map_err(|e| e.within(self.root.display()))?;
        Ok(buf)
    }

    /// Copies every entry of `source`'s `index.json` into this layout, which must be
    /// empty, with the `index.json` verbatim (names untouched, whatever their style):
    /// the working copy an archive is changed in.
    pub fn mirror(&self, source: &dyn super::source::ReadLayout) -> Result<()> {
        let index = source.read_index()?;
        let mut tx = self.begin()?;
        crate::copy::copy(source, &mut tx, &index.manifests, &crate::copy::Quiet)?;
        tx.commit(|idx| {
            if !idx.manifests.is_empty() {
                return Err(Error::invalid(format!(
                    "{}: not an empty layout",
                    self.root.display()
                )));
            }
            *idx = index;
            Ok(())
        })
    }

    /// Reads and validates `index.json`.
    pub fn read_index(&self) -> Result<Index> {
        let path = self.root.join("index.json");
        let bytes = read_small(&path, MAX_INDEX_JSON).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                Error::NotFound(format!("{}: no index.json", self.root.display()))
            }
            io::ErrorKind::FileTooLarge => Error::invalid(format!(
                "{}: larger than {MAX_INDEX_JSON} bytes",
                path.display()
            )),
            _ => Error::io_path("reading", &path, e),
        })?;
        let mut index: Index = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        drop(bytes);
        // a 10,000-image store's entries would keep up to twice their room otherwise
        index.manifests.shrink_to_fit();
        if index.schema_version != 2 {
            return Err(Error::invalid(format!(
                "{}: schemaVersion {} (2 expected)",
                path.display(),
                index.schema_version
            )));
        }
        Ok(index)
    }

    /// Starts a write: blobs are staged, and land only at [`Transaction::commit`].
    pub fn begin(&self) -> Result<Transaction<'_>> {
        Ok(Transaction {
            layout: self,
            tmp: self.tmp_dir()?,
            staged: Vec::new(),
            staged_digests: HashSet::new(),
            relied_on: HashSet::new(),
            work_dirs: Vec::new(),
            unnamed: None,
            early: None,
        })
    }

    /// Changes `index.json` under the layout's lock (see [`Transaction::commit`]).
    pub fn update_index<T>(&self, f: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        self.begin()?.commit(f)
    }

    /// Runs `f` holding the layout's exclusive lock (no commit can happen meanwhile).
    pub fn with_lock<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        f()
    }

    /// This process's own staging directory, `.airsign/tmp/<pid>-<start>`: every
    /// temp file of this process in this layout is in it, so an interrupted run's
    /// leftovers are one directory ([`crate::cleanup`] removes it on SIGINT/SIGTERM
    /// and at exit; `gc` removes a crashed run's after a day).
    fn tmp_dir(&self) -> Result<PathBuf> {
        static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let tag = TAG.get_or_init(|| format!("{}-{}", std::process::id(), nanos()));
        let dir = self.root.join(PRIVATE_DIR).join("tmp").join(tag);
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|e| Error::io_path("creating", &dir, e))?;
            crate::cleanup::register_for_process(&dir);
        }
        Ok(dir)
    }

    fn lock(&self) -> Result<File> {
        let dir = self.root.join(PRIVATE_DIR);
        fs::create_dir_all(&dir).map_err(|e| Error::io_path("creating", &dir, e))?;
        let path = dir.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| Error::io_path("opening", &path, e))?;
        f.lock().map_err(|e| Error::io_path("locking", &path, e))?;
        Ok(f)
    }

    /// Runs `f` once no transaction has blobs landed ahead of its commit, and none can
    /// start landing meanwhile (see [`Transaction::land_while_staging`]): for `gc`,
    /// which takes the layout's lock inside `f`.
    pub fn without_early_landings<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let (guard, _) = self.landing_lock()?;
        // Where a directory cannot be locked (NFS emulates flock with byte-range
        // locks, which need a file open for writing) no transaction lands early
        // either: that needs unnamed files, which NFS does not make.
        let _ = guard.lock();
        f()
    }

    /// The lock a transaction landing blobs before its commit holds shared and `gc`
    /// exclusively: `flock` on the `.airsign` directory itself, so it needs no file of
    /// its own (and is independent of `.airsign/lock`, a different open file).
    fn landing_lock(&self) -> Result<(File, PathBuf)> {
        let dir = self.root.join(PRIVATE_DIR);
        fs::create_dir_all(&dir).map_err(|e| Error::io_path("creating", &dir, e))?;
        let f = File::open(&dir).map_err(|e| Error::io_path("opening", &dir, e))?;
        Ok((f, dir))
    }

    fn write_index_file(&self, index: &Index) -> Result<()> {
        write_atomically(
            &self.root.join("index.json"),
            &index.to_bytes(),
            &self.tmp_dir()?,
        )?;
        sync_dir(&self.root)
    }
}

/// A set of staged blobs and one `index.json` change, applied together.
pub struct Transaction<'a> {
    layout: &'a Layout,
    tmp: PathBuf,
    staged: Vec<(Staged, Digest)>,
    staged_digests: HashSet<Digest>,
    relied_on: HashSet<Digest>,
    work_dirs: Vec<PathBuf>,
    /// The directory unnamed files are made in, once opened; `Some(None)`: they
    /// cannot be made in this layout.
    unnamed: Option<Option<Arc<unnamed::Dir>>>,
    early: Option<EarlyLanding>,
}

/// Where a staged blob's bytes wait until they land.
enum Staged {
    /// A temp file under `.airsign/tmp/`, renamed into place.
    Named(PathBuf),
    /// An unnamed file in the blob's directory, linked into place.
    Unnamed(File),
}

/// How many staged blobs make a batch worth landing early: each batch costs a syncfs.
const LAND_BATCH: usize = 2048;

/// Blobs landing before the commit (see [`Transaction::land_while_staging`]).
struct EarlyLanding {
    /// The shared landing lock ([`Layout::landing_lock`]), taken before the first
    /// batch lands and held until the transaction ends.
    guard: Option<File>,
    /// The last batch sent to land, on its own thread (joining it joins the batch
    /// before it, if that one was still landing).
    job: Option<LandingJob>,
    /// Whether any batch landed: then the commit makes their names durable.
    landed: bool,
}

/// A batch landing on its own thread (see [`Transaction::land_staged_unnamed`]).
struct LandingJob {
    handle: std::thread::JoinHandle<Result<()>>,
    /// The files this batch holds open.
    own: usize,
    /// The files open in this batch and the one before it, until this one links.
    held: usize,
    /// Signalled when this batch is flushed and the batch before it has landed:
    /// from then on only this batch holds files open.
    linking: std::sync::mpsc::Receiver<()>,
}

impl Transaction<'_> {
    pub fn layout(&self) -> &Layout {
        self.layout
    }

    /// Stages a blob from `reader`, which must yield exactly `size` bytes hashing to
    /// `digest`. Returns false (and reads nothing) if the layout already has it.
    pub fn put_blob(&mut self, digest: &Digest, size: u64, reader: &mut impl Read) -> Result<bool> {
        if self.has_blob(digest)? {
            return Ok(false);
        }
        let (path, file) = self.temp_file()?;
        let staged = if size >= PIPELINE_MIN {
            copy_pipelined(digest, size, reader, file)
        } else {
            copy_simple(digest, size, reader, file)
        };
        match staged {
            Ok(()) => {
                self.staged_digests.insert(digest.clone());
                self.staged.push((Staged::Named(path), digest.clone()));
                Ok(true)
            }
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Stages a blob held in memory (manifests, configs, payloads); returns its
    /// SHA-256 digest.
    pub fn put_bytes(&mut self, bytes: &[u8]) -> Result<Digest> {
        Ok(self.put_many_bytes(&[bytes])?.remove(0))
    }

    /// Whether the blob is staged here or already in the layout. A blob found in the
    /// layout is relied upon: commit checks, under the lock, that it is still there
    /// (a concurrent `gc` could have removed it in between).
    pub fn has_blob(&mut self, d: &Digest) -> Result<bool> {
        if self.staged_digests.contains(d) {
            return Ok(true);
        }
        if self.layout.has_blob(d)? {
            self.relied_on.insert(d.clone());
            return Ok(true);
        }
        Ok(false)
    }

    /// Lets this transaction's small blobs ([`Transaction::put_many_bytes`]) land
    /// while later ones are still being made: after each batch is staged, another
    /// thread makes it durable and links it into place, so that a bulk sign's file
    /// system waits overlap its work. The landed blobs are unreferenced until the
    /// commit; `gc` waits for this transaction to end before it decides. If the
    /// transaction fails, they stay behind for `gc`, as a `pull`'s landed blobs do.
    pub fn land_while_staging(&mut self) {
        self.early.get_or_insert(EarlyLanding {
            guard: None,
            job: None,
            landed: false,
        });
    }

    /// Under the layout's exclusive lock: makes the staged blobs durable, puts them in
    /// place and makes their names durable (see the module's rules), re-reads
    /// `index.json` (another process may have changed it), applies `f`, and writes the
    /// result. If `f` fails nothing is written.
    pub fn commit<T>(mut self, f: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        let _lock = self.layout.lock()?;
        for d in &self.relied_on {
            if !self.layout.has_blob(d)? {
                return Err(Error::NotFound(format!(
                    "blob {d} disappeared from {} during the write (a concurrent gc?); run the command again",
                    self.layout.root().display()
                )));
            }
        }
        let mut index = self.layout.read_index()?;
        let out = f(&mut index)?;
        self.place_staged()?;
        self.layout.write_index_file(&index)?;
        Ok(out)
    }

    /// Makes the staged blobs durable and moves them into place, under the lock,
    /// without touching `index.json`: nothing refers to them yet. `pull` lands each
    /// downloaded blob this way, so a rerun after an interruption skips what arrived
    /// (a `gc` removes them if no commit ever refers to them).
    pub fn land(mut self) -> Result<()> {
        let _lock = self.layout.lock()?;
        self.place_staged()
    }

    /// One flush, then every staged file put at its blob path (never replacing), then
    /// the new names made durable.
    fn place_staged(&mut self) -> Result<()> {
        // The last unnamed files of a transaction whose batches land early land the
        // same way: flushed while the batch before them links. Only once the landing
        // lock is held: taking it here, under the layout's lock, could deadlock with
        // a `gc` (which takes the landing lock first).
        if self.early.as_ref().is_some_and(|e| e.guard.is_some()) {
            self.land_staged_unnamed()?;
        }
        let landed_early = self.finish_landing()?;
        let (mut named, mut unnamed) = (Vec::new(), Vec::new());
        for (s, digest) in std::mem::take(&mut self.staged) {
            match s {
                Staged::Named(path) => named.push((path, digest)),
                Staged::Unnamed(file) => unnamed.push((file, digest)),
            }
        }
        // One flush for every staged file, instead of an fsync per blob: the temp
        // directory's file system for named files, the blob directory's for unnamed
        // ones (through its descriptor, open since before the first was written, so a
        // writeback error meanwhile is reported).
        if !named.is_empty() {
            sync_filesystem(&self.tmp)?;
        }
        let unnamed_dir = match &self.unnamed {
            Some(Some(dir)) => Some(Arc::clone(dir)),
            _ => None,
        };
        if let Some(dir) = &unnamed_dir
            && !unnamed.is_empty()
        {
            flush_unnamed(dir)?;
            link_unnamed(dir, unnamed, threads())?;
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (tmp, digest) in named {
            let dest = self.layout.blob_path(&digest);
            let dir = dest
                .parent()
                .expect("blob paths have a parent")
                .to_path_buf();
            if !dirs.contains(&dir) {
                fs::create_dir_all(&dir).map_err(|e| Error::io_path("creating", &dir, e))?;
                dirs.push(dir);
            }
            place_blob(&tmp, &dest)?;
        }
        for dir in &dirs {
            sync_dir(dir)?;
        }
        if let Some(dir) = unnamed_dir
            && (landed_early || dir.linked())
        {
            // A link changes the file's own inode too (its link count), which a
            // directory's fsync does not write: one more flush, of metadata only.
            flush_unnamed(&dir)?;
        }
        Ok(())
    }

    /// Waits for the batch landing early, if any; whether any batch landed early.
    fn finish_landing(&mut self) -> Result<bool> {
        let Some(early) = &mut self.early else {
            return Ok(false);
        };
        if let Some(job) = early.job.take() {
            job.handle.join().expect("landing does not panic")?;
        }
        Ok(early.landed)
    }

    /// Sends the unnamed files staged so far to land on another thread: it flushes
    /// them while the batch before is still being linked, then waits for that batch
    /// and links its own (names in batch order). A batch is sent once the one before
    /// it is linking, so at most two batches are landing: one flushing, one linking.
    fn land_staged_unnamed(&mut self) -> Result<()> {
        if let Some(job) = self.early.as_mut().and_then(|e| e.job.as_mut()) {
            // an error there ends the job without the signal: its join reports it
            if job.linking.recv().is_err() {
                self.finish_landing()?;
            } else {
                job.held = job.own;
            }
        }
        let Some(early) = &mut self.early else {
            return Ok(());
        };
        let Some(Some(dir)) = &self.unnamed else {
            // nothing unnamed was staged
            return Ok(());
        };
        if early.guard.is_none() {
            let (guard, path) = self.layout.landing_lock()?;
            guard
                .lock_shared()
                .map_err(|e| Error::io_path("locking", &path, e))?;
            early.guard = Some(guard);
        }
        let (mut unnamed, mut rest) = (Vec::new(), Vec::new());
        for (s, digest) in std::mem::take(&mut self.staged) {
            match s {
                Staged::Unnamed(file) => unnamed.push((file, digest)),
                named => rest.push((named, digest)),
            }
        }
        self.staged = rest;
        if unnamed.is_empty() {
            return Ok(());
        }
        early.landed = true;
        let before = early.job.take();
        let own = unnamed.len();
        let held = own + before.as_ref().map_or(0, |j| j.own);
        let (linking_tx, linking) = std::sync::mpsc::sync_channel(1);
        let dir = Arc::clone(dir);
        let handle = std::thread::spawn(move || {
            let synced = flush_unnamed(&dir);
            if let Some(before) = before {
                before.handle.join().expect("landing does not panic")?;
            }
            synced?;
            let _ = linking_tx.send(());
            link_unnamed(&dir, unnamed, 1)
        });
        early.job = Some(LandingJob {
            handle,
            own,
            held,
            linking,
        });
        Ok(())
    }

    /// How many unnamed files this transaction holds open.
    fn unnamed_held(&self) -> usize {
        let landing = self
            .early
            .as_ref()
            .and_then(|e| e.job.as_ref())
            .map_or(0, |j| j.held);
        landing
            + self
                .staged
                .iter()
                .filter(|(s, _)| matches!(s, Staged::Unnamed(_)))
                .count()
    }

    /// The directory unnamed files for `count` new SHA-256 blobs go to, if they may:
    /// the file system makes them and the open-file budget has room.
    fn unnamed_dir(&mut self, count: usize) -> Result<Option<Arc<unnamed::Dir>>> {
        if self.unnamed.is_none() {
            let path = self
                .layout
                .root()
                .join("blobs")
                .join(Algorithm::Sha256.name());
            fs::create_dir_all(&path).map_err(|e| Error::io_path("creating", &path, e))?;
            let dir = unnamed::Dir::open(&path)
                .map_err(|e| Error::io_path("creating a file in", &path, e))?;
            self.unnamed = Some(dir.map(Arc::new));
        }
        if self.unnamed_held() + count > unnamed::budget() {
            return Ok(None);
        }
        Ok(self.unnamed.clone().flatten())
    }

    fn temp_file(&self) -> Result<(PathBuf, File)> {
        new_temp_file(&self.tmp)
    }

    /// This transaction's own staging directories, one per thread (creating files in
    /// one directory serialises on its lock); removed when the transaction ends.
    fn thread_dirs(&mut self, threads: usize) -> Result<Vec<PathBuf>> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        while self.work_dirs.len() < threads {
            let d = self.tmp.join(format!(
                "w-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&d).map_err(|e| Error::io_path("creating", &d, e))?;
            self.work_dirs.push(d);
        }
        Ok(self.work_dirs[..threads].to_vec())
    }

    /// Stages many blobs from a source that can open any of them at any time (a
    /// directory, a seekable archive), on every core: each thread copies whole blobs,
    /// hashing as it writes, so several blobs are hashed at once. `open` gives a blob's
    /// bytes; sizes and digests are checked as in [`Transaction::put_blob`]. `items`
    /// are blobs the caller found the layout lacks (the copy engine asked
    /// [`crate::copy::Sink::has_blob`] for each): they are not looked up again, and
    /// one another writer lands meanwhile is dropped at commit. Returns how many were
    /// staged, and their bytes.
    pub fn put_blobs_parallel<R: Read>(
        &mut self,
        items: &[(Digest, u64)],
        open: &(dyn Fn(&Digest) -> Result<R> + Sync),
    ) -> Result<(u64, u64)> {
        let mut seen: HashSet<&Digest> = HashSet::new();
        let mut todo: Vec<&(Digest, u64)> = items
            .iter()
            .filter(|(d, _)| !self.staged_digests.contains(d) && seen.insert(d))
            .collect();
        // Largest first, so the threads finish together.
        todo.sort_by_key(|t| std::cmp::Reverse(t.1));
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let dirs = self.thread_dirs(threads)?;
        let next = AtomicU64::new(0);
        type Done = Vec<(PathBuf, Digest, u64)>;
        let results: Vec<(Done, Result<()>)> = std::thread::scope(|s| {
            let handles: Vec<_> = dirs
                .iter()
                .map(|dir| {
                    let (todo, next) = (&todo, &next);
                    s.spawn(move || {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                            let Some((digest, size)) = todo.get(i) else {
                                return (done, Ok(()));
                            };
                            let staged = (|| {
                                let mut reader = open(digest)?;
                                let (path, file) = new_temp_file(dir)?;
                                match copy_simple(digest, *size, &mut reader, file) {
                                    Ok(()) => Ok(path),
                                    Err(e) => {
                                        let _ = fs::remove_file(&path);
                                        Err(e)
                                    }
                                }
                            })();
                            match staged {
                                Ok(path) => done.push((path, digest.clone(), *size)),
                                Err(e) => {
                                    // Stop the other threads early, too.
                                    next.store(u64::MAX / 2, Ordering::Relaxed);
                                    return (done, Err(e));
                                }
                            }
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("staging does not panic"))
                .collect()
        });
        // Record everything written, so Drop removes it if anything failed.
        let mut first_error = None;
        let (mut count, mut bytes) = (0, 0);
        for (done, r) in results {
            for (path, d, size) in done {
                self.staged_digests.insert(d.clone());
                self.staged.push((Staged::Named(path), d));
                count += 1;
                bytes += size;
            }
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok((count, bytes)),
        }
    }

    /// [`Transaction::put_bytes`] for many small blobs at once, written on every core
    /// (file creation is most of a bulk sign's time). Returns their digests in order.
    /// Small blobs are staged without asking the file system whether they exist (a
    /// stat per blob is a measurable share of a bulk sign): if one does, placing it
    /// finds the name taken and the staged copy is dropped.
    pub fn put_many_bytes(&mut self, blobs: &[&[u8]]) -> Result<Vec<Digest>> {
        let digests: Vec<Digest> = blobs.iter().map(|b| Digest::sha256(b)).collect();
        let mut todo: Vec<(usize, &Digest)> = Vec::new();
        let mut seen: HashSet<&Digest> = HashSet::new();
        for (i, d) in digests.iter().enumerate() {
            if !self.staged_digests.contains(d) && seen.insert(d) {
                todo.push((i, d));
            }
        }
        if todo.is_empty() {
            return Ok(digests);
        }
        let threads = if todo.len() < 8 { 1 } else { threads() };
        let chunk = todo.len().div_ceil(threads).max(1);
        let unnamed_dir = self.unnamed_dir(todo.len())?;
        // Named temp files: one directory per thread, as creating files in one
        // directory serialises on its lock (unnamed files have no name to lock on).
        let dirs = match &unnamed_dir {
            Some(_) => vec![self.tmp.clone(); threads],
            None => self.thread_dirs(threads)?,
        };
        type Written = (Vec<(Staged, Digest)>, Result<()>);
        let written: Vec<Written> = std::thread::scope(|s| {
            let handles: Vec<_> = todo
                .chunks(chunk)
                .zip(&dirs)
                .map(|(part, dir)| {
                    let unnamed_dir = unnamed_dir.as_deref();
                    s.spawn(move || {
                        let mut done = Vec::with_capacity(part.len());
                        for (i, d) in part {
                            match stage_bytes(unnamed_dir, dir, blobs[*i]) {
                                Ok(staged) => done.push((staged, (*d).clone())),
                                Err(e) => return (done, Err(e)),
                            }
                        }
                        (done, Ok(()))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("staging does not panic"))
                .collect()
        });
        // Record whatever was written, so Drop cleans it up even on error.
        let mut first_error = None;
        for (done, r) in written {
            for (staged, d) in done {
                self.staged_digests.insert(d.clone());
                self.staged.push((staged, d));
            }
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if self.early.is_some() && self.staged.len() >= LAND_BATCH {
            self.land_staged_unnamed()?;
        }
        Ok(digests)
    }
}

/// How many threads a parallel write uses.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
}

/// Writes `bytes` to an unnamed file in `unnamed_dir` if given, else to a new temp
/// file in `named_dir`.
fn stage_bytes(
    unnamed_dir: Option<&unnamed::Dir>,
    named_dir: &Path,
    bytes: &[u8],
) -> Result<Staged> {
    if let Some(dir) = unnamed_dir {
        let failed = |e| Error::io_path("writing a file in", dir.path(), e);
        let mut file = dir.create().map_err(failed)?;
        file.write_all(bytes).map_err(failed)?;
        return Ok(Staged::Unnamed(file));
    }
    let (path, mut file) = new_temp_file(named_dir)?;
    if let Err(e) = file.write_all(bytes) {
        let _ = fs::remove_file(&path);
        return Err(Error::io_path("writing", &path, e));
    }
    Ok(Staged::Named(path))
}

/// Makes the unnamed files written in `dir` durable: one `syncfs` through its
/// descriptor (see [`Transaction::place_staged`]).
fn flush_unnamed(dir: &unnamed::Dir) -> Result<()> {
    dir.sync_filesystem()
        .map_err(|e| Error::io_path("syncing", dir.path(), e))
}

/// Links durable unnamed files to their blob paths in `dir` on `threads` threads; a
/// name that exists already is left as it is (same digest, same bytes).
fn link_unnamed(dir: &unnamed::Dir, files: Vec<(File, Digest)>, threads: usize) -> Result<()> {
    let link_one = |(file, d): &(File, Digest)| -> Result<()> {
        dir.link(file, d.hex())
            .map(drop)
            .map_err(|e| Error::io_path("placing blob", &dir.path().join(d.hex()), e))
    };
    if threads <= 1 || files.len() < 64 {
        return files.iter().try_for_each(link_one);
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().try_for_each(link_one)))
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("linking does not panic"))
    })
}

/// Creates a new, empty temp file in `dir` with a name no other writer uses.
fn new_temp_file(dir: &Path) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let pid = *PID.get_or_init(std::process::id);
    loop {
        let name = format!(
            "blob-{pid}-{}-{}",
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos()
        );
        let path = dir.join(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io_path("creating", &path, e)),
        }
    }
}

/// A transaction is where a copy into a layout writes: blobs staged (several at
/// once from a source that allows it), nothing visible before [`Transaction::commit`].
impl crate::copy::Sink for Transaction<'_> {
    fn location(&self) -> String {
        self.layout.root().display().to_string()
    }

    fn has_blob(&mut self, desc: &Descriptor) -> Result<bool> {
        if self.staged_digests.contains(&desc.digest) {
            return Ok(true);
        }
        if self.layout.holds(desc)? {
            self.relied_on.insert(desc.digest.clone());
            return Ok(true);
        }
        Ok(false)
    }

    fn put_blob(&mut self, desc: &Descriptor, mut r: &mut dyn Read) -> Result<bool> {
        Transaction::put_blob(self, &desc.digest, desc.size, &mut r)
    }

    fn put_blobs(
        &mut self,
        source: &dyn super::source::ReadLayout,
        blobs: &[Descriptor],
        progress: &dyn crate::copy::Progress,
    ) -> Result<crate::copy::Copied> {
        use crate::copy::{Counting, put_each};
        if source.sequential() {
            return put_each(self, source, blobs, progress);
        }
        let by_digest: HashMap<&Digest, &Descriptor> =
            blobs.iter().map(|b| (&b.digest, b)).collect();
        let items: Vec<(Digest, u64)> = blobs.iter().map(|b| (b.digest.clone(), b.size)).collect();
        let open = |d: &Digest| -> Result<_> {
            Ok(Counting(source.open_described(by_digest[d])?, progress))
        };
        let (blobs_new, bytes) = self.put_blobs_parallel(&items, &open)?;
        for b in blobs {
            progress.blob(&b.digest);
        }
        Ok(crate::copy::Copied {
            blobs: blobs_new,
            bytes,
            ..Default::default()
        })
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // No link may happen after the transaction ends (its landing lock goes with it).
        let _ = self.finish_landing();
        for (staged, _) in &self.staged {
            if let Staged::Named(tmp) = staged {
                let _ = fs::remove_file(tmp);
            }
        }
        // After a commit they are empty; after a failure only ours are in them.
        for d in &self.work_dirs {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// Blobs at least this large are copied by two threads: this one reads and hashes,
/// another writes. Hashing (SHA-NI) and the kernel's copy into the page cache cost
/// about the same, so overlapping them nearly halves an import's time.
const PIPELINE_MIN: u64 = 4 * 1024 * 1024;
const PIPELINE_CHUNK: usize = 1024 * 1024;

/// Copies exactly `size` bytes hashing to `digest` from `reader` into `file`,
/// through the one verifying reader.
fn copy_simple(digest: &Digest, size: u64, reader: &mut impl Read, file: File) -> Result<()> {
    let mut w = io::BufWriter::with_capacity(256 * 1024, file);
    let mut r = VerifyingReader::new(reader, digest, size);
    io::copy(&mut r, &mut w).map_err(|e| Error::io(format!("copying blob {digest}"), e))?;
    // Durability comes at commit, with one syncfs for the whole batch.
    w.into_inner()
        .map(drop)
        .map_err(|e| Error::io("writing blob", e.into_error()))
}

/// [`copy_simple`] with the writing on a second thread, buffers passed back and forth
/// (four of [`PIPELINE_CHUNK`], so memory stays bounded).
fn copy_pipelined(digest: &Digest, size: u64, reader: &mut impl Read, file: File) -> Result<()> {
    use std::sync::mpsc;
    let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(4);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..4 {
        empty_tx
            .send(vec![0u8; PIPELINE_CHUNK])
            .expect("receiver alive");
    }
    std::thread::scope(|s| {
        let writer = s.spawn(move || -> io::Result<()> {
            let mut file = file;
            for buf in full_rx {
                file.write_all(&buf)?;
                // The reader may have stopped already; then the buffer is just dropped.
                let _ = empty_tx.send(buf);
            }
            Ok(())
        });
        let mut verified = VerifyingReader::new(reader, digest, size);
        let read_result: io::Result<()> = (|| {
            // When the writer has failed, its error is what matters: stop reading.
            while let Ok(mut buf) = empty_rx.recv() {
                buf.resize(PIPELINE_CHUNK, 0);
                let mut n = 0;
                while n < buf.len() {
                    match verified.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if n == 0 {
                    return Ok(());
                }
                buf.truncate(n);
                if full_tx.send(buf).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        })();
        drop(full_tx);
        let write_result = writer.join().expect("the writer does not panic");
        read_result.map_err(|e| Error::io(format!("copying blob {digest}"), e))?;
        write_result.map_err(|e| Error::io("writing blob", e))?;
        // the stream's end was reached above (or the writer failed first)
        verified.finish().map(drop)
    })
}

/// Moves the temp file to its final name, never replacing an existing blob: one
/// `renameat2(RENAME_NOREPLACE)`. If the name exists (another writer got there
/// first) the content is the same by digest, and the temp file is dropped. File
/// systems without that flag fall back to a hard link, and those without hard links
/// (FAT on a USB stick) to a rename after an existence check (still under the
/// layout's lock, so no other airsign can race it).
fn place_blob(tmp: &Path, dest: &Path) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    match renameat_with(CWD, tmp, CWD, dest, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(()),
        Err(Errno::EXIST) => {
            let _ = fs::remove_file(tmp);
            return Ok(());
        }
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {}
        Err(e) => return Err(Error::io_path("placing blob", dest, e.into())),
    }
    match fs::hard_link(tmp, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(_) if !dest.exists() => {
            fs::rename(tmp, dest).map_err(|e| Error::io_path("placing blob", dest, e))?;
            return Ok(());
        }
        Err(e) => return Err(Error::io_path("placing blob", dest, e)),
    }
    let _ = fs::remove_file(tmp);
    Ok(())
}

/// Writes `bytes` to `dest` by way of a temp file in `tmp_dir`: write, fsync, rename.
pub fn write_atomically(dest: &Path, bytes: &[u8], tmp_dir: &Path) -> Result<()> {
    write_atomically_mode(dest, bytes, tmp_dir, 0o644)
}

/// [`write_atomically`] with the file's permission bits (0o600 for private state).
pub fn write_atomically_mode(dest: &Path, bytes: &[u8], tmp_dir: &Path, mode: u32) -> Result<()> {
    let tmp = tmp_dir.join(format!(
        "{}-{}-{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id(),
        nanos()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| Error::io_path("creating", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io_path("writing", &tmp, e))?;
        f.sync_all()
            .map_err(|e| Error::io_path("syncing", &tmp, e))?;
        fs::rename(&tmp, dest).map_err(|e| Error::io_path("replacing", dest, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temp files [`write_atomically_mode`] left in `tmp_dir` when its
/// process was killed between writing and renaming (`NAME-PID-N`), once that
/// process is gone; a running writer's are left alone.
pub fn remove_dead_writers_temps(tmp_dir: &Path) {
    let Ok(entries) = fs::read_dir(tmp_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let mut parts = name.rsplitn(3, '-');
        let (Some(n), Some(pid), Some(dest)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let ours = !dest.is_empty() && n.parse::<u128>().is_ok();
        let Some(pid) = pid.parse::<u32>().ok().filter(|_| ours) else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Flushes every dirty file of the file system holding `dir` (syncfs(2)): one call
/// makes a whole batch of staged blobs durable.
fn sync_filesystem(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io_path("opening", dir, e))?;
    rustix::fs::syncfs(&d).map_err(|e| Error::io_path("syncing", dir, e.into()))
}

/// fsync a directory, so a rename or link in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io_path("syncing", dir, e))
}

/// Reads a file of at most `max` bytes (refusing larger ones with `FileTooLarge`).
/// Opens a file that must be a regular file, without ever blocking: a FIFO (or a
/// device) named `index.json`, `oci-layout`, a blob or an archive would make a
/// plain open(2) wait forever for a writer. Opened with `O_NONBLOCK` (no effect on
/// a regular file's reads), then refused by `fstat` unless it is a regular file.
pub fn open_regular(path: &Path) -> io::Result<(File, fs::Metadata)> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", special_kind(&meta)),
        ));
    }
    Ok((f, meta))
}

fn special_kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        file_type_name(meta)
    }
}

fn read_small(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let (f, meta) = open_regular(path)?;
    if meta.len() > max {
        return Err(io::Error::from(io::ErrorKind::FileTooLarge));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(io::Error::from(io::ErrorKind::FileTooLarge));
    }
    Ok(buf)
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

pub(crate) fn file_type_name(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "a symlink"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// The algorithms whose blob directories a layout may have.
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

impl super::source::ReadLayout for Layout {
    fn location(&self) -> &Path {
        self.root()
    }

    fn read_index(&self) -> Result<Index> {
        Layout::read_index(self)
    }

    fn read_blob(&self, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        Layout::read_blob(self, desc, max)
    }

    fn open_blob(&self, d: &Digest) -> Result<Option<(Box<dyn Read + '_>, u64)>> {
        Ok(Layout::open_blob(self, d)?.map(|(f, n)| (Box::new(f) as Box<dyn Read>, n)))
    }

    fn has_blob(&self, d: &Digest) -> Result<bool> {
        Layout::has_blob(self, d)
    }

    fn blob_list(&self) -> Result<Vec<(Digest, u64)>> {
        Layout::blob_list(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn blobs(n: usize, tag: &str) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{tag} blob {i}").into_bytes())
            .collect()
    }

    fn on_disk(layout: &Layout, d: &Digest) -> bool {
        layout.blob_path(d).is_file()
    }

    fn temp_files(layout: &Layout) -> usize {
        fn count(dir: &Path) -> usize {
            fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => count(&e.path()),
                        _ => 1,
                    })
                    .sum()
            })
        }
        count(&layout.root().join(PRIVATE_DIR).join("tmp"))
    }

    /// A new layout with `data` staged (not committed) in a transaction.
    fn staged(dir: &Path, data: &[Vec<u8>], f: impl FnOnce(&Layout, Transaction<'_>, Vec<Digest>)) {
        let layout = Layout::init(dir).unwrap();
        let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        let mut tx = layout.begin().unwrap();
        let digests = tx.put_many_bytes(&refs).unwrap();
        assert!(digests.iter().all(|d| !on_disk(&layout, d)));
        f(&layout, tx, digests);
    }

    #[test]
    fn staged_small_blobs_appear_only_at_commit_with_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let data = blobs(100, "staged");
        staged(dir.path(), &data, |layout, tx, digests| {
            tx.commit(|_| Ok(())).unwrap();
            for (d, bytes) in digests.iter().zip(&data) {
                assert_eq!(&fs::read(layout.blob_path(d)).unwrap(), bytes);
            }
            assert_eq!(temp_files(layout), 0);
        });
    }

    #[test]
    fn a_dropped_transaction_leaves_nothing_of_what_had_not_landed() {
        let dir = tempfile::tempdir().unwrap();
        staged(dir.path(), &blobs(100, "dropped"), |layout, tx, digests| {
            drop(tx);
            assert!(digests.iter().all(|d| !on_disk(layout, d)));
            assert_eq!(temp_files(layout), 0);
        });
    }

    /// Batches land one after another (each flushed while the one before links):
    /// the early batches land before the commit, each blob with its bytes, and the
    /// commit lands the rest (a last batch too small to be sent on its own).
    #[test]
    fn batches_landing_in_a_chain_all_land_with_their_bytes() {
        // as `main` does: each unnamed file holds a descriptor until it lands
        unnamed::raise_open_file_limit();
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path()).unwrap();
        let mut tx = layout.begin().unwrap();
        tx.land_while_staging();
        let batches: Vec<Vec<Vec<u8>>> = (0..5)
            .map(|b| {
                blobs(
                    if b < 4 { LAND_BATCH + 7 } else { 100 },
                    &format!("batch {b}"),
                )
            })
            .collect();
        let mut digests: Vec<Vec<Digest>> = Vec::new();
        for batch in &batches {
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            digests.push(tx.put_many_bytes(&refs).unwrap());
        }
        // sending batch 3 waited for batch 2 to be linking, so batches 0 and 1 are
        // in place (batch 2 may still be linking, batch 3 flushing)
        for d in digests[..2].iter().flatten() {
            assert!(on_disk(&layout, d), "an early batch did not land");
        }
        assert!(digests[4].iter().all(|d| !on_disk(&layout, d)));
        tx.commit(|_| Ok(())).unwrap();
        for (batch, ds) in batches.iter().zip(&digests) {
            for (bytes, d) in batch.iter().zip(ds) {
                assert_eq!(&fs::read(layout.blob_path(d)).unwrap(), bytes);
            }
        }
        assert_eq!(temp_files(&layout), 0);
    }

    /// Blobs landed ahead of the commit are unreferenced until it: a `gc` meanwhile
    /// must wait for the transaction instead of removing them.
    #[test]
    fn gc_waits_for_a_transaction_whose_blobs_landed_early() {
        // as `main` does: each unnamed file holds a descriptor until it lands
        unnamed::raise_open_file_limit();
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::init(dir.path()).unwrap();
        let data = blobs(LAND_BATCH + 10, "early");
        let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        let mut tx = layout.begin().unwrap();
        tx.land_while_staging();
        let digests = tx.put_many_bytes(&refs).unwrap();
        // the batch lands on another thread
        let deadline = Instant::now() + Duration::from_secs(30);
        while !digests.iter().all(|d| on_disk(&layout, d)) {
            assert!(Instant::now() < deadline, "the batch never landed");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::scope(|s| {
            let gc = s.spawn(|| super::super::gc::collect(&layout).unwrap());
            std::thread::sleep(Duration::from_millis(300));
            assert!(!gc.is_finished(), "gc ran during the transaction");
            assert!(digests.iter().all(|d| on_disk(&layout, d)));
            // nothing refers to them: once the transaction ends, gc removes them
            tx.commit(|_| Ok(())).unwrap();
            let report = gc.join().unwrap();
            assert_eq!(report.removed_blobs, digests.len() as u64);
        });
    }
}
