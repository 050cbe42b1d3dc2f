//! The real verifiers, driven the way their users drive them: `cosign verify` against
//! a registry, and skopeo's `sigstoreSigned` policy while copying out of a registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::registry::{Registry, Side};
use super::{Tool, require, run};

/// Pushes one tag of a layout to the registry byte for byte:
/// `skopeo copy --all --preserve-digests oci:LAYOUT:NAME docker://REG/REPO:TAG`.
pub fn skopeo_push(skopeo: &Path, reg: &Registry, layout: &Path, name: &str, dest: &str) -> Output {
    run(Command::new(skopeo)
        .args([
            "--insecure-policy",
            "copy",
            "--all",
            "--preserve-digests",
            "--quiet",
        ])
        .args(reg.skopeo_args(Side::Dest, true))
        .arg(format!("oci:{}:{name}", layout.display()))
        .arg(format!("docker://{}/{dest}", reg.host())))
}

/// Pulls one tag out of the registry into a layout (for `.sig` tags, byte for byte).
pub fn skopeo_pull(skopeo: &Path, reg: &Registry, src: &str, layout: &Path, name: &str) -> Output {
    run(Command::new(skopeo)
        .args([
            "--insecure-policy",
            "copy",
            "--all",
            "--preserve-digests",
            "--quiet",
        ])
        .args(reg.skopeo_args(Side::Src, true))
        .arg(format!("docker://{}/{src}", reg.host()))
        .arg(format!("oci:{}:{name}", layout.display())))
}

/// `cosign verify --key PUB --insecure-ignore-tlog=true REG/IMAGE`.
pub fn cosign_verify(
    cosign: &Path,
    reg: &Registry,
    public_key: &Path,
    image: &str,
    extra: &[&str],
) -> Output {
    let home = tempfile::TempDir::new().unwrap();
    run(Command::new(cosign)
        .env("HOME", home.path())
        .args(["verify", "--insecure-ignore-tlog=true", "--key"])
        .arg(public_key)
        .args(reg.cosign_args(true))
        .args(extra)
        .arg(format!("{}/{image}", reg.host())))
}

/// Copies `REG/IMAGE` out with skopeo under a policy that requires a sigstore
/// signature by `public_key` whose identity is the image's repository
/// (`matchRepository`); with `--all` for an index, every platform's signature is
/// checked. `Ok` if skopeo accepted it, `Err(message)` if it rejected it.
pub fn skopeo_policy_verify(
    skopeo: &Path,
    reg: &Registry,
    public_key: &Path,
    image: &str,
    all: bool,
) -> Result<(), String> {
    let tmp = tempfile::TempDir::new().unwrap();
    let policy = tmp.path().join("policy.json");
    let key = std::fs::canonicalize(public_key).unwrap();
    std::fs::write(
        &policy,
        serde_json::json!({
            "default": [{"type": "reject"}],
            "transports": {"docker": {"": [{
                "type": "sigstoreSigned",
                "keyPath": key,
                "signedIdentity": {"type": "matchRepository"}
            }]}}
        })
        .to_string(),
    )
    .unwrap();
    let dest = if all {
        format!("oci:{}:x", tmp.path().join("out").display())
    } else {
        format!("dir:{}", tmp.path().join("out").display())
    };
    let mut c = Command::new(skopeo);
    c.arg("--policy")
        .arg(&policy)
        .arg("--registries.d")
        .arg(registries_d());
    c.args(["copy", "--remove-signatures", "--quiet"]);
    if all {
        c.arg("--all");
    }
    c.args(reg.skopeo_args(Side::Src, true))
        .arg(format!("docker://{}/{image}", reg.host()))
        .arg(dest);
    let out = run(&mut c);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The registries.d that turns on cosign-style attachments (set by `make test`).
pub fn registries_d() -> PathBuf {
    match std::env::var_os("AIRSIGN_TEST_REGISTRIES_D") {
        Some(d) => PathBuf::from(d),
        None => {
            let _ = require(Tool::Skopeo);
            panic!("AIRSIGN_TEST_REGISTRIES_D is not set (run the tests with `make test`)")
        }
    }
}

/// `skopeo inspect --raw` with the registry's credentials: its bytes for `REPO:TAG`
/// (or `REPO@DIGEST`), `None` if absent.
pub fn raw_manifest(skopeo: &Path, reg: &Registry, image: &str) -> Option<Vec<u8>> {
    let out = run(Command::new(skopeo)
        .arg("inspect")
        .arg("--raw")
        .args(reg.skopeo_args(Side::Inspect, true))
        .arg(reg.docker_ref(image)));
    out.status.success().then_some(out.stdout)
}

/// `cosign verify --key KEY` of `REPO:TAG` at the registry must pass.
pub fn assert_cosign_verifies(cosign: &Path, reg: &Registry, key: &Path, image: &str) {
    let out = cosign_verify(cosign, reg, key, image, &[]);
    assert!(
        out.status.success(),
        "cosign verify {image} with {}: {}",
        key.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
