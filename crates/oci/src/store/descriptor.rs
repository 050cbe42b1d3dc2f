//! Descriptors and `index.json`, the one document of a layout airsign writes itself.
//! Unknown descriptor fields (`urls`, `data`, future ones) are carried along verbatim.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The annotation naming an `index.json` entry (a tag, or in the store a full reference).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation `cosign save` uses instead of names.
pub const COSIGN_KIND: &str = "kind";

/// Largest `index.json` we read: enough for hundreds of thousands of entries, small
/// enough that a hostile one cannot exhaust memory.
pub const MAX_INDEX_JSON: u64 = 64 * 1024 * 1024;

/// What a media type says a blob is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Manifest,
    Index,
    /// Config, layer, or anything else: an opaque blob with no children.
    Blob,
}

impl Kind {
    pub fn of(media_type: &str) -> Kind {
        match media_type {
            OCI_MANIFEST | DOCKER_MANIFEST => Kind::Manifest,
            OCI_INDEX | DOCKER_MANIFEST_LIST => Kind::Index,
            _ => Kind::Blob,
        }
    }
}

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[serde(deserialize_with = "de_digest")]
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
            extra: serde_json::Map::new(),
        }
    }

    pub fn kind(&self) -> Kind {
        Kind::of(&self.media_type)
    }

    pub fn ref_name(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn de_digest<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// `index.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_owned()),
            manifests: Vec::new(),
            annotations: BTreeMap::new(),
            extra: serde_json::Map::new(),
        }
    }
}

impl Index {
    /// An OCI index listing `manifests` and nothing else: how a layout, and a
    /// registry without the Referrers API, lists the referrers of a manifest at its
    /// `sha256-<hex>` fallback tag.
    pub fn listing(manifests: Vec<Descriptor>) -> Index {
        Index {
            manifests,
            ..Index::default()
        }
    }

    /// The bytes of an index airsign made (`index.json`, a referrers listing):
    /// compact JSON, fields in struct order. Never for an index read from elsewhere,
    /// whose own bytes are kept.
    pub fn to_bytes(&self) -> Vec<u8> {
        // string keys and plain values only: serialising cannot fail
        serde_json::to_vec(self).expect("an Index serialises")
    }

    /// Adds an entry named `name`; an entry of the same name is replaced (a tag
    /// moves), so a name is never listed twice.
    pub fn set_named(&mut self, name: &str, desc: Descriptor) {
        self.set_named_many(std::iter::once((name.to_owned(), desc)));
    }

    /// [`Index::set_named`] for many entries at once, in one pass over the index (a
    /// bulk sign names thousands of `.sig` entries; one scan each would be quadratic).
    pub fn set_named_many(&mut self, entries: impl IntoIterator<Item = (String, Descriptor)>) {
        let mut position: std::collections::HashMap<String, usize> = self
            .manifests
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.ref_name().map(|n| (n.to_owned(), i)))
            .collect();
        for (name, mut desc) in entries {
            desc.annotations.insert(REF_NAME.to_owned(), name.clone());
            match position.get(&name) {
                Some(&i) => self.manifests[i] = desc,
                None => {
                    position.insert(name, self.manifests.len());
                    self.manifests.push(desc);
                }
            }
        }
    }
}
