//! airsign-cosign: cosign's formats, byte for byte. Keys (the encrypted
//! `SIGSTORE PRIVATE KEY` envelope, public keys, key references, passwords), the
//! simple-signing payload, the `.sig` artifact (read, append, merge), signature and
//! certificate verification and cosign's identity policy, Sigstore bundles, and blobs
//! signed and verified as `sign-blob`/`verify-blob` do.
//!
//! Depends on `airsign-oci` only: it reads layouts through `ReadLayout`, and never
//! writes a store or talks to a registry.
#![forbid(unsafe_code)]

pub use airsign_oci::{Error, Result};
pub(crate) use airsign_oci::{cleanup, digest, store};

pub mod attestation;
pub mod blob;
pub mod bundle;
pub mod gojson;
pub mod keys;
pub mod payload;
pub mod signature;
pub mod trust;

/// A file of the repository's `fixtures/` directory, for unit tests.
#[cfg(test)]
pub(crate) fn fixture(path: &str) -> Vec<u8> {
    let p = format!("{}/../../fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}
