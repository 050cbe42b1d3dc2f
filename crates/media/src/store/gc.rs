//! Garbage collection: removes blobs that nothing reachable from `index.json` refers
//! to. It runs under the layout's lock, so no write commits while it decides; a write
//! that relied on a blob gc removed fails cleanly at its commit (see `Transaction`).

use std::collections::HashSet;
use std::fs;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::graph;
use super::layout::{ALGORITHMS, Layout};
use crate::digest::Digest;
use crate::{Error, Result};

#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    pub removed_blobs: u64,
    pub removed_bytes: u64,
    pub kept_blobs: u64,
}

/// Temp files older than this are leftovers of a crashed write, not one in progress.
const STALE_TEMP: Duration = Duration::from_secs(24 * 3600);

pub fn collect(layout: &Layout) -> Result<GcReport> {
    // a write landing blobs ahead of its commit would see them removed: wait for it
    layout.without_early_landings(|| {
        layout.with_lock(|| {
            let reachable = reachable(layout)?;
            let mut report = GcReport::default();
            for alg in ALGORITHMS {
                let dir = layout.root().join("blobs").join(alg.name());
                let entries = match fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io_path("reading", &dir, e)),
                };
                for e in entries {
                    let e = e.map_err(|e| Error::io_path("reading", &dir, e))?;
                    let name = e.file_name().to_string_lossy().into_owned();
                    // Only well-formed blob names are ours to judge; fsck reports the rest.
                    let Ok(d) = Digest::new(alg, &name) else {
                        continue;
                    };
                    if reachable.contains(&d) {
                        report.kept_blobs += 1;
                        continue;
                    }
                    let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                    fs::remove_file(e.path())
                        .map_err(|err| Error::io_path("removing", &e.path(), err))?;
                    report.removed_blobs += 1;
                    report.removed_bytes += len;
                }
                super::layout::sync_dir(&dir)?;
            }
            remove_stale_temps(layout);
            Ok(report)
        })
    })
}

/// Every digest reachable from `index.json`, subjects of referrers included. Any
/// unreadable or invalid manifest on the way stops gc: deleting below a document it
/// cannot read could lose data.
fn reachable(layout: &Layout) -> Result<HashSet<Digest>> {
    let index = layout.read_index()?;
    graph::reachable(layout, &index.manifests)
        .map_err(|e| Error::invalid(format!("gc stopped, nothing removed: {e}")))
}

fn remove_stale_temps(layout: &Layout) {
    // tmp/<process>/<file> and tmp/<process>/w-…/<file> (bulk writes)
    remove_stale_in(&layout.root().join(".airsign").join("tmp"), 2);
}

/// Removes temp files older than [`STALE_TEMP`] in `dir` and, `depth` levels down,
/// in its subdirectories (bulk writes stage in one subdirectory per thread).
fn remove_stale_in(dir: &std::path::Path, depth: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            if depth > 0 {
                remove_stale_in(&e.path(), depth - 1);
                // a crashed run's directory, emptied and old: gone too
                let old = meta
                    .modified()
                    .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TEMP);
                if old {
                    let _ = fs::remove_dir(e.path());
                }
            }
            continue;
        }
        let old = meta
            .modified()
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TEMP);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}
