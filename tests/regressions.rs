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

/// Something a test does to a file or a directory.
type Damage = fn(&Path);

/// A referrer manifest (an SBOM-like artifact) whose subject is `subject`.
fn referrer(l: &TestLayout, subject: &Value, seed: &str) -> Value {
    typed_referrer(l, subject, seed, "application/spdx+json")
}

/// A referrer manifest of artifact type `artifact_type` whose subject is `subject`.
fn typed_referrer(l: &TestLayout, subject: &Value, seed: &str, artifact_type: &str) -> Value {
    let empty = l.desc("application/vnd.oci.empty.v1+json", b"{}");
    let layer = l.desc(
        "application/octet-stream",
        format!("{artifact_type} {seed}").as_bytes(),
    );
    let subject = json!({"mediaType": subject["mediaType"], "digest": subject["digest"], "size": subject["size"]});
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": artifact_type,
        "config": empty, "layers": [layer], "subject": subject
    }))
    .unwrap();
    let mut d = l.desc(MANIFEST, &m);
    d["artifactType"] = json!(artifact_type);
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

/// The `org.opencontainers.image.ref.name`s of a layout's index.json, with digests.
fn entries(layout: &Path) -> Vec<(String, String)> {
    let idx: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                d["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The digests a listing entry of `store` names, if it has that entry.
fn listed(store: &Path, name: &str) -> Option<Vec<String>> {
    let (_, d) = entries(store).into_iter().find(|(n, _)| n == name)?;
    let l = TestLayout {
        root: store.to_path_buf(),
    };
    let idx: Value = serde_json::from_slice(&fs::read(l.blob_path(&d)).unwrap()).unwrap();
    Some(
        idx["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_owned())
            .collect(),
    )
}

/// import attached a referrer that repository A lists to repository B holding the
/// same digest (and, importing B alone, gave B A's referrer).
#[test]
fn import_keeps_a_referrer_in_its_own_repository() {
    let tmp = TempDir::new().unwrap();
    let src = TestLayout::new(&tmp.path().join("src"));
    let (img, _) = src.image("amd64", "leak");
    let sbom = referrer(&src, &img, "leak");
    let hex = &img["digest"].as_str().unwrap()[7..];
    let a = "registry.example.com/team/a";
    let b = "registry.example.com/team/b";
    let listing =
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [sbom]}))
            .unwrap();
    let listing_d = src.desc(INDEX, &listing);
    src.set_index(&[
        named(img.clone(), &format!("{a}:v1")),
        named(listing_d, &format!("{a}:sha256-{hex}")),
        named(img.clone(), &format!("{b}:v1")),
    ]);
    let sbom_d = sbom["digest"].as_str().unwrap().to_owned();

    // everything: the referrer stays with a
    let s1 = tmp.path().join("s1");
    ok(&mut store_cmd(&s1, &["store", "init"]));
    ok(&mut store_cmd(
        &s1,
        &["import", &format!("oci:{}", src.root.display())],
    ));
    assert_eq!(
        listed(&s1, &format!("{a}:sha256-{hex}")),
        Some(vec![sbom_d.clone()])
    );
    assert_eq!(
        listed(&s1, &format!("{b}:sha256-{hex}")),
        None,
        "{:?}",
        entries(&s1)
    );
    ok(&mut store_cmd(&s1, &["fsck"]));

    // b alone: no referrer at all
    let s2 = tmp.path().join("s2");
    ok(&mut store_cmd(&s2, &["store", "init"]));
    ok(&mut store_cmd(
        &s2,
        &[
            "import",
            &format!("oci:{}", src.root.display()),
            &format!("{b}:v1"),
        ],
    ));
    let names: Vec<String> = entries(&s2).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec![format!("{b}:v1")]);
    assert!(!TestLayout { root: s2.clone() }.blob_path(&sbom_d).exists());
}

/// Referrers whose subject is a platform manifest of an index (oras attach to one
/// platform) were dropped on import.
#[test]
fn import_keeps_referrers_of_platform_manifests() {
    let tmp = TempDir::new().unwrap();
    let src = TestLayout::new(&tmp.path().join("src"));
    let (idx, raw) = src.multi("plat");
    let idx_json: Value = serde_json::from_slice(&raw).unwrap();
    let arm = idx_json["manifests"][1].clone();
    let sbom = referrer(&src, &arm, "plat");
    src.set_index(&[named(idx, "v1")]);
    let store = new_store(&tmp);
    ok(&mut store_cmd(
        &store,
        &[
            "import",
            &format!("oci:{}", src.root.display()),
            "--repository",
            REPO,
        ],
    ));
    let hex = &arm["digest"].as_str().unwrap()[7..];
    assert_eq!(
        listed(&store, &format!("{REPO}:sha256-{hex}")),
        Some(vec![sbom["digest"].as_str().unwrap().to_owned()]),
        "{:?}",
        entries(&store)
    );
    ok(&mut store_cmd(&store, &["fsck"]));
}

/// import silently moved a tag the store already gave to another image.
#[test]
fn import_refuses_to_move_an_existing_tag_without_force() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let first = TestLayout::new(&tmp.path().join("first"));
    let (one, _) = first.image("amd64", "one");
    first.set_index(&[named(one.clone(), "v1")]);
    let second = TestLayout::new(&tmp.path().join("second"));
    let (two, _) = second.image("amd64", "two");
    second.set_index(&[named(two.clone(), "v1")]);
    let import = |src: &TestLayout, extra: &[&str]| {
        let mut args = vec![
            "import".to_owned(),
            format!("oci:{}", src.root.display()),
            "--repository".to_owned(),
            REPO.to_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        store_cmd(&store, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    ok(&mut import(&first, &[]));
    // the same image again is no move
    ok(&mut import(&first, &[]));
    let before = snapshot(&store);
    let err = fails(&mut import(&second, &[]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "{REPO}:v1 in the store is {}",
            one["digest"].as_str().unwrap()
        )) && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        snapshot(&store),
        before,
        "a refused import changed the store"
    );
    let out = run(&mut import(&second, &["--force"]));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "moved {REPO}:v1 from {} to {}",
            one["digest"].as_str().unwrap(),
            two["digest"].as_str().unwrap()
        )),
        "{stderr}"
    );
    assert!(entries(&store).contains(&(
        format!("{REPO}:v1"),
        two["digest"].as_str().unwrap().to_owned()
    )));
}

/// A source whose index.json gives one tag to two different images was imported as
/// "2 images" while the store kept only the last.
#[test]
fn import_refuses_a_source_naming_two_images_with_one_tag() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let src = TestLayout::new(&tmp.path().join("src"));
    let (one, _) = src.image("amd64", "one");
    let (two, _) = src.image("amd64", "two");
    src.set_index(&[named(one.clone(), "v1"), named(two.clone(), "v1")]);
    let before = snapshot(&store);
    let err = fails(&mut store_cmd(
        &store,
        &[
            "import",
            &format!("oci:{}", src.root.display()),
            "--repository",
            REPO,
        ],
    ));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("names two different images")
            && err.contains(one["digest"].as_str().unwrap())
            && err.contains(two["digest"].as_str().unwrap()),
        "{err}"
    );
    assert_eq!(snapshot(&store), before);
    // one of them, by digest, imports
    ok(&mut store_cmd(
        &store,
        &[
            "import",
            &format!("oci:{}", src.root.display()),
            two["digest"].as_str().unwrap(),
            "--repository",
            &format!("{REPO}:v1"),
        ],
    ));
}

/// sign, verify and sync --dry-run accepted an image whose manifest or blobs were
/// corrupt or missing in the store.
#[test]
fn sign_verify_and_sync_dry_run_refuse_a_damaged_image() {
    use common::bed::Bed;
    use common::registry::{Mode, Registry};
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/single");
    let image = "registry.example.com/demo/single:v1";
    let (key, public) = bed.keys("cosign");
    let key = key.to_str().unwrap().to_owned();
    let public = public.to_str().unwrap().to_owned();
    ok(&mut bed.cmd(&["sign", "--key", &key, image]));
    ok(&mut bed.cmd(&["verify", "--key", &public, image]));
    let store = TestLayout {
        root: bed.store.clone(),
    };
    let manifest_d = fixture_digest("single");
    let manifest: Value =
        serde_json::from_slice(&fs::read(store.blob_path(&manifest_d)).unwrap()).unwrap();
    let layer = store.blob_path(manifest["layers"][0]["digest"].as_str().unwrap());
    let config = store.blob_path(manifest["config"]["digest"].as_str().unwrap());
    let reg = Registry::start(Mode::Plain);

    let damages: [(&str, &Path, Damage); 3] = [
        ("a corrupt layer", &layer, |p: &Path| {
            let mut b = fs::read(p).unwrap();
            b[0] ^= 1;
            fs::write(p, b).unwrap();
        }),
        ("a missing layer", &layer, |p: &Path| {
            fs::remove_file(p).unwrap()
        }),
        ("a corrupt config", &config, |p: &Path| {
            let mut b = fs::read(p).unwrap();
            let n = b.len() - 1;
            b[n] ^= 1;
            fs::write(p, b).unwrap();
        }),
    ];
    for (what, path, damage) in damages {
        let good = fs::read(path).unwrap();
        damage(path);
        let before = snapshot(&bed.store);
        let mut checks: Vec<(&str, Vec<&str>)> = vec![
            ("sign", vec!["sign", "--key", &key, image]),
            ("verify", vec!["verify", "--key", &public, image]),
        ];
        let to;
        if let Some(reg) = &reg {
            to = format!("{}/demo", reg.host());
            checks.push((
                "sync --dry-run",
                vec!["sync", "--dry-run", image, "--to", &to],
            ));
        }
        for (cmd, args) in checks {
            let err = fails(&mut bed.cmd(&args));
            // (warnings may come first: a tag reference, an identity)
            let errors: Vec<&str> = err
                .lines()
                .filter(|l| l.starts_with("airsign: error:"))
                .collect();
            assert_eq!(errors.len(), 1, "{cmd} with {what}: {err}");
            assert_eq!(
                err.trim().lines().last(),
                Some(errors[0]),
                "{cmd} with {what}: {err}"
            );
            assert!(
                err.contains("run airsign fsck"),
                "{cmd} with {what} should name the damage: {err}"
            );
            assert_eq!(
                snapshot(&bed.store),
                before,
                "{cmd} with {what} changed the store"
            );
        }
        fs::write(path, good).unwrap();
        ok(&mut bed.cmd(&["verify", "--key", &public, image]));
    }
}

/// Runs `cmd`, killing it after `secs` seconds; returns (finished in time, output).
fn run_bounded(cmd: &mut std::process::Command, secs: u64) -> (bool, std::process::Output) {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut in_time = true;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            in_time = false;
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (in_time, child.wait_with_output().unwrap())
}

fn mkfifo(path: &Path) {
    let _ = fs::remove_file(path);
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

/// A FIFO named index.json or oci-layout, or given as an archive, blocked forever in
/// open(2) (waiting for a writer that never comes).
#[test]
fn a_fifo_for_index_json_oci_layout_or_an_archive_is_refused_not_waited_on() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let src = TestLayout::new(&tmp.path().join("src"));
    let (img, _) = src.image("amd64", "fifo");
    src.set_index(&[named(img, "v1")]);
    let fifo_archive = tmp.path().join("carry.tar");
    mkfifo(&fifo_archive);
    let check = |what: &str, args: &[&str], store: &Path| {
        let before = snapshot(store);
        let (in_time, out) = run_bounded(&mut store_cmd(store, args), 20);
        assert!(in_time, "{what}: still waiting after 20 s");
        assert!(!out.status.success(), "{what}: should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{what}: {err}");
        assert!(err.contains("not a regular file (a FIFO)"), "{what}: {err}");
        assert_eq!(snapshot(store), before, "{what} changed the store");
    };
    let src_arg = format!("oci:{}", src.root.display());
    let import = ["import", src_arg.as_str(), "--repository", REPO];
    for name in ["index.json", "oci-layout"] {
        let p = src.root.join(name);
        let keep = fs::read(&p).unwrap();
        mkfifo(&p);
        check(&format!("import with a FIFO {name}"), &import, &store);
        fs::remove_file(&p).unwrap();
        fs::write(&p, keep).unwrap();
    }
    let archive_arg = format!("oci-archive:{}", fifo_archive.display());
    check(
        "import of a FIFO archive",
        &["import", &archive_arg],
        &store,
    );
    check("ls of a FIFO archive", &["ls", &archive_arg], &store);
    // the store's own index.json
    ok(&mut store_cmd(&store, &import));
    let p = store.join("index.json");
    let keep = fs::read(&p).unwrap();
    mkfifo(&p);
    check("ls with a FIFO index.json in the store", &["ls"], &store);
    fs::remove_file(&p).unwrap();
    fs::write(&p, keep).unwrap();
    ok(&mut store_cmd(&store, &["fsck"]));
}

/// `store init` said "store ready" about an existing store it could not use.
#[test]
fn store_init_on_a_broken_store_says_so() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    let out = run(&mut store_cmd(&store, &["store", "init"]));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already there: 0 entries"));
    let breakages: [(&str, Damage); 4] = [
        ("no index.json", |s| {
            fs::remove_file(s.join("index.json")).unwrap()
        }),
        ("index.json not JSON", |s| {
            fs::write(s.join("index.json"), b"{\"schemaVersion\":").unwrap()
        }),
        ("blobs/ a file", |s| {
            fs::remove_dir_all(s.join("blobs")).unwrap();
            fs::write(s.join("blobs"), b"").unwrap();
        }),
        ("unknown layout version", |s| {
            fs::write(s.join("oci-layout"), br#"{"imageLayoutVersion":"9.9.9"}"#).unwrap()
        }),
    ];
    for (what, breakage) in breakages {
        let dir = tmp.path().join(what.replace(['/', ' '], "_"));
        ok(&mut store_cmd(&dir, &["store", "init"]));
        breakage(&dir);
        let before = snapshot(&dir);
        let err = fails(&mut store_cmd(&dir, &["store", "init"]));
        assert_eq!(err.trim().lines().count(), 1, "{what}: {err}");
        assert!(
            err.contains("is an OCI image layout that cannot be used as it is"),
            "{what}: {err}"
        );
        assert!(!err.contains("ready"), "{what}: {err}");
        assert_eq!(snapshot(&dir), before, "{what}: init changed the store");
    }
}

/// `ls` counted neither cosign 3 bundles, notation signatures nor the signatures of
/// platform manifests.
#[test]
fn ls_counts_bundles_notation_signatures_and_platform_signatures() {
    use common::bed::Bed;
    let bed = Bed::new();
    let src = TestLayout::new(&bed.path("src"));
    let (idx, raw) = src.multi("ls");
    let arm = serde_json::from_slice::<Value>(&raw).unwrap()["manifests"][1].clone();
    // untagged referrer entries (as oras and notation write them) and a blob-only one
    let bundle = typed_referrer(
        &src,
        &idx,
        "b",
        "application/vnd.dev.sigstore.bundle.v0.3+json",
    );
    let notation = typed_referrer(&src, &idx, "n", "application/vnd.cncf.notary.signature");
    let _sbom = typed_referrer(&src, &arm, "s", "application/spdx+json");
    src.set_index(&[named(idx, "v1"), bundle, notation]);
    let loc = format!("oci:{}", src.root.display());
    let counts = |entries: &Value| -> Value {
        let e = entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["artifact"] == false)
            .unwrap()
            .clone();
        json!({"sigs": e["signatures"], "platform": e["platform_signatures"], "refs": e["referrers"]})
    };
    let want = json!({"sigs": 0, "platform": 0, "refs": {"bundle": 1, "notation": 1, "sbom": 1}});
    // in the layout itself, and in the store after import
    let listed: Value = serde_json::from_str(&ok(&mut bed.cmd(&["ls", "--json", &loc]))).unwrap();
    assert_eq!(counts(&listed), want);
    ok(&mut bed.cmd(&["import", &loc, "--repository", REPO]));
    let (key, _) = bed.keys("k");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        key.to_str().unwrap(),
        "-r",
        &format!("{REPO}:v1"),
    ]));
    let listed: Value = serde_json::from_str(&ok(&mut bed.cmd(&["ls", "--json"]))).unwrap();
    // the image already carried a bundle, so `sign` added ours beside its .sig (cosign
    // 3 reads only bundles then): two bundles
    assert_eq!(
        counts(&listed),
        json!({"sigs": 1, "platform": 2, "refs": {"bundle": 2, "notation": 1, "sbom": 1}})
    );
    // the table (issue 12's layout): signatures of the index (its .sig and our
    // bundle) + of its platforms; the other referrers (the bundle-typed one without
    // a bundle in it, notation's, the SBOM) counted
    let human = ok(&mut bed.cmd(&["ls"]));
    let line: Vec<&str> = human
        .lines()
        .find(|l| l.contains("2 platforms"))
        .unwrap_or_else(|| panic!("{human}"))
        .split_whitespace()
        .collect();
    assert_eq!(line[line.len() - 3..], ["2+2", "0", "3"], "{human}");
}

/// Every regular file under `dir` (none if it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// Starts `cmd`, waits until `started` says its temp files exist, sends `signal`,
/// and returns its exit code and stderr. Fails if it ends before being caught.
fn interrupt(
    mut cmd: std::process::Command,
    started: &dyn Fn() -> bool,
    signal: &str,
) -> (Option<i32>, String) {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !started() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "it ended before it could be interrupted"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no temp file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let st = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let (in_time, out) = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let in_time = child.try_wait().unwrap().is_some();
        if !in_time {
            child.kill().unwrap();
        }
        (in_time, child.wait_with_output().unwrap())
    };
    assert!(in_time, "still running 30 s after {signal}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Ctrl-C (SIGINT) or SIGTERM in the middle of an import or an export left its temp
/// files behind (staged blobs, a half-written archive).
#[test]
fn an_interrupted_import_or_export_removes_its_temp_files_and_says_so() {
    let tmp = TempDir::new().unwrap();
    let store = new_store(&tmp);
    big_image_layout(&tmp.path().join("src"), 512 << 20, 9);
    let src = format!("oci:{}", tmp.path().join("src").display());
    let before = snapshot(&store);
    let staging = store.join(".airsign/tmp");
    let (code, err) = interrupt(
        store_cmd(&store, &["import", &src, "--repository", REPO]),
        &|| !files_under(&staging).is_empty(),
        "INT",
    );
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted by SIGINT: removed"), "{err}");
    assert_eq!(files_under(&staging), Vec::<PathBuf>::new());
    let mut after = snapshot(&store);
    after.retain(|p, _| !p.starts_with(".airsign"));
    let mut was = before;
    was.retain(|p, _| !p.starts_with(".airsign"));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        was.keys().collect::<Vec<_>>()
    );
    ok(&mut store_cmd(&store, &["fsck"]));

    // an export to an archive, stopped by SIGTERM: no FILE.tmp-…, no FILE
    ok(&mut store_cmd(
        &store,
        &["import", &src, "--repository", REPO],
    ));
    let out_dir = tmp.path().join("usb");
    fs::create_dir(&out_dir).unwrap();
    let archive = out_dir.join("carry.tar");
    let (code, err) = interrupt(
        store_cmd(
            &store,
            &[
                "export",
                "--all",
                "--to",
                &format!("oci-archive:{}", archive.display()),
            ],
        ),
        &|| fs::read_dir(&out_dir).unwrap().next().is_some(),
        "TERM",
    );
    assert_eq!(code, Some(143), "{err}");
    assert!(err.contains("interrupted by SIGTERM: removed"), "{err}");
    assert_eq!(
        fs::read_dir(&out_dir).unwrap().count(),
        0,
        "left in the output directory"
    );
    assert_eq!(files_under(&staging), Vec::<PathBuf>::new());
}

/// `--insecure-ignore-tlog IMAGE` (and every other true/false flag given bare before
/// an image) used to take the image as the flag's value: "invalid value 'IMAGE'".
/// As Go's pflag reads them, a bool flag takes a value only after `=`.
#[test]
fn regression_a_bare_bool_flag_does_not_swallow_the_image() {
    let bed = common::bed::Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    let (key, public) = bed.keys("k");
    let image = "registry.example.com/demo/app:v1";
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "--tlog-upload", image]));
    ok(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        "--insecure-ignore-tlog",
        image,
    ]));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), "--offline", image]));
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "--upload", image]));
    // and with a value, after `=`
    ok(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        "--insecure-ignore-tlog=true",
        image,
    ]));
}
