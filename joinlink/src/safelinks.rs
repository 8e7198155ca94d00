//! Unwrapping links rewritten by mail-security gateways, so a room can dial the real meeting.
//!
//! Outlook SafeLinks is the common case in Office 365; others seen in invitations that cross
//! organisations are unwrapped where the target is recoverable from the link itself:
//!
//! | rewriter | shape | target |
//! |---|---|---|
//! | SafeLinks | `*.safelinks.protection.outlook.com/?url=…` (also `.office365.us`, `.partner.outlook.cn`, `*.safelinks.outlook.microsoft.com`) | `url` parameter |
//! | SafeLinks in Teams/Office | `statics.teams.cdn.office.net/…/atp-safelinks.html?url=…` (and `staticsint.`, `teams.public.onecdn.static.microsoft`) | `url` parameter |
//! | Proofpoint v1 | `urldefense.proofpoint.com/v1/url?u=…&k=…` | `u`, percent-decoded |
//! | Proofpoint v2 | `urldefense.proofpoint.com/v2/url?u=http-3A__x.com_p&d=…` | `u` with `-`→`%`, `_`→`/`, decoded |
//! | Proofpoint v3 | `urldefense.com/v3/__<url>__;<b64>!!…` | `<url>` with each `*` (or `**<n>` run) replaced from the base64 bytes |
//! | Google redirect | `www.google.com/url?q=…` (or `url=`) | `q` / `url` parameter |
//! | Barracuda | `linkprotect.cudasvc.com/url?a=…` | `a` parameter |
//! | Trend Micro | `*.trendmicro.com/wis/clicktime/v1/query?url=…` (and `v2/clickthrough`) | `url` parameter |
//! | Sophos | `*.protection.sophos.com/?d=…&u=<base64>` | `u`, base64 |
//! | Mimecast | `protect*.mimecast.com/s/<token>?domain=…` | **not recoverable**: the token is looked up server-side |
//!
//! Every pass replaces one wrapper; passes repeat for nested wrappers and stop after
//! [`MAX_UNWRAP_PASSES`] (MeetingBar's bound, added after a malformed SafeLink wedged its sync),
//! when nothing changes, or when decoding fails.

use base64::Engine as _;
use percent_encoding::percent_decode_str;

/// At most this many wrappers are removed from one link.
pub const MAX_UNWRAP_PASSES: usize = 32;

/// The display name of a rewriter id used in [`Unwrapped::via`] and [`Unwrapped::stuck_at`].
pub fn rewriter_name(id: &str) -> &str {
    match id {
        "safelinks" => "Outlook SafeLinks",
        "proofpoint" => "Proofpoint URL Defense",
        "google_redirect" => "a Google redirect",
        "barracuda" => "Barracuda Link Protection",
        "trend_micro" => "Trend Micro Click Time Protection",
        "sophos" => "Sophos Time-of-Click Protection",
        "mimecast" => "Mimecast URL Protect",
        other => other,
    }
}

/// The result of unwrapping one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrapped {
    /// The innermost link reached.
    pub url: String,
    /// The rewriters removed, outermost first.
    pub via: Vec<&'static str>,
    /// Set when the innermost link is still a rewriter's: either its target is not in the link
    /// (Mimecast), it would not decode, or the pass bound was reached.
    pub stuck_at: Option<&'static str>,
}

/// Unwraps every known rewriter around `url`, within the pass bound.
pub fn unwrap(url: &str) -> Unwrapped {
    let mut current = url.trim().to_string();
    let mut via = Vec::new();
    for _ in 0..MAX_UNWRAP_PASSES {
        match unwrap_once(&current) {
            Step::NotWrapped => {
                return Unwrapped {
                    url: current,
                    via,
                    stuck_at: None,
                };
            }
            Step::Unwrapped(name, inner) => {
                let inner = inner.trim().to_string();
                if inner == current || inner.is_empty() {
                    return Unwrapped {
                        url: current,
                        via,
                        stuck_at: Some(name),
                    };
                }
                via.push(name);
                current = inner;
            }
            Step::Unrecoverable(name) => {
                return Unwrapped {
                    url: current,
                    via,
                    stuck_at: Some(name),
                };
            }
        }
    }
    let stuck_at = match unwrap_once(&current) {
        Step::NotWrapped => None,
        Step::Unwrapped(name, _) | Step::Unrecoverable(name) => Some(name),
    };
    Unwrapped {
        url: current,
        via,
        stuck_at,
    }
}

enum Step {
    NotWrapped,
    Unwrapped(&'static str, String),
    Unrecoverable(&'static str),
}

/// A link split into the parts the rewriters need. Only `http(s)` links are rewritten.
struct Parts<'a> {
    host: String,
    path: &'a str,
    query: &'a str,
}

fn split(url: &str) -> Option<Parts<'_>> {
    let lower_scheme_end = url.find("://")?;
    let scheme = &url[..lower_scheme_end];
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return None;
    }
    let rest = &url[lower_scheme_end + 3..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    // A userinfo part (`user@host`) would let any host pose as a rewriter; such links are
    // left alone.
    if authority.contains('@') {
        return None;
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(h, _)| h)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let after = &rest[auth_end..];
    let (before_frag, _) = after.split_once('#').unwrap_or((after, ""));
    let (path, query) = before_frag.split_once('?').unwrap_or((before_frag, ""));
    Some(Parts { host, path, query })
}

fn host_under(host: &str, suffix: &str) -> bool {
    host.len() > suffix.len() && host.ends_with(suffix) && {
        let cut = host.len() - suffix.len();
        host.as_bytes()[cut - 1] == b'.'
    }
}

/// The raw (still percent-encoded) value of query parameter `name`. `&amp;` separators, left
/// in text that was not HTML-decoded, are accepted too.
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .map(|p| p.strip_prefix("amp;").unwrap_or(p))
        .find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            k.eq_ignore_ascii_case(name).then_some(v)
        })
}

/// Percent-decodes a parameter value. `+` stays a plus: rewriters encode spaces as `%20`, and
/// a literal `+` in a meeting link (a passcode) must survive.
fn decode_param(v: &str) -> Option<String> {
    percent_decode_str(v).decode_utf8().ok().map(|c| c.into_owned())
}

fn unwrap_once(url: &str) -> Step {
    let Some(p) = split(url) else {
        return Step::NotWrapped;
    };
    let h = p.host.as_str();
    if host_under(h, "safelinks.protection.outlook.com")
        || host_under(h, "safelinks.protection.office365.us")
        || host_under(h, "safelinks.protection.partner.outlook.cn")
        || host_under(h, "safelinks.outlook.microsoft.com")
    {
        return param_target("safelinks", p.query, "url");
    }
    if matches!(
        h,
        "statics.teams.cdn.office.net" | "staticsint.teams.cdn.office.net" | "teams.public.onecdn.static.microsoft"
    ) && p.path.to_ascii_lowercase().ends_with("/atp-safelinks.html")
    {
        return param_target("safelinks", p.query, "url");
    }
    if h == "urldefense.proofpoint.com" || h == "urldefense.com" {
        return proofpoint(url, &p);
    }
    if (h == "www.google.com" || h == "google.com") && p.path == "/url" {
        if query_param(p.query, "q").is_some() {
            return param_target("google_redirect", p.query, "q");
        }
        return param_target("google_redirect", p.query, "url");
    }
    if h == "linkprotect.cudasvc.com" && p.path == "/url" {
        return param_target("barracuda", p.query, "a");
    }
    if host_under(h, "trendmicro.com") && p.path.to_ascii_lowercase().starts_with("/wis/clicktime/") {
        return param_target("trend_micro", p.query, "url");
    }
    if host_under(h, "protection.sophos.com") {
        return match query_param(p.query, "u").and_then(decode_param) {
            Some(b64) => match b64_decode(&b64) {
                Some(t) => Step::Unwrapped("sophos", t),
                None => Step::Unrecoverable("sophos"),
            },
            None => Step::Unrecoverable("sophos"),
        };
    }
    if h.ends_with(".mimecast.com") && h.split('.').next().is_some_and(|l| l.starts_with("protect"))
        || h.ends_with(".mimecastprotect.com")
    {
        return Step::Unrecoverable("mimecast");
    }
    Step::NotWrapped
}

fn param_target(name: &'static str, query: &str, param: &str) -> Step {
    match query_param(query, param).and_then(decode_param) {
        Some(t) if !t.is_empty() => Step::Unwrapped(name, t),
        _ => Step::Unrecoverable(name),
    }
}

fn b64_decode(s: &str) -> Option<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let trimmed = s.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(trimmed.replace('+', "-").replace('/', "_"))
        .or_else(|_| STANDARD.decode(s))
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn proofpoint(url: &str, p: &Parts<'_>) -> Step {
    const NAME: &str = "proofpoint";
    if p.path.starts_with("/v1/") {
        return param_target(NAME, p.query, "u");
    }
    if p.path.starts_with("/v2/") {
        let Some(u) = query_param(p.query, "u") else {
            return Step::Unrecoverable(NAME);
        };
        let mapped = u.replace('-', "%").replace('_', "/");
        return match percent_decode_str(&mapped).decode_utf8() {
            Ok(t) if !t.is_empty() => Step::Unwrapped(NAME, t.into_owned()),
            _ => Step::Unrecoverable(NAME),
        };
    }
    if p.path.starts_with("/v3/__") {
        return match proofpoint_v3(url) {
            Some(t) => Step::Unwrapped(NAME, t),
            None => Step::Unrecoverable(NAME),
        };
    }
    Step::Unrecoverable(NAME)
}

/// `https://urldefense.com/v3/__<url>__;<base64url bytes>!!<signature>`: each `*` in `<url>`
/// stands for the next character of the decoded bytes, `**<c>` for a run of `2 + index(c)`
/// characters (index in `A–Z a–z 0–9 - _`). This follows Proofpoint's published decoder.
fn proofpoint_v3(url: &str) -> Option<String> {
    const RUN_CODES: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let start = url.find("/v3/__")? + "/v3/__".len();
    let rest = &url[start..];
    let end = rest.find("__;")?;
    let embedded = &rest[..end];
    let after = &rest[end + 3..];
    let enc = after.split('!').next().unwrap_or("");
    let replacement: Vec<char> = if enc.is_empty() {
        Vec::new()
    } else {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let bytes = URL_SAFE_NO_PAD.decode(enc.trim_end_matches('=')).ok()?;
        String::from_utf8(bytes).ok()?.chars().collect()
    };
    let mut out = String::with_capacity(embedded.len());
    let mut next = 0usize;
    let mut chars = embedded.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '*' {
            out.push(c);
            continue;
        }
        let take = if chars.peek() == Some(&'*') {
            chars.next();
            let code = chars.next()?;
            RUN_CODES.find(code)? + 2
        } else {
            1
        };
        let run = replacement.get(next..next + take)?;
        out.extend(run);
        next += take;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap_safelinks(url: &str) -> String {
        let enc: String = percent_encoding::utf8_percent_encode(url, percent_encoding::NON_ALPHANUMERIC).to_string();
        format!(
            "https://nam12.safelinks.protection.outlook.com/?url={enc}&data=05%7C02%7C%7Cabc%7C0&sdata=xyz%3D&reserved=0"
        )
    }

    #[test]
    fn safelinks_single_and_nested() {
        let bare = "https://zoom.us/j/123?pwd=abc";
        let once = wrap_safelinks(bare);
        let u = unwrap(&once);
        assert_eq!(u.url, bare);
        assert_eq!(u.via, vec!["safelinks"]);
        let twice = wrap_safelinks(&once);
        let u = unwrap(&twice);
        assert_eq!(u.url, bare);
        assert_eq!(u.via.len(), 2);
    }

    #[test]
    fn bound_is_respected() {
        let mut url = "https://zoom.us/j/1".to_string();
        for _ in 0..(MAX_UNWRAP_PASSES + 1) {
            url = format!(
                "https://eur01.safelinks.protection.outlook.com/?url={}",
                percent_encoding::utf8_percent_encode(&url, percent_encoding::NON_ALPHANUMERIC)
            );
        }
        let u = unwrap(&url);
        assert_eq!(u.via.len(), MAX_UNWRAP_PASSES);
        assert_eq!(u.stuck_at, Some("safelinks"));
    }

    #[test]
    fn malformed_safelink_stops() {
        let u = unwrap("https://x.safelinks.protection.outlook.com/?data=1");
        assert_eq!(u.stuck_at, Some("safelinks"));
        let u = unwrap("https://x.safelinks.protection.outlook.com/?url=%FF%FE");
        assert_eq!(u.stuck_at, Some("safelinks"));
        // A host that only ends with the name is not SafeLinks.
        let u = unwrap("https://evilsafelinks.protection.outlook.com/?url=https%3A%2F%2Fa.b");
        assert_eq!(u.stuck_at, None);
        assert!(u.via.is_empty());
    }

    #[test]
    fn proofpoint_versions() {
        let v2 = "https://urldefense.proofpoint.com/v2/url?u=https-3A__us02web.zoom.us_j_123-3Fpwd-3Dabc&d=DwMFaQ&c=x&r=y&m=z&s=w&e=";
        assert_eq!(unwrap(v2).url, "https://us02web.zoom.us/j/123?pwd=abc");
        let v3 = "https://urldefense.com/v3/__https://meet.google.com/abc-defg-hij__;!!ABC123!def$";
        assert_eq!(unwrap(v3).url, "https://meet.google.com/abc-defg-hij");
        // `*` placeholders: '?' and '=' were encoded as "Pz0" (base64url of "?=").
        let v3b = "https://urldefense.com/v3/__https://zoom.us/j/123*pwd*abc__;Pz0!!X!Y$";
        assert_eq!(unwrap(v3b).url, "https://zoom.us/j/123?pwd=abc");
        // A run: `**A` is two characters.
        let v3c = "https://urldefense.com/v3/__https://zoom.us/j/123**Apwd=x__;Pz0!!X$";
        assert_eq!(unwrap(v3c).url, "https://zoom.us/j/123?=pwd=x");
        let v1 = "https://urldefense.proofpoint.com/v1/url?u=https%3A%2F%2Fmeet.jit.si%2FRoom&k=abc";
        assert_eq!(unwrap(v1).url, "https://meet.jit.si/Room");
    }

    #[test]
    fn other_rewriters() {
        assert_eq!(
            unwrap("https://www.google.com/url?q=https://meet.google.com/abc-defg-hij&sa=D&source=calendar").url,
            "https://meet.google.com/abc-defg-hij"
        );
        assert_eq!(
            unwrap("https://linkprotect.cudasvc.com/url?a=https%3a%2f%2fzoom.us%2fj%2f1&c=E,1,x&typo=1").url,
            "https://zoom.us/j/1"
        );
        assert_eq!(
            unwrap("https://imsva91-ctp.trendmicro.com/wis/clicktime/v1/query?url=https%3a%2f%2fzoom.us%2fj%2f1&umid=x&auth=y").url,
            "https://zoom.us/j/1"
        );
        assert_eq!(
            unwrap("https://eu-west-1.protection.sophos.com/?d=zoom.us&u=aHR0cHM6Ly96b29tLnVzL2ovMQ==&i=x").url,
            "https://zoom.us/j/1"
        );
        let m = unwrap("https://protect-eu.mimecast.com/s/AbCdEfGh?domain=zoom.us");
        assert_eq!(m.stuck_at, Some("mimecast"));
    }

    #[test]
    fn mixed_nesting() {
        // Trend Micro around SafeLinks around the meeting.
        let inner = wrap_safelinks("https://meet.jit.si/Room");
        let outer = format!(
            "https://ctp.trendmicro.com/wis/clicktime/v2/clickthrough?url={}",
            percent_encoding::utf8_percent_encode(&inner, percent_encoding::NON_ALPHANUMERIC)
        );
        let u = unwrap(&outer);
        assert_eq!(u.url, "https://meet.jit.si/Room");
        assert_eq!(u.via, vec!["trend_micro", "safelinks"]);
    }
}
