//! Manifest and index validation (`store::manifest::parse`), and `index.json` /
//! descriptor parsing (`store::descriptor::{Index, Descriptor}`).
//!
//! Input: one selector byte (which media type the descriptor claims), then the raw
//! document.
#![no_main]

use airsign::digest::Digest;
use airsign::store::descriptor::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, Index, Kind, OCI_INDEX, OCI_MANIFEST,
};
use airsign::store::manifest::{Document, MAX_MANIFEST, parse};
use libfuzzer_sys::fuzz_target;

const MEDIA_TYPES: [&str; 5] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    "application/vnd.oci.image.config.v1+json",
];

/// A digest that parsed must print and re-parse as itself, and name a valid path.
fn check_digest(d: &Digest) {
    let text = d.to_string();
    assert_eq!(text.parse::<Digest>().ok().as_ref(), Some(d), "{text}");
    assert_eq!(d.hex().len(), d.algorithm().hex_len());
    assert!(
        d.hex()
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
}

fn check_descriptor(d: &Descriptor) {
    check_digest(&d.digest);
    // A descriptor serialises and reads back as itself.
    let json = serde_json::to_vec(d).expect("a descriptor serialises");
    let back: Descriptor = serde_json::from_slice(&json).expect("a descriptor re-parses");
    assert_eq!(back.digest, d.digest);
    assert_eq!(back.media_type, d.media_type);
    assert_eq!(back.size, d.size);
    assert_eq!(back.annotations, d.annotations);
    assert_eq!(back.platform, d.platform);
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, raw)) = data.split_first() else {
        return;
    };
    let media_type = MEDIA_TYPES[sel as usize % MEDIA_TYPES.len()];
    let desc = Descriptor::new(media_type, Digest::sha256(raw), raw.len() as u64);
    match parse(raw, &desc, "fuzz") {
        Ok(doc) => {
            assert!(raw.len() as u64 <= MAX_MANIFEST);
            assert_eq!(doc.media_type(), media_type);
            match (&doc, desc.kind()) {
                (Document::Manifest { .. }, Kind::Manifest)
                | (Document::Index { .. }, Kind::Index) => {}
                (doc, kind) => panic!("a {kind:?} descriptor parsed as {doc:?}"),
            }
            for child in doc.children() {
                check_descriptor(child);
            }
            if let Some(s) = doc.subject() {
                check_descriptor(s);
            }
        }
        Err(e) => {
            // Errors are one line.
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    // The same bytes as an index.json (and as a lone descriptor).
    if let Ok(index) = serde_json::from_slice::<Index>(raw) {
        for d in &index.manifests {
            check_descriptor(d);
        }
        // What airsign writes reads back as the same index, and writing is stable.
        let bytes = index.to_bytes();
        let back: Index = serde_json::from_slice(&bytes).expect("to_bytes re-parses");
        assert_eq!(back.schema_version, index.schema_version);
        assert_eq!(back.manifests.len(), index.manifests.len());
        assert_eq!(back.to_bytes(), bytes, "to_bytes is not a fixed point");
    }
    if let Ok(d) = serde_json::from_slice::<Descriptor>(raw) {
        check_descriptor(&d);
    }
});
