//! P-256 signing of messages on ring's assembly: a bulk `sign --all` makes one
//! signature per image, and RustCrypto's pure-Rust `p256` takes ~72 µs for one on
//! the project's 2-core VM where ring's `nistz256` takes ~17 µs (docs/benchmarks.md,
//! 2026-12-06 (later)). `p256` still holds the key for everything else (its
//! encodings, the public key, `sign_prehash` of a blob's streamed digest — ring has
//! no prehash API — and verification).
//!
//! ring's nonces are hedged (a secret derived from the key, the message's digest and
//! fresh OS randomness), as Go's `crypto/ecdsa` that cosign runs: two signatures of the
//! same payload differ. That is why airsign recognises an equal existing signature by
//! cosign's rule (same payload and annotations, and the old signature verifies with
//! this key), never by comparing signature bytes.
//!
//! ring does not wipe its key pair on drop. [`RingP256`] keeps it in one heap slot and
//! overwrites that slot with a throw-away key pair (made with it, so the wipe cannot
//! fail) when dropped, with `black_box` on the result so the store is not treated as
//! dead before the free — best effort, as `zeroize` is: the copy ring's constructor
//! returns passes through the stack on its way into the box, and nothing safe can
//! wipe that.

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// A P-256 key in ring's form, signing SHA-256 ECDSA (ASN.1 DER), wiped on drop.
pub(crate) struct RingP256 {
    pair: Box<EcdsaKeyPair>,
    /// What overwrites `pair` on drop: the key pair of the scalar 1.
    placeholder: Option<EcdsaKeyPair>,
    rng: SystemRandom,
}

impl RingP256 {
    /// ring's copy of `key`; `None` if ring refuses it (it checks that the public
    /// key is the private scalar's, which holds for any valid `p256` key), in which
    /// case the caller signs with `p256`.
    pub(crate) fn new(key: &p256::ecdsa::SigningKey) -> Option<RingP256> {
        let rng = SystemRandom::new();
        let scalar = Zeroizing::new(key.to_bytes());
        let public = key.verifying_key().to_sec1_point(false);
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &scalar,
            public.as_bytes(),
            &rng,
        )
        .ok()?;
        Some(RingP256 {
            pair: Box::new(pair),
            placeholder: Some(placeholder(&rng)?),
            rng,
        })
    }

    /// Signs `message` (hashed with SHA-256 by ring): an ASN.1 DER signature.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.pair
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| Error::Key("signing: ECDSA P-256 failed (no OS randomness?)".into()))
    }

    /// The public key ring holds, SEC1 uncompressed (for the tests' check that it
    /// is the `p256` key's).
    #[cfg(test)]
    fn public_sec1(&self) -> Vec<u8> {
        use ring::signature::KeyPair as _;
        self.pair.public_key().as_ref().to_vec()
    }
}

impl Drop for RingP256 {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl RingP256 {
    /// Overwrites the key pair's heap slot with the placeholder key pair.
    fn wipe(&mut self) {
        if let Some(placeholder) = self.placeholder.take() {
            *self.pair = placeholder;
            std::hint::black_box(&*self.pair);
        }
    }
}

/// The key pair of the scalar 1 (public key: the generator), a valid key that is no
/// secret.
fn placeholder(rng: &SystemRandom) -> Option<EcdsaKeyPair> {
    let mut one = [0u8; 32];
    one[31] = 1;
    let public = p256::ecdsa::SigningKey::from_slice(&one)
        .ok()?
        .verifying_key()
        .to_sec1_point(false);
    EcdsaKeyPair::from_private_key_and_public_key(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &one,
        public.as_bytes(),
        rng,
    )
    .ok()
}

impl fmt::Debug for RingP256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RingP256")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{PrivateKey, PublicKey};

    #[test]
    fn ring_signatures_verify_with_the_p256_key_and_only_over_their_message() {
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let ring = RingP256::new(&key).unwrap();
        assert_eq!(
            ring.public_sec1(),
            key.verifying_key().to_sec1_point(false).as_bytes()
        );
        let public = PublicKey::P256(*key.verifying_key());
        let a = ring.sign(b"payload").unwrap();
        public.verify(b"payload", &a).unwrap();
        assert!(public.verify(b"other", &a).is_err());
        // hedged nonces: the same message signs differently, both verify
        let b = ring.sign(b"payload").unwrap();
        assert_ne!(a, b);
        public.verify(b"payload", &b).unwrap();
        // and another key's public half does not verify them
        let other = PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[8u8; 32]).unwrap());
        assert!(other.public_key().verify(b"payload", &a).is_err());
    }

    #[test]
    fn dropping_overwrites_the_key_pair_with_the_placeholder() {
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let mut ring = RingP256::new(&key).unwrap();
        // the wipe drop runs, then what the slot holds
        ring.wipe();
        let generator = p256::ecdsa::SigningKey::from_slice(&{
            let mut one = [0u8; 32];
            one[31] = 1;
            one
        })
        .unwrap()
        .verifying_key()
        .to_sec1_point(false);
        assert_eq!(ring.public_sec1(), generator.as_bytes());
    }
}
