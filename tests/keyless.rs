//! Keyless verification against material made at test time by `@sigstore/mock`
//! (the harness `common::sigstore_mock`): each case is verified by airsign's
//! `verify-blob --trusted-root … --certificate-identity … --certificate-oidc-issuer …`
//! and judged by sigstore-python 4.5.1 (`sigstore --trust-config … verify identity
//! --offline`), and all must give the case's verdict.
//!
//! cosign 3.1.1 (`cosign verify-blob --bundle … --trusted-root …`, with
//! `--use-signed-timestamps` when the bundle has RFC 3161 timestamps) is a second
//! judge. What a judge cannot judge is said where it is left out: sigstore-python
//! refuses a DSSE statement without a subject `name` (cosign 3's image style) as
//! malformed, and neither judge takes Rekor v2 DSSE entries (`dsse` 0.0.2).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::sigstore_mock::{
    Content, IDENTITY, ISSUER, Mock, Opts, Rekor, trust_config_for, unix_now,
};
use common::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Verified,
    Refused,
    /// airsign's "does not verify yet": never the verdict a case wants (a refusal
    /// for want of support proves nothing about the material).
    Unsupported,
}

/// One verification: what airsign is asked.
struct Check<'a> {
    bundle: &'a Path,
    /// The trusted root (sigstore-python's trust config is made from it).
    root: &'a Path,
    identity: &'a str,
    issuer: &'a str,
    /// A path, or `sha256:<hex>`.
    target: &'a str,
}

impl Check<'_> {
    fn new<'a>(bundle: &'a Path, trust: &'a Mock, target: &'a str) -> Check<'a> {
        Check {
            bundle,
            root: trust.trusted_root(),
            identity: IDENTITY,
            issuer: ISSUER,
            target,
        }
    }

    fn airsign(&self) -> (Verdict, String) {
        let out = run(airsign([
            "verify-blob",
            "--bundle",
            s(self.bundle),
            "--trusted-root",
            s(self.root),
            "--certificate-identity",
            self.identity,
            "--certificate-oidc-issuer",
            self.issuer,
            self.target,
        ])
        .env_remove("AIRSIGN_STORE"));
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if out.status.success() {
            assert!(
                err.contains("Verified OK"),
                "exit 0 without Verified OK: {err}"
            );
            (Verdict::Verified, err)
        } else {
            assert_eq!(out.status.code(), Some(1), "a refusal exits 1: {err}");
            assert_eq!(err.lines().count(), 1, "a refusal is one line: {err}");
            if err.contains("does not verify yet") {
                (Verdict::Unsupported, err)
            } else {
                (Verdict::Refused, err)
            }
        }
    }

    /// cosign 3.1.1 as its users verify a bundle offline; `--use-signed-timestamps`
    /// when the bundle carries RFC 3161 timestamps (without it cosign wants a log's
    /// integrated time).
    fn cosign3(&self, cosign: &Path) -> (Verdict, String) {
        let home = tempfile::tempdir().unwrap();
        let bundle = read_json(self.bundle);
        let stamped =
            bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
        let mut cmd = Command::new(cosign);
        cmd.env("HOME", home.path())
            .args(["verify-blob", "--bundle"])
            .arg(self.bundle)
            .arg("--trusted-root")
            .arg(self.root)
            .args(["--certificate-identity", self.identity])
            .args(["--certificate-oidc-issuer", self.issuer]);
        if stamped {
            cmd.arg("--use-signed-timestamps");
        }
        let out = run(cmd.arg(self.target));
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            assert!(
                text.contains("Verified OK"),
                "cosign exit 0 without Verified OK: {text}"
            );
            (Verdict::Verified, text)
        } else {
            (Verdict::Refused, text)
        }
    }

    fn sigstore_python(&self, sigstore: &Path) -> (Verdict, String) {
        let cfg = trust_config_for(self.root);
        let out = run(Command::new(sigstore)
            .arg("--trust-config")
            .arg(&cfg)
            .args(["verify", "identity", "--offline", "--bundle"])
            .arg(self.bundle)
            .args(["--cert-identity", self.identity])
            .args(["--cert-oidc-issuer", self.issuer])
            .arg(self.target)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "200"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            assert!(text.contains("OK: "), "sigstore exit 0 without OK: {text}");
            (Verdict::Verified, text)
        } else {
            (Verdict::Refused, text)
        }
    }

    /// airsign and every judge must all give `want`; returns airsign's message.
    fn expect(&self, want: Verdict, judges: &Judges) -> String {
        let (got, msg) = self.airsign();
        if let Some(py) = &judges.python {
            let (py_got, py_msg) = self.sigstore_python(py);
            assert_eq!(
                py_got, want,
                "sigstore-python (a judge) disagrees with the case: {py_msg}"
            );
        }
        if let Some(cosign) = &judges.cosign3 {
            let (c_got, c_msg) = self.cosign3(cosign);
            assert_eq!(
                c_got, want,
                "cosign 3.1.1 (a judge) disagrees with the case: {c_msg}"
            );
        }
        assert_eq!(got, want, "airsign: {msg}");
        eprintln!("{want:?}: {msg}");
        msg
    }
}

/// The real verifiers a case's verdict must agree with.
#[derive(Clone, Default)]
struct Judges {
    /// sigstore-python 4.5.1's `sigstore`.
    python: Option<PathBuf>,
    /// cosign 3.1.1.
    cosign3: Option<PathBuf>,
}

impl Judges {
    /// Without sigstore-python, for what it cannot judge (said at the call).
    fn but_python(&self) -> Judges {
        Judges {
            python: None,
            ..self.clone()
        }
    }

    /// airsign alone (a control the judges have seen elsewhere).
    fn none() -> Judges {
        Judges::default()
    }
}

/// The tools, a mock in `tmp/mock` and an artifact `tmp/artifact.txt`; `None`
/// skips (outside CI).
fn setup(tmp: &tempfile::TempDir) -> Option<(Mock, Judges, PathBuf)> {
    let judges = Judges {
        python: Some(need!(Tool::SigstorePython)?),
        cosign3: Some(need!(Tool::Cosign3)?),
    };
    let mock = Mock::new(&tmp.path().join("mock"))?;
    let file = tmp.path().join("artifact.txt");
    std::fs::write(&file, b"airsign keyless test artifact\n").unwrap();
    Some((mock, judges, file))
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// `mock`'s trusted root with its `field` (`certificateAuthorities`, `ctlogs`,
/// `tlogs`, `timestampAuthorities`) taken from `other`'s, written to `tmp/NAME`.
fn root_with_others(tmp: &Path, mock: &Mock, other: &Mock, field: &str) -> PathBuf {
    let mut root = read_json(mock.trusted_root());
    root[field] = read_json(other.trusted_root())[field].clone();
    let p = tmp.join(format!("root-with-other-{field}.json"));
    std::fs::write(&p, serde_json::to_vec_pretty(&root).unwrap()).unwrap();
    p
}

fn dsse_named(file: &Path) -> Opts {
    Opts {
        content: Content::Dsse,
        subject_name: Some(file.file_name().unwrap().to_str().unwrap().into()),
        ..Opts::default()
    }
}

#[test]
fn message_signature_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let b = mock.sign_blob(&file, &Opts::default());
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, &j);
    // the same bundle against the file's digest
    let d = oci::digest_of(&std::fs::read(&file).unwrap());
    Check::new(&b, &mock, &d).expect(Verdict::Verified, &j);
}

#[test]
fn message_signature_over_a_digest_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    // signed knowing only the digest (a prehashed ECDSA signature)
    let d = oci::digest_of(&std::fs::read(&file).unwrap());
    let b = mock.sign_digest(&d, &Opts::default());
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, &j);
    Check::new(&b, &mock, &d).expect(Verdict::Verified, &j);
}

#[test]
fn dsse_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let b = mock.sign_blob(&file, &dsse_named(&file));
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    assert_eq!(
        bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "dsse"
    );
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, &j);
}

#[test]
fn dsse_cosign3_style_without_subject_name_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let d = oci::digest_of(&std::fs::read(&file).unwrap());
    let b = mock.sign_digest(
        &d,
        &Opts {
            content: Content::Dsse,
            ..Opts::default()
        },
    );
    // sigstore-python refuses a subject without `name`; cosign 3 writes none.
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, &j.but_python());
    Check::new(&b, &mock, &d).expect(Verdict::Verified, &j.but_python());
}

#[test]
fn wrong_identity_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &opts);
        let mut c = Check::new(&b, &mock, s(&file));
        c.identity =
            "https://github.com/someone/else/.github/workflows/release.yml@refs/heads/main";
        let msg = c.expect(Verdict::Refused, &j);
        assert!(msg.contains("identit"), "{msg}");
    }
}

#[test]
fn wrong_issuer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &opts);
        let mut c = Check::new(&b, &mock, s(&file));
        c.issuer = "https://accounts.google.com";
        let msg = c.expect(Verdict::Refused, &j);
        assert!(msg.contains("issuer"), "{msg}");
    }
}

#[test]
fn another_mocks_trusted_root_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let Some(other) = Mock::new(&tmp.path().join("other")) else {
        return;
    };
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &opts);
        Check::new(&b, &other, s(&file)).expect(Verdict::Refused, &j);
        // the signer's own root still verifies it
        Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, &Judges::none());
    }
}

#[test]
fn untrusted_ca_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let Some(other) = Mock::new(&tmp.path().join("other")) else {
        return;
    };
    // everything trusted but the CA that issued the certificate
    let root = root_with_others(tmp.path(), &mock, &other, "certificateAuthorities");
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &opts);
        let mut c = Check::new(&b, &mock, s(&file));
        c.root = &root;
        c.expect(Verdict::Refused, &j);
    }
}

#[test]
fn untrusted_ct_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let Some(other) = Mock::new(&tmp.path().join("other")) else {
        return;
    };
    // the certificate's SCT is from a CT log the root does not name
    let root = root_with_others(tmp.path(), &mock, &other, "ctlogs");
    let b = mock.sign_blob(&file, &Opts::default());
    let mut c = Check::new(&b, &mock, s(&file));
    c.root = &root;
    let msg = c.expect(Verdict::Refused, &j);
    assert!(msg.contains("SCT") || msg.contains("CT log"), "{msg}");
}

#[test]
fn tampered_artifact_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &opts);
        let tampered = tmp.path().join("artifact.txt.tampered");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&tampered, &bytes).unwrap();
        // same name for sigstore-python's DSSE subject check: the digest decides
        let same_name = tmp.path().join("t").join("artifact.txt");
        std::fs::create_dir_all(same_name.parent().unwrap()).unwrap();
        std::fs::rename(&tampered, &same_name).unwrap();
        Check::new(&b, &mock, s(&same_name)).expect(Verdict::Refused, &j);
        let d = oci::digest_of(&bytes);
        Check::new(&b, &mock, &d).expect(Verdict::Refused, &j);
    }
}

#[test]
fn certificate_expired_at_signing_time_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let now = unix_now();
    for content in [Content::MessageSignature, Content::Dsse] {
        // issued two hours ago (valid ten minutes), logged an hour ago
        let opts = Opts {
            content,
            cert_time: Some(now - 7200),
            log_time: Some(now - 3600),
            ..dsse_named(&file)
        };
        let b = mock.sign_blob(&file, &opts);
        let msg = Check::new(&b, &mock, s(&file)).expect(Verdict::Refused, &j);
        assert!(msg.contains("expired"), "{msg}");
        // control: the same times but logged while the certificate was valid
        let ok = mock.sign_blob(
            &file,
            &Opts {
                log_time: Some(now - 7200 + 60),
                ..opts.clone()
            },
        );
        Check::new(&ok, &mock, s(&file)).expect(Verdict::Verified, &j);
    }
}

#[test]
fn tsa_timestamped_bundle_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &Opts { tsa: true, ..opts });
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
        let ts = &bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
        assert_eq!(ts.as_array().unwrap().len(), 1, "{bundle}");
        Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, &j);
    }
}

#[test]
fn timestamp_from_an_untrusted_tsa_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let Some(other) = Mock::new(&tmp.path().join("other")) else {
        return;
    };
    // A Rekor v2 entry has no SET: the timestamp is the only time the signature has.
    // Trusted: the mock's CA and log, but another mock's TSA.
    let b = mock.sign_blob(
        &file,
        &Opts {
            rekor: Rekor::V2,
            tsa: true,
            ..Opts::default()
        },
    );
    let foreign_tsa = root_with_others(tmp.path(), &mock, &other, "timestampAuthorities");
    let mut c = Check::new(&b, &mock, s(&file));
    c.root = &foreign_tsa;
    let msg = c.expect(Verdict::Refused, &j);
    assert!(msg.contains("timestamp"), "{msg}");
}

#[test]
fn rekor_v2_bundle_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let b = mock.sign_blob(
        &file,
        &Opts {
            rekor: Rekor::V2,
            tsa: true,
            ..Opts::default()
        },
    );
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    let e = &bundle["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(e["kindVersion"]["version"], "0.0.2");
    assert!(e.get("inclusionPromise").is_none(), "{e}");
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, &j);
}

#[test]
fn rekor_v2_dsse_bundle_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, _, file)) = setup(&tmp) else {
        return;
    };
    let b = mock.sign_blob(
        &file,
        &Opts {
            rekor: Rekor::V2,
            tsa: true,
            ..dsse_named(&file)
        },
    );
    // sigstore-python 4.5.1: "Unsupported DSSE log entry type: dsse/0.0.2"; cosign
    // 3.1.1 does not load the bundle as one (it falls to its legacy path: "--trusted-root
    // only supported with --new-bundle-format").
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, &Judges::none());
}

#[test]
fn rekor_v2_without_timestamp_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    // no SET and no TSA: nothing says when the signature was made
    let b = mock.sign_blob(
        &file,
        &Opts {
            rekor: Rekor::V2,
            ..Opts::default()
        },
    );
    let msg = Check::new(&b, &mock, s(&file)).expect(Verdict::Refused, &j);
    assert!(msg.contains("time"), "{msg}");
}

#[test]
fn legacy_sig_material_is_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(openssl) = need!(Tool::Openssl) else {
        return;
    };
    let Some(mock) = Mock::new(&tmp.path().join("mock")) else {
        return;
    };
    let digest = oci::digest_of(b"a manifest");
    let sig = mock.legacy_sig("registry.example/team/app", &digest);
    assert_eq!(
        sig.payload,
        format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"registry.example/team/app\"}},\"image\":{{\"docker-manifest-digest\":\"{digest}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
        )
    );
    // the signature verifies over the payload with the certificate's key
    let cert = tmp.path().join("cert.pem");
    std::fs::write(&cert, &sig.certificate).unwrap();
    let pubkey = ok(Command::new(&openssl).args(["x509", "-pubkey", "-noout", "-in", s(&cert)]));
    let key = tmp.path().join("key.pub");
    std::fs::write(&key, pubkey).unwrap();
    let payload = tmp.path().join("payload.json");
    std::fs::write(&payload, &sig.payload).unwrap();
    let sigfile = tmp.path().join("payload.sig");
    std::fs::write(&sigfile, &sig.signature).unwrap();
    ok(&mut airsign([
        "verify-blob",
        "--key",
        s(&key),
        "--signature",
        s(&sigfile),
        s(&payload),
    ]));
    // the chain is the trusted root's CA
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mock.trusted_root()).unwrap()).unwrap();
    let ca = root["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"]
        .as_str()
        .unwrap();
    let chain_b64: String = sig
        .chain
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(chain_b64, ca);
    // the annotation: a hashedrekord of sha256(payload), this signature and cert,
    // from the trusted root's log
    let ann: serde_json::Value = serde_json::from_str(&sig.bundle_annotation).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body: serde_json::Value = serde_json::from_slice(
        &b64.decode(ann["Payload"]["body"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["kind"], "hashedrekord");
    assert_eq!(
        format!(
            "sha256:{}",
            body["spec"]["data"]["hash"]["value"].as_str().unwrap()
        ),
        oci::digest_of(sig.payload.as_bytes())
    );
    assert_eq!(body["spec"]["signature"]["content"], sig.signature.as_str());
    let cert_in_body = b64
        .decode(
            body["spec"]["signature"]["publicKey"]["content"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(String::from_utf8(cert_in_body).unwrap(), sig.certificate);
    let log_id = b64
        .decode(root["tlogs"][0]["logId"]["keyId"].as_str().unwrap())
        .unwrap();
    let hex: String = log_id.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(ann["Payload"]["logID"], hex.as_str());
    assert!(ann["Payload"]["integratedTime"].as_u64().unwrap() >= mock.valid_from());
    assert!(
        ann["SignedEntryTimestamp"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

/// cosign 2.5 (the judge of the `.sig` format) verifies the legacy material as a
/// blob: the payload against `{"base64Signature","cert","rekorBundle"}`, trusting
/// the mock through its environment (CA root, Rekor and CT log keys): the chain,
/// the SCT, the SET over the hashedrekord entry and the identity. airsign's
/// `verify-blob` takes no keyless legacy bundle; the image path is what uses this.
#[test]
fn legacy_sig_verifies_with_cosign2() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(mock) = Mock::new(&tmp.path().join("mock")) else {
        return;
    };
    let Some(other) = Mock::new(&tmp.path().join("other")) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let digest = oci::digest_of(b"a manifest");
    let sig = mock.legacy_sig("registry.example/team/app", &digest);
    let bundle = tmp.path().join("legacy.bundle");
    std::fs::write(&bundle, sig.blob_bundle()).unwrap();
    let payload = tmp.path().join("payload.json");
    std::fs::write(&payload, &sig.payload).unwrap();
    let verify = |trust: &Mock, identity: &str, blob: &Path| {
        let mut c = Command::new(&cosign);
        c.env("HOME", home.path())
            .envs(trust.cosign2_env())
            .args(["verify-blob", "--bundle", s(&bundle)])
            .args(["--certificate-identity", identity])
            .args(["--certificate-oidc-issuer", ISSUER])
            .arg(blob);
        run(&mut c)
    };
    let out = verify(&mock, IDENTITY, &payload);
    assert!(
        out.status.success(),
        "cosign 2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // another identity, another mock's trust, another payload: refused
    assert!(
        !verify(&mock, "https://example.com/else", &payload)
            .status
            .success()
    );
    assert!(!verify(&other, IDENTITY, &payload).status.success());
    let changed = tmp.path().join("changed.json");
    std::fs::write(&changed, sig.payload.replace("team/app", "team/app2")).unwrap();
    assert!(!verify(&mock, IDENTITY, &changed).status.success());
}

/// `bundle` changed by `f`, written to `dir/name`.
fn mutated(
    dir: &Path,
    name: &str,
    bundle: &Path,
    f: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let mut b = read_json(bundle);
    f(&mut b);
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(&b).unwrap()).unwrap();
    p
}

/// The first base64 character changed (so the first decoded byte is).
fn flip_b64(v: &mut serde_json::Value) {
    let mut t = v.as_str().unwrap().to_owned();
    let c = if t.starts_with('A') { "B" } else { "A" };
    t.replace_range(0..1, c);
    *v = t.into();
}

#[test]
fn tampered_bundles_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let d = tmp.path();
    let b = mock.sign_blob(&file, &Opts::default());
    let b2 = mock.sign_blob(&file, &Opts::default()); // same file, another key
    let other = read_json(&b2);
    let vm = "verificationMaterial";
    let cases: Vec<(&str, PathBuf)> = vec![
        (
            "SET changed",
            mutated(d, "set.json", &b, |v| {
                flip_b64(&mut v[vm]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"])
            }),
        ),
        (
            "integratedTime changed",
            mutated(d, "time.json", &b, |v| {
                let e = &mut v[vm]["tlogEntries"][0]["integratedTime"];
                let t: u64 = e.as_str().unwrap().parse().unwrap();
                *e = (t - 1).to_string().into();
            }),
        ),
        (
            "no inclusion proof (bundle v0.3)",
            mutated(d, "noproof.json", &b, |v| {
                v[vm]["tlogEntries"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionProof");
            }),
        ),
        (
            "inclusion proof root hash changed",
            mutated(d, "root.json", &b, |v| {
                flip_b64(&mut v[vm]["tlogEntries"][0]["inclusionProof"]["rootHash"])
            }),
        ),
        (
            "checkpoint signature changed",
            mutated(d, "checkpoint.json", &b, |v| {
                let cp = &mut v[vm]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"];
                let text = cp.as_str().unwrap();
                let (head, sig) = text.trim_end().rsplit_once(' ').unwrap();
                // past the 4-byte key hint (6 characters): a signature byte
                let mut sig = sig.to_owned();
                let c = if sig.as_bytes()[10] == b'A' { "B" } else { "A" };
                sig.replace_range(10..11, c);
                *cp = format!("{head} {sig}\n").into();
            }),
        ),
        (
            "another signing's log entry",
            mutated(d, "entry.json", &b, |v| {
                v[vm]["tlogEntries"] = other[vm]["tlogEntries"].clone();
            }),
        ),
        (
            "another signing's signature",
            mutated(d, "sig.json", &b, |v| {
                v["messageSignature"]["signature"] = other["messageSignature"]["signature"].clone();
            }),
        ),
        (
            "another signing's certificate",
            mutated(d, "cert.json", &b, |v| {
                v[vm]["certificate"] = other[vm]["certificate"].clone();
            }),
        ),
    ];
    // the control: both bundles as made
    for ok in [&b, &b2] {
        Check::new(ok, &mock, s(&file)).expect(Verdict::Verified, &j);
    }
    for (what, bundle) in &cases {
        eprintln!("case: {what}");
        Check::new(bundle, &mock, s(&file)).expect(Verdict::Refused, &j);
    }
}

#[test]
fn certificate_invalid_at_any_vouched_time_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, j, file)) = setup(&tmp) else {
        return;
    };
    let now = unix_now();
    let issued = now - 7200; // valid until issued + 600
    let stamped = |log_time: u64, tsa_time: u64, rekor: Rekor| Opts {
        rekor,
        tsa: true,
        cert_time: Some(issued),
        log_time: Some(log_time),
        tsa_time: Some(tsa_time),
        ..Opts::default()
    };
    // control: the log and the timestamp both inside the validity
    let b = mock.sign_blob(&file, &stamped(issued + 60, issued + 120, Rekor::V1));
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, &j);
    for (what, opts) in [
        (
            "logged in time, stamped after expiry",
            stamped(issued + 60, now - 3600, Rekor::V1),
        ),
        (
            "stamped in time, logged after expiry",
            stamped(now - 3600, issued + 60, Rekor::V1),
        ),
        (
            "Rekor v2, stamped before issuance",
            stamped(issued, issued - 100, Rekor::V2),
        ),
    ] {
        eprintln!("case: {what}");
        let b = mock.sign_blob(&file, &opts);
        let msg = Check::new(&b, &mock, s(&file)).expect(Verdict::Refused, &j);
        assert!(
            msg.contains("the signing certificate at the signing time"),
            "{msg}"
        );
    }
}
