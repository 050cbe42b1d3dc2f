//! `airsign store init`.

use std::path::Path;

use crate::Result;
use crate::store::Layout;

pub fn init(store: &Path) -> Result<()> {
    let existed = store.join("oci-layout").exists();
    let layout = Layout::init(store)?;
    if existed {
        let n = layout.read_index()?.manifests.len();
        eprintln!(
            "store ready at {} (already there: {n} entries; `airsign fsck` checks every blob)",
            store.display()
        );
    } else {
        eprintln!("store ready at {}", store.display());
    }
    Ok(())
}
