//! Builds small OCI layouts byte by byte, so tests control every byte (including
//! hostile ones) without any external tool.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

pub struct TestLayout {
    pub root: PathBuf,
}

impl TestLayout {
    pub fn new(root: &Path) -> TestLayout {
        fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let l = TestLayout {
            root: root.to_path_buf(),
        };
        l.set_index(&[]);
        l
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').unwrap();
        self.root.join("blobs").join(alg).join(hex)
    }

    /// Writes a blob; returns its descriptor (without media type).
    pub fn blob(&self, bytes: &[u8]) -> (String, u64) {
        let d = digest_of(bytes);
        fs::write(self.blob_path(&d), bytes).unwrap();
        (d, bytes.len() as u64)
    }

    pub fn desc(&self, media_type: &str, bytes: &[u8]) -> Value {
        let (d, n) = self.blob(bytes);
        json!({"mediaType": media_type, "digest": d, "size": n})
    }

    /// A single-platform image: returns (manifest descriptor, raw manifest bytes).
    /// `seed` makes the content unique.
    pub fn image(&self, arch: &str, seed: &str) -> (Value, Vec<u8>) {
        let layer = format!("layer {seed} {arch}").into_bytes();
        let layer_d = self.desc(LAYER, &layer);
        let config = serde_json::to_vec(&json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_d["digest"]]},
            "config": {}
        }))
        .unwrap();
        let config_d = self.desc(CONFIG, &config);
        // Deliberately not canonical: spaces and an odd key order, to prove raw
        // bytes are kept.
        let manifest = format!(
            "{{ \"schemaVersion\": 2, \"layers\": [{}], \"config\": {}, \"mediaType\": \"{MANIFEST}\" }}",
            layer_d, config_d
        )
        .into_bytes();
        let mut d = self.desc(MANIFEST, &manifest);
        d["platform"] = json!({"architecture": arch, "os": "linux"});
        (d, manifest)
    }

    /// A two-platform index; returns (index descriptor, raw index bytes).
    pub fn multi(&self, seed: &str) -> (Value, Vec<u8>) {
        let (a, _) = self.image("amd64", seed);
        let (b, _) = self.image("arm64", seed);
        let index = serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [a, b]}),
        )
        .unwrap();
        (self.desc(INDEX, &index), index)
    }

    /// Replaces index.json with these entries.
    pub fn set_index(&self, entries: &[Value]) {
        let idx = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries});
        fs::write(
            self.root.join("index.json"),
            serde_json::to_vec(&idx).unwrap(),
        )
        .unwrap();
    }
}

/// A descriptor with a ref name annotation.
pub fn named(mut desc: Value, name: &str) -> Value {
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    desc
}

/// A layout at `root` with one image, tag `v1`, whose only layer is `size` bytes of
/// xorshift noise from `seed` (written and hashed in pieces, never whole in memory);
/// returns the image's manifest digest.
pub fn big_image_layout(root: &Path, size: u64, seed: u64) -> String {
    use std::io::Write as _;
    let l = TestLayout::new(root);
    let tmp = root.join("layer.tmp");
    let mut f = std::io::BufWriter::new(fs::File::create(&tmp).unwrap());
    let mut h = Sha256::new();
    let mut x: u64 = seed | 1;
    let mut buf = vec![0u8; 1 << 16];
    assert_eq!(
        size % buf.len() as u64,
        0,
        "a whole number of 64 KiB pieces"
    );
    for _ in 0..size / buf.len() as u64 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        h.update(&buf);
        f.write_all(&buf).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let layer = format!("sha256:{hex}");
    fs::rename(&tmp, l.blob_path(&layer)).unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer]},
        "config": {}
    }))
    .unwrap();
    let config_d = l.desc(CONFIG, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST, "config": config_d,
        "layers": [{"mediaType": LAYER, "digest": layer, "size": size}]
    }))
    .unwrap();
    let d = l.desc(MANIFEST, &manifest);
    l.set_index(&[named(d.clone(), "v1")]);
    d["digest"].as_str().unwrap().to_owned()
}
