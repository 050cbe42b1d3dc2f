//! `airsign pkcs11 list-tokens` and `airsign pkcs11 list-keys-uris`: cosign's
//! `pkcs11-tool`, to find the `pkcs11:` URI to give `--key` (see
//! [`crate::keys::pkcs11`]). The URIs printed never hold the PIN.

use std::io::Write as _;
use std::path::Path;

use crate::Result;
use crate::keys::pkcs11;

/// The module's tokens, as `cosign pkcs11-tool list-tokens` prints them.
pub fn list_tokens(module: &Path) -> Result<()> {
    let tokens = pkcs11::list_tokens(module)?;
    let mut text = format!("Listing tokens of PKCS11 module '{}'\n", module.display());
    for t in &tokens {
        text.push_str(&format!(
            "Token in slot {}\n\tLabel: {}\n\tManufacturer: {}\n\tModel: {}\n\tS/N: {}\n",
            t.slot_id, t.label, t.manufacturer, t.model, t.serial
        ));
    }
    print(&text)
}

/// The private keys of a slot's token with their URIs, as `cosign pkcs11-tool
/// list-keys-uris` prints them (without `pin-value`).
pub fn list_keys_uris(module: &Path, slot_id: u64) -> Result<()> {
    let keys = pkcs11::list_keys(module, slot_id)?;
    let mut text = format!(
        "Listing URIs of keys in slot '{slot_id}' of PKCS11 module '{}'\n",
        module.display()
    );
    for (i, k) in keys.iter().enumerate() {
        let id = crate::digest::hex_lower(&k.id);
        text.push_str(&format!(
            "Object {i}\n\tLabel: {}\n\tID: {id}\n\tURI: {}\n",
            k.label, k.uri
        ));
    }
    print(&text)
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(super::stdout_error)
}
