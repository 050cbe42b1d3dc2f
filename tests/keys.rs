//! The key commands against the real tools: keys airsign writes are read by cosign
//! and used by skopeo to sign; keys cosign, skopeo and openssl write are read by
//! airsign; and every malformed input fails with one line, writing nothing.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use sha2::{Digest as _, Sha256};

const LEGACY: &str = "keys/cosign-legacy";

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `airsign generate-key-pair` in `dir` with `COSIGN_PASSWORD=password`; returns the
/// paths of PREFIX.key and PREFIX.pub.
fn generate(dir: &Path, prefix: &str, password: &str) -> (PathBuf, PathBuf) {
    let out = run(
        airsign(["generate-key-pair", "--output-key-prefix", prefix])
            .current_dir(dir)
            .env("COSIGN_PASSWORD", password),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!("Private key written to {prefix}.key\nPublic key written to {prefix}.pub\n")
    );
    assert!(out.stdout.is_empty());
    (
        dir.join(format!("{prefix}.key")),
        dir.join(format!("{prefix}.pub")),
    )
}

/// `airsign public-key --key KEYREF` with `COSIGN_PASSWORD=password`.
fn public_key(keyref: impl AsRef<std::ffi::OsStr>, password: &str) -> Output {
    run(airsign([
        std::ffi::OsStr::new("public-key"),
        "--key".as_ref(),
        keyref.as_ref(),
    ])
    .env("COSIGN_PASSWORD", password))
}

/// Runs `cmd` with `input` on stdin.
fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A failed airsign run: exit 1 or 2, nothing on stdout, exactly one line on
/// stderr, containing `want`. Returns the line.
fn assert_one_line_failure(out: &Output, want: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "should have failed; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("airsign: error: "), "{stderr}");
    assert!(stderr.contains(want), "expected {want:?} in {stderr:?}");
    stderr
}

/// The JSON inside a cosign private key PEM.
fn envelope_json(pem: &[u8]) -> String {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    String::from_utf8(B64.decode(body).unwrap()).unwrap()
}

/// A cosign private key PEM around `json` (64-column lines, as Go writes).
fn envelope_pem(label: &str, json: &str) -> String {
    let b64 = B64.encode(json);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The JSON with every random base64 value replaced by its length: what must be
/// identical between airsign's and cosign's keys.
fn shape(json: &str) -> String {
    let mut out = json.to_string();
    for field in ["salt", "nonce", "ciphertext"] {
        let open = format!("\"{field}\":\"");
        let start = out.find(&open).unwrap() + open.len();
        let end = start + out[start..].find('"').unwrap();
        let len = out[start..end].len();
        out.replace_range(start..end, &format!("<{len}>"));
    }
    out
}

fn line_lengths(text: &[u8]) -> Vec<usize> {
    std::str::from_utf8(text)
        .unwrap()
        .split('\n')
        .map(str::len)
        .collect()
}

// ---------------------------------------------------------------------------
// 1. cosign reads what airsign generates

#[test]
fn cosign_reads_a_generated_key_and_prints_the_same_public_key() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let dir = tempdir();
    let (key, public) = generate(dir.path(), "P", "correct horse");
    assert_eq!(mode(&key), 0o600);
    let pub_bytes = std::fs::read(&public).unwrap();
    assert!(pub_bytes.starts_with(b"-----BEGIN PUBLIC KEY-----\n"));

    let printed = ok(Command::new(&cosign)
        .args(["public-key", "--key"])
        .arg(&key)
        .env("COSIGN_PASSWORD", "correct horse"));
    assert_eq!(printed.as_bytes(), pub_bytes.as_slice());
    // Control: cosign really decrypts it (a wrong password fails).
    let err = fails(
        Command::new(&cosign)
            .args(["public-key", "--key"])
            .arg(&key)
            .env("COSIGN_PASSWORD", "correct horsE"),
    );
    assert!(err.contains("decryption failed"), "{err}");
}

#[test]
fn a_generated_key_has_the_exact_shape_of_a_cosign_key() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let dir = tempdir();
    let (ours, _) = generate(dir.path(), "ours", "pw");
    ok(Command::new(&cosign)
        .args(["generate-key-pair", "--output-key-prefix", "theirs"])
        .current_dir(dir.path())
        .env("COSIGN_PASSWORD", "pw")
        .stdin(Stdio::null()));
    let ours = std::fs::read(ours).unwrap();
    let theirs = std::fs::read(dir.path().join("theirs.key")).unwrap();
    // Same label, same PEM wrapping, same length, same JSON with the same key order.
    assert_eq!(line_lengths(&ours), line_lengths(&theirs));
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(
        ours.split(|&b| b == b'\n').next(),
        theirs.split(|&b| b == b'\n').next()
    );
    let (ours, theirs) = (envelope_json(&ours), envelope_json(&theirs));
    assert_eq!(shape(&ours), shape(&theirs));
    assert_eq!(
        shape(&ours),
        r#"{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<44>"},"cipher":{"name":"nacl/secretbox","nonce":"<32>"},"ciphertext":"<208>"}"#
    );
}

// ---------------------------------------------------------------------------
// 2. skopeo signs with what airsign generates

/// A one-image OCI layout at `dir`, tagged `v1`.
fn write_oci_layout(dir: &Path) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let layer = b"airsign keys test layer";
    let (layer_digest, layer_size) = put(layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
    );
    let (config_digest, config_size) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{layer_size}}}]}}"#
    );
    let (manifest_digest, manifest_size) = put(manifest.as_bytes());
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Signs the layout with skopeo into a `dir:` destination. `dir:` keeps sigstore
/// signatures (`signature-1`), so no registry is needed; `--sign-identity` names the
/// image, since a `dir:` has no Docker reference of its own.
fn skopeo_sign(skopeo: &Path, work: &Path, key: &Path, passphrase: &[u8], out: &str) -> Output {
    std::fs::write(
        work.join("accept.json"),
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    std::fs::write(work.join("passphrase"), passphrase).unwrap();
    run(Command::new(skopeo)
        .current_dir(work)
        .args([
            "--policy",
            "accept.json",
            "copy",
            "--sign-identity",
            IDENTITY,
        ])
        .arg("--sign-by-sigstore-private-key")
        .arg(key)
        .args(["--sign-passphrase-file", "passphrase", "oci:layout:v1"])
        .arg(format!("dir:{out}")))
}

const IDENTITY: &str = "example.com/airsign/keys:v1";

/// Copies the signed `dir:` image under a policy that requires a sigstore
/// signature by `public_key` for IDENTITY.
fn skopeo_verify(skopeo: &Path, work: &Path, signed: &str, public_key: &Path) -> Output {
    let policy = format!(
        r#"{{"default":[{{"type":"reject"}}],"transports":{{"dir":{{"":[{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{{"type":"exactReference","dockerReference":"{IDENTITY}"}}}}]}}}}}}"#,
        public_key.display()
    );
    std::fs::write(work.join("require.json"), policy).unwrap();
    let check = work.join(format!("{signed}-checked"));
    let _ = std::fs::remove_dir_all(&check);
    run(Command::new(skopeo)
        .current_dir(work)
        .args(["--policy", "require.json", "copy", "--remove-signatures"])
        .arg(format!("dir:{signed}"))
        .arg(format!("dir:{}", check.display())))
}

#[test]
fn skopeo_signs_with_a_generated_key_and_the_signature_verifies_with_its_pub() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let work = tempdir();
    let work = work.path();
    write_oci_layout(&work.join("layout"));
    let (key, public) = generate(work, "signer", "s3cret");
    let (_, other_public) = generate(work, "other", "s3cret");

    // skopeo's passphrase file: its first line, without the newline.
    let signed = skopeo_sign(&skopeo, work, &key, b"s3cret\n", "signed");
    let stderr = String::from_utf8_lossy(&signed.stderr);
    assert!(signed.status.success(), "skopeo could not sign: {stderr}");
    let signature = std::fs::read(work.join("signed/signature-1")).unwrap();
    assert!(signature.starts_with(b"\0sigstore-json\n"), "{signature:?}");

    let verified = skopeo_verify(&skopeo, work, "signed", &public);
    assert!(
        verified.status.success(),
        "skopeo rejected the signature: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
    // Controls: another key's pub is rejected, and a wrong passphrase cannot sign.
    let wrong_key = skopeo_verify(&skopeo, work, "signed", &other_public);
    assert!(!wrong_key.status.success());
    assert!(String::from_utf8_lossy(&wrong_key.stderr).contains("invalid signature"));
    let wrong_pass = skopeo_sign(&skopeo, work, &key, b"s3creT\n", "unsigned");
    assert!(!wrong_pass.status.success());
    assert!(
        String::from_utf8_lossy(&wrong_pass.stderr).contains("decryption failed"),
        "{}",
        String::from_utf8_lossy(&wrong_pass.stderr)
    );
}

// ---------------------------------------------------------------------------
// 3. airsign reads what cosign and skopeo generate

#[test]
fn reads_a_key_cosign_generated() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let dir = tempdir();
    ok(Command::new(&cosign)
        .arg("generate-key-pair")
        .current_dir(dir.path())
        .env("COSIGN_PASSWORD", "from cosign")
        .stdin(Stdio::null()));
    let out = public_key(dir.path().join("cosign.key"), "from cosign");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        std::fs::read(dir.path().join("cosign.pub")).unwrap()
    );
}

#[test]
fn reads_a_key_skopeo_generated() {
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let dir = tempdir();
    std::fs::write(dir.path().join("passphrase"), "from skopeo\n").unwrap();
    ok(Command::new(&skopeo)
        .args(["generate-sigstore-key", "--output-prefix", "sk"])
        .args(["--passphrase-file", "passphrase"])
        .current_dir(dir.path()));
    let key = dir.path().join("sk.private");
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED COSIGN")
    );
    let out = public_key(&key, "from skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        std::fs::read(dir.path().join("sk.pub")).unwrap()
    );
}

// ---------------------------------------------------------------------------
// 4. cosign's own test-suite keys

#[test]
fn legacy_cosign_keys_load_and_print_what_cosign_prints() {
    for name in ["cosign-label-n32768", "sigstore-label"] {
        let key = fixtures().join(LEGACY).join(format!("{name}.key"));
        let out = public_key(&key, "hello");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The .pub next to it is what the real cosign printed.
        let want = std::fs::read(fixtures().join(LEGACY).join(format!("{name}.pub"))).unwrap();
        assert_eq!(out.stdout, want, "{name}");
    }
}

#[test]
fn a_sec1_plaintext_is_refused_like_cosign_refuses_it() {
    let key = fixtures().join(LEGACY).join("sec1-plaintext-rejected.key");
    let out = public_key(&key, "hello");
    assert_one_line_failure(&out, "SEC1 EC key, not PKCS#8");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_wrong_password_is_one_clear_error_with_exit_1() {
    let key = fixtures().join(LEGACY).join("sigstore-label.key");
    let out = public_key(&key, "hello!");
    assert_one_line_failure(&out, "wrong password");
    assert_eq!(out.status.code(), Some(1));
}

// ---------------------------------------------------------------------------
// 5. malformed input

/// A valid airsign key's PEM (password "pw") to mutate.
fn good_key_pem(dir: &Path) -> Vec<u8> {
    let (key, _) = generate(dir, "good", "pw");
    std::fs::read(key).unwrap()
}

#[test]
fn malformed_keys_fail_with_one_line_and_write_nothing() {
    let dir = tempdir();
    let good = good_key_pem(dir.path());
    let json = envelope_json(&good);
    let label = "ENCRYPTED SIGSTORE PRIVATE KEY";
    let salt = {
        let start = json.find("\"salt\":\"").unwrap() + 8;
        json[start..start + json[start..].find('"').unwrap()].to_string()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.key",
            good[..good.len() / 2].to_vec(),
            "truncated PEM",
        ),
        (
            "garbage.key",
            format!("-----BEGIN {label}-----\n%%%% not base64 %%%%\n-----END {label}-----\n")
                .into_bytes(),
            "not valid base64",
        ),
        (
            "huge-n.key",
            envelope_pem(label, &json.replace("\"N\":65536", "\"N\":1048576")).into_bytes(),
            "unsupported scrypt parameters N=1048576 r=8 p=1",
        ),
        (
            "argon.key",
            envelope_pem(
                label,
                &json.replace("\"name\":\"scrypt\"", "\"name\":\"argon2\""),
            )
            .into_bytes(),
            "unsupported kdf \"argon2\"",
        ),
        (
            "short-salt.key",
            envelope_pem(label, &json.replace(&salt, &B64.encode([7u8; 16]))).into_bytes(),
            "salt is 16 bytes, expected 32",
        ),
        (
            "not-json.key",
            envelope_pem(label, "{\"kdf\":{\"name\":").into_bytes(),
            "malformed cosign private key JSON",
        ),
        ("empty.key", Vec::new(), "empty file"),
        ("text.key", b"hello\n".to_vec(), "not a PEM file"),
    ];
    for (name, bytes, _) in &cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    std::fs::copy(dir.path().join("good.pub"), dir.path().join("public.pem")).unwrap();
    let before = snapshot(dir.path());

    let all = cases.iter().map(|(name, _, want)| (*name, *want)).chain([
        ("public.pem", "the PEM label is \"PUBLIC KEY\""),
        ("missing.key", "opening key"),
    ]);
    for (name, want) in all {
        let start = std::time::Instant::now();
        let out = run(
            airsign(["public-key", "--key", name, "--outfile", "out.pub"])
                .current_dir(dir.path())
                .env("COSIGN_PASSWORD", "pw"),
        );
        assert_one_line_failure(&out, want);
        if name == "huge-n.key" {
            // Refused before scrypt: N=2^20 would need 1 GiB and seconds.
            assert!(start.elapsed() < std::time::Duration::from_secs(1));
        }
        // import-key-pair refuses the same inputs (its own messages) and writes nothing.
        let out = run(
            airsign(["import-key-pair", "--key", name, "-o", "imported"])
                .current_dir(dir.path())
                .env("COSIGN_PASSWORD", "pw"),
        );
        assert!(!out.status.success(), "import accepted {name}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a refused command wrote something"
    );
}

#[test]
fn generate_into_a_missing_directory_fails_and_writes_nothing() {
    let dir = tempdir();
    let before = snapshot(dir.path());
    let out = run(
        airsign(["generate-key-pair", "--output-key-prefix", "no/such/dir/k"])
            .current_dir(dir.path())
            .env("COSIGN_PASSWORD", "pw"),
    );
    assert_one_line_failure(&out, "no/such/dir/");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn unsupported_key_references_are_refused() {
    let out = public_key("awskms://alias/signing", "pw");
    assert_one_line_failure(&out, "awskms:// is not supported");
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------------------
// 6. overwriting

#[test]
fn generate_refuses_to_overwrite_without_yes_and_replaces_with_it() {
    let dir = tempdir();
    let (key, public) = generate(dir.path(), "P", "pw");
    let before = snapshot(dir.path());

    let again = || {
        airsign(["generate-key-pair", "--output-key-prefix", "P"])
            .current_dir(dir.path())
            .env("COSIGN_PASSWORD", "pw2")
            .output()
            .unwrap()
    };
    assert_one_line_failure(
        &again(),
        "P.key already exists (pass --yes to overwrite it)",
    );
    assert_eq!(snapshot(dir.path()), before);

    // A lone P.pub is protected too, and nothing else is written.
    std::fs::remove_file(&key).unwrap();
    let only_pub = snapshot(dir.path());
    assert_one_line_failure(&again(), "P.pub already exists");
    assert_eq!(snapshot(dir.path()), only_pub);

    // With --yes both are replaced by a new key pair.
    let old_pub = std::fs::read(&public).unwrap();
    std::fs::write(&key, "old").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(
        airsign(["generate-key-pair", "--output-key-prefix", "P", "--yes"])
            .current_dir(dir.path())
            .env("COSIGN_PASSWORD", "pw2"),
    );
    assert_eq!(mode(&key), 0o600);
    assert_ne!(std::fs::read(&public).unwrap(), old_pub);
    let out = public_key(&key, "pw2");
    assert_eq!(out.stdout, std::fs::read(&public).unwrap());
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

// ---------------------------------------------------------------------------
// 7. import-key-pair of keys openssl writes

fn openssl(openssl: &Path, dir: &Path, args: &[&str]) {
    ok(Command::new(openssl)
        .args(args)
        .current_dir(dir)
        .env("OPENSSL_PW", "imp0rt"));
}

#[test]
fn imports_pkcs8_sec1_and_encrypted_openssl_keys() {
    let Some(openssl_bin) = need!(Tool::Openssl) else {
        return;
    };
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let ossl = |args: &[&str]| openssl(&openssl_bin, d, args);
    ossl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "sec1.pem",
    ]);
    ossl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        "sec1.pem",
        "-out",
        "pkcs8.pem",
    ]);
    ossl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-passout",
        "env:OPENSSL_PW",
        "-in",
        "sec1.pem",
        "-out",
        "encrypted.pem",
    ]);
    ossl(&["pkey", "-in", "sec1.pem", "-pubout", "-out", "want.pub"]);
    let want = std::fs::read(d.join("want.pub")).unwrap();
    assert!(
        std::fs::read_to_string(d.join("sec1.pem"))
            .unwrap()
            .contains("EC PRIVATE KEY")
    );
    assert!(
        std::fs::read_to_string(d.join("encrypted.pem"))
            .unwrap()
            .contains("ENCRYPTED")
    );

    for input in ["sec1", "pkcs8", "encrypted"] {
        let out = run(
            airsign(["import-key-pair", "--key", &format!("{input}.pem")])
                .args(["--output-key-prefix", input])
                .current_dir(d)
                .env("AIRSIGN_IMPORT_PASSWORD", "imp0rt")
                .env("COSIGN_PASSWORD", "new password"),
        );
        assert!(
            out.status.success(),
            "{input}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(d.join(format!("{input}.pub"))).unwrap(),
            want,
            "{input}"
        );
        let key = d.join(format!("{input}.key"));
        assert_eq!(mode(&key), 0o600);
        let printed = ok(Command::new(&cosign)
            .args(["public-key", "--key"])
            .arg(&key)
            .env("COSIGN_PASSWORD", "new password"));
        assert_eq!(
            printed.as_bytes(),
            want.as_slice(),
            "cosign reading {input}.key"
        );
    }

    // The encrypted key needs its own password, and never from stdin.
    let before = snapshot(d);
    let import = |env_password: Option<&str>| {
        let mut cmd = airsign(["import-key-pair", "--key", "encrypted.pem", "-o", "again"]);
        cmd.current_dir(d).env("COSIGN_PASSWORD", "new");
        match env_password {
            Some(p) => cmd.env("AIRSIGN_IMPORT_PASSWORD", p),
            None => cmd.env_remove("AIRSIGN_IMPORT_PASSWORD"),
        };
        cmd.output().unwrap()
    };
    assert_one_line_failure(&import(Some("imp0rT")), "wrong password");
    assert_one_line_failure(&import(None), "set AIRSIGN_IMPORT_PASSWORD");
    assert_eq!(snapshot(d), before);
}

/// Every key type cosign's import-key-pair takes is imported (RSA PKCS#8 and PKCS#1,
/// EC SEC1 and PKCS#8, Ed25519), and its public key is the one openssl computes;
/// what sigstore's registry has no algorithm for (RSA 1024, secp256k1) is refused
/// by name, writing nothing.
#[test]
fn import_takes_every_supported_key_type_and_refuses_others_by_name() {
    let Some(openssl_bin) = need!(Tool::Openssl) else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let ossl = |args: &[&str]| openssl(&openssl_bin, d, args);
    ossl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.pem",
    ]);
    ossl(&["genrsa", "-traditional", "-out", "rsa-pkcs1.pem", "2048"]);
    ossl(&["genrsa", "-out", "rsa1024.pem", "1024"]);
    ossl(&[
        "ecparam",
        "-name",
        "secp384r1",
        "-genkey",
        "-noout",
        "-out",
        "p384-sec1.pem",
    ]);
    ossl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        "p384-sec1.pem",
        "-out",
        "p384.pem",
    ]);
    ossl(&[
        "ecparam",
        "-name",
        "secp256k1",
        "-genkey",
        "-noout",
        "-out",
        "k1.pem",
    ]);
    ossl(&["genpkey", "-algorithm", "ed25519", "-out", "ed25519.pem"]);
    let before = snapshot(d);
    for (file, want) in [
        ("rsa1024.pem", "unsupported RSA key size: 1024 bits"),
        ("k1.pem", "EC key on secp256k1"),
    ] {
        let out = run(airsign(["import-key-pair", "--key", file, "-o", "x"])
            .current_dir(d)
            .env("COSIGN_PASSWORD", "pw"));
        assert_one_line_failure(&out, want);
    }
    assert_eq!(snapshot(d), before);
    for file in [
        "rsa.pem",
        "rsa-pkcs1.pem",
        "p384-sec1.pem",
        "p384.pem",
        "ed25519.pem",
    ] {
        let prefix = format!("imp-{file}");
        ok(airsign(["import-key-pair", "--key", file, "-o", &prefix])
            .current_dir(d)
            .env("COSIGN_PASSWORD", "pw"));
        ossl(&[
            "pkey",
            "-in",
            file,
            "-pubout",
            "-out",
            &format!("{file}.pub"),
        ]);
        let theirs = std::fs::read_to_string(d.join(format!("{file}.pub"))).unwrap();
        let ours = std::fs::read_to_string(d.join(format!("{prefix}.pub"))).unwrap();
        assert_eq!(ours, theirs, "{file}");
        let back = public_key(d.join(format!("{prefix}.key")), "pw");
        assert_eq!(String::from_utf8(back.stdout).unwrap(), theirs, "{file}");
    }
}

#[test]
fn import_refuses_to_overwrite_without_yes() {
    let dir = tempdir();
    let d = dir.path();
    // A plain PKCS#8 key, from a cosign fixture's public half is no good: make one.
    let key = airsign::keys::generate_signing_key().unwrap();
    let pem = key.to_pkcs8_pem().unwrap();
    std::fs::write(d.join("in.pem"), pem.as_bytes()).unwrap();
    std::fs::write(d.join("import-cosign.key"), "keep me").unwrap();
    let before = snapshot(d);
    let out = run(airsign(["import-key-pair", "--key", "in.pem"])
        .current_dir(d)
        .env("COSIGN_PASSWORD", "pw"));
    assert_one_line_failure(&out, "import-cosign.key already exists");
    assert_eq!(snapshot(d), before);
    ok(airsign(["import-key-pair", "--key", "in.pem", "--yes"])
        .current_dir(d)
        .env("COSIGN_PASSWORD", "pw"));
    let back = public_key(d.join("import-cosign.key"), "pw");
    let want = airsign::keys::public_key_pem(&key.public_key()).unwrap();
    assert_eq!(String::from_utf8(back.stdout).unwrap(), want);
}

// ---------------------------------------------------------------------------
// 8. env:// references

#[test]
fn public_key_reads_an_env_reference() {
    let dir = tempdir();
    let (key, public) = generate(dir.path(), "P", "pw");
    let out = run(
        airsign(["public-key", "--key", "env://AIRSIGN_TEST_KEY_PEM"])
            .env(
                "AIRSIGN_TEST_KEY_PEM",
                std::fs::read_to_string(key).unwrap(),
            )
            .env("COSIGN_PASSWORD", "pw"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, std::fs::read(public).unwrap());

    let out = run(
        airsign(["public-key", "--key", "env://AIRSIGN_TEST_KEY_PEM"])
            .env_remove("AIRSIGN_TEST_KEY_PEM")
            .env("COSIGN_PASSWORD", "pw"),
    );
    assert_one_line_failure(
        &out,
        "env://AIRSIGN_TEST_KEY_PEM: the variable AIRSIGN_TEST_KEY_PEM is not set",
    );
}

#[test]
fn public_key_outfile_gets_the_same_bytes() {
    let dir = tempdir();
    let (key, public) = generate(dir.path(), "P", "pw");
    let out = run(airsign(["public-key", "--outfile", "copy.pub", "--key"])
        .arg(&key)
        .current_dir(dir.path())
        .env("COSIGN_PASSWORD", "pw"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read(dir.path().join("copy.pub")).unwrap(),
        std::fs::read(public).unwrap()
    );
}

// ---------------------------------------------------------------------------
// 9. the password on stdin (tests run without a terminal)

#[test]
fn without_cosign_password_the_password_is_all_of_stdin_raw() {
    let dir = tempdir();
    // `echo pw | airsign generate-key-pair`: the password is "pw\n", newline included.
    let out = run_with_stdin(
        airsign(["generate-key-pair", "--output-key-prefix", "P"]).current_dir(dir.path()),
        b"pw\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = dir.path().join("P.key");
    let public = std::fs::read(dir.path().join("P.pub")).unwrap();

    let with_stdin =
        |input: &[u8]| run_with_stdin(airsign(["public-key", "--key"]).arg(&key), input);
    assert_eq!(with_stdin(b"pw\n").stdout, public);
    assert_one_line_failure(&with_stdin(b"pw"), "wrong password");
    // The variable wins over stdin, and carries the newline the same way.
    let out = run_with_stdin(
        airsign(["public-key", "--key"])
            .arg(&key)
            .env("COSIGN_PASSWORD", "pw\n"),
        b"ignored",
    );
    assert_eq!(out.stdout, public);
    // An empty COSIGN_PASSWORD is a password (the empty one), not "unset".
    assert_one_line_failure(
        &run_with_stdin(
            airsign(["public-key", "--key"])
                .arg(&key)
                .env("COSIGN_PASSWORD", ""),
            b"pw\n",
        ),
        "wrong password",
    );
}

#[test]
fn cosign_reads_the_password_from_stdin_the_same_way() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let dir = tempdir();
    let out = run_with_stdin(
        airsign(["generate-key-pair", "--output-key-prefix", "P"]).current_dir(dir.path()),
        b"pw\n",
    );
    assert!(out.status.success());
    let key = dir.path().join("P.key");
    let mut cmd = Command::new(&cosign);
    cmd.args(["public-key", "--key"])
        .arg(&key)
        .env_remove("COSIGN_PASSWORD");
    let out = run_with_stdin(&mut cmd, b"pw\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, std::fs::read(dir.path().join("P.pub")).unwrap());
}

// ---------------------------------------------------------------------------
// The terminal prompt, through a pseudo-terminal made by util-linux `script`

fn script_bin() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/script");
    if path.is_file() {
        return Some(path);
    }
    assert!(!in_ci(), "/usr/bin/script (util-linux) is needed under CI");
    eprintln!("SKIP: /usr/bin/script (util-linux) not found");
    None
}

/// Runs `airsign ARGS` on a pseudo-terminal in `dir`, typing `typed`.
fn airsign_on_a_terminal(script: &Path, dir: &Path, args: &str, typed: &[u8]) -> Output {
    let command = format!("'{}' {args}", airsign_bin().display());
    run_with_stdin(
        Command::new(script)
            .args(["-qec", &command, "/dev/null"])
            .current_dir(dir)
            .env_remove("COSIGN_PASSWORD"),
        typed,
    )
}

#[test]
fn on_a_terminal_the_password_is_asked_twice_and_must_match() {
    let Some(script) = script_bin() else { return };
    let dir = tempdir();
    let d = dir.path();
    let out = airsign_on_a_terminal(&script, d, "generate-key-pair", b"typed pw\ntyped pw\n");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("Enter password for private key: "),
        "{screen}"
    );
    assert!(
        screen.contains("Enter password for private key again: "),
        "{screen}"
    );
    // The typed line, without its newline, is the password.
    let printed = public_key(d.join("cosign.key"), "typed pw");
    assert_eq!(printed.stdout, std::fs::read(d.join("cosign.pub")).unwrap());

    let before = snapshot(d);
    let out = airsign_on_a_terminal(
        &script,
        d,
        "generate-key-pair --output-key-prefix other",
        b"typed pw\ntyped pW\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("passwords do not match"));
    assert_eq!(snapshot(d), before);

    // Opening a key asks once.
    let out = airsign_on_a_terminal(&script, d, "public-key --key cosign.key", b"typed pw\n");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(!screen.contains("again"), "{screen}");
    assert!(screen.contains("-----BEGIN PUBLIC KEY-----"), "{screen}");
}
