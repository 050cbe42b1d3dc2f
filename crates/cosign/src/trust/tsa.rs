//! RFC 3161 timestamps, offline: a bundle's `rfc3161Timestamps[].signedTimestamp`
//! is a CMS `SignedData` (RFC 5652) whose content is a `TSTInfo`. A timestamp
//! vouches that the bundle's signature existed at `genTime` when:
//!
//! 1. its `messageImprint` is the hash of the signature bytes (what Sigstore
//!    clients send to the timestamp authority);
//! 2. its one signer is the leaf of a timestamp authority of the trusted root (the
//!    signer identifier names it; certificates embedded in the token are never
//!    trusted), the signed attributes carry the `TSTInfo`'s content type and hash,
//!    and the signature over them verifies with that leaf's key;
//! 3. that leaf allows time stamping and chains to the authority's root at
//!    `genTime`, and `genTime` lies in the authority's validity period (a closed
//!    interval).
//!
//! This module hashes a signature and a `TSTInfo` (to compare with what the token
//! says), never a blob: `tests/architecture.rs` allows it for that.

use std::time::Duration;

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use rustls_pki_types::SignatureVerificationAlgorithm;
use sha2::Digest as _;
use x509_cert::der::asn1::{Any, Int, ObjectIdentifier, OctetString};
use x509_cert::der::{Decode as _, Encode as _, Reader as _, SliceReader, Tag};
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::{Authority, TrustedRoot};
use crate::signature::certs::{Cert, Usage, rfc3339, verify_chain_for};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A token is a few KiB; refuse anything absurd before parsing it.
const MAX_TOKEN: usize = 64 * 1024;

/// `MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage
/// OCTET STRING }`
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// What a verified timestamp established.
#[derive(Debug, Clone)]
pub struct Timestamp {
    /// `genTime`.
    pub time: Duration,
    /// The authority's URI in the trusted root.
    pub authority: String,
}

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        match *oid {
            SHA256 => Some(Hash::Sha256),
            SHA384 => Some(Hash::Sha384),
            SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn of(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// Verifies the DER timestamp `token` over `signature` (the bundle's signature
/// bytes) against the trusted root's timestamp authorities.
pub fn verify(token: &[u8], signature: &[u8], root: &TrustedRoot) -> Result<Timestamp, String> {
    if token.len() > MAX_TOKEN {
        return Err(format!("larger than {MAX_TOKEN} bytes"));
    }
    let token = time_stamp_token(token)?;
    let ci = ContentInfo::from_der(token).map_err(|e| format!("not a CMS ContentInfo ({e})"))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err("not a CMS SignedData".into());
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| format!("not a CMS SignedData ({e})"))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err("its content is not a TSTInfo".into());
    }
    let tst_der = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or("it has no TSTInfo")?
        .decode_as::<OctetString>()
        .map_err(|e| format!("its TSTInfo is not an OCTET STRING ({e})"))?;
    let tst_der = tst_der.as_bytes();
    let (imprint, gen_time) = tst_info(tst_der).map_err(|e| format!("its TSTInfo: {e}"))?;

    let signers = sd.signer_infos.0.as_slice();
    let [signer] = signers else {
        return Err(format!("it has {} signers, not one", signers.len()));
    };
    let signed = signed_attributes(signer)?;

    // 1. the imprint is the signature's hash
    let hash = Hash::from_oid(&imprint.hash_algorithm.oid).ok_or_else(|| {
        format!(
            "its message imprint uses an unsupported hash ({})",
            imprint.hash_algorithm.oid
        )
    })?;
    if hash.of(signature) != imprint.hashed_message.as_bytes() {
        return Err("its message imprint is not the hash of the bundle's signature".into());
    }

    // 2. one signer, a leaf of a timestamp authority of the trusted root, whose
    // signed attributes name this TSTInfo
    let digest = Hash::from_oid(&signer.digest_alg.oid).ok_or_else(|| {
        format!(
            "its signer uses an unsupported digest ({})",
            signer.digest_alg.oid
        )
    })?;
    if digest.of(tst_der) != signed.message_digest.as_bytes() {
        return Err("its signed message digest is not the hash of its TSTInfo".into());
    }
    let mut last = String::from("the trusted root has no timestamp authority");
    for authority in &root.timestamp_authorities {
        let Some(leaf) = authority.chain.first() else {
            continue;
        };
        if !names(&signer.sid, leaf) {
            last = "it is not signed by a timestamp authority of the trusted root".into();
            continue;
        }
        match check_authority(signer, leaf, authority, gen_time) {
            Ok(()) => {
                return Ok(Timestamp {
                    time: gen_time,
                    authority: authority.uri.clone(),
                });
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The `TimeStampToken` (a `ContentInfo`) of `der`, which is either that token or a
/// whole `TimeStampResp` (`SEQUENCE { status PKIStatusInfo, timeStampToken }`, as
/// Sigstore clients store the authority's answer), whose status must be granted.
fn time_stamp_token(der: &[u8]) -> Result<&[u8], String> {
    let mut r = SliceReader::new(der).map_err(|e| e.to_string())?;
    let parts = r
        .sequence(|r| {
            let first: Any = r.decode()?;
            let rest = r.read_slice(r.remaining_len())?;
            Ok::<_, x509_cert::der::Error>((first, rest))
        })
        .map_err(|e| format!("not a timestamp ({e})"))?;
    let (first, rest) = parts;
    if x509_cert::der::Tagged::tag(&first) != Tag::Sequence {
        // a ContentInfo starts with its content type
        return Ok(der);
    }
    // PKIStatusInfo ::= SEQUENCE { status INTEGER, statusString, failInfo OPTIONAL }
    let status: Int = SliceReader::new(first.value())
        .and_then(|mut s| s.decode())
        .map_err(|e| format!("its status ({e})"))?;
    if !matches!(status.as_bytes(), [0] | [1]) {
        return Err("its status is not granted".into());
    }
    if rest.is_empty() {
        return Err("the response carries no timestamp token".into());
    }
    Ok(rest)
}

/// The imprint and `genTime` of a DER `TSTInfo`; the fields after `genTime`
/// (accuracy, ordering, nonce, tsa, extensions) are read past.
fn tst_info(der: &[u8]) -> Result<(MessageImprint, Duration), String> {
    let mut r = SliceReader::new(der).map_err(|e| e.to_string())?;
    let (imprint, time) = r
        .sequence(|r| {
            let version: Int = r.decode()?;
            if version.as_bytes() != [1] {
                return Err(Tag::Integer.value_error().into());
            }
            let _policy: ObjectIdentifier = r.decode()?;
            let imprint = r.sequence(|r| {
                Ok::<_, x509_cert::der::Error>(MessageImprint {
                    hash_algorithm: r.decode()?,
                    hashed_message: r.decode()?,
                })
            })?;
            let _serial: Int = r.decode()?;
            let time: Any = r.decode()?;
            while !r.is_finished() {
                let _: Any = r.decode()?;
            }
            Ok((imprint, time))
        })
        .map_err(|e: x509_cert::der::Error| e.to_string())?;
    r.finish().map_err(|e| e.to_string())?;
    if x509_cert::der::Tagged::tag(&time) != Tag::GeneralizedTime {
        return Err("genTime is not a GeneralizedTime".into());
    }
    Ok((imprint, generalized_time(time.value())?))
}

/// `YYYYMMDDHHMMSS[.f+]Z` (RFC 3161 allows fractions of a second).
fn generalized_time(v: &[u8]) -> Result<Duration, String> {
    let s = std::str::from_utf8(v).map_err(|_| "genTime is not ASCII".to_string())?;
    let bad = || {
        format!(
            "genTime {:?} is not a UTC time",
            crate::digest::printable(s)
        )
    };
    if s.len() < 15 || !s.ends_with('Z') || !s.is_char_boundary(14) {
        return Err(bad());
    }
    let (d, rest) = s.split_at(14);
    if !d.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}{}",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[8..10],
        &d[10..12],
        &d[12..14],
        rest
    );
    super::parse_time(&rfc3339).map_err(|_| bad())
}

/// What the signer's signed attributes say: the content type must be TSTInfo; the
/// message digest is compared by the caller.
struct Signed {
    message_digest: OctetString,
}

fn signed_attributes(signer: &SignerInfo) -> Result<Signed, String> {
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("its signer has no signed attributes")?;
    let one = |oid: ObjectIdentifier, what: &str| -> Result<&Any, String> {
        let found: Vec<_> = attrs.iter().filter(|a| a.oid == oid).collect();
        match found.as_slice() {
            [a] if a.values.len() == 1 => Ok(a.values.get(0).expect("one value")),
            _ => Err(format!(
                "its signer's {what} attribute is missing or repeated"
            )),
        }
    };
    let ct: ObjectIdentifier = one(ID_CONTENT_TYPE, "content-type")?
        .decode_as()
        .map_err(|e| format!("its content-type attribute ({e})"))?;
    if ct != ID_CT_TST_INFO {
        return Err("its signed content type is not a TSTInfo".into());
    }
    let message_digest: OctetString = one(ID_MESSAGE_DIGEST, "message-digest")?
        .decode_as()
        .map_err(|e| format!("its message-digest attribute ({e})"))?;
    Ok(Signed { message_digest })
}

/// Whether the signer identifier names `cert`.
fn names(sid: &SignerIdentifier, cert: &Cert) -> bool {
    let tbs = cert.x509().tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            is.issuer == *tbs.issuer() && is.serial_number == *tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .subject_key_identifier()
            .is_some_and(|own| own == ski.0.as_bytes()),
    }
}

/// The signature over the signed attributes with `leaf`'s key, then the leaf's
/// usage, chain and validity at `at`, and the authority's validity.
fn check_authority(
    signer: &SignerInfo,
    leaf: &Cert,
    authority: &Authority,
    at: Duration,
) -> Result<(), String> {
    let attrs = signer
        .signed_attrs
        .as_ref()
        .expect("checked")
        .to_der()
        .map_err(|e| format!("its signed attributes ({e})"))?;
    let alg = algorithm(signer, leaf)?;
    let key = super::tlog::spki_key_bits(&leaf.spki_der()?)?;
    alg.verify_signature(&key, &attrs, signer.signature.as_bytes())
        .map_err(|_| {
            format!(
                "its signature does not verify with the key of {} (timestamp authority {})",
                leaf.subject(),
                crate::digest::printable(&authority.uri)
            )
        })?;
    if !authority.valid.contains(at) {
        return Err(format!(
            "its time {} is outside the validity of timestamp authority {} in the trusted root",
            rfc3339(at),
            crate::digest::printable(&authority.uri)
        ));
    }
    let (roots, inters): (Vec<Cert>, Vec<Cert>) = authority
        .chain
        .iter()
        .cloned()
        .partition(Cert::is_self_signed);
    verify_chain_for(leaf, &roots, &inters, at, Usage::TimeStamping).map_err(|e| {
        format!(
            "the timestamp authority's certificate at {}: {e}",
            rfc3339(at)
        )
    })
}

/// The verification algorithm for the signer's signature and the leaf's key.
fn algorithm(
    signer: &SignerInfo,
    leaf: &Cert,
) -> Result<&'static dyn SignatureVerificationAlgorithm, String> {
    use webpki::ring as alg;
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(&leaf.spki_der()?)
        .map_err(|e| format!("the authority's key ({e})"))?;
    let sig_oid = signer.signature_algorithm.oid;
    let digest = Hash::from_oid(&signer.digest_alg.oid);
    let hash = match sig_oid {
        ECDSA_SHA256 | RSA_SHA256 => Some(Hash::Sha256),
        ECDSA_SHA384 | RSA_SHA384 => Some(Hash::Sha384),
        ECDSA_SHA512 | RSA_SHA512 => Some(Hash::Sha512),
        EC_PUBLIC_KEY | RSA => digest,
        _ => None,
    };
    let unsupported = || {
        format!(
            "its signature algorithm ({sig_oid}) with the authority's key ({}) is not supported",
            spki.algorithm.oid
        )
    };
    match spki.algorithm.oid {
        EC_PUBLIC_KEY => {
            let curve: ObjectIdentifier = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as().ok())
                .ok_or_else(unsupported)?;
            match (curve, hash) {
                (P256, Some(Hash::Sha256)) => Ok(alg::ECDSA_P256_SHA256),
                (P256, Some(Hash::Sha384)) => Ok(alg::ECDSA_P256_SHA384),
                (P384, Some(Hash::Sha256)) => Ok(alg::ECDSA_P384_SHA256),
                (P384, Some(Hash::Sha384)) => Ok(alg::ECDSA_P384_SHA384),
                _ => Err(unsupported()),
            }
        }
        RSA => match hash {
            Some(Hash::Sha256) => Ok(alg::RSA_PKCS1_2048_8192_SHA256),
            Some(Hash::Sha384) => Ok(alg::RSA_PKCS1_2048_8192_SHA384),
            Some(Hash::Sha512) => Ok(alg::RSA_PKCS1_2048_8192_SHA512),
            None => Err(unsupported()),
        },
        ED25519 if sig_oid == ED25519 => Ok(alg::ED25519),
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gen_time_may_carry_fractions_of_a_second() {
        assert_eq!(
            generalized_time(b"20250612120220Z").unwrap(),
            Duration::from_secs(1_749_729_740)
        );
        assert_eq!(
            generalized_time(b"20250612120220.25Z").unwrap(),
            Duration::from_millis(1_749_729_740_250)
        );
        for bad in [
            &b"20250612120220"[..],
            b"2025061212022Z",
            b"2025-6-12120220Z",
            b"",
        ] {
            assert!(generalized_time(bad).is_err(), "{bad:?}");
        }
    }
}
