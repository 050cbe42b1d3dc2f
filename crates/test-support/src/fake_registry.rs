//! A tiny scriptable HTTP/1.1 "registry" on 127.0.0.1, for what a real registry
//! will not do on demand: lying headers, wrong bytes, endless bodies, redirects to
//! another host, 429s, ignored ranges. It serves canned [`Reply`]s per (method,
//! path) and records every request it saw (method, path, headers), so a test can
//! prove what airsign asked for and what it sent.
//!
//! Replies for one route are queued: each request takes the next one, and the last
//! one stays (so `route(.., ok)` answers every time, and `route(.., 503)` then
//! `route(.., ok)` answers 503 once). A route nobody scripted answers 404 with
//! distribution's error JSON; `/v2/` answers 200. [`FakeRegistry::manifest`] and
//! [`FakeRegistry::blob`] script the routes a real registry would have.
//!
//! Every answer carries `Connection: close` and the connection is closed after it,
//! so one connection is one request, and a body cut short is seen as such. A
//! connection that does not start like an HTTP request (a TLS ClientHello: airsign
//! probes loopback registries over HTTPS first) is closed at once, unrecorded.
//!
//! Threads only (one per connection), no new crates; dropping it stops accepting.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Header names lowercased; values as sent.
    pub headers: BTreeMap<String, String>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// How a reply's body goes out.
#[derive(Clone)]
pub enum Body {
    /// These bytes, with a `Content-Length` of their size unless the reply's
    /// headers give one (a lie, then: longer or shorter than the bytes).
    Bytes(Vec<u8>),
    /// These bytes with no `Content-Length` (read until the connection closes).
    UntilClose(Vec<u8>),
    /// These bytes announced in full, but the connection is closed after `after`.
    Cut { bytes: Vec<u8>, after: usize },
    /// A chunked body that never ends (stops when the client goes away, or after
    /// [`ENDLESS_CAP`] bytes so a broken client cannot hang the test forever).
    Endless,
    /// These bytes announced in full, sent `chunk` bytes at a time with a pause of
    /// `every` before each: a trickle (1 byte every few seconds), or a slow but
    /// steady link. Stops when the client goes away.
    Trickle {
        bytes: Vec<u8>,
        chunk: usize,
        every: std::time::Duration,
    },
}

/// The most an [`Body::Endless`] reply writes.
pub const ENDLESS_CAP: u64 = 1 << 30;

/// A canned answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// An answer computed from the request (ranges, for instance).
pub type Dynamic = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Clone)]
enum Script {
    Fixed(Reply),
    Dynamic(Dynamic),
}

impl Reply {
    pub fn new(status: u16, body: &[u8]) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Bytes(body.to_vec()),
        }
    }

    /// `404` with distribution's error JSON.
    pub fn not_found() -> Reply {
        Reply::new(
            404,
            br#"{"errors":[{"code":"NOT_FOUND","message":"not scripted"}]}"#,
        )
        .header("Content-Type", "application/json")
    }

    pub fn status(status: u16) -> Reply {
        Reply::new(status, b"")
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: Body) -> Reply {
        self.body = body;
        self
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::status(status).header("Location", location)
    }
}

struct Shared {
    routes: Mutex<HashMap<(String, String), VecDeque<Script>>>,
    seen: Mutex<Vec<Seen>>,
    /// Answer 401 (Basic challenge) to anything without `Authorization`.
    basic_auth: AtomicBool,
    stopping: AtomicBool,
    /// Body bytes written for [`Body::Endless`] replies.
    endless_written: AtomicU64,
}

/// A running fake registry; stops accepting when dropped.
pub struct FakeRegistry {
    port: u16,
    shared: Arc<Shared>,
}

impl FakeRegistry {
    pub fn start() -> FakeRegistry {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding the fake registry");
        let port = l.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            routes: Mutex::new(HashMap::new()),
            seen: Mutex::new(Vec::new()),
            basic_auth: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            endless_written: AtomicU64::new(0),
        });
        let sh = shared.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if sh.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let sh = sh.clone();
                std::thread::spawn(move || {
                    // a client that hangs up mid-answer is a normal end here
                    let _ = serve(&sh, conn);
                });
            }
        });
        FakeRegistry { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request from now on must carry `Authorization`, else 401 with a Basic
    /// challenge (any credentials are accepted).
    pub fn require_basic_auth(&self) {
        self.shared.basic_auth.store(true, Ordering::SeqCst);
    }

    /// Queues `reply` for `METHOD PATH` (the path as requested, query included).
    pub fn route(&self, method: &str, path: &str, reply: Reply) {
        self.push(method, path, Script::Fixed(reply));
    }

    /// Queues an answer computed from the request.
    pub fn route_fn(&self, method: &str, path: &str, f: Dynamic) {
        self.push(method, path, Script::Dynamic(f));
    }

    /// Forgets what was scripted for `METHOD PATH`.
    pub fn clear(&self, method: &str, path: &str) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .remove(&(method.to_owned(), path.to_owned()));
    }

    fn push(&self, method: &str, path: &str, s: Script) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .entry((method.to_owned(), path.to_owned()))
            .or_default()
            .push_back(s);
    }

    /// Serves `bytes` as a manifest of `media_type` in `repo`, by its digest and,
    /// when given, by `tag`, for GET and HEAD, with a true `Docker-Content-Digest`.
    pub fn manifest(&self, repo: &str, tag: Option<&str>, bytes: &[u8], media_type: &str) {
        let digest = super::oci::digest_of(bytes);
        let mut refs = vec![digest.clone()];
        refs.extend(tag.map(str::to_owned));
        for r in refs {
            let path = format!("/v2/{repo}/manifests/{r}");
            let reply = Reply::new(200, bytes)
                .header("Content-Type", media_type)
                .header("Docker-Content-Digest", &digest);
            self.route("GET", &path, reply.clone());
            self.route("HEAD", &path, reply);
        }
    }

    /// Serves `bytes` as a blob of `repo` (GET honours `Range`, HEAD answers the
    /// size); returns its digest.
    pub fn blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = super::oci::digest_of(bytes);
        let path = format!("/v2/{repo}/blobs/{digest}");
        self.route_fn("GET", &path, ranged(bytes.to_vec()));
        self.route(
            "HEAD",
            &path,
            Reply::new(200, bytes).header("Docker-Content-Digest", &digest),
        );
        digest
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The requests so far for `METHOD PATH`.
    pub fn seen_at(&self, method: &str, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method && s.path == path)
            .collect()
    }

    /// Body bytes written so far by [`Body::Endless`] replies.
    pub fn endless_written(&self) -> u64 {
        self.shared.endless_written.load(Ordering::SeqCst)
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // wake the accept loop so that it sees the flag
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// A blob answer that honours `Range: bytes=N-` (206 and `Content-Range`), else the
/// whole blob (200).
pub fn ranged(bytes: Vec<u8>) -> Dynamic {
    Arc::new(move |req: &Seen| {
        let from = req
            .header("range")
            .and_then(|r| r.trim().strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok());
        match from {
            Some(n) if n < bytes.len() => Reply::new(206, &bytes[n..]).header(
                "Content-Range",
                &format!("bytes {n}-{}/{}", bytes.len() - 1, bytes.len()),
            ),
            _ => Reply::new(200, &bytes),
        }
    })
}

const MAX_HEAD: usize = 64 * 1024;

fn serve(sh: &Shared, conn: TcpStream) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let first = r.fill_buf()?;
    if first.is_empty() || !first[0].is_ascii_uppercase() {
        return Ok(());
    }
    let mut lines = Vec::new();
    let mut size = 0;
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line)?;
        size += n;
        if n == 0 || size > MAX_HEAD {
            return Ok(());
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let mut parts = lines[0].split(' ');
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let headers: BTreeMap<String, String> = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: u64 = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::io::copy(&mut r.by_ref().take(len), &mut std::io::sink())?;
    let seen = Seen {
        method: method.clone(),
        path: path.clone(),
        headers,
    };
    sh.seen.lock().unwrap().push(seen.clone());

    let reply = if sh.basic_auth.load(Ordering::SeqCst) && seen.header("authorization").is_none() {
        Reply::new(
            401,
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
        .header("WWW-Authenticate", "Basic realm=\"fake\"")
    } else if path == "/v2/" || path == "/v2" {
        Reply::new(200, b"{}")
    } else {
        let script = {
            let mut routes = sh.routes.lock().unwrap();
            match routes.get_mut(&(method.clone(), path.clone())) {
                Some(q) if q.len() > 1 => q.pop_front(),
                Some(q) => q.front().cloned(),
                None => None,
            }
        };
        match script {
            Some(Script::Fixed(r)) => r,
            Some(Script::Dynamic(f)) => f(&seen),
            None => Reply::not_found(),
        }
    };
    write_reply(sh, &mut out, &method, reply)
}

fn write_reply(
    sh: &Shared,
    out: &mut TcpStream,
    method: &str,
    reply: Reply,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Fake\r\nConnection: close\r\n", reply.status);
    let has_length = reply
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    for (k, v) in &reply.headers {
        head += &format!("{k}: {v}\r\n");
    }
    match &reply.body {
        Body::Bytes(b) | Body::Cut { bytes: b, .. } | Body::Trickle { bytes: b, .. }
            if !has_length =>
        {
            head += &format!("Content-Length: {}\r\n", b.len());
        }
        Body::Endless => head += "Transfer-Encoding: chunked\r\n",
        _ => {}
    }
    head += "\r\n";
    out.write_all(head.as_bytes())?;
    if method == "HEAD" {
        return out.flush();
    }
    match reply.body {
        Body::Bytes(b) | Body::UntilClose(b) => out.write_all(&b)?,
        Body::Cut { bytes, after } => out.write_all(&bytes[..after.min(bytes.len())])?,
        Body::Trickle {
            bytes,
            chunk,
            every,
        } => {
            out.flush()?;
            for part in bytes.chunks(chunk.max(1)) {
                std::thread::sleep(every);
                out.write_all(part)?;
                out.flush()?;
            }
        }
        Body::Endless => {
            let chunk = vec![b' '; 64 * 1024];
            let framed = [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk,
                b"\r\n".to_vec(),
            ]
            .concat();
            while sh.endless_written.load(Ordering::SeqCst) < ENDLESS_CAP {
                out.write_all(&framed)?;
                sh.endless_written.fetch_add(64 * 1024, Ordering::SeqCst);
            }
        }
    }
    out.flush()
}
