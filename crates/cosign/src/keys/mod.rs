//! Keys, byte-compatible with cosign: the encrypted private key envelope, public keys,
//! key references and passwords.
//!
//! - [`cosign`]: the `ENCRYPTED SIGSTORE PRIVATE KEY` format (scrypt + secretbox).
//! - [`plain`]: PKCS#8 / SEC1 / PBES2 keys other tools write, for import.
//! - [`keyref`]: `--key` references (a path, `env://VAR` or a `pkcs11:` URI).
//! - [`pkcs11`]: keys in PKCS#11 tokens (HSMs, smart cards, SoftHSM2).
//! - [`Signer`]: what signs, whichever of those the key is.
//! - [`password`]: `COSIGN_PASSWORD`, the terminal, or stdin, as cosign does.
//! - [`files`]: writing key files atomically with the right modes.
//!
//! - [`algorithm`]: the signature algorithms (cosign's `--signing-algorithm` names)
//!   and the [`PublicKey`] / [`PrivateKey`] of each: ECDSA P-256, P-384, P-521, RSA
//!   2048–4096 (PKCS#1 v1.5 or PSS) and Ed25519.

pub mod algorithm;
pub mod cosign;
mod fast_p256;
pub mod files;
pub mod keyref;
pub mod password;
mod pem;
pub mod pkcs11;
pub mod plain;
pub mod plugin;
mod signer;

use zeroize::Zeroizing;

pub use algorithm::{Algorithm, HashAlg, PrivateKey, PublicKey};
pub use cosign::{EncryptedKey, LABEL_COSIGN, LABEL_SIGSTORE, ScryptParams};
pub use keyref::KeyRef;
pub use password::Confirm;
pub use signer::Signer;

use crate::{Error, Result};

/// A fresh random P-256 signing key (OS randomness), cosign's default.
pub fn generate_signing_key() -> Result<PrivateKey> {
    PrivateKey::generate(Algorithm::EcdsaP256Sha256)
}

/// Encrypts a key exactly as `cosign generate-key-pair` does: label
/// `ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt N=65536 r=8 p=1, random salt and nonce.
pub fn encrypt_private_key(key: &PrivateKey, password: &[u8]) -> Result<Zeroizing<String>> {
    cosign::encrypt(key, password, ScryptParams::STANDARD, LABEL_SIGSTORE)
}

/// Decrypts a cosign private key PEM (either label, any of the three scrypt sets).
/// A password that does not open it gives [`Error::WrongPassword`].
pub fn decrypt_private_key(pem: &[u8], password: &[u8]) -> Result<PrivateKey> {
    EncryptedKey::parse(pem)?.decrypt(password)
}

/// Loads the private key a `--key` reference names, asking for its password by
/// cosign's rules (`COSIGN_PASSWORD`, terminal, stdin). The file is checked before
/// any password is asked for, so a wrong file never costs a prompt.
pub fn load_private_key(reference: &str) -> Result<PrivateKey> {
    let keyref = KeyRef::parse(reference)?;
    open_private_key(&keyref, &keyref.read()?)
}

/// What signs for a `--key` reference: a cosign key file (asking for its password
/// by cosign's rules), or a key in a PKCS#11 token (asking for its PIN by cosign's).
pub fn load_signer(reference: &str) -> Result<Signer> {
    match KeyRef::parse(reference)? {
        KeyRef::Pkcs11(uri) => Ok(Signer::Pkcs11(Box::new(pkcs11::TokenKey::open(&uri)?))),
        KeyRef::Plugin(p) => Ok(Signer::Plugin(Box::new(plugin::PluginKey::open(&p)?))),
        keyref => Ok(Signer::from(open_private_key(&keyref, &keyref.read()?)?)),
    }
}

/// Whether [`load_signer`] would open this key without asking anything: a key file
/// (or `env://` PEM) whose password is in `COSIGN_PASSWORD`.
pub fn opens_without_asking(reference: &str) -> bool {
    KeyRef::parse(reference).is_ok_and(|k| k.is_key_file())
        && std::env::var_os(password::PASSWORD_VAR).is_some()
}

/// The public key `public-key` prints for a `--key`: a cosign private key's (asking
/// for its password), or a token key's public key object (a PIN only if needed).
pub fn signer_public_key(reference: &str) -> Result<PublicKey> {
    match KeyRef::parse(reference)? {
        KeyRef::Pkcs11(uri) => pkcs11::public_key_of(&uri, true),
        KeyRef::Plugin(p) => plugin::public_key(&p),
        keyref => Ok(open_private_key(&keyref, &keyref.read()?)?.public_key()),
    }
}

/// Loads a verification key: a `PUBLIC KEY` PEM (SPKI, as `cosign.pub`), a
/// private key reference, whose public half is used (asking for its password), or a
/// token key's public key object.
pub fn load_public_key(reference: &str) -> Result<PublicKey> {
    let keyref = KeyRef::parse(reference)?;
    match &keyref {
        KeyRef::Pkcs11(uri) => return pkcs11::public_key_of(uri, true),
        KeyRef::Plugin(p) => return plugin::public_key(p),
        KeyRef::Path(_) | KeyRef::Env(_) => {}
    }
    let bytes = keyref.read()?;
    if let Some(e) = foreign_private_key(&keyref, &bytes) {
        return Err(e);
    }
    match public_key_from_pem(&bytes).map_err(|e| naming(&keyref, e))? {
        Some(key) => Ok(key),
        None => Ok(open_private_key(&keyref, &bytes)?.public_key()),
    }
}

/// Reads a verification key file's bytes without asking for anything: the key of a
/// `PUBLIC KEY` PEM (SPKI), or `None` for a cosign private key, whose public
/// half needs its password. Anything else is an error.
pub fn public_key_from_pem(pem: &[u8]) -> Result<Option<PublicKey>> {
    let block = pem::first_block(pem).map_err(Error::Key)?;
    match block.label.as_str() {
        "PUBLIC KEY" => PublicKey::from_spki_der(&block.contents).map(Some),
        LABEL_SIGSTORE | LABEL_COSIGN => Ok(None),
        other => Err(Error::Key(format!(
            "unsupported PEM type \"{other}\" (expected PUBLIC KEY or a cosign private key)"
        ))),
    }
}

/// Parses, then asks for the password, then decrypts.
fn open_private_key(keyref: &KeyRef, pem: &[u8]) -> Result<PrivateKey> {
    if let Some(e) = foreign_private_key(keyref, pem) {
        return Err(e);
    }
    let encrypted = EncryptedKey::parse(pem).map_err(|e| naming(keyref, e))?;
    let from_stdin = password::would_read_stdin();
    let password = password::cosign_password(Confirm::No)?;
    encrypted.decrypt(&password).map_err(|e| match e {
        // nothing on stdin, no terminal to ask on, no COSIGN_PASSWORD: that is no
        // password at all, not a wrong one
        Error::WrongPassword if from_stdin && password.is_empty() => Error::Key(format!(
            "{keyref}: no password given: set {} (or pipe the password on stdin, or run \
             on a terminal to be asked)",
            password::PASSWORD_VAR
        )),
        e => naming(keyref, e),
    })
}

/// A private key in another tool's format (openssl's PKCS#8 or SEC1, plain or
/// encrypted) where a cosign key is needed: the error that says how to convert it,
/// before any password is asked for.
fn foreign_private_key(keyref: &KeyRef, pem: &[u8]) -> Option<Error> {
    let block = pem::first_block(pem).ok()?;
    let what = match block.label.as_str() {
        "PRIVATE KEY" => "a plain PKCS#8 private key",
        "EC PRIVATE KEY" => "a plain SEC1 private key",
        "RSA PRIVATE KEY" => "a plain PKCS#1 RSA private key",
        "ENCRYPTED PRIVATE KEY" => "an encrypted PKCS#8 private key",
        _ => return None,
    };
    let convert = match keyref {
        KeyRef::Path(path) => format!("airsign import-key-pair --key {}", path.display()),
        KeyRef::Env(_) => "airsign import-key-pair --key FILE (the PEM in a file)".to_owned(),
        KeyRef::Pkcs11(_) | KeyRef::Plugin(_) => return None,
    };
    Some(Error::Key(format!(
        "{keyref}: {what} (PEM \"{}\"), not a cosign key: convert it once with `{convert}`, \
         which writes import-cosign.key and import-cosign.pub",
        block.label
    )))
}

/// The public key as cosign writes `cosign.pub` and prints it in `public-key`:
/// SPKI DER in a `PUBLIC KEY` PEM, 64-column lines, final newline.
pub fn public_key_pem(key: &PublicKey) -> Result<String> {
    key.to_pem()
}

/// Reads a private key other tools wrote (PKCS#8, SEC1 or PBES2-encrypted PKCS#8
/// PEM); `import_password` is called only for an encrypted one.
pub fn read_private_key_pem(
    pem: &[u8],
    import_password: impl FnOnce() -> Result<Zeroizing<Vec<u8>>>,
) -> Result<PrivateKey> {
    plain::read_private_key_pem(pem, import_password)
}

/// Prefixes a key error with the reference it is about (I/O errors already name it;
/// a wrong password is reported as it is).
fn naming(keyref: &KeyRef, err: Error) -> Error {
    match err {
        Error::Key(msg) => Error::Key(format!("{keyref}: {msg}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_and_have_a_178_byte_public_pem() {
        let key = generate_signing_key().unwrap();
        let pem = encrypt_private_key(&key, b"").unwrap();
        assert!(pem.contains(r#"ENCRYPTED SIGSTORE PRIVATE KEY"#));
        let back = decrypt_private_key(pem.as_bytes(), b"").unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let public = public_key_pem(&key.public_key()).unwrap();
        assert_eq!(public.len(), 178);
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    }

    #[test]
    fn the_public_key_of_a_fixture_matches_what_cosign_prints() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/keys/cosign-legacy"
        );
        let pem = std::fs::read(format!("{dir}/sigstore-label.key")).unwrap();
        let want = std::fs::read_to_string(format!("{dir}/sigstore-label.pub")).unwrap();
        let key = decrypt_private_key(&pem, b"hello").unwrap();
        assert_eq!(public_key_pem(&key.public_key()).unwrap(), want);
        // ...and a PUBLIC KEY file loads as the same verifying key.
        let path = format!("{dir}/sigstore-label.pub");
        assert_eq!(load_public_key(&path).unwrap(), key.public_key());
    }
}
