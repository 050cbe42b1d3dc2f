//! Transparency-log proofs, Rekor v1, offline: the signed entry timestamp (SET, the
//! log's promise of inclusion at `integratedTime`), the RFC 6962 Merkle inclusion
//! proof from the entry's leaf to a root hash, and the checkpoint (a signed note)
//! that commits the log to that root hash and tree size.
//!
//! This module hashes log leaves and tree nodes (RFC 6962: SHA-256 of `0x00 ||
//! leaf` and of `0x01 || left || right`), never a blob: `tests/architecture.rs`
//! allows it for that. Signatures are checked with the algorithms of webpki (ring):
//! ECDSA P-256/P-384 and Ed25519, as the trusted root's `keyDetails` says.

use rustls_pki_types::SignatureVerificationAlgorithm;
use sha2::{Digest as _, Sha256};
use x509_cert::der::Decode as _;

use super::{KeyScheme, LogKey};

/// The bits of a SubjectPublicKeyInfo's key (an EC point, or Ed25519's 32 bytes),
/// as webpki's algorithms take them.
pub fn spki_key_bits(spki: &[u8]) -> Result<Vec<u8>, String> {
    let info = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(spki)
        .map_err(|e| format!("not a DER SubjectPublicKeyInfo ({e})"))?;
    info.subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "the public key has unused bits".to_string())
}

/// Verifies `sig` over `msg` with the log's key, by its scheme.
pub fn verify_log_signature(log: &LogKey, msg: &[u8], sig: &[u8]) -> Result<(), String> {
    let alg: &dyn SignatureVerificationAlgorithm = match log.scheme {
        Some(KeyScheme::EcdsaP256Sha256) => webpki::ring::ECDSA_P256_SHA256,
        Some(KeyScheme::EcdsaP384Sha384) => webpki::ring::ECDSA_P384_SHA384,
        Some(KeyScheme::Ed25519) => webpki::ring::ED25519,
        None => {
            return Err(format!(
                "the log key's scheme {} is not supported",
                crate::digest::printable(&log.details)
            ));
        }
    };
    let key = spki_key_bits(&log.spki)?;
    alg.verify_signature(&key, msg, sig)
        .map_err(|_| "the signature does not verify with the log's key".to_string())
}

/// The message a Rekor v1 SET signs: the entry as canonical JSON (keys sorted, no
/// spaces), as Rekor and cosign write it. Every value is base64, hex or a number,
/// so nothing needs escaping.
pub fn set_message(body_b64: &str, integrated_time: i64, log_id: &[u8], log_index: i64) -> Vec<u8> {
    let hex = airsign_oci::digest::hex_lower(log_id);
    format!(
        r#"{{"body":"{body_b64}","integratedTime":{integrated_time},"logID":"{hex}","logIndex":{log_index}}}"#
    )
    .into_bytes()
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// RFC 6962 interior node hash.
fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root hash an inclusion proof leads to from `leaf` (its hash) at `index` in a
/// tree of `size` leaves (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[Vec<u8>],
) -> Result<[u8; 32], String> {
    if index >= size {
        return Err(format!(
            "the leaf index {index} is beyond the tree size {size}"
        ));
    }
    let inner = 64 - (index ^ (size - 1)).leading_zeros() as usize;
    let border = (index >> inner).count_ones() as usize;
    if proof.len() != inner + border {
        return Err(format!(
            "the inclusion proof has {} hashes, a tree of {size} needs {} for index {index}",
            proof.len(),
            inner + border
        ));
    }
    if proof.iter().any(|h| h.len() != 32) {
        return Err("an inclusion proof hash is not 32 bytes".into());
    }
    let mut res = leaf;
    for (i, h) in proof[..inner].iter().enumerate() {
        res = if (index >> i) & 1 == 0 {
            node_hash(&res, h)
        } else {
            node_hash(h, &res)
        };
    }
    for h in &proof[inner..] {
        res = node_hash(h, &res);
    }
    Ok(res)
}

/// A checkpoint (signed note): origin, tree size, root hash, then signatures.
#[derive(Debug)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root_hash: Vec<u8>,
}

/// Parses a checkpoint and checks that one of its signatures is the log's: its key
/// hint (the first four bytes of the log's key ID, as Rekor v1 signs its notes)
/// names `log`, and it verifies over the note's text.
pub fn verify_checkpoint(envelope: &str, log: &LogKey) -> Result<Checkpoint, String> {
    let (text, sigs) = envelope
        .split_once("\n\n")
        .ok_or("the checkpoint has no signature block")?;
    let text = format!("{text}\n");
    let mut lines = text.lines();
    let origin = lines
        .next()
        .filter(|l| !l.is_empty())
        .ok_or("the checkpoint has no origin")?;
    let size = lines
        .next()
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or("the checkpoint's tree size is not a number")?;
    let root_hash = lines
        .next()
        .ok_or("the checkpoint has no root hash".to_string())
        .and_then(super::b64)
        .map_err(|e| format!("the checkpoint's root hash: {e}"))?;
    let hint = log.key_id.get(..4).ok_or("the log's key ID is too short")?;
    let mut found = false;
    for line in sigs.lines().filter(|l| !l.is_empty()) {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("a checkpoint signature line does not start with an em dash")?;
        let (_name, sig) = rest
            .rsplit_once(' ')
            .ok_or("a checkpoint signature line has no signature")?;
        let sig = super::b64(sig).map_err(|e| format!("a checkpoint signature: {e}"))?;
        if sig.len() < 5 || sig[..4] != *hint {
            continue;
        }
        verify_log_signature(log, text.as_bytes(), &sig[4..])
            .map_err(|e| format!("the checkpoint's signature: {e}"))?;
        found = true;
    }
    if !found {
        return Err("the checkpoint carries no signature by the entry's log (key hint)".into());
    }
    Ok(Checkpoint {
        origin: origin.to_owned(),
        size,
        root_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusion_proofs_follow_rfc_9162() {
        // a tree of three leaves: root = H(H(l0, l1), l2)
        let l: Vec<[u8; 32]> = (0u8..3).map(|i| leaf_hash(&[i])).collect();
        let root = node_hash(&node_hash(&l[0], &l[1]), &l[2]);
        let p0 = vec![l[1].to_vec(), l[2].to_vec()];
        assert_eq!(root_from_inclusion_proof(0, 3, l[0], &p0).unwrap(), root);
        let p2 = vec![node_hash(&l[0], &l[1]).to_vec()];
        assert_eq!(root_from_inclusion_proof(2, 3, l[2], &p2).unwrap(), root);
        // a flipped bit, a wrong length, an index past the end
        let mut bad = p0.clone();
        bad[1][0] ^= 1;
        assert_ne!(root_from_inclusion_proof(0, 3, l[0], &bad).unwrap(), root);
        assert!(root_from_inclusion_proof(0, 3, l[0], &p2).is_err());
        assert!(root_from_inclusion_proof(3, 3, l[0], &p0).is_err());
    }

    fn p256_log(seed: u8) -> (p256::ecdsa::SigningKey, LogKey) {
        use p256::pkcs8::EncodePublicKey as _;
        let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let spki = sk.verifying_key().to_public_key_der().unwrap().to_vec();
        let log = LogKey {
            base_url: String::new(),
            key_id: vec![seed, 1, 2, 3, 4],
            spki,
            scheme: Some(KeyScheme::EcdsaP256Sha256),
            details: "PKIX_ECDSA_P256_SHA_256".into(),
            valid: super::super::Validity {
                start: std::time::Duration::ZERO,
                end: None,
            },
        };
        (sk, log)
    }

    fn note(sk: &p256::ecdsa::SigningKey, hint: &[u8], text: &str) -> String {
        use base64::Engine as _;
        let sig: p256::ecdsa::DerSignature =
            p256::ecdsa::signature::Signer::sign(sk, text.as_bytes());
        let mut blob = hint.to_vec();
        blob.extend_from_slice(sig.as_bytes());
        let b = base64::engine::general_purpose::STANDARD.encode(blob);
        format!("{text}\n\u{2014} log.example {b}\n")
    }

    #[test]
    fn checkpoints_must_be_signed_by_the_entrys_log() {
        let (sk, log) = p256_log(7);
        let text = "log.example - 1\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let cp = verify_checkpoint(&note(&sk, &log.key_id[..4], text), &log).unwrap();
        assert_eq!((cp.origin.as_str(), cp.size), ("log.example - 1", 3));
        assert_eq!(cp.root_hash, vec![0u8; 32]);
        // another key hint: no signature of this log
        let e = verify_checkpoint(&note(&sk, &[9, 9, 9, 9], text), &log).unwrap_err();
        assert!(e.contains("key hint"), "{e}");
        // the right hint, another key
        let (other, _) = p256_log(8);
        let e = verify_checkpoint(&note(&other, &log.key_id[..4], text), &log).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        // a changed text after signing
        let forged = note(&sk, &log.key_id[..4], text).replacen("\n3\n", "\n4\n", 1);
        assert!(verify_checkpoint(&forged, &log).is_err());
    }

    #[test]
    fn a_set_verifies_with_the_logs_key_only() {
        let (sk, log) = p256_log(7);
        let msg = set_message("eyJ9", 5, &log.key_id, 1);
        let sig: p256::ecdsa::DerSignature = p256::ecdsa::signature::Signer::sign(&sk, &msg);
        verify_log_signature(&log, &msg, sig.as_bytes()).unwrap();
        let other = set_message("eyJ9", 6, &log.key_id, 1);
        assert!(verify_log_signature(&log, &other, sig.as_bytes()).is_err());
    }

    #[test]
    fn the_set_message_is_canonical_json() {
        assert_eq!(
            set_message("eyJ9", 1710869186, &[0xc0, 0xd2], 7),
            br#"{"body":"eyJ9","integratedTime":1710869186,"logID":"c0d2","logIndex":7}"#
        );
    }
}
