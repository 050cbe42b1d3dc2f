//! Sigstore bundles (`bundle::Bundle::parse`): what `verify`, `verify-blob`,
//! `signatures` and `import --verify-key` read from layouts and files other tools
//! wrote. A bundle that parses must survive every verifier entry point without a
//! panic (a fixed key that signed nothing: every check must refuse, never crash), and
//! an error is one line.
#![no_main]

use airsign::bundle::{Bundle, Content, IN_TOTO, check_statement};
use airsign::digest::Digest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Bundle::parse(data) {
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
        Ok(b) => {
            let key = airsign::keys::generate_signing_key().expect("a key");
            let vk = &key.public_key();
            assert!(b.verify_dsse(vk).is_err(), "a fixed key verified a fuzzed DSSE");
            assert!(b.verify_message(vk, data).is_err());
            if let Content::Dsse { payload, payload_type, .. } = &b.content {
                let _ = check_statement(payload_type, payload, &Digest::sha256(data), None);
                let _ = check_statement(IN_TOTO, payload, &Digest::sha256(b""), Some("x"));
            }
        }
    }
});
