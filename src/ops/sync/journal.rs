//! Upload sessions a run leaves open, on disk, so that a rerun after a crash or a
//! `kill -9` continues each large blob from what the registry already holds instead
//! of sending it again. One small JSON file per (destination repository, digest),
//! written atomically each time the registry acknowledges a chunk, removed when the
//! blob is complete. Where the directory is: `docs/sync.md`, "Resume".
//!
//! A record is only a hint: one that does not parse, names another registry,
//! repository, blob or size, or whose upload URL is not on the registry's own host,
//! is ignored (and removed) with a warning, so a tampered or stale file can never
//! send a blob, let alone credentials, anywhere else. Records are private (0600 in
//! a 0700 directory): an upload URL may carry a registry's session token.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, printable};
use crate::registry::{Repository, UploadSession, url_authority};
use crate::store::layout::{remove_dead_writers_temps, write_atomically_mode};
use crate::{Error, Result};

/// A session as saved.
#[derive(Serialize, Deserialize)]
struct Record {
    registry: String,
    repository: String,
    digest: String,
    size: u64,
    /// The registry's latest `Location` for the upload.
    location: String,
    /// Bytes the registry had acknowledged when it gave that location.
    offset: u64,
}

/// The directory of open sessions; `None` keeps nothing (a dry run).
pub struct Journal {
    dir: Option<PathBuf>,
}

impl Journal {
    /// Keeps sessions in `dir`, created if needed. A record being written when its
    /// run was killed is a temp file left behind: removed here, once its writer is
    /// gone.
    pub fn at(dir: &Path) -> Result<Journal> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io_path("creating", dir, e))?;
        remove_dead_writers_temps(dir);
        Ok(Journal {
            dir: Some(dir.to_path_buf()),
        })
    }

    /// Keeps nothing.
    pub fn none() -> Journal {
        Journal { dir: None }
    }

    /// The file of one (repository, blob): a hash of both, so any name is a safe
    /// file name.
    fn file(&self, repo: &Repository, digest: &Digest) -> Option<PathBuf> {
        let key = Digest::sha256(format!("{repo}@{digest}").as_bytes());
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.json", key.hex())))
    }

    /// The session an earlier run left open for this blob, if it recorded one for
    /// exactly this repository, digest and size, on the registry's own host. A
    /// record that is not fit is removed; the `Err` says why, for a warning.
    pub fn load(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
    ) -> std::result::Result<Option<UploadSession>, String> {
        let Some(file) = self.file(repo, digest) else {
            return Ok(None);
        };
        let raw = match fs::read(&file) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}; not resuming from it", file.display())),
        };
        let why = match fit(&raw, repo, digest, size) {
            Ok(s) => return Ok(Some(s)),
            Err(why) => why,
        };
        let _ = fs::remove_file(&file);
        Err(format!(
            "{}: {why}; ignored and removed, {digest} is uploaded from the start",
            file.display()
        ))
    }

    /// Records where the session stands (write, fsync, rename).
    pub fn save(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        s: &UploadSession,
    ) -> Result<()> {
        let (Some(dir), Some(file)) = (self.dir.as_ref(), self.file(repo, digest)) else {
            return Ok(());
        };
        let r = Record {
            registry: repo.registry().to_owned(),
            repository: repo.name().to_owned(),
            digest: digest.to_string(),
            size,
            location: s.location().to_owned(),
            offset: s.offset(),
        };
        let bytes = serde_json::to_vec_pretty(&r).expect("serialisable");
        write_atomically_mode(&file, &bytes, dir, 0o600)
    }

    /// Forgets the session of a blob that is complete (or was never needed).
    pub fn forget(&self, repo: &Repository, digest: &Digest) {
        if let Some(f) = self.file(repo, digest) {
            let _ = fs::remove_file(f);
        }
    }
}

/// The session a record describes, if it is one for this very upload.
fn fit(
    raw: &[u8],
    repo: &Repository,
    digest: &Digest,
    size: u64,
) -> std::result::Result<UploadSession, String> {
    let r: Record =
        serde_json::from_slice(raw).map_err(|e| format!("not a session record ({e})"))?;
    if r.registry != repo.registry() || r.repository != repo.name() {
        return Err(format!(
            "records an upload to {}/{}, not {repo}",
            printable(&r.registry),
            printable(&r.repository)
        ));
    }
    if r.digest != digest.to_string() || r.size != size {
        return Err(format!(
            "records {} of {} bytes, not {digest} of {size}",
            printable(&r.digest),
            r.size
        ));
    }
    // the URL must be on the registry's own host (any scheme: which one the
    // registry speaks is found out as usual); anything else could send the blob
    // elsewhere
    let host = url_authority(&r.location)
        .ok_or_else(|| format!("upload URL {:?} is not http(s)", printable(&r.location)))?;
    if !host.eq_ignore_ascii_case(repo.api_host()) {
        return Err(format!(
            "upload URL is on {}, not on {}",
            printable(host),
            repo.api_host()
        ));
    }
    UploadSession::resume_from(repo, &r.location).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Regression (found by running docs/airgap-walkthrough.md): a sync killed while
    /// writing a record left `HASH.json-PID-N` in the uploads directory for good;
    /// the next run removes it, and leaves a live writer's temp file and every
    /// record alone.
    #[test]
    fn a_killed_runs_temp_record_is_removed_by_the_next_run() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().join("uploads");
        fs::create_dir(&dir).unwrap();
        // pid_max is at most 2^22: this process cannot exist
        let dead = dir.join("ab12.json-4194305-1733400000");
        let live = dir.join(format!("cd34.json-{}-1733400000", std::process::id()));
        let record = dir.join("ef56.json");
        for f in [&dead, &live, &record] {
            fs::write(f, b"{}").unwrap();
        }
        Journal::at(&dir).unwrap();
        assert!(!dead.exists());
        assert!(live.exists() && record.exists());
    }

    fn repo(name: &str) -> Repository {
        Repository::new("127.0.0.1:5000", name).unwrap()
    }

    #[test]
    fn saves_loads_only_the_same_blob_and_forgets() {
        let tmp = tempfile::tempdir().unwrap();
        let j = Journal::at(&tmp.path().join("uploads")).unwrap();
        let (repo, other) = (repo("team/app"), repo("team/other"));
        let d = Digest::sha256(b"blob");
        let url = "http://127.0.0.1:5000/v2/team/app/blobs/uploads/u?_state=s";
        let s = UploadSession::resume_from(&repo, url).unwrap();
        j.save(&repo, &d, 100, &s).unwrap();
        assert_eq!(j.load(&repo, &d, 100).unwrap().unwrap().location(), url);
        assert!(j.load(&other, &d, 100).unwrap().is_none(), "another file");
        j.forget(&repo, &d);
        assert!(j.load(&repo, &d, 100).unwrap().is_none());
        // a dry run keeps nothing
        let none = Journal::none();
        none.save(&repo, &d, 100, &s).unwrap();
        assert!(none.load(&repo, &d, 100).unwrap().is_none());
    }

    #[test]
    fn records_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state/uploads");
        let j = Journal::at(&dir).unwrap();
        let repo = repo("team/app");
        let d = Digest::sha256(b"blob");
        let url = "http://127.0.0.1:5000/v2/team/app/blobs/uploads/u?_state=s";
        j.save(
            &repo,
            &d,
            100,
            &UploadSession::resume_from(&repo, url).unwrap(),
        )
        .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&j.file(&repo, &d).unwrap()), 0o600);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temp file left");
    }

    /// Regression: a record was trusted for its upload URL whatever host that
    /// named, so a planted or stale file could send a blob to another host; and
    /// records that did not fit were skipped without a word.
    #[test]
    fn regression_unfit_records_are_ignored_removed_and_said() {
        let tmp = tempfile::tempdir().unwrap();
        let j = Journal::at(tmp.path()).unwrap();
        let repo = repo("team/app");
        let d = Digest::sha256(b"blob");
        let record = |registry: &str, repository: &str, size: u64, location: &str| {
            serde_json::to_vec(&Record {
                registry: registry.into(),
                repository: repository.into(),
                digest: d.to_string(),
                size,
                location: location.into(),
                offset: 7,
            })
            .unwrap()
        };
        let good = "http://127.0.0.1:5000/v2/team/app/blobs/uploads/u?_state=s";
        for (bytes, why) in [
            (b"{\"registry\": \"127.0".to_vec(), "not a session record"),
            (b"".to_vec(), "not a session record"),
            (
                record("evil.example:443", "team/app", 100, good),
                "records an upload to evil.example:443/team/app",
            ),
            (
                record("127.0.0.1:5000", "team/app", 99, good),
                "of 99 bytes",
            ),
            (
                record(
                    "127.0.0.1:5000",
                    "team/app",
                    100,
                    "https://evil.example/v2/team/app/blobs/uploads/u",
                ),
                "upload URL is on evil.example, not on 127.0.0.1:5000",
            ),
            (
                record("127.0.0.1:5000", "team/app", 100, "file:///etc/passwd"),
                "is not http(s)",
            ),
            (
                record(
                    "127.0.0.1:5000",
                    "team/app",
                    100,
                    "http://user@127.0.0.1:5000/v2/",
                ),
                "is not http(s)",
            ),
        ] {
            let file = j.file(&repo, &d).unwrap();
            fs::write(&file, &bytes).unwrap();
            let err = j.load(&repo, &d, 100).unwrap_err();
            assert!(err.contains(why), "{why:?} in {err:?}");
            assert!(err.contains("ignored and removed"), "{err}");
            assert!(!file.exists(), "{why}: the record stays");
        }
        assert!(j.load(&repo, &d, 100).unwrap().is_none());
    }
}
