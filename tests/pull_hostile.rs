//! `airsign pull` against a registry that lies: a scripted fake on loopback
//! (`crates/test-support/src/fake_registry.rs`) answers what a real registry will
//! not produce — wrong digests and sizes, ambiguous documents, endless bodies,
//! cycles, traversal digests, hostile signature images, redirects to another host,
//! 429s, ignored ranges. Every refusal must be one line, a non-zero exit,
//! `index.json` unchanged, and no blob in the store whose bytes are not its name.

mod common;

use std::path::Path;

use airsign::digest::Digest;
use common::bed::Bed;
use common::fake_registry::{Body, FakeRegistry, Reply, ranged};
use common::oci::{CONFIG, INDEX, LAYER, MANIFEST, digest_of};
use common::*;
use serde_json::Value;

const REPO: &str = "demo/app";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

fn desc(media_type: &str, digest: &str, size: usize) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
}

fn desc_of(media_type: &str, bytes: &[u8]) -> String {
    desc(media_type, &digest_of(bytes), bytes.len())
}

/// An image manifest whose config and layers are the descriptors given.
fn manifest_with(config: &str, layers: &[String]) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{config},"layers":[{}]}}"#,
        layers.join(",")
    )
    .into_bytes()
}

fn index_of(children: &[String]) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}]}}"#,
        children.join(",")
    )
    .into_bytes()
}

/// A small image the fake serves in full: its manifest under `tag`, config, layer.
struct Img {
    manifest: Vec<u8>,
    digest: String,
    config: Vec<u8>,
    layer: Vec<u8>,
}

fn image(fake: &FakeRegistry, tag: Option<&str>, seed: &str) -> Img {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#).into_bytes();
    let layer = format!("layer bytes of {seed} ").repeat(50).into_bytes();
    fake.blob(REPO, &config);
    fake.blob(REPO, &layer);
    let manifest = manifest_with(&desc_of(CONFIG, &config), &[desc_of(LAYER, &layer)]);
    fake.manifest(REPO, tag, &manifest, MANIFEST);
    Img {
        digest: digest_of(&manifest),
        manifest,
        config,
        layer,
    }
}

fn reference(fake: &FakeRegistry, tag: &str) -> String {
    format!("{}/{REPO}:{tag}", fake.host())
}

fn pull_args<'a>(image: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["pull", image, "--plain-http"];
    a.extend_from_slice(extra);
    a
}

/// `airsign pull --json`, which must succeed: the report.
fn pulled(bed: &Bed, image: &str, extra: &[&str]) -> Value {
    let mut a = pull_args(image, extra);
    a.push("--json");
    serde_json::from_str(&ok(&mut bed.cmd(&a))).unwrap()
}

/// Every blob in the store is a regular file whose bytes hash to its name, and no
/// staged temp file is left behind.
fn assert_blobs_sound(store: &Path) {
    for alg in std::fs::read_dir(store.join("blobs")).unwrap() {
        let alg = alg.unwrap();
        for f in std::fs::read_dir(alg.path()).unwrap() {
            let f = f.unwrap();
            let name = format!(
                "{}:{}",
                alg.file_name().to_str().unwrap(),
                f.file_name().to_str().unwrap()
            );
            assert!(f.file_type().unwrap().is_file(), "{name}");
            let d: Digest = name.parse().unwrap();
            assert!(d.matches(&std::fs::read(f.path()).unwrap()), "{name}");
        }
    }
    let tmp = store.join(".airsign/tmp");
    if tmp.exists() {
        for e in walkdir::WalkDir::new(&tmp) {
            let e = e.unwrap();
            assert!(
                !e.file_type().is_file(),
                "left behind: {}",
                e.path().display()
            );
        }
    }
}

/// A pull that must be refused: one error line, a non-zero exit, `index.json`
/// byte for byte as before, every blob sound, nothing new beside the store.
/// Returns the error line.
fn refused(bed: &Bed, image: &str, extra: &[&str]) -> String {
    let before = std::fs::read(bed.store.join("index.json")).unwrap();
    let beside: Vec<_> = std::fs::read_dir(bed.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = run(&mut bed.cmd(&pull_args(image, extra)));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should have failed: {err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("airsign: warning:"))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].starts_with("airsign: error: "), "{err}");
    assert_eq!(
        std::fs::read(bed.store.join("index.json")).unwrap(),
        before,
        "index.json changed"
    );
    assert_blobs_sound(&bed.store);
    let mut after: Vec<_> = std::fs::read_dir(bed.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    after.retain(|n| n != "home");
    let mut beside = beside;
    beside.retain(|n| n != "home");
    assert_eq!(after, beside, "something was written beside the store");
    errors[0].to_owned()
}

fn has_blob(bed: &Bed, digest: &str) -> bool {
    let (alg, hex) = digest.split_once(':').unwrap();
    bed.store.join("blobs").join(alg).join(hex).is_file()
}

// ---- manifests ------------------------------------------------------------------

#[test]
fn a_docker_content_digest_that_disagrees_is_refused_and_a_missing_one_is_not_needed() {
    let fake = FakeRegistry::start();
    let img = image(&fake, None, "dcd");
    let path = format!("/v2/{REPO}/manifests/v1");
    fake.route(
        "GET",
        &path,
        Reply::new(200, &img.manifest)
            .header("Content-Type", MANIFEST)
            .header("Docker-Content-Digest", &digest_of(b"other bytes")),
    );
    let bed = Bed::new();
    let err = refused(&bed, &reference(&fake, "v1"), &[]);
    assert!(err.contains("Docker-Content-Digest"), "{err}");
    assert!(!has_blob(&bed, &img.digest));

    // absent (a SHOULD): the digest is the hash of the bytes received
    fake.clear("GET", &path);
    fake.route(
        "GET",
        &path,
        Reply::new(200, &img.manifest).header("Content-Type", MANIFEST),
    );
    let r = pulled(&bed, &reference(&fake, "v1"), &[]);
    assert_eq!(r["images"][0]["digest"], img.digest.as_str(), "{r:#}");
    assert_blobs_sound(&bed.store);
}

#[test]
fn a_manifest_that_does_not_hash_to_the_digest_asked_for_is_refused() {
    let fake = FakeRegistry::start();
    let img = image(&fake, None, "asked");
    let other = image(&fake, None, "other");
    // the digest path answers another manifest's bytes (with its true header)
    fake.clear("GET", &format!("/v2/{REPO}/manifests/{}", img.digest));
    fake.route(
        "GET",
        &format!("/v2/{REPO}/manifests/{}", img.digest),
        Reply::new(200, &other.manifest)
            .header("Content-Type", MANIFEST)
            .header("Docker-Content-Digest", &other.digest),
    );
    let bed = Bed::new();
    let err = refused(
        &bed,
        &format!("{}@{}", reference(&fake, "pinned"), img.digest),
        &[],
    );
    assert!(err.contains("does not match the digest asked for"), "{err}");
    assert!(!has_blob(&bed, &img.config_digest()));
}

impl Img {
    fn config_digest(&self) -> String {
        digest_of(&self.config)
    }
    fn layer_digest(&self) -> String {
        digest_of(&self.layer)
    }
}

#[test]
fn ambiguous_documents_are_refused_cve_2021_41190() {
    let fake = FakeRegistry::start();
    let img = image(&fake, None, "ambiguous");
    let child = desc_of(MANIFEST, &img.manifest);
    let config = desc_of(CONFIG, &img.config);
    // both an index and a manifest, served as either
    let both =
        format!(r#"{{"schemaVersion":2,"manifests":[{child}],"config":{config},"layers":[]}}"#);
    for (tag, ct) in [("both-index", INDEX), ("both-manifest", MANIFEST)] {
        fake.manifest(REPO, Some(tag), both.as_bytes(), ct);
    }
    // a manifest's bytes served with an index's Content-Type, and the reverse
    fake.manifest(REPO, Some("says-index"), &img.manifest, INDEX);
    let idx = index_of(std::slice::from_ref(&child));
    fake.manifest(REPO, Some("says-manifest"), &idx, MANIFEST);
    // no mediaType inside, and a Content-Type that names the other kind
    let bare = format!(r#"{{"schemaVersion":2,"manifests":[{child}]}}"#);
    fake.manifest(REPO, Some("bare-index"), bare.as_bytes(), MANIFEST);

    let bed = Bed::new();
    for tag in [
        "both-index",
        "both-manifest",
        "says-index",
        "says-manifest",
        "bare-index",
    ] {
        let err = refused(&bed, &reference(&fake, tag), &[]);
        assert!(
            err.contains("both")
                || err.contains("contradicts")
                || err.contains("with \"manifests\""),
            "{tag}: {err}"
        );
    }
    // nothing below them was fetched
    assert!(
        fake.seen_at("GET", &format!("/v2/{REPO}/blobs/{}", img.config_digest()))
            .is_empty()
    );
}

#[test]
fn docker_schema1_and_unknown_media_types_are_refused() {
    let fake = FakeRegistry::start();
    let schema1 = br#"{"schemaVersion":1,"name":"demo/app","tag":"v1","architecture":"amd64","fsLayers":[],"history":[]}"#;
    fake.manifest(
        REPO,
        Some("schema1"),
        schema1,
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    );
    fake.manifest(REPO, Some("schema1-json"), schema1, "application/json");
    let img = image(&fake, None, "unknown");
    fake.manifest(
        REPO,
        Some("unknown"),
        &img.manifest,
        "application/vnd.example.thing+json",
    );
    // an index child with a media type that is neither a manifest nor an index is a
    // blob: it is fetched as one, and must then hash as one
    let bed = Bed::new();
    for tag in ["schema1", "schema1-json", "unknown"] {
        let err = refused(&bed, &reference(&fake, tag), &[]);
        assert!(
            err.contains("not a manifest or an index")
                || err.contains("schemaVersion")
                || err.contains("disagrees")
                || err.contains("no Content-Type and no mediaType"),
            "{tag}: {err}"
        );
    }
}

#[test]
fn a_manifest_over_the_cap_or_endless_is_refused_while_streaming() {
    let fake = FakeRegistry::start();
    // announced over the cap: refused on the header
    fake.route(
        "GET",
        &format!("/v2/{REPO}/manifests/big"),
        Reply::new(200, b"{}")
            .header("Content-Type", MANIFEST)
            .header("Content-Length", &(5u64 << 20).to_string())
            .body(Body::UntilClose(Vec::new())),
    );
    // a body that never ends, no length: refused after the cap, not at the end
    fake.route(
        "GET",
        &format!("/v2/{REPO}/manifests/endless"),
        Reply::status(200)
            .header("Content-Type", MANIFEST)
            .body(Body::Endless),
    );
    let bed = Bed::new();
    let err = refused(&bed, &reference(&fake, "big"), &[]);
    assert!(err.contains("limit"), "{err}");
    let err = refused(&bed, &reference(&fake, "endless"), &[]);
    assert!(err.contains("limit"), "{err}");
    // the client stopped reading near 4 MiB (socket buffers aside), far from the
    // fake's own 1 GiB cap
    let written = fake.endless_written();
    assert!(
        written < 64 << 20,
        "read {written} bytes of an endless manifest"
    );

    // a child manifest whose descriptor says it is over the cap is not requested
    let huge = desc(MANIFEST, &digest_of(b"huge"), 5 << 20);
    fake.manifest(REPO, Some("huge-child"), &index_of(&[huge]), INDEX);
    let err = refused(&bed, &reference(&fake, "huge-child"), &[]);
    assert!(err.contains("limit"), "{err}");
    assert!(
        fake.seen_at(
            "GET",
            &format!("/v2/{REPO}/manifests/{}", digest_of(b"huge"))
        )
        .is_empty()
    );
}

#[test]
fn an_index_cycle_deep_nesting_and_a_missing_child_are_refused() {
    let fake = FakeRegistry::start();
    let img = image(&fake, None, "nest");

    // a "cycle": the child's digest path answers the parent index itself — it
    // cannot hash to the child's digest
    let fake_child = digest_of(b"a child that is really the parent");
    let parent = index_of(&[desc(INDEX, &fake_child, 200)]);
    fake.manifest(REPO, Some("cycle"), &parent, INDEX);
    fake.route(
        "GET",
        &format!("/v2/{REPO}/manifests/{fake_child}"),
        Reply::new(200, &parent).header("Content-Type", INDEX),
    );
    let bed = Bed::new();
    let err = refused(&bed, &reference(&fake, "cycle"), &[]);
    assert!(err.contains("does not match the digest asked for"), "{err}");

    // twelve indexes deep: refused at the limit, before the image at the bottom
    let mut doc = img.manifest.clone();
    let mut media = MANIFEST;
    for _ in 0..12 {
        let idx = index_of(&[desc_of(media, &doc)]);
        fake.manifest(REPO, None, &idx, INDEX);
        doc = idx;
        media = INDEX;
    }
    fake.manifest(REPO, Some("deep"), &doc, INDEX);
    let err = refused(&bed, &reference(&fake, "deep"), &[]);
    assert!(err.contains("nested more than 8 deep"), "{err}");
    assert!(
        fake.seen_at("GET", &format!("/v2/{REPO}/blobs/{}", img.layer_digest()))
            .is_empty()
    );

    // a child the registry does not have: exit 1 (the image exists, it is broken)
    let gone = desc(MANIFEST, &digest_of(b"gone"), 100);
    fake.manifest(
        REPO,
        Some("hole"),
        &index_of(&[desc_of(MANIFEST, &img.manifest), gone]),
        INDEX,
    );
    let out = run(&mut bed.cmd(&pull_args(&reference(&fake, "hole"), &[])));
    assert_eq!(out.status.code(), Some(1));
    refused(&bed, &reference(&fake, "hole"), &[]);
}

#[test]
fn malformed_or_traversal_digests_in_descriptors_write_nothing_outside_the_store() {
    let fake = FakeRegistry::start();
    let img = image(&fake, None, "traversal");
    let bed = Bed::new();
    let config = desc_of(CONFIG, &img.config);
    let hex = &img.layer_digest()[7..];
    for (tag, digest) in [
        ("dots", "sha256:../../../escaped".to_owned()),
        ("upper", format!("sha256:{}", hex.to_ascii_uppercase())),
        ("short", format!("sha256:{}", &hex[..40])),
        (
            "unknown-alg",
            "md5:d41d8cd98f00b204e9800998ecf8427e".to_owned(),
        ),
        ("slash", format!("sha256/{hex}")),
        ("abs", "/etc/passwd".to_owned()),
    ] {
        // the fake answers the traversal path too, in case a client asked for it
        fake.route(
            "GET",
            &format!("/v2/{REPO}/blobs/{digest}"),
            Reply::new(200, &img.layer),
        );
        let m = manifest_with(&config, &[desc(LAYER, &digest, img.layer.len())]);
        fake.manifest(REPO, Some(tag), &m, MANIFEST);
        let err = refused(&bed, &reference(&fake, tag), &[]);
        assert!(err.contains("manifest"), "{tag}: {err}");
        // and in the index of a tag listing it as a child
        let i = index_of(&[desc(MANIFEST, &digest, m.len())]);
        fake.manifest(REPO, Some(&format!("{tag}-index")), &i, INDEX);
        refused(&bed, &reference(&fake, &format!("{tag}-index")), &[]);
    }
    assert!(!bed.tmp.path().join("escaped").exists());
    // no request ever named a malformed digest
    for s in fake.seen() {
        assert!(
            !s.path.contains("..") && !s.path.contains("md5") && !s.path.contains("/etc"),
            "{} {}",
            s.method,
            s.path
        );
    }

    // sha512 content is fine: stored under blobs/sha512, verified with sha512
    let d512 = Digest::of(airsign::digest::Algorithm::Sha512, &img.layer).to_string();
    fake.route_fn(
        "GET",
        &format!("/v2/{REPO}/blobs/{d512}"),
        ranged(img.layer.clone()),
    );
    let m = manifest_with(&config, &[desc(LAYER, &d512, img.layer.len())]);
    fake.manifest(REPO, Some("sha512"), &m, MANIFEST);
    pulled(&bed, &reference(&fake, "sha512"), &[]);
    assert!(has_blob(&bed, &d512));
    assert_blobs_sound(&bed.store);
}

// ---- blobs ------------------------------------------------------------------------

#[test]
fn a_blob_whose_bytes_or_size_disagree_with_its_descriptor_never_lands() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "sizes");
    let path = format!("/v2/{REPO}/blobs/{}", img.layer_digest());
    let n = img.layer.len();
    let mut longer = img.layer.clone();
    longer.extend_from_slice(b"and more");
    let mut wrong = img.layer.clone();
    wrong[n / 2] ^= 1;
    let cases: Vec<(&str, Reply)> = vec![
        ("wrong bytes", Reply::new(200, &wrong)),
        ("longer, announced", Reply::new(200, &longer)),
        ("shorter, announced", Reply::new(200, &img.layer[..n - 5])),
        // no length: the extra bytes are caught one byte past the size
        (
            "longer, unannounced",
            Reply::status(200).body(Body::UntilClose(longer.clone())),
        ),
        // Content-Length says the size, the bytes are other ones of that size
        (
            "length lies",
            Reply::new(200, &wrong).header("Content-Length", &n.to_string()),
        ),
    ];
    for (case, reply) in cases {
        fake.clear("GET", &path);
        fake.route("GET", &path, reply);
        let bed = Bed::new();
        let err = refused(&bed, &reference(&fake, "v1"), &["--jobs", "4"]);
        assert!(err.contains(&img.layer_digest()), "{case}: {err}");
        assert!(!has_blob(&bed, &img.layer_digest()), "{case}");
    }
}

#[test]
fn a_blob_the_store_has_with_another_size_than_its_descriptor_is_refused() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "known");
    let bed = Bed::new();
    pulled(&bed, &reference(&fake, "v1"), &[]);
    // a second manifest names the same layer with another size; the store already
    // has the layer, so nothing is downloaded — and before the fix nothing checked
    let config = desc_of(CONFIG, &img.config);
    let lie = manifest_with(
        &config,
        &[desc(LAYER, &img.layer_digest(), img.layer.len() + 1)],
    );
    fake.manifest(REPO, Some("lie"), &lie, MANIFEST);
    let err = refused(&bed, &reference(&fake, "lie"), &[]);
    assert!(
        err.contains(&img.layer_digest()) && err.contains("bytes"),
        "{err}"
    );
    // one manifest naming one blob with two sizes
    let twice = manifest_with(
        &config,
        &[
            desc(LAYER, &img.layer_digest(), img.layer.len()),
            desc(LAYER, &img.layer_digest(), img.layer.len() + 7),
        ],
    );
    fake.manifest(REPO, Some("twice"), &twice, MANIFEST);
    let err = refused(&bed, &reference(&fake, "twice"), &[]);
    assert!(err.contains("described as"), "{err}");
}

#[test]
fn retries_429_and_5xx_and_resumes_when_the_server_ignores_range_or_lies_in_content_range() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "resume");
    let mpath = format!("/v2/{REPO}/manifests/v1");
    let manifest_ok = Reply::new(200, &img.manifest)
        .header("Content-Type", MANIFEST)
        .header("Docker-Content-Digest", &img.digest);
    fake.clear("GET", &mpath);
    fake.route("GET", &mpath, Reply::status(429).header("Retry-After", "0"));
    fake.route("GET", &mpath, Reply::status(503));
    fake.route("GET", &mpath, manifest_ok);
    // the layer: cut halfway, then the whole blob again with a 200 (Range ignored)
    let lpath = format!("/v2/{REPO}/blobs/{}", img.layer_digest());
    let n = img.layer.len();
    fake.clear("GET", &lpath);
    fake.route(
        "GET",
        &lpath,
        Reply::status(200).body(Body::Cut {
            bytes: img.layer.clone(),
            after: n / 2,
        }),
    );
    fake.route("GET", &lpath, Reply::status(500));
    fake.route("GET", &lpath, Reply::new(200, &img.layer));
    let bed = Bed::new();
    let r = pulled(&bed, &reference(&fake, "v1"), &[]);
    assert_eq!(r["images"][0]["status"], "pulled", "{r:#}");
    assert_eq!(fake.seen_at("GET", &mpath).len(), 3);
    let gets = fake.seen_at("GET", &lpath);
    assert_eq!(gets.len(), 3, "{gets:?}");
    assert!(gets[0].header("range").is_none());
    assert_eq!(
        gets[1].header("range"),
        Some(format!("bytes={}-", n / 2).as_str())
    );
    assert!(has_blob(&bed, &img.layer_digest()));
    assert_blobs_sound(&bed.store);

    // a 206 whose Content-Range starts elsewhere than asked: refused, not spliced
    let img = image(&fake, Some("v2"), "range-lie");
    let lpath = format!("/v2/{REPO}/blobs/{}", img.layer_digest());
    let n = img.layer.len();
    fake.clear("GET", &lpath);
    fake.route(
        "GET",
        &lpath,
        Reply::status(200).body(Body::Cut {
            bytes: img.layer.clone(),
            after: n / 2,
        }),
    );
    fake.route(
        "GET",
        &lpath,
        Reply::new(206, &img.layer[10..])
            .header("Content-Range", &format!("bytes 10-{}/{n}", n - 1)),
    );
    let bed = Bed::new();
    let err = refused(&bed, &reference(&fake, "v2"), &[]);
    assert!(err.contains("range"), "{err}");
    assert!(!has_blob(&bed, &img.layer_digest()));
}

#[test]
fn a_blob_redirected_to_another_host_gets_no_authorization_and_a_redirect_loop_is_bounded() {
    let storage = FakeRegistry::start();
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "redirect");
    // the layer lives on "S3": a second loopback port
    let lpath = format!("/v2/{REPO}/blobs/{}", img.layer_digest());
    storage.route_fn("GET", "/bucket/layer?sig=abc", ranged(img.layer.clone()));
    fake.clear("GET", &lpath);
    fake.route(
        "GET",
        &lpath,
        Reply::redirect(
            307,
            &format!("http://{}/bucket/layer?sig=abc", storage.host()),
        ),
    );
    fake.require_basic_auth();
    let bed = Bed::new();
    let image_ref = reference(&fake, "v1");
    let r = pulled(&bed, &image_ref, &["--creds", "me:s3cret-pw"]);
    assert_eq!(r["images"][0]["status"], "pulled", "{r:#}");
    assert!(has_blob(&bed, &img.layer_digest()));
    // the registry got the credentials, the storage host never did
    let authed = fake.seen_at("GET", &lpath);
    assert!(
        authed.iter().any(|s| s.header("authorization").is_some()),
        "{authed:?}"
    );
    let at_storage = storage.seen();
    assert!(!at_storage.is_empty());
    for s in &at_storage {
        assert!(s.header("authorization").is_none(), "leaked: {s:?}");
    }

    // a redirect loop: refused after a bounded number of hops
    let img = image(&fake, Some("v2"), "loop");
    let lpath = format!("/v2/{REPO}/blobs/{}", img.layer_digest());
    fake.clear("GET", &lpath);
    fake.route(
        "GET",
        &lpath,
        Reply::redirect(302, &format!("http://{}/hop1", storage.host())),
    );
    storage.route("GET", "/hop1", Reply::redirect(302, "/hop2"));
    storage.route("GET", "/hop2", Reply::redirect(302, "/hop1"));
    let bed = Bed::new();
    let err = refused(&bed, &reference(&fake, "v2"), &["--creds", "me:s3cret-pw"]);
    assert!(err.contains("redirects"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    let hops = storage.seen().len();
    assert!(hops > 0 && hops < 100, "{hops} hops");
    assert!(
        storage
            .seen()
            .iter()
            .all(|s| s.header("authorization").is_none())
    );
}

// ---- signatures and referrers -------------------------------------------------

/// A cosign `.sig` image manifest with these layer descriptors.
fn sig_manifest(config: &[u8], layers: &[String]) -> Vec<u8> {
    manifest_with(&desc_of(CONFIG, config), layers)
}

#[test]
fn a_sig_with_too_many_layers_or_a_huge_payload_is_refused_before_any_layer_is_fetched() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "sigs");
    let sig_tag = format!("{}.sig", img.digest.replace(':', "-"));
    let config =
        br#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    fake.blob(REPO, config);
    let layer = |i: usize, size: usize| {
        let d = digest_of(format!("payload {i}").as_bytes());
        format!(
            r#"{{"mediaType":"{SIMPLESIGNING}","digest":"{d}","size":{size},"annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQ=="}}}}"#
        )
    };
    let many: Vec<String> = (0..1001).map(|i| layer(i, 200)).collect();
    let huge = vec![layer(0, 1 << 31)];
    let bed = Bed::new();
    for (case, layers) in [("1001 layers", many), ("a 2 GiB payload", huge)] {
        let m = sig_manifest(config, &layers);
        fake.clear("GET", &format!("/v2/{REPO}/manifests/{sig_tag}"));
        fake.clear("HEAD", &format!("/v2/{REPO}/manifests/{sig_tag}"));
        fake.manifest(REPO, Some(&sig_tag), &m, MANIFEST);
        let err = refused(&bed, &reference(&fake, "v1"), &[]);
        assert!(err.contains("limit"), "{case}: {err}");
        let layer_gets = fake
            .seen()
            .into_iter()
            .filter(|s| {
                s.path.contains("/blobs/")
                    && !s.path.ends_with(&img.layer_digest())
                    && !s.path.ends_with(&img.config_digest())
            })
            .count();
        assert_eq!(layer_gets, 0, "{case}: fetched a layer of a refused .sig");
    }
    // an index at the .sig tag is not a signature image
    fake.clear("GET", &format!("/v2/{REPO}/manifests/{sig_tag}"));
    fake.clear("HEAD", &format!("/v2/{REPO}/manifests/{sig_tag}"));
    fake.manifest(
        REPO,
        Some(&sig_tag),
        &index_of(&[desc_of(MANIFEST, &img.manifest)]),
        INDEX,
    );
    let err = refused(&bed, &reference(&fake, "v1"), &[]);
    assert!(err.contains("not an image manifest"), "{err}");

    // 150 signatures of 1 KiB: within cosign's fetch bounds, pulled whole
    let payloads: Vec<Vec<u8>> = (0..150)
        .map(|i| format!("{i:>1024}").into_bytes())
        .collect();
    let layers: Vec<String> = payloads
        .iter()
        .map(|p| {
            fake.blob(REPO, p);
            format!(
                r#"{{"mediaType":"{SIMPLESIGNING}","digest":"{}","size":{},"annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQ=="}}}}"#,
                digest_of(p),
                p.len()
            )
        })
        .collect();
    fake.clear("GET", &format!("/v2/{REPO}/manifests/{sig_tag}"));
    fake.clear("HEAD", &format!("/v2/{REPO}/manifests/{sig_tag}"));
    fake.manifest(
        REPO,
        Some(&sig_tag),
        &sig_manifest(config, &layers),
        MANIFEST,
    );
    let r = pulled(&bed, &reference(&fake, "v1"), &["--jobs", "4"]);
    assert_eq!(r["images"][0]["artifacts"][0]["status"], "pulled", "{r:#}");
    assert!(payloads.iter().all(|p| has_blob(&bed, &digest_of(p))));
    assert_blobs_sound(&bed.store);
}

/// An OCI artifact manifest whose subject is `subject`.
fn referrer(fake: &FakeRegistry, subject: &Img, note: &str) -> Vec<u8> {
    let empty = b"{}";
    fake.blob(REPO, empty);
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","artifactType":"application/vnd.example+json","config":{},"layers":[{}],"subject":{},"annotations":{{"note":"{note}"}}}}"#,
        desc_of("application/vnd.oci.empty.v1+json", empty),
        desc_of("application/vnd.oci.empty.v1+json", empty),
        desc_of(MANIFEST, &subject.manifest),
    )
    .into_bytes()
}

fn referrer_entries(bed: &Bed) -> Vec<Value> {
    bed.index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .is_some_and(|n| {
                    n.rsplit(':').next().unwrap().starts_with("sha256-") && !n.contains('.')
                })
        })
        .cloned()
        .collect()
}

#[test]
fn a_fallback_tag_resolving_to_the_subject_is_ignored_and_one_without_artifact_type_is_read() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "oras2148");
    let tag = img.digest.replace(':', "-");
    // oras#2148: the registry resolves sha256-<hex> as the digest itself
    fake.manifest(REPO, Some(&tag), &img.manifest, MANIFEST);
    let bed = Bed::new();
    let r = pulled(&bed, &reference(&fake, "v1"), &[]);
    let warnings = r["images"][0]["warnings"].to_string();
    assert!(warnings.contains("itself"), "{r:#}");
    assert!(referrer_entries(&bed).is_empty(), "{:#}", bed.index());

    // an index without artifactType (cosign#4641): each referrer is fetched and
    // judged by its own subject
    let good = referrer(&fake, &img, "good");
    fake.manifest(REPO, None, &good, MANIFEST);
    let fallback = index_of(&[desc_of(MANIFEST, &good)]);
    fake.clear("GET", &format!("/v2/{REPO}/manifests/{tag}"));
    fake.clear("HEAD", &format!("/v2/{REPO}/manifests/{tag}"));
    fake.manifest(REPO, Some(&tag), &fallback, INDEX);
    let bed = Bed::new();
    let r = pulled(&bed, &reference(&fake, "v1"), &[]);
    let refs: Vec<&Value> = r["images"][0]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "referrer")
        .collect();
    assert_eq!(refs.len(), 1, "{r:#}");
    assert_eq!(refs[0]["digest"], digest_of(&good).as_str());
    assert_eq!(refs[0]["source"], "fallback-tag");
    assert!(has_blob(&bed, &digest_of(&good)));
}

#[test]
fn a_referrers_api_answering_400_or_html_falls_back_to_the_tag_and_401_is_refused() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "api");
    let good = referrer(&fake, &img, "via-tag");
    fake.manifest(REPO, None, &good, MANIFEST);
    let tag = img.digest.replace(':', "-");
    fake.manifest(
        REPO,
        Some(&tag),
        &index_of(&[desc_of(MANIFEST, &good)]),
        INDEX,
    );
    let api = format!("/v2/{REPO}/referrers/{}", img.digest);
    for (case, reply) in [
        (
            "400",
            Reply::new(400, br#"{"errors":[{"code":"NAME_INVALID"}]}"#),
        ),
        (
            "HTML",
            Reply::new(200, b"<html><body>Welcome to the registry UI</body></html>")
                .header("Content-Type", "text/html"),
        ),
    ] {
        fake.clear("GET", &api);
        fake.route("GET", &api, reply);
        let bed = Bed::new();
        let r = pulled(&bed, &reference(&fake, "v1"), &[]);
        let sources: Vec<&Value> = r["images"][0]["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "referrer")
            .map(|a| &a["source"])
            .collect();
        assert_eq!(sources, ["fallback-tag"], "{case}: {r:#}");
        assert!(has_blob(&bed, &digest_of(&good)), "{case}");
    }
    // 401 without a challenge: one line, nothing stored
    fake.clear("GET", &api);
    fake.route("GET", &api, Reply::status(401));
    let bed = Bed::new();
    let err = refused(&bed, &reference(&fake, "v1"), &[]);
    assert!(
        err.contains("referrers") && err.contains("authentication"),
        "{err}"
    );
}

#[test]
fn referrers_api_pages_are_followed_on_the_registry_only() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "pages");
    let (a, b) = (referrer(&fake, &img, "a"), referrer(&fake, &img, "b"));
    fake.manifest(REPO, None, &a, MANIFEST);
    fake.manifest(REPO, None, &b, MANIFEST);
    let api = format!("/v2/{REPO}/referrers/{}", img.digest);
    let page2 = format!("{api}?page=2");
    fake.route(
        "GET",
        &api,
        Reply::new(200, &index_of(&[desc_of(MANIFEST, &a)]))
            .header("Content-Type", INDEX)
            .header("Link", &format!("<{page2}>; rel=\"next\"")),
    );
    fake.route(
        "GET",
        &page2,
        Reply::new(200, &index_of(&[desc_of(MANIFEST, &b)])).header("Content-Type", INDEX),
    );
    let bed = Bed::new();
    let r = pulled(&bed, &reference(&fake, "v1"), &[]);
    let got: Vec<&Value> = r["images"][0]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "referrer")
        .map(|x| &x["digest"])
        .collect();
    assert_eq!(
        got,
        [digest_of(&a).as_str(), digest_of(&b).as_str()],
        "{r:#}"
    );

    // a next page on another host is refused (it would get our credentials)
    let other = FakeRegistry::start();
    fake.clear("GET", &api);
    fake.route(
        "GET",
        &api,
        Reply::new(200, &index_of(&[desc_of(MANIFEST, &a)]))
            .header("Content-Type", INDEX)
            .header(
                "Link",
                &format!("<http://{}/steal>; rel=\"next\"", other.host()),
            ),
    );
    let bed = Bed::new();
    let err = refused(&bed, &reference(&fake, "v1"), &[]);
    assert!(err.contains("leaves the registry"), "{err}");
    assert!(other.seen().is_empty());
}

// ---- arguments ----------------------------------------------------------------

#[test]
fn two_arguments_naming_one_store_entry_are_refused_before_any_request() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "twice");
    let bed = Bed::new();
    let a = reference(&fake, "v1");
    let b = format!("{a}@{}", img.digest);
    let out = run(&mut bed.cmd(&["pull", &a, &b, "--plain-http"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("both name the store entry"), "{err}");
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
    // the same argument twice is pulled once
    let r = pulled(&bed, &a, &[&a]);
    assert_eq!(r["images"].as_array().unwrap().len(), 1, "{r:#}");
    assert_eq!(
        fake.seen_at("GET", &format!("/v2/{REPO}/manifests/v1"))
            .len(),
        1
    );
}

#[test]
fn an_index_the_fake_serves_in_docker_form_is_pulled_whole_with_its_children() {
    // sanity for the fake itself: a well-formed Docker manifest list, every byte kept
    let fake = FakeRegistry::start();
    let a = image(&fake, None, "amd");
    let b = image(&fake, None, "arm");
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{},{}]}}"#,
        desc_of(MANIFEST, &a.manifest),
        desc_of(MANIFEST, &b.manifest)
    );
    fake.manifest(REPO, Some("list"), list.as_bytes(), DOCKER_LIST);
    let bed = Bed::new();
    let r = pulled(&bed, &reference(&fake, "list"), &["--jobs", "3"]);
    assert_eq!(
        r["images"][0]["digest"],
        digest_of(list.as_bytes()),
        "{r:#}"
    );
    assert_eq!(r["images"][0]["blobs_fetched"], 4, "{r:#}");
    let raw = ok(&mut bed.cmd(&["inspect", &reference(&fake, "list")]));
    assert_eq!(raw.as_bytes(), list.as_bytes());
    ok(&mut bed.cmd(&["fsck"]));
}

// ---- the store changing under a pull ----------------------------------------------

/// The `.sig` entry `bed`'s store has for `digest` in the fake's repository:
/// (manifest bytes, config bytes, layer blobs).
fn stored_sig(bed: &Bed, fake: &FakeRegistry, digest: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let name = format!("{}/{REPO}:{}.sig", fake.host(), digest.replace(':', "-"));
    let e = bed.index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == name.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no {name}"));
    let read = |d: &str| std::fs::read(bed.store.join("blobs/sha256").join(&d[7..])).unwrap();
    let manifest = read(e["digest"].as_str().unwrap());
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let mut blobs = vec![read(m["config"]["digest"].as_str().unwrap())];
    for l in m["layers"].as_array().unwrap() {
        blobs.push(read(l["digest"].as_str().unwrap()));
    }
    (manifest, blobs)
}

#[test]
fn a_signature_made_in_the_store_during_a_pull_is_not_overwritten() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "race");
    let image_ref = reference(&fake, "v1");

    // the registry's signature: made by key 1 in another store, then served
    let signer = Bed::new();
    let (k1, pub1) = signer.keys("k1");
    pulled(&signer, &image_ref, &[]);
    ok(&mut signer.cmd(&["sign", "--key", s(&k1), &image_ref]));
    let (sig, blobs) = stored_sig(&signer, &fake, &img.digest);

    // our store has the image, unsigned, before the registry has its signature
    let bed = Bed::new();
    let (k2, pub2) = bed.keys("k2");
    pulled(&bed, &image_ref, &[]);
    for b in &blobs {
        fake.blob(REPO, b);
    }
    let sig_tag = format!("{}.sig", img.digest.replace(':', "-"));
    fake.manifest(REPO, Some(&sig_tag), &sig, MANIFEST);

    // while the pull is between reading the store and writing it (its referrers
    // query comes last), `airsign sign` adds key 2's signature to the same entry
    let api = format!("/v2/{REPO}/referrers/{}", img.digest);
    let sign = std::sync::Mutex::new(Some(bed.cmd(&["sign", "--key", s(&k2), &image_ref])));
    fake.route_fn(
        "GET",
        &api,
        std::sync::Arc::new(move |_| {
            if let Some(mut c) = sign.lock().unwrap().take() {
                ok(&mut c);
            }
            Reply::not_found()
        }),
    );
    // (index.json did change: by the sign, and only by it)
    let err = fails(&mut bed.cmd(&pull_args(&image_ref, &[])));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("changed in the store during the pull"),
        "{err}"
    );
    ok(&mut bed.cmd(&["verify", "--key", s(&pub2), &image_ref]));

    // the rerun merges the two: both keys verify
    let r = pulled(&bed, &image_ref, &[]);
    assert_eq!(r["images"][0]["artifacts"][0]["status"], "merged", "{r:#}");
    ok(&mut bed.cmd(&["verify", "--key", s(&pub1), &image_ref]));
    ok(&mut bed.cmd(&["verify", "--key", s(&pub2), &image_ref]));
    assert_blobs_sound(&bed.store);
}

// ---- deadlines (issue 9) --------------------------------------------------------

/// The knobs that make a deadline small: 1 s plus the body at 1 KiB/s.
const QUICK_DEADLINE: [&str; 4] = ["--transfer-timeout", "1", "--min-rate", "1K"];

/// A pull that must end within `bound`: the refusal line and how long it took.
fn refused_within(
    bed: &Bed,
    image: &str,
    extra: &[&str],
    bound: std::time::Duration,
) -> (String, std::time::Duration) {
    let t = std::time::Instant::now();
    let err = refused(bed, image, extra);
    let took = t.elapsed();
    assert!(took < bound, "took {took:?} (bound {bound:?}): {err}");
    // nothing half-written: fsck is clean, no staged file left (refused checks)
    ok(&mut bed.cmd(&["fsck"]));
    (err, took)
}

#[test]
fn regression_a_trickled_manifest_times_out_at_its_deadline() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "trickled manifest");
    let path = format!("/v2/{REPO}/manifests/v1");
    fake.clear("GET", &path);
    // one byte every 250 ms: a few hundred bytes would take over a minute
    fake.route(
        "GET",
        &path,
        Reply::status(200)
            .header("Content-Type", MANIFEST)
            .header("Docker-Content-Digest", &img.digest)
            .body(Body::Trickle {
                bytes: img.manifest.clone(),
                chunk: 1,
                every: std::time::Duration::from_millis(250),
            }),
    );
    let bed = Bed::new();
    let (err, took) = refused_within(
        &bed,
        &reference(&fake, "v1"),
        &QUICK_DEADLINE,
        std::time::Duration::from_secs(15),
    );
    // 1 s + the manifest's bytes at 1 KiB/s, and no second attempt
    assert!(took >= std::time::Duration::from_secs(1), "{took:?}");
    assert!(
        err.contains(&format!(
            "{}/{REPO}: GET manifest v1: timed out after",
            fake.host()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("of {} bytes", img.manifest.len())),
        "{err}"
    );
    assert!(err.contains("--min-rate"), "{err}");
    assert_eq!(
        fake.seen_at("GET", &path).len(),
        1,
        "a timeout is not retried"
    );
    assert!(!has_blob(&bed, &img.digest));
}

#[test]
fn regression_a_trickled_blob_times_out_at_its_deadline_and_a_resume_does_not_restart_it() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "trickled blob");
    let lpath = format!("/v2/{REPO}/blobs/{}", img.layer_digest());
    fake.clear("GET", &lpath);
    // 10 bytes every 250 ms: 40 B/s for a blob of about 1.2 KB
    fake.route(
        "GET",
        &lpath,
        Reply::status(200).body(Body::Trickle {
            bytes: img.layer.clone(),
            chunk: 10,
            every: std::time::Duration::from_millis(250),
        }),
    );
    let bed = Bed::new();
    let (err, _) = refused_within(
        &bed,
        &reference(&fake, "v1"),
        &QUICK_DEADLINE,
        std::time::Duration::from_secs(15),
    );
    assert!(
        err.contains(&format!(
            "{}/{REPO}: GET blob {}: timed out after",
            fake.host(),
            img.layer_digest()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("of {} bytes", img.layer.len())),
        "{err}"
    );
    // the reopening the resume logic attempts finds the blob's deadline spent: no
    // second request, and nothing of the blob in the store
    assert_eq!(fake.seen_at("GET", &lpath).len(), 1);
    assert!(!has_blob(&bed, &img.layer_digest()));
}

#[test]
fn regression_a_slow_but_steady_blob_within_its_deadline_is_pulled() {
    let fake = FakeRegistry::start();
    let img = image(&fake, Some("v1"), "slow but steady");
    let lpath = format!("/v2/{REPO}/blobs/{}", img.layer_digest());
    fake.clear("GET", &lpath);
    // about 2.5 KiB/s, above the 1 KiB/s floor: ~0.5 s for the layer
    fake.route(
        "GET",
        &lpath,
        Reply::status(200).body(Body::Trickle {
            bytes: img.layer.clone(),
            chunk: 128,
            every: std::time::Duration::from_millis(50),
        }),
    );
    let bed = Bed::new();
    let r = pulled(
        &bed,
        &reference(&fake, "v1"),
        &["--transfer-timeout", "2", "--min-rate", "1K"],
    );
    assert_eq!(r["images"][0]["status"], "pulled", "{r:#}");
    assert!(has_blob(&bed, &img.layer_digest()));
    assert_blobs_sound(&bed.store);
}

#[test]
fn deadline_knobs_out_of_range_are_usage_errors_before_any_request() {
    let fake = FakeRegistry::start();
    let bed = Bed::new();
    for extra in [
        ["--transfer-timeout", "0"],
        ["--transfer-timeout", "soon"],
        ["--min-rate", "fast"],
    ] {
        let err = refused(&bed, &reference(&fake, "v1"), &extra);
        assert!(err.contains(extra[0]), "{err}");
    }
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

/// Regression: the cause of an error (a registry's error list, a TLS library's
/// message) was cut at 80 characters with "…", losing the reason.
#[test]
fn regression_an_error_cause_is_not_cut() {
    let fake = FakeRegistry::start();
    let long = "blob unknown to registry: the manifest references sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef which this repository does not hold";
    let body = format!(r#"{{"errors":[{{"code":"MANIFEST_BLOB_UNKNOWN","message":"{long}"}}]}}"#);
    fake.route(
        "GET",
        &format!("/v2/{REPO}/manifests/v1"),
        Reply::new(400, body.as_bytes()),
    );
    fake.route(
        "HEAD",
        &format!("/v2/{REPO}/manifests/v1"),
        Reply::new(400, b""),
    );
    let bed = Bed::new();
    let err = refused(&bed, &reference(&fake, "v1"), &[]);
    assert!(err.contains(long), "the cause was cut: {err}");
    assert!(!err.contains('…'), "{err}");
}
