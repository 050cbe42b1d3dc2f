//! cosign 3's signatures — Sigstore bundles stored as OCI referrers — verified
//! offline by airsign (issue 10, item 1), with the real cosign 3.1.1 as the producer
//! and as the judge of what airsign prints.
mod common;

use common::bed::Bed;
use common::gotools::{ToolHome, cosign3_keys, cosign3_sign, ok2};
use common::registry::{Mode, Registry};
use common::verifiers::skopeo_push;
use common::*;
use serde_json::Value;

/// A registry holding the `single` fixture as `demo/app:v1`, signed by cosign 3.1.1
/// with its default (a bundle referrer, no `.sig`): (registry, home, public key,
/// digest).
fn signed_by_cosign3(
    fixture: &str,
    recursive: bool,
) -> Option<(Registry, ToolHome, std::path::PathBuf, String)> {
    let cosign3 = need!(Tool::Cosign3)?;
    let skopeo = need!(Tool::Skopeo)?;
    let reg = Registry::start(Mode::Plain)?;
    let out = skopeo_push(
        &skopeo,
        &reg,
        &fixtures().join(fixture),
        "v1",
        "demo/app:v1",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = fixture_digest(fixture);
    let home = ToolHome::new();
    let (key, public) = cosign3_keys(&cosign3, &home);
    let image = format!("{}/demo/app@{digest}", reg.host());
    if recursive {
        ok2(home
            .cmd(&cosign3)
            .args(["sign", "--recursive", "--key"])
            .arg(&key)
            .args(["--tlog-upload=false", "--use-signing-config=false", "--yes"])
            .arg(&image));
    } else {
        cosign3_sign(&cosign3, &home, &key, &image, false);
    }
    Some((reg, home, public, digest))
}

fn verify(bed: &Bed, key: &std::path::Path, image: &str) -> std::process::Output {
    run(&mut bed.cmd(&["verify", "--key", s(key), image]))
}

#[test]
fn a_cosign3_bundle_verifies_offline_with_its_key_and_prints_what_cosign_prints() {
    let Some((reg, home, public, digest)) = signed_by_cosign3("single", false) else {
        return;
    };
    let cosign3 = need!(Tool::Cosign3).unwrap();
    let image = format!("{}/demo/app:v1", reg.host());
    let bed = Bed::new();
    ok(&mut bed.cmd(&["pull", &image]));

    let out = verify(&bed, &public, &image);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("The signatures were verified against the specified public key"),
        "{stderr}"
    );
    let ours: Value = serde_json::from_str(stdout.trim()).unwrap();

    // cosign 3.1.1, online against the source, prints the same claims
    let (theirs, _) = ok2(home
        .cmd(&cosign3)
        .args(["verify", "--insecure-ignore-tlog=true", "--key"])
        .arg(&public)
        .arg(&image));
    let theirs: Value = serde_json::from_str(theirs.trim()).unwrap();
    assert_eq!(
        ours[0]["critical"]["image"]["docker-manifest-digest"], digest,
        "{ours}"
    );
    assert_eq!(ours, theirs, "what airsign and cosign 3.1.1 print");

    // another key: cosign's "no matching signatures", exit 12
    let other = ToolHome::new();
    let (_, other_pub) = cosign3_keys(&cosign3, &other);
    let out = verify(&bed, &other_pub, &image);
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no matching signatures"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn import_verify_key_admits_a_cosign3_signed_image_and_refuses_a_wrong_key() {
    let Some((reg, _home, public, _digest)) = signed_by_cosign3("single", false) else {
        return;
    };
    let cosign3 = need!(Tool::Cosign3).unwrap();
    let image = format!("{}/demo/app:v1", reg.host());
    let online = Bed::new();
    ok(&mut online.cmd(&["pull", &image]));
    let archive = online.path("carry.tar");
    ok(&mut online.cmd(&[
        "export",
        "--all",
        "--to",
        &format!("oci-archive:{}", s(&archive)),
    ]));

    let offline = Bed::new();
    ok(&mut offline.cmd(&[
        "import",
        &format!("oci-archive:{}", s(&archive)),
        "--verify-key",
        s(&public),
    ]));
    ok(&mut offline.cmd(&["verify", "--key", s(&public), &image]));

    let other = ToolHome::new();
    let (_, other_pub) = cosign3_keys(&cosign3, &other);
    let refused = Bed::new();
    let out = run(&mut refused.cmd(&[
        "import",
        &format!("oci-archive:{}", s(&archive)),
        "--verify-key",
        s(&other_pub),
    ]));
    assert!(!out.status.success());
}

#[test]
fn every_platform_of_a_recursively_signed_index_verifies_by_its_digest() {
    let Some((reg, _home, public, digest)) = signed_by_cosign3("multi", true) else {
        return;
    };
    let image = format!("{}/demo/app:v1", reg.host());
    let bed = Bed::new();
    ok(&mut bed.cmd(&["pull", &image]));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), &image]));
    let children = child_digests("multi");
    assert!(children.len() >= 2);
    for child in children {
        let by_digest = format!("{}/demo/app@{child}", reg.host());
        let out = ok(&mut bed.cmd(&["verify", "--key", s(&public), &by_digest]));
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            v[0]["critical"]["image"]["docker-manifest-digest"],
            child.as_str()
        );
    }
    assert!(!digest.is_empty());
}

#[test]
fn a_damaged_bundle_is_a_clear_refusal_not_a_pass() {
    let Some((reg, _home, public, digest)) = signed_by_cosign3("single", false) else {
        return;
    };
    let image = format!("{}/demo/app:v1", reg.host());
    let bed = Bed::new();
    ok(&mut bed.cmd(&["pull", &image]));
    // find the bundle blob in the store and corrupt its JSON
    let index: Value =
        serde_json::from_slice(&std::fs::read(bed.store.join("index.json")).unwrap()).unwrap();
    let listing = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .is_some_and(|n| n.ends_with(&digest.replace(':', "-")))
        })
        .expect("the bundle's listing");
    let blob = |d: &str| bed.store.join("blobs").join(d.replace(':', "/"));
    let listing: Value =
        serde_json::from_slice(&std::fs::read(blob(listing["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    let referrer: Value = serde_json::from_slice(
        &std::fs::read(blob(listing["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let bundle = blob(referrer["layers"][0]["digest"].as_str().unwrap());
    let mut bytes = std::fs::read(&bundle).unwrap();
    let pos = bytes.windows(4).position(|w| w == b"\"sig").unwrap();
    bytes[pos + 8] ^= 1;
    std::fs::write(&bundle, &bytes).unwrap();
    let out = verify(&bed, &public, &image);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(referrer["layers"][0]["digest"].as_str().unwrap()) || err.contains("corrupt"),
        "{err}"
    );
}

/// `airsign sign` (no format flag) on an image that already carries another party's
/// cosign 3 bundle writes a bundle beside its `.sig`: after sync, cosign 3.1.1 finds OUR bundle among the
/// bundles (it looks at bundles only, once there are any), cosign 2.5 and skopeo's
/// policy find our `.sig`, and airsign verifies either way.
#[test]
fn our_bundle_and_sig_beside_a_foreign_bundle_verify_with_cosign_3_cosign_2_and_skopeo() {
    let Some((reg, home, foreign_pub, digest)) = signed_by_cosign3("single", false) else {
        return;
    };
    let cosign3 = need!(Tool::Cosign3).unwrap();
    let cosign2 = need!(Tool::Cosign).unwrap();
    let skopeo = need!(Tool::Skopeo).unwrap();
    let dst = Registry::start(Mode::Plain).unwrap();
    let image = format!("{}/demo/app:v1", reg.host());
    let bed = Bed::new();
    ok(&mut bed.cmd(&["pull", &image]));
    let (key, public) = bed.keys("site");
    // the identity skopeo's matchRepository will see: the destination's repository
    let identity = format!("{}/demo/app", dst.host());
    let sign = [
        "sign",
        "--key",
        s(&key),
        "--new-bundle-format=both",
        "--identity",
        &identity,
        &image,
    ];
    ok(&mut bed.cmd(&sign));
    // signing again adds nothing: a new signature of the same statement (ECDSA
    // nonces differ), but the listing's bundle is that statement signed by this key
    // (cosign's duplicate rule, applied to bundles), and the .sig's layer likewise
    let before = std::fs::read(bed.store.join("index.json")).unwrap();
    ok(&mut bed.cmd(&sign));
    assert_eq!(std::fs::read(bed.store.join("index.json")).unwrap(), before);
    ok(&mut bed.cmd(&["verify", "--key", s(&public), &image]));
    ok(&mut bed.cmd(&["verify", "--key", s(&foreign_pub), &image]));

    // `signatures` lists all three, and says which verify with our key
    let listed = bed.signatures_json(&public, &image);
    let rows = common::bed::format_and_verified(&listed);
    let count = |f: &str, v: bool| rows.iter().filter(|r| r.0 == f && r.1 == v).count();
    assert_eq!(
        (
            count("sig", true),
            count("bundle", true),
            count("bundle", false)
        ),
        (1, 1, 1),
        "{rows:?}"
    );
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["subject"] == digest.as_str())
    );
    let table = ok(&mut bed.cmd(&["signatures", &image]));
    assert!(
        table.contains("FORMAT") && table.contains("bundle") && table.contains("sig"),
        "{table}"
    );

    ok(&mut bed.cmd(&["sync", &image, "--to", &dst.host(), "--plain-http"]));
    let there = format!("{}/demo/app:v1", dst.host());
    for (cosign, key) in [
        (&cosign3, &public),
        (&cosign3, &foreign_pub),
        (&cosign2, &public),
    ] {
        let (out, err) = ok2(home
            .cmd(cosign)
            .args(["verify", "--insecure-ignore-tlog=true", "--key"])
            .arg(key)
            .arg(&there));
        assert!(
            err.contains("verified against the specified public key"),
            "{err}"
        );
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            v[0]["critical"]["image"]["docker-manifest-digest"],
            digest.as_str()
        );
    }
    common::verifiers::skopeo_policy_verify(&skopeo, &dst, &public, "demo/app:v1", false).unwrap();
}

/// `--new-bundle-format=true`: a bundle referrer only, which cosign 3.1.1 verifies
/// after sync; no `.sig` is written, so cosign 2.5 finds nothing.
#[test]
fn a_bundle_only_signature_verifies_with_cosign_3_after_sync() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(cosign2) = need!(Tool::Cosign) else {
        return;
    };
    let Some(dst) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    let (key, public) = bed.keys("site");
    let image = "registry.example.com/demo/app:v1";
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "--new-bundle-format", image]));
    let names: Vec<String> = bed.index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_owned)
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".sig")), "{names:?}");
    assert!(names.iter().any(|n| n.contains(":sha256-")), "{names:?}");
    let out = ok(&mut bed.cmd(&["verify", "--key", s(&public), image]));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v[0]["critical"]["type"],
        "https://sigstore.dev/cosign/sign/v1"
    );

    ok(&mut bed.cmd(&["sync", image, "--to", &dst.host(), "--plain-http"]));
    let home = ToolHome::new();
    let there = format!("{}/demo/app:v1", dst.host());
    ok2(home
        .cmd(&cosign3)
        .args(["verify", "--insecure-ignore-tlog=true", "--key"])
        .arg(&public)
        .arg(&there));
    let out = run(home
        .cmd(&cosign2)
        .args(["verify", "--insecure-ignore-tlog=true", "--key"])
        .arg(&public)
        .arg(&there));
    assert!(
        !out.status.success(),
        "cosign 2.5 found a .sig that should not exist"
    );
}

/// Unset, the format is the `.sig` alone on an image without bundles (nothing more
/// to store or sync), and `both` writes the two.
#[test]
fn the_default_adds_a_bundle_only_beside_bundles_and_both_writes_the_two() {
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    bed.import("multi", "registry.example.com/demo/multi");
    let (key, _) = bed.keys("site");
    let names = |bed: &Bed| -> Vec<String> {
        bed.index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
            .map(str::to_owned)
            .collect()
    };
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "registry.example.com/demo/app:v1"]));
    let n = names(&bed);
    assert!(n.iter().any(|n| n.ends_with(".sig")), "{n:?}");
    assert!(
        !n.iter()
            .any(|n| n.contains("/demo/app:sha256-") && !n.ends_with(".sig")),
        "{n:?}"
    );
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--new-bundle-format=both",
        "registry.example.com/demo/multi:v1",
    ]));
    let n = names(&bed);
    assert!(
        n.iter()
            .any(|n| n.contains("/demo/multi:sha256-") && n.ends_with(".sig")),
        "{n:?}"
    );
    assert!(
        n.iter()
            .any(|n| n.contains("/demo/multi:sha256-") && !n.ends_with(".sig")),
        "{n:?}"
    );
}

/// `clean --type referrer` removes our bundle and leaves the `.sig`; `--type all`
/// removes both; gc takes their blobs.
#[test]
fn clean_removes_bundles_as_cosign_clean_does() {
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    let (key, public) = bed.keys("site");
    let image = "registry.example.com/demo/app:v1";
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "--new-bundle-format=both", image]));
    let formats = |bed: &Bed| -> Vec<String> {
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
    assert_eq!(formats(&bed), ["bundle", "sig"]);
    ok(&mut bed.cmd(&["clean", "--type", "referrer", "-f", image]));
    assert_eq!(formats(&bed), ["sig"]);
    ok(&mut bed.cmd(&["verify", "--key", s(&public), image]));
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "--new-bundle-format=true", image]));
    assert_eq!(formats(&bed), ["bundle", "sig"]);
    ok(&mut bed.cmd(&["clean", "-f", image]));
    assert!(formats(&bed).is_empty());
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), image]));
    assert_eq!(out.status.code(), Some(10));
    let fsck = ok(&mut bed.cmd(&["fsck"]));
    assert!(!fsck.contains("unreferenced"), "{fsck}");
}

/// A custom `--payload` is a simple-signing payload: it cannot be a bundle. Asking
/// for one is a usage error (exit 2, one line) that changes nothing in the store.
#[test]
fn a_payload_cannot_be_signed_as_a_bundle_and_nothing_changes() {
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    let (key, _) = bed.keys("site");
    let image = "registry.example.com/demo/app:v1";
    let payload = bed.path("payload.json");
    let generated = ok(&mut bed.cmd(&["generate", image]));
    std::fs::write(&payload, generated.trim_end()).unwrap();
    let before = snapshot(&bed.store);
    for format in ["--new-bundle-format=true", "--new-bundle-format=both"] {
        let out = run(&mut bed.cmd(&[
            "sign",
            "--key",
            s(&key),
            "--payload",
            s(&payload),
            format,
            image,
        ]));
        assert_eq!(out.status.code(), Some(2), "{format}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("--payload"), "{err}");
        assert_eq!(snapshot(&bed.store), before, "{format} changed the store");
    }
}
