//! A real registry for tests: Debian's `docker-registry` (distribution 2.8) started
//! as a child process on a free loopback port, with its config and storage in a
//! temp dir, optionally behind htpasswd basic auth and/or TLS from a private CA, or
//! behind Bearer token auth (`auth: token`) with a token issuer running in the test.
//! Dropping the [`Registry`] kills that one process (by its own pid) and waits for it.
//!
//! ```text
//! let Some(reg) = Registry::start(Mode::TlsBasicAuth) else { return };
//! skopeo.args(["copy"]).args(reg.skopeo_args(Side::Dest, true)) ...
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Tool, require};

/// How the registry is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP, no auth.
    Plain,
    /// Plain HTTP with htpasswd (bcrypt) basic auth.
    BasicAuth,
    /// HTTPS with a certificate from a private CA, no auth.
    Tls,
    /// HTTPS and basic auth.
    TlsBasicAuth,
    /// HTTPS with a self-signed certificate that is its own CA, made the way docker's
    /// docs show (`openssl req -x509 -newkey rsa -subj /CN=127.0.0.1 -addext
    /// subjectAltName=IP:127.0.0.1`: OpenSSL's defaults give it `basicConstraints
    /// CA:TRUE`). [`Registry::ca_cert`] is that certificate itself. No auth.
    TlsSelfSigned,
    /// Plain HTTP with Bearer token auth: the registry's `auth: token` mode trusts a
    /// self-signed P-256 certificate whose key signs the JWTs of a small token server
    /// in the test (plain HTTP on loopback), which grants every scope asked to the
    /// right user and answers 401 to anyone else. See [`Registry::scopes_asked`].
    Token,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Plain, Mode::BasicAuth, Mode::Tls, Mode::TlsBasicAuth];

    pub fn tls(self) -> bool {
        matches!(self, Mode::Tls | Mode::TlsBasicAuth | Mode::TlsSelfSigned)
    }

    /// htpasswd basic auth.
    pub fn basic(self) -> bool {
        matches!(self, Mode::BasicAuth | Mode::TlsBasicAuth)
    }

    /// Whether the registry wants credentials (basic or via its token server).
    pub fn auth(self) -> bool {
        matches!(self, Mode::BasicAuth | Mode::TlsBasicAuth | Mode::Token)
    }
}

/// Which flag family of skopeo [`Registry::skopeo_args`] writes: `--dest-*` (copy
/// to it), `--src-*` (copy from it), or the bare ones (`inspect`, `list-tags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Dest,
    Src,
    Inspect,
}

/// A running registry; stopped when dropped.
pub struct Registry {
    child: Child,
    mode: Mode,
    port: u16,
    user: String,
    password: String,
    /// The token issuer, in [`Mode::Token`].
    token: Option<token::Issuer>,
    dir: tempfile::TempDir,
}

const READY_TIMEOUT: Duration = Duration::from_secs(20);
const PORT_ATTEMPTS: usize = 5;

impl Registry {
    /// Starts a registry in `mode`. `None` means a needed tool is missing and the test
    /// should skip (under `CI=true` that panics instead, see [`require`]).
    pub fn start(mode: Mode) -> Option<Registry> {
        let bin = require(Tool::Registry)?;
        let mut dir = tempfile::Builder::new()
            .prefix("airsign-registry.")
            .tempdir()
            .expect("temp dir for the registry");
        let (user, password) = (String::from("airsign"), unique("pw"));
        if mode.basic() {
            let htpasswd = require(Tool::Htpasswd)?;
            // distribution only accepts bcrypt entries (-B)
            tool_ok(
                Command::new(htpasswd)
                    .arg("-Bbc")
                    .arg(dir.path().join("htpasswd"))
                    .args([&user, &password]),
            );
        }
        if mode.tls() {
            let openssl = require(Tool::Openssl)?;
            if mode == Mode::TlsSelfSigned {
                make_self_signed(&openssl, dir.path());
            } else {
                make_certs(&openssl, dir.path());
            }
            // Readiness over TLS is checked with curl, which also proves the CA works.
            find_curl()?;
        }
        let issuer = match mode {
            Mode::Token => Some(token::Issuer::start(
                &require(Tool::Openssl)?,
                dir.path(),
                &user,
                &password,
            )),
            _ => None,
        };
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            std::fs::write(
                dir.path().join("config.yml"),
                config(dir.path(), port, mode, issuer.as_ref()),
            )
            .expect("writing config.yml");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
            let child = Command::new(&bin)
                .arg("serve")
                .arg(dir.path().join("config.yml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                // its own process group: a ^C on the test run does not reach it
                // mid-request, and Drop still stops it by pid
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let mut reg = Registry {
                child,
                mode,
                port,
                user: user.clone(),
                password: password.clone(),
                token: None,
                dir,
            };
            match reg.wait_ready() {
                Ok(()) => {
                    reg.token = issuer;
                    return Some(reg);
                }
                Err(log) if log.contains("address already in use") => {
                    // someone took the port between our probe and the bind: retry
                    last_log = log;
                    dir = reg.into_dir();
                }
                Err(log) => panic!("registry ({mode:?}) did not start:\n{log}"),
            }
        }
        panic!("registry: no free port after {PORT_ATTEMPTS} attempts:\n{last_log}");
    }

    /// Waits for `/v2/` to answer 200 (401 with auth). `Err(log)` if the process
    /// exits or the time runs out (then it is killed).
    fn wait_ready(&mut self) -> Result<(), String> {
        let want = if self.mode.auth() { 401 } else { 200 };
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Err(format!("exited with {status}:\n{}", self.log()));
            }
            let got = if self.mode.tls() {
                self.curl_status("/v2/", false)
            } else {
                http_status(self.port, "/v2/")
            };
            if got == Some(want) {
                return Ok(());
            }
            if start.elapsed() > READY_TIMEOUT {
                self.kill();
                return Err(format!(
                    "no {want} from /v2/ within {READY_TIMEOUT:?} (last: {got:?}):\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process (if it still runs) and hands back the temp dir.
    fn into_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let dir = tempfile::Builder::new()
            .prefix("airsign-registry.")
            .tempdir()
            .expect("temp dir");
        // swap in an empty dir so that Drop (which runs next) has something to own
        std::mem::replace(&mut self.dir, dir)
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGKILL to exactly our child's pid; then reap it so no zombie is left
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Stops the registry now (same as dropping it).
    pub fn stop(self) {}

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The registry process's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, as used in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.mode.tls() { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// `docker://127.0.0.1:PORT/REPO` (REPO may carry `:tag` or `@digest`).
    pub fn docker_ref(&self, repo: &str) -> String {
        format!("docker://{}/{repo}", self.host())
    }

    /// User name and password (meaningful in the auth modes only).
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// `Some("user:password")` in the auth modes.
    pub fn creds(&self) -> Option<String> {
        self.mode
            .auth()
            .then(|| format!("{}:{}", self.user, self.password))
    }

    /// In [`Mode::Token`], the port of the token server (the realm).
    pub fn realm_port(&self) -> Option<u16> {
        self.token.as_ref().map(|t| t.port)
    }

    /// In [`Mode::Token`], the scopes of every token request so far, one entry per
    /// request (its scopes joined by spaces), in order.
    pub fn scopes_asked(&self) -> Vec<String> {
        self.token
            .as_ref()
            .map(|t| t.asked.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// The private CA's certificate (PEM), in the TLS modes; in
    /// [`Mode::TlsSelfSigned`] the server's own certificate (a copy of it).
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.mode.tls().then(|| self.dir.path().join("tls/ca.crt"))
    }

    /// A certs.d-style dir holding `ca.crt`, for skopeo `--dest-cert-dir` /
    /// `--src-cert-dir` / `--cert-dir`, in the TLS modes.
    pub fn cert_dir(&self) -> Option<PathBuf> {
        self.mode.tls().then(|| self.dir.path().join("tls/certs.d"))
    }

    /// The registry's temp dir (config.yml, data/, registry.log, tls/, htpasswd).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the registry has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// skopeo flags to reach this registry: TLS verification off for plain HTTP, the
    /// CA dir for TLS, and the credentials if `with_creds` (in the auth modes).
    pub fn skopeo_args(&self, side: Side, with_creds: bool) -> Vec<String> {
        let p = match side {
            Side::Dest => "--dest-",
            Side::Src => "--src-",
            Side::Inspect => "--",
        };
        let mut args = match self.cert_dir() {
            Some(d) => vec![format!("{p}cert-dir={}", d.display())],
            None => vec![format!("{p}tls-verify=false")],
        };
        if let (true, Some(c)) = (with_creds, self.creds()) {
            args.push(format!("{p}creds={c}"));
        }
        args
    }

    /// cosign flags to reach this registry (plain HTTP on loopback needs none:
    /// go-containerregistry treats 127.0.0.1 as insecure).
    pub fn cosign_args(&self, with_creds: bool) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(ca) = self.ca_cert() {
            args.push(format!("--registry-cacert={}", ca.display()));
        }
        if with_creds && self.mode.auth() {
            args.push(format!("--registry-username={}", self.user));
            args.push(format!("--registry-password={}", self.password));
        }
        args
    }

    /// HTTP status of `GET PATH` (e.g. `/v2/_catalog`) via curl, trusting only the
    /// private CA; `None` if no answer.
    pub fn curl_status(&self, path: &str, with_creds: bool) -> Option<u16> {
        let mut c = Command::new(find_curl()?);
        c.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ]);
        if let Some(ca) = self.ca_cert() {
            c.arg("--cacert").arg(ca);
        }
        if let (true, Some(creds)) = (with_creds, self.creds()) {
            c.arg("-u").arg(creds);
        }
        let out = c
            .arg(format!("{}{path}", self.url()))
            .stdin(Stdio::null())
            .output()
            .ok()?;
        match String::from_utf8_lossy(&out.stdout).trim().parse() {
            Ok(0) | Err(_) => None,
            Ok(code) => Some(code),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port that was free a moment ago (bind port 0 on loopback, read it, release it).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// Status of a plain-HTTP `GET PATH` on 127.0.0.1:PORT, over a raw TCP socket.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < head.len() {
        match s.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
        if head[..n].contains(&b'\n') {
            break;
        }
    }
    // "HTTP/1.1 200 OK"
    let line = String::from_utf8_lossy(&head[..n]);
    line.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

fn find_curl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AIRSIGN_TEST_CURL").map(PathBuf::from)
        && p.is_file()
    {
        return Some(p);
    }
    let p = Path::new("/usr/bin/curl");
    if p.is_file() {
        return Some(p.to_path_buf());
    }
    if super::in_ci() {
        panic!("curl not found (AIRSIGN_TEST_CURL): CI needs every tool (run `make test`)");
    }
    eprintln!("SKIP: curl not found (run the tests with `make test`)");
    None
}

/// A value unlikely to repeat across runs (passwords, the HTTP secret).
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

/// YAML single-quoted scalar (paths come from the temp dir; quote them anyway).
fn yq(s: &Path) -> String {
    format!("'{}'", s.display().to_string().replace('\'', "''"))
}

fn config(dir: &Path, port: u16, mode: Mode, issuer: Option<&token::Issuer>) -> String {
    let mut c = format!(
        "version: 0.1\n\
         log: {{level: info, accesslog: {{disabled: false}}}}\n\
         storage:\n  \
           filesystem: {{rootdirectory: {data}}}\n  \
           delete: {{enabled: true}}\n  \
           maintenance: {{uploadpurging: {{enabled: false}}}}\n\
         http:\n  \
           addr: 127.0.0.1:{port}\n  \
           secret: {secret}\n  \
           headers: {{X-Content-Type-Options: [nosniff]}}\n",
        data = yq(&dir.join("data")),
        secret = unique("secret"),
    );
    if mode.tls() {
        c += &format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            yq(&dir.join("tls/server.crt")),
            yq(&dir.join("tls/server.key"))
        );
    }
    if mode.basic() {
        c += &format!(
            "auth:\n  htpasswd:\n    realm: airsign-test\n    path: {}\n",
            yq(&dir.join("htpasswd"))
        );
    }
    if let Some(t) = issuer {
        c += &format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {}\n    \
             issuer: {}\n    rootcertbundle: {}\n",
            t.port,
            token::SERVICE,
            token::ISSUER,
            yq(&t.cert)
        );
    }
    c
}

/// A private CA and a server certificate for IP:127.0.0.1 + DNS:localhost signed by
/// it, in DIR/tls; DIR/tls/certs.d/ca.crt is the CA for skopeo.
fn make_certs(openssl: &Path, dir: &Path) {
    let t = dir.join("tls");
    std::fs::create_dir_all(t.join("certs.d")).expect("tls dir");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    tool_ok(
        Command::new(openssl)
            .args(["req", "-x509", "-nodes", "-days", "3650"])
            .args(ec)
            .args(["-subj", "/CN=airsign test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(t.join("ca.key"))
            .arg("-out")
            .arg(t.join("ca.crt")),
    );
    tool_ok(
        Command::new(openssl)
            .args(["req", "-new", "-nodes"])
            .args(ec)
            .args(["-subj", "/CN=localhost"])
            .arg("-keyout")
            .arg(t.join("server.key"))
            .arg("-out")
            .arg(t.join("server.csr")),
    );
    std::fs::write(
        t.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("server.ext");
    tool_ok(
        Command::new(openssl)
            .args(["x509", "-req", "-days", "3650", "-set_serial", "2"])
            .arg("-in")
            .arg(t.join("server.csr"))
            .arg("-CA")
            .arg(t.join("ca.crt"))
            .arg("-CAkey")
            .arg(t.join("ca.key"))
            .arg("-extfile")
            .arg(t.join("server.ext"))
            .arg("-out")
            .arg(t.join("server.crt")),
    );
    std::fs::copy(t.join("ca.crt"), t.join("certs.d/ca.crt")).expect("certs.d/ca.crt");
}

/// A self-signed server certificate for IP:127.0.0.1 as docker's docs make it
/// (`openssl req -x509 -newkey rsa:… -subj /CN=127.0.0.1 -addext
/// subjectAltName=IP:127.0.0.1`), in DIR/tls/server.{crt,key}; DIR/tls/ca.crt and
/// DIR/tls/certs.d/ca.crt are copies of the certificate (it is its own CA).
fn make_self_signed(openssl: &Path, dir: &Path) {
    let t = dir.join("tls");
    std::fs::create_dir_all(t.join("certs.d")).expect("tls dir");
    self_signed_cert(openssl, &t.join("server.crt"), &t.join("server.key"));
    std::fs::copy(t.join("server.crt"), t.join("ca.crt")).expect("ca.crt");
    std::fs::copy(t.join("server.crt"), t.join("certs.d/ca.crt")).expect("certs.d/ca.crt");
}

/// `openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=127.0.0.1 -addext
/// subjectAltName=IP:127.0.0.1`: a self-signed end-entity certificate with a new key
/// (OpenSSL's default extensions mark it `CA:TRUE`), written to `crt` and `key`.
pub fn self_signed_cert(openssl: &Path, crt: &Path, key: &Path) {
    tool_ok(
        Command::new(openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
            ])
            .args(["-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(crt),
    );
}

fn tool_ok(cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The token issuer of [`Mode::Token`].
mod token {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::DecodePrivateKey;

    use super::tool_ok;

    pub const SERVICE: &str = "airsign-test";
    pub const ISSUER: &str = "airsign-issuer";

    /// A token server on a loopback port, answering `GET /token?service=&scope=…`
    /// with an ES256 JWT (its certificate in `x5c`) granting every scope asked, to
    /// the one user it knows; 401 to anyone else. Stops accepting when dropped.
    pub struct Issuer {
        pub port: u16,
        /// The self-signed certificate the registry trusts (`rootcertbundle`).
        pub cert: PathBuf,
        pub asked: Arc<Mutex<Vec<String>>>,
        stopping: Arc<AtomicBool>,
    }

    impl Drop for Issuer {
        fn drop(&mut self) {
            self.stopping.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        }
    }

    impl Issuer {
        pub fn start(openssl: &Path, dir: &Path, user: &str, password: &str) -> Issuer {
            let (key, cert) = (dir.join("issuer.key"), dir.join("issuer.crt"));
            tool_ok(
                Command::new(openssl)
                    .args(["req", "-x509", "-nodes", "-days", "2"])
                    .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
                    .args(["-subj", "/CN=airsign test token issuer"])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert),
            );
            let sk = p256::ecdsa::SigningKey::from_pkcs8_pem(
                &std::fs::read_to_string(&key).expect("issuer key"),
            )
            .expect("issuer key is PKCS#8 P-256");
            let pem = std::fs::read_to_string(&cert).expect("issuer cert");
            let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding the issuer");
            let port = l.local_addr().unwrap().port();
            let asked = Arc::new(Mutex::new(Vec::new()));
            let stopping = Arc::new(AtomicBool::new(false));
            let want = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
            let (log, stop) = (asked.clone(), stopping.clone());
            std::thread::spawn(move || {
                for conn in l.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(s) = conn else { continue };
                    answer(s, &want, &der_b64, &sk, &log);
                }
            });
            Issuer {
                port,
                cert,
                asked,
                stopping,
            }
        }
    }

    /// One token request per connection (then closed).
    fn answer(
        mut s: TcpStream,
        want_auth: &str,
        der_b64: &str,
        sk: &p256::ecdsa::SigningKey,
        log: &Mutex<Vec<String>>,
    ) {
        let Ok(clone) = s.try_clone() else { return };
        let mut r = BufReader::new(clone);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_owned());
        }
        let Some(target) = head.first().and_then(|l| l.split(' ').nth(1)) else {
            return;
        };
        let authed = head
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&format!("authorization: {want_auth}")));
        let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let mut access = Vec::new();
        let mut scopes = Vec::new();
        for kv in query.split('&') {
            let Some(v) = kv.strip_prefix("scope=") else {
                continue;
            };
            let scope = pct_decode(v);
            let mut parts = scope.rsplitn(2, ':');
            let actions: Vec<String> = parts
                .next()
                .unwrap_or("")
                .split(',')
                .map(|a| format!("\"{a}\""))
                .collect();
            let Some((kind, name)) = parts.next().and_then(|p| p.split_once(':')) else {
                continue;
            };
            access.push(format!(
                "{{\"type\":\"{kind}\",\"name\":\"{name}\",\"actions\":[{}]}}",
                actions.join(",")
            ));
            scopes.push(scope);
        }
        log.lock().unwrap().push(scopes.join(" "));
        let (status, body) = if authed {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = format!("{{\"typ\":\"JWT\",\"alg\":\"ES256\",\"x5c\":[\"{der_b64}\"]}}");
            let claims = format!(
                "{{\"iss\":\"{ISSUER}\",\"sub\":\"tester\",\"aud\":\"{SERVICE}\",\"exp\":{},\"nbf\":{},\"iat\":{now},\"jti\":\"{now}-{}\",\"access\":[{}]}}",
                now + 300,
                now - 10,
                log.lock().unwrap().len(),
                access.join(",")
            );
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims)
            );
            let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
            let jwt = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
            (
                "200 OK",
                format!("{{\"token\":\"{jwt}\",\"access_token\":\"{jwt}\",\"expires_in\":300}}"),
            )
        } else {
            (
                "401 Unauthorized",
                "{\"details\":\"bad credentials\"}".to_owned(),
            )
        };
        let _ = write!(
            s,
            "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }

    fn pct_decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let hex = (b[i] == b'%')
                .then(|| s.get(i + 1..i + 3))
                .flatten()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => {
                    out.push(if b[i] == b'+' { b' ' } else { b[i] });
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
