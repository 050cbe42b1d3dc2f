//! One error type for the library. Every variant renders as one line, because the
//! binary prints exactly that line and exits with [`Error::exit_code`].

use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// An I/O failure, with what we were doing at the time.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Input that is malformed, hostile or inconsistent: corrupt JSON, a digest that
    /// does not match, a path-like digest, an unknown layout version...
    #[error("{0}")]
    Invalid(String),
    /// Content whose hash is not the digest that names it (a corrupt or forged blob).
    #[error("{0}")]
    DigestMismatch(String),
    /// The change would replace something the user has not agreed to replace (a name
    /// that already points elsewhere); `--force` says yes.
    #[error("{0}")]
    Conflict(String),
    /// A key could not be read, decrypted or used.
    #[error("{0}")]
    Key(String),
    /// The password does not open the key.
    #[error("decrypting the private key failed: wrong password (or a corrupted key file)")]
    WrongPassword,
    /// An image or reference that does not exist where we looked.
    #[error("{0}")]
    NotFound(String),
    /// `fsck` and friends found problems (already reported one per line).
    #[error("{0}")]
    Check(String),
    /// `verify`: the image has no signatures (cosign's exit code 10).
    #[error("{0}")]
    NoSignatures(String),
    /// `verify`: the image itself was not found (cosign's exit code 11).
    #[error("{0}")]
    ImageNotFound(String),
    /// `verify`: signatures exist but none verified (cosign's exit code 12).
    #[error("{0}")]
    NoMatchingSignatures(String),
    /// `verify` by certificate: no signature carries a certificate (cosign's exit
    /// code 13, "no certificate found on signature").
    #[error("{0}")]
    NoCertificate(String),
    /// A registry refused, failed or answered something inconsistent; the message
    /// names the host, repository and operation (never credentials).
    #[error("{0}")]
    Registry(String),
}

impl Error {
    /// An I/O error with what we were doing. A blob check that failed inside a
    /// stream ([`crate::verify::VerifyingReader`]) comes out as its own typed error.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        if source.get_ref().is_some_and(|e| e.is::<Error>()) {
            let inner = source.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// An I/O error about a path, e.g. `reading /x/index.json: No such file`.
    pub fn io_path(what: &str, path: &Path, source: std::io::Error) -> Self {
        Error::io(format!("{what} {}", path.display()), source)
    }

    /// The same error with where it happened in front (`REPO: …`, `/store: …`).
    pub fn within(self, place: impl std::fmt::Display) -> Self {
        match self {
            Error::Invalid(m) => Error::Invalid(format!("{place}: {m}")),
            Error::DigestMismatch(m) => Error::DigestMismatch(format!("{place}: {m}")),
            Error::NotFound(m) => Error::NotFound(format!("{place}: {m}")),
            Error::Registry(m) => Error::Registry(format!("{place}: {m}")),
            Error::Io { context, source } => Error::Io {
                context: format!("{place}: {context}"),
                source,
            },
            e => e,
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::NoSignatures(_) => 10,
            Error::ImageNotFound(_) => 11,
            Error::NoMatchingSignatures(_) => 12,
            Error::NoCertificate(_) => 13,
            _ => 1,
        }
    }
}
