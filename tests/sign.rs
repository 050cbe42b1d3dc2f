//! Offline signing and verification, checked by the real cosign and skopeo: what
//! airsign signs in the store verifies in a registry, and what cosign and skopeo sign
//! in a registry verifies with airsign, offline.

mod common;

use common::bed::{Bed, PASSWORD};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::oci::digest_of;
use common::registry::{Mode, Registry};
use common::verifiers::*;
use common::*;
use serde_json::Value;
use tempfile::TempDir;

#[test]
fn signed_offline_verifies_with_cosign_and_skopeo_in_a_registry() {
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
    let single = format!("{}/demo/single", reg.host());
    let multi = format!("{}/demo/multi", reg.host());
    bed.import("single", &single);
    bed.import("multi", &multi);
    let (key, public) = bed.keys("k");
    let (_, wrong) = bed.keys("wrong");

    ok(&mut bed.cmd(&["sign", "--key", s(&key), &format!("{single}:v1")]));
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "-r", &format!("{multi}:v1")]));

    // airsign itself, offline
    ok(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        &format!("{single}:v1"),
        &format!("{multi}:v1"),
    ]));

    // push every tag byte for byte, as skopeo can: image, then its .sig tags
    let sd = fixture_digest("single");
    let md = fixture_digest("multi");
    for (name, dest) in [
        (format!("{single}:v1"), "demo/single:v1".to_string()),
        (
            format!("{single}:{}", sig_tag(&sd)),
            format!("demo/single:{}", sig_tag(&sd)),
        ),
        (format!("{multi}:v1"), "demo/multi:v1".to_string()),
    ]
    .into_iter()
    .chain(
        std::iter::once(md.clone())
            .chain(child_digests("multi"))
            .map(|d| {
                (
                    format!("{multi}:{}", sig_tag(&d)),
                    format!("demo/multi:{}", sig_tag(&d)),
                )
            }),
    ) {
        let out = skopeo_push(&skopeo, &reg, &bed.store, &name, &dest);
        assert!(
            out.status.success(),
            "push {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    for image in ["demo/single:v1", "demo/multi:v1"] {
        let out = cosign_verify(&cosign, &reg, &public, image, &[]);
        assert!(
            out.status.success(),
            "cosign verify {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = cosign_verify(&cosign, &reg, &wrong, image, &[]);
        assert!(
            !out.status.success(),
            "cosign accepted the wrong key for {image}"
        );
    }
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/single:v1", false).unwrap();
    // for an index, skopeo's policy checks every platform's own signature (-r)
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/multi:v1", true).unwrap();
    let err = skopeo_policy_verify(&skopeo, &reg, &wrong, "demo/single:v1", false).unwrap_err();
    assert!(
        err.contains("invalid signature") || err.contains("verification failed"),
        "{err}"
    );
}

#[test]
fn tampered_payloads_and_foreign_digest_claims_are_rejected_by_all_three() {
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
    let tampered = format!("{}/demo/tampered", reg.host());
    let claims = format!("{}/demo/claims", reg.host());
    bed.import("single", &tampered);
    bed.import("single", &claims);
    let (key, public) = bed.keys("k");
    let sd = fixture_digest("single");

    // 1. a valid signature whose payload is then changed by one byte
    ok(&mut bed.cmd(&["sign", "--key", s(&key), &format!("{tampered}:v1")]));
    tamper_payload(&bed, &format!("{tampered}:{}", sig_tag(&sd)));

    // 2. a valid signature over a payload claiming another digest (--payload)
    let other = "sha256:1914f5918b604c26e21d4cc7b51193b6853578839e3c17c1aa8e15dd5ec4292e";
    let foreign = bed.path("foreign.json");
    fs::write(
        &foreign,
        ok(&mut bed.cmd(&["generate", &format!("{claims}@{other}")])),
    )
    .unwrap();
    let out = run(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--payload",
        s(&foreign),
        &format!("{claims}:v1"),
    ]));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING: --payload claims"));

    for repo in [&tampered, &claims] {
        let out = run(&mut bed.cmd(&["verify", "--key", s(&public), &format!("{repo}:v1")]));
        assert_eq!(
            out.status.code(),
            Some(12),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
        let short = repo.split_once('/').unwrap().1;
        for name in [format!("{repo}:v1"), format!("{repo}:{}", sig_tag(&sd))] {
            let dest = format!("{short}:{}", name.rsplit_once(':').unwrap().1);
            assert!(
                skopeo_push(&skopeo, &reg, &bed.store, &name, &dest)
                    .status
                    .success()
            );
        }
        let out = cosign_verify(&cosign, &reg, &public, &format!("{short}:v1"), &[]);
        assert!(!out.status.success(), "cosign accepted {repo}");
        assert!(
            skopeo_policy_verify(&skopeo, &reg, &public, &format!("{short}:v1"), false).is_err()
        );
    }
}

/// Rewrites the `.sig` entry `name` so its payload differs by one byte while the
/// signature annotation stays: a new payload blob, config and manifest.
fn tamper_payload(bed: &Bed, name: &str) {
    let blob = |d: &str| bed.store.join("blobs/sha256").join(&d[7..]);
    let put = |bytes: &[u8]| {
        let d = digest_of(bytes);
        fs::write(blob(&d), bytes).unwrap();
        d
    };
    let mut index = bed.index();
    let entry = index["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap();
    let mut manifest: Value =
        serde_json::from_slice(&fs::read(blob(entry["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    let payload = fs::read(blob(manifest["layers"][0]["digest"].as_str().unwrap())).unwrap();
    let changed = String::from_utf8(payload)
        .unwrap()
        .replace("cosign container", "Cosign container");
    let pd = put(changed.as_bytes());
    let mut config: Value = serde_json::from_slice(
        &fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    config["rootfs"]["diff_ids"][0] = pd.clone().into();
    let config = serde_json::to_vec(&config).unwrap();
    manifest["config"]["digest"] = put(&config).into();
    manifest["config"]["size"] = config.len().into();
    manifest["layers"][0]["digest"] = pd.into();
    manifest["layers"][0]["size"] = changed.len().into();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    entry["digest"] = put(&manifest).into();
    entry["size"] = manifest.len().into();
    fs::write(
        bed.store.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

#[test]
fn cosign_and_skopeo_signatures_verify_with_airsign_offline() {
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
    let (_, wrong) = bed.keys("wrong");
    let single = fixtures().join("single");
    let sd = fixture_digest("single");

    // cosign 2.5 signs in the registry
    assert!(
        skopeo_push(&skopeo, &reg, &single, "v1", "demo/cosigned:v1")
            .status
            .success()
    );
    let home = TempDir::new().unwrap();
    ok(Command::new(&cosign)
        .env("HOME", home.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .args([
            "sign",
            "--key",
            s(&key),
            "--tlog-upload=false",
            "--yes",
            "-a",
            "by=cosign",
        ])
        .arg(format!("{}/demo/cosigned@{sd}", reg.host())));

    // skopeo 1.18 signs while copying (identity: the destination tag)
    let pass = bed.path("pass");
    fs::write(&pass, PASSWORD).unwrap();
    ok(Command::new(&skopeo)
        .args(["--insecure-policy", "--registries.d"])
        .arg(registries_d())
        .args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--sign-by-sigstore-private-key",
            s(&key),
            "--sign-passphrase-file",
            s(&pass),
        ])
        .arg(format!("oci:{}:v1", single.display()))
        .arg(format!("docker://{}/demo/skosigned:v1", reg.host())));

    for repo in ["cosigned", "skosigned"] {
        // bring image and signature back into a plain layout (bare tags), offline from here
        let layout = bed.path(&format!("{repo}-layout"));
        assert!(
            skopeo_pull(&skopeo, &reg, &format!("demo/{repo}:v1"), &layout, "v1")
                .status
                .success()
        );
        let out = skopeo_pull(
            &skopeo,
            &reg,
            &format!("demo/{repo}:{}", sig_tag(&sd)),
            &layout,
            &sig_tag(&sd),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let oci = format!("oci:{}:v1", layout.display());
        let out = ok(&mut bed.cmd(&["verify", "--key", s(&public), &oci]));
        let payloads: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            payloads[0]["critical"]["image"]["docker-manifest-digest"],
            sd.as_str()
        );
        let out = run(&mut bed.cmd(&["verify", "--key", s(&wrong), &oci]));
        assert_eq!(
            out.status.code(),
            Some(12),
            "{repo}: wrong key must not verify"
        );

        // and imported into the store, the signature comes along and still verifies
        let name = format!("{}/demo/{repo}", reg.host());
        ok(&mut bed.cmd(&[
            "import",
            &format!("oci:{}", layout.display()),
            "--repository",
            &name,
        ]));
        ok(&mut bed.cmd(&[
            "verify",
            "--key",
            s(&public),
            "-a",
            if repo == "cosigned" {
                "by=cosign"
            } else {
                "creator=containers/image 5.34.2"
            },
            &format!("{name}:v1"),
        ]));
    }
}

#[test]
fn output_signature_and_payload_verify_with_openssl() {
    let Some(openssl) = need!(Tool::Openssl) else {
        return;
    };
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/single");
    let (key, public) = bed.keys("k");
    let before = snapshot(&bed.store);
    let sig = bed.path("sig.b64");
    let payload = bed.path("payload.json");
    let cert = bed.path("cert.pem");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--upload=false",
        "--output-signature",
        s(&sig),
        "--output-payload",
        s(&payload),
        "--output-certificate",
        s(&cert),
        "registry.example.com/demo/single:v1",
    ]));
    assert_eq!(
        snapshot(&bed.store),
        before,
        "--upload=false must leave the layout untouched"
    );
    let b64 = fs::read_to_string(&sig).unwrap();
    assert!(!b64.ends_with('\n'), "cosign writes no trailing newline");
    assert_eq!(
        fs::read(&cert).unwrap(),
        fs::read(&public).unwrap(),
        "no certificate: the public key PEM"
    );
    // openssl verifies a base64 signature of the payload with the public key
    let der_path = bed.path("sig.der");
    let openssl_verifies = |b64: &str| {
        fs::write(&der_path, base64_decode(b64)).unwrap();
        let out = ok(Command::new(&openssl)
            .args([
                "dgst",
                "-sha256",
                "-verify",
                s(&public),
                "-signature",
                s(&der_path),
            ])
            .arg(&payload));
        assert!(out.contains("Verified OK"), "{out}");
    };
    openssl_verifies(&b64);

    // hedged nonces, as cosign's Go ECDSA: signing again gives another signature of
    // the same payload, which verifies as well
    let again = bed.path("sig2.b64");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--upload=false",
        "--output-signature",
        s(&again),
        "--output-payload",
        s(&bed.path("payload2.json")),
        "registry.example.com/demo/single:v1",
    ]));
    assert_ne!(fs::read(&again).unwrap(), b64.as_bytes());
    assert_eq!(
        fs::read(bed.path("payload2.json")).unwrap(),
        fs::read(&payload).unwrap()
    );
    openssl_verifies(&fs::read_to_string(&again).unwrap());
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap()
}

#[test]
fn signing_twice_dedupes_and_new_annotations_append() {
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/single");
    let (key, public) = bed.keys("k");
    let img = "registry.example.com/demo/single:v1";
    ok(&mut bed.cmd(&["sign", "--key", s(&key), img]));
    let first = bed.index();
    ok(&mut bed.cmd(&["sign", "--key", s(&key), img]));
    assert_eq!(
        bed.index(),
        first,
        "a duplicate signature must not change anything"
    );
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "-a", "env=prod", img]));
    let ls: Value = serde_json::from_str(&ok(&mut bed.cmd(&["ls", "--json"]))).unwrap();
    assert_eq!(ls[0]["signatures"], 2);
    // both verify; -a selects
    let out = ok(&mut bed.cmd(&["verify", "--key", s(&public), img]));
    assert_eq!(
        serde_json::from_str::<Value>(out.trim())
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let out = ok(&mut bed.cmd(&["verify", "--key", s(&public), "-a", "env=prod", img]));
    assert_eq!(
        serde_json::from_str::<Value>(out.trim())
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), "-a", "env=dev", img]));
    assert_eq!(out.status.code(), Some(12));
    ok(&mut bed.cmd(&["fsck"]));

    // Bundles too (cosign 3's format): a P-256 key file's ECDSA nonces are random, so
    // the second bundle's bytes differ, but it is the same statement signed by the
    // same key and is not added; another key's is.
    let bundle = |k: &Path| {
        let out = run(&mut bed.cmd(&["sign", "--key", s(k), "--new-bundle-format=true", img]));
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let without_bundle = bed.index();
    bundle(&key);
    let with_bundle = bed.index();
    assert_ne!(with_bundle, without_bundle, "the first bundle is added");
    let err = bundle(&key);
    assert_eq!(
        bed.index(),
        with_bundle,
        "a duplicate bundle must not change anything"
    );
    assert!(
        err.contains("an equal bundle is already there; skipped"),
        "{err}"
    );
    let (other, _) = bed.keys("other");
    bundle(&other);
    assert_ne!(bed.index(), with_bundle, "another key's bundle is added");
    ok(&mut bed.cmd(&["verify", "--key", s(&public), img]));
    ok(&mut bed.cmd(&["fsck"]));
}

#[test]
fn verify_exit_codes_follow_cosign() {
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/single");
    let (_, public) = bed.keys("k");
    let out = run(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        "registry.example.com/demo/single:v1",
    ]));
    assert_eq!(out.status.code(), Some(10), "no signatures");
    let out = run(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        "registry.example.com/demo/nope:v1",
    ]));
    assert_eq!(out.status.code(), Some(11), "image not found");
}

#[test]
fn kms_keys_get_an_offline_hint_and_bare_tags_need_an_identity() {
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/single");
    let err = fails(&mut bed.cmd(&[
        "sign",
        "--key",
        "awskms://alias/x",
        "registry.example.com/demo/single:v1",
    ]));
    assert!(err.contains("attach signature"), "{err}");
    let (key, public) = bed.keys("k");
    let layout = bed.path("copy");
    // a plain layout of bare tags: the identity must be given
    copy_dir(&fixtures().join("single"), &layout);
    let before = snapshot(&layout);
    let err = fails(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        &format!("oci:{}:v1", layout.display()),
    ]));
    assert!(err.contains("--identity"), "{err}");
    assert_eq!(snapshot(&layout), before);
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        "registry.example.com/demo/single",
        &format!("oci:{}:v1", layout.display()),
    ]));
    let out = ok(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        &format!("oci:{}:v1", layout.display()),
    ]));
    assert!(
        out.contains(r#""docker-reference":"registry.example.com/demo/single""#),
        "{out}"
    );
    let tags = fs::read_to_string(layout.join("index.json")).unwrap();
    assert!(
        tags.contains(&format!("\"{}\"", sig_tag(&fixture_digest("single")))),
        "{tags}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn seed_flow_generate_openssl_attach_verifies_with_cosign_and_skopeo() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(openssl) = need!(Tool::Openssl) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    let repo = format!("{}/demo/seed", reg.host());
    bed.import("single", &repo);
    let sd = fixture_digest("single");
    // an ordinary openssl key: the "signer elsewhere"
    let key = bed.path("ec.pem");
    let public = bed.path("ec.pub");
    ok(Command::new(&openssl).args([
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        s(&key),
    ]));
    ok(Command::new(&openssl).args(["ec", "-in", s(&key), "-pubout", "-out", s(&public)]));

    let payload = bed.path("payload.json");
    fs::write(
        &payload,
        ok(&mut bed.cmd(&["generate", &format!("{repo}:v1")])),
    )
    .unwrap();
    let der = bed.path("sig.der");
    ok(Command::new(&openssl).args([
        "dgst",
        "-sha256",
        "-sign",
        s(&key),
        "-out",
        s(&der),
        s(&payload),
    ]));
    // base64 with a trailing newline and a line break, as `base64` writes it
    let b64 = bed.path("sig.b64");
    ok(Command::new("sh")
        .arg("-c")
        .arg(format!("base64 -w 40 {} > {}", s(&der), s(&b64))));

    let before = snapshot(&bed.store);
    let (_, wrong) = bed.keys("wrong");
    let err = fails(&mut bed.cmd(&[
        "attach",
        "signature",
        "--payload",
        s(&payload),
        "--signature",
        s(&b64),
        "--key",
        s(&wrong),
        &format!("{repo}:v1"),
    ]));
    assert!(err.contains("does not verify"), "{err}");
    let err = fails(&mut bed.cmd(&[
        "attach",
        "signature",
        "--payload",
        s(&payload),
        "--signature",
        "bm90 IGJhc2U2NA%%",
        &format!("{repo}:v1"),
    ]));
    assert!(err.contains("base64"), "{err}");
    assert_eq!(
        snapshot(&bed.store),
        before,
        "refused attaches change nothing"
    );

    ok(&mut bed.cmd(&[
        "attach",
        "signature",
        "--payload",
        s(&payload),
        "--signature",
        s(&b64),
        "--key",
        s(&public),
        &format!("{repo}:v1"),
    ]));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), &format!("{repo}:v1")]));

    for (name, dest) in [
        (format!("{repo}:v1"), "demo/seed:v1".to_string()),
        (
            format!("{repo}:{}", sig_tag(&sd)),
            format!("demo/seed:{}", sig_tag(&sd)),
        ),
    ] {
        assert!(
            skopeo_push(&skopeo, &reg, &bed.store, &name, &dest)
                .status
                .success()
        );
    }
    let out = cosign_verify(&cosign, &reg, &public, "demo/seed:v1", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/seed:v1", false).unwrap();
}

#[test]
fn attach_reads_stdin_and_literal_base64_and_skips_exact_duplicates() {
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/single");
    let (key, public) = bed.keys("k");
    let img = "registry.example.com/demo/single:v1";
    let sig = bed.path("sig");
    let payload = bed.path("payload");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--upload=false",
        "--output-signature",
        s(&sig),
        "--output-payload",
        s(&payload),
        img,
    ]));
    let b64 = fs::read_to_string(&sig).unwrap();
    // literal base64 with whitespace around it
    ok(&mut bed.cmd(&[
        "attach",
        "signature",
        "--payload",
        s(&payload),
        "--signature",
        &format!("  {b64}\n"),
        img,
    ]));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), img]));
    // the same again, from stdin: nothing new
    let index = bed.index();
    let mut c = bed.cmd(&[
        "attach",
        "signature",
        "--payload",
        s(&payload),
        "--signature",
        "-",
        img,
    ]);
    c.stdin(fs::File::open(&sig).unwrap());
    ok(&mut c);
    assert_eq!(bed.index(), index);
}

#[test]
fn clean_removes_signatures_and_gc_their_blobs() {
    let bed = Bed::new();
    bed.import("multi", "registry.example.com/demo/multi");
    let blobs = || {
        fs::read_dir(bed.store.join("blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs();
    let (key, public) = bed.keys("k");
    let img = "registry.example.com/demo/multi:v1";
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "-r", img]));
    assert!(blobs() > before);
    // no terminal and no -f: refused, nothing removed
    let index = bed.index();
    let err = fails(&mut bed.cmd(&["clean", img]));
    assert!(err.contains("-f"), "{err}");
    assert_eq!(bed.index(), index);
    ok(&mut bed.cmd(&["clean", "-f", "--type", "signature", img]));
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), img]));
    assert_eq!(out.status.code(), Some(10));
    // the index's own .sig is gone; the children's (-r) stay until cleaned by digest
    let child = child_digests("multi")[0].clone();
    ok(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        &format!("registry.example.com/demo/multi@{child}"),
    ]));
    for c in child_digests("multi") {
        ok(&mut bed.cmd(&[
            "clean",
            "-f",
            &format!("registry.example.com/demo/multi@{c}"),
        ]));
    }
    assert_eq!(blobs(), before, "every signature blob was collected");
    ok(&mut bed.cmd(&["fsck"]));

    // gc removes an unreferenced blob and keeps the rest
    fs::write(
        bed.store
            .join("blobs/sha256")
            .join(&digest_of(b"orphan")[7..]),
        b"orphan",
    )
    .unwrap();
    let out = ok(&mut bed.cmd(&["gc", "--json"]));
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["removed_blobs"], 1);
    assert_eq!(blobs(), before);
    ok(&mut bed.cmd(&["fsck"]));
}

/// For the same layers, airsign's `.sig` manifest and config are cosign's bytes.
#[test]
fn sig_manifest_and_config_bytes_equal_cosigns() {
    use airsign::signature::{SigLayer, SignatureArtifact};
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
    let (key, _) = bed.keys("k");
    let sd = fixture_digest("single");
    assert!(
        skopeo_push(
            &skopeo,
            &reg,
            &fixtures().join("single"),
            "v1",
            "demo/golden:v1"
        )
        .status
        .success()
    );
    let home = TempDir::new().unwrap();
    // two signatures (cosign appends the second layer and re-marshals the config)
    for ann in ["first=1", "second=<2>"] {
        ok(Command::new(&cosign)
            .env("HOME", home.path())
            .env("COSIGN_PASSWORD", PASSWORD)
            .args([
                "sign",
                "--key",
                s(&key),
                "--tlog-upload=false",
                "--yes",
                "-a",
                ann,
            ])
            .arg(format!("{}/demo/golden@{sd}", reg.host())));
    }
    let layout = bed.path("golden");
    assert!(
        skopeo_pull(
            &skopeo,
            &reg,
            &format!("demo/golden:{}", sig_tag(&sd)),
            &layout,
            "sig"
        )
        .status
        .success()
    );
    let idx: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap();
    let cosign_manifest = blob(idx["manifests"][0]["digest"].as_str().unwrap());
    let m: Value = serde_json::from_slice(&cosign_manifest).unwrap();
    let cosign_config = blob(m["config"]["digest"].as_str().unwrap());

    let mut ours = SignatureArtifact::default();
    for l in m["layers"].as_array().unwrap() {
        ours.append(SigLayer {
            media_type: l["mediaType"].as_str().unwrap().to_owned(),
            digest: l["digest"].as_str().unwrap().parse().unwrap(),
            size: l["size"].as_u64().unwrap(),
            annotations: serde_json::from_value(l["annotations"].clone()).unwrap(),
        })
        .unwrap();
    }
    let (config, manifest) = ours.to_bytes();
    assert_eq!(
        String::from_utf8(config).unwrap(),
        String::from_utf8(cosign_config).unwrap()
    );
    assert_eq!(
        String::from_utf8(manifest).unwrap(),
        String::from_utf8(cosign_manifest).unwrap()
    );
}

#[test]
fn cosign_save_layouts_verify_offline() {
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
    let (_, wrong) = bed.keys("wrong");
    let sd = fixture_digest("single");
    assert!(
        skopeo_push(
            &skopeo,
            &reg,
            &fixtures().join("single"),
            "v1",
            "demo/saved:v1"
        )
        .status
        .success()
    );
    let home = TempDir::new().unwrap();
    let cosign_cmd = || {
        let mut c = Command::new(&cosign);
        c.env("HOME", home.path()).env("COSIGN_PASSWORD", PASSWORD);
        c
    };
    ok(cosign_cmd()
        .args(["sign", "--key", s(&key), "--tlog-upload=false", "--yes"])
        .arg(format!("{}/demo/saved@{sd}", reg.host())));
    let saved = bed.path("saved");
    ok(cosign_cmd()
        .args(["save", "--dir", s(&saved)])
        .arg(format!("{}/demo/saved:v1", reg.host())));
    let oci = format!("oci:{}", saved.display());
    let out = ok(&mut bed.cmd(&["verify", "--key", s(&public), &oci]));
    assert!(out.contains(&sd), "{out}");
    let out = run(&mut bed.cmd(&["verify", "--key", s(&wrong), &oci]));
    assert_eq!(out.status.code(), Some(12));
}

#[test]
fn triangulate_prints_what_cosign_prints() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let bed = Bed::new();
    let sd = fixture_digest("single");
    // a digest reference needs neither a registry nor the store
    for r in [
        format!("127.0.0.1:5000/team/app@{sd}"),
        format!("ubuntu@{sd}"),
    ] {
        for t in ["signature", "attestation", "sbom", "digest"] {
            let want = ok(Command::new(&cosign).env("HOME", bed.path("home")).args([
                "triangulate",
                "--type",
                t,
                &r,
            ]));
            let got = ok(&mut bed.cmd(&["triangulate", "--type", t, &r]));
            assert_eq!(got, want, "{t} {r}");
        }
    }
    // a tag is resolved in the store
    bed.import("single", "registry.example.com/demo/single");
    let got = ok(&mut bed.cmd(&["triangulate", "registry.example.com/demo/single:v1"]));
    assert_eq!(
        got,
        format!("registry.example.com/demo/single:{}\n", sig_tag(&sd))
    );
}

/// Regression (found by the sign benchmark): an --output-* file in a missing directory
/// failed only after the signatures were stored, leaving a half-done job.
#[test]
fn output_file_in_a_missing_directory_is_refused_before_anything_changes() {
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/single");
    let (key, _) = bed.keys("k");
    let before = snapshot(&bed.store);
    let missing = bed.path("no-such-dir/sig");
    let err = fails(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--output-signature",
        s(&missing),
        "registry.example.com/demo/single:v1",
    ]));
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(snapshot(&bed.store), before);
}

/// Regression (found by the demo): one digest signed under two repositories in one
/// call wrote two signatures to one file, keeping only the last.
#[test]
fn one_digest_under_two_repositories_keeps_both_output_signatures() {
    let Some(openssl) = need!(Tool::Openssl) else {
        return;
    };
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/a");
    bed.import("single", "registry.example.com/demo/b");
    bed.import("multi", "registry.example.com/demo/m");
    let (key, public) = bed.keys("k");
    let out = bed.path("sig");
    let payload = bed.path("payload");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--output-signature",
        s(&out),
        "--output-payload",
        s(&payload),
        "registry.example.com/demo/a:v1",
        "registry.example.com/demo/b:v1",
        "registry.example.com/demo/m:v1",
    ]));
    let sd = fixture_digest("single");
    let file = |base: &Path| PathBuf::from(format!("{}-{}", base.display(), sd.replace(':', "-")));
    let sigs = fs::read_to_string(file(&out)).unwrap();
    let payloads = fs::read_to_string(file(&payload)).unwrap();
    let sigs: Vec<&str> = sigs.split('\n').collect();
    let payloads: Vec<&str> = payloads.split('\n').collect();
    assert_eq!(sigs.len(), 2, "both signatures of {sd}");
    assert!(payloads[0].contains("demo/a") && payloads[1].contains("demo/b"));
    for (sig, p) in sigs.iter().zip(&payloads) {
        let der = bed.path("one.der");
        let pf = bed.path("one.json");
        fs::write(&der, base64_decode(sig)).unwrap();
        fs::write(&pf, p).unwrap();
        let o = ok(Command::new(&openssl).args([
            "dgst",
            "-sha256",
            "-verify",
            s(&public),
            "-signature",
            s(&der),
            s(&pf),
        ]));
        assert!(o.contains("Verified OK"));
    }
}

#[test]
fn signing_inside_an_oci_archive_rewrites_it_atomically() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let bed = Bed::new();
    let (key, public) = bed.keys("k");
    let dir = bed.path("usb");
    fs::create_dir(&dir).unwrap();
    let archive = dir.join("single.tar");
    fs::copy(fixtures().join("single.oci.tar"), &archive).unwrap();
    let oci = format!("oci-archive:{}:v1", archive.display());
    let sd = fixture_digest("single");

    // a wrong password: the archive is untouched and no work directory is left
    let before = fs::read(&archive).unwrap();
    let mut c = bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        "registry.example.com/demo/single",
        &oci,
    ]);
    c.env("COSIGN_PASSWORD", "wrong");
    fails(&mut c);
    assert_eq!(fs::read(&archive).unwrap(), before);
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        1,
        "only the archive is there"
    );

    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        "registry.example.com/demo/single",
        &oci,
    ]));
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        1,
        "no work directory is left"
    );
    let out = ok(&mut bed.cmd(&["verify", "--key", s(&public), &oci]));
    assert!(out.contains(&sd), "{out}");
    // the image is the same, byte for byte, and skopeo reads the new archive
    let raw = run(Command::new(&skopeo)
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}:v1", archive.display())));
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(digest_of(&raw.stdout), sd);
    let raw = run(Command::new(&skopeo)
        .args(["inspect", "--raw"])
        .arg(format!(
            "oci-archive:{}:{}",
            archive.display(),
            sig_tag(&sd)
        )));
    assert!(raw.status.success(), "the .sig is an entry skopeo can copy");

    // a zstd archive stays zstd and signs the same way
    bed.import("single", "registry.example.com/demo/single");
    let z = dir.join("z.tar.zst");
    ok(&mut bed.cmd(&[
        "export",
        "--all",
        "--to",
        &format!("oci-archive:{}", z.display()),
    ]));
    let zoci = format!(
        "oci-archive:{}:registry.example.com/demo/single:v1",
        z.display()
    );
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "-a", "where=usb", &zoci]));
    assert_eq!(
        &fs::read(&z).unwrap()[..4],
        &[0x28, 0xb5, 0x2f, 0xfd],
        "still zstd"
    );
    ok(&mut bed.cmd(&["verify", "--key", s(&public), "-a", "where=usb", &zoci]));
}

#[test]
fn attach_and_clean_work_inside_an_oci_archive_and_no_change_keeps_its_bytes() {
    let bed = Bed::new();
    let (key, public) = bed.keys("k");
    let dir = bed.path("usb");
    fs::create_dir(&dir).unwrap();
    let archive = dir.join("single.tar");
    fs::copy(fixtures().join("single.oci.tar"), &archive).unwrap();
    let oci = format!("oci-archive:{}:v1", archive.display());
    let id = "registry.example.com/demo/single";

    // a signature made with --upload=false leaves the archive as skopeo wrote it
    let sig = bed.path("sig");
    let payload = bed.path("payload");
    let original = fs::read(&archive).unwrap();
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        id,
        "--upload=false",
        "--output-signature",
        s(&sig),
        "--output-payload",
        s(&payload),
        &oci,
    ]));
    assert_eq!(fs::read(&archive).unwrap(), original);

    // attached into the archive, it verifies there
    ok(&mut bed.cmd(&[
        "attach",
        "signature",
        "--payload",
        s(&payload),
        "--signature",
        s(&sig),
        "--key",
        s(&public),
        &oci,
    ]));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), &oci]));
    // attaching it again changes nothing, not even the archive's bytes
    let signed = fs::read(&archive).unwrap();
    ok(&mut bed.cmd(&[
        "attach",
        "signature",
        "--payload",
        s(&payload),
        "--signature",
        s(&sig),
        &oci,
    ]));
    assert_eq!(fs::read(&archive).unwrap(), signed);

    // clean removes it from the archive
    ok(&mut bed.cmd(&["clean", "-f", &oci]));
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), &oci]));
    assert_eq!(
        out.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        1,
        "no work directory is left"
    );
}
