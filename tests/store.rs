//! The store: import, ls, inspect, fsck, and every refusal leaving the store as it was.

mod common;

use std::fs;
use std::path::Path;

use common::oci::*;
use common::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const REPO: &str = "registry.example.com/team/app";

fn ls(store: &Path) -> Vec<Value> {
    serde_json::from_str(&ok(&mut store_cmd(store, &["ls", "--json"]))).unwrap()
}

/// Runs an import that must fail, and checks the store did not change at all.
fn import_refused(store: &Path, src: &Path, extra: &[&str]) -> String {
    let before = snapshot(store);
    let mut args = vec!["import".to_string(), format!("oci:{}", src.display())];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = fails(&mut store_cmd(store, &args));
    assert_eq!(
        snapshot(store),
        before,
        "a refused import changed the store"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "the error is one line: {err}"
    );
    assert!(err.starts_with("airsign: error: "), "{err}");
    err
}

#[test]
fn import_keeps_raw_bytes_and_names_entries_by_full_reference() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let src = TestLayout::new(&tmp.path().join("src"));
    let (img, raw_img) = src.image("amd64", "one");
    let (idx, raw_idx) = src.multi("two");
    src.set_index(&[named(img.clone(), "v1"), named(idx.clone(), "multi")]);

    ok(&mut store_cmd(
        &store,
        &[
            "import",
            &format!("oci:{}", src.root.display()),
            "--repository",
            REPO,
        ],
    ));

    let entries = ls(&store);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["reference"], format!("{REPO}:v1"));
    assert_eq!(entries[0]["digest"], img["digest"]);
    assert_eq!(entries[0]["platforms"], json!(["linux/amd64"]));
    assert_eq!(entries[0]["signatures"], 0);
    assert_eq!(entries[1]["reference"], format!("{REPO}:multi"));
    assert_eq!(
        entries[1]["platforms"],
        json!(["linux/amd64", "linux/arm64"])
    );

    // inspect serves the exact bytes, whitespace and key order included.
    let out = run(&mut store_cmd(&store, &["inspect", &format!("{REPO}:v1")]));
    assert!(out.status.success());
    assert_eq!(out.stdout, raw_img);
    let out = run(&mut store_cmd(
        &store,
        &["inspect", &format!("{REPO}:multi")],
    ));
    assert_eq!(out.stdout, raw_idx);
    // by digest, and by digest of a child manifest of the index
    let out = run(&mut store_cmd(
        &store,
        &[
            "inspect",
            &format!("{REPO}@{}", img["digest"].as_str().unwrap()),
        ],
    ));
    assert_eq!(out.stdout, raw_img);

    // index.json names entries by full reference
    let index: Value =
        serde_json::from_slice(&fs::read(store.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names, [format!("{REPO}:v1"), format!("{REPO}:multi")]);

    ok(&mut store_cmd(&store, &["fsck"]));

    // A second import of the same content writes no new blob and keeps one entry per name.
    let out = ok(&mut store_cmd(
        &store,
        &[
            "import",
            &format!("oci:{}", src.root.display()),
            "--repository",
            REPO,
            "--json",
        ],
    ));
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["new_blobs"], 0);
    assert_eq!(ls(&store).len(), 2);
}

#[test]
fn store_location_flag_then_env_then_xdg() {
    let tmp = TempDir::new().unwrap();
    let xdg = tmp.path().join("xdg");
    let mut c = airsign(["store", "init"]);
    c.env("XDG_DATA_HOME", &xdg);
    ok(&mut c);
    assert!(xdg.join("airsign/store/oci-layout").is_file());

    let env_store = tmp.path().join("env-store");
    let mut c = airsign(["store", "init"]);
    c.env("XDG_DATA_HOME", &xdg)
        .env("AIRSIGN_STORE", &env_store);
    ok(&mut c);
    assert!(env_store.join("oci-layout").is_file());

    let flag_store = tmp.path().join("flag-store");
    let mut c = airsign(["store", "init", "--store"]);
    c.arg(&flag_store).env("AIRSIGN_STORE", &env_store);
    ok(&mut c);
    assert!(flag_store.join("oci-layout").is_file());
}

#[test]
fn init_refuses_a_non_empty_directory_that_is_not_a_layout() {
    let tmp = TempDir::new().unwrap();
    fs::write(tmp.path().join("precious.txt"), "x").unwrap();
    let before = snapshot(tmp.path());
    fails(&mut store_cmd(tmp.path(), &["store", "init"]));
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn bare_tags_need_a_repository() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let src = TestLayout::new(&tmp.path().join("src"));
    let (img, _) = src.image("amd64", "x");
    src.set_index(&[named(img, "v1")]);
    let err = import_refused(&store, &src.root, &[]);
    assert!(err.contains("--repository"), "{err}");
}

#[test]
fn import_by_tag_full_reference_and_digest() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let src = TestLayout::new(&tmp.path().join("src"));
    let (a, _) = src.image("amd64", "a");
    let (b, _) = src.image("amd64", "b");
    src.set_index(&[named(a.clone(), "v1"), named(b.clone(), "v2")]);
    let oci = format!("oci:{}", src.root.display());
    ok(&mut store_cmd(
        &store,
        &["import", &oci, "v2", "--repository", REPO],
    ));
    let e = ls(&store);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["digest"], b["digest"]);
    ok(&mut store_cmd(
        &store,
        &[
            "import",
            &format!("{oci}:v1"),
            "--repository",
            "other.example/x",
        ],
    ));
    assert_eq!(ls(&store)[1]["reference"], "other.example/x:v1");
    // oci:DIR alone is ambiguous with two images
    let err = fails(&mut store_cmd(&store, &["inspect", &oci]));
    assert!(err.contains("holds 2 images"), "{err}");
    // a full-reference layout (the store itself) is a valid source, by reference
    let store2 = tmp.path().join("store2");
    ok(&mut store_cmd(&store2, &["store", "init"]));
    ok(&mut store_cmd(
        &store2,
        &["import", &format!("oci:{}:{REPO}:v2", store.display())],
    ));
    assert_eq!(ls(&store2)[0]["reference"], format!("{REPO}:v2"));
}

fn corrupt_case(
    tmp: &TempDir,
    f: impl FnOnce(&TestLayout, &Value) -> Value,
) -> (std::path::PathBuf, TestLayout) {
    let store = new_store(tmp);
    let src = TestLayout::new(&tmp.path().join("src"));
    let (img, _) = src.image("amd64", "bad");
    let entry = f(&src, &img);
    src.set_index(&[named(entry, "v1")]);
    (store, src)
}

fn layer_digest(src: &TestLayout, img: &Value) -> String {
    let m: Value =
        serde_json::from_slice(&fs::read(src.blob_path(img["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    m["layers"][0]["digest"].as_str().unwrap().to_owned()
}

#[test]
fn refuses_a_blob_whose_content_does_not_match_its_digest() {
    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |src, img| {
        let layer = layer_digest(src, img);
        let p = src.blob_path(&layer);
        let mut bytes = fs::read(&p).unwrap();
        bytes[0] ^= 1;
        fs::write(p, bytes).unwrap();
        img.clone()
    });
    let err = import_refused(&store, &src.root, &["--repository", REPO]);
    assert!(err.contains("hashes to"), "{err}");
}

#[test]
fn refuses_a_blob_whose_size_does_not_match() {
    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |src, img| {
        let mut d = img.clone();
        let p = src.blob_path(img["digest"].as_str().unwrap());
        d["size"] = json!(fs::metadata(p).unwrap().len() + 1);
        d
    });
    import_refused(&store, &src.root, &["--repository", REPO]);
}

#[test]
fn refuses_hostile_digests() {
    let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    for bad in [
        "sha256:../../../../../../etc/passwd".to_string(),
        format!("md5:{hex}"),
        format!("sha256:{}", &hex[..60]),
        format!("sha256:{}", hex.to_uppercase()),
        format!("sha256:{}/../{}", &hex[..30], &hex[..30]),
    ] {
        let tmp = TempDir::new().unwrap();
        let (store, src) = corrupt_case(&tmp, |_, img| {
            let mut d = img.clone();
            d["digest"] = json!(bad);
            d
        });
        let err = import_refused(&store, &src.root, &["--repository", REPO]);
        assert!(err.contains("digest"), "{bad}: {err}");
    }
}

#[test]
fn refuses_symlinked_and_non_regular_blobs() {
    // a symlink to a file outside the layout with the right content
    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |src, img| {
        let layer = layer_digest(src, img);
        let p = src.blob_path(&layer);
        let outside = src.root.parent().unwrap().join("outside");
        fs::rename(&p, &outside).unwrap();
        std::os::unix::fs::symlink(&outside, &p).unwrap();
        img.clone()
    });
    let err = import_refused(&store, &src.root, &["--repository", REPO]);
    assert!(err.contains("not a regular file"), "{err}");

    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |src, img| {
        let layer = layer_digest(src, img);
        let p = src.blob_path(&layer);
        fs::remove_file(&p).unwrap();
        fs::create_dir(&p).unwrap();
        img.clone()
    });
    let err = import_refused(&store, &src.root, &["--repository", REPO]);
    assert!(err.contains("directory"), "{err}");
}

#[test]
fn refuses_oversized_ambiguous_and_mislabelled_manifests() {
    // over 4 MiB
    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |src, _| {
        let mut big = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[],"annotations":{"pad":""#.to_vec();
        big.extend(std::iter::repeat_n(b'a', 4 * 1024 * 1024));
        big.extend(br#""}}"#);
        src.desc(MANIFEST, &big)
    });
    let err = import_refused(&store, &src.root, &["--repository", REPO]);
    assert!(err.contains("limit") || err.contains("larger"), "{err}");

    // both manifests and layers
    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |src, img| {
        let raw = fs::read(src.blob_path(img["digest"].as_str().unwrap())).unwrap();
        let mut m: Value = serde_json::from_slice(&raw).unwrap();
        m["manifests"] = json!([]);
        src.desc(MANIFEST, &serde_json::to_vec(&m).unwrap())
    });
    let err = import_refused(&store, &src.root, &["--repository", REPO]);
    assert!(err.contains("both"), "{err}");

    // a mediaType that disagrees with the descriptor
    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |_, img| {
        let mut d = img.clone();
        d["mediaType"] = json!(INDEX);
        d
    });
    let err = import_refused(&store, &src.root, &["--repository", REPO]);
    assert!(err.contains("disagrees"), "{err}");

    // malformed JSON
    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |src, _| src.desc(MANIFEST, b"{\"schemaVersion\":2,"));
    let err = import_refused(&store, &src.root, &["--repository", REPO]);
    assert!(err.contains("malformed JSON"), "{err}");
}

#[test]
fn refuses_unknown_layout_versions_and_broken_index_json() {
    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |_, img| img.clone());
    fs::write(
        src.root.join("oci-layout"),
        r#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    let err = import_refused(&store, &src.root, &["--repository", REPO]);
    assert!(err.contains("imageLayoutVersion"), "{err}");

    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |_, img| img.clone());
    fs::write(
        src.root.join("index.json"),
        b"{\"schemaVersion\":2,\"manifests\":[{]}",
    )
    .unwrap();
    import_refused(&store, &src.root, &["--repository", REPO]);

    // the store's own index.json broken: commands refuse, nothing is rewritten
    let tmp = TempDir::new().unwrap();
    let (store, src) = corrupt_case(&tmp, |_, img| img.clone());
    fs::write(store.join("index.json"), b"not json").unwrap();
    import_refused(&store, &src.root, &["--repository", REPO]);
    fails(&mut store_cmd(&store, &["ls"]));
}

#[test]
fn an_existing_blob_is_never_overwritten() {
    use std::os::unix::fs::MetadataExt;
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let src = TestLayout::new(&tmp.path().join("src"));
    let (img, _) = src.image("amd64", "keep");
    src.set_index(&[named(img.clone(), "v1")]);
    let oci = format!("oci:{}", src.root.display());
    ok(&mut store_cmd(
        &store,
        &["import", &oci, "--repository", REPO],
    ));
    let layer = layer_digest(&src, &img);
    let (alg, hex) = layer.split_once(':').unwrap();
    let p = store.join("blobs").join(alg).join(hex);
    let ino = fs::metadata(&p).unwrap().ino();
    ok(&mut store_cmd(
        &store,
        &["import", &oci, "--repository", "other.example/app"],
    ));
    assert_eq!(
        fs::metadata(&p).unwrap().ino(),
        ino,
        "the blob file was replaced"
    );
}

#[test]
fn fsck_reports_every_problem_and_fails() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let src = TestLayout::new(&tmp.path().join("src"));
    let (a, _) = src.image("amd64", "a");
    let (b, _) = src.image("arm64", "b");
    src.set_index(&[named(a.clone(), "a"), named(b.clone(), "b")]);
    ok(&mut store_cmd(
        &store,
        &[
            "import",
            &format!("oci:{}", src.root.display()),
            "--repository",
            REPO,
        ],
    ));
    ok(&mut store_cmd(&store, &["fsck"]));

    let blob = |d: &str| {
        let (alg, hex) = d.split_once(':').unwrap();
        store.join("blobs").join(alg).join(hex)
    };
    // corrupt one layer (same size), delete another, and add a stray file
    let la = layer_digest(&src, &a);
    let lb = layer_digest(&src, &b);
    let mut bytes = fs::read(blob(&la)).unwrap();
    bytes[0] ^= 0xff;
    fs::write(blob(&la), bytes).unwrap();
    fs::remove_file(blob(&lb)).unwrap();
    fs::write(store.join("blobs/sha256/not-a-digest"), "x").unwrap();

    let out = run(&mut store_cmd(&store, &["fsck", "--json"]));
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"corrupt"), "{report}");
    assert!(kinds.contains(&"missing"), "{report}");
    assert!(kinds.contains(&"stray"), "{report}");
    assert_eq!(report["ok"], false);
}

#[test]
fn concurrent_imports_all_keep_their_entries() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let n = 12;
    let srcs: Vec<TestLayout> = (0..n)
        .map(|i| {
            let src = TestLayout::new(&tmp.path().join(format!("src{i}")));
            let (img, _) = src.image("amd64", &format!("img{i}"));
            src.set_index(&[named(img, "v1")]);
            src
        })
        .collect();
    let children: Vec<_> = srcs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            store_cmd(
                &store,
                &[
                    "import",
                    &format!("oci:{}", s.root.display()),
                    "--repository",
                    &format!("registry.example.com/p/app{i}"),
                ],
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut names: Vec<String> = ls(&store)
        .iter()
        .map(|e| e["reference"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..n)
        .map(|i| format!("registry.example.com/p/app{i}:v1"))
        .collect();
    want.sort();
    assert_eq!(names, want);
    ok(&mut store_cmd(&store, &["fsck"]));
}

#[test]
fn skopeo_reads_the_store_by_full_reference() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let src = TestLayout::new(&tmp.path().join("src"));
    let (idx, raw) = src.multi("sk");
    src.set_index(&[named(idx, "v1")]);
    ok(&mut store_cmd(
        &store,
        &[
            "import",
            &format!("oci:{}", src.root.display()),
            "--repository",
            "127.0.0.1:5000/team/app",
        ],
    ));
    let out = run(std::process::Command::new(&skopeo)
        .args(["inspect", "--raw"])
        .arg(format!(
            "oci:{}:127.0.0.1:5000/team/app:v1",
            store.display()
        )));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, raw);
}

/// The digest a layout's index.json gives an entry.
fn index_digest(layout: &Path, name: &str) -> String {
    let idx: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {}", layout.display()))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn layouts_written_by_umoci_and_skopeo_import_with_digests_unchanged() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    for name in ["umoci", "skopeo", "single", "multi"] {
        let src = fixtures().join(name);
        let repo = format!("registry.example.com/fixtures/{name}");
        ok(&mut store_cmd(
            &store,
            &[
                "import",
                &format!("oci:{}", src.display()),
                "--repository",
                &repo,
            ],
        ));
        let want = index_digest(&src, "v1");
        let e = ls(&store);
        let got = e
            .iter()
            .find(|e| e["reference"] == format!("{repo}:v1"))
            .unwrap();
        assert_eq!(got["digest"], want.as_str(), "{name}");
        // the raw bytes served back hash to the same digest
        let out = run(&mut store_cmd(&store, &["inspect", &format!("{repo}:v1")]));
        assert_eq!(digest_of(&out.stdout), want, "{name}");
    }
    // repos/ is named by full references: no --repository needed, names kept
    let repos = fixtures().join("repos");
    ok(&mut store_cmd(
        &store,
        &["import", &format!("oci:{}", repos.display())],
    ));
    let names: Vec<String> = ls(&store)
        .iter()
        .map(|e| e["reference"].as_str().unwrap().to_owned())
        .collect();
    for n in [
        "registry.example.com/team/app:v2",
        "registry.example.com/team/tool:1.0",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        let out = run(&mut store_cmd(&store, &["inspect", n]));
        assert_eq!(digest_of(&out.stdout), index_digest(&repos, n));
    }
    ok(&mut store_cmd(&store, &["fsck"]));
}

#[test]
fn cosign_save_layouts_are_read() {
    use common::registry::{Mode, Registry, Side};
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let tmp = TempDir::new().unwrap();
    let single = fixtures().join("single");
    ok(std::process::Command::new(&skopeo)
        .arg("--insecure-policy")
        .arg("copy")
        .args(reg.skopeo_args(Side::Dest, false))
        .arg(format!("oci:{}:v1", single.display()))
        .arg(reg.docker_ref("demo/saved:v1")));
    let saved = tmp.path().join("saved");
    ok(std::process::Command::new(&cosign)
        .env("HOME", tmp.path())
        .args(["save", "--dir"])
        .arg(&saved)
        .arg(format!("{}/demo/saved:v1", reg.host())));
    // cosign's layout: entries with a `kind` annotation and no names
    let idx = fs::read_to_string(saved.join("index.json")).unwrap();
    assert!(idx.contains("dev.cosignproject.cosign/image"), "{idx}");
    let out = run(&mut airsign([
        "inspect".to_string(),
        format!("oci:{}", saved.display()),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(digest_of(&out.stdout), index_digest(&single, "v1"));
}

/// Regression: `ls` printed the platforms in a fixed 24-column field, so an index
/// with a longer platform list pushed its SIGNATURES value out of the column.
/// (Since issue 12 the table counts an index's platforms; the columns must still
/// line up.)
#[test]
fn regression_ls_columns_stay_aligned_with_long_platform_lists() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    for (fixture, repo) in [
        ("multi", "r.example.com/a/multi"),
        ("single", "r.example.com/a/single"),
    ] {
        ok(&mut store_cmd(
            &store,
            &[
                "import",
                &format!("oci:{}", fixtures().join(fixture).display()),
                "--repository",
                repo,
            ],
        ));
    }
    let out = ok(&mut store_cmd(&store, &["ls"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    // (an index's platforms are counted in the table since issue 12's layout; the
    // list is in --json)
    assert!(lines[1].contains("2 platforms"), "{out}");
    // the counts are right-aligned under their headers: SIGS ("0") and OTHER ("0")
    // end at the same offsets on every line
    let sigs = lines[0].find("SIGS").unwrap() + "SIGS".len();
    let other = lines[0].len();
    assert!(lines[0].ends_with("OTHER"), "{out}");
    for l in &lines[1..] {
        assert_eq!(&l[sigs - 1..sigs], "0", "{out}");
        assert_eq!(l.len(), other, "{out}");
        assert!(l.ends_with(" 0"), "{out}");
    }
}

/// Regression: import allowed indexes nested 7 deep while sync and pull allowed 8,
/// so an image could come in that could not go out (or the other way round). One
/// limit now holds for all: 8 nested indexes pass, 9 are refused, by both.
#[test]
fn regression_import_and_sync_agree_on_how_deep_indexes_may_nest() {
    let tmp = TempDir::new().unwrap();
    for (nested, ok_) in [(8, true), (9, false)] {
        let src = tmp.path().join(format!("nested-{nested}"));
        let l = TestLayout::new(&src);
        let (mut child, _) = l.image("amd64", &format!("deep {nested}"));
        for _ in 0..nested {
            let idx = serde_json::to_vec(&json!({
                "schemaVersion": 2, "mediaType": INDEX, "manifests": [child]
            }))
            .unwrap();
            child = l.desc(INDEX, &idx);
        }
        l.set_index(&[named(child, "v1")]);
        let store = tmp.path().join(format!("store-{nested}"));
        ok(&mut store_cmd(&store, &["store", "init"]));
        let loc = format!("oci:{}", src.display());
        let import = run(&mut store_cmd(
            &store,
            &["import", &loc, "--repository", "r.example.com/deep"],
        ));
        // sync plans before it sends anything: a closed port tells a refused plan
        // (the nesting error) from an accepted one (a connection error)
        let sync = run(&mut store_cmd(
            &store,
            &[
                "sync",
                "--from",
                &loc,
                "--all",
                "--to",
                "127.0.0.1:1/deep",
                "--plain-http",
                "--dry-run",
            ],
        ));
        let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).contains("nested");
        assert_eq!(
            import.status.success(),
            ok_,
            "import of {nested}: {import:?}"
        );
        assert_eq!(said(&import), !ok_, "{import:?}");
        assert!(!sync.status.success());
        assert_eq!(said(&sync), !ok_, "sync of {nested}: {sync:?}");
    }
}
