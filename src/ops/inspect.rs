//! `airsign inspect IMAGE`: the raw manifest or index bytes, exactly as stored.

use std::io::Write;
use std::path::Path;

use crate::reference::Location;
use crate::store::Layout;
use crate::store::manifest::MAX_MANIFEST;
use crate::store::resolve::{self, Found};
use crate::{Error, Result};

pub fn run(store: &Path, image: &str) -> Result<()> {
    let (layout, found) = locate(store, image)?;
    let raw = layout.read_blob(&found.descriptor, MAX_MANIFEST)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&raw)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing stdout", e))
}

/// Finds an image wherever `image` says it is: the store, `oci:DIR[:REF]`.
pub fn locate(store: &Path, image: &str) -> Result<(Layout, Found)> {
    match Location::parse(image)? {
        Location::Store(r) => {
            let layout = super::store::open(store)?;
            let index = layout.read_index()?;
            let found = resolve::find_reference(&layout, &index, &r)?;
            Ok((layout, found))
        }
        Location::Layout { path, reference } => {
            let layout = Layout::open(&path)?;
            let index = layout.read_index()?;
            let found = resolve::find(&layout, &index, reference.as_deref())?;
            Ok((layout, found))
        }
        Location::Archive { .. } => Err(Error::Usage(
            "reading oci-archive: tarballs in place is not supported yet".into(),
        )),
    }
}
