//! airsign: sign container images held in OCI image layouts, fully offline, in the
//! formats cosign and skopeo read.
//!
//! Module arrows point one way:
//! `cli → ops → {archive, signature, store, keys, payload} → {reference, digest, gojson}`.
#![forbid(unsafe_code)]

pub mod archive;
pub mod cleanup;
pub mod cli;
pub mod digest;
pub mod error;
pub mod gojson;
pub mod keys;
pub mod ops;
pub mod payload;
pub mod reference;
pub mod registry;
pub mod signature;
pub mod store;

pub use error::{Error, Result};
