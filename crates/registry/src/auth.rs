//! `WWW-Authenticate` challenges and token scopes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// What a registry asked for in a 401's `WWW-Authenticate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    /// Token auth: GET `realm?service=…&scope=…` for a token.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value into the challenges we can answer (Basic and
/// Bearer; others are skipped), Bearer first.
pub fn parse_challenges(header: &str) -> Result<Vec<Challenge>, String> {
    let parsed = http_auth::parse_challenges(header).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for c in parsed {
        let param = |name: &str| {
            c.params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_unescaped())
        };
        if c.scheme.eq_ignore_ascii_case("bearer") {
            let Some(realm) = param("realm") else {
                return Err("Bearer challenge without a realm".into());
            };
            out.push(Challenge::Bearer {
                realm,
                service: param("service"),
                scope: param("scope"),
            });
        } else if c.scheme.eq_ignore_ascii_case("basic") {
            out.push(Challenge::Basic {
                realm: param("realm").unwrap_or_default(),
            });
        }
    }
    out.sort_by_key(|c| matches!(c, Challenge::Basic { .. }));
    Ok(out)
}

/// A set of token scopes, e.g. `repository:dst:pull,push` and
/// `repository:src:pull` for a cross-repository mount. Ordered, so that one set
/// always renders the same way (it keys the token cache).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scopes(BTreeMap<(String, String), BTreeSet<String>>);

impl Scopes {
    /// No scope (e.g. `GET /v2/`).
    pub fn none() -> Scopes {
        Scopes::default()
    }

    /// `repository:NAME:pull`.
    pub fn pull(repo: &str) -> Scopes {
        Scopes::none().with("repository", repo, &["pull"])
    }

    /// `repository:NAME:pull,push`.
    pub fn push(repo: &str) -> Scopes {
        Scopes::none().with("repository", repo, &["pull", "push"])
    }

    /// Adds actions on a resource.
    pub fn with(mut self, kind: &str, name: &str, actions: &[&str]) -> Scopes {
        let set = self
            .0
            .entry((kind.to_owned(), name.to_owned()))
            .or_default();
        set.extend(actions.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Adds the scopes of a challenge's `scope` parameter (space-separated
    /// `type:name:actions`); malformed entries are ignored.
    pub fn merge_param(mut self, param: &str) -> Scopes {
        for s in param.split(' ').filter(|s| !s.is_empty()) {
            let Some((rest, actions)) = s.rsplit_once(':') else {
                continue;
            };
            let Some((kind, name)) = rest.split_once(':') else {
                continue;
            };
            let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
            self = self.with(kind, name, &actions);
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One `scope` parameter per resource: `repository:a/b:pull,push`.
    pub fn to_params(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|((kind, name), actions)| {
                let a: Vec<&str> = actions.iter().map(String::as_str).collect();
                format!("{kind}:{name}:{}", a.join(","))
            })
            .collect()
    }

    /// The cache key: the parameters joined by spaces.
    pub(crate) fn key(&self) -> String {
        self.to_params().join(" ")
    }
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: String,
    pub(crate) expires: Instant,
}

/// A token endpoint's answer (docker's `token` or OAuth2's `access_token`).
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) token: Option<String>,
    pub(crate) access_token: Option<String>,
    pub(crate) expires_in: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#;
        assert_eq!(
            parse_challenges(h).unwrap(),
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            }]
        );
        assert_eq!(
            parse_challenges(r#"Basic realm="airsign-test""#).unwrap(),
            vec![Challenge::Basic {
                realm: "airsign-test".into()
            }]
        );
        // several challenges: Bearer is preferred whatever the order
        let both = r#"Basic realm="r", Bearer realm="https://t/x""#;
        let got = parse_challenges(both).unwrap();
        assert!(matches!(got[0], Challenge::Bearer { .. }), "{got:?}");
        assert!(parse_challenges(r#"Bearer service="x""#).is_err());
        assert!(
            parse_challenges(r#"Digest realm="x", nonce="y""#)
                .unwrap()
                .is_empty()
        );
        // escapes inside quoted strings
        let esc = parse_challenges(r#"Bearer realm="https://t/x\"y""#).unwrap();
        assert!(matches!(&esc[0], Challenge::Bearer { realm, .. } if realm == "https://t/x\"y"));
    }

    #[test]
    fn builds_scopes_for_a_mount() {
        let s = Scopes::push("dst/app").with("repository", "src/app", &["pull"]);
        assert_eq!(
            s.to_params(),
            vec!["repository:dst/app:pull,push", "repository:src/app:pull"]
        );
        // a challenge's own scope is merged, not duplicated
        let m = Scopes::pull("dst/app").merge_param("repository:dst/app:push registry:catalog:*");
        assert_eq!(
            m.to_params(),
            vec!["registry:catalog:*", "repository:dst/app:pull,push"]
        );
        assert_eq!(
            Scopes::push("a").key(),
            Scopes::pull("a").merge_param("repository:a:push").key()
        );
        assert!(Scopes::none().is_empty());
    }
}
