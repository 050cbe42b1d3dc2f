//! `airsign fsck [LOCATION]`: re-hash every blob and check everything `index.json`
//! reaches, in the store, an `oci:DIR` or, in place, an `oci-archive:FILE` (where
//! every image's signatures are listed too: what arrived on the stick).

use std::path::Path;
use std::time::Instant;

use indicatif::ProgressBar;

use crate::archive::reader::ArchiveLayout;
use crate::reference::Location;
use crate::store::fsck::{self, Report};
use crate::{Error, Result};

pub fn run(store: &Path, location: Option<&str>, json: bool, jobs: Option<usize>) -> Result<()> {
    let start = Instant::now();
    let (report, images, checked) = match location {
        None => {
            let layout = super::open_store(store)?;
            let r = check_dir(&layout, jobs, json)?;
            (r, None, store.to_path_buf())
        }
        Some(loc) if super::missing_transport(loc).is_some() => {
            return Err(super::missing_transport(loc).expect("checked"));
        }
        Some(loc) => match Location::parse(loc)? {
            Location::Layout {
                path,
                reference: None,
            } => {
                let layout = crate::store::Layout::open(&path)?;
                let r = check_dir(&layout, jobs, json)?;
                (r, None, path)
            }
            Location::Archive {
                path,
                reference: None,
            } => {
                let archive = ArchiveLayout::open(&path)?;
                let bar = progress(json);
                let r = crate::archive::fsck::check(&archive, &bar)?;
                let images = crate::store::listing::list(&archive, true).ok();
                (r, images, path)
            }
            _ => {
                return Err(Error::Usage(format!(
                    "{loc}: fsck checks the store, oci:DIR or oci-archive:FILE"
                )));
            }
        },
    };
    let secs = start.elapsed().as_secs_f64();
    let images: Vec<crate::store::listing::Entry> = images
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.artifact)
        .collect();
    if json {
        let mut v = serde_json::to_value(&report).expect("serialisable");
        v["seconds"] = serde_json::json!(secs);
        v["ok"] = serde_json::json!(report.problems.is_empty());
        if location.is_some_and(|l| l.starts_with("oci-archive:")) {
            v["images"] = serde_json::to_value(&images).expect("serialisable");
        }
        outln!(
            "{}",
            serde_json::to_string_pretty(&v).expect("serialisable")
        )?;
    } else {
        for e in &images {
            outln!(
                "image {}  {}  {} signature(s)",
                e.reference,
                e.digest,
                e.signatures.unwrap_or(0)
            )?;
        }
        for p in &report.problems {
            outln!("{}: {}", p.kind, p.message)?;
        }
        summary_line(&report, secs);
    }
    match report.problems.len() {
        0 => Ok(()),
        n => Err(Error::Check(format!(
            "fsck found {n} problem(s) in {}",
            checked.display()
        ))),
    }
}

fn summary_line(report: &Report, secs: f64) {
    eprintln!(
        "checked {} blob(s), {:.1} MiB in {:.2} s ({:.0} MB/s); {} descriptor(s) reachable, {} manifest(s)/index(es) valid",
        report.blobs,
        report.bytes as f64 / (1024.0 * 1024.0),
        secs,
        report.bytes as f64 / 1e6 / secs.max(1e-9),
        report.reachable,
        report.documents
    );
}

/// A bytes bar on stderr when it is a terminal (and not with --json).
/// A directory layout's fsck, with a progress bar on a terminal.
fn check_dir(
    layout: &crate::store::Layout,
    jobs: Option<usize>,
    json: bool,
) -> Result<fsck::Report> {
    let bar = progress(json);
    let report = fsck::check_with_progress(
        layout,
        jobs.unwrap_or_else(fsck::default_jobs),
        &|total, done| {
            bar.set_length(total);
            bar.set_position(done);
        },
    );
    bar.finish_and_clear();
    report
}

fn progress(json: bool) -> ProgressBar {
    super::progress::bar(
        super::progress::shown(json),
        "hashing",
        super::progress::Unit::Bytes,
        0,
    )
}
