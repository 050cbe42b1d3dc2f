//! The test bed of the integration tests is the workspace crate
//! `airsign-test-support` (`crates/test-support`), re-exported here so that tests
//! keep writing `common::…`. What stays here is what only the root package's
//! integration tests can have: the path of the `airsign` binary cargo built for them
//! (`env!("CARGO_BIN_EXE_airsign")`), the commands that run it, and [`bed::Bed`], a
//! store driven by it (a type of the test crate itself, so each test can add its own
//! methods to it).
// Each test binary uses only part of this module.
#![allow(dead_code)]

pub mod bed;

pub use airsign_test_support::*;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `airsign` binary built for these tests.
pub fn airsign_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_airsign"))
}

/// A command for the `airsign` binary with a clean environment for the store and
/// passwords, so the developer's own settings never leak into a test.
pub fn airsign<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(airsign_bin());
    c.args(args)
        .env_remove("AIRSIGN_STORE")
        .env_remove("COSIGN_PASSWORD")
        .env_remove("COSIGN_PKCS11_PIN")
        .env_remove("COSIGN_PKCS11_MODULE_PATH")
        .stdin(Stdio::null());
    c
}

/// `airsign --store STORE ARGS` (the store flag first, as a user types it).
pub fn store_cmd(store: &Path, args: &[&str]) -> Command {
    let mut c = airsign(["--store".as_ref(), store.as_os_str()]);
    c.args(args);
    c
}

/// A new, empty store `store` in `tmp`, made by `airsign store init`.
pub fn new_store(tmp: &tempfile::TempDir) -> PathBuf {
    let s = tmp.path().join("store");
    ok(&mut store_cmd(&s, &["store", "init"]));
    s
}
