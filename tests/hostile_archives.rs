//! A corpus of hostile archives, built byte by byte in the tests (tests/data/hostile/
//! tarkit.rs): path traversal, links, devices, duplicates, PAX/GNU tricks,
//! truncation, trailing garbage, wrong digests, oversized and nested documents,
//! zstd bombs. Each must give one clear line on stderr and exit 1, write nothing
//! outside the store, and leave the store exactly as it was.

mod common;
#[path = "data/hostile/tarkit.rs"]
mod tarkit;

use std::path::{Path, PathBuf};

use common::{airsign, run, snapshot};
use serde_json::json;
use tarkit::{Tar, Z, header, sha256_hex};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

struct Bed {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    store: PathBuf,
    outside: PathBuf,
}

impl Bed {
    fn new() -> Bed {
        let tmp = tempfile::TempDir::new().unwrap();
        let root = tmp.path().to_path_buf();
        let store = root.join("store");
        let outside = root.join("outside");
        std::fs::create_dir(&outside).unwrap();
        common::ok(airsign(["store", "init"]).arg("--store").arg(&store));
        Bed {
            _tmp: tmp,
            root,
            store,
            outside,
        }
    }

    fn archive(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// `import` must fail with exit 1 and one line naming `expect`; the store and
    /// everything around it stay as they were. `ls` and `fsck` on the archive in
    /// place fail too (when `in_place` is set: some damage only shows on import).
    fn refused(&self, archive: &Path, expect: &str, in_place: bool) {
        let before = snapshot(&self.store);
        let out = run(
            airsign(["import", "--repository", "registry.example.com/hostile"])
                .arg(format!("oci-archive:{}", archive.display()))
                .arg("--store")
                .arg(&self.store),
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: import exit code {:?}, stderr: {stderr}",
            archive.display(),
            out.status.code()
        );
        assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
        assert!(
            stderr.starts_with("airsign: error: ") && stderr.contains(expect),
            "{}: expected {expect:?} in: {stderr}",
            archive.display()
        );
        assert_eq!(before, snapshot(&self.store), "the store changed");
        assert!(
            std::fs::read_dir(&self.outside).unwrap().next().is_none(),
            "something was written outside the store"
        );
        if in_place {
            for cmd in ["ls", "fsck"] {
                let out = run(airsign([cmd])
                    .arg(format!("oci-archive:{}", archive.display()))
                    .arg("--store")
                    .arg(&self.store));
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
                assert!(
                    stderr.contains(expect),
                    "{cmd}: expected {expect:?} in: {stderr}"
                );
            }
        }
        let names: Vec<String> = std::fs::read_dir(&self.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "store" && n != "outside" && !n.contains(".tar"))
            .collect();
        assert!(names.is_empty(), "new files next to the store: {names:?}");
    }
}

/// A valid one-image layout: (tar without end blocks, manifest digest).
fn good_image(layer: &[u8]) -> (Tar, String) {
    let mut t = Tar::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let (idx, m) = image_blobs(&mut t, layer);
    t.file("index.json", &idx);
    (t, m)
}

/// Writes a layer, config and manifest into `t`; returns (index.json bytes naming
/// the manifest `v1`, manifest digest).
fn image_blobs(t: &mut Tar, layer: &[u8]) -> (Vec<u8>, String) {
    let l = t.blob(layer);
    let config = serde_json::to_vec(&json!({"architecture":"amd64","os":"linux",
        "rootfs":{"type":"layers","diff_ids":[l]}}))
    .unwrap();
    let c = t.blob(&config);
    let manifest = serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":MANIFEST,
        "config":{"mediaType":CONFIG,"digest":c,"size":config.len()},
        "layers":[{"mediaType":LAYER,"digest":l,"size":layer.len()}]}))
    .unwrap();
    let m = t.blob(&manifest);
    (index_json(&[(MANIFEST, &m, manifest.len(), Some("v1"))]), m)
}

fn index_json(entries: &[(&str, &str, usize, Option<&str>)]) -> Vec<u8> {
    let manifests: Vec<_> = entries
        .iter()
        .map(|(mt, d, n, name)| {
            let mut v = json!({"mediaType": mt, "digest": d, "size": n});
            if let Some(name) = name {
                v["annotations"] = json!({"org.opencontainers.image.ref.name": name});
            }
            v
        })
        .collect();
    serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":INDEX,"manifests":manifests})).unwrap()
}

#[test]
fn the_control_archive_imports() {
    // Proves the corpus below fails for the reason it names, not for being built
    // wrong: the same construction without the flaw imports.
    let bed = Bed::new();
    let (mut t, m) = good_image(b"layer bytes");
    let a = bed.archive("good.tar", &t.end().buf);
    let out = common::ok(
        airsign(["import", "--repository", "registry.example.com/ok"])
            .arg(format!("oci-archive:{}", a.display()))
            .arg("--store")
            .arg(&bed.store),
    );
    assert!(out.contains(&m), "{out}");
}

#[test]
fn path_traversal_absolute_paths_and_unexpected_names() {
    let bed = Bed::new();
    for (i, (name, expect)) in [
        ("../outside/x", "'..' component"),
        ("/abs/x", "absolute path"),
        ("blobs/sha256/../../../outside/x", "'..' component"),
        ("./../x", "'..' component"),
        ("blobs//sha256/x", "empty or '.'"),
        ("README", "unexpected entry"),
        ("blobs/md5/0123", "unknown digest algorithm"),
        ("blobs/sha256/ABCD", "not a blob name"),
    ]
    .into_iter()
    .enumerate()
    {
        let (mut t, _) = good_image(b"layer");
        t.file(name, b"payload");
        let a = bed.archive(&format!("traversal{i}.tar"), &t.end().buf);
        bed.refused(&a, expect, true);
    }
}

#[test]
fn links_devices_and_symlink_then_file() {
    let bed = Bed::new();
    let outside = bed.outside.display().to_string();
    type Case<'a> = (Box<dyn Fn(&mut Tar) + 'a>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        // The two-step: a symlink `blobs` → outside, then a file through it.
        (
            Box::new(|t: &mut Tar| {
                t.link("blobs", b'2', &outside);
                t.file("blobs/sha256/x", b"escape");
            }),
            "a symlink",
        ),
        (
            Box::new(|t: &mut Tar| {
                t.link(
                    &format!("blobs/sha256/{}", sha256_hex(b"x")),
                    b'2',
                    "/etc/passwd",
                );
            }),
            "a symlink",
        ),
        (
            Box::new(|t: &mut Tar| {
                t.link(
                    &format!("blobs/sha256/{}", sha256_hex(b"x")),
                    b'1',
                    "index.json",
                );
            }),
            "a hard link",
        ),
        (
            Box::new(|t: &mut Tar| {
                t.raw(&header(b"blobs/sha256/dev", b'3', 0, b"", false));
            }),
            "a character device",
        ),
        (
            Box::new(|t: &mut Tar| {
                t.raw(&header(b"blobs/sha256/blk", b'4', 0, b"", false));
            }),
            "a block device",
        ),
        (
            Box::new(|t: &mut Tar| {
                t.raw(&header(b"blobs/sha256/fifo", b'6', 0, b"", false));
            }),
            "a FIFO",
        ),
        (
            Box::new(|t: &mut Tar| {
                t.raw(&header(b"blobs/sha256/sparse", b'S', 0, b"", true));
            }),
            "unsupported type",
        ),
    ];
    for (i, (add, expect)) in cases.into_iter().enumerate() {
        let mut t = Tar::new();
        add(&mut t);
        let (mut rest, _) = good_image(b"layer");
        t.raw(&rest.end().buf);
        let a = bed.archive(&format!("link{i}.tar"), &t.buf);
        bed.refused(&a, expect, true);
    }
}

#[test]
fn duplicate_entries() {
    let bed = Bed::new();
    // A second index.json naming something else: which one wins differs by tool.
    let (mut t, _) = good_image(b"layer");
    t.file("index.json", &index_json(&[]));
    bed.refused(
        &bed.archive("dup-index.tar", &t.end().buf),
        "appears twice",
        true,
    );

    let (mut t, _) = good_image(b"layer");
    t.blob(b"layer");
    bed.refused(
        &bed.archive("dup-blob.tar", &t.end().buf),
        "appears twice",
        true,
    );

    // The same name spelled with a leading ./ is the same entry.
    let (mut t, _) = good_image(b"layer");
    t.file("./oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    bed.refused(
        &bed.archive("dup-dot.tar", &t.end().buf),
        "appears twice",
        true,
    );
}

#[test]
fn pax_and_gnu_tricks() {
    let bed = Bed::new();
    let layer = b"layer bytes, 32 of them........";
    let d = sha256_hex(layer);
    let name = format!("blobs/sha256/{d}");

    // PAX size larger, then smaller, than the header's: the TARmageddon desync.
    for (i, pax_size) in [layer.len() + 512, 3].into_iter().enumerate() {
        let (mut t, _) = good_image(b"other");
        t.pax(&[("size", &pax_size.to_string())]);
        t.raw(&header(
            name.as_bytes(),
            b'0',
            layer.len() as u64,
            b"",
            false,
        ));
        t.data(layer);
        bed.refused(
            &bed.archive(&format!("pax-size{i}.tar"), &t.end().buf),
            "disagrees with the header's size",
            true,
        );
    }
    // A PAX path that escapes.
    let (mut t, _) = good_image(b"other");
    t.pax(&[("path", "../../outside/pax")]);
    t.file("innocent", b"x");
    bed.refused(
        &bed.archive("pax-path.tar", &t.end().buf),
        "'..' component",
        true,
    );
    // A GNU long name that escapes.
    let (mut t, _) = good_image(b"other");
    t.gnu_long_name(&format!(
        "blobs/sha256/{}/../../../outside/long",
        "a".repeat(120)
    ));
    t.file("innocent", b"x");
    bed.refused(
        &bed.archive("gnu-long.tar", &t.end().buf),
        "'..' component",
        true,
    );
    // A GNU long name and a PAX path for one entry: readers disagree on which wins.
    let (mut t, _) = good_image(b"other");
    t.gnu_long_name("index.json");
    t.pax(&[("path", &name)]);
    t.file("innocent", b"x");
    bed.refused(
        &bed.archive("gnu-pax.tar", &t.end().buf),
        "both a GNU long name",
        true,
    );
    // A key given twice in one PAX header.
    let (mut t, _) = good_image(b"other");
    t.pax(&[("path", "a"), ("path", "b")]);
    t.file("innocent", b"x");
    bed.refused(
        &bed.archive("pax-dup.tar", &t.end().buf),
        "given twice",
        true,
    );
    // A PAX header claiming 10 GiB: refused before any of it is read.
    let (mut t, _) = good_image(b"other");
    t.raw(&header(b"PaxHeaders/x", b'x', 10 << 30, b"", false));
    bed.refused(
        &bed.archive("pax-huge.tar", &t.buf),
        "at most 65536 accepted",
        true,
    );
    // A global header that sets a path for everything after it.
    let (mut t, _) = good_image(b"other");
    let body = b"19 path=index.json\n";
    t.raw(&header(
        b"pax_global_header",
        b'g',
        body.len() as u64,
        b"",
        false,
    ));
    t.data(body);
    bed.refused(
        &bed.archive("pax-global.tar", &t.end().buf),
        "global PAX header",
        true,
    );
    // A header whose checksum is wrong.
    let (mut t, _) = good_image(b"other");
    let mut h = header(b"index.json", b'0', 0, b"", false);
    h[0] = b'X';
    t.raw(&h);
    bed.refused(
        &bed.archive("checksum.tar", &t.end().buf),
        "checksum mismatch",
        true,
    );
}

#[test]
fn truncation_and_trailing_garbage() {
    let bed = Bed::new();
    let big = vec![7u8; 5000];
    let (mut t, _) = good_image(&big);
    let full = t.end().buf.clone();
    let data_end = full.len() - 1024;

    // Mid-header: a few bytes of a header past the last entry.
    let mut mid_header = full[..data_end].to_vec();
    mid_header.extend_from_slice(&header(b"x", b'0', 0, b"", false)[..100]);
    bed.refused(
        &bed.archive("mid-header.tar", &mid_header),
        "inside a header",
        true,
    );

    // Mid-data: cut inside the layer's data (it is the first blob written).
    let cut = 512 + 512 + 512 + 2000;
    bed.refused(
        &bed.archive("mid-data.tar", &full[..cut]),
        "truncated archive",
        true,
    );

    // No end-of-archive blocks at all; only one.
    bed.refused(
        &bed.archive("no-end.tar", &full[..data_end]),
        "without the end-of-archive marker",
        true,
    );
    bed.refused(
        &bed.archive("one-end.tar", &full[..data_end + 512]),
        "one end-of-archive block",
        true,
    );

    // Trailing garbage after the end marker (zeros are fine: tar pads records).
    let mut trailing = full.clone();
    trailing.extend(std::iter::repeat_n(0u8, 8192));
    trailing.extend_from_slice(b"smuggled");
    bed.refused(
        &bed.archive("trailing.tar", &trailing),
        "trailing data",
        true,
    );

    // A header claiming far more data than the archive holds.
    let (mut t, _) = good_image(b"other");
    t.raw(&header(
        format!("blobs/sha256/{}", sha256_hex(b"y")).as_bytes(),
        b'0',
        1 << 40,
        b"",
        false,
    ));
    t.data(b"y");
    bed.refused(
        &bed.archive("claims-1tb.tar", &t.buf),
        "runs past the end",
        true,
    );
}

#[test]
fn content_that_does_not_match_its_name() {
    let bed = Bed::new();
    // The layer's bytes are swapped for others of the same size: the names and
    // sizes all agree, only hashing shows it. ls works (it reads no layer); fsck
    // and import refuse.
    let (t, _) = good_image(b"honest layer");
    let mut bytes = t.buf.clone();
    let pos = bytes
        .windows(12)
        .position(|w| w == b"honest layer")
        .unwrap();
    bytes[pos..pos + 12].copy_from_slice(b"forged layer");
    bytes.extend(std::iter::repeat_n(0u8, 1024));
    let a = bed.archive("forged.tar", &bytes);
    bed.refused(&a, "hashes to", false);
    let out = run(airsign(["fsck"])
        .arg(format!("oci-archive:{}", a.display()))
        .arg("--store")
        .arg(&bed.store));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("corrupt: blob"));

    // The manifest itself forged: even ls refuses.
    let (t, m) = good_image(b"layer");
    let mut bytes = t.buf.clone();
    let pos = bytes.windows(6).position(|w| w == b"\"os\":\"").unwrap();
    bytes[pos + 6] = b'X';
    let _ = m;
    bytes.extend(std::iter::repeat_n(0u8, 1024));
    bed.refused(
        &bed.archive("forged-config.tar", &bytes),
        "does not match its digest",
        false,
    );
}

#[test]
fn oversized_index_json() {
    let bed = Bed::new();
    // A header claiming a 100 MiB index.json, with no data behind it: refused by
    // the cap before anything is read (no need to write 100 MiB).
    let mut t = Tar::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    t.raw(&header(b"index.json", b'0', 100 << 20, b"", false));
    bed.refused(
        &bed.archive("huge-index.tar", &t.buf),
        "over the 67108864-byte cap",
        true,
    );
    // The same, compressed: a zstd stream of 100 MiB of zeros behind the header.
    let h = header(b"index.json", b'0', 100 << 20, b"", false);
    let z = tarkit::zstd(&[Z::Raw(&h), Z::Zeros(100 << 20), Z::Zeros(1024)]);
    bed.refused(
        &bed.archive("huge-index.tar.zst", &z),
        "over the 67108864-byte cap",
        true,
    );
    // Not JSON at all.
    let mut t = Tar::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    t.file("index.json", b"[[[[[[[[[[");
    bed.refused(
        &bed.archive("junk-index.tar", &t.end().buf),
        "index.json",
        true,
    );
    // No oci-layout.
    let mut t = Tar::new();
    t.file("index.json", &index_json(&[]));
    bed.refused(
        &bed.archive("no-marker.tar", &t.end().buf),
        "no oci-layout",
        true,
    );
}

#[test]
fn deeply_nested_and_cyclic_indexes() {
    let bed = Bed::new();
    // 1000 indexes, each holding the next, all with honest digests.
    let mut t = Tar::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let (idx, _) = image_blobs(&mut t, b"deep layer");
    let top: serde_json::Value = serde_json::from_slice(&idx).unwrap();
    let mut child = top["manifests"][0].clone();
    child.as_object_mut().unwrap().remove("annotations");
    for _ in 0..1000 {
        let idx = serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":INDEX,
            "manifests":[child]}))
        .unwrap();
        let d = t.blob(&idx);
        child = json!({"mediaType": INDEX, "digest": d, "size": idx.len()});
    }
    child["annotations"] = json!({"org.opencontainers.image.ref.name": "deep"});
    t.file(
        "index.json",
        &serde_json::to_vec(&json!({"schemaVersion":2,"manifests":[child]})).unwrap(),
    );
    bed.refused(
        &bed.archive("deep.tar", &t.end().buf),
        "nested more than 8 deep",
        false,
    );

    // A → B → A. A true cycle cannot hash, so B sits under a name its content does
    // not hash to (padded to the size A claims): the walk stops at B with a clear
    // error instead of looping.
    const B_SIZE: usize = 400;
    let b_name = format!("sha256:{}", sha256_hex(b"what A calls B"));
    let a = serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":INDEX,
        "manifests":[{"mediaType":INDEX,"digest":b_name,"size":B_SIZE}]}))
    .unwrap();
    let mut t = Tar::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let a_d = t.blob(&a);
    let mut b = serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":INDEX,
        "manifests":[{"mediaType":INDEX,"digest":a_d,"size":a.len()}]}))
    .unwrap();
    assert!(b.len() < B_SIZE);
    b.resize(B_SIZE, b' ');
    t.file(&format!("blobs/{}", b_name.replace(':', "/")), &b);
    t.file(
        "index.json",
        &index_json(&[(INDEX, &a_d, a.len(), Some("cycle"))]),
    );
    bed.refused(
        &bed.archive("cycle.tar", &t.end().buf),
        "does not match its digest",
        false,
    );
}

#[test]
fn compressed_archives_and_zstd_bombs() {
    let bed = Bed::new();
    // gzip is refused by name.
    bed.refused(
        &bed.archive("x.tar.gz", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]),
        "gzip-compressed",
        true,
    );
    // A zstd frame declaring a 4 GiB window: refused before any allocation.
    let (mut t, _) = good_image(b"layer");
    let z = tarkit::zstd_with_window(&[Z::Raw(&t.end().buf)], 32);
    bed.refused(&bed.archive("window.tar.zst", &z), "zstd", true);
    // A truncated zstd stream.
    let (mut t, _) = good_image(b"layer");
    let z = tarkit::zstd(&[Z::Raw(&t.end().buf)]);
    bed.refused(
        &bed.archive("cut.tar.zst", &z[..z.len() / 2]),
        "truncated",
        true,
    );

    // The bomb: 300 KB of zstd that decodes to a 1 GiB layer of zeros, under a name
    // its content does not hash to. Memory must stay bounded (the process runs
    // under a 1 GiB address-space limit) and the answer is a clear refusal. (The
    // layer is the image's: import hashes a .tar.zst's large blobs where it copies
    // them, once, so a blob nothing refers to is not read, as in a plain archive;
    // `ls` and `fsck` of the archive hash everything and refuse it too.)
    let bomb = format!("sha256:{}", sha256_hex(b"not zeros"));
    let name = format!("blobs/sha256/{}", sha256_hex(b"not zeros"));
    let h = header(name.as_bytes(), b'0', 1 << 30, b"", false);
    let mut rest = Tar::new();
    rest.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let config = serde_json::to_vec(&json!({"architecture":"amd64","os":"linux",
        "rootfs":{"type":"layers","diff_ids":[bomb]}}))
    .unwrap();
    let c = rest.blob(&config);
    let manifest = serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":MANIFEST,
        "config":{"mediaType":CONFIG,"digest":c,"size":config.len()},
        "layers":[{"mediaType":LAYER,"digest":bomb,"size":1u64 << 30}]}))
    .unwrap();
    let m = rest.blob(&manifest);
    rest.file(
        "index.json",
        &index_json(&[(MANIFEST, &m, manifest.len(), Some("v1"))]),
    );
    let z = tarkit::zstd(&[Z::Raw(&h), Z::Zeros(1 << 30), Z::Raw(&rest.end().buf)]);
    assert!(z.len() < 400_000, "{}", z.len());
    let a = bed.archive("bomb.tar.zst", &z);
    let before = snapshot(&bed.store);
    let out = run(std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$@\"")
        .arg("sh")
        .arg(common::airsign_bin())
        .arg("--store")
        .arg(&bed.store)
        .args(["import", "--repository", "registry.example.com/bomb"])
        .arg(format!("oci-archive:{}", a.display())));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("hashes to"), "{stderr}");
    assert_eq!(before, snapshot(&bed.store));
    for cmd in ["ls", "fsck"] {
        let out = run(airsign([cmd]).arg(format!("oci-archive:{}", a.display())));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cmd} accepted the bomb");
        assert!(stderr.contains("hashes to"), "{cmd}: {stderr}");
    }
}
