//! RFC 3161 timestamps made by a real timestamp authority, `openssl ts`, checked
//! by `airsign_cosign::trust::tsa` against a trusted root naming that authority:
//! the response as Sigstore clients store it and the bare token verify; another
//! signature, another authority, a validity window that ends before the stamp, or
//! a changed byte are each refused with the reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use airsign_cosign::trust::{TrustedRoot, tsa};
use base64::Engine as _;
use common::*;

const CONFIG: &str = "\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = ./serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A timestamp authority made with openssl: a P-384 root and a P-256 leaf.
struct Authority {
    dir: PathBuf,
    openssl: PathBuf,
}

impl Authority {
    fn new(openssl: &Path, dir: PathBuf) -> Authority {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ts.cnf"), CONFIG).unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        let a = Authority {
            dir,
            openssl: openssl.to_owned(),
        };
        a.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=test tsa root",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        a.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=test tsa",
        ]);
        a.openssl(&[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-out",
            "tsa.pem",
            "-days",
            "365",
            "-extfile",
            "ts.cnf",
            "-extensions",
            "leaf",
        ]);
        a
    }

    fn openssl(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(&self.openssl)
            .current_dir(&self.dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn der(&self, pem: &str) -> Vec<u8> {
        self.openssl(&["x509", "-in", pem, "-outform", "DER"])
    }

    /// The authority's answer over `data` (a `TimeStampResp`), or only its token.
    fn stamp(&self, data: &[u8], token_only: bool) -> Vec<u8> {
        std::fs::write(self.dir.join("data"), data).unwrap();
        self.openssl(&[
            "ts", "-query", "-data", "data", "-sha256", "-cert", "-out", "req.tsq",
        ]);
        let mut args = vec![
            "ts",
            "-reply",
            "-config",
            "ts.cnf",
            "-queryfile",
            "req.tsq",
            "-signer",
            "tsa.pem",
            "-inkey",
            "tsa.key",
            "-chain",
            "root.pem",
            "-out",
            "resp.tsr",
        ];
        if token_only {
            args.push("-token_out");
        }
        self.openssl(&args);
        std::fs::read(self.dir.join("resp.tsr")).unwrap()
    }

    /// A trusted root naming this authority, valid over `valid_for`.
    fn trusted_root(&self, valid_for: &str) -> TrustedRoot {
        let b64 = base64::engine::general_purpose::STANDARD;
        let json = format!(
            r#"{{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "timestampAuthorities":[{{"uri":"https://tsa.test","certChain":{{"certificates":[
            {{"rawBytes":"{}"}},{{"rawBytes":"{}"}}]}},"validFor":{valid_for}}}]}}"#,
            b64.encode(self.der("tsa.pem")),
            b64.encode(self.der("root.pem"))
        );
        TrustedRoot::parse(json.as_bytes()).unwrap()
    }
}

const ALWAYS: &str = r#"{"start":"2000-01-01T00:00:00Z"}"#;

#[test]
fn openssl_timestamps_verify_against_the_trusted_root() {
    let Some(openssl) = need!(Tool::Openssl) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let tsa_a = Authority::new(&openssl, tmp.path().join("a"));
    let root = tsa_a.trusted_root(ALWAYS);
    let signature = b"the bundle's signature bytes";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();

    for token_only in [false, true] {
        let stamp = tsa_a.stamp(signature, token_only);
        let t = tsa::verify(&stamp, signature, &root).unwrap();
        assert!(
            t.time.abs_diff(now).as_secs() < 600,
            "{:?} vs {now:?}",
            t.time
        );
        assert_eq!(t.authority, "https://tsa.test");
        // over another signature
        let e = tsa::verify(&stamp, b"another signature", &root).unwrap_err();
        assert!(e.contains("message imprint"), "{e}");
    }
    let stamp = tsa_a.stamp(signature, false);

    // another authority's trusted root
    let tsa_b = Authority::new(&openssl, tmp.path().join("b"));
    let e = tsa::verify(&stamp, signature, &tsa_b.trusted_root(ALWAYS)).unwrap_err();
    assert!(e.contains("not signed by a timestamp authority"), "{e}");

    // the authority's validity in the trusted root ended before the stamp
    let ended = r#"{"start":"2000-01-01T00:00:00Z","end":"2001-01-01T00:00:00Z"}"#;
    let e = tsa::verify(&stamp, signature, &tsa_a.trusted_root(ended)).unwrap_err();
    assert!(e.contains("outside the validity"), "{e}");

    // a flipped byte in the token's signature
    let mut forged = stamp.clone();
    let last = forged.len() - 2;
    forged[last] ^= 1;
    assert!(tsa::verify(&forged, signature, &root).is_err());

    // not a timestamp at all
    let e = tsa::verify(b"\x30\x03\x02\x01\x00", signature, &root).unwrap_err();
    assert!(!e.is_empty());
}
