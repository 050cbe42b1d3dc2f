//! `airsign export`, checked by the real tools: skopeo reads and copies our
//! oci-archives (digests unchanged, signatures verifying in a registry afterwards),
//! GNU tar and zstd read them, cosign verifies and loads our cosign layouts, and the
//! same content always gives the same bytes. Refusals leave nothing behind.

mod common;

use common::bed::Bed;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::oci::{digest_of, sha256_hex};
use common::registry::{Mode, Registry, Side};
use common::verifiers::*;
use common::*;
use serde_json::Value;
use tempfile::TempDir;

impl Bed {
    fn sign(&self, key: &Path, image: &str, recursive: bool) {
        let mut args = vec!["sign", "--key", s(key)];
        if recursive {
            args.push("-r");
        }
        args.push(image);
        ok(&mut self.cmd(&args));
    }

    fn export(&self, args: &[&str]) -> String {
        let mut all = vec!["export"];
        all.extend_from_slice(args);
        ok(&mut self.cmd(&all))
    }

    fn export_fails(&self, args: &[&str]) -> String {
        let mut all = vec!["export"];
        all.extend_from_slice(args);
        fails(&mut self.cmd(&all))
    }
}

/// A store holding `single` as HOST/demo/single:v1 (signed) and `multi` as
/// HOST/demo/multi:v1 (signed with -r: the index and each platform). Returns the
/// bed and the key pair.
fn signed_bed(host: &str) -> (Bed, PathBuf, PathBuf) {
    let bed = Bed::new();
    bed.import("single", &format!("{host}/demo/single"));
    bed.import("multi", &format!("{host}/demo/multi"));
    let (key, public) = bed.keys("k");
    bed.sign(&key, &format!("{host}/demo/single:v1"), false);
    bed.sign(&key, &format!("{host}/demo/multi:v1"), true);
    (bed, key, public)
}

/// One entry of a tar archive, parsed with the `tar` crate.
#[derive(Debug)]
struct Entry {
    path: String,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    uname: Vec<u8>,
    gname: Vec<u8>,
    regular: bool,
    data: Vec<u8>,
}

fn tar_entries(bytes: &[u8]) -> Vec<Entry> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            Entry {
                path: e.path().unwrap().to_string_lossy().into_owned(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                uname: h.username_bytes().unwrap_or_default().to_vec(),
                gname: h.groupname_bytes().unwrap_or_default().to_vec(),
                regular: h.entry_type().is_file(),
                data,
            }
        })
        .collect()
}

/// The archive's index.json entries: name → digest.
fn archive_names(bytes: &[u8]) -> BTreeMap<String, String> {
    let entries = tar_entries(bytes);
    let index = entries.iter().find(|e| e.path == "index.json").unwrap();
    let v: Value = serde_json::from_slice(&index.data).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// A program from PATH; under CI=true a missing one fails the test.
fn need_program(name: &str) -> Option<PathBuf> {
    match find_on_path(name) {
        Some(p) => Some(p),
        None if in_ci() => panic!("{name} is not installed: CI needs it (make tools)"),
        None => {
            eprintln!("SKIP: {name} not installed (make tools installs it)");
            None
        }
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn skopeo_copies_from_our_archive_and_the_signatures_verify_in_a_registry() {
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
    let (bed, _, public) = signed_bed(&host);
    let (_, wrong) = bed.keys("wrong");
    let archive = bed.path("carry.tar");
    bed.export(&[
        &format!("{host}/demo/single:v1"),
        &format!("{host}/demo/multi:v1"),
        "--to",
        &format!("oci-archive:{}", archive.display()),
    ]);
    let names = archive_names(&fs::read(&archive).unwrap());
    let (sd, md) = (fixture_digest("single"), fixture_digest("multi"));
    let mut expected: Vec<(String, String)> = vec![
        (format!("{host}/demo/single:v1"), sd.clone()),
        (format!("{host}/demo/multi:v1"), md.clone()),
    ];
    expected.push((
        format!("{host}/demo/single:{}", sig_tag(&sd)),
        String::new(),
    ));
    for d in std::iter::once(md.clone()).chain(child_digests("multi")) {
        expected.push((format!("{host}/demo/multi:{}", sig_tag(&d)), String::new()));
    }
    assert_eq!(
        names.keys().cloned().collect::<Vec<_>>(),
        {
            let mut v: Vec<String> = expected.iter().map(|e| e.0.clone()).collect();
            v.sort();
            v
        },
        "every image with every .sig, named as in the store"
    );

    for (name, digest) in &names {
        // skopeo reads each entry by its full name, bytes unchanged
        let out = run(Command::new(&skopeo)
            .args(["inspect", "--raw"])
            .arg(format!("oci-archive:{}:{name}", archive.display())));
        assert!(
            out.status.success(),
            "skopeo inspect {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(format!("sha256:{}", sha256_hex(&out.stdout)), *digest);
        if let Some((n, want)) = expected.iter().find(|e| e.0 == *name)
            && !want.is_empty()
        {
            assert_eq!(digest, want, "{n}");
        }
        // and copies it to the registry, tag for tag
        let dest = name.strip_prefix(&format!("{host}/")).unwrap();
        let out = run(Command::new(&skopeo)
            .args([
                "--insecure-policy",
                "copy",
                "--all",
                "--preserve-digests",
                "--quiet",
            ])
            .args(reg.skopeo_args(Side::Dest, true))
            .arg(format!("oci-archive:{}:{name}", archive.display()))
            .arg(format!("docker://{host}/{dest}")));
        assert!(
            out.status.success(),
            "skopeo copy {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    for image in ["demo/single:v1", "demo/multi:v1"] {
        let out = cosign_verify(&cosign, &reg, &public, image, &[]);
        assert!(
            out.status.success(),
            "cosign verify {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !cosign_verify(&cosign, &reg, &wrong, image, &[])
                .status
                .success(),
            "cosign accepted the wrong key for {image}"
        );
    }
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/single:v1", false).unwrap();
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/multi:v1", true).unwrap();
    assert!(skopeo_policy_verify(&skopeo, &reg, &wrong, "demo/single:v1", false).is_err());
}

#[test]
fn the_same_content_gives_the_same_archive_bytes() {
    let Some(gnu_tar) = need_program("tar") else {
        return;
    };
    let host = "registry.example.com";
    let (a, _, public) = signed_bed(host);
    // A second store with the same content, built in the other order (index.json
    // entries in another order): the images from the fixtures, their signatures
    // imported from the first store (signing again would make other signatures:
    // ECDSA nonces are random, as cosign's).
    let b = Bed::new();
    b.import("multi", &format!("{host}/demo/multi"));
    b.import("repos", "unused.example.com/x");
    b.import("single", &format!("{host}/demo/single"));
    for image in ["multi", "single"] {
        let from = format!("oci:{}:{host}/demo/{image}:v1", a.store.display());
        ok(&mut b.cmd(&["import", &from]));
    }
    let images = [
        format!("{host}/demo/single:v1"),
        format!("{host}/demo/multi:v1"),
    ];
    let export = |bed: &Bed, file: &str, images: &[String]| {
        let p = bed.path(file);
        let mut args: Vec<&str> = images.iter().map(String::as_str).collect();
        let to = format!("oci-archive:{}", p.display());
        args.extend(["--to", &to]);
        bed.export(&args);
        fs::read(p).unwrap()
    };
    let one = export(&a, "one.tar", &images);
    let two = export(&a, "two.tar", &images);
    let other = export(&b, "other.tar", &[images[1].clone(), images[0].clone()]);
    assert_eq!(sha256_hex(&one), sha256_hex(&two), "two exports differ");
    assert_eq!(
        sha256_hex(&one),
        sha256_hex(&other),
        "another store with the same content gives other bytes"
    );

    // fixed metadata on every entry; oci-layout, index.json, then blobs by path
    let entries = tar_entries(&one);
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths[..2], ["oci-layout", "index.json"]);
    let blobs = &paths[2..];
    assert!(
        blobs.windows(2).all(|w| w[0] < w[1]),
        "blobs sorted: {blobs:?}"
    );
    for e in &entries {
        assert!(e.regular, "{}: only regular files", e.path);
        assert_eq!(
            (e.mode, e.uid, e.gid, e.mtime),
            (0o644, 0, 0, 0),
            "{}",
            e.path
        );
        assert!(e.uname.is_empty() && e.gname.is_empty(), "{}", e.path);
        if let Some(hex) = e.path.strip_prefix("blobs/sha256/") {
            assert_eq!(sha256_hex(&e.data), hex, "blob content matches its name");
        }
    }
    assert_eq!(entries[0].data, br#"{"imageLayoutVersion":"1.0.0"}"#);
    // index.json: compact, entries sorted by name
    let index = &entries[1].data;
    let v: Value = serde_json::from_slice(index).unwrap();
    // compact: as long as serde's compact form of the same value (key order aside)
    assert_eq!(
        serde_json::to_vec(&v).unwrap().len(),
        index.len(),
        "compact JSON"
    );
    let names: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    // ends with two zero blocks, no record padding
    let len: usize = entries
        .iter()
        .map(|e| 512 + e.data.len().div_ceil(512) * 512)
        .sum();
    assert_eq!(one.len(), len + 1024);
    assert!(one[len..].iter().all(|&b| b == 0));

    // GNU tar agrees on the listing
    let out = ok(Command::new(&gnu_tar)
        .env("TZ", "UTC")
        .arg("-tvf")
        .arg(a.path("one.tar")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), entries.len());
    for (l, e) in lines.iter().zip(&entries) {
        assert!(
            l.starts_with("-rw-r--r-- 0/0 ") && l.contains(" 1970-01-01 00:00 "),
            "{l}"
        );
        assert!(l.ends_with(&e.path), "{l}");
    }

    // unpacked by tar, it is a layout another store imports, signatures verifying
    let unpacked = a.path("unpacked");
    fs::create_dir(&unpacked).unwrap();
    ok(Command::new(&gnu_tar)
        .arg("-xf")
        .arg(a.path("one.tar"))
        .arg("-C")
        .arg(&unpacked));
    let c = Bed::new();
    ok(&mut c.cmd(&["import", &format!("oci:{}", unpacked.display())]));
    ok(&mut c.cmd(&["verify", "--key", s(&public), &images[0], &images[1]]));
}

#[test]
fn signatures_of_the_image_and_its_platforms_come_along_unless_told_not_to() {
    let host = "registry.example.com";
    let (bed, _, _) = signed_bed(host);
    let multi = format!("{host}/demo/multi:v1");
    let md = fixture_digest("multi");
    let sigs: Vec<String> = std::iter::once(md.clone())
        .chain(child_digests("multi"))
        .map(|d| format!("{host}/demo/multi:{}", sig_tag(&d)))
        .collect();
    let store_index: Value =
        serde_json::from_slice(&fs::read(bed.store.join("index.json")).unwrap()).unwrap();
    let store_digest = |name: &str| {
        store_index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
            .map(|m| m["digest"].as_str().unwrap().to_owned())
            .unwrap()
    };

    let with = bed.path("with.tar");
    bed.export(&[&multi, "--to", &format!("oci-archive:{}", with.display())]);
    let bytes = fs::read(&with).unwrap();
    let names = archive_names(&bytes);
    let mut want: Vec<String> = sigs.clone();
    want.push(multi.clone());
    want.sort();
    assert_eq!(names.keys().cloned().collect::<Vec<_>>(), want);
    let paths: Vec<String> = tar_entries(&bytes).into_iter().map(|e| e.path).collect();
    for sig in &sigs {
        let d = store_digest(sig);
        assert_eq!(names[sig], d);
        assert!(paths.contains(&format!("blobs/sha256/{}", &d[7..])));
    }
    assert!(
        !names.keys().any(|n| n.contains("single")),
        "another image's signature came along"
    );

    let without = bed.path("without.tar");
    bed.export(&[
        &multi,
        "--no-signatures",
        "--to",
        &format!("oci-archive:{}", without.display()),
    ]);
    let bytes = fs::read(&without).unwrap();
    assert_eq!(archive_names(&bytes).keys().collect::<Vec<_>>(), [&multi]);
    let paths: Vec<String> = tar_entries(&bytes).into_iter().map(|e| e.path).collect();
    for sig in &sigs {
        let d = store_digest(sig);
        assert!(
            !paths.contains(&format!("blobs/sha256/{}", &d[7..])),
            "{sig}"
        );
    }
    // platforms and layers all there
    for d in child_digests("multi") {
        assert!(paths.contains(&format!("blobs/sha256/{}", &d[7..])));
    }

    // --all: every entry of the store; with --no-signatures, no artifact at all
    let all = bed.path("all.tar");
    let out = bed.export(&[
        "--all",
        "--json",
        "--to",
        &format!("oci-archive:{}", all.display()),
    ]);
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["images"].as_array().unwrap().len(), 2);
    assert_eq!(summary["artifacts"].as_array().unwrap().len(), 4);
    assert_eq!(
        summary["files"][0]["size"].as_u64().unwrap(),
        fs::metadata(&all).unwrap().len()
    );
    let names = archive_names(&fs::read(&all).unwrap());
    assert_eq!(
        names.len(),
        store_index["manifests"].as_array().unwrap().len()
    );
    let bare = bed.path("bare.tar");
    bed.export(&[
        "--all",
        "--no-signatures",
        "--to",
        &format!("oci-archive:{}", bare.display()),
    ]);
    let names = archive_names(&fs::read(&bare).unwrap());
    assert!(names.keys().all(|n| n.ends_with(":v1")), "{names:?}");
}

#[test]
fn zstd_archives_decompress_to_the_plain_archive() {
    let Some(zstd) = need_program("zstd") else {
        return;
    };
    let (bed, _, _) = signed_bed("registry.example.com");
    let plain = bed.path("x.tar");
    bed.export(&["--all", "--to", &format!("oci-archive:{}", plain.display())]);
    // --compress zstd turns x2.tar into x2.tar.zst; a .zst name implies it
    bed.export(&[
        "--all",
        "--compress",
        "zstd",
        "--to",
        &format!("oci-archive:{}", bed.path("x2.tar").display()),
    ]);
    let z = bed.path("x2.tar.zst");
    assert!(z.is_file() && !bed.path("x2.tar").exists());
    bed.export(&[
        "--all",
        "--to",
        &format!("oci-archive:{}", bed.path("x3.tar.zst").display()),
    ]);
    let zbytes = fs::read(&z).unwrap();
    assert_eq!(zbytes, fs::read(bed.path("x3.tar.zst")).unwrap());
    assert_eq!(&zbytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");

    // the real zstd tool (checksum included) and the zstd crate both give back the
    // plain tar
    let unzstd = |z: &std::path::Path| {
        let out = run(Command::new(&zstd).args(["-d", "-c", "--check"]).arg(z));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let out = unzstd(&z);
    assert_eq!(out, fs::read(&plain).unwrap());
    let mut back = Vec::new();
    zstd::stream::read::Decoder::new(&zbytes[..])
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, out);
    // the default level is zstd's 3: the zstd tool at -3 finds our frame as it would
    // write it (same format, same content), and --compress-level changes the bytes,
    // not what they decompress to
    let z19 = bed.path("x19.tar.zst");
    bed.export(&[
        "--all",
        "--compress-level",
        "19",
        "--to",
        &format!("oci-archive:{}", z19.display()),
    ]);
    assert_ne!(fs::read(&z19).unwrap(), zbytes);
    assert_eq!(unzstd(&z19), out);
    // a level without zstd, or out of range: one line, nothing written
    for (args, why) in [
        (vec!["--compress-level", "5"], "add --compress zstd"),
        (
            vec!["--compress", "zstd", "--compress-level", "20"],
            "1..=19",
        ),
    ] {
        let to = format!("oci-archive:{}", bed.path("lvl.tar").display());
        let mut all = vec!["--all", "--to", &to];
        all.extend(args.iter().copied());
        let stderr = bed.export_fails(&all);
        assert!(stderr.contains(why), "{args:?}: {stderr}");
        assert!(!bed.path("lvl.tar").exists() && !bed.path("lvl.tar.zst").exists());
    }
}

/// The other direction: a .tar.zst that GNU tar and the zstd tool made (multi-threaded,
/// as `tar c | zstd -T0`) of an exported layout imports, every image still verifying;
/// and airsign's own .tar.zst lists, through `zstd -d | tar t`, the plain archive's
/// entries.
#[test]
fn tar_piped_through_zstd_t0_imports_and_our_zst_lists_with_tar() {
    let (Some(zstd), Some(gnu_tar)) = (need_program("zstd"), need_program("tar")) else {
        return;
    };
    let host = "registry.example.com";
    let (bed, _, public) = signed_bed(host);
    let layout = bed.path("layout");
    bed.export(&["--all", "--to", &format!("oci:{}", layout.display())]);
    let zst = bed.path("by-tools.tar.zst");
    let sh = Command::new("sh")
        .arg("-c")
        .arg(r#""$1" -cf - -C "$2" oci-layout index.json blobs | "$3" -T0 -3 -q -o "$4""#)
        .arg("sh")
        .arg(&gnu_tar)
        .arg(&layout)
        .arg(&zstd)
        .arg(&zst)
        .status()
        .unwrap();
    assert!(sh.success());
    let c = Bed::new();
    ok(&mut c.cmd(&["import", &format!("oci-archive:{}", zst.display())]));
    ok(&mut c.cmd(&[
        "verify",
        "--key",
        s(&public),
        &format!("{host}/demo/single:v1"),
        &format!("{host}/demo/multi:v1"),
    ]));
    ok(&mut c.cmd(&["fsck"]));

    // ours, read by the tools: the same entries, in the same order, as the plain tar
    let plain = bed.path("plain.tar");
    bed.export(&["--all", "--to", &format!("oci-archive:{}", plain.display())]);
    let ours = bed.path("ours.tar.zst");
    bed.export(&["--all", "--to", &format!("oci-archive:{}", ours.display())]);
    let listed = Command::new("sh")
        .arg("-c")
        .arg(r#""$1" -d -c --check "$2" | "$3" -tf -"#)
        .arg("sh")
        .arg(&zstd)
        .arg(&ours)
        .arg(&gnu_tar)
        .output()
        .unwrap();
    assert!(listed.status.success());
    let want: Vec<String> = tar_entries(&fs::read(&plain).unwrap())
        .into_iter()
        .map(|e| e.path)
        .collect();
    let got: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(want.iter().any(|p| p == "index.json"), "{want:?}");
    assert!(want.len() > 10, "{want:?}");
    assert_eq!(got, want);
}

#[test]
fn split_parts_are_bounded_and_concatenate_to_the_whole() {
    let (bed, _, _) = signed_bed("registry.example.com");
    let whole = bed.path("whole.tar");
    bed.export(&["--all", "--to", &format!("oci-archive:{}", whole.display())]);
    let whole = fs::read(&whole).unwrap();

    let parts_dir = bed.path("parts");
    fs::create_dir(&parts_dir).unwrap();
    let to = format!("oci-archive:{}", parts_dir.join("x.tar").display());
    let out = bed.export(&["--all", "--split", "2K", "--json", "--to", &to]);
    let summary: Value = serde_json::from_str(&out).unwrap();
    let names = files_in(&parts_dir);
    let n = whole.len().div_ceil(2048);
    assert!(n > 3, "a multi-part test: {n}");
    assert_eq!(
        names,
        (0..n).map(|i| format!("x.tar.{i:03}")).collect::<Vec<_>>()
    );
    assert_eq!(summary["files"].as_array().unwrap().len(), n);
    let mut joined = Vec::new();
    for name in &names {
        let part = fs::read(parts_dir.join(name)).unwrap();
        assert!(part.len() <= 2048, "{name}: {} bytes", part.len());
        joined.extend(part);
    }
    assert_eq!(joined, whole, "cat parts > whole");

    // compressed and split: the parts of the compressed stream
    let z = bed.path("z");
    fs::create_dir(&z).unwrap();
    let zto = format!("oci-archive:{}", z.join("x.tar").display());
    bed.export(&["--all", "--compress", "zstd", "--split", "1K", "--to", &zto]);
    let mut zjoined = Vec::new();
    for name in files_in(&z) {
        assert!(name.starts_with("x.tar.zst."), "{name}");
        let part = fs::read(z.join(name)).unwrap();
        assert!(part.len() <= 1024);
        zjoined.extend(part);
    }
    let mut back = Vec::new();
    zstd::stream::read::Decoder::new(&zjoined[..])
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, whole);

    // parts already there: refused, nothing changed
    let before = snapshot(&parts_dir);
    let err = bed.export_fails(&["--all", "--split", "4K", "--to", &to]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(snapshot(&parts_dir), before);

    for bad in ["0", "junk", "2Q", "1.5G"] {
        let err = bed.export_fails(&["--all", "--split", bad, "--to", &zto]);
        assert!(err.contains("--split"), "{bad}: {err}");
    }
}

#[test]
fn cosign_verifies_and_loads_our_cosign_layout() {
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
    let (bed, _, public) = signed_bed(&host);
    let (_, wrong) = bed.keys("wrong");
    let home = TempDir::new().unwrap();
    let cosign_cmd = || {
        let mut c = Command::new(&cosign);
        c.env("HOME", home.path());
        c
    };
    let verify_local = |key: &Path, dir: &Path| {
        run(cosign_cmd()
            .args(["verify", "--insecure-ignore-tlog=true", "--key"])
            .arg(key)
            .arg("--local-image")
            .arg(dir))
    };

    for (image, dir) in [("demo/single:v1", "cs"), ("demo/multi:v1", "cm")] {
        let dir = bed.path(dir);
        bed.export(&[
            &format!("{host}/{image}"),
            "--format",
            "cosign",
            "--to",
            s(&dir),
        ]);
        assert_eq!(
            fs::read(dir.join("oci-layout")).unwrap(),
            b"{\n    \"imageLayoutVersion\": \"1.0.0\"\n}"
        );
        let out = verify_local(&public, &dir);
        assert!(
            out.status.success(),
            "cosign verify --local-image {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !verify_local(&wrong, &dir).status.success(),
            "cosign accepted the wrong key for {image}"
        );
        // cosign load pushes image and signature; then they verify in the registry
        ok(cosign_cmd()
            .args(["load", "--dir"])
            .arg(&dir)
            .args(reg.cosign_args(true))
            .arg(format!("{host}/{image}")));
        let out = cosign_verify(&cosign, &reg, &public, image, &[]);
        assert!(
            out.status.success(),
            "cosign verify {image} after load: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    skopeo_policy_verify(&skopeo, &reg, &public, "demo/single:v1", false).unwrap();

    // Golden: cosign save of what was loaded gives the same files, byte for byte.
    let ours = bed.path("cs");
    let theirs = bed.path("saved");
    ok(cosign_cmd()
        .args(["save", "--dir"])
        .arg(&theirs)
        .args(reg.cosign_args(true))
        .arg(format!("{host}/demo/single:v1")));
    assert_eq!(
        snapshot(&ours),
        snapshot(&theirs),
        "our cosign layout differs from cosign save's"
    );

    // one image only; never into a non-empty directory
    let err = bed.export_fails(&["--all", "--format", "cosign", "--to", s(&bed.path("two"))]);
    assert!(err.contains("one image"), "{err}");
    assert!(!bed.path("two").exists());
    let before = snapshot(&ours);
    let err = bed.export_fails(&[
        &format!("{host}/demo/single:v1"),
        "--format",
        "cosign",
        "--to",
        s(&ours),
    ]);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(snapshot(&ours), before);
}

#[test]
fn an_oci_directory_export_adds_to_a_layout_that_skopeo_reads() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let host = "registry.example.com";
    let (bed, _, public) = signed_bed(host);
    let dir = bed.path("layout");
    let to = format!("oci:{}", dir.display());
    bed.export(&[&format!("{host}/demo/single:v1"), "--to", &to]);
    let first: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(first["manifests"].as_array().unwrap().len(), 2);
    bed.export(&[&format!("{host}/demo/multi:v1"), "--to", &to]);
    let index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2 + 1 + 3);
    for (name, digest) in [
        (format!("{host}/demo/single:v1"), fixture_digest("single")),
        (format!("{host}/demo/multi:v1"), fixture_digest("multi")),
    ] {
        let out = ok(Command::new(&skopeo)
            .args(["inspect", "--raw"])
            .arg(format!("{to}:{name}")));
        assert_eq!(digest_of(out.as_bytes()), digest);
    }
    // the layout is complete and its signatures verify there
    ok(&mut bed.cmd(&["fsck", &to]));
    ok(&mut bed.cmd(&[
        "verify",
        "--key",
        s(&public),
        &format!("{to}:{host}/demo/multi:v1"),
    ]));
    // into the store itself: refused
    let err = bed.export_fails(&["--all", "--to", &format!("oci:{}", bed.store.display())]);
    assert!(err.contains("the store itself"), "{err}");
}

/// Flips one byte of a blob in the store.
fn corrupt(store: &Path, digest: &str) {
    let p = store.join("blobs/sha256").join(&digest[7..]);
    let mut b = fs::read(&p).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x20;
    fs::write(&p, b).unwrap();
}

/// A directory in which nothing can be created: mode 0555, or for root (who ignores
/// modes) the immutable attribute. `None` if neither works here.
struct Unwritable(PathBuf);

impl Unwritable {
    fn new(dir: PathBuf) -> Option<Unwritable> {
        use std::os::unix::fs::PermissionsExt;
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
        let u = Unwritable(dir);
        if u.writable() {
            let _ = Command::new("chattr").arg("+i").arg(&u.0).output();
            if u.writable() {
                eprintln!("SKIP (part): cannot make a read-only directory here");
                return None;
            }
        }
        Some(u)
    }

    fn writable(&self) -> bool {
        let probe = self.0.join("probe");
        let w = fs::write(&probe, b"").is_ok();
        let _ = fs::remove_file(probe);
        w
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = Command::new("chattr").arg("-i").arg(&self.0).output();
        let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn refusals_are_one_line_and_leave_nothing_behind() {
    let host = "registry.example.com";
    let (bed, _, _) = signed_bed(host);
    let single = format!("{host}/demo/single:v1");
    let out_dir = bed.path("out");
    fs::create_dir(&out_dir).unwrap();
    let to = format!("oci-archive:{}", out_dir.join("x.tar").display());
    let one_line = |err: &str| {
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.starts_with("airsign: error: "), "{err}");
    };

    // an image the store does not have
    let err = bed.export_fails(&[&format!("{host}/demo/nope:v1"), "--to", &to]);
    one_line(&err);
    assert!(err.contains("not found"), "{err}");
    assert!(files_in(&out_dir).is_empty());

    // no images, or both images and --all
    one_line(&bed.export_fails(&["--to", &to]));
    one_line(&bed.export_fails(&["--all", &single, "--to", &to]));

    // an existing file is never overwritten
    fs::write(out_dir.join("x.tar"), b"precious").unwrap();
    let err = bed.export_fails(&[&single, "--to", &to]);
    one_line(&err);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(fs::read(out_dir.join("x.tar")).unwrap(), b"precious");
    assert_eq!(files_in(&out_dir), ["x.tar"]);
    fs::remove_file(out_dir.join("x.tar")).unwrap();

    // a directory that cannot be written
    if let Some(ro) = Unwritable::new(bed.path("ro")) {
        let err = bed.export_fails(&[
            &single,
            "--to",
            &format!("oci-archive:{}", ro.0.join("x.tar").display()),
        ]);
        one_line(&err);
        assert!(files_in(&ro.0).is_empty());
        let err = bed.export_fails(&[
            &single,
            "--format",
            "cosign",
            "--to",
            s(&ro.0.join("cosign")),
        ]);
        one_line(&err);
        assert!(files_in(&ro.0).is_empty());
    }
    // a missing directory
    let err = bed.export_fails(&[
        &single,
        "--to",
        &format!("oci-archive:{}", bed.path("nowhere/x.tar").display()),
    ]);
    one_line(&err);
    assert!(!bed.path("nowhere").exists());

    // A corrupt blob in the store fails every kind of export, late (its bytes were
    // already streamed), and still leaves nothing: no temp file, no partial layout.
    let layout = bed.path("layout");
    bed.export(&[
        &format!("{host}/demo/multi:v1"),
        "--to",
        &format!("oci:{}", layout.display()),
    ]);
    let layout_before = snapshot(&layout);
    let store_index: Value =
        serde_json::from_slice(&fs::read(bed.store.join("index.json")).unwrap()).unwrap();
    let single_manifest: Value = serde_json::from_slice(
        &fs::read(
            bed.store
                .join("blobs/sha256")
                .join(&fixture_digest("single")[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = single_manifest["layers"][0]["digest"].as_str().unwrap();
    corrupt(&bed.store, layer);
    for (args, dest) in [
        (vec!["--to", to.as_str()], out_dir.clone()),
        (
            vec!["--compress", "zstd", "--split", "1K", "--to", to.as_str()],
            out_dir.clone(),
        ),
        (
            vec!["--format", "cosign", "--to", s(&out_dir.join("cosign"))],
            out_dir.clone(),
        ),
    ] {
        let mut all = vec![single.as_str()];
        all.extend(args);
        let err = bed.export_fails(&all);
        one_line(&err);
        assert!(err.contains("corrupt"), "{err}");
        assert!(files_in(&dest).is_empty(), "{:?}", files_in(&dest));
    }
    let err = bed.export_fails(&[&single, "--to", &format!("oci:{}", layout.display())]);
    one_line(&err);
    let mut after = snapshot(&layout);
    // the layout's private temp dir may exist (empty) either way
    after.retain(|p, _| !p.starts_with(".airsign"));
    let mut before = layout_before;
    before.retain(|p, _| !p.starts_with(".airsign"));
    assert_eq!(after, before, "a failed export changed the layout");
    assert!(store_index.is_object());
}
