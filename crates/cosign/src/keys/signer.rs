//! What signs: a key from a file, a key in a PKCS#11 token, or a key behind a
//! signer plugin. Every command that
//! signs (`sign`, `attest`, `sign-blob`) and `public-key` goes through [`Signer`],
//! never through a concrete key type, so another kind of key (another algorithm, a
//! signer plugin) is one more variant here and nothing changes in the commands.

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};

use super::pkcs11::TokenKey;
use super::plugin::PluginKey;
use crate::digest::Digest;
use crate::{Error, Result};

/// A key that signs: ECDSA P-256 over SHA-256, ASN.1 DER signatures (cosign's).
#[derive(Debug)]
pub enum Signer {
    /// A key held in memory (a cosign key file, decrypted; zeroized on drop).
    Software(SigningKey),
    /// A key that never leaves its token.
    Pkcs11(Box<TokenKey>),
    /// A key behind a signer plugin (sigstore's KMS plugin protocol).
    Plugin(Box<PluginKey>),
}

impl From<SigningKey> for Signer {
    fn from(key: SigningKey) -> Self {
        Signer::Software(key)
    }
}

impl Signer {
    /// The public half, which verifies what this signs.
    pub fn verifying_key(&self) -> &VerifyingKey {
        match self {
            Signer::Software(k) => k.verifying_key(),
            Signer::Pkcs11(t) => t.verifying_key(),
            Signer::Plugin(p) => p.verifying_key(),
        }
    }

    /// Signs `message` (hashed with SHA-256 here): the DER signature.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        match self {
            // deterministic (RFC 6979), as before: the same bytes sign alike
            Signer::Software(k) => {
                let sig: DerSignature = k.sign(message);
                Ok(sig.as_bytes().to_vec())
            }
            Signer::Pkcs11(t) => t.sign_prehash(&Digest::sha256(message).to_bytes()),
            // the message itself, as cosign sends a payload: the plugin hashes it
            Signer::Plugin(p) => p.sign(message),
        }
    }

    /// Signs a SHA-256 digest computed elsewhere (a blob, hashed streaming).
    pub fn sign_prehash(&self, digest: &[u8]) -> Result<Vec<u8>> {
        match self {
            Signer::Software(k) => {
                let sig: DerSignature = k
                    .sign_prehash(digest)
                    .map_err(|e| Error::Key(format!("signing: {e}")))?;
                Ok(sig.as_bytes().to_vec())
            }
            Signer::Pkcs11(t) => t.sign_prehash(digest),
            Signer::Plugin(p) => p.sign_prehash(digest),
        }
    }

    /// Whether signatures may be made on several threads at once (a token signs
    /// one at a time, in its one session; a plugin, one run at a time, as cosign
    /// runs it).
    pub fn is_parallel(&self) -> bool {
        matches!(self, Signer::Software(_))
    }
}
