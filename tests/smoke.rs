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
