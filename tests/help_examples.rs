//! Every command's `--help` has examples, and every example works as printed: this
//! test reads them from the help (`airsign::help::command()`, the tree the binary
//! parses with), checks that each parses, and runs them in order in a temp dir
//! holding the files they name. Only what needs a registry (`sync`, `pull`), a
//! Sigstore trusted root or a PKCS#11 token is parsed and not run.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::*;

/// The examples under `Examples:` in `help`, `\`-continued lines joined.
fn examples_in(help: &str) -> Vec<String> {
    let Some((_, list)) = help.split_once("Examples:\n") else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let mut continued = false;
    for line in list.lines() {
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let (text, more) = match text.strip_suffix('\\') {
            Some(t) => (t.trim_end(), true),
            None => (text, false),
        };
        if continued {
            let last = out.last_mut().unwrap();
            last.push(' ');
            last.push_str(text);
        } else {
            out.push(text.to_owned());
        }
        continued = more;
    }
    out
}

/// An example split into what the shell would do: stdin from `cat FILE |`, the
/// arguments after `airsign` (environment assignments dropped: the test sets the
/// password), stdout to `> FILE`.
struct Example {
    stdin: Option<String>,
    args: Vec<String>,
    stdout: Option<String>,
}

fn parse(example: &str) -> Example {
    let mut rest = example;
    let mut stdin = None;
    if let Some((head, tail)) = example.split_once(" | ") {
        let file = head
            .strip_prefix("cat ")
            .expect("only `cat FILE |` is piped");
        stdin = Some(file.to_owned());
        rest = tail;
    }
    let mut stdout = None;
    if let Some((head, file)) = rest.split_once(" > ") {
        stdout = Some(file.trim().to_owned());
        rest = head;
    }
    let words: Vec<&str> = rest.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "airsign")
        .unwrap_or_else(|| panic!("{example}: no `airsign`"));
    assert!(
        words[..at].iter().all(|w| w.contains('=')),
        "{example}: only VAR=value may come before airsign"
    );
    Example {
        stdin,
        args: words[at + 1..].iter().map(|w| (*w).to_owned()).collect(),
        stdout,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The help of the command at `path` (words below `airsign`).
fn help_of(path: &str) -> String {
    let mut cmd = airsign::help::command();
    for word in path.split(' ').filter(|w| !w.is_empty()) {
        cmd = cmd
            .find_subcommand(word)
            .unwrap_or_else(|| panic!("no command {path}"))
            .clone();
    }
    cmd.get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default()
}

#[test]
fn every_command_has_examples_and_every_example_works() {
    // every command and subcommand is listed, so each has its examples
    let root = airsign::help::command();
    let listed: Vec<&str> = airsign::help::EXAMPLES.iter().map(|(p, _)| *p).collect();
    let mut commands = Vec::new();
    for sub in root.get_subcommands() {
        if sub.has_subcommands() {
            for leaf in sub.get_subcommands() {
                commands.push(format!("{} {}", sub.get_name(), leaf.get_name()));
            }
        } else {
            commands.push(sub.get_name().to_owned());
        }
    }
    commands.push(String::new()); // airsign itself
    for c in &commands {
        assert!(listed.contains(&c.as_str()), "{c}: not in help::EXAMPLES");
        assert!(
            !examples_in(&help_of(c)).is_empty(),
            "{c}: no examples in --help"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let fx = fixtures();
    std::fs::copy(fx.join("single.oci.tar"), d.join("incoming.tar")).unwrap();
    std::fs::copy(fx.join("single.docker.tar"), d.join("app.docker.tar")).unwrap();
    copy_dir(&fx.join("single"), &d.join("layout"));
    let key = airsign::keys::generate_signing_key().unwrap();
    let pem = key.to_pkcs8_pem().unwrap();
    std::fs::write(d.join("key.pem"), pem.as_bytes()).unwrap();
    std::fs::write(d.join("prov.json"), r#"{"builder":{"id":"ci"}}"#).unwrap();
    std::fs::write(d.join("chart.tgz"), "a chart").unwrap();
    std::fs::write(d.join("sbom.json"), r#"{"spdxVersion":"SPDX-2.3"}"#).unwrap();
    std::fs::copy(d.join("sbom.json"), d.join("sbom.spdx.json")).unwrap();
    std::fs::write(d.join("image.iso"), vec![7u8; 100_000]).unwrap();

    let mut ran = 0;
    for (path, _) in airsign::help::EXAMPLES {
        for text in examples_in(&help_of(path)) {
            let ex = parse(&text);
            let mut argv = vec!["airsign".to_owned()];
            argv.extend(ex.args.iter().cloned());
            if let Err(e) = airsign::help::command().try_get_matches_from(&argv) {
                panic!("{text}: does not parse: {e}");
            }
            // a PKCS#11 token is made and used for real by tests/pkcs11.rs
            let needs_network = ["sync", "pull", "pkcs11"].contains(&ex.args[0].as_str())
                || ex
                    .args
                    .iter()
                    .any(|a| a == "--trusted-root" || a.contains("pkcs11:"));
            if needs_network {
                continue;
            }
            let mut cmd = airsign(&ex.args);
            cmd.current_dir(d)
                .env("AIRSIGN_STORE", d.join("store"))
                .env("COSIGN_PASSWORD", "pw")
                .env("HOME", d.join("home"));
            if let Some(f) = &ex.stdin {
                cmd.stdin(Stdio::from(std::fs::File::open(d.join(f)).unwrap()));
            }
            let out = run(&mut cmd);
            assert!(
                out.status.success(),
                "{text}: failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            if let Some(f) = &ex.stdout {
                std::fs::write(d.join(f), &out.stdout).unwrap();
            }
            ran += 1;
        }
    }
    assert!(ran > 40, "only {ran} examples ran");
}

/// `airsign completion SHELL` and `airsign man` (issue 12): scripts the shells
/// accept, naming every command and flag; man pages for every command.
#[test]
fn completion_scripts_and_man_pages_cover_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let root = airsign::help::command();
    let names: Vec<String> = root
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();

    let bash = ok(&mut airsign(["completion", "bash"]));
    for want in names
        .iter()
        .map(String::as_str)
        .chain(["--output-signature", "--store"])
    {
        assert!(bash.contains(want), "bash completion lacks {want}");
    }
    // bash itself reads it, and it registers a completion for airsign
    let script = d.join("airsign.bash");
    std::fs::write(&script, &bash).unwrap();
    let out = run(std::process::Command::new("bash").arg("-c").arg(format!(
        "source {} && complete -p airsign",
        script.display()
    )));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("_airsign"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ok(&mut airsign(["completion", "zsh"])).starts_with("#compdef airsign"));
    assert!(ok(&mut airsign(["completion", "fish"])).contains("complete -c airsign"));
    let out = run(&mut airsign(["completion", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));

    let page = ok(&mut airsign(["man"]));
    assert!(page.contains(".TH airsign 1"), "{page}");
    for n in &names {
        // (roff writes a dash as \-)
        let roff = n.replace('-', "\\-");
        assert!(page.contains(&roff), "the man page lacks {n}");
    }
    let pages = d.join("man");
    std::fs::create_dir(&pages).unwrap();
    ok(airsign(["man", "--dir"]).arg(&pages));
    for n in &names {
        let p = pages.join(format!("airsign-{n}.1"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{}", p.display()));
        assert!(text.contains(".SH SYNOPSIS"), "{}", p.display());
    }
    // a missing directory: one line, exit 2, nothing made
    let out = run(airsign(["man", "--dir"]).arg(d.join("nope")));
    assert_eq!(out.status.code(), Some(2));
    assert!(!d.join("nope").exists());
}
