//! cosign's encrypted private key: go-securesystemslib's `encrypted` envelope
//! (scrypt + NaCl secretbox) around a PKCS#8 DER key, base64'd JSON in a PEM block.
//!
//! ```text
//! -----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
//! base64({"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<b64 32 B>"},
//!         "cipher":{"name":"nacl/secretbox","nonce":"<b64 24 B>"},
//!         "ciphertext":"<b64 of tag || encrypted PKCS#8>"})
//! -----END ENCRYPTED SIGSTORE PRIVATE KEY-----
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Nonce, Tag, XSalsa20Poly1305};
use pkcs8::LineEnding;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{PrivateKey, pem, plain};
use crate::{Error, Result};

/// The label cosign writes since v2.0.1.
pub const LABEL_SIGSTORE: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The label of older cosign keys and of `skopeo generate-sigstore-key`; still read.
pub const LABEL_COSIGN: &str = "ENCRYPTED COSIGN PRIVATE KEY";

const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// scrypt cost parameters. Only the three sets go-securesystemslib knows are ever
/// run: the KDF is the cheapest denial of service a hostile key file can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScryptParams {
    pub n: u64,
    pub r: u64,
    pub p: u64,
}

impl ScryptParams {
    /// sslib's "legacy" set: older cosign keys and cosign's own test fixtures.
    pub const LEGACY: Self = Self {
        n: 32768,
        r: 8,
        p: 1,
    };
    /// sslib's "standard" set: what cosign writes today, and so do we.
    pub const STANDARD: Self = Self {
        n: 65536,
        r: 8,
        p: 1,
    };
    /// sslib's "OWASP" set (128 MiB).
    pub const OWASP: Self = Self {
        n: 131072,
        r: 8,
        p: 1,
    };
    /// Every set a key may use; anything else is refused before scrypt runs.
    pub const ACCEPTED: [Self; 3] = [Self::LEGACY, Self::STANDARD, Self::OWASP];

    fn check(self) -> Result<Self> {
        if Self::ACCEPTED.contains(&self) {
            Ok(self)
        } else {
            Err(Error::Key(format!(
                "unsupported scrypt parameters N={} r={} p={} (cosign accepts only N=32768, \
                 65536 or 131072 with r=8, p=1)",
                self.n, self.r, self.p
            )))
        }
    }

    /// The 32-byte secretbox key for `password`.
    fn derive_key(self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = self.check()?;
        // `check` leaves only powers of two with r=8, p=1, so this cannot truncate or fail.
        let scrypt_params = scrypt::Params::new(
            params.n.trailing_zeros() as u8,
            params.r as u32,
            params.p as u32,
        )
        .map_err(|e| Error::Key(format!("scrypt parameters: {e}")))?;
        let mut key = Zeroizing::new([0u8; 32]);
        scrypt::scrypt(password, salt, &scrypt_params, key.as_mut())
            .map_err(|e| Error::Key(format!("scrypt: {e}")))?;
        Ok(key)
    }
}

// The JSON, field for field in the order of sslib's Go structs (which is the order
// encoding/json writes). serde_json keeps declaration order and writes compactly,
// as Go does; base64 needs no JSON escaping.
#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u64,
    p: u64,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// A parsed and checked encrypted key, not yet decrypted. Parsing first lets
/// callers refuse a bad file before asking anyone for a password.
pub struct EncryptedKey {
    pub label: String,
    pub params: ScryptParams,
    salt: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    /// Poly1305 tag (16 bytes) followed by the encrypted PKCS#8 DER, as NaCl lays it out.
    sealed: Vec<u8>,
}

impl EncryptedKey {
    /// Parses an `ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY` PEM and checks everything
    /// that can be checked without the password.
    pub fn parse(pem_bytes: &[u8]) -> Result<Self> {
        let block = pem::first_block(pem_bytes).map_err(Error::Key)?;
        if block.label != LABEL_SIGSTORE && block.label != LABEL_COSIGN {
            return Err(Error::Key(format!(
                "not a cosign private key: the PEM label is \"{}\" (expected \"{LABEL_SIGSTORE}\" \
                 or \"{LABEL_COSIGN}\")",
                block.label
            )));
        }
        let envelope: Envelope = serde_json::from_slice(&block.contents)
            .map_err(|e| Error::Key(format!("malformed cosign private key JSON: {e}")))?;
        if envelope.kdf.name != KDF_NAME {
            return Err(Error::Key(format!(
                "unsupported kdf \"{}\" (cosign keys use \"{KDF_NAME}\")",
                envelope.kdf.name
            )));
        }
        let params = ScryptParams {
            n: envelope.kdf.params.n,
            r: envelope.kdf.params.r,
            p: envelope.kdf.params.p,
        }
        .check()?;
        if envelope.cipher.name != CIPHER_NAME {
            return Err(Error::Key(format!(
                "unsupported cipher \"{}\" (cosign keys use \"{CIPHER_NAME}\")",
                envelope.cipher.name
            )));
        }
        let salt = decode_field("kdf.salt", &envelope.kdf.salt)?;
        if salt.len() != SALT_LEN {
            return Err(Error::Key(format!(
                "the scrypt salt is {} bytes, expected {SALT_LEN}",
                salt.len()
            )));
        }
        let nonce = decode_field("cipher.nonce", &envelope.cipher.nonce)?;
        let nonce: [u8; NONCE_LEN] = nonce.as_slice().try_into().map_err(|_| {
            Error::Key(format!(
                "the secretbox nonce is {} bytes, expected {NONCE_LEN}",
                nonce.len()
            ))
        })?;
        let sealed = decode_field("ciphertext", &envelope.ciphertext)?;
        if sealed.len() < TAG_LEN {
            return Err(Error::Key(format!(
                "the ciphertext is {} bytes, shorter than its {TAG_LEN}-byte tag",
                sealed.len()
            )));
        }
        Ok(Self {
            label: block.label,
            params,
            salt,
            nonce,
            sealed,
        })
    }

    /// Decrypts with `password`. A password that does not open the box gives
    /// [`Error::WrongPassword`] (secretbox cannot tell it from a corrupted file).
    pub fn decrypt(&self, password: &[u8]) -> Result<PrivateKey> {
        let der = self.decrypt_to_der(password)?;
        plain::signing_key_from_pkcs8(&der).map_err(|e| match e {
            Error::Key(msg) => Error::Key(format!("the decrypted key: {msg}")),
            other => other,
        })
    }

    /// The decrypted PKCS#8 DER (or whatever the box holds).
    fn decrypt_to_der(&self, password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let key = self.params.derive_key(password, &self.salt)?;
        let cipher = XSalsa20Poly1305::new(key.as_ref().into());
        let (tag, encrypted) = self.sealed.split_at(TAG_LEN);
        let mut plaintext = Zeroizing::new(encrypted.to_vec());
        cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(&self.nonce),
                b"",
                &mut plaintext,
                Tag::from_slice(tag),
            )
            .map_err(|_| Error::WrongPassword)?;
        Ok(plaintext)
    }
}

fn decode_field(name: &str, value: &str) -> Result<Vec<u8>> {
    B64.decode(value).map_err(|e| {
        Error::Key(format!(
            "malformed cosign private key: {name} is not base64 ({e})"
        ))
    })
}

/// Encrypts `key` in cosign's format with the given scrypt parameters and PEM label.
/// Salt and nonce are fresh random bytes.
pub fn encrypt(
    key: &PrivateKey,
    password: &[u8],
    params: ScryptParams,
    label: &str,
) -> Result<Zeroizing<String>> {
    if label != LABEL_SIGSTORE && label != LABEL_COSIGN {
        return Err(Error::Key(format!("not a cosign key label: {label}")));
    }
    let der = key.to_pkcs8_der()?;
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut salt)
        .and_then(|()| getrandom::fill(&mut nonce))
        .map_err(|e| Error::Key(format!("getting random bytes: {e}")))?;
    let box_key = params.derive_key(password, &salt)?;
    let cipher = XSalsa20Poly1305::new(box_key.as_ref().into());
    let mut encrypted = Zeroizing::new(der.to_vec());
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut encrypted)
        .map_err(|_| Error::Key("secretbox encryption failed".into()))?;
    let mut sealed = Vec::with_capacity(TAG_LEN + encrypted.len());
    sealed.extend_from_slice(&tag);
    sealed.extend_from_slice(&encrypted);
    let envelope = Envelope {
        kdf: Kdf {
            name: KDF_NAME.into(),
            params: KdfParams {
                n: params.n,
                r: params.r,
                p: params.p,
            },
            salt: B64.encode(salt),
        },
        cipher: Cipher {
            name: CIPHER_NAME.into(),
            nonce: B64.encode(nonce),
        },
        ciphertext: B64.encode(&sealed),
    };
    let json = serde_json::to_vec(&envelope)
        .map_err(|e| Error::Key(format!("encoding the key envelope: {e}")))?;
    // Same bytes as Go's pem.EncodeToMemory: 64-column lines, LF, final newline.
    let pem = pem_rfc7468::encode_string(label, LineEnding::LF, &json)
        .map_err(|e| Error::Key(format!("encoding the key PEM: {e}")))?;
    Ok(Zeroizing::new(pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY_DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/keys/cosign-legacy"
    );

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{LEGACY_DIR}/{name}")).unwrap()
    }

    /// A PEM holding `json` as cosign's envelope, for malformed-input tests.
    fn pem_of_json(json: &str) -> String {
        pem_rfc7468::encode_string(LABEL_SIGSTORE, LineEnding::LF, json.as_bytes()).unwrap()
    }

    fn good_json(n: u64, salt_len: usize, nonce_len: usize, kdf: &str, cipher: &str) -> String {
        format!(
            r#"{{"kdf":{{"name":"{kdf}","params":{{"N":{n},"r":8,"p":1}},"salt":"{}"}},"cipher":{{"name":"{cipher}","nonce":"{}"}},"ciphertext":"{}"}}"#,
            B64.encode(vec![1u8; salt_len]),
            B64.encode(vec![2u8; nonce_len]),
            B64.encode([3u8; 154]),
        )
    }

    fn parse_err(pem: &[u8]) -> String {
        match EncryptedKey::parse(pem) {
            Ok(_) => panic!("parsed"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn decrypts_cosign_test_suite_keys_and_reencodes_the_same_pkcs8_bytes() {
        for name in ["cosign-label-n32768.key", "sigstore-label.key"] {
            let key = EncryptedKey::parse(&fixture(name)).unwrap();
            assert_eq!(key.params, ScryptParams::LEGACY);
            let der = key.decrypt_to_der(b"hello").unwrap();
            let signing_key = key.decrypt(b"hello").unwrap();
            // Go's x509.MarshalPKCS8PrivateKey and p256 agree byte for byte.
            assert_eq!(
                signing_key.to_pkcs8_der().unwrap().as_slice(),
                der.as_slice()
            );
            assert_eq!(der.len(), 138);
        }
    }

    #[test]
    fn a_wrong_password_is_wrong_password() {
        let key = EncryptedKey::parse(&fixture("sigstore-label.key")).unwrap();
        assert!(matches!(key.decrypt(b"hell0"), Err(Error::WrongPassword)));
    }

    #[test]
    fn a_sec1_plaintext_is_refused_like_cosign_does() {
        let key = EncryptedKey::parse(&fixture("sec1-plaintext-rejected.key")).unwrap();
        let err = key.decrypt(b"hello").err().unwrap().to_string();
        assert!(err.contains("SEC1") && err.contains("PKCS#8"), "{err}");
    }

    #[test]
    fn round_trip_writes_cosigns_json_layout() {
        let key = PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap());
        let pem = encrypt(&key, b"pw", ScryptParams::LEGACY, LABEL_COSIGN).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END ENCRYPTED COSIGN PRIVATE KEY-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        let block = pem::first_block(pem.as_bytes()).unwrap();
        let json = String::from_utf8(block.contents.to_vec()).unwrap();
        let prefix = r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":""#;
        assert!(json.starts_with(prefix), "{json}");
        assert!(json.contains(r#""},"cipher":{"name":"nacl/secretbox","nonce":""#));
        assert!(json.contains(r#""},"ciphertext":""#));
        // 138 bytes of PKCS#8 plus the 16-byte tag, as cosign's keys.
        let parsed = EncryptedKey::parse(pem.as_bytes()).unwrap();
        assert_eq!(parsed.sealed.len(), 154);
        let back = parsed.decrypt(b"pw").unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!(matches!(parsed.decrypt(b"pw\n"), Err(Error::WrongPassword)));
    }

    #[test]
    fn refuses_parameters_outside_the_three_sets_before_running_scrypt() {
        for n in [1u64 << 20, 1 << 14, 0, 65535] {
            let start = std::time::Instant::now();
            let err = parse_err(
                pem_of_json(&good_json(n, 32, 24, "scrypt", "nacl/secretbox")).as_bytes(),
            );
            assert!(err.contains("unsupported scrypt parameters"), "{err}");
            assert!(start.elapsed() < std::time::Duration::from_millis(100));
        }
        // The same check guards the KDF itself, whatever the caller.
        let huge = ScryptParams {
            n: 1 << 30,
            r: 8,
            p: 1,
        };
        assert!(huge.derive_key(b"", &[0; 32]).is_err());
    }

    #[test]
    fn refuses_malformed_envelopes_with_one_line_errors() {
        let cases = [
            (
                good_json(65536, 32, 24, "pbkdf2", "nacl/secretbox"),
                "unsupported kdf",
            ),
            (
                good_json(65536, 32, 24, "scrypt", "aes-gcm"),
                "unsupported cipher",
            ),
            (
                good_json(65536, 16, 24, "scrypt", "nacl/secretbox"),
                "salt is 16 bytes",
            ),
            (
                good_json(65536, 32, 12, "scrypt", "nacl/secretbox"),
                "nonce is 12 bytes",
            ),
            ("{\"kdf\":".to_string(), "malformed cosign private key JSON"),
            ("[]".to_string(), "malformed cosign private key JSON"),
            (
                good_json(65536, 32, 24, "scrypt", "nacl/secretbox").replace("AQEB", "%%%%"),
                "kdf.salt is not base64",
            ),
        ];
        for (json, want) in cases {
            let err = parse_err(pem_of_json(&json).as_bytes());
            assert!(err.contains(want), "{json}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let short = good_json(65536, 32, 24, "scrypt", "nacl/secretbox")
            .replace(&B64.encode([3u8; 154]), &B64.encode([3u8; 10]));
        assert!(parse_err(pem_of_json(&short).as_bytes()).contains("shorter than its 16-byte tag"));
        let public = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(parse_err(public).contains("the PEM label is \"PUBLIC KEY\""));
    }
}
