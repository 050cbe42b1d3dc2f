//! Proves the test bed itself: the registry harness in every mode, with the real
//! skopeo pushing a fixture and reading it back unchanged.
mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::registry::{Mode, Registry, Side};
use common::*;
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The digest index.json gives for the single entry of a fixture layout.
fn fixture_digest(layout: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join(layout).join("index.json")).unwrap())
            .unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

/// skopeo without a policy file (a fresh machine has no /etc/containers/policy.json).
fn skopeo(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    c.arg("--insecure-policy");
    c
}

fn oci(layout: &str, tag: &str) -> String {
    format!("oci:{}:{tag}", fixtures().join(layout).display())
}

fn cmdline(pid: u32) -> Option<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn port_answers(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

fn round_trip(mode: Mode) {
    let Some(sk) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(mode) else {
        return;
    };
    let (pid, port) = (reg.pid(), reg.port());
    assert!(
        cmdline(pid).is_some_and(|c| c.contains("docker-registry")),
        "pid {pid} is not the registry"
    );
    assert!(reg.host().starts_with("127.0.0.1:"));
    assert_eq!(
        reg.url(),
        format!(
            "{}://127.0.0.1:{port}",
            if mode.tls() { "https" } else { "http" }
        )
    );

    // /v2/ as the harness promises: 401 without credentials in the auth modes
    let anon = if mode.auth() { 401 } else { 200 };
    assert_eq!(reg.curl_status("/v2/", false), Some(anon), "{mode:?}");
    assert_eq!(reg.curl_status("/v2/", true), Some(200), "{mode:?}");

    let want = fixture_digest("single");
    let dest = reg.docker_ref("airsign/single:v1");
    if mode.auth() {
        let err = fails(
            skopeo(&sk)
                .arg("copy")
                .args(reg.skopeo_args(Side::Dest, false))
                .arg(oci("single", "v1"))
                .arg(&dest),
        );
        assert!(
            err.contains("authentication required") || err.contains("unauthorized"),
            "{mode:?}: unexpected error without credentials: {err}"
        );
        // and the wrong password is refused too
        fails(
            skopeo(&sk)
                .arg("copy")
                .args(reg.skopeo_args(Side::Dest, false))
                .arg(format!("--dest-creds={}:wrong", reg.user()))
                .arg(oci("single", "v1"))
                .arg(&dest),
        );
    }
    if mode.tls() {
        // only the private CA makes the certificate acceptable
        let err = fails(skopeo(&sk).args(["inspect", "--raw"]).arg(&dest));
        assert!(
            err.contains("certificate") && err.contains("unknown authority"),
            "{mode:?}: expected a certificate error: {err}"
        );
    }
    ok(skopeo(&sk)
        .arg("copy")
        .arg("-q")
        .args(reg.skopeo_args(Side::Dest, true))
        .arg(oci("single", "v1"))
        .arg(&dest));
    let raw = run(skopeo(&sk)
        .args(["inspect", "--raw"])
        .args(reg.skopeo_args(Side::Inspect, true))
        .arg(&dest));
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(
        sha256(&raw.stdout),
        want,
        "{mode:?}: digest changed in the registry"
    );
    // the same manifest by digest
    let by_digest = reg.docker_ref(&format!("airsign/single@{want}"));
    let raw2 = ok(skopeo(&sk)
        .args(["inspect", "--raw"])
        .args(reg.skopeo_args(Side::Inspect, true))
        .arg(&by_digest));
    assert_eq!(sha256(raw2.as_bytes()), want);

    let data = reg.dir().join("data");
    drop(reg);
    // the process is gone (reaped: no /proc entry), its port is free, its dir deleted
    let t = Instant::now();
    while cmdline(pid).is_some_and(|c| c.contains("docker-registry")) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "registry {pid} survived drop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!port_answers(port), "port {port} still answers after drop");
    assert!(!data.exists(), "{} left behind", data.display());
}

#[test]
fn registry_plain_round_trip() {
    round_trip(Mode::Plain);
}

#[test]
fn registry_basic_auth_round_trip() {
    round_trip(Mode::BasicAuth);
}

#[test]
fn registry_tls_round_trip() {
    round_trip(Mode::Tls);
}

#[test]
fn registry_tls_basic_auth_round_trip() {
    round_trip(Mode::TlsBasicAuth);
}

/// A multi-platform index goes through the registry with --all and comes back as
/// the very same bytes, with every child manifest.
#[test]
fn registry_index_round_trip() {
    let Some(sk) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let want = fixture_digest("multi");
    let dest = reg.docker_ref("airsign/multi:v1");
    ok(skopeo(&sk)
        .args(["copy", "-q", "--all"])
        .args(reg.skopeo_args(Side::Dest, true))
        .arg(oci("multi", "v1"))
        .arg(&dest));
    let out = tempfile::tempdir().unwrap();
    let back: PathBuf = out.path().join("back");
    ok(skopeo(&sk)
        .args(["copy", "-q", "--all"])
        .args(reg.skopeo_args(Side::Src, true))
        .arg(&dest)
        .arg(format!("oci:{}:v1", back.display())));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], want.as_str());
    // every blob of the fixture came back, byte for byte
    let blobs = fixtures().join("multi/blobs/sha256");
    for e in std::fs::read_dir(&blobs).unwrap() {
        let name = e.unwrap().file_name();
        let a = std::fs::read(blobs.join(&name)).unwrap();
        let b = std::fs::read(back.join("blobs/sha256").join(&name))
            .unwrap_or_else(|_| panic!("blob {name:?} missing after the round trip"));
        assert_eq!(a, b, "blob {name:?} differs");
    }
    // the catalog lists the repository (plain HTTP, read with a raw socket)
    assert_eq!(
        common::registry::http_status(reg.port(), "/v2/airsign/multi/tags/list"),
        Some(200)
    );
    assert_eq!(
        common::registry::http_status(reg.port(), "/v2/airsign/nothing/tags/list"),
        Some(404)
    );
}

/// Two registries at once get two ports and two processes.
#[test]
fn registries_run_side_by_side() {
    let Some(a) = Registry::start(Mode::Plain) else {
        return;
    };
    let Some(b) = Registry::start(Mode::Plain) else {
        return;
    };
    assert_ne!(a.port(), b.port());
    assert_ne!(a.pid(), b.pid());
    let pid_a = a.pid();
    a.stop();
    assert_eq!(b.curl_status("/v2/", false), Some(200));
    assert!(cmdline(pid_a).is_none_or(|c| !c.contains("docker-registry")));
}

/// The first line of a Debian package's changelog, next to the binary:
/// `BIN/../share/doc/PKG/changelog.Debian.gz`, e.g. `cosign (3.1.1-2) unstable; …`.
fn debian_changelog_head(bin: &Path, package: &str) -> String {
    let gz = bin
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("share/doc")
        .join(package)
        .join("changelog.Debian.gz");
    let text = ok(Command::new("gzip").arg("-dc").arg(&gz));
    text.lines().next().unwrap_or_default().to_owned()
}

/// Runs `BIN ARGS` with HOME (and notation's XDG dirs) in a temp dir; returns stdout.
fn version_output(bin: &Path, args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    ok(Command::new(bin)
        .args(args)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_CACHE_HOME", home.path().join("cache")))
}

/// The Debian forky tools run on this machine and are the versions the interop
/// tests were written against: cosign 3.1.1, oras 1.3.3, crane 0.20.7, notation
/// 1.3.2. cosign and crane built by Debian print no version of their own ("devel",
/// "could not determine build information"), so for those the Debian changelog
/// shipped beside the binary is the authority; oras and notation print theirs.
#[test]
fn forky_tools_run_and_are_the_expected_versions() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(oras) = need!(Tool::Oras) else {
        return;
    };
    let Some(crane) = need!(Tool::Crane) else {
        return;
    };
    let Some(notation) = need!(Tool::Notation) else {
        return;
    };

    let head = debian_changelog_head(&cosign3, "cosign");
    assert!(
        head.starts_with("cosign (3.1.1-"),
        "cosign changelog: {head}"
    );
    let out = version_output(&cosign3, &["version"]);
    assert!(out.contains("GitVersion:"), "cosign version: {out}");
    // a cosign 3 flag that 2.5 lacks: the binary is the 3.x one
    let help = version_output(&cosign3, &["sign", "--help"]);
    assert!(
        help.contains("--use-signing-config"),
        "cosign sign --help: {help}"
    );

    let out = version_output(&oras, &["version"]);
    assert!(
        out.lines().any(|l| l.trim() == "Version:    1.3.3"),
        "oras version: {out}"
    );
    let head = debian_changelog_head(&oras, "oras");
    assert!(head.starts_with("oras (1.3.3-"), "oras changelog: {head}");

    let head = debian_changelog_head(&crane, "crane");
    assert!(
        head.starts_with("go-containerregistry (0.20.7+"),
        "crane changelog: {head}"
    );
    let out = run(Command::new(&crane).arg("version"));
    assert!(out.status.success(), "crane version: {out:?}");
    let help = version_output(&crane, &["--help"]);
    assert!(
        help.contains("Crane is a tool for managing container images"),
        "{help}"
    );

    let out = version_output(&notation, &["version"]);
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("Version:") && l.contains("v1.3.2")),
        "notation version: {out}"
    );
    let head = debian_changelog_head(&notation, "notation");
    assert!(
        head.starts_with("golang-github-notaryproject-notation (1.3.2-"),
        "notation changelog: {head}"
    );
}

/// The keyless tests' producer and judge are the pinned versions: Node >= 20.17
/// (what @sigstore/mock 0.12.1 asks), @sigstore/mock 0.12.1 as `npm ci` installed
/// it, sigstore-python 4.5.1.
#[test]
fn keyless_tools_are_the_pinned_versions() {
    let Some(node) = need!(Tool::Node) else {
        return;
    };
    let Some(modules) = need!(Tool::SigstoreMock) else {
        return;
    };
    let Some(sigstore) = need!(Tool::SigstorePython) else {
        return;
    };
    let v = version_output(&node, &["-p", "process.versions.node"]);
    let parts: Vec<u32> = v.trim().split('.').map(|p| p.parse().unwrap()).collect();
    assert!(
        parts[0] > 20 || (parts[0] == 20 && parts[1] >= 17),
        "node {v}"
    );
    let pkg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(modules.join("@sigstore/mock/package.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pkg["version"], "0.12.1");
    let out = version_output(&sigstore, &["--version"]);
    assert_eq!(out.trim(), "sigstore 4.5.1");
}
