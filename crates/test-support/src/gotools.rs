//! Go tools (cosign 3.1.1, oras, notation, crane) run as their users run them, each
//! in a scratch HOME so that no config, credential or cache of the machine is read
//! or written.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use super::run;

/// The password of the keys cosign generates here.
pub const COSIGN_PASSWORD: &str = "interop";

/// A scratch HOME for a Go tool, so that no config, credential or cache of the
/// machine is read or written (notation keeps its keys and trust policy under
/// `XDG_CONFIG_HOME/notation`).
pub struct ToolHome(TempDir);

impl ToolHome {
    #[allow(clippy::new_without_default)]
    pub fn new() -> ToolHome {
        ToolHome(TempDir::new().unwrap())
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn cmd(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        c.env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("DOCKER_CONFIG", self.path().join("docker"))
            .env("COSIGN_PASSWORD", COSIGN_PASSWORD)
            .env_remove("COSIGN_REPOSITORY")
            .env_remove("NOTATION_EXPERIMENTAL")
            .current_dir(self.path())
            .stdin(Stdio::null());
        c
    }
}

/// Output of a command that must succeed: (stdout, stderr).
pub fn ok2(cmd: &mut Command) -> (String, String) {
    let out = run(cmd);
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {o}\nstderr: {e}",
        out.status
    );
    (o, e)
}

/// `cosign generate-key-pair` (cosign 3.1.1) in `home`: (private, public).
pub fn cosign3_keys(cosign3: &Path, home: &ToolHome) -> (PathBuf, PathBuf) {
    ok2(home
        .cmd(cosign3)
        .args(["generate-key-pair", "--output-key-prefix", "producer"]));
    (
        home.path().join("producer.key"),
        home.path().join("producer.pub"),
    )
}

/// `cosign sign --key` offline (no Rekor, no TUF signing config) of `IMAGE@DIGEST`.
pub fn cosign3_sign(cosign3: &Path, home: &ToolHome, key: &Path, image: &str, legacy: bool) {
    let mut c = home.cmd(cosign3);
    c.args(["sign", "--key"]).arg(key).args([
        "--tlog-upload=false",
        "--use-signing-config=false",
        "--yes",
    ]);
    if legacy {
        c.arg("--new-bundle-format=false");
    }
    ok2(c.arg(image));
}
