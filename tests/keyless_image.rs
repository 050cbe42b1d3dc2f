//! Keyless verification of images offline (issue 10, items 2 and 6): `verify
//! --trusted-root` over Sigstore bundle referrers and legacy `.sig` layers with a
//! Fulcio certificate and a Rekor bundle annotation, `signatures --trusted-root`,
//! and the `import --trusted-root` admission gate.
//!
//! Producers of keyless material: Sigstore's public-good instance, through the
//! sigstore-conformance cases (a real Fulcio certificate, a real Rekor SET, a real
//! CT log's SCT; `Tool::Conformance`).
mod common;

use std::path::Path;

use base64::Engine as _;
use common::oci::{CONFIG, MANIFEST, TestLayout, named};
use common::*;
use serde_json::{Value, json};

const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const CONFORMANCE_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const CONFORMANCE_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn pem(der: &[u8]) -> String {
    let body = b64(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// A `.sig` manifest (cosign's shape) over `layers` (payload, annotations).
fn sig_manifest(layout: &TestLayout, layers: &[(Vec<u8>, Value)]) -> Value {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (payload, annotations) in layers {
        let mut d = layout.desc(SIMPLESIGNING, payload);
        diff_ids.push(d["digest"].clone());
        d["annotations"] = annotations.clone();
        descs.push(d);
    }
    let history: Vec<Value> = layers
        .iter()
        .map(|_| json!({"created": "0001-01-01T00:00:00Z"}))
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "created": "0001-01-01T00:00:00Z", "history": history,
        "os": "", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}
    }))
    .unwrap();
    let config_d = layout.desc(CONFIG, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "config": config_d, "layers": descs
    }))
    .unwrap();
    layout.desc(MANIFEST, &manifest)
}

/// The conformance case `happy-path-v0.1` (a message signature over `a.txt`,
/// logged in Rekor as a hashedrekord) turned into a legacy `.sig` layer: the
/// payload is `a.txt`, so every keyless check can pass and only the payload's claim
/// (it is not a simple-signing payload for the image) fails.
struct Conformance {
    dir: std::path::PathBuf,
    payload: Vec<u8>,
    annotations: Value,
}

fn conformance() -> Option<Conformance> {
    let dir = need!(Tool::Conformance)?;
    let bundle: Value = serde_json::from_slice(
        &std::fs::read(dir.join("bundle-verify/happy-path-v0.1/bundle.sigstore.json")).unwrap(),
    )
    .unwrap();
    let vm = &bundle["verificationMaterial"];
    let cert = unb64(
        vm["x509CertificateChain"]["certificates"][0]["rawBytes"]
            .as_str()
            .unwrap(),
    );
    let e = &vm["tlogEntries"][0];
    let log_id: String = unb64(e["logId"]["keyId"].as_str().unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let rekor_bundle = json!({
        "SignedEntryTimestamp": e["inclusionPromise"]["signedEntryTimestamp"],
        "Payload": {
            "body": e["canonicalizedBody"],
            "integratedTime": e["integratedTime"].as_str().unwrap().parse::<i64>().unwrap(),
            "logIndex": e["logIndex"].as_str().unwrap().parse::<i64>().unwrap(),
            "logID": log_id,
        }
    });
    let annotations = json!({
        "dev.cosignproject.cosign/signature": bundle["messageSignature"]["signature"],
        "dev.sigstore.cosign/certificate": pem(&cert),
        "dev.sigstore.cosign/chain": "",
        "dev.sigstore.cosign/bundle": rekor_bundle.to_string(),
    });
    Some(Conformance {
        payload: std::fs::read(dir.join("bundle-verify/a.txt")).unwrap(),
        dir,
        annotations,
    })
}

/// A layout holding one image `example.com/app:v1` with a `.sig` of `layers`;
/// returns the image's digest.
fn layout_with_sig(root: &Path, layers: &[(Vec<u8>, Value)]) -> String {
    let layout = TestLayout::new(root);
    let (image, _) = layout.image("amd64", "keyless");
    let digest = image["digest"].as_str().unwrap().to_owned();
    let sig = sig_manifest(&layout, layers);
    layout.set_index(&[
        named(image, "example.com/app:v1"),
        named(sig, &format!("example.com/app:{}", sig_tag(&digest))),
    ]);
    digest
}

fn keyless_verify(root: &Path, trusted_root: &Path, identity: &str, issuer: &str) -> Vec<String> {
    vec![
        "verify".into(),
        "--trusted-root".into(),
        s(trusted_root).into(),
        "--certificate-identity".into(),
        identity.into(),
        "--certificate-oidc-issuer".into(),
        issuer.into(),
        format!("oci:{}:example.com/app:v1", s(root)),
    ]
}

#[test]
fn a_public_good_sig_layer_passes_every_keyless_check_and_then_its_claim_is_judged() {
    let Some(c) = conformance() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("layout");
    layout_with_sig(&root, &[(c.payload.clone(), c.annotations.clone())]);
    let trusted = c.dir.join("public-good-trusted_root.json");
    let out = run(&mut airsign(keyless_verify(
        &root,
        &trusted,
        CONFORMANCE_IDENTITY,
        CONFORMANCE_ISSUER,
    )));
    let err = String::from_utf8_lossy(&out.stderr);
    // the SET, the logged body, the certificate at the log's time (it has long
    // expired), its chain, its SCT and the identity all pass: what is refused is
    // the payload, which is a.txt and not a claim about this image
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(
        err.contains("signature 1: the payload is not JSON"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // another identity, another issuer: cosign's identity message
    for (id, iss) in [
        ("https://example.com/other", CONFORMANCE_ISSUER),
        (CONFORMANCE_IDENTITY, "https://accounts.google.com"),
    ] {
        let out = run(&mut airsign(keyless_verify(&root, &trusted, id, iss)));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(12), "{err}");
        assert!(
            err.contains("none of the expected identities matched"),
            "{err}"
        );
    }

    // each piece of the layer that the log entry records, changed
    let tamper = |key: &str, value: String| -> String {
        let mut a = c.annotations.clone();
        a[key] = Value::String(value);
        let root = tmp.path().join(format!("t-{}", key.replace('/', "_")));
        layout_with_sig(&root, &[(c.payload.clone(), a)]);
        let out = run(&mut airsign(keyless_verify(
            &root,
            &trusted,
            CONFORMANCE_IDENTITY,
            CONFORMANCE_ISSUER,
        )));
        assert_eq!(out.status.code(), Some(12));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let mut rb: Value = serde_json::from_str(
        c.annotations["dev.sigstore.cosign/bundle"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    rb["Payload"]["integratedTime"] = json!(rb["Payload"]["integratedTime"].as_i64().unwrap() + 1);
    let err = tamper("dev.sigstore.cosign/bundle", rb.to_string());
    assert!(err.contains("the signed entry timestamp"), "{err}");
    let err = tamper(
        "dev.cosignproject.cosign/signature",
        b64(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]),
    );
    assert!(
        err.contains("does not match the signature: the signature"),
        "{err}"
    );
    let err = tamper("dev.sigstore.cosign/bundle", String::new());
    assert!(err.contains("not cosign's RekorBundle"), "{err}");

    // no bundle annotation: no trusted time, refused as cosign does offline
    let mut a = c.annotations.clone();
    a.as_object_mut()
        .unwrap()
        .remove("dev.sigstore.cosign/bundle");
    let nb = tmp.path().join("no-bundle");
    layout_with_sig(&nb, &[(c.payload.clone(), a)]);
    let out = run(&mut airsign(keyless_verify(
        &nb,
        &trusted,
        CONFORMANCE_IDENTITY,
        CONFORMANCE_ISSUER,
    )));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(
        err.contains("no dev.sigstore.cosign/bundle annotation"),
        "{err}"
    );

    // a payload other than the logged one
    let other = tmp.path().join("other-payload");
    layout_with_sig(
        &other,
        &[(b"another payload".to_vec(), c.annotations.clone())],
    );
    let out = run(&mut airsign(keyless_verify(
        &other,
        &trusted,
        CONFORMANCE_IDENTITY,
        CONFORMANCE_ISSUER,
    )));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the payload's digest"), "{err}");

    // a trusted root without that log or CA: another instance's root
    let other_root = c
        .dir
        .join("bundle-verify/intoto-with-custom-trust-root/trusted_root.json");
    let out = run(&mut airsign(keyless_verify(
        &root,
        &other_root,
        CONFORMANCE_IDENTITY,
        CONFORMANCE_ISSUER,
    )));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(err.contains("unknown logID"), "{err}");
}

#[test]
fn keyless_flags_are_checked_before_anything_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("layout");
    layout_with_sig(&root, &[(b"{}".to_vec(), json!({}))]);
    let image = format!("oci:{}:example.com/app:v1", s(&root));
    let trusted = tmp.path().join("trusted_root.json");
    std::fs::write(&trusted, "{").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["verify", "--trusted-root", s(&trusted), &image],
            "--certificate-identity or --certificate-identity-regexp is required",
        ),
        (
            vec![
                "verify",
                "--trusted-root",
                s(&trusted),
                "--certificate-identity",
                "a@example.com",
                &image,
            ],
            "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required",
        ),
        (
            vec![
                "verify",
                "--trusted-root",
                s(&trusted),
                "--certificate-identity",
                "a@example.com",
                "--certificate-oidc-issuer",
                "https://issuer.example.com",
                &image,
            ],
            "invalid trusted root",
        ),
    ];
    for (args, want) in cases {
        let out = run(&mut airsign(&args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // --key and --trusted-root are two ways to verify: clap refuses the pair
    let out = run(&mut airsign([
        "verify",
        "--key",
        "k.pub",
        "--trusted-root",
        s(&trusted),
        &image,
    ]));
    assert_eq!(out.status.code(), Some(2));
}
