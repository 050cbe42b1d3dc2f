//! Image references, parsed and normalised the way docker and go-containerregistry
//! (and so cosign) do, and the places images can be: the store, `oci:DIR[:REF]` and
//! `oci-archive:FILE[:REF]`.
//!
//! Normalisation follows ggcr, because cosign writes `Repository.Name()` into the
//! payload's `docker-reference`: Docker Hub is `index.docker.io`, and one-component
//! Hub repositories get `library/`. A hand-written parser (rather than oci-spec's
//! `Reference`) keeps that exact normalisation under our control.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::digest::{Digest, printable};
use crate::{Error, Result};

/// Docker Hub's registry name, as go-containerregistry spells it.
pub const DOCKER_HUB: &str = "index.docker.io";
/// The tag a reference without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";

/// A normalised image reference: `registry/repository[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses a docker-style reference. A reference with neither tag nor digest gets
    /// the tag `latest`, as docker does.
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = |why: &str| {
            Error::invalid(format!("invalid image reference {:?}: {why}", printable(s)))
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > 4096 {
            return Err(bad("too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (
                r,
                Some(d.parse::<Digest>().map_err(|e| bad(&e.to_string()))?),
            ),
            None => (s, None),
        };
        // The tag is after the last ':' that follows the last '/', so a registry port
        // (`localhost:5000/app`) is not mistaken for a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            validate_tag(t).map_err(|why| bad(&why))?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if looks_like_registry(first) => {
                (normalise_registry(first), path.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        validate_registry(&registry).map_err(|why| bad(&why))?;
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        validate_repository(&repository).map_err(|why| bad(&why))?;
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// Builds a reference from a repository name (`registry/path`) and a tag.
    pub fn with_tag(repository: &str, tag: &str) -> Result<Reference> {
        let mut r = Reference::parse(repository)?;
        if r.digest.is_some() || !repository_has_no_tag(repository) {
            return Err(Error::invalid(format!(
                "invalid repository {:?}: a repository has no tag or digest",
                printable(repository)
            )));
        }
        validate_tag(tag)
            .map_err(|why| Error::invalid(format!("invalid tag {:?}: {why}", printable(tag))))?;
        r.tag = Some(tag.to_owned());
        Ok(r)
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/ubuntu`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `registry/repository`: what cosign writes as `docker-reference`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// This repository with another digest and no tag (`registry/repo@sha256:…`).
    pub fn at_digest(&self, digest: &Digest) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }

    /// This repository with another tag and no digest.
    pub fn at_tag(&self, tag: &str) -> Result<Reference> {
        Reference::with_tag(&self.name(), tag)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

fn repository_has_no_tag(s: &str) -> bool {
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    !s[last_slash..].contains(':')
}

/// docker's rule: the first component is a registry if it has a '.' or a ':', or is
/// `localhost`; otherwise the reference is on Docker Hub.
fn looks_like_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

fn normalise_registry(r: &str) -> String {
    match r {
        "docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
        _ => r.to_owned(),
    }
}

fn validate_registry(r: &str) -> std::result::Result<(), String> {
    let (host, port) = match r.rsplit_once(':') {
        // An IPv6 literal is bracketed: [::1]:5000
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (r, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("bad registry port {:?}", printable(p)));
    }
    // A DNS name is at most 253 characters. Unbounded, a reference just under the
    // 4096-character limit printed with its `:latest` added would no longer parse.
    if host.len() > 253 {
        return Err(format!(
            "registry name longer than 253 characters ({:?})",
            printable(host)
        ));
    }
    let ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    if ok {
        Ok(())
    } else {
        Err(format!("bad registry {:?}", printable(host)))
    }
}

/// Repository path components: lowercase alphanumerics separated by `.`, `_`, `__` or
/// runs of `-` (the distribution reference grammar).
fn validate_repository(repo: &str) -> std::result::Result<(), String> {
    if repo.len() > 255 {
        return Err("repository name longer than 255 characters".into());
    }
    for comp in repo.split('/') {
        if !valid_path_component(comp) {
            return Err(format!(
                "bad repository path component {:?} (lowercase letters, digits and . _ - only)",
                printable(comp)
            ));
        }
    }
    Ok(())
}

fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator: ".", "_", "__" or one or more "-"
        let sep_start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
pub fn validate_tag(t: &str) -> std::result::Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad tag {:?} (letters, digits, _ . - only, at most 128)",
            printable(t)
        ))
    }
}

/// Where an image is: the embedded store, an OCI layout directory, or an
/// `oci-archive` tarball. `reference` is whatever followed the path: a tag, a full
/// reference or a digest (`None`: the layout's only image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A reference resolved in the store.
    Store(Reference),
    Layout {
        path: PathBuf,
        reference: Option<String>,
    },
    Archive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// A `docker save` tarball (`docker-archive:FILE[:REF]`), for import.
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
}

impl Location {
    /// Parses `oci:DIR[:REF]`, `oci-archive:FILE[:REF]` or a plain reference. As in
    /// skopeo, the path ends at the first ':' after the transport, so REF may itself
    /// hold ':' (`oci:dir:registry.example.com:5000/app:v1`).
    pub fn parse(s: &str) -> Result<Location> {
        let split = |rest: &str| -> Result<(PathBuf, Option<String>)> {
            let (path, reference) = match rest.split_once(':') {
                Some((p, r)) => (p, Some(r.to_owned())),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(Error::Usage(format!("{s:?}: the path is empty")));
            }
            if reference.as_deref() == Some("") {
                return Err(Error::Usage(format!(
                    "{s:?}: empty reference after the path"
                )));
            }
            Ok((PathBuf::from(path), reference))
        };
        if let Some(rest) = s.strip_prefix("oci:") {
            let (path, reference) = split(rest)?;
            Ok(Location::Layout { path, reference })
        } else if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (path, reference) = split(rest)?;
            Ok(Location::Archive { path, reference })
        } else if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (path, reference) = split(rest)?;
            Ok(Location::DockerArchive { path, reference })
        } else if let Some((transport, _)) = s.split_once(':')
            && matches!(transport, "docker" | "dir" | "containers-storage")
        {
            Err(Error::Usage(format!(
                "{s:?}: the {transport}: transport is not supported here (oci:DIR[:REF], \
                 oci-archive:FILE[:REF], docker-archive:FILE or a reference in the store)"
            )))
        } else {
            Ok(Location::Store(Reference::parse(s)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker_and_ggcr() {
        assert_eq!(norm("user/demo"), "index.docker.io/user/demo:latest");
        assert_eq!(norm("ubuntu"), "index.docker.io/library/ubuntu:latest");
        assert_eq!(
            Reference::parse("ubuntu").unwrap().name(),
            "index.docker.io/library/ubuntu"
        );
        assert_eq!(
            norm("docker.io/ubuntu:22.04"),
            "index.docker.io/library/ubuntu:22.04"
        );
        assert_eq!(
            norm("docker.io/library/ubuntu"),
            "index.docker.io/library/ubuntu:latest"
        );
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("localhost:5000/app:v1"), "localhost:5000/app:v1");
        assert_eq!(norm("127.0.0.1:5000/a/b/c:v1"), "127.0.0.1:5000/a/b/c:v1");
        assert_eq!(norm("[::1]:5000/app:v1"), "[::1]:5000/app:v1");
        assert_eq!(
            norm("registry.example.com/team/app"),
            "registry.example.com/team/app:latest"
        );
    }

    #[test]
    fn digests_and_tag_plus_digest() {
        let r = Reference::parse(&format!("ubuntu@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.to_string(), format!("index.docker.io/library/ubuntu@{D}"));
        let r = Reference::parse(&format!("reg.example:443/app:v1@{D}")).unwrap();
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.registry(), "reg.example:443");
        assert_eq!(r.name(), "reg.example:443/app");
        assert_eq!(
            r.at_digest(r.digest().unwrap()).to_string(),
            format!("reg.example:443/app@{D}")
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "UPPER/case",
            "app:",
            "app:-bad",
            "a//b",
            "/abs",
            "app@sha256:abc",
            "reg.example:port/app",
            "app:v1:v2",
            "bad..dots/app",
            "a/../b",
            "ex ample.com/app",
        ] {
            assert!(Reference::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    /// Found while writing the `reference` fuzz target's round-trip property: the
    /// registry had no length limit, so a reference just under the 4096-character
    /// limit parsed, but printed with the `:latest` it gets did not parse again.
    #[test]
    fn regression_fuzz_reference_long_registry_round_trip() {
        let long = format!("{}.example/app", "a".repeat(4080));
        assert!(long.len() <= 4096 && long.len() + ":latest".len() > 4096);
        let err = Reference::parse(&long).unwrap_err().to_string();
        assert!(err.contains("longer than 253"), "{err}");
        // The longest registry accepted round-trips, whatever is added to it.
        let label = "a".repeat(63);
        let host = format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert_eq!(host.len(), 253);
        let r = Reference::parse(&format!("{host}:65535/{}", "c".repeat(255))).unwrap();
        assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        assert!(Reference::parse(&format!("{host}b/app")).is_err());
    }

    #[test]
    fn locations() {
        assert_eq!(
            Location::parse("oci:/tmp/l").unwrap(),
            Location::Layout {
                path: "/tmp/l".into(),
                reference: None
            }
        );
        assert_eq!(
            Location::parse("oci:/tmp/l:registry.example.com:5000/app:v1").unwrap(),
            Location::Layout {
                path: "/tmp/l".into(),
                reference: Some("registry.example.com:5000/app:v1".into())
            }
        );
        assert_eq!(
            Location::parse("oci-archive:x.tar:v1").unwrap(),
            Location::Archive {
                path: "x.tar".into(),
                reference: Some("v1".into())
            }
        );
        assert!(matches!(
            Location::parse("ubuntu").unwrap(),
            Location::Store(_)
        ));
        assert!(Location::parse("oci:").is_err());
        assert!(Location::parse("oci:dir:").is_err());
        assert!(Location::parse("docker://x/y").is_err());
    }
}
