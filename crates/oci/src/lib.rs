//! airsign-oci: the formats, below every medium. Digests, references, descriptors,
//! manifests and indexes (raw bytes kept), the [`store::ReadLayout`] trait every
//! medium implements, the one graph walker, referrer discovery, and the one error
//! type whose variants say what went wrong (rendered only at the binary's edge).
//!
//! Nothing here knows a directory, an archive, a registry or a signature format.
#![forbid(unsafe_code)]

pub mod cleanup;
pub mod copy;
pub mod digest;
pub mod error;
pub mod reference;
pub mod store;
pub mod verify;

pub use error::{Error, Result};
