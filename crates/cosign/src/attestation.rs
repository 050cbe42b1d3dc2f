//! cosign's image attestations (`cosign attest` / `verify-attestation`): an in-toto
//! statement about an image, signed in a DSSE envelope, stored either as a Sigstore
//! bundle referrer (cosign 3's default) or as a layer of the image's `.att` artifact
//! (`--new-bundle-format=false`; the same manifest and config shapes as `.sig`).
//!
//! The statement is written as cosign 3.1.1 writes it (protojson of the in-toto
//! `Statement`): `{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":…,
//! "digest":{"sha256":…}}],"predicateType":…,"predicate":…}` — v0.1 in both storage
//! formats — with the predicate as a protobuf `Struct`: keys sorted, every number a
//! float64, no HTML escaping. cosign reads typed predicates (SLSA, in-toto link…)
//! through Go structs first, which drops fields it does not know; airsign keeps the
//! predicate document whole.

use crate::keys::PublicKey;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::bundle::{self, Bundle, MAX_BUNDLE};
use crate::digest::Digest;
use crate::signature::identity::IdentityPolicy;
use crate::signature::verify::verify_signature;
use crate::signature::{SigLayer, SignatureArtifact};
use crate::store::Descriptor;
use crate::store::resolve::{Catalog, EntryName, artifact_name};
use crate::trust::TrustedRoot;
use crate::{Error, Result};

/// The media type of an `.att` layer: a DSSE envelope.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The `.att` layer annotation naming the statement's predicate type.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";
/// The statement type cosign writes for attestations (v3 too).
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// `--type custom`'s predicate type.
pub const CUSTOM: &str = "https://cosign.sigstore.dev/attestation/v1";
/// Largest predicate file read.
pub const MAX_PREDICATE: u64 = 512 * 1024;

/// cosign's `--type` names and their predicate type URIs.
const TYPES: [(&str, &str); 10] = [
    ("custom", CUSTOM),
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("spdx", "https://spdx.dev/Document"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("link", "https://in-toto.io/Link/v1"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
    ("openvex", "https://openvex.dev/ns"),
];

/// `attest --type`: a cosign name, or a URI (`scheme:…`, as Go's
/// `url.ParseRequestURI` accepts an absolute URI); anything else is refused.
pub fn predicate_type(kind: &str) -> Result<String> {
    if let Some((_, uri)) = TYPES.iter().find(|(n, _)| *n == kind) {
        return Ok((*uri).to_owned());
    }
    let is_uri = kind.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    }) && !kind.chars().any(|c| c.is_whitespace() || c.is_control());
    if is_uri {
        Ok(kind.to_owned())
    } else {
        Err(Error::Usage(format!(
            "--type {:?}: invalid predicate type; use one of {} or a URI",
            crate::digest::printable(kind),
            TYPES.map(|(n, _)| n).join("|")
        )))
    }
}

/// `verify-attestation --type`: a cosign name's URI; anything else is compared as
/// it is (cosign does the same).
pub fn wanted_type(kind: &str) -> String {
    TYPES
        .iter()
        .find(|(n, _)| *n == kind)
        .map_or_else(|| kind.to_owned(), |(_, uri)| (*uri).to_owned())
}

/// The predicate from the `--predicate` file: for `custom`, `{"Data": the file as
/// text, "Timestamp": now}`; for every other type the file's JSON object.
pub fn predicate(predicate_type: &str, file: &[u8], now_rfc3339: &str) -> Result<Value> {
    if predicate_type == CUSTOM {
        let text = std::str::from_utf8(file)
            .map_err(|_| Error::invalid("the predicate is not UTF-8 text"))?;
        return Ok(serde_json::json!({"Data": text, "Timestamp": now_rfc3339}));
    }
    let v: Value = serde_json::from_slice(file)
        .map_err(|e| Error::invalid(format!("the predicate is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(Error::invalid(
            "the predicate is not a JSON object (an in-toto predicate is one)",
        ));
    }
    Ok(v)
}

/// The in-toto statement cosign 3.1.1 signs for `attest`: v0.1, the image's
/// repository and digest as the one subject.
pub fn statement(
    repository: &str,
    subject: &Digest,
    predicate_type: &str,
    predicate: &Value,
) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"_type":"#);
    push_proto_value(&mut out, &Value::String(STATEMENT_V01.to_owned()));
    out.push_str(r#","subject":[{"name":"#);
    push_proto_value(&mut out, &Value::String(repository.to_owned()));
    out.push_str(r#","digest":{"#);
    push_proto_value(
        &mut out,
        &Value::String(subject.algorithm().name().to_owned()),
    );
    out.push(':');
    push_proto_value(&mut out, &Value::String(subject.hex().to_owned()));
    out.push_str(r#"}}],"predicateType":"#);
    push_proto_value(&mut out, &Value::String(predicate_type.to_owned()));
    out.push_str(r#","predicate":"#);
    push_proto_value(&mut out, predicate);
    out.push('}');
    out.into_bytes()
}

/// A DSSE envelope as cosign 3 writes it (`json.Marshal` of the protobuf-specs
/// envelope): `{"payload","payloadType","signatures":[{"sig"}]}`.
pub fn envelope(payload_type: &str, payload: &[u8], signatures: &[Vec<u8>]) -> Vec<u8> {
    let b = |x: &[u8]| base64::engine::general_purpose::STANDARD.encode(x);
    let sigs: Vec<String> = signatures
        .iter()
        .map(|s| format!(r#"{{"sig":"{}"}}"#, b(s)))
        .collect();
    format!(
        r#"{{"payload":"{}","payloadType":{},"signatures":[{}]}}"#,
        b(payload),
        Value::String(payload_type.to_owned()),
        sigs.join(",")
    )
    .into_bytes()
}

/// An `.att` layer for `envelope`: cosign's empty signature annotation and the
/// predicate type.
pub fn att_layer(envelope: &[u8], predicate_type: &str) -> SigLayer {
    let mut layer = SigLayer::new(envelope, String::new());
    layer.media_type = DSSE_ENVELOPE.to_owned();
    layer.annotations.insert(
        PREDICATE_TYPE_ANNOTATION.to_owned(),
        predicate_type.to_owned(),
    );
    layer
}

/// A JSON value as protojson writes a `google.protobuf.Value`: object keys sorted,
/// numbers as float64 (Go's shortest form, exponent outside [1e-6, 1e21)), strings
/// escaped only where JSON requires.
pub fn push_proto_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => push_float(out, n.as_f64().unwrap_or(0.0)),
        Value::String(s) => {
            out.push_str(&serde_json::to_string(s).expect("a string serialises"));
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_proto_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).expect("a string serialises"));
                out.push(':');
                push_proto_value(out, &map[k]);
            }
            out.push('}');
        }
    }
}

fn push_float(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: 1e+21, 1.5e-7 (protojson drops the exponent's leading zero)
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => {
                out.push_str(m);
                out.push_str("e+");
                out.push_str(e);
            }
            _ => out.push_str(&s),
        }
    } else {
        out.push_str(&format!("{f}"));
    }
}

/// An image's attestations, read from its layout: the `.att` layers with their
/// envelope bytes, and the Sigstore bundle referrers of its digest.
pub struct Gathered {
    pub layers: Vec<(SigLayer, Result<Vec<u8>>)>,
    /// (the referrer manifest's digest, the bundle JSON)
    pub bundles: Vec<(Digest, Result<Vec<u8>>)>,
}

/// Reads the attestations of the image `name` (digest `digest`): its `.att` entry
/// (`REPO:sha256-<hex>.att`, or a `cosign save` layout's `atts` entry) and every
/// bundle referrer found as `verify` finds them.
pub fn gather(catalog: &Catalog<'_>, name: &EntryName, digest: &Digest) -> Result<Gathered> {
    let layout = catalog.layout();
    let bundles = crate::signature::policy::gather_bundles(catalog, name, digest)?;
    let att = match artifact_name(name, digest, "att") {
        Some(n) => catalog.named(&n),
        None => catalog
            .entries()
            .find(|(_, n)| {
                matches!(n, EntryName::Unnamed(Some(k)) if k == "dev.cosignproject.cosign/atts")
            })
            .map(|(d, _)| d),
    };
    let layers = match att {
        None => Vec::new(),
        Some(att) => SignatureArtifact::read(layout, att)?
            .layers
            .into_iter()
            .map(|layer| {
                let desc = Descriptor::new(&layer.media_type, layer.digest.clone(), layer.size);
                let envelope = layout.read_blob(&desc, MAX_BUNDLE);
                (layer, envelope)
            })
            .collect(),
    };
    Ok(Gathered { layers, bundles })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<RawSig>,
}

#[derive(Deserialize)]
struct RawSig {
    sig: String,
}

/// What attestations are verified with: a key, or keyless a pinned trusted root and
/// the identity the certificate must name.
#[derive(Clone, Copy, Debug)]
pub enum Verifier<'a> {
    Key(&'a PublicKey),
    Keyless(&'a TrustedRoot, &'a IdentityPolicy),
}

/// cosign's `verify-attestation --key` (or keyless, `--trusted-root`): every
/// attestation whose DSSE signature verifies with the key (or whose certificate and
/// transparency-log entry verify against the trusted root, [`crate::trust`]) and
/// whose statement names `digest` is kept; none → "no
/// matching attestations"; then those of `predicate_type` are returned, as the
/// envelope JSON cosign prints (an `.att` layer's bytes as stored; a bundle's
/// envelope), or "none of the attestations matched the predicate type".
pub fn judge(
    g: &Gathered,
    verifier: &Verifier<'_>,
    digest: &Digest,
    predicate_type: &str,
) -> Result<Vec<Vec<u8>>> {
    // (predicate type, what is printed)
    let mut verified: Vec<(String, Vec<u8>)> = Vec::new();
    let mut errors = Vec::new();
    for (i, (layer, raw)) in g.layers.iter().enumerate() {
        match check_layer(layer, raw, verifier, digest) {
            Ok(v) => verified.push(v),
            Err(e) => errors.push(format!(".att layer {}: {e}", i + 1)),
        }
    }
    for (referrer, raw) in &g.bundles {
        match check_bundle(raw, verifier, digest) {
            Ok(v) => verified.push(v),
            Err(e) => errors.push(format!("bundle {referrer}: {e}")),
        }
    }
    if verified.is_empty() {
        return Err(Error::invalid(format!(
            "no matching attestations: {}",
            if errors.is_empty() {
                "none found".to_owned()
            } else {
                errors.join("; ")
            }
        )));
    }
    let mut found: Vec<&str> = verified.iter().map(|(t, _)| t.as_str()).collect();
    found.sort_unstable();
    found.dedup();
    let found = found.join(",");
    let matching: Vec<Vec<u8>> = verified
        .iter()
        .filter(|(t, _)| t == predicate_type)
        .map(|(_, e)| e.clone())
        .collect();
    if matching.is_empty() {
        return Err(Error::invalid(format!(
            "none of the attestations matched the predicate type: {}, found: {}",
            crate::digest::printable(predicate_type),
            crate::digest::printable(&found)
        )));
    }
    Ok(matching)
}

fn check_layer(
    layer: &SigLayer,
    raw: &Result<Vec<u8>>,
    verifier: &Verifier<'_>,
    digest: &Digest,
) -> Result<(String, Vec<u8>)> {
    if layer.media_type != DSSE_ENVELOPE {
        return Err(Error::invalid(format!(
            "layer media type {} is not a DSSE envelope",
            crate::digest::printable(&layer.media_type)
        )));
    }
    let raw = raw.as_ref().map_err(|e| Error::invalid(e.to_string()))?;
    let env: RawEnvelope = serde_json::from_slice(raw)
        .map_err(|e| Error::invalid(format!("the DSSE envelope is not valid: {e}")))?;
    let b64 = |what: &str, s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| Error::invalid(format!("the envelope's {what} is not base64: {e}")))
    };
    let payload = b64("payload", &env.payload)?;
    let key = match verifier {
        Verifier::Key(key) => *key,
        Verifier::Keyless(root, policy) => {
            let cert = crate::signature::policy::layer_certificate(layer)?.ok_or_else(|| {
                Error::NoCertificate("no certificate found on the attestation".into())
            })?;
            let sigs = env
                .signatures
                .iter()
                .map(|s| b64("signature", &s.sig))
                .collect::<Result<Vec<_>>>()?;
            crate::trust::legacy::verify_envelope_layer(
                &env.payload_type,
                &payload,
                &sigs,
                &cert,
                layer
                    .annotations
                    .get(crate::signature::BUNDLE_ANNOTATION)
                    .map(String::as_str),
                root,
                policy,
            )?;
            let statement = bundle::check_statement(&env.payload_type, &payload, digest, None)?;
            return Ok((statement_type(&statement), raw.clone()));
        }
    };
    let pae = bundle::pae(&env.payload_type, &payload);
    let mut ok = false;
    let mut last = None;
    for s in &env.signatures {
        match b64("signature", &s.sig).and_then(|sig| verify_signature(key, &pae, &sig)) {
            Ok(()) => {
                ok = true;
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    if !ok {
        return Err(last.unwrap_or_else(|| Error::invalid("the DSSE envelope has no signature")));
    }
    let statement = bundle::check_statement(&env.payload_type, &payload, digest, None)?;
    Ok((statement_type(&statement), raw.clone()))
}

fn check_bundle(
    raw: &Result<Vec<u8>>,
    verifier: &Verifier<'_>,
    digest: &Digest,
) -> Result<(String, Vec<u8>)> {
    let raw = raw.as_ref().map_err(|e| Error::invalid(e.to_string()))?;
    let b = Bundle::parse(raw)?;
    let (payload_type, payload) = match verifier {
        Verifier::Key(key) => b.verify_dsse(key)?,
        Verifier::Keyless(root, policy) => {
            let bundle::Content::Dsse {
                payload_type,
                payload,
                ..
            } = &b.content
            else {
                return Err(Error::invalid(
                    "the bundle holds a message signature, not an attestation",
                ));
            };
            crate::trust::keyless::verify_bundle(raw, root, policy, digest)?;
            (payload_type.as_str(), payload.as_slice())
        }
    };
    let statement = bundle::check_statement(payload_type, payload, digest, None)?;
    let bundle::Content::Dsse { signatures, .. } = &b.content else {
        unreachable!("verify_dsse accepted it");
    };
    Ok((
        statement_type(&statement),
        envelope(payload_type, payload, signatures),
    ))
}

fn statement_type(statement: &Value) -> String {
    statement
        .get("predicateType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_predicate_is_written_as_protojson_writes_a_struct() {
        let v: Value = serde_json::from_str(
            r#"{ "z": 1, "a": [1.50, 2e3, 12345678901234567890, "x<>&\u00e9", 1e21, 0.0000001, -0.0], "m": {"b":null,"a":true} }"#,
        )
        .unwrap();
        let mut s = String::new();
        push_proto_value(&mut s, &v);
        // cosign 3.1.1's bytes for the same file (the last three checked by Go's rules)
        assert_eq!(
            s,
            r#"{"a":[1.5,2000,12345678901234567000,"x<>&é",1e+21,1e-7,-0],"m":{"a":true,"b":null},"z":1}"#
        );
    }

    #[test]
    fn a_statement_is_what_cosign_3_1_1_signs() {
        let d: Digest = "sha256:87a0bbd518e444cc53593183783682d6864c23a69713509cd176ddb3cfbfb018"
            .parse()
            .unwrap();
        let p = predicate(
            "https://slsa.dev/provenance/v0.2",
            br#"{"buildType":"x","builder":{"id":"me"}}"#,
            "",
        )
        .unwrap();
        let st = statement(
            "127.0.0.1:5931/demo/app",
            &d,
            "https://slsa.dev/provenance/v0.2",
            &p,
        );
        assert_eq!(
            String::from_utf8(st).unwrap(),
            r#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"127.0.0.1:5931/demo/app","digest":{"sha256":"87a0bbd518e444cc53593183783682d6864c23a69713509cd176ddb3cfbfb018"}}],"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"buildType":"x","builder":{"id":"me"}}}"#
        );
        let custom =
            predicate(CUSTOM, b"hello\nworld \"q\" <b>\n", "2026-12-05T01:41:50Z").unwrap();
        let mut s = String::new();
        push_proto_value(&mut s, &custom);
        assert_eq!(
            s,
            r#"{"Data":"hello\nworld \"q\" <b>\n","Timestamp":"2026-12-05T01:41:50Z"}"#
        );
    }

    #[test]
    fn types_are_cosign_names_or_uris() {
        assert_eq!(
            predicate_type("slsaprovenance").unwrap(),
            "https://slsa.dev/provenance/v0.2"
        );
        assert_eq!(predicate_type("custom").unwrap(), CUSTOM);
        assert_eq!(
            predicate_type("https://example.com/t/v1").unwrap(),
            "https://example.com/t/v1"
        );
        assert!(predicate_type("bogus").is_err());
        assert!(predicate_type("").is_err());
        assert_eq!(wanted_type("bogus"), "bogus");
        assert!(predicate(CUSTOM, b"\xff", "").is_err());
        assert!(predicate("https://x/y", b"not json", "").is_err());
        assert!(predicate("https://x/y", b"[1]", "").is_err());
    }
}
