//! Checking a layout: every blob re-hashed (in parallel across cores), every
//! descriptor reachable from `index.json` present with the right size, every manifest
//! and index valid. Problems are collected, never fatal, so one run reports them all.

use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::descriptor::Descriptor;
use super::graph;
use super::layout::{ALGORITHMS, Layout, file_type_name};
use super::manifest::Document;
use super::source::ReadLayout;
use crate::digest::Digest;
use crate::verify::VerifyingReader;
use crate::{Error, Result};

#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Blob files hashed.
    pub blobs: u64,
    /// Bytes hashed.
    pub bytes: u64,
    /// Descriptors reachable from `index.json` (each counted once).
    pub reachable: u64,
    /// Manifests and indexes parsed on the way.
    pub documents: u64,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// `missing`, `size`, `corrupt`, `invalid`, `not-a-file`, `stray`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn new(kind: &'static str, digest: Option<&Digest>, message: String) -> Problem {
        Problem {
            kind,
            digest: digest.map(ToString::to_string),
            message,
        }
    }
}

/// Checks the whole layout with `jobs` hashing threads.
pub fn check(layout: &Layout, jobs: usize) -> Result<Report> {
    check_with_progress(layout, jobs, &|_, _| {})
}

/// [`check`], telling `progress(total, done)` the bytes to hash and those hashed
/// (whole blobs at a time, from any hashing thread).
pub fn check_with_progress(
    layout: &Layout,
    jobs: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Report> {
    let index = layout.read_index()?;
    let mut report = Report::default();
    walk(layout, &index.manifests, &mut report, &|d| {
        layout.open_blob(d).map(|o| o.map(|(_, n)| n))
    });
    let files = blob_files(layout, &mut report)?;
    hash_all(files, jobs.max(1), &mut report, progress);
    report.problems.sort();
    Ok(report)
}

/// Follows every descriptor from `index.json` down through the one graph walker
/// ([`super::graph`]), each digest once (so a cycle cannot loop forever). `size_of`
/// says whether a blob is there and how big it is (cheaply: an archive answers from
/// its entry table). A referrer's subject is not required: it may live elsewhere.
pub fn walk(
    layout: &dyn ReadLayout,
    roots: &[Descriptor],
    report: &mut Report,
    size_of: &dyn Fn(&Digest) -> Result<Option<u64>>,
) {
    struct Check<'a> {
        report: &'a mut Report,
        size_of: &'a dyn Fn(&Digest) -> Result<Option<u64>>,
    }
    impl graph::Visitor for Check<'_> {
        fn node(&mut self, node: &graph::Node) -> Result<bool> {
            let (desc, d) = (&node.desc, &node.desc.digest);
            self.report.reachable += 1;
            let problem = match (self.size_of)(d) {
                Ok(Some(len)) if len == desc.size => return Ok(true),
                Ok(None) => Problem::new(
                    "missing",
                    Some(d),
                    format!(
                        "blob {d} ({}) referenced by {} is missing",
                        desc.media_type,
                        node.parent_name()
                    ),
                ),
                Ok(Some(len)) => Problem::new(
                    "size",
                    Some(d),
                    format!(
                        "blob {d} is {len} bytes; {} says {}",
                        node.parent_name(),
                        desc.size
                    ),
                ),
                Err(e) => Problem::new("not-a-file", Some(d), e.to_string()),
            };
            self.report.problems.push(problem);
            Ok(false)
        }

        fn document(&mut self, node: &graph::Node, doc: Result<&Document>) -> Result<()> {
            match doc {
                Ok(_) => self.report.documents += 1,
                // A digest mismatch is reported by the hashing pass; don't say it twice.
                Err(Error::DigestMismatch(_)) => {}
                Err(e) => self.report.problems.push(Problem::new(
                    "invalid",
                    Some(&node.desc.digest),
                    e.to_string(),
                )),
            }
            Ok(())
        }
    }
    let mut check = Check { report, size_of };
    graph::walk(layout, roots, false, &mut check).expect("the fsck visitor never fails");
}

/// Lists every file under `blobs/`, flagging what does not belong there.
fn blob_files(layout: &Layout, report: &mut Report) -> Result<Vec<(PathBuf, Digest, u64)>> {
    let blobs = layout.root().join("blobs");
    let mut files = Vec::new();
    let entries = match fs::read_dir(&blobs) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(Error::io_path("reading", &blobs, e)),
    };
    for alg_dir in entries {
        let alg_dir = alg_dir.map_err(|e| Error::io_path("reading", &blobs, e))?;
        let name = alg_dir.file_name().to_string_lossy().into_owned();
        let Some(alg) = ALGORITHMS.iter().copied().find(|a| a.name() == name) else {
            report.problems.push(Problem::new(
                "stray",
                None,
                format!("blobs/{name}: not a known digest algorithm"),
            ));
            continue;
        };
        let dir = alg_dir.path();
        for f in fs::read_dir(&dir).map_err(|e| Error::io_path("reading", &dir, e))? {
            let f = f.map_err(|e| Error::io_path("reading", &dir, e))?;
            let fname = f.file_name().to_string_lossy().into_owned();
            let Ok(digest) = Digest::new(alg, &fname) else {
                report.problems.push(Problem::new(
                    "stray",
                    None,
                    format!("blobs/{name}/{fname}: not a {name} digest"),
                ));
                continue;
            };
            let meta = fs::symlink_metadata(f.path())
                .map_err(|e| Error::io_path("reading", &f.path(), e))?;
            if !meta.file_type().is_file() {
                report.problems.push(Problem::new(
                    "not-a-file",
                    Some(&digest),
                    format!("blob {digest} is {}", file_type_name(&meta)),
                ));
                continue;
            }
            files.push((f.path(), digest, meta.len()));
        }
    }
    Ok(files)
}

/// Hashes the files on `jobs` threads, largest first so the threads finish together.
fn hash_all(
    mut files: Vec<(PathBuf, Digest, u64)>,
    jobs: usize,
    report: &mut Report,
    progress: &(dyn Fn(u64, u64) + Sync),
) {
    files.sort_by_key(|f| std::cmp::Reverse(f.2));
    let total: u64 = files.iter().map(|f| f.2).sum();
    let done = std::sync::atomic::AtomicU64::new(0);
    progress(total, 0);
    let next = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::new());
    let totals = Mutex::new((0u64, 0u64));
    std::thread::scope(|s| {
        for _ in 0..jobs.min(files.len().max(1)) {
            s.spawn(|| {
                let mut buf = vec![0u8; 512 * 1024];
                let (mut n, mut bytes) = (0u64, 0u64);
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, want, size)) = files.get(i) else {
                        break;
                    };
                    let checked = super::layout::open_regular(path)
                        .map_err(|e| Error::io(format!("blob {want}: reading failed"), e))
                        .and_then(|(f, meta)| {
                            let mut r = VerifyingReader::new(f, want, meta.len());
                            loop {
                                match r.read(&mut buf) {
                                    Ok(0) => return Ok(meta.len()),
                                    Ok(_) => {}
                                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                    Err(e) => {
                                        return Err(Error::io(
                                            format!("blob {want}: reading failed"),
                                            e,
                                        ));
                                    }
                                }
                            }
                        });
                    match checked {
                        Ok(len) => {
                            n += 1;
                            bytes += len;
                            progress(total, done.fetch_add(len, Ordering::Relaxed) + len);
                        }
                        Err(e) => {
                            if matches!(e, Error::DigestMismatch(_)) {
                                n += 1;
                                bytes += size;
                                progress(total, done.fetch_add(*size, Ordering::Relaxed) + size);
                            }
                            mine.push(Problem::new("corrupt", Some(want), e.to_string()));
                        }
                    }
                }
                problems.lock().expect("no panics while held").extend(mine);
                let mut t = totals.lock().expect("no panics while held");
                t.0 += n;
                t.1 += bytes;
            });
        }
    });
    let (n, bytes) = totals.into_inner().expect("threads joined");
    report.blobs = n;
    report.bytes = bytes;
    report
        .problems
        .extend(problems.into_inner().expect("threads joined"));
}

/// The number of hashing threads to use by default: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
