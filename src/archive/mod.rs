//! `oci-archive` tarballs (and `docker save` tarballs): read in place as a stream of
//! content-addressed entries — never unpacked — and written deterministically,
//! straight from a layout.
//!
//! - [`reader`]: validating tar scanner and [`reader::ArchiveLayout`], a
//!   [`crate::store::ReadLayout`] over a (possibly split or compressed) archive;
//! - [`writer`]: deterministic tar output (sorted entries, fixed mtimes and owners),
//!   optionally zstd-compressed and split into parts.

pub mod reader;
pub mod writer;
