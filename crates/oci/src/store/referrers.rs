//! OCI 1.1 referrers (manifests with a `subject`) found in a layout, wherever it
//! keeps them. No spec says where a layout keeps referrers, and the tools disagree,
//! so all three places are read:
//!
//! - a **listing**: an index entry at the fallback tag `sha256-<hex>` (`REPO:sha256-…`
//!   in the store), as registries without the referrers API keep them (airsign,
//!   ggcr, regclient);
//! - an **untagged entry** of `index.json` whose manifest has a `subject` (`oras cp
//!   --to-oci-layout`, `oras backup`, `notation sign --oci-layout`);
//! - a **blob** no entry names, whose content has a `subject` (`cosign save` of
//!   cosign 3 bundles, oras without fallback tags) — found only by scanning.
//!
//! A listed referrer belongs to the repository of its listing; an untagged or
//! blob-only one names no repository and goes with every image it refers to.

use std::collections::{BTreeMap, HashSet};

use super::descriptor::{Descriptor, Kind, OCI_INDEX, OCI_MANIFEST};
use super::manifest::{self, MAX_MANIFEST};
use super::resolve::{Catalog, EntryName};
use crate::Result;
use crate::digest::Digest;

/// One referrer: its descriptor (media type, size, and the `artifactType` and
/// annotations pulled up as the referrers API lists them) and where it was found.
#[derive(Clone, Debug)]
pub struct Referrer {
    pub desc: Descriptor,
    /// The listing entry's name (`REPO:sha256-<hex>` or a bare `sha256-<hex>`);
    /// `None` for an untagged entry or a blob.
    pub listed_by: Option<String>,
}

/// Every referrer of a layout, by subject digest.
#[derive(Debug, Default)]
pub struct Referrers {
    pub by_subject: BTreeMap<Digest, Vec<Referrer>>,
    /// Digests of `index.json` entries that are referrers (untagged, with a
    /// subject): they are not images, whatever their entry looks like.
    pub entries: HashSet<Digest>,
}

impl Referrers {
    /// Finds every referrer in `catalog`'s layout. `scan_blobs` also reads every
    /// unnamed manifest-sized JSON blob (for layouts other tools wrote; the store
    /// lists everything it holds, so it need not be scanned).
    pub fn discover(catalog: &Catalog<'_>, scan_blobs: bool) -> Result<Referrers> {
        let layout = catalog.layout();
        let mut out = Referrers::default();
        let mut known: HashSet<Digest> = HashSet::new();
        for (desc, name) in catalog.entries() {
            known.insert(desc.digest.clone());
            if let Some(subject) = listing_subject(desc, name) {
                let listing = match name {
                    EntryName::Full(r) => r.to_string(),
                    EntryName::Tag(t) => t.clone(),
                    EntryName::Unnamed(_) => unreachable!("a listing has a tag"),
                };
                for c in manifest::index_children(layout, desc)? {
                    known.insert(c.digest.clone());
                    out.add(
                        subject.clone(),
                        Referrer {
                            desc: c,
                            listed_by: Some(listing.clone()),
                        },
                    );
                }
            } else if matches!(name, EntryName::Unnamed(None)) && desc.kind() != Kind::Blob {
                let raw = layout.read_blob(desc, MAX_MANIFEST)?;
                if let Some((subject, d)) = referrer_of(&raw, desc.digest.clone(), desc.size) {
                    out.entries.insert(desc.digest.clone());
                    out.add(
                        subject,
                        Referrer {
                            desc: d,
                            listed_by: None,
                        },
                    );
                }
            }
        }
        if scan_blobs {
            for (d, size) in layout.blob_list()? {
                if size > MAX_MANIFEST || known.contains(&d) {
                    continue;
                }
                if !looks_like_json(&layout.peek(&d, 64)?) {
                    continue;
                }
                let raw = layout.read_blob(&Descriptor::new("", d.clone(), size), MAX_MANIFEST)?;
                if let Some((subject, desc)) = referrer_of(&raw, d, size) {
                    out.add(
                        subject,
                        Referrer {
                            desc,
                            listed_by: None,
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    fn add(&mut self, subject: Digest, r: Referrer) {
        let v = self.by_subject.entry(subject).or_default();
        if !v
            .iter()
            .any(|x| x.desc.digest == r.desc.digest && x.listed_by == r.listed_by)
        {
            v.push(r);
        }
    }

    /// The referrers of `subject` that name no repository (untagged entries and
    /// blobs), and those a listing called `listing` lists.
    pub fn for_listing<'a>(
        &'a self,
        subject: &Digest,
        listing: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Referrer> + 'a {
        self.by_subject
            .get(subject)
            .into_iter()
            .flatten()
            .filter(move |r| r.listed_by.is_none() || r.listed_by.as_deref() == listing)
    }

    /// The referrers of `subject` that name no repository.
    pub fn unlisted<'a>(&'a self, subject: &Digest) -> impl Iterator<Item = &'a Referrer> + 'a {
        self.for_listing(subject, None)
    }

    /// Every referrer any listing lists.
    pub fn listed(&self) -> impl Iterator<Item = &Referrer> {
        self.by_subject
            .values()
            .flatten()
            .filter(|r| r.listed_by.is_some())
    }
}

/// If the entry is a referrers listing — an index at a fallback tag `sha256-<hex>`
/// (no `.sig`/`.att`/`.sbom` suffix) — the subject its tag names.
pub fn listing_subject(desc: &Descriptor, name: &EntryName) -> Option<Digest> {
    if desc.kind() != Kind::Index {
        return None;
    }
    let t = name.tag()?;
    let (alg, hex) = t.split_once('-')?;
    let d = format!("{alg}:{hex}").parse::<Digest>().ok()?;
    (d.tag_form() == t).then_some(d)
}

/// If `raw` is an OCI manifest or index with a `subject`, that subject and the
/// referrer's descriptor (artifact type and annotations pulled up, as the referrers
/// API lists them).
pub fn referrer_of(raw: &[u8], d: Digest, size: u64) -> Option<(Digest, Descriptor)> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        #[serde(rename = "artifactType")]
        artifact_type: Option<String>,
        subject: Option<Subject>,
        config: Option<ConfigProbe>,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    #[derive(serde::Deserialize)]
    struct Subject {
        digest: String,
    }
    #[derive(serde::Deserialize)]
    struct ConfigProbe {
        #[serde(rename = "mediaType")]
        media_type: String,
    }
    let p = serde_json::from_slice::<Probe>(raw).ok()?;
    // (a manifest may omit its mediaType, as umoci's do; an index may not)
    let mt = match (p.media_type, &p.config) {
        (Some(mt), _) => mt,
        (None, Some(_)) => OCI_MANIFEST.to_owned(),
        (None, None) => return None,
    };
    let subject = p.subject?.digest.parse::<Digest>().ok()?;
    if mt != OCI_MANIFEST && mt != OCI_INDEX {
        return None;
    }
    let mut desc = Descriptor::new(&mt, d, size);
    desc.artifact_type = p.artifact_type.or(p.config.map(|c| c.media_type));
    desc.annotations = p.annotations;
    Some((subject, desc))
}

fn looks_like_json(head: &[u8]) -> bool {
    head.iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|&c| c == b'{')
}
