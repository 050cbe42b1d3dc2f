//! `docs/airgap-walkthrough.md`, run as written: every command in it, in order, in
//! one shell, in a temp work dir, against the real tools (cosign 2.5, skopeo 1.18,
//! umoci, two loopback `docker-registry`s started by the test bed), and every output
//! it shows compared with what the command really printed. The document cannot drift
//! from the tool: a command that stops working, or a figure that changes, fails this
//! test.
//!
//! How the document is read (its convention, also stated in an HTML comment at its
//! top):
//! - a ```` ```sh ```` block is run as it stands (one shell for the whole document,
//!   so `cd` and `export` carry over); it must succeed (`set -e`); its output is not
//!   compared. ```` ```sh not-run ```` blocks are shown only (the registries of step
//!   0 and 11, which the test bed starts and stops instead);
//! - in a ```` ```console ```` block each `$ ` line is a command (a line ending in
//!   `\` continues on the next) and the lines up to the next `$ ` are its output,
//!   stdout and stderr together, compared line by line. `…` stands for any text
//!   within a line (trimmed digests, timings), and a line holding only `…` for any
//!   number of lines (output left out). Runs of spaces count as one (the registries'
//!   ports are not the document's, which shifts table columns). A command must exit
//!   0, unless its output shows an error (`airsign: error:` or skopeo's
//!   `level=fatal`): then it must fail;
//! - ```` ```text ````, ```` ```json ```` and unmarked blocks (the diagram) are not
//!   run; a block in any other language fails the test (a ```` ```bash ```` meant
//!   to run would otherwise be skipped without a word).
//!
//! The document's registries are `127.0.0.1:5001` (the vendor's) and `127.0.0.1:5002`
//! (production) and its work dir `/tmp/walk`: in commands these are replaced by the
//! test bed's registries and the temp dir, and in outputs replaced back. The
//! commands find the tools on `PATH` (a temp dir of links to the `AIRSIGN_TEST_*`
//! tools and the `airsign` built for the tests) and the project's checkout in
//! `$AIRSIGN_SRC`, as the document says.
//!
//! To see every output in full (when writing the page): `AIRSIGN_WALK_KEEP=1 cargo
//! test --test walkthrough -- --nocapture` keeps the temp dir and names it: `walk.sh`
//! is the script run, `out/N` the output of its N-th block or command.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::registry::{Mode, Registry};
use common::*;

const DOC: &str = "docs/airgap-walkthrough.md";
const DOC_VENDOR: &str = "127.0.0.1:5001";
const DOC_PROD: &str = "127.0.0.1:5002";
const DOC_DIR: &str = "/tmp/walk";
/// The whole walk takes about a minute; a hung command fails the test instead of CI.
const TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What the document asks to run.
#[derive(Debug)]
enum Item {
    /// A ```` ```sh ```` block: (line of its fence, text).
    Sh(usize, String),
    /// A `$ ` command of a ```` ```console ```` block: (its line, command, the
    /// output shown).
    Cmd(usize, String, Vec<String>),
}

fn parse(doc: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut lines = doc.lines().enumerate().map(|(i, l)| (i + 1, l));
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let info = info.trim();
        let mut body = Vec::new();
        for (m, l) in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            body.push((m, l));
        }
        match info {
            "sh" => {
                let text: Vec<&str> = body.iter().map(|(_, l)| *l).collect();
                items.push(Item::Sh(n, text.join("\n")));
            }
            "console" => {
                let mut cur: Option<(usize, String, Vec<String>, bool)> = None;
                for (m, l) in body {
                    if let Some((_, cmd, _, more)) = cur.as_mut()
                        && *more
                    {
                        // the previous line ended in `\`
                        cmd.push('\n');
                        cmd.push_str(l);
                        *more = l.ends_with('\\');
                        continue;
                    }
                    if let Some(c) = l.strip_prefix("$ ") {
                        if let Some((line, cmd, out, _)) = cur.take() {
                            items.push(Item::Cmd(line, cmd, out));
                        }
                        cur = Some((m, c.to_owned(), Vec::new(), c.ends_with('\\')));
                    } else {
                        let (_, _, out, _) = cur
                            .as_mut()
                            .unwrap_or_else(|| panic!("{DOC}:{m}: output before any `$ ` command"));
                        out.push(l.to_owned());
                    }
                }
                if let Some((line, cmd, out, _)) = cur {
                    items.push(Item::Cmd(line, cmd, out));
                }
            }
            // shown only: the diagram, file contents, the registries of steps 0 and 11
            "" | "text" | "json" | "sh not-run" => {}
            // a block in no known language would silently not run (```bash for ```sh)
            other => {
                panic!("{DOC}:{n}: a ```{other} block: sh, console, sh not-run, text or json?")
            }
        }
    }
    items
}

/// Runs of whitespace as one space, no trailing space.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line against one shown line, where `…` stands for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('…').collect();
    if pieces.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    for mid in &pieces[1..pieces.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.ends_with(last) && rest.len() >= last.len()
}

/// The shown output against the real one; a shown line `…` stands for any number
/// of lines.
fn output_matches(shown: &[String], real: &[String]) -> bool {
    match shown.first() {
        None => real.is_empty(),
        Some(p) if p == "…" => (0..=real.len()).any(|k| output_matches(&shown[1..], &real[k..])),
        Some(p) => {
            !real.is_empty() && line_matches(p, &real[0]) && output_matches(&shown[1..], &real[1..])
        }
    }
}

/// The shown output says the command fails.
fn shows_failure(shown: &[String]) -> bool {
    shown
        .iter()
        .any(|l| l.starts_with("airsign: error:") || l.contains("level=fatal"))
}

#[test]
fn line_matching() {
    assert!(line_matches("sha256:1914…  2 sig", "sha256:1914abc  2 sig"));
    assert!(!line_matches(
        "sha256:1914…  2 sig",
        "sha256:1915abc  2 sig"
    ));
    assert!(line_matches("a…b…c", "aXbYc"));
    assert!(!line_matches("a…b", "ab c"));
    assert!(line_matches("…", "anything"));
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(output_matches(
        &v(&["a", "…", "z"]),
        &v(&["a", "b", "c", "z"])
    ));
    assert!(output_matches(&v(&["a", "…", "z"]), &v(&["a", "z"])));
    assert!(!output_matches(&v(&["a", "…", "z"]), &v(&["a", "b"])));
    assert!(!output_matches(&v(&["a"]), &v(&["a", "b"])));
    assert!(output_matches(&v(&[]), &v(&[])));
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The document's names in a command: the test's registries and work dir.
fn to_test(s: &str, vendor: &str, prod: &str, work: &str) -> String {
    s.replace(DOC_VENDOR, vendor)
        .replace(DOC_PROD, prod)
        .replace(DOC_DIR, work)
}

#[test]
fn walkthrough_runs_as_written() {
    let tools = [
        ("cosign", Tool::Cosign),
        ("skopeo", Tool::Skopeo),
        ("umoci", Tool::Umoci),
        ("openssl", Tool::Openssl),
        ("jq", Tool::Jq),
        ("curl", Tool::Curl),
        ("docker-registry", Tool::Registry),
    ];
    let mut found = Vec::new();
    for (name, tool) in tools {
        let Some(p) = need!(tool) else { return };
        found.push((name, p));
    }
    let Some(vendor) = Registry::start(Mode::Plain) else {
        return;
    };
    let Some(prod) = Registry::start(Mode::Plain) else {
        return;
    };
    let (vhost, phost) = (vendor.host(), prod.host());

    let tmp = tempfile::Builder::new()
        .prefix("airsign-walk.")
        .tempdir()
        .unwrap();
    let bin = tmp.path().join("bin");
    let home = tmp.path().join("home");
    let out = tmp.path().join("out");
    let work = tmp.path().join("walk");
    for d in [&bin, &home, &out, &work] {
        std::fs::create_dir(d).unwrap();
    }
    found.push(("airsign", airsign_bin()));
    for (name, p) in &found {
        std::os::unix::fs::symlink(p, bin.join(name)).unwrap();
    }
    let w = work.to_str().unwrap().to_owned();

    let doc = std::fs::read_to_string(repo_root().join(DOC)).unwrap();
    let items = parse(&doc);
    assert!(
        items.iter().filter(|i| matches!(i, Item::Cmd(..))).count() > 20,
        "{DOC} lost its commands? {items:?}"
    );

    // One shell for the whole document. Each item's output goes to out/N (and a
    // command's exit status to out/N.rc); `at` names the item being run. Background
    // jobs the document starts and leaves are stopped, by pid, when it ends.
    let mut script = String::from("set -eE\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n");
    let o = out.to_str().unwrap();
    for (i, item) in items.iter().enumerate() {
        script.push_str(&format!("echo {i} > {o}/at\n"));
        match item {
            Item::Sh(_, text) => {
                let text = to_test(text, &vhost, &phost, &w);
                script.push_str(&format!("{{\n{text}\n}} > {o}/{i} 2>&1 < /dev/null\n"));
            }
            Item::Cmd(_, cmd, _) => {
                let cmd = to_test(cmd, &vhost, &phost, &w);
                script.push_str(&format!(
                    "if {{\n{cmd}\n}} > {o}/{i} 2>&1 < /dev/null; then echo 0 > {o}/{i}.rc; \
                     else echo $? > {o}/{i}.rc; fi\n"
                ));
            }
        }
    }
    script.push_str(&format!("echo done > {o}/at\n"));
    std::fs::write(tmp.path().join("walk.sh"), &script).unwrap();

    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
    let start = Instant::now();
    let mut child = Command::new("bash")
        .arg(tmp.path().join("walk.sh"))
        .current_dir(&work)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("LC_ALL", "C.UTF-8")
        .env("TMPDIR", std::env::temp_dir())
        .env("AIRSIGN_SRC", repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the walkthrough did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("walkthrough ran in {:.1?}", start.elapsed());
    let _tmp = if std::env::var_os("AIRSIGN_WALK_KEEP").is_some() {
        let kept = tmp.keep();
        eprintln!("AIRSIGN_WALK_KEEP: kept {}", kept.display());
        None
    } else {
        Some(tmp)
    };

    // The real output as the document would show it.
    let read_out = |i: usize| -> Vec<String> {
        let raw = std::fs::read_to_string(out.join(i.to_string())).unwrap_or_default();
        raw.replace(&vhost, DOC_VENDOR)
            .replace(&phost, DOC_PROD)
            .replace(&w, DOC_DIR)
            .lines()
            .map(squeeze)
            .collect()
    };
    // The commands that ran, against the document (all of them, or those before a
    // block that failed: the first difference is often what broke that block).
    let at = std::fs::read_to_string(out.join("at")).unwrap();
    let finished = status.success() && at.trim() == "done";
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Item::Cmd(line, cmd, shown) = item else {
            continue;
        };
        let Ok(rc) = std::fs::read_to_string(out.join(format!("{i}.rc"))) else {
            assert!(!finished, "{DOC}:{line}: `{cmd}` left no exit status");
            break;
        };
        let rc: i32 = rc.trim().parse().unwrap();
        let real = read_out(i);
        let shown: Vec<String> = shown.iter().map(|l| squeeze(l)).collect();
        let fails = shows_failure(&shown);
        if fails != (rc != 0) {
            problems.push(format!(
                "{DOC}:{line}: `{cmd}` exited {rc}, the document shows it {}",
                if fails { "failing" } else { "succeeding" }
            ));
        }
        if !output_matches(&shown, &real) {
            problems.push(format!(
                "{DOC}:{line}: `{cmd}` printed\n{}\n  where the document shows\n{}",
                indent(&real),
                indent(&shown)
            ));
        }
    }
    if !finished {
        let i: usize = at.trim().parse().unwrap_or(usize::MAX);
        let line = match items.get(i) {
            Some(Item::Sh(n, _)) | Some(Item::Cmd(n, _, _)) => *n,
            None => 0,
        };
        problems.push(format!(
            "{DOC}:{line}: this block failed ({status}), and the walk stopped there; its output:\n{}",
            indent(&read_out(i))
        ));
    }
    assert!(
        problems.is_empty(),
        "{} command(s) of the walkthrough differ from the document:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    drop((vendor, prod));
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
