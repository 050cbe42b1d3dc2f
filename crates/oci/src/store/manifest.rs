//! Validating and walking manifests and indexes. The raw bytes stay the truth: this
//! module parses them (with oci-spec) only to check them and to list the descriptors
//! they point to; nothing here ever serialises a manifest again.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::descriptor::{Descriptor, Kind, Platform};
use super::source::ReadLayout;
use crate::digest::printable;
use crate::{Error, Result};

/// Largest manifest or index accepted, as registries do (distribution's limit).
pub const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// How deep indexes may nest (an index of indexes of manifests is already rare);
/// import, pull and sync refuse deeper trees alike, so whatever comes in can go out.
pub const MAX_DEPTH: usize = 8;

/// A parsed manifest or index.
#[derive(Clone, Debug)]
pub enum Document {
    Manifest {
        media_type: String,
        config: Box<Descriptor>,
        layers: Vec<Descriptor>,
        subject: Option<Descriptor>,
        artifact_type: Option<String>,
    },
    Index {
        media_type: String,
        manifests: Vec<Descriptor>,
        subject: Option<Descriptor>,
    },
}

impl Document {
    /// The descriptors whose blobs must be present for this document to be complete,
    /// in document order. The `subject` is not among them: a referrer may point to an
    /// image that lives elsewhere.
    pub fn children(&self) -> Vec<&Descriptor> {
        match self {
            Document::Manifest { config, layers, .. } => std::iter::once(config.as_ref())
                .chain(layers.iter())
                .collect(),
            Document::Index { manifests, .. } => manifests.iter().collect(),
        }
    }

    pub fn media_type(&self) -> &str {
        match self {
            Document::Manifest { media_type, .. } | Document::Index { media_type, .. } => {
                media_type
            }
        }
    }

    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Document::Manifest { subject, .. } | Document::Index { subject, .. } => {
                subject.as_ref()
            }
        }
    }
}

/// The descriptors an index in `layout` lists (read and validated); nothing for
/// anything that is not an index.
pub fn index_children(layout: &dyn ReadLayout, desc: &Descriptor) -> Result<Vec<Descriptor>> {
    if desc.kind() != Kind::Index {
        return Ok(Vec::new());
    }
    let raw = layout.read_blob(desc, MAX_MANIFEST)?;
    let doc = parse(&raw, desc, &format!("index {}", desc.digest))?;
    Ok(doc.children().into_iter().cloned().collect())
}

/// The top-level fields that decide what a document is. serde refuses a duplicated
/// field here, which closes the "two `mediaType`s" parser-differential trick.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<IgnoredAny>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<IgnoredAny>,
    layers: Option<IgnoredAny>,
    config: Option<IgnoredAny>,
}

/// Parses and validates the raw bytes of the manifest or index that `desc` describes
/// (the caller has already checked size and digest). `what` names it in errors.
pub fn parse(raw: &[u8], desc: &Descriptor, what: &str) -> Result<Document> {
    let bad = |why: String| Error::invalid(format!("{what}: {why}"));
    if raw.len() as u64 > MAX_MANIFEST {
        return Err(bad(format!("larger than {} bytes", MAX_MANIFEST)));
    }
    let probe: Probe = serde_json::from_slice(raw)
        .map_err(|e| bad(format!("malformed JSON: {}", one_line(&e))))?;
    if probe.schema_version.is_none() {
        return Err(bad("no schemaVersion".into()));
    }
    if probe.manifests.is_some() && (probe.layers.is_some() || probe.config.is_some()) {
        return Err(bad(
            "has both \"manifests\" and \"layers\"/\"config\": ambiguous".into(),
        ));
    }
    if let Some(mt) = &probe.media_type
        && *mt != desc.media_type
    {
        return Err(bad(format!(
            "its mediaType {:?} disagrees with its descriptor's {:?}",
            printable(mt),
            printable(&desc.media_type)
        )));
    }
    let media_type = desc.media_type.clone();
    match desc.kind() {
        Kind::Manifest => {
            if probe.manifests.is_some() {
                return Err(bad("an image manifest with \"manifests\"".into()));
            }
            let m: oci_spec::image::ImageManifest = serde_json::from_slice(raw)
                .map_err(|e| bad(format!("not a valid image manifest: {}", one_line(&e))))?;
            if m.schema_version() != 2 {
                return Err(bad(format!(
                    "schemaVersion {} (2 expected)",
                    m.schema_version()
                )));
            }
            Ok(Document::Manifest {
                media_type,
                config: Box::new(convert(m.config()).map_err(&bad)?),
                layers: m
                    .layers()
                    .iter()
                    .map(convert)
                    .collect::<Result<_, _>>()
                    .map_err(&bad)?,
                subject: m
                    .subject()
                    .as_ref()
                    .map(convert)
                    .transpose()
                    .map_err(&bad)?,
                artifact_type: m.artifact_type().as_ref().map(ToString::to_string),
            })
        }
        Kind::Index => {
            if probe.layers.is_some() || probe.config.is_some() {
                return Err(bad("an image index with \"layers\"/\"config\"".into()));
            }
            let i: oci_spec::image::ImageIndex = serde_json::from_slice(raw)
                .map_err(|e| bad(format!("not a valid image index: {}", one_line(&e))))?;
            if i.schema_version() != 2 {
                return Err(bad(format!(
                    "schemaVersion {} (2 expected)",
                    i.schema_version()
                )));
            }
            Ok(Document::Index {
                media_type,
                manifests: i
                    .manifests()
                    .iter()
                    .map(convert)
                    .collect::<Result<_, _>>()
                    .map_err(&bad)?,
                subject: i
                    .subject()
                    .as_ref()
                    .map(convert)
                    .transpose()
                    .map_err(&bad)?,
            })
        }
        Kind::Blob => Err(bad(format!(
            "media type {:?} is not a manifest or an index",
            printable(&desc.media_type)
        ))),
    }
}

/// A parser's error as one line without control characters: oci-spec quotes an invalid
/// digest raw, so a manifest could put newlines or terminal escapes in our messages.
fn one_line(e: &dyn std::fmt::Display) -> String {
    let mut out = String::new();
    for c in e.to_string().chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// oci-spec's descriptor → ours, re-validating the digest with our stricter rules
/// (known algorithm only, since the digest will become a path).
fn convert(d: &oci_spec::image::Descriptor) -> std::result::Result<Descriptor, String> {
    let digest = d
        .digest()
        .to_string()
        .parse()
        .map_err(|e: Error| e.to_string())?;
    let mut out = Descriptor::new(d.media_type().as_ref(), digest, d.size());
    out.platform = d.platform().as_ref().map(|p| Platform {
        architecture: p.architecture().to_string(),
        os: p.os().to_string(),
        os_version: p.os_version().clone(),
        os_features: p.os_features().clone(),
        variant: p.variant().clone(),
    });
    out.artifact_type = d.artifact_type().as_ref().map(ToString::to_string);
    if let Some(a) = d.annotations() {
        out.annotations = a.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::store::descriptor::{OCI_INDEX, OCI_MANIFEST};

    const H: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// Found by the `manifest` fuzz target: oci-spec quotes an invalid digest raw in
    /// its error, so a newline (or a terminal escape) in a manifest's digest reached
    /// airsign's one-line error messages as it was.
    #[test]
    fn regression_fuzz_manifest_error_newline() {
        let bad = r#"{"mediaType":"application/octet-stream","digest":"sha256:ab\nc\u001b[31m","size":1}"#;
        let index = format!(r#"{{"schemaVersion":2,"manifests":[{bad}]}}"#);
        let manifest = format!(r#"{{"schemaVersion":2,"config":{bad},"layers":[]}}"#);
        for (mt, raw) in [(OCI_INDEX, index), (OCI_MANIFEST, manifest)] {
            let err = parse(raw.as_bytes(), &desc(mt, raw.as_bytes()), "doc")
                .unwrap_err()
                .to_string();
            assert!(!err.chars().any(char::is_control), "{mt}: {err:?}");
            assert!(err.contains(r"ab\nc\u{1b}[31m"), "{mt}: {err}");
        }
    }

    fn desc(mt: &str, raw: &[u8]) -> Descriptor {
        Descriptor::new(mt, Digest::sha256(raw), raw.len() as u64)
    }

    fn manifest() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{H}","size":0}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{H}","size":0}}]}}"#
        )
    }

    #[test]
    fn walks_a_manifest() {
        let raw = manifest();
        let d = parse(raw.as_bytes(), &desc(OCI_MANIFEST, raw.as_bytes()), "m").unwrap();
        assert_eq!(d.children().len(), 2);
    }

    #[test]
    fn refuses_ambiguous_and_mismatched_documents() {
        let both = manifest().replace(r#""layers""#, r#""manifests":[],"layers""#);
        let e = parse(both.as_bytes(), &desc(OCI_MANIFEST, both.as_bytes()), "m").unwrap_err();
        assert!(e.to_string().contains("both"), "{e}");

        let raw = manifest();
        let e = parse(raw.as_bytes(), &desc(OCI_INDEX, raw.as_bytes()), "m").unwrap_err();
        assert!(e.to_string().contains("disagrees"), "{e}");

        let dup = manifest().replacen("{", &format!(r#"{{"mediaType":"{OCI_INDEX}","#), 1);
        assert!(parse(dup.as_bytes(), &desc(OCI_MANIFEST, dup.as_bytes()), "m").is_err());

        for junk in ["", "{", "[]", "null", r#"{"schemaVersion":2}"#] {
            assert!(parse(junk.as_bytes(), &desc(OCI_MANIFEST, junk.as_bytes()), "m").is_err());
        }

        let evil = manifest().replace(
            &format!("sha256:{H}\",\"size\":0}}]"),
            "sha256:../../x\",\"size\":0}]",
        );
        assert!(parse(evil.as_bytes(), &desc(OCI_MANIFEST, evil.as_bytes()), "m").is_err());
    }
}
