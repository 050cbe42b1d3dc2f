//! Every signature algorithm airsign signs and verifies with (cosign's
//! `--signing-algorithm` names: ECDSA P-256/P-384/P-521, RSA 2048–4096 PKCS#1 v1.5
//! and PSS, Ed25519), judged by the real cosign 3.1.1 and openssl both ways: keys
//! airsign generates and keys openssl makes (imported), blobs signed by airsign and
//! verified by cosign and openssl, blobs signed by cosign and openssl and verified by
//! airsign, images signed with a P-384 and an RSA key verified by cosign 3.1.1 after
//! a sync, and no signature ever verifying under another key.
//!
//! What cosign 3.1.1 itself cannot do, asserted as such so a change is noticed:
//! verify a P-384/P-521 signature without `--signature-digest-algorithm` (its
//! key verifier defaults to SHA-256, while its signer uses SHA-384/SHA-512), verify
//! an RSA-PSS signature with a key (its key verifier is PKCS#1 v1.5 only), or verify
//! its own offline Ed25519 bundle (`messageDigest` is empty: "message is missing
//! artifact digest"). openssl judges those.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::bed::Bed;
use common::gotools::{ToolHome, cosign3_sign, ok2};
use common::registry::{Mode, Registry};
use common::verifiers::skopeo_push;
use common::*;
use tempfile::TempDir;

const PASSWORD: &str = "algorithms pw";

/// What each algorithm is, for the judges: cosign's name, how openssl makes such a
/// key, the hash cosign must be told (`None`: its SHA-256 default), and how openssl
/// verifies and signs (`dgst` with a hash and options, or `pkeyutl -rawin`).
struct Alg {
    name: &'static str,
    genpkey: &'static [&'static str],
    cosign_hash: Option<&'static str>,
    openssl: Ossl,
    /// cosign 3.1.1 verifies it with a key (bundle, bare signature).
    cosign_verifies: (bool, bool),
}

enum Ossl {
    Dgst(&'static str, &'static [&'static str]),
    RawEd25519,
}

const PSS: &[&str] = &[
    "-sigopt",
    "rsa_padding_mode:pss",
    "-sigopt",
    "rsa_pss_saltlen:auto",
];

const ALGS: &[Alg] = &[
    Alg {
        name: "ecdsa-sha2-256-nistp256",
        genpkey: &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        cosign_hash: None,
        openssl: Ossl::Dgst("-sha256", &[]),
        cosign_verifies: (true, true),
    },
    Alg {
        name: "ecdsa-sha2-384-nistp384",
        genpkey: &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        cosign_hash: Some("sha384"),
        openssl: Ossl::Dgst("-sha384", &[]),
        cosign_verifies: (true, true),
    },
    Alg {
        name: "ecdsa-sha2-512-nistp521",
        genpkey: &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
        cosign_hash: Some("sha512"),
        openssl: Ossl::Dgst("-sha512", &[]),
        cosign_verifies: (true, true),
    },
    Alg {
        name: "rsa-sign-pkcs1-2048-sha256",
        genpkey: &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        cosign_hash: None,
        openssl: Ossl::Dgst("-sha256", &[]),
        cosign_verifies: (true, true),
    },
    Alg {
        name: "rsa-sign-pkcs1-3072-sha256",
        genpkey: &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        cosign_hash: None,
        openssl: Ossl::Dgst("-sha256", &[]),
        cosign_verifies: (true, true),
    },
    Alg {
        name: "rsa-sign-pkcs1-4096-sha256",
        genpkey: &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
        cosign_hash: None,
        openssl: Ossl::Dgst("-sha256", &[]),
        cosign_verifies: (true, true),
    },
    Alg {
        name: "rsa-sign-pss-2048-sha256",
        genpkey: &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        cosign_hash: None,
        openssl: Ossl::Dgst("-sha256", PSS),
        cosign_verifies: (false, false),
    },
    Alg {
        name: "rsa-sign-pss-3072-sha256",
        genpkey: &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        cosign_hash: None,
        openssl: Ossl::Dgst("-sha256", PSS),
        cosign_verifies: (false, false),
    },
    Alg {
        name: "rsa-sign-pss-4096-sha256",
        genpkey: &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
        cosign_hash: None,
        openssl: Ossl::Dgst("-sha256", PSS),
        cosign_verifies: (false, false),
    },
    Alg {
        name: "ed25519",
        genpkey: &["-algorithm", "ED25519"],
        cosign_hash: None,
        openssl: Ossl::RawEd25519,
        cosign_verifies: (false, true),
    },
];

/// A temp dir where airsign, cosign and openssl run side by side.
struct Dir {
    tmp: TempDir,
    cosign3: PathBuf,
    openssl: PathBuf,
}

impl Dir {
    fn new() -> Option<Dir> {
        let cosign3 = need!(Tool::Cosign3)?;
        let openssl = need!(Tool::Openssl)?;
        Some(Dir {
            tmp: TempDir::new().unwrap(),
            cosign3,
            openssl,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn airsign(&self, args: &[&str]) -> Command {
        let mut c = airsign(args);
        c.current_dir(self.tmp.path())
            .env("COSIGN_PASSWORD", PASSWORD)
            .env("HOME", self.path("home"));
        c
    }

    fn cosign(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.cosign3);
        c.args(args)
            .current_dir(self.tmp.path())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("home/config"))
            .env("XDG_CACHE_HOME", self.path("home/cache"))
            .env("COSIGN_PASSWORD", PASSWORD)
            .env_remove("COSIGN_REPOSITORY")
            .env_remove("SIGSTORE_ROOT_FILE")
            .stdin(Stdio::null());
        c
    }

    fn openssl(&self, args: &[&str]) -> Output {
        run(Command::new(&self.openssl)
            .args(args)
            .current_dir(self.tmp.path())
            .stdin(Stdio::null()))
    }

    fn openssl_ok(&self, args: &[&str]) {
        let out = self.openssl(args);
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// openssl's key for `alg` as `NAME.pem` (PKCS#8) and `NAME.pub.pem`.
    fn openssl_key(&self, alg: &Alg, name: &str) -> (String, String) {
        let (key, public) = (format!("{name}.pem"), format!("{name}.pub.pem"));
        let mut args = vec!["genpkey"];
        args.extend_from_slice(alg.genpkey);
        args.extend_from_slice(&["-out", &key]);
        self.openssl_ok(&args);
        self.openssl_ok(&["pkey", "-in", &key, "-pubout", "-out", &public]);
        (key, public)
    }

    /// Whether openssl verifies the raw signature `sig` over `file` with `public`.
    fn openssl_verifies(&self, alg: &Alg, public: &str, sig: &str, file: &str) -> bool {
        let out = match alg.openssl {
            Ossl::Dgst(hash, opts) => {
                let mut args = vec!["dgst", hash];
                args.extend_from_slice(opts);
                args.extend_from_slice(&["-verify", public, "-signature", sig, file]);
                self.openssl(&args)
            }
            Ossl::RawEd25519 => self.openssl(&[
                "pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin", "-in", file,
                "-sigfile", sig,
            ]),
        };
        out.status.success()
    }

    /// openssl's raw signature over `file` with `key`, written to `out`.
    fn openssl_sign(&self, alg: &Alg, key: &str, file: &str, out: &str) {
        match alg.openssl {
            Ossl::Dgst(hash, opts) => {
                let mut args = vec!["dgst", hash];
                args.extend_from_slice(opts);
                args.extend_from_slice(&["-sign", key, "-out", out, file]);
                self.openssl_ok(&args);
            }
            Ossl::RawEd25519 => self.openssl_ok(&[
                "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", file, "-out", out,
            ]),
        }
    }

    /// Whether cosign 3.1.1 `verify-blob --key PUB --insecure-ignore-tlog` accepts
    /// `how evidence` for `file` (told the hash for P-384/P-521).
    fn cosign_verifies(&self, alg: &Alg, public: &str, how: &str, evidence: &str) -> bool {
        let mut args = vec!["verify-blob", "--key", public, "--insecure-ignore-tlog"];
        if let Some(h) = alg.cosign_hash {
            args.extend_from_slice(&["--signature-digest-algorithm", h]);
        }
        args.extend_from_slice(&[how, evidence, "blob.txt"]);
        let out = run(&mut self.cosign(&args));
        let said_ok = String::from_utf8_lossy(&out.stderr).contains("Verified OK");
        assert_eq!(out.status.success(), said_ok);
        said_ok
    }

    fn airsign_verifies(&self, public: &str, how: &str, evidence: &str) -> Result<(), String> {
        let out =
            run(&mut self.airsign(&["verify-blob", "--key", public, how, evidence, "blob.txt"]));
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stderr), "Verified OK\n");
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert_eq!(err.lines().count(), 1, "{err}");
            Err(err)
        }
    }

    /// The raw bytes of a base64 signature file, written beside it as `NAME.bin`.
    fn raw_signature(&self, b64_file: &str) -> String {
        let text = std::fs::read_to_string(self.path(b64_file)).unwrap();
        let raw = B64.decode(text.trim()).unwrap();
        let name = format!("{b64_file}.bin");
        std::fs::write(self.path(&name), raw).unwrap();
        name
    }
}

/// `airsign sign-blob` with a key of every algorithm, generated by airsign
/// (`generate-key-pair --signing-algorithm`) and made by openssl (imported with
/// `import-key-pair`): the bundle and the bare signature verify with airsign, with
/// cosign 3.1.1 where cosign can, and with openssl always; the bundle names the
/// algorithm's hash; the signature verifies under no other algorithm's key.
#[test]
fn airsign_signs_blobs_with_every_algorithm_and_cosign_3_and_openssl_verify() {
    let Some(dir) = Dir::new() else {
        return;
    };
    std::fs::write(dir.path("blob.txt"), b"a blob, signed every way\n").unwrap();
    let mut signed: Vec<(usize, String, String)> = Vec::new();
    for (i, alg) in ALGS.iter().enumerate() {
        // airsign's own key
        let prefix = format!("gen-{}", alg.name);
        ok(&mut dir.airsign(&[
            "generate-key-pair",
            "--signing-algorithm",
            alg.name,
            "--output-key-prefix",
            &prefix,
        ]));
        // openssl's key, imported
        let (pem, _) = dir.openssl_key(alg, &format!("ossl-{}", alg.name));
        let imported = format!("imp-{}", alg.name);
        ok(&mut dir.airsign(&["import-key-pair", "--key", &pem, "-o", &imported]));
        for prefix in [prefix, imported] {
            let (key, public) = (format!("{prefix}.key"), format!("{prefix}.pub"));
            // the public key is the one openssl computes from the private one
            let back = dir.path(&format!("{prefix}.pub.check"));
            ok(&mut dir.airsign(&["public-key", "--key", &key, "--outfile", s(&back)]));
            assert_eq!(
                std::fs::read(&back).unwrap(),
                std::fs::read(dir.path(&public)).unwrap()
            );
            let bundle = format!("{prefix}.sigstore.json");
            let sig = format!("{prefix}.sig");
            let algo = ["--signing-algorithm", alg.name];
            let mut args = vec!["sign-blob", "--key", &key, "--bundle", &bundle];
            args.extend_from_slice(&algo);
            args.push("blob.txt");
            ok(&mut dir.airsign(&args));
            let mut args = vec![
                "sign-blob",
                "--key",
                &key,
                "--new-bundle-format=false",
                "--output-signature",
                &sig,
            ];
            args.extend_from_slice(&algo);
            args.push("blob.txt");
            ok(&mut dir.airsign(&args));

            let raw = std::fs::read_to_string(dir.path(&bundle)).unwrap();
            let digest = match alg.name {
                "ecdsa-sha2-384-nistp384" => r#""messageDigest":{"algorithm":"SHA2_384""#,
                "ecdsa-sha2-512-nistp521" => r#""messageDigest":{"algorithm":"SHA2_512""#,
                "ed25519" => r#""messageDigest":{},"#,
                _ => r#""messageDigest":{"algorithm":"SHA2_256""#,
            };
            assert!(raw.contains(digest), "{}: {raw}", alg.name);

            dir.airsign_verifies(&public, "--bundle", &bundle).unwrap();
            dir.airsign_verifies(&public, "--signature", &sig).unwrap();
            assert_eq!(
                dir.cosign_verifies(alg, &public, "--bundle", &bundle),
                alg.cosign_verifies.0,
                "cosign 3.1.1 --bundle, {}",
                alg.name
            );
            assert_eq!(
                dir.cosign_verifies(alg, &public, "--signature", &sig),
                alg.cosign_verifies.1,
                "cosign 3.1.1 --signature, {}",
                alg.name
            );
            let raw_sig = dir.raw_signature(&sig);
            let ossl_pub = dir.path(&format!("{prefix}.pub"));
            assert!(
                dir.openssl_verifies(alg, s(&ossl_pub), &raw_sig, "blob.txt"),
                "openssl refused airsign's {} signature",
                alg.name
            );
            signed.push((i, public, sig));
        }
    }
    // a signature never verifies under another key, of another algorithm or not
    // (airsign's own keys: one per algorithm; each signature under every other)
    let own: Vec<_> = signed.iter().step_by(2).collect();
    for (i, _, sig) in &own {
        for (j, public, _) in &own {
            if i == j {
                continue;
            }
            let err = dir
                .airsign_verifies(public, "--signature", sig)
                .expect_err(&format!("{sig} verified with {public}"));
            assert!(err.contains("blob.txt"), "{err}");
        }
    }
}

/// What cosign 3.1.1 signs (its own `import-key-pair` of openssl's key, then
/// `sign-blob` offline, bundle and bare signature) and what openssl signs
/// (`dgst -sign` / `pkeyutl -sign`) airsign verifies, with the public key each
/// wrote.
#[test]
fn cosign_3_and_openssl_signatures_of_every_key_type_verify_with_airsign() {
    let Some(dir) = Dir::new() else {
        return;
    };
    std::fs::write(dir.path("blob.txt"), b"a blob, signed by the others\n").unwrap();
    for alg in ALGS {
        let (pem, ossl_pub) = dir.openssl_key(alg, &format!("k-{}", alg.name));
        let osig = format!("k-{}.ossl.sig", alg.name);
        dir.openssl_sign(alg, &pem, "blob.txt", &osig);
        dir.airsign_verifies(&ossl_pub, "--signature", &osig)
            .unwrap_or_else(|e| panic!("openssl's {} signature: {e}", alg.name));
        if alg.name.starts_with("rsa-sign-pss") {
            // cosign makes no PSS signature with a key file
            continue;
        }
        let prefix = format!("c-{}", alg.name);
        ok(&mut dir.cosign(&["import-key-pair", "--key", &pem, "-o", &prefix]));
        let (key, public) = (format!("{prefix}.key"), format!("{prefix}.pub"));
        let bundle = format!("{prefix}.sigstore.json");
        let sig = format!("{prefix}.sig");
        let offline = ["--tlog-upload=false", "--use-signing-config=false"];
        let mut args = vec!["sign-blob", "--key", &key, "--bundle", &bundle];
        args.extend_from_slice(&offline);
        args.push("blob.txt");
        ok(&mut dir.cosign(&args));
        let mut args = vec![
            "sign-blob",
            "--key",
            &key,
            "--new-bundle-format=false",
            "--output-signature",
            &sig,
        ];
        args.extend_from_slice(&offline);
        args.push("blob.txt");
        ok(&mut dir.cosign(&args));
        dir.airsign_verifies(&public, "--bundle", &bundle)
            .unwrap_or_else(|e| panic!("cosign's {} bundle: {e}", alg.name));
        dir.airsign_verifies(&public, "--signature", &sig)
            .unwrap_or_else(|e| panic!("cosign's {} signature: {e}", alg.name));
        // and with the public key openssl wrote (the same key, other bytes maybe)
        dir.airsign_verifies(&ossl_pub, "--signature", &sig)
            .unwrap();
    }
}

/// Sizes and names outside sigstore's registry are one-line refusals that write
/// nothing: RSA 1024 (a key to import, a public key to verify with), an unknown
/// `--signing-algorithm`, and a `--signing-algorithm` that is not the key's.
#[test]
fn wrong_sizes_and_names_are_refused_in_one_line() {
    let Some(dir) = Dir::new() else {
        return;
    };
    std::fs::write(dir.path("blob.txt"), b"x").unwrap();
    dir.openssl_ok(&["genrsa", "-out", "rsa1024.pem", "1024"]);
    dir.openssl_ok(&[
        "pkey",
        "-in",
        "rsa1024.pem",
        "-pubout",
        "-out",
        "rsa1024.pub",
    ]);
    // (a signature of an accepted RSA size: the key is what is refused)
    std::fs::write(dir.path("rsa1024.sig"), [1u8; 256]).unwrap();
    let fails = |args: &[&str], want: &str| {
        let out = run(&mut dir.airsign(args));
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    };
    fails(
        &["import-key-pair", "--key", "rsa1024.pem", "-o", "x"],
        "unsupported RSA key size: 1024 bits",
    );
    fails(
        &[
            "verify-blob",
            "--key",
            "rsa1024.pub",
            "--signature",
            "rsa1024.sig",
            "blob.txt",
        ],
        "unsupported RSA key size: 1024 bits",
    );
    fails(
        &[
            "generate-key-pair",
            "--signing-algorithm",
            "rsa-sign-pkcs1-1024-sha256",
        ],
        "unsupported signing algorithm \"rsa-sign-pkcs1-1024-sha256\" (supported: ecdsa-sha2-256-nistp256",
    );
    assert!(!dir.path("x.key").exists() && !dir.path("cosign.key").exists());
    ok(&mut dir.airsign(&[
        "generate-key-pair",
        "--signing-algorithm",
        "ecdsa-sha2-384-nistp384",
        "--output-key-prefix",
        "p384",
    ]));
    fails(
        &[
            "sign-blob",
            "--key",
            "p384.key",
            "--signing-algorithm",
            "rsa-sign-pss-2048-sha256",
            "--bundle",
            "b.json",
            "blob.txt",
        ],
        "the key is ECDSA P-384 (ecdsa-sha2-384-nistp384)",
    );
    assert!(!dir.path("b.json").exists());
    // a P-384 key signs the SHA-384: the artifact's sha256 alone cannot be checked
    ok(&mut dir.airsign(&[
        "sign-blob",
        "--key",
        "p384.key",
        "--bundle",
        "p.json",
        "blob.txt",
    ]));
    let sha256 = format!(
        "sha256:{}",
        ok(Command::new(&dir.openssl)
            .args(["dgst", "-sha256", "-r"])
            .arg(dir.path("blob.txt")))
        .split_whitespace()
        .next()
        .unwrap()
    );
    fails(
        &[
            "verify-blob",
            "--key",
            "p384.pub",
            "--bundle",
            "p.json",
            &sha256,
        ],
        "the artifact's sha384 is needed",
    );
}

/// An image signed by airsign with a P-384, an RSA and an Ed25519 key (the `.sig` and
/// the cosign 3 bundle), and attested with the P-384 key, verifies with airsign, and
/// after a sync with cosign 3.1.1 (told SHA-384 for P-384, as cosign needs) and with
/// skopeo's policy for the RSA and Ed25519 keys; a wrong key fails.
#[test]
fn images_signed_with_p384_rsa_and_ed25519_keys_verify_with_cosign_3_after_sync() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(dst) = Registry::start(Mode::Plain) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    let image = "registry.example.com/demo/app:v1";
    // the identity skopeo's matchRepository will see: the destination's repository
    let identity = format!("{}/demo/app", dst.host());
    let mut keys = Vec::new();
    for (prefix, alg, hash) in [
        ("p384", "ecdsa-sha2-384-nistp384", "sha384"),
        ("rsa", "rsa-sign-pkcs1-3072-sha256", "sha256"),
        ("ed25519", "ed25519", "sha256"),
    ] {
        ok(&mut bed.cmd(&[
            "generate-key-pair",
            "--signing-algorithm",
            alg,
            "--output-key-prefix",
            s(&bed.path(prefix)),
        ]));
        let key = bed.path(&format!("{prefix}.key"));
        let public = bed.path(&format!("{prefix}.pub"));
        ok(&mut bed.cmd(&[
            "sign",
            "--key",
            s(&key),
            "--new-bundle-format=both",
            "--identity",
            &identity,
            image,
        ]));
        ok(&mut bed.cmd(&["verify", "--key", s(&public), image]));
        keys.push((key, public, hash));
    }
    // `signatures --key` tells each key's own .sig layer and bundle from the others'
    for (_, public, _) in &keys {
        let rows = bed.signature_rows(public, image);
        let count = |f: &str, v: bool| rows.iter().filter(|r| r.0 == f && r.1 == v).count();
        assert_eq!(
            (
                count("sig", true),
                count("sig", false),
                count("bundle", true),
                count("bundle", false)
            ),
            (1, 2, 1, 2),
            "{}: {rows:?}",
            s(public)
        );
    }
    let (p384_key, p384_pub, _) = &keys[0];
    let predicate = bed.path("prov.json");
    std::fs::write(&predicate, r#"{"builder":{"id":"ci"}}"#).unwrap();
    ok(&mut bed.cmd(&[
        "attest",
        "--key",
        s(p384_key),
        "--type",
        "slsaprovenance",
        "--predicate",
        s(&predicate),
        image,
    ]));
    ok(&mut bed.cmd(&[
        "verify-attestation",
        "--key",
        s(p384_pub),
        "--type",
        "slsaprovenance",
        image,
    ]));
    let other = bed.path("other");
    ok(&mut bed.cmd(&[
        "generate-key-pair",
        "--signing-algorithm",
        "ecdsa-sha2-384-nistp384",
        "--output-key-prefix",
        s(&other),
    ]));
    let other_pub = bed.path("other.pub");
    let out = run(&mut bed.cmd(&["verify", "--key", s(&other_pub), image]));
    assert!(!out.status.success());

    ok(&mut bed.cmd(&["sync", image, "--to", &dst.host(), "--plain-http"]));
    let home = ToolHome::new();
    let there = format!("{}/demo/app:v1", dst.host());
    for (_, public, hash) in &keys {
        for bundle_format in ["--new-bundle-format=true", "--new-bundle-format=false"] {
            ok2(home
                .cmd(&cosign3)
                .args(["verify", "--insecure-ignore-tlog=true", bundle_format])
                .args(["--signature-digest-algorithm", hash, "--key"])
                .arg(public)
                .arg(&there));
        }
    }
    let out = run(home
        .cmd(&cosign3)
        .args([
            "verify",
            "--insecure-ignore-tlog=true",
            "--new-bundle-format=false",
        ])
        .args(["--signature-digest-algorithm", "sha384", "--key"])
        .arg(&other_pub)
        .arg(&there));
    assert!(!out.status.success(), "cosign 3.1.1 accepted another key");
    // skopeo 1.18's sigstoreSigned policy, with each key, on the same image: the RSA
    // and Ed25519 `.sig` layers verify; the P-384 one does not, because skopeo checks
    // every ECDSA signature over SHA-256 — it refuses cosign 3.1.1's own P-384 image
    // signatures alike (see the test below); another key is refused
    for (_, public, hash) in &keys {
        let verdict =
            common::verifiers::skopeo_policy_verify(&skopeo, &dst, public, "demo/app:v1", false);
        match *hash {
            "sha384" => {
                let err = verdict.expect_err("skopeo verified a P-384 signature");
                assert!(err.contains("invalid signature"), "{err}");
            }
            _ => verdict.unwrap_or_else(|e| panic!("skopeo with {}: {e}", s(public))),
        }
    }
    common::verifiers::skopeo_policy_verify(&skopeo, &dst, &other_pub, "demo/app:v1", false)
        .expect_err("skopeo accepted another key");
}

/// Images cosign 3.1.1 signs with P-384, RSA 2048 and Ed25519 keys (openssl's, through
/// cosign's `import-key-pair`), as a bundle referrer and as a legacy `.sig`, verify
/// with airsign after `pull` (`verify --key`) and are admitted by `import
/// --verify-key` from an archive; another key of the same type is refused. cosign
/// signs an image with Ed25519ph (its default load option) but verifies pure
/// Ed25519, so it cannot verify its own Ed25519 image signatures; airsign accepts
/// both.
#[test]
fn images_cosign_3_signs_with_p384_rsa_and_ed25519_keys_verify_with_airsign() {
    let Some(dir) = Dir::new() else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let home = ToolHome::new();
    let digest = fixture_digest("single");
    for (i, alg) in [&ALGS[1], &ALGS[3], &ALGS[9]].into_iter().enumerate() {
        let (pem, _) = dir.openssl_key(alg, &format!("img-{i}"));
        let (other_pem, _) = dir.openssl_key(alg, &format!("other-{i}"));
        let mut publics = Vec::new();
        for (name, pem) in [("key", &pem), ("other", &other_pem)] {
            let prefix = home.path().join(format!("{name}-{i}"));
            ok2(home
                .cmd(&dir.cosign3)
                .args(["import-key-pair", "--key"])
                .arg(dir.path(pem))
                .arg("-o")
                .arg(&prefix));
            publics.push((prefix.with_extension("key"), prefix.with_extension("pub")));
        }
        let (key, public) = &publics[0];
        let other_pub = &publics[1].1;
        for legacy in [false, true] {
            let repo = format!("demo/app{i}{}", if legacy { "-legacy" } else { "" });
            let out = skopeo_push(
                &skopeo,
                &reg,
                &fixtures().join("single"),
                "v1",
                &format!("{repo}:v1"),
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let image = format!("{}/{repo}@{digest}", reg.host());
            cosign3_sign(&dir.cosign3, &home, key, &image, legacy);
            let mut verify = home.cmd(&dir.cosign3);
            verify
                .args(["verify", "--insecure-ignore-tlog=true", "--key"])
                .arg(public);
            if let Some(h) = alg.cosign_hash {
                verify.args(["--signature-digest-algorithm", h]);
            }
            // cosign signs an image with Ed25519ph and verifies it as pure Ed25519:
            // it cannot verify its own (airsign can, below)
            let out = run(verify.arg(&image));
            assert_eq!(
                out.status.success(),
                alg.name != "ed25519",
                "cosign 3.1.1 on its own {} signature (legacy: {legacy}): {}",
                alg.name,
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!(
                "COSIGNSELF {} legacy={legacy}: {} {}",
                alg.name,
                out.status.success(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );

            // skopeo 1.18 judges cosign's own `.sig`: RSA passes; P-384 (skopeo checks
            // ECDSA over SHA-256) and Ed25519 (cosign signs images as Ed25519ph,
            // skopeo verifies pure Ed25519) do not — what airsign signs with an
            // Ed25519 key (pure) skopeo accepts (the test above)
            if legacy {
                let verdict = common::verifiers::skopeo_policy_verify(
                    &skopeo,
                    &reg,
                    public,
                    &format!("{repo}:v1"),
                    false,
                );
                assert_eq!(
                    verdict.is_ok(),
                    alg.name.starts_with("rsa"),
                    "skopeo on cosign 3.1.1's {} .sig: {verdict:?}",
                    alg.name
                );
            }

            let online = Bed::new();
            let tagged = format!("{}/{repo}:v1", reg.host());
            ok(&mut online.cmd(&["pull", &tagged]));
            ok(&mut online.cmd(&["verify", "--key", s(public), &tagged]));
            let out = run(&mut online.cmd(&["verify", "--key", s(other_pub), &tagged]));
            assert!(
                !out.status.success(),
                "{} verified with another key",
                alg.name
            );
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
                s(public),
            ]));
            let refused = Bed::new();
            let out = run(&mut refused.cmd(&[
                "import",
                &format!("oci-archive:{}", s(&archive)),
                "--verify-key",
                s(other_pub),
            ]));
            assert!(
                !out.status.success(),
                "{} admitted with another key",
                alg.name
            );
        }
    }
}
