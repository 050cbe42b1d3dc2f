//! sigstore-conformance's `bundle-verify` cases, run through `airsign verify-blob`
//! as the suite runs a client: each case with the artifact file and again with its
//! digest (`sha256:<hex>`); a directory whose name ends `_fail` must be refused.
//! The cases are found through `AIRSIGN_TEST_CONFORMANCE` (scripts/install-tools.sh
//! writes it when the shared checkout exists) and are never copied here.
//!
//! The test prints a table of agreement and asserts that every case of SUPPORTED
//! agrees in both forms, and that the number of agreeing runs does not fall below
//! what was reached (so a regression fails). A `_fail` case refused only because
//! airsign does not verify something yet (RFC 3161 timestamps, Rekor v2) agrees —
//! refusing is the right verdict — but is shown as `refused-unsupported`, and none
//! of those is in SUPPORTED.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Cases airsign verifies for the case's own reason, in both forms.
const SUPPORTED: &[&str] = &[
    "bundle-empty-certificate-chain_fail",
    "bundle-from-wrong-instance_fail",
    "bundle-invalid-base64-signature_fail",
    "bundle-malformed-json_fail",
    "bundle-negative-log-index_fail",
    "bundle-unknown-version_fail",
    "bundle-with-root-cert_fail",
    "checkpoint-bad-keyhint_fail",
    "checkpoint-wrong-roothash_fail",
    "dsse-invalid-sig_fail",
    "dsse-mismatch-envelope_fail",
    "dsse-mismatch-sig_fail",
    "happy-path-intoto-in-dsse-v3",
    "happy-path-v0.1",
    "happy-path-v0.2",
    "happy-path-v0.3",
    "happy-path-v0.3-new-mediaType",
    "inclusion-proof-corrupted-hash_fail",
    "incorrect-public-key_fail",
    "integrated-time-in-future_fail",
    "intoto-expired-certificate_fail",
    "intoto-log-entry-mismatch_fail",
    "intoto-missing-inclusion-proof_fail",
    "intoto-set-outside-signing-cert-validity_fail",
    "invalid-checkpoint-signature_fail",
    "invalid-ct-key_fail",
    "invalid-inclusion-proof_fail",
    "managed-key-and-trusted-root",
    "managed-key-happy-path",
    "managed-key-no-key_fail",
    "managed-key-wrong-key_fail",
    "message-digest-mismatch_fail",
    "set-invalid-signature_fail",
    "signature-mismatch_fail",
    "trust-root-tlog-missing-validity-start_fail",
    "trust-root-tlog-validity-end-inclusive",
    "wrong-hashedrekord-artifact_fail",
    "wrong-hashedrekord-cert-and-sig_fail",
    "wrong-hashedrekord-entry_fail",
    "wrong-material_fail",
];

/// Agreeing runs reached (file form + digest form, over every case): raise it when
/// more agree, never lower it.
const AGREEING_AT_LEAST: usize = 114;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// What airsign said of one run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    Verified,
    Refused,
    /// Refused because it needs what airsign does not verify yet.
    RefusedUnsupported,
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
    if dir.join("key.pub").is_file() {
        cmd.arg("--key").arg(dir.join("key.pub"));
    } else {
        let root = if dir.join("trusted_root.json").is_file() {
            dir.join("trusted_root.json")
        } else {
            suite.join("public-good-trusted_root.json")
        };
        cmd.arg("--trusted-root")
            .arg(root)
            .arg("--certificate-identity")
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
    let verdict = if last.contains("does not verify yet") {
        Verdict::RefusedUnsupported
    } else {
        Verdict::Refused
    };
    (verdict, last)
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
            let supported = SUPPORTED.contains(&name);
            if supported && (!agrees || verdict == Verdict::RefusedUnsupported) {
                broken.push(format!(
                    "{name} ({}): {msg}",
                    if digest_form { "digest" } else { "file" }
                ));
            }
            let cell = match (agrees, verdict) {
                (true, Verdict::RefusedUnsupported) => "ok refused-unsupp.",
                (true, _) => "ok",
                (false, Verdict::Verified) => "WRONG: verified",
                (false, _) => "WRONG: refused",
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
    for name in SUPPORTED {
        assert!(
            cases.iter().any(|c| c.ends_with(name)),
            "SUPPORTED names a case the suite lacks: {name}"
        );
    }
    assert!(
        broken.is_empty(),
        "supported cases that disagree: {broken:#?}"
    );
    assert!(
        agreeing >= AGREEING_AT_LEAST,
        "{agreeing} agreeing runs, fewer than the {AGREEING_AT_LEAST} reached"
    );
}
