//! `oci-archive` tarballs (and `docker save` tarballs): read in place as a stream of
//! content-addressed entries — never unpacked — and written deterministically,
//! straight from a layout.
//!
//! - [`reader`]: validating tar scanner and [`reader::ArchiveLayout`], a
//!   [`crate::store::ReadLayout`] over a (possibly split or compressed) archive;
//! - [`writer`]: deterministic tar output (fixed entry order, mtimes and owners),
//!   optionally zstd-compressed, streamed through a bounded two-thread pipeline;
//! - [`output`]: the archive's file or numbered parts, written under temp names and
//!   renamed into place at the end.

pub mod output;
pub mod reader;
pub mod writer;
