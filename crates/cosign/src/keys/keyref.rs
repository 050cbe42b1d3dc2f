//! Key references, as `--key` takes them: a file path, `env://VAR` for a PEM held
//! in an environment variable, or a `pkcs11:` URI for a key in a token
//! ([`super::pkcs11`]). cosign's network and KMS schemes are refused by name:
//! airsign works offline.

use std::fmt;
use std::io::Read as _;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::pkcs11::{self, Pkcs11Uri};
use super::plugin::PluginRef;
use crate::{Error, Result};

/// Key files are a few hundred bytes; the cap keeps a wrong path (a disk image, a
/// FIFO fed forever) from being read into memory.
const MAX_KEY_FILE: u64 = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRef {
    Path(PathBuf),
    Env(String),
    /// A key in a PKCS#11 token (its PIN, if the URI has one, is never shown).
    Pkcs11(Pkcs11Uri),
    /// `NAME://RESOURCE` with a signer plugin `sigstore-kms-NAME` on `PATH`
    /// ([`super::plugin`]).
    Plugin(PluginRef),
}

impl KeyRef {
    pub fn parse(reference: &str) -> Result<Self> {
        if reference.starts_with(pkcs11::SCHEME) {
            return Ok(KeyRef::Pkcs11(Pkcs11Uri::parse(reference)?));
        }
        if let Some(var) = reference.strip_prefix("env://") {
            if var.is_empty() || var.contains('=') {
                return Err(Error::Usage(format!(
                    "bad key reference {reference:?}: env:// needs a variable name"
                )));
            }
            return Ok(KeyRef::Env(var.to_string()));
        }
        if let Some((scheme, resource)) = reference.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            // cosign's KMS schemes and any other NAME:// go to a signer plugin, as
            // cosign sends them, when one is installed
            if let Some(plugin) = PluginRef::find(scheme, resource) {
                return Ok(KeyRef::Plugin(plugin));
            }
            return Err(Error::Usage(format!(
                "key reference {scheme}:// is not supported (airsign works offline, with no \
                 network clients): install a signer plugin {}{scheme} on PATH (see \
                 docs/signer-plugins.md), use a key file, env://VAR or a pkcs11: URI, or \
                 sign the payload elsewhere (`airsign generate` → your signer → `airsign \
                 attach signature`)",
                super::plugin::PROGRAM_PREFIX
            )));
        }
        if reference.is_empty() {
            return Err(Error::Usage("empty key reference".into()));
        }
        Ok(KeyRef::Path(PathBuf::from(reference)))
    }

    /// Whether the key is a file (or a PEM in a variable) whose password may be
    /// read from stdin; a token's PIN and a plugin's credentials never are.
    pub fn is_key_file(&self) -> bool {
        matches!(self, KeyRef::Path(_) | KeyRef::Env(_))
    }

    /// The referenced bytes (a PEM, normally). Zeroized on drop: they may be a key.
    pub fn read(&self) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            KeyRef::Pkcs11(_) => Err(Error::Key(format!(
                "{self}: a key in a PKCS#11 token, not a key file"
            ))),
            KeyRef::Plugin(_) => Err(Error::Key(format!(
                "{self}: a key behind a signer plugin, not a key file"
            ))),
            KeyRef::Env(var) => match std::env::var_os(var) {
                Some(value) => Ok(Zeroizing::new(value.into_encoded_bytes())),
                None => Err(Error::Key(format!("{self}: the variable {var} is not set"))),
            },
            KeyRef::Path(path) => {
                let file = std::fs::File::open(path)
                    .map_err(|e| Error::io_path("opening key", path, e))?;
                // Sized up front: growing would leave unzeroized copies of the key behind.
                let size = file.metadata().map_or(0, |m| m.len()).min(MAX_KEY_FILE) + 1;
                let mut bytes = Zeroizing::new(Vec::with_capacity(size as usize));
                file.take(MAX_KEY_FILE + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::io_path("reading key", path, e))?;
                if bytes.len() as u64 > MAX_KEY_FILE {
                    return Err(Error::Key(format!(
                        "{self}: larger than {MAX_KEY_FILE} bytes, not a key file"
                    )));
                }
                Ok(bytes)
            }
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Path(path) => write!(f, "{}", path.display()),
            KeyRef::Env(var) => write!(f, "env://{var}"),
            KeyRef::Pkcs11(uri) => write!(f, "{uri}"),
            KeyRef::Plugin(plugin) => write!(f, "{plugin}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_env_references() {
        assert_eq!(
            KeyRef::parse("cosign.key").unwrap(),
            KeyRef::Path("cosign.key".into())
        );
        assert_eq!(
            KeyRef::parse("/a/b:c.key").unwrap(),
            KeyRef::Path("/a/b:c.key".into())
        );
        assert_eq!(
            KeyRef::parse("env://MY_KEY").unwrap(),
            KeyRef::Env("MY_KEY".into())
        );
        assert_eq!(
            KeyRef::parse("env://MY_KEY").unwrap().to_string(),
            "env://MY_KEY"
        );
        // a token key: the URI, never read as a file name (before, it was one)
        let uri = "pkcs11:token=t;object=k?module-path=/m.so&pin-value=1234";
        match KeyRef::parse(uri).unwrap() {
            KeyRef::Pkcs11(u) => assert_eq!(u.object.as_deref(), Some("k")),
            other => panic!("{other:?}"),
        }
        assert!(!KeyRef::parse(uri).unwrap().to_string().contains("1234"));
        for bad in [
            "",
            "env://",
            "awskms://alias/x",
            "k8s://ns/name",
            "https://x/k",
        ] {
            assert!(KeyRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unset_variable_is_a_clear_error() {
        let err = KeyRef::Env("AIRSIGN_TEST_SURELY_UNSET_VAR".into())
            .read()
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not set"), "{err}");
    }
}
