//! SoftHSM2 tokens for the PKCS#11 tests, made with the real tools
//! (`softhsm2-util`, OpenSC's `pkcs11-tool`) in a temp dir: a `softhsm2.conf` whose
//! `tokendir` is in the temp dir too, so nothing outside it is read or written.
//! Every command that loads the module (airsign included) needs [`SoftHsm::conf`] as
//! `SOFTHSM2_CONF`: [`SoftHsm::env`] sets it.
//!
//! Facts this relies on (SoftHSM 2.6.1, OpenSC 0.23): `--init-token --free` takes
//! the first free slot and moves the token to a new random slot id, which it prints;
//! an empty uninitialized slot stays listed; the token offers raw `CKM_ECDSA` only.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::{Tool, ok, require};

pub struct SoftHsm {
    dir: TempDir,
    pub conf: PathBuf,
    pub module: PathBuf,
    util: PathBuf,
    pkcs11_tool: PathBuf,
    openssl: PathBuf,
}

impl SoftHsm {
    /// An empty token store, or `None` (skip) when a tool is missing outside CI.
    pub fn new() -> Option<SoftHsm> {
        let util = require(Tool::Softhsm2Util)?;
        let pkcs11_tool = require(Tool::Pkcs11Tool)?;
        let module = require(Tool::Softhsm2Module)?;
        let openssl = require(Tool::Openssl)?;
        let dir = TempDir::new().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                tokens.display()
            ),
        )
        .unwrap();
        Some(SoftHsm {
            dir,
            conf,
            module,
            util,
            pkcs11_tool,
            openssl,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Points a command at this token store.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("SOFTHSM2_CONF", &self.conf)
    }

    /// `softhsm2-util --init-token --free --label LABEL`: the token's slot id.
    pub fn init_token(&self, label: &str, pin: &str, so_pin: &str) -> u64 {
        let out = ok(self.env(&mut Command::new(&self.util)).args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            pin,
            "--so-pin",
            so_pin,
        ]));
        let slot = out
            .split("reassigned to slot ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no slot id in softhsm2-util's output: {out}"));
        slot.parse().unwrap()
    }

    /// `pkcs11-tool --keypairgen --key-type EC:prime256v1`: a P-256 key pair made
    /// inside the token (its private half never leaves it).
    pub fn keypairgen(&self, token: &str, pin: &str, label: &str, id_hex: &str) {
        self.keypairgen_type(token, pin, label, id_hex, "EC:prime256v1");
    }

    /// [`SoftHsm::keypairgen`] of another type (`EC:secp384r1`, `rsa:2048`).
    pub fn keypairgen_type(&self, token: &str, pin: &str, label: &str, id_hex: &str, ty: &str) {
        ok(self.pkcs11_tool(token, pin).args([
            "--keypairgen",
            "--key-type",
            ty,
            "--id",
            id_hex,
            "--label",
            label,
        ]));
    }

    /// The public key of `id_hex` as pkcs11-tool reads it and openssl writes it
    /// (SPKI PEM): the judge of what `airsign public-key` prints.
    pub fn public_pem(&self, token: &str, pin: &str, id_hex: &str) -> String {
        let der = self.path(&format!("pub-{id_hex}.der"));
        ok(self
            .pkcs11_tool(token, pin)
            .args(["--read-object", "--type", "pubkey", "--id", id_hex, "-o"])
            .arg(&der));
        ok(Command::new(&self.openssl)
            .args(["pkey", "-pubin", "-inform", "DER", "-in"])
            .arg(&der))
    }

    /// `pkcs11-tool --module M --token-label T --login --pin P`.
    fn pkcs11_tool(&self, token: &str, pin: &str) -> Command {
        let mut c = Command::new(&self.pkcs11_tool);
        self.env(&mut c).arg("--module").arg(&self.module).args([
            "--token-label",
            token,
            "--login",
            "--pin",
            pin,
        ]);
        c
    }

    /// `pkcs11:token=T;object=O?module-path=M` (no PIN: tests give it by
    /// `COSIGN_PKCS11_PIN` unless they test `pin-value`).
    pub fn uri(&self, token: &str, object: &str) -> String {
        uri_with_module(token, object, &self.module)
    }
}

pub fn uri_with_module(token: &str, object: &str, module: &Path) -> String {
    format!(
        "pkcs11:token={token};object={object}?module-path={}",
        module.display()
    )
}
