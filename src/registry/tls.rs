//! TLS per host: the system roots (rustls-platform-verifier), plus extra CA files
//! and a `certs.d` directory (`DIR/<host:port>/*.crt`, docker's layout), or no
//! verification at all with `--insecure`.

use std::path::Path;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use super::Options;

pub(crate) fn tls_config(authority: &str, opts: &Options) -> Result<TlsConfig, String> {
    let b = TlsConfig::builder();
    if opts.insecure {
        return Ok(b.disable_verification(true).build());
    }
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
    if extra.is_empty() {
        return Ok(b.root_certs(RootCerts::PlatformVerifier).build());
    }
    // ureq takes either the platform verifier or a fixed list: with extra CAs, the
    // list is the system's roots plus those
    let native = rustls_native_certs::load_native_certs();
    let mut roots: Vec<Certificate<'static>> = native
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    roots.extend(extra);
    Ok(b.root_certs(RootCerts::new_with_certs(&roots)).build())
}

fn read_certs(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("reading CA file {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c.to_owned()),
            Ok(_) => {}
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
