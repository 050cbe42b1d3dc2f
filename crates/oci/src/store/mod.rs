//! The OCI formats airsign reads and writes, medium-free: descriptors and
//! `index.json`, manifests and indexes (validated, never re-serialised), read access to
//! a layout wherever it is ([`ReadLayout`]), finding images in it, the one graph
//! walker, and referrers found by subject.
//!
//! - [`descriptor`]: descriptors and `index.json`, the one document airsign serialises;
//! - [`manifest`]: validating and walking manifests and indexes (raw bytes kept);
//! - [`source`]: read access to a layout in a directory or an archive ([`ReadLayout`]);
//! - [`referrers`]: referrers found by subject: listings, untagged entries, blobs;
//! - [`resolve`]: finding an image in a layout by tag, reference or digest;
//! - [`graph`]: the one walker over manifests, indexes and blobs (fsck, gc, checks,
//!   copies);
//! - [`listing`]: what a layout holds, entry by entry (`ls`, archive `fsck`).

pub mod descriptor;
pub mod graph;
pub mod listing;
pub mod manifest;
pub mod referrers;
pub mod resolve;
pub mod source;

pub use descriptor::{Descriptor, Index, Kind};
pub use manifest::Document;
pub use source::ReadLayout;
