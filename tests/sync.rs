//! `airsign sync` against the real registry (Debian's docker-registry), checked by the
//! real cosign and skopeo: what lands verifies, keeps its digests and the
//! destination's own signatures, and a second sync sends nothing.

mod common;

use common::bed::{Bed, PASSWORD};

use std::path::Path;
use std::process::Command;

use common::oci::digest_of;
use common::registry::{Mode, Registry, Side};
use common::verifiers::*;
use common::*;
use serde_json::Value;
use tempfile::TempDir;

const SRC: &str = "registry.example.com/demo";

impl Bed {
    /// `airsign sync ARGS --json`: the report, the command having succeeded.
    fn sync_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["sync", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&ok(&mut self.cmd(&all))).unwrap()
    }
}

/// `skopeo inspect --raw`: the registry's bytes for `REPO:TAG`, `None` if absent.
fn raw_manifest(skopeo: &Path, reg: &Registry, image: &str) -> Option<Vec<u8>> {
    let out = run(Command::new(skopeo)
        .arg("inspect")
        .arg("--raw")
        .args(reg.skopeo_args(Side::Inspect, true))
        .arg(reg.docker_ref(image)));
    out.status.success().then_some(out.stdout)
}

/// The write requests a report counts.
fn writes(report: &Value) -> u64 {
    let r = &report["requests"];
    ["put", "post", "patch", "delete"]
        .iter()
        .map(|k| r[k].as_u64().unwrap())
        .sum()
}

/// The config and layers of a fixture's (single-manifest) image.
fn image_blobs(fixture: &str) -> u64 {
    let d = fixture_digest(fixture);
    let raw = std::fs::read(fixtures().join(fixture).join("blobs/sha256").join(&d[7..])).unwrap();
    let m: Value = serde_json::from_slice(&raw).unwrap();
    1 + m["layers"].as_array().unwrap().len() as u64
}

fn image<'a>(report: &'a Value, source: &str) -> &'a Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"] == source)
        .unwrap_or_else(|| panic!("{source} not in {report:#}"))
}

fn assert_cosign_verifies(cosign: &Path, reg: &Registry, key: &Path, image: &str) {
    let out = cosign_verify(cosign, reg, key, image, &[]);
    assert!(
        out.status.success(),
        "cosign verify {image} with {}: {}",
        key.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn synced_images_verify_with_cosign_and_skopeo_keep_digests_and_resync_sends_nothing() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    bed.import("multi", &format!("{SRC}/multi"));
    // the same image in another repository: its blobs are mounted, not sent again
    bed.import("single", &format!("{SRC}/copy"));
    // a second tag of the signed image: a digest reference syncs both tags
    bed.import("single", &format!("{SRC}/single:v2"));
    let (key, public) = bed.keys("k");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{host}/demo/single"),
        &format!("{SRC}/single:v1"),
    ]));
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "-r",
        "--identity",
        &format!("{host}/demo/multi"),
        &format!("{SRC}/multi:v1"),
    ]));

    let images = [
        format!("{SRC}/single@{}", fixture_digest("single")),
        format!("{SRC}/multi:v1"),
        format!("{SRC}/copy:v1"),
    ];
    let mut args: Vec<&str> = images.iter().map(String::as_str).collect();
    args.extend(["--to", &host]);
    let first = bed.sync_json(&args);
    assert!(writes(&first) > 0, "{first:#}");
    for i in first["images"].as_array().unwrap() {
        assert_eq!(i["status"], "pushed", "{first:#}");
    }
    // single and copy share their blobs and run at once (--jobs 4): each blob is
    // sent once, into whichever repository claimed it first, and mounted into the other
    let blobs = |i: &Value, k: &str| i["blobs"][k].as_u64().unwrap();
    let pair = [
        image(&first, &format!("{SRC}/single:v1")),
        image(&first, &format!("{SRC}/single:v2")),
        image(&first, &images[2]),
    ];
    let mounted: u64 = pair.iter().map(|i| blobs(i, "mounted")).sum();
    assert_eq!(mounted, image_blobs("single"), "{first:#}");
    let copy = pair[2];
    assert!(
        blobs(copy, "mounted") == image_blobs("single")
            || blobs(copy, "uploaded") == image_blobs("single"),
        "{copy:#}"
    );
    // both tags pushed; the .sig they share is accounted for under each
    let mut shared: Vec<&str> = ["v1", "v2"]
        .iter()
        .map(|t| {
            image(&first, &format!("{SRC}/single:{t}"))["artifacts"][0]["status"]
                .as_str()
                .unwrap()
        })
        .collect();
    shared.sort();
    assert_eq!(shared, ["present", "pushed"], "{first:#}");
    // one .sig for single, one per manifest of multi (-r)
    let multi = image(&first, &images[1]);
    assert!(
        multi["artifacts"].as_array().unwrap().len() >= 3,
        "{multi:#}"
    );
    assert!(first["missing_signatures"].as_array().unwrap().is_empty());

    // byte for byte: the registry's digests are the store's
    for (fixture, image) in [
        ("single", "single:v1"),
        ("single", "single:v2"),
        ("multi", "multi:v1"),
        ("single", "copy:v1"),
    ] {
        let raw = raw_manifest(&skopeo, &reg, &format!("demo/{image}")).unwrap();
        assert_eq!(digest_of(&raw), fixture_digest(fixture), "demo/{image}");
    }
    assert_cosign_verifies(&cosign, &reg, &public, "demo/single:v1");
    assert_cosign_verifies(&cosign, &reg, &public, "demo/multi:v1");
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/single:v1", false).unwrap();
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/multi:v1", true).unwrap();

    // a second sync: no uploads, no manifest PUTs, one HEAD per tag
    let second = bed.sync_json(&args);
    assert_eq!(writes(&second), 0, "{second:#}");
    // distinct tags: each image's, and each artifact tag once per repository
    let mut distinct = std::collections::BTreeSet::new();
    for i in second["images"].as_array().unwrap() {
        let dest = i["destination"].as_str().unwrap();
        distinct.insert(dest.to_owned());
        let repo = dest.rsplit_once(':').unwrap().0;
        for a in i["artifacts"].as_array().unwrap() {
            distinct.insert(format!("{repo}:{}", a["tag"].as_str().unwrap()));
        }
    }
    let tags = distinct.len();
    // beyond one HEAD per tag, only the per-host probe that finds a loopback
    // registry speaks plain HTTP (an HTTPS attempt, then GET /v2/)
    assert_eq!(second["requests"]["head"], tags as u64, "{second:#}");
    assert!(
        second["requests"]["total"].as_u64().unwrap() <= tags as u64 + 2,
        "{second:#}"
    );
    // with --plain-http there is no probe: exactly one request per tag
    let mut plain = args.clone();
    plain.push("--plain-http");
    let third = bed.sync_json(&plain);
    assert_eq!(third["requests"]["total"], tags as u64, "{third:#}");
    for i in second["images"].as_array().unwrap() {
        assert_eq!(i["status"], "present", "{second:#}");
    }
}

#[test]
fn tls_and_basic_auth_with_creds_and_ca_cert_and_wrong_creds_fail_in_one_line() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::TlsBasicAuth) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, public) = bed.keys("k");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{host}/demo/single"),
        &format!("{SRC}/single:v1"),
    ]));
    let ca = reg.ca_cert().unwrap();
    let image = format!("{SRC}/single:v1");

    // wrong password: one clear line naming the host, never the password
    let wrong = format!("{}:not-{}", reg.user(), reg.password());
    let err = fails(&mut bed.cmd(&[
        "sync",
        &image,
        "--to",
        &host,
        "--creds",
        &wrong,
        "--ca-cert",
        s(&ca),
    ]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("authentication failed") && err.contains(&host),
        "{err}"
    );
    assert!(!err.contains(reg.password()), "{err}");

    // without the CA, TLS verification refuses the registry
    let creds = reg.creds().unwrap();
    let err = fails(&mut bed.cmd(&["sync", &image, "--to", &host, "--creds", &creds]));
    assert!(err.contains(&host), "{err}");

    let report = bed.sync_json(&[
        &image,
        "--to",
        &host,
        "--creds",
        &creds,
        "--ca-cert",
        s(&ca),
    ]);
    assert_eq!(image_status(&report), "pushed");
    assert_cosign_verifies(&cosign, &reg, &public, "demo/single:v1");
}

fn image_status(report: &Value) -> &str {
    report["images"][0]["status"].as_str().unwrap()
}

#[test]
fn a_signature_already_at_the_destination_is_kept_and_merged() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, public) = bed.keys("k");
    let (other, other_pub) = bed.keys("other");
    let image = format!("{SRC}/single:v1");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{host}/demo/single"),
        &image,
    ]));
    let digest = fixture_digest("single");

    // the image reaches the registry first, and cosign signs it there
    let out = skopeo_push(&skopeo, &reg, &bed.store, &image, "demo/single:v1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let home = TempDir::new().unwrap();
    ok(Command::new(&cosign)
        .env("HOME", home.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign", "--key", s(&other), "--tlog-upload=false", "--yes"])
        .args(reg.cosign_args(true))
        .arg(format!("{host}/demo/single@{digest}")));
    let cosigns =
        raw_manifest(&skopeo, &reg, &format!("demo/single:{}", sig_tag(&digest))).unwrap();

    // the dry run sees the merge coming and writes nothing
    let plan = bed.sync_json(&[&image, "--to", &host, "--dry-run"]);
    assert_eq!(plan["images"][0]["status"], "present", "{plan:#}");
    assert_eq!(plan["images"][0]["artifacts"][0]["status"], "would-merge");
    assert_eq!(writes(&plan), 0, "{plan:#}");

    let report = bed.sync_json(&[&image, "--to", &host]);
    let sig = &report["images"][0]["artifacts"][0];
    assert_eq!(sig["status"], "merged", "{report:#}");
    assert_eq!(sig["kept_layers"], 1, "{report:#}");
    // both signatures verify: cosign's was kept, ours appended
    assert_cosign_verifies(&cosign, &reg, &other_pub, "demo/single:v1");
    assert_cosign_verifies(&cosign, &reg, &public, "demo/single:v1");
    let merged: Value = serde_json::from_slice(
        &raw_manifest(&skopeo, &reg, &format!("demo/single:{}", sig_tag(&digest))).unwrap(),
    )
    .unwrap();
    let cosigns: Value = serde_json::from_slice(&cosigns).unwrap();
    assert_eq!(merged["layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        merged["layers"][0], cosigns["layers"][0],
        "cosign's layer comes first"
    );

    // again: the destination holds all of ours, nothing is written
    let again = bed.sync_json(&[&image, "--to", &host]);
    assert_eq!(again["images"][0]["artifacts"][0]["status"], "contained");
    assert_eq!(writes(&again), 0, "{again:#}");
}

#[test]
fn strict_identity_refuses_before_sending_anything() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, _) = bed.keys("k");
    let image = format!("{SRC}/single:v1");
    // the identity is the store's repository, not the destination's
    ok(&mut bed.cmd(&["sign", "--key", s(&key), &image]));

    let err = fails(&mut bed.cmd(&["sync", &image, "--to", &host, "--strict-identity"]));
    assert!(
        err.contains("--strict-identity")
            && err.contains(&format!("{SRC}/single"))
            && err.contains(&format!("{host}/demo/single")),
        "{err}"
    );
    assert!(raw_manifest(&skopeo, &reg, "demo/single:v1").is_none());
    assert_eq!(
        reg.curl_status("/v2/demo/single/tags/list", false),
        Some(404)
    );

    // without it: a warning naming image, identity and destination, and the push
    let out = run(&mut bed.cmd(&["sync", &image, "--to", &host]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning")
            && err.contains(&image)
            && err.contains(&format!("{host}/demo/single")),
        "{err}"
    );
    assert!(raw_manifest(&skopeo, &reg, "demo/single:v1").is_some());
}

#[test]
fn dry_run_sends_no_writes_and_map_rewrites_repositories() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, _) = bed.keys("k");
    let image = format!("{SRC}/single:v1");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{host}/mapped/single"),
        &image,
    ]));
    let map = format!("{SRC}={host}/mapped");
    // --map wins over --to
    let plan = bed.sync_json(&[
        &image,
        "--to",
        "127.0.0.1:1/nowhere",
        "--map",
        &map,
        "--dry-run",
    ]);
    assert_eq!(writes(&plan), 0, "{plan:#}");
    let i = &plan["images"][0];
    assert_eq!(i["destination"], format!("{host}/mapped/single:v1"));
    assert_eq!(i["status"], "would-push");
    assert!(i["blobs"]["missing"].as_u64().unwrap() > 0, "{i:#}");
    assert!(i["blobs"]["bytes_sent"].as_u64().unwrap() > 0, "{i:#}");
    assert_eq!(i["artifacts"][0]["status"], "would-push");
    assert!(raw_manifest(&skopeo, &reg, "mapped/single:v1").is_none());

    // the human plan goes to stdout
    let out = ok(&mut bed.cmd(&["sync", &image, "--map", &map, "--dry-run"]));
    assert!(
        out.contains("would-push") && out.contains("missing"),
        "{out}"
    );

    // --all plans every image of the store, and never its artifacts as images
    let all = bed.sync_json(&["--all", "--map", &map, "--dry-run"]);
    assert_eq!(all["images"].as_array().unwrap().len(), 1, "{all:#}");
    assert_eq!(writes(&all), 0);

    bed.sync_json(&[&image, "--map", &map]);
    let plan = bed.sync_json(&[&image, "--map", &map, "--dry-run"]);
    assert_eq!(plan["images"][0]["status"], "present", "{plan:#}");
    assert_eq!(writes(&plan), 0);
}
