//! `airsign sign-blob` / `airsign verify-blob` against the real cosign 3.1.1 (and
//! cosign 2.5 for the legacy format), both as judge and as producer, offline:
//! what airsign signs cosign verifies, what cosign signs airsign verifies, the bytes
//! of the bundles are cosign's but for the signature, files stream (stdin, 20 MiB),
//! and every bad input is one line, a non-zero exit and nothing written.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

const PASSWORD: &str = "blob pw";

/// A temp dir where airsign and cosign run side by side (cosign with its HOME and
/// caches inside it, so nothing of the developer's is read and nothing is fetched).
struct Dir(TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(TempDir::new().unwrap())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// `airsign ARGS` in the dir, with the keys' password.
    fn airsign(&self, args: &[&str]) -> Command {
        let mut c = airsign(args);
        c.current_dir(self.0.path())
            .env("COSIGN_PASSWORD", PASSWORD)
            .env("HOME", self.path("home"));
        c
    }

    /// A cosign (2.5 or 3.1.1) command in the dir, as offline as it can be.
    fn cosign(&self, bin: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .current_dir(self.0.path())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("home/config"))
            .env("XDG_CACHE_HOME", self.path("home/cache"))
            .env("COSIGN_PASSWORD", PASSWORD)
            .env_remove("COSIGN_REPOSITORY")
            .env_remove("SIGSTORE_ROOT_FILE")
            .stdin(Stdio::null());
        c
    }

    /// `airsign generate-key-pair` → (PREFIX.key, PREFIX.pub).
    fn airsign_keys(&self, prefix: &str) -> (PathBuf, PathBuf) {
        ok(&mut self.airsign(&["generate-key-pair", "--output-key-prefix", prefix]));
        (
            self.path(&format!("{prefix}.key")),
            self.path(&format!("{prefix}.pub")),
        )
    }

    /// `cosign generate-key-pair` → (PREFIX.key, PREFIX.pub).
    fn cosign_keys(&self, cosign: &Path, prefix: &str) -> (PathBuf, PathBuf) {
        ok(&mut self.cosign(
            cosign,
            &["generate-key-pair", "--output-key-prefix", prefix],
        ));
        (
            self.path(&format!("{prefix}.key")),
            self.path(&format!("{prefix}.pub")),
        )
    }
}

/// cosign 3.1.1's offline `sign-blob` (no Rekor, no TUF signing config) with `extra`.
fn cosign3_sign_blob(dir: &Dir, cosign3: &Path, key: &str, extra: &[&str], file: &str) -> Output {
    let mut args = vec![
        "sign-blob",
        "--key",
        key,
        "--tlog-upload=false",
        "--use-signing-config=false",
    ];
    args.extend_from_slice(extra);
    args.push(file);
    run(&mut dir.cosign(cosign3, &args))
}

/// `cosign verify-blob --key PUB --insecure-ignore-tlog EXTRA FILE`: whether cosign
/// says `Verified OK` (and exits 0).
fn cosign_verifies(dir: &Dir, cosign: &Path, public: &str, extra: &[&str], file: &str) -> bool {
    let mut args = vec!["verify-blob", "--key", public, "--insecure-ignore-tlog"];
    args.extend_from_slice(extra);
    args.push(file);
    let out = run(&mut dir.cosign(cosign, &args));
    let said_ok = String::from_utf8_lossy(&out.stderr).contains("Verified OK");
    assert_eq!(
        out.status.success(),
        said_ok,
        "cosign's status and message disagree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    said_ok
}

/// `airsign verify-blob --key PUB EXTRA FILE` must succeed with exactly `Verified OK`
/// on stderr and nothing on stdout.
fn assert_airsign_verifies(dir: &Dir, public: &str, extra: &[&str], file: &str) {
    let mut args = vec!["verify-blob", "--key", public];
    args.extend_from_slice(extra);
    args.push(file);
    let out = run(&mut dir.airsign(&args));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Verified OK\n");
    assert!(out.stdout.is_empty());
}

/// A failed airsign run: exit `code`, nothing on stdout, one line on stderr holding
/// `want`.
fn assert_one_line_failure(out: &Output, code: i32, want: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("airsign: error: "), "{stderr}");
    assert!(stderr.contains(want), "expected {want:?} in {stderr:?}");
}

/// `airsign verify-blob` that must fail with exit 1 and one line holding `want`.
fn assert_airsign_refuses(dir: &Dir, public: &str, extra: &[&str], file: &str, want: &str) {
    let mut args = vec!["verify-blob", "--key", public];
    args.extend_from_slice(extra);
    args.push(file);
    assert_one_line_failure(&run(&mut dir.airsign(&args)), 1, want);
}

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // written from a thread: a large input must not deadlock against the child's output
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A bundle's bytes with the value of `"field":"…"` blanked: two signatures by the
/// same key over the same file differ only there (cosign's ECDSA is randomised).
fn without(bytes: &[u8], field: &str) -> String {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let key = format!("\"{field}\":\"");
    let start = text
        .find(&key)
        .unwrap_or_else(|| panic!("{field} in {text}"))
        + key.len();
    let end = start + text[start..].find('"').unwrap();
    format!("{}…{}", &text[..start], &text[end..])
}

fn sha256_b64(bytes: &[u8]) -> String {
    B64.encode(Sha256::digest(bytes))
}

/// The base64 SHA-256 of a public key PEM's DER (cosign's `publicKey.hint`).
fn hint_of(public_pem: &[u8]) -> String {
    let text = std::str::from_utf8(public_pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    sha256_b64(&B64.decode(body).unwrap())
}

#[test]
fn airsign_bundle_is_cosign3s_bytes_and_cosign3_verifies_it() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let dir = Dir::new();
    let (key, public) = dir.airsign_keys("signer");
    let (key, public) = (s(&key), s(&public));
    let content = b"a Helm chart, say\n";
    dir.write("chart.tgz", content);
    dir.write("other.tgz", b"another chart\n");

    let out = run(&mut dir.airsign(&[
        "sign-blob",
        "--key",
        key,
        "--bundle",
        "ours.json",
        "chart.tgz",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout in the bundle format"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Wrote bundle to file ours.json\n"
    );
    assert_eq!(mode(&dir.path("ours.json")), 0o600);
    let ours = dir.read("ours.json");

    // cosign 3.1.1 signs the same file with the same key: the same bytes but the
    // (randomised) signature
    let out = cosign3_sign_blob(
        &dir,
        &cosign3,
        key,
        &["--bundle", "theirs.json"],
        "chart.tgz",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&dir.path("theirs.json")), 0o600);
    let theirs = dir.read("theirs.json");
    assert_eq!(without(&ours, "signature"), without(&theirs, "signature"));
    let expected = format!(
        concat!(
            r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","#,
            r#""verificationMaterial":{{"publicKey":{{"hint":"{}"}}}},"#,
            r#""messageSignature":{{"messageDigest":{{"algorithm":"SHA2_256","digest":"{}"}},"signature":"…"}}}}"#
        ),
        hint_of(&dir.read("signer.pub")),
        sha256_b64(content)
    );
    assert_eq!(
        without(&ours, "signature"),
        expected,
        "no trailing newline either"
    );

    assert!(cosign_verifies(
        &dir,
        &cosign3,
        public,
        &["--bundle", "ours.json"],
        "chart.tgz"
    ));
    assert!(!cosign_verifies(
        &dir,
        &cosign3,
        public,
        &["--bundle", "ours.json"],
        "other.tgz"
    ));
    // and each verifies the other's
    assert_airsign_verifies(&dir, public, &["--bundle", "theirs.json"], "chart.tgz");
    // deterministic (RFC 6979): signing again gives the same bytes
    ok(&mut dir.airsign(&[
        "sign-blob",
        "--key",
        key,
        "--bundle",
        "again.json",
        "chart.tgz",
    ]));
    assert_eq!(dir.read("again.json"), ours);
}

#[test]
fn cosign3_bundles_verify_with_airsign_and_not_with_another_key_or_file() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let dir = Dir::new();
    let (key, public) = dir.cosign_keys(&cosign3, "producer");
    let (_, other_public) = dir.airsign_keys("other");
    dir.write("sbom.json", br#"{"spdxVersion":"SPDX-2.3"}"#);
    let out = cosign3_sign_blob(
        &dir,
        &cosign3,
        s(&key),
        &["--bundle", "sbom.bundle"],
        "sbom.json",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_airsign_verifies(&dir, s(&public), &["--bundle", "sbom.bundle"], "sbom.json");
    // the cosign spelling of the flag is accepted, and changes nothing
    assert_airsign_verifies(
        &dir,
        s(&public),
        &["--bundle", "sbom.bundle", "--insecure-ignore-tlog"],
        "sbom.json",
    );
    // a private key works too: its public half is used
    assert_airsign_verifies(&dir, s(&key), &["--bundle", "sbom.bundle"], "sbom.json");
    assert_airsign_refuses(
        &dir,
        s(&other_public),
        &["--bundle", "sbom.bundle"],
        "sbom.json",
        "invalid signature",
    );
    dir.write("sbom.json", br#"{"spdxVersion":"SPDX-2.3"} "#);
    assert_airsign_refuses(
        &dir,
        s(&public),
        &["--bundle", "sbom.bundle"],
        "sbom.json",
        "the bundle's message digest is not the artifact's",
    );
}

#[test]
fn a_cosign3_attestation_bundle_verifies_when_its_statement_names_the_file() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let dir = Dir::new();
    let (key, public) = dir.cosign_keys(&cosign3, "producer");
    dir.write("image.iso", b"an ISO, in a way");
    dir.write("other.iso", b"another ISO");
    dir.write("predicate.json", br#"{"built":"offline"}"#);
    let out = run(&mut dir.cosign(
        &cosign3,
        &[
            "attest-blob",
            "--key",
            s(&key),
            "--bundle",
            "iso.att.json",
            "--predicate",
            "predicate.json",
            "--type",
            "custom",
            "--tlog-upload=false",
            "--use-signing-config=false",
            "image.iso",
        ],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle: serde_json::Value = serde_json::from_slice(&dir.read("iso.att.json")).unwrap();
    assert!(bundle.get("dsseEnvelope").is_some(), "{bundle}");
    assert!(cosign_verifies(
        &dir,
        &cosign3,
        s(&public),
        &["--bundle", "iso.att.json"],
        "image.iso"
    ));

    assert_airsign_verifies(&dir, s(&public), &["--bundle", "iso.att.json"], "image.iso");
    assert_airsign_refuses(
        &dir,
        s(&public),
        &["--bundle", "iso.att.json"],
        "other.iso",
        "the statement's subjects do not include sha256:",
    );
}

#[test]
fn legacy_outputs_both_ways_with_cosign3() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let dir = Dir::new();
    let (key, public) = dir.airsign_keys("signer");
    let (key, public) = (s(&key), s(&public));
    dir.write("f.txt", b"hello blob\n");
    dir.write("g.txt", b"hello other blob\n");
    let legacy = "--new-bundle-format=false";

    // airsign → cosign 3.1.1
    let out = run(&mut dir.airsign(&["sign-blob", "--key", key, legacy, "f.txt"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.ends_with('\n') && stdout.lines().count() == 1,
        "{stdout:?}"
    );
    let b64 = stdout.trim_end().to_owned();
    ok(&mut dir.airsign(&[
        "sign-blob",
        "--key",
        key,
        legacy,
        "--output-signature",
        "ours.sig",
        "--bundle",
        "ours.bundle",
        "f.txt",
    ]));
    assert_eq!(dir.read("ours.sig"), b64.as_bytes(), "base64, no newline");
    assert_eq!(mode(&dir.path("ours.sig")), 0o600);
    assert_eq!(mode(&dir.path("ours.bundle")), 0o600);
    ok(&mut dir.airsign(&[
        "sign-blob",
        "--key",
        key,
        legacy,
        "--b64=false",
        "--output-signature",
        "ours.der",
        "f.txt",
    ]));
    assert_eq!(B64.encode(dir.read("ours.der")), b64, "raw DER");
    for (flags, file) in [
        (["--signature", "ours.sig"], "f.txt"),
        (["--signature", b64.as_str()], "f.txt"),
        (["--signature", "ours.der"], "f.txt"),
        (["--bundle", "ours.bundle"], "f.txt"),
    ] {
        assert!(
            cosign_verifies(&dir, &cosign3, public, &flags, file),
            "{flags:?}"
        );
        assert!(
            !cosign_verifies(&dir, &cosign3, public, &flags, "g.txt"),
            "{flags:?}"
        );
    }

    // cosign 3.1.1 → airsign
    let out = cosign3_sign_blob(&dir, &cosign3, key, &[legacy], "f.txt");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs_b64 = String::from_utf8(out.stdout).unwrap();
    assert!(
        theirs_b64.ends_with('\n'),
        "cosign prints the base64 with a newline too"
    );
    let out = cosign3_sign_blob(
        &dir,
        &cosign3,
        key,
        &[
            legacy,
            "--output-signature",
            "theirs.sig",
            "--bundle",
            "theirs.bundle",
        ],
        "f.txt",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cosign3_sign_blob(
        &dir,
        &cosign3,
        key,
        &[legacy, "--b64=false", "--output-signature", "theirs.der"],
        "f.txt",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the legacy bundle: the same bytes but the signature
    assert_eq!(
        without(&dir.read("ours.bundle"), "base64Signature"),
        without(&dir.read("theirs.bundle"), "base64Signature")
    );
    let cert_b64 = B64.encode(dir.read("signer.pub"));
    assert_eq!(
        without(&dir.read("ours.bundle"), "base64Signature"),
        format!(r#"{{"base64Signature":"…","cert":"{cert_b64}"}}"#)
    );
    for flags in [
        ["--signature", "theirs.sig"],
        ["--signature", theirs_b64.trim_end()],
        ["--signature", "theirs.der"],
        ["--bundle", "theirs.bundle"],
    ] {
        assert_airsign_verifies(&dir, public, &flags, "f.txt");
        assert_airsign_refuses(&dir, public, &flags, "g.txt", "invalid signature");
    }
}

#[test]
fn legacy_outputs_both_ways_with_cosign2() {
    let Some(cosign2) = need!(Tool::Cosign) else {
        return;
    };
    let dir = Dir::new();
    let (key, public) = dir.cosign_keys(&cosign2, "v2");
    let (key, public) = (s(&key), s(&public));
    dir.write("f.txt", b"signed by cosign 2.5\n");
    dir.write("g.txt", b"not signed\n");
    // cosign 2.5 signs offline with --tlog-upload=false (its legacy format is the default)
    let out = run(&mut dir.cosign(
        &cosign2,
        &[
            "sign-blob",
            "--key",
            key,
            "--tlog-upload=false",
            "--output-signature",
            "v2.sig",
            "--bundle",
            "v2.bundle",
            "f.txt",
        ],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // cosign 2.5's legacy bundle has no cert
    let v2: serde_json::Value = serde_json::from_slice(&dir.read("v2.bundle")).unwrap();
    assert!(v2.get("cert").is_none(), "{v2}");
    for flags in [["--signature", "v2.sig"], ["--bundle", "v2.bundle"]] {
        assert_airsign_verifies(&dir, public, &flags, "f.txt");
        assert_airsign_refuses(&dir, public, &flags, "g.txt", "invalid signature");
    }

    // airsign's legacy outputs verify with cosign 2.5's verify-blob
    ok(&mut dir.airsign(&[
        "sign-blob",
        "--key",
        key,
        "--new-bundle-format=false",
        "--output-signature",
        "ours.sig",
        "--bundle",
        "ours.bundle",
        "f.txt",
    ]));
    for flags in [["--signature", "ours.sig"], ["--bundle", "ours.bundle"]] {
        assert!(
            cosign_verifies(&dir, &cosign2, public, &flags, "f.txt"),
            "{flags:?}"
        );
        assert!(
            !cosign_verifies(&dir, &cosign2, public, &flags, "g.txt"),
            "{flags:?}"
        );
    }
}

#[test]
fn stdin_and_a_20_mib_file_are_streamed() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let dir = Dir::new();
    let (key, public) = dir.airsign_keys("signer");
    let (key, public) = (s(&key), s(&public));
    // 20 MiB that are not all the same byte
    let big: Vec<u8> = (0..20u32 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    dir.write("big.iso", &big);

    ok(&mut dir.airsign(&[
        "sign-blob",
        "--key",
        key,
        "--bundle",
        "by-path.json",
        "big.iso",
    ]));
    let out = run_with_stdin(
        &mut dir.airsign(&["sign-blob", "--key", key, "--bundle", "by-stdin.json", "-"]),
        &big,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dir.read("by-path.json"), dir.read("by-stdin.json"));
    let bundle: serde_json::Value = serde_json::from_slice(&dir.read("by-path.json")).unwrap();
    assert_eq!(
        bundle["messageSignature"]["messageDigest"]["digest"],
        sha256_b64(&big)
    );
    assert!(cosign_verifies(
        &dir,
        &cosign3,
        public,
        &["--bundle", "by-stdin.json"],
        "big.iso"
    ));

    // cosign signs it; airsign verifies from stdin and by path
    let out = cosign3_sign_blob(&dir, &cosign3, key, &["--bundle", "theirs.json"], "big.iso");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_with_stdin(
        &mut dir.airsign(&[
            "verify-blob",
            "--key",
            public,
            "--bundle",
            "theirs.json",
            "-",
        ]),
        &big,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Verified OK\n");
    assert_airsign_verifies(&dir, public, &["--bundle", "theirs.json"], "big.iso");
    let mut changed = big.clone();
    *changed.last_mut().unwrap() ^= 1;
    let out = run_with_stdin(
        &mut dir.airsign(&[
            "verify-blob",
            "--key",
            public,
            "--bundle",
            "theirs.json",
            "-",
        ]),
        &changed,
    );
    assert_one_line_failure(
        &out,
        1,
        "stdin: the bundle's message digest is not the artifact's",
    );

    // stdin with the legacy format: the signature on stdout
    let out = run_with_stdin(
        &mut dir.airsign(&["sign-blob", "--key", key, "--new-bundle-format=false", "-"]),
        &big,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.write("big.sig", &out.stdout);
    assert!(cosign_verifies(
        &dir,
        &cosign3,
        public,
        &["--signature", "big.sig"],
        "big.iso"
    ));
}

#[test]
fn bad_inputs_are_one_line_and_write_nothing() {
    let dir = Dir::new();
    let (key, public) = dir.airsign_keys("signer");
    let (key, public) = (s(&key), s(&public));
    dir.write("f.txt", b"content\n");
    ok(&mut dir.airsign(&["sign-blob", "--key", key, "--bundle", "good.json", "f.txt"]));
    let good = dir.read("good.json");

    // malformed bundles
    dir.write("cut.json", &good[..good.len() / 2]);
    dir.write("empty.json", b"");
    dir.write("array.json", b"[]");
    dir.write(
        "badsig.json",
        without(&good, "signature").replace('…', "!!").as_bytes(),
    );
    dir.write(
        "badtype.json",
        String::from_utf8(good.clone())
            .unwrap()
            .replace("bundle.v0.3+json", "bundle.v9+json")
            .as_bytes(),
    );
    for (bundle, want) in [
        ("cut.json", "cut.json: invalid bundle: not JSON"),
        ("empty.json", "invalid bundle: not JSON"),
        ("array.json", "not a JSON object"),
        ("badsig.json", "not valid base64"),
        ("badtype.json", "unsupported media type"),
    ] {
        assert_airsign_refuses(&dir, public, &["--bundle", bundle], "f.txt", want);
    }
    assert_airsign_refuses(
        &dir,
        public,
        &["--signature", "QUJD"],
        "f.txt",
        "is not an ECDSA",
    );
    assert_one_line_failure(
        &run(&mut dir.airsign(&[
            "verify-blob",
            "--key",
            public,
            "--signature",
            "missing.sig",
            "f.txt",
        ])),
        2,
        "no such file, and not a base64 signature",
    );
    assert_one_line_failure(
        &run(&mut dir.airsign(&[
            "verify-blob",
            "--key",
            public,
            "--bundle",
            "good.json",
            "missing.txt",
        ])),
        1,
        "missing.txt",
    );

    // a truncated key, a wrong password: nothing written
    let pem = dir.read("signer.key");
    dir.write("cut.key", &pem[..pem.len() / 2]);
    let out = run(&mut dir.airsign(&[
        "sign-blob",
        "--key",
        "cut.key",
        "--bundle",
        "out.json",
        "f.txt",
    ]));
    assert_one_line_failure(&out, 1, "cut.key");
    assert!(!dir.exists("out.json"));
    let out = run(dir
        .airsign(&["sign-blob", "--key", key, "--bundle", "out.json", "f.txt"])
        .env("COSIGN_PASSWORD", "not it"));
    assert_one_line_failure(&out, 1, "wrong password");
    assert!(!dir.exists("out.json"));
    let out = run(dir
        .airsign(&[
            "sign-blob",
            "--key",
            key,
            "--new-bundle-format=false",
            "--output-signature",
            "out.sig",
            "--bundle",
            "out.bundle",
            "f.txt",
        ])
        .env("COSIGN_PASSWORD", "not it"));
    assert_one_line_failure(&out, 1, "wrong password");
    assert!(!dir.exists("out.sig") && !dir.exists("out.bundle"));
    // a truncated public key
    let public_pem = dir.read("signer.pub");
    dir.write("cut.pub", &public_pem[..public_pem.len() / 2]);
    assert_airsign_refuses(
        &dir,
        "cut.pub",
        &["--bundle", "good.json"],
        "f.txt",
        "cut.pub",
    );

    // usage: exit 2, nothing written, no password asked
    let before = snapshot(dir.0.path());
    for (args, code, want) in [
        (
            vec!["sign-blob", "--key", key, "f.txt"],
            2,
            "must specify --bundle with --new-bundle-format",
        ),
        (
            vec![
                "sign-blob",
                "--key",
                key,
                "--bundle",
                "no/such/dir/b.json",
                "f.txt",
            ],
            2,
            "does not exist",
        ),
        (
            vec![
                "sign-blob",
                "--key",
                key,
                "--bundle",
                "b.json",
                "missing.txt",
            ],
            1,
            "opening missing.txt",
        ),
        (
            vec![
                "sign-blob",
                "--key",
                "awskms://alias/x",
                "--bundle",
                "b.json",
                "f.txt",
            ],
            2,
            "airsign works offline",
        ),
    ] {
        // no password anywhere: asking for one would fail differently
        let out = run(dir.airsign(&args).env_remove("COSIGN_PASSWORD"));
        assert_one_line_failure(&out, code, want);
    }
    // the file on stdin and no COSIGN_PASSWORD: the password cannot come from stdin too
    let out = run_with_stdin(
        dir.airsign(&["sign-blob", "--key", key, "--bundle", "b.json", "-"])
            .env_remove("COSIGN_PASSWORD"),
        b"content\n",
    );
    assert_one_line_failure(&out, 2, "COSIGN_PASSWORD");
    assert_eq!(snapshot(dir.0.path()), before, "nothing written");
}

#[test]
fn a_legacy_bundle_whose_cert_is_another_key_is_refused() {
    // cosign 3.1.1 and 2.5 verify a legacy bundle with the bundle's `cert` when it
    // holds a public key, whatever --key says; airsign verifies with --key only.
    let dir = Dir::new();
    let (_, public) = dir.airsign_keys("trusted");
    let (other_key, _) = dir.airsign_keys("intruder");
    dir.write("f.txt", b"content\n");
    ok(&mut dir.airsign(&[
        "sign-blob",
        "--key",
        s(&other_key),
        "--new-bundle-format=false",
        "--bundle",
        "intruder.bundle",
        "f.txt",
    ]));
    assert_airsign_refuses(
        &dir,
        s(&public),
        &["--bundle", "intruder.bundle"],
        "f.txt",
        "the legacy bundle's cert is another key",
    );
}

#[test]
fn help_says_airsign_never_contacts_a_log() {
    // the help is wrapped to the terminal: compare words
    let words = |out: String| out.split_whitespace().collect::<Vec<_>>().join(" ");
    let out = words(ok(&mut airsign(["verify-blob", "--help"])));
    assert!(out.contains("--insecure-ignore-tlog"), "{out}");
    assert!(out.contains("never contacts a transparency log"), "{out}");
    assert!(out.contains("Examples:"), "{out}");
    let out = words(ok(&mut airsign(["sign-blob", "--help"])));
    assert!(out.contains("--new-bundle-format"), "{out}");
    assert!(out.contains("never uploads to a transparency log"), "{out}");
    assert!(out.contains("Examples:"), "{out}");
}

#[test]
fn a_file_may_be_named_by_its_digest_and_keyless_needs_its_flags() {
    let f = fixtures().join("bundles");
    let blob = std::fs::read(f.join("blob.txt")).unwrap();
    let digest = oci::digest_of(&blob);
    let (key, bundle) = (f.join("cosign3.pub"), f.join("blob.sigstore.json"));
    let key_args = |file: &str| {
        vec![
            "verify-blob".to_owned(),
            "--key".into(),
            s(&key).into(),
            "--bundle".into(),
            s(&bundle).into(),
            file.to_owned(),
        ]
    };
    // the digest form verifies as the file does, and another digest does not
    let out = run(&mut airsign(key_args(&digest)));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = oci::digest_of(b"other bytes");
    assert_one_line_failure(
        &run(&mut airsign(key_args(&other))),
        1,
        "not the artifact's",
    );
    assert_one_line_failure(
        &run(&mut airsign(key_args("sha256:zz"))),
        2,
        "neither a file nor",
    );

    // keyless: a trusted root needs both identity flags; a key bundle needs --key
    let dir = Dir::new();
    let root = dir.0.path().join("trusted_root.json");
    std::fs::write(
        &root,
        r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
    )
    .unwrap();
    let keyless = |extra: &[&str]| {
        let mut a = vec![
            "verify-blob",
            "--bundle",
            s(&bundle),
            "--trusted-root",
            s(&root),
        ];
        a.extend_from_slice(extra);
        a.push(&digest);
        run(&mut airsign(a))
    };
    assert_one_line_failure(
        &keyless(&["--certificate-identity", "me"]),
        2,
        "--certificate-oidc-issuer",
    );
    assert_one_line_failure(
        &keyless(&[
            "--certificate-identity",
            "me",
            "--certificate-oidc-issuer",
            "x",
        ]),
        1,
        "signed with a key, not a certificate",
    );
    // a broken trusted root is one line naming it
    std::fs::write(&root, r#"{"mediaType":"nope"}"#).unwrap();
    assert_one_line_failure(
        &keyless(&[
            "--certificate-identity",
            "me",
            "--certificate-oidc-issuer",
            "x",
        ]),
        1,
        "invalid trusted root: unsupported media type",
    );
    // --key takes no identity: the key is the identity
    let mut both = key_args(&digest);
    both.insert(1, "--certificate-identity".into());
    both.insert(2, "me".into());
    assert_eq!(run(&mut airsign(both)).status.code(), Some(2));
}
