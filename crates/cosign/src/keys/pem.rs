//! Reading the first PEM block of a file, as leniently as Go's `encoding/pem` does
//! (cosign and skopeo read keys with it): text before the block, any line width,
//! CRLF line ends and anything after the block are accepted. `pem-rfc7468` is
//! stricter (64-column lines, nothing around the block), so it is only used to write.

use base64::Engine as _;
use zeroize::Zeroizing;

/// One PEM block: its label and its decoded contents (zeroized on drop, since the
/// contents may be an unencrypted private key).
pub struct PemBlock {
    pub label: String,
    pub contents: Zeroizing<Vec<u8>>,
}

/// The first PEM block of `input`. Errors are one-line descriptions, without the
/// name of the input (the caller knows it).
pub fn first_block(input: &[u8]) -> Result<PemBlock, String> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Err("not a PEM file (not text)".into());
    };
    let mut lines = text.lines().map(|l| l.trim_end_matches([' ', '\t', '\r']));
    let label = loop {
        match lines.next() {
            None if text.trim().is_empty() => return Err("empty file".into()),
            None => return Err("not a PEM file (no -----BEGIN line)".into()),
            Some(line) => {
                if let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|rest| rest.strip_suffix("-----"))
                {
                    break label;
                }
            }
        }
    };
    let end_line = format!("-----END {label}-----");
    // The base64 text is not secret for encrypted keys, but is for plain ones.
    let mut body = Zeroizing::new(String::with_capacity(text.len()));
    loop {
        match lines.next() {
            None => return Err(format!("truncated PEM: no {end_line} line")),
            Some(line) if line == end_line => break,
            Some(line) if line.starts_with("-----") => {
                return Err(format!(
                    "malformed PEM: {line} where {end_line} was expected"
                ));
            }
            Some(line) if line.contains(':') => {
                return Err(format!(
                    "PEM headers are not supported (\"{label}\" with headers is legacy OpenSSL \
                     encryption; convert it with `openssl pkcs8 -topk8`)"
                ));
            }
            Some(line) => body.push_str(line.trim()),
        }
    }
    let mut contents = Zeroizing::new(Vec::with_capacity(body.len() / 4 * 3 + 3));
    base64::engine::general_purpose::STANDARD
        .decode_vec(body.as_bytes(), &mut contents)
        .map_err(|e| format!("malformed PEM: the \"{label}\" body is not valid base64 ({e})"))?;
    Ok(PemBlock {
        label: label.to_string(),
        contents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_block_with_text_around_it_crlf_and_odd_widths() {
        let pem = "some preamble\r\n-----BEGIN TEST-----\r\naGVs\r\nbG8=\r\n-----END TEST-----\r\ntrailer\n";
        let block = first_block(pem.as_bytes()).unwrap();
        assert_eq!(block.label, "TEST");
        assert_eq!(block.contents.as_slice(), b"hello");
    }

    #[test]
    fn refuses_broken_blocks_with_one_line_messages() {
        let cases: [(&str, &str); 6] = [
            ("", "empty file"),
            ("hello\n", "no -----BEGIN line"),
            ("-----BEGIN TEST-----\naGVsbG8=\n", "truncated PEM"),
            (
                "-----BEGIN TEST-----\naGVsbG8=\n-----END OTHER-----\n",
                "malformed PEM",
            ),
            (
                "-----BEGIN TEST-----\n!!!!\n-----END TEST-----\n",
                "not valid base64",
            ),
            (
                "-----BEGIN TEST-----\nProc-Type: 4,ENCRYPTED\n\naGVsbG8=\n-----END TEST-----\n",
                "headers",
            ),
        ];
        for (input, want) in cases {
            let err = first_block(input.as_bytes()).err().unwrap();
            assert!(err.contains(want), "{input:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        assert!(
            first_block(&[0xff, 0xfe])
                .err()
                .unwrap()
                .contains("not text")
        );
    }
}
