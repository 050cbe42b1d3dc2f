//! `airsign sync` through a fault-injecting proxy
//! (crates/test-support/src/proxy.rs) placed between airsign and the real registry:
//! connections cut in the middle of upload bodies, 5xx and 429 answers, delays and
//! closed keep-alive connections. Under each fault plan the sync must still
//! complete, every digest at the registry must be the store's, cosign and skopeo's
//! sigstore policy must accept every image, and a second sync straight to the
//! registry must send nothing but HEADs. Each test also checks that its faults
//! really fired.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::bed::Bed;
use common::oci::{big_image_layout, digest_of};
use common::proxy::{Fault, Plan, Proxy, Request};
use common::registry::{Mode, Registry};
use common::verifiers::*;
use common::*;
use serde_json::Value;

const SRC: &str = "registry.example.com/demo";
const MIB: u64 = 1024 * 1024;
/// Above sync's 16 MiB monolithic threshold and its 32 MiB chunk: two PATCHes.
const BIG_LAYER: u64 = 40 * MIB;

/// A store of signed images (a single-platform fixture, a two-platform index signed
/// with `-r`, and an image with a 40 MiB random layer), and a registry to sync to.
struct Scene {
    cosign: PathBuf,
    skopeo: PathBuf,
    bed: Bed,
    reg: Registry,
    public: PathBuf,
    /// (store reference, destination repository:tag, store digest, is an index)
    images: Vec<(String, String, String, bool)>,
}

impl Scene {
    /// `None` when a tool is missing (a skip; under CI=true a failure).
    fn new() -> Option<Scene> {
        let cosign = need!(Tool::Cosign)?;
        let skopeo = need!(Tool::Skopeo)?;
        let reg = Registry::start(Mode::Plain)?;
        let bed = Bed::new();
        bed.import("single", &format!("{SRC}/single"));
        bed.import("multi", &format!("{SRC}/multi"));
        let big = big_layout(&bed.path("big-layout"));
        ok(&mut bed.cmd(&[
            "import",
            &format!("oci:{}", bed.path("big-layout").display()),
            "--repository",
            &format!("{SRC}/big"),
        ]));
        let (key, public) = bed.keys("k");
        let host = reg.host();
        for (name, recursive) in [("single", false), ("multi", true), ("big", false)] {
            let identity = format!("{host}/demo/{name}");
            let image = format!("{SRC}/{name}:v1");
            let mut args = vec!["sign", "--key", s(&key), "--identity", &identity];
            if recursive {
                args.push("-r");
            }
            args.push(&image);
            ok(&mut bed.cmd(&args));
        }
        let images = vec![
            (
                format!("{SRC}/single:v1"),
                "demo/single:v1".into(),
                fixture_digest("single"),
                false,
            ),
            (
                format!("{SRC}/multi:v1"),
                "demo/multi:v1".into(),
                fixture_digest("multi"),
                true,
            ),
            (format!("{SRC}/big:v1"), "demo/big:v1".into(), big, false),
        ];
        Some(Scene {
            cosign,
            skopeo,
            bed,
            reg,
            public,
            images,
        })
    }

    /// `airsign sync IMAGES --to HOST --json ARGS`; the report, and whether it succeeded.
    fn sync(&self, host: &str, extra: &[&str]) -> (Value, std::process::Output) {
        let mut args = vec!["sync", "--json", "--to", host];
        args.extend(self.images.iter().map(|i| i.0.as_str()));
        args.extend_from_slice(extra);
        let out = run(&mut self.bed.cmd(&args));
        let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (report, out)
    }

    /// Syncs through a proxy applying `plan`; checks that the run succeeded, that
    /// everything landed byte for byte and verifies, and that a rerun straight to
    /// the registry sends only HEADs. Returns the proxy (for its counters).
    fn survives(&self, plan: Plan) -> Proxy {
        let (cosign, skopeo) = (&self.cosign, &self.skopeo);
        let proxy = Proxy::start(self.reg.port(), plan);
        let (report, out) = self.sync(&proxy.host(), &[]);
        let stats = proxy.stats();
        assert!(
            out.status.success(),
            "sync through the faulty proxy failed ({}):\nstderr: {}\nreport: {report:#}\nfaults: {:#?}\nregistry log tail: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            stats.log,
            tail(&self.reg.log(), 30)
        );
        assert!(
            report["missing_signatures"].as_array().unwrap().is_empty(),
            "{report:#}"
        );
        for i in report["images"].as_array().unwrap() {
            assert_eq!(i["status"], "pushed", "{report:#}");
        }

        // byte for byte: the registry's digests are the store's, images and artifacts
        for (_, dest, digest, _) in &self.images {
            let raw = raw_manifest(skopeo, &self.reg, dest)
                .unwrap_or_else(|| panic!("{dest} is not at the registry"));
            assert_eq!(&digest_of(&raw), digest, "{dest}");
        }
        for i in report["images"].as_array().unwrap() {
            let dest = i["destination"].as_str().unwrap();
            let repo = dest
                .strip_prefix(&format!("{}/", proxy.host()))
                .unwrap()
                .rsplit_once(':')
                .unwrap()
                .0;
            for a in i["artifacts"].as_array().unwrap() {
                let tag = a["tag"].as_str().unwrap();
                let raw = raw_manifest(skopeo, &self.reg, &format!("{repo}:{tag}"))
                    .unwrap_or_else(|| panic!("{repo}:{tag} is not at the registry"));
                assert_eq!(
                    digest_of(&raw),
                    a["digest"].as_str().unwrap(),
                    "{repo}:{tag}"
                );
            }
        }

        // the real verifiers accept every image at the registry
        for (_, dest, _, index) in &self.images {
            let out = cosign_verify(cosign, &self.reg, &self.public, dest, &[]);
            assert!(
                out.status.success(),
                "cosign verify {dest}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            skopeo_policy_verify(skopeo, &self.reg, &self.public, dest, *index)
                .unwrap_or_else(|e| panic!("skopeo's policy rejected {dest}: {e}"));
        }

        // a rerun straight to the registry finds everything: HEADs only
        let (again, out) = self.sync(&self.reg.host(), &["--plain-http"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = &again["requests"];
        assert_eq!(r["total"], r["head"], "only HEADs: {again:#}");
        for i in again["images"].as_array().unwrap() {
            assert_eq!(i["status"], "present", "{again:#}");
        }
        proxy
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A layout with one image, tag `v1`, whose layer is `BIG_LAYER` pseudo-random
/// bytes; returns the image's manifest digest.
fn big_layout(root: &Path) -> String {
    big_image_layout(root, BIG_LAYER, 0x9e37_79b9_7f4a_7c15)
}

#[test]
fn sync_survives_connections_dropped_in_the_middle_of_upload_bodies() {
    let Some(scene) = Scene::new() else { return };
    // cut halfway through its body: the first monolithic blob PUT, the first
    // manifest PUT, and the first 32 MiB and the first 8 MiB PATCH chunk of the big
    // layer (distribution drops an upload session whose PATCH broke, so the client
    // must notice the lost session and start that blob over)
    let seen: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let plan: Plan = Arc::new(move |r: &Request| {
        let len = r.body_len.filter(|n| *n > 1)?;
        let which = match r.method.as_str() {
            "PUT" if r.is_upload() => 0,
            "PUT" if r.path.contains("/manifests/") => 1,
            "PATCH" if len == 32 * MIB => 2,
            "PATCH" if len == BIG_LAYER - 32 * MIB => 3,
            _ => return None,
        };
        (seen[which].fetch_add(1, Ordering::SeqCst) == 0)
            .then_some(Fault::DropMidBody { after: len / 2 })
    });
    let proxy = scene.survives(plan);
    let st = proxy.stats();
    assert_eq!(st.faults_of("drop"), 4, "{:#?}", st.log);
    assert!(
        st.method("PATCH") >= 5,
        "the big layer was sent again after its cuts: {:#?}",
        st.by_method
    );
}

/// Regression: the upload retry budget used to count a cut chunk twice (the cut, then
/// the status request that finds distribution dropped the session) and never reset
/// when chunks got through, so three cuts anywhere in one blob failed the sync.
#[test]
fn regression_retry_budget_counts_each_cut_once_and_resets_on_progress() {
    let Some(scene) = Scene::new() else { return };
    // the big layer's first (32 MiB) chunk is cut three times, then, once it got
    // through, its last (8 MiB) chunk three times: twelve failures under the old
    // count, against a budget of six attempts per blob
    let cuts: Arc<[AtomicU64; 2]> = Arc::new(Default::default());
    let plan: Plan = Arc::new(move |r: &Request| {
        if r.method != "PATCH" {
            return None;
        }
        let len = r.body_len?;
        let which = match len {
            n if n == 32 * MIB => 0,
            n if n == BIG_LAYER - 32 * MIB => 1,
            _ => return None,
        };
        (cuts[which].fetch_add(1, Ordering::SeqCst) < 3)
            .then_some(Fault::DropMidBody { after: len / 2 })
    });
    let proxy = scene.survives(plan);
    let st = proxy.stats();
    assert_eq!(st.faults_of("drop"), 6, "{:#?}", st.log);
}

/// Regression: the first `GET /v2/`, which finds out that a loopback registry
/// speaks plain HTTP, failed the whole run when it was answered 503 instead of
/// being taken as "HTTP, busy" and retried like any request.
#[test]
fn regression_a_busy_answer_to_the_plain_http_probe_is_retried() {
    let Some(scene) = Scene::new() else { return };
    let plan: Plan = Arc::new(|r: &Request| {
        (r.method == "GET" && r.path == "/v2/" && r.n_method <= 2).then_some(Fault::Respond {
            status: 503,
            retry_after: None,
        })
    });
    let proxy = scene.survives(plan);
    let st = proxy.stats();
    assert!(
        st.log.iter().any(|l| l.contains(" GET /v2/ ")),
        "the probe was refused: {:#?}",
        st.log
    );
}

#[test]
fn sync_survives_server_errors_on_every_kind_of_request() {
    let Some(scene) = Scene::new() else { return };
    // every fifth request fails, alternately 500 and 503, whatever it is (HEAD,
    // POST, PATCH, blob PUT, manifest PUT, GET)
    let plan: Plan = Arc::new(|r: &Request| {
        r.n.is_multiple_of(5).then_some(Fault::Respond {
            status: if r.n.is_multiple_of(10) { 503 } else { 500 },
            retry_after: None,
        })
    });
    let proxy = scene.survives(plan);
    let st = proxy.stats();
    assert!(st.faults_of("5xx") >= 5, "{:#?}", st.log);
    for m in ["HEAD", "PUT"] {
        assert!(
            st.log.iter().any(|l| l.contains(&format!(" {m} "))),
            "a {m} got a 5xx: {:#?}",
            st.log
        );
    }
}

#[test]
fn sync_survives_429_with_retry_after() {
    let Some(scene) = Scene::new() else { return };
    // rate limited: two requests by number, the first upload session, and the big
    // layer's last (8 MiB) chunk, which is refused without reaching the registry:
    // the upload resumes from the registry's Range instead of starting over
    let last_chunk = Arc::new(AtomicU64::new(0));
    let plan: Plan = Arc::new(move |r: &Request| {
        let chunk = r.method == "PATCH"
            && r.body_len == Some(BIG_LAYER - 32 * MIB)
            && last_chunk.fetch_add(1, Ordering::SeqCst) == 0;
        // (requests by number are never PATCHes: with several workers, #17 could be
        // the big layer's first chunk, which would then be sent twice)
        let by_number = r.method != "PATCH" && [3, 17].contains(&r.n);
        let limited = chunk || by_number || (r.method == "POST" && r.n_method == 1);
        limited.then_some(Fault::Respond {
            status: 429,
            retry_after: Some(1),
        })
    });
    let proxy = scene.survives(plan);
    let st = proxy.stats();
    assert!(st.faults_of("429") >= 3, "{:#?}", st.log);
    assert!(
        st.log.iter().any(|l| l.contains(" PATCH ")),
        "the chunk was refused: {:#?}",
        st.log
    );
    // the big layer's chunks (small blobs may go up as PATCHes too)
    let patches: Vec<u64> = st
        .bodies
        .iter()
        .filter(|(m, n)| m == "PATCH" && *n >= MIB)
        .map(|(_, n)| n / MIB)
        .collect();
    assert_eq!(
        patches,
        [32, 8, 8],
        "only the refused chunk is sent again: {:#?}",
        st.log
    );
}

#[test]
fn sync_survives_delays_and_keep_alive_connections_closed_between_requests() {
    let Some(scene) = Scene::new() else { return };
    let plan: Plan = Arc::new(|r: &Request| match r.n % 4 {
        0 => Some(Fault::CloseAfterResponse),
        2 => Some(Fault::Delay(Duration::from_millis(30))),
        _ => None,
    });
    let proxy = scene.survives(plan);
    let st = proxy.stats();
    assert!(st.faults_of("close") >= 5, "{:#?}", st.log);
    assert!(st.faults_of("delay") >= 5, "{:#?}", st.log);
}

#[test]
fn the_proxy_relays_faithfully_without_a_plan() {
    // the harness itself: with no faults, a sync through the proxy is the same as
    // one straight to the registry, and the proxy saw every request airsign counted
    let Some(scene) = Scene::new() else { return };
    let proxy = Proxy::faithful(scene.reg.port());
    let (report, out) = scene.sync(&proxy.host(), &["--plain-http"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = proxy.stats();
    assert_eq!(st.total_faults(), 0);
    assert_eq!(report["requests"]["total"], st.requests, "{report:#}");
    assert_eq!(report["requests"]["patch"], st.method("PATCH"));
    assert_eq!(st.method("PATCH"), 2, "40 MiB in 32 MiB chunks");
}

#[test]
fn a_sync_killed_in_the_middle_of_an_upload_is_finished_by_a_rerun() {
    let Some(scene) = Scene::new() else { return };
    // the big layer's first chunk freezes halfway; airsign is killed (SIGKILL, by
    // its pid) while it waits, then a rerun straight to the registry finishes
    let plan: Plan = Arc::new(|r: &Request| {
        (r.method == "PATCH" && r.n_method == 1).then(|| Fault::Hold {
            after: r.body_len.unwrap_or(0) / 2,
        })
    });
    let proxy = Proxy::start(scene.reg.port(), plan);
    let mut args = vec!["sync", "--json", "--to"];
    let host = proxy.host();
    args.push(&host);
    args.extend(scene.images.iter().map(|i| i.0.as_str()));
    let mut child = scene
        .bed
        .cmd(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait for the freeze (or for airsign to end, which would be a failure)
    loop {
        if proxy.stats().held == 1 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "sync ended ({status}) before its upload froze: {:#?}",
                proxy.stats()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed");
    // what was done before the kill is there; the frozen image is not
    assert!(raw_manifest(&scene.skopeo, &scene.reg, "demo/big:v1").is_none());

    let (report, out) = scene.sync(&scene.reg.host(), &["--plain-http"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report["missing_signatures"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    for (_, dest, digest, index) in &scene.images {
        let raw = raw_manifest(&scene.skopeo, &scene.reg, dest).unwrap();
        assert_eq!(&digest_of(&raw), digest, "{dest}");
        let out = cosign_verify(&scene.cosign, &scene.reg, &scene.public, dest, &[]);
        assert!(
            out.status.success(),
            "cosign verify {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        skopeo_policy_verify(&scene.skopeo, &scene.reg, &scene.public, dest, *index)
            .unwrap_or_else(|e| panic!("skopeo's policy rejected {dest}: {e}"));
    }
    // the frozen image is the one the rerun had to push (how many others were done
    // before the kill depends on how many images sync runs at once)
    let big = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"] == format!("{SRC}/big:v1"))
        .unwrap();
    assert_eq!(big["status"], "pushed", "{report:#}");
}
