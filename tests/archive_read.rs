//! Reading archives in place and importing them: archives written by skopeo, split
//! into parts and zstd-compressed; ls/fsck/verify without unpacking; `cosign save`
//! dirs with their signatures; docker-archive; --rename, --verify-key; referrers
//! kept only in blobs/.

mod common;
#[path = "data/hostile/tarkit.rs"]
mod tarkit;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::oci::{MANIFEST, TestLayout, digest_of, named};
use common::registry::{Mode, Registry, Side};
use common::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const PASSWORD: &str = "correct horse";
/// fixtures/multi:v1 (and skopeo/:v1).
const MULTI: &str = "sha256:1914f5918b604c26e21d4cc7b51193b6853578839e3c17c1aa8e15dd5ec4292e";
/// fixtures/single:v1.
const SINGLE: &str = "sha256:87a0bbd518e444cc53593183783682d6864c23a69713509cd176ddb3cfbfb018";
/// The OCI manifest airsign builds for fixtures/single.docker.tar (the config and
/// the uncompressed layer as saved).
const DOCKER_SINGLE: &str =
    "sha256:1483335feb058766dc784ae74043949296087dc0e88e06fe8bcf9a3635c8021d";

struct Bed {
    tmp: TempDir,
    store: PathBuf,
}

impl Bed {
    fn new() -> Bed {
        let tmp = TempDir::new().unwrap();
        let store = tmp.path().join("store");
        ok(airsign(["store", "init", "--store"]).arg(&store));
        Bed { tmp, store }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_in(&self.store, args)
    }

    fn cmd_in(&self, store: &Path, args: &[&str]) -> Command {
        let mut c = airsign(["--store".as_ref(), store.as_os_str()]);
        c.args(args).env("COSIGN_PASSWORD", PASSWORD);
        c
    }

    fn ls(&self, store: &Path) -> Vec<Value> {
        serde_json::from_str(&ok(&mut self.cmd_in(store, &["ls", "--json"]))).unwrap()
    }

    fn digest_of_ref(&self, store: &Path, reference: &str) -> Option<String> {
        self.ls(store)
            .iter()
            .find(|e| e["reference"] == reference)
            .map(|e| e["digest"].as_str().unwrap().to_owned())
    }

    fn keys(&self, prefix: &str) -> (PathBuf, PathBuf) {
        let p = self.path(prefix);
        ok(&mut self.cmd(&["generate-key-pair", "--output-key-prefix", s(&p)]));
        (p.with_extension("key"), p.with_extension("pub"))
    }

    /// An archive of the store as it is (what an export writes, without airsign's
    /// private directory).
    fn store_archive(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        tarkit::layout_tar(&self.store).end().write(&p);
        p
    }
}

/// Writes `bytes` as numbered parts `BASE.000`, `.001`, … of `size` bytes.
fn split(bytes: &[u8], base: &Path, size: usize) -> PathBuf {
    for (i, chunk) in bytes.chunks(size).enumerate() {
        fs::write(format!("{}.{i:03}", base.display()), chunk).unwrap();
    }
    PathBuf::from(format!("{}.000", base.display()))
}

#[test]
fn in_place_ls_fsck_inspect_and_verify_on_the_fixture_archive() {
    let bed = Bed::new();
    let a = format!(
        "oci-archive:{}",
        fixtures().join("single.oci.tar").display()
    );
    let before = fs::read(fixtures().join("single.oci.tar")).unwrap();
    let listed: Vec<Value> =
        serde_json::from_str(&ok(&mut bed.cmd(&["ls", "--json", &a]))).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["digest"], SINGLE);
    assert_eq!(listed[0]["platforms"], json!(["linux/amd64"]));
    let report: Value = serde_json::from_str(&ok(&mut bed.cmd(&["fsck", "--json", &a]))).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["blobs"], 3);
    assert_eq!(report["images"][0]["signatures"], 0);
    let raw = run(&mut bed.cmd(&["inspect", &format!("{a}:v1")]));
    assert_eq!(digest_of(&raw.stdout), SINGLE);
    // Unsigned: verify answers as cosign does (exit 10), in place.
    let (_, public) = bed.keys("k");
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), &format!("{a}:v1")]));
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    // Nothing was unpacked or changed.
    assert_eq!(fs::read(fixtures().join("single.oci.tar")).unwrap(), before);
}

#[test]
fn skopeo_oci_archives_import_with_digests_unchanged_plain_split_and_zstd() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let bed = Bed::new();
    let tar = bed.path("multi.tar");
    ok(Command::new(&skopeo)
        .args(["--insecure-policy", "copy", "--all", "--quiet"])
        .arg(format!("oci:{}:v1", fixtures().join("multi").display()))
        .arg(format!("oci-archive:{}:v1", tar.display())));
    let bytes = fs::read(&tar).unwrap();
    let parts = split(&bytes, &bed.path("multi-split.tar"), 1000);
    let zst = bed.path("multi.tar.zst");
    fs::write(&zst, tarkit::zstd(&[tarkit::Z::Raw(&bytes)])).unwrap();
    let zst_parts = split(
        &fs::read(&zst).unwrap(),
        &bed.path("multi-split.tar.zst"),
        4096,
    );
    for (i, src) in [&tar, &parts, &zst, &zst_parts].into_iter().enumerate() {
        let repo = format!("registry.example.com/multi{i}");
        let a = format!("oci-archive:{}", src.display());
        // In place first: fsck hashes every blob, ls names the image.
        ok(&mut bed.cmd(&["fsck", &a]));
        let out = ok(&mut bed.cmd(&["import", &format!("{a}:v1"), "--repository", &repo]));
        assert!(out.contains(MULTI), "{out}");
        assert_eq!(
            bed.digest_of_ref(&bed.store, &format!("{repo}:v1"))
                .as_deref(),
            Some(MULTI)
        );
        let raw = run(&mut bed.cmd(&["inspect", &format!("{repo}:v1")]));
        assert_eq!(digest_of(&raw.stdout), MULTI);
    }
    // The second and later imports found every blob already there.
    let out = run(&mut bed.cmd(&[
        "import",
        &format!("oci-archive:{}", tar.display()),
        "--repository",
        "registry.example.com/again",
        "--json",
    ]));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["new_blobs"], 0, "{summary}");
    ok(&mut bed.cmd(&["fsck"]));
    // skopeo reads what arrived, by full reference.
    ok(Command::new(&skopeo)
        .args(["inspect", "--raw"])
        .arg(format!(
            "oci:{}:registry.example.com/multi2:v1",
            bed.store.display()
        )));
}

#[test]
fn a_signed_archive_verifies_in_place_and_imports_through_the_admission_gate() {
    let bed = Bed::new();
    let (key, public) = bed.keys("k");
    let (_, wrong) = bed.keys("wrong");
    for name in ["single", "multi"] {
        ok(&mut bed.cmd(&[
            "import",
            &format!("oci:{}", fixtures().join(name).display()),
            "--repository",
            &format!("registry.example.com/team/{name}"),
        ]));
    }
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "registry.example.com/team/single:v1",
    ]));
    let archive = bed.store_archive("signed.tar");
    let a = format!("oci-archive:{}", archive.display());

    // In place: verify passes, fsck lists the signature.
    ok(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        &format!("{a}:registry.example.com/team/single:v1"),
    ]));
    let fsck = ok(&mut bed.cmd(&["fsck", &a]));
    assert!(
        fsck.contains("image registry.example.com/team/single:v1")
            && fsck.contains("1 signature(s)"),
        "{fsck}"
    );

    // The other side: only the signed image passes the gate, with its signature;
    // the unsigned one is reported, and the run still succeeds.
    let other = bed.path("other");
    ok(&mut bed.cmd_in(&other, &["store", "init"]));
    let out = run(&mut bed.cmd_in(
        &other,
        &[
            "import",
            &a,
            "--verify-key",
            s(&public),
            "--rename",
            "registry.example.com=mirror.internal",
            "--json",
        ],
    ));
    assert!(out.status.success(), "{out:?}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["images"].as_array().unwrap().len(), 1, "{summary}");
    assert_eq!(
        summary["images"][0]["reference"],
        "mirror.internal/team/single:v1"
    );
    assert_eq!(
        summary["refused"][0]["reference"],
        "mirror.internal/team/multi:v1"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused mirror.internal/team/multi:v1"),
        "{stderr}"
    );
    let sig = format!(
        "mirror.internal/team/single:{}.sig",
        SINGLE.replace(':', "-")
    );
    assert!(
        bed.digest_of_ref(&other, &sig).is_some(),
        "{:?}",
        bed.ls(&other)
    );
    assert!(
        bed.digest_of_ref(&other, "mirror.internal/team/multi:v1")
            .is_none()
    );
    ok(&mut bed.cmd_in(
        &other,
        &[
            "verify",
            "--key",
            s(&public),
            "mirror.internal/team/single:v1",
        ],
    ));
    ok(&mut bed.cmd_in(&other, &["fsck"]));

    // A wrong key admits nothing: exit 1, the store unchanged.
    let third = bed.path("third");
    ok(&mut bed.cmd_in(&third, &["store", "init"]));
    let before = snapshot(&third);
    let out = run(&mut bed.cmd_in(&third, &["import", &a, "--verify-key", s(&wrong)]));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no image passed --verify-key"));
    assert_eq!(before, snapshot(&third));
}

#[test]
fn naming_one_image_brings_its_signature_along() {
    let bed = Bed::new();
    let (key, _) = bed.keys("k");
    ok(&mut bed.cmd(&[
        "import",
        &format!("oci:{}", fixtures().join("single").display()),
        "--repository",
        "registry.example.com/team/single",
    ]));
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "registry.example.com/team/single:v1",
    ]));
    let archive = bed.store_archive("one.tar");
    let other = bed.path("other");
    ok(&mut bed.cmd_in(&other, &["store", "init"]));
    ok(&mut bed.cmd_in(
        &other,
        &[
            "import",
            &format!(
                "oci-archive:{}:registry.example.com/team/single:v1",
                archive.display()
            ),
        ],
    ));
    let refs: Vec<String> = bed
        .ls(&other)
        .iter()
        .map(|e| e["reference"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(refs.len(), 2, "{refs:?}");
    assert!(refs.iter().any(|r| r.ends_with(".sig")), "{refs:?}");
}

#[test]
fn docker_archive_imports_with_a_warning_and_skopeo_reads_the_result() {
    let bed = Bed::new();
    let out = run(&mut bed.cmd(&[
        "import",
        &format!(
            "docker-archive:{}",
            fixtures().join("single.docker.tar").display()
        ),
    ]));
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be preserved"), "{stderr}");
    assert_eq!(
        bed.digest_of_ref(&bed.store, "registry.example.com/demo/single:v1")
            .as_deref(),
        Some(DOCKER_SINGLE)
    );
    ok(&mut bed.cmd(&["fsck"]));
    if let Some(skopeo) = need!(Tool::Skopeo) {
        let raw = ok(Command::new(&skopeo)
            .args(["inspect", "--raw"])
            .arg(format!(
                "oci:{}:registry.example.com/demo/single:v1",
                bed.store.display()
            )));
        assert_eq!(digest_of(raw.as_bytes()), DOCKER_SINGLE);
        ok(Command::new(&skopeo).args(["inspect"]).arg(format!(
            "oci:{}:registry.example.com/demo/single:v1",
            bed.store.display()
        )));
    }
    // A docker-archive entry that manifest.json does not name is refused.
    let mut bytes = fs::read(fixtures().join("single.docker.tar")).unwrap();
    let end = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
    bytes.truncate(end.div_ceil(512) * 512);
    let mut t = tarkit::Tar::new();
    t.raw(&bytes).file("extra.sh", b"#!/bin/sh\n").end();
    let bad = bed.path("extra.docker.tar");
    t.write(&bad);
    let before = snapshot(&bed.store);
    let err = fails(&mut bed.cmd(&["import", &format!("docker-archive:{}", bad.display())]));
    assert!(err.contains("extra.sh"), "{err}");
    assert_eq!(before, snapshot(&bed.store));
}

#[test]
fn untagged_referrers_come_along_under_the_fallback_tag() {
    let bed = Bed::new();
    let src = TestLayout::new(&bed.path("src"));
    let (img, raw) = src.image("amd64", "referred");
    let img_digest = img["digest"].as_str().unwrap().to_owned();
    // A cosign 3-style bundle referrer, only in blobs/ (as cosign save leaves it).
    let empty = src.desc("application/vnd.oci.empty.v1+json", b"{}");
    let bundle = src.desc(
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        b"{\"bundle\":1}",
    );
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "config": empty, "layers": [bundle],
        "subject": {"mediaType": MANIFEST, "digest": img_digest, "size": raw.len()},
        "annotations": {"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"}
    }))
    .unwrap();
    let r = src.desc(MANIFEST, &referrer);
    src.set_index(&[named(img, "v1")]);
    ok(&mut bed.cmd(&[
        "import",
        &format!("oci:{}", src.root.display()),
        "--repository",
        "registry.example.com/ref",
    ]));
    let fallback = format!("registry.example.com/ref:{}", img_digest.replace(':', "-"));
    let raw_index = ok(&mut bed.cmd(&["inspect", &fallback]));
    let index: Value = serde_json::from_str(&raw_index).unwrap();
    assert_eq!(index["manifests"][0]["digest"], r["digest"], "{index}");
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );

    // An oras/regctl-style layout of the same image with its own fallback tag
    // (listing an SBOM referrer): the store's fallback index becomes the union.
    let src2 = TestLayout::new(&bed.path("src2"));
    let (img2, raw2) = src2.image("amd64", "referred");
    assert_eq!(img2["digest"], img_digest.as_str());
    let sbom_layer = src2.desc("application/spdx+json", b"{\"spdx\":true}");
    let empty2 = src2.desc("application/vnd.oci.empty.v1+json", b"{}");
    let sbom = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/spdx+json",
        "config": empty2, "layers": [sbom_layer],
        "subject": {"mediaType": MANIFEST, "digest": img_digest, "size": raw2.len()}
    }))
    .unwrap();
    let mut s_desc = src2.desc(MANIFEST, &sbom);
    s_desc["artifactType"] = json!("application/spdx+json");
    let fallback_index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": common::oci::INDEX, "manifests": [s_desc]
    }))
    .unwrap();
    let f_desc = src2.desc(common::oci::INDEX, &fallback_index);
    src2.set_index(&[
        named(img2, "v1"),
        named(f_desc, &img_digest.replace(':', "-")),
    ]);
    ok(&mut bed.cmd(&[
        "import",
        &format!("oci:{}", src2.root.display()),
        "--repository",
        "registry.example.com/ref",
    ]));
    let index: Value = serde_json::from_str(&ok(&mut bed.cmd(&["inspect", &fallback]))).unwrap();
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{index}");
    assert!(listed.contains(&r["digest"].as_str().unwrap()), "{index}");
    assert!(
        listed.contains(&s_desc["digest"].as_str().unwrap()),
        "{index}"
    );
    ok(&mut bed.cmd(&["fsck"]));
}

#[test]
fn cosign_save_dirs_import_with_their_signatures_and_verify() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    let (key, public) = bed.keys("k");
    ok(Command::new(&skopeo)
        .arg("--insecure-policy")
        .arg("copy")
        .args(reg.skopeo_args(Side::Dest, false))
        .arg(format!("oci:{}:v1", fixtures().join("single").display()))
        .arg(reg.docker_ref("demo/saved:v1")));
    let home = TempDir::new().unwrap();
    ok(Command::new(&cosign)
        .env("HOME", home.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign", "--key", s(&key), "--tlog-upload=false", "--yes"])
        .arg(format!("{}/demo/saved@{SINGLE}", reg.host())));
    let saved = bed.path("saved");
    ok(Command::new(&cosign)
        .env("HOME", home.path())
        .args(["save", "--dir"])
        .arg(&saved)
        .arg(format!("{}/demo/saved:v1", reg.host())));
    let src = format!("oci:{}", saved.display());

    // Unnamed entries with a bare repository are named by their digest.
    let by_digest = Bed::new();
    ok(&mut by_digest.cmd(&["import", &src, "--repository", "registry.example.com/saved"]));
    assert_eq!(
        by_digest
            .digest_of_ref(
                &by_digest.store,
                &format!("registry.example.com/saved@{SINGLE}")
            )
            .as_deref(),
        Some(SINGLE),
        "{:?}",
        by_digest.ls(&by_digest.store)
    );

    let out = ok(&mut bed.cmd(&[
        "import",
        &src,
        "--repository",
        "registry.example.com/saved:v1",
    ]));
    assert!(out.contains(SINGLE), "{out}");
    let sig = format!(
        "registry.example.com/saved:{}.sig",
        SINGLE.replace(':', "-")
    );
    assert!(
        bed.digest_of_ref(&bed.store, &sig).is_some(),
        "{:?}",
        bed.ls(&bed.store)
    );
    assert_eq!(
        bed.digest_of_ref(&bed.store, "registry.example.com/saved:v1")
            .as_deref(),
        Some(SINGLE)
    );
    ok(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        "registry.example.com/saved:v1",
    ]));
    // The admission gate reads cosign's layout too.
    let other = bed.path("other");
    ok(&mut bed.cmd_in(&other, &["store", "init"]));
    ok(&mut bed.cmd_in(
        &other,
        &[
            "import",
            &src,
            "--repository",
            "registry.example.com/saved:v1",
            "--verify-key",
            s(&public),
        ],
    ));
    ok(&mut bed.cmd_in(
        &other,
        &[
            "verify",
            "--key",
            s(&public),
            "registry.example.com/saved:v1",
        ],
    ));
}

/// Regression (found by the demo): one image in two repositories, each with its own
/// signature; import filed both `.sig` entries under one repository, so the other
/// image lost its signature.
#[test]
fn one_digest_in_two_repositories_keeps_each_repositorys_signature() {
    let tmp = tempfile::TempDir::new().unwrap();
    let store = tmp.path().join("store");
    let other = tmp.path().join("other");
    let key = tmp.path().join("k");
    let cmd = |s: &std::path::Path, args: &[&str]| {
        let mut c = airsign(["--store".as_ref(), s.as_os_str()]);
        c.args(args).env("COSIGN_PASSWORD", "pw");
        c
    };
    ok(&mut cmd(&store, &["store", "init"]));
    ok(&mut cmd(&other, &["store", "init"]));
    ok(&mut cmd(
        &store,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            key.to_str().unwrap(),
        ],
    ));
    let single = format!("oci:{}", fixtures().join("single").display());
    for repo in ["registry.example.com/demo/a", "registry.example.com/demo/b"] {
        ok(&mut cmd(&store, &["import", &single, "--repository", repo]));
        ok(&mut cmd(
            &store,
            &[
                "sign",
                "--key",
                key.with_extension("key").to_str().unwrap(),
                &format!("{repo}:v1"),
            ],
        ));
    }
    let tar = tmp.path().join("x.tar");
    ok(&mut cmd(
        &store,
        &[
            "export",
            "--all",
            "--to",
            &format!("oci-archive:{}", tar.display()),
        ],
    ));
    ok(&mut cmd(
        &other,
        &["import", &format!("oci-archive:{}", tar.display())],
    ));
    for repo in ["registry.example.com/demo/a", "registry.example.com/demo/b"] {
        let out = ok(&mut cmd(
            &other,
            &[
                "verify",
                "--key",
                key.with_extension("pub").to_str().unwrap(),
                &format!("{repo}:v1"),
            ],
        ));
        assert!(
            out.contains(&format!("\"docker-reference\":\"{repo}\"")),
            "{repo}: {out}"
        );
    }
}

/// Regression: `import --verify-key` (and `import SRC REF`) brought only the `.sig`
/// of the image's own digest, dropping the per-platform signatures `sign -r` makes,
/// which a skopeo policy checks on each platform.
#[test]
fn regression_import_keeps_the_platform_signatures_of_an_admitted_index() {
    let bed = Bed::new();
    let (key, public) = bed.keys("k");
    let repo = "registry.example.com/team/multi";
    ok(&mut bed.cmd(&[
        "import",
        &format!("oci:{}", fixtures().join("multi").display()),
        "--repository",
        repo,
    ]));
    ok(&mut bed.cmd(&["sign", "-r", "--key", s(&key), &format!("{repo}:v1")]));
    let a = format!("oci-archive:{}", bed.store_archive("signed.tar").display());
    let children = child_digests("multi");
    assert!(children.len() >= 2);

    for (dir, extra) in [
        ("gated", vec!["--verify-key", s(&public)]),
        ("named", vec![]),
    ] {
        let other = bed.path(dir);
        ok(&mut bed.cmd_in(&other, &["store", "init"]));
        let mut args = vec!["import", a.as_str()];
        if dir == "named" {
            args.push("registry.example.com/team/multi:v1");
        }
        args.extend(extra.iter().copied());
        ok(&mut bed.cmd_in(&other, &args));
        for d in std::iter::once(MULTI.to_string()).chain(children.iter().cloned()) {
            let sig = format!("{repo}:{}", sig_tag(&d));
            assert!(
                bed.digest_of_ref(&other, &sig).is_some(),
                "{dir}: {sig} missing: {:?}",
                bed.ls(&other)
            );
            ok(&mut bed.cmd_in(
                &other,
                &["verify", "--key", s(&public), &format!("{repo}@{d}")],
            ));
        }
    }
}

/// Regression: importing a `.sig` the store already held under the same name with
/// other signatures replaced it, silently dropping the store's signatures. Now both
/// sets are kept (pull and sync merge the same way), and importing again changes
/// nothing.
#[test]
fn regression_import_merges_a_signature_the_store_already_holds() {
    let bed = Bed::new();
    let (k1, p1) = bed.keys("one");
    let (k2, p2) = bed.keys("two");
    let image = "registry.example.com/team/single:v1";
    // the far side's store: the image signed with key one
    let far = bed.path("far");
    ok(&mut bed.cmd_in(&far, &["store", "init"]));
    let fixture = format!("oci:{}", fixtures().join("single").display());
    ok(&mut bed.cmd_in(
        &far,
        &[
            "import",
            &fixture,
            "--repository",
            "registry.example.com/team/single",
        ],
    ));
    ok(&mut bed.cmd_in(&far, &["sign", "--key", s(&k1), image]));
    // this side: the same image signed with key two, carried over in an archive
    ok(&mut bed.cmd(&[
        "import",
        &fixture,
        "--repository",
        "registry.example.com/team/single",
    ]));
    ok(&mut bed.cmd(&["sign", "--key", s(&k2), image]));
    let a = format!("oci-archive:{}", bed.store_archive("two.tar").display());

    let out = run(&mut bed.cmd_in(&far, &["import", &a]));
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("merged registry.example.com/team/single:"),
        "{stderr}"
    );
    for public in [&p1, &p2] {
        let out = ok(&mut bed.cmd_in(&far, &["verify", "--key", s(public), image]));
        assert!(out.contains("docker-manifest-digest"), "{out}");
    }
    ok(&mut bed.cmd_in(&far, &["fsck"]));
    // again: the store's .sig already holds every signature of the archive's
    let before = bed.digest_of_ref(
        &far,
        &format!("registry.example.com/team/single:{}", sig_tag(SINGLE)),
    );
    let out = run(&mut bed.cmd_in(&far, &["import", &a]));
    assert!(out.status.success(), "{out:?}");
    let after = bed.digest_of_ref(
        &far,
        &format!("registry.example.com/team/single:{}", sig_tag(SINGLE)),
    );
    assert_eq!(before, after);
    for public in [&p1, &p2] {
        ok(&mut bed.cmd_in(&far, &["verify", "--key", s(public), image]));
    }
}
