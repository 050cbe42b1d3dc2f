//! What signs: a key from a file, a key in a PKCS#11 token, or a key behind a
//! signer plugin. Every command that signs (`sign`, `attest`, `sign-blob`) and
//! `public-key` goes through [`Signer`], never through a concrete key type, so
//! another kind of key is one more variant here and nothing changes in the commands.

use super::fast_p256::RingP256;
use super::pkcs11::TokenKey;
use super::plugin::PluginKey;
use super::{Algorithm, HashAlg, PrivateKey, PublicKey};
use crate::{Error, Result};

/// A key that signs, with its algorithm's hash (P-256 SHA-256, P-384 SHA-384,
/// P-521 SHA-512, RSA SHA-256, Ed25519 none): ECDSA signatures in ASN.1 DER.
#[derive(Debug)]
pub enum Signer {
    /// A key held in memory (a cosign key file, decrypted; zeroized on drop).
    Software(Box<SoftwareKey>),
    /// A key that never leaves its token.
    Pkcs11(Box<TokenKey>),
    /// A key behind a signer plugin (sigstore's KMS plugin protocol).
    Plugin(Box<PluginKey>),
}

/// A key in memory, and for P-256 ring's copy of it, made when it first signs a
/// message (~4× faster there, [`super::fast_p256`]; a blob's digest is signed by the
/// key itself, so `sign-blob` never makes one).
#[derive(Debug)]
pub struct SoftwareKey {
    key: PrivateKey,
    fast: std::sync::OnceLock<Option<RingP256>>,
}

impl SoftwareKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let fast = self.fast.get_or_init(|| match &self.key {
            PrivateKey::P256(k) => RingP256::new(k),
            _ => None,
        });
        match fast {
            Some(fast) => fast.sign(message),
            None => self.key.sign(message),
        }
    }
}

impl From<PrivateKey> for Signer {
    fn from(key: PrivateKey) -> Self {
        Signer::Software(Box::new(SoftwareKey {
            key,
            fast: std::sync::OnceLock::new(),
        }))
    }
}

impl Signer {
    /// The public half, which verifies what this signs.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Signer::Software(k) => k.key.public_key(),
            Signer::Pkcs11(t) => t.public_key().clone(),
            Signer::Plugin(p) => p.public_key().clone(),
        }
    }

    /// The algorithm this signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Signer::Software(k) => k.key.algorithm(),
            Signer::Pkcs11(t) => t.algorithm(),
            Signer::Plugin(p) => p.public_key().default_algorithm(),
        }
    }

    /// The hash its signatures are over; `None` for Ed25519 (pure).
    pub fn hash(&self) -> Option<HashAlg> {
        self.algorithm().hash()
    }

    /// `--signing-algorithm`: PSS or PKCS#1 v1.5 for an RSA key file or token key;
    /// a plugin key, only its own algorithm.
    pub fn with_algorithm(self, algorithm: Algorithm) -> Result<Signer> {
        match self {
            // a copy: the key moved out of its box would leave the secret there unwiped
            Signer::Software(k) => k.key.clone().with_algorithm(algorithm).map(Signer::from),
            Signer::Pkcs11(t) => t
                .with_algorithm(algorithm)
                .map(|t| Signer::Pkcs11(Box::new(t))),
            Signer::Plugin(p) if p.public_key().default_algorithm() == algorithm => {
                Ok(Signer::Plugin(p))
            }
            // sigstore's plugin protocol asks for a hash, never a padding: a plugin's
            // RSA key signs as the plugin does (PKCS#1 v1.5, as cosign's plugins)
            Signer::Plugin(p) => Err(Error::Usage(format!(
                "--signing-algorithm {algorithm}: the plugin key is {} and signs {} (the \
                 plugin protocol cannot ask for another algorithm)",
                p.public_key().kind(),
                p.public_key().default_algorithm()
            ))),
        }
    }

    /// Signs `message`, hashed with the key's hash here, or whole for Ed25519. ECDSA
    /// P-256 in software signs on ring with hedged nonces (two signatures of the same
    /// message differ, as cosign's); the other curves with RFC 6979 nonces.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        match self {
            Signer::Software(k) => k.sign(message),
            Signer::Pkcs11(t) => t.sign(message),
            // the message itself, as cosign sends a payload: the plugin hashes it
            // with the hash the request names (the key's)
            Signer::Plugin(p) => p.sign(message),
        }
    }

    /// Signs a digest computed elsewhere with `hash` (a blob, hashed streaming),
    /// which must be the key's.
    pub fn sign_prehash(&self, hash: HashAlg, digest: &[u8]) -> Result<Vec<u8>> {
        match self {
            Signer::Software(k) => k.key.sign_prehash(hash, digest),
            Signer::Pkcs11(t) => {
                signs_with(t.public_key(), hash, "token")?;
                t.sign_prehash(digest)
            }
            Signer::Plugin(p) => {
                signs_with(p.public_key(), hash, "plugin")?;
                p.sign_prehash(digest)
            }
        }
    }

    /// Whether signatures may be made on several threads at once (a token signs
    /// one at a time, in its one session; a plugin, one run at a time, as cosign
    /// runs it).
    pub fn is_parallel(&self) -> bool {
        matches!(self, Signer::Software(_))
    }
}

/// A token's or plugin's key signs a digest made with its own hash only.
fn signs_with(key: &PublicKey, hash: HashAlg, what: &str) -> Result<()> {
    if key.hash() == Some(hash) {
        return Ok(());
    }
    Err(Error::Key(format!(
        "signing: an {} {what} key does not sign a {} digest",
        key.kind(),
        hash.name()
    )))
}
