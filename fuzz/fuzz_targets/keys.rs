//! Key files: cosign's encrypted private key envelope (`keys::EncryptedKey::parse`,
//! the parse-and-check step `decrypt_private_key` runs before scrypt), the PKCS#8 /
//! SEC1 / PBES2 PEM keys `import-key-pair` reads (`keys::read_private_key_pem`,
//! whose password callback refuses, so no KDF ever runs), and verification key PEM
//! (`keys::public_key_from_pem`). All go through the lenient PEM block reader.
//!
//! scrypt at N=65536 costs ~100 ms: it never runs here. What is fuzzed is everything
//! before it, including the check that only cosign's three scrypt parameter sets
//! are accepted.
#![no_main]

use airsign::Error;
use airsign::keys::{
    EncryptedKey, LABEL_COSIGN, LABEL_SIGSTORE, ScryptParams, public_key_from_pem, public_key_pem,
    read_private_key_pem,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = EncryptedKey::parse(data) {
        assert!(
            ScryptParams::ACCEPTED.contains(&key.params),
            "{:?}",
            key.params
        );
        assert!(key.label == LABEL_SIGSTORE || key.label == LABEL_COSIGN);
    }

    let mut asked = false;
    let res = read_private_key_pem(data, || {
        asked = true;
        Err(Error::Key("fuzz: no password".into()))
    });
    if let Ok(key) = res {
        assert!(!asked);
        // A key that loads has a public half that encodes and reads back.
        let public = key.public_key();
        let pem = public_key_pem(&public).expect("encodes");
        assert_eq!(
            public_key_from_pem(pem.as_bytes()).ok().flatten().as_ref(),
            Some(&public)
        );
    }

    match public_key_from_pem(data) {
        Ok(Some(key)) => {
            // Re-encoding gives a PEM that reads as the same key.
            let pem = public_key_pem(&key).expect("encodes");
            assert_eq!(
                public_key_from_pem(pem.as_bytes()).ok().flatten(),
                Some(key)
            );
        }
        Ok(None) => {}
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
});
