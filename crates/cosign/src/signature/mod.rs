//! cosign's signature artifacts: the `sha256-<hex>.sig` image whose layers are
//! simple-signing payloads, each carrying its signature in an annotation.
//!
//! The manifest and config are airsign's own documents here, serialised exactly as
//! cosign (go-containerregistry) serialises them, so that the same layers give the
//! same bytes and the same digest as cosign's. See `docs/cosign-formats` notes in
//! `docs/signatures.md`.

pub mod artifact;
pub mod certs;
pub mod identity;
pub mod inventory;
pub mod policy;
pub mod verify;

pub use artifact::{SigLayer, SignatureArtifact};

/// Media type of a simple-signing payload layer.
pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation holding the signing certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the certificate chain (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation holding a Rekor bundle.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// cosign refuses `.sig` images with more layers than this.
pub const MAX_LAYERS: usize = 1000;
/// Largest payload read for verification.
pub const MAX_PAYLOAD: u64 = 1024 * 1024;

/// The suffix of each kind of cosign artifact tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    Signature,
    Attestation,
    Sbom,
}

impl ArtifactKind {
    pub fn suffix(self) -> &'static str {
        match self {
            ArtifactKind::Signature => "sig",
            ArtifactKind::Attestation => "att",
            ArtifactKind::Sbom => "sbom",
        }
    }

    /// `sha256-<hex>.sig` for an image digest.
    pub fn tag_for(self, digest: &crate::digest::Digest) -> String {
        format!("{}.{}", digest.tag_form(), self.suffix())
    }
}
