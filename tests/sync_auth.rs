//! `airsign sync` to registries that ask for credentials: Bearer token auth (the
//! real registry's `auth: token` mode with a token issuer in the test) with
//! `--creds`, podman's auth.json, docker's config.json, a credential helper and a
//! credential store; basic auth over TLS through config.json; a refused password;
//! and a registry that already holds cosign's own signature of the image.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::bed::{Bed, PASSWORD};
use common::oci::digest_of;
use common::registry::{Mode, Registry};
use common::verifiers::*;
use common::*;
use serde_json::Value;
use tempfile::TempDir;

const SRC: &str = "registry.example.com/demo";
const IMAGE: &str = "registry.example.com/demo/single:v1";

/// A store holding the `single` fixture signed for `DEST_REPO` (under the
/// registry's host); returns it with the public key.
fn signed_store(reg: &Registry, dest_repo: &str) -> (Bed, PathBuf, PathBuf) {
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, public) = bed.keys("k");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{}/{dest_repo}", reg.host()),
        IMAGE,
    ]));
    (bed, key, public)
}

/// `airsign sync IMAGE --json ARGS` with the environment `env` adds to the bed's
/// (which has no auth file of the developer's in reach).
fn sync(bed: &Bed, args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut all = vec!["sync", "--json", IMAGE];
    all.extend_from_slice(args);
    let mut c = bed.cmd(&all);
    c.env_remove("XDG_RUNTIME_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    run(&mut c)
}

fn report(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "sync failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `{"auths":{HOST:{"auth":base64(user:password)}}}`.
fn auths_json(reg: &Registry) -> String {
    format!(
        "{{\"auths\":{{\"{}\":{{\"auth\":\"{}\"}}}}}}",
        reg.host(),
        b64(&reg.creds().unwrap())
    )
}

/// A `docker-credential-airsigntest` program in `dir` answering `get` for the
/// registry's host (and "not found" for others), recording each server URL it was
/// asked about in `dir/asked`.
fn credential_helper(dir: &Path, reg: &Registry) {
    let script = dir.join("docker-credential-airsigntest");
    let creds = serde_json::json!({
        "ServerURL": reg.host(), "Username": reg.user(), "Secret": reg.password()
    });
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             [ \"$1\" = get ] || exit 1\n\
             read -r url\n\
             printf '%s\\n' \"$url\" >> '{asked}'\n\
             if [ \"$url\" = '{host}' ]; then\n  \
               printf '%s\\n' '{creds}'\n\
             else\n  \
               echo 'credentials not found in native keychain'; exit 1\n\
             fi\n",
            asked = dir.join("asked").display(),
            host = reg.host(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn bearer_token_auth_with_creds_and_every_kind_of_auth_file() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Token) else {
        return;
    };
    let host = reg.host();
    let (bed, _, public) = signed_store(&reg, "demo/single");
    let digest = fixture_digest("single");

    // a wrong password: the token server refuses it; one line naming the realm,
    // never the password; nothing pushed
    let wrong = format!("{}:not-{}", reg.user(), reg.password());
    let out = sync(&bed, &["--to", &host, "--creds", &wrong], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let line = err.lines().last().unwrap();
    assert!(line.starts_with("airsign: error: "), "{err}");
    assert!(
        line.contains("authentication failed")
            && line.contains(&format!("127.0.0.1:{}", reg.realm_port().unwrap())),
        "{err}"
    );
    assert!(!err.contains(reg.password()), "{err}");
    assert!(raw_manifest(&skopeo, &reg, "demo/single:v1").is_none());

    // --creds: tokens asked for pull,push on the destination repository
    let creds = reg.creds().unwrap();
    let r = report(&sync(&bed, &["--to", &host, "--creds", &creds], &[]));
    assert_eq!(r["images"][0]["status"], "pushed", "{r:#}");
    assert!(
        reg.scopes_asked()
            .iter()
            .any(|s| s.contains("repository:demo/single:pull,push")),
        "{:?}",
        reg.scopes_asked()
    );
    let raw = raw_manifest(&skopeo, &reg, "demo/single:v1").unwrap();
    assert_eq!(digest_of(&raw), digest);
    assert_cosign_verifies(&cosign, &reg, &public, "demo/single:v1");
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/single:v1", false).unwrap();

    // the auth files, each to its own prefix (so each one really pushes): podman's
    // auth.json by REGISTRY_AUTH_FILE, docker's config.json by DOCKER_CONFIG, a
    // credHelpers entry and a credsStore naming a helper program on PATH
    let files = TempDir::new().unwrap();
    let podman = files.path().join("auth.json");
    std::fs::write(&podman, auths_json(&reg)).unwrap();
    let docker = files.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.json"), auths_json(&reg)).unwrap();
    let bin = files.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    credential_helper(&bin, &reg);
    let path = std::env::join_paths(
        std::iter::once(bin.clone())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let path = PathBuf::from(path);
    let helpers = files.path().join("helpers");
    std::fs::create_dir_all(&helpers).unwrap();
    std::fs::write(
        helpers.join("config.json"),
        format!("{{\"credHelpers\":{{\"{host}\":\"airsigntest\"}}}}"),
    )
    .unwrap();
    let store = files.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(
        store.join("config.json"),
        "{\"credsStore\":\"airsigntest\"}",
    )
    .unwrap();

    let cases: [(&str, Vec<(&str, &Path)>); 4] = [
        ("podman", vec![("REGISTRY_AUTH_FILE", &podman)]),
        ("docker", vec![("DOCKER_CONFIG", &docker)]),
        (
            "helper",
            vec![("DOCKER_CONFIG", &helpers), ("PATH", path.as_path())],
        ),
        (
            "store",
            vec![("DOCKER_CONFIG", &store), ("PATH", path.as_path())],
        ),
    ];
    for (prefix, env) in &cases {
        let to = format!("{host}/{prefix}");
        let r = report(&sync(&bed, &["--to", &to], env));
        assert_eq!(r["images"][0]["status"], "pushed", "{prefix}: {r:#}");
        assert!(writes(&r) > 0, "{prefix}: {r:#}");
        assert_cosign_verifies(&cosign, &reg, &public, &format!("{prefix}/demo/single:v1"));
    }
    let asked = std::fs::read_to_string(bin.join("asked")).unwrap();
    assert_eq!(
        asked.lines().collect::<Vec<_>>(),
        [host.as_str(), host.as_str()],
        "the helper was asked once per run, for the registry's host"
    );

    // no credentials at all: the error says so, nothing pushed
    let out = sync(&bed, &["--to", &format!("{host}/anon")], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("no credentials configured for {host}")),
        "{err}"
    );
    assert!(raw_manifest(&skopeo, &reg, "anon/demo/single:v1").is_none());
}

/// Regression: a token server refusing an anonymous token request was reported as
/// "token request failed (…: 401 Unauthorized)", which does not tell the user that
/// airsign found no credentials for the registry.
#[test]
fn anonymous_token_refusal_says_no_credentials_are_configured() {
    let Some(reg) = Registry::start(Mode::Token) else {
        return;
    };
    let (bed, _, _) = signed_store(&reg, "demo/single");
    let out = sync(&bed, &["--to", &reg.host()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let line = err.lines().last().unwrap();
    assert!(
        line.contains(&format!(
            "authentication required: no credentials configured for {}",
            reg.host()
        )) && line.contains(&format!("127.0.0.1:{}", reg.realm_port().unwrap())),
        "{err}"
    );
}

#[test]
fn basic_auth_over_tls_from_docker_config() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::TlsBasicAuth) else {
        return;
    };
    let host = reg.host();
    let (bed, _, public) = signed_store(&reg, "demo/single");
    let docker = TempDir::new().unwrap();
    std::fs::write(docker.path().join("config.json"), auths_json(&reg)).unwrap();
    let ca = reg.ca_cert().unwrap();
    let r = report(&sync(
        &bed,
        &["--to", &host, "--ca-cert", s(&ca)],
        &[("DOCKER_CONFIG", docker.path())],
    ));
    assert_eq!(r["images"][0]["status"], "pushed", "{r:#}");
    assert_cosign_verifies(&cosign, &reg, &public, "demo/single:v1");

    // the same through a certs.d directory (DIR/HOST:PORT/ca.crt) instead of --ca-cert
    let certs = TempDir::new().unwrap();
    std::fs::create_dir_all(certs.path().join(&host)).unwrap();
    std::fs::copy(&ca, certs.path().join(&host).join("ca.crt")).unwrap();
    let again = report(&sync(
        &bed,
        &["--to", &host, "--cert-dir", s(certs.path())],
        &[("DOCKER_CONFIG", docker.path())],
    ));
    assert_eq!(again["images"][0]["status"], "present", "{again:#}");
    assert_eq!(writes(&again), 0, "{again:#}");
}

#[test]
fn cosigns_own_signature_at_a_token_registry_is_kept_when_airsign_syncs_its_own() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Token) else {
        return;
    };
    let host = reg.host();
    let (bed, _, ours) = signed_store(&reg, "demo/single");
    let (theirs_key, theirs) = bed.keys("cosigns");
    let digest = fixture_digest("single");
    let creds = reg.creds().unwrap();

    // the image reaches the registry first, and the real cosign signs it there (K1)
    let out = skopeo_push(&skopeo, &reg, &bed.store, IMAGE, "demo/single:v1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let home = TempDir::new().unwrap();
    ok(Command::new(&cosign)
        .env("HOME", home.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .args([
            "sign",
            "--key",
            s(&theirs_key),
            "--tlog-upload=false",
            "--yes",
        ])
        .args(reg.cosign_args(true))
        .arg(format!("{host}/demo/single@{digest}")));
    let sig_ref = format!("demo/single:{}", sig_tag(&digest));
    let cosigns: Value =
        serde_json::from_slice(&raw_manifest(&skopeo, &reg, &sig_ref).unwrap()).unwrap();

    // airsign's own signature (K2, made offline in the store) is synced over it
    let r = report(&sync(&bed, &["--to", &host, "--creds", &creds], &[]));
    let sig = &r["images"][0]["artifacts"][0];
    assert_eq!(sig["status"], "merged", "{r:#}");
    assert_eq!(sig["kept_layers"], 1, "{r:#}");
    let merged: Value =
        serde_json::from_slice(&raw_manifest(&skopeo, &reg, &sig_ref).unwrap()).unwrap();
    assert_eq!(merged["layers"].as_array().unwrap().len(), 2, "{merged:#}");
    assert_eq!(
        merged["layers"][0], cosigns["layers"][0],
        "cosign's kept first"
    );

    // both verify, with cosign and with skopeo's sigstore policy, key by key
    for key in [&theirs, &ours] {
        assert_cosign_verifies(&cosign, &reg, key, "demo/single:v1");
        skopeo_policy_verify(&skopeo, &reg, key, "demo/single:v1", false)
            .unwrap_or_else(|e| panic!("skopeo's policy with {}: {e}", key.display()));
    }

    // a rerun finds all of ours there: nothing is written
    let again = report(&sync(&bed, &["--to", &host, "--creds", &creds], &[]));
    assert_eq!(again["images"][0]["status"], "present", "{again:#}");
    assert_eq!(
        again["images"][0]["artifacts"][0]["status"], "contained",
        "{again:#}"
    );
    assert_eq!(writes(&again), 0, "{again:#}");
    assert_eq!(
        digest_of(&raw_manifest(&skopeo, &reg, &sig_ref).unwrap()),
        sig["destination_digest"].as_str().unwrap(),
        "the merged signature is untouched"
    );
}
