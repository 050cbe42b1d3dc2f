//! sigstore-conformance's `bundle-verify` cases, run through `airsign verify-blob`
//! as the suite runs a client: each case with the artifact file and again with its
//! digest (`sha256:<hex>`); a directory whose name ends `_fail` must be refused.
//! The cases are found through `AIRSIGN_TEST_CONFORMANCE` (scripts/install-tools.sh
//! writes it when the shared checkout exists) and are never copied here.
//!
//! The test prints a table of agreement and asserts that every case agrees in
//! both forms, and that a refusal is one line.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// What airsign said of one run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    Verified,
    Refused,
}

fn run_case(dir: &Path, suite: &Path, digest_form: bool) -> (Verdict, String) {
    let read = |name: &str, default: &str| {
        std::fs::read_to_string(dir.join(name))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| default.to_owned())
    };
    let artifact = if dir.join("artifact").is_file() {
        dir.join("artifact")
    } else {
        suite.join("bundle-verify/a.txt")
    };
    let target = if digest_form {
        oci::digest_of(&std::fs::read(&artifact).unwrap())
    } else {
        s(&artifact).to_owned()
    };
    let mut cmd = Command::new(airsign_bin());
    cmd.arg("verify-blob")
        .arg("--bundle")
        .arg(dir.join("bundle.sigstore.json"));
    // as sigstore-conformance runs a client: the trusted root always (the case's or
    // public good), with the key when the case has one, else the identity
    let root = if dir.join("trusted_root.json").is_file() {
        dir.join("trusted_root.json")
    } else {
        suite.join("public-good-trusted_root.json")
    };
    cmd.arg("--trusted-root").arg(root);
    if dir.join("key.pub").is_file() {
        cmd.arg("--key").arg(dir.join("key.pub"));
    } else {
        cmd.arg("--certificate-identity")
            .arg(read("identity", IDENTITY))
            .arg("--certificate-oidc-issuer")
            .arg(read("issuer", ISSUER));
    }
    let out = cmd.arg(&target).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let last = err
        .lines()
        .last()
        .unwrap_or("")
        .replace(&format!("{}/", s(dir)), "")
        .replace("airsign: error: ", "");
    if out.status.success() {
        return (Verdict::Verified, last);
    }
    assert_eq!(err.lines().count(), 1, "a refusal is one line: {err}");
    (Verdict::Refused, last)
}

#[test]
fn sigstore_conformance_bundle_verify() {
    let Some(suite) = need!(Tool::Conformance) else {
        return;
    };
    let mut cases: Vec<_> = std::fs::read_dir(suite.join("bundle-verify"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("bundle.sigstore.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 70, "{} cases", cases.len());
    let mut agreeing = 0;
    let mut broken = Vec::new();
    println!(
        "{:<58} {:<6} {:<20} {:<20}",
        "case", "expect", "file", "digest"
    );
    for dir in &cases {
        let name = dir.file_name().unwrap().to_str().unwrap();
        let must_fail = name.ends_with("_fail");
        let mut row = Vec::new();
        for digest_form in [false, true] {
            let (verdict, msg) = run_case(dir, &suite, digest_form);
            let agrees = (verdict == Verdict::Verified) != must_fail;
            if agrees {
                agreeing += 1;
            }
            if !agrees {
                broken.push(format!(
                    "{name} ({}): {msg}",
                    if digest_form { "digest" } else { "file" }
                ));
            }
            let cell = match (agrees, verdict) {
                (true, _) => "ok",
                (false, Verdict::Verified) => "WRONG: verified",
                (false, Verdict::Refused) => "WRONG: refused",
            };
            row.push((cell, msg));
        }
        println!(
            "{name:<58} {:<6} {:<20} {:<20} {}",
            if must_fail { "fail" } else { "pass" },
            row[0].0,
            row[1].0,
            row[0].1.chars().take(120).collect::<String>()
        );
    }
    println!(
        "agreement: {agreeing} of {} runs ({} cases, file and digest forms)",
        cases.len() * 2,
        cases.len()
    );
    assert!(broken.is_empty(), "cases that disagree: {broken:#?}");
    assert_eq!(agreeing, cases.len() * 2);
}

/// With `--key` and `--trusted-root`, the bundle's log entry is checked too: a
/// managed-key bundle whose SET is broken is refused, while `--key` alone (no root
/// to check a log against) verifies the key's signature only.
#[test]
fn a_key_with_a_trusted_root_checks_the_log_entry() {
    let Some(suite) = need!(Tool::Conformance) else {
        return;
    };
    let case = suite.join("bundle-verify/managed-key-happy-path");
    let tmp = tempfile::tempdir().unwrap();
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("bundle.sigstore.json")).unwrap()).unwrap();
    let set = bundle
        .pointer_mut("/verificationMaterial/tlogEntries/0/inclusionPromise/signedEntryTimestamp")
        .expect("the case's entry has a SET");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = b64.decode(set.as_str().unwrap()).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    *set = serde_json::Value::String(b64.encode(&raw));
    let broken = tmp.path().join("broken.sigstore.json");
    std::fs::write(&broken, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let run = |b: &Path, root: bool| {
        let mut cmd = Command::new(airsign_bin());
        cmd.arg("verify-blob")
            .arg("--key")
            .arg(case.join("key.pub"))
            .arg("--bundle")
            .arg(b);
        if root {
            cmd.arg("--trusted-root")
                .arg(suite.join("public-good-trusted_root.json"));
        }
        cmd.arg(suite.join("bundle-verify/a.txt")).output().unwrap()
    };
    assert!(
        run(&case.join("bundle.sigstore.json"), true)
            .status
            .success()
    );
    let out = run(&broken, true);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signed entry timestamp"), "{err}");
    assert!(run(&broken, false).status.success());
}
