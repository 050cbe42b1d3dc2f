//! airsign: sign container images held in OCI image layouts, fully offline, in the
//! formats cosign and skopeo read.
//!
//! The workspace's crates make the arrows compile-enforced:
//!
//! ```text
//! airsign (cli, ops) ──┬──▶ airsign-media (store, archive) ──┐
//!                      ├──▶ airsign-registry ────────────────┼──▶ airsign-oci
//!                      └──▶ airsign-cosign ───────────────────┘
//! ```
//!
//! This crate is the commands; the modules of the crates below are re-exported
//! here under the paths the commands (and the tests) use.
#![forbid(unsafe_code)]

pub mod cli;
pub mod help;
pub mod ops;

pub use airsign_cosign::{attestation, blob, bundle, gojson, keys, payload, signature, trust};
pub use airsign_media::{archive, store};
pub use airsign_oci::{Error, Result, cleanup, copy, digest, error, reference, verify};
pub use airsign_registry as registry;
