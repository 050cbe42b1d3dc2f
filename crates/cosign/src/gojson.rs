//! JSON strings exactly as Go's `encoding/json` writes them, so payloads airsign
//! generates are byte-identical to cosign's. Go escapes `<`, `>` and `&` (HTML-safe
//! mode, on by default in `json.Marshal`), U+2028 and U+2029, and control characters;
//! everything else, non-ASCII included, is written raw.

/// Appends `s` as a quoted Go JSON string.
pub fn push_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` as a quoted Go JSON string.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_string(&mut out, s);
    out
}

/// Appends a JSON value as Go's `json.Marshal` of an `interface{}` writes it:
/// compact, object keys sorted byte-wise (Go maps), strings escaped as above.
pub fn push_value(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_string(out, k);
                out.push(':');
                push_value(out, &m[k]);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::string;

    #[test]
    fn values_sort_keys_and_escape_like_go() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b":[1,true,null],"a":{"z":"<","y":2.5}}"#).unwrap();
        let mut out = String::new();
        super::push_value(&mut out, &v);
        assert_eq!(out, r#"{"a":{"y":2.5,"z":"\u003c"},"b":[1,true,null]}"#);
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(string("plain"), r#""plain""#);
        assert_eq!(string("<a&b>"), r#""\u003ca\u0026b\u003e""#);
        assert_eq!(string("q\"b\\s/"), r#""q\"b\\s/""#);
        assert_eq!(string("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(string("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(string("é日本\u{2028}\u{2029}"), "\"é日本\\u2028\\u2029\"");
    }
}
