//! Adding signature layers to images' `.sig` entries in a layout: read the current
//! `.sig` (if any), append, stage payload, config and manifest, and update
//! `index.json` once for the whole batch.

use std::collections::{HashMap, HashSet};

use super::{SigLayer, SignatureArtifact};
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
    let mut artifacts: HashMap<&str, SignatureArtifact> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut ordered: HashSet<&str> = HashSet::new();
    for new in signatures {
        let name = new.sig_name.as_str();
        if !artifacts.contains_key(name) {
            let artifact = match catalog.named(name) {
                Some(existing) => SignatureArtifact::read(layout, existing)
                    .map_err(|e| Error::invalid(format!("{name}: {e}")))?,
                None => SignatureArtifact::default(),
            };
            artifacts.insert(name, artifact);
        }
        let artifact = artifacts.get_mut(name).expect("inserted above");
        if is_duplicate(artifact, new) {
            continue;
        }
        artifact.append(new.layer.clone())?;
        tx.put_bytes(&new.payload)?;
        if ordered.insert(name) {
            order.push(name);
        }
    }
    let mut entries = Vec::with_capacity(order.len());
    for name in &order {
        let (config, manifest) = artifacts[name].to_bytes();
        tx.put_bytes(&config)?;
        let digest = tx.put_bytes(&manifest)?;
        entries.push((
            (*name).to_owned(),
            Descriptor::new(OCI_MANIFEST, digest, manifest.len() as u64),
        ));
    }
    tx.commit(|index| {
        index.set_named_many(entries.iter().cloned());
        Ok(())
    })?;
    Ok(entries.into_iter().map(|(n, _)| n).collect())
}
