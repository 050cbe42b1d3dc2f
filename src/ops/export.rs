//! `airsign export`: images with their signatures out of the store, to an
//! `oci-archive` tarball (optionally zstd-compressed and split), an OCI layout
//! directory, or cosign's `save` layout.

use std::path::Path;

use crate::{Error, Result};

#[derive(Debug, Default)]
pub struct ExportOptions {
    pub all: bool,
    pub to: String,
    pub format: String,
    pub compress: Option<String>,
    pub split: Option<String>,
    pub no_signatures: bool,
    pub json: bool,
}

pub fn run(_store: &Path, _images: &[String], _opts: &ExportOptions) -> Result<()> {
    Err(Error::Usage("export is not implemented yet".into()))
}
