//! `airsign sync` against the real registry (Debian's docker-registry), checked by the
//! real cosign and skopeo: what lands verifies, keeps its digests and the
//! destination's own signatures, and a second sync sends nothing.

mod common;

use common::bed::{Bed, PASSWORD};

use std::path::Path;
use std::process::Command;

use common::oci::digest_of;
use common::registry::{Mode, Registry};
use common::verifiers::*;
use common::*;
use serde_json::Value;
use tempfile::TempDir;

const SRC: &str = "registry.example.com/demo";

impl Bed {
    /// `airsign sync ARGS --json`: the report, the command having succeeded.
    fn sync_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["sync", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&ok(&mut self.cmd(&all))).unwrap()
    }
}

/// The config and layers of a fixture's (single-manifest) image.
fn image_blobs(fixture: &str) -> u64 {
    let d = fixture_digest(fixture);
    let raw = std::fs::read(fixtures().join(fixture).join("blobs/sha256").join(&d[7..])).unwrap();
    let m: Value = serde_json::from_slice(&raw).unwrap();
    1 + m["layers"].as_array().unwrap().len() as u64
}

fn image<'a>(report: &'a Value, source: &str) -> &'a Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"] == source)
        .unwrap_or_else(|| panic!("{source} not in {report:#}"))
}

#[test]
fn synced_images_verify_with_cosign_and_skopeo_keep_digests_and_resync_sends_nothing() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    bed.import("multi", &format!("{SRC}/multi"));
    // the same image in another repository: its blobs are mounted, not sent again
    bed.import("single", &format!("{SRC}/copy"));
    // a second tag of the signed image: a digest reference syncs both tags
    bed.import("single", &format!("{SRC}/single:v2"));
    let (key, public) = bed.keys("k");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{host}/demo/single"),
        &format!("{SRC}/single:v1"),
    ]));
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "-r",
        "--identity",
        &format!("{host}/demo/multi"),
        &format!("{SRC}/multi:v1"),
    ]));

    let images = [
        format!("{SRC}/single@{}", fixture_digest("single")),
        format!("{SRC}/multi:v1"),
        format!("{SRC}/copy:v1"),
    ];
    let mut args: Vec<&str> = images.iter().map(String::as_str).collect();
    args.extend(["--to", &host]);
    let first = bed.sync_json(&args);
    assert!(writes(&first) > 0, "{first:#}");
    for i in first["images"].as_array().unwrap() {
        assert_eq!(i["status"], "pushed", "{first:#}");
    }
    // single and copy share their blobs and run at once (--jobs 4): each blob is
    // sent once, into whichever repository claimed it first, and mounted into the other
    let blobs = |i: &Value, k: &str| i["blobs"][k].as_u64().unwrap();
    let pair = [
        image(&first, &format!("{SRC}/single:v1")),
        image(&first, &format!("{SRC}/single:v2")),
        image(&first, &images[2]),
    ];
    let mounted: u64 = pair.iter().map(|i| blobs(i, "mounted")).sum();
    assert_eq!(mounted, image_blobs("single"), "{first:#}");
    // each of copy's blobs either sent by it or mounted from the other repository,
    // per blob: which image claims which blob first is up to the scheduler (a CI
    // run saw one of each — the test had demanded all of one kind)
    let copy = pair[2];
    assert_eq!(
        blobs(copy, "mounted") + blobs(copy, "uploaded"),
        image_blobs("single"),
        "{copy:#}"
    );
    // both tags pushed; the .sig they share is accounted for under each
    let mut shared: Vec<&str> = ["v1", "v2"]
        .iter()
        .map(|t| {
            image(&first, &format!("{SRC}/single:{t}"))["artifacts"][0]["status"]
                .as_str()
                .unwrap()
        })
        .collect();
    shared.sort();
    assert_eq!(shared, ["present", "pushed"], "{first:#}");
    // one .sig for single, one per manifest of multi (-r)
    let multi = image(&first, &images[1]);
    assert!(
        multi["artifacts"].as_array().unwrap().len() >= 3,
        "{multi:#}"
    );
    assert!(first["missing_signatures"].as_array().unwrap().is_empty());

    // byte for byte: the registry's digests are the store's
    for (fixture, image) in [
        ("single", "single:v1"),
        ("single", "single:v2"),
        ("multi", "multi:v1"),
        ("single", "copy:v1"),
    ] {
        let raw = raw_manifest(&skopeo, &reg, &format!("demo/{image}")).unwrap();
        assert_eq!(digest_of(&raw), fixture_digest(fixture), "demo/{image}");
    }
    assert_cosign_verifies(&cosign, &reg, &public, "demo/single:v1");
    assert_cosign_verifies(&cosign, &reg, &public, "demo/multi:v1");
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/single:v1", false).unwrap();
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/multi:v1", true).unwrap();

    // a second sync: no uploads, no manifest PUTs, one HEAD per tag
    let second = bed.sync_json(&args);
    assert_eq!(writes(&second), 0, "{second:#}");
    // distinct tags: each image's, and each artifact tag once per repository
    let mut distinct = std::collections::BTreeSet::new();
    for i in second["images"].as_array().unwrap() {
        let dest = i["destination"].as_str().unwrap();
        distinct.insert(dest.to_owned());
        let repo = dest.rsplit_once(':').unwrap().0;
        for a in i["artifacts"].as_array().unwrap() {
            distinct.insert(format!("{repo}:{}", a["tag"].as_str().unwrap()));
        }
    }
    let tags = distinct.len();
    // beyond one HEAD per tag, only the per-host probe that finds a loopback
    // registry speaks plain HTTP (an HTTPS attempt, then GET /v2/)
    assert_eq!(second["requests"]["head"], tags as u64, "{second:#}");
    assert!(
        second["requests"]["total"].as_u64().unwrap() <= tags as u64 + 2,
        "{second:#}"
    );
    // with --plain-http there is no probe: exactly one request per tag
    let mut plain = args.clone();
    plain.push("--plain-http");
    let third = bed.sync_json(&plain);
    assert_eq!(third["requests"]["total"], tags as u64, "{third:#}");
    for i in second["images"].as_array().unwrap() {
        assert_eq!(i["status"], "present", "{second:#}");
    }
}

#[test]
fn tls_and_basic_auth_with_creds_and_ca_cert_and_wrong_creds_fail_in_one_line() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::TlsBasicAuth) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, public) = bed.keys("k");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{host}/demo/single"),
        &format!("{SRC}/single:v1"),
    ]));
    let ca = reg.ca_cert().unwrap();
    let image = format!("{SRC}/single:v1");

    // wrong password: one clear line naming the host, never the password
    let wrong = format!("{}:not-{}", reg.user(), reg.password());
    let err = fails(&mut bed.cmd(&[
        "sync",
        &image,
        "--to",
        &host,
        "--creds",
        &wrong,
        "--ca-cert",
        s(&ca),
    ]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("authentication failed") && err.contains(&host),
        "{err}"
    );
    assert!(!err.contains(reg.password()), "{err}");

    // without the CA, TLS verification refuses the registry
    let creds = reg.creds().unwrap();
    let err = fails(&mut bed.cmd(&["sync", &image, "--to", &host, "--creds", &creds]));
    assert!(err.contains(&host), "{err}");

    // one worker: the sequential path
    let report = bed.sync_json(&[
        &image,
        "--to",
        &host,
        "--creds",
        &creds,
        "--ca-cert",
        s(&ca),
        "--jobs",
        "1",
    ]);
    assert_eq!(image_status(&report), "pushed");
    assert_cosign_verifies(&cosign, &reg, &public, "demo/single:v1");
}

fn image_status(report: &Value) -> &str {
    report["images"][0]["status"].as_str().unwrap()
}

#[test]
fn a_signature_already_at_the_destination_is_kept_and_merged() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, public) = bed.keys("k");
    let (other, other_pub) = bed.keys("other");
    let image = format!("{SRC}/single:v1");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{host}/demo/single"),
        &image,
    ]));
    let digest = fixture_digest("single");

    // the image reaches the registry first, and cosign signs it there
    let out = skopeo_push(&skopeo, &reg, &bed.store, &image, "demo/single:v1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let home = TempDir::new().unwrap();
    ok(Command::new(&cosign)
        .env("HOME", home.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign", "--key", s(&other), "--tlog-upload=false", "--yes"])
        .args(reg.cosign_args(true))
        .arg(format!("{host}/demo/single@{digest}")));
    let cosigns =
        raw_manifest(&skopeo, &reg, &format!("demo/single:{}", sig_tag(&digest))).unwrap();

    // the dry run sees the merge coming and writes nothing
    let plan = bed.sync_json(&[&image, "--to", &host, "--dry-run"]);
    assert_eq!(plan["images"][0]["status"], "present", "{plan:#}");
    assert_eq!(plan["images"][0]["artifacts"][0]["status"], "would-merge");
    assert_eq!(writes(&plan), 0, "{plan:#}");

    let report = bed.sync_json(&[&image, "--to", &host]);
    let sig = &report["images"][0]["artifacts"][0];
    assert_eq!(sig["status"], "merged", "{report:#}");
    assert_eq!(sig["kept_layers"], 1, "{report:#}");
    // both signatures verify: cosign's was kept, ours appended
    assert_cosign_verifies(&cosign, &reg, &other_pub, "demo/single:v1");
    assert_cosign_verifies(&cosign, &reg, &public, "demo/single:v1");
    let merged: Value = serde_json::from_slice(
        &raw_manifest(&skopeo, &reg, &format!("demo/single:{}", sig_tag(&digest))).unwrap(),
    )
    .unwrap();
    let cosigns: Value = serde_json::from_slice(&cosigns).unwrap();
    assert_eq!(merged["layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        merged["layers"][0], cosigns["layers"][0],
        "cosign's layer comes first"
    );

    // again: the destination holds all of ours, nothing is written
    let again = bed.sync_json(&[&image, "--to", &host]);
    assert_eq!(again["images"][0]["artifacts"][0]["status"], "contained");
    assert_eq!(writes(&again), 0, "{again:#}");
}

#[test]
fn strict_identity_refuses_before_sending_anything() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, _) = bed.keys("k");
    let image = format!("{SRC}/single:v1");
    // the identity is the store's repository, not the destination's
    ok(&mut bed.cmd(&["sign", "--key", s(&key), &image]));

    let err = fails(&mut bed.cmd(&["sync", &image, "--to", &host, "--strict-identity"]));
    assert!(
        err.contains("--strict-identity")
            && err.contains(&format!("{SRC}/single"))
            && err.contains(&format!("{host}/demo/single")),
        "{err}"
    );
    assert!(raw_manifest(&skopeo, &reg, "demo/single:v1").is_none());
    assert_eq!(
        reg.curl_status("/v2/demo/single/tags/list", false),
        Some(404)
    );

    // without it: a warning naming image, identity and destination, and the push
    let out = run(&mut bed.cmd(&["sync", &image, "--to", &host]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning")
            && err.contains(&image)
            && err.contains(&format!("{host}/demo/single")),
        "{err}"
    );
    assert!(raw_manifest(&skopeo, &reg, "demo/single:v1").is_some());
}

#[test]
fn dry_run_sends_no_writes_and_map_rewrites_repositories() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, _) = bed.keys("k");
    let image = format!("{SRC}/single:v1");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{host}/mapped/single"),
        &image,
    ]));
    let map = format!("{SRC}={host}/mapped");
    // --map wins over --to
    let plan = bed.sync_json(&[
        &image,
        "--to",
        "127.0.0.1:1/nowhere",
        "--map",
        &map,
        "--dry-run",
    ]);
    assert_eq!(writes(&plan), 0, "{plan:#}");
    let i = &plan["images"][0];
    assert_eq!(i["destination"], format!("{host}/mapped/single:v1"));
    assert_eq!(i["status"], "would-push");
    assert!(i["blobs"]["missing"].as_u64().unwrap() > 0, "{i:#}");
    assert!(i["blobs"]["bytes_sent"].as_u64().unwrap() > 0, "{i:#}");
    assert_eq!(i["artifacts"][0]["status"], "would-push");
    assert!(raw_manifest(&skopeo, &reg, "mapped/single:v1").is_none());

    // the human plan goes to stdout
    let out = ok(&mut bed.cmd(&["sync", &image, "--map", &map, "--dry-run"]));
    assert!(
        out.contains("would-push") && out.contains("missing"),
        "{out}"
    );

    // --all plans every image of the store, and never its artifacts as images
    let all = bed.sync_json(&["--all", "--map", &map, "--dry-run"]);
    assert_eq!(all["images"].as_array().unwrap().len(), 1, "{all:#}");
    assert_eq!(writes(&all), 0);

    bed.sync_json(&[&image, "--map", &map]);
    let plan = bed.sync_json(&[&image, "--map", &map, "--dry-run"]);
    assert_eq!(plan["images"][0]["status"], "present", "{plan:#}");
    assert_eq!(writes(&plan), 0);
}

// ---------------------------------------------------------------------------------
// Resume across kill -9

/// A TCP proxy to the registry that, while armed, forwards everything up to the
/// start of the second `PATCH` request it sees and then holds that request back:
/// the registry has acknowledged exactly the first chunk of the upload, and nothing
/// of the next. (distribution drops an upload whose data outgrew the offset its
/// signed `_state` names — what a PATCH cut mid-body leaves — so only a cut between
/// chunks can be resumed there; this puts the kill exactly there.) Disarmed, it
/// forwards everything.
struct HoldingProxy {
    port: u16,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    held: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HoldingProxy {
    fn start(upstream: u16) -> HoldingProxy {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(true));
        let held = Arc::new(AtomicBool::new(false));
        let patches = Arc::new(AtomicUsize::new(0));
        let (a, h) = (armed.clone(), held.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(Shutdown::Both);
                });
                let (a, h, patches) = (a.clone(), h.clone(), patches.clone());
                std::thread::spawn(move || {
                    const NEEDLE: &[u8] = b"PATCH /v2/";
                    let mut buf = vec![0u8; 64 * 1024];
                    // the tail of the previous read, so a needle split across reads is seen
                    let mut tail: Vec<u8> = Vec::new();
                    let mut holding = false;
                    loop {
                        let n = match c_read.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if holding {
                            continue;
                        }
                        let mut cut = None;
                        if a.load(Ordering::SeqCst) {
                            let mut window = tail.clone();
                            window.extend_from_slice(&buf[..n]);
                            let mut from = 0;
                            while let Some(p) = window[from..]
                                .windows(NEEDLE.len())
                                .position(|w| w == NEEDLE)
                            {
                                let at = from + p;
                                if at + NEEDLE.len() > tail.len()
                                    && patches.fetch_add(1, Ordering::SeqCst) == 1
                                {
                                    cut = Some(at.saturating_sub(tail.len()));
                                    break;
                                }
                                from = at + 1;
                            }
                            let keep = window.len().min(NEEDLE.len() - 1);
                            tail = window[window.len() - keep..].to_vec();
                        }
                        let send = cut.unwrap_or(n);
                        if s_write.write_all(&buf[..send]).is_err() {
                            break;
                        }
                        if cut.is_some() {
                            holding = true;
                            h.store(true, Ordering::SeqCst);
                        }
                    }
                    let _ = s_write.shutdown(Shutdown::Both);
                });
            }
        });
        HoldingProxy { port, armed, held }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Deterministic incompressible bytes (xorshift), so the layer is a real upload.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A layout of one image (tag `v1`) whose layer is `layer`.
fn layout_with_layer(root: &Path, layer: &[u8]) -> String {
    use common::oci::{CONFIG, LAYER, MANIFEST, TestLayout, named};
    let l = TestLayout::new(root);
    let layer_d = l.desc(LAYER, layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_d["digest"]]}, "config": {}
    }))
    .unwrap();
    let config_d = l.desc(CONFIG, &config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "config": config_d, "layers": [layer_d]
    }))
    .unwrap();
    let d = l.desc(MANIFEST, &manifest);
    let digest = d["digest"].as_str().unwrap().to_owned();
    l.set_index(&[named(d, "v1")]);
    digest
}

#[test]
fn a_sync_killed_mid_upload_resumes_from_the_registrys_offset_on_rerun() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    const MIB: usize = 1024 * 1024;
    let size = 48 * MIB;
    let bed = Bed::new();
    let digest = layout_with_layer(&bed.path("big"), &noise(size, 7));
    ok(&mut bed.cmd(&[
        "import",
        &format!("oci:{}", bed.path("big").display()),
        "--repository",
        &format!("{SRC}/big"),
    ]));
    let (key, public) = bed.keys("k");
    let image = format!("{SRC}/big:v1");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--identity",
        &format!("{}/demo/big", reg.host()),
        &image,
    ]));

    let proxy = HoldingProxy::start(reg.port());
    let args = [
        "sync",
        "--json",
        &image,
        "--to",
        &proxy.host(),
        "--plain-http",
    ];
    let mut child = bed
        .cmd(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // the first 32 MiB chunk is acknowledged and the second is held back: kill -9
    // (a wait for a condition, with a generous bound; nothing here is timed)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !proxy.held.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "airsign finished before its second chunk"
        );
        assert!(std::time::Instant::now() < deadline, "no second PATCH came");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL to this child's pid
    child.wait().unwrap();
    proxy
        .armed
        .store(false, std::sync::atomic::Ordering::SeqCst);

    // the open session is on record in the store's private directory
    let journal = bed.store.join(".airsign/sync/uploads");
    let records: Vec<_> = std::fs::read_dir(&journal).unwrap().collect();
    assert_eq!(records.len(), 1, "{}", journal.display());
    assert!(raw_manifest(&skopeo, &reg, "demo/big:v1").is_none());

    // the rerun continues the layer where the registry stands
    let report = bed.sync_json(&args[2..]);
    let i = &report["images"][0];
    assert_eq!(i["status"], "pushed", "{report:#}");
    assert_eq!(i["blobs"]["resumed"], 1, "{report:#}");
    assert_eq!(i["blobs"]["resumed_bytes"], 32 * MIB as u64, "{report:#}");
    let sent = i["blobs"]["bytes_sent"].as_u64().unwrap();
    assert!(sent < size as u64, "sent {sent} bytes again: {report:#}");
    assert!(
        report["requests"]["bytes_sent"].as_u64().unwrap() < size as u64,
        "{report:#}"
    );
    assert!(std::fs::read_dir(&journal).unwrap().next().is_none());

    // what landed is the image, byte for byte, and its signature verifies
    let raw = raw_manifest(&skopeo, &reg, "demo/big:v1").unwrap();
    assert_eq!(digest_of(&raw), digest);
    assert_cosign_verifies(&cosign, &reg, &public, "demo/big:v1");
    // and a third run sends nothing
    let again = bed.sync_json(&args[2..]);
    assert_eq!(writes(&again), 0, "{again:#}");
}

// ---------------------------------------------------------------------------------
// Sources other than the store

#[test]
fn sync_from_oci_archives_and_bare_tag_layouts_read_in_place() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    bed.import("multi", &format!("{SRC}/multi"));
    let (key, public) = bed.keys("k");
    for (image, r) in [("single:v1", ""), ("multi:v1", "-r")] {
        let repo = image.split(':').next().unwrap();
        let mut args = vec!["sign", "--key", s(&key)];
        if !r.is_empty() {
            args.push(r);
        }
        let identity = format!("{host}/carried/{repo}");
        let image = format!("{SRC}/{image}");
        args.extend(["--identity", &identity, &image]);
        ok(&mut bed.cmd(&args));
    }
    // the stick: a plain archive and a zstd one, carried to a machine with no store
    let plain = bed.path("carry.tar");
    let zst = bed.path("carry-z.tar");
    for (to, extra) in [(&plain, None), (&zst, Some("zstd"))] {
        let mut args = vec![
            "export".to_owned(),
            "--all".to_owned(),
            "--to".to_owned(),
            format!("oci-archive:{}", to.display()),
        ];
        if let Some(c) = extra {
            args.extend(["--compress".to_owned(), c.to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&mut bed.cmd(&args));
    }
    let other = TempDir::new().unwrap();
    let no_store = |args: &[&str]| {
        let mut c = airsign(["--store".as_ref(), other.path().join("none").as_os_str()]);
        c.args(args)
            .env("HOME", other.path())
            .env_remove("XDG_STATE_HOME")
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("AIRSIGN_CREDS");
        c
    };
    let from = format!("oci-archive:{}", plain.display());
    let to = format!("{host}/carried");
    let report: Value = serde_json::from_str(&ok(&mut no_store(&[
        "sync",
        "--json",
        "--from",
        &from,
        "--all",
        "--map",
        &format!("{SRC}={to}"),
    ])))
    .unwrap();
    assert_eq!(report["images"].as_array().unwrap().len(), 2, "{report:#}");
    for i in report["images"].as_array().unwrap() {
        assert_eq!(i["status"], "pushed", "{report:#}");
    }
    assert!(report["missing_signatures"].as_array().unwrap().is_empty());
    for (fixture, image) in [("single", "single:v1"), ("multi", "multi:v1")] {
        let raw = raw_manifest(&skopeo, &reg, &format!("carried/{image}")).unwrap();
        assert_eq!(digest_of(&raw), fixture_digest(fixture), "{image}");
        assert_cosign_verifies(&cosign, &reg, &public, &format!("carried/{image}"));
    }
    skopeo_policy_verify(&skopeo, &reg, &public, "carried/multi:v1", true).unwrap();

    // the zstd archive, an image named skopeo's way: all there, nothing written
    // (--compress zstd wrote FILE.tar.zst)
    let image = format!("oci-archive:{}.zst:{SRC}/single:v1", zst.display());
    let again: Value = serde_json::from_str(&ok(&mut no_store(&[
        "sync",
        "--json",
        &image,
        "--map",
        &format!("{SRC}={to}"),
    ])))
    .unwrap();
    assert_eq!(again["images"][0]["status"], "present", "{again:#}");
    assert_eq!(writes(&again), 0, "{again:#}");

    // split into parts (as for FAT32), to a fresh repository: blobs read across parts
    ok(&mut bed.cmd(&[
        "export",
        &format!("{SRC}/multi:v1"),
        "--split",
        "4K",
        "--to",
        &format!("oci-archive:{}", bed.path("parts.tar").display()),
    ]));
    let parts = format!(
        "oci-archive:{}.000:{SRC}/multi:v1",
        bed.path("parts.tar").display()
    );
    let split: Value = serde_json::from_str(&ok(&mut no_store(&[
        "sync",
        "--json",
        &parts,
        "--map",
        &format!("{SRC}={host}/split"),
    ])))
    .unwrap();
    assert_eq!(split["images"][0]["status"], "pushed", "{split:#}");
    let raw = raw_manifest(&skopeo, &reg, "split/multi:v1").unwrap();
    assert_eq!(digest_of(&raw), fixture_digest("multi"));

    // a layout of bare tags has no repository: --to must name one
    let fixture = format!("oci:{}", fixtures().join("single").display());
    let err = fails(&mut no_store(&[
        "sync", "--from", &fixture, "--all", "--to", &host,
    ]));
    assert!(
        err.contains("tag only") && err.contains("REGISTRY/REPOSITORY"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let err = fails(&mut no_store(&["sync", "--from", &fixture, "v1"]));
    assert!(err.contains("--to"), "{err}");
    let bare: Value = serde_json::from_str(&ok(&mut no_store(&[
        "sync",
        "--json",
        "--from",
        &fixture,
        "v1",
        "--to",
        &format!("{host}/bare/app"),
    ])))
    .unwrap();
    assert_eq!(
        bare["images"][0]["destination"],
        format!("{host}/bare/app:v1")
    );
    assert_eq!(bare["images"][0]["status"], "pushed", "{bare:#}");
    let raw = raw_manifest(&skopeo, &reg, "bare/app:v1").unwrap();
    assert_eq!(digest_of(&raw), fixture_digest("single"));
}

// ---------------------------------------------------------------------------------
// OCI 1.1 referrers and loose artifacts

/// A layout of bare tags: one image (`v1`, the same bytes in every call) and one
/// referrer of it, listed at the fallback tag `sha256-<hex>` as the distribution
/// spec has clients do. Returns (image digest, referrer digest).
fn layout_with_referrer(root: &Path, note: &str) -> (String, String) {
    use common::oci::{INDEX, MANIFEST, TestLayout, named};
    let l = TestLayout::new(root);
    let (image, _) = l.image("amd64", "referred");
    let subject = image["digest"].as_str().unwrap().to_owned();
    const SBOM: &str = "application/vnd.example.sbom+json";
    let empty = l.desc("application/vnd.oci.empty.v1+json", b"{}");
    let body = l.desc(SBOM, format!("{{\"sbom\":\"{note}\"}}").as_bytes());
    let referrer = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": SBOM,
        "config": empty, "layers": [body],
        "subject": {"mediaType": MANIFEST, "digest": subject, "size": image["size"]},
        "annotations": {"note": note}
    }))
    .unwrap();
    let mut rd = l.desc(MANIFEST, &referrer);
    rd["artifactType"] = SBOM.into();
    rd["annotations"] = serde_json::json!({"note": note});
    let fallback = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": INDEX, "manifests": [rd]
    }))
    .unwrap();
    let fd = l.desc(INDEX, &fallback);
    l.set_index(&[named(image, "v1"), named(fd, &subject.replace(':', "-"))]);
    (subject, rd["digest"].as_str().unwrap().to_owned())
}

#[test]
fn referrers_are_pushed_after_their_subject_and_the_fallback_tag_keeps_what_was_there() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    let (subject, theirs) = layout_with_referrer(&bed.path("theirs"), "theirs");
    let (same, ours) = layout_with_referrer(&bed.path("ours"), "ours");
    assert_eq!(subject, same);
    let to = format!("{}/ref/app", reg.host());
    let sync = |layout: &str| {
        let from = format!("oci:{}", bed.path(layout).display());
        bed.sync_json(&["--from", &from, "--all", "--to", &to])
    };
    let fallback = format!("ref/app:{}", subject.replace(':', "-"));
    let listed = |r: &Registry| -> Vec<String> {
        let raw = raw_manifest(&skopeo, r, &fallback).unwrap();
        let v: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["mediaType"], common::oci::INDEX);
        v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_owned())
            .collect()
    };

    // the registry (distribution 2.8) has no Referrers API: the fallback tag is
    // created, byte for byte the source's
    let first = sync("theirs");
    let r = &first["images"][0]["referrers"][0];
    assert_eq!(r["status"], "pushed", "{first:#}");
    assert_eq!(listed(&reg), std::slice::from_ref(&theirs));

    // another set for the same image: added to the list, which keeps theirs first
    let plan = {
        let from = format!("oci:{}", bed.path("ours").display());
        bed.sync_json(&["--from", &from, "--all", "--to", &to, "--dry-run"])
    };
    assert_eq!(
        plan["images"][0]["referrers"][0]["status"], "would-merge",
        "{plan:#}"
    );
    assert_eq!(writes(&plan), 0, "{plan:#}");
    let second = sync("ours");
    let r = &second["images"][0]["referrers"][0];
    assert_eq!(r["status"], "merged", "{second:#}");
    assert_eq!(r["kept"], 1, "{second:#}");
    // the image itself was there; its referrers were not
    assert_eq!(second["images"][0]["manifests_pushed"], 2, "{second:#}");
    assert_eq!(listed(&reg), [theirs.clone(), ours.clone()]);
    // each referrer manifest is there by digest, and names its subject
    for d in [&theirs, &ours] {
        let raw = raw_manifest(&skopeo, &reg, &format!("ref/app@{d}")).unwrap();
        assert_eq!(&digest_of(&raw), d);
        let v: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["subject"]["digest"], subject.as_str());
    }

    // again, from either side: nothing to write
    for layout in ["ours", "theirs"] {
        let again = sync(layout);
        assert_eq!(
            again["images"][0]["referrers"][0]["status"], "contained",
            "{again:#}"
        );
        assert_eq!(writes(&again), 0, "{again:#}");
    }
    assert_eq!(listed(&reg), [theirs, ours]);
}

#[test]
fn with_all_a_signature_whose_image_is_not_in_the_source_is_pushed_too() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    bed.import("single", &format!("{SRC}/single"));
    let (key, public) = bed.keys("k");
    let image = format!("{SRC}/single:v1");
    let identity = format!("{host}/demo/single");
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "--identity", &identity, &image]));
    // the image reached the registry earlier, unsigned
    let fixture = format!("oci:{}", fixtures().join("single").display());
    bed.sync_json(&["--from", &fixture, "v1", "--to", &identity]);
    assert!(
        !cosign_verify(&cosign, &reg, &public, "demo/single:v1", &[])
            .status
            .success()
    );

    // what comes back across the gap holds only the signature
    let sigs = bed.path("sigs-only");
    ok(Command::new("cp").arg("-r").arg(&bed.store).arg(&sigs));
    let mut index = bed.index();
    index["manifests"].as_array_mut().unwrap().retain(|m| {
        m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap()
            .ends_with(".sig")
    });
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    std::fs::write(sigs.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();

    let from = format!("oci:{}", sigs.display());
    let report = bed.sync_json(&["--from", &from, "--all", "--to", &host]);
    let i = &report["images"][0];
    assert_eq!(
        i["source"],
        format!("{SRC}/single:{}", sig_tag(&fixture_digest("single")))
    );
    assert_eq!(i["digest"], Value::Null, "{report:#}");
    assert_eq!(i["artifacts"][0]["status"], "pushed", "{report:#}");
    assert!(report["missing_signatures"].as_array().unwrap().is_empty());
    assert_cosign_verifies(&cosign, &reg, &public, "demo/single:v1");
}
