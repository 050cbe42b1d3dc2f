//! The registry client against the real Debian `docker-registry` (distribution 2.8):
//! plain HTTP, htpasswd basic auth, TLS from a private CA, and both.

mod common;

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use airsign::digest::{Algorithm, Digest, hash_reader};
use airsign::registry::{
    BlobPush, CredentialSource, Options, ReferrersSource, RegistryClient, Repository, RetryPolicy,
    UploadSession,
};
use airsign::store::descriptor::{OCI_INDEX, OCI_MANIFEST};
use common::registry::{Mode, Registry};

const MIB: u64 = 1024 * 1024;

fn options(reg: &Registry, with_creds: bool) -> Options {
    Options {
        credentials: match (with_creds, reg.mode().auth()) {
            (true, true) => CredentialSource::Explicit {
                username: reg.user().into(),
                password: reg.password().into(),
            },
            _ => CredentialSource::Anonymous,
        },
        ca_files: reg.ca_cert().into_iter().collect(),
        chunk_size: 4 * MIB,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
            max_total: Duration::from_secs(10),
        },
        ..Options::default()
    }
}

fn client(reg: &Registry) -> RegistryClient {
    RegistryClient::new(options(reg, true)).unwrap()
}

fn repo(reg: &Registry, name: &str) -> Repository {
    Repository::new(&reg.host(), name).unwrap()
}

/// A file of `len` pseudo-random bytes (xorshift, so no two blobs share content).
fn blob_file(dir: &Path, name: &str, len: u64, seed: u64) -> (PathBuf, Digest) {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(File::create(&path).unwrap());
    let mut x = seed | 1;
    let mut left = len;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        let n = left.min(8) as usize;
        f.write_all(&b[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
    drop(f);
    let (d, n) = hash_reader(Algorithm::Sha256, &mut File::open(&path).unwrap()).unwrap();
    assert_eq!(n, len);
    (path, d)
}

fn upload(c: &RegistryClient, r: &Repository, path: &Path, d: &Digest) -> u64 {
    let mut f = File::open(path).unwrap();
    let size = f.metadata().unwrap().len();
    c.upload_blob(r, d, size, &mut f).unwrap();
    size
}

/// Fetches a blob back into a temp file; returns the digest of what arrived.
fn fetch(c: &RegistryClient, r: &Repository, d: &Digest, size: u64, dir: &Path) -> Digest {
    let out = dir.join("fetched");
    let mut f = File::create(&out).unwrap();
    assert_eq!(c.fetch_blob(r, d, Some(size), &mut f).unwrap(), size);
    hash_reader(Algorithm::Sha256, &mut File::open(&out).unwrap())
        .unwrap()
        .0
}

/// A manifest that serde would never write: odd key order, extra spaces, a
/// newline; pushing it must keep its digest.
fn odd_manifest(config: (&Digest, u64), layers: &[(&Digest, u64)]) -> Vec<u8> {
    let ls: Vec<String> = layers
        .iter()
        .map(|(d, n)| {
            format!(
                "{{ \"size\" : {n}, \"digest\":\"{d}\",  \"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\"}}"
            )
        })
        .collect();
    format!(
        "{{\"layers\" : [ {} ],\n  \"config\": {{\"size\":{},\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{}\"}},\"mediaType\":\"{OCI_MANIFEST}\",   \"schemaVersion\":2 }}\n",
        ls.join(" ,"),
        config.1,
        config.0
    )
    .into_bytes()
}

fn put_config(c: &RegistryClient, r: &Repository, body: &[u8]) -> (Digest, u64) {
    let d = Digest::sha256(body);
    let mut cur = std::io::Cursor::new(body.to_vec());
    c.upload_blob(r, &d, body.len() as u64, &mut cur).unwrap();
    (d, body.len() as u64)
}

#[test]
fn blobs_manifests_and_tags_in_every_mode() {
    for mode in Mode::ALL {
        let Some(reg) = Registry::start(mode) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let c = client(&reg);
        c.ping(&reg.host())
            .unwrap_or_else(|e| panic!("{mode:?}: {e}\n{}", reg.log()));
        let r = repo(&reg, "team/app");

        // small blob: one POST + one PUT
        let (small, sd) = blob_file(dir.path(), "small", 3000, 1);
        assert_eq!(c.blob_exists(&r, &sd).unwrap(), None, "{mode:?}");
        let before = c.stats();
        let ssize = upload(&c, &r, &small, &sd);
        let s = c.stats();
        assert_eq!(
            (
                s.post - before.post,
                s.put - before.put,
                s.patch - before.patch
            ),
            (1, 1, 0),
            "{mode:?}: monolithic"
        );
        assert_eq!(c.blob_exists(&r, &sd).unwrap(), Some(ssize), "{mode:?}");
        assert_eq!(fetch(&c, &r, &sd, ssize, dir.path()), sd);

        // large blob: 20 MiB in 4 MiB PATCH chunks, never more than one in memory
        let (large, ld) = blob_file(dir.path(), "large", 20 * MIB, 2);
        let before = c.stats();
        let lsize = upload(&c, &r, &large, &ld);
        let s = c.stats();
        assert_eq!(s.patch - before.patch, 5, "{mode:?}: chunked");
        assert_eq!(
            s.bytes_sent - before.bytes_sent,
            lsize,
            "{mode:?}: every byte once"
        );
        assert_eq!(c.blob_exists(&r, &ld).unwrap(), Some(lsize));
        assert_eq!(fetch(&c, &r, &ld, lsize, dir.path()), ld);

        // a manifest and an index, byte for byte
        let (cd, csize) = put_config(&c, &r, b"{\"architecture\":\"amd64\",\"os\":\"linux\"}");
        let m = odd_manifest((&cd, csize), &[(&sd, ssize), (&ld, lsize)]);
        let md = c.put_manifest(&r, "v1", &m, OCI_MANIFEST).unwrap();
        assert_eq!(md, Digest::sha256(&m));
        for reference in ["v1".to_string(), md.to_string()] {
            let got = c.get_manifest(&r, &reference, &[]).unwrap();
            assert_eq!(got.bytes, m, "{mode:?}: identical bytes by {reference}");
            assert_eq!(got.digest, md);
            assert_eq!(got.media_type, OCI_MANIFEST);
        }
        let head = c.head_manifest(&r, "v1", &[]).unwrap().unwrap();
        assert_eq!(head.digest.as_ref(), Some(&md));
        assert_eq!(head.size, Some(m.len() as u64));
        assert_eq!(c.head_manifest(&r, "nope", &[]).unwrap(), None);

        let idx = format!(
            "{{\"schemaVersion\":2,\n \"manifests\":[{{\"digest\":\"{md}\",\"size\":{},\"mediaType\":\"{OCI_MANIFEST}\",\"platform\":{{\"os\":\"linux\",\"architecture\":\"amd64\"}}}}],  \"mediaType\":\"{OCI_INDEX}\"}}",
            m.len()
        )
        .into_bytes();
        let id = c.put_manifest(&r, "multi", &idx, OCI_INDEX).unwrap();
        assert_eq!(id, Digest::sha256(&idx));
        let got = c.get_manifest(&r, &id.to_string(), &[OCI_INDEX]).unwrap();
        assert_eq!(
            (got.bytes, got.media_type),
            (idx.clone(), OCI_INDEX.to_string())
        );
        // by digest, under a digest reference
        assert_eq!(
            c.put_manifest(&r, &id.to_string(), &idx, OCI_INDEX)
                .unwrap(),
            id
        );
        // a digest reference that does not match the bytes is refused before sending
        let before = c.stats().total;
        assert!(
            c.put_manifest(&r, &md.to_string(), &idx, OCI_INDEX)
                .is_err()
        );
        assert_eq!(c.stats().total, before);

        let mut tags = c.list_tags(&r).unwrap();
        tags.sort();
        assert_eq!(tags, ["multi", "v1"], "{mode:?}");
        assert!(c.list_tags(&repo(&reg, "never/pushed")).unwrap().is_empty());

        // an unknown manifest is NotFound, one line, naming repo and reference
        let e = c.get_manifest(&r, "missing", &[]).unwrap_err();
        assert!(matches!(e, airsign::Error::NotFound(_)), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("team/app") && msg.contains("missing") && !msg.contains('\n'),
            "{msg}"
        );
    }
}

#[test]
fn wrong_or_missing_credentials_are_clear_errors() {
    let Some(reg) = Registry::start(Mode::BasicAuth) else {
        return;
    };
    let r = repo(&reg, "a/b");
    let mut o = options(&reg, true);
    o.credentials = CredentialSource::Explicit {
        username: reg.user().into(),
        password: "wrong-password".into(),
    };
    let e = RegistryClient::new(o)
        .unwrap()
        .list_tags(&r)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("authentication failed") && e.contains(&reg.host()),
        "{e}"
    );
    assert!(!e.contains("wrong-password"), "{e}");

    let anon = RegistryClient::new(options(&reg, false)).unwrap();
    let e = anon.ping(&reg.host()).unwrap_err().to_string();
    assert!(
        e.contains("authentication required") && e.contains("no credentials"),
        "{e}"
    );

    // credentials from a docker config.json (auth = base64(user:password))
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    let auth = airsign_b64(&format!("{}:{}", reg.user(), reg.password()));
    std::fs::write(
        &cfg,
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
            reg.host()
        ),
    )
    .unwrap();
    let mut o = options(&reg, false);
    o.credentials = CredentialSource::DockerConfig { files: vec![cfg] };
    let c = RegistryClient::new(o).unwrap();
    c.ping(&reg.host()).unwrap();
    // Basic is sent up front once the challenge is known: one request per call
    let before = c.stats().total;
    assert!(c.list_tags(&r).unwrap().is_empty());
    assert_eq!(c.stats().total - before, 1);
}

fn airsign_b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn tls_needs_the_ca_and_certs_d_provides_it() {
    let Some(reg) = Registry::start(Mode::TlsBasicAuth) else {
        return;
    };
    let mut o = options(&reg, true);
    o.ca_files.clear();
    let e = RegistryClient::new(o)
        .unwrap()
        .ping(&reg.host())
        .unwrap_err()
        .to_string();
    // a certificate refused: HTTPS is spoken there, so no fall back to plain HTTP
    assert!(
        e.contains("TLS certificate refused") && e.contains("--ca-cert"),
        "{e}"
    );
    assert!(!e.contains("plain HTTP"), "{e}");

    // docker's layout: DIR/<host:port>/ca.crt
    let dir = tempfile::tempdir().unwrap();
    let host_dir = dir.path().join(reg.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(reg.ca_cert().unwrap(), host_dir.join("ca.crt")).unwrap();
    let mut o = options(&reg, true);
    o.ca_files.clear();
    o.certs_dirs = vec![dir.path().to_path_buf()];
    RegistryClient::new(o).unwrap().ping(&reg.host()).unwrap();

    // --insecure: no verification at all
    let mut o = options(&reg, true);
    o.ca_files.clear();
    o.insecure = true;
    RegistryClient::new(o).unwrap().ping(&reg.host()).unwrap();
}

#[test]
fn mount_between_repositories_and_fallback_to_upload() {
    let Some(reg) = Registry::start(Mode::BasicAuth) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c = client(&reg);
    let (src, dst, other) = (
        repo(&reg, "src/app"),
        repo(&reg, "dst/app"),
        repo(&reg, "other/app"),
    );
    let (p, d) = blob_file(dir.path(), "b", 5 * MIB, 3);
    let size = upload(&c, &src, &p, &d);

    let mut f = File::open(&p).unwrap();
    let before = c.stats();
    assert_eq!(
        c.mount_blob(&dst, &d, size, &src, &mut f).unwrap(),
        BlobPush::Mounted
    );
    let s = c.stats();
    assert_eq!(
        s.bytes_sent, before.bytes_sent,
        "a mount sends no blob bytes"
    );
    assert_eq!(c.blob_exists(&dst, &d).unwrap(), Some(size));

    // `other` lacks the blob: distribution answers 202 and the upload goes into that
    // session
    let (p2, d2) = blob_file(dir.path(), "b2", 2 * MIB, 4);
    let mut f2 = File::open(&p2).unwrap();
    let before = c.stats();
    assert_eq!(
        c.mount_blob(&dst, &d2, 2 * MIB, &other, &mut f2).unwrap(),
        BlobPush::Uploaded
    );
    let s = c.stats();
    assert_eq!(
        s.post - before.post,
        1,
        "the mount's session is used, not a new one"
    );
    assert_eq!(s.bytes_sent - before.bytes_sent, 2 * MIB);
    assert_eq!(fetch(&c, &dst, &d2, 2 * MIB, dir.path()), d2);
}

#[test]
fn an_interrupted_chunked_upload_resumes_from_the_registry_range() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c = client(&reg);
    let r = repo(&reg, "resume/me");
    let (p, d) = blob_file(dir.path(), "big", 10 * MIB, 5);

    // one chunk, then "crash": only the upload URL survives
    let mut s = c.start_upload(&r).unwrap();
    let mut f = File::open(&p).unwrap();
    c.upload_chunk(&mut s, &mut f, 4 * MIB).unwrap();
    assert_eq!(s.offset(), 4 * MIB);
    let saved = s.location().to_owned();
    drop(s);

    let c2 = client(&reg);
    let mut s2 = UploadSession::resume_from(&r, &saved).unwrap();
    assert_eq!(c2.upload_status(&mut s2).unwrap(), 4 * MIB);
    let mut f = File::open(&p).unwrap();
    f.seek(SeekFrom::Start(123)).unwrap(); // wherever it stands: resume seeks
    c2.resume_upload(s2, &d, 10 * MIB, &mut f).unwrap();
    assert_eq!(
        c2.stats().bytes_sent,
        6 * MIB,
        "only the missing bytes are sent"
    );
    assert_eq!(c2.blob_exists(&r, &d).unwrap(), Some(10 * MIB));
    assert_eq!(fetch(&c2, &r, &d, 10 * MIB, dir.path()), d);

    // a session the registry no longer knows starts over (and still completes)
    let (p3, d3) = blob_file(dir.path(), "again", 3 * MIB, 6);
    let mut s3 = c.start_upload(&r).unwrap();
    let mut f3 = File::open(&p3).unwrap();
    c.upload_chunk(&mut s3, &mut f3, MIB).unwrap();
    let lost = s3.clone();
    c.cancel_upload(s3).unwrap();
    c.resume_upload(lost, &d3, 3 * MIB, &mut f3).unwrap();
    assert_eq!(c.blob_exists(&r, &d3).unwrap(), Some(3 * MIB));

    // a wrong digest is refused by the registry, not stored
    let bad = Digest::sha256(b"not this");
    let mut f = File::open(&p3).unwrap();
    let e = c
        .upload_blob(&r, &bad, 3 * MIB, &mut f)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("resume/me") && e.contains("DIGEST_INVALID"),
        "{e}"
    );
    // a source shorter than announced is a clear error, not a retry loop
    let mut short = std::io::Cursor::new(vec![0u8; 10]);
    let e = c
        .upload_blob(&r, &bad, 20, &mut short)
        .unwrap_err()
        .to_string();
    assert!(e.contains("source ended early"), "{e}");
}

#[test]
fn referrers_fall_back_to_the_tag_on_a_registry_without_the_api() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let c = client(&reg);
    let r = repo(&reg, "refs/app");
    let (cd, cs) = put_config(&c, &r, b"{}");
    let image = odd_manifest((&cd, cs), &[]);
    let id = c.put_manifest(&r, "v1", &image, OCI_MANIFEST).unwrap();

    let none = c.referrers(&r, &id, None).unwrap();
    assert_eq!(none.source, ReferrersSource::None);
    assert!(none.manifests.is_empty());

    // an artifact whose subject is the image, listed by a fallback-tag index
    let artifact = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"artifactType\":\"application/vnd.example+json\",\"config\":{{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"{cd}\",\"size\":{cs}}},\"layers\":[],\"subject\":{{\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"{id}\",\"size\":{}}}}}",
        image.len()
    )
    .into_bytes();
    let ad = c
        .put_manifest(
            &r,
            &Digest::sha256(&artifact).to_string(),
            &artifact,
            OCI_MANIFEST,
        )
        .unwrap();
    let fallback = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_INDEX}\",\"manifests\":[{{\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"{ad}\",\"size\":{},\"artifactType\":\"application/vnd.example+json\"}}]}}",
        artifact.len()
    );
    c.put_manifest(&r, &id.tag_form(), fallback.as_bytes(), OCI_INDEX)
        .unwrap();

    let got = c.referrers(&r, &id, None).unwrap();
    assert_eq!(got.source, ReferrersSource::FallbackTag);
    assert_eq!(got.manifests.len(), 1);
    assert_eq!(got.manifests[0].digest, ad);
    let fetched = c.get_manifest(&r, &ad.to_string(), &[]).unwrap();
    assert_eq!(
        fetched.subject(),
        Some(id.clone()),
        "the referrer really points to the image"
    );
    assert!(
        c.referrers(&r, &id, Some("application/other"))
            .unwrap()
            .manifests
            .is_empty()
    );

    // a fallback tag that is the image itself (oras#2148) is not taken as referrers
    let other = odd_manifest((&cd, cs), &[(&cd, cs)]);
    let od = Digest::sha256(&other);
    c.put_manifest(&r, &od.tag_form(), &other, OCI_MANIFEST)
        .unwrap();
    let rej = c.referrers(&r, &od, None).unwrap();
    assert!(
        matches!(rej.source, ReferrersSource::FallbackRejected(_)),
        "{rej:?}"
    );
    assert!(rej.manifests.is_empty());
}

#[test]
fn requests_are_counted_and_a_warm_check_costs_one_each() {
    let Some(reg) = Registry::start(Mode::BasicAuth) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c = client(&reg);
    let r = repo(&reg, "count/me");
    let (p, d) = blob_file(dir.path(), "x", 1000, 7);
    let size = upload(&c, &r, &p, &d);
    let (cd, cs) = put_config(&c, &r, b"{\"os\":\"linux\"}");
    let m = odd_manifest((&cd, cs), &[(&d, size)]);
    let md = c.put_manifest(&r, "t", &m, OCI_MANIFEST).unwrap();

    // a second pass that finds everything there: one HEAD per blob and per tag
    let before = c.stats();
    for _ in 0..3 {
        assert_eq!(c.blob_exists(&r, &d).unwrap(), Some(size));
        assert_eq!(c.blob_exists(&r, &cd).unwrap(), Some(cs));
        let h = c.head_manifest(&r, "t", &[]).unwrap().unwrap();
        assert_eq!(h.digest, Some(md.clone()));
    }
    let s = c.stats();
    assert_eq!(s.total - before.total, 9);
    assert_eq!(s.head - before.head, 9);
    assert_eq!(s.bytes_sent, before.bytes_sent);

    // clones share connections, credentials and counters; threads are fine
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (c, r, d) = (c.clone(), r.clone(), d.clone());
            std::thread::spawn(move || c.blob_exists(&r, &d).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Some(size));
    }
    assert_eq!(c.stats().head - s.head, 4);
}

// ---- a scripted HTTP server, for what a real registry will not do on demand ----

/// Answers each connection with the next scripted response (then closes it) and
/// records the request heads it saw.
struct Fake {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn fake(script: Vec<String>) -> Fake {
    use std::io::{BufRead, BufReader, Read};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for resp in script {
            let Ok((s, _)) = l.accept() else { return };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<u64>().unwrap_or(0))
                })
                .unwrap_or(0);
            std::io::copy(&mut r.by_ref().take(len), &mut std::io::sink()).unwrap();
            log.lock().unwrap().push(head);
            let mut s = s;
            let _ = s.write_all(resp.as_bytes());
        }
    });
    Fake { port, seen }
}

fn resp(status: &str, headers: &[String], body: &str) -> String {
    let mut r = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for h in headers {
        r += &format!("{h}\r\n");
    }
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("content-length"))
    {
        r += &format!("Content-Length: {}\r\n", body.len());
    }
    r + "\r\n" + body
}

fn fake_client(creds: bool) -> RegistryClient {
    RegistryClient::new(Options {
        credentials: if creds {
            CredentialSource::Explicit {
                username: "me".into(),
                password: "secret-pw".into(),
            }
        } else {
            CredentialSource::Anonymous
        },
        plain_http: true,
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(3),
            max_total: Duration::from_secs(10),
        },
        ..Options::default()
    })
    .unwrap()
}

#[test]
fn credentials_are_not_forwarded_on_a_redirect_to_another_host() {
    let body = "hello blob";
    let d = Digest::sha256(body.as_bytes());
    let storage = fake(vec![resp("200 OK", &[], body)]);
    let registry = fake(vec![
        resp(
            "401 Unauthorized",
            &["WWW-Authenticate: Basic realm=\"r\"".into()],
            "",
        ),
        resp(
            "307 Temporary Redirect",
            &[format!(
                "Location: http://127.0.0.1:{}/store/x?sig=abc",
                storage.port
            )],
            "",
        ),
    ]);
    let c = fake_client(true);
    let r = Repository::new(&format!("127.0.0.1:{}", registry.port), "a/b").unwrap();
    let mut out = Vec::new();
    c.fetch_blob(&r, &d, Some(body.len() as u64), &mut out)
        .unwrap();
    assert_eq!(out, body.as_bytes());
    let reg_seen = registry.seen.lock().unwrap().clone();
    assert!(
        !reg_seen[0].to_lowercase().contains("authorization"),
        "anonymous first"
    );
    assert!(
        reg_seen[1].to_lowercase().contains("authorization: basic "),
        "{}",
        reg_seen[1]
    );
    let st = storage.seen.lock().unwrap().clone();
    assert!(st[0].starts_with("GET /store/x?sig=abc"), "{}", st[0]);
    assert!(
        !st[0].to_lowercase().contains("authorization"),
        "leaked: {}",
        st[0]
    );
}

#[test]
fn retries_429_and_5xx_honouring_retry_after_but_never_a_plain_4xx() {
    let d = Digest::sha256(b"12345");
    let f = fake(vec![
        resp("429 Too Many Requests", &["Retry-After: 1".into()], ""),
        resp(
            "503 Service Unavailable",
            &[],
            "{\"errors\":[{\"code\":\"UNAVAILABLE\"}]}",
        ),
        resp("200 OK", &["Content-Length: 5".into()], ""),
    ]);
    let c = fake_client(false);
    let r = Repository::new(&format!("127.0.0.1:{}", f.port), "a/b").unwrap();
    let t = std::time::Instant::now();
    assert_eq!(c.blob_exists(&r, &d).unwrap(), Some(5));
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(c.stats().head, 3);

    let f = fake(vec![resp(
        "400 Bad Request",
        &[],
        "{\"errors\":[{\"code\":\"NAME_INVALID\",\"message\":\"bad name\"}]}",
    )]);
    let c = fake_client(false);
    let r = Repository::new(&format!("127.0.0.1:{}", f.port), "a/b").unwrap();
    let e = c.get_manifest(&r, "v1", &[]).unwrap_err().to_string();
    assert!(
        e.contains("400") && e.contains("NAME_INVALID: bad name") && e.contains("a/b"),
        "{e}"
    );
    assert_eq!(c.stats().total, 1, "a 400 is not retried");

    // 5xx until the attempts run out: an error saying so
    let f = fake(
        (0..4)
            .map(|_| resp("500 Internal Server Error", &[], ""))
            .collect(),
    );
    let c = fake_client(false);
    let r = Repository::new(&format!("127.0.0.1:{}", f.port), "a/b").unwrap();
    let e = c.blob_exists(&r, &d).unwrap_err().to_string();
    assert!(e.contains("500") && e.contains("after 4 attempts"), "{e}");
}

#[test]
fn a_docker_content_digest_that_disagrees_is_an_error() {
    let m = format!("{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"layers\":[]}}");
    let wrong = Digest::sha256(b"something else");
    let f = fake(vec![
        resp(
            "201 Created",
            &[format!("Docker-Content-Digest: {wrong}")],
            "",
        ),
        resp(
            "200 OK",
            &[
                format!("Docker-Content-Digest: {wrong}"),
                format!("Content-Type: {OCI_MANIFEST}"),
            ],
            &m,
        ),
        // by digest, the bytes themselves must match
        resp("200 OK", &[format!("Content-Type: {OCI_MANIFEST}")], &m),
    ]);
    let c = fake_client(false);
    let r = Repository::new(&format!("127.0.0.1:{}", f.port), "a/b").unwrap();
    let e = c
        .put_manifest(&r, "v1", m.as_bytes(), OCI_MANIFEST)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&wrong.to_string()) && e.contains("PUT manifest v1"),
        "{e}"
    );
    let e = c.get_manifest(&r, "v1", &[]).unwrap_err().to_string();
    assert!(e.contains("Docker-Content-Digest"), "{e}");
    let e = c
        .get_manifest(&r, &wrong.to_string(), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not match the digest"), "{e}");
}

// ---- Bearer token auth against the real registry, with a token issuer in the test ----
// (`Mode::Token`: docker-registry in `auth: token` mode trusting a certificate whose
// key signs the JWTs of a token server in the test; see
// crates/test-support/src/registry.rs)

#[test]
fn bearer_token_auth_with_every_scope_a_mount_needs() {
    let Some(reg) = Registry::start(Mode::Token) else {
        return;
    };
    let host = reg.host();
    let mut o = fake_client_options();
    o.credentials = CredentialSource::Explicit {
        username: reg.user().into(),
        password: reg.password().into(),
    };
    o.plain_http = false; // loopback: probed, falls back to plain HTTP
    let c = RegistryClient::new(o.clone()).unwrap();
    c.ping(&host).unwrap();
    let (src, dst) = (
        Repository::new(&host, "src/app").unwrap(),
        Repository::new(&host, "dst/app").unwrap(),
    );
    let body = b"a blob behind token auth".to_vec();
    let d = Digest::sha256(&body);
    c.upload_blob(
        &src,
        &d,
        body.len() as u64,
        &mut std::io::Cursor::new(body.clone()),
    )
    .unwrap();
    assert_eq!(c.blob_exists(&src, &d).unwrap(), Some(body.len() as u64));
    // the token for src (pull,push) is reused: no new token request
    let asked = reg.scopes_asked().len();
    assert_eq!(c.blob_exists(&src, &d).unwrap(), Some(body.len() as u64));
    assert_eq!(reg.scopes_asked().len(), asked);

    let push = c
        .mount_blob(
            &dst,
            &d,
            body.len() as u64,
            &src,
            &mut std::io::Cursor::new(body.clone()),
        )
        .unwrap();
    assert_eq!(push, BlobPush::Mounted);
    let asked = reg.scopes_asked();
    assert!(
        asked
            .iter()
            .any(|s| s == "repository:dst/app:pull,push repository:src/app:pull"),
        "one token for both repositories: {asked:?}"
    );
    let mut out = Vec::new();
    c.fetch_blob(&dst, &d, Some(body.len() as u64), &mut out)
        .unwrap();
    assert_eq!(out, body);

    // the token server refuses wrong credentials: a clear auth error
    o.credentials = CredentialSource::Explicit {
        username: reg.user().into(),
        password: "nope".into(),
    };
    let e = RegistryClient::new(o)
        .unwrap()
        .blob_exists(&src, &d)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("authentication failed")
            && e.contains(&format!("127.0.0.1:{}", reg.realm_port().unwrap())),
        "{e}"
    );
}

fn fake_client_options() -> Options {
    Options {
        plain_http: true,
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(3),
            max_total: Duration::from_secs(10),
        },
        ..Options::default()
    }
}
