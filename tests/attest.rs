//! `airsign attest` / `verify-attestation` (issue 10, item 4): attestations written
//! offline in both of cosign's formats — a Sigstore bundle referrer (cosign 3) and an
//! `.att` layer (cosign 2) — verified by the real cosign 3.1.1 and 2.5 after sync, and
//! attestations made by those cosigns verified by airsign after pull.
mod common;

use base64::Engine as _;
use common::bed::Bed;
use common::gotools::{ToolHome, cosign3_keys, ok2};
use common::registry::{Mode, Registry};
use common::verifiers::skopeo_push;
use common::*;
use serde_json::Value;

const PROVENANCE: &str =
    r#"{"buildType":"https://example.com/build/v1","builder":{"id":"https://ci.example.com"}}"#;

fn names(bed: &Bed) -> Vec<String> {
    bed.index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_owned)
        .collect()
}

/// The statement inside a printed envelope.
fn statement(envelope_line: &str) -> Value {
    let env: Value = serde_json::from_str(envelope_line).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

fn cosign_verify_attestation(
    cosign: &std::path::Path,
    home: &ToolHome,
    key: &std::path::Path,
    kind: &str,
    image: &str,
) -> std::process::Output {
    run(home
        .cmd(cosign)
        .args(["verify-attestation", "--insecure-ignore-tlog=true", "--key"])
        .arg(key)
        .args(["--type", kind, image]))
}

/// A store holding the `single` fixture as `registry.example.com/demo/app:v1`, a
/// key pair and a provenance predicate file.
fn bed_with_image() -> (
    Bed,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    let (key, public) = bed.keys("site");
    let predicate = bed.path("provenance.json");
    std::fs::write(&predicate, PROVENANCE).unwrap();
    (bed, key, public, predicate)
}

#[test]
fn a_bundle_attestation_verifies_with_cosign_3_after_sync() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(dst) = Registry::start(Mode::Plain) else {
        return;
    };
    let (bed, key, public, predicate) = bed_with_image();
    let image = "registry.example.com/demo/app:v1";
    let digest = fixture_digest("single");
    ok(&mut bed.cmd(&[
        "attest",
        "--key",
        s(&key),
        "--predicate",
        s(&predicate),
        "--type",
        "slsaprovenance",
        "--new-bundle-format=true",
        image,
    ]));
    let n = names(&bed);
    assert!(!n.iter().any(|n| n.ends_with(".att")), "{n:?}");
    assert!(
        n.iter()
            .any(|n| n.ends_with(&digest.replace("sha256:", "sha256-"))),
        "{n:?}"
    );

    // airsign reads it back: the envelope, and a statement as cosign 3.1.1 writes it
    let out = ok(&mut bed.cmd(&[
        "verify-attestation",
        "--key",
        s(&public),
        "--type",
        "slsaprovenance",
        image,
    ]));
    assert_eq!(out.lines().count(), 1, "{out}");
    let st = statement(out.trim());
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v0.1");
    assert_eq!(st["predicateType"], "https://slsa.dev/provenance/v0.2");
    assert_eq!(st["subject"][0]["name"], "registry.example.com/demo/app");
    assert_eq!(
        st["subject"][0]["digest"]["sha256"],
        digest.trim_start_matches("sha256:")
    );
    assert_eq!(
        st["predicate"],
        serde_json::from_str::<Value>(PROVENANCE).unwrap()
    );

    ok(&mut bed.cmd(&["sync", image, "--to", &dst.host(), "--plain-http"]));
    let there = format!("{}/demo/app:v1", dst.host());
    let home = ToolHome::new();
    let out = cosign_verify_attestation(&cosign3, &home, &public, "slsaprovenance", &there);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(statement(stdout.trim()), st, "what cosign 3.1.1 reads");

    // another type, another key: cosign refuses
    let out = cosign_verify_attestation(&cosign3, &home, &public, "spdx", &there);
    assert!(!out.status.success());
    let (_, other) = cosign3_keys(&cosign3, &home);
    let out = cosign_verify_attestation(&cosign3, &home, &other, "slsaprovenance", &there);
    assert!(!out.status.success());
}

#[test]
fn an_att_attestation_verifies_with_cosign_2_after_sync() {
    let Some(cosign2) = need!(Tool::Cosign) else {
        return;
    };
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(dst) = Registry::start(Mode::Plain) else {
        return;
    };
    let (bed, key, public, predicate) = bed_with_image();
    let image = "registry.example.com/demo/app:v1";
    ok(&mut bed.cmd(&[
        "attest",
        "--key",
        s(&key),
        "--predicate",
        s(&predicate),
        "--type",
        "slsaprovenance",
        "--new-bundle-format=false",
        image,
    ]));
    // and a custom one (the default type): any text, as {"Data","Timestamp"}
    let notes = bed.path("notes.txt");
    std::fs::write(&notes, "reviewed by <ops>\n").unwrap();
    ok(&mut bed.cmd(&["attest", "--key", s(&key), "--predicate", s(&notes), image]));
    let n = names(&bed);
    assert!(n.iter().any(|n| n.ends_with(".att")), "{n:?}");

    let out = ok(&mut bed.cmd(&["verify-attestation", "--key", s(&public), image]));
    let st = statement(out.trim());
    assert_eq!(
        st["predicateType"],
        "https://cosign.sigstore.dev/attestation/v1"
    );
    assert_eq!(st["predicate"]["Data"], "reviewed by <ops>\n");

    ok(&mut bed.cmd(&["sync", image, "--to", &dst.host(), "--plain-http"]));
    let there = format!("{}/demo/app:v1", dst.host());
    let home = ToolHome::new();
    for cosign in [&cosign2, &cosign3] {
        for kind in ["slsaprovenance", "custom"] {
            let out = cosign_verify_attestation(cosign, &home, &public, kind, &there);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{cosign:?} --type {kind}: {stderr}");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(stdout.lines().count(), 1, "{stdout}");
        }
    }
    let (_, other) = cosign3_keys(&cosign3, &home);
    let out = cosign_verify_attestation(&cosign2, &home, &other, "slsaprovenance", &there);
    assert!(!out.status.success());
}

#[test]
fn cosign_attestations_pulled_verify_with_airsign_as_cosign_prints_them() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(cosign2) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let out = skopeo_push(
        &skopeo,
        &reg,
        &fixtures().join("single"),
        "v1",
        "demo/app:v1",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = fixture_digest("single");
    let home = ToolHome::new();
    let (key, public) = cosign3_keys(&cosign3, &home);
    std::fs::write(home.path().join("p.json"), PROVENANCE).unwrap();
    std::fs::write(home.path().join("notes.txt"), "hello\n").unwrap();
    let by_digest = format!("{}/demo/app@{digest}", reg.host());
    // cosign 3.1.1: a bundle referrer; cosign 2.5: an .att layer
    ok2(home
        .cmd(&cosign3)
        .args(["attest", "--key"])
        .arg(&key)
        .args([
            "--tlog-upload=false",
            "--use-signing-config=false",
            "--yes",
            "--predicate",
            "p.json",
            "--type",
            "slsaprovenance",
            &by_digest,
        ]));
    ok2(home
        .cmd(&cosign2)
        .args(["attest", "--key"])
        .arg(&key)
        .args([
            "--tlog-upload=false",
            "--yes",
            "--predicate",
            "notes.txt",
            &by_digest,
        ]));

    let image = format!("{}/demo/app:v1", reg.host());
    let bed = Bed::new();
    ok(&mut bed.cmd(&["pull", &image]));
    let ours = ok(&mut bed.cmd(&[
        "verify-attestation",
        "--key",
        s(&public),
        "--type",
        "slsaprovenance",
        &image,
    ]));
    let out = cosign_verify_attestation(&cosign3, &home, &public, "slsaprovenance", &image);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8_lossy(&out.stdout);
    let parse = |s: &str| serde_json::from_str::<Value>(s.trim()).unwrap();
    assert_eq!(
        parse(&ours),
        parse(&theirs),
        "what airsign and cosign 3.1.1 print"
    );

    // the .att layer: printed as stored, as cosign 2.5 prints it
    let ours = ok(&mut bed.cmd(&["verify-attestation", "--key", s(&public), &image]));
    let out = cosign_verify_attestation(&cosign2, &home, &public, "custom", &image);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ours, String::from_utf8_lossy(&out.stdout));

    // another key, another type: refused, one line
    let other = ToolHome::new();
    let (_, other_pub) = cosign3_keys(&cosign3, &other);
    for (key, kind) in [(&other_pub, "slsaprovenance"), (&public, "spdx")] {
        let out = run(&mut bed.cmd(&[
            "verify-attestation",
            "--key",
            s(key),
            "--type",
            kind,
            &image,
        ]));
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn bad_predicates_and_types_are_one_line_refusals_that_write_nothing() {
    let (bed, key, _public, predicate) = bed_with_image();
    let image = "registry.example.com/demo/app:v1";
    let not_json = bed.path("notes.txt");
    std::fs::write(&not_json, "not json at all\n").unwrap();
    let array = bed.path("array.json");
    std::fs::write(&array, "[1,2]").unwrap();
    let missing = bed.path("missing.json");
    let before = std::fs::read(bed.store.join("index.json")).unwrap();
    let cases: [(&std::path::Path, &str, &str); 4] = [
        (&not_json, "slsaprovenance", "not JSON"),
        (&array, "https://example.com/p/v1", "not a JSON object"),
        (&missing, "slsaprovenance", "missing.json"),
        (&predicate, "bogus", "invalid predicate type"),
    ];
    for (file, kind, want) in cases {
        let out = run(&mut bed.cmd(&[
            "attest",
            "--key",
            s(&key),
            "--predicate",
            s(file),
            "--type",
            kind,
            image,
        ]));
        assert!(!out.status.success(), "{kind}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
        assert_eq!(
            std::fs::read(bed.store.join("index.json")).unwrap(),
            before,
            "{kind}: the store changed"
        );
    }
    // no attestation at all: verify-attestation says so and fails
    let out = run(&mut bed.cmd(&["verify-attestation", "--key", s(&key), image]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no matching attestations"), "{err}");
}

/// An attestation in an `oci:` layout and in an oci-archive, read back there.
#[test]
fn attestations_in_a_layout_and_an_archive() {
    let (bed, key, public, predicate) = bed_with_image();
    let image = "registry.example.com/demo/app:v1";
    let archive = bed.path("carry.tar");
    ok(&mut bed.cmd(&[
        "export",
        image,
        "--to",
        &format!("oci-archive:{}", s(&archive)),
    ]));
    let dir = bed.path("dir");
    ok(&mut bed.cmd(&["export", image, "--to", &format!("oci:{}", s(&dir))]));
    for target in [
        format!("oci-archive:{}:{image}", s(&archive)),
        format!("oci:{}:{image}", s(&dir)),
    ] {
        ok(&mut bed.cmd(&[
            "attest",
            "--key",
            s(&key),
            "--predicate",
            s(&predicate),
            "--type",
            "slsaprovenance1",
            "--new-bundle-format=both",
            &target,
        ]));
        let out = ok(&mut bed.cmd(&[
            "verify-attestation",
            "--key",
            s(&public),
            "--type",
            "https://slsa.dev/provenance/v1",
            &target,
        ]));
        assert_eq!(
            out.lines().count(),
            2,
            "{target}: the .att layer and the bundle: {out}"
        );
    }
}

/// Unset, the format is the `.att` alone on an image without bundles, and the
/// `.att` plus a bundle once the image carries bundles (here our own signature's),
/// so cosign 3 — which then reads only bundles — still finds the attestation.
#[test]
fn the_default_adds_a_bundle_attestation_only_beside_bundles() {
    let (bed, key, public, predicate) = bed_with_image();
    let image = "registry.example.com/demo/app:v1";
    let attest = [
        "attest",
        "--key",
        s(&key),
        "--type",
        "slsaprovenance",
        "--predicate",
        s(&predicate),
        image,
    ];
    ok(&mut bed.cmd(&attest));
    let listed = |bed: &Bed| -> Vec<String> {
        let out = ok(&mut bed.cmd(&["signatures", "--json", image]));
        let v: Value = serde_json::from_str(&out).unwrap();
        let mut f: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["format"].as_str().unwrap().to_owned())
            .collect();
        f.sort();
        f
    };
    assert_eq!(listed(&bed), ["att"]);
    // no referrers listing (`REPO:sha256-<hex>`, no suffix) was made
    let listings = |bed: &Bed| {
        names(bed)
            .iter()
            .filter(|n| {
                n.rsplit(':')
                    .next()
                    .is_some_and(|t| t.starts_with("sha256-") && !t.contains('.'))
            })
            .count()
    };
    assert_eq!(listings(&bed), 0, "{:?}", names(&bed));
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "--new-bundle-format=true", image]));
    ok(&mut bed.cmd(&attest));
    assert_eq!(listed(&bed), ["att", "att", "bundle", "bundle-attestation"]);
    assert_eq!(listings(&bed), 1, "{:?}", names(&bed));
    ok(&mut bed.cmd(&[
        "verify-attestation",
        "--key",
        s(&public),
        "--type",
        "slsaprovenance",
        image,
    ]));
}
