//! Hostile and broken signature artifacts: each gives a clear error or a rejected
//! signature, never a crash, and a refused command leaves the layout unchanged.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use airsign::signature::{SIGNATURE_ANNOTATION, SigLayer, SignatureArtifact};
use common::oci::digest_of;
use common::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const IMG: &str = "registry.example.com/demo/single";
const PASSWORD: &str = "pw";

/// A payload and the annotations of its layer.
type Layer<'a> = (Vec<u8>, Vec<(&'a str, String)>);

struct Bed {
    _tmp: TempDir,
    store: PathBuf,
    key: PathBuf,
    public: PathBuf,
    digest: String,
}

impl Bed {
    fn new() -> Bed {
        let tmp = TempDir::new().unwrap();
        let store = tmp.path().join("store");
        let bed = Bed {
            key: tmp.path().join("k.key"),
            public: tmp.path().join("k.pub"),
            store,
            digest: String::new(),
            _tmp: tmp,
        };
        ok(&mut bed.cmd(&["store", "init"]));
        ok(&mut bed.cmd(&[
            "import",
            &format!("oci:{}", fixtures().join("single").display()),
            "--repository",
            IMG,
        ]));
        let prefix = bed.key.with_extension("");
        ok(&mut bed.cmd(&[
            "generate-key-pair",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ]));
        let ls: Value = serde_json::from_str(&ok(&mut bed.cmd(&["ls", "--json"]))).unwrap();
        Bed {
            digest: ls[0]["digest"].as_str().unwrap().to_owned(),
            ..bed
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = airsign(["--store".as_ref(), self.store.as_os_str()]);
        c.args(args).env("COSIGN_PASSWORD", PASSWORD);
        c
    }

    fn put(&self, bytes: &[u8]) -> String {
        let d = digest_of(bytes);
        fs::write(self.store.join("blobs/sha256").join(&d[7..]), bytes).unwrap();
        d
    }

    /// Makes `manifest` the image's `.sig` entry.
    fn set_sig(&self, manifest: &[u8]) {
        let d = self.put(manifest);
        let path = self.store.join("index.json");
        let mut index: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let name = format!("{IMG}:{}.sig", self.digest.replace(':', "-"));
        let entries = index["manifests"].as_array_mut().unwrap();
        entries.retain(|e| e["annotations"]["org.opencontainers.image.ref.name"] != name.as_str());
        entries.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": name}
        }));
        fs::write(path, serde_json::to_vec(&index).unwrap()).unwrap();
    }

    /// A `.sig` built from these (payload, annotations) layers.
    fn set_layers(&self, layers: &[Layer]) {
        let mut a = SignatureArtifact::default();
        for (payload, ann) in layers {
            self.put(payload);
            let mut l = SigLayer::new(payload, String::new());
            l.annotations = ann
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            a.append(l).unwrap();
        }
        let (config, manifest) = a.to_bytes();
        self.put(&config);
        self.set_sig(&manifest);
    }

    fn payload(&self) -> Vec<u8> {
        ok(&mut self.cmd(&["generate", &format!("{IMG}:v1")])).into_bytes()
    }

    /// A real signature over `payload` (sign --upload=false).
    fn signature_of(&self, payload: &[u8]) -> String {
        let dir = TempDir::new().unwrap();
        let p = dir.path().join("payload");
        let s = dir.path().join("sig");
        fs::write(&p, payload).unwrap();
        ok(&mut self.cmd(&[
            "sign",
            "--key",
            self.key.to_str().unwrap(),
            "--upload=false",
            "--payload",
            p.to_str().unwrap(),
            "--output-signature",
            s.to_str().unwrap(),
            &format!("{IMG}:v1"),
        ]));
        fs::read_to_string(s).unwrap()
    }

    fn verify(&self) -> std::process::Output {
        run(&mut self.cmd(&[
            "verify",
            "--key",
            self.public.to_str().unwrap(),
            &format!("{IMG}:v1"),
        ]))
    }

    /// `sign` must refuse, leaving the store exactly as it was.
    fn sign_refused(&self) -> String {
        let before = snapshot(&self.store);
        let err = fails(&mut self.cmd(&[
            "sign",
            "--key",
            self.key.to_str().unwrap(),
            &format!("{IMG}:v1"),
        ]));
        assert_eq!(
            snapshot(&self.store),
            before,
            "a refused sign changed the store"
        );
        err
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn one_line_error(o: &std::process::Output) -> String {
    let e = stderr(o);
    let last = e.trim().lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("airsign: error: "), "{e}");
    last
}

#[test]
fn a_sig_manifest_that_is_not_json() {
    let bed = Bed::new();
    bed.set_sig(b"this is not json");
    let out = bed.verify();
    assert!(!out.status.success());
    assert!(one_line_error(&out).contains("malformed JSON"));
    assert!(bed.sign_refused().contains("malformed JSON"));
}

#[test]
fn more_than_1000_layers() {
    let bed = Bed::new();
    let payload = bed.payload();
    let pd = bed.put(&payload);
    let layer = json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": pd, "size": payload.len(),
                       "annotations": {SIGNATURE_ANNOTATION: "MEUCIQ=="}});
    let config = bed.put(b"{}");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": vec![layer; 1001]
    }))
    .unwrap();
    bed.set_sig(&manifest);
    let out = bed.verify();
    assert!(!out.status.success());
    assert!(one_line_error(&out).contains("1000"));
    assert!(bed.sign_refused().contains("1000"));
}

#[test]
fn layers_without_a_signature_or_with_base64_junk_are_rejected_one_by_one() {
    let bed = Bed::new();
    let payload = bed.payload();
    let good = bed.signature_of(&payload);
    // junk alone: no signature matches (cosign's exit code 12), with the reasons
    bed.set_layers(&[
        (payload.clone(), vec![]),
        (
            payload.clone(),
            vec![(SIGNATURE_ANNOTATION, "%%% not base64 %%%".into())],
        ),
    ]);
    let out = bed.verify();
    assert_eq!(out.status.code(), Some(12), "{}", stderr(&out));
    let e = one_line_error(&out);
    assert!(
        e.contains("no dev.cosignproject.cosign/signature") && e.contains("base64"),
        "{e}"
    );
    // the same junk beside one good signature: the good one verifies
    bed.set_layers(&[
        (payload.clone(), vec![]),
        (payload.clone(), vec![(SIGNATURE_ANNOTATION, "%%%".into())]),
        (payload.clone(), vec![(SIGNATURE_ANNOTATION, good)]),
    ]);
    let out = bed.verify();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[test]
fn a_payload_over_1_mib() {
    let bed = Bed::new();
    let mut payload = bed.payload();
    payload.truncate(payload.len() - 1);
    payload.extend(format!(r#","pad":"{}"}}"#, "x".repeat(1024 * 1024)).bytes());
    let sig = bed.signature_of(&bed.payload());
    bed.set_layers(&[(payload.clone(), vec![(SIGNATURE_ANNOTATION, sig.clone())])]);
    let out = bed.verify();
    assert_eq!(out.status.code(), Some(12));
    assert!(one_line_error(&out).contains("limit"), "{}", stderr(&out));
    // attach refuses it before touching the layout
    let dir = TempDir::new().unwrap();
    let p = dir.path().join("big");
    fs::write(&p, &payload).unwrap();
    let before = snapshot(&bed.store);
    let err = fails(&mut bed.cmd(&[
        "attach",
        "signature",
        "--payload",
        p.to_str().unwrap(),
        "--signature",
        &sig,
        &format!("{IMG}:v1"),
    ]));
    assert!(err.contains("larger than"), "{err}");
    assert_eq!(snapshot(&bed.store), before);
}

#[test]
fn a_signature_that_is_not_ecdsa_and_a_payload_that_is_not_json() {
    let bed = Bed::new();
    let junk_sig = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([0x30u8, 0x03, 0x02, 0x01, 0x00])
    };
    bed.set_layers(&[(bed.payload(), vec![(SIGNATURE_ANNOTATION, junk_sig)])]);
    let out = bed.verify();
    assert_eq!(out.status.code(), Some(12));
    assert!(one_line_error(&out).contains("not an ECDSA P-256 signature"));

    let not_json = b"\x00\x01 binary junk".to_vec();
    let sig = bed.signature_of(&not_json);
    bed.set_layers(&[(not_json, vec![(SIGNATURE_ANNOTATION, sig)])]);
    let out = bed.verify();
    assert_eq!(out.status.code(), Some(12));
    assert!(one_line_error(&out).contains("not JSON"));
}

#[test]
fn a_sig_entry_whose_blobs_are_missing() {
    let bed = Bed::new();
    let payload = bed.payload();
    let sig = bed.signature_of(&payload);
    bed.set_layers(&[(payload.clone(), vec![(SIGNATURE_ANNOTATION, sig)])]);
    fs::remove_file(
        bed.store
            .join("blobs/sha256")
            .join(&digest_of(&payload)[7..]),
    )
    .unwrap();
    let out = bed.verify();
    assert_eq!(out.status.code(), Some(12));
    assert!(one_line_error(&out).contains("missing"));
}

/// A bulk sign lands its blobs in batches while it signs. A damaged `.sig` of an image
/// signed after the first batch (here the 1,101st of 1,101) was read only when its
/// turn came, after thousands of blobs had landed: the refusal left them in the store.
/// Every artifact the sign extends is now read before anything lands.
#[test]
fn regression_a_damaged_sig_late_in_a_bulk_sign_is_refused_before_anything_lands() {
    let bed = Bed::new();
    let layout = common::oci::TestLayout {
        root: bed.store.clone(),
    };
    let path = bed.store.join("index.json");
    let mut index: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let entries = index["manifests"].as_array_mut().unwrap();
    let single = entries.remove(0);
    for i in 0..1100 {
        let (d, _) = layout.image("amd64", &format!("bulk {i}"));
        entries.push(common::oci::named(
            d,
            &format!("registry.example.com/demo/bulk{i}:v1"),
        ));
    }
    entries.push(single);
    fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
    bed.set_sig(b"this is not json");

    let before = snapshot(&bed.store);
    let out = run(&mut bed.cmd(&["sign", "--all", "-y", "--key", bed.key.to_str().unwrap()]));
    assert!(!out.status.success());
    assert!(
        one_line_error(&out).contains("malformed JSON"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        snapshot(&bed.store),
        before,
        "a refused bulk sign changed the store"
    );
}
