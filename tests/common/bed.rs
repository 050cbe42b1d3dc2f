//! A test store in a temp dir, with the commands every signing test needs.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use super::{airsign, fixtures, ok};

/// The password of every key a [`Bed`] generates.
pub const PASSWORD: &str = "correct horse";

pub struct Bed {
    pub tmp: TempDir,
    pub store: PathBuf,
}

impl Bed {
    /// A fresh, empty store.
    pub fn new() -> Bed {
        let tmp = TempDir::new().unwrap();
        let store = tmp.path().join("store");
        ok(airsign(["store", "init", "--store"]).arg(&store));
        Bed { tmp, store }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `airsign --store STORE ARGS` with the keys' password set, and no auth file or
    /// credentials of the developer's reachable (HOME is in the temp dir).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = airsign(["--store".as_ref(), self.store.as_os_str()]);
        c.args(args)
            .env("COSIGN_PASSWORD", PASSWORD)
            .env("HOME", self.path("home"))
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("AIRSIGN_CREDS");
        c
    }

    /// Imports a fixture layout, its bare tags named in `repo`.
    pub fn import(&self, fixture: &str, repo: &str) {
        ok(&mut self.cmd(&[
            "import",
            &format!("oci:{}", fixtures().join(fixture).display()),
            "--repository",
            repo,
        ]));
    }

    /// Generates a key pair; returns (private key, public key).
    pub fn keys(&self, prefix: &str) -> (PathBuf, PathBuf) {
        let p = self.path(prefix);
        ok(&mut self.cmd(&[
            "generate-key-pair",
            "--output-key-prefix",
            p.to_str().unwrap(),
        ]));
        (p.with_extension("key"), p.with_extension("pub"))
    }

    /// The store's `index.json`.
    pub fn index(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.store.join("index.json")).unwrap()).unwrap()
    }

    /// `verify --key PUBLIC IMAGE` finds no signature of that key: cosign's "no
    /// matching signatures", exit 12.
    pub fn assert_no_signature_of(&self, public: &std::path::Path, image: &str) {
        let out = super::run(&mut self.cmd(&["verify", "--key", super::s(public), image]));
        assert_eq!(
            out.status.code(),
            Some(12),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `signatures --key PUBLIC --json IMAGE`: each listed signature's format
    /// (`sig`, `bundle`, …) and whether it verifies with that key.
    pub fn signature_rows(&self, public: &std::path::Path, image: &str) -> Vec<(String, bool)> {
        format_and_verified(&self.signatures_json(public, image))
    }

    /// `signatures --key PUBLIC --json IMAGE`, parsed.
    pub fn signatures_json(&self, public: &std::path::Path, image: &str) -> Value {
        let out = ok(&mut self.cmd(&["signatures", "--key", super::s(public), "--json", image]));
        serde_json::from_str(&out).unwrap()
    }
}

/// Each row of a `signatures --json` listing: its format and whether it verified.
pub fn format_and_verified(listed: &Value) -> Vec<(String, bool)> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["format"].as_str().unwrap().to_owned(),
                l["verified"].as_bool().unwrap(),
            )
        })
        .collect()
}
