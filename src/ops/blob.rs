//! `airsign sign-blob` and `airsign verify-blob`: cosign's, for files (charts, SBOMs,
//! ISOs), with a key, offline. The file is read once, streaming, through the hasher
//! (`airsign_cosign::blob`), whatever its size; nothing is written unless the
//! signature was made, and outputs appear whole (temp file, fsync, rename, 0600).

use std::fs::File;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use crate::blob::{self, Evidence, MAX_SIGNATURE_FILE};
use crate::keys::{self, KeyRef, password};
use crate::{Error, Result};

use super::OUTPUT_MODE;

/// Everything `sign-blob` was asked to do.
#[derive(Debug)]
pub struct SignBlobOptions {
    pub key: String,
    pub bundle: Option<PathBuf>,
    pub output_signature: Option<PathBuf>,
    pub output_certificate: Option<PathBuf>,
    /// cosign 3's default: a v0.3 Sigstore bundle (`--bundle` required).
    pub new_bundle_format: bool,
    /// Legacy outputs: base64 (default) or the raw DER signature.
    pub b64: bool,
    /// `--signing-algorithm`: for an RSA key, PKCS#1 v1.5 (the default) or PSS;
    /// otherwise it must be the key's.
    pub signing_algorithm: Option<String>,
}

/// `airsign sign-blob FILE|-`.
pub fn sign(file: &str, opts: &SignBlobOptions) -> Result<()> {
    if opts.new_bundle_format {
        if opts.bundle.is_none() {
            return Err(Error::Usage(
                "must specify --bundle with --new-bundle-format (the default, as in cosign 3; \
                 --new-bundle-format=false writes a bare signature)"
                    .into(),
            ));
        }
        // cosign 3 ignores them in this mode, and says so
        for (flag, given) in [
            ("--output-signature", &opts.output_signature),
            ("--output-certificate", &opts.output_certificate),
        ] {
            if given.is_some() {
                eprintln!(
                    "WARNING: {flag} is deprecated when using --new-bundle-format and will be ignored"
                );
            }
        }
    }
    super::check_output_dirs(
        [&opts.bundle, &opts.output_signature]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path),
    )?;
    // The file is opened before the password is asked for: a wrong path costs no prompt.
    let (mut input, name) = open_input(file)?;
    // (a token's PIN and a plugin's credentials never come from stdin: only a key
    // file's password does)
    let key_file = KeyRef::parse(&opts.key)?.is_key_file();
    if file == "-" && key_file && password::would_read_stdin() {
        return Err(Error::Usage(
            "the file is read from stdin (-): set COSIGN_PASSWORD, or run on a terminal, so \
             the key's password is not read from stdin too"
                .into(),
        ));
    }
    let key = keys::load_signer(&opts.key)?;
    let key = match &opts.signing_algorithm {
        Some(name) => key.with_algorithm(keys::Algorithm::from_name(name)?)?,
        None => key,
    };
    let (artifact, _) = blob::Artifact::read(&mut input, key.hash())
        .map_err(|e| Error::io(format!("reading {name}"), e))?;
    drop(input);
    let signature = blob::sign(&key, &artifact)?;

    if opts.new_bundle_format {
        let path = opts.bundle.as_deref().expect("checked above");
        let bundle = blob::new_bundle(&key.public_key(), &artifact, &signature)?;
        super::write_file(path, &bundle, OUTPUT_MODE)?;
        eprintln!("Wrote bundle to file {}", path.display());
        return Ok(());
    }

    // The legacy outputs, as cosign's sign-blob with --new-bundle-format=false.
    let b64 = base64_text(&signature);
    if let Some(path) = &opts.bundle {
        let pem = keys::public_key_pem(&key.public_key())?;
        super::write_file(path, &blob::legacy_bundle(&signature, &pem), OUTPUT_MODE)?;
        eprintln!("Wrote bundle to file {}", path.display());
    }
    match &opts.output_signature {
        Some(path) => {
            let bytes = if opts.b64 { b64.as_bytes() } else { &signature };
            super::write_file(path, bytes, OUTPUT_MODE)?;
            eprintln!("Wrote signature to file {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            let written = if opts.b64 {
                writeln!(out, "{b64}")
            } else {
                // no newline after the raw signature, as cosign
                out.write_all(&signature)
            };
            written
                .and_then(|()| out.flush())
                .map_err(super::stdout_error)?;
        }
    }
    if let Some(path) = &opts.output_certificate {
        // cosign writes it only for a certificate, and a key has none
        eprintln!(
            "WARNING: --output-certificate {}: signing with a key, there is no certificate; \
             nothing written (as cosign)",
            path.display()
        );
    }
    Ok(())
}

/// Everything `verify-blob` was asked to do.
#[derive(Debug)]
pub struct VerifyBlobOptions {
    /// The public key; `None` verifies keyless, against `trusted_root`.
    pub key: Option<String>,
    pub bundle: Option<PathBuf>,
    /// A file, or the signature itself (base64).
    pub signature: Option<String>,
    /// Keyless: the pinned Sigstore trusted root (`trusted_root.json`).
    pub trusted_root: Option<PathBuf>,
    pub identity: super::trust_flags::Identity,
}

/// The artifact as `verify-blob` names it: `sha256:<hex>` (its digest, when no file
/// has that name, as cosign's verify-blob takes it), else a file or `-`, hashed once.
fn artifact_digest(file: &str) -> Result<Option<crate::digest::Digest>> {
    if file.starts_with("sha256:") && !Path::new(file).exists() {
        let d: crate::digest::Digest = file.parse().map_err(|e| {
            Error::Usage(format!(
                "{}: neither a file nor a sha256 digest ({e})",
                crate::digest::printable(file)
            ))
        })?;
        return Ok(Some(d));
    }
    Ok(None)
}

/// The artifact's digest: given (`sha256:<hex>`), or the file's (or stdin's), hashed.
fn artifact_or_its_digest(file: &str) -> Result<crate::digest::Digest> {
    if let Some(d) = artifact_digest(file)? {
        return Ok(d);
    }
    let (mut input, name) = open_input(file)?;
    let (d, _) =
        blob::hash_artifact(&mut input).map_err(|e| Error::io(format!("reading {name}"), e))?;
    Ok(d)
}

/// Keyless `verify-blob`: the bundle against the trusted root, for the identity.
fn verify_keyless(file: &str, bundle: &Path, root: &Path, opts: &VerifyBlobOptions) -> Result<()> {
    use crate::trust::{MAX_TRUSTED_ROOT, TrustedRoot, keyless};
    let policy = opts.identity.policy()?;
    if !policy.has_subject() || !policy.has_issuer() {
        return Err(Error::Usage(
            "--trusted-root needs --certificate-identity (or -regexp) and \
             --certificate-oidc-issuer (or -regexp)"
                .into(),
        ));
    }
    let root_raw = super::read_file(root, MAX_TRUSTED_ROOT)?;
    let root = TrustedRoot::parse(&root_raw).map_err(|e| naming(&root.display().to_string(), e))?;
    let raw = super::read_file(bundle, crate::bundle::MAX_BUNDLE)?;
    let digest = artifact_or_its_digest(file)?;
    keyless::verify_bundle(&raw, &root, &policy, &digest)
        .map_err(|e| naming(&bundle.display().to_string(), e))?;
    eprintln!("Verified OK");
    Ok(())
}

/// `verify-blob --key K --trusted-root R --bundle B`: the key's signature, and the
/// bundle's log entries and timestamps checked against the trusted root.
fn verify_key_logged(file: &str, key_ref: &str, bundle: &Path, root: &Path) -> Result<()> {
    use crate::trust::{MAX_TRUSTED_ROOT, TrustedRoot, keyless};
    let root_raw = super::read_file(root, MAX_TRUSTED_ROOT)?;
    let root = TrustedRoot::parse(&root_raw).map_err(|e| naming(&root.display().to_string(), e))?;
    let raw = super::read_file(bundle, crate::bundle::MAX_BUNDLE)?;
    let key = keys::load_public_key(key_ref)?;
    let digest = artifact_or_its_digest(file)?;
    keyless::verify_bundle_with_key(&raw, &root, &key, &digest)
        .map_err(|e| naming(&bundle.display().to_string(), e))?;
    eprintln!("Verified OK");
    Ok(())
}

/// `airsign verify-blob FILE|-`: `Verified OK` on stderr, or a one-line error.
pub fn verify(file: &str, opts: &VerifyBlobOptions) -> Result<()> {
    let key_ref = match (&opts.key, &opts.trusted_root, &opts.bundle) {
        (Some(k), None, _) => k,
        (Some(k), Some(root), Some(bundle)) if opts.signature.is_none() => {
            return verify_key_logged(file, k, bundle, root);
        }
        (None, Some(root), Some(bundle)) => {
            if opts.signature.is_some() {
                return Err(Error::Usage(
                    "keyless verification (--trusted-root) reads a --bundle, not --signature"
                        .into(),
                ));
            }
            return verify_keyless(file, bundle, root, opts);
        }
        _ => {
            return Err(Error::Usage(
                "give --key, or --trusted-root with --bundle (keyless)".into(),
            ));
        }
    };
    let evidence = match (&opts.bundle, &opts.signature) {
        (Some(path), None) => {
            let raw = super::read_file(path, crate::bundle::MAX_BUNDLE)?;
            Evidence::parse_bundle(&raw).map_err(|e| naming(&path.display().to_string(), e))?
        }
        (None, Some(sig)) => Evidence::Signature(read_signature(sig)?),
        _ => {
            return Err(Error::Usage(
                "give exactly one of --bundle and --signature".into(),
            ));
        }
    };
    if let Some(digest) = artifact_digest(file)? {
        let key = keys::load_public_key(key_ref)?;
        evidence
            .verify(&key, &blob::Artifact::from_sha256(digest)?)
            .map_err(|e| naming(file, e))?;
        eprintln!("Verified OK");
        return Ok(());
    }
    let (mut input, name) = open_input(file)?;
    let key = if file == "-" && password::would_read_stdin() {
        public_key_only(key_ref)?
    } else {
        keys::load_public_key(key_ref)?
    };
    let (artifact, _) = blob::Artifact::read(&mut input, key.hash())
        .map_err(|e| Error::io(format!("reading {name}"), e))?;
    evidence
        .verify(&key, &artifact)
        .map_err(|e| naming(&name, e))?;
    eprintln!("Verified OK");
    Ok(())
}

/// The file to sign or verify, streamed: a path, or `-` for stdin. Returns it with
/// the name messages give it.
fn open_input(file: &str) -> Result<(Box<dyn Read>, String)> {
    if file == "-" {
        return Ok((Box::new(std::io::stdin().lock()), "stdin".into()));
    }
    let path = Path::new(file);
    let f = File::open(path).map_err(|e| Error::io_path("opening", path, e))?;
    let meta = f
        .metadata()
        .map_err(|e| Error::io_path("opening", path, e))?;
    if meta.is_dir() {
        return Err(Error::Usage(format!("{file}: a directory, not a file")));
    }
    Ok((Box::new(f), file.to_owned()))
}

/// The verification key when stdin holds the file: a public key only (a private
/// key's password would have to come from stdin).
fn public_key_only(reference: &str) -> Result<keys::PublicKey> {
    let keyref = KeyRef::parse(reference)?;
    if !keyref.is_key_file() {
        // a token's public key object (its PIN, if any, never comes from stdin) or
        // a plugin's public key
        return keys::load_public_key(reference);
    }
    match keys::public_key_from_pem(&keyref.read()?) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(Error::Usage(format!(
            "{keyref} is a private key, and the file is read from stdin (-): give the public \
             key, or set COSIGN_PASSWORD"
        ))),
        Err(Error::Key(msg)) => Err(Error::Key(format!("{keyref}: {msg}"))),
        Err(e) => Err(e),
    }
}

/// `--signature`: a file holding the signature (base64 or raw DER), or the base64
/// text itself, as cosign's `verify-blob` takes it (URLs excepted: offline).
fn read_signature(arg: &str) -> Result<Vec<u8>> {
    if arg.starts_with("http://") || arg.starts_with("https://") {
        return Err(Error::Usage(format!(
            "--signature {arg}: airsign works offline; download the signature first"
        )));
    }
    let path = Path::new(arg);
    match std::fs::metadata(path) {
        Ok(_) => {
            let bytes = super::read_file(path, MAX_SIGNATURE_FILE)?;
            blob::signature_bytes(&bytes).map_err(|e| naming(arg, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if crate::signature::verify::decode_base64_signature(arg).is_err() {
                return Err(Error::Usage(format!(
                    "--signature {}: no such file, and not a base64 signature",
                    crate::digest::printable(arg)
                )));
            }
            blob::signature_bytes(arg.as_bytes()).map_err(|e| naming("the --signature text", e))
        }
        Err(e) => Err(Error::io_path("reading", path, e)),
    }
}

/// Prefixes what is wrong with an input with its name.
fn naming(name: &str, err: Error) -> Error {
    match err {
        Error::Invalid(msg) => Error::Invalid(format!("{name}: {msg}")),
        other => other,
    }
}

fn base64_text(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
