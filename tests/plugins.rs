//! Signer plugins: sigstore's KMS plugin protocol (`sigstore-kms-NAME` on `PATH`).
//!
//! The plugin is one the tests write: a bash program that speaks the protocol with
//! jq and signs with openssl, the key resource id being an openssl key file (EC,
//! RSA: PKCS#1 v1.5 over the digest, Ed25519: pure, over the message on stdin). It is
//! written for cosign — cosign 3.1.1 and 2.5 sign and verify through it — and the
//! same program, unchanged, signs for airsign; each side verifies the other's
//! signatures, and skopeo's policy judges an image signed through it.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::bed::Bed;
use common::gotools::ToolHome;
use common::registry::{Mode, Registry};
use common::*;
use serde_json::Value;
use sha2::Digest as _;
use tempfile::TempDir;

/// The plugin. `PLUGIN_LOG` (if set) gets one line per call: the two arguments.
/// For the failure tests: `PLUGIN_SIGN_WITH` signs with another key than the one
/// whose public key it reports, `PLUGIN_GARBAGE` answers something that is not JSON.
const PLUGIN: &str = r#"#!/bin/bash
set -u
JQ=@JQ@; OPENSSL=@OPENSSL@
[ -n "${PLUGIN_LOG:-}" ] && printf '%s\t%s\n' "$1" "$2" >> "$PLUGIN_LOG"
[ -n "${PLUGIN_GARBAGE:-}" ] && { echo "this is not JSON"; exit 0; }
req=$2
answer() { "$JQ" -cn "$@"; exit 0; }
fail() { "$JQ" -cn --arg m "$1" '{errorMessage:$m}'; exit 1; }
[ "$1" = v1 ] || fail "unsupported protocol version $1"
key=$("$JQ" -r .initOptions.keyResourceID <<<"$req")
method=$("$JQ" -r .methodName <<<"$req")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
kind() { # ec, rsa or ed25519: what the key file holds
  case $("$OPENSSL" pkey -in "$key" -noout -text 2>/dev/null | head -1) in
  ED25519*) echo ed25519 ;; *primes*) echo rsa ;; *) echo ec ;; esac
}
hash_name() { # Go's crypto.Hash number (hashFunc) as openssl names it
  case $1 in 6) echo sha384 ;; 7) echo sha512 ;; *) echo sha256 ;; esac
}
message_digest() { # the digest sent, or the hashFunc digest of stdin
  local d; d=$("$JQ" -r "$1.digest // empty" <<<"$req")
  local h; h=$(hash_name "$("$JQ" -r "$1.hashFunc // 5" <<<"$req")")
  if [ -n "$d" ]; then base64 -d <<<"$d" > "$tmp/d"
  else cat > "$tmp/m"; "$OPENSSL" dgst -"$h" -binary -out "$tmp/d" "$tmp/m"; fi
}
k=$(kind)
case $k in
rsa) alg=rsa-sign-pkcs1-2048-sha256; sign_opts=(-pkeyopt digest:sha256) ;;
ed25519) alg=ed25519; sign_opts=() ;;
*) alg=ecdsa-sha2-256-nistp256; sign_opts=() ;;
esac
case $method in
defaultAlgorithm) answer --arg a "$alg" '{defaultAlgorithm:{defaultAlgorithm:$a}}' ;;
supportedAlgorithms) answer --arg a "$alg" '{supportedAlgorithms:{supportedAlgorithms:[$a]}}' ;;
publicKey)
  "$OPENSSL" pkey -in "$key" -pubout -out "$tmp/pub" 2>/dev/null || fail "no such key: $key"
  answer --arg p "$(base64 -w0 "$tmp/pub")" '{publicKey:{publicKeyPEM:$p}}' ;;
signMessage)
  if [ "$k" = ed25519 ]; then # pure Ed25519: the message itself, on stdin
    [ -z "$("$JQ" -r '.signMessage.signOptions.messageOptions.digest // empty' <<<"$req")" ] \
      || fail "an Ed25519 key signs the message, not a digest"
    cat > "$tmp/m"
    "$OPENSSL" pkeyutl -sign -inkey "${PLUGIN_SIGN_WITH:-$key}" -rawin -in "$tmp/m" -out "$tmp/s" \
      2>/dev/null || fail "cannot sign with $key"
  else
    message_digest .signMessage.signOptions.messageOptions
    "$OPENSSL" pkeyutl -sign -inkey "${PLUGIN_SIGN_WITH:-$key}" "${sign_opts[@]}" -in "$tmp/d" \
      -out "$tmp/s" 2>/dev/null || fail "cannot sign with $key"
  fi
  answer --arg s "$(base64 -w0 "$tmp/s")" '{signMessage:{signature:$s}}' ;;
verifySignature)
  "$JQ" -r .verifySignature.signature <<<"$req" | base64 -d > "$tmp/s"
  if [ "$k" = ed25519 ]; then
    cat > "$tmp/m"
    "$OPENSSL" pkeyutl -verify -inkey "$key" -rawin -in "$tmp/m" -sigfile "$tmp/s" >/dev/null 2>&1 \
      || fail "invalid signature"
  else
    message_digest .verifySignature.verifyOptions.messageOptions
    "$OPENSSL" pkeyutl -verify -inkey "$key" "${sign_opts[@]}" -in "$tmp/d" -sigfile "$tmp/s" \
      >/dev/null 2>&1 || fail "invalid signature"
  fi
  answer '{verifySignature:{}}' ;;
*) fail "unknown method $method" ;;
esac
"#;

/// A directory holding the plugin (as `sigstore-kms-NAME` for each name asked for),
/// an openssl P-256 key, its public key, and the plugin's call log.
struct Plugin {
    tmp: TempDir,
    key: PathBuf,
    public: PathBuf,
    log: PathBuf,
}

impl Plugin {
    fn new(names: &[&str]) -> Option<Plugin> {
        Plugin::new_on(names, "P-256")
    }

    /// [`Plugin::new`] with a key on another curve (`P-384`, `P-521`).
    fn new_on(names: &[&str], curve: &str) -> Option<Plugin> {
        let param = format!("ec_paramgen_curve:{curve}");
        Plugin::new_genpkey(names, &["-algorithm", "EC", "-pkeyopt", &param])
    }

    /// [`Plugin::new`] with a key openssl makes by `genpkey ARGS` (RSA, Ed25519).
    fn new_genpkey(names: &[&str], genpkey: &[&str]) -> Option<Plugin> {
        let jq = need!(Tool::Jq)?;
        let openssl = need!(Tool::Openssl)?;
        let tmp = TempDir::new().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let script = PLUGIN
            .replace("@JQ@", s(&jq))
            .replace("@OPENSSL@", s(&openssl));
        for name in names {
            let program = bin.join(format!("sigstore-kms-{name}"));
            std::fs::write(&program, &script).unwrap();
            set_mode(&program, 0o755);
        }
        let key = tmp.path().join("key.pem");
        let public = tmp.path().join("key.pub");
        ok(Command::new(&openssl)
            .arg("genpkey")
            .args(genpkey)
            .arg("-out")
            .arg(&key));
        ok(Command::new(&openssl)
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public));
        let log = tmp.path().join("calls.log");
        Some(Plugin {
            tmp,
            key,
            public,
            log,
        })
    }

    /// `NAME://KEYFILE`.
    fn key_ref(&self, name: &str) -> String {
        format!("{name}://{}", self.key.display())
    }

    /// `PATH` with the plugin's directory first.
    fn path(&self) -> OsString {
        let mut dirs = vec![self.tmp.path().join("bin")];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).unwrap()
    }

    /// A command run with the plugin on `PATH` and its calls logged.
    fn with(&self, mut cmd: Command) -> Command {
        cmd.env("PATH", self.path()).env("PLUGIN_LOG", &self.log);
        cmd
    }

    /// `airsign sign-blob` through the plugin twice: a v0.3 bundle to `bundle`, and
    /// a bare signature (`--new-bundle-format=false`) to `sig`.
    fn sign_blob_both(&self, key: &str, blob: &Path, bundle: &Path, sig: &Path) {
        let sign = |format: &[&str]| {
            let mut cmd = self.with(airsign(["sign-blob", "--key", key]));
            ok(cmd.args(format).arg(blob));
        };
        sign(&["--bundle", s(bundle)]);
        sign(&["--new-bundle-format=false", "--output-signature", s(sig)]);
    }

    /// The logged calls: (protocol version, request).
    fn calls(&self) -> Vec<(String, Value)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (version, request) = l.split_once('\t').unwrap();
                (version.to_owned(), serde_json::from_str(request).unwrap())
            })
            .collect()
    }
}

fn new_openssl_key(openssl: &Path, out: &Path) {
    ok(Command::new(openssl)
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
        .arg("ec_paramgen_curve:P-256")
        .arg("-out")
        .arg(out));
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// cosign with the plugin on `PATH`, offline, its home in a temp dir.
fn cosign(plugin: &Plugin, home: &ToolHome, cosign: &Path, args: &[&str]) -> Output {
    run(plugin.with(home.cmd(cosign)).args(args))
}

/// A failed run: nothing on stdout, and one error line (after `sign`'s warning that
/// a tag is signed by the digest it names now).
fn assert_one_line_failure(out: &Output, want: &str) {
    let all = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded: {all}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    let stderr: Vec<&str> = all
        .lines()
        .filter(|l| !l.starts_with("WARNING: "))
        .collect();
    assert_eq!(stderr.len(), 1, "not one line: {all:?}");
    let stderr = stderr[0];
    assert!(stderr.starts_with("airsign: error: "), "{stderr}");
    assert!(stderr.contains(want), "expected {want:?} in {stderr:?}");
}

/// A blob signed through the plugin by airsign verifies with cosign 3.1.1 (bundle)
/// and cosign 2.5 (signature) against the key's public key and through the plugin;
/// cosign 2.5's plugin signature verifies with airsign through the plugin; the
/// calls airsign made are the protocol's, with the blob's digest sent, not the blob.
#[test]
fn a_plugin_written_for_cosign_signs_blobs_for_airsign_and_both_cosigns_agree() {
    let Some(p) = Plugin::new(&["airsigntest"]) else {
        return;
    };
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(cosign2) = need!(Tool::Cosign) else {
        return;
    };
    let home = ToolHome::new();
    let key = p.key_ref("airsigntest");
    let work = p.tmp.path();
    let blob = work.join("chart.tgz");
    std::fs::write(&blob, b"a chart, a SBOM or an ISO\n".repeat(1000)).unwrap();

    // public-key: the plugin's public key, as openssl writes it
    let printed = ok(&mut p.with(airsign(["public-key", "--key", &key])));
    assert_eq!(printed, std::fs::read_to_string(&p.public).unwrap());

    // airsign signs a bundle and a bare signature through the plugin
    let bundle = work.join("blob.bundle");
    let sig = work.join("blob.sig");
    p.sign_blob_both(&key, &blob, &bundle, &sig);
    for verify_key in [s(&p.public), &key] {
        let out = cosign(
            &p,
            &home,
            &cosign3,
            &[
                "verify-blob",
                "--key",
                verify_key,
                "--insecure-ignore-tlog",
                "--bundle",
                s(&bundle),
                s(&blob),
            ],
        );
        assert!(
            out.status.success(),
            "cosign 3.1.1 with {verify_key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = cosign(
            &p,
            &home,
            &cosign2,
            &[
                "verify-blob",
                "--key",
                verify_key,
                "--insecure-ignore-tlog",
                "--signature",
                s(&sig),
                s(&blob),
            ],
        );
        assert!(
            out.status.success(),
            "cosign 2.5 with {verify_key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // what airsign sent: protocol v1, the key resource id, and for the blob its
    // SHA-256 in messageOptions (streamed here, never sent whole)
    let calls = p.calls();
    assert!(!calls.is_empty());
    let want_digest = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(std::fs::read(&blob).unwrap()));
    let mut signed = 0;
    for (version, request) in &calls {
        assert_eq!(version, "v1");
        assert_eq!(request["initOptions"]["protocolVersion"], "v1");
        assert_eq!(request["initOptions"]["keyResourceID"], s(&p.key));
        assert_eq!(request["initOptions"]["hashFunc"], 5);
        if request["methodName"] == "signMessage" {
            let options = &request["signMessage"]["signOptions"]["messageOptions"];
            assert_eq!(options["digest"], want_digest.as_str(), "{request}");
            signed += 1;
        }
    }
    assert_eq!(signed, 2, "{calls:?}");

    // cosign 2.5 signs through the same plugin; airsign verifies through it
    std::fs::remove_file(&p.log).unwrap();
    let theirs = work.join("theirs.sig");
    let out = cosign(
        &p,
        &home,
        &cosign2,
        &[
            "sign-blob",
            "--key",
            &key,
            "--tlog-upload=false",
            "--output-signature",
            s(&theirs),
            "-y",
            s(&blob),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!p.calls().is_empty(), "cosign did not call the plugin");
    for verify_key in [s(&p.public), &key] {
        let out = run(&mut p.with(airsign([
            "verify-blob",
            "--key",
            verify_key,
            "--signature",
            s(&theirs),
            s(&blob),
        ])));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // ...and not for another file
    let other = work.join("other");
    std::fs::write(&other, b"something else").unwrap();
    let out = run(&mut p.with(airsign([
        "verify-blob",
        "--key",
        &key,
        "--signature",
        s(&theirs),
        s(&other),
    ])));
    assert!(!out.status.success());
}

/// An image signed through the plugin in a layout verifies offline with airsign,
/// and after `sync` with cosign 3.1.1, cosign 2.5 and skopeo's sigstore policy.
#[test]
fn an_image_signed_through_a_plugin_verifies_with_cosign_and_skopeo_after_sync() {
    let Some(p) = Plugin::new(&["airsigntest"]) else {
        return;
    };
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    let Some(cosign2) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let Some(dst) = Registry::start(Mode::Plain) else {
        return;
    };
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    let image = "registry.example.com/demo/app:v1";
    let key = p.key_ref("airsigntest");
    let identity = format!("{}/demo/app", dst.host());
    ok(&mut p.with(bed.cmd(&["sign", "--key", &key, "--identity", &identity, image])));
    ok(&mut bed.cmd(&["verify", "--key", s(&p.public), image]));
    ok(&mut p.with(bed.cmd(&["verify", "--key", &key, image])));
    ok(&mut bed.cmd(&["sync", image, "--to", &dst.host(), "--plain-http"]));

    for judge in [&cosign3, &cosign2] {
        common::verifiers::assert_cosign_verifies(judge, &dst, &p.public, "demo/app:v1");
    }
    common::verifiers::skopeo_policy_verify(&skopeo, &dst, &p.public, "demo/app:v1", false)
        .unwrap();
}

/// A plugin that reports an error, answers garbage, or signs with another key than
/// the one it reports: one line, non-zero, and nothing written (the layout's
/// index.json is byte-identical, no output file appears).
#[test]
fn a_failing_plugin_is_one_line_and_writes_nothing() {
    let Some(p) = Plugin::new(&["airsigntest"]) else {
        return;
    };
    let openssl = need!(Tool::Openssl).unwrap();
    let other_key = p.tmp.path().join("other.pem");
    new_openssl_key(&openssl, &other_key);
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    let image = "registry.example.com/demo/app:v1";
    let blob = bed.path("blob");
    std::fs::write(&blob, b"payload").unwrap();
    let before = std::fs::read(bed.store.join("index.json")).unwrap();
    let missing = format!("airsigntest://{}", p.tmp.path().join("nope.pem").display());
    let key = p.key_ref("airsigntest");
    // (key, what the error says, the plugin's misbehaviour)
    type Case<'a> = (&'a str, &'a str, Option<(&'a str, OsString)>);
    let cases: [Case; 3] = [
        (&missing, "the plugin says: no such key", None),
        (&key, "not JSON", Some(("PLUGIN_GARBAGE", "1".into()))),
        (
            &key,
            "does not verify with the key's public key",
            Some(("PLUGIN_SIGN_WITH", other_key.clone().into_os_string())),
        ),
    ];
    for (key, want, env) in cases {
        let bundle = bed.path("out.bundle");
        for args in [
            vec!["sign", "--key", key, image],
            vec!["sign-blob", "--key", key, "--bundle", s(&bundle), s(&blob)],
        ] {
            let mut cmd = p.with(bed.cmd(&args));
            if let Some((var, value)) = &env {
                cmd.env(var, value);
            }
            assert_one_line_failure(&run(&mut cmd), want);
            assert_eq!(
                std::fs::read(bed.store.join("index.json")).unwrap(),
                before,
                "{args:?} changed the layout"
            );
            assert!(!bundle.exists(), "{args:?} wrote {}", bundle.display());
        }
    }
}

/// cosign's KMS schemes go to a plugin of that name when one is installed, and
/// without one keep their clear error, which names the plugin to install.
#[test]
fn kms_schemes_go_to_a_plugin_when_one_is_installed() {
    let Some(p) = Plugin::new(&["awskms"]) else {
        return;
    };
    let key = p.key_ref("awskms");
    let printed = ok(&mut p.with(airsign(["public-key", "--key", &key])));
    assert_eq!(printed, std::fs::read_to_string(&p.public).unwrap());
    assert!(
        p.calls()
            .iter()
            .all(|(_, r)| r["methodName"] == "publicKey")
    );

    // Regression: `sign` refused cosign's KMS schemes by name before looking for a
    // plugin, so `sign --key awskms://…` failed where `public-key` and `sign-blob`
    // went to the installed plugin.
    let bed = Bed::new();
    bed.import("single", "registry.example.com/demo/app");
    let image = "registry.example.com/demo/app:v1";
    ok(&mut p.with(bed.cmd(&["sign", "--key", &key, image])));
    ok(&mut bed.cmd(&["verify", "--key", s(&p.public), image]));

    // no plugin for these: the error says so, on one line, before anything is read
    for scheme in ["gcpkms", "azurekms", "hashivault", "k8s", "awskms"] {
        let reference = format!("{scheme}://projects/p/keys/k");
        let out = run(airsign(["public-key", "--key", &reference])
            .env("PATH", "/nonexistent")
            .env("HOME", p.tmp.path()));
        assert_one_line_failure(&out, &format!("sigstore-kms-{scheme}"));
        let out = run(bed
            .cmd(&["sign", "--key", &reference, image])
            .env("PATH", "/nonexistent"));
        assert_one_line_failure(&out, &format!("sigstore-kms-{scheme}"));
    }
}

/// A plugin whose key is on P-384 (or P-521) is asked for that curve's hash
/// (`hashFunc` 6 or 7, the digest SHA-384 or SHA-512 of the blob), and what it signs
/// through airsign verifies with cosign 3.1.1 (told the hash) and airsign.
#[test]
fn a_plugin_key_on_p384_or_p521_signs_over_its_curves_hash() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    for (curve, go_hash, hash) in [("P-384", 6, "sha384"), ("P-521", 7, "sha512")] {
        let Some(p) = Plugin::new_on(&["airsigntest"], curve) else {
            return;
        };
        let home = ToolHome::new();
        let key = p.key_ref("airsigntest");
        let work = p.tmp.path();
        let blob = work.join("notes.txt");
        std::fs::write(&blob, b"signed behind a plugin on a bigger curve\n").unwrap();
        let printed = ok(&mut p.with(airsign(["public-key", "--key", &key])));
        assert_eq!(printed, std::fs::read_to_string(&p.public).unwrap());
        let bundle = work.join("notes.bundle");
        ok(&mut p.with(airsign([
            "sign-blob",
            "--key",
            &key,
            "--bundle",
            s(&bundle),
            s(&blob),
        ])));
        let out = cosign(
            &p,
            &home,
            &cosign3,
            &[
                "verify-blob",
                "--key",
                s(&p.public),
                "--insecure-ignore-tlog",
                "--signature-digest-algorithm",
                hash,
                "--bundle",
                s(&bundle),
                s(&blob),
            ],
        );
        assert!(
            out.status.success(),
            "cosign 3.1.1, {curve}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ok(&mut p.with(airsign([
            "verify-blob",
            "--key",
            s(&p.public),
            "--bundle",
            s(&bundle),
            s(&blob),
        ])));
        let signs: Vec<_> = p
            .calls()
            .into_iter()
            .filter(|(_, r)| r["methodName"] == "signMessage")
            .collect();
        assert_eq!(signs.len(), 1, "{signs:?}");
        let options = &signs[0].1["signMessage"]["signOptions"]["messageOptions"];
        assert_eq!(options["hashFunc"], go_hash, "{options}");
        let digest = base64::engine::general_purpose::STANDARD
            .decode(options["digest"].as_str().unwrap())
            .unwrap();
        let want = std::fs::read(&blob).unwrap();
        let want = match curve {
            "P-384" => sha2::Sha384::digest(&want).to_vec(),
            _ => sha2::Sha512::digest(&want).to_vec(),
        };
        assert_eq!(digest, want, "{curve}");
    }
}

/// The `signMessage` calls logged since the log was last cleared: each call's
/// `messageOptions`.
fn sign_options(p: &Plugin) -> Vec<Value> {
    p.calls()
        .into_iter()
        .filter(|(_, r)| r["methodName"] == "signMessage")
        .map(|(_, r)| r["signMessage"]["signOptions"]["messageOptions"].clone())
        .collect()
}

/// Plugin keys that are RSA 2048 (PKCS#1 v1.5: the plugin signs the SHA-256 digest
/// airsign sends, `hashFunc` 5, as cosign 3.1.1 asks it) and Ed25519 (pure: `hashFunc`
/// 0 and the message on stdin, as cosign 3.1.1 asks it): a blob and an image signed
/// through the plugin by airsign verify with airsign and, with the public key, with
/// cosign 3.1.1 where it can (RSA: bundle and signature; Ed25519: the bare signature,
/// its offline Ed25519 bundle being one it cannot judge, see tests/algorithms.rs;
/// the image's `.sig` and bundle after a sync);
/// what cosign 3.1.1 signs through the same plugin verifies with airsign.
#[test]
fn plugin_keys_that_are_rsa_or_ed25519_sign_blobs_and_images() {
    let Some(cosign3) = need!(Tool::Cosign3) else {
        return;
    };
    for (kind, genpkey, go_hash) in [
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
            5,
        ),
        ("ed25519", &["-algorithm", "ED25519"][..], 0),
    ] {
        let Some(p) = Plugin::new_genpkey(&["airsigntest"], genpkey) else {
            return;
        };
        let Some(dst) = Registry::start(Mode::Plain) else {
            return;
        };
        let home = ToolHome::new();
        let key = p.key_ref("airsigntest");
        let work = p.tmp.path();
        let blob = work.join("notes.txt");
        std::fs::write(&blob, b"signed behind a plugin with RSA or Ed25519\n").unwrap();
        let printed = ok(&mut p.with(airsign(["public-key", "--key", &key])));
        assert_eq!(printed, std::fs::read_to_string(&p.public).unwrap());

        // airsign signs: a bundle and a bare signature
        let _ = std::fs::remove_file(&p.log);
        let bundle = work.join("notes.bundle");
        let sig = work.join("notes.sig");
        p.sign_blob_both(&key, &blob, &bundle, &sig);
        let ours = sign_options(&p);
        assert_eq!(ours.len(), 2, "{kind}: {ours:?}");
        for options in &ours {
            assert_eq!(options["hashFunc"], go_hash, "{kind}: {options}");
            if kind == "rsa" {
                let digest = base64::engine::general_purpose::STANDARD
                    .decode(options["digest"].as_str().unwrap())
                    .unwrap();
                let want = sha2::Sha256::digest(std::fs::read(&blob).unwrap()).to_vec();
                assert_eq!(digest, want);
            } else {
                assert!(options.get("digest").is_none(), "{kind}: {options}");
            }
        }
        for (how, evidence, cosign_can) in [
            ("--bundle", &bundle, kind == "rsa"),
            ("--signature", &sig, true),
        ] {
            ok(&mut p.with(airsign([
                "verify-blob",
                "--key",
                s(&p.public),
                how,
                s(evidence),
                s(&blob),
            ])));
            let out = cosign(
                &p,
                &home,
                &cosign3,
                &[
                    "verify-blob",
                    "--key",
                    s(&p.public),
                    "--insecure-ignore-tlog",
                    how,
                    s(evidence),
                    s(&blob),
                ],
            );
            assert_eq!(
                out.status.success(),
                cosign_can,
                "cosign 3.1.1 {kind} {how}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        // the protocol cannot ask a plugin for PSS: refused in one line, nothing written
        if kind == "rsa" {
            let refused = work.join("pss.bundle");
            let out = run(&mut p.with(airsign([
                "sign-blob",
                "--key",
                &key,
                "--signing-algorithm",
                "rsa-sign-pss-2048-sha256",
                "--bundle",
                s(&refused),
                s(&blob),
            ])));
            assert_one_line_failure(&out, "the plugin key is RSA 2048");
            assert!(!refused.exists());
        }

        // cosign 3.1.1 signs through the same plugin: what it asks for, and airsign
        // verifies what it signed
        std::fs::remove_file(&p.log).unwrap();
        let theirs = work.join("theirs.sig");
        let out = cosign(
            &p,
            &home,
            &cosign3,
            &[
                "sign-blob",
                "--key",
                &key,
                "--tlog-upload=false",
                "--use-signing-config=false",
                "--new-bundle-format=false",
                "--output-signature",
                s(&theirs),
                "-y",
                s(&blob),
            ],
        );
        assert!(
            out.status.success(),
            "cosign 3.1.1 sign-blob {kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs_options = sign_options(&p);
        assert_eq!(theirs_options.len(), 1, "{kind}: {theirs_options:?}");
        // cosign 3.1.1 names no hashFunc in messageOptions (initOptions.hashFunc is 5,
        // as airsign's, for every key): for RSA it sends the blob's SHA-256, the
        // digest airsign sends; for Ed25519 a null digest and the blob on stdin, as
        // airsign does (airsign also says hashFunc 0, which a plugin may ignore)
        assert!(
            theirs_options[0].get("hashFunc").is_none(),
            "{kind}: {theirs_options:?}"
        );
        if kind == "rsa" {
            assert_eq!(theirs_options[0]["digest"], ours[0]["digest"]);
        } else {
            assert!(theirs_options[0]["digest"].is_null(), "{theirs_options:?}");
        }
        for (_, request) in p.calls() {
            assert_eq!(request["initOptions"]["hashFunc"], 5, "{kind}: {request}");
        }
        ok(&mut p.with(airsign([
            "verify-blob",
            "--key",
            s(&p.public),
            "--signature",
            s(&theirs),
            s(&blob),
        ])));

        // an image, signed through the plugin
        let bed = common::bed::Bed::new();
        let image = "registry.example.com/demo/app:v1";
        bed.import("single", "registry.example.com/demo/app");
        ok(&mut p.with(bed.cmd(&["sign", "--key", &key, "--new-bundle-format=both", image])));
        ok(&mut bed.cmd(&["verify", "--key", s(&p.public), image]));
        let (_, wrong) = bed.keys("wrong");
        bed.assert_no_signature_of(&wrong, image);
        ok(&mut bed.cmd(&["sync", image, "--to", &dst.host(), "--plain-http"]));
        let there = format!("{}/demo/app:v1", dst.host());
        for bundle_format in ["--new-bundle-format=true", "--new-bundle-format=false"] {
            let out = run(home
                .cmd(&cosign3)
                .args([
                    "verify",
                    "--insecure-ignore-tlog=true",
                    bundle_format,
                    "--key",
                ])
                .arg(&p.public)
                .arg(&there));
            assert!(
                out.status.success(),
                "cosign 3.1.1 verify {kind} {bundle_format}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
