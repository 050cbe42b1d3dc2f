//! Keyless verification against material made at test time by `@sigstore/mock`
//! (the harness `common::sigstore_mock`): each case is verified by airsign's
//! `verify-blob --trusted-root … --certificate-identity … --certificate-oidc-issuer …`
//! and judged by sigstore-python 4.5.1 (`sigstore --trust-config … verify identity
//! --offline`), and both must give the case's verdict.
//!
//! What sigstore-python cannot judge is said where it is skipped: a DSSE statement
//! without a subject `name` (cosign 3's image style; it refuses those as malformed)
//! and Rekor v2 DSSE entries (`dsse` 0.0.2, unsupported there).

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

    /// airsign and (if `judge`) sigstore-python must both give `want`; returns
    /// airsign's message.
    fn expect(&self, want: Verdict, judge: Option<&Path>) -> String {
        let (got, msg) = self.airsign();
        if let Some(py) = judge {
            let (py_got, py_msg) = self.sigstore_python(py);
            assert_eq!(
                py_got, want,
                "sigstore-python (the judge) disagrees with the case: {py_msg}"
            );
        }
        assert_eq!(got, want, "airsign: {msg}");
        msg
    }
}

/// The tools, a mock in `tmp/mock` and an artifact `tmp/artifact.txt`; `None`
/// skips (outside CI).
fn setup(tmp: &tempfile::TempDir) -> Option<(Mock, PathBuf, PathBuf)> {
    let py = need!(Tool::SigstorePython)?;
    let mock = Mock::new(&tmp.path().join("mock"))?;
    let file = tmp.path().join("artifact.txt");
    std::fs::write(&file, b"airsign keyless test artifact\n").unwrap();
    Some((mock, py, file))
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
    let Some((mock, py, file)) = setup(&tmp) else {
        return;
    };
    let b = mock.sign_blob(&file, &Opts::default());
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, Some(&py));
    // the same bundle against the file's digest
    let d = oci::digest_of(&std::fs::read(&file).unwrap());
    Check::new(&b, &mock, &d).expect(Verdict::Verified, Some(&py));
}

#[test]
fn message_signature_over_a_digest_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
        return;
    };
    // signed knowing only the digest (a prehashed ECDSA signature)
    let d = oci::digest_of(&std::fs::read(&file).unwrap());
    let b = mock.sign_digest(&d, &Opts::default());
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, Some(&py));
    Check::new(&b, &mock, &d).expect(Verdict::Verified, Some(&py));
}

#[test]
fn dsse_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
        return;
    };
    let b = mock.sign_blob(&file, &dsse_named(&file));
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    assert_eq!(
        bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "dsse"
    );
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, Some(&py));
}

#[test]
fn dsse_cosign3_style_without_subject_name_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, _py, file)) = setup(&tmp) else {
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
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, None);
    Check::new(&b, &mock, &d).expect(Verdict::Verified, None);
}

#[test]
fn wrong_identity_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
        return;
    };
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &opts);
        let mut c = Check::new(&b, &mock, s(&file));
        c.identity =
            "https://github.com/someone/else/.github/workflows/release.yml@refs/heads/main";
        let msg = c.expect(Verdict::Refused, Some(&py));
        assert!(msg.contains("identit"), "{msg}");
    }
}

#[test]
fn wrong_issuer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
        return;
    };
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &opts);
        let mut c = Check::new(&b, &mock, s(&file));
        c.issuer = "https://accounts.google.com";
        let msg = c.expect(Verdict::Refused, Some(&py));
        assert!(msg.contains("issuer"), "{msg}");
    }
}

#[test]
fn another_mocks_trusted_root_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
        return;
    };
    let Some(other) = Mock::new(&tmp.path().join("other")) else {
        return;
    };
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &opts);
        Check::new(&b, &other, s(&file)).expect(Verdict::Refused, Some(&py));
        // the signer's own root still verifies it
        Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, None);
    }
}

#[test]
fn tampered_artifact_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
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
        Check::new(&b, &mock, s(&same_name)).expect(Verdict::Refused, Some(&py));
        let d = oci::digest_of(&bytes);
        Check::new(&b, &mock, &d).expect(Verdict::Refused, Some(&py));
    }
}

#[test]
fn certificate_expired_at_signing_time_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
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
        Check::new(&b, &mock, s(&file)).expect(Verdict::Refused, Some(&py));
        // control: the same times but logged while the certificate was valid
        let ok = mock.sign_blob(
            &file,
            &Opts {
                log_time: Some(now - 7200 + 60),
                ..opts.clone()
            },
        );
        Check::new(&ok, &mock, s(&file)).expect(Verdict::Verified, Some(&py));
    }
}

#[test]
fn tsa_timestamped_bundle_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
        return;
    };
    for opts in [Opts::default(), dsse_named(&file)] {
        let b = mock.sign_blob(&file, &Opts { tsa: true, ..opts });
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
        let ts = &bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
        assert_eq!(ts.as_array().unwrap().len(), 1, "{bundle}");
        Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, Some(&py));
    }
}

#[test]
fn timestamp_from_an_untrusted_tsa_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
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
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let mut root = read(mock.trusted_root());
    root["timestampAuthorities"] = read(other.trusted_root())["timestampAuthorities"].clone();
    let foreign_tsa = tmp.path().join("foreign_tsa_root.json");
    std::fs::write(&foreign_tsa, serde_json::to_vec(&root).unwrap()).unwrap();
    let mut c = Check::new(&b, &mock, s(&file));
    c.root = &foreign_tsa;
    c.expect(Verdict::Refused, Some(&py));
}

#[test]
fn rekor_v2_bundle_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
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
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, Some(&py));
}

#[test]
fn rekor_v2_dsse_bundle_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, _py, file)) = setup(&tmp) else {
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
    // sigstore-python 4.5.1: "Unsupported DSSE log entry type: dsse/0.0.2"
    Check::new(&b, &mock, s(&file)).expect(Verdict::Verified, None);
}

#[test]
fn rekor_v2_without_timestamp_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mock, py, file)) = setup(&tmp) else {
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
    Check::new(&b, &mock, s(&file)).expect(Verdict::Refused, Some(&py));
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
