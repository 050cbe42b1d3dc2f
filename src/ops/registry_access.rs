//! How a command reaches registries: the `--creds`, `--ca-cert`, `--cert-dir`,
//! `--insecure`, `--plain-http`, `--transfer-timeout` and `--min-rate` flags, turned
//! into a [`RegistryClient`]. `pull` and `sync` share it.

use std::path::PathBuf;
use std::time::Duration;

use crate::registry::{CredentialSource, Deadlines, Options, RegistryClient, default_auth_files};
use crate::{Error, Result};

/// The registry flags of one invocation.
#[derive(Clone, Debug, Default)]
pub struct RegistryAccess {
    /// `USER:PASS` for every registry of the run; otherwise docker's and podman's
    /// auth files.
    pub creds: Option<String>,
    pub ca_certs: Vec<PathBuf>,
    pub cert_dirs: Vec<PathBuf>,
    pub insecure: bool,
    pub plain_http: bool,
    /// `--transfer-timeout SECONDS`: the base of each request's deadline.
    pub transfer_timeout: Option<String>,
    /// `--min-rate BYTES`: the slowest throughput accepted per second (0: no
    /// deadlines).
    pub min_rate: Option<String>,
}

impl RegistryAccess {
    /// A client with these credentials and this TLS trust (other settings default).
    pub fn client(&self) -> Result<RegistryClient> {
        RegistryClient::new(self.options()?)
    }

    fn options(&self) -> Result<Options> {
        Ok(Options {
            credentials: match &self.creds {
                Some(c) => CredentialSource::from_creds(c)?,
                None => CredentialSource::DockerConfig {
                    files: default_auth_files(),
                },
            },
            ca_files: self.ca_certs.clone(),
            certs_dirs: self.cert_dirs.clone(),
            insecure: self.insecure,
            plain_http: self.plain_http,
            deadlines: self.deadlines()?,
            ..Options::default()
        })
    }

    /// The deadline knobs, checked (a usage error before any request).
    pub fn deadlines(&self) -> Result<Deadlines> {
        let mut d = Deadlines::default();
        if let Some(t) = &self.transfer_timeout {
            d.base = parse_seconds(t)?;
        }
        if let Some(r) = &self.min_rate {
            d.min_rate = parse_rate(r)?;
        }
        Ok(d)
    }
}

/// `--transfer-timeout`: seconds above 0, decimals allowed (`90`, `2.5`).
fn parse_seconds(s: &str) -> Result<Duration> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v <= 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--transfer-timeout {s:?}: expected seconds above 0, such as 60 or 2.5"
            ))
        })
}

/// `--min-rate`: bytes per second, or a number with K, M or G (powers of 1024);
/// 0 turns the deadlines off.
fn parse_rate(s: &str) -> Result<u64> {
    let bad = || {
        Error::Usage(format!(
            "--min-rate {s:?}: expected bytes per second such as 16K, 1M or 65536 (0: no deadline)"
        ))
    };
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let unit = unit.to_ascii_uppercase();
    let unit = unit.strip_suffix("/S").unwrap_or(&unit);
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_knobs_parse() {
        let a = RegistryAccess {
            transfer_timeout: Some("2.5".into()),
            min_rate: Some("16K".into()),
            ..RegistryAccess::default()
        };
        let d = a.deadlines().unwrap();
        assert_eq!(d.base, Duration::from_millis(2500));
        assert_eq!(d.min_rate, 16 * 1024);
        assert_eq!(parse_rate("0").unwrap(), 0);
        assert_eq!(parse_rate("1MiB/s").unwrap(), 1 << 20);
        assert_eq!(parse_rate("300").unwrap(), 300);
        for bad in ["", "fast", "-1", "1.5K", "9999999999999G"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        for bad in ["0", "-3", "soon", "NaN", "inf"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RegistryAccess::default().deadlines().unwrap(),
            Deadlines::default()
        );
    }
}
