//! Building Graph URLs: path segments and query values percent-encoded,
//! OData's `$` option names kept literal, and links from Graph (next,
//! delta, Location) followed only when they point at the configured host.

/// Encode one path segment: everything but RFC 3986 `pchar` (unreserved, sub-delims,
/// `:` and `@`) is percent-encoded, so `/`, `?`, `#`, `%` and spaces in an id or an
/// address cannot change the path.
pub(crate) fn segment(s: &str) -> String {
    encode(s, |b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b))
}

/// Encode a query value (or name): unreserved characters stay, everything else is
/// percent-encoded.
pub(crate) fn query_value(s: &str) -> String {
    encode(s, |b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k=v&...` with `$`-prefixed OData option names kept literal.
pub(crate) fn query(pairs: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        out.push(if out.is_empty() { '?' } else { '&' });
        match k.strip_prefix('$') {
            Some(rest) => {
                out.push('$');
                out.push_str(&query_value(rest));
            }
            None => out.push_str(&query_value(k)),
        }
        out.push('=');
        out.push_str(&query_value(v));
    }
    out
}

/// Scheme, host and port of a URL, lower-cased.
fn origin(u: &reqwest::Url) -> (String, Option<String>, Option<u16>) {
    (
        u.scheme().to_ascii_lowercase(),
        u.host_str().map(str::to_ascii_lowercase),
        u.port_or_known_default(),
    )
}

/// Is `link` on the same scheme, host and port as `base`?
pub(crate) fn same_origin(base: &str, link: &str) -> bool {
    match (reqwest::Url::parse(base), reqwest::Url::parse(link)) {
        (Ok(b), Ok(l)) => origin(&b) == origin(&l),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_queries() {
        assert_eq!(segment("alice@contoso.example"), "alice@contoso.example");
        assert_eq!(segment("AAMkAG+/x=="), "AAMkAG+%2Fx==");
        assert_eq!(segment("a b?c#d%"), "a%20b%3Fc%23d%25");
        assert_eq!(
            query(&[
                ("$expand", "x($filter=id eq 'String {g} Name N')".into()),
                ("startDateTime", "2024-05-01T00:00:00.000Z".into())
            ]),
            "?$expand=x%28%24filter%3Did%20eq%20%27String%20%7Bg%7D%20Name%20N%27%29&startDateTime=2024-05-01T00%3A00%3A00.000Z"
        );
    }

    #[test]
    fn links_stay_on_the_graph_host() {
        let base = "https://graph.microsoft.com/v1.0";
        assert!(same_origin(
            base,
            "https://graph.microsoft.com/v1.0/users/x/calendarView/delta?$skiptoken=1"
        ));
        assert!(same_origin(base, "https://GRAPH.microsoft.com:443/v1.0/x"));
        assert!(!same_origin(base, "https://evil.example/v1.0/x"));
        assert!(!same_origin(base, "http://graph.microsoft.com/v1.0/x"));
        assert!(!same_origin(base, "/v1.0/relative"));
        assert!(same_origin("http://127.0.0.1:4000", "http://127.0.0.1:4000/v1.0/x"));
        assert!(!same_origin("http://127.0.0.1:4000", "http://127.0.0.1:4001/v1.0/x"));
    }
}
