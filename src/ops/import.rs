//! `airsign import SRC [REF...]`: copy images from an OCI layout into the store,
//! every digest kept, every blob hashed on the way in. Nothing lands unless all of it
//! checks out: blobs are staged, and the store's `index.json` changes once, at the end.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;

use crate::digest::Digest;
use crate::reference::{Location, Reference};
use crate::store::descriptor::{COSIGN_KIND, REF_NAME};
use crate::store::manifest::{self, MAX_MANIFEST};
use crate::store::resolve::{Catalog, EntryName};
use crate::store::{Descriptor, Kind, Layout, ReadLayout, Transaction};
use crate::{Error, Result};

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub images: Vec<Imported>,
    /// Blobs written (those already in the store are skipped).
    pub new_blobs: u64,
    pub new_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Imported {
    pub reference: String,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
}

/// What `import` was asked to do besides its source.
#[derive(Debug, Default)]
pub struct ImportOptions {
    pub repository: Option<String>,
    /// `FROM=TO` repository renames (issue 4; not applied yet).
    pub rename: Vec<String>,
    /// Admission key (issue 4; not applied yet).
    pub verify_key: Option<String>,
    pub json: bool,
}

pub fn run(store: &Path, src: &str, refs: &[String], opts: &ImportOptions) -> Result<()> {
    let repository = opts.repository.as_deref();
    let json = opts.json;
    if !opts.rename.is_empty() || opts.verify_key.is_some() {
        return Err(Error::Usage(
            "--rename and --verify-key are not supported yet".into(),
        ));
    }
    let (source, inline_ref): (Box<dyn ReadLayout>, _) = match Location::parse(src)? {
        Location::Layout { path, reference } => (Box::new(Layout::open(&path)?), reference),
        Location::Archive { path, reference } => (super::open_archive(&path)?, reference),
        Location::DockerArchive { .. } => {
            return Err(Error::Usage(
                "importing docker-archive: tarballs is not supported yet".into(),
            ));
        }
        Location::Store(_) => {
            return Err(Error::Usage(format!(
                "{src:?}: the source must be oci:DIR[:REF] or oci-archive:FILE[:REF]"
            )));
        }
    };
    let mut wanted: Vec<String> = inline_ref.into_iter().collect();
    wanted.extend(refs.iter().cloned());
    let repository = repository
        .map(|r| {
            let parsed = Reference::parse(r)?;
            if r.contains('@') || r.rsplit('/').next().is_some_and(|last| last.contains(':')) {
                return Err(Error::Usage(format!(
                    "--repository {r:?}: give a repository without tag or digest"
                )));
            }
            Ok(parsed.name())
        })
        .transpose()?;

    let store = super::store::open(store)?;
    let summary = import(source.as_ref(), &store, &wanted, repository.as_deref())?;

    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("serialisable")
        );
    } else {
        for i in &summary.images {
            println!("{}  {}", i.reference, i.digest);
        }
        eprintln!(
            "imported {} image(s) into {}: {} new blob(s), {} new byte(s)",
            summary.images.len(),
            store.root().display(),
            summary.new_blobs,
            summary.new_bytes
        );
    }
    Ok(())
}

/// Copies the `wanted` entries of `source` (all when empty) into `store`.
pub fn import(
    source: &dyn ReadLayout,
    store: &Layout,
    wanted: &[String],
    repository: Option<&str>,
) -> Result<Summary> {
    // Fail before staging anything if the store itself is damaged.
    store.read_index()?;
    let catalog = Catalog::open(source)?;
    let index = &catalog.index;
    let entries: Vec<(Descriptor, Option<EntryName>)> = if wanted.is_empty() {
        index
            .manifests
            .iter()
            .map(|d| (d.clone(), Some(EntryName::of(d))))
            .collect()
    } else {
        wanted
            .iter()
            .map(|q| catalog.find(Some(q)).map(|f| (f.descriptor, f.name)))
            .collect::<Result<_>>()?
    };
    if entries.is_empty() {
        return Err(Error::NotFound(format!(
            "{} holds no image",
            source.location().display()
        )));
    }

    // Name everything before copying a byte, so a naming problem changes nothing.
    let mut named = Vec::with_capacity(entries.len());
    for (desc, name) in entries {
        let name = store_name(&desc, name.as_ref(), repository, source)?;
        named.push((desc, name));
    }

    let mut tx = store.begin()?;
    let mut summary = Summary::default();
    let mut seen = HashSet::new();
    for (desc, _) in &named {
        copy_tree(source, &mut tx, desc, &mut seen, &mut summary)?;
    }
    tx.commit(|idx| {
        for (desc, name) in &named {
            let mut entry = desc.clone();
            entry.annotations.remove(REF_NAME);
            entry.annotations.remove(COSIGN_KIND);
            idx.set_named(name, entry);
        }
        Ok(())
    })?;
    summary.images = named
        .into_iter()
        .map(|(d, name)| Imported {
            reference: name,
            digest: d.digest,
            media_type: d.media_type,
        })
        .collect();
    Ok(summary)
}

/// The full reference an entry gets in the store.
fn store_name(
    desc: &Descriptor,
    name: Option<&EntryName>,
    repository: Option<&str>,
    source: &dyn ReadLayout,
) -> Result<String> {
    match name {
        Some(EntryName::Full(r)) => match r.tag() {
            Some(tag) => Ok(format!("{}:{tag}", r.name())),
            // Found by digest below an index: the store names images by tag.
            None => Err(Error::Usage(format!(
                "{r} has no tag; import the tagged image it belongs to"
            ))),
        },
        Some(EntryName::Tag(t)) => match repository {
            Some(repo) => Ok(Reference::with_tag(repo, t)?.to_string()),
            None => Err(Error::Usage(format!(
                "{}: entry {t:?} ({}) has only a tag; pass --repository REGISTRY/REPO to name it",
                source.location().display(),
                desc.digest
            ))),
        },
        Some(EntryName::Unnamed(_)) | None => Err(Error::Usage(format!(
            "{}: entry {} has no name (a cosign save layout?); importing unnamed entries is not supported yet",
            source.location().display(),
            desc.digest
        ))),
    }
}

/// Stages `desc` and everything below it, validating each manifest and index.
fn copy_tree(
    source: &dyn ReadLayout,
    tx: &mut Transaction<'_>,
    root: &Descriptor,
    seen: &mut HashSet<Digest>,
    summary: &mut Summary,
) -> Result<()> {
    let mut stack = vec![root.clone()];
    while let Some(desc) = stack.pop() {
        if !seen.insert(desc.digest.clone()) {
            continue;
        }
        if desc.kind() != Kind::Blob {
            let raw = source
                .read_blob(&desc, MAX_MANIFEST)
                .map_err(|e| in_source(source, e))?;
            let doc = manifest::parse(&raw, &desc, &format!("{} {}", desc.media_type, desc.digest))
                .map_err(|e| in_source(source, e))?;
            stack.extend(doc.children().into_iter().cloned());
            if tx.put_blob(&desc.digest, desc.size, &mut &raw[..])? {
                summary.new_blobs += 1;
                summary.new_bytes += desc.size;
            }
            continue;
        }
        if tx.has_blob(&desc.digest)? {
            continue;
        }
        let Some((mut file, len)) = source.open_blob(&desc.digest)? else {
            return Err(Error::NotFound(format!(
                "{}: blob {} ({}) is missing",
                source.location().display(),
                desc.digest,
                desc.media_type
            )));
        };
        if len != desc.size {
            return Err(Error::invalid(format!(
                "{}: blob {} is {len} bytes, its descriptor says {}",
                source.location().display(),
                desc.digest,
                desc.size
            )));
        }
        if tx
            .put_blob(&desc.digest, desc.size, &mut file)
            .map_err(|e| in_source(source, e))?
        {
            summary.new_blobs += 1;
            summary.new_bytes += desc.size;
        }
    }
    Ok(())
}

fn in_source(source: &dyn ReadLayout, e: Error) -> Error {
    match e {
        Error::Invalid(m) if !m.contains(&*source.location().to_string_lossy()) => {
            Error::Invalid(format!("{}: {m}", source.location().display()))
        }
        e => e,
    }
}
