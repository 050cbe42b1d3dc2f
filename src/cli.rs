//! Command-line interface: argument definitions (clap) and dispatch to [`crate::ops`].
//! Nothing here touches files; it only turns arguments into calls.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ops;
use crate::{Error, Result};

#[derive(Debug, Parser)]
#[command(
    name = "airsign",
    version,
    about = "Sign container images on an air-gapped workstation, in cosign's and skopeo's formats",
    long_about = "airsign keeps images in an OCI image layout (the store) and signs, verifies, \
                  carries and syncs them without a registry. Every signature it writes verifies \
                  with the real cosign and with skopeo's sigstore policy."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The store: an OCI image layout directory holding every image airsign manages
    /// [default: $XDG_DATA_HOME/airsign/store, i.e. ~/.local/share/airsign/store]
    #[arg(long, global = true, env = "AIRSIGN_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the store itself
    #[command(subcommand)]
    Store(StoreCommand),
    /// Copy images and their signatures into the store from a layout or an archive, keeping every digest
    Import(ImportArgs),
    /// List the images in the store: digest, platforms, signatures and attestations of each
    Ls(LsArgs),
    /// Print the raw manifest or index bytes of an image
    Inspect(InspectArgs),
    /// Re-hash every blob and check that everything index.json reaches is present
    Fsck(FsckArgs),
    /// Generate a key pair in cosign's format (P.key, P.pub): ECDSA P-256, or --signing-algorithm
    GenerateKeyPair(GenerateKeyPairArgs),
    /// Re-encode a PEM private key (PKCS#8, SEC1, PKCS#1, encrypted PKCS#8) in cosign's format
    ImportKeyPair(ImportKeyPairArgs),
    /// Print the public key (SPKI PEM) of a private key
    PublicKey(PublicKeyArgs),
    /// List a PKCS#11 module's tokens and the URIs of their keys (cosign pkcs11-tool)
    #[command(subcommand)]
    Pkcs11(Pkcs11Command),
    /// Print the simple-signing payload cosign would sign for an image
    Generate(GenerateArgs),
    /// Sign images offline, storing cosign .sig artifacts in the layout (cosign sign)
    Sign(SignArgs),
    /// Verify images' signatures offline, with a key, CA certificates or keyless (cosign verify)
    Verify(VerifyArgs),
    /// Attest an image offline: sign an in-toto statement with a predicate (cosign attest)
    #[command(after_help = "Examples:\n  \
        airsign attest --key cosign.key --type slsaprovenance --predicate prov.json registry.example.com/app:v1\n  \
        airsign attest --key cosign.key --type spdxjson --predicate sbom.spdx.json --new-bundle-format=true registry.example.com/app:v1")]
    Attest(AttestArgs),
    /// Verify an image's attestations offline, with a key or keyless (cosign verify-attestation)
    VerifyAttestation(VerifyAttestationArgs),
    /// Sign a file (a chart, an SBOM, an ISO) with a key, offline (cosign sign-blob)
    #[command(
        long_about = "Sign a file (a chart, an SBOM, an ISO) with a cosign key, offline, as cosign \
                      3's sign-blob: over the key's hash of the file's bytes (SHA-256 for P-256 and \
                      RSA, SHA-384 for P-384, SHA-512 for P-521; Ed25519 signs the bytes), \
                      read once as a stream whatever its size. By default the signature goes into a \
                      Sigstore bundle (v0.3, --bundle required), the bytes cosign 3.1.1 writes; \
                      --new-bundle-format=false writes cosign's legacy outputs (base64 signature \
                      on stdout or --output-signature, legacy --bundle). The password is \
                      COSIGN_PASSWORD, else a prompt, else stdin. airsign never uploads to a \
                      transparency log.",
        after_help = "Examples:\n  \
                      COSIGN_PASSWORD=… airsign sign-blob --key cosign.key --bundle chart.tgz.sigstore.json chart.tgz\n  \
                      airsign sign-blob --key cosign.key --new-bundle-format=false --output-signature sbom.sig sbom.json\n  \
                      cat image.iso | COSIGN_PASSWORD=… airsign sign-blob --key cosign.key --bundle image.iso.bundle -"
    )]
    SignBlob(SignBlobArgs),
    /// Verify a file against its bundle or signature, with a key or keyless, offline (cosign verify-blob)
    #[command(
        long_about = "Verify a file against a Sigstore bundle (message signature, or DSSE whose \
                      in-toto statement names the file's sha256), cosign's legacy bundle, or a \
                      bare signature (a file or the base64 text; base64 or raw DER), with a \
                      public key, offline; or keyless: a Sigstore bundle's Fulcio certificate, \
                      Rekor v1 entries (SET, inclusion proof, checkpoint), Rekor v2 entries and \
                      RFC 3161 timestamps against a pinned --trusted-root, with the expected \
                      --certificate-identity and --certificate-oidc-issuer. With --key and \
                      --trusted-root, the key's signature and the bundle's log entries and \
                      timestamps are checked. FILE may be sha256:<hex>, the file's digest. \
                      The file is read once as a stream. Prints `Verified OK` on stderr and \
                      exits 0, or prints one line saying what is wrong and exits 1. airsign \
                      never contacts a transparency log: with --key alone, verification is \
                      what cosign's --insecure-ignore-tlog does; otherwise the bundle's own \
                      proofs are checked offline.",
        after_help = "Examples:\n  \
                      airsign verify-blob --key cosign.pub --bundle chart.tgz.sigstore.json chart.tgz\n  \
                      airsign verify-blob --key cosign.pub --signature sbom.sig sbom.json\n  \
                      cat image.iso | airsign verify-blob --key cosign.pub --bundle image.iso.bundle -\n  \
                      airsign verify-blob --bundle a.sigstore.json --trusted-root trusted_root.json \\\n      \
                      --certificate-identity ci@example.com --certificate-oidc-issuer https://accounts.google.com a.txt"
    )]
    VerifyBlob(VerifyBlobArgs),
    /// Print the tag of an image's signature (or attestation, SBOM) artifact
    Triangulate(TriangulateArgs),
    /// List every signature, attestation and referrer of an image and its platforms
    #[command(
        after_help = "Examples:\n  airsign signatures registry.example.com/app:v1\n  \
        airsign signatures --key cosign.pub --json oci-archive:carry.tar:registry.example.com/app:v1"
    )]
    Signatures(SignaturesArgs),
    /// Attach something made elsewhere to an image
    #[command(subcommand)]
    Attach(AttachCommand),
    /// Write images with their signatures to an oci-archive, an OCI layout, or a cosign save layout
    Export(ExportArgs),
    /// Remove an image's signatures, attestations or SBOMs from the layout
    Clean(CleanArgs),
    /// Remove blobs nothing in index.json refers to
    Gc(GcArgs),
    /// Push images with their .sig/.att/.sbom artifacts to registries, byte for byte
    Sync(SyncArgs),
    /// Copy images from registries into the store with their .sig/.att/.sbom tags and referrers
    Pull(PullArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completion(crate::help::CompletionArgs),
    /// Print airsign's man page, or write one page per command into a directory
    Man(crate::help::ManArgs),
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Registry references (tag, or REPO:TAG@sha256:…), named in the store as REGISTRY/REPO:TAG
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// Only this platform's manifest of an index (the entry then has that manifest's digest)
    #[arg(
        long,
        value_name = "OS/ARCH[/VARIANT]",
        conflicts_with = "all_platforms"
    )]
    pub platform: Option<String>,
    /// The whole index with every platform (the default)
    #[arg(long)]
    pub all_platforms: bool,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Blobs downloaded at once (1 to 64, as sync)
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
}

/// How to reach registries (pull and sync).
#[derive(Debug, Args)]
pub struct RegistryFlags {
    /// Registry credentials (default: docker's and podman's auth files)
    #[arg(
        long,
        value_name = "USER:PASS",
        env = "AIRSIGN_CREDS",
        hide_env_values = true
    )]
    pub creds: Option<String>,
    /// Also trust this CA certificate (PEM) for TLS (repeatable)
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// certs.d-style directory: DIR/HOST:PORT/*.crt are CAs for that registry (repeatable)
    #[arg(long = "cert-dir", value_name = "DIR")]
    pub cert_dir: Vec<PathBuf>,
    /// Do not verify registries' TLS certificates
    #[arg(long, visible_alias = "allow-insecure-registry")]
    pub insecure: bool,
    /// Talk plain HTTP to every registry (loopback registries fall back to it anyway)
    #[arg(long, visible_alias = "allow-http-registry")]
    pub plain_http: bool,
    /// Each request's deadline is SECONDS (connecting, the answer's head, a small
    /// document) plus its bytes at --min-rate [default: 60]
    #[arg(long, value_name = "SECONDS", env = "AIRSIGN_TRANSFER_TIMEOUT")]
    pub transfer_timeout: Option<String>,
    /// The slowest transfer accepted, bytes per second (16K, 1M); a request slower
    /// than its deadline allows fails. 0: no deadline [default: 16K]
    #[arg(long, value_name = "BYTES", env = "AIRSIGN_MIN_RATE")]
    pub min_rate: Option<String>,
}

impl RegistryFlags {
    fn access(self) -> ops::registry_access::RegistryAccess {
        ops::registry_access::RegistryAccess {
            creds: self.creds,
            ca_certs: self.ca_cert,
            cert_dirs: self.cert_dir,
            insecure: self.insecure,
            plain_http: self.plain_http,
            transfer_timeout: self.transfer_timeout,
            min_rate: self.min_rate,
        }
    }
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Images to push (with their referrers and .sig/.att/.sbom artifacts): references in
    /// the store, oci:DIR[:REF] or oci-archive:FILE[:REF]; with --from, REFs in that source
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Push every image of the store (or of --from), and artifacts whose image is not there
    #[arg(long)]
    pub all: bool,
    /// Push from this layout instead of the store: oci:DIR or oci-archive:FILE (also
    /// .tar.zst and split parts), read in place
    #[arg(long, value_name = "LOCATION")]
    pub from: Option<String>,
    /// Images pushed at once, and blob transfers at once
    #[arg(long, value_name = "N", default_value_t = ops::sync::DEFAULT_JOBS as u16,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Keep open upload sessions here, for a rerun to resume [default: the store's
    /// .airsign/sync/uploads, or ~/.local/state/airsign/sync/uploads without a store]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Push to this registry instead of each image's own, under an optional path prefix:
    /// registry.example.com/team/app with --to 127.0.0.1:5000/mirror goes to
    /// 127.0.0.1:5000/mirror/team/app
    #[arg(long, value_name = "REGISTRY[/PREFIX]")]
    pub to: Option<String>,
    /// Rewrite repositories by prefix, on whole path components; wins over --to
    /// (repeatable; the longest matching FROM applies)
    #[arg(long = "map", value_name = "FROM=TO")]
    pub map: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Print what would be sent; send no write request
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse, before sending anything, when a signature's identity is not its destination
    #[arg(long)]
    pub strict_identity: bool,
    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Images in the store to export (with their .sig/.att/.sbom artifacts)
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Export every image of the store
    #[arg(long)]
    pub all: bool,
    /// Where: oci-archive:FILE.tar, oci:DIR, or DIR with --format cosign
    #[arg(long, value_name = "DEST")]
    pub to: String,
    /// oci (an OCI layout, in a tarball or a directory) or cosign (cosign save's layout)
    #[arg(long, value_name = "FORMAT", default_value = "oci", value_parser = ["oci", "cosign"])]
    pub format: String,
    /// Compress the archive: zstd writes FILE.tar.zst
    #[arg(long, value_name = "ALGORITHM", value_parser = ["zstd"])]
    pub compress: Option<String>,
    /// zstd's level, 1 (fastest) to 19 (smallest); default 3, as zstd's
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(i32).range(1..=19))]
    pub compress_level: Option<i32>,
    /// Split the archive into parts of at most SIZE (4G, 700M, 2K): FILE.tar.000, .001, …
    #[arg(long, value_name = "SIZE")]
    pub split: Option<String>,
    /// Leave out the .sig/.att/.sbom artifacts
    #[arg(long)]
    pub no_signatures: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// What to remove
    #[arg(long = "type", value_name = "TYPE", default_value = "all",
          value_parser = ["signature", "attestation", "sbom", "referrer", "all"])]
    pub kind: String,
    /// Do not ask for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// The image: a reference in the store, or oci:DIR[:REF]
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Pkcs11Command {
    /// List the tokens of a PKCS#11 module: slot id, label, manufacturer, model, serial
    ListTokens(Pkcs11ModuleArgs),
    /// List the private keys of the token in a slot, each with its pkcs11: URI for --key
    ListKeysUris(Pkcs11KeysArgs),
}

#[derive(Debug, Args)]
pub struct Pkcs11ModuleArgs {
    /// The PKCS#11 module (an absolute path to the .so)
    #[arg(long, value_name = "PATH", env = "COSIGN_PKCS11_MODULE_PATH")]
    pub module_path: PathBuf,
}

#[derive(Debug, Args)]
pub struct Pkcs11KeysArgs {
    /// The PKCS#11 module (an absolute path to the .so)
    #[arg(long, value_name = "PATH", env = "COSIGN_PKCS11_MODULE_PATH")]
    pub module_path: PathBuf,
    /// The token's slot (`airsign pkcs11 list-tokens` shows it). The PIN is
    /// COSIGN_PKCS11_PIN, else asked on the terminal; never an argument
    #[arg(long, value_name = "N")]
    pub slot_id: u64,
}

#[derive(Debug, Subcommand)]
pub enum AttachCommand {
    /// Attach a signature made elsewhere (openssl, an HSM) to an image's .sig
    Signature(AttachSignatureArgs),
}

#[derive(Debug, Args)]
pub struct AttachSignatureArgs {
    /// The signed payload, exactly the bytes that were signed
    #[arg(long, value_name = "FILE")]
    pub payload: PathBuf,
    /// The base64 signature: a file, - for stdin, or the base64 text itself
    #[arg(long, value_name = "FILE|-|BASE64")]
    pub signature: String,
    /// The signing certificate (PEM), stored as the certificate annotation
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// The certificate chain (PEM), stored as the chain annotation
    #[arg(long, value_name = "FILE")]
    pub certificate_chain: Option<PathBuf>,
    /// Check the signature with this public key before attaching it
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// The image: a reference in the store, or oci:DIR[:REF]
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create an empty store (an OCI image layout); an existing one is left as it is
    Init,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Where the images are: oci:DIR[:REF], oci-archive:FILE[:REF] (also .tar.zst and
    /// split parts), or docker-archive:FILE
    #[arg(value_name = "SRC")]
    pub source: String,
    /// Import only these images of SRC (a tag, a full reference or a digest)
    #[arg(value_name = "REF")]
    pub refs: Vec<String>,
    /// Repository for entries that carry only a tag: `--repository registry.example.com/app`
    /// turns tag `v1` into `registry.example.com/app:v1`. For a cosign save layout (no
    /// names at all) give REPO:TAG
    #[arg(long, value_name = "REPO")]
    pub repository: Option<String>,
    /// Rename repositories on the way in (prefix match), e.g. a registry host:
    /// `--rename registry.example.com=mirror.internal` (repeatable)
    #[arg(long, value_name = "FROM=TO")]
    pub rename: Vec<String>,
    /// Import only images whose signatures verify with this public key; report the rest
    #[arg(long, value_name = "KEY", conflicts_with = "trusted_root")]
    pub verify_key: Option<String>,
    /// Import only images whose signatures verify keyless against this pinned Sigstore
    /// trusted root (`trusted_root.json`) for --certificate-identity and
    /// --certificate-oidc-issuer, as `verify --trusted-root`; report the rest
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    #[command(flatten)]
    pub identity: KeylessIdentityFlags,
    /// Move a name the store already gives to another image (without it such an
    /// import is refused and nothing changes); each move is reported
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// What to list: the store (default), oci:DIR or oci-archive:FILE
    #[arg(value_name = "LOCATION")]
    pub location: Option<String>,
    /// Print JSON (one array, every entry, artifacts included) instead of a table
    #[arg(long)]
    pub json: bool,
    /// Also list the .sig/.att/.sbom entries (and other artifacts) as lines of their own
    #[arg(long)]
    pub all: bool,
    /// Count only the signatures that verify with this public key (a path or env://VAR)
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The image: a reference in the store, oci:DIR[:REF] or oci-archive:FILE[:REF]
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct FsckArgs {
    /// What to check: the store (default), oci:DIR or oci-archive:FILE
    #[arg(value_name = "LOCATION")]
    pub location: Option<String>,
    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Worker threads for hashing [default: the number of cores]
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct GenerateKeyPairArgs {
    /// Write PREFIX.key and PREFIX.pub
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    pub output_key_prefix: PathBuf,
    /// Overwrite existing key files without asking
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// The key's algorithm, by cosign's name: ecdsa-sha2-256-nistp256 (the default),
    /// ecdsa-sha2-384-nistp384, ecdsa-sha2-512-nistp521,
    /// rsa-sign-pkcs1-{2048,3072,4096}-sha256, rsa-sign-pss-{2048,3072,4096}-sha256
    /// (an RSA key: the key file does not record PKCS#1 v1.5 or PSS), ed25519
    #[arg(long, value_name = "NAME")]
    pub signing_algorithm: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportKeyPairArgs {
    /// The PEM private key to import (PKCS#8, SEC1 "EC PRIVATE KEY", or "ENCRYPTED PRIVATE KEY")
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// Write PREFIX.key and PREFIX.pub
    #[arg(
        short = 'o',
        long,
        value_name = "PREFIX",
        default_value = "import-cosign"
    )]
    pub output_key_prefix: PathBuf,
    /// Overwrite existing key files without asking
    #[arg(short = 'y', long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PublicKeyArgs {
    /// The private key: a path or env://VAR, or a pkcs11: token URI
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// Write the public key here instead of stdout
    #[arg(long, value_name = "FILE")]
    pub outfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Extra key=value pairs for the payload's "optional" section (repeatable)
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// The image: REGISTRY/REPO@sha256:... needs no store; a tag is resolved in the store
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Images: references in the store, or oci:DIR[:REF]
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// The private key: a path or env://VAR (cosign's format), or a pkcs11: token URI
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// key=value pairs for the payload's "optional" section (repeatable)
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// Sign these exact bytes instead of a generated payload
    #[arg(long, value_name = "FILE")]
    pub payload: Option<PathBuf>,
    /// Store the signature in the layout as the cosign .sig artifact (false: only write
    /// the --output-* files). Never uploads anywhere: airsign is offline.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub upload: bool,
    /// Write the base64 signature here (several digests: FILE-sha256-<hex> each)
    #[arg(long, value_name = "FILE")]
    pub output_signature: Option<PathBuf>,
    /// Write the signed payload here (several digests: FILE-sha256-<hex> each)
    #[arg(long, value_name = "FILE")]
    pub output_payload: Option<PathBuf>,
    /// Write the certificate PEM (or the public key PEM without one) here
    #[arg(long, value_name = "FILE")]
    pub output_certificate: Option<PathBuf>,
    /// The signing certificate (PEM or DER); its key must be the signing key
    #[arg(long = "certificate", visible_alias = "cert", value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// The certificate's chain (PEM, issuer first, root last)
    #[arg(
        long = "certificate-chain",
        visible_alias = "cert-chain",
        value_name = "FILE"
    )]
    pub certificate_chain: Option<PathBuf>,
    /// For an image index, sign the index and every manifest in it
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// The docker-reference to claim (REGISTRY/REPO); default: the image's repository
    #[arg(long, value_name = "REPO")]
    pub identity: Option<String>,
    /// Sign every image in the store
    #[arg(long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Same as --yes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[command(flatten)]
    pub sign_compat: OfflineSignFlags,
    /// Signature format. Unset: the cosign 2 `.sig` tag, plus a cosign 3 bundle where
    /// the image already carries bundles (cosign 3 then reads only bundles); false: the
    /// `.sig` only; true: a Sigstore bundle referrer only (cosign 3's default); both
    #[arg(long, value_name = "true|false|both", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = ["true", "false", "both"])]
    pub new_bundle_format: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Images: references in the store, or oci:DIR[:REF]
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// The public key (PEM), a path or env://VAR; a private key's public half works too, or a pkcs11: token key's.
    /// Without it, each signature's certificate is checked against --certificate-chain
    /// or --ca-roots (or, keyless, --trusted-root), and its key used
    #[arg(long, value_name = "KEY", conflicts_with = "trusted_root")]
    pub key: Option<String>,
    /// Keyless: a pinned Sigstore trusted root (TUF `trusted_root.json`). Bundle
    /// referrers and `.sig` layers with a Fulcio certificate and a Rekor bundle are
    /// verified against it offline (transparency-log proofs, certificate at the log's
    /// time, SCTs); needs the identity and issuer flags
    #[arg(long, value_name = "FILE", conflicts_with_all = ["certificate_chain", "ca_roots"])]
    pub trusted_root: Option<PathBuf>,
    /// PEM chain to trust: intermediates first, the root last (cosign's flag)
    #[arg(long, value_name = "FILE", conflicts_with = "ca_roots")]
    pub certificate_chain: Option<PathBuf>,
    /// PEM file of trusted root certificates
    #[arg(long, value_name = "FILE")]
    pub ca_roots: Option<PathBuf>,
    /// PEM file of intermediate certificates (with --ca-roots)
    #[arg(long, value_name = "FILE", requires = "ca_roots")]
    pub ca_intermediates: Option<PathBuf>,
    /// The identity a certificate must name: one of its subject alternative names
    /// (email, URI, DNS name, IP). Required when verifying by certificate without --key
    /// (CA flags or --trusted-root)
    #[arg(long, value_name = "IDENTITY")]
    pub certificate_identity: Option<String>,
    /// Like --certificate-identity, by regular expression (unanchored; wins over it)
    #[arg(long, value_name = "REGEXP")]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer a certificate must name (Fulcio's extension). Required when
    /// verifying by certificate without --key; a private CA's certificates name none:
    /// use --certificate-oidc-issuer-regexp '.*'
    #[arg(long, value_name = "ISSUER")]
    pub certificate_oidc_issuer: Option<String>,
    /// Like --certificate-oidc-issuer, by regular expression (unanchored; wins over it)
    #[arg(long, value_name = "REGEXP")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// Require optional[KEY] == VALUE in the payload (repeatable)
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// Output format of the verified payloads on stdout
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "json",
          value_parser = ["json", "text"])]
    pub output: String,
    #[command(flatten)]
    pub verify_compat: OfflineVerifyFlags,
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The image: a reference in the store, oci:DIR[:REF] or oci-archive:FILE[:REF]
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The private key: a path or env://VAR (cosign's format), or a pkcs11: token URI
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// The predicate file: JSON (any text for --type custom)
    #[arg(long, value_name = "FILE")]
    pub predicate: PathBuf,
    /// The predicate type: custom (default), slsaprovenance, slsaprovenance02,
    /// slsaprovenance1, link, spdx, spdxjson, cyclonedx, vuln, openvex, or a URI
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub kind: String,
    /// Storage. Unset: a layer of the image's cosign .att artifact (cosign 2 and 3 read
    /// it), plus a cosign 3 bundle where the image already carries bundles; false: the
    /// .att only; true: a cosign 3 Sigstore bundle referrer only; both: the two
    #[arg(long, value_name = "true|false|both", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = ["true", "false", "both"])]
    pub new_bundle_format: Option<String>,
    #[command(flatten)]
    pub sign_compat: OfflineSignFlags,
    /// Accepted for cosign compatibility; there is nothing to confirm offline
    #[arg(short = 'y', long, hide = true)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// The image: a reference in the store, oci:DIR[:REF] or oci-archive:FILE[:REF]
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The public key (PEM), a path or env://VAR; a private key's public half works too, or a pkcs11: token key's
    #[arg(
        long,
        value_name = "KEY",
        required_unless_present = "trusted_root",
        conflicts_with = "trusted_root"
    )]
    pub key: Option<String>,
    /// Keyless: a pinned Sigstore trusted root (TUF `trusted_root.json`); bundle
    /// referrers and `.att` layers with a Fulcio certificate and a Rekor bundle are
    /// verified against it offline, for the identity and issuer flags
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    #[command(flatten)]
    pub identity: KeylessIdentityFlags,
    /// The predicate type to look for: a cosign name (default custom, as cosign) or a URI
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub kind: String,
    #[command(flatten)]
    pub verify_compat: OfflineVerifyFlags,
}

#[derive(Debug, Args)]
pub struct SignBlobArgs {
    /// The file to sign, or - for stdin
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// The private key: a path or env://VAR (cosign's format), or a pkcs11: token URI
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// Write the bundle here: a Sigstore bundle (required with the new bundle format),
    /// or cosign's legacy bundle {"base64Signature","cert"} with --new-bundle-format=false
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Write the signature here instead of stdout: base64 without a newline, or raw DER
    /// with --b64=false (legacy format only; ignored with a warning otherwise, as cosign 3)
    #[arg(long, value_name = "FILE")]
    pub output_signature: Option<PathBuf>,
    /// Accepted for cosign compatibility: a key has no certificate, so nothing is
    /// written (as cosign)
    #[arg(long, value_name = "FILE")]
    pub output_certificate: Option<PathBuf>,
    /// true (default, as cosign 3): a v0.3 Sigstore bundle to --bundle. false: cosign's
    /// legacy outputs (signature on stdout or --output-signature, legacy --bundle)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub new_bundle_format: bool,
    /// Legacy format: base64 signature (default), or the raw DER bytes with false
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub b64: bool,
    /// With an RSA key (a file or a PKCS#11 token key): rsa-sign-pkcs1-SIZE-sha256 (the default) or
    /// rsa-sign-pss-SIZE-sha256; with any other key it must be the key's algorithm
    /// (cosign's names, see generate-key-pair)
    #[arg(long, value_name = "NAME")]
    pub signing_algorithm: Option<String>,
    #[command(flatten)]
    pub sign_compat: OfflineSignFlags,
    /// Accepted for cosign compatibility; there is nothing to confirm offline
    #[arg(short = 'y', long, hide = true)]
    pub yes: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("evidence").required(true).args(["bundle", "signature"])))]
pub struct VerifyBlobArgs {
    /// The file to verify, or - for stdin
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// The public key (PEM), a path or env://VAR; a private key's public half works too, or a pkcs11: token key's
    #[arg(
        long,
        value_name = "KEY",
        required_unless_present = "trusted_root",
        conflicts_with_all = ["certificate_identity", "certificate_identity_regexp",
            "certificate_oidc_issuer", "certificate_oidc_issuer_regexp"]
    )]
    pub key: Option<String>,
    /// A pinned Sigstore trusted root (TUF `trusted_root.json`), offline. Keyless: the
    /// bundle's Fulcio certificate, Rekor entries (v1 and v2) and RFC 3161 timestamps
    /// are verified against it. With --key: the key's signature, and the bundle's
    /// Rekor entries and timestamps against it
    #[arg(long, value_name = "FILE", requires = "bundle")]
    pub trusted_root: Option<PathBuf>,
    #[command(flatten)]
    pub identity: KeylessIdentityFlags,
    /// The bundle: a Sigstore bundle (v0.1 to v0.3; message signature or DSSE), or
    /// cosign's legacy bundle (base64Signature)
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// The signature: a file (base64 or raw DER) or the base64 text itself
    #[arg(long, value_name = "FILE|BASE64")]
    pub signature: Option<String>,
    #[command(flatten)]
    pub verify_compat: OfflineVerifyFlags,
    /// Accepted for cosign compatibility; the bundle's format is read from the file
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true,
           default_missing_value = "true", hide = true)]
    pub new_bundle_format: Option<bool>,
}

#[derive(Debug, Args)]
pub struct SignaturesArgs {
    /// Check each signature with this public key (a path or env://VAR)
    #[arg(long, value_name = "KEY", conflicts_with = "trusted_root")]
    pub key: Option<String>,
    /// Check each signature keyless against this pinned Sigstore trusted root, for
    /// --certificate-identity and --certificate-oidc-issuer
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    #[command(flatten)]
    pub identity: KeylessIdentityFlags,
    /// Print JSON (one object per signature, attestation or referrer)
    #[arg(long)]
    pub json: bool,
    /// The image: a reference in the store, oci:DIR[:REF] or oci-archive:FILE[:REF]
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct TriangulateArgs {
    /// signature, attestation, sbom or digest
    #[arg(long = "type", value_name = "TYPE", default_value = "signature",
          value_parser = ["signature", "attestation", "sbom", "digest"])]
    pub kind: String,
    /// The image: a reference in the store, or oci:DIR[:REF]
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn run() -> Result<i32> {
    // the command tree with every command's examples (crate::help)
    let parsed = crate::help::command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are not errors; clap prints them itself.
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return Ok(code);
        }
    };
    let store = || ops::store_path(cli.global.store.as_deref());
    let done = match cli.command {
        Command::Store(StoreCommand::Init) => ops::store::init(&store()?),
        Command::Import(a) => {
            let opts = ops::import::ImportOptions {
                repository: a.repository,
                rename: a.rename,
                verify_key: a.verify_key,
                trusted_root: a.trusted_root,
                identity: a.identity.into(),
                force: a.force,
                json: a.json,
            };
            ops::import::run(&store()?, &a.source, &a.refs, &opts)
        }
        Command::Ls(a) => {
            let opts = ops::list::LsOptions {
                json: a.json,
                all: a.all,
                key: a.key,
            };
            ops::list::run(&store()?, a.location.as_deref(), &opts)
        }
        Command::Inspect(a) => ops::inspect::run(&store()?, &a.image),
        Command::Fsck(a) => ops::fsck::run(&store()?, a.location.as_deref(), a.json, a.jobs),
        Command::GenerateKeyPair(a) => ops::keys::generate_key_pair(
            &a.output_key_prefix,
            a.yes,
            a.signing_algorithm.as_deref(),
        ),
        Command::ImportKeyPair(a) => {
            ops::keys::import_key_pair(&a.key, &a.output_key_prefix, a.yes)
        }
        Command::PublicKey(a) => ops::keys::public_key(&a.key, a.outfile.as_deref()),
        Command::Pkcs11(Pkcs11Command::ListTokens(a)) => ops::pkcs11::list_tokens(&a.module_path),
        Command::Pkcs11(Pkcs11Command::ListKeysUris(a)) => {
            ops::pkcs11::list_keys_uris(&a.module_path, a.slot_id)
        }
        Command::Generate(a) => ops::generate::run(&store()?, &a.image, &a.annotations),
        Command::Sign(a) => {
            let opts = ops::sign::SignOptions {
                key: a.key,
                annotations: a.annotations,
                payload: a.payload,
                upload: a.upload,
                output_signature: a.output_signature,
                output_payload: a.output_payload,
                output_certificate: a.output_certificate,
                certificate: a.certificate,
                certificate_chain: a.certificate_chain,
                recursive: a.recursive,
                identity: a.identity,
                all: a.all,
                yes: a.yes || a.force,
                new_bundle_format: match a.new_bundle_format.as_deref() {
                    Some("true") => ops::sign::Formats::Bundle,
                    Some("both") => ops::sign::Formats::Both,
                    Some(_) => ops::sign::Formats::Sig,
                    None => ops::sign::Formats::Auto,
                },
            };
            ops::sign::run(&store()?, &a.images, &opts)
        }
        Command::Verify(a) => {
            let opts = ops::verify::VerifyOptions {
                key: a.key,
                certificate_chain: a.certificate_chain,
                ca_roots: a.ca_roots,
                ca_intermediates: a.ca_intermediates,
                annotations: a.annotations,
                identity: ops::trust_flags::Identity {
                    certificate_identity: a.certificate_identity,
                    certificate_identity_regexp: a.certificate_identity_regexp,
                    certificate_oidc_issuer: a.certificate_oidc_issuer,
                    certificate_oidc_issuer_regexp: a.certificate_oidc_issuer_regexp,
                },
                trusted_root: a.trusted_root,
                output: if a.output == "text" {
                    ops::verify::Output::Text
                } else {
                    ops::verify::Output::Json
                },
            };
            ops::verify::run(&store()?, &a.images, &opts)
        }
        Command::Attest(a) => {
            let opts = ops::attest::AttestOptions {
                key: a.key,
                predicate: a.predicate,
                kind: a.kind,
                formats: match a.new_bundle_format.as_deref() {
                    Some("true") => ops::attest::Formats::Bundle,
                    Some("both") => ops::attest::Formats::Both,
                    Some(_) => ops::attest::Formats::Att,
                    None => ops::attest::Formats::Auto,
                },
            };
            ops::attest::attest(&store()?, &a.image, &opts)
        }
        Command::VerifyAttestation(a) => {
            let opts = ops::attest::VerifyAttestationOptions {
                key: a.key,
                trusted_root: a.trusted_root,
                identity: a.identity.into(),
                kind: a.kind,
            };
            ops::attest::verify(&store()?, &a.image, &opts)
        }
        Command::SignBlob(a) => {
            let opts = ops::blob::SignBlobOptions {
                key: a.key,
                bundle: a.bundle,
                output_signature: a.output_signature,
                output_certificate: a.output_certificate,
                new_bundle_format: a.new_bundle_format,
                b64: a.b64,
                signing_algorithm: a.signing_algorithm,
            };
            ops::blob::sign(&a.file, &opts)
        }
        Command::VerifyBlob(a) => {
            let opts = ops::blob::VerifyBlobOptions {
                key: a.key,
                bundle: a.bundle,
                signature: a.signature,
                trusted_root: a.trusted_root,
                identity: a.identity.into(),
            };
            ops::blob::verify(&a.file, &opts)
        }
        Command::Triangulate(a) => ops::triangulate::run(&store()?, &a.image, &a.kind),
        Command::Signatures(a) => {
            let opts = ops::signatures::SignaturesOptions {
                key: a.key,
                trusted_root: a.trusted_root,
                identity: a.identity.into(),
                json: a.json,
            };
            ops::signatures::run(&store()?, &a.image, &opts)
        }
        Command::Export(a) => {
            let opts = ops::export::ExportOptions {
                all: a.all,
                to: a.to,
                format: a.format,
                compress: a.compress,
                compress_level: a.compress_level,
                split: a.split,
                no_signatures: a.no_signatures,
                json: a.json,
            };
            ops::export::run(&store()?, &a.images, &opts)
        }
        Command::Clean(a) => ops::clean::clean(&store()?, &a.image, &a.kind, a.force),
        Command::Gc(a) => ops::clean::gc(&store()?, a.json),
        Command::Sync(a) => {
            let opts = ops::sync::SyncOptions {
                all: a.all,
                from: a.from,
                to: a.to,
                map: a.map,
                registry: a.registry.access(),
                dry_run: a.dry_run,
                strict_identity: a.strict_identity,
                json: a.json,
                jobs: usize::from(a.jobs),
                state_dir: a.state_dir,
            };
            ops::sync::run(&store()?, &a.images, &opts)
        }
        Command::Pull(a) => {
            let opts = ops::pull::PullOptions {
                platform: a.platform,
                all_platforms: a.all_platforms,
                registry: a.registry.access(),
                jobs: usize::from(a.jobs),
                json: a.json,
            };
            ops::pull::run(&store()?, &a.images, &opts)
        }
        Command::Attach(AttachCommand::Signature(a)) => {
            let opts = ops::attach::AttachOptions {
                payload: a.payload,
                signature: a.signature,
                certificate: a.certificate,
                certificate_chain: a.certificate_chain,
                key: a.key,
            };
            ops::attach::run(&store()?, &a.image, &opts)
        }
        Command::Completion(a) => crate::help::completion(a.shell),
        Command::Man(a) => crate::help::man(a.dir.as_deref()),
    };
    done.map(|()| 0)
}

/// Turns `Error` results of argument-level problems into usage errors.
pub fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// The identity a keyless signature's certificate must name, with `--trusted-root`
/// (import's gate, signatures).
#[derive(Debug, Args)]
pub struct KeylessIdentityFlags {
    /// Keyless: the identity the certificate must name (one of its SANs)
    #[arg(long, value_name = "IDENTITY", requires = "trusted_root")]
    pub certificate_identity: Option<String>,
    /// Like --certificate-identity, by regular expression (unanchored; wins over it)
    #[arg(long, value_name = "REGEXP", requires = "trusted_root")]
    pub certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer the certificate must name (Fulcio's extension)
    #[arg(long, value_name = "ISSUER", requires = "trusted_root")]
    pub certificate_oidc_issuer: Option<String>,
    /// Like --certificate-oidc-issuer, by regular expression (unanchored; wins over it)
    #[arg(long, value_name = "REGEXP", requires = "trusted_root")]
    pub certificate_oidc_issuer_regexp: Option<String>,
}

impl From<KeylessIdentityFlags> for ops::trust_flags::Identity {
    fn from(f: KeylessIdentityFlags) -> Self {
        ops::trust_flags::Identity {
            certificate_identity: f.certificate_identity,
            certificate_identity_regexp: f.certificate_identity_regexp,
            certificate_oidc_issuer: f.certificate_oidc_issuer,
            certificate_oidc_issuer_regexp: f.certificate_oidc_issuer_regexp,
        }
    }
}

/// cosign's signing flags for Rekor and signing configs: accepted, so cosign command
/// lines work unchanged, and ignored — airsign never contacts a log or a service.
/// Values only after `=`, as Go's pflag reads a bool flag.
#[derive(Debug, Args)]
pub struct OfflineSignFlags {
    /// Accepted for cosign compatibility; airsign never uploads to a transparency log
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", hide = true)]
    pub tlog_upload: Option<bool>,
    /// Accepted for cosign compatibility; airsign reads no signing config
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", hide = true)]
    pub use_signing_config: Option<bool>,
}

/// cosign's verification flags for the transparency log and the network: accepted
/// and changing nothing — every airsign verification is offline, what
/// `--insecure-ignore-tlog` asks of cosign. Values only after `=`.
#[derive(Debug, Args)]
pub struct OfflineVerifyFlags {
    /// Accepted for cosign compatibility; airsign never consults a transparency log
    /// (only keyless verification reads the tlog entries a bundle carries)
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", hide = true)]
    pub insecure_ignore_tlog: Option<bool>,
    /// Accepted for cosign compatibility; airsign is always offline
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", hide = true)]
    pub offline: Option<bool>,
}
