//! Issue 12's rough edges, each pinned by a regression test named after the bug:
//! what a user tripped over in everyday use. Every test runs the real binary.

mod common;

use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;

use common::bed::Bed;
use common::*;

const REPO: &str = "registry.example.com/demo/app";
const IMAGE: &str = "registry.example.com/demo/app:v1";

/// `airsign ls | head -1` (and every other command printing to stdout) panicked
/// with "failed printing to stdout: Broken pipe" and a backtrace when the reader
/// went away. Now it ends as `cat` does: killed by SIGPIPE, nothing on stderr.
#[test]
fn regression_a_closed_stdout_does_not_panic() {
    let bed = Bed::new();
    bed.import("single", REPO);
    let (key, public) = bed.keys("k");
    ok(&mut bed.cmd(&["sign", "--key", s(&key), IMAGE]));
    let before = snapshot(&bed.store);
    let commands: &[&[&str]] = &[
        &["ls"],
        &["ls", "--json"],
        &["signatures", IMAGE],
        &["signatures", "--json", IMAGE],
        &["inspect", IMAGE],
        &["triangulate", IMAGE],
        &["verify", "--key", s(&public), IMAGE],
        &["public-key", "--key", s(&key)],
        &["generate", IMAGE],
        &["fsck", "--json"],
        &["gc", "--json"],
    ];
    for args in commands {
        // the reader is gone before the command starts: every write fails (closing
        // it after the spawn would race the child, whose few lines fit the pipe)
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = bed
            .cmd(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert!(
            out.status.signal() == Some(13) || out.status.code() == Some(141),
            "{args:?}: ended with {} ({stderr})",
            out.status
        );
    }
    assert_eq!(snapshot(&bed.store), before, "the store changed");
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `sign --output-signature/--output-payload/--output-certificate` wrote their files
/// world-readable (0644); cosign writes them 0600, as `sign-blob` already did. An
/// existing file's mode does not survive either: the file is replaced.
#[test]
fn regression_output_files_are_not_world_readable() {
    let bed = Bed::new();
    bed.import("multi", REPO);
    let (key, _) = bed.keys("k");
    let (sig, payload, cert) = (bed.path("sig"), bed.path("payload"), bed.path("cert.pem"));
    std::fs::write(&sig, "old").unwrap();
    std::fs::set_permissions(&sig, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--output-signature",
        s(&sig),
        "--output-payload",
        s(&payload),
        "--output-certificate",
        s(&cert),
        IMAGE,
    ]));
    for f in [&sig, &payload, &cert] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // several digests (-r on an index): FILE-sha256-<hex> each
    let out = bed.path("many");
    std::fs::create_dir(&out).unwrap();
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "-r",
        "--upload=false",
        "--output-signature",
        &format!("{}/sig", s(&out)),
        IMAGE,
    ]));
    let written: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().collect();
    assert!(written.len() > 1, "{written:?}");
    for e in written {
        assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
    }
    // sign-blob, both formats
    let file = bed.path("file.txt");
    std::fs::write(&file, "hello").unwrap();
    let bundle = bed.path("file.sigstore.json");
    ok(&mut bed.cmd(&[
        "sign-blob",
        "--key",
        s(&key),
        "--bundle",
        s(&bundle),
        s(&file),
    ]));
    let legacy = bed.path("file.sig");
    ok(&mut bed.cmd(&[
        "sign-blob",
        "--key",
        s(&key),
        "--new-bundle-format=false",
        "--output-signature",
        s(&legacy),
        s(&file),
    ]));
    assert_eq!(mode(&bundle), 0o600);
    assert_eq!(mode(&legacy), 0o600);
}

/// `attach signature --signature sig.b64` with no such file tried to decode the
/// name as base64 ("Invalid symbol 46, offset 3"), and `--signature out/sig` (valid
/// base64 of six bytes) said the signature was not ECDSA. Both now say there is no
/// such file: one line, exit 2, the store unchanged.
#[test]
fn regression_attach_names_a_missing_signature_file() {
    let bed = Bed::new();
    bed.import("single", REPO);
    let payload = bed.path("payload.json");
    std::fs::write(&payload, ok(&mut bed.cmd(&["generate", IMAGE]))).unwrap();
    let before = snapshot(&bed.store);
    for (name, want) in [
        ("sig.b64", "--signature sig.b64: no such file\n"),
        ("out/sig", "--signature out/sig: no such file\n"),
        (
            "signature",
            "--signature signature: no such file, and not a base64 ECDSA signature\n",
        ),
    ] {
        let out = run(&mut bed.cmd(&[
            "attach",
            "signature",
            "--payload",
            s(&payload),
            "--signature",
            name,
            IMAGE,
        ]));
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err, format!("airsign: error: {want}"), "{name}");
    }
    assert_eq!(snapshot(&bed.store), before, "the store changed");
    // the base64 text itself still works
    let (key, public) = bed.keys("k");
    let sig = bed.path("sig");
    ok(&mut bed.cmd(&[
        "sign",
        "--key",
        s(&key),
        "--upload=false",
        "--payload",
        s(&payload),
        "--output-signature",
        s(&sig),
        IMAGE,
    ]));
    let text = std::fs::read_to_string(&sig).unwrap();
    ok(&mut bed.cmd(&[
        "attach",
        "signature",
        "--payload",
        s(&payload),
        "--signature",
        &text,
        "--key",
        s(&public),
        IMAGE,
    ]));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), IMAGE]));
}

/// `import carry.tar` (no transport) said only "the source must be oci:DIR[:REF],
/// oci-archive:FILE[:REF] or docker-archive:FILE[:REF]", and `import ./carry.tar`
/// "invalid image reference: bad registry". Now the error gives the command line
/// to type; it works as given.
#[test]
fn regression_import_of_a_bare_archive_path_suggests_oci_archive() {
    let bed = Bed::new();
    let tar = bed.path("carry.tar");
    std::fs::copy(fixtures().join("single.oci.tar"), &tar).unwrap();
    let layout = fixtures().join("single");
    let before = snapshot(&bed.store);
    let tar_s = s(&tar).to_owned();
    let cases = [
        (tar_s.clone(), format!("oci-archive:{tar_s}")),
        (
            "./carry.tar".to_owned(),
            "oci-archive:./carry.tar".to_owned(),
        ),
        (s(&layout).to_owned(), format!("oci:{}", s(&layout))),
        (
            "gone.tar.zst".to_owned(),
            "oci-archive:gone.tar.zst".to_owned(),
        ),
    ];
    for (arg, suggested) in &cases {
        let out = run(bed
            .cmd(&["import", arg, "--repository", REPO])
            .current_dir(bed.tmp.path()));
        assert_eq!(out.status.code(), Some(2), "{arg}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("transport") && err.contains(suggested.as_str()),
            "{arg}: {err}"
        );
    }
    // ls and fsck take the same advice
    for cmd in ["ls", "fsck"] {
        let err = fails(bed.cmd(&[cmd, "carry.tar"]).current_dir(bed.tmp.path()));
        assert!(err.contains("oci-archive:carry.tar"), "{cmd}: {err}");
    }
    assert_eq!(snapshot(&bed.store), before, "the store changed");
    // and what it suggests works
    for (arg, suggested) in &cases[..3] {
        ok(bed
            .cmd(&["import", suggested, "--repository", REPO])
            .current_dir(bed.tmp.path()));
        let _ = arg;
    }
    assert!(ok(&mut bed.cmd(&["ls"])).contains(IMAGE));
}

/// A plain PKCS#8 key (what `openssl genpkey` writes) given to `--key` said "not a
/// cosign private key: the PEM label is \"PRIVATE KEY\" (expected …)", leaving the
/// user to find `import-key-pair`. Now the error names the command, before any
/// password is asked; the command it names works, and its key signs.
#[test]
fn regression_a_plain_pkcs8_key_suggests_import_key_pair() {
    let bed = Bed::new();
    bed.import("single", REPO);
    let (_, public) = bed.keys("k");
    let key = airsign::keys::generate_signing_key().unwrap();
    let pem = key.to_pkcs8_pem().unwrap();
    let plain = bed.path("plain.pem");
    std::fs::write(&plain, pem.as_bytes()).unwrap();
    let before = snapshot(&bed.store);
    let want = format!(
        "convert it once with `airsign import-key-pair --key {}`",
        s(&plain)
    );
    for args in [
        vec!["sign", "--key", s(&plain), IMAGE],
        vec![
            "sign-blob",
            "--key",
            s(&plain),
            "--bundle",
            "b.json",
            s(&public),
        ],
        vec!["public-key", "--key", s(&plain)],
        vec!["verify", "--key", s(&plain), IMAGE],
    ] {
        // no password anywhere: asking for one would fail with another message
        let out = run(bed.cmd(&args).env_remove("COSIGN_PASSWORD"));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // (sign warns first that a tag is signed by its digest)
        let err: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("WARNING"))
            .collect();
        assert_eq!(err.len(), 1, "{stderr}");
        let err = err[0];
        assert!(
            err.contains("a plain PKCS#8 private key") && err.contains(&want),
            "{args:?}: {err}"
        );
    }
    assert_eq!(snapshot(&bed.store), before, "the store changed");
    // the advice, followed
    ok(bed
        .cmd(&["import-key-pair", "--key", s(&plain)])
        .current_dir(bed.tmp.path()));
    let converted = bed.path("import-cosign.key");
    ok(&mut bed.cmd(&["sign", "--key", s(&converted), IMAGE]));
    ok(&mut bed.cmd(&["verify", "--key", s(&bed.path("import-cosign.pub")), IMAGE]));
}

/// With no `COSIGN_PASSWORD`, no terminal and nothing on stdin (a CI job, cron),
/// opening a key said "wrong password (or a corrupted key file)": the password
/// read was stdin's nothing. Now it says no password was given, and where to give
/// one. A password that was given and is wrong is still called wrong.
#[test]
fn regression_no_password_and_no_terminal_says_no_password_given() {
    let bed = Bed::new();
    bed.import("single", REPO);
    let (key, _) = bed.keys("k");
    let file = bed.path("file.txt");
    std::fs::write(&file, "hello").unwrap();
    let predicate = bed.path("predicate.json");
    std::fs::write(&predicate, "{}").unwrap();
    let before = snapshot(&bed.store);
    let all: [Vec<&str>; 4] = [
        vec!["sign", "--key", s(&key), IMAGE],
        vec![
            "sign-blob",
            "--key",
            s(&key),
            "--bundle",
            "b.json",
            s(&file),
        ],
        vec!["public-key", "--key", s(&key)],
        vec![
            "attest",
            "--key",
            s(&key),
            "--predicate",
            s(&predicate),
            IMAGE,
        ],
    ];
    for args in &all {
        // stdin is /dev/null (common::airsign), not a terminal
        let out = run(bed
            .cmd(args)
            .env_remove("COSIGN_PASSWORD")
            .current_dir(bed.tmp.path()));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let err: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("WARNING"))
            .collect();
        assert_eq!(err.len(), 1, "{stderr}");
        assert!(
            err[0].contains("no password given") && err[0].contains("COSIGN_PASSWORD"),
            "{args:?}: {stderr}"
        );
        let wrong = fails(
            bed.cmd(args)
                .env("COSIGN_PASSWORD", "not it")
                .current_dir(bed.tmp.path()),
        );
        assert!(wrong.contains("wrong password"), "{args:?}: {wrong}");
    }
    assert_eq!(snapshot(&bed.store), before, "the store changed");
    assert!(!bed.path("b.json").exists());
}

/// `ls` printed one line per entry, `.sig` tags included (lines of 110 columns),
/// platform signatures as `1+2p` beside the other referrers' kinds, and counted
/// every signature whoever made it. Now: one line per image within 80 columns
/// (a longer name gets a line of its own), signatures and attestations as columns
/// (`own+platforms`), artifacts only with `--all`, and with `--key` only the
/// signatures that verify.
#[test]
fn regression_ls_is_one_readable_line_per_image() {
    let bed = Bed::new();
    bed.import("single", REPO);
    let multi_repo = "registry.example.com/demo/multi-arch-service-with-a-long-name";
    bed.import("multi", multi_repo);
    let multi = &format!("{multi_repo}:v1");
    let (key, public) = bed.keys("k");
    let other = bed.path("other");
    ok(bed
        .cmd(&["generate-key-pair", "--output-key-prefix", s(&other)])
        .env("COSIGN_PASSWORD", "x"));
    ok(&mut bed.cmd(&["sign", "--key", s(&key), "-r", "--all", "-y"]));
    ok(bed
        .cmd(&["sign", "--key", s(&other.with_extension("key")), IMAGE])
        .env("COSIGN_PASSWORD", "x"));
    let predicate = bed.path("p.json");
    std::fs::write(&predicate, "{}").unwrap();
    ok(&mut bed.cmd(&[
        "attest",
        "--key",
        s(&key),
        "--predicate",
        s(&predicate),
        IMAGE,
    ]));

    // the counts of an image's line: [SIGS, ATTS, OTHER]
    let counts = |table: &str, image: &str| -> Vec<String> {
        let lines: Vec<&str> = table.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with(image))
            .unwrap_or_else(|| panic!("{image} not in\n{table}"));
        // a long name has a line of its own, its columns on the next
        let line = if lines[at].trim_end() == image {
            lines[at + 1]
        } else {
            lines[at]
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        words[words.len() - 3..]
            .iter()
            .map(|w| w.to_string())
            .collect()
    };
    let table = ok(&mut bed.cmd(&["ls"]));
    assert!(table.lines().all(|l| l.len() <= 80), "{table}");
    assert!(
        !table.contains(".sig") && !table.contains(".att"),
        "{table}"
    );
    assert!(table.starts_with("IMAGE "), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}"); // header, image, long name + its line
    assert_eq!(counts(&table, IMAGE), ["2", "1", "0"], "{table}");
    assert_eq!(counts(&table, multi), ["1+2", "0", "0"], "{table}");

    // with a key: only what it verifies
    let table = ok(&mut bed.cmd(&["ls", "--key", s(&public)]));
    assert!(table.contains(" VALID "), "{table}");
    assert_eq!(counts(&table, IMAGE), ["1", "1", "0"], "{table}");
    assert_eq!(counts(&table, multi), ["1+2", "0", "0"], "{table}");
    let table = ok(&mut bed.cmd(&["ls", "--key", s(&other.with_extension("pub"))]));
    assert_eq!(counts(&table, IMAGE), ["1", "1", "0"], "{table}");
    assert_eq!(counts(&table, multi), ["0", "0", "0"], "{table}");

    // --all: the artifacts too (4 .sig, 1 .att)
    let table = ok(&mut bed.cmd(&["ls", "--all"]));
    assert_eq!(table.matches(".sig\n").count(), 4, "{table}");
    assert_eq!(table.matches(".att\n").count(), 1, "{table}");

    // --json: every entry, as before, with the new counts
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&mut bed.cmd(&["ls", "--json", "--key", s(&public)]))).unwrap();
    let image = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reference"] == IMAGE)
        .unwrap();
    assert_eq!(image["signatures"], 2);
    assert_eq!(image["verified_signatures"], 1);
    assert_eq!(image["attestations"], 1);
    assert_eq!(listed.as_array().unwrap().len(), 7);
    // a wrong key file: one line, nothing listed
    let err = fails(&mut bed.cmd(&["ls", "--key", "missing.pub"]));
    assert_eq!(err.lines().count(), 1, "{err}");
}
