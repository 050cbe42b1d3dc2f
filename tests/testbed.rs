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
