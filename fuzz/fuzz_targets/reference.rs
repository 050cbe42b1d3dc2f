//! Image references, locations (`oci:`, `oci-archive:`, `docker-archive:`) and
//! digests, with round trips: what parses prints as something that parses back to
//! the same value.
#![no_main]

use airsign::digest::Digest;
use airsign::reference::{Location, Reference, validate_tag};
use libfuzzer_sys::fuzz_target;

fn check_reference(r: &Reference) {
    let text = r.to_string();
    let back = Reference::parse(&text)
        .unwrap_or_else(|e| panic!("{r:?} prints as {text:?}, which does not parse: {e}"));
    assert_eq!(&back, r, "{text:?}");
    assert_eq!(back.to_string(), text);
    assert!(r.tag().is_some() || r.digest().is_some());
    if let Some(t) = r.tag() {
        assert!(validate_tag(t).is_ok(), "{t:?}");
    }
    // The name is registry/repository, and re-parses as the same repository.
    let name = r.name();
    let n = Reference::parse(&name).unwrap_or_else(|e| panic!("name {name:?}: {e}"));
    assert_eq!(n.registry(), r.registry());
    assert_eq!(n.repository(), r.repository());
    if let Some(d) = r.digest() {
        let at = r.at_digest(d);
        assert_eq!(Reference::parse(&at.to_string()).ok().as_ref(), Some(&at));
        // cosign's tag form is a valid tag.
        assert!(validate_tag(&d.tag_form()).is_ok());
    }
    if let Ok(t) = r.at_tag("fuzz") {
        assert_eq!(t.tag(), Some("fuzz"));
        assert_eq!(t.digest(), None);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = s.parse::<Digest>() {
        assert_eq!(d.to_string(), s, "a digest prints as it was written");
        assert_eq!(d.hex().len(), d.algorithm().hex_len());
    }
    if let Ok(r) = Reference::parse(s) {
        check_reference(&r);
    }
    match Location::parse(s) {
        Ok(Location::Store(r)) => {
            assert_eq!(Reference::parse(s).ok(), Some(r.clone()));
            check_reference(&r);
        }
        Ok(
            Location::Layout { path, reference }
            | Location::Archive { path, reference }
            | Location::DockerArchive { path, reference },
        ) => {
            assert!(!path.as_os_str().is_empty());
            assert!(!path.to_string_lossy().contains(':'));
            assert_ne!(reference.as_deref(), Some(""));
        }
        Err(_) => {}
    }
    // A repository and a tag split at the last ':'.
    if let Some((repo, tag)) = s.rsplit_once(':')
        && let Ok(r) = Reference::with_tag(repo, tag)
    {
        assert_eq!(r.tag(), Some(tag));
        check_reference(&r);
    }
});
