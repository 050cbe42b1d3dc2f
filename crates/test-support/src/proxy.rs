//! A fault-injecting HTTP/1.1 proxy for tests: it listens on 127.0.0.1 and relays
//! every request to one upstream (the plain loopback registry), so airsign talks to
//! the proxy's port as if it were the registry (`--to 127.0.0.1:PROXYPORT/...`).
//!
//! It understands message framing, so it acts per request even on keep-alive
//! connections: request head + `Content-Length` or chunked body; response head +
//! `Content-Length`, chunked, or no body (HEAD, 1xx, 204, 304). Heads are forwarded
//! unchanged, `Host` included: distribution builds its `Location` URLs from the
//! request's `Host` (when `http.host` is not set), so they already name the proxy
//! and need no rewriting.
//!
//! Before relaying, a [`Plan`] (a deterministic function of the request's method,
//! path and counters, never of time or chance) may choose a [`Fault`]: answer an
//! error status instead of the registry, drop the connection after part of the
//! body went through, delay, or close a keep-alive connection after the answer.
//! Every request and every fault is counted ([`Proxy::stats`]), so a test can
//! prove that its faults really fired.
//!
//! Anything that does not start like an HTTP request (a TLS ClientHello: airsign
//! probes a loopback registry over HTTPS first) is closed at once, uncounted.
//!
//! Threads only (one per connection), no new crates; dropping the [`Proxy`] stops
//! accepting (open connections end when their client closes them).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the plan sees it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// 1-based number of this request among all requests the proxy saw.
    pub n: u64,
    /// 1-based number of this request among those with the same method.
    pub n_method: u64,
    /// The body length (`Content-Length`), if it has one.
    pub body_len: Option<u64>,
}

impl Request {
    /// A blob upload request (`POST`/`PATCH`/`PUT` on `/blobs/uploads/`).
    pub fn is_upload(&self) -> bool {
        self.path.contains("/blobs/uploads/")
    }
}

/// What the proxy does to one request instead of relaying it faithfully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status itself (the body is read and discarded, nothing reaches
    /// the registry), with `Retry-After: SECS` if given; the connection stays open.
    Respond {
        status: u16,
        retry_after: Option<u32>,
    },
    /// Relay the head and the first `after` bytes of the body, then cut both
    /// connections: the client sees its upload break, the registry a short body.
    DropMidBody { after: u64 },
    /// Relay the head and the first `after` bytes of the body, then hold the
    /// exchange open (never answering) until the client goes away: a frozen upload,
    /// to kill the client in the middle of it. [`Stats::held`] counts them.
    Hold { after: u64 },
    /// Wait this long before relaying (slowness, not a failure).
    Delay(Duration),
    /// Relay the exchange, then close the client's keep-alive connection.
    CloseAfterResponse,
    /// Answer this status with these headers and body itself, as a lying registry
    /// would (the request body is read and discarded; nothing reaches the registry).
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Relay the exchange, but change the response's headers on the way back.
    Edit(Vec<Edit>),
}

/// A change [`Fault::Edit`] makes to a response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Replace the header (or add it).
    Set(String, String),
    /// Drop the header.
    Remove(String),
    /// Point `Location` (absolute or not) at `http://HOST` with the same path and
    /// query: another origin, to see what follows it there.
    LocationTo(String),
}

impl Fault {
    fn kind(&self) -> &'static str {
        match self {
            Fault::Respond { status: 429, .. } => "429",
            Fault::Respond { status, .. } if *status >= 500 => "5xx",
            Fault::Respond { .. } => "status",
            Fault::DropMidBody { .. } => "drop",
            Fault::Hold { .. } => "hold",
            Fault::Delay(_) => "delay",
            Fault::CloseAfterResponse => "close",
            Fault::Answer { .. } => "answer",
            Fault::Edit(_) => "edit",
        }
    }
}

/// Chooses the fault, if any, for each request.
pub type Plan = Arc<dyn Fn(&Request) -> Option<Fault> + Send + Sync>;

/// What went through the proxy so far.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Requests seen (faulted or not).
    pub requests: u64,
    /// Requests by method, in the order first seen.
    pub by_method: Vec<(String, u64)>,
    /// Faults injected, by kind: "429", "5xx", "status", "drop", "delay", "close",
    /// "answer", "edit".
    pub faults: Vec<(String, u64)>,
    /// One line per injected fault: `#N METHOD PATH -> FAULT`.
    pub log: Vec<String>,
    /// (method, `Content-Length`) of every request that had a body, in order.
    pub bodies: Vec<(String, u64)>,
    /// Exchanges now frozen by [`Fault::Hold`] with their bytes relayed.
    pub held: u64,
    /// Every request in order: method, path and the `Authorization` it carried.
    pub seen: Vec<Seen>,
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

impl Stats {
    pub fn method(&self, m: &str) -> u64 {
        self.by_method
            .iter()
            .find(|(k, _)| k == m)
            .map_or(0, |(_, n)| *n)
    }

    pub fn faults_of(&self, kind: &str) -> u64 {
        self.faults
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, n)| *n)
    }

    pub fn total_faults(&self) -> u64 {
        self.faults.iter().map(|(_, n)| n).sum()
    }
}

fn bump(v: &mut Vec<(String, u64)>, key: &str) -> u64 {
    match v.iter_mut().find(|(k, _)| k == key) {
        Some((_, n)) => {
            *n += 1;
            *n
        }
        None => {
            v.push((key.to_owned(), 1));
            1
        }
    }
}

struct Shared {
    upstream: SocketAddr,
    plan: Plan,
    stats: Mutex<Stats>,
    stopping: AtomicBool,
    next: AtomicU64,
}

/// A running proxy; stops accepting when dropped.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

/// The longest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;

impl Proxy {
    /// Starts a proxy to `127.0.0.1:upstream_port` applying `plan`.
    pub fn start(upstream_port: u16, plan: Plan) -> Proxy {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding the proxy");
        let port = l.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream: SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port)),
            plan,
            stats: Mutex::new(Stats::default()),
            stopping: AtomicBool::new(false),
            next: AtomicU64::new(0),
        });
        let sh = shared.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if sh.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let sh = sh.clone();
                std::thread::spawn(move || {
                    // a broken connection is the normal end of a faulted exchange
                    let _ = serve(&sh, client);
                });
            }
        });
        Proxy { port, shared }
    }

    /// A proxy that relays everything faithfully (it still counts requests).
    pub fn faithful(upstream_port: u16) -> Proxy {
        Proxy::start(upstream_port, Arc::new(|_| None))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, the registry host airsign is given.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // wake the accept loop so that it sees the flag
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// A parsed message head: the raw bytes (forwarded unchanged) and what framing needs.
struct Head {
    raw: Vec<u8>,
    first_line: String,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    authorization: Option<String>,
}

/// Reads a head (up to the empty line). `Ok(None)` on a clean EOF before any byte.
fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            if raw.is_empty() {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&line);
        if raw.len() > MAX_HEAD {
            return Err(std::io::Error::other("head too large"));
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        if text.is_empty() {
            break;
        }
        lines.push(text);
    }
    let mut h = Head {
        raw,
        first_line: lines.first().cloned().unwrap_or_default(),
        content_length: None,
        chunked: false,
        close: false,
        authorization: None,
    };
    for l in &lines[1..] {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        match k.as_str() {
            "content-length" => h.content_length = v.parse().ok(),
            "transfer-encoding" => h.chunked = v.contains("chunked"),
            "connection" => h.close = v.contains("close"),
            "authorization" => h.authorization = Some(l.split_once(':').unwrap().1.trim().into()),
            _ => {}
        }
    }
    Ok(Some(h))
}

/// Copies exactly `n` bytes from `r` to `w` (`w` may be a sink).
fn copy_n(r: &mut impl Read, w: &mut impl Write, n: u64) -> std::io::Result<()> {
    let got = std::io::copy(&mut r.take(n), w)?;
    if got != n {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Relays a chunked body, chunk by chunk, up to and including the trailers.
fn copy_chunked(r: &mut impl BufRead, w: &mut impl Write) -> std::io::Result<()> {
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        w.write_all(&line)?;
        let size_text = String::from_utf8_lossy(&line);
        let size_text = size_text.trim().split(';').next().unwrap_or("").to_owned();
        let size = u64::from_str_radix(&size_text, 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        if size == 0 {
            // trailers, then the empty line
            loop {
                let mut t = Vec::new();
                if r.read_until(b'\n', &mut t)? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                w.write_all(&t)?;
                if t == b"\r\n" || t == b"\n" {
                    return Ok(());
                }
            }
        }
        copy_n(r, w, size + 2)?; // the data and its CRLF
    }
}

/// Whose body [`copy_body`] relays: they differ when neither length nor chunking
/// is given (a request then has no body; a response runs to the connection's end).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response { bodiless: bool },
}

/// Relays a body framed as `h` says (a response is bodiless for HEAD, 1xx, 204,
/// 304). Returns false when the body ran to EOF (the connection cannot be reused).
fn copy_body(
    h: &Head,
    side: Side,
    r: &mut impl BufRead,
    w: &mut impl Write,
) -> std::io::Result<bool> {
    if side == (Side::Response { bodiless: true }) {
        return Ok(true);
    }
    if h.chunked {
        copy_chunked(r, w)?;
        return Ok(true);
    }
    match (h.content_length, side) {
        (Some(n), _) => {
            copy_n(r, w, n)?;
            Ok(true)
        }
        (None, Side::Request) => Ok(true),
        (None, Side::Response { .. }) => {
            std::io::copy(r, w)?;
            Ok(false)
        }
    }
}

fn serve(sh: &Shared, client: TcpStream) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut to_client = client.try_clone()?;
    let mut from_client = BufReader::new(client);
    let mut upstream: Option<(TcpStream, BufReader<TcpStream>)> = None;
    loop {
        // not HTTP (a TLS ClientHello): close without waiting for a head that
        // will never come
        let first = from_client.fill_buf()?;
        if first.is_empty() {
            return Ok(());
        }
        if !first[0].is_ascii_uppercase() {
            return Ok(());
        }
        let Some(req) = read_head(&mut from_client)? else {
            return Ok(());
        };
        let mut parts = req.first_line.split(' ');
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let n = sh.next.fetch_add(1, Ordering::SeqCst) + 1;
        let n_method = {
            let mut st = sh.stats.lock().unwrap();
            st.requests += 1;
            st.seen.push(Seen {
                method: method.clone(),
                path: path.clone(),
                authorization: req.authorization.clone(),
            });
            if let Some(len) = req.content_length.filter(|n| *n > 0) {
                st.bodies.push((method.clone(), len));
            }
            bump(&mut st.by_method, &method)
        };
        let info = Request {
            method: method.clone(),
            path: path.clone(),
            n,
            n_method,
            body_len: if req.chunked {
                None
            } else {
                req.content_length
            },
        };
        let fault = (sh.plan)(&info);
        if let Some(f) = &fault {
            let mut st = sh.stats.lock().unwrap();
            bump(&mut st.faults, f.kind());
            st.log.push(format!("#{n} {method} {path} -> {f:?}"));
        }
        match fault {
            Some(Fault::Respond {
                status,
                retry_after,
            }) => {
                copy_body(&req, Side::Request, &mut from_client, &mut std::io::sink())?;
                let body =
                    r#"{"errors":[{"code":"UNKNOWN","message":"injected by the test proxy"}]}"#;
                let mut resp = format!(
                    "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                    body.len()
                );
                if let Some(s) = retry_after {
                    resp += &format!("Retry-After: {s}\r\n");
                }
                resp += "\r\n";
                resp += body;
                to_client.write_all(resp.as_bytes())?;
                if req.close {
                    return Ok(());
                }
                continue;
            }
            Some(Fault::Answer {
                status,
                headers,
                body,
            }) => {
                copy_body(&req, Side::Request, &mut from_client, &mut std::io::sink())?;
                let mut resp = format!("HTTP/1.1 {status} Answered\r\n");
                for (k, v) in &headers {
                    resp += &format!("{k}: {v}\r\n");
                }
                if method != "HEAD"
                    || !headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                {
                    resp += &format!("Content-Length: {}\r\n", body.len());
                }
                resp += "\r\n";
                if method != "HEAD" {
                    resp += &body;
                }
                to_client.write_all(resp.as_bytes())?;
                if req.close {
                    return Ok(());
                }
                continue;
            }
            Some(Fault::Delay(d)) => std::thread::sleep(d),
            _ => {}
        }
        if upstream.is_none() {
            let s = TcpStream::connect(sh.upstream)?;
            s.set_nodelay(true)?;
            let r = BufReader::new(s.try_clone()?);
            upstream = Some((s, r));
        }
        let (up_w, up_r) = upstream.as_mut().unwrap();
        up_w.write_all(&req.raw)?;
        if let Some(Fault::Hold { after }) = fault {
            let len = req.content_length.unwrap_or(0);
            copy_n(&mut from_client, up_w, after.min(len))?;
            up_w.flush()?;
            sh.stats.lock().unwrap().held += 1;
            // swallow whatever else comes until the client dies, then cut upstream
            let _ = std::io::copy(&mut from_client, &mut std::io::sink());
            sh.stats.lock().unwrap().held -= 1;
            let _ = up_w.shutdown(Shutdown::Both);
            return Ok(());
        }
        if let Some(Fault::DropMidBody { after }) = fault {
            let len = req.content_length.unwrap_or(0);
            copy_n(&mut from_client, up_w, after.min(len))?;
            up_w.flush()?;
            // cut both sides: the registry sees a short body, the client a reset
            let _ = up_w.shutdown(Shutdown::Both);
            let _ = to_client.shutdown(Shutdown::Both);
            return Ok(());
        }
        copy_body(&req, Side::Request, &mut from_client, up_w)?;
        up_w.flush()?;
        // the answer (skipping interim 1xx answers, which are relayed as they come)
        let (resp, status) = loop {
            let Some(resp) = read_head(up_r)? else {
                return Ok(());
            };
            let status: u16 = resp
                .first_line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if (100..200).contains(&status) {
                to_client.write_all(&resp.raw)?;
                continue;
            }
            break (resp, status);
        };
        match &fault {
            Some(Fault::Edit(edits)) => to_client.write_all(&edit_head(&resp.raw, edits))?,
            _ => to_client.write_all(&resp.raw)?,
        }
        let bodiless = method == "HEAD" || status == 204 || status == 304;
        let reusable = copy_body(&resp, Side::Response { bodiless }, up_r, &mut to_client)?;
        to_client.flush()?;
        if !reusable || resp.close || req.close || fault == Some(Fault::CloseAfterResponse) {
            let _ = to_client.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

/// A response head with `edits` applied (framing headers are never touched by them).
fn edit_head(raw: &[u8], edits: &[Edit]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut lines: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let name_of = |l: &str| {
        l.split_once(':')
            .map(|(k, _)| k.trim().to_ascii_lowercase())
    };
    for e in edits {
        match e {
            Edit::Set(k, v) => {
                let k_l = k.to_ascii_lowercase();
                lines.retain(|l| name_of(l).as_deref() != Some(k_l.as_str()));
                lines.push(format!("{k}: {v}"));
            }
            Edit::Remove(k) => {
                let k_l = k.to_ascii_lowercase();
                lines.retain(|l| name_of(l).as_deref() != Some(k_l.as_str()));
            }
            Edit::LocationTo(host) => {
                for l in lines.iter_mut() {
                    if name_of(l).as_deref() != Some("location") {
                        continue;
                    }
                    let v = l.split_once(':').unwrap().1.trim().to_owned();
                    let path = match v.split_once("://") {
                        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]).to_owned(),
                        None => v.clone(),
                    };
                    *l = format!("Location: http://{host}{path}");
                }
            }
        }
    }
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out
}
