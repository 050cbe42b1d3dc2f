//! Reading and writing the `.sig` image. Written bytes follow go-containerregistry's
//! `json.Marshal` of `v1.Manifest` and `v1.ConfigFile` field by field, so for the same
//! layers airsign and cosign produce identical manifests and configs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::{MAX_LAYERS, SIMPLESIGNING};
use crate::digest::Digest;
use crate::gojson;
use crate::store::ReadLayout;
use crate::store::descriptor::{Descriptor, OCI_MANIFEST};
use crate::store::manifest::{self, Document, MAX_MANIFEST};
use crate::{Error, Result};

/// The image config media type cosign's `.sig` uses.
pub const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_IMAGE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Go's zero `time.Time`, as ggcr writes it.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One signature: a payload layer and its annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigLayer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
}

impl SigLayer {
    /// A new simple-signing layer for `payload` signed with `signature_b64`.
    pub fn new(payload: &[u8], signature_b64: String) -> SigLayer {
        let mut annotations = BTreeMap::new();
        annotations.insert(super::SIGNATURE_ANNOTATION.to_owned(), signature_b64);
        SigLayer {
            media_type: SIMPLESIGNING.to_owned(),
            digest: Digest::sha256(payload),
            size: payload.len() as u64,
            annotations,
        }
    }

    pub fn signature(&self) -> Option<&str> {
        self.annotations
            .get(super::SIGNATURE_ANNOTATION)
            .map(String::as_str)
    }

    /// The same signature as `other`: the same payload blob with the same
    /// annotations (signature, certificate, bundle …).
    pub fn same_signature(&self, other: &SigLayer) -> bool {
        self.digest == other.digest && self.annotations == other.annotations
    }
}

/// A layer as a manifest lists it.
impl From<Descriptor> for SigLayer {
    fn from(d: Descriptor) -> SigLayer {
        SigLayer {
            media_type: d.media_type,
            digest: d.digest,
            size: d.size,
            annotations: d.annotations,
        }
    }
}

/// A `.sig` image: its layers and its config.
#[derive(Clone, Debug)]
pub struct SignatureArtifact {
    manifest_media_type: String,
    config: Config,
    pub layers: Vec<SigLayer>,
}

#[derive(Clone, Debug)]
enum Config {
    /// An image config: re-marshalled with one more diff_id and history entry per
    /// appended layer, as ggcr's `mutate.Append` does.
    Image {
        media_type: String,
        file: ConfigFile,
    },
    /// Any other config is kept byte for byte, and gets no diff_ids (ggcr does the same).
    Opaque {
        descriptor: Descriptor,
        raw: Vec<u8>,
    },
}

impl Default for SignatureArtifact {
    fn default() -> Self {
        SignatureArtifact {
            manifest_media_type: OCI_MANIFEST.to_owned(),
            config: Config::Image {
                media_type: IMAGE_CONFIG.to_owned(),
                file: ConfigFile::default(),
            },
            layers: Vec::new(),
        }
    }
}

impl SignatureArtifact {
    /// Reads an existing `.sig` image from a layout.
    pub fn read(layout: &dyn ReadLayout, desc: &Descriptor) -> Result<SignatureArtifact> {
        Self::check_kind(desc)?;
        let raw = layout.read_blob(desc, MAX_MANIFEST)?;
        Self::from_manifest(desc, &raw, |config| layout.read_blob(config, MAX_MANIFEST))
    }

    /// A `.sig` image from its manifest's bytes, which the caller holds (fetched,
    /// not stored yet); `read_config` fetches the config the manifest names.
    pub fn from_manifest(
        desc: &Descriptor,
        raw: &[u8],
        read_config: impl FnOnce(&Descriptor) -> Result<Vec<u8>>,
    ) -> Result<SignatureArtifact> {
        Self::check_kind(desc)?;
        let what = format!("signature manifest {}", desc.digest);
        let Document::Manifest { config, layers, .. } = manifest::parse(raw, desc, &what)? else {
            unreachable!("a manifest descriptor parses as a manifest");
        };
        if layers.len() > MAX_LAYERS {
            return Err(Error::invalid(format!(
                "{what}: {} layers, more than cosign's limit of {MAX_LAYERS}",
                layers.len()
            )));
        }
        let config_raw = read_config(&config)?;
        let config = if config.media_type == IMAGE_CONFIG
            || config.media_type == DOCKER_IMAGE_CONFIG
        {
            let file: ConfigFile = serde_json::from_slice(&config_raw)
                .map_err(|e| Error::invalid(format!("{what}: config {}: {e}", config.digest)))?;
            Config::Image {
                media_type: config.media_type.clone(),
                file,
            }
        } else {
            Config::Opaque {
                descriptor: *config,
                raw: config_raw,
            }
        };
        Ok(SignatureArtifact {
            manifest_media_type: desc.media_type.clone(),
            config,
            layers: layers.into_iter().map(SigLayer::from).collect(),
        })
    }

    fn check_kind(desc: &Descriptor) -> Result<()> {
        if desc.kind() != crate::store::Kind::Manifest {
            return Err(Error::invalid(format!(
                "signature manifest {}: media type {} is not an image manifest",
                desc.digest, desc.media_type
            )));
        }
        Ok(())
    }

    /// Appends a layer, with its diff_id and an empty history entry.
    pub fn append(&mut self, layer: SigLayer) -> Result<()> {
        if self.layers.len() >= MAX_LAYERS {
            return Err(Error::invalid(format!(
                "the signature image already has {MAX_LAYERS} layers, cosign's limit"
            )));
        }
        if let Config::Image { file, .. } = &mut self.config {
            file.rootfs.diff_ids.push(layer.digest.to_string());
            file.history.push(History {
                created: Some(ZERO_TIME.to_owned()),
                ..History::default()
            });
        }
        self.layers.push(layer);
        Ok(())
    }

    /// Whether every signature of `other` is among this artifact's.
    pub fn holds_all_of(&self, other: &SignatureArtifact) -> bool {
        other
            .layers
            .iter()
            .all(|o| self.layers.iter().any(|l| l.same_signature(o)))
    }

    /// This artifact with each signature of `other` it lacks appended, in `other`'s
    /// order, as `cosign sign` appends: two `.sig` images of one digest combined so
    /// that neither loses a signature (pull, import and sync meet them).
    pub fn merged_with(mut self, other: &SignatureArtifact) -> Result<SignatureArtifact> {
        for o in &other.layers {
            if !self.layers.iter().any(|l| l.same_signature(o)) {
                self.append(o.clone())?;
            }
        }
        Ok(self)
    }

    /// The config blob and the manifest blob, in that order of need.
    pub fn to_bytes(&self) -> (Vec<u8>, Vec<u8>) {
        let (config_mt, config_raw) = match &self.config {
            Config::Image { media_type, file } => (media_type.clone(), file.to_json()),
            Config::Opaque { descriptor, raw } => (descriptor.media_type.clone(), raw.clone()),
        };
        let mut m = String::with_capacity(256 + 200 * self.layers.len());
        m.push_str(r#"{"schemaVersion":2,"mediaType":"#);
        gojson::push_string(&mut m, &self.manifest_media_type);
        m.push_str(r#","config":"#);
        push_descriptor(
            &mut m,
            &config_mt,
            &Digest::sha256(&config_raw),
            config_raw.len() as u64,
            &BTreeMap::new(),
        );
        m.push_str(r#","layers":["#);
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                m.push(',');
            }
            push_descriptor(&mut m, &l.media_type, &l.digest, l.size, &l.annotations);
        }
        m.push_str("]}");
        (config_raw, m.into_bytes())
    }
}

/// ggcr `v1.Descriptor`: mediaType, size, digest, then annotations (sorted keys).
fn push_descriptor(
    out: &mut String,
    media_type: &str,
    digest: &Digest,
    size: u64,
    annotations: &BTreeMap<String, String>,
) {
    out.push_str(r#"{"mediaType":"#);
    gojson::push_string(out, media_type);
    let _ = write!(out, r#","size":{size},"digest":"{digest}""#);
    if !annotations.is_empty() {
        out.push_str(r#","annotations":{"#);
        for (i, (k, v)) in annotations.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            gojson::push_string(out, k);
            out.push(':');
            gojson::push_string(out, v);
        }
        out.push('}');
    }
    out.push('}');
}

/// The fields of ggcr's `v1.ConfigFile`, in its declaration order.
#[derive(Clone, Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    container: String,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    docker_version: String,
    #[serde(default)]
    history: Vec<History>,
    #[serde(default)]
    os: String,
    #[serde(default)]
    rootfs: RootFs,
    #[serde(default)]
    config: Option<serde_json::Value>,
    #[serde(rename = "os.version", default)]
    os_version: String,
    #[serde(default)]
    variant: String,
    #[serde(rename = "os.features", default)]
    os_features: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct RootFs {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct History {
    #[serde(default)]
    author: String,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    empty_layer: bool,
}

impl ConfigFile {
    /// `json.Marshal(v1.ConfigFile)`: `omitempty` strings and slices vanish when empty;
    /// `created` (a struct) and `config` never do.
    fn to_json(&self) -> Vec<u8> {
        let mut s = String::with_capacity(128 + 80 * self.rootfs.diff_ids.len());
        s.push_str(r#"{"architecture":"#);
        gojson::push_string(&mut s, &self.architecture);
        push_opt(&mut s, "author", &self.author);
        push_opt(&mut s, "container", &self.container);
        s.push_str(r#","created":"#);
        gojson::push_string(&mut s, self.created.as_deref().unwrap_or(ZERO_TIME));
        push_opt(&mut s, "docker_version", &self.docker_version);
        if !self.history.is_empty() {
            s.push_str(r#","history":["#);
            for (i, h) in self.history.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push('{');
                let mut first = true;
                let mut field = |s: &mut String, k: &str, v: &str| {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    gojson::push_string(s, k);
                    s.push(':');
                    gojson::push_string(s, v);
                };
                if !h.author.is_empty() {
                    field(&mut s, "author", &h.author);
                }
                field(&mut s, "created", h.created.as_deref().unwrap_or(ZERO_TIME));
                if !h.created_by.is_empty() {
                    field(&mut s, "created_by", &h.created_by);
                }
                if !h.comment.is_empty() {
                    field(&mut s, "comment", &h.comment);
                }
                if h.empty_layer {
                    s.push_str(r#","empty_layer":true"#);
                }
                s.push('}');
            }
            s.push(']');
        }
        s.push_str(r#","os":"#);
        gojson::push_string(&mut s, &self.os);
        s.push_str(r#","rootfs":{"type":"#);
        gojson::push_string(&mut s, self.rootfs.kind.as_deref().unwrap_or("layers"));
        s.push_str(r#","diff_ids":"#);
        if self.rootfs.diff_ids.is_empty() {
            s.push_str("null");
        } else {
            s.push('[');
            for (i, d) in self.rootfs.diff_ids.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                gojson::push_string(&mut s, d);
            }
            s.push(']');
        }
        s.push_str(r#"},"config":"#);
        match &self.config {
            Some(v) if !v.is_null() => {
                s.push_str(&serde_json::to_string(v).expect("a Value serialises"))
            }
            _ => s.push_str("{}"),
        }
        push_opt(&mut s, "os.version", &self.os_version);
        push_opt(&mut s, "variant", &self.variant);
        if !self.os_features.is_empty() {
            s.push_str(r#","os.features":"#);
            s.push_str(&serde_json::to_string(&self.os_features).expect("strings serialise"));
        }
        s.push('}');
        s.into_bytes()
    }
}

fn push_opt(s: &mut String, key: &str, value: &str) {
    if !value.is_empty() {
        s.push(',');
        gojson::push_string(s, key);
        s.push(':');
        gojson::push_string(s, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_layer_matches_cosign_shape() {
        let payload = br#"{"critical":{}}"#;
        let mut a = SignatureArtifact::default();
        a.append(SigLayer::new(payload, "MEUCIQ==".into())).unwrap();
        let (config, manifest) = a.to_bytes();
        let d = Digest::sha256(payload);
        assert_eq!(
            String::from_utf8(config.clone()).unwrap(),
            format!(
                r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{d}"]}},"config":{{}}}}"#
            )
        );
        assert_eq!(
            String::from_utf8(manifest).unwrap(),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":{},"digest":"{d}","annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQ=="}}}}]}}"#,
                config.len(),
                Digest::sha256(&config),
                payload.len()
            )
        );
    }

    #[test]
    fn merging_keeps_every_signature_once_and_knows_a_superset() {
        let art = |sigs: &[&str]| {
            let mut a = SignatureArtifact::default();
            for s in sigs {
                a.append(SigLayer::new(b"payload", (*s).into())).unwrap();
            }
            a
        };
        let (k1, k2, both) = (art(&["K1"]), art(&["K2"]), art(&["K1", "K2"]));
        assert!(both.holds_all_of(&k1) && both.holds_all_of(&k2));
        assert!(!k1.holds_all_of(&k2) && !k1.holds_all_of(&both));
        // the same payload with another signature is another layer
        let merged = k2.clone().merged_with(&k1).unwrap();
        let sigs: Vec<_> = merged
            .layers
            .iter()
            .map(|l| l.signature().unwrap())
            .collect();
        assert_eq!(sigs, ["K2", "K1"]);
        // nothing twice: merging what is already there changes nothing
        let again = merged.clone().merged_with(&both).unwrap();
        assert_eq!(again.to_bytes(), merged.to_bytes());
    }
}
