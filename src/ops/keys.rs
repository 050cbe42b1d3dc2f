//! `generate-key-pair`, `import-key-pair`, `public-key`: cosign's key commands, with
//! cosign's files, modes, messages and password rules (see [`crate::keys`]).

use std::io::Write as _;
use std::path::Path;

use crate::keys::{self, Confirm, KeyRef, files, password};
use crate::{Error, Result};

/// Writes `PREFIX.key` (cosign's encrypted format, mode 0600) and `PREFIX.pub`: a
/// key for `algorithm` (cosign's `--signing-algorithm` name; P-256 by default).
pub fn generate_key_pair(prefix: &Path, overwrite: bool, algorithm: Option<&str>) -> Result<()> {
    let algorithm = match algorithm {
        Some(name) => keys::Algorithm::from_name(name)?,
        None => keys::Algorithm::EcdsaP256Sha256,
    };
    let (key_path, pub_path) = files::key_pair_paths(prefix);
    // Refuse before asking for a password: the answer would be wasted.
    refuse_existing(&[&key_path, &pub_path], overwrite)?;
    let password = password::cosign_password(Confirm::Yes)?;
    let key = keys::PrivateKey::generate(algorithm)?;
    write_pair(&key, &password, &key_path, &pub_path, overwrite)
}

/// Re-encodes a PEM private key (PKCS#8, SEC1, or PBES2-encrypted PKCS#8) as
/// `PREFIX.key` / `PREFIX.pub` in cosign's format.
pub fn import_key_pair(key: &Path, prefix: &Path, overwrite: bool) -> Result<()> {
    let (key_path, pub_path) = files::key_pair_paths(prefix);
    refuse_existing(&[&key_path, &pub_path], overwrite)?;
    let input = KeyRef::Path(key.to_path_buf()).read()?;
    let signing_key = keys::read_private_key_pem(&input, || password::import_password(key))
        .map_err(|e| match e {
            Error::Key(msg) => Error::Key(format!("{}: {msg}", key.display())),
            other => other,
        })?;
    let password = password::cosign_password(Confirm::Yes)?;
    write_pair(&signing_key, &password, &key_path, &pub_path, overwrite)
}

/// Prints (or writes to `outfile`) the SPKI PEM of a private key (a cosign key file,
/// or a key in a PKCS#11 token), the same bytes `cosign public-key` prints.
pub fn public_key(keyref: &str, outfile: Option<&Path>) -> Result<()> {
    let key = keys::signer_public_key(keyref)?;
    let pem = keys::public_key_pem(&key)?;
    match outfile {
        Some(path) => {
            files::StagedFile::write(path, pem.as_bytes(), files::PUBLIC_MODE)?.commit(true)?;
            eprintln!("Public key written to {}", path.display());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(pem.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(super::stdout_error)?;
        }
    }
    Ok(())
}

fn refuse_existing(paths: &[&Path], overwrite: bool) -> Result<()> {
    if overwrite {
        return Ok(());
    }
    match paths.iter().find(|p| p.symlink_metadata().is_ok()) {
        Some(existing) => Err(files::already_exists(existing)),
        None => Ok(()),
    }
}

fn write_pair(
    key: &keys::PrivateKey,
    password: &[u8],
    key_path: &Path,
    pub_path: &Path,
    overwrite: bool,
) -> Result<()> {
    let private_pem = keys::encrypt_private_key(key, password)?;
    let public_pem = keys::public_key_pem(&key.public_key())?;
    files::write_key_pair(
        key_path,
        private_pem.as_bytes(),
        pub_path,
        public_pem.as_bytes(),
        overwrite,
    )?;
    // cosign prints these on stderr too.
    eprintln!("Private key written to {}", key_path.display());
    eprintln!("Public key written to {}", pub_path.display());
    Ok(())
}
