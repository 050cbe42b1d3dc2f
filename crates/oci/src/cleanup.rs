//! Temporary files and directories of this process, removed when it is interrupted.
//!
//! Every temp path airsign makes (the store's per-process staging directory, an
//! export's `DIR.tmp-…`, an archive's `FILE.tmp-…`, a rewrite's work directory, a
//! key file's `.NAME.tmp-…`) is registered here while it exists. On SIGINT or
//! SIGTERM a watcher thread removes them all, says so on stderr, and exits with
//! 128 + the signal number: nothing a half-done step wrote is left behind, and what
//! was committed before stays (every commit is a rename, so a store, an archive or a
//! key file is whole either way).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn paths() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PATHS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A registered temp path; dropping the guard unregisters it (it does not remove
/// the path: its owner removes or keeps it).
#[derive(Debug)]
pub struct Guard(PathBuf);

/// Registers `path` (a file or a directory) as temporary until the guard drops.
pub fn register(path: &Path) -> Guard {
    paths().push(path.to_path_buf());
    Guard(path.to_path_buf())
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut p = paths();
        if let Some(i) = p.iter().rposition(|x| *x == self.0) {
            p.swap_remove(i);
        }
    }
}

/// Registers `path` for the rest of the process (the store's staging directory):
/// removed on interruption and by [`at_exit`].
pub fn register_for_process(path: &Path) {
    let mut p = paths();
    if !p.iter().any(|x| x == path) {
        p.push(path.to_path_buf());
    }
}

/// Removes every registered path; returns how many files were removed.
fn remove_all() -> usize {
    let taken: Vec<PathBuf> = std::mem::take(&mut *paths());
    let mut files = 0;
    for p in taken {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                files += walkdir::WalkDir::new(&p)
                    .into_iter()
                    .flatten()
                    .filter(|e| !e.file_type().is_dir())
                    .count();
                let _ = std::fs::remove_dir_all(&p);
            }
            Ok(_) => {
                if std::fs::remove_file(&p).is_ok() {
                    files += 1;
                }
            }
            Err(_) => {}
        }
    }
    files
}

/// At a normal end: the process's own staging directories go (anything still in
/// them is a leftover of a failed step).
pub fn at_exit() {
    remove_all();
}

/// Starts the watcher thread (once, from `main`).
pub fn install() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return; // without it a signal kills the process as it always did
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            // twice: a step may have made a new temp file while the first pass ran
            let n = remove_all() + remove_all();
            eprintln!(
                "airsign: interrupted by {name}: removed {n} temporary file(s); what was \
                 committed before stays, the unfinished step changed no index (blobs a \
                 bulk sign had landed are left for `airsign gc`)"
            );
            std::process::exit(128 + sig);
        }
    });
}
