//! X.509 certificates on signatures (`sign --certificate/--certificate-chain`, `verify`
//! by certificate authority), against a PKI the real openssl builds in a temp dir and
//! checked by the real cosign 2.5 in a registry.
//!
//! The PKI: an EC P-256 root (CA:true) and intermediate (CA:true, pathlen 0, no EKU,
//! as enterprise intermediates usually are), both valid 2019–2049; a code-signing
//! leaf with an email SAN, valid from now for a year, whose key is imported into
//! cosign's format; the same key in an expired leaf (2020–2021) and in a
//! serverAuth-only leaf; and an "evil" root with the real root's name but another key.

mod common;

use common::bed::{Bed, PASSWORD};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::oci::digest_of;
use common::registry::{Mode, Registry};
use common::verifiers::*;
use common::*;
use serde_json::Value;
use tempfile::TempDir;

const REPO: &str = "reg.example/demo/single";
const IMAGE: &str = "reg.example/demo/single:v1";
const SUBJECT: &str = "signer@example.com";
const CERT_LINE: &str = "  - The code-signing certificate was verified using trusted certificate authority certificates";
const KEY_LINE: &str = "  - The signatures were verified against the specified public key";

const OPENSSL_CNF: &str = r#"
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused

[ca]
default_ca = ca_default
[ca_default]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[policy_any]
commonName = supplied

[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_inter]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectAltName = email:signer@example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_fulcio]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectAltName = otherName:1.3.6.1.4.1.57264.1.7;UTF8:alice-bot, URI:https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1
1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:https://token.actions.githubusercontent.com
authorityKeyIdentifier = keyid:always
[v3_fulcio_v1]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectAltName = DNS:build.example.com, email:ci@example.com
1.3.6.1.4.1.57264.1.1 = DER:68747470733a2f2f6973737565722d76312e6578616d706c652e636f6d
authorityKeyIdentifier = keyid:always
[v3_tls]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = URI:https://signer.example.com/
"#;

/// The test PKI, made by openssl in a temp dir.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new(openssl: &Path) -> Pki {
        let dir = TempDir::new().unwrap();
        let d = dir.path();
        fs::write(d.join("pki.cnf"), OPENSSL_CNF).unwrap();
        fs::write(d.join("index.txt"), "").unwrap();
        fs::write(d.join("serial"), "1000\n").unwrap();
        let ossl = |args: &[&str]| {
            ok(Command::new(openssl).args(args).current_dir(d));
        };
        for k in ["root", "inter", "leaf", "evil"] {
            ossl(&[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &format!("{k}.key"),
            ]);
        }
        for (k, cn) in [
            ("root", "Airsign Test Root"),
            ("inter", "Airsign Test Intermediate"),
            ("leaf", "signer"),
            ("evil", "Airsign Test Root"),
        ] {
            ossl(&[
                "req",
                "-new",
                "-config",
                "pki.cnf",
                "-key",
                &format!("{k}.key"),
                "-subj",
                &format!("/CN={cn}"),
                "-out",
                &format!("{k}.csr"),
            ]);
        }
        // `openssl ca` because openssl 3.0 can set a start date only there.
        let issue = |csr: &str, issuer: Option<&str>, ext: &str, dates: &[&str], out: &str| {
            let mut args = vec!["ca", "-batch", "-notext", "-config", "pki.cnf"];
            let (cert, key);
            match issuer {
                None => {
                    key = format!("{csr}.key");
                    args.extend(["-selfsign", "-keyfile", &key]);
                }
                Some(i) => {
                    cert = format!("{i}.pem");
                    key = format!("{i}.key");
                    args.extend(["-cert", &cert, "-keyfile", &key]);
                }
            }
            let csr_file = format!("{csr}.csr");
            args.extend(["-in", &csr_file, "-extensions", ext, "-out", out]);
            args.extend(dates);
            ossl(&args);
        };
        let long = [
            "-startdate",
            "20190101000000Z",
            "-enddate",
            "20491231235959Z",
        ];
        issue("root", None, "v3_root", &long, "root.pem");
        issue("evil", None, "v3_root", &long, "evil.pem");
        issue("inter", Some("root"), "v3_inter", &long, "inter.pem");
        issue(
            "leaf",
            Some("inter"),
            "v3_leaf",
            &["-days", "365"],
            "leaf.pem",
        );
        let past = [
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
        ];
        issue("leaf", Some("inter"), "v3_leaf", &past, "expired.pem");
        issue(
            "leaf",
            Some("inter"),
            "v3_tls",
            &["-days", "365"],
            "tls.pem",
        );
        // Fulcio-like leaves of the same key: the OIDC issuer in the v2 extension
        // (a UTF8String) with a username OtherName SAN, and in the v1 one (raw bytes)
        for (ext, out) in [
            ("v3_fulcio", "fulcio.pem"),
            ("v3_fulcio_v1", "fulcio-v1.pem"),
        ] {
            issue("leaf", Some("inter"), ext, &["-days", "365"], out);
        }
        ossl(&[
            "x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der",
        ]);
        ossl(&[
            "x509",
            "-in",
            "inter.pem",
            "-outform",
            "DER",
            "-out",
            "inter.der",
        ]);
        let cat = |out: &str, parts: &[&str]| {
            let text: Vec<u8> = parts
                .iter()
                .flat_map(|p| fs::read(d.join(p)).unwrap())
                .collect();
            fs::write(d.join(out), text).unwrap();
        };
        cat("chain.pem", &["inter.pem", "root.pem"]);
        cat("reversed.pem", &["root.pem", "inter.pem"]);
        cat("evil-chain.pem", &["inter.pem", "evil.pem"]);
        Pki { dir }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn text(&self, name: &str) -> String {
        fs::read_to_string(self.p(name)).unwrap()
    }
}

impl Bed {
    /// Imports an openssl key into cosign's format; returns (private, public).
    fn import_key(&self, pem: &Path, prefix: &str) -> (PathBuf, PathBuf) {
        let p = self.path(prefix);
        ok(&mut self.cmd(&[
            "import-key-pair",
            "--key",
            s(pem),
            "--output-key-prefix",
            s(&p),
        ]));
        (p.with_extension("key"), p.with_extension("pub"))
    }

    fn blob(&self, digest: &str) -> PathBuf {
        self.store.join("blobs/sha256").join(&digest[7..])
    }

    /// The `.sig` manifest of `repo` for the `single` fixture.
    fn sig_manifest(&self, repo: &str) -> Value {
        let name = format!("{repo}:{}", sig_tag(&fixture_digest("single")));
        let index = self.index();
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == name.as_str())
            .unwrap_or_else(|| panic!("no {name} in the store"));
        serde_json::from_slice(&fs::read(self.blob(entry["digest"].as_str().unwrap())).unwrap())
            .unwrap()
    }

    /// Rewrites one annotation of one layer of `repo`'s `.sig` (a new manifest blob,
    /// the index entry repointed), as a damaged or forged signature would look.
    fn set_layer_annotation(&self, repo: &str, layer: usize, key: &str, value: &str) {
        let name = format!("{repo}:{}", sig_tag(&fixture_digest("single")));
        let mut index = self.index();
        let entry = index["manifests"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == name.as_str())
            .unwrap();
        let mut manifest: Value = serde_json::from_slice(
            &fs::read(self.blob(entry["digest"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        manifest["layers"][layer]["annotations"][key] = value.into();
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let digest = digest_of(&bytes);
        fs::write(self.blob(&digest), &bytes).unwrap();
        entry["digest"] = digest.into();
        entry["size"] = bytes.len().into();
        fs::write(
            self.store.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The verified payloads on stdout.
fn payloads(out: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(out.trim())
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn assert_code(out: &Output, code: i32, want: &str) {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(out).contains(want),
        "expected {want:?} in {}",
        stderr(out)
    );
}

/// A PKI and a store with the `single` fixture as `IMAGE`, plus the leaf's key in
/// cosign's format.
fn setup() -> Option<(Pki, Bed, PathBuf, PathBuf)> {
    let openssl = need!(Tool::Openssl)?;
    let pki = Pki::new(&openssl);
    let bed = Bed::new();
    bed.import("single", REPO);
    let (key, public) = bed.import_key(&pki.p("leaf.key"), "signer");
    Some((pki, bed, key, public))
}

fn by_digest(repo: &str) -> String {
    format!("{repo}@{}", fixture_digest("single"))
}

#[test]
fn sign_stores_the_certificate_and_chain_and_verify_checks_them_offline() {
    let Some((pki, bed, key, public)) = setup() else {
        return;
    };
    let out_cert = bed.path("out.pem");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--certificate",
        s(&pki.p("leaf.pem")),
        "--certificate-chain",
        s(&pki.p("chain.pem")),
        "--output-certificate",
        s(&out_cert),
        &by_digest(REPO),
    ]));

    // the leaf as Go's pem.EncodeToMemory writes it (openssl's PEM is the same
    // bytes), the chain file verbatim, and the leaf again in --output-certificate
    let manifest = bed.sig_manifest(REPO);
    let ann = &manifest["layers"][0]["annotations"];
    assert_eq!(ann["dev.sigstore.cosign/certificate"], pki.text("leaf.pem"));
    assert_eq!(ann["dev.sigstore.cosign/chain"], pki.text("chain.pem"));
    assert!(
        pki.text("leaf.pem")
            .ends_with("-----END CERTIFICATE-----\n")
    );
    assert_eq!(fs::read_to_string(&out_cert).unwrap(), pki.text("leaf.pem"));

    // trust from --certificate-chain (root last)
    let chain = pki.p("chain.pem");
    let out = run(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--certificate-chain",
        s(&chain),
        IMAGE,
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).lines().any(|l| l == CERT_LINE));
    assert!(!stderr(&out).contains(KEY_LINE), "no key was given");
    let p = payloads(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0]["optional"]["Subject"], SUBJECT,
        "cosign's output field"
    );
    assert_eq!(
        p[0]["critical"]["image"]["docker-manifest-digest"],
        fixture_digest("single")
    );

    // trust from --ca-roots, the intermediate from the flag or from the annotation
    let (root, inter) = (pki.p("root.pem"), pki.p("inter.pem"));
    ok(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--ca-roots",
        s(&root),
        "--ca-intermediates",
        s(&inter),
        IMAGE,
    ]));
    ok(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--ca-roots",
        s(&root),
        IMAGE,
    ]));

    // a root with the same name but another key is not trusted: exit 12
    let evil = pki.p("evil.pem");
    let out = run(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--ca-roots",
        s(&evil),
        IMAGE,
    ]));
    assert_code(&out, 12, "certificate verification failed");
    let out = run(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--certificate-chain",
        s(&pki.p("evil-chain.pem")),
        IMAGE,
    ]));
    assert_code(&out, 12, "untrusted");
    // the intermediate as the only "root" is a trust anchor too (cosign reads
    // --certificate-chain's last certificate as the root, self-signed or not)
    ok(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--certificate-chain",
        s(&inter),
        IMAGE,
    ]));

    // the key still verifies alone (no certificate line) ...
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), IMAGE]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).lines().any(|l| l == KEY_LINE));
    assert!(!stderr(&out).contains(CERT_LINE));
    // ... and with CA flags the certificate must validate as well
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), "--ca-roots", s(&root), IMAGE]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).lines().any(|l| l == KEY_LINE));
    assert!(stderr(&out).lines().any(|l| l == CERT_LINE));
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), "--ca-roots", s(&evil), IMAGE]));
    assert_code(&out, 12, "certificate verification failed");

    // -o text: the payload on stdout, the certificate's subject on stderr
    let out = run(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--ca-roots",
        s(&root),
        "-o",
        "text",
        IMAGE,
    ]));
    assert!(out.status.success());
    assert!(stderr(&out).contains(&format!("Certificate subject: {SUBJECT}")));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("{\"critical\""));

    // a DER leaf is stored as the same PEM: signing again is a duplicate
    let before = snapshot(&bed.store);
    let out = run(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--cert",
        s(&pki.p("leaf.der")),
        "--cert-chain",
        s(&chain),
        &by_digest(REPO),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("already there"), "{}", stderr(&out));
    assert_eq!(snapshot(&bed.store), before);
    ok(&mut bed.cmd(&["fsck"]));
}

#[test]
fn verify_by_certificate_needs_trust_flags_and_certificates() {
    let Some((pki, bed, key, _)) = setup() else {
        return;
    };
    // neither --key nor a CA flag: a usage error
    let out = run(&mut bed.cmd(&["verify", IMAGE]));
    assert_code(&out, 2, "--certificate-chain or --ca-roots");

    // a key-only signature has no certificate: cosign's code 13
    ok(&mut bed.cmd(&["sign", "--key", s(&key), &by_digest(REPO)]));
    let chain = pki.p("chain.pem");
    let out = run(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--certificate-chain",
        s(&chain),
        IMAGE,
    ]));
    assert_code(&out, 13, "no certificate found on signature");
    assert_eq!(stderr(&out).lines().count(), 1);

    // a signature with a certificate next to it: that one verifies, only that one
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--certificate",
        s(&pki.p("leaf.pem")),
        "-a",
        "with=certificate",
        &by_digest(REPO),
    ]));
    let out = ok(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--certificate-chain",
        s(&chain),
        IMAGE,
    ]));
    let p = payloads(&out);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["optional"]["with"], "certificate");

    // bad trust files are one-line errors
    for (flag, file, want) in [
        ("--certificate-chain", "inter.der", "binary data"),
        ("--ca-roots", "leaf.key", "not a CERTIFICATE"),
        ("--ca-roots", "pki.cnf", "no PEM certificate"),
    ] {
        let out = run(&mut bed.cmd(&[
            "verify",
            "--certificate-identity",
            SUBJECT,
            "--certificate-oidc-issuer-regexp",
            ".*",
            flag,
            s(&pki.p(file)),
            IMAGE,
        ]));
        assert!(!out.status.success());
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
    }
}

#[test]
fn bad_certificates_are_refused_before_the_password_and_change_nothing() {
    let Some((pki, bed, key, _)) = setup() else {
        return;
    };
    let (other_key, _) = bed.import_key(&pki.p("evil.key"), "other");
    fs::write(
        pki.p("garbage.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    fs::write(
        pki.p("not-x509.pem"),
        "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let before = snapshot(&bed.store);
    let image = by_digest(REPO);
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "expired.pem",
            None,
            "the certificate expired at 2021-01-01T00:00:00Z",
        ),
        ("expired.pem", Some("chain.pem"), "expired at 2021-01-01"),
        ("tls.pem", None, "does not include code signing"),
        ("inter.pem", None, "has no extended key usage"),
        ("garbage.pem", None, "bad base64"),
        ("not-x509.pem", None, "not an X.509 certificate"),
        ("pki.cnf", None, "neither DER nor PEM"),
        ("leaf.pem", Some("inter.der"), "binary data; a DER file?"),
        ("leaf.pem", Some("garbage.pem"), "bad base64"),
        (
            "leaf.pem",
            Some("reversed.pem"),
            "is not the issuer of CN=signer",
        ),
        (
            "leaf.pem",
            Some("root.pem"),
            "is not the issuer of CN=signer",
        ),
        ("leaf.pem", Some("inter.pem"), "not a self-signed root"),
        (
            "leaf.pem",
            Some("evil-chain.pem"),
            "unable to validate certificate chain",
        ),
    ];
    for (cert, chain, want) in cases {
        let mut c = bed.cmd(&["sign", "--key", s(&key), "--certificate", s(&pki.p(cert))]);
        if let Some(chain) = chain {
            c.args(["--certificate-chain", s(&pki.p(chain))]);
        }
        // No password anywhere: reaching the key would fail with "wrong password",
        // so each message below proves the check ran before the key was opened.
        c.env_remove("COSIGN_PASSWORD").arg(&image);
        let out = run(&mut c);
        assert!(!out.status.success(), "{cert} {chain:?} was accepted");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{cert} {chain:?}: {err}");
        assert!(
            err.contains(want),
            "{cert} {chain:?}: expected {want:?} in {err}"
        );
    }

    // the key comparison needs the key, so it comes right after it
    let out = run(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&other_key),
        "--certificate",
        s(&pki.p("leaf.pem")),
        &image,
    ]));
    assert_code(
        &out,
        1,
        "public key in certificate does not match the provided public key",
    );
    assert_eq!(stderr(&out).lines().count(), 1);

    // a chain without the certificate it chains
    let out = run(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--certificate-chain",
        s(&pki.p("chain.pem")),
        &image,
    ]));
    assert_code(&out, 2, "--certificate-chain needs --certificate");

    assert_eq!(
        snapshot(&bed.store),
        before,
        "a refused sign changed the store"
    );
}

#[test]
fn damaged_or_expired_certificates_on_signatures_fail_only_their_layer() {
    let Some((pki, bed, key, public)) = setup() else {
        return;
    };
    let leaf = pki.p("leaf.pem");
    for a in ["n=1", "n=2"] {
        ok(&mut bed.cmd(&[
            "sign",
            "--key",
            s(&key),
            "--certificate",
            s(&leaf),
            "-a",
            a,
            &by_digest(REPO),
        ]));
    }
    let chain = pki.p("chain.pem");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--certificate-identity",
            SUBJECT,
            "--certificate-oidc-issuer-regexp",
            ".*",
            "--certificate-chain",
            s(&chain),
        ];
        args.extend(extra);
        args.push(IMAGE);
        run(&mut bed.cmd(&args))
    };
    assert_eq!(
        payloads(&String::from_utf8_lossy(&verify(&[]).stdout)).len(),
        2
    );

    // layer 2's certificate becomes garbage: layer 1 still verifies, layer 2 never
    bed.set_layer_annotation(REPO, 1, "dev.sigstore.cosign/certificate", "garbage");
    let out = verify(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let p = payloads(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["optional"]["n"], "1");
    assert_code(
        &verify(&["-a", "n=2"]),
        12,
        "invalid certificate found on signature",
    );
    // cosign reads the certificate even given a key, and so fails the layer too
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), "-a", "n=2", IMAGE]));
    assert_code(&out, 12, "invalid certificate found on signature");

    // a damaged chain annotation fails its layer the same way
    bed.set_layer_annotation(
        REPO,
        1,
        "dev.sigstore.cosign/certificate",
        &pki.text("leaf.pem"),
    );
    assert!(verify(&["-a", "n=2"]).status.success());
    bed.set_layer_annotation(
        REPO,
        1,
        "dev.sigstore.cosign/chain",
        "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
    );
    assert_code(
        &verify(&["-a", "n=2"]),
        12,
        "invalid certificate chain found on signature",
    );

    // layer 1 carries the expired certificate of the same key: the chain validates
    // at its notBefore (2020), then the expiry check fails, with or without --key,
    // as in cosign without a signed timestamp
    bed.set_layer_annotation(
        REPO,
        0,
        "dev.sigstore.cosign/certificate",
        &pki.text("expired.pem"),
    );
    assert_code(
        &verify(&["-a", "n=1"]),
        12,
        "the certificate expired at 2021-01-01",
    );
    let out = run(&mut bed.cmd(&["verify", "--key", s(&public), "-a", "n=1", IMAGE]));
    assert_code(&out, 12, "checking expiry on certificate");

    // a certificate of the key that is not for code signing
    bed.set_layer_annotation(
        REPO,
        0,
        "dev.sigstore.cosign/certificate",
        &pki.text("tls.pem"),
    );
    assert_code(&verify(&["-a", "n=1"]), 12, "code signing");
}

/// `cosign verify` in custom-PKI mode, offline: the roots from the flags, no SCT,
/// no Rekor. The identity and issuer regexps are required in keyless mode; a
/// custom-PKI certificate has no Fulcio issuer extension, so only `.*` matches it.
fn cosign_verify_by_ca(
    cosign: &Path,
    reg: &Registry,
    trust: &[&str],
    identity: &str,
    image: &str,
) -> Output {
    let home = TempDir::new().unwrap();
    run(Command::new(cosign)
        .env("HOME", home.path())
        .arg("verify")
        .args(trust)
        .args(["--certificate-oidc-issuer-regexp", ".*"])
        .args(["--insecure-ignore-sct", "--insecure-ignore-tlog=true"])
        .arg(identity)
        .args(reg.cosign_args(true))
        .arg(format!("{}/{image}", reg.host())))
}

#[test]
fn certificate_signatures_verify_with_cosign_in_a_registry() {
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
    let pki = Pki::new(&openssl);
    let bed = Bed::new();
    let (key, public) = bed.import_key(&pki.p("leaf.key"), "signer");
    let sd = fixture_digest("single");
    let good = format!("{}/demo/certs", reg.host());
    let expired = format!("{}/demo/expired", reg.host());
    bed.import("single", &good);
    bed.import("single", &expired);
    for repo in [&good, &expired] {
        ok(&mut bed.cmd(&[
            "sign",
            "--key",
            s(&key),
            "--certificate",
            s(&pki.p("leaf.pem")),
            "--certificate-chain",
            s(&pki.p("chain.pem")),
            &by_digest(repo),
        ]));
    }
    // the same signature, but the certificate swapped for the expired one of the key
    bed.set_layer_annotation(
        &expired,
        0,
        "dev.sigstore.cosign/certificate",
        &pki.text("expired.pem"),
    );
    for repo in [&good, &expired] {
        let short = repo.split_once('/').unwrap().1;
        for tag in ["v1".to_string(), sig_tag(&sd)] {
            let out = skopeo_push(
                &skopeo,
                &reg,
                &bed.store,
                &format!("{repo}:{tag}"),
                &format!("{short}:{tag}"),
            );
            assert!(out.status.success(), "push {repo}:{tag}: {}", stderr(&out));
        }
    }

    let chain = pki.p("chain.pem");
    let (root, inter) = (pki.p("root.pem"), pki.p("inter.pem"));
    let any = "--certificate-identity-regexp=.*";
    let by_chain = ["--certificate-chain", s(&chain)];
    let out = cosign_verify_by_ca(&cosign, &reg, &by_chain, any, "demo/certs:v1");
    assert!(
        out.status.success(),
        "cosign verify --certificate-chain: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(CERT_LINE.trim()), "{}", stderr(&out));
    let p = payloads(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(p[0]["optional"]["Subject"], SUBJECT);
    // the exact identity, and --ca-roots with the intermediate from the annotation
    let exact = format!("--certificate-identity={SUBJECT}");
    let by_roots = ["--ca-roots", s(&root)];
    let out = cosign_verify_by_ca(&cosign, &reg, &by_roots, &exact, "demo/certs:v1");
    assert!(
        out.status.success(),
        "cosign verify --ca-roots: {}",
        stderr(&out)
    );
    let by_both = ["--ca-roots", s(&root), "--ca-intermediates", s(&inter)];
    let out = cosign_verify_by_ca(&cosign, &reg, &by_both, any, "demo/certs:v1");
    assert!(out.status.success(), "{}", stderr(&out));
    // the key alone, the certificate annotations notwithstanding
    let out = cosign_verify(&cosign, &reg, &public, "demo/certs:v1", &[]);
    assert!(
        out.status.success(),
        "cosign verify --key: {}",
        stderr(&out)
    );

    // what airsign refuses, cosign refuses: another root, another identity, and
    // an expired certificate without a signed timestamp
    let evil = pki.p("evil.pem");
    let by_evil = ["--ca-roots", s(&evil)];
    let out = cosign_verify_by_ca(&cosign, &reg, &by_evil, any, "demo/certs:v1");
    assert!(!out.status.success(), "cosign trusted the evil root");
    let who = "--certificate-identity=someone@example.com";
    let out = cosign_verify_by_ca(&cosign, &reg, &by_chain, who, "demo/certs:v1");
    assert!(!out.status.success(), "cosign accepted another identity");
    let out = cosign_verify_by_ca(&cosign, &reg, &by_chain, any, "demo/expired:v1");
    assert!(
        !out.status.success(),
        "cosign accepted the expired certificate"
    );
    assert!(
        stderr(&out).contains("expired certificate"),
        "{}",
        stderr(&out)
    );
    let out = run(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--certificate-chain",
        s(&chain),
        &format!("{expired}:v1"),
    ]));
    assert_eq!(out.status.code(), Some(12));

    // and a key-only signature in cert mode: cosign reports "no certificate found
    // on signature" inside "no matching signatures" (exit 12); airsign uses 13
    let plain = format!("{}/demo/plain", reg.host());
    bed.import("single", &plain);
    ok(&mut bed.cmd(&["sign", "--key", s(&key), &by_digest(&plain)]));
    for tag in ["v1".to_string(), sig_tag(&sd)] {
        let out = skopeo_push(
            &skopeo,
            &reg,
            &bed.store,
            &format!("{plain}:{tag}"),
            &format!("demo/plain:{tag}"),
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = cosign_verify_by_ca(&cosign, &reg, &by_chain, any, "demo/plain:v1");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no certificate found on signature"),
        "{}",
        stderr(&out)
    );
    let out = run(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--certificate-chain",
        s(&chain),
        &format!("{plain}:v1"),
    ]));
    assert_eq!(out.status.code(), Some(13));
}

#[test]
fn cosign_certificate_signatures_verify_with_airsign_offline() {
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
    let pki = Pki::new(&openssl);
    let bed = Bed::new();
    let (key, public) = bed.import_key(&pki.p("leaf.key"), "signer");
    let sd = fixture_digest("single");
    assert!(
        skopeo_push(
            &skopeo,
            &reg,
            &fixtures().join("single"),
            "v1",
            "demo/cosigned:v1"
        )
        .status
        .success()
    );
    // cosign 2.5 signs with the same certificate and chain, in the registry
    let home = TempDir::new().unwrap();
    ok(Command::new(&cosign)
        .env("HOME", home.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign", "--key", s(&key), "--tlog-upload=false", "--yes"])
        .args(["--certificate", s(&pki.p("leaf.pem"))])
        .args(["--certificate-chain", s(&pki.p("chain.pem"))])
        .arg(format!("{}/demo/cosigned@{sd}", reg.host())));

    let layout = bed.path("layout");
    let tag = sig_tag(&sd);
    for (src, name) in [("v1", "v1"), (tag.as_str(), tag.as_str())] {
        let out = skopeo_pull(
            &skopeo,
            &reg,
            &format!("demo/cosigned:{src}"),
            &layout,
            name,
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let name = format!("{}/demo/cosigned", reg.host());
    ok(&mut bed.cmd(&[
        "import",
        &format!("oci:{}", layout.display()),
        "--repository",
        &name,
    ]));
    // cosign stored what airsign stores: the leaf PEM and the chain file as it is
    let manifest = bed.sig_manifest(&name);
    let ann = &manifest["layers"][0]["annotations"];
    assert_eq!(ann["dev.sigstore.cosign/certificate"], pki.text("leaf.pem"));
    assert_eq!(ann["dev.sigstore.cosign/chain"], pki.text("chain.pem"));

    let image = format!("{name}:v1");
    let out = ok(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--ca-roots",
        s(&pki.p("root.pem")),
        &image,
    ]));
    assert_eq!(payloads(&out)[0]["optional"]["Subject"], SUBJECT);
    ok(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--certificate-chain",
        s(&pki.p("chain.pem")),
        &image,
    ]));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), &image]));
    let out = run(&mut bed.cmd(&[
        "verify",
        "--certificate-identity",
        SUBJECT,
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--ca-roots",
        s(&pki.p("evil.pem")),
        &image,
    ]));
    assert_eq!(out.status.code(), Some(12));
}

/// The identity flags (`--certificate-identity[-regexp]`,
/// `--certificate-oidc-issuer[-regexp]`) as cosign 2.5 applies them: required in
/// keyless mode, matched against every SAN (OtherName username included) and the
/// Fulcio v1 issuer extension (raw bytes; cosign 2.5 ignores the v2 one), regexps
/// unanchored.
#[test]
fn identity_flags_filter_certificates_as_cosign_does() {
    let Some((pki, bed, key, public)) = setup() else {
        return;
    };
    let chain = pki.p("chain.pem");
    let images = [
        (REPO.to_string(), "leaf.pem"),
        ("registry.example.com/demo/fulcio".to_string(), "fulcio.pem"),
        (
            "registry.example.com/demo/fulcio-v1".to_string(),
            "fulcio-v1.pem",
        ),
    ];
    for (repo, _) in &images[1..] {
        bed.import("single", repo);
    }
    for (repo, cert) in &images {
        ok(&mut bed.cmd(&[
            "sign",
            "--key",
            s(&key),
            "--certificate",
            s(&pki.p(cert)),
            "--certificate-chain",
            s(&chain),
            &by_digest(repo),
        ]));
    }
    let verify = |image: &str, flags: &[&str]| {
        let mut args = vec!["verify", "--certificate-chain", s(&chain)];
        args.extend(flags);
        args.push(image);
        run(&mut bed.cmd(&args))
    };
    let any_issuer = ["--certificate-oidc-issuer-regexp", ".*"];
    let gh = "https://token.actions.githubusercontent.com";
    let (plain, v2, v1) = (
        format!("{REPO}:v1"),
        format!("{}:v1", images[1].0),
        format!("{}:v1", images[2].0),
    );

    // required in keyless mode, as cosign says
    assert_code(
        &verify(&plain, &any_issuer),
        2,
        "--certificate-identity or --certificate-identity-regexp is required for verification in keyless mode",
    );
    assert_code(
        &verify(&plain, &["--certificate-identity", SUBJECT]),
        2,
        "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required",
    );
    // and refused, not ignored, where no certificate is validated
    let out = run(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        "--certificate-identity",
        SUBJECT,
        &plain,
    ]));
    assert_code(&out, 2, "with --key alone");
    // a malformed regexp: one line, exit 2
    let out = verify(
        &plain,
        &[
            "--certificate-identity-regexp",
            "(x",
            "--certificate-oidc-issuer-regexp",
            ".*",
        ],
    );
    assert_code(&out, 2, "malformed subject in identity: (x");
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));

    let cases: &[(&str, &[&str], bool)] = &[
        // a private CA's certificate: the email SAN; no issuer extension
        (
            &plain,
            &[
                "--certificate-identity",
                SUBJECT,
                "--certificate-oidc-issuer-regexp",
                ".*",
            ],
            true,
        ),
        (
            &plain,
            &[
                "--certificate-identity",
                SUBJECT,
                "--certificate-oidc-issuer-regexp",
                "^$",
            ],
            true,
        ),
        (
            &plain,
            &[
                "--certificate-identity",
                "someone@example.com",
                "--certificate-oidc-issuer-regexp",
                ".*",
            ],
            false,
        ),
        (
            &plain,
            &[
                "--certificate-identity",
                SUBJECT,
                "--certificate-oidc-issuer",
                gh,
            ],
            false,
        ),
        (
            &plain,
            &[
                "--certificate-identity-regexp",
                "^signer@",
                "--certificate-oidc-issuer-regexp",
                ".*",
            ],
            true,
        ),
        (
            &plain,
            &[
                "--certificate-identity-regexp",
                "example\\.org$",
                "--certificate-oidc-issuer-regexp",
                ".*",
            ],
            false,
        ),
        // unanchored, as Go's MatchString
        (
            &plain,
            &[
                "--certificate-identity-regexp",
                "gner@exa",
                "--certificate-oidc-issuer-regexp",
                ".",
            ],
            false,
        ),
        (
            &plain,
            &[
                "--certificate-identity-regexp",
                "gner@exa",
                "--certificate-oidc-issuer-regexp",
                "",
            ],
            true,
        ),
        // the regexp wins over the exact flag
        (
            &plain,
            &[
                "--certificate-identity",
                "nobody",
                "--certificate-identity-regexp",
                "signer",
                "--certificate-oidc-issuer-regexp",
                ".*",
            ],
            true,
        ),
        // the OtherName username or the URI SAN; the v2 issuer extension is not
        // read (cosign 2.5 reads only v1), so the issuer is empty
        (
            &v2,
            &[
                "--certificate-identity",
                "alice-bot",
                "--certificate-oidc-issuer-regexp",
                "^$",
            ],
            true,
        ),
        (
            &v2,
            &[
                "--certificate-identity-regexp",
                "^https://github.com/org/repo/",
                "--certificate-oidc-issuer-regexp",
                ".*",
            ],
            true,
        ),
        (
            &v2,
            &[
                "--certificate-identity",
                "alice-bot",
                "--certificate-oidc-issuer",
                gh,
            ],
            false,
        ),
        (
            &v2,
            &[
                "--certificate-identity",
                "alice-bot",
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
            false,
        ),
        (
            &v2,
            &[
                "--certificate-identity",
                "mallory",
                "--certificate-oidc-issuer",
                gh,
            ],
            false,
        ),
        // Fulcio v1 issuer (raw bytes), DNS and email SANs
        (
            &v1,
            &[
                "--certificate-identity",
                "build.example.com",
                "--certificate-oidc-issuer",
                "https://issuer-v1.example.com",
            ],
            true,
        ),
        (
            &v1,
            &[
                "--certificate-identity",
                "ci@example.com",
                "--certificate-oidc-issuer-regexp",
                "issuer-v1",
            ],
            true,
        ),
        (
            &v1,
            &[
                "--certificate-identity",
                "ci@example.com",
                "--certificate-oidc-issuer",
                gh,
            ],
            false,
        ),
    ];
    for (image, flags, pass) in cases {
        let out = verify(image, flags);
        if *pass {
            assert!(out.status.success(), "{image} {flags:?}: {}", stderr(&out));
        } else {
            assert_code(&out, 12, "none of the expected identities matched");
        }
    }
    // what the certificate names is in the error, as cosign words it
    let out = verify(
        &v2,
        &[
            "--certificate-identity",
            "mallory",
            "--certificate-oidc-issuer",
            gh,
        ],
    );
    assert!(
        stderr(&out).contains(
            "got subjects [https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1, alice-bot] with issuer \"\""
        ),
        "{}",
        stderr(&out)
    );
    let out = verify(
        &v1,
        &[
            "--certificate-identity",
            "mallory",
            "--certificate-oidc-issuer-regexp",
            ".*",
        ],
    );
    assert!(
        stderr(&out).contains(
            "got subjects [build.example.com, ci@example.com] with issuer \"https://issuer-v1.example.com\""
        ),
        "{}",
        stderr(&out)
    );

    // with --key and CA flags, a certificate-carrying signature must match too
    let out = run(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        "--ca-roots",
        s(&pki.p("root.pem")),
        "--certificate-identity",
        "someone@example.com",
        &plain,
    ]));
    assert_code(&out, 12, "none of the expected identities matched");
}

/// The same identity flags give the same answer from the real cosign 2.5, on the
/// same signatures pushed byte for byte to a registry: proof that the SANs and the
/// issuer extension are read as cosign reads them (v1 only, v2 ignored).
#[test]
fn identity_flags_agree_with_cosign_in_a_registry() {
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
    let pki = Pki::new(&openssl);
    let bed = Bed::new();
    let (key, _) = bed.import_key(&pki.p("leaf.key"), "signer");
    let sd = fixture_digest("single");
    let chain = pki.p("chain.pem");
    let gh = "https://token.actions.githubusercontent.com";
    for (name, cert) in [
        ("plain", "leaf.pem"),
        ("v2", "fulcio.pem"),
        ("v1", "fulcio-v1.pem"),
    ] {
        let repo = format!("{}/ids/{name}", reg.host());
        bed.import("single", &repo);
        ok(&mut bed.cmd(&[
            "sign",
            "--key",
            s(&key),
            "--certificate",
            s(&pki.p(cert)),
            "--certificate-chain",
            s(&chain),
            &format!("{repo}@{sd}"),
        ]));
        for tag in ["v1".to_string(), sig_tag(&sd)] {
            let out = skopeo_push(
                &skopeo,
                &reg,
                &bed.store,
                &format!("{repo}:{tag}"),
                &format!("ids/{name}:{tag}"),
            );
            assert!(out.status.success(), "push {repo}:{tag}: {}", stderr(&out));
        }
    }
    let cases: &[(&str, &[&str])] = &[
        (
            "plain",
            &[
                "--certificate-identity",
                SUBJECT,
                "--certificate-oidc-issuer-regexp",
                ".*",
            ],
        ),
        (
            "plain",
            &[
                "--certificate-identity",
                SUBJECT,
                "--certificate-oidc-issuer",
                gh,
            ],
        ),
        (
            "plain",
            &[
                "--certificate-identity-regexp",
                "gner@exa",
                "--certificate-oidc-issuer-regexp",
                "^$",
            ],
        ),
        (
            "v2",
            &[
                "--certificate-identity",
                "alice-bot",
                "--certificate-oidc-issuer",
                gh,
            ],
        ),
        (
            "v2",
            &[
                "--certificate-identity-regexp",
                "^https://github.com/org/repo/",
                "--certificate-oidc-issuer-regexp",
                "actions",
            ],
        ),
        (
            "v2",
            &[
                "--certificate-identity",
                "alice-bot",
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
        ),
        (
            "v1",
            &[
                "--certificate-identity",
                "build.example.com",
                "--certificate-oidc-issuer",
                "https://issuer-v1.example.com",
            ],
        ),
        (
            "v1",
            &[
                "--certificate-identity",
                "ci@example.com",
                "--certificate-oidc-issuer",
                gh,
            ],
        ),
    ];
    let mut passes = 0;
    for (name, flags) in cases {
        let image = format!("{}/ids/{name}:v1", reg.host());
        let home = TempDir::new().unwrap();
        let theirs = run(Command::new(&cosign)
            .env("HOME", home.path())
            .args(["verify", "--certificate-chain", s(&chain)])
            .args(*flags)
            .args(["--insecure-ignore-sct", "--insecure-ignore-tlog=true"])
            .args(reg.cosign_args(true))
            .arg(&image));
        let mut args = vec!["verify", "--certificate-chain", s(&chain)];
        args.extend(*flags);
        args.push(&image);
        let ours = run(&mut bed.cmd(&args));
        assert_eq!(
            ours.status.success(),
            theirs.status.success(),
            "{name} {flags:?}: airsign {} / cosign {}",
            stderr(&ours),
            stderr(&theirs)
        );
        passes += usize::from(ours.status.success());
    }
    // the table has teeth both ways
    assert!(
        passes > 0 && passes < cases.len(),
        "{passes} of {}",
        cases.len()
    );
}

/// A cosign 3 bundle made with `--certificate` carries the certificate (v0.3
/// `certificate.rawBytes`); verify by the CA flags alone checks its chain and the
/// identity, as for a `.sig` layer, and a wrong identity is refused.
#[test]
fn a_certificate_bundle_verifies_by_the_ca_flags_and_identity() {
    let Some((pki, bed, key, _public)) = setup() else {
        return;
    };
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--certificate",
        s(&pki.p("leaf.pem")),
        "--certificate-chain",
        s(&pki.p("chain.pem")),
        "--new-bundle-format=true",
        &by_digest(REPO),
    ]));
    let listed: Value =
        serde_json::from_str(&ok(&mut bed.cmd(&["signatures", "--json", IMAGE]))).unwrap();
    assert_eq!(listed[0]["format"], "bundle", "{listed}");
    assert_eq!(listed[0]["signer"], SUBJECT, "{listed}");
    let chain = pki.p("chain.pem");
    let verify = |identity: &str| {
        run(&mut bed.cmd(&[
            "verify",
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer-regexp",
            ".*",
            "--certificate-chain",
            s(&chain),
            IMAGE,
        ]))
    };
    let out = verify(SUBJECT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).lines().any(|l| l == CERT_LINE),
        "{}",
        stderr(&out)
    );
    let out = verify("someone-else@example.com");
    assert_code(&out, 12, "no matching signatures");
}
