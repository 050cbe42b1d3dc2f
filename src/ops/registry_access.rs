//! How a command reaches registries: the `--creds`, `--ca-cert`, `--cert-dir`,
//! `--insecure` and `--plain-http` flags, turned into a [`RegistryClient`]. `pull`
//! and `sync` share it.

use std::path::PathBuf;

use crate::Result;
use crate::registry::{CredentialSource, Options, RegistryClient, default_auth_files};

/// The registry flags of one invocation.
#[derive(Clone, Debug, Default)]
pub struct RegistryAccess {
    /// `USER:PASS` for every registry of the run; otherwise docker's and podman's
    /// auth files.
    pub creds: Option<String>,
    pub ca_certs: Vec<PathBuf>,
    pub cert_dirs: Vec<PathBuf>,
    pub insecure: bool,
    pub plain_http: bool,
}

impl RegistryAccess {
    /// A client with these credentials and this TLS trust (other settings default).
    pub fn client(&self) -> Result<RegistryClient> {
        RegistryClient::new(self.options()?)
    }

    fn options(&self) -> Result<Options> {
        Ok(Options {
            credentials: match &self.creds {
                Some(c) => CredentialSource::from_creds(c)?,
                None => CredentialSource::DockerConfig {
                    files: default_auth_files(),
                },
            },
            ca_files: self.ca_certs.clone(),
            certs_dirs: self.cert_dirs.clone(),
            insecure: self.insecure,
            plain_http: self.plain_http,
            ..Options::default()
        })
    }
}
