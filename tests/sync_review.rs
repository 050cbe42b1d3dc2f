//! A second pair of eyes on `airsign sync`: hostile or lying destinations (through
//! the fault proxy of crates/test-support/src/proxy.rs, which can answer for the
//! registry or change its answers), credentials that must stay home, the resume
//! journal, and concurrency. Tests named `regression_…` pin a bug this review
//! found; the others prove a promise that held.

mod common;
#[path = "data/hostile/tarkit.rs"]
mod tarkit;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::bed::Bed;
use common::oci::{CONFIG, LAYER, MANIFEST, TestLayout, big_image_layout, digest_of, named};
use common::proxy::{Edit, Fault, Plan, Proxy, Request};
use common::registry::{Mode, Registry, Side};
use common::*;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const SRC: &str = "registry.example.com/demo";
const MIB: u64 = 1024 * 1024;
/// Above sync's 16 MiB monolithic threshold and its 32 MiB chunk: two PATCHes.
const BIG_LAYER: u64 = 40 * MIB;

// ---------------------------------------------------------------------------------
// The scene

/// A store holding `single` and `multi` (an index, signed with `-r`), both signed.
fn signed_bed() -> Bed {
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    bed.import("multi", &format!("{SRC}/multi"));
    let (key, _) = bed.keys("k");
    ok(&mut bed.cmd(&["sign", "--key", s(&key), &format!("{SRC}/single:v1")]));
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "-r", &format!("{SRC}/multi:v1")]));
    bed
}

/// Adds an image with a `BIG_LAYER` pseudo-random layer as `{SRC}/big:v1`, signed;
/// returns its digest.
fn add_big(bed: &Bed) -> String {
    let d = big_layout(&bed.path("big-layout"));
    ok(&mut bed.cmd(&[
        "import",
        &format!("oci:{}", bed.path("big-layout").display()),
        "--repository",
        &format!("{SRC}/big"),
    ]));
    let (key, _) = bed.keys("kb");
    ok(&mut bed.cmd(&["sign", "--key", s(&key), &format!("{SRC}/big:v1")]));
    d
}

/// `airsign sync --json ARGS`: the report (null if none) and the output.
fn sync(bed: &Bed, args: &[&str]) -> (Value, Output) {
    let mut all = vec!["sync", "--json"];
    all.extend_from_slice(args);
    let out = run(&mut bed.cmd(&all));
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (report, out)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one `airsign: error:` line of a failed run.
fn error_line(out: &Output) -> String {
    let e = stderr(out);
    assert!(!out.status.success(), "should have failed: {e}");
    let errors: Vec<&str> = e
        .lines()
        .filter(|l| l.starts_with("airsign: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {e}");
    errors[0].to_owned()
}

/// A plain `GET` (HTTP/1.1, connection closed): status, head and body.
fn http_get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, all[split + 4..].to_vec())
}

/// The digest the plain registry holds under `repo:reference`, if any.
fn digest_at(reg: &Registry, repo: &str, reference: &str) -> Option<String> {
    let (status, _, body) = http_get(reg.port(), &format!("/v2/{repo}/manifests/{reference}"));
    (status == 200).then(|| digest_of(&body))
}

/// Every (repository, tag, digest) of a plain registry, sorted.
fn contents(reg: &Registry) -> Vec<(String, String, String)> {
    let (_, _, body) = http_get(reg.port(), "/v2/_catalog?n=1000");
    let cat: Value = serde_json::from_slice(&body).unwrap();
    let mut out = Vec::new();
    for repo in cat["repositories"].as_array().unwrap() {
        let repo = repo.as_str().unwrap();
        let (_, _, body) = http_get(reg.port(), &format!("/v2/{repo}/tags/list"));
        let tags: Value = serde_json::from_slice(&body).unwrap();
        for t in tags["tags"].as_array().into_iter().flatten() {
            let t = t.as_str().unwrap();
            out.push((
                repo.to_owned(),
                t.to_owned(),
                digest_at(reg, repo, t).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

/// A layout with one image, tag `v1`, whose layer is `BIG_LAYER` pseudo-random
/// bytes; returns the image's manifest digest.
fn big_layout(root: &Path) -> String {
    big_image_layout(root, BIG_LAYER, 0x2545_f491_4f6c_dd1d)
}

fn answer(status: u16, headers: &[(&str, &str)]) -> Fault {
    Fault::Answer {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: String::new(),
    }
}

fn authorizations(p: &Proxy) -> Vec<String> {
    p.stats()
        .seen
        .iter()
        .filter_map(|s| s.authorization.clone())
        .collect()
}

// ---------------------------------------------------------------------------------
// Registry responses during sync

/// A registry whose `Docker-Content-Digest` after a manifest PUT names another
/// digest, or is empty, has not stored our bytes: that image fails, by name; the
/// other image of the run is pushed; the exit status is 1.
#[test]
fn a_manifest_put_answered_with_another_or_an_empty_digest_fails_that_image_only() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = signed_bed();
    let other = format!("sha256:{}", "ab".repeat(32));
    for (i, value) in [other.as_str(), ""].into_iter().enumerate() {
        let value = value.to_owned();
        let plan: Plan = Arc::new(move |r: &Request| {
            (r.method == "PUT" && r.path.contains("/single/manifests/v1")).then(|| {
                Fault::Edit(vec![Edit::Set(
                    "Docker-Content-Digest".into(),
                    value.clone(),
                )])
            })
        });
        let proxy = Proxy::start(reg.port(), plan);
        let to = format!("{}/run{i}", proxy.host());
        let (report, out) = sync(
            &bed,
            &[
                "--to",
                &to,
                &format!("{SRC}/single:v1"),
                &format!("{SRC}/multi:v1"),
            ],
        );
        let line = error_line(&out);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            line.contains("sync failed for 1 of 2") && line.contains("single"),
            "{line}"
        );
        assert!(line.contains("PUT manifest v1"), "{line}");
        assert_eq!(proxy.stats().faults_of("edit"), 1);
        let images = report["images"].as_array().unwrap();
        assert_eq!(images[0]["status"], "failed", "{report:#}");
        assert_eq!(images[1]["status"], "pushed", "{report:#}");
        // the single image's signature was never pushed after its image failed,
        // and the run says so
        let missing = report["missing_signatures"].as_array().unwrap();
        assert_eq!(missing.len(), 1, "{report:#}");
        assert!(
            missing[0]
                .as_str()
                .unwrap()
                .contains(&sig_tag(&fixture_digest("single")))
        );
        assert_eq!(
            digest_at(&reg, &format!("run{i}/demo/multi"), "v1").as_deref(),
            Some(fixture_digest("multi").as_str())
        );
    }
}

/// oras-go#1211: a registry answers HEAD for child manifests it does not hold, then
/// refuses their index with MANIFEST_BLOB_UNKNOWN. Sync used to fail the image with
/// the registry's error; it now puts the children again and the index once more.
#[test]
fn regression_children_a_head_claimed_present_are_pushed_again_when_the_index_is_refused() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = signed_bed();
    let children = child_digests("multi");
    let lies = children.clone();
    let plan: Plan = Arc::new(move |r: &Request| {
        let child = lies
            .iter()
            .find(|c| r.path.ends_with(&format!("/manifests/{c}")))?;
        (r.method == "HEAD").then(|| {
            answer(
                200,
                &[
                    ("Docker-Content-Digest", child),
                    ("Content-Type", MANIFEST),
                    ("Content-Length", "500"),
                ],
            )
        })
    });
    let proxy = Proxy::start(reg.port(), plan);
    let (report, out) = sync(&bed, &["--to", &proxy.host(), &format!("{SRC}/multi:v1")]);
    assert!(out.status.success(), "{}\n{report:#}", stderr(&out));
    let st = proxy.stats();
    assert!(st.faults_of("answer") >= 2, "{:#?}", st.log);
    for c in &children {
        assert!(
            st.seen
                .iter()
                .any(|s| s.method == "PUT" && s.path.ends_with(&format!("/manifests/{c}"))),
            "{c} was put again"
        );
        assert_eq!(
            digest_at(&reg, "demo/multi", c).as_deref(),
            Some(c.as_str())
        );
    }
    assert_eq!(
        digest_at(&reg, "demo/multi", "v1").as_deref(),
        Some(fixture_digest("multi").as_str())
    );
}

/// The accounting promise against a registry (or proxy) that answers 201 to a
/// `.sig` PUT without storing it and without a `Docker-Content-Digest` (a SHOULD,
/// so its absence alone proves nothing): sync used to count the signature as
/// pushed and exit 0. It now HEADs each `.sig` it wrote.
#[test]
fn regression_a_sig_put_answered_but_not_stored_is_reported_missing() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = signed_bed();
    let plan: Plan = Arc::new(|r: &Request| {
        (r.method == "PUT" && r.path.contains("/manifests/sha256-") && r.path.ends_with(".sig"))
            .then(|| answer(201, &[]))
    });
    let proxy = Proxy::start(reg.port(), plan);
    let (report, out) = sync(&bed, &["--to", &proxy.host(), &format!("{SRC}/single:v1")]);
    let line = error_line(&out);
    let tag = sig_tag(&fixture_digest("single"));
    assert!(
        line.contains("signatures missing at the destination") && line.contains(&tag),
        "{line}"
    );
    assert!(line.contains("its tag now shows nothing"), "{line}");
    assert_eq!(report["missing_signatures"].as_array().unwrap().len(), 1);
    assert_eq!(report["images"][0]["artifacts"][0]["status"], "failed");
    assert_eq!(proxy.stats().faults_of("answer"), 1);
    assert!(digest_at(&reg, "demo/single", &tag).is_none());
}

/// A registry whose answer to each PATCH says it holds nothing (`Range: 0-0`)
/// used to have the upload send the chunk from byte 1 again, forever. Now the
/// Range is checked against the chunk, the status is asked, and with no progress
/// the retry budget ends the upload with an error naming the image.
#[test]
fn regression_a_patch_range_that_never_advances_does_not_loop_forever() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    add_big(&bed);
    let patches = Arc::new(AtomicU64::new(0));
    let seen = patches.clone();
    let plan: Plan = Arc::new(move |r: &Request| {
        if r.method != "PATCH" {
            return None;
        }
        // the old code's endless loop is ended by the proxy after 200 PATCHes, so
        // that this test fails instead of hanging
        if seen.fetch_add(1, Ordering::SeqCst) >= 200 {
            return Some(answer(400, &[]));
        }
        Some(answer(202, &[("Range", "0-0")]))
    });
    let proxy = Proxy::start(reg.port(), plan);
    let (_, out) = sync(&bed, &["--to", &proxy.host(), &format!("{SRC}/big:v1")]);
    let line = error_line(&out);
    assert!(line.contains("demo/big"), "{line}");
    assert!(line.contains("acknowledged bytes 0-0"), "{line}");
    let n = patches.load(Ordering::SeqCst);
    assert!(n <= 10, "{n} PATCHes for one 40 MiB blob");
}

/// A PATCH answered with a Range beyond the chunk sent had the upload skip bytes
/// (and fail); it is no longer believed: the status is asked, and the blob lands
/// intact.
#[test]
fn regression_a_patch_range_beyond_the_chunk_is_not_believed_and_the_blob_lands_intact() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    let big = add_big(&bed);
    let plan: Plan = Arc::new(|r: &Request| {
        (r.method == "PATCH")
            .then(|| Fault::Edit(vec![Edit::Set("Range".into(), "0-41000000".into())]))
    });
    let proxy = Proxy::start(reg.port(), plan);
    let (report, out) = sync(&bed, &["--to", &proxy.host(), &format!("{SRC}/big:v1")]);
    assert!(out.status.success(), "{}\n{report:#}", stderr(&out));
    assert_eq!(proxy.stats().faults_of("edit"), 2, "both chunks lied");
    assert_eq!(
        digest_at(&reg, "demo/big", "v1").as_deref(),
        Some(big.as_str())
    );
    // the status (GET) was asked after each lie
    assert!(proxy.stats().method("GET") >= 2);
}

/// An upload status claiming bytes that were never sent (beyond the end of the
/// last chunk offered) used to be taken as the offset to continue from; now the
/// upload fails with a clear error instead of skipping part of the blob.
#[test]
fn regression_an_upload_status_claiming_unsent_bytes_fails_cleanly() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    add_big(&bed);
    // the first chunk is refused (503, so the registry's session stays at 0) and
    // the status that follows claims 36 MiB, more than the 32 MiB chunk offered
    let refused = Arc::new(AtomicU64::new(0));
    let plan: Plan = Arc::new(move |r: &Request| {
        if r.method == "PATCH" && refused.fetch_add(1, Ordering::SeqCst) == 0 {
            return Some(answer(503, &[]));
        }
        (r.method == "GET" && r.path.contains("/blobs/uploads/")).then(|| {
            Fault::Edit(vec![Edit::Set(
                "Range".into(),
                format!("0-{}", 36 * MIB - 1),
            )])
        })
    });
    let proxy = Proxy::start(reg.port(), plan);
    let (_, out) = sync(&bed, &["--to", &proxy.host(), &format!("{SRC}/big:v1")]);
    let line = error_line(&out);
    assert!(
        line.contains("claims to hold 37748736 bytes of the upload, but only 33554432 were sent"),
        "{line}"
    );
    assert!(digest_at(&reg, "demo/big", "v1").is_none());
}

// ---------------------------------------------------------------------------------
// Credentials stay home

/// An upload `Location` on another host gets no `Authorization`; and when that
/// host answers 401 with a Bearer challenge of its own, the challenge used to be
/// remembered as the registry's, so the next request fetched a token from the
/// realm it named — with the registry's credentials. Now such a 401 fails that
/// upload, and the realm never hears from us.
#[test]
fn regression_a_401_from_an_upload_location_on_another_host_never_sends_credentials() {
    let Some(reg) = Registry::start(Mode::BasicAuth) else {
        return;
    };
    let bed = signed_bed();
    // the "realm" an attacker names, and the other host it sends uploads to
    let realm = Proxy::start(reg.port(), Arc::new(|_| Some(answer(200, &[]))));
    let challenge = format!(
        "Bearer realm=\"http://{}/token\",service=\"evil\"",
        realm.host()
    );
    let other = Proxy::start(
        reg.port(),
        Arc::new(move |_| Some(answer(401, &[("WWW-Authenticate", &challenge)]))),
    );
    let other_host = other.host();
    let front = Proxy::start(
        reg.port(),
        Arc::new(move |r: &Request| {
            (r.method == "POST" && r.is_upload())
                .then(|| Fault::Edit(vec![Edit::LocationTo(other_host.clone())]))
        }),
    );
    let creds = reg.creds().unwrap();
    let (_, out) = sync(
        &bed,
        &[
            "--to",
            &front.host(),
            "--creds",
            &creds,
            "--jobs",
            "1",
            &format!("{SRC}/single:v1"),
            &format!("{SRC}/multi:v1"),
        ],
    );
    let line = error_line(&out);
    assert!(
        line.contains("asks for authentication; credentials are only sent to"),
        "{line}"
    );
    assert!(!line.contains(reg.password()), "{line}");
    assert!(
        other.stats().requests > 0,
        "the upload went to the other host"
    );
    assert_eq!(authorizations(&other), Vec::<String>::new());
    assert_eq!(realm.stats().requests, 0, "the foreign realm was asked");
    // the registry itself did get the credentials
    assert!(
        authorizations(&front)
            .iter()
            .any(|a| a.starts_with("Basic "))
    );
}

/// A write that the registry answers with a redirect to another host is not
/// followed (no body, no credentials go there): the image fails, by name.
#[test]
fn a_redirect_on_a_manifest_put_is_not_followed() {
    let Some(reg) = Registry::start(Mode::BasicAuth) else {
        return;
    };
    let bed = signed_bed();
    let elsewhere = Proxy::faithful(reg.port());
    let location = format!("http://{}/v2/demo/single/manifests/v1", elsewhere.host());
    let front = Proxy::start(
        reg.port(),
        Arc::new(move |r: &Request| {
            (r.method == "PUT" && r.path.contains("/manifests/v1"))
                .then(|| answer(307, &[("Location", &location)]))
        }),
    );
    let creds = reg.creds().unwrap();
    let (_, out) = sync(
        &bed,
        &[
            "--to",
            &front.host(),
            "--creds",
            &creds,
            &format!("{SRC}/single:v1"),
        ],
    );
    let line = error_line(&out);
    assert!(line.contains("PUT manifest v1: 307"), "{line}");
    assert_eq!(elsewhere.stats().requests, 0);
}

/// A token that expires mid-run (the registry answers 401 with its challenge to a
/// HEAD, a blob POST, a PATCH chunk and a manifest PUT): a fresh token is fetched
/// once each time and the run completes.
#[test]
fn a_401_mid_run_refreshes_the_token_and_the_run_completes() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Token) else {
        return;
    };
    let bed = signed_bed();
    let big = add_big(&bed);
    let (status, head, _) = http_get(reg.port(), "/v2/");
    assert_eq!(status, 401);
    let challenge = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("WWW-Authenticate: ")
                .or_else(|| l.strip_prefix("Www-Authenticate: "))
        })
        .unwrap()
        .to_owned();
    let fired: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let plan: Plan = Arc::new(move |r: &Request| {
        let which = match r.method.as_str() {
            "HEAD" if r.n_method == 6 => 0,
            "POST" if r.n_method == 3 => 1,
            "PATCH" => 2,
            "PUT" if r.path.contains("/manifests/") => 3,
            _ => return None,
        };
        (fired[which].fetch_add(1, Ordering::SeqCst) == 0)
            .then(|| answer(401, &[("WWW-Authenticate", &challenge)]))
    });
    let proxy = Proxy::start(reg.port(), plan);
    let creds = reg.creds().unwrap();
    let before = reg.scopes_asked().len();
    let (report, out) = sync(
        &bed,
        &[
            "--to",
            &proxy.host(),
            "--creds",
            &creds,
            &format!("{SRC}/single:v1"),
            &format!("{SRC}/multi:v1"),
            &format!("{SRC}/big:v1"),
        ],
    );
    assert!(out.status.success(), "{}\n{report:#}", stderr(&out));
    assert_eq!(
        proxy.stats().faults_of("answer"),
        4,
        "{:#?}",
        proxy.stats().log
    );
    assert!(reg.scopes_asked().len() > before);
    let raw = run(Command::new(skopeo)
        .args(["inspect", "--raw"])
        .args(reg.skopeo_args(Side::Inspect, true))
        .arg(reg.docker_ref("demo/big:v1")));
    assert_eq!(digest_of(&raw.stdout), big);
}

// ---------------------------------------------------------------------------------
// The resume journal

/// The key of a journal record: sha256 of `REPO@DIGEST`.
fn record_path(dir: &Path, repo: &str, digest: &str) -> PathBuf {
    let hex: String = Sha256::digest(format!("{repo}@{digest}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join(format!("{hex}.json"))
}

/// The big layer's digest (its image's only layer).
fn big_layer_digest(bed: &Bed) -> String {
    let l = bed.path("big-layout");
    let idx: Value = serde_json::from_slice(&std::fs::read(l.join("index.json")).unwrap()).unwrap();
    let m = idx["manifests"][0]["digest"].as_str().unwrap();
    let raw = std::fs::read(l.join("blobs/sha256").join(&m[7..])).unwrap();
    let v: Value = serde_json::from_slice(&raw).unwrap();
    v["layers"][0]["digest"].as_str().unwrap().to_owned()
}

/// A planted (or stale) record whose upload URL is on another host used to be
/// resumed there: the blob's bytes went to that host. Now it is ignored, removed,
/// and said; the other host hears nothing; the run succeeds.
#[test]
fn regression_a_journal_record_pointing_at_another_host_is_ignored_and_said() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    let big = add_big(&bed);
    let layer = big_layer_digest(&bed);
    // the other host plays along for 20 requests (the old code, which resumed
    // there, then fails instead of looping), then says the session is gone
    let elsewhere = Proxy::start(
        reg.port(),
        Arc::new(|r: &Request| {
            Some(if r.n <= 20 {
                answer(204, &[("Range", "0-1000")])
            } else {
                answer(404, &[])
            })
        }),
    );
    let state = bed.path("state");
    std::fs::create_dir_all(&state).unwrap();
    let planted = |repo: &str, location: String, size: u64| {
        json!({"registry": reg.host(), "repository": repo, "digest": layer,
               "size": size, "location": location, "offset": 1001})
        .to_string()
    };
    // each round goes to a repository of its own, where the blob is not yet
    for (round, why) in [
        format!("upload URL is on {}", elsewhere.host()),
        format!("not {layer} of {BIG_LAYER}"),
        "not a session record".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let repo = format!("round{round}/demo/big");
        let record = match round {
            0 => planted(
                &repo,
                format!("http://{}/v2/{repo}/blobs/uploads/x", elsewhere.host()),
                BIG_LAYER,
            ),
            1 => planted(
                &repo,
                format!("http://{}/v2/{repo}/blobs/uploads/x", reg.host()),
                7,
            ),
            _ => "{\"registry\": tru".to_owned(),
        };
        let file = record_path(&state, &format!("{}/{repo}", reg.host()), &layer);
        std::fs::write(&file, record).unwrap();
        let to = format!("{}/round{round}", reg.host());
        let (report, out) = sync(
            &bed,
            &[
                "--to",
                &to,
                "--state-dir",
                s(&state),
                &format!("{SRC}/big:v1"),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.contains("airsign: warning:")
                && e.contains(&why)
                && e.contains("ignored and removed"),
            "{why:?} in {e}"
        );
        assert_eq!(report["images"][0]["blobs"]["resumed"], 0);
        assert!(!file.exists());
        assert_eq!(digest_at(&reg, &repo, "v1").as_deref(), Some(big.as_str()));
    }
    assert_eq!(elsewhere.stats().requests, 0);
}

/// `--dry-run` never writes the state directory, and records are private (0600 in
/// a 0700 directory) — checked on a run killed mid-upload, whose record stays.
#[test]
fn dry_run_writes_no_journal_and_journal_records_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    add_big(&bed);
    let state = bed.path("state");
    let (_, out) = sync(
        &bed,
        &[
            "--dry-run",
            "--to",
            &reg.host(),
            "--state-dir",
            s(&state),
            &format!("{SRC}/big:v1"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!state.exists(), "a dry run created the state directory");

    // the second chunk is refused for good: the run fails with its session open
    let plan: Plan =
        Arc::new(|r: &Request| (r.method == "PATCH" && r.n_method >= 2).then(|| answer(400, &[])));
    let proxy = Proxy::start(reg.port(), plan);
    let (_, out) = sync(
        &bed,
        &[
            "--to",
            &proxy.host(),
            "--state-dir",
            s(&state),
            &format!("{SRC}/big:v1"),
        ],
    );
    assert!(!out.status.success());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o600);
}

// ---------------------------------------------------------------------------------
// Concurrency

/// A layout with images sharing blobs: `a:v1` and `a:v2` (the same image under two
/// tags), `b:v1` (the same image again, in another repository) and `c:v1` (an
/// index whose platforms share nothing with the rest).
fn shared_layout(root: &Path) -> TestLayout {
    let l = TestLayout::new(root);
    let (img, _) = l.image("amd64", "shared");
    let (idx, _) = l.multi("other");
    l.set_index(&[
        named(img.clone(), "registry.example.com/shared/a:v1"),
        named(img.clone(), "registry.example.com/shared/a:v2"),
        named(img, "registry.example.com/shared/b:v1"),
        named(idx, "registry.example.com/shared/c:v1"),
    ]);
    l
}

/// Many images sharing blobs across repositories, duplicates in the IMAGE list and
/// one image under two tags: `--jobs 1` and `--jobs 16` leave identical registry
/// contents, and neither uploads a shared blob twice.
#[test]
fn jobs_1_and_jobs_16_give_identical_registries_with_shared_blobs_and_duplicates() {
    let (Some(r1), Some(r16)) = (Registry::start(Mode::Plain), Registry::start(Mode::Plain)) else {
        return;
    };
    let bed = Bed::new();
    shared_layout(&bed.path("shared"));
    ok(&mut bed.cmd(&["import", &format!("oci:{}", bed.path("shared").display())]));
    let (key, _) = bed.keys("k");
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "--all", "-r"]));
    let images = [
        "registry.example.com/shared/a:v1",
        "registry.example.com/shared/a:v2",
        "registry.example.com/shared/b:v1",
        "registry.example.com/shared/c:v1",
        "registry.example.com/shared/a:v1",
        "registry.example.com/shared/c:v1",
    ];
    let mut reports = Vec::new();
    for (reg, jobs) in [(&r1, "1"), (&r16, "16")] {
        let host = reg.host();
        let mut args = vec!["--to", host.as_str(), "--jobs", jobs];
        args.extend(images);
        let (report, out) = sync(&bed, &args);
        assert!(out.status.success(), "--jobs {jobs}: {}", stderr(&out));
        assert!(report["missing_signatures"].as_array().unwrap().is_empty());
        reports.push(report);
    }
    let c1 = contents(&r1);
    assert_eq!(c1, contents(&r16));
    // a, b and c with their tags, plus a .sig for the shared image in a and b, and
    // one per manifest of c (signed with -r)
    assert_eq!(
        c1.iter().filter(|(_, t, _)| t.ends_with(".sig")).count(),
        2 + 3
    );
    assert_eq!(c1.len(), 4 + 5, "{c1:#?}");
    let uploads = |r: &Value| -> (u64, u64) {
        r["images"]
            .as_array()
            .unwrap()
            .iter()
            .fold((0, 0), |(u, m), i| {
                (
                    u + i["blobs"]["uploaded"].as_u64().unwrap(),
                    m + i["blobs"]["mounted"].as_u64().unwrap(),
                )
            })
    };
    assert_eq!(
        uploads(&reports[0]),
        uploads(&reports[1]),
        "{:#}",
        reports[1]
    );
}

/// Two sync processes at once from one store to one registry (sharing the store's
/// journal directory): both finish, everything lands intact, no record is left.
#[test]
fn two_syncs_at_once_on_one_store_both_finish_and_leave_no_journal() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = signed_bed();
    let big = add_big(&bed);
    let host = reg.host();
    let spawn = || {
        bed.cmd(&[
            "sync",
            "--json",
            "--to",
            &host,
            &format!("{SRC}/big:v1"),
            &format!("{SRC}/multi:v1"),
            &format!("{SRC}/single:v1"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(
        digest_at(&reg, "demo/big", "v1").as_deref(),
        Some(big.as_str())
    );
    assert_eq!(
        digest_at(&reg, "demo/multi", "v1").as_deref(),
        Some(fixture_digest("multi").as_str())
    );
    assert!(digest_at(&reg, "demo/big", &sig_tag(&big)).is_some());
    let journal = bed.store.join(".airsign/sync/uploads");
    let left: Vec<_> = std::fs::read_dir(&journal)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

// ---------------------------------------------------------------------------------
// Refused before any request

/// A run that must refuse: one error line, and the proxy (the destination) saw
/// not a single request.
fn refused_before_any_request(bed: &Bed, proxy: &Proxy, args: &[&str], expect: &str) {
    let (_, out) = sync(bed, args);
    let line = error_line(&out);
    assert!(line.contains(expect), "{expect:?} in {line}");
    assert_eq!(
        proxy.stats().requests,
        0,
        "{args:?}: {:#?}",
        proxy.stats().seen
    );
}

#[test]
fn a_hostile_archive_given_to_from_is_refused_before_any_request() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = signed_bed();
    let proxy = Proxy::faithful(reg.port());
    let image = |t: &mut tarkit::Tar| {
        let l = t.blob(b"layer");
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let c = t.blob(config);
        let m = serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":MANIFEST,
            "config":{"mediaType":CONFIG,"digest":c,"size":config.len()},
            "layers":[{"mediaType":LAYER,"digest":l,"size":5}]}))
        .unwrap();
        let md = t.blob(&m);
        serde_json::to_vec(
            &json!({"schemaVersion":2,"manifests":[{"mediaType":MANIFEST,
            "digest":md,"size":m.len(),
            "annotations":{"org.opencontainers.image.ref.name":"registry.example.com/h/app:v1"}}]}),
        )
        .unwrap()
    };
    type Flaw = Box<dyn Fn(&mut tarkit::Tar)>;
    let cases: Vec<(&str, Flaw, &str)> = vec![
        (
            "traversal",
            Box::new(|t| {
                t.file("../x", b"x");
            }),
            "'..' component",
        ),
        (
            "symlink",
            Box::new(|t| {
                t.link(
                    &format!("blobs/sha256/{}", tarkit::sha256_hex(b"x")),
                    b'2',
                    "/etc/passwd",
                );
            }),
            "a symlink",
        ),
        (
            "duplicate",
            Box::new(|t| {
                t.file("index.json", b"{}");
            }),
            "appears twice",
        ),
    ];
    for (name, flaw, expect) in cases {
        let mut t = tarkit::Tar::new();
        t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        let idx = image(&mut t);
        t.file("index.json", &idx);
        flaw(&mut t);
        let a = bed.path(&format!("{name}.tar"));
        std::fs::write(&a, &t.end().buf).unwrap();
        let from = format!("oci-archive:{}", a.display());
        refused_before_any_request(
            &bed,
            &proxy,
            &["--from", &from, "--all", "--to", &proxy.host()],
            expect,
        );
        refused_before_any_request(
            &bed,
            &proxy,
            &[
                &format!("{from}:registry.example.com/h/app:v1"),
                "--to",
                &proxy.host(),
            ],
            expect,
        );
    }
    // the control: the same archive without a flaw goes through
    let mut t = tarkit::Tar::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let idx = image(&mut t);
    t.file("index.json", &idx);
    let a = bed.path("good.tar");
    std::fs::write(&a, &t.end().buf).unwrap();
    let (_, out) = sync(
        &bed,
        &[
            "--from",
            &format!("oci-archive:{}", a.display()),
            "--all",
            "--to",
            &proxy.host(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn map_and_to_producing_invalid_repository_names_are_refused_before_any_request() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = signed_bed();
    let proxy = Proxy::faithful(reg.port());
    let h = proxy.host();
    let image = format!("{SRC}/single:v1");
    let to_cases = [
        (format!("{h}/Mirror"), "not a valid repository"),
        (format!("{h}/a/../b"), "not a valid repository"),
        (format!("{h}/a//b"), "not a valid repository"),
        (format!("http://{h}/x"), "not a valid repository"),
        (format!("{h}/x:tag"), "not a valid repository"),
    ];
    for (to, expect) in &to_cases {
        refused_before_any_request(&bed, &proxy, &["--to", to, &image], expect);
    }
    let map_cases = [
        (format!("{SRC}={h}/UP"), "not a valid repository"),
        (format!("{SRC}={h}/.."), "not a valid repository"),
        (format!("{SRC}/single={h}"), "names no repository"),
        (format!("{SRC}="), "must not be empty"),
        ("nothing".to_owned(), "expected FROM=TO"),
    ];
    for (map, expect) in &map_cases {
        refused_before_any_request(&bed, &proxy, &["--map", map, &image], expect);
    }
}

/// Issue 9: a registry that stops reading an upload (the proxy relays 1 MiB of the
/// first PATCH, then holds the exchange without answering) kept sync waiting for as
/// long as it cared to trickle. Each request now has a deadline scaled to its body
/// (`--transfer-timeout` + bytes at `--min-rate`): the PATCH fails at it, in one line
/// naming the registry, repository and what was sent, and is not retried.
#[test]
fn regression_a_frozen_upload_times_out_at_its_deadline_and_is_not_retried() {
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    add_big(&bed);
    let plan: Plan = Arc::new(|r: &Request| {
        (r.method == "PATCH" && r.is_upload()).then_some(Fault::Hold { after: MIB })
    });
    let proxy = Proxy::start(reg.port(), plan);
    let started = std::time::Instant::now();
    // a 32 MiB chunk at 16 MiB/s: 1 s + 2 s
    let (_, out) = sync(
        &bed,
        &[
            "--to",
            &proxy.host(),
            "--transfer-timeout",
            "1",
            "--min-rate",
            "16M",
            &format!("{SRC}/big:v1"),
        ],
    );
    let took = started.elapsed();
    let line = error_line(&out);
    assert!(
        took < std::time::Duration::from_secs(30),
        "took {took:?}: {line}"
    );
    assert!(
        line.contains(&format!("{}/demo/big: PATCH", proxy.host())),
        "{line}"
    );
    assert!(line.contains("timed out after"), "{line}");
    assert!(
        line.contains("33554432 bytes at 16777216 bytes/s"),
        "{line}"
    );
    let st = proxy.stats();
    assert_eq!(
        st.method("PATCH"),
        1,
        "a timed-out PATCH is not sent again: {st:?}"
    );
}
