//! Upload sessions a run leaves open, on disk, so that a rerun after a crash or a
//! `kill -9` continues each large blob from what the registry already holds instead
//! of sending it again. One small JSON file per (destination repository, digest),
//! written atomically each time the registry acknowledges a chunk, removed when the
//! blob is complete. Where the directory is: `docs/sync.md`, "Resume".

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::registry::{Repository, UploadSession};
use crate::store::layout::write_atomically;
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
    /// Keeps sessions in `dir`, created if needed.
    pub fn at(dir: &Path) -> Result<Journal> {
        fs::create_dir_all(dir).map_err(|e| Error::io_path("creating", dir, e))?;
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
    /// exactly this repository, digest and size.
    pub fn load(&self, repo: &Repository, digest: &Digest, size: u64) -> Option<UploadSession> {
        let raw = fs::read(self.file(repo, digest)?).ok()?;
        let r: Record = serde_json::from_slice(&raw).ok()?;
        let ours = r.registry == repo.registry()
            && r.repository == repo.name()
            && r.digest == digest.to_string()
            && r.size == size;
        ours.then(|| UploadSession::resume_from(repo, &r.location).ok())
            .flatten()
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
        write_atomically(&file, &bytes, dir)
    }

    /// Forgets the session of a blob that is complete (or was never needed).
    pub fn forget(&self, repo: &Repository, digest: &Digest) {
        if let Some(f) = self.file(repo, digest) {
            let _ = fs::remove_file(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_only_the_same_blob_and_forgets() {
        let tmp = tempfile::tempdir().unwrap();
        let j = Journal::at(&tmp.path().join("uploads")).unwrap();
        let repo = Repository::new("127.0.0.1:5000", "team/app").unwrap();
        let other = Repository::new("127.0.0.1:5000", "team/other").unwrap();
        let d = Digest::sha256(b"blob");
        let url = "http://127.0.0.1:5000/v2/team/app/blobs/uploads/u?_state=s";
        let s = UploadSession::resume_from(&repo, url).unwrap();
        j.save(&repo, &d, 100, &s).unwrap();
        assert_eq!(j.load(&repo, &d, 100).unwrap().location(), url);
        assert!(j.load(&repo, &d, 99).is_none(), "another size");
        assert!(j.load(&other, &d, 100).is_none(), "another repository");
        j.forget(&repo, &d);
        assert!(j.load(&repo, &d, 100).is_none());
        // a dry run keeps nothing
        let none = Journal::none();
        none.save(&repo, &d, 100, &s).unwrap();
        assert!(none.load(&repo, &d, 100).is_none());
    }
}
