//! The store and every other OCI image layout airsign reads or writes (the formats
//! themselves are `airsign_oci`'s, re-exported here under the same paths).
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

pub use airsign_oci::store::{descriptor, graph, listing, manifest, referrers, resolve, source};

pub mod fsck;
pub mod gc;
pub mod landing;
pub mod layout;
pub mod unnamed;

pub use descriptor::{Descriptor, Index, Kind};
pub use layout::{Layout, Transaction};
pub use manifest::Document;
pub use source::ReadLayout;
