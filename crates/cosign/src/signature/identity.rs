//! Who a certificate must name: cosign's `--certificate-identity[-regexp]` and
//! `--certificate-oidc-issuer[-regexp]`, checked as cosign's `CheckCertificatePolicy`
//! does. The identity is compared with every subject alternative name (exactly, or
//! by an unanchored regular expression, as Go's `regexp.MatchString`); the issuer
//! with the Fulcio v1 OIDC-issuer extension (cosign 2.5 reads no other), which is
//! empty for a certificate from a private CA — there only `--certificate-oidc-issuer-regexp '.*'` (or `'^$'`)
//! matches, exactly as with cosign. A regexp flag wins over its exact twin.

use regex::Regex;

use super::certs::Cert;

/// Largest compiled pattern accepted (the regex crate's own limit is far higher):
/// flags come from the command line, but scripts pass them on.
const MAX_PATTERN_SIZE: usize = 1 << 20;

/// One expected identity (cosign's `cosign.Identity`).
#[derive(Clone, Debug, Default)]
pub struct IdentityPolicy {
    subject: Option<Matcher>,
    issuer: Option<Matcher>,
}

#[derive(Clone, Debug)]
enum Matcher {
    Exact(String),
    Pattern(Regex),
}

impl Matcher {
    fn new(
        exact: Option<&str>,
        pattern: Option<&str>,
        what: &str,
    ) -> Result<Option<Matcher>, String> {
        if let Some(p) = pattern {
            return regex::RegexBuilder::new(p)
                .size_limit(MAX_PATTERN_SIZE)
                .build()
                .map(|r| Some(Matcher::Pattern(r)))
                .map_err(|e| {
                    let first = e.to_string();
                    let first = first.lines().last().unwrap_or("invalid").trim().to_owned();
                    format!("malformed {what} in identity: {p}: {first}")
                });
        }
        Ok(exact.map(|e| Matcher::Exact(e.to_owned())))
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(e) => e == value,
            Matcher::Pattern(r) => r.is_match(value),
        }
    }
}

impl IdentityPolicy {
    /// From the four flags; an error names a malformed regular expression.
    pub fn new(
        identity: Option<&str>,
        identity_regexp: Option<&str>,
        issuer: Option<&str>,
        issuer_regexp: Option<&str>,
    ) -> Result<IdentityPolicy, String> {
        Ok(IdentityPolicy {
            subject: Matcher::new(identity, identity_regexp, "subject")?,
            issuer: Matcher::new(issuer, issuer_regexp, "issuer")?,
        })
    }

    /// Whether an identity (subject) flag was given.
    pub fn has_subject(&self) -> bool {
        self.subject.is_some()
    }

    /// Whether an issuer flag was given.
    pub fn has_issuer(&self) -> bool {
        self.issuer.is_some()
    }

    /// Whether neither was given.
    pub fn is_empty(&self) -> bool {
        self.subject.is_none() && self.issuer.is_none()
    }

    /// `Ok` when the certificate names the expected identity and issuer; otherwise
    /// cosign's message, with what the certificate does name.
    pub fn check(&self, cert: &Cert) -> Result<(), String> {
        self.check_with_issuer(cert, cert.oidc_issuer())
    }

    /// [`IdentityPolicy::check`] for a Sigstore bundle's certificate, whose issuer is
    /// read as bundle verifiers read it ([`Cert::bundle_issuer`]: v2, else v1).
    pub fn check_bundle(&self, cert: &Cert) -> Result<(), String> {
        self.check_with_issuer(cert, cert.bundle_issuer())
    }

    fn check_with_issuer(&self, cert: &Cert, issuer: String) -> Result<(), String> {
        let sans = cert.sans();
        let issuer_ok = self.issuer.as_ref().is_none_or(|m| m.matches(&issuer));
        let subject_ok = self
            .subject
            .as_ref()
            .is_none_or(|m| sans.iter().any(|s| m.matches(s)));
        if issuer_ok && subject_ok {
            return Ok(());
        }
        Err(format!(
            "none of the expected identities matched what was in the certificate, got \
             subjects [{}] with issuer {issuer:?}",
            sans.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regexp_wins_over_the_exact_flag_and_is_unanchored_as_in_go() {
        let p = IdentityPolicy::new(Some("nobody"), Some("signer@"), None, None).unwrap();
        let Some(Matcher::Pattern(r)) = &p.subject else {
            panic!("the regexp is used")
        };
        assert!(r.is_match("ci-signer@example.com"));
        assert!(p.has_subject() && !p.has_issuer());
    }

    #[test]
    fn a_malformed_regexp_is_one_line_naming_it() {
        let e = IdentityPolicy::new(None, Some("(unclosed"), None, None).unwrap_err();
        assert!(
            e.starts_with("malformed subject in identity: (unclosed: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let e = IdentityPolicy::new(None, None, None, Some("[z-a]")).unwrap_err();
        assert!(
            e.starts_with("malformed issuer in identity: [z-a]: "),
            "{e}"
        );
    }
}
