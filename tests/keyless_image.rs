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
    assert!(err.contains("the signed digest"), "{err}");

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

// ---- material made at test time by @sigstore/mock (common::sigstore_mock) ----

use common::sigstore_mock::{Content, IDENTITY, ISSUER, Mock, Opts, Rekor};

const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const EMPTY: &str = "application/vnd.oci.empty.v1+json";
const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
const REPO: &str = "example.com/app";

/// Writes a Sigstore bundle referrer of `subject` (a manifest descriptor) the way
/// cosign 3 writes one (empty config, the bundle as the one layer, artifactType)
/// and returns its descriptor as a referrers listing carries it.
fn bundle_referrer(layout: &TestLayout, subject: &Value, bundle: &[u8], dsse: bool) -> Value {
    let config = layout.desc(EMPTY, b"{}");
    let layer = layout.desc(BUNDLE_V03, bundle);
    let annotations = json!({
        "dev.sigstore.bundle.content": if dsse { "dsse-envelope" } else { "message-signature" },
        "dev.sigstore.bundle.predicateType": SIGN_PREDICATE,
        "org.opencontainers.image.created": "2026-12-05T03:00:00Z",
    });
    let subject = json!({
        "mediaType": subject["mediaType"], "size": subject["size"], "digest": subject["digest"],
    });
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [layer],
        "annotations": annotations, "subject": subject, "artifactType": BUNDLE_V03,
    }))
    .unwrap();
    let mut d = layout.desc(MANIFEST, &manifest);
    d["artifactType"] = json!(BUNDLE_V03);
    d["annotations"] = annotations;
    d
}

/// The referrers listing (an OCI index) of `referrers`, named as airsign's store and
/// registries without the referrers API name it: `REPO:sha256-<hex>`.
fn listing(layout: &TestLayout, subject_digest: &str, referrers: &[Value]) -> Value {
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": common::oci::INDEX, "manifests": referrers,
    }))
    .unwrap();
    named(
        layout.desc(common::oci::INDEX, &index),
        &format!(
            "{REPO}:{}",
            sig_tag(subject_digest).trim_end_matches(".sig")
        ),
    )
}

/// The `.sig` layer of a mock legacy signature (cosign 2's annotations).
fn legacy_layer(sig: &common::sigstore_mock::LegacySig, with_bundle: bool) -> (Vec<u8>, Value) {
    let mut a = json!({
        "dev.cosignproject.cosign/signature": sig.signature,
        "dev.sigstore.cosign/certificate": sig.certificate,
        "dev.sigstore.cosign/chain": sig.chain,
    });
    if with_bundle {
        a["dev.sigstore.cosign/bundle"] = json!(sig.bundle_annotation);
    }
    (sig.payload.clone().into_bytes(), a)
}

fn verify_args(trusted_root: &Path, identity: &str, issuer: &str, image: &str) -> Vec<String> {
    [
        "verify",
        "--trusted-root",
        s(trusted_root),
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        image,
    ]
    .iter()
    .map(|x| x.to_string())
    .collect()
}

/// (exit code, stdout, stderr)
fn outcome(args: Vec<String>) -> (Option<i32>, String, String) {
    let out = run(&mut airsign(args));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The image verifies with the mock's root for its identity, and is refused (exit
/// 12, one line) with another identity, another issuer, and another mock's root.
fn verifies_only_for_its_signer(mock: &Mock, other: &Mock, image: &str) -> Value {
    let (code, stdout, stderr) = outcome(verify_args(mock.trusted_root(), IDENTITY, ISSUER, image));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("Existence of the claims in the transparency log was verified offline"),
        "{stderr}"
    );
    assert!(
        stderr.contains("verified using trusted certificate authority certificates"),
        "{stderr}"
    );
    let printed: Value = serde_json::from_str(stdout.trim()).unwrap();
    for (root, id, iss, why) in [
        (
            mock.trusted_root(),
            "https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main",
            ISSUER,
            "none of the expected identities matched",
        ),
        (
            mock.trusted_root(),
            IDENTITY,
            "https://accounts.google.com",
            "none of the expected identities matched",
        ),
        (
            other.trusted_root(),
            IDENTITY,
            ISSUER,
            "no matching signatures",
        ),
    ] {
        let (code, stdout, stderr) = outcome(verify_args(root, id, iss, image));
        assert_eq!(code, Some(12), "{id} {iss}: {stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    printed
}

fn two_mocks(tmp: &Path) -> Option<(Mock, Mock)> {
    let a = Mock::new(&tmp.join("mock-a"))?;
    let b = Mock::new(&tmp.join("mock-b"))?;
    Some((a, b))
}

#[test]
fn a_keyless_dsse_bundle_referrer_verifies_for_its_identity_only() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, other)) = two_mocks(tmp.path()) else {
        return;
    };
    let root = tmp.path().join("layout");
    let layout = TestLayout::new(&root);
    let (image, _) = layout.image("amd64", "dsse");
    let digest = image["digest"].as_str().unwrap().to_owned();
    let bundle = mock.sign_digest(
        &digest,
        &Opts {
            content: Content::Dsse,
            ..Opts::default()
        },
    );
    let r = bundle_referrer(&layout, &image, &std::fs::read(&bundle).unwrap(), true);
    layout.set_index(&[
        named(image.clone(), &format!("{REPO}:v1")),
        listing(&layout, &digest, &[r]),
    ]);
    let name = format!("oci:{}:{REPO}:v1", s(&root));
    let printed = verifies_only_for_its_signer(&mock, &other, &name);
    assert_eq!(
        printed[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(printed[0]["critical"]["type"], SIGN_PREDICATE);
    // as cosign 3.1.1 prints a bundle's claims: the subject's annotations only
    assert_eq!(printed[0]["optional"], json!({}));

    // the same bundle beside another image is not that image's signature
    let (other_image, _) = layout.image("amd64", "another");
    let other_digest = other_image["digest"].as_str().unwrap().to_owned();
    let r = bundle_referrer(
        &layout,
        &other_image,
        &std::fs::read(&bundle).unwrap(),
        true,
    );
    layout.set_index(&[
        named(other_image, &format!("{REPO}:v2")),
        listing(&layout, &other_digest, &[r]),
    ]);
    let (code, _, stderr) = outcome(verify_args(
        mock.trusted_root(),
        IDENTITY,
        ISSUER,
        &format!("oci:{}:{REPO}:v2", s(&root)),
    ));
    assert_eq!(code, Some(12), "{stderr}");
}

#[test]
fn a_message_signature_a_timestamped_and_a_rekor_v2_bundle_verify_too() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, other)) = two_mocks(tmp.path()) else {
        return;
    };
    for (i, opts) in [
        Opts::default(),
        Opts {
            content: Content::Dsse,
            tsa: true,
            ..Opts::default()
        },
        Opts {
            content: Content::Dsse,
            rekor: Rekor::V2,
            tsa: true,
            ..Opts::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        let root = tmp.path().join(format!("layout-{i}"));
        let layout = TestLayout::new(&root);
        let (image, _) = layout.image("amd64", &format!("m{i}"));
        let digest = image["digest"].as_str().unwrap().to_owned();
        let dsse = opts.content == Content::Dsse;
        let bundle = mock.sign_digest(&digest, &opts);
        let r = bundle_referrer(&layout, &image, &std::fs::read(&bundle).unwrap(), dsse);
        layout.set_index(&[
            named(image, &format!("{REPO}:v1")),
            listing(&layout, &digest, &[r]),
        ]);
        let printed =
            verifies_only_for_its_signer(&mock, &other, &format!("oci:{}:{REPO}:v1", s(&root)));
        assert_eq!(
            printed[0]["critical"]["image"]["docker-manifest-digest"],
            digest.as_str()
        );
    }
}

#[test]
fn a_keyless_legacy_sig_verifies_for_its_identity_only_and_needs_its_rekor_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, other)) = two_mocks(tmp.path()) else {
        return;
    };
    let root = tmp.path().join("layout");
    let layout = TestLayout::new(&root);
    let (image, _) = layout.image("amd64", "legacy");
    let digest = image["digest"].as_str().unwrap().to_owned();
    let sig = mock.legacy_sig(REPO, &digest);
    let sig_desc = sig_manifest(&layout, &[legacy_layer(&sig, true)]);
    layout.set_index(&[
        named(image.clone(), &format!("{REPO}:v1")),
        named(sig_desc, &format!("{REPO}:{}", sig_tag(&digest))),
    ]);
    let name = format!("oci:{}:{REPO}:v1", s(&root));
    let printed = verifies_only_for_its_signer(&mock, &other, &name);
    assert_eq!(
        printed[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(printed[0]["critical"]["identity"]["docker-reference"], REPO);
    assert_eq!(printed[0]["optional"]["Subject"], IDENTITY);
    let logged: Value = serde_json::from_str(&sig.bundle_annotation).unwrap();
    assert_eq!(
        printed[0]["optional"]["Bundle"], logged,
        "cosign prints the bundle"
    );

    // no bundle annotation: no trusted time, refused keyless with the reason
    let sig_desc = sig_manifest(&layout, &[legacy_layer(&sig, false)]);
    layout.set_index(&[
        named(image.clone(), &format!("{REPO}:v1")),
        named(sig_desc, &format!("{REPO}:{}", sig_tag(&digest))),
    ]);
    let (code, _, stderr) = outcome(verify_args(mock.trusted_root(), IDENTITY, ISSUER, &name));
    assert_eq!(code, Some(12), "{stderr}");
    assert!(
        stderr.contains("no dev.sigstore.cosign/bundle annotation"),
        "{stderr}"
    );

    // a legacy signature of another image, whose payload claims that image
    let (other_image, _) = layout.image("amd64", "other");
    let other_digest = other_image["digest"].as_str().unwrap().to_owned();
    let foreign = mock.legacy_sig(REPO, &other_digest);
    let sig_desc = sig_manifest(&layout, &[legacy_layer(&foreign, true)]);
    layout.set_index(&[
        named(image, &format!("{REPO}:v1")),
        named(sig_desc, &format!("{REPO}:{}", sig_tag(&digest))),
    ]);
    let (code, _, stderr) = outcome(verify_args(mock.trusted_root(), IDENTITY, ISSUER, &name));
    assert_eq!(code, Some(12), "{stderr}");
    assert!(
        stderr.contains("invalid or missing digest in claim"),
        "{stderr}"
    );

    // a certificate that expired before its entry was logged
    let now = common::sigstore_mock::unix_now();
    let late = mock.legacy_sig_with(
        REPO,
        &digest,
        &Opts {
            cert_time: Some(now - 7200),
            log_time: Some(now - 3600),
            ..Opts::default()
        },
    );
    let (image, _) = layout.image("amd64", "legacy");
    let sig_desc = sig_manifest(&layout, &[legacy_layer(&late, true)]);
    layout.set_index(&[
        named(image, &format!("{REPO}:v1")),
        named(sig_desc, &format!("{REPO}:{}", sig_tag(&digest))),
    ]);
    let (code, _, stderr) = outcome(verify_args(mock.trusted_root(), IDENTITY, ISSUER, &name));
    assert_eq!(code, Some(12), "{stderr}");
    assert!(stderr.contains("expired"), "{stderr}");
}

#[test]
fn every_platform_of_a_keylessly_signed_index_verifies_by_its_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, other)) = two_mocks(tmp.path()) else {
        return;
    };
    let root = tmp.path().join("layout");
    let layout = TestLayout::new(&root);
    let (index, index_raw) = layout.multi("multi");
    let index_digest = index["digest"].as_str().unwrap().to_owned();
    let children: Vec<Value> = serde_json::from_slice::<Value>(&index_raw).unwrap()["manifests"]
        .as_array()
        .unwrap()
        .clone();
    // the index by a DSSE bundle, the first platform by a bundle, the second by a
    // legacy .sig (`sign --recursive` in each format)
    let mut entries = vec![named(index.clone(), &format!("{REPO}:v1"))];
    let b = mock.sign_digest(
        &index_digest,
        &Opts {
            content: Content::Dsse,
            ..Opts::default()
        },
    );
    let r = bundle_referrer(&layout, &index, &std::fs::read(&b).unwrap(), true);
    entries.push(listing(&layout, &index_digest, &[r]));
    let first = children[0]["digest"].as_str().unwrap().to_owned();
    let b = mock.sign_digest(
        &first,
        &Opts {
            content: Content::Dsse,
            ..Opts::default()
        },
    );
    let r = bundle_referrer(&layout, &children[0], &std::fs::read(&b).unwrap(), true);
    entries.push(listing(&layout, &first, &[r]));
    let second = children[1]["digest"].as_str().unwrap().to_owned();
    let sig = mock.legacy_sig(REPO, &second);
    entries.push(named(
        sig_manifest(&layout, &[legacy_layer(&sig, true)]),
        &format!("{REPO}:{}", sig_tag(&second)),
    ));
    layout.set_index(&entries);

    verifies_only_for_its_signer(&mock, &other, &format!("oci:{}:{REPO}:v1", s(&root)));
    for child in [&first, &second] {
        let printed = verifies_only_for_its_signer(
            &mock,
            &other,
            &format!("oci:{}:{REPO}@{child}", s(&root)),
        );
        assert_eq!(
            printed[0]["critical"]["image"]["docker-manifest-digest"],
            child.as_str()
        );
    }

    // signatures --trusted-root: a verdict for the index and each platform
    let out = ok(&mut airsign([
        "signatures",
        "--json",
        "--trusted-root",
        s(mock.trusted_root()),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        &format!("oci:{}:{REPO}:v1", s(&root)),
    ]));
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    let verified: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["verified"] == true)
        .map(|r| {
            (
                r["subject"].as_str().unwrap(),
                r["format"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verified,
        vec![
            (index_digest.as_str(), "bundle"),
            (first.as_str(), "bundle"),
            (second.as_str(), "sig")
        ],
        "{out}"
    );
    let out = ok(&mut airsign([
        "signatures",
        "--json",
        "--trusted-root",
        s(other.trusted_root()),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        &format!("oci:{}:{REPO}:v1", s(&root)),
    ]));
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows.iter()
            .all(|r| r["verified"] == false && r["error"].is_string()),
        "{out}"
    );
}

#[test]
fn import_admits_only_images_that_verify_keylessly_and_a_refusal_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, other)) = two_mocks(tmp.path()) else {
        return;
    };
    // a vendor layout: v1 signed by the vendor (bundle), v2 by the vendor (legacy
    // .sig), v3 by someone else
    let src = tmp.path().join("vendor");
    let layout = TestLayout::new(&src);
    let mut entries = Vec::new();
    let mut digests = Vec::new();
    for (tag, seed) in [("v1", "a"), ("v2", "b"), ("v3", "c")] {
        let (image, _) = layout.image("amd64", seed);
        let digest = image["digest"].as_str().unwrap().to_owned();
        entries.push(named(image.clone(), &format!("{REPO}:{tag}")));
        match tag {
            "v1" => {
                let b = mock.sign_digest(
                    &digest,
                    &Opts {
                        content: Content::Dsse,
                        ..Opts::default()
                    },
                );
                let r = bundle_referrer(&layout, &image, &std::fs::read(&b).unwrap(), true);
                entries.push(listing(&layout, &digest, &[r]));
            }
            "v2" => {
                let sig = mock.legacy_sig(REPO, &digest);
                entries.push(named(
                    sig_manifest(&layout, &[legacy_layer(&sig, true)]),
                    &format!("{REPO}:{}", sig_tag(&digest)),
                ));
            }
            _ => {
                let sig = other.legacy_sig(REPO, &digest);
                entries.push(named(
                    sig_manifest(&layout, &[legacy_layer(&sig, true)]),
                    &format!("{REPO}:{}", sig_tag(&digest)),
                ));
            }
        }
        digests.push(digest);
    }
    layout.set_index(&entries);
    let source = format!("oci:{}", s(&src));
    let gate = |bed: &common::bed::Bed, root: &Path, id: &str| {
        run(&mut bed.cmd(&[
            "import",
            &source,
            "--json",
            "--trusted-root",
            s(root),
            "--certificate-identity",
            id,
            "--certificate-oidc-issuer",
            ISSUER,
        ]))
    };

    // the vendor's root and identity: v1 and v2 come in, v3 is refused
    let bed = common::bed::Bed::new();
    let out = gate(&bed, mock.trusted_root(), IDENTITY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = |k: &str| -> Vec<String> {
        summary[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["reference"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names("images"),
        vec![format!("{REPO}:v1"), format!("{REPO}:v2")]
    );
    assert_eq!(names("refused"), vec![format!("{REPO}:v3")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused by --trusted-root"), "{stderr}");
    // what came in verifies in the store, signatures and all; v3 is not there
    for tag in ["v1", "v2"] {
        ok(&mut bed.cmd(
            &verify_args(
                mock.trusted_root(),
                IDENTITY,
                ISSUER,
                &format!("{REPO}:{tag}"),
            )
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ));
    }
    let index = serde_json::to_string(&bed.index()).unwrap();
    assert!(!index.contains(&digests[2]), "{index}");

    // another identity: nothing passes, exit 1, the store is not touched
    let bed = common::bed::Bed::new();
    let before = snapshot(&bed.store);
    let out = gate(
        &bed,
        mock.trusted_root(),
        "https://example.com/not-the-vendor",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no image passed --trusted-root (3 refused)"),
        "{stderr}"
    );
    assert_eq!(
        snapshot(&bed.store),
        before,
        "a refused import changes nothing"
    );
    // the other instance's root: only what it signed (v3) passes
    let bed2 = common::bed::Bed::new();
    let out = gate(&bed2, other.trusted_root(), IDENTITY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let images: Vec<&str> = summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["digest"].as_str().unwrap())
        .collect();
    assert_eq!(images, vec![digests[2].as_str()], "{summary}");
    // the identity without an issuer is a usage error, before anything is read
    let out = run(&mut bed.cmd(&[
        "import",
        &source,
        "--trusted-root",
        s(mock.trusted_root()),
        "--certificate-identity",
        IDENTITY,
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(snapshot(&bed.store), before);
}

/// A mock DSSE bundle (Rekor v1, a `dsse` 0.0.1 entry) turned into cosign 2's
/// legacy `.att` layer: the envelope as the layer, the certificate and the Rekor
/// bundle as annotations.
fn att_layer(bundle: &Value) -> (Vec<u8>, Value) {
    let vm = &bundle["verificationMaterial"];
    let cert = vm["certificate"]["rawBytes"]
        .as_str()
        .or_else(|| vm["x509CertificateChain"]["certificates"][0]["rawBytes"].as_str())
        .unwrap();
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
    let env = &bundle["dsseEnvelope"];
    let envelope = serde_json::to_vec(&json!({
        "payload": env["payload"], "payloadType": env["payloadType"],
        "signatures": [{"sig": env["signatures"][0]["sig"]}],
    }))
    .unwrap();
    (
        envelope,
        json!({
            "dev.cosignproject.cosign/signature": "",
            "dev.sigstore.cosign/certificate": pem(&unb64(cert)),
            "dev.sigstore.cosign/chain": "",
            "dev.sigstore.cosign/bundle": rekor_bundle.to_string(),
            "predicateType": SIGN_PREDICATE,
        }),
    )
}

#[test]
fn verify_attestation_keyless_reads_legacy_att_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, other)) = two_mocks(tmp.path()) else {
        return;
    };
    let root = tmp.path().join("layout");
    let layout = TestLayout::new(&root);
    let (image, _) = layout.image("amd64", "att-layer");
    let digest = image["digest"].as_str().unwrap().to_owned();
    let b = mock.sign_digest(
        &digest,
        &Opts {
            content: Content::Dsse,
            ..Opts::default()
        },
    );
    let bundle: Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    assert_eq!(
        bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "dsse"
    );
    let (envelope, annotations) = att_layer(&bundle);
    let write = |annotations: Value| {
        let mut d = layout.desc("application/vnd.dsse.envelope.v1+json", &envelope);
        d["annotations"] = annotations;
        let config = layout.desc(CONFIG, b"{}");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [d]
        }))
        .unwrap();
        layout.set_index(&[
            named(image.clone(), &format!("{REPO}:v1")),
            named(
                layout.desc(MANIFEST, &manifest),
                &format!("{REPO}:{}", sig_tag(&digest).replace(".sig", ".att")),
            ),
        ]);
    };
    write(annotations.clone());
    let name = format!("oci:{}:{REPO}:v1", s(&root));
    let args = |root: &Path, id: &str| {
        vec![
            "verify-attestation".to_string(),
            "--type".into(),
            SIGN_PREDICATE.into(),
            "--trusted-root".into(),
            s(root).into(),
            "--certificate-identity".into(),
            id.into(),
            "--certificate-oidc-issuer".into(),
            ISSUER.into(),
            name.clone(),
        ]
    };
    let (code, stdout, stderr) = outcome(args(mock.trusted_root(), IDENTITY));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout.trim().as_bytes(),
        envelope.as_slice(),
        "the layer as stored"
    );
    for (root, id, why) in [
        (
            mock.trusted_root(),
            "https://example.com/other",
            "none of the expected identities matched",
        ),
        (other.trusted_root(), IDENTITY, "unknown logID"),
    ] {
        let (code, _, stderr) = outcome(args(root, id));
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
    }
    // without its Rekor bundle the layer has no trusted time
    let mut a = annotations;
    a.as_object_mut()
        .unwrap()
        .remove("dev.sigstore.cosign/bundle");
    write(a);
    let (code, _, stderr) = outcome(args(mock.trusted_root(), IDENTITY));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no dev.sigstore.cosign/bundle annotation"),
        "{stderr}"
    );
}

#[test]
fn verify_attestation_keyless_reads_bundle_referrers() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, other)) = two_mocks(tmp.path()) else {
        return;
    };
    let root = tmp.path().join("layout");
    let layout = TestLayout::new(&root);
    let (image, _) = layout.image("amd64", "att");
    let digest = image["digest"].as_str().unwrap().to_owned();
    let b = mock.sign_digest(
        &digest,
        &Opts {
            content: Content::Dsse,
            ..Opts::default()
        },
    );
    let r = bundle_referrer(&layout, &image, &std::fs::read(&b).unwrap(), true);
    layout.set_index(&[
        named(image, &format!("{REPO}:v1")),
        listing(&layout, &digest, &[r]),
    ]);
    let name = format!("oci:{}:{REPO}:v1", s(&root));
    let args = |root: &Path, id: &str| {
        vec![
            "verify-attestation".to_string(),
            "--type".into(),
            SIGN_PREDICATE.into(),
            "--trusted-root".into(),
            s(root).into(),
            "--certificate-identity".into(),
            id.into(),
            "--certificate-oidc-issuer".into(),
            ISSUER.into(),
            name.clone(),
        ]
    };
    let (code, stdout, stderr) = outcome(args(mock.trusted_root(), IDENTITY));
    assert_eq!(code, Some(0), "{stderr}");
    let env: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    for (root, id) in [
        (mock.trusted_root(), "https://example.com/other"),
        (other.trusted_root(), IDENTITY),
    ] {
        let (code, _, stderr) = outcome(args(root, id));
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("no matching attestations"), "{stderr}");
    }
}

/// The same keylessly signed image judged by the real cosign 3.1.1 (and the legacy
/// `.sig` by cosign 2.5 too), offline against the mock's trusted root, after `airsign sync` pushed it byte for byte to a
/// loopback registry: the DSSE bundle referrer and the legacy `.sig`, each in an
/// image of its own; cosign and airsign must agree, also on another identity.
#[test]
fn cosign_3_judges_the_keylessly_signed_images_as_airsign_does() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let Some(mock) = Mock::new(&tmp.path().join("mock")) else {
        return;
    };
    let Some(reg) = common::registry::Registry::start(common::registry::Mode::Plain) else {
        return;
    };
    let src = tmp.path().join("vendor");
    let layout = TestLayout::new(&src);
    let (bundled, _) = layout.image("amd64", "bundled");
    let (legacy, _) = layout.image("amd64", "legacy");
    let bd = bundled["digest"].as_str().unwrap().to_owned();
    let ld = legacy["digest"].as_str().unwrap().to_owned();
    let b = mock.sign_digest(
        &bd,
        &Opts {
            content: Content::Dsse,
            ..Opts::default()
        },
    );
    let r = bundle_referrer(&layout, &bundled, &std::fs::read(&b).unwrap(), true);
    let sig = mock.legacy_sig(&format!("{}/app", reg.host()), &ld);
    layout.set_index(&[
        named(bundled, &format!("{REPO}:bundled")),
        listing(&layout, &bd, &[r]),
        named(legacy, &format!("{REPO}:legacy")),
        named(
            sig_manifest(&layout, &[legacy_layer(&sig, true)]),
            &format!("{REPO}:{}", sig_tag(&ld)),
        ),
    ]);
    let bed = common::bed::Bed::new();
    ok(&mut bed.cmd(&["import", &format!("oci:{}", s(&src))]));
    ok(&mut bed.cmd(&[
        "sync",
        &format!("{REPO}:bundled"),
        &format!("{REPO}:legacy"),
        "--to",
        &reg.host(),
        "--plain-http",
    ]));
    let home = common::gotools::ToolHome::new();
    for tag in ["bundled", "legacy"] {
        for (id, want) in [(IDENTITY, true), ("https://example.com/other", false)] {
            let there = format!("{}/app:{tag}", reg.host());
            let theirs = run(home
                .cmd(&cosign3)
                .args(["verify", "--offline=true", "--trusted-root"])
                .arg(mock.trusted_root())
                .args([
                    "--certificate-identity",
                    id,
                    "--certificate-oidc-issuer",
                    ISSUER,
                ])
                .arg(&there));
            let args = verify_args(mock.trusted_root(), id, ISSUER, &format!("{REPO}:{tag}"));
            let ours = run(&mut bed.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>()));
            let (their_err, our_err) = (
                String::from_utf8_lossy(&theirs.stderr),
                String::from_utf8_lossy(&ours.stderr),
            );
            assert_eq!(
                theirs.status.success(),
                want,
                "cosign, {tag} {id}: {their_err}"
            );
            assert_eq!(
                ours.status.success(),
                want,
                "airsign, {tag} {id}: {our_err}"
            );
            if !want {
                // cosign 3.1.1: 12 for a .sig, 1 for bundles ("no matching
                // attestations"); airsign gives 12 for both
                assert_eq!(ours.status.code(), Some(12), "{our_err}");
                assert!(our_err.contains("none of the expected identities matched"));
                continue;
            }
            let mut theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
            let mut ours: Value = serde_json::from_slice(&ours.stdout).unwrap();
            if tag == "bundled" {
                // cosign 3 prints the reference it was given as the identity
                assert_eq!(
                    theirs[0]["critical"]["identity"]["docker-reference"],
                    there.as_str()
                );
                assert_eq!(
                    ours[0]["critical"]["identity"]["docker-reference"],
                    format!("{REPO}:{tag}")
                );
                theirs[0]["critical"]["identity"] = Value::Null;
                ours[0]["critical"]["identity"] = Value::Null;
            }
            assert_eq!(
                ours, theirs,
                "what airsign and cosign 3.1.1 print for {tag}"
            );
        }
    }

    // cosign 2.5 (its trust from the environment: the mock's CA, Rekor and CT keys)
    // judges the legacy .sig the same way
    if let Some(cosign2) = need!(Tool::Cosign) {
        let there = format!("{}/app:legacy", reg.host());
        for (id, want) in [(IDENTITY, true), ("https://example.com/other", false)] {
            let mut c = home.cmd(&cosign2);
            for (k, v) in mock.cosign2_env() {
                c.env(k, v);
            }
            let theirs = run(c
                .args(["verify", "--offline"])
                .args([
                    "--certificate-identity",
                    id,
                    "--certificate-oidc-issuer",
                    ISSUER,
                ])
                .arg(&there));
            assert_eq!(
                theirs.status.success(),
                want,
                "cosign 2.5, {id}: {}",
                String::from_utf8_lossy(&theirs.stderr)
            );
            if want {
                let args = verify_args(mock.trusted_root(), id, ISSUER, &format!("{REPO}:legacy"));
                let ours = ok(&mut bed.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>()));
                let ours: Value = serde_json::from_str(ours.trim()).unwrap();
                let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
                assert_eq!(
                    ours, theirs,
                    "what airsign and cosign 2.5 print for the .sig"
                );
            } else {
                assert_eq!(theirs.status.code(), Some(12));
            }
        }
    }

    // the same images as cosign save lays them out (`export --format cosign`: the
    // bundle referrer only in the blobs, found by its subject), judged by cosign
    // 3.1.1 `verify --local-image` and by airsign, with no registry at all
    drop(reg);
    for tag in ["bundled", "legacy"] {
        let dir = tmp.path().join(format!("saved-{tag}"));
        ok(&mut bed.cmd(&[
            "export",
            &format!("{REPO}:{tag}"),
            "--format",
            "cosign",
            "--to",
            s(&dir),
        ]));
        for (id, want) in [(IDENTITY, true), ("https://example.com/other", false)] {
            let theirs = run(home
                .cmd(&cosign3)
                .args(["verify", "--offline=true", "--trusted-root"])
                .arg(mock.trusted_root())
                .args([
                    "--certificate-identity",
                    id,
                    "--certificate-oidc-issuer",
                    ISSUER,
                ])
                .arg("--local-image")
                .arg(&dir));
            assert_eq!(
                theirs.status.success(),
                want,
                "cosign --local-image, {tag} {id}: {}",
                String::from_utf8_lossy(&theirs.stderr)
            );
            let (code, _, stderr) = outcome(verify_args(
                mock.trusted_root(),
                id,
                ISSUER,
                &format!("oci:{}", s(&dir)),
            ));
            assert_eq!(code == Some(0), want, "airsign, {tag} {id}: {stderr}");
        }
    }
}
