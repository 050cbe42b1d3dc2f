//! Where credentials come from: `--creds USER:PASS`, or docker's and podman's auth
//! files (`auths`, `identitytoken`, `credHelpers`/`credsStore` through
//! `docker-credential-*`, read by the docker_credential crate).

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use docker_credential::{CredentialRetrievalError, DockerCredential};

use crate::reference::DOCKER_HUB;
use crate::{Error, Result};

/// The source of credentials of a [`super::RegistryClient`].
#[derive(Clone)]
pub enum CredentialSource {
    /// Never send credentials.
    Anonymous,
    /// One user and password, for every registry this client talks to (`--creds`).
    Explicit { username: String, password: String },
    /// Auth files searched in order; the first that has an entry for the registry
    /// wins. [`default_auth_files`] gives the usual list.
    DockerConfig { files: Vec<PathBuf> },
}

impl fmt::Debug for CredentialSource {
    // never print a password
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Anonymous => f.write_str("Anonymous"),
            CredentialSource::Explicit { username, .. } => {
                write!(
                    f,
                    "Explicit {{ username: {username:?}, password: <hidden> }}"
                )
            }
            CredentialSource::DockerConfig { files } => f
                .debug_struct("DockerConfig")
                .field("files", files)
                .finish(),
        }
    }
}

impl CredentialSource {
    /// Parses `USER:PASS` (the password may contain `:`).
    pub fn from_creds(s: &str) -> Result<CredentialSource> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(CredentialSource::Explicit {
                username: u.to_owned(),
                password: p.to_owned(),
            }),
            _ => Err(Error::Usage(
                "--creds wants USER:PASSWORD (user name not empty)".into(),
            )),
        }
    }

    /// The credential for `registry` (as written in references, e.g.
    /// `index.docker.io` or `127.0.0.1:5000`), or `None`.
    pub(crate) fn lookup(&self, registry: &str) -> Result<Option<Credential>> {
        match self {
            CredentialSource::Anonymous => Ok(None),
            CredentialSource::Explicit { username, password } => Ok(Some(Credential::Basic {
                username: username.clone(),
                password: password.clone(),
            })),
            CredentialSource::DockerConfig { files } => {
                for f in files {
                    if let Some(c) = lookup_file(f, registry)? {
                        return Ok(Some(c));
                    }
                }
                Ok(None)
            }
        }
    }
}

/// The auth files in the order they are searched: `$REGISTRY_AUTH_FILE`,
/// `$DOCKER_CONFIG/config.json` (both explicit choices of the user), then podman's
/// `${XDG_RUNTIME_DIR}/containers/auth.json`, then `~/.docker/config.json`. Files
/// that do not exist are skipped when searched.
pub fn default_auth_files() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut files = Vec::new();
    files.extend(env("REGISTRY_AUTH_FILE"));
    files.extend(env("DOCKER_CONFIG").map(|d| d.join("config.json")));
    files.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    files.extend(env("HOME").map(|d| d.join(".docker/config.json")));
    files.dedup();
    files
}

/// What is sent: a user and password (Basic, or to get a token), or an identity
/// token (an OAuth2 refresh token, exchanged at the token realm).
#[derive(Clone)]
pub(crate) enum Credential {
    Basic { username: String, password: String },
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    // never print a secret
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username:?}, <hidden>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<hidden>)"),
        }
    }
}

fn lookup_file(path: &Path, registry: &str) -> Result<Option<Credential>> {
    // docker keys Docker Hub as https://index.docker.io/v1/ (auths and credHelpers)
    let keys: &[&str] = if registry == DOCKER_HUB || registry == "docker.io" {
        &["https://index.docker.io/v1/", DOCKER_HUB]
    } else {
        &[registry]
    };
    for key in keys {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io_path("reading auth file", path, e)),
        };
        match docker_credential::get_credential_from_reader(BufReader::new(file), key) {
            Ok(DockerCredential::UsernamePassword(username, password)) => {
                return Ok(Some(Credential::Basic { username, password }));
            }
            Ok(DockerCredential::IdentityToken(t)) => {
                return Ok(Some(Credential::IdentityToken(t)));
            }
            Err(CredentialRetrievalError::NoCredentialConfigured) => {}
            // a store/helper that simply has no entry for this host (docker
            // treats that as anonymous too)
            Err(CredentialRetrievalError::HelperFailure { stdout, .. })
                if stdout.to_ascii_lowercase().contains("not found") => {}
            Err(CredentialRetrievalError::HelperFailure { helper, .. }) => {
                // the helper's output may hold secrets: name it, print nothing of it
                return Err(Error::Registry(format!(
                    "credential helper {helper} failed for {registry} (auth file {})",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(Error::Registry(format!(
                    "credentials for {registry} from {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn reads_auths_in_order_and_docker_hub_keys() {
        let d = tempfile::tempdir().unwrap();
        // base64("u1:p1"), base64("u2:p:2")
        let a = write(
            d.path(),
            "a.json",
            r#"{"auths":{"reg.example:5000":{"auth":"dTE6cDE="}}}"#,
        );
        let b = write(
            d.path(),
            "b.json",
            r#"{"auths":{"reg.example:5000":{"auth":"dTI6cDoy"},
                "https://index.docker.io/v1/":{"auth":"dTI6cDoy"},
                "other.example":{"identitytoken":"rt-123"}}}"#,
        );
        let missing = d.path().join("none.json");
        let src = CredentialSource::DockerConfig {
            files: vec![missing, a, b],
        };
        let user = |c: Option<Credential>| match c {
            Some(Credential::Basic { username, password }) => format!("{username}:{password}"),
            Some(Credential::IdentityToken(t)) => format!("token {t}"),
            None => "none".into(),
        };
        assert_eq!(user(src.lookup("reg.example:5000").unwrap()), "u1:p1");
        assert_eq!(user(src.lookup(DOCKER_HUB).unwrap()), "u2:p:2");
        assert_eq!(user(src.lookup("other.example").unwrap()), "token rt-123");
        assert_eq!(user(src.lookup("nowhere.example").unwrap()), "none");
    }

    #[test]
    fn creds_flag_and_debug_hides_password() {
        let c = CredentialSource::from_creds("me:se:cret").unwrap();
        assert!(!format!("{c:?}").contains("se:cret"));
        assert!(
            matches!(c.lookup("x").unwrap(), Some(Credential::Basic { password, .. }) if password == "se:cret")
        );
        assert!(CredentialSource::from_creds("nopass").is_err());
        assert!(CredentialSource::from_creds(":p").is_err());
    }

    #[test]
    fn broken_auth_file_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let bad = write(d.path(), "bad.json", "{not json");
        let err = CredentialSource::DockerConfig { files: vec![bad] }
            .lookup("r.example")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("r.example") && err.contains("bad.json"),
            "{err}"
        );
    }
}
