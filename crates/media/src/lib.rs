//! airsign-media: OCI image layouts on disk (the store, `oci:` directories) and
//! archives (`oci-archive:`, split, zstd, `docker-archive:`), each a
//! [`store::ReadLayout`]; crash-safe staged writes, fsck and gc.
//!
//! Depends on `airsign-oci` only: no registry, no signature format.
#![forbid(unsafe_code)]

pub use airsign_oci::{Error, Result, cleanup, copy, digest, error, reference, verify};

pub mod archive;
pub mod store;
