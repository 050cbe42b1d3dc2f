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
        let mut child = bed
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // the reader is gone before the first line is written: every write fails
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
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
