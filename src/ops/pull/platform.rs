//! `--platform OS/ARCH[/VARIANT]`, matched against an index's descriptors as docker
//! and skopeo match them: OS and architecture exactly, the variant only when given.

use std::fmt;

use crate::store::Descriptor;
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformSpec {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl PlatformSpec {
    pub fn parse(s: &str) -> Result<PlatformSpec> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if parts.iter().all(|p| ok(p)) => Ok(PlatformSpec {
                os: os.to_ascii_lowercase(),
                architecture: arch.to_ascii_lowercase(),
                variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
            }),
            _ => Err(Error::Usage(format!(
                "--platform {s:?}: expected OS/ARCH[/VARIANT], e.g. linux/arm64 or linux/arm/v7"
            ))),
        }
    }

    fn matches(&self, d: &Descriptor) -> bool {
        let Some(p) = &d.platform else {
            return false;
        };
        p.os.eq_ignore_ascii_case(&self.os)
            && p.architecture.eq_ignore_ascii_case(&self.architecture)
            && self.variant.as_ref().is_none_or(|v| {
                p.variant
                    .as_deref()
                    .is_some_and(|pv| pv.eq_ignore_ascii_case(v))
            })
    }

    /// The first manifest of an index for this platform.
    pub fn choose<'d>(&self, children: &[&'d Descriptor]) -> Option<&'d Descriptor> {
        children.iter().copied().find(|d| self.matches(d))
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The platforms an index lists, as `os/arch[/variant]` (`unknown` when absent).
pub fn list(children: &[&Descriptor]) -> Vec<String> {
    children
        .iter()
        .map(|d| {
            d.platform
                .as_ref()
                .map_or_else(|| "unknown".to_owned(), |p| p.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::descriptor::{OCI_MANIFEST, Platform};

    fn child(arch: &str, variant: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(
            OCI_MANIFEST,
            crate::digest::Digest::sha256(arch.as_bytes()),
            1,
        );
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            os_version: None,
            os_features: None,
            variant: variant.map(Into::into),
        });
        d
    }

    #[test]
    fn variant_matters_only_when_given() {
        let amd = child("amd64", None);
        let arm = child("arm64", Some("v8"));
        let all = [&amd, &arm];
        let pick = |s: &str| {
            PlatformSpec::parse(s)
                .unwrap()
                .choose(&all)
                .map(|d| d.digest.clone())
        };
        assert_eq!(pick("linux/arm64"), Some(arm.digest.clone()));
        assert_eq!(pick("linux/arm64/v8"), Some(arm.digest.clone()));
        assert_eq!(pick("Linux/AMD64"), Some(amd.digest.clone()));
        assert_eq!(pick("linux/arm64/v7"), None);
        assert_eq!(pick("windows/amd64"), None);
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            assert!(PlatformSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(list(&all), ["linux/amd64", "linux/arm64/v8"]);
    }
}
