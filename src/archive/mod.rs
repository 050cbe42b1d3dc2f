//! `oci-archive` tarballs (and `docker save` tarballs): read in place as a stream of
//! content-addressed entries — never unpacked — and written deterministically,
//! straight from a layout.
//!
//! - [`tar`]: the strict tar header scanner every read goes through;
//! - [`input`]: one file or numbered parts read as one, optionally zstd-decoded;
//! - [`reader`]: [`reader::ArchiveLayout`], a [`crate::store::ReadLayout`] over a
//!   (possibly split or compressed) `oci-archive`, or over a `docker save` tarball;
//! - [`writer`]: deterministic tar output (sorted entries, fixed mtimes and owners),
//!   optionally zstd-compressed and split into parts.

pub mod fsck;
pub mod input;
pub mod reader;
pub mod tar;
pub mod writer;
