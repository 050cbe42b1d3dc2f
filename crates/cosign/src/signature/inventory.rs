//! Every signature and attestation of an image and of each of its platform
//! manifests, whatever the format — `.sig` layers, `.att` layers, Sigstore bundles
//! (signatures and attestations), notation signatures, SBOMs and other referrers —
//! with who signed it and, given a key or CAs, whether it verifies: what
//! `airsign signatures` prints (cosign's `tree`, with more).

use std::collections::BTreeMap;

use serde::Serialize;

use super::policy::{Trust, check_layer, check_raw_bundle, layer_certificate};
use super::{MAX_PAYLOAD, SignatureArtifact};
use crate::bundle::{Bundle, COSIGN_SIGN_PREDICATE, Content, MAX_BUNDLE, Material, is_bundle_type};
use crate::digest::Digest;
use crate::store::manifest::{self, Document, MAX_MANIFEST};
use crate::store::resolve::{Catalog, EntryName, artifact_name, referrers_name, signature_entry};
use crate::store::{Descriptor, Kind};
use crate::{Error, Result};

/// One signature, attestation or other referrer.
#[derive(Debug, Serialize)]
pub struct Listed {
    /// The manifest it is about: the image, or one of its platform manifests.
    pub subject: String,
    /// That manifest's platform (`linux/amd64`), for a platform manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `sig`, `att`, `bundle` (a cosign 3 signature), `bundle-attestation`,
    /// `notation`, `sbom` or `other`.
    pub format: &'static str,
    /// Where it is: the `.sig`/`.att` entry (and layer number), or the referrer's
    /// digest.
    pub location: String,
    /// `key <cosign hint>`, `key`, or the certificate's first SAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The certificate's OIDC issuer (Fulcio extension), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// The signed annotations (`optional` of a payload, the statement subject's
    /// annotations), or a referrer's manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// With a key, CAs or a trusted root: whether it verifies; `None` when not checked (no trust
    /// given, or a format airsign does not verify).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Why it does not verify, or could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn strings(v: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    v.and_then(serde_json::Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything that signs, attests or refers to the image `root` (named `name`;
/// `image` as the user named it) and its platform manifests.
pub fn inventory(
    catalog: &Catalog<'_>,
    name: &EntryName,
    root: &Descriptor,
    image: &str,
    trust: Option<&Trust>,
) -> Result<Vec<Listed>> {
    let layout = catalog.layout();
    let mut subjects: Vec<(Digest, Option<String>)> = vec![(root.digest.clone(), None)];
    if root.kind() == Kind::Index {
        for c in manifest::index_children(layout, root)? {
            if c.kind() != Kind::Blob {
                subjects.push((
                    c.digest.clone(),
                    c.platform.as_ref().map(ToString::to_string),
                ));
            }
        }
    }
    let none = BTreeMap::new();
    let mut out = Vec::new();
    for (digest, platform) in subjects {
        let base = |format: &'static str, location: String| Listed {
            subject: digest.to_string(),
            platform: platform.clone(),
            format,
            location,
            signer: None,
            issuer: None,
            predicate_type: None,
            annotations: BTreeMap::new(),
            verified: None,
            error: None,
        };
        // .sig layers
        if let Some(sig) = signature_entry(catalog, name, &digest) {
            let entry = sig.ref_name().unwrap_or("sig").to_owned();
            for (i, layer) in SignatureArtifact::read(layout, sig)?
                .layers
                .into_iter()
                .enumerate()
            {
                let mut l = base("sig", format!("{entry} #{}", i + 1));
                let desc = Descriptor::new(&layer.media_type, layer.digest.clone(), layer.size);
                let payload = layout.read_blob(&desc, MAX_PAYLOAD);
                if let Ok(p) = &payload
                    && let Ok(v) = serde_json::from_slice::<serde_json::Value>(p)
                {
                    l.annotations = strings(v.get("optional"));
                }
                match layer_certificate(&layer) {
                    Ok(Some(cert)) => {
                        l.signer = cert.first_san();
                        l.issuer = cert.fulcio_issuer();
                    }
                    Ok(None) => l.signer = Some("key".into()),
                    Err(e) => l.error = Some(e.to_string()),
                }
                if let Some(trust) = trust {
                    match check_layer(&layer, &payload, trust, &digest, &none) {
                        Ok(_) => l.verified = Some(true),
                        Err(e) => {
                            l.verified = Some(false);
                            l.error = Some(e.to_string());
                        }
                    }
                }
                out.push(l);
            }
        }
        // .att layers (DSSE envelopes; listed, not verified here)
        if let Some(att) = artifact_name(name, &digest, "att").and_then(|n| catalog.named(&n)) {
            let entry = att.ref_name().unwrap_or("att").to_owned();
            for (i, layer) in SignatureArtifact::read(layout, att)?
                .layers
                .into_iter()
                .enumerate()
            {
                let mut l = base("att", format!("{entry} #{}", i + 1));
                l.predicate_type = layer.annotations.get("predicateType").cloned();
                out.push(l);
            }
        }
        // referrers, by the repository's fallback listing
        let Some(listing) = referrers_name(name, &digest).and_then(|n| catalog.named(&n)) else {
            continue;
        };
        for r in manifest::index_children(layout, listing)? {
            let mut l = base("other", r.digest.to_string());
            l.annotations = r.annotations.clone();
            let raw = match layout.read_blob(&r, MAX_MANIFEST) {
                Ok(raw) => raw,
                Err(e) => {
                    l.error = Some(e.to_string());
                    out.push(l);
                    continue;
                }
            };
            let Ok(Document::Manifest {
                layers,
                artifact_type,
                config,
                ..
            }) = manifest::parse(&raw, &r, "referrer")
            else {
                out.push(l);
                continue;
            };
            let kind = artifact_type
                .or_else(|| r.artifact_type.clone())
                .unwrap_or_else(|| config.media_type.clone());
            l.predicate_type = Some(kind.clone());
            if kind == "application/vnd.cncf.notary.signature" {
                l.format = "notation";
            } else if kind.contains("spdx") || kind.contains("cyclonedx") || kind.contains("sbom") {
                l.format = "sbom";
            }
            let Some(b) = layers.iter().find(|x| is_bundle_type(&x.media_type)) else {
                out.push(l);
                continue;
            };
            l.format = "bundle";
            let bundle_raw = layout.read_blob(b, MAX_BUNDLE);
            match bundle_raw
                .as_ref()
                .map_err(|e| Error::invalid(e.to_string()))
                .and_then(|x| Bundle::parse(x))
            {
                Err(e) => l.error = Some(e.to_string()),
                Ok(bundle) => {
                    if let Material::PublicKey { hint } = &bundle.material {
                        l.signer = Some(
                            hint.as_ref()
                                .map_or_else(|| "key".into(), |h| format!("key {h}")),
                        );
                    }
                    if let Some(der) = bundle.material.leaf_der()
                        && let Ok(cert) = super::certs::Cert::from_der(der.to_vec())
                    {
                        l.signer = cert.first_san();
                        l.issuer = cert.fulcio_issuer();
                    }
                    if let Content::Dsse { payload, .. } = &bundle.content
                        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload)
                    {
                        let pt = v
                            .get("predicateType")
                            .and_then(|x| x.as_str())
                            .unwrap_or("");
                        l.predicate_type = Some(pt.to_owned());
                        if pt != COSIGN_SIGN_PREDICATE {
                            l.format = "bundle-attestation";
                        }
                        l.annotations = strings(v.pointer("/subject/0/annotations"));
                    }
                    if let Some(trust) = trust
                        && l.format == "bundle"
                    {
                        let raw = bundle_raw.as_deref().unwrap_or_default();
                        match check_raw_bundle(raw, &bundle, trust, image, &digest, &none) {
                            Ok(_) => l.verified = Some(true),
                            Err(e) => {
                                l.verified = Some(false);
                                l.error = Some(e.to_string());
                            }
                        }
                    }
                }
            }
            out.push(l);
        }
    }
    Ok(out)
}
