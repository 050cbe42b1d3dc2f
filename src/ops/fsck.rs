//! `airsign fsck`: re-hash every blob and check everything `index.json` reaches.

use std::path::Path;
use std::time::Instant;

use crate::store::fsck;
use crate::{Error, Result};

pub fn run(store: &Path, location: Option<&str>, json: bool, jobs: Option<usize>) -> Result<()> {
    let layout = match location {
        None => super::store::open(store)?,
        Some(loc) => match crate::reference::Location::parse(loc)? {
            crate::reference::Location::Layout {
                path,
                reference: None,
            } => crate::store::Layout::open(&path)?,
            _ => {
                return Err(Error::Usage(format!(
                    "{loc}: fsck checks the store, oci:DIR or (soon) oci-archive:FILE"
                )));
            }
        },
    };
    let start = Instant::now();
    let report = fsck::check(&layout, jobs.unwrap_or_else(fsck::default_jobs))?;
    let secs = start.elapsed().as_secs_f64();
    if json {
        let mut v = serde_json::to_value(&report).expect("serialisable");
        v["seconds"] = serde_json::json!(secs);
        v["ok"] = serde_json::json!(report.problems.is_empty());
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("serialisable")
        );
    } else {
        for p in &report.problems {
            println!("{}: {}", p.kind, p.message);
        }
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
    match report.problems.len() {
        0 => Ok(()),
        n => Err(Error::Check(format!(
            "fsck found {n} problem(s) in {}",
            store.display()
        ))),
    }
}
