//! Regression tests for bugs found in use, each named after the bug it pins
//! (issue 9's list first). Every test runs the real binary.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::oci::*;
use common::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const REPO: &str = "registry.example.com/team/app";

fn store_cmd(store: &Path, args: &[&str]) -> std::process::Command {
    let mut c = airsign(["--store".as_ref(), store.as_os_str()]);
    c.args(args);
    c
}

fn new_store(tmp: &TempDir) -> PathBuf {
    let s = tmp.path().join("store");
    ok(&mut store_cmd(&s, &["store", "init"]));
    s
}

/// A referrer manifest (an SBOM-like artifact) whose subject is `subject`.
fn referrer(l: &TestLayout, subject: &Value, seed: &str) -> Value {
    let empty = l.desc("application/vnd.oci.empty.v1+json", b"{}");
    let layer = l.desc("text/spdx+json", format!("sbom {seed}").as_bytes());
    let subject = json!({"mediaType": subject["mediaType"], "digest": subject["digest"], "size": subject["size"]});
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/spdx+json",
        "config": empty, "layers": [layer], "subject": subject
    }))
    .unwrap();
    let mut d = l.desc(MANIFEST, &m);
    d["artifactType"] = json!("application/spdx+json");
    d
}

/// The blobs an image manifest needs: itself, its config and its layers.
fn image_blobs(l: &TestLayout, manifest: &[u8]) -> Vec<PathBuf> {
    let m: Value = serde_json::from_slice(manifest).unwrap();
    let mut v = vec![l.blob_path(&digest_of(manifest))];
    v.push(l.blob_path(m["config"]["digest"].as_str().unwrap()));
    for layer in m["layers"].as_array().unwrap() {
        v.push(l.blob_path(layer["digest"].as_str().unwrap()));
    }
    v
}

/// gc deleted the config and layers of an image whose referrer it walked first: the
/// referrer's subject was marked seen, so the image itself was never walked.
#[test]
fn gc_keeps_an_image_whose_referrer_is_walked_first() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let l = TestLayout {
        root: store.clone(),
    };
    let (img, raw) = l.image("amd64", "gc");
    let sbom = referrer(&l, &img, "gc");
    // Both orders: whichever entry a walker takes first, nothing may be lost.
    for entries in [
        vec![named(img.clone(), &format!("{REPO}:v1")), sbom.clone()],
        vec![sbom.clone(), named(img.clone(), &format!("{REPO}:v1"))],
    ] {
        l.set_index(&entries);
        let out = ok(&mut store_cmd(&store, &["gc", "--json"]));
        let r: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["removed_blobs"], 0, "{out}");
        for p in image_blobs(&l, &raw) {
            assert!(p.exists(), "gc removed {}", p.display());
        }
        ok(&mut store_cmd(&store, &["fsck"]));
    }
    // A referrer alone keeps its subject's whole tree too (the subject is walked).
    l.set_index(&[sbom]);
    ok(&mut store_cmd(&store, &["gc"]));
    for p in image_blobs(&l, &raw) {
        assert!(p.exists(), "gc removed {}", p.display());
    }
    // Once nothing refers to the image, gc does remove it.
    l.set_index(&[]);
    let out = ok(&mut store_cmd(&store, &["gc", "--json"]));
    let r: Value = serde_json::from_str(&out).unwrap();
    assert!(r["removed_blobs"].as_u64().unwrap() >= 6, "{out}");
    for p in image_blobs(&l, &raw) {
        assert!(!p.exists(), "{} should be gone", p.display());
    }
    let _ = fs::read_dir(&store).unwrap();
}
