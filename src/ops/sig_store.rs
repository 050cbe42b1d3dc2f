//! Adding signature layers to images' `.sig` entries in a layout: read the current
//! `.sig` (if any), append, stage payload, config and manifest, and update
//! `index.json` once for the whole batch.

use std::collections::HashMap;

use crate::signature::{SigLayer, SignatureArtifact};
use crate::store::descriptor::OCI_MANIFEST;
use crate::store::resolve::Catalog;
use crate::store::{Descriptor, Layout};
use crate::{Error, Result};

/// A signature to add: the `index.json` name of the `.sig` entry it goes to, the
/// payload bytes, and the layer describing them.
pub struct NewSignature {
    pub sig_name: String,
    pub payload: Vec<u8>,
    pub layer: SigLayer,
}

/// Appends every signature that `is_duplicate` does not reject; returns the names of
/// the `.sig` entries written. One staged transaction, one `index.json` update.
pub fn append_signatures(
    layout: &Layout,
    signatures: &[NewSignature],
    is_duplicate: impl Fn(&SignatureArtifact, &NewSignature) -> bool,
) -> Result<Vec<String>> {
    let catalog = Catalog::open(layout)?;
    let mut tx = layout.begin()?;
    // An artifact stays in memory only while more signatures for it follow, and is
    // staged as soon as its last one is in: a bulk sign of thousands of images never
    // holds thousands of artifacts.
    let mut left: HashMap<&str, usize> = HashMap::new();
    for new in signatures {
        *left.entry(new.sig_name.as_str()).or_default() += 1;
    }
    let mut pending: HashMap<&str, (SignatureArtifact, bool)> = HashMap::new();
    let mut entries: Vec<(String, Descriptor)> = Vec::new();
    // Blobs are written in batches, on every core (see `Transaction::put_many_bytes`).
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let flush = |tx: &mut crate::store::Transaction<'_>, batch: &mut Vec<Vec<u8>>| -> Result<()> {
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        tx.put_many_bytes(&refs)?;
        batch.clear();
        Ok(())
    };
    for new in signatures {
        let name = new.sig_name.as_str();
        let (mut artifact, mut changed) = match pending.remove(name) {
            Some(p) => p,
            None => match catalog.named(name) {
                Some(existing) => (
                    SignatureArtifact::read(layout, existing)
                        .map_err(|e| Error::invalid(format!("{name}: {e}")))?,
                    false,
                ),
                None => (SignatureArtifact::default(), false),
            },
        };
        if !is_duplicate(&artifact, new) {
            artifact.append(new.layer.clone())?;
            batch.push(new.payload.clone());
            changed = true;
        }
        let n = left.get_mut(name).expect("counted above");
        *n -= 1;
        if *n > 0 {
            pending.insert(name, (artifact, changed));
        } else if changed {
            let (config, manifest) = artifact.to_bytes();
            let digest = crate::digest::Digest::sha256(&manifest);
            entries.push((
                name.to_owned(),
                Descriptor::new(OCI_MANIFEST, digest, manifest.len() as u64),
            ));
            batch.push(config);
            batch.push(manifest);
        }
        if batch.len() >= 3 * 512 {
            flush(&mut tx, &mut batch)?;
        }
    }
    flush(&mut tx, &mut batch)?;
    drop(catalog);
    tx.commit(|index| {
        index.set_named_many(entries.iter().cloned());
        Ok(())
    })?;
    Ok(entries.into_iter().map(|(n, _)| n).collect())
}
