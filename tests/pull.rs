//! `airsign pull` against the real registry (Debian's docker-registry): images signed
//! in the registry by the real cosign and skopeo come into the store with every
//! digest kept and their signatures, and `airsign verify` passes offline afterwards.

mod common;

use std::path::Path;
use std::process::Command;

use airsign::digest::Digest;
use airsign::registry::{CredentialSource, Options, RegistryClient, Repository};
use airsign::store::descriptor::{OCI_INDEX, OCI_MANIFEST};
use common::bed::{Bed, PASSWORD};
use common::registry::{Mode, Registry};
use common::verifiers::*;
use common::*;
use serde_json::Value;
use tempfile::TempDir;

impl Bed {
    /// `airsign pull --json ARGS`: the report, the command having succeeded.
    fn pull_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["pull", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&ok(&mut self.cmd(&all))).unwrap()
    }

    /// The store entry named `name`.
    fn entry(&self, name: &str) -> Option<Value> {
        self.index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == name)
            .cloned()
    }
}

fn push(skopeo: &Path, reg: &Registry, fixture: &str, dest: &str) {
    let out = skopeo_push(skopeo, reg, &fixtures().join(fixture), "v1", dest);
    assert!(
        out.status.success(),
        "skopeo push {fixture}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cosign sign --key KEY --tlog-upload=false REG/REPO@DIGEST` (plus `extra`).
fn cosign_sign(cosign: &Path, reg: &Registry, key: &Path, image: &str, extra: &[&str]) {
    let home = TempDir::new().unwrap();
    ok(Command::new(cosign)
        .env("HOME", home.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign", "--key", s(key), "--tlog-upload=false", "--yes"])
        .args(extra)
        .args(reg.cosign_args(true))
        .arg(format!("{}/{image}", reg.host())));
}

/// skopeo 1.18 copies a fixture into the registry and signs it on the way (with
/// `--all`, the index and every platform's manifest).
fn skopeo_sign(skopeo: &Path, bed: &Bed, reg: &Registry, key: &Path, fixture: &str, dest: &str) {
    let pass = bed.path("pass");
    std::fs::write(&pass, PASSWORD).unwrap();
    ok(Command::new(skopeo)
        .args(["--insecure-policy", "--registries.d"])
        .arg(registries_d())
        .args(["copy", "--quiet", "--all", "--preserve-digests"])
        .args(reg.skopeo_args(common::registry::Side::Dest, true))
        .args(["--sign-by-sigstore-private-key", s(key)])
        .args(["--sign-passphrase-file", s(&pass)])
        .arg(format!("oci:{}:v1", fixtures().join(fixture).display()))
        .arg(reg.docker_ref(dest)));
}

fn verify_ok(bed: &Bed, public: &Path, image: &str) -> Value {
    let out = ok(&mut bed.cmd(&["verify", "--key", s(public), image]));
    serde_json::from_str(out.trim()).unwrap()
}

fn artifacts_of<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["artifacts"].as_array().unwrap())
        .filter(|a| a["kind"] == kind)
        .collect()
}

fn client() -> RegistryClient {
    RegistryClient::new(Options {
        credentials: CredentialSource::Anonymous,
        ..Options::default()
    })
    .unwrap()
}

#[test]
fn images_signed_by_cosign_and_skopeo_come_with_their_signatures_and_verify_offline() {
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
    let (key, public) = bed.keys("k");
    let (sd, md) = (fixture_digest("single"), fixture_digest("multi"));

    // cosign signs in the registry: one image, and an index with every platform
    push(&skopeo, &reg, "single", "demo/single:v1");
    push(&skopeo, &reg, "multi", "demo/multi:v1");
    cosign_sign(&cosign, &reg, &key, &format!("demo/single@{sd}"), &[]);
    cosign_sign(
        &cosign,
        &reg,
        &key,
        &format!("demo/multi@{md}"),
        &["--recursive"],
    );
    // skopeo signs while copying
    skopeo_sign(&skopeo, &bed, &reg, &key, "single", "skosigned/single:v1");
    skopeo_sign(&skopeo, &bed, &reg, &key, "multi", "skosigned/multi:v1");

    let images: Vec<String> = [
        "demo/single",
        "demo/multi",
        "skosigned/single",
        "skosigned/multi",
    ]
    .iter()
    .map(|r| format!("{host}/{r}:v1"))
    .collect();
    let args: Vec<&str> = images.iter().map(String::as_str).collect();
    let first = bed.pull_json(&args);
    assert_eq!(first["failed"], 0, "{first:#}");
    for (i, image) in first["images"].as_array().unwrap().iter().zip(&images) {
        assert_eq!(i["status"], "pulled", "{first:#}");
        assert_eq!(i["entry"], image.as_str());
        let want = if image.contains("multi") { &md } else { &sd };
        // the registry's digest, kept: the entry names it, the bytes hash to it
        assert_eq!(i["digest"], want.as_str(), "{image}");
        assert_eq!(bed.entry(image).unwrap()["digest"], want.as_str());
        let raw = ok(&mut bed.cmd(&["inspect", image]));
        assert_eq!(common::oci::digest_of(raw.as_bytes()), *want);
    }
    let multi = &first["images"][1];
    assert_eq!(
        multi["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64/v8"])
    );
    // the index's signature and each platform's (cosign --recursive, skopeo --all)
    let sigs = artifacts_of(&first, "sig");
    for (repo, digest) in [("demo/single", &sd), ("skosigned/single", &sd)]
        .into_iter()
        .chain(
            std::iter::once(&md)
                .chain(&child_digests("multi"))
                .flat_map(|d| [("demo/multi", d), ("skosigned/multi", d)]),
        )
    {
        let name = format!("{host}/{repo}:{}", sig_tag(digest));
        assert!(
            sigs.iter()
                .any(|a| a["name"] == name.as_str() && a["status"] == "pulled"),
            "{name} not pulled: {first:#}"
        );
        assert!(bed.entry(&name).is_some(), "{name}");
    }
    ok(&mut bed.cmd(&["fsck"]));

    // a rerun fetches nothing: no blob, no manifest
    let again = bed.pull_json(&args);
    for i in again["images"].as_array().unwrap() {
        assert_eq!(i["status"], "present", "{again:#}");
        assert_eq!(i["blobs_fetched"], 0, "{again:#}");
        assert_eq!(i["manifests_fetched"], 0, "{again:#}");
        assert_eq!(i["bytes_fetched"], 0, "{again:#}");
    }
    assert!(
        artifacts_of(&again, "sig")
            .iter()
            .all(|a| a["status"] == "present"),
        "{again:#}"
    );
    assert_eq!(again["requests"]["put"], 0);

    // offline: the registry is gone, and every signature verifies from the store
    reg.stop();
    for image in &images {
        let payloads = verify_ok(&bed, &public, image);
        let want = if image.contains("multi") { &md } else { &sd };
        assert!(
            payloads
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["critical"]["image"]["docker-manifest-digest"] == want.as_str()),
            "{payloads:#}"
        );
    }
    // the identities are the registry's (skopeo's names the tag, cosign's not)
    let payloads = verify_ok(&bed, &public, &images[2]);
    assert_eq!(
        payloads[0]["critical"]["identity"]["docker-reference"],
        format!("{host}/skosigned/single:v1")
    );
    let payloads = verify_ok(&bed, &public, &images[0]);
    assert_eq!(
        payloads[0]["critical"]["identity"]["docker-reference"],
        format!("{host}/demo/single")
    );
    // each platform verifies on its own (skopeo's policy checks those)
    for child in child_digests("multi") {
        verify_ok(&bed, &public, &format!("{host}/demo/multi@{child}"));
    }
}

#[test]
fn platform_picks_one_manifest_and_the_default_keeps_the_index() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    push(&skopeo, &reg, "multi", "demo/multi:v1");
    let image = format!("{host}/demo/multi:v1");
    let arm = child_digests("multi")[1].clone();

    let bed = Bed::new();
    let r = bed.pull_json(&[&image, "--platform", "linux/arm64"]);
    assert_eq!(r["images"][0]["digest"], arm.as_str(), "{r:#}");
    assert_eq!(
        r["images"][0]["platforms"],
        serde_json::json!(["linux/arm64/v8"])
    );
    let e = bed.entry(&image).unwrap();
    assert_eq!(e["digest"], arm.as_str());
    assert_eq!(e["mediaType"], OCI_MANIFEST);
    assert_eq!(e["platform"]["architecture"], "arm64");
    let raw = ok(&mut bed.cmd(&["inspect", &image]));
    assert_eq!(common::oci::digest_of(raw.as_bytes()), arm);
    ok(&mut bed.cmd(&["fsck"]));

    // no such platform: one line naming what the index has, nothing stored
    let other = Bed::new();
    let before = other.index();
    let err = fails(&mut other.cmd(&["pull", &image, "--platform", "linux/s390x"]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64/v8"),
        "{err}"
    );
    assert_eq!(other.index(), before);

    // the default, and --all-platforms, keep the index and its digest
    for extra in [None, Some("--all-platforms")] {
        let bed = Bed::new();
        let mut args = vec![image.as_str()];
        args.extend(extra);
        let r = bed.pull_json(&args);
        assert_eq!(r["images"][0]["digest"], fixture_digest("multi"), "{r:#}");
        assert_eq!(bed.entry(&image).unwrap()["mediaType"], OCI_INDEX);
    }
    let err = fails(&mut bed.cmd(&[
        "pull",
        &image,
        "--platform",
        "linux/arm64",
        "--all-platforms",
    ]));
    assert!(err.contains("--all-platforms"), "{err}");
}

#[test]
fn basic_auth_over_tls_with_creds_and_ca_cert() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::TlsBasicAuth) else {
        return;
    };
    let host = reg.host();
    push(&skopeo, &reg, "single", "demo/single:v1");
    let image = format!("{host}/demo/single:v1");
    let ca = reg.ca_cert().unwrap();
    let creds = reg.creds().unwrap();
    let bed = Bed::new();

    // no credentials: one line, nothing stored
    let before = bed.index();
    let err = fails(&mut bed.cmd(&["pull", &image, "--ca-cert", s(&ca)]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("authentication required") && err.contains(&host),
        "{err}"
    );
    // without the CA, TLS verification refuses the registry
    let err = fails(&mut bed.cmd(&["pull", &image, "--creds", &creds]));
    assert!(err.contains(&host), "{err}");
    assert_eq!(bed.index(), before);

    let r = bed.pull_json(&[&image, "--creds", &creds, "--ca-cert", s(&ca)]);
    assert_eq!(r["images"][0]["digest"], fixture_digest("single"), "{r:#}");
    assert!(
        r["images"][0]["blobs_fetched"].as_u64().unwrap() >= 2,
        "{r:#}"
    );
    // the certs.d form of the trust works as well: DIR/HOST:PORT/*.crt
    let certs = bed.path("certs.d");
    std::fs::create_dir_all(certs.join(&host)).unwrap();
    std::fs::copy(&ca, certs.join(&host).join("ca.crt")).unwrap();
    let other = Bed::new();
    let r = other.pull_json(&[&image, "--creds", &creds, "--cert-dir", s(&certs)]);
    assert_eq!(r["images"][0]["status"], "pulled", "{r:#}");
}

/// An OCI 1.1 artifact manifest whose subject is `subject` (of `subject_size` bytes).
fn referrer(config: &(Digest, u64), subject: &Digest, subject_size: u64, note: &str) -> Vec<u8> {
    format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"artifactType\":\"application/vnd.example.sbom+json\",\"config\":{{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"{}\",\"size\":{}}},\"layers\":[{{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"{}\",\"size\":{}}}],\"subject\":{{\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"{subject}\",\"size\":{subject_size}}},\"annotations\":{{\"note\":\"{note}\"}}}}",
        config.0, config.1, config.0, config.1
    )
    .into_bytes()
}

#[test]
fn referrers_from_the_fallback_tag_come_along_and_strangers_are_refused() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    push(&skopeo, &reg, "single", "demo/single:v1");
    let c = client();
    let r = Repository::new(&host, "demo/single").unwrap();
    let image: Digest = fixture_digest("single").parse().unwrap();
    let image_size = std::fs::metadata(fixtures().join("single/blobs/sha256").join(image.hex()))
        .unwrap()
        .len();
    let empty = b"{}";
    let config = (Digest::sha256(empty), 2u64);
    c.upload_blob(&r, &config.0, 2, &mut std::io::Cursor::new(empty.to_vec()))
        .unwrap();

    // a real referrer of the image, and a manifest that refers to something else
    let good = referrer(&config, &image, image_size, "good");
    let other: Digest = child_digests("multi")[0].parse().unwrap();
    let stranger = referrer(&config, &other, 1, "stranger");
    let mut listed = Vec::new();
    for m in [&good, &stranger] {
        let d = c
            .put_manifest(&r, &Digest::sha256(m).to_string(), m, OCI_MANIFEST)
            .unwrap();
        listed.push(format!(
            "{{\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"{d}\",\"size\":{},\"artifactType\":\"application/vnd.example.sbom+json\"}}",
            m.len()
        ));
    }
    let fallback = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_INDEX}\",\"manifests\":[{}]}}",
        listed.join(",")
    );
    c.put_manifest(&r, &image.tag_form(), fallback.as_bytes(), OCI_INDEX)
        .unwrap();

    let bed = Bed::new();
    let name = format!("{host}/demo/single:v1");
    let out = run(&mut bed.cmd(&["pull", "--json", &name]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refs = artifacts_of(&report, "referrer");
    assert_eq!(refs.len(), 1, "{report:#}");
    assert_eq!(refs[0]["digest"], Digest::sha256(&good).to_string());
    assert_eq!(refs[0]["source"], "fallback-tag");
    let stranger_d = Digest::sha256(&stranger).to_string();
    assert!(
        stderr.contains("warning")
            && stderr.contains(&stranger_d)
            && stderr.contains(&other.to_string()),
        "{stderr}"
    );

    // the store lists it as registries without the API do: an index at the fallback tag
    let entry = bed
        .entry(&format!("{host}/demo/single:{}", image.tag_form()))
        .expect("the referrers entry");
    assert_eq!(entry["mediaType"], OCI_INDEX);
    let raw = std::fs::read(
        bed.store
            .join("blobs/sha256")
            .join(&entry["digest"].as_str().unwrap()[7..]),
    )
    .unwrap();
    let idx: Value = serde_json::from_slice(&raw).unwrap();
    let digests: Vec<&str> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, [Digest::sha256(&good).to_string()]);
    assert!(
        bed.store
            .join("blobs/sha256")
            .join(Digest::sha256(&good).hex())
            .is_file()
    );
    assert!(
        !bed.store
            .join("blobs/sha256")
            .join(Digest::sha256(&stranger).hex())
            .exists()
    );
    ok(&mut bed.cmd(&["fsck"]));

    // a rerun adds nothing
    let again = bed.pull_json(&[&name]);
    assert_eq!(artifacts_of(&again, "referrer")[0]["status"], "present");
    assert_eq!(
        bed.entry(&format!("{host}/demo/single:{}", image.tag_form()))
            .unwrap(),
        entry
    );
}

#[test]
fn a_corrupt_blob_in_the_registry_fails_in_one_line_and_changes_no_index() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    push(&skopeo, &reg, "single", "demo/single:v1");
    // flip one byte of the layer in the registry's storage (same size)
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            fixtures()
                .join("single/blobs/sha256")
                .join(&fixture_digest("single")[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap()[7..].to_owned();
    let data = reg
        .dir()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&layer[..2])
        .join(&layer)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let bed = Bed::new();
    let before = std::fs::read(bed.store.join("index.json")).unwrap();
    let image = format!("{host}/demo/single:v1");
    let err = fails(&mut bed.cmd(&["pull", &image]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&layer) && err.contains("hashes to"), "{err}");
    assert_eq!(std::fs::read(bed.store.join("index.json")).unwrap(), before);
    assert!(!bed.store.join("blobs/sha256").join(&layer).exists());
    ok(&mut bed.cmd(&["fsck"]));
}

#[test]
fn an_unknown_image_exits_11_and_bad_arguments_are_refused_before_any_request() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    let host = reg.host();
    push(&skopeo, &reg, "single", "demo/single:v1");
    let bed = Bed::new();
    let before = bed.index();
    for image in [
        format!("{host}/demo/single:nope"),
        format!("{host}/demo/nothing:v1"),
    ] {
        let out = run(&mut bed.cmd(&["pull", &image]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(11), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("not found") && err.contains(&image), "{err}");
    }
    assert_eq!(bed.index(), before);
    // a digest alone names the entry by its digest; a tag with it names it by the tag
    let d = fixture_digest("single");
    let r = bed.pull_json(&[&format!("{host}/demo/single@{d}")]);
    assert_eq!(r["images"][0]["entry"], format!("{host}/demo/single@{d}"));
    let r = bed.pull_json(&[&format!("docker://{host}/demo/single:pinned@{d}")]);
    assert_eq!(
        r["images"][0]["entry"],
        format!("{host}/demo/single:pinned")
    );
    assert_eq!(r["images"][0]["digest"], d.as_str());
    // a wrong digest is the registry's 404: nothing stored
    let wrong = format!("sha256:{}", "0".repeat(64));
    let out = run(&mut bed.cmd(&["pull", &format!("{host}/demo/single:x@{wrong}")]));
    assert_eq!(out.status.code(), Some(11));
    assert!(bed.entry(&format!("{host}/demo/single:x")).is_none());
    for bad in [["--platform", "linux"], ["--jobs", "0"]] {
        let out = run(&mut bed.cmd(&["pull", &format!("{host}/demo/single:v1"), bad[0], bad[1]]));
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn a_signature_the_store_already_has_is_merged_with_the_registrys_never_dropped() {
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
    let sd = fixture_digest("single");
    let image = format!("{host}/demo/single:v1");
    let sig = format!("{host}/demo/single:{}", sig_tag(&sd));
    let bed = Bed::new();
    let (theirs, theirs_pub) = bed.keys("theirs");
    let (mine, mine_pub) = bed.keys("mine");
    push(&skopeo, &reg, "single", "demo/single:v1");
    cosign_sign(&cosign, &reg, &theirs, &format!("demo/single@{sd}"), &[]);
    // the store signed the same image offline before the pull
    bed.import("single", &format!("{host}/demo/single"));
    ok(&mut bed.cmd(&["sign", "--key", s(&mine), &image]));
    let local = bed.entry(&sig).unwrap()["digest"].clone();

    let r = bed.pull_json(&[&image]);
    let a = artifacts_of(&r, "sig");
    assert_eq!(a[0]["status"], "merged", "{r:#}");
    let merged = bed.entry(&sig).unwrap()["digest"].clone();
    assert_eq!(a[0]["stored_digest"], merged);
    assert_ne!(merged, local);
    // again: the store's holds every signature of the registry's, and stays
    let again = bed.pull_json(&[&image]);
    assert_eq!(
        artifacts_of(&again, "sig")[0]["status"],
        "kept",
        "{again:#}"
    );
    assert_eq!(bed.entry(&sig).unwrap()["digest"], merged);
    reg.stop();
    // both signatures verify from the store, offline
    verify_ok(&bed, &theirs_pub, &image);
    verify_ok(&bed, &mine_pub, &image);
    let payloads = verify_ok(&bed, &mine_pub, &image);
    assert_eq!(payloads.as_array().unwrap().len(), 1);
    ok(&mut bed.cmd(&["fsck"]));
}

/// How [`cutting_proxy`] treats GETs of its target path.
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    /// The first answer stops halfway through its body; the rest pass.
    FirstHalfway,
    /// Every answer stops right after its headers.
    Always,
}

/// A loopback HTTP proxy in front of the registry that breaks the answers to GETs of
/// `target` as `cut` says, and records each request line with its `Range` header.
/// Every request goes upstream with `Connection: close`, so one connection carries
/// one request. Its threads end with the test process.
fn cutting_proxy(
    upstream: u16,
    target: String,
    cut: Cut,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let (log, target) = (log.clone(), target.clone());
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte) {
                        Ok(1) if head.len() < 65536 => head.push(byte[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let line = text.lines().next().unwrap_or_default().to_owned();
                let range = text
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("range:"))
                    .unwrap_or_default();
                let hit = line.starts_with(&format!("GET {target} "));
                let first = {
                    let mut l = log.lock().unwrap();
                    let first = !l.iter().any(|x: &String| x.starts_with(&line));
                    l.push(format!("{line} {range}"));
                    first
                };
                let mut out: String = text
                    .trim_end_matches("\r\n")
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .map(|l| format!("{l}\r\n"))
                    .collect();
                out.push_str("Connection: close\r\n\r\n");
                let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                up.write_all(out.as_bytes()).unwrap();
                let mut answer = Vec::new();
                up.read_to_end(&mut answer).unwrap();
                let keep = if hit && (cut == Cut::Always || first) {
                    let body_at = answer
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map_or(answer.len(), |i| i + 4);
                    match cut {
                        Cut::Always => body_at,
                        Cut::FirstHalfway => body_at + (answer.len() - body_at) / 2,
                    }
                } else {
                    answer.len()
                };
                let _ = client.write_all(&answer[..keep]);
            });
        }
    });
    (port, seen)
}

fn layer_of_single() -> String {
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            fixtures()
                .join("single/blobs/sha256")
                .join(&fixture_digest("single")[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    manifest["layers"][0]["digest"].as_str().unwrap().to_owned()
}

#[test]
fn a_download_cut_mid_blob_resumes_with_a_range_and_a_failed_pull_resumes_on_rerun() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::Plain) else {
        return;
    };
    push(&skopeo, &reg, "single", "demo/single:v1");
    let layer = layer_of_single();
    let target = format!("/v2/demo/single/blobs/{layer}");

    // cut halfway once: the download continues from the byte reached
    let (port, seen) = cutting_proxy(reg.port(), target.clone(), Cut::FirstHalfway);
    let bed = Bed::new();
    let image = format!("127.0.0.1:{port}/demo/single:v1");
    let r = bed.pull_json(&[&image, "--plain-http"]);
    assert_eq!(r["images"][0]["digest"], fixture_digest("single"), "{r:#}");
    let gets: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(&format!("GET {target} ")))
        .cloned()
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(
        gets[1].to_ascii_lowercase().contains("range: bytes=") && !gets[0].contains("ange"),
        "{gets:?}"
    );
    assert!(bed.store.join("blobs/sha256").join(&layer[7..]).is_file());
    ok(&mut bed.cmd(&["fsck"]));

    // cut every time: the pull gives up in one line, index.json unchanged, but the
    // config that arrived stays, and a rerun fetches only the layer
    let (port, _) = cutting_proxy(reg.port(), target, Cut::Always);
    let bed = Bed::new();
    let before = std::fs::read(bed.store.join("index.json")).unwrap();
    let err = fails(&mut bed.cmd(&[
        "pull",
        &format!("127.0.0.1:{port}/demo/single:v1"),
        "--plain-http",
    ]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&layer), "{err}");
    assert_eq!(std::fs::read(bed.store.join("index.json")).unwrap(), before);
    assert!(!bed.store.join("blobs/sha256").join(&layer[7..]).exists());
    let r = bed.pull_json(&[&format!("{}/demo/single:v1", reg.host())]);
    let i = &r["images"][0];
    assert_eq!(i["blobs_fetched"], 1, "{r:#}");
    assert_eq!(i["blobs_present"], 1, "{r:#}");
    ok(&mut bed.cmd(&["fsck"]));
}

/// Issue 9: a registry whose TLS certificate is its own CA, made as docker's docs
/// show (`openssl req -x509 … -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1`,
/// so `CA:TRUE`), is trusted when that exact certificate is given with `--ca-cert` or
/// in certs.d — for sync (uploads) and pull (downloads) alike.
#[test]
fn regression_a_self_signed_registry_certificate_given_as_ca_cert_or_in_certs_d_is_trusted() {
    let Some(reg) = Registry::start(Mode::TlsSelfSigned) else {
        return;
    };
    let host = reg.host();
    let cert = reg.ca_cert().unwrap();
    let src = Bed::new();
    src.import("single", "example.com/demo/single");

    // without it, TLS refuses the registry (what issue 9 saw even with it:
    // webpki's CaUsedAsEndEntity)
    let err = fails(&mut src.cmd(&["sync", "example.com/demo/single:v1", "--to", &host]));
    assert!(err.contains(&host), "{err}");
    assert!(err.contains("TLS certificate refused"), "{err}");

    // --ca-cert with the server's own certificate: sync uploads over TLS
    let r: Value = serde_json::from_str(&ok(&mut src.cmd(&[
        "sync",
        "--json",
        "example.com/demo/single:v1",
        "--to",
        &host,
        "--ca-cert",
        s(&cert),
    ])))
    .unwrap();
    assert_eq!(r["images"][0]["status"], "pushed", "{r:#}");

    // pull with --ca-cert
    let image = format!("{host}/demo/single:v1");
    let bed = Bed::new();
    let r = bed.pull_json(&[&image, "--ca-cert", s(&cert)]);
    assert_eq!(r["images"][0]["digest"], fixture_digest("single"), "{r:#}");
    ok(&mut bed.cmd(&["fsck"]));

    // pull with certs.d: DIR/HOST:PORT/*.crt holding the same certificate
    let certs = bed.path("certs.d");
    std::fs::create_dir_all(certs.join(&host)).unwrap();
    std::fs::copy(&cert, certs.join(&host).join("registry.crt")).unwrap();
    let other = Bed::new();
    let r = other.pull_json(&[&image, "--cert-dir", s(&certs)]);
    assert_eq!(r["images"][0]["status"], "pulled", "{r:#}");
    assert_eq!(r["images"][0]["digest"], fixture_digest("single"), "{r:#}");
}

/// Issue 9, the other side: a self-signed certificate is trusted only as exactly
/// itself. Another self-signed certificate for the same name given with `--ca-cert`
/// (or in certs.d) is still refused, in one clear line, and nothing is stored.
#[test]
fn regression_a_different_self_signed_certificate_is_still_refused() {
    let Some(openssl) = need!(Tool::Openssl) else {
        return;
    };
    let Some(reg) = Registry::start(Mode::TlsSelfSigned) else {
        return;
    };
    let host = reg.host();
    let bed = Bed::new();
    let (wrong, key) = (bed.path("wrong.crt"), bed.path("wrong.key"));
    common::registry::self_signed_cert(&openssl, &wrong, &key);
    let image = format!("{host}/demo/single:v1");
    let before = bed.index();
    let err = fails(&mut bed.cmd(&["pull", &image, "--ca-cert", s(&wrong)]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&host), "{err}");
    assert!(err.contains("TLS certificate refused"), "{err}");
    assert!(err.contains("--ca-cert"), "{err}");
    let certs = bed.path("certs.d");
    std::fs::create_dir_all(certs.join(&host)).unwrap();
    std::fs::copy(&wrong, certs.join(&host).join("ca.crt")).unwrap();
    let err = fails(&mut bed.cmd(&["pull", &image, "--cert-dir", s(&certs)]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("TLS certificate refused"), "{err}");

    // the right certificate, pinned, still has to name the host: it says
    // IP:127.0.0.1, so `localhost` is refused
    let right = reg.ca_cert().unwrap();
    let by_name = format!("localhost:{}/demo/single:v1", reg.port());
    let err = fails(&mut bed.cmd(&["pull", &by_name, "--ca-cert", s(&right)]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("TLS certificate refused: not valid for this host name"),
        "{err}"
    );
    assert_eq!(bed.index(), before);
}
