//! Signed certificate timestamps (RFC 6962 §3.2), embedded in a Fulcio certificate:
//! a CT log of the trusted root promised to log the precertificate. An SCT is
//! checked over the precertificate's TBS (the certificate's TBS without the SCT
//! list extension), the SHA-256 of the issuer's key, and the SCT's own fields, with
//! the CT log's key; its time must fall within that key's validity.

use std::time::Duration;

use x509_cert::der::Decode as _;

use super::{TrustedRoot, tlog};
use crate::digest::Digest;
use crate::signature::certs::Cert;

/// The DER of the SCT list extension's OID, 1.3.6.1.4.1.11129.2.4.2.
const SCT_LIST_OID: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02,
];

/// One DER element at the start of `b`: (tag, header length, contents length).
fn element(b: &[u8]) -> Result<(u8, usize, usize), String> {
    let bad = || "malformed DER in the certificate".to_string();
    let tag = *b.first().ok_or_else(bad)?;
    let first = *b.get(1).ok_or_else(bad)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 {
            return Err(bad());
        }
        let len = b
            .get(2..2 + n)
            .ok_or_else(bad)?
            .iter()
            .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
        (2 + n, len)
    };
    if b.len() < header + len {
        return Err(bad());
    }
    Ok((tag, header, len))
}

/// The elements of a DER sequence's contents, as byte slices.
fn elements(mut b: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (_, h, l) = element(b)?;
        out.push(&b[..h + l]);
        b = &b[h + l..];
    }
    Ok(out)
}

fn wrap(tag: u8, contents: &[u8]) -> Vec<u8> {
    let n = contents.len();
    let mut out = vec![tag];
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else if n < 0x1_0000 {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    } else {
        out.extend([0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(contents);
    out
}

/// A precertificate's TBS (DER) and the TLS-encoded SCT list taken out of it.
struct Precert {
    tbs: Vec<u8>,
    scts: Vec<u8>,
}

/// The certificate's TBS without the SCT list extension (the precertificate TBS the
/// log signed), and the SCT list's bytes. `None`: no SCT list.
fn precert_tbs(tbs: &[u8]) -> Result<Option<Precert>, String> {
    let (_, h, l) = element(tbs)?;
    let mut fields = Vec::new();
    let mut list = None;
    for f in elements(&tbs[h..h + l])? {
        if f[0] != 0xa3 {
            fields.push(f.to_vec());
            continue;
        }
        let (_, fh, _) = element(f)?;
        let (_, sh, sl) = element(&f[fh..])?;
        let exts = elements(&f[fh + sh..fh + sh + sl])?;
        let mut kept = Vec::new();
        for ext in exts {
            let (_, eh, el) = element(ext)?;
            let body = &ext[eh..eh + el];
            if body.starts_with(SCT_LIST_OID) {
                // OID, then (no critical flag for this one) the OCTET STRING
                let rest = elements(&body[SCT_LIST_OID.len()..])?;
                let octets = rest.last().ok_or("an empty SCT list extension")?;
                let outer = x509_cert::der::asn1::OctetString::from_der(octets)
                    .map_err(|e| format!("the SCT list extension: {e}"))?;
                let inner = x509_cert::der::asn1::OctetString::from_der(outer.as_bytes())
                    .map_err(|e| format!("the SCT list extension: {e}"))?;
                list = Some(inner.as_bytes().to_vec());
            } else {
                kept.extend_from_slice(ext);
            }
        }
        fields.push(wrap(0xa3, &wrap(0x30, &kept)));
    }
    Ok(list.map(|scts| Precert {
        tbs: wrap(0x30, &fields.concat()),
        scts,
    }))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("a truncated SCT".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn num(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, x| (a << 8) | u64::from(*x)))
    }
    fn vec(&mut self, len_bytes: usize) -> Result<&'a [u8], String> {
        let n = self.num(len_bytes)? as usize;
        self.take(n)
    }
}

/// Checks that at least one SCT embedded in `leaf` is from a CT log of `root`, valid
/// at the SCT's time, and verifies. `issuer` is the certificate that issued `leaf`.
pub fn verify_embedded_scts(leaf: &Cert, issuer: &Cert, root: &TrustedRoot) -> Result<(), String> {
    let tbs = leaf.tbs_der().ok_or("malformed certificate")?;
    let Precert {
        tbs: precert,
        scts: list,
    } = precert_tbs(tbs)?
        .ok_or("the signing certificate carries no signed certificate timestamp (SCT)")?;
    let issuer_key_hash = Digest::sha256(&issuer.spki_der()?).to_bytes();
    let mut r = Reader(&list);
    let mut all = Reader(r.vec(2)?);
    if !r.0.is_empty() {
        return Err("trailing bytes after the SCT list".into());
    }
    let mut last = "no SCT is from a CT log of the trusted root".to_string();
    while !all.0.is_empty() {
        let mut sct = Reader(all.vec(2)?);
        let version = sct.num(1)?;
        let log_id = sct.take(32)?;
        let timestamp = sct.num(8)?;
        let extensions = sct.vec(2)?;
        let _hash_alg = sct.num(1)?;
        let _sig_alg = sct.num(1)?;
        let signature = sct.vec(2)?;
        if version != 0 || !sct.0.is_empty() {
            last = "an SCT of an unknown version".into();
            continue;
        }
        let Some(log) = root.ctlogs.iter().find(|l| l.key_id == log_id) else {
            continue;
        };
        let at = Duration::from_millis(timestamp);
        if !log.valid.contains(at) {
            last = "an SCT's CT log key is not valid at the SCT's time".into();
            continue;
        }
        let mut msg = vec![0u8, 0u8];
        msg.extend(timestamp.to_be_bytes());
        msg.extend([0u8, 1u8]);
        msg.extend(&issuer_key_hash);
        let n = precert.len();
        msg.extend([(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        msg.extend(&precert);
        msg.extend((extensions.len() as u16).to_be_bytes());
        msg.extend(extensions);
        match tlog::verify_log_signature(log, &msg, signature) {
            Ok(()) => return Ok(()),
            Err(e) => last = format!("an SCT: {e}"),
        }
    }
    Err(format!("no valid signed certificate timestamp: {last}"))
}
