//! Finding link-shaped tokens in plain text: URLs with a scheme, `sip:`/`sips:`/`h323:`
//! addresses, scheme-less `host/path` links (`meet.google.com/abc-defg-hij`), `tel:` numbers
//! and bare `digits@domain` video addresses.
//!
//! Tokens stop at whitespace, at characters that never stand unescaped in a URL, and at any
//! non-ASCII character (meeting links are ASCII; this keeps `…/j/123に参加` apart). They also
//! start right after one: word boundaries are ASCII ones, so a link written straight after
//! Chinese or Japanese text (`会议链接https://…`, no space, as those languages write) is found,
//! where a Unicode boundary saw one word. Trailing
//! punctuation and unbalanced closing brackets are trimmed, so a sentence's full stop or a
//! surrounding parenthesis never ends up in a URI.

use regex::bytes::{Regex, RegexBuilder};
use std::sync::LazyLock;

/// The longest token considered. Nested SafeLinks grow long, but nothing legitimate is
/// longer than this; longer runs are skipped rather than scanned further.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// What kind of token the scanner found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `scheme://...`, or a scheme-less `host/path` given an `https://` prefix.
    Url,
    /// `sip:`, `sips:` or `h323:`.
    Sip,
    /// `digits@domain`, returned with a `sip:` prefix.
    BareSip,
    /// `tel:` (dial-in, never a video join).
    Tel,
}

/// One link-shaped token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The kind of token.
    pub kind: TokenKind,
    /// The token as it should be used (trimmed; `https://` or `sip:` added where implied).
    pub text: String,
    /// Byte offset of the token in the scanned text (for ordering).
    pub at: usize,
}

// URL characters: printable ASCII without space, quotes, angle brackets, braces, pipe,
// backslash, caret, backtick and square brackets.
const URLC: &str = r#"[!#-&(-;=?-Z_a-z~]"#;

static SCANNER: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = format!(
        r#"(?P<url>\b[a-z][a-z0-9+.\-]{{1,20}}://{URLC}+)|(?P<sip>\b(?:sips?|h323):{URLC}+)|(?P<tel>\btel:\+?[0-9(][0-9()\-.,;#*+ ]*[0-9#])|(?P<digits>\b[0-9]{{3,20}}@(?:(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,24}}|[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}})\b)|(?P<bare>\b(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,24}}/{URLC}*)"#
    );
    // The pattern is a constant; a failure here is a programming error caught by every test.
    // Without Unicode: ASCII word boundaries and case folding (and a fifth of the memory).
    RegexBuilder::new(&pattern)
        .case_insensitive(true)
        .unicode(false)
        .build()
        .expect("scanner pattern compiles")
});

/// Scans `text` for link-shaped tokens, in order of appearance.
pub fn scan(text: &str, limit: usize) -> Vec<Token> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while out.len() < limit && from <= bytes.len() {
        let Some(caps) = SCANNER.captures_at(bytes, from) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        from = m.end().max(m.start() + 1);
        if m.len() > MAX_TOKEN_LEN {
            continue;
        }
        // The pattern matches ASCII only, so a match starts and ends on character boundaries.
        let (Some(before), Some(raw)) = (text.get(..m.start()), text.get(m.range())) else {
            continue;
        };
        // An ASCII boundary also falls inside a word of a script written with spaces
        // (`Réunionhttps://…`), where no token starts, as none did with Unicode boundaries.
        // The search goes on from the next byte, so that a link later in that run
        // (`Réunion-https://…`) is still found.
        if inside_a_word(before) {
            from = m.start() + 1;
            continue;
        }
        let prev = before.chars().next_back();
        let (kind, text) = if caps.name("url").is_some() {
            (TokenKind::Url, trim_trailing(raw).to_string())
        } else if caps.name("sip").is_some() {
            (TokenKind::Sip, trim_trailing(raw).to_string())
        } else if caps.name("tel").is_some() {
            (TokenKind::Tel, trim_trailing(raw).to_string())
        } else if caps.name("digits").is_some() {
            // `+1234@x`, `a.1234@x` or `x-1234@x` are parts of something else.
            if prev.is_some_and(|c| matches!(c, '.' | '+' | '-' | '_' | '%' | ':' | '/' | '=')) {
                continue;
            }
            (TokenKind::BareSip, format!("sip:{}", raw.to_ascii_lowercase()))
        } else {
            // Scheme-less link: only when it is not the tail of an address or a path.
            if prev.is_some_and(|c| matches!(c, '@' | '.' | '/' | ':' | '-' | '_' | '%' | '=')) {
                continue;
            }
            (TokenKind::Url, format!("https://{}", trim_trailing(raw)))
        };
        if is_meaningful(kind, &text) {
            out.push(Token {
                kind,
                text,
                at: m.start(),
            });
        }
    }
    out
}

/// Whether text ending in `before` ends inside a word of a script written with
/// spaces: its last character, past combining marks and joiners, is a non-ASCII
/// letter (an ASCII one is the pattern's own boundary).
fn inside_a_word(before: &str) -> bool {
    let joins = |c: char| {
        matches!(u32::from(c),
            0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F // combining marks
            | 0x200C | 0x200D // zero-width (non-)joiner
        )
    };
    before
        .chars()
        .rev()
        .find(|&c| !joins(c))
        .is_some_and(|c| !c.is_ascii() && c.is_alphabetic() && !written_without_spaces(c))
}

/// Letters of scripts written without spaces between words (Chinese, Japanese,
/// Korean and the full-width forms used among them, Thai, Lao, Khmer, Myanmar),
/// after which a link may follow with no space.
fn written_without_spaces(c: char) -> bool {
    matches!(u32::from(c),
        0x0E00..=0x0EFF // Thai, Lao
        | 0x1000..=0x109F // Myanmar
        | 0x1100..=0x11FF // Hangul Jamo
        | 0x1780..=0x17FF // Khmer
        | 0x2E80..=0x2FDF // CJK and Kangxi radicals
        | 0x3000..=0x31FF // CJK symbols, kana, Bopomofo, Hangul compatibility
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xA960..=0xA97F // Hangul Jamo extended A
        | 0xAC00..=0xD7FF // Hangul syllables, Jamo extended B
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0xFF00..=0xFFEF // half-width and full-width forms
        | 0x20000..=0x3FFFF // CJK extensions B and later
    )
}

fn is_meaningful(kind: TokenKind, text: &str) -> bool {
    match kind {
        TokenKind::Url => text
            .find("://")
            .is_some_and(|i| text.len() > i + 3 + 2 && text[i + 3..].contains('.')),
        TokenKind::Sip => text
            .split_once(':')
            .is_some_and(|(_, rest)| rest.len() >= 3 && (rest.contains('@') || rest.contains('.'))),
        TokenKind::BareSip | TokenKind::Tel => true,
    }
}

/// Removes trailing punctuation and closing brackets that have no opening partner inside the
/// token. Used on every token and on hrefs. Linear in the token's length.
pub fn trim_trailing(token: &str) -> &str {
    let mut s = token.trim();
    let count = |c: char| s.chars().filter(|&x| x == c).count();
    // Open/close counts of (), [], {} and <>, kept up to date as characters are cut.
    let open = [count('('), count('['), count('{'), count('<')];
    let mut close = [count(')'), count(']'), count('}'), count('>')];
    loop {
        let Some(last) = s.chars().next_back() else {
            return s;
        };
        let bracket = match last {
            ')' => Some(0),
            ']' => Some(1),
            '}' => Some(2),
            '>' => Some(3),
            _ => None,
        };
        let cut = match (last, bracket) {
            (_, Some(i)) => close[i] > open[i],
            ('.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '*' | '`', None) => true,
            (c, None) if !c.is_ascii() => c.is_whitespace() || is_unicode_punct(c),
            _ => false,
        };
        if !cut {
            return s;
        }
        if let Some(i) = bracket {
            close[i] -= 1;
        }
        s = &s[..s.len() - last.len_utf8()];
    }
}

fn is_unicode_punct(c: char) -> bool {
    matches!(
        c,
        '…' | '。' | '、' | '」' | '』' | '）' | '】' | '，' | '．' | '！' | '？' | '’' | '”' | '»' | '›'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        scan(s, 100).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn finds_urls_and_trims() {
        assert_eq!(
            texts("Join: https://zoom.us/j/123?pwd=abc. Thanks"),
            vec!["https://zoom.us/j/123?pwd=abc"]
        );
        assert_eq!(
            texts("(see https://meet.jit.si/Room)"),
            vec!["https://meet.jit.si/Room"]
        );
        assert_eq!(texts("<https://a.example/x_(y)>,"), vec!["https://a.example/x_(y)"]);
        assert_eq!(
            texts("会議 https://zoom.us/j/123に参加。"),
            vec!["https://zoom.us/j/123"]
        );
    }

    /// Chinese and Japanese put no space between words, nor before a link.
    #[test]
    fn finds_links_written_straight_after_cjk_text() {
        assert_eq!(
            texts("会议链接https://acme.zoom.us/j/123456789请加入"),
            vec!["https://acme.zoom.us/j/123456789"]
        );
        assert_eq!(
            texts("会議はmeet.google.com/abc-defg-hijから、またはsip:123@vc.example。"),
            vec!["https://meet.google.com/abc-defg-hij", "sip:123@vc.example"]
        );
        assert_eq!(texts("회의https://zoom.us/j/42"), vec!["https://zoom.us/j/42"]);
        // Inside a word of a script written with spaces, no token starts.
        assert_eq!(
            texts("Réunionhttps://meet.google.com/abc-defg-hij"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn finds_sip_forms() {
        assert_eq!(
            texts("Dial sip:123@x.example; or SIPS:jdoe@company.com."),
            vec!["sip:123@x.example", "SIPS:jdoe@company.com"]
        );
        assert_eq!(
            texts("Join by SIP: 96112345678@zoomcrc.com."),
            vec!["sip:96112345678@zoomcrc.com"]
        );
        assert_eq!(texts("bob@webex.com +1234@x.com a.123@x.com"), Vec::<String>::new());
        assert_eq!(texts("h323:10.0.0.1"), vec!["h323:10.0.0.1"]);
    }

    #[test]
    fn finds_bare_links_not_addresses() {
        assert_eq!(
            texts("Meet at meet.google.com/abc-defg-hij today"),
            vec!["https://meet.google.com/abc-defg-hij"]
        );
        assert_eq!(texts("mail bob@meet.example/x"), Vec::<String>::new());
    }

    #[test]
    fn trimming_is_linear_and_balanced() {
        assert_eq!(trim_trailing("https://a.example/x_(y))."), "https://a.example/x_(y)");
        assert_eq!(trim_trailing("https://a.example/[x]]"), "https://a.example/[x]");
        let hostile = format!("https://a.example/{}", ")".repeat(60_000));
        assert_eq!(trim_trailing(&hostile), "https://a.example/");
    }

    #[test]
    fn tel_numbers() {
        let t = scan("Call tel:+1-234-567-8900,,123#", 10);
        assert_eq!(t[0].kind, TokenKind::Tel);
        assert_eq!(t[0].text, "tel:+1-234-567-8900,,123#");
    }
}
