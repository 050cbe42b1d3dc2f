//! RFC 3161 timestamps (`trust::tsa::verify`): the DER a Sigstore bundle carries in
//! `rfc3161Timestamps[].signedTimestamp`, read from files other tools wrote. The
//! whole token is parsed (TimeStampResp or bare token, CMS SignedData, TSTInfo,
//! genTime, signed attributes) before any hash is compared, so the fuzzer reaches
//! every parser. Nothing may panic, nothing verifies against a trusted root with no
//! authority, and an error is one line.
#![no_main]

use airsign::trust::{TrustedRoot, tsa};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = TrustedRoot::parse(
        br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
    )
    .expect("an empty trusted root");
    match tsa::verify(data, b"signature", &root) {
        Ok(t) => panic!("verified without an authority: {t:?}"),
        Err(e) => assert!(!e.contains('\n'), "{e}"),
    }
});
