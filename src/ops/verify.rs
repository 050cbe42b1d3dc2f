//! `airsign verify`: cosign's legacy verification, offline. Each layer of the image's
//! `.sig` is checked (signature, digest claim, `-a` claims); the image passes when at
//! least one does. stdout: the verified payloads (JSON array, or raw with `-o text`);
//! stderr: the checks performed. Exit codes as cosign: 10 no signatures, 11 image not
//! found, 12 none matched.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use p256::ecdsa::VerifyingKey;

use crate::keys;
use crate::payload;
use crate::signature::verify::{
    check_claims, cosign_json, decode_base64_signature, verify_signature,
};
use crate::signature::{MAX_PAYLOAD, SIMPLESIGNING, SignatureArtifact};
use crate::store::resolve::{Catalog, EntryName, signature_entry};
use crate::store::{Descriptor, ReadLayout};
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Output {
    #[default]
    Json,
    Text,
}

#[derive(Debug, Default)]
pub struct VerifyOptions {
    pub key: Option<String>,
    pub certificate_chain: Option<std::path::PathBuf>,
    pub ca_roots: Option<std::path::PathBuf>,
    pub ca_intermediates: Option<std::path::PathBuf>,
    pub annotations: Vec<String>,
    pub output: Output,
}

pub fn run(store: &Path, images: &[String], opts: &VerifyOptions) -> Result<()> {
    if images.is_empty() {
        return Err(Error::Usage("name at least one image to verify".into()));
    }
    let required = payload::parse_annotations(&opts.annotations)?;
    let Some(key_ref) = &opts.key else {
        return Err(Error::Usage(
            "verifying without --key (by certificate) is not supported yet; pass --key".into(),
        ));
    };
    let key = keys::load_public_key(key_ref)?;
    for image in images {
        let verified = verify_image(store, image, &key, &required)?;
        report(image, &verified, &required, opts.output)?;
    }
    Ok(())
}

/// The verified payloads of one image (at least one, or an error with cosign's code).
pub fn verify_image(
    store: &Path,
    image: &str,
    key: &VerifyingKey,
    required: &BTreeMap<String, String>,
) -> Result<Vec<(Vec<u8>, serde_json::Value)>> {
    let (layout, query) = super::open_image_read(store, image).map_err(not_found)?;
    let catalog = Catalog::open(layout.as_ref())?;
    let found = catalog.resolve(&query).map_err(not_found)?;
    let digest = found.descriptor.digest.clone();
    let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
    let Some(sig) = signature_entry(&catalog, &name, &digest) else {
        return Err(Error::NoSignatures(format!(
            "no signatures found for {image} ({digest})"
        )));
    };
    let artifact = SignatureArtifact::read(layout.as_ref(), sig)?;
    if artifact.layers.is_empty() {
        return Err(Error::NoSignatures(format!(
            "no signatures found for {image} ({digest})"
        )));
    }
    let mut verified = Vec::new();
    let mut errors = Vec::new();
    for (i, layer) in artifact.layers.iter().enumerate() {
        match check_layer(layout.as_ref(), layer, key, &digest, required) {
            Ok(v) => verified.push(v),
            Err(e) => errors.push(format!("signature {}: {e}", i + 1)),
        }
    }
    if verified.is_empty() {
        return Err(Error::NoMatchingSignatures(format!(
            "no matching signatures for {image}: {}",
            errors.join("; ")
        )));
    }
    Ok(verified)
}

fn check_layer(
    layout: &dyn ReadLayout,
    layer: &crate::signature::SigLayer,
    key: &VerifyingKey,
    digest: &crate::digest::Digest,
    required: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, serde_json::Value)> {
    if layer.media_type != SIMPLESIGNING {
        return Err(Error::invalid(format!(
            "layer media type {} is not a simple-signing payload",
            layer.media_type
        )));
    }
    let sig_text = layer.signature().ok_or_else(|| {
        Error::invalid("the layer has no dev.cosignproject.cosign/signature annotation")
    })?;
    let desc = Descriptor::new(&layer.media_type, layer.digest.clone(), layer.size);
    let payload = layout.read_blob(&desc, MAX_PAYLOAD)?;
    let sig = decode_base64_signature(sig_text)?;
    verify_signature(key, &payload, &sig)?;
    let v = check_claims(&payload, digest, required)?;
    Ok((payload, v))
}

fn report(
    image: &str,
    verified: &[(Vec<u8>, serde_json::Value)],
    required: &BTreeMap<String, String>,
    output: Output,
) -> Result<()> {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\nVerification for {image} --");
    let _ = writeln!(
        err,
        "The following checks were performed on each of these signatures:"
    );
    if !required.is_empty() {
        let _ = writeln!(err, "  - The specified annotations were verified.");
    }
    let _ = writeln!(err, "  - The cosign claims were validated");
    let _ = writeln!(
        err,
        "  - The signatures were verified against the specified public key"
    );
    let mut out = std::io::stdout().lock();
    let result = match output {
        Output::Json => {
            let items: Vec<String> = verified.iter().map(|(_, v)| cosign_json(v)).collect();
            writeln!(out, "\n[{}]", items.join(","))
        }
        Output::Text => verified.iter().try_for_each(|(raw, _)| {
            out.write_all(raw)?;
            out.write_all(b"\n")
        }),
    };
    result
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing stdout", e))
}

/// A missing image (or layout) is cosign's exit code 11.
fn not_found(e: Error) -> Error {
    match e {
        Error::NotFound(m) => Error::ImageNotFound(m),
        e => e,
    }
}
