//! The flags that say what signatures are verified with — `--key`, the CA flags
//! (`--certificate-chain`, `--ca-roots`, `--ca-intermediates`), or keyless
//! `--trusted-root` — with the identity flags, turned into one [`Trust`]: what
//! `verify`, `verify-attestation`, `signatures` and `import`'s admission gate share.

use std::path::{Path, PathBuf};

use crate::keys;
use crate::signature::certs::{self, Cert};
use crate::signature::identity::IdentityPolicy;
use crate::signature::policy::{CaTrust, Trust};
use crate::{Error, Result};

/// cosign's certificate identity flags, as given: `--certificate-identity[-regexp]`
/// and `--certificate-oidc-issuer[-regexp]`. Every command that checks a
/// certificate's identity takes them as this one type.
#[derive(Debug, Default, Clone)]
pub struct Identity {
    pub certificate_identity: Option<String>,
    pub certificate_identity_regexp: Option<String>,
    pub certificate_oidc_issuer: Option<String>,
    pub certificate_oidc_issuer_regexp: Option<String>,
}

impl Identity {
    /// Whether any of the four flags was given.
    pub fn is_given(&self) -> bool {
        self.certificate_identity.is_some()
            || self.certificate_identity_regexp.is_some()
            || self.certificate_oidc_issuer.is_some()
            || self.certificate_oidc_issuer_regexp.is_some()
    }

    /// The policy the flags describe; a regular expression that does not compile is
    /// a usage error.
    pub fn policy(&self) -> Result<IdentityPolicy> {
        IdentityPolicy::new(
            self.certificate_identity.as_deref(),
            self.certificate_identity_regexp.as_deref(),
            self.certificate_oidc_issuer.as_deref(),
            self.certificate_oidc_issuer_regexp.as_deref(),
        )
        .map_err(Error::Usage)
    }
}

/// cosign's verification flags, as given.
#[derive(Debug, Default, Clone)]
pub struct TrustFlags {
    pub key: Option<String>,
    pub certificate_chain: Option<PathBuf>,
    pub ca_roots: Option<PathBuf>,
    pub ca_intermediates: Option<PathBuf>,
    pub identity: Identity,
    /// Keyless: a pinned Sigstore `trusted_root.json`.
    pub trusted_root: Option<PathBuf>,
}

/// What the flags say signatures are verified with: a key, CA flags, or
/// (`--trusted-root`, keyless) a pinned Sigstore trust root, with the identity.
pub fn load_trust(opts: &TrustFlags) -> Result<Trust> {
    if let Some(root) = &opts.trusted_root {
        if opts.key.is_some() {
            return Err(Error::Usage(
                "--trusted-root verifies keyless (Fulcio certificates); --key verifies with a \
                 key: give one of them"
                    .into(),
            ));
        }
        if opts.certificate_chain.is_some() || opts.ca_roots.is_some() {
            return Err(Error::Usage(
                "--trusted-root holds the certificate authorities to trust; \
                 --certificate-chain and --ca-roots cannot be added to it"
                    .into(),
            ));
        }
        let identity = identity_policy(opts, true)?;
        return Ok(Trust {
            identity,
            trusted_root: Some(std::sync::Arc::new(load_trusted_root(root)?)),
            ..Trust::default()
        });
    }
    let ca = load_ca(opts)?;
    if opts.key.is_none() && ca.is_none() {
        return Err(Error::Usage(
            "pass --key, verify by certificate with --certificate-chain or --ca-roots, or \
             keyless with --trusted-root"
                .into(),
        ));
    }
    let identity = identity_policy(opts, ca.is_some())?;
    let key = opts.key.as_deref().map(keys::load_public_key).transpose()?;
    Ok(Trust {
        key,
        ca,
        identity,
        trusted_root: None,
    })
}

/// Reads and parses `trusted_root.json`; a refusal names the file.
pub fn load_trusted_root(path: &Path) -> Result<crate::trust::TrustedRoot> {
    let raw = super::read_file(path, crate::trust::MAX_TRUSTED_ROOT)?;
    crate::trust::TrustedRoot::parse(&raw)
        .map_err(|e| Error::invalid(format!("--trusted-root {}: {e}", path.display())))
}

fn identity_policy(opts: &TrustFlags, by_ca: bool) -> Result<IdentityPolicy> {
    let policy = opts.identity.policy()?;
    if !by_ca {
        if !policy.is_empty() {
            return Err(Error::Usage(
                "--certificate-identity and --certificate-oidc-issuer check a certificate \
                 validated by --certificate-chain, --ca-roots or --trusted-root; with --key \
                 alone none is"
                    .into(),
            ));
        }
    } else if opts.key.is_none() {
        if !policy.has_subject() {
            return Err(Error::Usage(
                "--certificate-identity or --certificate-identity-regexp is required for \
                 verification in keyless mode"
                    .into(),
            ));
        }
        if !policy.has_issuer() {
            return Err(Error::Usage(
                "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required \
                 for verification in keyless mode (a private CA's certificates name no \
                 issuer: --certificate-oidc-issuer-regexp '.*')"
                    .into(),
            ));
        }
    }
    Ok(policy)
}

/// The CA flags: `--certificate-chain` (the last certificate is the root, the others
/// intermediates, as cosign reads it) or `--ca-roots` with `--ca-intermediates`.
fn load_ca(opts: &TrustFlags) -> Result<Option<CaTrust>> {
    let read = |flag: &str, p: &Path| -> Result<Vec<Cert>> {
        let raw = super::read_file(p, certs::MAX_CERT_FILE)?;
        certs::parse_pem_certificates(&raw)
            .map_err(|e| Error::invalid(format!("--{flag} {}: {e}", p.display())))
    };
    match (
        &opts.certificate_chain,
        &opts.ca_roots,
        &opts.ca_intermediates,
    ) {
        (None, None, None) => Ok(None),
        (Some(_), Some(_), _) => Err(Error::Usage(
            "--certificate-chain and --ca-roots cannot be used together".into(),
        )),
        (_, None, Some(_)) => Err(Error::Usage("--ca-intermediates needs --ca-roots".into())),
        (Some(chain), None, None) => {
            let mut intermediates = read("certificate-chain", chain)?;
            let roots = intermediates.pop().into_iter().collect();
            Ok(Some(CaTrust {
                roots,
                intermediates,
            }))
        }
        (None, Some(roots), intermediates) => Ok(Some(CaTrust {
            roots: read("ca-roots", roots)?,
            intermediates: match intermediates {
                Some(p) => read("ca-intermediates", p)?,
                None => Vec::new(),
            },
        })),
    }
}
