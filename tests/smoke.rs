mod common;

use common::*;

#[test]
fn help_lists_the_commands() {
    let out = ok(&mut airsign(["--help"]));
    for cmd in [
        "store",
        "import",
        "ls",
        "inspect",
        "fsck",
        "generate-key-pair",
        "generate",
    ] {
        assert!(out.contains(cmd), "--help lacks {cmd}:\n{out}");
    }
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = run(&mut airsign(["no-such-command"]));
    assert_eq!(out.status.code(), Some(2));
}

/// cosign's names for the registry flags are accepted too (`--allow-insecure-registry`,
/// `--allow-http-registry`), by pull and sync alike: the run gets past argument
/// parsing (exit 2 would be a usage error) and fails on the missing store instead.
#[test]
fn cosign_registry_flag_names_are_accepted() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = dir.path().join("no-store");
    for cmd in ["pull", "sync"] {
        let out = run(&mut airsign([
            "--store".as_ref(),
            store.as_os_str(),
            cmd.as_ref(),
            "--allow-insecure-registry".as_ref(),
            "--allow-http-registry".as_ref(),
            "127.0.0.1:1/x/y:v1".as_ref(),
        ]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {err}");
        assert!(err.contains("no store at"), "{cmd}: {err}");
    }
}

/// `--jobs` outside 1..=64 is a usage error (exit 2, one line naming the range) for
/// pull and sync alike, before anything is read or written.
#[test]
fn jobs_out_of_range_is_a_usage_error_and_changes_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = dir.path().join("store");
    ok(&mut airsign([
        "--store".as_ref(),
        store.as_os_str(),
        "store".as_ref(),
        "init".as_ref(),
    ]));
    let before = snapshot(&store);
    for (cmd, n) in [("pull", "0"), ("pull", "65"), ("sync", "0"), ("sync", "65")] {
        let out = run(&mut airsign([
            "--store".as_ref(),
            store.as_os_str(),
            cmd.as_ref(),
            "--jobs".as_ref(),
            n.as_ref(),
            "127.0.0.1:1/x/y:v1".as_ref(),
        ]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd} --jobs {n}: {err}");
        assert!(err.contains("not in 1..=64"), "{cmd} --jobs {n}: {err}");
    }
    assert_eq!(before, snapshot(&store));
}
