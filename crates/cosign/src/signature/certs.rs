//! X.509 certificates on signatures, as cosign handles them: the signing certificate
//! (`dev.sigstore.cosign/certificate`) and its chain (`dev.sigstore.cosign/chain`).
//!
//! - Reading: certificate files are PEM (read as leniently as Go's `encoding/pem`:
//!   text around blocks, any line width, CRLF) or, for a single certificate, DER.
//! - Writing: PEM exactly as Go's `pem.EncodeToMemory` (64-column base64, final
//!   newline), which is what cosign stores in the certificate annotation.
//! - Validation: [`verify_chain`] builds a path from a leaf to one of the given
//!   roots at a chosen time, offline, with `rustls-webpki`. cosign asks Go's
//!   `x509.Verify` for EKU codeSigning; webpki would apply a *required* EKU to
//!   every certificate of the path, and intermediates usually carry none, so the
//!   path check uses "required if present" and the leaf's EKU is checked here.

use std::time::Duration;

use crate::keys::PublicKey;
use base64::Engine as _;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{
    EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter, KeyUsage,
    RequiredEkuNotFoundContext,
};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage as X509KeyUsage, SubjectAltName};

/// id-kp-codeSigning, 1.3.6.1.5.5.7.3.3.
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// anyExtendedKeyUsage, 2.5.29.37.0: Go's x509 lets it stand for every purpose.
const ANY_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");
/// The same two OIDs as webpki compares them (the OID's value bytes).
const CODE_SIGNING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
const ANY_EKU_DER: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
/// id-kp-timeStamping, 1.3.6.1.5.5.7.3.8 (RFC 3161 timestamp authorities).
const TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const TIME_STAMPING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];
/// Fulcio's OIDC issuer extension v2 (a DER UTF8String), which cosign prefers to v1.
const FULCIO_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");

/// What a certificate path must allow: signing code (a Fulcio or private-CA
/// signing certificate) or stamping time (an RFC 3161 timestamp authority).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    CodeSigning,
    TimeStamping,
}

impl Usage {
    fn oid(self) -> ObjectIdentifier {
        match self {
            Usage::CodeSigning => CODE_SIGNING,
            Usage::TimeStamping => TIME_STAMPING,
        }
    }

    fn der(self) -> &'static [u8] {
        match self {
            Usage::CodeSigning => CODE_SIGNING_DER,
            Usage::TimeStamping => TIME_STAMPING_DER,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Usage::CodeSigning => "code signing",
            Usage::TimeStamping => "time stamping",
        }
    }
}
/// Fulcio's (deprecated, raw-string) OIDC issuer extension, which cosign prints as
/// `Issuer` in `verify` output.
const FULCIO_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OtherName SAN (a username), which cosign counts among the SANs.
const FULCIO_OTHERNAME_SAN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// Largest certificate or chain file (or annotation) read.
pub const MAX_CERT_FILE: u64 = 1024 * 1024;

/// One parsed certificate, with the DER it was parsed from (kept byte for byte:
/// signatures are over those bytes, and re-encoding is never needed).
#[derive(Clone)]
pub struct Cert {
    der: Vec<u8>,
    cert: x509_cert::Certificate,
}

impl std::fmt::Debug for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cert({})", self.subject())
    }
}

impl Cert {
    /// Parses one DER certificate; nothing may follow it.
    pub fn from_der(der: Vec<u8>) -> Result<Cert, String> {
        let cert = x509_cert::Certificate::from_der(&der)
            .map_err(|e| format!("not an X.509 certificate ({e})"))?;
        Ok(Cert { der, cert })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as cosign stores it (Go's `pem.EncodeToMemory`).
    pub fn to_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der)
    }

    /// The subject, RFC 4514 style, for messages.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// notBefore, as time since the Unix epoch.
    pub fn not_before(&self) -> Duration {
        self.cert
            .tbs_certificate()
            .validity()
            .not_before
            .to_unix_duration()
    }

    /// notAfter, as time since the Unix epoch.
    pub fn not_after(&self) -> Duration {
        self.cert
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
    }

    /// The certificate's public key, if it is of a supported algorithm.
    pub fn verifying_key(&self) -> Result<PublicKey, String> {
        let spki = self
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| format!("the certificate's public key: {e}"))?;
        PublicKey::from_spki_der(&spki).map_err(|e| {
            format!(
                "the certificate's public key: {}",
                e.to_string().trim_start_matches("key: ")
            )
        })
    }

    /// Whether the certificate certifies `key` (compared as keys, so a compressed
    /// point in the certificate still matches).
    pub fn matches_key(&self, key: &PublicKey) -> bool {
        self.verifying_key().is_ok_and(|k| k == *key)
    }

    /// Whether `t` lies within notBefore..=notAfter; the error says which side.
    pub fn check_valid_at(&self, t: Duration) -> Result<(), String> {
        if t > self.not_after() {
            return Err(format!(
                "the certificate expired at {} (checked at {})",
                rfc3339(self.not_after()),
                rfc3339(t)
            ));
        }
        if t < self.not_before() {
            return Err(format!(
                "the certificate is not valid before {} (checked at {})",
                rfc3339(self.not_before()),
                rfc3339(t)
            ));
        }
        Ok(())
    }

    /// The leaf rule: the extended key usage must allow code signing (cosign verifies
    /// with EKU codeSigning), and a key usage extension, when present, must allow
    /// digital signatures (RFC 5280 4.2.1.3).
    pub fn check_code_signing(&self) -> Result<(), String> {
        self.check_usage(Usage::CodeSigning)
    }

    /// The leaf rule for `usage`: the extended key usage must list it (or, for code
    /// signing, anyExtendedKeyUsage, as Go allows), and a key usage extension, when
    /// present, must allow digital signatures.
    pub fn check_usage(&self, usage: Usage) -> Result<(), String> {
        let tbs = self.cert.tbs_certificate();
        let wanted = format!("{} ({})", usage.name(), usage.oid());
        match tbs.get_extension::<ExtendedKeyUsage>() {
            Err(e) => return Err(format!("malformed extended key usage extension ({e})")),
            Ok(None) => {
                return Err(format!(
                    "the certificate has no extended key usage; {wanted} is required"
                ));
            }
            Ok(Some((_, eku))) => {
                let any = usage == Usage::CodeSigning;
                if !eku
                    .0
                    .iter()
                    .any(|o| *o == usage.oid() || (any && *o == ANY_EKU))
                {
                    let list: Vec<String> = eku.0.iter().map(|o| o.to_string()).collect();
                    return Err(format!(
                        "the certificate's extended key usage ({}) does not include {wanted}",
                        list.join(", ")
                    ));
                }
            }
        }
        match tbs.get_extension::<X509KeyUsage>() {
            Err(e) => Err(format!("malformed key usage extension ({e})")),
            Ok(Some((_, ku))) if !ku.digital_signature() => {
                Err("the certificate's key usage does not include digitalSignature".into())
            }
            Ok(_) => Ok(()),
        }
    }

    /// The parsed certificate.
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.cert
    }

    /// The subject key identifier extension's value, if present.
    pub fn subject_key_identifier(&self) -> Option<Vec<u8>> {
        self.cert
            .tbs_certificate()
            .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .map(|(_, ski)| ski.0.as_bytes().to_vec())
    }

    /// Subject equals issuer.
    pub fn is_self_issued(&self) -> bool {
        let tbs = self.cert.tbs_certificate();
        tbs.subject() == tbs.issuer()
    }

    /// Self-issued, and its signature verifies with its own key.
    pub fn is_self_signed(&self) -> bool {
        self.is_self_issued() && self.signed_by(self)
    }

    /// Whether `issuer`'s key verifies this certificate's signature (any algorithm
    /// webpki knows: ECDSA P-256/P-384, RSA, Ed25519).
    fn signed_by(&self, issuer: &Cert) -> bool {
        let strip = |der: Vec<u8>| tlv(&der).map(|(_, contents)| contents.to_vec());
        let Some(sig_alg) = self
            .cert
            .signature_algorithm()
            .to_der()
            .ok()
            .and_then(strip)
        else {
            return false;
        };
        let spki = issuer.cert.tbs_certificate().subject_public_key_info();
        let Some(key_alg) = spki.algorithm.to_der().ok().and_then(strip) else {
            return false;
        };
        let Some(tbs) = tbs_bytes(&self.der) else {
            return false;
        };
        let (Some(key), Some(sig)) = (
            spki.subject_public_key.as_bytes(),
            self.cert.signature().as_bytes(),
        ) else {
            return false;
        };
        webpki::ALL_VERIFICATION_ALGS.iter().any(|alg| {
            alg.signature_alg_id().as_ref() == sig_alg.as_slice()
                && alg.public_key_alg_id().as_ref() == key_alg.as_slice()
                && alg.verify_signature(key, tbs, sig).is_ok()
        })
    }

    /// The exact DER of the TBSCertificate (what the issuer signed).
    pub fn tbs_der(&self) -> Option<&[u8]> {
        tbs_bytes(&self.der)
    }

    /// The SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> Result<Vec<u8>, String> {
        self.cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| format!("the certificate's public key: {e}"))
    }

    /// Whether `issuer` names this certificate's issuer (by distinguished name).
    pub fn named_issuer_is(&self, issuer: &Cert) -> bool {
        self.cert.tbs_certificate().issuer() == issuer.cert.tbs_certificate().subject()
    }

    /// The first subject alternative name, in cosign's order (DNS names, emails,
    /// IP addresses, URIs): what `cosign verify` prints as the certificate subject.
    pub fn first_san(&self) -> Option<String> {
        let (_, san) = self
            .cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .ok()??;
        let pick = |want: u8| {
            san.0.iter().find_map(|n| match (want, n) {
                (0, GeneralName::DnsName(s))
                | (1, GeneralName::Rfc822Name(s))
                | (3, GeneralName::UniformResourceIdentifier(s)) => Some(s.to_string()),
                (2, GeneralName::IpAddress(ip)) => ip_string(ip.as_bytes()),
                _ => None,
            })
        };
        (0..4).find_map(pick)
    }

    /// Every subject alternative name as cosign's `getSubjectAlternateNames` lists
    /// them for `--certificate-identity`: DNS names, emails, IP addresses, URIs,
    /// then Fulcio's OtherName username.
    pub fn sans(&self) -> Vec<String> {
        let Ok(Some((_, san))) = self
            .cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for want in 0..5u8 {
            for n in &san.0 {
                let v = match (want, n) {
                    (0, GeneralName::DnsName(s))
                    | (1, GeneralName::Rfc822Name(s))
                    | (3, GeneralName::UniformResourceIdentifier(s)) => Some(s.to_string()),
                    (2, GeneralName::IpAddress(ip)) => ip_string(ip.as_bytes()),
                    (4, GeneralName::OtherName(o)) if o.type_id == FULCIO_OTHERNAME_SAN => o
                        .value
                        .decode_as::<x509_cert::der::asn1::Utf8StringRef<'_>>()
                        .ok()
                        .map(|u| u.as_str().to_owned()),
                    _ => None,
                };
                out.extend(v);
            }
        }
        out
    }

    /// The OIDC issuer cosign 2.5 matches `--certificate-oidc-issuer` against: the
    /// Fulcio v1 extension's raw bytes, or empty. cosign 2.5 does not read the v2
    /// extension (1.3.6.1.4.1.57264.1.8) there — checked against it in
    /// tests/certs.rs — and current Fulcio certificates carry both.
    pub fn oidc_issuer(&self) -> String {
        self.fulcio_issuer().unwrap_or_default()
    }

    /// The Fulcio v1 OIDC issuer extension's raw value, if present: what cosign's
    /// `.sig` path (2.5, and 3.1 for `.sig`) reads; the v2 extension is not read there.
    pub fn fulcio_issuer(&self) -> Option<String> {
        self.cert
            .tbs_certificate()
            .extensions()?
            .iter()
            .find(|e| e.extn_id == FULCIO_ISSUER_V1)
            .map(|e| String::from_utf8_lossy(e.extn_value.as_bytes()).into_owned())
    }

    /// The OIDC issuer as Sigstore bundle verifiers (sigstore-go, so cosign 3's
    /// bundle path) read it: Fulcio's v2 extension (a DER UTF8String) when present,
    /// else the v1 one.
    pub fn bundle_issuer(&self) -> String {
        let v2 = self
            .cert
            .tbs_certificate()
            .extensions()
            .and_then(|exts| exts.iter().find(|e| e.extn_id == FULCIO_ISSUER_V2))
            .and_then(|e| {
                x509_cert::der::asn1::Utf8StringRef::from_der(e.extn_value.as_bytes()).ok()
            })
            .map(|s| s.as_str().to_owned());
        v2.or_else(|| self.fulcio_issuer()).unwrap_or_default()
    }
}

fn ip_string(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?).to_string()),
        _ => None,
    }
}

/// A DER TLV at the start of `b`: (its total length, its contents).
fn tlv(b: &[u8]) -> Option<(usize, &[u8])> {
    let first = *b.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = b
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
        (2 + n, len)
    };
    let total = header.checked_add(len)?;
    Some((total, b.get(header..total)?))
}

/// The exact bytes of the TBSCertificate inside a certificate's DER.
fn tbs_bytes(der: &[u8]) -> Option<&[u8]> {
    let (_, outer) = tlv(der)?;
    let (len, _) = tlv(outer)?;
    outer.get(..len)
}

/// Unix time → `2006-01-02T15:04:05Z`.
pub fn rfc3339(t: Duration) -> String {
    match x509_cert::der::DateTime::from_unix_duration(t) {
        Ok(d) => d.to_string(),
        Err(_) => format!("{}s after the epoch", t.as_secs()),
    }
}

/// PEM exactly as Go's `pem.EncodeToMemory` writes it without headers.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Every PEM block of `input`, as (label, DER). Text between blocks is skipped, as
/// Go's `encoding/pem` skips it.
fn pem_blocks(input: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Err("not a PEM file (binary data; a DER file?)".into());
    };
    let mut out = Vec::new();
    let mut lines = text.lines().map(|l| l.trim_end_matches([' ', '\t', '\r']));
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|r| r.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        loop {
            match lines.next() {
                None => return Err(format!("truncated PEM: no {end} line")),
                Some(l) if l == end => break,
                Some(l) if l.starts_with("-----") => {
                    return Err(format!("malformed PEM: {l} where {end} was expected"));
                }
                // Go allows RFC 1421 headers; certificates never carry any.
                Some(l) if l.contains(':') => {}
                Some(l) => body.push_str(l.trim()),
            }
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("PEM block {} ({label}): bad base64 ({e})", out.len() + 1))?;
        out.push((label.to_owned(), der));
    }
    Ok(out)
}

/// Every certificate of a PEM bundle, in file order. Every block must be a
/// CERTIFICATE (a chain file must never smuggle a key into an annotation), and there
/// must be at least one.
pub fn parse_pem_certificates(input: &[u8]) -> Result<Vec<Cert>, String> {
    let blocks = pem_blocks(input)?;
    if blocks.is_empty() {
        return Err("no PEM certificate in it (no -----BEGIN CERTIFICATE----- line)".into());
    }
    blocks
        .into_iter()
        .enumerate()
        .map(|(i, (label, der))| {
            if label != "CERTIFICATE" {
                return Err(format!(
                    "PEM block {} is \"{label}\", not a CERTIFICATE",
                    i + 1
                ));
            }
            Cert::from_der(der).map_err(|e| format!("PEM block {}: {e}", i + 1))
        })
        .collect()
}

/// A certificate file as cosign's `--certificate` reads it: DER, or PEM whose first
/// block is the certificate (anything after it is ignored, as cosign does).
pub fn read_certificate(input: &[u8]) -> Result<Cert, String> {
    // A DER certificate is a SEQUENCE; PEM is text.
    if input.first() == Some(&0x30) {
        return Cert::from_der(input.to_vec());
    }
    let mut blocks = pem_blocks(input)?.into_iter();
    match blocks.next() {
        None => Err("neither DER nor PEM (no -----BEGIN CERTIFICATE----- line)".into()),
        Some((label, der)) if label == "CERTIFICATE" => Cert::from_der(der),
        Some((label, _)) => Err(format!("the PEM block is \"{label}\", not a CERTIFICATE")),
    }
}

/// The order cosign documents for `--certificate-chain` at sign time, checked by
/// name and signature: the leaf's issuer first, each next certificate the issuer
/// of the one before, and a self-signed root last.
pub fn check_chain_order(leaf: &Cert, chain: &[Cert]) -> Result<(), String> {
    let mut child = leaf;
    for (i, c) in chain.iter().enumerate() {
        if !child.named_issuer_is(c) {
            return Err(format!(
                "certificate {} ({}) is not the issuer of {} (issued by {}); list the \
                 leaf's issuer first and the root last",
                i + 1,
                c.subject(),
                child.subject(),
                child.cert.tbs_certificate().issuer()
            ));
        }
        child = c;
    }
    match chain.last() {
        Some(root) if root.is_self_signed() => Ok(()),
        Some(root) => Err(format!(
            "the last certificate ({}) is not a self-signed root; the chain must end with \
             the root",
            root.subject()
        )),
        None => Err("no certificate in the chain".into()),
    }
}

/// EKU rule for the whole path, as Go's `x509.Verify` applies it: a certificate
/// without the extension allows every usage; one with it must list the usage (or
/// anyExtendedKeyUsage).
struct IfPresent(Usage);

impl ExtendedKeyUsageValidator for IfPresent {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut present = Vec::new();
        for id in iter {
            let id = id?;
            if id == KeyPurposeId::new(self.0.der()) || id == KeyPurposeId::new(ANY_EKU_DER) {
                return Ok(());
            }
            present.push(id.to_decoded_oid());
        }
        if present.is_empty() {
            return Ok(());
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(
            RequiredEkuNotFoundContext {
                required: KeyUsage::required_if_present(self.0.der()),
                present,
            },
        ))
    }
}

/// Validates `leaf` up to one of `roots` (trust anchors) through any of
/// `intermediates`, at time `at`, offline: signatures, validity periods (the roots'
/// too, as Go checks them), basic constraints, path length, name constraints and
/// EKU code signing where present. The leaf's own EKU is [`Cert::check_code_signing`].
pub fn verify_chain(
    leaf: &Cert,
    roots: &[Cert],
    intermediates: &[Cert],
    at: Duration,
) -> Result<(), String> {
    verify_chain_for(leaf, roots, intermediates, at, Usage::CodeSigning)
}

/// [`verify_chain`] for `usage`, with the leaf's own EKU checked too
/// ([`Cert::check_usage`]) when the usage is time stamping.
pub fn verify_chain_for(
    leaf: &Cert,
    roots: &[Cert],
    intermediates: &[Cert],
    at: Duration,
    usage: Usage,
) -> Result<(), String> {
    if usage == Usage::TimeStamping {
        leaf.check_usage(usage)?;
    }
    if roots.is_empty() {
        return Err("no trusted root certificate".into());
    }
    let leaf_der = CertificateDer::from(leaf.der());
    let ee = EndEntityCert::try_from(&leaf_der).map_err(|e| describe(&e))?;
    let root_ders: Vec<CertificateDer<'_>> = roots
        .iter()
        .map(|c| CertificateDer::from(c.der()))
        .collect();
    let anchors = root_ders
        .iter()
        .zip(roots)
        .map(|(d, c)| {
            webpki::anchor_from_trusted_cert(d)
                .map_err(|e| format!("root {}: {}", c.subject(), describe(&e)))
        })
        .collect::<Result<Vec<TrustAnchor<'_>>, String>>()?;
    let inters: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.der()))
        .collect();
    let time = UnixTime::since_unix_epoch(at);
    let path = ee
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &inters,
            time,
            IfPresent(usage),
            None,
            None,
        )
        .map_err(|e| describe(&e))?;
    // webpki treats anchors as timeless; Go's x509.Verify does not.
    let used = anchors
        .iter()
        .position(|a| std::ptr::eq(a, path.anchor()))
        .and_then(|i| roots.get(i));
    if let Some(root) = used {
        root.check_valid_at(at)
            .map_err(|e| format!("root {}: {e}", root.subject()))?;
    }
    Ok(())
}

/// webpki's errors, in words.
fn describe(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => {
            "the certificate does not chain to a trusted root (unknown issuer)".into()
        }
        E::InvalidSignatureForPublicKey => {
            "a certificate's signature does not verify with its issuer's key (untrusted)".into()
        }
        E::CertExpired { time, not_after } => format!(
            "a certificate of the chain expired at {} (checked at {})",
            rfc3339(Duration::from_secs(not_after.as_secs())),
            rfc3339(Duration::from_secs(time.as_secs()))
        ),
        E::CertNotValidYet { time, not_before } => format!(
            "a certificate of the chain is not valid before {} (checked at {})",
            rfc3339(Duration::from_secs(not_before.as_secs())),
            rfc3339(Duration::from_secs(time.as_secs()))
        ),
        E::RequiredEkuNotFoundContext(_) => {
            "an issuing certificate's extended key usage does not allow code signing".into()
        }
        E::CaUsedAsEndEntity => "the signing certificate is a CA certificate".into(),
        E::EndEntityUsedAsCa => "an issuing certificate is not a CA (basicConstraints)".into(),
        E::PathLenConstraintViolated => "the chain violates a path length constraint".into(),
        E::NameConstraintViolation => "the chain violates a name constraint".into(),
        E::UnsupportedCertVersion => "a certificate is not X.509 version 3".into(),
        E::UnsupportedCriticalExtension => {
            "a certificate has an unsupported critical extension".into()
        }
        E::BadDer | E::BadDerTime | E::TrailingData(_) | E::MalformedExtensions => {
            format!("malformed certificate ({e:?})")
        }
        other => format!("certificate verification failed ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_encoded_as_go_does() {
        let der: Vec<u8> = (0..60u8).collect();
        let pem = pem_encode("CERTIFICATE", &der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 80 - 64);
        assert_eq!(lines[3], "-----END CERTIFICATE-----");
        assert!(pem.ends_with("-----\n"));
        // exactly 48 bytes → one full line and no empty line
        let pem = pem_encode("X", &[0u8; 48]);
        assert_eq!(pem.lines().count(), 3);
        assert_eq!(pem_encode("X", &[]), "-----BEGIN X-----\n-----END X-----\n");
    }

    #[test]
    fn pem_blocks_skip_text_and_refuse_damage() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3, 4, 5]);
        let text = format!(
            "Bag Attributes\r\n-----BEGIN A-----\r\n{}\r\n{}\r\n-----END A-----\r\nbetween\n\
             -----BEGIN B-----\n{b64}\n-----END B-----\n",
            &b64[..4],
            &b64[4..]
        );
        let blocks = pem_blocks(text.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0], ("A".into(), vec![1, 2, 3, 4, 5]));
        assert_eq!(blocks[1].0, "B");
        assert!(pem_blocks(b"-----BEGIN A-----\nAAAA\n").is_err());
        assert!(pem_blocks(b"-----BEGIN A-----\n!!!!\n-----END A-----\n").is_err());
        assert!(pem_blocks(&[0x30, 0x82, 0xff, 0xfe]).is_err());
        assert!(parse_pem_certificates(b"just text\n").is_err());
        let not_a_cert = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        assert!(parse_pem_certificates(not_a_cert.as_bytes()).is_err());
        assert!(read_certificate(not_a_cert.as_bytes()).is_err());
        let key = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        let err = parse_pem_certificates(key.as_bytes()).unwrap_err();
        assert!(err.contains("PRIVATE KEY"), "{err}");
    }

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(&[0x30, 0x02, 1, 2, 9]), Some((4, &[1u8, 2][..])));
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        assert_eq!(tlv(&long).map(|(n, c)| (n, c.len())), Some((0x83, 0x80)));
        assert_eq!(tlv(&[0x30, 0x05, 1]), None);
        assert_eq!(tlv(&[0x30, 0x80]), None);
        assert_eq!(
            tbs_bytes(&[0x30, 0x04, 0x30, 0x02, 1, 2]),
            Some(&[0x30, 2, 1, 2][..])
        );
    }

    #[test]
    fn times_are_printed_as_rfc3339() {
        assert_eq!(rfc3339(Duration::from_secs(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
    }
}
