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
