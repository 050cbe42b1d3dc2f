//! Checking an archive in place: every reference reachable from `index.json`
//! present with the right size, every manifest and index valid, and every blob
//! re-hashed in one sequential pass (archive order: no seeking back and forth on a
//! USB stick). Nothing is unpacked. Problems are collected, as in the store's fsck.

use std::io::Read;

use indicatif::ProgressBar;

use super::reader::ArchiveLayout;
use crate::store::ReadLayout;
use crate::store::fsck::{Problem, Report, walk};
use crate::verify::VerifyingReader;
use crate::{Error, Result};

/// Checks the archive; `bar` (hidden unless on a terminal) shows the bytes hashed.
pub fn check(archive: &ArchiveLayout, bar: &ProgressBar) -> Result<Report> {
    let index = archive.read_index()?;
    let mut report = Report::default();
    walk(archive, &index.manifests, &mut report, &|d| {
        Ok(archive.blob_size(d))
    });
    let blobs = archive.blob_list();
    bar.set_length(blobs.iter().map(|b| b.1).sum());
    if archive.all_blobs_hashed_on_open() {
        // Opening a .tar.zst already hashed every blob, and refuses the archive on
        // the first mismatch: what is left is only counted.
        report.blobs = blobs.len() as u64;
        report.bytes = blobs.iter().map(|b| b.1).sum();
        bar.finish_and_clear();
        report.problems.sort();
        return Ok(report);
    }
    let list: Vec<_> = blobs.iter().map(|b| b.0.clone()).collect();
    let mut buf = vec![0u8; 256 * 1024];
    archive.visit_blobs(&list, |d, size, r| {
        let mut r = VerifyingReader::new(r, d, size);
        let mut n = 0u64;
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    n += k as u64;
                    bar.inc(k as u64);
                }
                Err(e) => {
                    let e = Error::io(format!("blob {d}: reading failed"), e);
                    report
                        .problems
                        .push(Problem::new("corrupt", Some(d), e.to_string()));
                    break;
                }
            }
        }
        report.blobs += 1;
        report.bytes += n;
        Ok(())
    })?;
    bar.finish_and_clear();
    report.problems.sort();
    Ok(report)
}
