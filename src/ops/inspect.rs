//! `airsign inspect IMAGE`: the raw manifest or index bytes, exactly as stored.

use std::io::Write;
use std::path::Path;

use crate::Result;
use crate::store::manifest::MAX_MANIFEST;
use crate::store::resolve::Catalog;

pub fn run(store: &Path, image: &str) -> Result<()> {
    let (layout, query) = super::open_image_read(store, image)?;
    let found = Catalog::open(layout.as_ref())?.resolve(&query)?;
    let raw = layout.read_blob(&found.descriptor, MAX_MANIFEST)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&raw)
        .and_then(|()| out.flush())
        .map_err(super::stdout_error)
}
