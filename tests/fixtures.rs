//! The committed fixtures are what scripts/make-fixtures.sh builds, what
//! fixtures/README.md says, and what the real skopeo reads.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The fixtures whose bytes the script reproduces exactly.
const DETERMINISTIC: [&str; 4] = ["single", "multi", "repos", "single.oci.tar"];
/// Every layout directory among the fixtures.
const LAYOUTS: [&str; 5] = ["single", "multi", "repos", "umoci", "skopeo"];
const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").expect("sha256 digest"))
}

/// jq is not one of the common tools; same rules: skip, or fail under CI.
fn jq() -> Option<PathBuf> {
    let found = std::env::var_os("AIRSIGN_TEST_JQ")
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    if found.is_none() {
        assert!(!in_ci(), "AIRSIGN_TEST_JQ is not set: CI needs every tool");
        eprintln!("SKIP: AIRSIGN_TEST_JQ not set (run the tests with `make test`)");
    }
    found
}

/// One row of fixtures/README.md's table.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    fixture: String,
    reference: String,
    digest: String,
    deterministic: bool,
}

fn readme_rows(readme: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(readme).unwrap();
    let rows: Vec<Row> = text
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 5, "bad README row: {l}");
            let unquote = |s: &str| s.trim_matches('`').to_owned();
            Row {
                fixture: unquote(cells[0]).trim_end_matches('/').to_owned(),
                reference: unquote(cells[1]),
                digest: unquote(cells[2]),
                deterministic: cells[4] == "yes",
            }
        })
        .collect();
    assert!(rows.len() >= 10, "README table too short: {rows:?}");
    rows
}

/// relative path -> bytes of every file under `root` (a dir or a single file).
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    if root.is_file() {
        return BTreeMap::from([(PathBuf::new(), std::fs::read(root).unwrap())]);
    }
    snapshot(root)
}

#[test]
fn deterministic_fixtures_rebuild_byte_for_byte() {
    let Some(jq) = jq() else { return };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(umoci) = need!(Tool::Umoci) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fx");
    let path = format!(
        "{}:{}",
        jq.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    ok(Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-fixtures.sh"))
        .arg(&out)
        .env("PATH", path)
        .env("SKOPEO", skopeo)
        .env("UMOCI", umoci));
    for name in DETERMINISTIC {
        let (committed, rebuilt) = (files(&fixtures().join(name)), files(&out.join(name)));
        let (a, b): (BTreeSet<_>, BTreeSet<_>) =
            (committed.keys().collect(), rebuilt.keys().collect());
        assert_eq!(
            a, b,
            "{name}: the set of files differs (run `make fixtures`)"
        );
        for (rel, bytes) in &committed {
            assert!(
                bytes == &rebuilt[rel],
                "{name}/{}: rebuilt bytes differ from the committed ones",
                rel.display()
            );
        }
    }
    // The README's deterministic rows are the rebuilt ones (so it is not stale).
    let committed: Vec<Row> = readme_rows(&fixtures().join("README.md"))
        .into_iter()
        .filter(|r| r.deterministic)
        .collect();
    let rebuilt: Vec<Row> = readme_rows(&out.join("README.md"))
        .into_iter()
        .filter(|r| r.deterministic)
        .collect();
    assert!(committed.len() >= 7);
    assert_eq!(committed, rebuilt);
}

/// Every README row: skopeo reads a manifest whose sha256 is the README's digest,
/// and for a layout that is also index.json's descriptor (digest and size) and blob.
#[test]
fn skopeo_reads_every_fixture_with_the_readme_digest() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let rows = readme_rows(&fixtures().join("README.md"));
    for name in LAYOUTS
        .iter()
        .chain(&["single.oci.tar", "single.docker.tar"])
    {
        assert!(
            rows.iter().any(|r| r.fixture == *name),
            "README lacks {name}"
        );
    }
    for row in &rows {
        let path = fixtures().join(&row.fixture);
        let transport = if row.fixture.ends_with(".oci.tar") {
            "oci-archive"
        } else if row.fixture.ends_with(".docker.tar") {
            "docker-archive"
        } else {
            "oci"
        };
        let image = format!("{transport}:{}:{}", path.display(), row.reference);
        let out = run(Command::new(&skopeo).args(["inspect", "--raw"]).arg(&image));
        assert!(
            out.status.success(),
            "skopeo inspect --raw {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sha256(&out.stdout), row.digest, "{image}");
        if transport == "oci" {
            let index = json(&path.join("index.json"));
            let desc = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["annotations"][REF_NAME] == row.reference.as_str())
                .unwrap_or_else(|| panic!("{image}: no index.json entry"));
            assert_eq!(desc["digest"], row.digest.as_str(), "{image}");
            assert_eq!(desc["size"], out.stdout.len(), "{image}");
            assert_eq!(std::fs::read(blob(&path, &row.digest)).unwrap(), out.stdout);
        }
    }
}

/// Walks a layout from index.json: every descriptor's blob exists, has the size
/// the descriptor says and hashes to its name; no blob is unreachable.
fn check_layout(layout: &Path) {
    let mut todo: Vec<Value> = json(&layout.join("index.json"))["manifests"]
        .as_array()
        .unwrap()
        .clone();
    let mut seen = BTreeSet::new();
    while let Some(desc) = todo.pop() {
        let digest = desc["digest"].as_str().unwrap().to_owned();
        let bytes = std::fs::read(blob(layout, &digest))
            .unwrap_or_else(|e| panic!("{layout:?}: blob {digest}: {e}"));
        assert_eq!(sha256(&bytes), digest, "{layout:?}");
        assert_eq!(desc["size"], bytes.len(), "{layout:?}: size of {digest}");
        if !seen.insert(digest) {
            continue;
        }
        let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
            continue; // a layer
        };
        let Some(obj) = doc.as_object() else { continue };
        if obj.contains_key("schemaVersion") {
            todo.extend(
                obj.get("manifests")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            todo.extend(obj.get("config").cloned());
            todo.extend(
                obj.get("layers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(on_disk, seen, "{layout:?}: blobs on disk vs reachable");
    // umoci writes a trailing newline: compare the JSON, not the bytes
    assert_eq!(
        json(&layout.join("oci-layout")),
        serde_json::json!({"imageLayoutVersion": "1.0.0"})
    );
}

#[test]
fn every_layout_is_complete_and_hashes_right() {
    for name in LAYOUTS {
        check_layout(&fixtures().join(name));
    }
}

#[test]
fn repos_holds_full_references_sharing_blobs() {
    let repos = fixtures().join("repos");
    let index = json(&repos.join("index.json"));
    let refs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["annotations"][REF_NAME].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        [
            "registry.example.com/team/app:v1",
            "registry.example.com/team/app:v2",
            "registry.example.com/team/app:latest",
            "registry.example.com/team/tool:1.0",
        ]
    );
    let m = &index["manifests"];
    assert_eq!(m[1]["digest"], m[2]["digest"], "app:v2 and app:latest");
    assert_eq!(m[3]["mediaType"], "application/vnd.oci.image.index.v1+json");
    // app:v1 and app:v2 use one layer; tool:1.0's amd64 child is app:v1
    let manifest = |d: &Value| json(&blob(&repos, d.as_str().unwrap()));
    let (v1, v2, tool) = (
        manifest(&m[0]["digest"]),
        manifest(&m[1]["digest"]),
        manifest(&m[3]["digest"]),
    );
    assert_eq!(v1["layers"][0]["digest"], v2["layers"][0]["digest"]);
    assert_ne!(v1["config"]["digest"], v2["config"]["digest"]);
    assert_eq!(tool["manifests"][0]["digest"], m[0]["digest"]);
    // single:v1 is the very same image as app:v1
    assert_eq!(
        json(&fixtures().join("single/index.json"))["manifests"][0]["digest"],
        m[0]["digest"]
    );
}

/// The awkward manifest must stay awkward: re-serialising it changes its bytes.
#[test]
fn awkward_manifest_differs_from_any_reserialisation() {
    let repos = fixtures().join("repos");
    let index = json(&repos.join("index.json"));
    let digest = index["manifests"][1]["digest"].as_str().unwrap();
    let raw = std::fs::read(blob(&repos, digest)).unwrap();
    let text = std::str::from_utf8(&raw).unwrap();
    let parsed: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        parsed["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(parsed["schemaVersion"], 2);
    assert!(parsed["annotations"]["org.opencontainers.image.description"].is_string());
    assert!(text.starts_with("{\n  \"layers\""), "keys out of order");
    assert!(text.ends_with("}\n"), "trailing newline");
    assert!(
        text.contains(r"caf\u00e9") && text.contains(r"\/"),
        "escapes"
    );
    for re in [
        serde_json::to_vec(&parsed).unwrap(),
        serde_json::to_vec_pretty(&parsed).unwrap(),
    ] {
        assert_ne!(re, raw);
        assert_ne!(sha256(&re), digest);
    }
}

/// The tool-written fixtures have the quirks they are kept for.
#[test]
fn tool_written_fixtures_have_their_quirks() {
    // skopeo: index.json without top-level mediaType or platform; multi's blobs unchanged
    let sk = json(&fixtures().join("skopeo/index.json"));
    assert!(sk.get("mediaType").is_none(), "{sk}");
    assert!(sk["manifests"][0].get("platform").is_none(), "{sk}");
    assert_eq!(
        sk["manifests"][0]["digest"],
        json(&fixtures().join("multi/index.json"))["manifests"][0]["digest"]
    );
    assert_eq!(
        snapshot(&fixtures().join("skopeo/blobs")),
        snapshot(&fixtures().join("multi/blobs"))
    );
    // umoci: no mediaType in index.json nor in the manifest, two layers
    let um = json(&fixtures().join("umoci/index.json"));
    assert!(um.get("mediaType").is_none(), "{um}");
    let m = json(&blob(
        &fixtures().join("umoci"),
        um["manifests"][0]["digest"].as_str().unwrap(),
    ));
    assert!(m.get("mediaType").is_none(), "{m}");
    assert_eq!(m["layers"].as_array().unwrap().len(), 2);
}

/// The archives hold what they should: single's layout (oci-archive) and a docker
/// archive with single's config under the documented tag.
#[test]
fn archives_hold_single() {
    let tar_file = |archive: &str, member: &str| -> Vec<u8> {
        let out = run(Command::new("tar")
            .arg("-xOf")
            .arg(fixtures().join(archive))
            .arg(member));
        assert!(out.status.success(), "tar {archive} {member}");
        out.stdout
    };
    let single = fixtures().join("single");
    assert_eq!(
        tar_file("single.oci.tar", "index.json"),
        std::fs::read(single.join("index.json")).unwrap()
    );
    let manifest: Value =
        serde_json::from_slice(&tar_file("single.docker.tar", "manifest.json")).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["registry.example.com/demo/single:v1"])
    );
    let config_name = manifest[0]["Config"].as_str().unwrap();
    let single_manifest = json(&blob(
        &single,
        json(&single.join("index.json"))["manifests"][0]["digest"]
            .as_str()
            .unwrap(),
    ));
    let config = tar_file("single.docker.tar", config_name);
    assert_eq!(
        sha256(&config),
        single_manifest["config"]["digest"].as_str().unwrap()
    );
}
