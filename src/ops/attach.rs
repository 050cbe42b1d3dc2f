//! `airsign attach signature`: attach a signature made elsewhere (openssl, an HSM, a
//! signing service) to an image, as cosign's `attach signature` does — but offline,
//! into the layout, with the signature checked first when `--key` is given.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::sig_store::{NewSignature, append_signatures};
use crate::keys;
use crate::signature::verify::{decode_base64_signature, parse_signature, verify_signature};
use crate::signature::{CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, MAX_PAYLOAD, SigLayer};
use crate::store::resolve::{Catalog, EntryName, artifact_name};
use crate::{Error, Result};

#[derive(Debug, Default)]
pub struct AttachOptions {
    pub payload: PathBuf,
    /// A file, `-` for stdin, or the base64 text itself.
    pub signature: String,
    pub certificate: Option<PathBuf>,
    pub certificate_chain: Option<PathBuf>,
    pub key: Option<String>,
}

pub fn run(store: &Path, image: &str, opts: &AttachOptions) -> Result<()> {
    if let crate::reference::Location::Archive { path, reference } =
        crate::reference::Location::parse(image)?
    {
        return super::rewrite::rewrite_archive(&path, |layout| {
            run(
                store,
                &super::rewrite::image_in(layout, reference.as_deref()),
                opts,
            )?;
            Ok(true)
        });
    }
    let payload = super::read_file(&opts.payload, MAX_PAYLOAD)?;
    let b64 = read_signature_text(&opts.signature)?;
    let raw = decode_base64_signature(&b64)?;
    // Refuse what has the shape of no supported algorithm's signature up front.
    parse_signature(&raw)?;

    let (layout, query) = super::open_image(store, image)?;
    let catalog = Catalog::open(&layout)?;
    let found = catalog.resolve(&query)?;
    let digest = found.descriptor.digest.clone();
    let name = found.name.clone().unwrap_or(EntryName::Unnamed(None));
    let sig_name = artifact_name(&name, &digest, "sig").ok_or_else(|| {
        Error::Usage(format!(
            "{image}: an unnamed entry (cosign save layout) cannot hold signatures; import it \
             into the store first"
        ))
    })?;
    super::warn_on_foreign_claim(&payload, &digest);

    if let Some(k) = &opts.key {
        let key = keys::load_public_key(k)?;
        verify_signature(&key, &payload, &raw).map_err(|_| {
            Error::invalid(format!(
                "the signature does not verify the payload with {k}; nothing attached"
            ))
        })?;
    }

    let mut layer = SigLayer::new(&payload, b64);
    if let Some(cert) = &opts.certificate {
        let pem = pem_text(cert, "CERTIFICATE")?;
        layer
            .annotations
            .insert(CERTIFICATE_ANNOTATION.to_owned(), pem);
    }
    if let Some(chain) = &opts.certificate_chain {
        let pem = pem_text(chain, "CERTIFICATE")?;
        layer.annotations.insert(CHAIN_ANNOTATION.to_owned(), pem);
    }
    let new = [NewSignature {
        sig_name: sig_name.clone(),
        payload,
        layer,
    }];
    // An identical layer (same payload, same annotations) adds nothing.
    let written = append_signatures(&layout, &new, &[], |artifact, n| {
        artifact.layers.contains(&n.layer)
    })?;
    if written.is_empty() {
        eprintln!("{image}: this exact signature is already attached; nothing changed");
    } else {
        eprintln!("Attached a signature to {image} ({digest}) → {sig_name}");
    }
    Ok(())
}

/// `--signature`: `-` reads stdin, an existing file is read, anything else is taken
/// as the base64 text itself — when it is one: a name of no file (`sig.b64`,
/// `out/sig`) is said to be that, not decoded. Whitespace around it is trimmed
/// (cosign#2790).
fn read_signature_text(arg: &str) -> Result<String> {
    const MAX: u64 = 64 * 1024;
    let text = if arg == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .lock()
            .take(MAX + 1)
            .read_to_string(&mut buf)
            .map_err(|e| Error::io("reading the signature from stdin", e))?;
        buf
    } else if Path::new(arg).is_file() {
        String::from_utf8(super::read_file(Path::new(arg), MAX)?)
            .map_err(|_| Error::invalid(format!("{arg}: the signature file is not base64 text")))?
    } else if base64_signature(arg) {
        arg.to_owned()
    } else {
        let also = if looks_like_path(arg) {
            ""
        } else {
            ", and not a base64 ECDSA signature"
        };
        return Err(Error::Usage(format!(
            "--signature {}: no such file{also}",
            crate::digest::printable(arg)
        )));
    };
    if text.len() as u64 > MAX {
        return Err(Error::invalid("the signature is larger than 64 KiB"));
    }
    let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if cleaned.is_empty() {
        return Err(Error::invalid("the signature is empty"));
    }
    Ok(cleaned)
}

/// Whether `text` is a signature in base64 (the shape of one once decoded):
/// `out/sig` is valid base64 too, but of six bytes that are no signature.
fn base64_signature(text: &str) -> bool {
    decode_base64_signature(text).is_ok_and(|raw| parse_signature(&raw).is_ok())
}

/// Whether `arg` reads as a file name rather than base64 text: it has a `.` (never
/// in base64) or a `/`.
fn looks_like_path(arg: &str) -> bool {
    arg.contains(['.', '/'])
}

/// A PEM file that must hold at least one block labelled `label`; kept verbatim.
fn pem_text(path: &Path, label: &str) -> Result<String> {
    let bytes = super::read_file(path, MAX_PAYLOAD)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::invalid(format!("{}: not a PEM file", path.display())))?;
    if !text.contains(&format!("-----BEGIN {label}-----")) {
        return Err(Error::invalid(format!(
            "{}: no PEM {label} in it",
            path.display()
        )));
    }
    Ok(text)
}
