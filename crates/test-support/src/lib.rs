//! airsign-test-support: the test bed shared by the integration tests. It finds the
//! real tools (cosign 2.5 and 3.1, skopeo, oras, crane, notation, umoci, openssl,
//! SoftHSM2, the registry) through the `AIRSIGN_TEST_*` variables the Makefile sets,
//! and holds the harnesses the tests run them in: the real registry on a loopback
//! port in every auth and TLS mode ([`registry`]), a fault-injecting proxy in front
//! of it ([`proxy`]), a scripted fake registry for hostile answers
//! ([`fake_registry`]), OCI layouts built byte by byte ([`oci`]), SoftHSM2 tokens
//! in a temp dir ([`softhsm`]), and cosign and skopeo driven as their users drive
//! them to verify ([`verifiers`]).
//!
//! A missing tool skips the test with a message, except under `CI=true`, where it
//! fails the test: CI must never pass by skipping.
//!
//! It is a crate of the workspace so that any crate's tests can use it. The one thing
//! it cannot hold is the `airsign` binary: its path exists only inside the root
//! package's integration tests (`env!("CARGO_BIN_EXE_airsign")`), so running it
//! (`airsign()`, `store_cmd()`, the `Bed` store) stays in their `tests/common/`,
//! which re-exports this crate.
#![forbid(unsafe_code)]

pub mod fake_registry;
pub mod gotools;
pub mod oci;
pub mod proxy;
pub mod registry;
pub mod sigstore_mock;
pub mod softhsm;
pub mod verifiers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real tools, by the variable that names each one. (`Pkcs11Tool` is the
/// program's own name, `pkcs11-tool`.)
#[derive(Clone, Copy, Debug)]
pub enum Tool {
    Cosign,
    Skopeo,
    Registry,
    Htpasswd,
    Umoci,
    Openssl,
    Softhsm2Util,
    Pkcs11Tool,
    /// SoftHSM2's PKCS#11 module (`libsofthsm2.so`), which airsign loads.
    Softhsm2Module,
    /// cosign 3.1 from Debian forky (`Cosign` is trixie's 2.5).
    Cosign3,
    Oras,
    Crane,
    Notation,
    /// sigstore-conformance's `bundle-verify` cases (a directory, never copied into
    /// the repository): `$AIRSIGN_TEST_CONFORMANCE/bundle-verify/*`.
    Conformance,
    /// Node.js >= 20.17, which runs the sigstore-mock harness ([`sigstore_mock`]).
    Node,
    /// `@sigstore/mock` 0.12.1 (mock Fulcio, CT log, Rekor v1/v2, TSA): the
    /// `node_modules` directory `npm ci` made from `scripts/sigstore-mock/`.
    SigstoreMock,
    /// sigstore-python 4.5.1's `sigstore` command (a venv under `target/`), the
    /// judge of the keyless tests.
    SigstorePython,
    /// jq, which the walkthrough (`tests/walkthrough.rs`) pipes output through and
    /// the signer-plugin tests' plugin parses its requests with.
    Jq,
    /// curl, which the walkthrough asks the registry's API with.
    Curl,
}

impl Tool {
    fn var(self) -> &'static str {
        match self {
            Tool::Cosign => "AIRSIGN_TEST_COSIGN",
            Tool::Skopeo => "AIRSIGN_TEST_SKOPEO",
            Tool::Registry => "AIRSIGN_TEST_REGISTRY",
            Tool::Htpasswd => "AIRSIGN_TEST_HTPASSWD",
            Tool::Umoci => "AIRSIGN_TEST_UMOCI",
            Tool::Openssl => "AIRSIGN_TEST_OPENSSL",
            Tool::Softhsm2Util => "AIRSIGN_TEST_SOFTHSM2_UTIL",
            Tool::Pkcs11Tool => "AIRSIGN_TEST_PKCS11_TOOL",
            Tool::Softhsm2Module => "AIRSIGN_TEST_SOFTHSM2_MODULE",
            Tool::Cosign3 => "AIRSIGN_TEST_COSIGN3",
            Tool::Oras => "AIRSIGN_TEST_ORAS",
            Tool::Crane => "AIRSIGN_TEST_CRANE",
            Tool::Notation => "AIRSIGN_TEST_NOTATION",
            Tool::Conformance => "AIRSIGN_TEST_CONFORMANCE",
            Tool::Node => "AIRSIGN_TEST_NODE",
            Tool::SigstoreMock => "AIRSIGN_TEST_SIGSTORE_MOCK",
            Tool::SigstorePython => "AIRSIGN_TEST_SIGSTORE_PYTHON",
            Tool::Jq => "AIRSIGN_TEST_JQ",
            Tool::Curl => "AIRSIGN_TEST_CURL",
        }
    }

    /// The tool's path if its variable names an existing file (a directory for
    /// the conformance suite).
    pub fn find(self) -> Option<PathBuf> {
        let p = PathBuf::from(std::env::var_os(self.var())?);
        match self {
            Tool::Conformance => p.is_dir().then_some(p),
            Tool::SigstoreMock => p.join("@sigstore/mock").is_dir().then_some(p),
            _ => p.is_file().then_some(p),
        }
    }
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Finds a tool, or decides the test's fate: `None` means "skip" (a message is
/// printed); under `CI=true` a missing tool panics instead.
pub fn require(tool: Tool) -> Option<PathBuf> {
    match tool.find() {
        Some(p) => Some(p),
        None if in_ci() => panic!(
            "{} is not set or names nothing there: CI needs every tool (run `make test`)",
            tool.var()
        ),
        None => {
            eprintln!(
                "SKIP: {} not set (run the tests with `make test`)",
                tool.var()
            );
            None
        }
    }
}

/// `let Some(cosign) = need!(Tool::Cosign) else { return };`
#[macro_export]
macro_rules! need {
    ($tool:expr) => {
        $crate::require($tool)
    };
}

/// The project's `fixtures/` directory (at the workspace root, two levels above
/// this crate).
pub fn fixtures() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.parent().and_then(Path::parent).unwrap();
    root.join("fixtures")
}

/// A path as `&str`, for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// cosign's signature tag for a digest: `sha256-<hex>.sig`.
pub fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// The digest of a fixture layout's (first) image.
pub fn fixture_digest(fixture: &str) -> String {
    let idx: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join(fixture).join("index.json")).unwrap(),
    )
    .unwrap();
    idx["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

/// The digests of the manifests in a fixture's image index.
pub fn child_digests(fixture: &str) -> Vec<String> {
    let d = fixture_digest(fixture);
    let raw = std::fs::read(fixtures().join(fixture).join("blobs/sha256").join(&d[7..])).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs a command and returns its output (never panics on a non-zero exit).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// Runs a command that must succeed; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns stderr.
pub fn fails(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "{cmd:?} should have failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A snapshot of every file under `dir` (relative path → bytes), to prove that a
/// refused operation changed nothing.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut m = std::collections::BTreeMap::new();
    if !dir.exists() {
        return m;
    }
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
        if e.file_type().is_file() {
            m.insert(rel, std::fs::read(e.path()).unwrap());
        } else {
            m.insert(rel, Vec::new());
        }
    }
    m
}

/// The write requests (PUT, POST, PATCH, DELETE) a `sync --json` report counts.
pub fn writes(report: &serde_json::Value) -> u64 {
    let r = &report["requests"];
    ["put", "post", "patch", "delete"]
        .iter()
        .map(|k| r[k].as_u64().unwrap())
        .sum()
}
