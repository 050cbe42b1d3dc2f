//! `--help` examples for every command, kept apart from the argument definitions
//! (`cli.rs`) and added to clap's command tree when it is built. A command whose
//! definition already carries an `after_help` keeps it.
//!
//! Every example is a command that works: `tests/help_examples.rs` runs them, in a
//! temp dir holding the files they name (`incoming.tar`, `layout/`, `key.pem`, …), in
//! the order of [`EXAMPLES`] — except those that need a registry (`sync`, `pull`),
//! which it parses only.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

use crate::{Error, Result};

/// The examples of each command (by its path below `airsign`; `""` is `airsign`
/// itself), in the order a walkthrough would run them.
pub const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "store init",
        &[
            "airsign store init",
            "airsign --store other-store store init",
        ],
    ),
    (
        "import",
        &[
            "airsign import oci-archive:incoming.tar --repository registry.example.com/app",
            "airsign import oci:layout:v1 --repository registry.example.com/app --rename registry.example.com=mirror.internal",
            "airsign import docker-archive:app.docker.tar --repository registry.example.com/legacy:v1",
            "airsign import oci:layout --trusted-root trusted_root.json --certificate-identity https://github.com/vendor/app/.github/workflows/release.yml@refs/heads/main --certificate-oidc-issuer https://token.actions.githubusercontent.com",
        ],
    ),
    (
        "inspect",
        &[
            "airsign inspect registry.example.com/app:v1",
            "airsign inspect oci-archive:incoming.tar:v1",
        ],
    ),
    (
        "fsck",
        &[
            "airsign fsck",
            "airsign fsck --json oci-archive:incoming.tar",
        ],
    ),
    (
        "generate-key-pair",
        &[
            "airsign generate-key-pair",
            "airsign generate-key-pair --output-key-prefix release",
            "airsign generate-key-pair --signing-algorithm ecdsa-sha2-384-nistp384 --output-key-prefix p384",
        ],
    ),
    (
        "import-key-pair",
        &[
            "airsign import-key-pair --key key.pem",
            "airsign import-key-pair --key key.pem --output-key-prefix team --yes",
        ],
    ),
    (
        "public-key",
        &[
            "airsign public-key --key cosign.key",
            "airsign public-key --key release.key --outfile release.pub",
            "COSIGN_PKCS11_PIN=… airsign public-key --key 'pkcs11:token=signing;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so'",
        ],
    ),
    (
        "pkcs11 list-tokens",
        &["airsign pkcs11 list-tokens --module-path /usr/lib/softhsm/libsofthsm2.so"],
    ),
    (
        "pkcs11 list-keys-uris",
        &[
            "COSIGN_PKCS11_PIN=… airsign pkcs11 list-keys-uris --module-path /usr/lib/softhsm/libsofthsm2.so --slot-id 1",
        ],
    ),
    (
        "generate",
        &[
            "airsign generate registry.example.com/app:v1",
            "airsign generate -a owner=ci registry.example.com/app:v1 > payload.json",
        ],
    ),
    (
        "sign",
        &[
            "airsign sign --key cosign.key registry.example.com/app:v1",
            "airsign sign --key cosign.key -a owner=ci --all --yes",
            "airsign sign --key cosign.key --upload=false --payload payload.json --output-signature sig.b64 registry.example.com/app:v1",
            "COSIGN_PKCS11_PIN=… airsign sign --key 'pkcs11:token=signing;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so' registry.example.com/app:v1",
        ],
    ),
    (
        "verify",
        &[
            "airsign verify --key cosign.pub registry.example.com/app:v1",
            "airsign verify --key cosign.pub -a owner=ci -o text registry.example.com/app:v1",
            "airsign verify --trusted-root trusted_root.json --certificate-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main --certificate-oidc-issuer https://token.actions.githubusercontent.com registry.example.com/app:v1",
        ],
    ),
    (
        "attach signature",
        &[
            "airsign attach signature --payload payload.json --signature sig.b64 --key cosign.pub registry.example.com/app:v1",
        ],
    ),
    (
        "ls",
        &[
            "airsign ls",
            "airsign ls --key cosign.pub",
            "airsign ls --all --json",
            "airsign ls oci-archive:incoming.tar",
        ],
    ),
    ("attest", &[]),
    (
        "verify-attestation",
        &[
            "airsign verify-attestation --key cosign.pub --type slsaprovenance registry.example.com/app:v1",
        ],
    ),
    ("sign-blob", &[]),
    ("verify-blob", &[]),
    (
        "triangulate",
        &[
            "airsign triangulate registry.example.com/app:v1",
            "airsign triangulate --type attestation registry.example.com/app:v1",
        ],
    ),
    (
        "export",
        &[
            "airsign export --to oci-archive:carry.tar registry.example.com/app:v1",
            "airsign export --all --to oci-archive:all.tar --compress zstd",
            "airsign export --all --to oci-archive:parts.tar --split 700M",
            "airsign export --format cosign --to saved registry.example.com/app:v1",
        ],
    ),
    ("signatures", &[]),
    (
        "clean",
        &[
            "airsign clean --type attestation -f registry.example.com/app:v1",
            "airsign clean -f oci:layout:v1",
        ],
    ),
    ("gc", &["airsign gc", "airsign gc --json"]),
    (
        "sync",
        &[
            "airsign sync --dry-run registry.example.com/app:v1",
            "airsign sync --all --to 127.0.0.1:5000/mirror",
            "airsign sync --from oci-archive:carry.tar --all --map registry.example.com=registry.internal:5000",
        ],
    ),
    (
        "completion",
        &[
            "airsign completion bash > airsign.bash",
            "airsign completion zsh > _airsign",
            "airsign completion fish > airsign.fish",
        ],
    ),
    ("man", &["airsign man > airsign.1", "airsign man --dir ."]),
    (
        "pull",
        &[
            "airsign pull registry.example.com/app:v1",
            "airsign pull --platform linux/arm64 --creds user:pass registry.example.com/app:v1",
        ],
    ),
    // `airsign --help`: the whole trip, last here so that it runs on a store the
    // examples above filled
    (
        "",
        &[
            "airsign store init",
            "airsign import oci-archive:incoming.tar --repository registry.example.com/app",
            "airsign sign --key cosign.key registry.example.com/app:v1",
            "airsign verify --key cosign.pub registry.example.com/app:v1",
            "airsign export --all --to oci-archive:today.tar",
            "airsign sync --from oci-archive:today.tar --all --to registry.internal:5000",
        ],
    ),
];

/// The command line as clap knows it, with the examples in every command's help.
pub fn command() -> clap::Command {
    let mut cmd = crate::cli::Cli::command();
    for (path, examples) in EXAMPLES {
        if examples.is_empty() {
            continue;
        }
        let lines: Vec<String> = examples.iter().map(|e| layout(e)).collect();
        let text = format!("Examples:\n{}", lines.join("\n"));
        let path: Vec<&str> = path.split(' ').filter(|w| !w.is_empty()).collect();
        cmd = with_subcommand(cmd, &path, &text);
    }
    cmd
}

/// An example as printed: indented two spaces, broken with `\\` into lines that fit
/// 80 columns (clap would wrap them otherwise, and a wrapped line pasted into a
/// shell is two commands).
fn layout(example: &str) -> String {
    const WIDTH: usize = 78;
    let mut out = String::from("  ");
    let mut line = 2;
    for (i, word) in example.split(' ').enumerate() {
        if i > 0 && line + 1 + word.len() + 2 > WIDTH {
            out.push_str(" \\\n      ");
            line = 6;
        } else if i > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

/// `cmd` with `after_help` set on its subcommand at `path` (unless it has one).
fn with_subcommand(cmd: clap::Command, path: &[&str], text: &str) -> clap::Command {
    match path {
        [] if cmd.get_after_help().is_some() => cmd,
        [] => cmd.after_help(text.to_owned()),
        [first, rest @ ..] => {
            let text = text.to_owned();
            let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            cmd.mut_subcommand(*first, move |sub| {
                let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
                with_subcommand(sub, &rest, &text)
            })
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to complete in
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write airsign.1 and one page per command (airsign-sign.1, …) into DIR instead
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `airsign completion SHELL`: the script, on stdout (bash: `source <(airsign
/// completion bash)`, or save it where the shell looks).
pub fn completion(shell: clap_complete::Shell) -> Result<()> {
    // into memory first: the generators panic when their writer fails (`| head`)
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "airsign", &mut script);
    write_stdout(&script)
}

/// `airsign man [--dir DIR]`: the top-level page on stdout, or every page in DIR.
pub fn man(dir: Option<&Path>) -> Result<()> {
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command())
            .render(&mut page)
            .map_err(|e| Error::io("rendering the man page", e))?;
        return write_stdout(&page);
    };
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "--dir {}: no such directory",
            dir.display()
        )));
    }
    clap_mangen::generate_to(command(), dir)
        .map_err(|e| Error::io_path("writing man pages into", dir, e))?;
    eprintln!("man pages written to {}", dir.display());
    Ok(())
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(crate::ops::stdout_error)
}
