//! The store and every other OCI image layout airsign reads or writes.
//!
//! - [`layout`]: the directory: blobs, `index.json`, crash-safe writes, the lock;
//! - [`descriptor`]: descriptors and `index.json`, the one document airsign serialises;
//! - [`manifest`]: validating and walking manifests and indexes (raw bytes kept);
//! - [`source`]: read access to a layout in a directory or an archive ([`ReadLayout`]);
//! - [`referrers`]: referrers found by subject: listings, untagged entries, blobs;
//! - [`resolve`]: finding an image in a layout by tag, reference or digest;
//! - [`graph`]: the one walker over manifests, indexes and blobs (fsck, gc);
//! - [`fsck`]: checking a whole layout;
//! - [`gc`]: removing blobs nothing refers to.

pub mod descriptor;
pub mod fsck;
pub mod gc;
pub mod graph;
pub mod layout;
pub mod manifest;
pub mod referrers;
pub mod resolve;
pub mod source;

pub use descriptor::{Descriptor, Index, Kind};
pub use layout::{Layout, Transaction};
pub use manifest::Document;
pub use source::ReadLayout;
