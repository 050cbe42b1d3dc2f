//! Signature algorithms, by cosign's `--signing-algorithm` names (sigstore's
//! algorithm registry), and the keys that sign and verify with them.
//!
//! | name | key | hash | signature |
//! | --- | --- | --- | --- |
//! | `ecdsa-sha2-256-nistp256` | P-256 | SHA-256 | ASN.1 DER |
//! | `ecdsa-sha2-384-nistp384` | P-384 | SHA-384 | ASN.1 DER |
//! | `ecdsa-sha2-512-nistp521` | P-521 | SHA-512 | ASN.1 DER |
//! | `rsa-sign-pkcs1-{2048,3072,4096}-sha256` | RSA | SHA-256 | PKCS#1 v1.5 |
//! | `rsa-sign-pss-{2048,3072,4096}-sha256` | RSA | SHA-256 | PSS, salt = 32 bytes |
//! | `ed25519` | Ed25519 | none (pure) | 64 bytes |
//!
//! A key's hash is the one sigstore's `GetDefaultPublicKeyDetails` gives it (P-384
//! SHA-384, P-521 SHA-512, RSA SHA-256, Ed25519 pure), which is what cosign signs
//! with. An RSA public key verifies PKCS#1 v1.5 and PSS alike (its SPKI does not say
//! which); an RSA private key signs PKCS#1 v1.5 unless PSS is asked for. RSA moduli
//! other than 2048, 3072 and 4096 bits are refused, as the registry has no others.
//! `ed25519-ph` is not made here: cosign signs Ed25519 pure when it uploads nothing
//! to a transparency log, which is always so offline; it is verified, though (an
//! Ed25519 key accepts a pure or an Ed25519ph signature, RFC 8032's domain separation
//! keeping the two apart), since cosign's `sign` of an image uses it by default.

use std::fmt;

use pkcs8::der::Decode as _;
use pkcs8::spki::{self, DecodePublicKey as _, EncodePublicKey as _};
use pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, ObjectIdentifier, PrivateKeyInfoRef};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::sha2::{Digest as _, Sha256, Sha384, Sha512};
use rsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use rsa::signature::{Signer as _, Verifier as _};
use rsa::traits::PublicKeyParts as _;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// A signature algorithm, as cosign's `--signing-algorithm` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    EcdsaP521Sha512,
    RsaPkcs1Sha256(RsaBits),
    RsaPssSha256(RsaBits),
    Ed25519,
}

/// The RSA modulus sizes sigstore's registry knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaBits {
    B2048,
    B3072,
    B4096,
}

impl RsaBits {
    pub fn bits(self) -> usize {
        match self {
            RsaBits::B2048 => 2048,
            RsaBits::B3072 => 3072,
            RsaBits::B4096 => 4096,
        }
    }

    fn from_bits(bits: usize) -> Result<RsaBits> {
        match bits {
            2048 => Ok(RsaBits::B2048),
            3072 => Ok(RsaBits::B3072),
            4096 => Ok(RsaBits::B4096),
            other => Err(Error::Key(format!(
                "unsupported RSA key size: {other} bits (2048, 3072 or 4096 are accepted, as \
                 sigstore's algorithm registry lists)"
            ))),
        }
    }
}

impl Algorithm {
    /// Every algorithm, in the order `--help` lists them.
    pub const ALL: [Algorithm; 10] = [
        Algorithm::EcdsaP256Sha256,
        Algorithm::EcdsaP384Sha384,
        Algorithm::EcdsaP521Sha512,
        Algorithm::RsaPkcs1Sha256(RsaBits::B2048),
        Algorithm::RsaPkcs1Sha256(RsaBits::B3072),
        Algorithm::RsaPkcs1Sha256(RsaBits::B4096),
        Algorithm::RsaPssSha256(RsaBits::B2048),
        Algorithm::RsaPssSha256(RsaBits::B3072),
        Algorithm::RsaPssSha256(RsaBits::B4096),
        Algorithm::Ed25519,
    ];

    /// cosign's name (sigstore's `flagValue`).
    pub fn name(self) -> &'static str {
        use RsaBits::*;
        match self {
            Algorithm::EcdsaP256Sha256 => "ecdsa-sha2-256-nistp256",
            Algorithm::EcdsaP384Sha384 => "ecdsa-sha2-384-nistp384",
            Algorithm::EcdsaP521Sha512 => "ecdsa-sha2-512-nistp521",
            Algorithm::RsaPkcs1Sha256(B2048) => "rsa-sign-pkcs1-2048-sha256",
            Algorithm::RsaPkcs1Sha256(B3072) => "rsa-sign-pkcs1-3072-sha256",
            Algorithm::RsaPkcs1Sha256(B4096) => "rsa-sign-pkcs1-4096-sha256",
            Algorithm::RsaPssSha256(B2048) => "rsa-sign-pss-2048-sha256",
            Algorithm::RsaPssSha256(B3072) => "rsa-sign-pss-3072-sha256",
            Algorithm::RsaPssSha256(B4096) => "rsa-sign-pss-4096-sha256",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    /// The algorithm cosign calls `name`; the error lists the names there are.
    pub fn from_name(name: &str) -> Result<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unsupported signing algorithm \"{}\" (supported: {})",
                    crate::digest::printable(name),
                    Algorithm::names().join(", ")
                ))
            })
    }

    pub fn names() -> Vec<&'static str> {
        Algorithm::ALL.iter().map(|a| a.name()).collect()
    }

    /// The hash the message is signed over; `None` for Ed25519 (pure).
    pub fn hash(self) -> Option<HashAlg> {
        match self {
            Algorithm::EcdsaP256Sha256
            | Algorithm::RsaPkcs1Sha256(_)
            | Algorithm::RsaPssSha256(_) => Some(HashAlg::Sha256),
            Algorithm::EcdsaP384Sha384 => Some(HashAlg::Sha384),
            Algorithm::EcdsaP521Sha512 => Some(HashAlg::Sha512),
            Algorithm::Ed25519 => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A hash a signature is made over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// The name in a Sigstore bundle's `messageDigest.algorithm`.
    pub fn bundle_name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "SHA2_256",
            HashAlg::Sha384 => "SHA2_384",
            HashAlg::Sha512 => "SHA2_512",
        }
    }

    pub fn from_bundle_name(name: &str) -> Option<HashAlg> {
        match name {
            "SHA2_256" => Some(HashAlg::Sha256),
            "SHA2_384" => Some(HashAlg::Sha384),
            "SHA2_512" => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    /// The name openssl and cosign's `--signature-digest-algorithm` use.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }

    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The hash of `bytes` (bytes airsign signs or verifies: a payload, a PAE).
    pub fn digest(self, bytes: &[u8]) -> Vec<u8> {
        let mut h = MessageHasher::new(self);
        h.update(bytes);
        h.finish()
    }
}

/// A streaming hasher for a [`HashAlg`].
pub enum MessageHasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl MessageHasher {
    pub fn new(alg: HashAlg) -> MessageHasher {
        match alg {
            HashAlg::Sha256 => MessageHasher::Sha256(Sha256::new()),
            HashAlg::Sha384 => MessageHasher::Sha384(Sha384::new()),
            HashAlg::Sha512 => MessageHasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            MessageHasher::Sha256(h) => h.update(bytes),
            MessageHasher::Sha384(h) => h.update(bytes),
            MessageHasher::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            MessageHasher::Sha256(h) => h.finalize().to_vec(),
            MessageHasher::Sha384(h) => h.finalize().to_vec(),
            MessageHasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A readable name for a key algorithm or curve OID, for error messages.
pub(crate) fn oid_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.113549.1.1.10" => "RSA-PSS",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.10045.3.1.7" => "P-256",
        "1.3.132.0.34" => "P-384",
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        _ => return format!("OID {oid}"),
    };
    name.to_string()
}

fn unsupported(what: &str) -> Error {
    Error::Key(format!(
        "unsupported key type: {what} (airsign signs and verifies with ECDSA P-256, P-384, \
         P-521, RSA 2048-4096 and Ed25519)"
    ))
}

/// A verification key of any supported algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Rsa(rsa::PublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

fn bad_signature() -> Error {
    Error::invalid("invalid signature when validating ASN.1 encoded signature")
}

/// ECDSA signatures come as ASN.1 DER or as raw r‖s (IEEE P1363, `len` bytes).
macro_rules! ecdsa_sig {
    ($curve:ident, $bytes:expr, $len:expr, $name:expr) => {{
        let b: &[u8] = $bytes;
        let sig = if b.len() == $len {
            $curve::ecdsa::Signature::from_slice(b)
        } else {
            $curve::ecdsa::Signature::from_der(b)
        };
        sig.map_err(|_| {
            Error::invalid(format!(
                "the signature is not an ECDSA {} signature (DER or r||s)",
                $name
            ))
        })
    }};
}

impl PublicKey {
    /// From SubjectPublicKeyInfo DER (a `PUBLIC KEY` PEM's contents, a
    /// certificate's key).
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| Error::Key(format!("not a SubjectPublicKeyInfo ({e})")))?;
        let oid = spki.algorithm.oid;
        let malformed = |e: &dyn fmt::Display, what: &str| {
            Error::Key(format!("malformed {what} public key ({e})"))
        };
        match oid {
            OID_EC_PUBLIC_KEY => match spki.algorithm.parameters_oid() {
                Ok(OID_P256) => p256::ecdsa::VerifyingKey::from_public_key_der(der)
                    .map(PublicKey::P256)
                    .map_err(|e| malformed(&e, "P-256")),
                Ok(OID_P384) => p384::ecdsa::VerifyingKey::from_public_key_der(der)
                    .map(PublicKey::P384)
                    .map_err(|e| malformed(&e, "P-384")),
                Ok(OID_P521) => p521::ecdsa::VerifyingKey::from_public_key_der(der)
                    .map(PublicKey::P521)
                    .map_err(|e| malformed(&e, "P-521")),
                Ok(curve) => Err(unsupported(&format!("EC key on {}", oid_name(curve)))),
                Err(_) => Err(unsupported("EC key without a named curve")),
            },
            OID_RSA => {
                let key =
                    rsa::PublicKey::from_public_key_der(der).map_err(|e| malformed(&e, "RSA"))?;
                RsaBits::from_bits(key.n_bits_precision() as usize)?;
                Ok(PublicKey::Rsa(key))
            }
            OID_ED25519 => ed25519_dalek::VerifyingKey::from_public_key_der(der)
                .map(PublicKey::Ed25519)
                .map_err(|e| malformed(&e, "Ed25519")),
            other => Err(unsupported(&format!("{} key", oid_name(other)))),
        }
    }

    /// An RSA public key from its modulus and public exponent (big-endian, as a
    /// PKCS#11 token's `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT` hold them).
    pub fn rsa_from_parts(modulus: &[u8], exponent: &[u8]) -> Result<PublicKey> {
        use rsa::pkcs1::der::asn1::UintRef;
        let bad = |e: &dyn fmt::Display| Error::Key(format!("malformed RSA public key ({e})"));
        let parts = rsa::pkcs1::RsaPublicKey {
            modulus: UintRef::new(modulus).map_err(|e| bad(&e))?,
            public_exponent: UintRef::new(exponent).map_err(|e| bad(&e))?,
        };
        let key = rsa::PublicKey::try_from(parts).map_err(|e| bad(&e))?;
        RsaBits::from_bits(key.n_bits_precision() as usize)?;
        Ok(PublicKey::Rsa(key))
    }

    /// SubjectPublicKeyInfo DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            PublicKey::P256(k) => k.to_public_key_der(),
            PublicKey::P384(k) => k.to_public_key_der(),
            PublicKey::P521(k) => k.to_public_key_der(),
            PublicKey::Rsa(k) => k.to_public_key_der(),
            PublicKey::Ed25519(k) => k.to_public_key_der(),
        };
        doc.map(|d| d.as_bytes().to_vec())
            .map_err(|e| Error::Key(format!("encoding the public key: {e}")))
    }

    /// The `PUBLIC KEY` PEM, as cosign writes `cosign.pub`: 64-column lines, final
    /// newline.
    pub fn to_pem(&self) -> Result<String> {
        pem_rfc7468::encode_string("PUBLIC KEY", pkcs8::LineEnding::LF, &self.to_spki_der()?)
            .map_err(|e| Error::Key(format!("encoding the public key: {e}")))
    }

    /// What kind of key this is, for messages: "ECDSA P-384", "RSA 3072", "Ed25519".
    pub fn kind(&self) -> String {
        match self {
            PublicKey::P256(_) => "ECDSA P-256".into(),
            PublicKey::P384(_) => "ECDSA P-384".into(),
            PublicKey::P521(_) => "ECDSA P-521".into(),
            PublicKey::Rsa(k) => format!("RSA {}", k.n_bits_precision()),
            PublicKey::Ed25519(_) => "Ed25519".into(),
        }
    }

    /// The algorithm cosign signs with by default with this key (RSA: PKCS#1 v1.5).
    pub fn default_algorithm(&self) -> Algorithm {
        match self {
            PublicKey::P256(_) => Algorithm::EcdsaP256Sha256,
            PublicKey::P384(_) => Algorithm::EcdsaP384Sha384,
            PublicKey::P521(_) => Algorithm::EcdsaP521Sha512,
            PublicKey::Rsa(k) => Algorithm::RsaPkcs1Sha256(
                RsaBits::from_bits(k.n_bits_precision() as usize).unwrap_or(RsaBits::B2048),
            ),
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The hash this key's signatures are over; `None` for Ed25519 (pure).
    pub fn hash(&self) -> Option<HashAlg> {
        self.default_algorithm().hash()
    }

    /// Verifies `sig` over `message` (hashed with [`PublicKey::hash`]). ECDSA
    /// signatures may be DER or r‖s; RSA ones PKCS#1 v1.5 or PSS.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> Result<()> {
        match self {
            PublicKey::P256(k) => k
                .verify(message, &ecdsa_sig!(p256, sig, 64, "P-256")?)
                .map_err(|_| bad_signature()),
            PublicKey::P384(k) => k
                .verify(message, &ecdsa_sig!(p384, sig, 96, "P-384")?)
                .map_err(|_| bad_signature()),
            PublicKey::P521(k) => k
                .verify(message, &ecdsa_sig!(p521, sig, 132, "P-521")?)
                .map_err(|_| bad_signature()),
            PublicKey::Rsa(_) => {
                self.verify_prehash(HashAlg::Sha256, &Sha256::digest(message), sig)
            }
            PublicKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| {
                    Error::invalid(format!(
                        "the signature is not an Ed25519 signature ({} bytes, not 64)",
                        sig.len()
                    ))
                })?;
                // pure Ed25519 (what cosign signs offline), else Ed25519ph over the
                // SHA-512 of the message, empty context (what cosign signs by
                // default otherwise: its `sign` of an image, anything it logs)
                k.verify(message, &sig)
                    .or_else(|_| {
                        let mut h = Sha512::new();
                        h.update(message);
                        k.verify_prehashed(h, None, &sig)
                    })
                    .map_err(|_| Error::invalid("invalid Ed25519 signature"))
            }
        }
    }

    /// An ECDSA signature as raw r‖s (PKCS#11's `CKM_ECDSA` output) in ASN.1 DER.
    pub fn ecdsa_raw_to_der(&self, raw: &[u8]) -> Result<Vec<u8>> {
        let bad = |_| Error::invalid(format!("not a raw {} signature", self.kind()));
        Ok(match self {
            PublicKey::P256(_) => p256::ecdsa::Signature::from_slice(raw)
                .map_err(bad)?
                .to_der()
                .as_bytes()
                .to_vec(),
            PublicKey::P384(_) => p384::ecdsa::Signature::from_slice(raw)
                .map_err(bad)?
                .to_der()
                .as_bytes()
                .to_vec(),
            PublicKey::P521(_) => p521::ecdsa::Signature::from_slice(raw)
                .map_err(bad)?
                .to_der()
                .as_bytes()
                .to_vec(),
            _ => {
                return Err(Error::invalid(format!(
                    "an {} key is not ECDSA",
                    self.kind()
                )));
            }
        })
    }

    /// Verifies `sig` over a digest already computed with `hash` (an artifact
    /// streamed through the hasher). `hash` must be this key's; Ed25519 (pure)
    /// cannot verify a digest.
    pub fn verify_prehash(&self, hash: HashAlg, digest: &[u8], sig: &[u8]) -> Result<()> {
        match self.hash() {
            None => {
                return Err(Error::invalid(
                    "an Ed25519 signature is over the message itself, not a digest of it",
                ));
            }
            Some(want) if want != hash => {
                return Err(Error::invalid(format!(
                    "an {} key signs the {} of the message, not its {}",
                    self.kind(),
                    want.name(),
                    hash.name()
                )));
            }
            Some(_) => {}
        }
        if digest.len() != hash.output_len() {
            return Err(Error::invalid(format!(
                "a {} digest has {} bytes, not {}",
                hash.name(),
                hash.output_len(),
                digest.len()
            )));
        }
        match self {
            PublicKey::P256(k) => k
                .verify_prehash(digest, &ecdsa_sig!(p256, sig, 64, "P-256")?)
                .map_err(|_| bad_signature()),
            PublicKey::P384(k) => k
                .verify_prehash(digest, &ecdsa_sig!(p384, sig, 96, "P-384")?)
                .map_err(|_| bad_signature()),
            PublicKey::P521(k) => k
                .verify_prehash(digest, &ecdsa_sig!(p521, sig, 132, "P-521")?)
                .map_err(|_| bad_signature()),
            PublicKey::Rsa(k) => {
                let bad = |_| Error::invalid("invalid RSA signature (neither PKCS#1 v1.5 nor PSS)");
                let parsed = rsa::pkcs1v15::Signature::try_from(sig).map_err(bad)?;
                let pkcs1 = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone());
                if pkcs1.verify_prehash(digest, &parsed).is_ok() {
                    return Ok(());
                }
                let parsed = rsa::pss::Signature::try_from(sig).map_err(bad)?;
                rsa::pss::VerifyingKey::<Sha256>::new_with_auto_salt_len(k.clone())
                    .verify_prehash(digest, &parsed)
                    .map_err(bad)
            }
            PublicKey::Ed25519(_) => unreachable!("refused above"),
        }
    }
}

/// A signing key of any supported algorithm; zeroized when dropped (each variant's
/// secret is `ZeroizeOnDrop`).
#[derive(Clone)]
pub enum PrivateKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    /// `pss`: sign with PSS rather than PKCS#1 v1.5.
    Rsa {
        key: rsa::PrivateKey,
        pss: bool,
    },
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.algorithm())
    }
}

impl PrivateKey {
    /// A fresh key for `algorithm` (OS randomness).
    pub fn generate(algorithm: Algorithm) -> Result<PrivateKey> {
        use p256::elliptic_curve::Generate as _;
        let failed = |e: &dyn fmt::Display| Error::Key(format!("generating a key: {e}"));
        Ok(match algorithm {
            Algorithm::EcdsaP256Sha256 => {
                PrivateKey::P256(p256::ecdsa::SigningKey::try_generate().map_err(|e| failed(&e))?)
            }
            Algorithm::EcdsaP384Sha384 => {
                PrivateKey::P384(p384::ecdsa::SigningKey::try_generate().map_err(|e| failed(&e))?)
            }
            Algorithm::EcdsaP521Sha512 => {
                PrivateKey::P521(p521::ecdsa::SigningKey::try_generate().map_err(|e| failed(&e))?)
            }
            Algorithm::RsaPkcs1Sha256(bits) | Algorithm::RsaPssSha256(bits) => PrivateKey::Rsa {
                key: rsa::PrivateKey::new(&mut getrandom::SysRng, bits.bits())
                    .map_err(|e| failed(&e))?,
                pss: matches!(algorithm, Algorithm::RsaPssSha256(_)),
            },
            Algorithm::Ed25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                getrandom::fill(seed.as_mut()).map_err(|e| failed(&e))?;
                PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        })
    }

    /// From PKCS#8 DER (what cosign's key file holds, and `PRIVATE KEY` PEMs).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey> {
        let info = PrivateKeyInfoRef::try_from(der)
            .map_err(|e| Error::Key(format!("not a PKCS#8 private key ({e})")))?;
        let malformed = |e: &dyn fmt::Display, what: &str| {
            Error::Key(format!("malformed {what} PKCS#8 key ({e})"))
        };
        match info.algorithm.oid {
            OID_EC_PUBLIC_KEY => match info.algorithm.parameters_oid() {
                Ok(OID_P256) => p256::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map(PrivateKey::P256)
                    .map_err(|e| malformed(&e, "P-256")),
                Ok(OID_P384) => p384::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map(PrivateKey::P384)
                    .map_err(|e| malformed(&e, "P-384")),
                Ok(OID_P521) => p521::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map(PrivateKey::P521)
                    .map_err(|e| malformed(&e, "P-521")),
                Ok(curve) => Err(unsupported(&format!("EC key on {}", oid_name(curve)))),
                Err(_) => Err(unsupported("EC key without a named curve")),
            },
            OID_RSA => PrivateKey::rsa(
                rsa::PrivateKey::from_pkcs8_der(der).map_err(|e| malformed(&e, "RSA"))?,
            ),
            OID_ED25519 => ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map(PrivateKey::Ed25519)
                .map_err(|e| malformed(&e, "Ed25519")),
            other => Err(unsupported(&format!("{} key", oid_name(other)))),
        }
    }

    /// From PKCS#1 DER (`RSA PRIVATE KEY`).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<PrivateKey> {
        PrivateKey::rsa(
            rsa::PrivateKey::from_pkcs1_der(der)
                .map_err(|e| Error::Key(format!("malformed RSA PRIVATE KEY ({e})")))?,
        )
    }

    /// From SEC1 DER (`EC PRIVATE KEY`) on `curve` (its OID; P-256 when the key
    /// does not say).
    pub(crate) fn from_sec1_der(der: &[u8], curve: Option<ObjectIdentifier>) -> Result<PrivateKey> {
        let malformed = |what: &str| Error::Key(format!("malformed {what} EC PRIVATE KEY"));
        match curve.unwrap_or(OID_P256) {
            OID_P256 => p256::SecretKey::from_sec1_der(der)
                .map(|s| PrivateKey::P256(s.into()))
                .map_err(|_| malformed("P-256")),
            OID_P384 => p384::SecretKey::from_sec1_der(der)
                .map(|s| PrivateKey::P384(s.into()))
                .map_err(|_| malformed("P-384")),
            OID_P521 => p521::SecretKey::from_sec1_der(der)
                .map(|s| PrivateKey::P521(s.into()))
                .map_err(|_| malformed("P-521")),
            other => Err(unsupported(&format!("EC key on {}", oid_name(other)))),
        }
    }

    fn rsa(key: rsa::PrivateKey) -> Result<PrivateKey> {
        RsaBits::from_bits(key.n_bits_precision() as usize)?;
        Ok(PrivateKey::Rsa { key, pss: false })
    }

    /// PKCS#8 DER, as cosign's encrypted key file holds it.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let doc = match self {
            PrivateKey::P256(k) => k.to_pkcs8_der(),
            PrivateKey::P384(k) => k.to_pkcs8_der(),
            PrivateKey::P521(k) => k.to_pkcs8_der(),
            PrivateKey::Rsa { key, .. } => key.to_pkcs8_der(),
            PrivateKey::Ed25519(k) => k.to_pkcs8_der(),
        };
        doc.map(|d| Zeroizing::new(d.as_bytes().to_vec()))
            .map_err(|e| Error::Key(format!("encoding the key as PKCS#8: {e}")))
    }

    /// A plain `PRIVATE KEY` PEM (PKCS#8), as openssl writes one.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        pem_rfc7468::encode_string("PRIVATE KEY", pkcs8::LineEnding::LF, &self.to_pkcs8_der()?)
            .map(Zeroizing::new)
            .map_err(|e| Error::Key(format!("encoding the key as PKCS#8: {e}")))
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            PrivateKey::P384(k) => PublicKey::P384(*k.verifying_key()),
            PrivateKey::P521(k) => PublicKey::P521(*k.verifying_key()),
            PrivateKey::Rsa { key, .. } => PublicKey::Rsa(key.to_public_key()),
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// The algorithm this key signs with (read off the key, never through its
    /// public half: `sign` asks for it per signature).
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::P256(_) => Algorithm::EcdsaP256Sha256,
            PrivateKey::P384(_) => Algorithm::EcdsaP384Sha384,
            PrivateKey::P521(_) => Algorithm::EcdsaP521Sha512,
            PrivateKey::Rsa { key, pss } => {
                let bits =
                    RsaBits::from_bits(key.n_bits_precision() as usize).unwrap_or(RsaBits::B2048);
                if *pss {
                    Algorithm::RsaPssSha256(bits)
                } else {
                    Algorithm::RsaPkcs1Sha256(bits)
                }
            }
            PrivateKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The hash this key signs over; `None` for Ed25519 (pure).
    pub fn hash(&self) -> Option<HashAlg> {
        self.algorithm().hash()
    }

    /// Makes this RSA key sign with PSS (`rsa-sign-pss-*`), or checks that
    /// `algorithm` is what the key signs with anyway. A key of another type or size
    /// is refused.
    pub fn with_algorithm(self, algorithm: Algorithm) -> Result<PrivateKey> {
        match (self, algorithm) {
            (
                PrivateKey::Rsa { key, .. },
                Algorithm::RsaPssSha256(bits) | Algorithm::RsaPkcs1Sha256(bits),
            ) if key.n_bits_precision() as usize == bits.bits() => Ok(PrivateKey::Rsa {
                key,
                pss: matches!(algorithm, Algorithm::RsaPssSha256(_)),
            }),
            (key, algorithm) if key.algorithm() == algorithm => Ok(key),
            (key, algorithm) => Err(Error::Usage(format!(
                "--signing-algorithm {algorithm}: the key is {} ({})",
                key.public_key().kind(),
                key.algorithm()
            ))),
        }
    }

    /// Signs `message`: ECDSA (DER, RFC 6979) or RSA over its hash, Ed25519 over the
    /// message itself.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        match self.hash() {
            Some(hash) => self.sign_prehash(hash, &hash.digest(message)),
            None => match self {
                PrivateKey::Ed25519(k) => Ok(k.sign(message).to_bytes().to_vec()),
                _ => unreachable!("only Ed25519 signs without a hash"),
            },
        }
    }

    /// Signs a digest already computed with `hash`, which must be this key's.
    pub fn sign_prehash(&self, hash: HashAlg, digest: &[u8]) -> Result<Vec<u8>> {
        let failed = |e: rsa::signature::Error| Error::Key(format!("signing: {e}"));
        if self.hash() != Some(hash) || digest.len() != hash.output_len() {
            return Err(Error::Key(format!(
                "signing: a {} key does not sign a {}-byte {} digest",
                self.algorithm(),
                digest.len(),
                hash.name()
            )));
        }
        Ok(match self {
            PrivateKey::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign_prehash(digest).map_err(failed)?;
                s.to_der().as_bytes().to_vec()
            }
            PrivateKey::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign_prehash(digest).map_err(failed)?;
                s.to_der().as_bytes().to_vec()
            }
            PrivateKey::P521(k) => {
                let s: p521::ecdsa::Signature = k.sign_prehash(digest).map_err(failed)?;
                s.to_der().as_bytes().to_vec()
            }
            // by reference (no copy of the key per signature), with RSA blinding
            PrivateKey::Rsa { key, pss: false } => key
                .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), digest)
                .map_err(|e| Error::Key(format!("signing: {e}")))?,
            PrivateKey::Rsa { key, pss: true } => key
                .sign(
                    rsa::pss::Pss::<Sha256>::new_with_salt(HashAlg::Sha256.output_len()),
                    digest,
                )
                .map_err(|e| Error::Key(format!("signing: {e}")))?,
            PrivateKey::Ed25519(_) => unreachable!("refused above"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies_and_no_other_key_verifies() {
        // RSA generation is slow in debug builds: one size per padding.
        let algs = [
            Algorithm::EcdsaP256Sha256,
            Algorithm::EcdsaP384Sha384,
            Algorithm::EcdsaP521Sha512,
            Algorithm::RsaPkcs1Sha256(RsaBits::B2048),
            Algorithm::RsaPssSha256(RsaBits::B2048),
            Algorithm::Ed25519,
        ];
        let keys: Vec<PrivateKey> = algs
            .iter()
            .map(|a| PrivateKey::generate(*a).unwrap())
            .collect();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(key.algorithm(), algs[i]);
            let public = key.public_key();
            let sig = key.sign(b"payload").unwrap();
            public.verify(b"payload", &sig).unwrap();
            assert!(public.verify(b"other", &sig).is_err(), "{}", algs[i]);
            if let Some(hash) = key.hash() {
                public
                    .verify_prehash(hash, &hash.digest(b"payload"), &sig)
                    .unwrap();
            }
            // round trips: PKCS#8 and SPKI
            let back = PrivateKey::from_pkcs8_der(&key.to_pkcs8_der().unwrap()).unwrap();
            assert_eq!(back.public_key(), public);
            assert_eq!(
                PublicKey::from_spki_der(&public.to_spki_der().unwrap()).unwrap(),
                public
            );
            for (j, other) in keys.iter().enumerate() {
                if i != j {
                    assert!(
                        other.public_key().verify(b"payload", &sig).is_err(),
                        "{} verified under {}",
                        algs[i],
                        algs[j]
                    );
                }
            }
        }
    }

    #[test]
    fn an_ed25519_key_verifies_ed25519ph_too() {
        let PrivateKey::Ed25519(k) = PrivateKey::generate(Algorithm::Ed25519).unwrap() else {
            panic!()
        };
        let mut h = Sha512::new();
        h.update(b"payload");
        let sig = k.sign_prehashed(h, None).unwrap().to_bytes();
        let public = PublicKey::Ed25519(k.verifying_key());
        public.verify(b"payload", &sig).unwrap();
        assert!(public.verify(b"other", &sig).is_err());
    }

    #[test]
    fn names_are_cosigns() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()).unwrap(), a);
        }
        let err = Algorithm::from_name("rsa-sign-pkcs1-1024-sha256").unwrap_err();
        assert!(err.to_string().contains("ecdsa-sha2-384-nistp384"), "{err}");
    }
}
