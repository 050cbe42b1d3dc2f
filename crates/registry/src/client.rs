//! The client: transport (one pooled agent per host, redirects followed by hand),
//! auth (anonymous first, then Basic or Bearer from the 401's challenge), retries,
//! request counting, and the read-side operations (ping, blobs, manifests, tags,
//! referrers). Uploads are in `upload.rs`.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use ureq::http::{Method, Request, Response, header};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector as _, TcpConnector};
use ureq::{Agent, Body, SendBody};

use super::auth::{Challenge, Scopes, Token, TokenResponse, parse_challenges};
use super::credentials::Credential;
use super::deadline::{self, TimedOut};
use super::retry::parse_retry_after;
use super::tls::{TlsConnector, certificate_refusal, client_config};
use super::url::{self as u, is_loopback};
use super::{Deadlines, Options};
use crate::digest::{Digest, printable, printable_cause};
use crate::reference::{DOCKER_HUB, Reference, validate_tag};
use crate::store::descriptor::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, OCI_INDEX, OCI_MANIFEST,
};
use crate::verify::VerifyingReader;
use crate::{Error, Result};

/// Largest manifest accepted or sent (containers/image's limit; the distribution
/// spec asks registries to take at least 4 MB).
pub const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// Error bodies, token answers and tag pages are small; never read more.
const MAX_SMALL_BODY: u64 = 64 * 1024;
const MAX_TAG_PAGE: u64 = 16 * 1024 * 1024;
const MAX_TAG_PAGES: usize = 10_000;
const MAX_REDIRECTS: usize = 5;
/// Referrers listed for one subject, and pages of the Referrers API followed: a
/// registry cannot make a pull fetch without end.
const MAX_REFERRERS: usize = 10_000;
const MAX_REFERRER_PAGES: usize = 100;
/// What `get_manifest` accepts when the caller names nothing.
const DEFAULT_ACCEPT: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// A repository on a registry: `127.0.0.1:5000` + `team/app`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repository {
    registry: String,
    name: String,
}

impl Repository {
    /// Validated like an image reference, and not normalised: what goes in is what
    /// is used.
    pub fn new(registry: &str, name: &str) -> Result<Repository> {
        let r = Reference::parse(&format!("{registry}/{name}"))?;
        if r.registry() != registry || r.repository() != name {
            return Err(Error::invalid(format!(
                "invalid repository {}/{} (normalises to {}/{})",
                printable(registry),
                printable(name),
                r.registry(),
                r.repository()
            )));
        }
        Ok(Repository::of(&r))
    }

    /// The repository an image reference names.
    pub fn of(r: &Reference) -> Repository {
        Repository {
            registry: r.registry().to_owned(),
            name: r.repository().to_owned(),
        }
    }

    /// The registry as in references (`index.docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host the API is served on (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB || registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// A manifest as the registry holds it: the exact bytes, their media type and digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

impl Manifest {
    /// The `subject` a referrer manifest points to, if any (pull checks it against
    /// the image whose referrers it fetched).
    pub fn subject(&self) -> Option<Digest> {
        #[derive(serde::Deserialize)]
        struct S {
            subject: Option<Descriptor>,
        }
        serde_json::from_slice::<S>(&self.bytes)
            .ok()?
            .subject
            .map(|d| d.digest)
    }
}

/// What a `HEAD` on a manifest tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestHead {
    pub digest: Option<Digest>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
}

/// Where a referrers list came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The OCI 1.1 Referrers API.
    Api,
    /// The `sha256-<hex>` fallback tag (registries without the API).
    FallbackTag,
    /// No API and no fallback tag: no referrers.
    None,
    /// The fallback tag exists but is not a referrers index for this digest (e.g.
    /// a registry that resolves `sha256-<hex>` as the digest itself, oras#2148):
    /// ignored, with the reason.
    FallbackRejected(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Referrers {
    pub source: ReferrersSource,
    pub manifests: Vec<Descriptor>,
}

/// HTTP requests sent by one client (every attempt, token requests and redirects
/// included), and body bytes handed to the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestStats {
    pub total: u64,
    pub get: u64,
    pub head: u64,
    pub post: u64,
    pub put: u64,
    pub patch: u64,
    pub delete: u64,
    pub bytes_sent: u64,
}

#[derive(Default)]
struct Counters {
    total: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    post: AtomicU64,
    put: AtomicU64,
    patch: AtomicU64,
    delete: AtomicU64,
    bytes_sent: AtomicU64,
}

impl Counters {
    fn count(&self, m: &Method) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let c = match *m {
            Method::GET => &self.get,
            Method::HEAD => &self.head,
            Method::POST => &self.post,
            Method::PUT => &self.put,
            Method::PATCH => &self.patch,
            Method::DELETE => &self.delete,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why an internal step failed; decides retries and the public error variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailKind {
    /// Connection trouble, 5xx, 429: worth another try (uploads resume).
    Transient,
    NotFound,
    Auth,
    /// The request ran out of its deadline (`base + bytes / min_rate`): not retried,
    /// not resumed — the time was the budget.
    TimedOut,
    Other,
}

#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) kind: FailKind,
    pub(crate) msg: String,
    pub(crate) retry_after: Option<Duration>,
}

impl Fail {
    pub(crate) fn new(kind: FailKind, ctx: &str, detail: impl fmt::Display) -> Fail {
        Fail {
            kind,
            msg: format!("{ctx}: {detail}"),
            retry_after: None,
        }
    }
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Error {
        match f.kind {
            FailKind::NotFound => Error::NotFound(f.msg),
            _ => Error::Registry(f.msg),
        }
    }
}

/// A request body. A stream can be sent once; a request carrying one is not retried
/// here (the upload layer resumes from the registry's `Range` instead).
pub(crate) enum ReqBody<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream(Option<(&'a mut dyn Read, u64)>),
}

impl ReqBody<'_> {
    fn replayable(&self) -> bool {
        !matches!(self, ReqBody::Stream(_))
    }
}

/// One API request: what to send and the auth it needs.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) scopes: Scopes,
    pub(crate) repo: &'a Repository,
    /// Follow redirects (GET/HEAD of blobs go to storage back ends).
    pub(crate) follow: bool,
    /// `HOST/REPO: WHAT`, the start of every error message.
    pub(crate) ctx: String,
}

enum TErr {
    Ureq(ureq::Error),
    Policy(String),
    /// The upload source ended before the declared size: not a network problem.
    ShortSource(u64),
    /// The request's deadline passed.
    Deadline(TimedOut),
}

impl fmt::Display for TErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TErr::Ureq(e) => match certificate_refusal(e) {
                Some(c) => f.write_str(&c),
                None => write!(f, "{}", printable_cause(&e.to_string())),
            },
            TErr::Policy(s) => f.write_str(s),
            TErr::ShortSource(n) => write!(f, "the source ended early, {n} bytes short"),
            TErr::Deadline(t) => write!(f, "{t}"),
        }
    }
}

pub(crate) fn transient(e: &ureq::Error) -> bool {
    // a certificate refused will be refused again
    certificate_refusal(e).is_none()
        && matches!(
            e,
            ureq::Error::Io(_)
                | ureq::Error::Timeout(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::Protocol(_)
        )
}

/// Reads exactly `remaining` bytes from `inner`, counting what it hands on.
struct Exact<'a> {
    inner: &'a mut dyn Read,
    remaining: u64,
    short: bool,
    sent: &'a AtomicU64,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            self.short = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upload source ended early",
            ));
        }
        self.remaining -= n as u64;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

struct Inner {
    opts: Options,
    agents: Mutex<HashMap<String, Agent>>,
    schemes: Mutex<HashMap<String, &'static str>>,
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<(String, String), Token>>,
    creds: Mutex<HashMap<String, Option<Credential>>>,
    /// The deadline of each blob download, by (registry, repository, digest), so
    /// that ranged resumes share it.
    blob_clocks: Arc<Mutex<BlobClocks>>,
    stats: Counters,
}

/// A blocking OCI distribution client. Clones share connections, credentials and
/// tokens; it is `Send + Sync` for sync's worker threads.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panicking worker must not wedge the others: the maps stay consistent
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    let vals: Vec<&str> = resp
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!vals.is_empty()).then(|| vals.join(", "))
}

/// Reads and discards a small body so the connection goes back to the pool.
pub(crate) fn drain(resp: Response<Body>) {
    let mut body = resp.into_body();
    let _ = io::copy(
        &mut body.with_config().limit(MAX_SMALL_BODY).reader(),
        &mut io::sink(),
    );
}

/// `404 Not Found: MANIFEST_UNKNOWN: manifest unknown`, from the registry's error
/// JSON when there is one; one line, printable.
pub(crate) fn error_detail(resp: Response<Body>) -> String {
    #[derive(serde::Deserialize)]
    struct Errs {
        errors: Vec<E>,
    }
    #[derive(serde::Deserialize)]
    struct E {
        code: Option<String>,
        message: Option<String>,
    }
    let status = resp.status();
    let mut body = resp.into_body();
    let mut bytes = Vec::new();
    let _ = body
        .with_config()
        .limit(MAX_SMALL_BODY)
        .reader()
        .read_to_end(&mut bytes);
    let mut out = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    if let Ok(e) = serde_json::from_slice::<Errs>(&bytes) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .map(|e| {
                let c = e.code.as_deref().unwrap_or("");
                match e.message.as_deref() {
                    Some(m) if !m.is_empty() => format!("{c}: {m}"),
                    _ => c.to_owned(),
                }
            })
            .collect();
        if !parts.is_empty() {
            out = format!("{out}: {}", parts.join("; "));
        }
    }
    printable_cause(out.trim_end())
}

impl RegistryClient {
    pub fn new(opts: Options) -> Result<RegistryClient> {
        if opts.chunk_size == 0 {
            return Err(Error::Usage("registry chunk size must not be 0".into()));
        }
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                opts,
                agents: Mutex::default(),
                schemes: Mutex::default(),
                challenges: Mutex::default(),
                tokens: Mutex::default(),
                creds: Mutex::default(),
                blob_clocks: Arc::default(),
                stats: Counters::default(),
            }),
        })
    }

    pub fn opts(&self) -> &Options {
        &self.inner.opts
    }

    /// Finds out once how `host` is spoken to (for a loopback registry: HTTPS, or
    /// plain HTTP if only that answers), before worker threads would each probe it.
    /// A failure is left for the first real request to report.
    pub fn probe(&self, host: &str) {
        let _ = self.base_url(host, host);
    }

    /// Requests sent so far.
    pub fn stats(&self) -> RequestStats {
        let s = &self.inner.stats;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RequestStats {
            total: g(&s.total),
            get: g(&s.get),
            head: g(&s.head),
            post: g(&s.post),
            put: g(&s.put),
            patch: g(&s.patch),
            delete: g(&s.delete),
            bytes_sent: g(&s.bytes_sent),
        }
    }

    // ---- transport ------------------------------------------------------------

    /// The pooled agent for `authority` (its TLS trust may differ from others').
    fn agent(&self, authority: &str) -> std::result::Result<Agent, TErr> {
        let key = authority.to_ascii_lowercase();
        if let Some(a) = lock(&self.inner.agents).get(&key) {
            return Ok(a.clone());
        }
        let o = &self.inner.opts;
        let tls = client_config(&key, o).map_err(TErr::Policy)?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            // redirects are followed by hand: credentials must not follow them
            .max_redirects(0)
            .user_agent(o.user_agent.as_str())
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .timeout_connect(Some(o.connect_timeout))
            .timeout_per_read(Some(o.io_timeout))
            .timeout_per_write(Some(o.io_timeout))
            .build();
        // ureq's own chain (CONNECT proxy, TCP), then the deadline under TLS, then
        // our TLS (see tls.rs: a self-signed certificate given is pinned)
        let connector =
            ().chain(ConnectProxyConnector::default())
                .chain(TcpConnector::default())
                .chain(deadline::DeadlineConnector)
                .chain(TlsConnector { config: tls });
        let agent = Agent::with_parts(config, connector, DefaultResolver::default());
        lock(&self.inner.agents).insert(key, agent.clone());
        Ok(agent)
    }

    /// Sends one request, following redirects for bodiless requests when asked.
    /// `Authorization` goes only to the origin of `url`: it is dropped for good as
    /// soon as a redirect leaves that origin (CVE-2020-15157 class).
    fn transport(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&'static str, String)],
        auth: Option<&str>,
        body: &mut ReqBody<'_>,
        follow: bool,
    ) -> std::result::Result<Response<Body>, TErr> {
        let mut url = url.to_owned();
        let first_origin = u::origin(&url);
        let mut auth = auth;
        for _ in 0..=MAX_REDIRECTS {
            let Some((scheme, authority, _)) = u::split(&url) else {
                return Err(TErr::Policy("not an http(s) URL".into()));
            };
            if u::origin(&url) != first_origin {
                auth = None;
            }
            let agent = self.agent(authority)?;
            let mut rb = Request::builder().method(method.clone()).uri(url.as_str());
            for (k, v) in headers {
                rb = rb.header(*k, v.as_str());
            }
            if let Some(a) = auth {
                rb = rb.header(header::AUTHORIZATION, a);
            }
            let sent = &self.inner.stats.bytes_sent;
            let sending = match body {
                ReqBody::Empty | ReqBody::Stream(None) => 0,
                ReqBody::Bytes(b) => b.len() as u64,
                ReqBody::Stream(Some((_, len))) => *len,
            };
            let deadlines = self.opts().deadlines;
            let (started, at) = deadline::begin(&deadlines, sending);
            let cut = |e: ureq::Error| {
                if deadline::passed(at) {
                    TErr::Deadline(TimedOut {
                        elapsed: started.elapsed(),
                        bytes: sending,
                        deadlines,
                        got: None,
                    })
                } else {
                    TErr::Ureq(e)
                }
            };
            let result = match body {
                ReqBody::Empty => {
                    let needs_len = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
                    if needs_len {
                        rb = rb.header(header::CONTENT_LENGTH, "0");
                    }
                    let req = rb
                        .body(SendBody::none())
                        .map_err(|e| TErr::Policy(e.to_string()))?;
                    self.inner.stats.count(method);
                    agent.run(req).map_err(cut)
                }
                ReqBody::Bytes(b) => {
                    let mut cur = io::Cursor::new(*b);
                    let mut ex = Exact {
                        inner: &mut cur,
                        remaining: b.len() as u64,
                        short: false,
                        sent,
                    };
                    let req = rb
                        .header(header::CONTENT_LENGTH, b.len().to_string())
                        .body(SendBody::from_reader(&mut ex))
                        .map_err(|e| TErr::Policy(e.to_string()))?;
                    self.inner.stats.count(method);
                    agent.run(req).map_err(cut)
                }
                ReqBody::Stream(s) => {
                    let Some((reader, len)) = s.take() else {
                        return Err(TErr::Policy("request body already sent".into()));
                    };
                    let mut ex = Exact {
                        inner: reader,
                        remaining: len,
                        short: false,
                        sent,
                    };
                    let req = rb
                        .header(header::CONTENT_LENGTH, len.to_string())
                        .body(SendBody::from_reader(&mut ex))
                        .map_err(|e| TErr::Policy(e.to_string()))?;
                    self.inner.stats.count(method);
                    let r = agent.run(req);
                    if ex.short {
                        return Err(TErr::ShortSource(ex.remaining));
                    }
                    r.map_err(cut)
                }
            };
            let resp = result?;
            let status = resp.status().as_u16();
            // a 401 from a host a redirect led to is not the registry's challenge:
            // noting it would have the registry's credentials sent where it says
            if status == 401 && u::origin(&url) != first_origin {
                drain(resp);
                return Err(TErr::Policy(format!(
                    "{authority}, where the registry redirected, asks for authentication; \
                     credentials are only sent to the registry"
                )));
            }
            let bodiless = matches!(*method, Method::GET | Method::HEAD);
            if !(follow && bodiless && matches!(status, 301 | 302 | 303 | 307 | 308)) {
                return Ok(resp);
            }
            let Some(next) = header(&resp, "location").and_then(|l| u::resolve(&url, &l)) else {
                return Err(TErr::Policy(format!(
                    "{status} redirect without a usable Location"
                )));
            };
            drain(resp);
            // no downgrade to plain HTTP, except to a host we would use it for anyway
            if scheme == "https"
                && next.starts_with("http:")
                && !u::split(&next)
                    .is_some_and(|(_, a, _)| is_loopback(a) || self.opts().plain_http)
            {
                return Err(TErr::Policy(
                    "refusing a redirect from HTTPS to plain HTTP".into(),
                ));
            }
            url = next;
        }
        Err(TErr::Policy(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// `https://HOST` or `http://HOST`. Loopback hosts (without `plain_http`) are
    /// probed: HTTPS first, then plain HTTP if the HTTPS attempt fails and plain
    /// HTTP answers like a registry.
    pub(crate) fn base_url(&self, host: &str, ctx: &str) -> std::result::Result<String, Fail> {
        if let Some(s) = lock(&self.inner.schemes).get(host) {
            return Ok(format!("{s}://{host}"));
        }
        let scheme = if self.opts().plain_http {
            "http"
        } else if !is_loopback(host) {
            "https"
        } else {
            let https = self.transport(
                &Method::GET,
                &format!("https://{host}/v2/"),
                &[],
                None,
                &mut ReqBody::Empty,
                false,
            );
            match https {
                Ok(resp) => {
                    self.note_challenge(host, &resp);
                    drain(resp);
                    "https"
                }
                // a certificate refused: the host speaks TLS, plain HTTP is no answer
                Err(TErr::Ureq(e)) if certificate_refusal(&e).is_some() => {
                    return Err(Fail::new(FailKind::Other, ctx, TErr::Ureq(e)));
                }
                Err(tls_err) => {
                    let http = self.transport(
                        &Method::GET,
                        &format!("http://{host}/v2/"),
                        &[],
                        None,
                        &mut ReqBody::Empty,
                        false,
                    );
                    match http {
                        // a busy answer (429, 5xx) still proves plain HTTP: the
                        // request that needed the scheme then retries as usual
                        Ok(resp)
                            if matches!(resp.status().as_u16(), 200 | 401 | 429 | 500..=599) =>
                        {
                            self.note_challenge(host, &resp);
                            drain(resp);
                            "http"
                        }
                        Ok(resp) => {
                            let d = error_detail(resp);
                            return Err(Fail::new(
                                FailKind::Other,
                                ctx,
                                format!("HTTPS failed ({tls_err}); plain HTTP answered {d}"),
                            ));
                        }
                        Err(e) => {
                            return Err(Fail::new(
                                FailKind::Transient,
                                ctx,
                                format!("HTTPS failed ({tls_err}); plain HTTP failed ({e})"),
                            ));
                        }
                    }
                }
            }
        };
        lock(&self.inner.schemes).insert(host.to_owned(), scheme);
        Ok(format!("{scheme}://{host}"))
    }

    /// `BASE/v2/REPO/SUFFIX`.
    pub(crate) fn api_url(
        &self,
        repo: &Repository,
        suffix: &str,
        ctx: &str,
    ) -> std::result::Result<String, Fail> {
        Ok(format!(
            "{}/v2/{}/{suffix}",
            self.base_url(repo.api_host(), ctx)?,
            repo.name
        ))
    }

    /// Records the challenge of a 401 for `host`; returns the one we will answer.
    fn note_challenge(&self, host: &str, resp: &Response<Body>) -> Option<Challenge> {
        if resp.status().as_u16() != 401 {
            return None;
        }
        let c = header(resp, "www-authenticate")
            .and_then(|h| parse_challenges(&h).ok())
            .and_then(|v| v.into_iter().next())?;
        lock(&self.inner.challenges).insert(host.to_owned(), c.clone());
        Some(c)
    }

    fn credential(
        &self,
        registry: &str,
        ctx: &str,
    ) -> std::result::Result<Option<Credential>, Fail> {
        if let Some(c) = lock(&self.inner.creds).get(registry) {
            return Ok(c.clone());
        }
        let c = self
            .opts()
            .credentials
            .lookup(registry)
            .map_err(|e| Fail::new(FailKind::Auth, ctx, e))?;
        lock(&self.inner.creds).insert(registry.to_owned(), c.clone());
        Ok(c)
    }

    /// The `Authorization` value for a request to `repo`'s host, if its challenge is
    /// known (requests go out anonymously until a 401 says otherwise).
    fn authorization(
        &self,
        repo: &Repository,
        scopes: &Scopes,
        ctx: &str,
    ) -> std::result::Result<Option<String>, Fail> {
        let host = repo.api_host();
        let ch = lock(&self.inner.challenges).get(host).cloned();
        match ch {
            None => Ok(None),
            Some(Challenge::Basic { .. }) => match self.credential(&repo.registry, ctx)? {
                Some(Credential::Basic { username, password }) => {
                    Ok(Some(basic(&username, &password)))
                }
                _ => Ok(None),
            },
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = (host.to_owned(), scopes.key());
                if let Some(t) = lock(&self.inner.tokens).get(&key)
                    && t.expires > Instant::now()
                {
                    return Ok(Some(format!("Bearer {}", t.value)));
                }
                let t = self.fetch_token(repo, &realm, service.as_deref(), scopes, ctx)?;
                let v = format!("Bearer {}", t.value);
                lock(&self.inner.tokens).insert(key, t);
                Ok(Some(v))
            }
        }
    }

    /// Asks the realm for a token covering `scopes`: with Basic credentials (GET),
    /// an identity token (OAuth2 POST, grant_type=refresh_token), or anonymously.
    fn fetch_token(
        &self,
        repo: &Repository,
        realm: &str,
        service: Option<&str>,
        scopes: &Scopes,
        ctx: &str,
    ) -> std::result::Result<Token, Fail> {
        let Some((scheme, authority, _)) = u::split(realm) else {
            return Err(Fail::new(
                FailKind::Auth,
                ctx,
                format!("token realm {:?} is not an http(s) URL", printable(realm)),
            ));
        };
        let cred = self.credential(&repo.registry, ctx)?;
        if scheme == "http" && cred.is_some() && !is_loopback(authority) && !self.opts().plain_http
        {
            return Err(Fail::new(
                FailKind::Auth,
                ctx,
                format!("refusing to send credentials to the plain-HTTP token realm {authority}"),
            ));
        }
        let mut headers = Vec::new();
        let (method, url, form) = match &cred {
            Some(Credential::IdentityToken(rt)) => {
                let mut f = format!(
                    "grant_type=refresh_token&client_id=airsign&refresh_token={}",
                    u::enc(rt)
                );
                if let Some(s) = service {
                    f += &format!("&service={}", u::enc(s));
                }
                if !scopes.is_empty() {
                    f += &format!("&scope={}", u::enc(&scopes.key()));
                }
                headers.push((
                    "content-type",
                    "application/x-www-form-urlencoded".to_owned(),
                ));
                (Method::POST, realm.to_owned(), Some(f))
            }
            other => {
                let mut url = realm.to_owned();
                if let Some(s) = service {
                    url = u::with_query(&url, "service", s);
                }
                for s in scopes.to_params() {
                    url = u::with_query(&url, "scope", &s);
                }
                if let Some(Credential::Basic { username, password }) = other {
                    headers.push(("authorization", basic(username, password)));
                }
                (Method::GET, url, None)
            }
        };
        let started = Instant::now();
        let mut retries = 0;
        let resp = loop {
            let mut body = match &form {
                Some(f) => ReqBody::Bytes(f.as_bytes()),
                None => ReqBody::Empty,
            };
            let r = self.transport(&method, &url, &headers, None, &mut body, false);
            let (ra, detail) = match r {
                Ok(resp) if resp.status().as_u16() == 429 || resp.status().is_server_error() => {
                    let ra = header(&resp, "retry-after")
                        .and_then(|v| parse_retry_after(&v, SystemTime::now()));
                    (ra, error_detail(resp))
                }
                Ok(resp) => break resp,
                Err(TErr::Ureq(e)) if transient(&e) => (None, printable_cause(&e.to_string())),
                Err(e) => {
                    return Err(Fail::new(
                        FailKind::Auth,
                        ctx,
                        format!("token request to {authority}: {e}"),
                    ));
                }
            };
            retries += 1;
            match self.opts().retry.backoff(retries, started.elapsed(), ra) {
                Some(d) => std::thread::sleep(d),
                None => {
                    return Err(Fail::new(
                        FailKind::Transient,
                        ctx,
                        format!("token request to {authority}: {detail}"),
                    ));
                }
            }
        };
        let status = resp.status().as_u16();
        if status != 200 {
            let why = match (status, &cred) {
                (401 | 403, Some(_)) => {
                    "authentication failed, credentials rejected by the token server".to_owned()
                }
                // an anonymous token refused: say what is missing, not just the status
                (401 | 403, None) => format!(
                    "authentication required: no credentials configured for {}",
                    repo.registry
                ),
                _ => "token request failed".to_owned(),
            };
            return Err(Fail::new(
                FailKind::Auth,
                ctx,
                format!("{why} ({authority}: {})", error_detail(resp)),
            ));
        }
        let mut b = resp.into_body();
        let parsed: Option<TokenResponse> = b
            .with_config()
            .limit(MAX_SMALL_BODY)
            .read_to_vec()
            .ok()
            .and_then(|v| serde_json::from_slice(&v).ok());
        let Some(t) = parsed.and_then(|t| {
            let ttl = t.expires_in.unwrap_or(60).max(60);
            t.token
                .or(t.access_token)
                .filter(|v| !v.is_empty())
                .map(|value| Token {
                    value,
                    // renew a little early so a token does not expire in flight
                    expires: Instant::now() + Duration::from_secs(ttl - (ttl / 10).min(30)),
                })
        }) else {
            return Err(Fail::new(
                FailKind::Auth,
                ctx,
                format!("token server {authority} sent no token"),
            ));
        };
        if t.value.bytes().any(|c| c.is_ascii_control() || c == b' ') {
            return Err(Fail::new(
                FailKind::Auth,
                ctx,
                format!("token server {authority} sent a malformed token"),
            ));
        }
        Ok(t)
    }

    /// Sends `call` with auth and retries. Returns any response that is not a 401,
    /// 429 or 5xx (the caller judges the status); those are retried, then failed.
    pub(crate) fn execute(
        &self,
        call: &Call<'_>,
        mut body: ReqBody<'_>,
    ) -> std::result::Result<Response<Body>, Fail> {
        let started = Instant::now();
        let mut scopes = call.scopes.clone();
        let mut retries = 0u32;
        let mut auth_retried = false;
        let host = call.repo.api_host();
        // credentials go to the registry's own origin only (an upload Location may
        // name another host)
        let base = self.base_url(host, &call.ctx)?;
        let on_registry = u::origin(&call.url) == u::origin(&base);
        loop {
            let auth = if on_registry {
                self.authorization(call.repo, &scopes, &call.ctx)?
            } else {
                None
            };
            let sent_auth = auth.is_some();
            let r = self.transport(
                &call.method,
                &call.url,
                &call.headers,
                auth.as_deref(),
                &mut body,
                call.follow,
            );
            let (retry_after, detail) = match r {
                Err(TErr::Ureq(e)) if transient(&e) => (None, printable_cause(&e.to_string())),
                // the deadline was the budget for this request: no second one
                Err(e @ TErr::Deadline(_)) => {
                    return Err(Fail::new(FailKind::TimedOut, &call.ctx, e));
                }
                Err(e) => return Err(Fail::new(FailKind::Other, &call.ctx, e)),
                Ok(resp) if resp.status().as_u16() == 401 && !on_registry => {
                    // an upload Location on another host: its challenge is not the
                    // registry's, and our credentials never go there
                    drain(resp);
                    return Err(Fail::new(
                        FailKind::Auth,
                        &call.ctx,
                        format!(
                            "{}, where the registry sent the request, asks for authentication; \
                             credentials are only sent to {host}",
                            u::split(&call.url).map_or("another host", |(_, a, _)| a)
                        ),
                    ));
                }
                Ok(resp) if resp.status().as_u16() == 401 => {
                    let ch = self.note_challenge(host, &resp);
                    let detail = error_detail(resp);
                    let has_creds = self.credential(&call.repo.registry, &call.ctx)?.is_some();
                    let fail = |why: &str| {
                        Fail::new(FailKind::Auth, &call.ctx, format!("{why} ({detail})"))
                    };
                    if let Some(Challenge::Bearer { scope: Some(s), .. }) = &ch {
                        scopes = scopes.clone().merge_param(s);
                    }
                    match (&ch, sent_auth, has_creds) {
                        (None, _, _) => {
                            return Err(fail(
                                "authentication required, and the registry sent no usable WWW-Authenticate challenge",
                            ));
                        }
                        (_, _, false)
                            if auth_retried || matches!(ch, Some(Challenge::Basic { .. })) =>
                        {
                            return Err(fail(&format!(
                                "authentication required: no credentials configured for {}",
                                call.repo.registry
                            )));
                        }
                        (Some(Challenge::Basic { .. }), true, true) => {
                            return Err(fail(&format!(
                                "authentication failed: credentials for {} rejected",
                                call.repo.registry
                            )));
                        }
                        _ if auth_retried => {
                            return Err(fail(&format!(
                                "authentication failed for {} (still 401 with a fresh token)",
                                call.repo.registry
                            )));
                        }
                        _ => {}
                    }
                    auth_retried = true;
                    // a token the registry refused is not used again
                    lock(&self.inner.tokens).remove(&(host.to_owned(), scopes.key()));
                    if !body.replayable() {
                        return Err(Fail::new(
                            FailKind::Transient,
                            &call.ctx,
                            format!("authorization renewed ({detail})"),
                        ));
                    }
                    continue;
                }
                Ok(resp) if resp.status().as_u16() == 429 || resp.status().is_server_error() => {
                    let ra = header(&resp, "retry-after")
                        .and_then(|v| parse_retry_after(&v, SystemTime::now()));
                    (ra, error_detail(resp))
                }
                Ok(resp) => return Ok(resp),
            };
            retries += 1;
            if body.replayable()
                && let Some(d) = self
                    .opts()
                    .retry
                    .backoff(retries, started.elapsed(), retry_after)
            {
                std::thread::sleep(d);
                continue;
            }
            let tries = if retries > 1 {
                format!(" (after {retries} attempts)")
            } else {
                String::new()
            };
            return Err(Fail {
                kind: FailKind::Transient,
                msg: format!("{}: {detail}{tries}", call.ctx),
                retry_after,
            });
        }
    }

    /// A `GET` or `HEAD` of `manifests/REFERENCE`, following redirects, with the
    /// `Accept` types given (or every manifest and index type).
    fn manifest_call<'a>(
        &self,
        method: Method,
        repo: &'a Repository,
        reference: &str,
        accept: &[&str],
    ) -> std::result::Result<Call<'a>, Fail> {
        let what = format!("{} manifest {reference}", method.as_str());
        let mut call = self.call(
            method,
            repo,
            &format!("manifests/{reference}"),
            Scopes::pull(&repo.name),
            what,
        )?;
        call.follow = true;
        let accept = if accept.is_empty() {
            &DEFAULT_ACCEPT[..]
        } else {
            accept
        };
        call.headers.push(("accept", accept.join(", ")));
        Ok(call)
    }

    /// Builds a [`Call`] for `repo` (resolving the scheme first).
    pub(crate) fn call<'a>(
        &self,
        method: Method,
        repo: &'a Repository,
        suffix: &str,
        scopes: Scopes,
        what: String,
    ) -> std::result::Result<Call<'a>, Fail> {
        let ctx = format!("{repo}: {what}");
        let url = self.api_url(repo, suffix, &ctx)?;
        Ok(Call {
            method,
            url,
            headers: Vec::new(),
            scopes,
            repo,
            follow: false,
            ctx,
        })
    }

    // ---- operations -----------------------------------------------------------

    /// `GET /v2/`: reachable, speaks the API, and our credentials (if it asks for
    /// any) are accepted.
    pub fn ping(&self, registry: &str) -> Result<()> {
        let repo = Repository {
            registry: registry.to_owned(),
            name: String::new(),
        };
        let ctx = format!("{registry}: ping");
        let url = format!("{}/v2/", self.base_url(repo.api_host(), &ctx)?);
        let call = Call {
            method: Method::GET,
            url,
            headers: Vec::new(),
            scopes: Scopes::none(),
            repo: &repo,
            follow: false,
            ctx,
        };
        let resp = self.execute(&call, ReqBody::Empty)?;
        match resp.status().as_u16() {
            200 => {
                drain(resp);
                Ok(())
            }
            _ => Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp)).into()),
        }
    }

    /// `HEAD` a blob: its size if the repository has it.
    pub fn blob_exists(&self, repo: &Repository, digest: &Digest) -> Result<Option<u64>> {
        let mut call = self.call(
            Method::HEAD,
            repo,
            &format!("blobs/{digest}"),
            Scopes::pull(&repo.name),
            format!("HEAD blob {digest}"),
        )?;
        call.follow = true;
        let resp = self.execute(&call, ReqBody::Empty)?;
        match resp.status().as_u16() {
            200 => Ok(Some(
                header(&resp, "content-length")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
            )),
            404 => Ok(None),
            _ => Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp)).into()),
        }
    }

    /// `GET` a blob as a stream (redirects to storage followed without our
    /// credentials). The caller hashes what it reads, or uses [`Self::fetch_blob`].
    pub fn get_blob(&self, repo: &Repository, digest: &Digest) -> Result<BlobReader> {
        self.get_blob_from(repo, digest, 0).map(|(r, _)| r)
    }

    /// `GET` a blob from byte `offset` on (`Range: bytes=OFFSET-`), to resume a
    /// download that broke mid-body. Returns the stream and the offset it starts at:
    /// `offset` on a 206, 0 when the registry ignored the range and sent the whole
    /// blob (200), so the caller skips what it already has or starts again. Offset 0
    /// is a plain [`Self::get_blob`] (no `Range`).
    pub fn get_blob_from(
        &self,
        repo: &Repository,
        digest: &Digest,
        offset: u64,
    ) -> Result<(BlobReader, u64)> {
        let key = (repo.registry.clone(), repo.name.clone(), digest.to_string());
        let d = self.opts().deadlines;
        // a resume continues the blob's clock; once it ran out, no new request
        let known = lock(&self.inner.blob_clocks).get(&key).copied();
        let resumed = known.filter(|_| offset > 0);
        // a download that ran out of time is not started again either (a reopening
        // from byte 0 after a timeout that brought nothing)
        if let Some(c) = known
            && (c.timed_out || (offset > 0 && deadline::passed(c.at)))
        {
            let t = TimedOut {
                elapsed: c.start.elapsed(),
                bytes: c.total.unwrap_or(offset),
                deadlines: d,
                got: Some(offset),
            };
            return Err(Error::Registry(format!("{repo}: GET blob {digest}: {t}")));
        }
        let ctx = if offset == 0 {
            format!("GET blob {digest}")
        } else {
            format!("GET blob {digest} from byte {offset}")
        };
        let mut call = self.call(
            Method::GET,
            repo,
            &format!("blobs/{digest}"),
            Scopes::pull(&repo.name),
            ctx,
        )?;
        call.follow = true;
        if offset > 0 {
            call.headers.push(("range", format!("bytes={offset}-")));
        }
        let resp = self.execute(&call, ReqBody::Empty)?;
        let start_at = match resp.status().as_u16() {
            200 => 0,
            206 if offset > 0 => {
                // `Content-Range: bytes START-END/TOTAL`: the start must be ours
                let served = header(&resp, "content-range").and_then(|v| {
                    let range = v.trim().strip_prefix("bytes ")?;
                    range.split('-').next()?.trim().parse::<u64>().ok()
                });
                if served != Some(offset) {
                    return Err(Error::Registry(format!(
                        "{}: asked for bytes from {offset}, the registry sent a range starting at {}",
                        call.ctx,
                        served.map_or_else(|| "an unknown offset".to_owned(), |s| s.to_string())
                    )));
                }
                offset
            }
            404 => return Err(Fail::new(FailKind::NotFound, &call.ctx, error_detail(resp)).into()),
            _ => return Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp)).into()),
        };
        let size = declared_length(&resp);
        let clock = match resumed {
            Some(c) => c,
            None => {
                let (start, at) = deadline::extend(&d, size.unwrap_or(0));
                BlobClock {
                    start,
                    total: size.map(|n| start_at + n),
                    at: size.and(at),
                    timed_out: false,
                }
            }
        };
        {
            let mut clocks = lock(&self.inner.blob_clocks);
            // the map holds blobs being downloaded; forget the oldest when it grows
            if clocks.len() >= 4096 {
                clocks.clear();
            }
            clocks.insert(key.clone(), clock);
        }
        Ok((
            BlobReader {
                inner: resp.into_body().into_reader(),
                size,
                ctx: format!("{repo}: GET blob {digest}"),
                clock,
                deadlines: d,
                offset: start_at,
                read: 0,
                key,
                clocks: self.inner.blob_clocks.clone(),
            },
            start_at,
        ))
    }

    /// Streams a blob into `out`, checking its size (if given) and digest; returns
    /// the byte count. Nothing is held in memory; on a mismatch `out` has received
    /// bad bytes, so write to a temp file and rename on success.
    pub fn fetch_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<u64> {
        let ctx = format!("{repo}: GET blob {digest}");
        let mut r = self.get_blob(repo, digest)?;
        if let (Some(want), Some(got)) = (size, r.size())
            && want != got
        {
            return Err(Error::Registry(format!(
                "{ctx}: the registry announces {got} bytes, expected {want}"
            )));
        }
        // Without a descriptor's size, the registry's announced length stands in.
        let Some(want) = size.or(r.size()) else {
            return Err(Error::Registry(format!(
                "{ctx}: neither a descriptor nor the registry gives the blob's size"
            )));
        };
        let copied = io::copy(&mut VerifyingReader::new(&mut r, digest, want), out);
        let n = copied.map_err(|e| match Error::io("", e) {
            Error::Io { source, .. } => Error::Registry(format!("{ctx}: {source}")),
            typed => Error::Registry(format!("{ctx}: {typed}: refusing it")),
        })?;
        Ok(n)
    }

    /// `GET` a manifest by tag or digest: the registry's exact bytes (at most
    /// [`MAX_MANIFEST`]), their media type and digest. Fetched by digest, the bytes
    /// must hash to it; a `Docker-Content-Digest` header must match the bytes.
    pub fn get_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        accept: &[&str],
    ) -> Result<Manifest> {
        let by_digest = parse_ref(reference)?;
        let call = self.manifest_call(Method::GET, repo, reference, accept)?;
        let resp = self.execute(&call, ReqBody::Empty)?;
        let ctx = &call.ctx;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(Fail::new(FailKind::NotFound, ctx, error_detail(resp)).into()),
            _ => return Err(Fail::new(FailKind::Other, ctx, error_detail(resp)).into()),
        }
        if let Some(len) =
            header(&resp, "content-length").and_then(|v| v.trim().parse::<u64>().ok())
            && len > MAX_MANIFEST
        {
            return Err(Error::Registry(format!(
                "{ctx}: manifest of {len} bytes is over the {MAX_MANIFEST}-byte limit"
            )));
        }
        let content_type = header(&resp, "content-type");
        let header_digest = header(&resp, "docker-content-digest");
        let mut bytes = Vec::new();
        // the body may take `base + its length / min_rate` from the request's start
        // (the cap when no length is announced)
        let want = declared_length(&resp).unwrap_or(MAX_MANIFEST);
        let d = self.opts().deadlines;
        let (started, at) = deadline::extend(&d, want);
        resp.into_body()
            .into_reader()
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| body_error(ctx, e, at, started, want, bytes.len() as u64, d))?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(Error::Registry(format!(
                "{ctx}: manifest is over the {MAX_MANIFEST}-byte limit"
            )));
        }
        let digest = match &by_digest {
            Some(d) if !d.matches(&bytes) => {
                return Err(Error::Registry(format!(
                    "{ctx}: content does not match the digest asked for (it hashes to {})",
                    Digest::of(d.algorithm(), &bytes)
                )));
            }
            Some(d) => d.clone(),
            None => Digest::sha256(&bytes),
        };
        if let Some(h) = header_digest {
            let hd: Digest = h
                .trim()
                .parse()
                .map_err(|e| Error::Registry(format!("{ctx}: Docker-Content-Digest: {e}")))?;
            if !hd.matches(&bytes) {
                return Err(Error::Registry(format!(
                    "{ctx}: Docker-Content-Digest {hd} does not match the bytes received"
                )));
            }
        }
        let media_type = manifest_media_type(&bytes, content_type.as_deref())
            .map_err(|e| Error::Registry(format!("{ctx}: {e}")))?;
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// `HEAD` a manifest: `None` if absent. One request per tag for a warm sync.
    pub fn head_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<ManifestHead>> {
        parse_ref(reference)?;
        let call = self.manifest_call(Method::HEAD, repo, reference, accept)?;
        let resp = self.execute(&call, ReqBody::Empty)?;
        match resp.status().as_u16() {
            200 => Ok(Some(ManifestHead {
                digest: header(&resp, "docker-content-digest").and_then(|d| d.trim().parse().ok()),
                media_type: header(&resp, "content-type").map(|c| bare_type(&c).to_owned()),
                size: header(&resp, "content-length").and_then(|v| v.trim().parse().ok()),
            })),
            404 => Ok(None),
            _ => Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp)).into()),
        }
    }

    /// `PUT` a manifest byte for byte under a tag or its digest. The registry's
    /// `Docker-Content-Digest` must be the digest of exactly these bytes (a registry
    /// that rewrote the manifest would break every signature on it).
    pub fn put_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest> {
        let by_digest = parse_ref(reference)?;
        let ctx = format!("{repo}: PUT manifest {reference}");
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(Error::Registry(format!(
                "{ctx}: manifest of {} bytes is over the {MAX_MANIFEST}-byte limit",
                bytes.len()
            )));
        }
        let ours = match by_digest {
            Some(d) if !d.matches(bytes) => {
                return Err(Error::Registry(format!(
                    "{ctx}: the bytes do not hash to {d}"
                )));
            }
            Some(d) => d,
            None => Digest::sha256(bytes),
        };
        let mut call = self.call(
            Method::PUT,
            repo,
            &format!("manifests/{reference}"),
            Scopes::push(&repo.name),
            format!("PUT manifest {reference}"),
        )?;
        call.headers.push(("content-type", media_type.to_owned()));
        let mut resp = self.execute(&call, ReqBody::Bytes(bytes))?;
        let mut retried = false;
        while !matches!(resp.status().as_u16(), 200..=202) {
            let status = resp.status().as_u16();
            let detail = error_detail(resp);
            // our bytes hash to their digest (checked above), so DIGEST_INVALID is
            // the registry's own trouble: distribution stores a manifest as a blob,
            // and two clients putting the same one at once can collide. Once more.
            if status == 400 && !retried && detail.contains(": DIGEST_INVALID") {
                retried = true;
                resp = self.execute(&call, ReqBody::Bytes(bytes))?;
                continue;
            }
            // a child the manifest names is missing (distribution and the spec say
            // MANIFEST_BLOB_UNKNOWN, some registries MANIFEST_UNKNOWN or
            // BLOB_UNKNOWN): NotFound, so that sync can push the children again
            let missing = matches!(status, 400 | 404)
                && [
                    ": MANIFEST_BLOB_UNKNOWN",
                    ": MANIFEST_UNKNOWN",
                    ": BLOB_UNKNOWN",
                ]
                .iter()
                .any(|c| detail.contains(c));
            let kind = if missing {
                FailKind::NotFound
            } else {
                FailKind::Other
            };
            return Err(Fail::new(kind, &ctx, detail).into());
        }
        let theirs = header(&resp, "docker-content-digest");
        drain(resp);
        // the header is a SHOULD in the spec: absent, the registry's own check of a
        // digest reference (or nothing) is all there is
        if let Some(h) = theirs {
            let hd: Digest = h
                .trim()
                .parse()
                .map_err(|e| Error::Registry(format!("{ctx}: Docker-Content-Digest: {e}")))?;
            if !hd.matches(bytes) {
                return Err(Error::Registry(format!(
                    "{ctx}: the registry stored it as {hd}, but the bytes sent are {ours}"
                )));
            }
        }
        Ok(ours)
    }

    /// `DELETE` a manifest by digest (registries refuse deletion by tag).
    pub fn delete_manifest(&self, repo: &Repository, digest: &Digest) -> Result<()> {
        let call = self.call(
            Method::DELETE,
            repo,
            &format!("manifests/{digest}"),
            Scopes::none().with("repository", &repo.name, &["delete"]),
            format!("DELETE manifest {digest}"),
        )?;
        let resp = self.execute(&call, ReqBody::Empty)?;
        match resp.status().as_u16() {
            200 | 202 => {
                drain(resp);
                Ok(())
            }
            404 => Err(Fail::new(FailKind::NotFound, &call.ctx, error_detail(resp)).into()),
            _ => Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp)).into()),
        }
    }

    /// Every tag of a repository, following `Link` pagination; a repository the
    /// registry does not know has no tags.
    pub fn list_tags(&self, repo: &Repository) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let mut call = self.call(
            Method::GET,
            repo,
            "tags/list",
            Scopes::pull(&repo.name),
            "list tags".into(),
        )?;
        let origin = u::origin(&call.url);
        let mut tags = Vec::new();
        for _ in 0..MAX_TAG_PAGES {
            let resp = self.execute(&call, ReqBody::Empty)?;
            match resp.status().as_u16() {
                200 => {}
                404 => {
                    drain(resp);
                    return Ok(tags);
                }
                _ => return Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp)).into()),
            }
            let next = header(&resp, "link").and_then(|l| u::link_next(&l).map(str::to_owned));
            let d = self.opts().deadlines;
            let want = declared_length(&resp).unwrap_or(MAX_TAG_PAGE);
            let (started, at) = deadline::extend(&d, want);
            let mut b = resp.into_body();
            let page: Page = b
                .with_config()
                .limit(MAX_TAG_PAGE)
                .read_to_vec()
                .map_err(|e| timed_out_or(e.to_string(), at, started, want, d))
                .and_then(|v| serde_json::from_slice(&v).map_err(|e| e.to_string()))
                .map_err(|e| Error::Registry(format!("{}: {e}", call.ctx)))?;
            tags.extend(page.tags.unwrap_or_default());
            match next_page(&call.url, next, origin.as_deref(), &call.ctx)? {
                Some(n) => call.url = n,
                None => return Ok(tags),
            }
        }
        Err(Error::Registry(format!(
            "{}: more than {MAX_TAG_PAGES} pages",
            call.ctx
        )))
    }

    /// The referrers of `digest`: the OCI 1.1 Referrers API (following its `Link`
    /// pages on the registry), or the `sha256-<hex>` fallback tag when the registry
    /// has no API — it answers 404 or 400, or something that is not an OCI index, as
    /// go-containerregistry and oras read it. The fallback tag must be an OCI index
    /// that does not resolve to the subject itself. `artifact_type` filters
    /// (client-side too).
    pub fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers> {
        let mut suffix = format!("referrers/{digest}");
        if let Some(t) = artifact_type {
            suffix = u::with_query(&suffix, "artifactType", t);
        }
        let mut call = self.call(
            Method::GET,
            repo,
            &suffix,
            Scopes::pull(&repo.name),
            format!("GET referrers {digest}"),
        )?;
        call.follow = true;
        call.headers.push(("accept", OCI_INDEX.to_owned()));
        let keep =
            |d: &Descriptor| artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t));
        let origin = u::origin(&call.url);
        let mut listed: Vec<Descriptor> = Vec::new();
        for page in 0..MAX_REFERRER_PAGES {
            let resp = self.execute(&call, ReqBody::Empty)?;
            let status = resp.status().as_u16();
            let is_index =
                header(&resp, "content-type").is_some_and(|c| bare_type(&c) == OCI_INDEX);
            match status {
                200 if is_index => {}
                // no API: 404 (the spec), 400 (registries that read `referrers` as a
                // bad name), or a 200 that is not an index (a web page, a catch-all);
                // a later page must not turn into the fallback
                404 | 400 | 200 if page == 0 => {
                    drain(resp);
                    return self.referrers_fallback(repo, digest, &keep);
                }
                200 => {
                    return Err(Error::Registry(format!(
                        "{}: page {} of the referrers is not an OCI index",
                        call.ctx,
                        page + 1
                    )));
                }
                _ => return Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp)).into()),
            }
            let next = header(&resp, "link").and_then(|l| u::link_next(&l).map(str::to_owned));
            let d = self.opts().deadlines;
            let want = declared_length(&resp).unwrap_or(MAX_MANIFEST);
            let (started, at) = deadline::extend(&d, want);
            let mut b = resp.into_body();
            let bytes = b
                .with_config()
                .limit(MAX_MANIFEST)
                .read_to_vec()
                .map_err(|e| {
                    Error::Registry(format!(
                        "{}: {}",
                        call.ctx,
                        timed_out_or(e.to_string(), at, started, want, d)
                    ))
                })?;
            let idx =
                parse_index(&bytes).map_err(|e| Error::Registry(format!("{}: {e}", call.ctx)))?;
            listed.extend(idx.into_iter().filter(keep));
            if listed.len() > MAX_REFERRERS {
                return Err(Error::Registry(format!(
                    "{}: more than {MAX_REFERRERS} referrers",
                    call.ctx
                )));
            }
            match next_page(&call.url, next, origin.as_deref(), &call.ctx)? {
                Some(n) => call.url = n,
                None => {
                    return Ok(Referrers {
                        source: ReferrersSource::Api,
                        manifests: listed,
                    });
                }
            }
        }
        Err(Error::Registry(format!(
            "{}: more than {MAX_REFERRER_PAGES} pages",
            call.ctx
        )))
    }

    /// The `sha256-<hex>` fallback tag of a registry without the Referrers API.
    fn referrers_fallback(
        &self,
        repo: &Repository,
        digest: &Digest,
        keep: &dyn Fn(&Descriptor) -> bool,
    ) -> Result<Referrers> {
        let tag = digest.tag_form();
        // accept every manifest type: a registry that answers the tag with
        // something else must be caught here, not hidden behind a 404
        let m = match self.get_manifest(repo, &tag, &[]) {
            Ok(m) => m,
            Err(Error::NotFound(_)) => {
                return Ok(Referrers {
                    source: ReferrersSource::None,
                    manifests: Vec::new(),
                });
            }
            Err(e) => return Err(e),
        };
        let reject = |why: String| {
            Ok(Referrers {
                source: ReferrersSource::FallbackRejected(why),
                manifests: Vec::new(),
            })
        };
        if m.digest == *digest {
            return reject(format!("tag {tag} resolves to {digest} itself"));
        }
        if m.media_type != OCI_INDEX {
            return reject(format!(
                "tag {tag} is a {}, not an OCI index",
                printable(&m.media_type)
            ));
        }
        let idx = match parse_index(&m.bytes) {
            Ok(i) => i,
            Err(e) => return reject(format!("tag {tag}: {e}")),
        };
        if idx.iter().any(|d| d.digest == *digest) {
            return reject(format!("tag {tag} lists {digest} itself"));
        }
        if idx.len() > MAX_REFERRERS {
            return reject(format!(
                "tag {tag} lists more than {MAX_REFERRERS} referrers"
            ));
        }
        Ok(Referrers {
            source: ReferrersSource::FallbackTag,
            manifests: idx.into_iter().filter(keep).collect(),
        })
    }
}

/// A blob being downloaded. Each read runs under the download's deadline; past it,
/// the read fails with one line naming the registry, repository and blob.
pub struct BlobReader {
    inner: ureq::BodyReader<'static>,
    size: Option<u64>,
    /// `HOST/REPO: GET blob DIGEST`.
    ctx: String,
    clock: BlobClock,
    deadlines: Deadlines,
    /// Bytes of the blob before this stream (a ranged resume), and read from it.
    offset: u64,
    read: u64,
    key: (String, String, String),
    clocks: Arc<Mutex<BlobClocks>>,
}

/// The deadline of one blob's download, shared by the ranged requests that resume
/// it: a resume does not restart the clock.
#[derive(Clone, Copy, Debug)]
struct BlobClock {
    start: Instant,
    /// The blob's size as far as known (`offset + Content-Length`).
    total: Option<u64>,
    at: Option<Instant>,
    /// The download ran out of time: this client does not ask for the blob again.
    timed_out: bool,
}

/// Blob clocks by (registry, repository, digest).
type BlobClocks = HashMap<(String, String, String), BlobClock>;

impl BlobReader {
    fn deadline(&self) -> Option<Instant> {
        match self.clock.total {
            Some(_) => self.clock.at,
            // no length announced: the bytes so far must keep up with min_rate
            None => self
                .deadlines
                .at(self.clock.start, self.offset + self.read + 1),
        }
    }
}

impl BlobReader {
    /// The `Content-Length` the registry announced.
    pub fn size(&self) -> Option<u64> {
        self.size
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.deadline();
        if deadline::passed(at) {
            return Err(self.timed_out());
        }
        match deadline::under(at, || self.inner.read(buf)) {
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(_) if deadline::passed(at) => Err(self.timed_out()),
            Err(e) => Err(e),
        }
    }
}

impl BlobReader {
    fn timed_out(&self) -> io::Error {
        if let Some(c) = lock(&self.clocks).get_mut(&self.key) {
            c.timed_out = true;
        }
        let t = TimedOut {
            elapsed: self.clock.start.elapsed(),
            bytes: self.clock.total.unwrap_or(self.offset + self.read),
            deadlines: self.deadlines,
            got: Some(self.offset + self.read),
        };
        deadline::cut(format!("{}: {t}", self.ctx))
    }
}

/// The `Content-Length` of an answer.
fn declared_length(resp: &Response<Body>) -> Option<u64> {
    header(resp, "content-length").and_then(|v| v.trim().parse().ok())
}

/// `detail`, or the deadline's message if the deadline `at` has passed.
fn timed_out_or(
    detail: String,
    at: Option<Instant>,
    started: Instant,
    want: u64,
    d: Deadlines,
) -> String {
    if deadline::passed(at) {
        TimedOut {
            elapsed: started.elapsed(),
            bytes: want,
            deadlines: d,
            got: None,
        }
        .to_string()
    } else {
        detail
    }
}

/// A body read that failed: the deadline's message (`got` of `want` bytes) if it
/// passed, else the error.
fn body_error(
    ctx: &str,
    e: io::Error,
    at: Option<Instant>,
    started: Instant,
    want: u64,
    got: u64,
    d: Deadlines,
) -> Error {
    if deadline::passed(at) {
        let t = TimedOut {
            elapsed: started.elapsed(),
            bytes: want,
            deadlines: d,
            got: Some(got),
        };
        Error::Registry(format!("{ctx}: {t}"))
    } else {
        Error::Registry(format!("{ctx}: {e}"))
    }
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// A manifest reference must be a digest or a valid tag (it becomes a URL path).
fn parse_ref(reference: &str) -> Result<Option<Digest>> {
    if reference.contains(':') {
        return reference.parse::<Digest>().map(Some);
    }
    validate_tag(reference).map_err(Error::invalid)?;
    Ok(None)
}

/// `application/json; charset=utf-8` → `application/json`.
fn bare_type(ct: &str) -> &str {
    ct.split(';').next().unwrap_or("").trim()
}

/// The media type of manifest bytes: the `Content-Type`, unless generic, else the
/// embedded `mediaType`. A disagreement between the two known types is refused:
/// one document must not be read as a manifest and an index (CVE-2021-41190).
fn manifest_media_type(
    bytes: &[u8],
    content_type: Option<&str>,
) -> std::result::Result<String, String> {
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
    }
    let m: M = serde_json::from_slice(bytes).map_err(|e| format!("manifest is not JSON: {e}"))?;
    if m.manifests.is_some() && m.layers.is_some() {
        return Err("document has both manifests and layers".into());
    }
    let ct = content_type
        .map(bare_type)
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
    match (ct, m.media_type) {
        (Some(c), Some(e))
            if c != e && DEFAULT_ACCEPT.contains(&c) && DEFAULT_ACCEPT.contains(&e.as_str()) =>
        {
            Err(format!(
                "Content-Type {c} contradicts the embedded mediaType {}",
                printable(&e)
            ))
        }
        (Some(c), _) => Ok(c.to_owned()),
        (None, Some(e)) => Ok(e),
        (None, None) => Err("no Content-Type and no mediaType".into()),
    }
}

/// The next page of a paginated answer (`Link: <…>; rel="next"`, resolved against
/// this page's URL), or `None` on the last page. Pages stay on the registry's
/// `origin`: they carry our credentials.
fn next_page(
    url: &str,
    link_next: Option<String>,
    origin: Option<&str>,
    ctx: &str,
) -> Result<Option<String>> {
    match link_next.and_then(|n| u::resolve(url, &n)) {
        Some(n) if u::origin(&n).as_deref() == origin => Ok(Some(n)),
        Some(_) => Err(Error::Registry(format!(
            "{ctx}: pagination link leaves the registry"
        ))),
        None => Ok(None),
    }
}

fn parse_index(bytes: &[u8]) -> std::result::Result<Vec<Descriptor>, String> {
    #[derive(serde::Deserialize)]
    struct Idx {
        manifests: Vec<Descriptor>,
    }
    serde_json::from_slice::<Idx>(bytes)
        .map(|i| i.manifests)
        .map_err(|e| format!("not a referrers index: {}", printable_cause(&e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_rules() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
        assert_eq!(
            manifest_media_type(m, Some(OCI_MANIFEST)).unwrap(),
            OCI_MANIFEST
        );
        assert_eq!(
            manifest_media_type(m, Some("application/json")).unwrap(),
            OCI_MANIFEST
        );
        assert_eq!(manifest_media_type(m, None).unwrap(), OCI_MANIFEST);
        assert!(manifest_media_type(m, Some(OCI_INDEX)).is_err());
        let both = br#"{"manifests":[],"layers":[]}"#;
        assert!(manifest_media_type(both, Some(OCI_INDEX)).is_err());
        assert!(manifest_media_type(b"nope", Some(OCI_INDEX)).is_err());
    }

    #[test]
    fn refs_are_tags_or_digests() {
        assert!(parse_ref("v1.0").unwrap().is_none());
        assert!(parse_ref("sha256-abc.sig").unwrap().is_none());
        assert!(parse_ref("../x").is_err());
        assert!(parse_ref("sha256:zz").is_err());
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(parse_ref(d).unwrap().unwrap().to_string(), d);
    }

    #[test]
    fn repositories_are_validated_not_normalised() {
        let r = Repository::new("127.0.0.1:5000", "team/app").unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app");
        assert!(Repository::new("127.0.0.1:5000", "Team/app").is_err());
        assert!(Repository::new("127.0.0.1:5000", "a/../b").is_err());
        assert_eq!(
            Repository::new(DOCKER_HUB, "library/alpine")
                .unwrap()
                .api_host(),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn client_is_send_sync() {
        fn ok<T: Send + Sync + Clone>() {}
        ok::<RegistryClient>();
        fn send<T: Send>() {}
        send::<BlobReader>();
    }
}
