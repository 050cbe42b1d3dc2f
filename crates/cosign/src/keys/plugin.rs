//! Signer plugins: sigstore's KMS plugin protocol, version `v1`, as cosign speaks it
//! (sigstore's `pkg/signature/kms/cliplugin`), so a plugin written for cosign works
//! with airsign unchanged.
//!
//! `--key NAME://RESOURCE` runs the program `sigstore-kms-NAME` found on `PATH`, once
//! per call:
//!
//! - argument 1: the protocol version, `v1`;
//! - argument 2: one JSON object, the call: `initOptions` (`protocolVersion`,
//!   `keyResourceID` = RESOURCE, `hashFunc` = Go's `crypto.Hash` number, 5 for
//!   SHA-256, `rpcOptions`), `methodName`, and that method's arguments under its
//!   name (`publicKey`, `signMessage`, …);
//! - stdin: the message to sign (empty when a digest is sent in
//!   `signMessage.signOptions.messageOptions.digest`, base64);
//! - stdout: one JSON object, the answer: `errorMessage` when the call failed, else
//!   the method's result under its name (`publicKey.publicKeyPEM`,
//!   `signMessage.signature`, both base64 as Go writes `[]byte`);
//! - stderr: passed through (the plugin's own diagnostics); the exit status is
//!   ignored, as cosign ignores it, but a plugin killed by a signal fails the call.
//!
//! Nothing secret crosses the command line: a plugin reads its credentials from its
//! own environment, as cosign's protocol requires. airsign checks every signature a
//! plugin returns against the plugin's public key before using it, so a plugin that
//! answers for another key, or answers garbage, is an error and not a signature.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{HashAlg, PublicKey};

use crate::{Error, Result};

/// Plugin programs are named `sigstore-kms-NAME`.
pub const PROGRAM_PREFIX: &str = "sigstore-kms-";
/// The protocol version sent as the first argument and in `initOptions`.
pub const PROTOCOL_VERSION: &str = "v1";
/// Go's `crypto.SHA256`, as the protocol encodes hash functions.
const HASH_SHA256: u32 = 5;

/// Go's `crypto.Hash` number of `hash` (0 for none: Ed25519 signs the message).
fn go_hash(hash: Option<HashAlg>) -> u32 {
    match hash {
        Some(HashAlg::Sha256) => HASH_SHA256,
        Some(HashAlg::Sha384) => 6,
        Some(HashAlg::Sha512) => 7,
        None => 0,
    }
}
/// A plugin's answer is a few hundred bytes; the cap keeps a runaway plugin from
/// filling memory.
const MAX_ANSWER: u64 = 1024 * 1024;

/// `NAME://RESOURCE` with its plugin program found on `PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRef {
    /// The scheme, e.g. `awskms` or `hashivault`.
    pub name: String,
    /// What follows `://`, handed to the plugin as `keyResourceID`.
    pub resource: String,
    /// The `sigstore-kms-NAME` program.
    pub program: PathBuf,
}

impl PluginRef {
    /// The plugin for `NAME://RESOURCE`, if `sigstore-kms-NAME` is on `PATH`.
    pub fn find(name: &str, resource: &str) -> Option<Self> {
        let program = find_on_path(&format!("{PROGRAM_PREFIX}{name}"))?;
        Some(PluginRef {
            name: name.to_owned(),
            resource: resource.to_owned(),
            program,
        })
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.name, self.resource)
    }
}

/// An executable file named `program` in one of `PATH`'s directories.
fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A key behind a plugin: its public key asked for once, then one plugin run per
/// signature.
#[derive(Debug)]
pub struct PluginKey {
    plugin: PluginRef,
    public: PublicKey,
}

impl PluginKey {
    /// Asks the plugin for the key's public key (`publicKey`): ECDSA P-256/384/521,
    /// RSA or Ed25519; the key's algorithm says which hash is asked for.
    pub fn open(plugin: &PluginRef) -> Result<Self> {
        let public = public_key(plugin)?;
        Ok(PluginKey {
            plugin: plugin.clone(),
            public,
        })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message`, sent on the plugin's stdin (the plugin hashes it with the
    /// key's hash, `hashFunc`): the signature, checked against the public key.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let sig = self.sign_call(message, None)?;
        self.public
            .verify(message, &sig)
            .map_err(|_| self.wrong_signature())?;
        Ok(sig)
    }

    /// Signs a digest computed here with the key's hash (a blob, hashed while
    /// streaming), sent in `messageOptions.digest` with an empty stdin, as cosign's
    /// `CryptoSigner` does. An Ed25519 key signs no digest.
    pub fn sign_prehash(&self, digest: &[u8]) -> Result<Vec<u8>> {
        let Some(hash) = self.public.hash() else {
            return Err(Error::Key(format!(
                "{}: an Ed25519 key signs the message itself, not a digest",
                self.plugin
            )));
        };
        let sig = self.sign_call(b"", Some(digest))?;
        self.public
            .verify_prehash(hash, digest, &sig)
            .map_err(|_| self.wrong_signature())?;
        Ok(sig)
    }

    fn sign_call(&self, stdin: &[u8], digest: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut message_options = json!({ "hashFunc": go_hash(self.public.hash()) });
        if let Some(digest) = digest {
            message_options["digest"] = Value::String(STANDARD.encode(digest));
        }
        let answer = call(
            &self.plugin,
            "signMessage",
            json!({ "signOptions": { "rpcOptions": {}, "messageOptions": message_options } }),
            stdin,
        )?;
        bytes_field(&self.plugin, &answer, "signMessage", "signature")
    }

    fn wrong_signature(&self) -> Error {
        Error::Key(format!(
            "{}: the plugin's signature does not verify with the key's public key \
             (nothing was written)",
            self.plugin
        ))
    }
}

/// The key's public key, from the plugin's `publicKey` method.
pub fn public_key(plugin: &PluginRef) -> Result<PublicKey> {
    let answer = call(
        plugin,
        "publicKey",
        json!({ "publicKeyOptions": { "rpcOptions": {} } }),
        b"",
    )?;
    let pem = bytes_field(plugin, &answer, "publicKey", "publicKeyPEM")?;
    let pem = std::str::from_utf8(&pem)
        .map_err(|_| Error::Key(format!("{plugin}: the plugin's public key is not a PEM")))?;
    match super::public_key_from_pem(pem.as_bytes()) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(Error::Key(format!(
            "{plugin}: the plugin's public key is a private key"
        ))),
        Err(e) => Err(Error::Key(format!(
            "{plugin}: the plugin's public key: {}",
            e.to_string().trim_start_matches("key: ")
        ))),
    }
}

/// The JSON of one call: `initOptions`, `methodName` and the method's arguments.
fn request(plugin: &PluginRef, method: &str, args: Value) -> Value {
    let mut request = json!({
        "initOptions": {
            "protocolVersion": PROTOCOL_VERSION,
            "keyResourceID": plugin.resource,
            "hashFunc": HASH_SHA256,
            "rpcOptions": {},
        },
        "methodName": method,
    });
    request[method] = args;
    request
}

/// Runs the plugin once: the request as argument 2, `stdin` on its stdin; its
/// answer, or the error it reported.
fn call(plugin: &PluginRef, method: &str, args: Value, stdin: &[u8]) -> Result<Value> {
    let request = request(plugin, method, args).to_string();
    let failed = |what: String| Error::Key(format!("{plugin}: plugin {method}: {what}"));
    let mut child = Command::new(&plugin.program)
        .arg(PROTOCOL_VERSION)
        .arg(&request)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("cannot run {}: {e}", plugin.program.display())))?;
    let mut child_stdin = child.stdin.take().expect("stdin is piped");
    let mut child_stdout = child.stdout.take().expect("stdout is piped");
    // Write and read at once: a plugin may answer before it has read everything.
    let (written, read) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let result = child_stdin.write_all(stdin);
            drop(child_stdin);
            result
        });
        let mut out = Vec::new();
        let read = (&mut child_stdout)
            .take(MAX_ANSWER + 1)
            .read_to_end(&mut out)
            .map(|_| out);
        (writer.join().expect("the writer does not panic"), read)
    });
    let status = child
        .wait()
        .map_err(|e| failed(format!("waiting for {}: {e}", plugin.program.display())))?;
    // A plugin that answers without reading its stdin closes the pipe: not an error.
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(failed(format!("writing to the plugin: {e}")));
    }
    let out = read.map_err(|e| failed(format!("reading the plugin's answer: {e}")))?;
    if status.code().is_none() {
        return Err(failed(format!("the plugin was killed ({status})")));
    }
    if out.len() as u64 > MAX_ANSWER {
        return Err(failed("the plugin's answer is over 1 MiB".into()));
    }
    let answer: Value = serde_json::from_slice(&out).map_err(|e| {
        failed(format!(
            "the plugin's answer is not JSON ({e}; exit status {status})"
        ))
    })?;
    if let Some(message) = answer.get("errorMessage").and_then(Value::as_str)
        && !message.is_empty()
    {
        // one line, however the plugin wrote it
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        return Err(failed(format!("the plugin says: {message}")));
    }
    Ok(answer)
}

/// A base64 `[]byte` field of a method's answer.
fn bytes_field(plugin: &PluginRef, answer: &Value, method: &str, field: &str) -> Result<Vec<u8>> {
    let text = answer
        .get(method)
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::Key(format!(
                "{plugin}: plugin {method}: the answer has no {method}.{field}"
            ))
        })?;
    STANDARD.decode(text).map_err(|_| {
        Error::Key(format!(
            "{plugin}: plugin {method}: {method}.{field} is not base64"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin() -> PluginRef {
        PluginRef {
            name: "test".into(),
            resource: "keys/one".into(),
            program: "/nonexistent/sigstore-kms-test".into(),
        }
    }

    #[test]
    fn a_request_is_cosigns_json() {
        // the shape of sigstore's interface_test.go: method arguments beside
        // initOptions, under the method's name
        let r = request(
            &plugin(),
            "signMessage",
            json!({"signOptions": {"rpcOptions": {}, "messageOptions": {"hashFunc": 5}}}),
        );
        assert_eq!(r["initOptions"]["protocolVersion"], "v1");
        assert_eq!(r["initOptions"]["keyResourceID"], "keys/one");
        assert_eq!(r["initOptions"]["hashFunc"], 5);
        assert_eq!(r["methodName"], "signMessage");
        assert_eq!(
            r["signMessage"]["signOptions"]["messageOptions"]["hashFunc"],
            5
        );
    }

    #[test]
    fn a_missing_program_is_a_one_line_error() {
        let err = public_key(&plugin()).unwrap_err().to_string();
        assert!(
            err.contains("test://keys/one: plugin publicKey: cannot run"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn answers_are_read_strictly() {
        let answer = json!({"signMessage": {"signature": "not base64!"}});
        let err = bytes_field(&plugin(), &answer, "signMessage", "signature").unwrap_err();
        assert!(err.to_string().contains("is not base64"), "{err}");
        let err = bytes_field(&plugin(), &json!({}), "signMessage", "signature").unwrap_err();
        assert!(
            err.to_string().contains("has no signMessage.signature"),
            "{err}"
        );
        let ok = json!({"signMessage": {"signature": "AAE="}});
        assert_eq!(
            bytes_field(&plugin(), &ok, "signMessage", "signature").unwrap(),
            vec![0, 1]
        );
    }
}
