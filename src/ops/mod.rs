//! What each command does: the glue between the command line and the library's
//! media (store, keys, payloads). One module per command family.

use std::path::{Path, PathBuf};

use crate::reference::Location;
use crate::store::resolve::{Catalog, Query};
use crate::store::{Layout, ReadLayout};
use crate::{Error, Result};

/// `println!` that returns an error instead of panicking when stdout is gone
/// (`airsign ls | head -1`): the binary then exits as quietly as `cat` would.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err($crate::ops::stdout_error)
    }};
}

pub mod attach;
pub mod attest;
pub mod blob;
pub mod clean;
pub mod export;
pub mod fsck;
pub mod generate;
pub mod import;
pub mod inspect;
pub mod keys;
pub mod list;
pub mod pkcs11;
pub mod progress;
pub mod pull;
pub mod registry_access;
pub mod rewrite;
pub mod sig_store;
pub mod sign;
pub mod signatures;
pub mod store;
pub mod sync;
pub mod triangulate;
pub mod trust_flags;
pub mod verify;

/// Opens the layout an image argument points into — the store for a reference,
/// the directory of `oci:DIR[:REF]` — and says what to look for there.
pub fn open_image(store: &Path, image: &str) -> Result<(Layout, Query)> {
    match Location::parse(image)? {
        Location::Store(r) => Ok((open_store(store)?, Query::Reference(r))),
        Location::Layout { path, reference } => {
            Ok((Layout::open(&path)?, Query::InLayout(reference)))
        }
        Location::Archive { .. } => Err(Error::Usage(format!(
            "{image}: this command needs a writable layout (the store or oci:DIR)"
        ))),
        Location::DockerArchive { .. } => Err(Error::Usage(format!(
            "{image}: a docker-archive can only be imported (airsign import docker-archive:FILE)"
        ))),
    }
}

/// Opens, read-only, the layout an image argument points into: the store, an
/// `oci:` directory, or an `oci-archive:` file.
pub fn open_image_read(store: &Path, image: &str) -> Result<(Box<dyn ReadLayout>, Query)> {
    match Location::parse(image)? {
        Location::Archive { path, reference } => {
            Ok((open_archive(&path)?, Query::InLayout(reference)))
        }
        _ => {
            let (layout, query) = open_image(store, image)?;
            Ok((Box::new(layout), query))
        }
    }
}

/// A whole layout named on the command line (`oci:DIR`, `oci-archive:FILE`), read-only.
pub fn open_location(location: &str) -> Result<Box<dyn ReadLayout>> {
    if let Some(e) = missing_transport(location) {
        return Err(e);
    }
    match Location::parse(location)? {
        Location::Layout {
            path,
            reference: None,
        } => Ok(Box::new(Layout::open(&path)?)),
        Location::Archive {
            path,
            reference: None,
        } => open_archive(&path),
        _ => Err(Error::Usage(format!(
            "{location:?}: expected oci:DIR or oci-archive:FILE (a whole layout, no image reference)"
        ))),
    }
}

/// A path given where a location needs its transport (`import carry.tar`,
/// `ls ./layout`): the error that says which one, or `None` when `arg` has a
/// transport or reads as an image reference (no such file, no archive's name).
pub fn missing_transport(arg: &str) -> Option<Error> {
    if ["oci:", "oci-archive:", "docker-archive:"]
        .iter()
        .any(|t| arg.starts_with(t))
    {
        return None;
    }
    let archive_name = {
        let name = Path::new(arg)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name.trim_end_matches(|c: char| c.is_ascii_digit());
        [".tar", ".tar.", ".tar.zst", ".tar.zst.", ".tzst"]
            .iter()
            .any(|ext| name.ends_with(ext))
    };
    let shown = crate::digest::printable(arg);
    match std::fs::metadata(arg) {
        Ok(m) if m.is_dir() => Some(Error::Usage(format!(
            "{shown}: a directory needs its transport: oci:{shown}"
        ))),
        Ok(_) => Some(Error::Usage(format!(
            "{shown}: a file needs its transport: oci-archive:{shown} (docker-archive:{shown} \
             for a `docker save` tarball)"
        ))),
        Err(_) if archive_name => Some(Error::Usage(format!(
            "{shown}: no such file; an archive needs its transport too: oci-archive:{shown}"
        ))),
        Err(_) => None,
    }
}

/// An `oci-archive` tarball (plain, split into numbered parts, or zstd), read in
/// place: never unpacked (see `docs/archives.md`).
pub fn open_archive(path: &Path) -> Result<Box<dyn ReadLayout>> {
    Ok(Box::new(crate::archive::reader::ArchiveLayout::open(path)?))
}

/// The layouts a command's image arguments point into, each opened — and its
/// `index.json` read and indexed — once, however many images name it. Signing or
/// verifying 10,000 images in one call must not read `index.json` 10,000 times.
#[derive(Default)]
pub struct Catalogs {
    open: Vec<(String, Option<Layout>, Catalog<'static>)>,
}

impl Catalogs {
    pub fn new() -> Catalogs {
        Catalogs::default()
    }

    /// Finds the layout of `image` (opening it the first time) and what to look for
    /// there. `writable` asks for a directory layout (the store or `oci:DIR`).
    pub fn lookup(&mut self, store: &Path, image: &str, writable: bool) -> Result<(usize, Query)> {
        let location = Location::parse(image)?;
        let (key, query) = match &location {
            Location::Store(r) => ("store".to_owned(), Query::Reference(r.clone())),
            Location::Layout { path, reference } => (
                format!("oci:{}", path.display()),
                Query::InLayout(reference.clone()),
            ),
            Location::Archive { path, reference } => (
                format!("oci-archive:{}", path.display()),
                Query::InLayout(reference.clone()),
            ),
            Location::DockerArchive { .. } => {
                return Err(Error::Usage(format!(
                    "{image}: a docker-archive can only be imported (airsign import docker-archive:FILE)"
                )));
            }
        };
        if let Some(i) = self.open.iter().position(|(k, _, _)| *k == key) {
            return Ok((i, query));
        }
        let (layout, catalog) = match location {
            Location::Store(_) => {
                let l = open_store(store)?;
                (Some(l.clone()), Catalog::open(l)?)
            }
            Location::Layout { path, .. } => {
                let l = Layout::open(&path)?;
                (Some(l.clone()), Catalog::open(l)?)
            }
            Location::Archive { path, .. } if !writable => {
                (None, Catalog::open(open_archive(&path)?)?)
            }
            _ => {
                return Err(Error::Usage(format!(
                    "{image}: this command needs a writable layout (the store or oci:DIR)"
                )));
            }
        };
        self.open.push((key, layout, catalog));
        Ok((self.open.len() - 1, query))
    }

    /// The store's catalog (for `--all`).
    pub fn store_catalog(&mut self, store: &Path) -> Result<usize> {
        if let Some(i) = self.open.iter().position(|(k, _, _)| k == "store") {
            return Ok(i);
        }
        let l = open_store(store)?;
        let catalog = Catalog::open(l.clone())?;
        self.open.push(("store".to_owned(), Some(l), catalog));
        Ok(self.open.len() - 1)
    }

    /// Whether layout `i` is the store (which lists every referrer it holds, so it
    /// is never scanned for unlisted ones).
    pub fn is_store(&self, i: usize) -> bool {
        self.open[i].0 == "store"
    }

    pub fn catalog(&self, i: usize) -> &Catalog<'static> {
        &self.open[i].2
    }

    /// The directory layout behind catalog `i` (for writable lookups).
    pub fn layout(&self, i: usize) -> Option<&Layout> {
        self.open[i].1.as_ref()
    }
}

/// The store directory: `--store`/`AIRSIGN_STORE` (clap reads both), else
/// `$XDG_DATA_HOME/airsign/store`, else `~/.local/share/airsign/store`.
pub fn store_path(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("airsign/store"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/airsign/store")),
        None => Err(Error::Usage(
            "no store: pass --store DIR or set AIRSIGN_STORE (HOME is not set)".into(),
        )),
    }
}

/// What a run did with an image, a referrers listing or an artifact, as reports
/// (`--json`, and the human lines) say it. Typed, so no code compares report text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Not done (the report's `error` says why).
    #[default]
    Failed,
    /// Already at the destination (or in the store), nothing sent.
    Present,
    /// Sent (sync).
    Pushed,
    /// Fetched (pull).
    Pulled,
    /// A dry run would send it.
    WouldPush,
    /// The registry's referrers API lists referrers itself: no listing sent.
    Api,
    /// What the destination holds already contains all of it.
    Contained,
    /// Merged with what the destination holds.
    Merged,
    /// A dry run would merge it.
    WouldMerge,
    /// An artifact that cannot be merged (an `.sbom`) replaced the destination's.
    Replaced,
    /// Pull: the store's `.sig` already holds every signature of the registry's.
    Kept,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Failed => "failed",
            Status::Present => "present",
            Status::Pushed => "pushed",
            Status::Pulled => "pulled",
            Status::WouldPush => "would-push",
            Status::Api => "api",
            Status::Contained => "contained",
            Status::Merged => "merged",
            Status::WouldMerge => "would-merge",
            Status::Replaced => "replaced",
            Status::Kept => "kept",
        }
    }

    /// A dry run's "would" status.
    pub fn is_would(self) -> bool {
        matches!(self, Status::WouldPush | Status::WouldMerge)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// Helpers the commands share (no command calls another command).

/// What every failed write to stdout becomes; [`stdout_closed`] recognises it.
const WRITING_STDOUT: &str = "writing stdout";

/// The error of a failed write to stdout.
pub fn stdout_error(e: std::io::Error) -> Error {
    Error::io(WRITING_STDOUT, e)
}

/// Whether `err` is stdout closed by its reader (`airsign ls | head -1`): not a
/// failure to report, the reader has all it wanted.
pub fn stdout_closed(err: &Error) -> bool {
    matches!(err, Error::Io { context, source }
        if context == WRITING_STDOUT && source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Opens the store, with a hint when it has not been created yet.
pub fn open_store(store: &Path) -> Result<Layout> {
    Layout::open(store).map_err(|e| match e {
        crate::Error::NotFound(_) => crate::Error::NotFound(format!(
            "no store at {} (create it with `airsign store init`, or pass --store DIR)",
            store.display()
        )),
        e => e,
    })
}

/// Reads a small file whole, refusing one over `max` bytes.
pub fn read_file(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(|e| Error::io_path("reading", path, e))?;
    let mut buf = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io_path("reading", path, e))?;
    if buf.len() as u64 > max {
        return Err(Error::invalid(format!(
            "{}: larger than {max} bytes",
            path.display()
        )));
    }
    Ok(buf)
}

/// The mode of every `--output-*` file and bundle (`sign`, `sign-blob`), as cosign
/// writes them: a signature names what a key signed and when, and is nobody else's
/// business until its owner publishes it.
pub const OUTPUT_MODE: u32 = 0o600;

/// Writes an output file (a signature, a bundle) with `mode` (before the umask): to a
/// temporary file beside it, synced, then renamed over it, so a reader never sees half
/// of it and a failure leaves what was there.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    crate::store::layout::write_atomically_mode(path, bytes, &dir, mode)
}

/// Refuses, before anything is read or asked, output files whose directory does not
/// exist: they are written last, after the work is done.
pub fn check_output_dirs<'a>(files: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    for f in files {
        let dir = f
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(Error::Usage(format!(
                "{}: the directory {} does not exist",
                f.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Warns when a given payload does not claim the image's digest (verification will
/// then reject it, but signing elsewhere may be deliberate).
pub fn warn_on_foreign_claim(payload_bytes: &[u8], digest: &crate::digest::Digest) {
    let claimed = serde_json::from_slice::<serde_json::Value>(payload_bytes)
        .ok()
        .and_then(|v| {
            v.pointer("/critical/image/docker-manifest-digest")
                .and_then(|d| d.as_str())
                .map(str::to_owned)
        });
    if claimed.as_deref() != Some(&digest.to_string()) {
        eprintln!(
            "WARNING: --payload claims {}, not the image's digest {digest}; verification will reject it",
            claimed
                .as_deref()
                .map_or("no digest".into(), crate::digest::printable)
        );
    }
}
