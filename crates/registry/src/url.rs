//! The little URL handling the protocol needs: `Location` headers (absolute or
//! relative), origins (for the redirect rule), query encoding.

/// Whether `host` (optionally with `:port`) is a loopback address, which docker and
/// go-containerregistry allow over plain HTTP.
pub fn is_loopback(host: &str) -> bool {
    let name = host_name(host);
    if name.eq_ignore_ascii_case("localhost") || name == "::1" {
        return true;
    }
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// The host part of `host[:port]`, brackets removed from an IPv6 literal.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        // one colon: host:port; more: a bare IPv6 literal
        Some((h, _)) if !h.contains(':') => h,
        _ => authority,
    }
}

/// `(scheme, authority, path-and-query)` of an absolute http(s) URL.
pub(crate) fn split(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some((scheme, authority, path))
}

/// `HOST[:PORT]` of an absolute http(s) URL (none with userinfo).
pub fn url_authority(url: &str) -> Option<&str> {
    split(url).map(|(_, authority, _)| authority)
}

/// `scheme://authority` of an absolute URL.
pub(crate) fn origin(url: &str) -> Option<String> {
    split(url).map(|(s, a, _)| format!("{s}://{}", a.to_ascii_lowercase()))
}

/// Resolves a `Location` header against the URL of the request that returned it.
pub(crate) fn resolve(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return split(location).map(|_| location.to_owned());
    }
    if location
        .split('/')
        .next()
        .is_some_and(|first| first.contains(':'))
    {
        return None; // another scheme (ftp:, file:, …)
    }
    let (scheme, authority, path) = split(base)?;
    if let Some(rest) = location.strip_prefix("//") {
        let url = format!("{scheme}://{rest}");
        return split(&url).map(|_| url.clone());
    }
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    // relative to the base's directory
    let path = path.split('?').next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    Some(format!("{scheme}://{authority}{dir}{location}"))
}

/// [`resolve`] for an upload's next `Location`, refusing a move from HTTPS to plain
/// HTTP: the blob's bytes would then travel in clear (and no credentials follow them
/// anyway). The session is then reported as having no usable `Location`.
pub(crate) fn resolve_upload(base: &str, location: &str) -> Option<String> {
    let url = resolve(base, location)?;
    let downgrade = base.starts_with("https://") && url.starts_with("http://");
    (!downgrade).then_some(url)
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Appends `key=value` (value encoded) to a URL's query.
pub(crate) fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", enc(value))
}

/// The `rel="next"` target of a `Link` header, if any.
pub(crate) fn link_next(link: &str) -> Option<&str> {
    for part in link.split(',') {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        if params.split(';').any(|p| {
            p.trim()
                .replace(' ', "")
                .eq_ignore_ascii_case("rel=\"next\"")
                || p.trim().eq_ignore_ascii_case("rel=next")
        }) {
            return Some(target);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost",
            "LOCALHOST:80",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "example.com",
            "localhost.example.com",
            "[::2]:1",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn resolves_locations() {
        let base = "http://127.0.0.1:5000/v2/a/blobs/uploads/?mount=x";
        assert_eq!(
            resolve(base, "/v2/a/blobs/uploads/u1?_state=s").unwrap(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=s"
        );
        assert_eq!(
            resolve(base, "https://s3.example.com/b?sig=1").unwrap(),
            "https://s3.example.com/b?sig=1"
        );
        assert_eq!(
            resolve(base, "//cdn.example/x").unwrap(),
            "http://cdn.example/x"
        );
        assert_eq!(
            resolve(base, "u2").unwrap(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u2"
        );
        assert_eq!(resolve(base, "ftp://x/y"), None);
        assert_eq!(
            origin("https://Reg.example:443/v2/").unwrap(),
            "https://reg.example:443"
        );
    }

    #[test]
    fn query_and_link() {
        assert_eq!(
            with_query("http://h/p", "scope", "repository:a/b:pull,push"),
            "http://h/p?scope=repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(
            with_query("http://h/p?x=1", "d", "sha256:ab"),
            "http://h/p?x=1&d=sha256%3Aab"
        );
        assert_eq!(
            link_next("</v2/a/tags/list?last=b&n=2>; rel=\"next\""),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(link_next("</x>; rel=\"prev\""), None);
    }

    #[test]
    fn an_upload_location_never_moves_from_https_to_http() {
        let base = "https://reg.example.com/v2/a/blobs/uploads/1?_state=x";
        assert_eq!(
            resolve_upload(base, "http://reg.example.com/v2/a/blobs/uploads/2"),
            None
        );
        assert_eq!(
            resolve_upload(base, "/v2/a/blobs/uploads/2").as_deref(),
            Some("https://reg.example.com/v2/a/blobs/uploads/2")
        );
        // plain HTTP to begin with (a loopback registry) stays as it was
        assert_eq!(
            resolve_upload("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000/v2/x").as_deref(),
            Some("http://127.0.0.1:5000/v2/x")
        );
    }
}
