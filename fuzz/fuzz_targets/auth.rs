//! `WWW-Authenticate` challenges (`registry::parse_challenges`), the token scopes a
//! challenge carries (`registry::Scopes::merge_param`), and `Retry-After`.
#![no_main]

use airsign::registry::{Challenge, Scopes, parse_challenges, parse_retry_after};
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;

fn check_scopes(param: &str) {
    let s = Scopes::none().merge_param(param);
    // The rendered parameters read back as the same set.
    let params = s.to_params();
    let again = Scopes::none().merge_param(&params.join(" "));
    assert_eq!(again, s, "{param:?} -> {params:?}");
    assert_eq!(again.to_params(), params);
    // Merging is idempotent.
    assert_eq!(s.clone().merge_param(param), s);
}

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(challenges) = parse_challenges(header) {
        // Bearer challenges come first.
        let first_basic = challenges
            .iter()
            .position(|c| matches!(c, Challenge::Basic { .. }))
            .unwrap_or(challenges.len());
        assert!(
            challenges[first_basic..]
                .iter()
                .all(|c| matches!(c, Challenge::Basic { .. })),
            "{challenges:?}"
        );
        for c in &challenges {
            if let Challenge::Bearer {
                scope: Some(scope), ..
            } = c
            {
                check_scopes(scope);
            }
        }
    }
    check_scopes(header);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let _ = parse_retry_after(header, now);
});
