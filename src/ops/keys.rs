//! `generate-key-pair`, `import-key-pair`, `public-key`.

use std::path::Path;

use crate::{Error, Result};

pub fn generate_key_pair(_prefix: &Path, _overwrite: bool) -> Result<()> {
    Err(Error::Usage(
        "generate-key-pair: not implemented yet".into(),
    ))
}

pub fn import_key_pair(_key: &Path, _prefix: &Path, _overwrite: bool) -> Result<()> {
    Err(Error::Usage("import-key-pair: not implemented yet".into()))
}

pub fn public_key(_keyref: &str, _outfile: Option<&Path>) -> Result<()> {
    Err(Error::Usage("public-key: not implemented yet".into()))
}
