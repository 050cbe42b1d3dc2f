//! TLS per host: the system roots (rustls-platform-verifier), plus extra CA files
//! and a `certs.d` directory (`DIR/<host:port>/*.crt`, docker's layout), or no
//! verification at all with `--insecure`.
//!
//! The handshake is ours, not ureq's: ureq takes either the platform verifier or a
//! fixed root list, and neither accepts what docker's docs tell people to make — a
//! self-signed server certificate (`openssl req -x509 … -subj /CN=HOST -addext
//! subjectAltName=…`) given as its own CA. webpki refuses it as the end-entity
//! (`CaUsedAsEndEntity`: OpenSSL marks it `CA:TRUE`). So [`TlsConnector`] runs
//! rustls with [`PinningVerifier`]: the normal webpki path first, and only when that
//! fails, an exact pin — the server's leaf certificate byte for byte one the user
//! gave (`--ca-cert`, certs.d), still valid now and valid for the host name or IP
//! asked for. The handshake signature is checked by rustls as always, with the
//! leaf's key, so the server proves it holds that certificate's private key.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use super::Options;
use crate::digest::printable_cause;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration for `authority`: what the flags say it is trusted by.
pub(crate) fn client_config(authority: &str, opts: &Options) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = if opts.insecure {
        Arc::new(NoVerification(provider))
    } else {
        let extra = extra_certs(authority, opts)?;
        if extra.is_empty() {
            Arc::new(
                rustls_platform_verifier::Verifier::new(provider)
                    .map_err(|e| format!("TLS: the system's certificate verifier: {e}"))?,
            )
        } else {
            // the system's roots plus the extra CAs, as before; and the extra
            // certificates as pins for a self-signed server certificate
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            roots.add_parsable_certificates(extra.iter().cloned());
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS: {e}"))?;
            Arc::new(PinningVerifier {
                webpki,
                pinned: extra,
            })
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificates of `--ca-cert` files and of `certs_dirs/<authority>/*.crt`.
fn extra_certs(authority: &str, opts: &Options) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut extra = Vec::new();
    for f in &opts.ca_files {
        extra.extend(read_certs(f)?);
    }
    // the authority comes from a validated reference; refuse anything path-like anyway
    if !authority.contains(['/', '\\']) && !authority.starts_with('.') {
        for dir in &opts.certs_dirs {
            let host_dir = dir.join(authority);
            let Ok(entries) = std::fs::read_dir(&host_dir) else {
                continue;
            };
            let mut crts: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .collect();
            crts.sort();
            for c in crts {
                extra.extend(read_certs(&c)?);
            }
        }
    }
    Ok(extra)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("reading CA file {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(&pem) {
        match item {
            Ok(c) => out.push(c),
            Err(e) => return Err(format!("CA file {}: {e}", path.display())),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "CA file {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(out)
}

/// webpki path validation against the roots; failing that, an exact pin.
#[derive(Debug)]
struct PinningVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates the user gave (`--ca-cert`, certs.d), DER.
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refusal = match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Err(refusal);
        }
        verify_pinned(end_entity, server_name, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// A pinned certificate must still be valid now and name the host (or IP) asked
/// for in its subjectAltName (webpki's rules: the CN is not read).
fn verify_pinned(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let ee = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    ee.verify_is_valid_for_subject_name(server_name)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::NotValidForName))?;
    use x509_cert::der::Decode as _;
    let parsed = x509_cert::Certificate::from_der(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let validity = parsed.tbs_certificate().validity();
    let now = Duration::from_secs(now.as_secs());
    if now < validity.not_before.to_unix_duration() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > validity.not_after.to_unix_duration() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

/// `--insecure`: any certificate (the handshake still completes with its key).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Wraps the connection in TLS with this host's [`ClientConfig`] when the URL is
/// `https` (ureq's own rustls connector then sees TLS already and passes).
pub(crate) struct TlsConnector {
    pub(crate) config: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("no host to verify the certificate of"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host)
            .map_err(|_| ureq::Error::Tls("invalid host name for TLS"))?
            .to_owned();
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A TLS connection (as ureq's own rustls transport).
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// A refused certificate, from the error chain of a failed request: rustls's
/// verdict in words, for a one-line error that says it is about the certificate.
pub(crate) fn certificate_refusal(e: &ureq::Error) -> Option<String> {
    let rustls_err = match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    }?;
    let rustls::Error::InvalidCertificate(c) = rustls_err else {
        return None;
    };
    const GIVE: &str =
        "give its CA, or the self-signed certificate itself, with --ca-cert or --cert-dir";
    let why = match c {
        CertificateError::UnknownIssuer => {
            format!("issued by no trusted CA, and not a certificate given; {GIVE}")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "not valid for this host name or IP (its subjectAltName)".to_owned()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "not valid yet".into()
        }
        CertificateError::Other(o) => match o.0.downcast_ref::<webpki::Error>() {
            // webpki's verdict on a self-signed CA:TRUE certificate that is not pinned
            Some(webpki::Error::CaUsedAsEndEntity) => format!(
                "the server presents a CA certificate as its own (self-signed?), not one \
                 given; {GIVE}"
            ),
            Some(w) => printable_cause(&format!("{w:?}")),
            None => printable_cause(&o.0.to_string()),
        },
        other => printable_cause(&format!("{other:?}")),
    };
    Some(format!("TLS certificate refused: {why}"))
}
