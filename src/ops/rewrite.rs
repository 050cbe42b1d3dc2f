//! Changing what is inside an `oci-archive`: the archive is copied (every blob hashed)
//! into a temporary layout beside it, changed there, and written out as a new archive
//! that replaces the old one with a single rename (temp file, fsync, rename). On any
//! error the original archive is untouched and the work directory is removed. A zstd
//! archive stays zstd; a split archive must be joined first.

use std::path::{Path, PathBuf};

use crate::archive::reader::ArchiveLayout;
use crate::archive::sink::write_archive;
use crate::archive::writer::Compression;
use crate::copy::Quiet;
use crate::store::Layout;
use crate::store::descriptor::Index;
use crate::{Error, Result};

/// Runs `change` on a copy of `archive` as a directory layout; when it returns
/// `Ok(true)` and the copy's `index.json` changed, the archive is replaced by the
/// changed copy; otherwise it is left as it was.
pub fn rewrite_archive(archive: &Path, change: impl FnOnce(&Layout) -> Result<bool>) -> Result<()> {
    let source = ArchiveLayout::open(archive)?;
    if source.part_count() > 1 {
        return Err(Error::Usage(format!(
            "{}: a split archive cannot be rewritten in place; join the parts (cat FILE.000 \
             FILE.001 … > FILE) and use that",
            archive.display()
        )));
    }
    let zstd = source.is_streamed();
    let dir = crate::archive::output::parent(archive);
    let name = archive
        .file_name()
        .map_or_else(|| "archive".into(), |n| n.to_string_lossy().into_owned());
    let work = WorkDir::new(dir.join(format!(".{name}.airsign-{}", std::process::id())))?;
    let layout = Layout::init(&work.0.join("layout"))?;
    layout.mirror(&source)?;

    let before = std::fs::read(layout.root().join("index.json"))
        .map_err(|e| Error::io_path("reading", &layout.root().join("index.json"), e))?;
    // Nothing changed (a duplicate signature, nothing to clean): the archive keeps its
    // bytes, whoever wrote it.
    if !change(&layout)? || std::fs::read(layout.root().join("index.json")).ok() == Some(before) {
        return Ok(());
    }
    // The changed layout, whole, as the new archive: entries sorted by name, as
    // export writes them; zstd stays zstd.
    let mut entries = layout.read_index()?.manifests;
    entries.sort_by(|a, b| {
        (a.ref_name().unwrap_or(""), &a.digest).cmp(&(b.ref_name().unwrap_or(""), &b.digest))
    });
    let index = Index::listing(entries.clone()).to_bytes();
    let written = work.0.join(format!("{name}.new"));
    let compression = if zstd {
        Compression::ZSTD
    } else {
        Compression::None
    };
    write_archive(
        &layout,
        &entries,
        &index,
        &written,
        compression,
        None,
        &Quiet,
    )?;
    std::fs::rename(&written, archive).map_err(|e| Error::io_path("replacing", archive, e))?;
    crate::store::layout::sync_dir(dir)?;
    eprintln!("Rewrote {}", archive.display());
    Ok(())
}

/// `oci:LAYOUT[:REF]`: the image argument for the copy.
pub fn image_in(layout: &Layout, reference: Option<&str>) -> String {
    match reference {
        Some(r) => format!("oci:{}:{r}", layout.root().display()),
        None => format!("oci:{}", layout.root().display()),
    }
}

/// A working directory removed when dropped, whatever happened.
struct WorkDir(PathBuf, #[allow(dead_code)] crate::cleanup::Guard);

impl WorkDir {
    fn new(path: PathBuf) -> Result<WorkDir> {
        let guard = crate::cleanup::register(&path);
        std::fs::create_dir(&path).map_err(|e| Error::io_path("creating", &path, e))?;
        Ok(WorkDir(path, guard))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
