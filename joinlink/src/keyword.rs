//! Scheduling keywords (`@webex`, `@meet`, with `:myroom`, `:space`, `:onetime`).
//!
//! A keyword counts only as a token of its own: `bob@webex.com` (an address), `@webex.com`
//! (a domain), `@webexcafe` or `lunch @ webex cafe` are not keywords. The left-most keyword
//! wins, as in Cisco's Hybrid Calendar; later ones are ignored.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What a keyword asks hcal to do. The org picks the default per keyword; a modifier overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordAction {
    /// The scheduler's personal room.
    PersonalRoom,
    /// A space (team room) meeting named after the subject.
    Space,
    /// A one-time meeting created for this event.
    OneTime,
}

/// A modifier written after the keyword (`@webex:space`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modifier {
    /// `:myroom`
    Myroom,
    /// `:space`
    Space,
    /// `:onetime`
    Onetime,
}

impl Modifier {
    /// The word as written after the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Modifier::Myroom => "myroom",
            Modifier::Space => "space",
            Modifier::Onetime => "onetime",
        }
    }

    /// The action the modifier forces.
    pub fn action(self) -> KeywordAction {
        match self {
            Modifier::Myroom => KeywordAction::PersonalRoom,
            Modifier::Space => KeywordAction::Space,
            Modifier::Onetime => KeywordAction::OneTime,
        }
    }

    fn parse(word: &str) -> Option<Modifier> {
        [Modifier::Myroom, Modifier::Space, Modifier::Onetime]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(word))
    }
}

/// One configured keyword.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordSpec {
    /// The keyword including its `@`, e.g. `@webex`. Matched case-insensitively.
    pub keyword: String,
    /// What the keyword does without a modifier.
    pub default_action: KeywordAction,
}

/// A keyword that was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordMatch {
    /// The keyword as configured (canonical lower case), not as typed.
    pub keyword: String,
    /// The modifier, if one was written.
    pub modifier: Option<Modifier>,
    /// The resulting action: the modifier's, else the keyword's default. Not part of the
    /// CLI output shape; the node uses it to decide what to create.
    #[serde(skip, default = "default_action")]
    pub action: KeywordAction,
}

fn default_action() -> KeywordAction {
    KeywordAction::PersonalRoom
}

/// A keyword configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeywordError {
    /// The keyword is not `@` followed by 1–32 letters, digits, `_` or `-`.
    #[error("keyword {0:?} is not valid: it must be '@' followed by 1 to 32 letters, digits, '_' or '-'")]
    Invalid(String),
    /// The same keyword is configured twice.
    #[error("keyword {0:?} is configured twice")]
    Duplicate(String),
}

/// The org's keyword set, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    specs: Vec<KeywordSpec>,
}

impl Default for Keywords {
    fn default() -> Self {
        Keywords {
            specs: default_keywords(),
        }
    }
}

/// `@webex` (personal room) and `@meet` (space), the defaults of Cisco's service.
pub fn default_keywords() -> Vec<KeywordSpec> {
    vec![
        KeywordSpec {
            keyword: "@webex".into(),
            default_action: KeywordAction::PersonalRoom,
        },
        KeywordSpec {
            keyword: "@meet".into(),
            default_action: KeywordAction::Space,
        },
    ]
}

impl Keywords {
    /// Validates and lower-cases the configured keywords.
    pub fn new(specs: Vec<KeywordSpec>) -> Result<Keywords, KeywordError> {
        let mut out: Vec<KeywordSpec> = Vec::with_capacity(specs.len());
        for spec in specs {
            let kw = spec.keyword.trim().to_ascii_lowercase();
            let name = kw.strip_prefix('@').unwrap_or("");
            let valid = !name.is_empty()
                && name.len() <= 32
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return Err(KeywordError::Invalid(spec.keyword));
            }
            if out.iter().any(|s| s.keyword == kw) {
                return Err(KeywordError::Duplicate(spec.keyword));
            }
            out.push(KeywordSpec {
                keyword: kw,
                default_action: spec.default_action,
            });
        }
        Ok(Keywords { specs: out })
    }

    /// The configured keywords.
    pub fn specs(&self) -> &[KeywordSpec] {
        &self.specs
    }

    /// The left-most keyword token in `text`, if any.
    pub fn find(&self, text: &str) -> Option<KeywordMatch> {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(off) = memchr_at(bytes, from) {
            if let Some(m) = self.match_at(text, off) {
                return Some(m);
            }
            from = off + 1;
        }
        None
    }

    /// The left-most keyword over several fields, read in order: the first field holding a
    /// keyword decides.
    pub fn find_in<'a>(&self, fields: impl IntoIterator<Item = &'a str>) -> Option<KeywordMatch> {
        fields.into_iter().find_map(|f| self.find(f))
    }

    fn match_at(&self, text: &str, at: usize) -> Option<KeywordMatch> {
        if !boundary_before(text[..at].chars().next_back()) {
            return None;
        }
        let rest = &text[at..];
        // Longest keyword first, so `@meetings` configured beside `@meet` wins when typed.
        let mut best: Option<(&KeywordSpec, usize, Option<Modifier>)> = None;
        for spec in &self.specs {
            let len = spec.keyword.len();
            let Some(head) = rest.get(..len) else {
                continue;
            };
            if !head.eq_ignore_ascii_case(&spec.keyword) {
                continue;
            }
            let Some((end, modifier)) = token_end(&rest[len..]) else {
                continue;
            };
            if best.is_none_or(|(_, l, _)| len + end > l) {
                best = Some((spec, len + end, modifier));
            }
        }
        best.map(|(spec, _, modifier)| KeywordMatch {
            keyword: spec.keyword.clone(),
            modifier,
            action: modifier.map_or(spec.default_action, Modifier::action),
        })
    }
}

fn memchr_at(bytes: &[u8], from: usize) -> Option<usize> {
    bytes.get(from..)?.iter().position(|&b| b == b'@').map(|p| p + from)
}

/// A character that may stand right before a keyword: start of text, whitespace, or
/// punctuation that cannot be part of an address (`bob@webex` has a letter before the `@`).
fn boundary_before(prev: Option<char>) -> bool {
    match prev {
        None => true,
        Some(c) => {
            !(c.is_alphanumeric()
                || matches!(
                    c,
                    '.' | '_' | '-' | '+' | '%' | '/' | '=' | '&' | '#' | '~' | '@' | ':' | '\\'
                ))
        }
    }
}

/// Whether what follows a keyword ends the token; returns the bytes consumed by an optional
/// `:modifier` and the modifier.
fn token_end(after: &str) -> Option<(usize, Option<Modifier>)> {
    let mut consumed = 0;
    let mut modifier = None;
    let mut rest = after;
    if let Some(m) = rest.strip_prefix(':') {
        let word_len = m.find(|c: char| !c.is_alphanumeric()).unwrap_or(m.len());
        if word_len > 0 {
            // `@webex:foo` is no keyword: an unknown modifier is more likely something else.
            modifier = Some(Modifier::parse(&m[..word_len])?);
            consumed = 1 + word_len;
            rest = &m[word_len..];
        }
    }
    let mut chars = rest.chars();
    match chars.next() {
        None => Some((consumed, modifier)),
        Some(c) if c.is_alphanumeric() || matches!(c, '_' | '-' | '@' | '/' | '\\') => None,
        // `@webex.com` continues as a domain; `@webex.` at the end of a sentence does not.
        Some('.') => match chars.next() {
            Some(n) if n.is_alphanumeric() => None,
            _ => Some((consumed, modifier)),
        },
        Some(_) => Some((consumed, modifier)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw() -> Keywords {
        Keywords::default()
    }

    fn found(text: &str) -> Option<(String, Option<Modifier>)> {
        kw().find(text).map(|m| (m.keyword, m.modifier))
    }

    #[test]
    fn plain_keywords() {
        assert_eq!(found("@webex"), Some(("@webex".into(), None)));
        assert_eq!(found("Room 4; @MEET"), Some(("@meet".into(), None)));
        assert_eq!(found("(@webex)"), Some(("@webex".into(), None)));
        assert_eq!(found("\"@webex\","), Some(("@webex".into(), None)));
        assert_eq!(found("see you @webex."), Some(("@webex".into(), None)));
    }

    #[test]
    fn modifiers_override_default() {
        let m = kw().find("@webex:space").unwrap();
        assert_eq!(m.modifier, Some(Modifier::Space));
        assert_eq!(m.action, KeywordAction::Space);
        let m = kw().find("@meet:MyRoom").unwrap();
        assert_eq!(m.modifier, Some(Modifier::Myroom));
        assert_eq!(m.action, KeywordAction::PersonalRoom);
        assert_eq!(kw().find("@webex").unwrap().action, KeywordAction::PersonalRoom);
        assert_eq!(kw().find("@meet").unwrap().action, KeywordAction::Space);
        assert_eq!(kw().find("@webex:onetime").unwrap().action, KeywordAction::OneTime);
    }

    #[test]
    fn not_keywords() {
        for t in [
            "bob@webex.com",
            "@webex.com",
            "lunch @ webex cafe",
            "@webexcafe",
            "@webex-room",
            "https://x.example/@webex",
            "@webex:foo",
            "@webex:spaces",
            "mail:@webex",
            "@meeting",
        ] {
            assert_eq!(found(t), None, "{t}");
        }
    }

    #[test]
    fn leftmost_wins() {
        assert_eq!(found("@meet or @webex"), Some(("@meet".into(), None)));
        assert_eq!(
            found("bob@webex.com then @webex:space and @meet"),
            Some(("@webex".into(), Some(Modifier::Space)))
        );
    }

    #[test]
    fn configured_set() {
        let k = Keywords::new(vec![
            KeywordSpec {
                keyword: "@Spark".into(),
                default_action: KeywordAction::Space,
            },
            KeywordSpec {
                keyword: "@meet".into(),
                default_action: KeywordAction::Space,
            },
            KeywordSpec {
                keyword: "@meetings".into(),
                default_action: KeywordAction::OneTime,
            },
        ])
        .unwrap();
        assert_eq!(k.find("@SPARK").unwrap().keyword, "@spark");
        assert_eq!(k.find("@webex"), None);
        assert_eq!(k.find("@meetings").unwrap().keyword, "@meetings");
        assert!(matches!(
            Keywords::new(vec![KeywordSpec {
                keyword: "webex".into(),
                default_action: KeywordAction::Space
            }]),
            Err(KeywordError::Invalid(_))
        ));
        assert!(matches!(
            Keywords::new(vec![
                KeywordSpec {
                    keyword: "@a".into(),
                    default_action: KeywordAction::Space
                },
                KeywordSpec {
                    keyword: "@A".into(),
                    default_action: KeywordAction::Space
                }
            ]),
            Err(KeywordError::Duplicate(_))
        ));
    }
}
