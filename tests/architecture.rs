//! Rules of the code's shape that the compiler cannot see, checked over the sources
//! (docs/architecture.md, "Rules the code keeps").

use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn workspace_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    for krate in fs::read_dir(root.join("crates")).unwrap() {
        let krate = krate.unwrap().path();
        // the test bed is an oracle: it hashes on its own, to check airsign
        if krate.ends_with("test-support") {
            continue;
        }
        let src = krate.join("src");
        if src.is_dir() {
            sources(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "the sources were found: {}", files.len());
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            (rel, text)
        })
        .collect()
}

/// Blobs are hashed for checking in one place: `airsign_oci::verify` (the verifying
/// reader). `digest.rs` holds the hasher itself and computes digests of bytes airsign
/// creates; `airsign_cosign::blob` hashes the file `sign-blob`/`verify-blob` are given
/// (through `digest::hash_reader`: a file comes with no digest to check it against,
/// and its signature is over the hash); nothing else may hash on its own.
#[test]
fn only_the_verifying_reader_hashes_blobs() {
    let allowed = [
        "crates/oci/src/digest.rs",
        "crates/oci/src/verify.rs",
        "crates/cosign/src/blob.rs",
        // signature algorithms: each hashes the message it signs or verifies (a
        // payload, a PAE, or a blob streamed by blob.rs) with its own hash, as
        // p256's signer always did inside, never a blob of the store
        "crates/cosign/src/keys/algorithm.rs",
        // transparency-log proofs: it hashes log leaves and Merkle tree nodes
        // (RFC 6962), never a blob
        "crates/cosign/src/trust/tlog.rs",
        // RFC 3161 timestamps: it hashes the signature and the TSTInfo to compare
        // with what the token says, never a blob
        "crates/cosign/src/trust/tsa.rs",
    ];
    let forbidden = [
        "Hasher::new",
        "hash_reader(",
        "HashingWriter",
        "Sha256::new",
        "Sha512::new",
        "sha2::",
    ];
    let mut found = Vec::new();
    for (path, text) in workspace_sources() {
        if allowed.contains(&path.as_str()) {
            continue;
        }
        for f in forbidden {
            if text.contains(f) {
                found.push(format!("{path}: {f}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "hashing outside the verifying reader: {found:#?}"
    );
}

/// No command calls another: the modules under `src/ops/` that are commands use the
/// library and the helpers `ops` shares (`ops::{open_store, read_file, …}`,
/// `rewrite`, `sig_store`, `registry_access`), never each other.
#[test]
fn no_command_calls_another() {
    let commands = [
        "attach",
        "attest",
        "blob",
        "clean",
        "export",
        "fsck",
        "generate",
        "import",
        "inspect",
        "keys",
        "list",
        "pull",
        "sign",
        "signatures",
        "store",
        "sync",
        "triangulate",
        "verify",
    ];
    let mut found = Vec::new();
    for (path, text) in workspace_sources() {
        let Some(rest) = path.strip_prefix("src/ops/") else {
            continue;
        };
        let own = rest.split(['/', '.']).next().unwrap();
        for other in commands.iter().filter(|c| **c != own) {
            for pattern in [format!("super::{other}::"), format!("ops::{other}::")] {
                if text.contains(&pattern) {
                    found.push(format!("{path}: {pattern}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "commands calling commands: {found:#?}");
}

/// One progress-bar style across commands (issue 12): every bar is made by
/// `ops::progress` (its label, `[bar]`, the count), nothing else styles or draws
/// one on its own.
#[test]
fn progress_bars_come_from_one_constructor() {
    let forbidden = [
        "ProgressStyle::",
        "ProgressBar::new(",
        "ProgressBar::with_draw_target(",
        "MultiProgress::new(",
        "MultiProgress::with_draw_target(",
        ".set_style(",
    ];
    let mut found = Vec::new();
    for (path, text) in workspace_sources() {
        if path == "src/ops/progress.rs" {
            continue;
        }
        for f in forbidden {
            if text.contains(f) {
                found.push(format!("{path}: {f}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "progress bars made outside ops::progress: {found:#?}"
    );
}
