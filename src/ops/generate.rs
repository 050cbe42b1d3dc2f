//! `airsign generate [-a k=v] IMAGE`: the payload `cosign generate` prints.

use std::io::Write;
use std::path::Path;

use crate::payload;
use crate::reference::Location;
use crate::{Error, Result};

pub fn run(store: &Path, image: &str, annotations: &[String]) -> Result<()> {
    let annotations = payload::parse_annotations(annotations)?;
    let (repository, digest) = match Location::parse(image)? {
        // A digest reference is complete: no store needed, as with cosign.
        Location::Store(r) if r.digest().is_some() => {
            (r.name(), r.digest().cloned().expect("checked"))
        }
        _ => {
            let (layout, query) = super::open_image_read(store, image)?;
            let found = crate::store::resolve::Catalog::open(layout.as_ref())?.resolve(&query)?;
            let Some(r) = found.reference() else {
                return Err(Error::Usage(format!(
                    "{image}: this entry has no repository name, so the payload's \
                     docker-reference is unknown; import it with --repository first"
                )));
            };
            (r.name(), found.descriptor.digest.clone())
        }
    };
    let bytes = payload::simple_signing(&repository, &digest, &annotations);
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(super::stdout_error)
}
