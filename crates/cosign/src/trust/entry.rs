//! What a transparency-log entry's body records, checked against what was signed:
//! the one place the Rekor entry kinds are read, for Sigstore bundles
//! ([`super::keyless`]) and for cosign's legacy `.sig`/`.att` layers
//! ([`super::legacy`]).
//!
//! | kind | records |
//! | --- | --- |
//! | `hashedrekord` 0.0.1 (Rekor v1) | the sha256 of the artifact (or payload), the signature, the certificate or key (PEM, base64) |
//! | `dsse` 0.0.1 (Rekor v1) | the sha256 of the DSSE payload, every signature with its verifier (PEM, base64) |
//! | `intoto` 0.0.2 (Rekor v1) | the payload type, the sha256 of the payload, every signature (base64 twice) with its key (PEM, base64) |
//! | `hashedrekord` 0.0.2 (Rekor v2) | the sha256 of the artifact — for a DSSE envelope, of `PAE(type, payload)`, with its one signature — the signature, the verifier (DER) |
//! | `dsse` 0.0.2 (Rekor v2) | the sha256 of the payload, every signature with its verifier (DER) |

use crate::keys::PublicKey;
use serde_json::Value;

use super::b64;
use crate::digest::Digest;
use crate::{Error, Result};

/// Who the entry must name as the signer.
pub enum Signer<'a> {
    /// A signing certificate, DER.
    Cert(&'a [u8]),
    /// A managed key.
    Key(&'a PublicKey),
}

impl Signer<'_> {
    /// A Rekor v1 verifier: base64 of a PEM certificate or public key.
    fn is_pem(&self, b64pem: Option<&str>) -> bool {
        let Some(pem) = b64pem.and_then(|t| b64(t).ok()) else {
            return false;
        };
        match self {
            Signer::Cert(der) => {
                crate::signature::certs::read_certificate(&pem).is_ok_and(|c| c.der() == *der)
            }
            Signer::Key(key) => std::str::from_utf8(&pem)
                .ok()
                .and_then(|p| {
                    crate::keys::public_key_from_pem(p.as_bytes())
                        .ok()
                        .flatten()
                })
                .is_some_and(|k| k == **key),
        }
    }

    /// A Rekor v2 verifier: `{"x509Certificate": {"rawBytes"}}` or
    /// `{"publicKey": {"rawBytes"}}` (DER).
    fn is_v2(&self, v: Option<&Value>) -> bool {
        match self {
            Signer::Cert(der) => {
                v2_bytes(v.and_then(|v| v.pointer("/x509Certificate/rawBytes"))).as_deref()
                    == Some(*der)
            }
            Signer::Key(key) => v2_bytes(v.and_then(|v| v.pointer("/publicKey/rawBytes")))
                .and_then(|d| PublicKey::from_spki_der(&d).ok())
                .is_some_and(|k| k == **key),
        }
    }
}

/// What was signed, as the entry must record it.
pub enum Signed<'a> {
    /// A signature over content whose SHA-256 is `digest` (an artifact, or a `.sig`
    /// layer's payload).
    Message {
        digest: &'a Digest,
        signature: &'a [u8],
    },
    /// A DSSE envelope.
    Envelope {
        payload_type: &'a str,
        payload: &'a [u8],
        signatures: &'a [Vec<u8>],
    },
}

fn fail(msg: impl std::fmt::Display) -> Error {
    Error::invalid(msg.to_string())
}

/// Checks that the entry `body` records `signed` by `signer`, and returns its kind
/// and version. `against` names what the entry is compared with in a refusal
/// ("the bundle", "the signature", "the attestation").
pub fn check_body(
    body: &[u8],
    signed: &Signed<'_>,
    signer: &Signer<'_>,
    against: &str,
) -> Result<(String, String)> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| fail(format!("the log entry's body is not JSON: {e}")))?;
    let s = |p: &str| v.pointer(p).and_then(Value::as_str);
    let (kind, version) = (s("/kind").unwrap_or(""), s("/apiVersion").unwrap_or(""));
    let mismatch = |what: &str| fail(format!("the log entry does not match {against}: {what}"));
    match (kind, version, signed) {
        ("hashedrekord", "0.0.1", Signed::Message { digest, signature }) => {
            if s("/spec/data/hash/algorithm") != Some("sha256")
                || s("/spec/data/hash/value") != Some(digest.hex())
            {
                return Err(mismatch("the signed digest"));
            }
            let logged = s("/spec/signature/content").and_then(|t| b64(t).ok());
            if logged.as_deref() != Some(*signature) {
                return Err(mismatch("the signature"));
            }
            if !signer.is_pem(s("/spec/signature/publicKey/content")) {
                return Err(mismatch("the certificate (or key)"));
            }
        }
        (
            "dsse",
            "0.0.1",
            Signed::Envelope {
                payload,
                signatures,
                ..
            },
        ) => {
            if s("/spec/payloadHash/algorithm") != Some("sha256")
                || s("/spec/payloadHash/value") != Some(Digest::sha256(payload).hex())
            {
                return Err(mismatch("the DSSE payload hash"));
            }
            all_logged(
                v.pointer("/spec/signatures"),
                signatures,
                &mismatch,
                |l, sig| {
                    v1_bytes(l.get("signature"), false).as_deref() == Some(sig)
                        && signer.is_pem(l.get("verifier").and_then(Value::as_str))
                },
            )?;
        }
        (
            "intoto",
            "0.0.2",
            Signed::Envelope {
                payload_type,
                payload,
                signatures,
            },
        ) => {
            if s("/spec/content/payloadHash/algorithm") != Some("sha256")
                || s("/spec/content/payloadHash/value") != Some(Digest::sha256(payload).hex())
            {
                return Err(mismatch("the in-toto payload hash"));
            }
            if s("/spec/content/envelope/payloadType") != Some(payload_type) {
                return Err(mismatch("the payload type"));
            }
            // intoto 0.0.2 stores each signature base64-encoded twice
            let sigs = v.pointer("/spec/content/envelope/signatures");
            all_logged(sigs, signatures, &mismatch, |l, sig| {
                v1_bytes(l.get("sig"), true).as_deref() == Some(sig)
                    && signer.is_pem(l.get("publicKey").and_then(Value::as_str))
            })?;
        }
        ("hashedrekord", "0.0.2", signed) => {
            // over a DSSE envelope, Rekor v2 logs Hash(PAE(type, payload)) and the
            // envelope's one signature
            let (digest, signature) = match signed {
                Signed::Message { digest, signature } => ((*digest).clone(), *signature),
                Signed::Envelope {
                    payload_type,
                    payload,
                    signatures,
                } => match signatures {
                    [one] => (
                        Digest::sha256(&crate::bundle::pae(payload_type, payload)),
                        one.as_slice(),
                    ),
                    _ => return Err(mismatch("a DSSE envelope with more than one signature")),
                },
            };
            let spec = v
                .pointer("/spec/hashedRekordV002")
                .ok_or_else(|| mismatch("no hashedRekordV002 spec"))?;
            if !v2_hash_is(spec.get("data"), digest.hex()) {
                return Err(mismatch(match signed {
                    Signed::Message { .. } => "the signed digest",
                    Signed::Envelope { .. } => "the DSSE envelope (its PAE hash)",
                }));
            }
            let logged = spec.get("signature");
            if v2_bytes(logged.and_then(|l| l.get("content"))).as_deref() != Some(signature) {
                return Err(mismatch("the signature"));
            }
            if !signer.is_v2(logged.and_then(|l| l.get("verifier"))) {
                return Err(mismatch("the certificate (or key)"));
            }
        }
        (
            "dsse",
            "0.0.2",
            Signed::Envelope {
                payload,
                signatures,
                ..
            },
        ) => {
            let spec = v
                .pointer("/spec/dsseV002")
                .ok_or_else(|| mismatch("no dsseV002 spec"))?;
            if !v2_hash_is(spec.get("payloadHash"), Digest::sha256(payload).hex()) {
                return Err(mismatch("the DSSE payload hash"));
            }
            all_logged(spec.get("signatures"), signatures, &mismatch, |l, sig| {
                v2_bytes(l.get("content")).as_deref() == Some(sig)
                    && signer.is_v2(l.get("verifier"))
            })?;
        }
        (k, ver, _) => {
            return Err(fail(format!(
                "the log entry is a {} {} entry, which does not record {} (airsign reads \
                 hashedrekord 0.0.1 and 0.0.2, dsse 0.0.1 and 0.0.2, intoto 0.0.2): refused",
                crate::digest::printable(k),
                crate::digest::printable(ver),
                match signed {
                    Signed::Message { .. } => "a message signature",
                    Signed::Envelope { .. } => "a DSSE envelope",
                }
            )));
        }
    }
    Ok((kind.to_owned(), version.to_owned()))
}

/// Every DSSE signature is among the entry's `logged` signatures (as many as
/// there are signatures), each with its verifier, as `is` compares them.
fn all_logged(
    logged: Option<&Value>,
    signatures: &[Vec<u8>],
    mismatch: &dyn Fn(&str) -> Error,
    is: impl Fn(&Value, &[u8]) -> bool,
) -> Result<()> {
    let logged = logged
        .and_then(Value::as_array)
        .ok_or_else(|| mismatch("no signatures"))?;
    if logged.len() != signatures.len() {
        return Err(mismatch("the number of DSSE signatures"));
    }
    for sig in signatures {
        if !logged.iter().any(|l| is(l, sig)) {
            return Err(mismatch("a DSSE signature (or its certificate)"));
        }
    }
    Ok(())
}

/// Rekor v1 bytes: base64, or base64 of base64 (`twice`).
fn v1_bytes(v: Option<&Value>, twice: bool) -> Option<Vec<u8>> {
    let once = b64(v?.as_str()?).ok()?;
    if twice {
        b64(&String::from_utf8(once).ok()?).ok()
    } else {
        Some(once)
    }
}

/// Rekor v2 (protojson) bytes: standard base64.
fn v2_bytes(v: Option<&Value>) -> Option<Vec<u8>> {
    v.and_then(Value::as_str).and_then(|t| b64(t).ok())
}

/// A Rekor v2 `HashOutput` (`{"algorithm": "SHA2_256", "digest": b64}`) equal to
/// the SHA-256 whose hex is `hex`.
fn v2_hash_is(v: Option<&Value>, hex: &str) -> bool {
    let Some(v) = v else { return false };
    let digest = v2_bytes(v.get("digest"));
    v.get("algorithm").and_then(Value::as_str) == Some("SHA2_256")
        && digest.is_some_and(|d| {
            let h = airsign_oci::digest::hex_lower(&d);
            h == hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_hashedrekord_of_this_payload_signature_and_certificate_matches() {
        let payload = Digest::sha256(b"payload");
        let body = |kind: &str, hash: &str, sig: &str| {
            format!(
                r#"{{"apiVersion":"0.0.1","kind":"{kind}","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{hash}"}}}},"signature":{{"content":"{sig}","publicKey":{{"content":"AA=="}}}}}}}}"#
            )
        };
        let other = Digest::sha256(b"other");
        let cases = [
            (
                body("rekord", payload.hex(), "AQI="),
                "a rekord 0.0.1 entry",
            ),
            (
                body("hashedrekord", other.hex(), "AQI="),
                "the signed digest",
            ),
            (body("hashedrekord", payload.hex(), "AQM="), "the signature"),
            // the logged "certificate" is no certificate: never this one
            (
                body("hashedrekord", payload.hex(), "AQI="),
                "the certificate",
            ),
            ("[".to_string(), "not JSON"),
        ];
        for (b, want) in cases {
            let signed = Signed::Message {
                digest: &payload,
                signature: &[1, 2],
            };
            let e = check_body(
                b.as_bytes(),
                &signed,
                &Signer::Cert(b"der"),
                "the signature",
            )
            .unwrap_err();
            assert!(e.to_string().contains(want), "{b}: {e}");
        }
    }

    #[test]
    fn an_attestation_entry_must_record_the_envelope() {
        let payload = b"{}";
        let hash = Digest::sha256(payload);
        let sig = vec![1u8, 2];
        let once = b64_encode(&sig);
        let twice = b64_encode(once.as_bytes());
        let intoto = |ptype: &str, hash: &str, sig: &str| {
            format!(
                r#"{{"apiVersion":"0.0.2","kind":"intoto","spec":{{"content":{{"envelope":{{"payloadType":"{ptype}","signatures":[{{"sig":"{sig}","publicKey":"AA=="}}]}},"payloadHash":{{"algorithm":"sha256","value":"{hash}"}}}}}}}}"#
            )
        };
        let t = "application/vnd.in-toto+json";
        let other = Digest::sha256(b"x");
        let cases = [
            (intoto("text/plain", hash.hex(), &twice), "the payload type"),
            (intoto(t, other.hex(), &twice), "the in-toto payload hash"),
            // signatures are base64 twice in intoto 0.0.2: once is another signature
            (intoto(t, hash.hex(), &once), "a DSSE signature"),
            // right signature, but the logged key is no certificate
            (
                intoto(t, hash.hex(), &twice),
                "a DSSE signature (or its certificate)",
            ),
            (
                r#"{"apiVersion":"0.0.1","kind":"hashedrekord"}"#.to_string(),
                "does not record a DSSE envelope",
            ),
        ];
        for (b, want) in cases {
            let signed = Signed::Envelope {
                payload_type: t,
                payload,
                signatures: std::slice::from_ref(&sig),
            };
            let e = check_body(
                b.as_bytes(),
                &signed,
                &Signer::Cert(b"der"),
                "the attestation",
            )
            .unwrap_err();
            assert!(e.to_string().contains(want), "{b}: {e}");
        }
    }

    fn b64_encode(b: &[u8]) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b)
    }
}
