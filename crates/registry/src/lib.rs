//! A blocking client for the OCI distribution API: the protocol layer under `sync`
//! and `pull`.
//!
//! Hand-written on ureq (see `docs/registry-client.md` and `docs/dependencies.md`)
//! because sync needs what the available clients lack: byte-for-byte manifests with
//! a checked `Docker-Content-Digest`, resumable chunked uploads, a cross-repository
//! mount that falls back to an upload on 202 with a token scoped for both
//! repositories, a 401 retried once with fresh auth, and redirects followed by hand
//! so that credentials never leave the registry's host.
//!
//! [`RegistryClient`] is `Send + Sync` and cheap to clone: sync runs it on a bounded
//! thread pool, sharing connections (one pooled agent per host), credentials and
//! tokens.
#![forbid(unsafe_code)]

pub(crate) use airsign_oci::{Error, Result, digest, reference, store, verify};

mod auth;
mod client;
mod credentials;
mod deadline;
mod download;
mod retry;
mod source;
mod tls;
mod upload;
mod url;

use std::path::PathBuf;
use std::time::Duration;

pub use auth::{Challenge, Scopes, parse_challenges};
pub use client::{
    BlobReader, MAX_MANIFEST, Manifest, ManifestHead, Referrers, ReferrersSource, RegistryClient,
    Repository, RequestStats,
};
pub use credentials::{CredentialSource, default_auth_files};
pub use deadline::Deadlines;
pub use download::BlobDownload;
pub use retry::{RetryPolicy, parse_retry_after};
pub use source::RepositorySource;
pub use upload::{BlobPush, PushBlob, Pushed, ReadSeek, UploadSession};
pub use url::{is_loopback, url_authority};

/// How a [`RegistryClient`] reaches registries.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where credentials come from.
    pub credentials: CredentialSource,
    /// Extra CA certificates (PEM files) trusted for every host, on top of the
    /// system roots.
    pub ca_files: Vec<PathBuf>,
    /// `certs.d`-style directories: `DIR/<host:port>/*.crt` are CAs for that host.
    pub certs_dirs: Vec<PathBuf>,
    /// No TLS verification at all (`--insecure`).
    pub insecure: bool,
    /// Plain HTTP for every registry (`--plain-http`). Loopback registries are tried
    /// over HTTPS first and fall back to plain HTTP without this, as docker and
    /// go-containerregistry do.
    pub plain_http: bool,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Longest stall of one read or write on a connection.
    pub io_timeout: Duration,
    /// The deadline of each request, scaled to the bytes it moves (`--transfer-timeout`,
    /// `--min-rate`).
    pub deadlines: Deadlines,
    /// Retries on connection errors, 5xx and 429.
    pub retry: RetryPolicy,
    /// Blobs up to this size go up in one PUT; larger ones in PATCH chunks.
    pub monolithic_threshold: u64,
    /// Size of one PATCH chunk.
    pub chunk_size: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            credentials: CredentialSource::DockerConfig {
                files: default_auth_files(),
            },
            ca_files: Vec::new(),
            certs_dirs: Vec::new(),
            insecure: false,
            plain_http: false,
            user_agent: format!("airsign/{}", env!("CARGO_PKG_VERSION")),
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(120),
            deadlines: Deadlines::default(),
            retry: RetryPolicy::default(),
            monolithic_threshold: 16 * 1024 * 1024,
            chunk_size: 32 * 1024 * 1024,
        }
    }
}
