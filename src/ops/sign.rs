//! `airsign sign`: cosign's `sign`, offline. Payloads are signed with a local key and
//! stored in the layout as cosign `.sig` images (`--upload`, the default), or only
//! written to the output files (`--upload=false`). No network connection, ever.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::sig_store::{NewBundle, NewSignature, append_signatures_streamed};
use crate::bundle::{self, IN_TOTO, Material};
use crate::digest::Digest;
use crate::keys::{self, Signer};
use crate::payload;
use crate::reference::{Location, Reference};
use crate::signature::certs;
use crate::signature::policy::listing_has_bundle;
use crate::signature::verify::verify_signature;
use crate::signature::{
    CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SIGNATURE_ANNOTATION, SigLayer, SignatureArtifact,
};
use crate::store::manifest::{self, MAX_MANIFEST};
use crate::store::resolve::{Catalog, EntryName, Found, Query, artifact_name, is_artifact};
use crate::store::{Descriptor, Kind, Layout, ReadLayout};
use crate::{Error, Result};

/// Everything `sign` was asked to do.
#[derive(Debug, Default)]
pub struct SignOptions {
    pub key: String,
    pub annotations: Vec<String>,
    pub payload: Option<PathBuf>,
    pub upload: bool,
    pub output_signature: Option<PathBuf>,
    pub output_payload: Option<PathBuf>,
    pub output_certificate: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    pub certificate_chain: Option<PathBuf>,
    pub recursive: bool,
    pub identity: Option<String>,
    pub all: bool,
    pub yes: bool,
    /// Which formats the signature is stored in (`--new-bundle-format`).
    pub new_bundle_format: Formats,
}

/// How a signature is stored in the layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Formats {
    /// The `.sig` layer, plus a bundle for a manifest that already carries Sigstore
    /// bundles (cosign 3 reads only bundles then): whatever is there, every cosign
    /// and skopeo finds our signature, and an image without bundles costs no more.
    #[default]
    Auto,
    /// A layer of the `.sig` artifact (cosign 2, skopeo).
    Sig,
    /// A Sigstore bundle referrer (cosign 3).
    Bundle,
    /// Both.
    Both,
}

/// One manifest (or index) to sign.
#[derive(Debug, Clone)]
struct Target {
    /// What the user called it, for messages.
    display: String,
    digest: Digest,
    /// The signed manifest's media type and size (a bundle referrer's `subject`).
    media_type: String,
    size: u64,
    /// The payload's `docker-reference`.
    identity: String,
    /// The `index.json` name of its `.sig` entry.
    sig_name: String,
}

pub fn run(store: &Path, images: &[String], opts: &SignOptions) -> Result<()> {
    // a key reference nothing can open (a KMS without its plugin) is refused before
    // anything is read
    keys::KeyRef::parse(&opts.key)?;
    if images.is_empty() && !opts.all {
        return Err(Error::Usage(
            "name at least one image, or pass --all".into(),
        ));
    }
    let annotations = payload::parse_annotations(&opts.annotations)?;
    let fixed_payload = match &opts.payload {
        Some(p) => Some(super::read_file(p, crate::signature::MAX_PAYLOAD)?),
        None => None,
    };
    // a conflict of flags is refused before anything is read or asked for
    let (write_sig, write_bundle) = match (opts.new_bundle_format, &fixed_payload) {
        (Formats::Bundle | Formats::Both, Some(_)) => {
            return Err(Error::Usage(
                "--payload signs a simple-signing payload (the .sig format): it cannot be \
                 written as a bundle; drop --new-bundle-format"
                    .into(),
            ));
        }
        (Formats::Sig | Formats::Auto, _) => (true, false),
        (Formats::Both, None) => (true, true),
        (Formats::Bundle, None) => (false, true),
    };

    // Output files land after the layout changed: check their directories first, so a
    // typo there does not leave a half-done job.
    super::check_output_dirs(
        [
            &opts.output_signature,
            &opts.output_payload,
            &opts.output_certificate,
        ]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path),
    )?;

    // A key file whose password is in COSIGN_PASSWORD asks nothing: open it before
    // the store is read, so that its scrypt KDF (64 MiB for a moment) does not come
    // on top of the pages reading the store left to the allocator (peak RSS of a
    // 10,000-image `sign --all`: 100 MiB before, see docs/benchmarks.md). Not for an
    // archive, whose images are signed by a nested call.
    let in_archive = images
        .iter()
        .any(|i| matches!(Location::parse(i), Ok(Location::Archive { .. })));
    let early_key = if !in_archive && keys::opens_without_asking(&opts.key) {
        Some(keys::load_signer(&opts.key)?)
    } else {
        None
    };

    // Resolve every image before asking for a password: a typo costs no prompt.
    let mut catalogs = super::Catalogs::new();
    let mut groups: Vec<(usize, Vec<Target>)> = Vec::new();
    let add = |groups: &mut Vec<(usize, Vec<Target>)>, i: usize, targets: Vec<Target>| match groups
        .iter_mut()
        .find(|(g, _)| *g == i)
    {
        Some((_, t)) => t.extend(targets),
        None => groups.push((i, targets)),
    };
    // each image's root, to check it whole before anything is signed
    let mut roots: Vec<(usize, Descriptor, String)> = Vec::new();
    if opts.all {
        let i = catalogs.store_catalog(store)?;
        let mut mine = Vec::new();
        let targets = all_targets(catalogs.catalog(i), opts, &mut mine)?;
        roots.extend(mine.into_iter().map(|(d, s)| (i, d, s)));
        add(&mut groups, i, targets);
    }
    // Images inside oci-archive tarballs: each archive is signed on a copy, then
    // replaced in one rename (see `sign_in_archive`).
    let mut archives: Vec<(PathBuf, Vec<Option<String>>)> = Vec::new();
    let mut in_layouts: Vec<String> = Vec::new();
    for image in images {
        match Location::parse(image)? {
            Location::Archive { path, reference } => {
                match archives.iter_mut().find(|(p, _)| *p == path) {
                    Some((_, refs)) => refs.push(reference),
                    None => archives.push((path, vec![reference])),
                }
            }
            _ => in_layouts.push(image.clone()),
        }
    }
    if !archives.is_empty() {
        if !in_layouts.is_empty() || opts.all {
            return Err(Error::Usage(
                "sign images in an oci-archive in a call of their own (not with --all or other images)".into(),
            ));
        }
        for (path, refs) in &archives {
            sign_in_archive(store, path, refs, opts)?;
        }
        return Ok(());
    }
    for image in images {
        let (i, query) = catalogs.lookup(store, image, true)?;
        let catalog = catalogs.catalog(i);
        let found = catalog.resolve(&query)?;
        if let Query::Reference(r) = &query
            && r.digest().is_none()
            && images.len() <= 20
        {
            eprintln!(
                "WARNING: {image} is a tag; signing the digest it points to now ({})",
                found.descriptor.digest
            );
        }
        let mut mine = Vec::new();
        let targets = expand(catalog.layout(), image, &found, opts, &mut mine)?;
        roots.extend(mine.into_iter().map(|(d, s)| (i, d, s)));
        add(&mut groups, i, targets);
    }
    check_roots(&catalogs, &roots)?;
    drop(roots);
    for (_, targets) in &mut groups {
        let mut seen = std::collections::HashSet::new();
        targets.retain(|t| seen.insert(t.sig_name.clone()));
    }
    let count: usize = groups.iter().map(|(_, t)| t.len()).sum();
    if count == 0 {
        return Err(Error::NotFound("no image to sign".into()));
    }
    if opts.all && !opts.yes && std::io::stdin().is_terminal() && !confirm(count)? {
        return Err(Error::Usage("not signing: not confirmed".into()));
    }

    // The catalogs are not needed any more: free them before the password KDF
    // (scrypt takes 64 MiB), so the two never add up.
    // --new-bundle-format unset: a bundle too where bundles are already
    let beside_bundles: std::collections::HashSet<String> =
        if opts.new_bundle_format == Formats::Auto && fixed_payload.is_none() {
            let mut with = std::collections::HashSet::new();
            for (i, targets) in &groups {
                for t in targets {
                    let listing = t.sig_name.strip_suffix(".sig").unwrap_or(&t.sig_name);
                    if listing_has_bundle(catalogs.catalog(*i), listing)? {
                        with.insert(t.sig_name.clone());
                    }
                }
            }
            with
        } else {
            std::collections::HashSet::new()
        };
    let groups: Vec<(Layout, Vec<Target>)> = groups
        .into_iter()
        .map(|(i, t)| {
            (
                catalogs.layout(i).expect("looked up as writable").clone(),
                t,
            )
        })
        .collect();
    drop(catalogs);

    // Certificate files are checked before the key's password is asked for; only
    // the key comparison needs the key.
    let certificate_input = read_certificates(opts)?;
    let leaf_der = certificate_input.as_ref().map(|c| c.leaf.der().to_vec());
    let key = match early_key {
        Some(key) => key,
        None => keys::load_signer(&opts.key)?,
    };
    let certificate = certificate_annotations(certificate_input, &key)?;
    let material = match leaf_der {
        Some(der) => Material::Certificate(der),
        None => Material::PublicKey {
            hint: Some(bundle::key_hint(&key.public_key())?),
        },
    };
    let created = certs::rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    );

    // A key that signs on every core signs while the signatures are stored: each
    // batch of blobs lands while the next is signed. A token or a plugin, which can
    // fail halfway (removed, logged out), signs everything before anything is
    // written, so that a failure leaves every layout as it was; so does a call that
    // signs in several layouts (one committed, the next failing, would be half done).
    let streamed = key.is_parallel() && opts.upload && write_sig && groups.len() == 1;
    let mut prepared: Vec<Prepared<'_>> = Vec::with_capacity(groups.len());
    for (layout, targets) in &groups {
        let payloads: Vec<Vec<u8>> = targets
            .iter()
            .map(|t| match &fixed_payload {
                Some(p) => {
                    super::warn_on_foreign_claim(p, &t.digest);
                    p.clone()
                }
                None => payload::simple_signing(&t.identity, &t.digest, &annotations),
            })
            .collect();
        let signatures = if streamed {
            None
        } else {
            Some(sign_all(&key, &payloads)?)
        };
        let bundled: Vec<&Target> = targets
            .iter()
            .filter(|t| write_bundle || beside_bundles.contains(&t.sig_name))
            .collect();
        let bundles: Vec<NewBundle> = if !bundled.is_empty() && opts.upload {
            let statements: Vec<Vec<u8>> = bundled
                .iter()
                .map(|t| bundle::sign_statement(&t.digest, &annotations))
                .collect();
            let pae: Vec<Vec<u8>> = statements
                .iter()
                .map(|st| bundle::pae(IN_TOTO, st))
                .collect();
            sign_all_der(&key, &pae)?
                .into_iter()
                .zip(bundled)
                .zip(statements)
                .map(|((der, t), statement)| NewBundle {
                    listing: t
                        .sig_name
                        .strip_suffix(".sig")
                        .unwrap_or(&t.sig_name)
                        .to_owned(),
                    subject: Descriptor::new(&t.media_type, t.digest.clone(), t.size),
                    bundle: bundle::dsse_bundle(IN_TOTO, &statement, &der, &material),
                    predicate_type: bundle::COSIGN_SIGN_PREDICATE.to_owned(),
                    created: created.clone(),
                    signed_by: Some(key.public_key()),
                })
                .collect()
        } else {
            Vec::new()
        };
        prepared.push(Prepared {
            layout,
            targets,
            payloads,
            signatures,
            bundles,
        });
    }
    let mut outputs: Vec<(Digest, Vec<u8>, String)> = Vec::with_capacity(count);
    for group in prepared {
        let signatures = if opts.upload {
            let (stored, signatures) = store_signatures(&group, write_sig, &key, &certificate)?;
            if stored.len() <= 20 {
                for t in group
                    .targets
                    .iter()
                    .filter(|t| stored.contains(&t.sig_name))
                {
                    eprintln!("Signed {} ({}) → {}", t.display, t.digest, t.sig_name);
                }
            } else {
                eprintln!(
                    "Signed {} manifest(s) in {}",
                    stored.len(),
                    group.layout.root().display()
                );
            }
            signatures
        } else {
            group.signatures.expect("signed above without --upload")
        };
        for ((t, p), b64) in group.targets.iter().zip(group.payloads).zip(signatures) {
            outputs.push((t.digest.clone(), p, b64));
        }
    }
    if !opts.upload {
        eprintln!("Signed {count} manifest(s); --upload=false: the layout is unchanged");
    }
    write_outputs(opts, &outputs, &key, &certificate)
}

/// Signs images inside an `oci-archive` (see [`super::rewrite`]); with
/// `--upload=false` the archive is left as it was and only the output files written.
fn sign_in_archive(
    store: &Path,
    archive: &Path,
    refs: &[Option<String>],
    opts: &SignOptions,
) -> Result<()> {
    super::rewrite::rewrite_archive(archive, |layout| {
        let images: Vec<String> = refs
            .iter()
            .map(|r| super::rewrite::image_in(layout, r.as_deref()))
            .collect();
        run(store, &images, opts)?;
        Ok(opts.upload)
    })
}

/// Every image of the store (not its signature artifacts).
fn all_targets(
    catalog: &Catalog<'_>,
    opts: &SignOptions,
    roots: &mut Vec<(Descriptor, String)>,
) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for (d, name) in catalog.entries() {
        if is_artifact(d) || d.kind() == Kind::Blob {
            continue;
        }
        let found = Found {
            descriptor: d.clone(),
            name: Some(name.clone()),
        };
        let display = d.ref_name().unwrap_or("<unnamed>").to_owned();
        out.extend(expand(catalog.layout(), &display, &found, opts, roots)?);
    }
    Ok(out)
}

/// Signs every payload, on all cores: signing is a large share of the CPU time of a
/// bulk `sign --all`. Base64 of the DER signatures, as `.sig`
/// annotations hold them.
fn sign_all(key: &Signer, payloads: &[Vec<u8>]) -> Result<Vec<String>> {
    Ok(sign_all_der(key, payloads)?
        .iter()
        .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
        .collect())
}

/// [`sign_all`], the DER signatures themselves. A token signs one at a time.
fn sign_all_der(key: &Signer, payloads: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    let sign = |p: &Vec<u8>| key.sign(p);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if payloads.len() < 64 || threads == 1 || !key.is_parallel() {
        return payloads.iter().map(sign).collect();
    }
    let chunk = payloads.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = payloads
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(sign).collect::<Result<Vec<_>>>()))
            .collect();
        let mut all = Vec::with_capacity(payloads.len());
        for h in handles {
            all.extend(h.join().expect("signing does not panic")?);
        }
        Ok(all)
    })
}

/// The signing targets of one image (its platform manifests too with `-r`); its
/// root goes to `roots`, to be checked whole and intact ([`check_roots`]) before
/// anything is signed.
fn expand(
    layout: &dyn ReadLayout,
    display: &str,
    found: &Found,
    opts: &SignOptions,
    roots: &mut Vec<(Descriptor, String)>,
) -> Result<Vec<Target>> {
    roots.push((found.descriptor.clone(), display.to_owned()));
    let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
    let identity = match (&opts.identity, &name) {
        (Some(id), _) => validate_identity(id)?,
        (None, EntryName::Full(r)) => r.name(),
        (None, _) => {
            return Err(Error::Usage(format!(
                "{display}: this entry has no repository name; pass --identity REGISTRY/REPO \
                 (the repository the image will have in the destination registry)"
            )));
        }
    };
    let mut subjects = vec![found.descriptor.clone()];
    if opts.recursive && found.descriptor.kind() == Kind::Index {
        let raw = layout.read_blob(&found.descriptor, MAX_MANIFEST)?;
        let doc = manifest::parse(
            &raw,
            &found.descriptor,
            &format!("index {}", found.descriptor.digest),
        )?;
        subjects.extend(
            doc.children()
                .into_iter()
                .filter(|c| c.kind() != Kind::Blob)
                .cloned(),
        );
    }
    subjects
        .into_iter()
        .map(|subject| {
            let digest = subject.digest;
            let sig_name = artifact_name(&name, &digest, "sig").ok_or_else(|| {
                Error::Usage(format!(
                    "{display}: an unnamed entry (cosign save layout) cannot hold signatures; \
                     import it into the store first"
                ))
            })?;
            Ok(Target {
                display: display.to_owned(),
                digest,
                media_type: subject.media_type,
                size: subject.size,
                identity: identity.clone(),
                sig_name,
            })
        })
        .collect()
}

/// Every image to sign must be whole and intact in its layout — a signature vouches
/// for content the store must really hold: checked on every core, each blob hashed
/// once per run; the first damaged image (in argument order) is the error.
fn check_roots(catalogs: &super::Catalogs, roots: &[(usize, Descriptor, String)]) -> Result<()> {
    use crate::store::graph::{Checked, ImageCheck, check_images};
    let mut checked: std::collections::HashMap<usize, Checked> = std::collections::HashMap::new();
    for (i, _, _) in roots {
        checked.entry(*i).or_default();
    }
    let images: Vec<ImageCheck<'_>> = roots
        .iter()
        .map(|(i, root, what)| ImageCheck {
            layout: catalogs.catalog(*i).layout(),
            root,
            what,
            checked: &checked[i],
        })
        .collect();
    check_images(&images).into_iter().collect()
}

/// `--identity` names a repository: `registry/repo`, no tag or digest, normalised.
fn validate_identity(id: &str) -> Result<String> {
    let r = Reference::parse(id).map_err(|e| Error::Usage(format!("--identity: {e}")))?;
    let last = id.rsplit('/').next().unwrap_or_default();
    if id.contains('@') || last.contains(':') {
        return Err(Error::Usage(format!(
            "--identity {id:?}: give the repository without tag or digest (skopeo's \
             matchRepository policy and cosign both check the repository)"
        )));
    }
    Ok(r.name())
}

/// One layout's images to sign, their payloads, and their signatures when they were
/// made before storing (see `run`).
struct Prepared<'a> {
    layout: &'a Layout,
    targets: &'a [Target],
    payloads: Vec<Vec<u8>>,
    /// The base64 signatures of the payloads; `None`: made while they are stored.
    signatures: Option<Vec<String>>,
    bundles: Vec<NewBundle>,
}

/// How many payloads are signed at a time when signing while storing: large enough
/// for every core, small enough that the first batch lands early.
const SIGN_CHUNK: usize = 2048;

/// Appends the new signatures to each image's `.sig` (unless `write_sig` is false:
/// bundles only), skipping duplicates as cosign does, and updates `index.json` once.
/// Signatures not made yet are made here, on another thread, while the ones before
/// them are stored. Returns the names of the entries written, and the base64
/// signatures in the order of the targets.
fn store_signatures(
    group: &Prepared<'_>,
    write_sig: bool,
    key: &Signer,
    certificate: &BTreeMap<String, String>,
) -> Result<(Vec<String>, Vec<String>)> {
    let public = key.public_key();
    let is_dup = |artifact: &SignatureArtifact, n: &NewSignature| {
        let dup = is_duplicate(artifact, &n.layer, &n.payload, &public);
        if dup {
            eprintln!(
                "{}: an equal signature is already there; skipped",
                n.sig_name
            );
        }
        dup
    };
    let new_signature = |t: &Target, payload_bytes: &Vec<u8>, b64: String| {
        let mut layer = SigLayer::new(payload_bytes, b64);
        layer.annotations.extend(certificate.clone());
        NewSignature {
            sig_name: t.sig_name.clone(),
            payload: payload_bytes.clone(),
            layer,
        }
    };
    let names: Vec<&str> = match write_sig {
        true => group.targets.iter().map(|t| t.sig_name.as_str()).collect(),
        false => Vec::new(),
    };
    if let Some(made) = &group.signatures {
        let news = group
            .targets
            .iter()
            .zip(&group.payloads)
            .zip(made)
            .take(names.len())
            .map(|((t, p), b64)| Ok(new_signature(t, p, b64.clone())));
        let stored =
            append_signatures_streamed(group.layout, &names, news, &group.bundles, is_dup, false)?;
        return Ok((stored, made.clone()));
    }
    std::thread::scope(|s| {
        let (sender, chunks) = std::sync::mpsc::sync_channel::<Result<Vec<String>>>(1);
        s.spawn(move || {
            for chunk in group.payloads.chunks(SIGN_CHUNK) {
                let signed = sign_all(key, chunk);
                let failed = signed.is_err();
                // the storing side stopped (it failed): stop too
                if sender.send(signed).is_err() || failed {
                    break;
                }
            }
        });
        let mut chunks = chunks.into_iter();
        let mut current = Vec::new().into_iter();
        let signatures = std::iter::from_fn(|| {
            loop {
                if let Some(b64) = current.next() {
                    return Some(Ok(b64));
                }
                match chunks.next() {
                    Some(Ok(chunk)) => current = chunk.into_iter(),
                    Some(Err(e)) => return Some(Err(e)),
                    // the signing thread ended without a signature for every payload
                    // (it panicked): the zip below would end early, so end with an error
                    None => {
                        return Some(Err(Error::Key(
                            "signing stopped before every payload was signed".into(),
                        )));
                    }
                }
            }
        });
        let mut made: Vec<String> = Vec::with_capacity(group.targets.len());
        let news = group
            .targets
            .iter()
            .zip(&group.payloads)
            .zip(signatures)
            .map(|((t, p), b64)| {
                let b64 = b64?;
                made.push(b64.clone());
                Ok(new_signature(t, p, b64))
            });
        let stored =
            append_signatures_streamed(group.layout, &names, news, &group.bundles, is_dup, true)?;
        Ok((stored, made))
    })
}

/// cosign's rule: same payload and media type, every new annotation but the signature
/// equal, and the existing signature verifies the payload with this key.
fn is_duplicate(
    artifact: &SignatureArtifact,
    new: &SigLayer,
    payload: &[u8],
    public: &keys::PublicKey,
) -> bool {
    artifact.layers.iter().any(|l| {
        l.digest == new.digest
            && l.media_type == new.media_type
            && new
                .annotations
                .iter()
                .filter(|(k, _)| k.as_str() != SIGNATURE_ANNOTATION)
                .all(|(k, v)| l.annotations.get(k) == Some(v))
            && l.signature()
                .and_then(|s| crate::signature::verify::decode_base64_signature(s).ok())
                .is_some_and(|sig| verify_signature(public, payload, &sig).is_ok())
    })
}

/// `--certificate` and `--certificate-chain`, read and checked.
struct CertificateInput {
    path: PathBuf,
    leaf: certs::Cert,
    /// The chain file's text, stored verbatim as cosign v2.6 does.
    chain: Option<String>,
}

/// Reads and checks `--certificate` (PEM or DER) and `--certificate-chain` (PEM,
/// the leaf's issuer first, the root last) without the key: the leaf must be valid
/// now and allow code signing, and the chain must validate it now, offline. cosign
/// validates the chain at the leaf's notBefore and not the leaf's dates; signing
/// with a certificate that is already expired (or not yet valid) only makes
/// signatures that verification refuses, so airsign refuses it here.
fn read_certificates(opts: &SignOptions) -> Result<Option<CertificateInput>> {
    let Some(path) = &opts.certificate else {
        if opts.certificate_chain.is_some() {
            return Err(Error::Usage(
                "--certificate-chain needs --certificate (the signing certificate it chains)"
                    .into(),
            ));
        }
        return Ok(None);
    };
    let named =
        |what: &str, p: &Path, e: String| Error::invalid(format!("--{what} {}: {e}", p.display()));
    let leaf = certs::read_certificate(&super::read_file(path, certs::MAX_CERT_FILE)?)
        .map_err(|e| named("certificate", path, e))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    leaf.check_valid_at(now)
        .and_then(|()| leaf.check_code_signing())
        .map_err(|e| named("certificate", path, e))?;
    let chain = match &opts.certificate_chain {
        None => None,
        Some(chain_path) => {
            let raw = super::read_file(chain_path, certs::MAX_CERT_FILE)?;
            let fail = |e: String| named("certificate-chain", chain_path, e);
            let chain = certs::parse_pem_certificates(&raw).map_err(fail)?;
            certs::check_chain_order(&leaf, &chain).map_err(fail)?;
            let (root, intermediates) = chain
                .split_last()
                .ok_or_else(|| fail("no certificate in it".into()))?;
            certs::verify_chain(&leaf, std::slice::from_ref(root), intermediates, now)
                .map_err(|e| fail(format!("unable to validate certificate chain: {e}")))?;
            // parse_pem_certificates accepted it, so it is text
            Some(String::from_utf8_lossy(&raw).into_owned())
        }
    };
    Ok(Some(CertificateInput {
        path: path.clone(),
        leaf,
        chain,
    }))
}

/// `--certificate`/`--certificate-chain` → layer annotations: the leaf re-encoded
/// as PEM (as cosign does), the chain file as it is. The certificate must certify
/// the signing key.
fn certificate_annotations(
    input: Option<CertificateInput>,
    key: &Signer,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(input) = input else {
        return Ok(out);
    };
    if !input.leaf.matches_key(&key.public_key()) {
        return Err(Error::Key(format!(
            "--certificate {}: public key in certificate does not match the provided public key",
            input.path.display()
        )));
    }
    out.insert(CERTIFICATE_ANNOTATION.to_owned(), input.leaf.to_pem());
    if let Some(chain) = input.chain {
        out.insert(CHAIN_ANNOTATION.to_owned(), chain);
    }
    Ok(out)
}

/// `--output-signature`, `--output-payload`, `--output-certificate`, as cosign writes
/// them: one digest → the file itself; several → `FILE-sha256-<hex>` per digest.
fn write_outputs(
    opts: &SignOptions,
    outputs: &[(Digest, Vec<u8>, String)],
    key: &Signer,
    certificate: &BTreeMap<String, String>,
) -> Result<()> {
    // One file per digest, as cosign names them; a digest signed more than once in the
    // call (the same image under several repositories) gets all its signatures in its
    // file, one per line, as cosign joins several signatures of one digest.
    // (digest, its payloads, its base64 signatures)
    // Without an output flag there is nothing to group: a bulk sign of thousands of
    // images skips this entirely (the grouping was once a linear search per image,
    // quadratic: half a second at 10,000 images, the largest avoidable cost of
    // `sign --all` in the bench's profile).
    if opts.output_signature.is_none()
        && opts.output_payload.is_none()
        && opts.output_certificate.is_none()
    {
        return Ok(());
    }
    type Outputs<'a> = Vec<(&'a Digest, Vec<&'a [u8]>, Vec<&'a str>)>;
    let mut by_digest: Outputs = Vec::new();
    let mut slot: HashMap<&Digest, usize> = HashMap::new();
    for (d, payload_bytes, b64) in outputs {
        match slot.get(d) {
            Some(&i) => {
                let (_, p, s) = &mut by_digest[i];
                p.push(payload_bytes);
                s.push(b64);
            }
            None => {
                slot.insert(d, by_digest.len());
                by_digest.push((d, vec![payload_bytes], vec![b64]));
            }
        }
    }
    let single = by_digest.len() == 1;
    let per_digest = |base: &Path, d: &Digest| -> PathBuf {
        if single {
            base.to_path_buf()
        } else {
            let mut s = base.as_os_str().to_owned();
            s.push(format!("-{}", d.tag_form()));
            PathBuf::from(s)
        }
    };
    for (d, payloads, sigs) in &by_digest {
        if let Some(f) = &opts.output_signature {
            super::write_file(
                &per_digest(f, d),
                sigs.join("\n").as_bytes(),
                super::OUTPUT_MODE,
            )?;
        }
        if let Some(f) = &opts.output_payload {
            super::write_file(
                &per_digest(f, d),
                &payloads.join(&b'\n'),
                super::OUTPUT_MODE,
            )?;
        }
    }
    if let Some(f) = &opts.output_certificate {
        let pem = match certificate.get(CERTIFICATE_ANNOTATION) {
            Some(cert) => cert.clone(),
            None => keys::public_key_pem(&key.public_key())?,
        };
        super::write_file(f, pem.as_bytes(), super::OUTPUT_MODE)?;
    }
    Ok(())
}

fn confirm(count: usize) -> Result<bool> {
    eprint!("Sign {count} manifest(s) in the store? [y/N] ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the answer", e))?;
    Ok(matches!(line.trim(), "y" | "Y"))
}
