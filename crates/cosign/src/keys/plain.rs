//! Private keys in the formats other tools write, for `import-key-pair`: PKCS#8
//! `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` and OpenSSL's PBES2 `ENCRYPTED PRIVATE KEY`.
//! and PKCS#1 `RSA PRIVATE KEY`: ECDSA P-256/P-384/P-521, RSA 2048–4096 and Ed25519,
//! as cosign's `import-key-pair` takes them.

use super::PrivateKey;
use pkcs8::der::asn1::OctetStringRef;
use pkcs8::der::{Decode, Reader, SliceReader, TagMode, TagNumber};
use pkcs8::{EncryptedPrivateKeyInfoRef, ObjectIdentifier, PrivateKeyInfoRef};
use zeroize::Zeroizing;

use super::pem;
use crate::{Error, Result};

/// The curve OID in a SEC1 `ECPrivateKey`, if `der` is one: `Some(None)` when it is
/// SEC1 without the (optional) curve, `None` when it is not SEC1 at all.
fn sec1_curve(der: &[u8]) -> Option<Option<ObjectIdentifier>> {
    let mut reader = SliceReader::new(der).ok()?;
    reader
        .sequence(|r| {
            if u8::decode(r)? != 1 {
                return Err(pkcs8::der::Tag::Integer.value_error().into());
            }
            <&OctetStringRef>::decode(r)?;
            let curve = r.context_specific::<ObjectIdentifier>(TagNumber(0), TagMode::Explicit)?;
            // The optional public key follows; it does not matter here.
            r.read_slice(r.remaining_len())?;
            Ok::<_, pkcs8::der::Error>(curve)
        })
        .ok()
}

/// A signing key from PKCS#8 DER (any supported algorithm), refusing others by name.
pub(crate) fn signing_key_from_pkcs8(der: &[u8]) -> Result<PrivateKey> {
    if PrivateKeyInfoRef::try_from(der).is_err() && sec1_curve(der).is_some() {
        return Err(Error::Key(
            "it is a SEC1 EC key, not PKCS#8 (cosign refuses such keys too)".into(),
        ));
    }
    PrivateKey::from_pkcs8_der(der)
}

/// A signing key from SEC1 DER (`EC PRIVATE KEY`).
fn signing_key_from_sec1(der: &[u8]) -> Result<PrivateKey> {
    match sec1_curve(der) {
        None => Err(Error::Key("malformed EC PRIVATE KEY (not SEC1 DER)".into())),
        Some(curve) => PrivateKey::from_sec1_der(der, curve),
    }
}

/// Most PBKDF2 iterations accepted: a few seconds of work (OpenSSL writes 2048 by
/// default; RFC 8018 suggests up to 10,000,000 for critical keys).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Most memory scrypt may use (128·N·r bytes): OpenSSL's `-scrypt` default is 16 MiB,
/// cosign's largest parameter set 128 MiB.
const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;
/// Most scrypt work accepted (128·N·r·p bytes mixed): 4× the memory limit.
const MAX_SCRYPT_WORK: u64 = 4 * MAX_SCRYPT_MEMORY;

/// Refuses a PBES2 key whose KDF parameters would cost more than any real key's,
/// before a password is asked for: the parameters come from the file, and
/// unchecked they let a hostile file ask for 2^32 PBKDF2 iterations (hours of CPU)
/// or an scrypt N·r of terabytes (an allocation failure aborts the process).
fn check_kdf_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<()> {
    use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
    let EncryptionScheme::Pbes2(params) = scheme else {
        // PBES1 (DES/RC2 with MD5/SHA-1) is refused by decrypt, unsupported.
        return Ok(());
    };
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => Err(Error::Key(format!(
            "ENCRYPTED PRIVATE KEY: {} PBKDF2 iterations (at most {MAX_PBKDF2_ITERATIONS} \
             accepted)",
            p.iteration_count
        ))),
        Kdf::Pbkdf2(_) => Ok(()),
        Kdf::Scrypt(p) => {
            let (n, r, par) = (
                p.cost_parameter,
                u64::from(p.block_size),
                u64::from(p.parallelization),
            );
            let memory = n.checked_mul(r).and_then(|x| x.checked_mul(128));
            let work = memory.and_then(|m| m.checked_mul(par));
            match (memory, work) {
                (Some(m), Some(w)) if m <= MAX_SCRYPT_MEMORY && w <= MAX_SCRYPT_WORK => Ok(()),
                _ => Err(Error::Key(format!(
                    "ENCRYPTED PRIVATE KEY: scrypt N={n} r={r} p={par} costs too much (at most \
                     {} MiB of memory, 128·N·r, and {} MiB of work, 128·N·r·p, accepted)",
                    MAX_SCRYPT_MEMORY >> 20,
                    MAX_SCRYPT_WORK >> 20
                ))),
            }
        }
        _ => Err(Error::Key(
            "ENCRYPTED PRIVATE KEY: unsupported key derivation function (PBKDF2 and scrypt are)"
                .into(),
        )),
    }
}

/// Reads a PEM private key as other tools write it. `import_password` is asked
/// only for an `ENCRYPTED PRIVATE KEY`.
pub fn read_private_key_pem(
    pem_bytes: &[u8],
    import_password: impl FnOnce() -> Result<Zeroizing<Vec<u8>>>,
) -> Result<PrivateKey> {
    let block = pem::first_block(pem_bytes).map_err(Error::Key)?;
    match block.label.as_str() {
        "PRIVATE KEY" => signing_key_from_pkcs8(&block.contents),
        "EC PRIVATE KEY" => signing_key_from_sec1(&block.contents),
        "ENCRYPTED PRIVATE KEY" => {
            let encrypted = EncryptedPrivateKeyInfoRef::try_from(block.contents.as_slice())
                .map_err(|e| Error::Key(format!("malformed ENCRYPTED PRIVATE KEY ({e})")))?;
            check_kdf_cost(&encrypted.encryption_algorithm)?;
            let password = import_password()?;
            let document = encrypted.decrypt(password.as_slice()).map_err(|e| match e {
                pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed)
                | pkcs8::Error::Asn1(_) => Error::Key(format!(
                    "wrong password for this ENCRYPTED PRIVATE KEY (from {} or the prompt)",
                    super::password::IMPORT_PASSWORD_VAR
                )),
                other => Error::Key(format!(
                    "cannot decrypt this ENCRYPTED PRIVATE KEY: {other} (supported: PBES2 with \
                     PBKDF2 or scrypt and AES-CBC, as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes)"
                )),
            })?;
            signing_key_from_pkcs8(document.as_bytes())
        }
        "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_der(&block.contents),
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => Err(Error::Key(format!(
            "this is a {}, not a private key",
            block.label
        ))),
        super::LABEL_SIGSTORE | super::LABEL_COSIGN => Err(Error::Key(
            "this key is already in cosign's format; use it as it is".into(),
        )),
        other => Err(Error::Key(format!(
            "unsupported PEM type \"{other}\" (expected PRIVATE KEY, EC PRIVATE KEY, \
             RSA PRIVATE KEY or ENCRYPTED PRIVATE KEY)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};

    fn no_password() -> Result<Zeroizing<Vec<u8>>> {
        panic!("no password should be asked for")
    }

    #[test]
    fn reads_pkcs8_and_sec1_of_the_same_key() {
        let key = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        let pkcs8 = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let sec1 = p256::SecretKey::from(&key)
            .to_sec1_pem(LineEnding::LF)
            .unwrap();
        for pem in [pkcs8.as_bytes(), sec1.as_bytes()] {
            let back = read_private_key_pem(pem, no_password).unwrap();
            assert_eq!(
                back.public_key(),
                PrivateKey::P256(key.clone()).public_key()
            );
        }
        // and P-384 in SEC1 (the curve named in the key)
        let key = p384::SecretKey::from_slice(&[9u8; 48]).unwrap();
        let sec1 = key.to_sec1_pem(LineEnding::LF).unwrap();
        let back = read_private_key_pem(sec1.as_bytes(), no_password).unwrap();
        assert_eq!(back.algorithm(), super::super::Algorithm::EcdsaP384Sha384);
    }

    #[test]
    fn refuses_what_is_not_a_p256_private_key() {
        let cases = [
            ("RSA PRIVATE KEY", "malformed RSA PRIVATE KEY"),
            ("PUBLIC KEY", "not a private key"),
            (
                "ENCRYPTED SIGSTORE PRIVATE KEY",
                "already in cosign's format",
            ),
            ("OPENSSH PRIVATE KEY", "unsupported PEM type"),
        ];
        for (label, want) in cases {
            let pem = pem_rfc7468::encode_string(label, LineEnding::LF, &[0x30, 0]).unwrap();
            let err = read_private_key_pem(pem.as_bytes(), no_password)
                .err()
                .unwrap();
            assert!(err.to_string().contains(want), "{label}: {err}");
        }
    }

    /// An `ENCRYPTED PRIVATE KEY` PEM with the given KDF (AES-256-CBC, junk data).
    fn pbes2_pem(kdf: pkcs8::pkcs5::pbes2::Kdf) -> String {
        use pkcs8::der::Encode;
        use pkcs8::pkcs5::{EncryptionScheme, pbes2};
        let mut params =
            pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, &[7u8; 16], [1u8; 16])
                .unwrap();
        params.kdf = kdf;
        let info = pkcs8::EncryptedPrivateKeyInfoRef {
            encryption_algorithm: EncryptionScheme::Pbes2(params),
            encrypted_data: OctetStringRef::new(&[0u8; 48]).unwrap(),
        };
        pem_rfc7468::encode_string(
            "ENCRYPTED PRIVATE KEY",
            LineEnding::LF,
            &info.to_der().unwrap(),
        )
        .unwrap()
    }

    /// Found while writing the `keys` fuzz target: the KDF parameters of a PBES2 key
    /// were run as the file gave them, once the password was typed: 2^32 PBKDF2
    /// iterations (hours), or scrypt with N·r in terabytes (an allocation failure
    /// aborts). They are now checked before the password is asked for.
    #[test]
    fn regression_fuzz_keys_pbes2_kdf_cost() {
        use pkcs8::pkcs5::pbes2::{Kdf, Pbkdf2Params, ScryptParams};
        let salt = [7u8; 16].as_slice().try_into().unwrap();
        let pbkdf2 = |iteration_count| {
            let mut p = Pbkdf2Params::hmac_sha256(2048, &[7u8; 16]).unwrap();
            p.iteration_count = iteration_count;
            Kdf::Pbkdf2(p)
        };
        let scrypt = |cost_parameter, block_size, parallelization| {
            Kdf::Scrypt(ScryptParams {
                salt,
                cost_parameter,
                block_size,
                parallelization,
                key_length: Some(32),
            })
        };
        for (kdf, want) in [
            (pbkdf2(u32::MAX), "4294967295 PBKDF2 iterations"),
            (pbkdf2(MAX_PBKDF2_ITERATIONS + 1), "PBKDF2 iterations"),
            (scrypt(1 << 40, 8, 1), "scrypt N=1099511627776 r=8 p=1"),
            (scrypt(1 << 20, 65535, 1), "costs too much"),
            (scrypt(1 << 16, 8, 65535), "costs too much"),
        ] {
            let pem = pbes2_pem(kdf);
            let err = read_private_key_pem(pem.as_bytes(), no_password)
                .err()
                .unwrap();
            assert!(err.to_string().contains(want), "{err}");
        }
        // What OpenSSL and cosign use passes the check (and then asks for a password).
        for kdf in [
            pbkdf2(2048),
            pbkdf2(MAX_PBKDF2_ITERATIONS),
            scrypt(1 << 14, 8, 1),
            scrypt(1 << 17, 8, 1),
        ] {
            let pem = pbes2_pem(kdf);
            let err = read_private_key_pem(pem.as_bytes(), || Err(Error::Key("asked".into())))
                .err()
                .unwrap();
            assert_eq!(err.to_string(), "asked");
        }
    }

    #[test]
    fn reads_ed25519_and_names_the_algorithm_of_a_foreign_pkcs8_key() {
        // An Ed25519 PKCS#8 key (RFC 8410 example).
        let ed25519 = "-----BEGIN PRIVATE KEY-----\n\
            MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
            -----END PRIVATE KEY-----\n";
        let key = read_private_key_pem(ed25519.as_bytes(), no_password).unwrap();
        assert_eq!(key.algorithm(), super::super::Algorithm::Ed25519);
        // An Ed448 one (RFC 8410 10.3's OID, junk key).
        let ed448 = pem_rfc7468::encode_string(
            "PRIVATE KEY",
            LineEnding::LF,
            &[
                0x30, 0x14, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x04, 0x08,
                0x04, 0x06, 1, 2, 3, 4, 5, 6,
            ],
        )
        .unwrap();
        let err = read_private_key_pem(ed448.as_bytes(), no_password)
            .err()
            .unwrap();
        assert!(err.to_string().contains("Ed448 key"), "{err}");
    }
}
