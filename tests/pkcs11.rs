//! Keys in PKCS#11 tokens (issue 11, items 1 and 4), with SoftHSM2 as the token and
//! the real tools as judges: the key pair is made in the token by OpenSC's
//! `pkcs11-tool`, its public key read back by pkcs11-tool and openssl, and what
//! airsign signs with it is verified by cosign 2.5, cosign 3.1.1 and skopeo's
//! sigstore policy. Failures (wrong PIN, missing object, token or module) must be one
//! line, non-zero, write nothing, and never show the PIN. docs/keys.md's HSM
//! walkthrough is run as written.

mod common;

use std::path::Path;
use std::process::Command;

use common::bed::Bed;
use common::gotools::{ToolHome, ok2};
use common::registry::{Mode, Registry};
use common::softhsm::SoftHsm;
use common::verifiers::skopeo_policy_verify;
use common::*;
use serde_json::Value;

const PIN: &str = "271828";
const SO_PIN: &str = "31415926";
const TOKEN: &str = "signing";

/// A SoftHSM2 token `signing` holding the P-256 pair `release` (id 01), made in
/// the token by pkcs11-tool.
fn token() -> Option<(SoftHsm, u64)> {
    let hsm = SoftHsm::new()?;
    let slot = hsm.init_token(TOKEN, PIN, SO_PIN);
    hsm.keypairgen(TOKEN, PIN, "release", "01");
    Some((hsm, slot))
}

/// `airsign --store … ARGS` against the token store, the PIN in COSIGN_PKCS11_PIN.
fn signing(bed: &Bed, hsm: &SoftHsm, args: &[&str]) -> Command {
    let mut c = bed.cmd(args);
    hsm.env(&mut c).env("COSIGN_PKCS11_PIN", PIN);
    c
}

/// airsign's `public-key` of a token key, which must equal the public key object as
/// pkcs11-tool reads it and openssl writes it; written to `PATH` for the verifiers.
fn public_key(bed: &Bed, hsm: &SoftHsm, uri: &str) -> std::path::PathBuf {
    let printed = ok(&mut signing(bed, hsm, &["public-key", "--key", uri]));
    assert_eq!(printed, hsm.public_pem(TOKEN, PIN, "01"));
    let path = bed.path("release.pub");
    std::fs::write(&path, printed).unwrap();
    path
}

#[test]
fn a_softhsm_key_signs_what_cosign_2_5_cosign_3_1_and_skopeo_verify() {
    let Some(cosign2) = need!(Tool::Cosign) else {
        return;
    };
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some((hsm, _)) = token() else {
        return;
    };
    let Some(dst) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    let image = "registry.example.com/demo/app:v1";
    bed.import("single", "registry.example.com/demo/app");
    let uri = hsm.uri(TOKEN, "release");
    let public = public_key(&bed, &hsm, &uri);
    let (_, wrong) = bed.keys("wrong");

    // a .sig (cosign 2) and a bundle referrer (cosign 3), named as skopeo will see it
    let identity = format!("{}/demo/app", dst.host());
    ok(&mut signing(
        &bed,
        &hsm,
        &[
            "sign",
            "--key",
            &uri,
            "--new-bundle-format=both",
            "--identity",
            &identity,
            image,
        ],
    ));
    // and an attestation, .att and bundle
    let predicate = bed.path("provenance.json");
    std::fs::write(&predicate, r#"{"builder":{"id":"https://ci.example.com"}}"#).unwrap();
    ok(&mut signing(
        &bed,
        &hsm,
        &[
            "attest",
            "--key",
            &uri,
            "--predicate",
            s(&predicate),
            "--type",
            "slsaprovenance",
            "--new-bundle-format=both",
            image,
        ],
    ));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), image]));
    ok(&mut bed.cmd(&[
        "verify-attestation",
        "--key",
        s(&public),
        "--type",
        "slsaprovenance",
        image,
    ]));
    // the token key itself as the verification key (its public key object)
    ok(&mut signing(&bed, &hsm, &["verify", "--key", &uri, image]));
    bed.assert_no_signature_of(&wrong, image);

    ok(&mut bed.cmd(&["sync", image, "--to", &dst.host(), "--plain-http"]));
    let there = format!("{}/demo/app:v1", dst.host());
    let digest = fixture_digest("single");
    let home = ToolHome::new();
    for cosign in [&cosign2, &cosign3] {
        let (out, err) = ok2(home
            .cmd(cosign)
            .args(["verify", "--insecure-ignore-tlog=true", "--key"])
            .arg(&public)
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
        let out = run(home
            .cmd(cosign)
            .args(["verify", "--insecure-ignore-tlog=true", "--key"])
            .arg(&wrong)
            .arg(&there));
        assert!(!out.status.success(), "{cosign:?} accepted the wrong key");
        let (out, _) = ok2(home
            .cmd(cosign)
            .args(["verify-attestation", "--insecure-ignore-tlog=true", "--key"])
            .arg(&public)
            .args(["--type", "slsaprovenance"])
            .arg(&there));
        assert!(out.contains("in-toto"), "{out}");
    }
    skopeo_policy_verify(&skopeo, &dst, &public, "demo/app:v1", false).unwrap();
    let err = skopeo_policy_verify(&skopeo, &dst, &wrong, "demo/app:v1", false).unwrap_err();
    assert!(
        err.contains("invalid signature") || err.contains("verification failed"),
        "{err}"
    );
}

#[test]
fn a_softhsm_key_signs_blobs_that_cosign_verifies() {
    let Some(cosign2) = need!(Tool::Cosign) else {
        return;
    };
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some((hsm, _)) = token() else {
        return;
    };
    let bed = Bed::new();
    let uri = hsm.uri(TOKEN, "release");
    let public = public_key(&bed, &hsm, &uri);
    let file = bed.path("chart.tgz");
    std::fs::write(&file, b"a chart, signed in a token\n").unwrap();
    let bundle = bed.path("chart.tgz.sigstore.json");
    ok(&mut signing(
        &bed,
        &hsm,
        &["sign-blob", "--key", &uri, "--bundle", s(&bundle), s(&file)],
    ));
    let sig = bed.path("chart.tgz.sig");
    ok(&mut signing(
        &bed,
        &hsm,
        &[
            "sign-blob",
            "--key",
            &uri,
            "--new-bundle-format=false",
            "--output-signature",
            s(&sig),
            s(&file),
        ],
    ));
    let home = ToolHome::new();
    let verify = |cosign: &Path, how: &str, evidence: &Path, file: &Path| {
        run(home
            .cmd(cosign)
            .args(["verify-blob", "--insecure-ignore-tlog", "--key"])
            .arg(&public)
            .arg(how)
            .arg(evidence)
            .arg(file))
    };
    for (cosign, how, evidence) in [
        (&cosign3, "--bundle", &bundle),
        (&cosign2, "--signature", &sig),
    ] {
        let out = verify(cosign, how, evidence, &file);
        assert!(
            out.status.success(),
            "{cosign:?} {how}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // another file: refused
        let other = bed.path("other");
        std::fs::write(&other, b"not the chart\n").unwrap();
        assert!(!verify(cosign, how, evidence, &other).status.success());
    }
}

#[test]
fn token_failures_are_one_line_write_nothing_and_never_show_the_pin() {
    let Some((hsm, _)) = token() else {
        return;
    };
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    // by digest: a tag would add its own warning line
    let image = &format!("registry.example.com/demo/app@{}", fixture_digest("single"));
    let module = hsm.module.display().to_string();
    let not_a_library = bed.path("libfake.so");
    std::fs::write(&not_a_library, b"not an ELF file").unwrap();
    let secret = "0000-not-the-pin";
    let cases = [
        (
            format!("pkcs11:token={TOKEN};object=release?module-path={module}&pin-value={secret}"),
            "wrong PIN",
        ),
        (
            format!("pkcs11:token={TOKEN};object=absent?module-path={module}&pin-value={PIN}"),
            "with object \"absent\" in token \"signing\"",
        ),
        (
            format!("pkcs11:token=elsewhere;object=release?module-path={module}&pin-value={PIN}"),
            "no token \"elsewhere\" in the module (tokens there: signing)",
        ),
        (
            format!(
                "pkcs11:token={TOKEN};object=release?module-path={}&pin-value={PIN}",
                not_a_library.display()
            ),
            "cannot load the PKCS#11 module",
        ),
        (
            format!(
                "pkcs11:token={TOKEN};object=release?module-path=/nonexistent/lib.so&pin-value={PIN}"
            ),
            "not found",
        ),
        (
            format!(
                "pkcs11:token={TOKEN};object=release?module-path=libsofthsm2.so&pin-value={PIN}"
            ),
            "absolute path",
        ),
    ];
    let before = snapshot(&bed.store);
    for (uri, want) in &cases {
        for args in [
            vec!["sign", "--key", uri, image],
            vec!["attest", "--key", uri, "--predicate", "/dev/null", image],
            vec!["public-key", "--key", uri],
        ] {
            let mut c = bed.cmd(&args);
            hsm.env(&mut c);
            let out = run(&mut c);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} succeeded");
            assert!(out.stdout.is_empty(), "{args:?}: stdout");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(err.contains(want), "{args:?}: wanted {want:?}: {err}");
            // regression: SoftHSM2's empty uninitialized slot was listed as a token
            // with no name ("tokens there: signing, )")
            assert!(!err.contains(", )"), "{err}");
            assert!(
                !err.contains(secret) && !err.contains(&format!("pin-value={PIN}")),
                "the PIN is shown: {err}"
            );
        }
        assert_eq!(snapshot(&bed.store), before, "{uri}: the store changed");
    }

    // no PIN anywhere, and no terminal to ask on: said, not guessed
    let mut c = bed.cmd(&["sign", "--key", &hsm.uri(TOKEN, "release"), image.as_str()]);
    hsm.env(&mut c);
    let err = fails(&mut c);
    assert!(err.contains("COSIGN_PKCS11_PIN"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(snapshot(&bed.store), before);
}

/// P-384 and P-521 token keys sign blobs over SHA-384 and SHA-512 (cosign's hash for
/// those curves): with the public key airsign prints for the token key, cosign 3.1.1
/// verifies the bundle and the bare signature (told the hash, as cosign needs for
/// these curves), and so does airsign; an RSA token key signs PKCS#1 v1.5 (its public
/// key is pkcs11-tool's, cosign 3.1.1 and airsign verify its bundle).
#[test]
fn token_keys_on_p384_p521_and_rsa_sign() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some((hsm, _)) = token() else {
        return;
    };
    let bed = Bed::new();
    let file = bed.path("notes.txt");
    std::fs::write(&file, b"signed in a token on a bigger curve\n").unwrap();
    let home = ToolHome::new();
    for (label, id, ty, hash) in [
        ("p384", "02", "EC:secp384r1", "sha384"),
        ("p521", "03", "EC:secp521r1", "sha512"),
    ] {
        hsm.keypairgen_type(TOKEN, PIN, label, id, ty);
        let uri = hsm.uri(TOKEN, label);
        // (pkcs11-tool cannot export these curves' public keys with this OpenSSL —
        // "cannot create EVP_PKEY" — so cosign's verification below is the judge)
        let printed = ok(&mut signing(&bed, &hsm, &["public-key", "--key", &uri]));
        assert!(
            printed.starts_with("-----BEGIN PUBLIC KEY-----\n"),
            "{printed}"
        );
        let public = bed.path(&format!("{label}.pub"));
        std::fs::write(&public, printed).unwrap();
        let bundle = bed.path(&format!("{label}.sigstore.json"));
        ok(&mut signing(
            &bed,
            &hsm,
            &["sign-blob", "--key", &uri, "--bundle", s(&bundle), s(&file)],
        ));
        let raw = std::fs::read_to_string(&bundle).unwrap();
        let want = format!("\"algorithm\":\"SHA2_{}\"", &hash[3..]);
        assert!(raw.contains(&want), "{raw}");
        let sig = bed.path(&format!("{label}.sig"));
        ok(&mut signing(
            &bed,
            &hsm,
            &[
                "sign-blob",
                "--key",
                &uri,
                "--new-bundle-format=false",
                "--output-signature",
                s(&sig),
                s(&file),
            ],
        ));
        for (how, evidence) in [("--bundle", &bundle), ("--signature", &sig)] {
            let out = run(home
                .cmd(&cosign3)
                .args(["verify-blob", "--insecure-ignore-tlog", "--key"])
                .arg(&public)
                .args(["--signature-digest-algorithm", hash, how])
                .arg(evidence)
                .arg(&file));
            assert!(
                out.status.success(),
                "{label} {how}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ok(&mut bed.cmd(&[
                "verify-blob",
                "--key",
                s(&public),
                how,
                s(evidence),
                s(&file),
            ]));
        }
    }
    // an RSA key signs PKCS#1 v1.5 over SHA-256 in the token
    hsm.keypairgen_type(TOKEN, PIN, "rsa", "04", "rsa:2048");
    let uri = hsm.uri(TOKEN, "rsa");
    let printed = ok(&mut signing(&bed, &hsm, &["public-key", "--key", &uri]));
    assert_eq!(printed, hsm.public_pem(TOKEN, PIN, "04"));
    let public = bed.path("rsa.pub");
    std::fs::write(&public, printed).unwrap();
    let bundle = bed.path("rsa.sigstore.json");
    ok(&mut signing(
        &bed,
        &hsm,
        &["sign-blob", "--key", &uri, "--bundle", s(&bundle), s(&file)],
    ));
    let out = run(home
        .cmd(&cosign3)
        .args(["verify-blob", "--insecure-ignore-tlog", "--key"])
        .arg(&public)
        .arg("--bundle")
        .arg(&bundle)
        .arg(&file));
    assert!(
        out.status.success(),
        "rsa: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(&mut bed.cmd(&[
        "verify-blob",
        "--key",
        s(&public),
        "--bundle",
        s(&bundle),
        s(&file),
    ]));
}

/// An Ed25519 token key (made by pkcs11-tool as `EC:edwards25519`; SoftHSM2 names
/// the curve by the printable string) signs pure Ed25519 in the token (`CKM_EDDSA`):
/// a blob's bare signature verifies with openssl (`pkeyutl -rawin`), cosign 3.1.1
/// and airsign; its bundle with airsign (cosign 3.1.1 cannot judge an Ed25519
/// bundle without an artifact digest, see tests/algorithms.rs); an image's `.sig`
/// and bundle verify with airsign and, after a sync, cosign 3.1.1; another key does
/// not. (pkcs11-tool cannot export
/// an Ed25519 public key here, so the signatures are the check on the key airsign
/// prints.) An RSA token key signs `--signing-algorithm rsa-sign-pss-2048-sha256`
/// with `CKM_RSA_PKCS_PSS` (SHA-256, MGF1-SHA-256, 32-byte salt): openssl verifies
/// it as PSS with that salt, not as PKCS#1 v1.5, and airsign verifies it. An
/// algorithm that is not the key's is one line, and nothing is written.
#[test]
fn ed25519_token_keys_sign_pure_and_rsa_token_keys_sign_pss() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(openssl) = need!(Tool::Openssl) else {
        return;
    };
    let Some((hsm, _)) = token() else {
        return;
    };
    let Some(dst) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    let file = bed.path("notes.txt");
    std::fs::write(&file, b"signed in a token with Ed25519\n").unwrap();
    let home = ToolHome::new();
    hsm.keypairgen_type(TOKEN, PIN, "ed", "05", "EC:edwards25519");
    let uri = hsm.uri(TOKEN, "ed");
    let printed = ok(&mut signing(&bed, &hsm, &["public-key", "--key", &uri]));
    assert!(
        printed.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{printed}"
    );
    let public = bed.path("ed.pub");
    std::fs::write(&public, &printed).unwrap();
    let text = run(Command::new(&openssl)
        .args(["pkey", "-pubin", "-noout", "-text", "-in"])
        .arg(&public));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("ED25519 Public-Key"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );

    let sig = bed.path("ed.sig");
    ok(&mut signing(
        &bed,
        &hsm,
        &[
            "sign-blob",
            "--key",
            &uri,
            "--new-bundle-format=false",
            "--output-signature",
            s(&sig),
            s(&file),
        ],
    ));
    let raw = bed.path("ed.raw");
    let b64 = std::fs::read_to_string(&sig).unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim()).unwrap();
    assert_eq!(bytes.len(), 64);
    std::fs::write(&raw, &bytes).unwrap();
    ok(Command::new(&openssl)
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(&public)
        .args(["-rawin", "-in"])
        .arg(&file)
        .arg("-sigfile")
        .arg(&raw));
    let out = run(home
        .cmd(&cosign3)
        .args(["verify-blob", "--insecure-ignore-tlog", "--key"])
        .arg(&public)
        .arg("--signature")
        .arg(&sig)
        .arg(&file));
    assert!(
        out.status.success(),
        "ed25519 --signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = bed.path("ed.sigstore.json");
    ok(&mut signing(
        &bed,
        &hsm,
        &["sign-blob", "--key", &uri, "--bundle", s(&bundle), s(&file)],
    ));
    for (how, evidence) in [("--bundle", &bundle), ("--signature", &sig)] {
        ok(&mut bed.cmd(&[
            "verify-blob",
            "--key",
            s(&public),
            how,
            s(evidence),
            s(&file),
        ]));
    }
    // an image: the .sig and the bundle, pure Ed25519 over the payload
    let image = "registry.example.com/demo/app:v1";
    bed.import("single", "registry.example.com/demo/app");
    ok(&mut signing(
        &bed,
        &hsm,
        &["sign", "--key", &uri, "--new-bundle-format=both", image],
    ));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), image]));
    ok(&mut signing(&bed, &hsm, &["verify", "--key", &uri, image]));
    let (_, wrong) = bed.keys("wrong");
    bed.assert_no_signature_of(&wrong, image);
    // and cosign 3.1.1 verifies both after a sync
    ok(&mut bed.cmd(&["sync", image, "--to", &dst.host(), "--plain-http"]));
    let there = format!("{}/demo/app:v1", dst.host());
    for bundle_format in ["--new-bundle-format=true", "--new-bundle-format=false"] {
        ok2(home
            .cmd(&cosign3)
            .args([
                "verify",
                "--insecure-ignore-tlog=true",
                bundle_format,
                "--key",
            ])
            .arg(&public)
            .arg(&there));
    }

    // RSA-PSS in the token
    hsm.keypairgen_type(TOKEN, PIN, "rsa", "04", "rsa:2048");
    let rsa = hsm.uri(TOKEN, "rsa");
    let printed = ok(&mut signing(&bed, &hsm, &["public-key", "--key", &rsa]));
    assert_eq!(printed, hsm.public_pem(TOKEN, PIN, "04"));
    let rsa_pub = bed.path("rsa.pub");
    std::fs::write(&rsa_pub, printed).unwrap();
    let pss_sig = bed.path("pss.sig");
    ok(&mut signing(
        &bed,
        &hsm,
        &[
            "sign-blob",
            "--key",
            &rsa,
            "--signing-algorithm",
            "rsa-sign-pss-2048-sha256",
            "--new-bundle-format=false",
            "--output-signature",
            s(&pss_sig),
            s(&file),
        ],
    ));
    let pss_raw = bed.path("pss.raw");
    let b64 = std::fs::read_to_string(&pss_sig).unwrap();
    std::fs::write(
        &pss_raw,
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim()).unwrap(),
    )
    .unwrap();
    let openssl_pss = |padding: &[&str]| {
        run(Command::new(&openssl)
            .args(["dgst", "-sha256"])
            .args(padding)
            .arg("-verify")
            .arg(&rsa_pub)
            .arg("-signature")
            .arg(&pss_raw)
            .arg(&file))
        .status
        .success()
    };
    assert!(openssl_pss(&[
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
        "-sigopt",
        "rsa_mgf1_md:sha256",
    ]));
    assert!(!openssl_pss(&[]), "a PSS signature verified as PKCS#1 v1.5");
    ok(&mut bed.cmd(&[
        "verify-blob",
        "--key",
        s(&rsa_pub),
        "--signature",
        s(&pss_sig),
        s(&file),
    ]));
    let pss_bundle = bed.path("pss.sigstore.json");
    ok(&mut signing(
        &bed,
        &hsm,
        &[
            "sign-blob",
            "--key",
            &rsa,
            "--signing-algorithm",
            "rsa-sign-pss-2048-sha256",
            "--bundle",
            s(&pss_bundle),
            s(&file),
        ],
    ));
    ok(&mut bed.cmd(&[
        "verify-blob",
        "--key",
        s(&rsa_pub),
        "--bundle",
        s(&pss_bundle),
        s(&file),
    ]));

    // an algorithm that is not the key's: one line, nothing written
    for (key, alg) in [
        (&rsa, "rsa-sign-pss-3072-sha256"),
        (&rsa, "ed25519"),
        (&uri, "rsa-sign-pss-2048-sha256"),
    ] {
        let out_sig = bed.path("refused.sigstore.json");
        let err = fails(&mut signing(
            &bed,
            &hsm,
            &[
                "sign-blob",
                "--key",
                key,
                "--signing-algorithm",
                alg,
                "--bundle",
                s(&out_sig),
                s(&file),
            ],
        ));
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("--signing-algorithm"), "{err}");
        assert!(!out_sig.exists());
    }
}

#[test]
fn pkcs11_lists_tokens_and_key_uris_that_sign() {
    let Some((hsm, slot)) = token() else {
        return;
    };
    let bed = Bed::new();
    let module = hsm.module.display().to_string();
    let mut c = bed.cmd(&["pkcs11", "list-tokens", "--module-path", &module]);
    hsm.env(&mut c);
    let out = ok(&mut c);
    // the slot id softhsm2-util gave the token, with its label
    assert!(
        out.contains(&format!("Token in slot {slot}\n\tLabel: {TOKEN}\n")),
        "{out}"
    );

    let slot = slot.to_string();
    let mut c = bed.cmd(&[
        "pkcs11",
        "list-keys-uris",
        "--module-path",
        &module,
        "--slot-id",
        &slot,
    ]);
    hsm.env(&mut c).env("COSIGN_PKCS11_PIN", PIN);
    let out = ok(&mut c);
    let uris: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("URI: "))
        .collect();
    assert_eq!(uris.len(), 1, "{out}");
    assert!(
        out.contains("Label: release") && out.contains("ID: 01"),
        "{out}"
    );
    assert!(!out.contains(PIN), "{out}");
    // the listed URI is one --key takes, naming the key pkcs11-tool made
    let printed = ok(&mut signing(&bed, &hsm, &["public-key", "--key", uris[0]]));
    assert_eq!(printed, hsm.public_pem(TOKEN, PIN, "01"));

    // a slot without a token: said
    let mut c = bed.cmd(&[
        "pkcs11",
        "list-keys-uris",
        "--module-path",
        &module,
        "--slot-id",
        "999999",
    ]);
    hsm.env(&mut c).env("COSIGN_PKCS11_PIN", PIN);
    let err = fails(&mut c);
    assert!(err.contains("no token in slot 999999"), "{err}");
}

/// docs/keys.md's HSM walkthrough, run as written: its ```sh blocks between the
/// `pkcs11-walkthrough` markers, in bash, with the real softhsm2-util, pkcs11-tool,
/// airsign and cosign 3.1.1 on PATH. Only `MODULE=` and `REGISTRY=` are set to this
/// machine's module and the test's loopback registry.
#[test]
fn the_hsm_walkthrough_in_docs_keys_md_runs() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(hsm) = SoftHsm::new() else {
        return;
    };
    let Some(util) = need!(Tool::Softhsm2Util) else {
        return;
    };
    let Some(p11) = need!(Tool::Pkcs11Tool) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keys.md"))
        .unwrap();
    let section = doc
        .split("<!-- pkcs11-walkthrough -->")
        .nth(1)
        .and_then(|s| s.split("<!-- /pkcs11-walkthrough -->").next())
        .expect("docs/keys.md marks its walkthrough");
    let mut script = String::new();
    let mut in_block = false;
    let (mut module_set, mut registry_set) = (false, false);
    for line in section.lines() {
        match (in_block, line.trim_end()) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, l) if l.starts_with("MODULE=") => {
                module_set = true;
                script.push_str(&format!("MODULE={}\n", hsm.module.display()));
            }
            (true, l) if l.starts_with("REGISTRY=") => {
                registry_set = true;
                script.push_str(&format!("REGISTRY={}\n", reg.host()));
            }
            (true, l) => {
                script.push_str(l);
                script.push('\n');
            }
            _ => {}
        }
    }
    assert!(module_set && registry_set, "{script}");
    assert!(
        script.contains("airsign sign --key") && script.contains("cosign verify"),
        "{script}"
    );

    // the walkthrough's tools on PATH, by their own names
    let bin = hsm.path("bin");
    std::fs::create_dir(&bin).unwrap();
    for (name, target) in [
        ("airsign", airsign_bin()),
        ("cosign", cosign3),
        ("softhsm2-util", util),
        ("pkcs11-tool", p11),
    ] {
        std::os::unix::fs::symlink(target, bin.join(name)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // a store holding the image the walkthrough signs
    let bed = Bed::new();
    bed.import("single", "registry.example.com/app");
    let work = hsm.path("work");
    std::fs::create_dir(&work).unwrap();
    let home = ToolHome::new();
    let out = run(Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&work)
        .env("PATH", path)
        .env("HOME", home.path())
        .env("AIRSIGN_STORE", &bed.store)
        .env_remove("SOFTHSM2_CONF")
        .env_remove("COSIGN_PKCS11_PIN")
        .env_remove("COSIGN_PKCS11_MODULE_PATH")
        .stdin(std::process::Stdio::null()));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{script}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("verified against the specified public key"),
        "{stderr}"
    );
    // its token store is where it said, not the system's
    assert!(work.join("tokens").read_dir().unwrap().next().is_some());
}

/// A token pulled out in the middle of `sign`: SoftHSM2 cannot be removed, so a shim
/// module (tests/data/pkcs11_removal_shim.c, built here with `cc`, the C compiler
/// cargo links with) forwards to SoftHSM2 and answers `CKR_DEVICE_REMOVED` from the
/// Nth signature on. The first image is signed, the second fails: the error says so
/// in one line, and nothing at all is written (signing happens before writing).
#[test]
fn a_token_removed_while_signing_writes_nothing() {
    let Some((hsm, _)) = token() else {
        return;
    };
    let shim = hsm.path("libremoval-shim.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    ok(Command::new(cc)
        .args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
        .arg(&shim)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pkcs11_removal_shim.c"))
        .arg("-ldl"));
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/single");
    bed.import("multi", "registry.example.com/demo/multi");
    let images = [
        "registry.example.com/demo/single:v1",
        "registry.example.com/demo/multi:v1",
    ];
    let uri = common::softhsm::uri_with_module(TOKEN, "release", &shim);
    let sign = |signs: &str| {
        let mut c = signing(&bed, &hsm, &["sign", "--key", &uri, images[0], images[1]]);
        c.env("AIRSIGN_SHIM_MODULE", &hsm.module)
            .env("AIRSIGN_SHIM_SIGNS", signs);
        run(&mut c)
    };
    let before = snapshot(&bed.store);
    // the key check at open is signature 1, the first image's is 2: then "removed"
    let out = sign("2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("was removed or closed while signing; nothing was written"),
        "{err}"
    );
    assert_eq!(snapshot(&bed.store), before, "a signature was written");

    // the shim is SoftHSM2 otherwise: with the token left in, the same run signs
    let out = sign("100");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = public_key(&bed, &hsm, &hsm.uri(TOKEN, "release"));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), images[0], images[1]]));
}

/// With no PIN in the URI or COSIGN_PKCS11_PIN, airsign asks on the terminal, as
/// cosign does, and does not echo it. The terminal is util-linux's `script` (a pty);
/// the PIN is typed only once the prompt has appeared.
#[test]
fn the_pin_is_asked_on_the_terminal_and_not_echoed() {
    use std::io::{Read as _, Write as _};
    use std::process::Stdio;

    let Some((hsm, _)) = token() else {
        return;
    };
    let bed = Bed::new();
    let file = bed.path("notes.txt");
    std::fs::write(&file, b"signed with a typed PIN\n").unwrap();
    let bundle = bed.path("notes.sigstore.json");
    let uri = hsm.uri(TOKEN, "release");
    let line = format!(
        "{} sign-blob --bundle {} --key '{uri}' {}",
        airsign_bin().display(),
        bundle.display(),
        file.display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"])
        .env_remove("COSIGN_PKCS11_PIN")
        .env_remove("COSIGN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = hsm
        .env(&mut c)
        .spawn()
        .expect("util-linux's script (a terminal for the prompt)");
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let prompt = format!("Enter PIN for key release in PKCS11 token {TOKEN}: ");
    while !String::from_utf8_lossy(&seen).contains(&prompt) {
        let mut b = [0u8; 1];
        let n = stdout.read(&mut b).unwrap();
        assert!(
            n == 1,
            "no prompt; the terminal showed: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.push(b[0]);
    }
    // the prompt is written just before echo is turned off: a typist is slower
    // (a whole second, so a loaded CI machine does not type into the echo window)
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PIN}\n").as_bytes()).unwrap();
    stdout.read_to_end(&mut seen).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let shown = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{shown}");
    assert!(!shown.contains(PIN), "the PIN was echoed: {shown}");
    let public = public_key(&bed, &hsm, &uri);
    let out = ok(&mut bed.cmd(&[
        "verify-blob",
        "--key",
        s(&public),
        "--bundle",
        s(&bundle),
        s(&file),
    ]));
    assert!(out.is_empty(), "{out}");
}

/// The seed flow with the token as the signer: `generate` prints the payload, the
/// token signs it (`sign-blob`), `attach --key pkcs11:…` checks the signature with
/// the token's public key object before attaching it, and cosign 2.5 verifies the
/// result.
#[test]
fn a_payload_signed_in_the_token_is_checked_and_attached() {
    let Some(cosign2) = need!(Tool::Cosign) else {
        return;
    };
    let Some((hsm, _)) = token() else {
        return;
    };
    let Some(dst) = Registry::start(Mode::Plain) else {
        return;
    };
    hsm.keypairgen(TOKEN, PIN, "other", "02");
    let bed = Bed::new();
    let image = "registry.example.com/demo/app:v1";
    bed.import("single", "registry.example.com/demo/app");
    let payload = bed.path("payload.json");
    std::fs::write(&payload, ok(&mut bed.cmd(&["generate", image]))).unwrap();
    let sig = bed.path("payload.sig");
    let uri = hsm.uri(TOKEN, "release");
    ok(&mut signing(
        &bed,
        &hsm,
        &[
            "sign-blob",
            "--key",
            &uri,
            "--new-bundle-format=false",
            "--output-signature",
            s(&sig),
            s(&payload),
        ],
    ));
    let attach = |key: &str| {
        signing(
            &bed,
            &hsm,
            &[
                "attach",
                "signature",
                "--payload",
                s(&payload),
                "--signature",
                s(&sig),
                "--key",
                key,
                image,
            ],
        )
    };
    // another key of the token: refused, nothing attached
    let before = snapshot(&bed.store);
    fails(&mut attach(&hsm.uri(TOKEN, "other")));
    assert_eq!(snapshot(&bed.store), before);
    ok(&mut attach(&uri));

    let public = public_key(&bed, &hsm, &uri);
    ok(&mut bed.cmd(&["sync", image, "--to", &dst.host(), "--plain-http"]));
    let home = ToolHome::new();
    let (_, err) = ok2(home
        .cmd(&cosign2)
        .args(["verify", "--insecure-ignore-tlog=true", "--key"])
        .arg(&public)
        .arg(format!("{}/demo/app:v1", dst.host())));
    assert!(
        err.contains("verified against the specified public key"),
        "{err}"
    );
}
