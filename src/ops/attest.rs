//! `airsign attest` and `airsign verify-attestation`: cosign's image attestations,
//! offline. `attest` signs an in-toto statement about one image (its repository and
//! digest, the `--predicate` file, `--type`'s predicate type) in a DSSE envelope and
//! stores it in the image's layout — as a Sigstore bundle referrer (cosign 3), an
//! `.att` layer (cosign 2, and cosign 3 with `--new-bundle-format=false`), or both.
//! `verify-attestation` checks every attestation of an image in both formats with a
//! key, or keyless against a pinned trusted root (`--trusted-root` with the
//! identity flags), and prints the matching envelopes, as cosign does.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::sig_store::{NewBundle, NewSignature, append_signatures};
use crate::attestation;
use crate::bundle::{self, IN_TOTO, Material};
use crate::keys;
use crate::reference::Location;
use crate::signature::certs;
use crate::signature::policy::listing_has_bundle;
use crate::store::graph::{Checked, ImageCheck, check_images};
use crate::store::resolve::{EntryName, artifact_name, referrers_name};
use crate::store::{Descriptor, Kind};
use crate::{Error, Result};

/// Where an attestation is stored (`--new-bundle-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Formats {
    /// The `.att` layer, plus a bundle for an image that already carries Sigstore
    /// bundles (cosign 3 reads only bundles then), as `sign` does.
    #[default]
    Auto,
    /// A layer of the image's `.att` artifact (cosign 2; cosign 3 reads it too).
    Att,
    /// A Sigstore bundle referrer (cosign 3's default).
    Bundle,
    /// Both.
    Both,
}

#[derive(Debug, Default)]
pub struct AttestOptions {
    pub key: String,
    pub predicate: PathBuf,
    /// `--type`: a cosign name or a URI.
    pub kind: String,
    pub formats: Formats,
}

pub fn attest(store: &Path, image: &str, opts: &AttestOptions) -> Result<()> {
    // Everything that can be wrong with the arguments is found before the password
    // is asked for, and before anything is written.
    let predicate_type = attestation::predicate_type(&opts.kind)?;
    let file = super::read_file(&opts.predicate, attestation::MAX_PREDICATE)?;
    let now = certs::rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let predicate = attestation::predicate(&predicate_type, &file, &now)
        .map_err(|e| Error::invalid(format!("--predicate {}: {e}", opts.predicate.display())))?;
    if let Location::Archive { path, reference } = Location::parse(image)? {
        return super::rewrite::rewrite_archive(&path, |layout| {
            let inner = super::rewrite::image_in(layout, reference.as_deref());
            attest_in_layout(
                store,
                &inner,
                image,
                opts,
                &predicate_type,
                &predicate,
                &now,
            )?;
            Ok(true)
        });
    }
    attest_in_layout(store, image, image, opts, &predicate_type, &predicate, &now)
}

fn attest_in_layout(
    store: &Path,
    image: &str,
    display: &str,
    opts: &AttestOptions,
    predicate_type: &str,
    predicate: &serde_json::Value,
    now: &str,
) -> Result<()> {
    let mut catalogs = super::Catalogs::new();
    let (i, query) = catalogs.lookup(store, image, true)?;
    let catalog = catalogs.catalog(i);
    let found = catalog.resolve(&query)?;
    let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
    let repository = match &name {
        EntryName::Full(r) => r.name(),
        _ => {
            return Err(Error::Usage(format!(
                "{display}: this entry has no repository name (the statement's subject names \
                 it); import it into the store under its registry name first"
            )));
        }
    };
    let digest = found.descriptor.digest.clone();
    let att_name = artifact_name(&name, &digest, "att").expect("a full name");
    let listing = referrers_name(&name, &digest).expect("a full name");
    // An attestation vouches for content the layout must really hold.
    let checked = Checked::default();
    check_images(&[ImageCheck {
        layout: catalog.layout(),
        root: &found.descriptor,
        what: display,
        checked: &checked,
    }])
    .into_iter()
    .collect::<Result<()>>()?;
    let beside_bundles =
        opts.formats == Formats::Auto && listing_has_bundle(catalogs.catalog(i), &listing)?;
    let layout = catalogs.layout(i).expect("looked up as writable").clone();
    drop(catalogs);

    let key = keys::load_signer(&opts.key)?;
    let statement = attestation::statement(&repository, &digest, predicate_type, predicate);
    let sig = key.sign(&bundle::pae(IN_TOTO, &statement))?;
    let (write_att, write_bundle) = match opts.formats {
        Formats::Auto => (true, beside_bundles),
        Formats::Att => (true, false),
        Formats::Bundle => (false, true),
        Formats::Both => (true, true),
    };
    let mut signatures = Vec::new();
    if write_att {
        let envelope = attestation::envelope(IN_TOTO, &statement, std::slice::from_ref(&sig));
        signatures.push(NewSignature {
            sig_name: att_name.clone(),
            layer: attestation::att_layer(&envelope, predicate_type),
            payload: envelope,
        });
    }
    let mut bundles = Vec::new();
    if write_bundle {
        let material = Material::PublicKey {
            hint: Some(bundle::key_hint(&key.public_key())?),
        };
        bundles.push(NewBundle {
            listing: listing.clone(),
            subject: Descriptor::new(
                &found.descriptor.media_type,
                digest.clone(),
                found.descriptor.size,
            ),
            bundle: bundle::dsse_bundle(IN_TOTO, &statement, &sig, &material),
            predicate_type: predicate_type.to_owned(),
            created: now.to_owned(),
            signed_by: None,
        });
    }
    // cosign never skips an attestation as a duplicate (its signature annotation is
    // empty); a bundle the listing holds already (same bytes) is skipped there.
    let written = append_signatures(&layout, &signatures, &bundles, |_, _| false)?;
    for w in &written {
        eprintln!("Attested {display} ({digest}) with {predicate_type} → {w}");
    }
    Ok(())
}

#[derive(Debug, Default)]
pub struct VerifyAttestationOptions {
    pub key: Option<String>,
    /// Keyless: a pinned Sigstore `trusted_root.json`, with the identity below.
    pub trusted_root: Option<PathBuf>,
    pub identity: super::trust_flags::Identity,
    /// `--type`: a cosign name, or compared as it is.
    pub kind: String,
}

pub fn verify(store: &Path, image: &str, opts: &VerifyAttestationOptions) -> Result<()> {
    // the key, or keyless the trusted root and the identity (required, as verify)
    let trust = super::trust_flags::load_trust(&super::trust_flags::TrustFlags {
        key: opts.key.clone(),
        trusted_root: opts.trusted_root.clone(),
        identity: opts.identity.clone(),
        ..Default::default()
    })?;
    let verifier = match (&trust.key, &trust.trusted_root) {
        (Some(key), _) => attestation::Verifier::Key(key),
        (None, Some(root)) => attestation::Verifier::Keyless(root, &trust.identity),
        (None, None) => {
            return Err(Error::Usage(
                "give --key, or --trusted-root with the identity flags (keyless)".into(),
            ));
        }
    };
    let wanted = attestation::wanted_type(&opts.kind);
    let mut catalogs = super::Catalogs::new();
    let (i, query) = catalogs.lookup(store, image, false)?;
    let catalog = catalogs.catalog(i);
    let found = catalog.resolve(&query)?;
    if found.descriptor.kind() == Kind::Blob {
        return Err(Error::invalid(format!("{image} is not an image")));
    }
    let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
    let digest = found.descriptor.digest.clone();
    let gathered = attestation::gather(catalog, &name, &digest)?;
    let checked = Checked::default();
    check_images(&[ImageCheck {
        layout: catalog.layout(),
        root: &found.descriptor,
        what: image,
        checked: &checked,
    }])
    .into_iter()
    .collect::<Result<()>>()?;
    let envelopes = attestation::judge(&gathered, &verifier, &digest, &wanted)?;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\nVerification for {image} --");
    let _ = writeln!(
        err,
        "The following checks were performed on each of these signatures:"
    );
    let _ = writeln!(err, "  - The cosign claims were validated");
    match verifier {
        attestation::Verifier::Key(_) => {
            let _ = writeln!(
                err,
                "  - The signatures were verified against the specified public key"
            );
        }
        attestation::Verifier::Keyless(..) => {
            let _ = writeln!(
                err,
                "  - Existence of the claims in the transparency log was verified offline"
            );
            let _ = writeln!(
                err,
                "  - The code-signing certificate was verified using trusted certificate authority certificates"
            );
        }
    }
    let mut out = std::io::stdout().lock();
    envelopes
        .iter()
        .try_for_each(|e| out.write_all(e).and_then(|()| out.write_all(b"\n")))
        .and_then(|()| out.flush())
        .map_err(super::stdout_error)
}
