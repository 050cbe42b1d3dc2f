//! `oci-archive` tarballs (and `docker save` tarballs): read in place as a stream of
//! content-addressed entries — never unpacked — and written deterministically,
//! straight from a layout.
//!
//! - [`tar`]: the strict tar header scanner every read goes through;
//! - [`input`]: one file or numbered parts read as one, optionally zstd-decoded;
//! - [`reader`]: [`reader::ArchiveLayout`], a [`crate::store::ReadLayout`] over a
//!   (possibly split or compressed) `oci-archive`, or over a `docker save` tarball;
//! - [`fsck`]: checking an archive in one sequential pass;
//! - [`writer`]: deterministic tar output (fixed entry order, mtimes and owners),
//!   optionally zstd-compressed, streamed through a bounded two-thread pipeline;
//! - [`output`]: the archive's file or numbered parts, written under temp names and
//!   renamed into place at the end.

pub mod fsck;
pub mod input;
pub mod output;
pub mod reader;
pub mod sink;
pub mod tar;
pub mod writer;
