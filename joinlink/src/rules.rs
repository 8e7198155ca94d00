//! Org-defined join rules: ordered regexes with a provider id and an optional rewrite
//! template, tried before the built-in providers (as Pexip's and Synergy SKY's rules are).
//!
//! # File format (JSON)
//!
//! ```json
//! {
//!   "version": 1,
//!   "rules": [
//!     {
//!       "name": "acme-vmr",
//!       "provider": "pexip",
//!       "pattern": "Meeting ID: (?P<id>\\d{9,11})",
//!       "template": "sip:{id}@video.example.com",
//!       "sources": ["body"],
//!       "case_insensitive": true,
//!       "enabled": true
//!     }
//!   ]
//! }
//! ```
//!
//! - `name` (required): `[a-z0-9_-]{1,64}`, unique. Reported as source `rule:<name>`.
//! - `provider` (required): snake_case id `[a-z0-9_]{1,64}` reported for the match.
//! - `pattern` (required): a Rust `regex` (linear time; no look-around or back-references),
//!   at most 1024 characters; the compiled program is capped at 256 KiB.
//! - `template` (optional): the join URI built from the match. `{name}` inserts a named group,
//!   `{0}` the whole match, `{1}`… numbered groups; `{{` and `}}` are literal braces. Without
//!   a template the whole match is the URI. A variable naming no group of the pattern is an
//!   error at load time. A match whose group did not take part yields no URI.
//! - `sources` (optional, default all): which of `online_meeting`, `location`, `body` the rule
//!   reads. Each source is read as text with every link in it already unwrapped
//!   (SafeLinks, …); for HTML bodies that is the rendered text followed by the link targets,
//!   one per line.
//! - `case_insensitive` (optional, default `false`), `enabled` (optional, default `true`).
//!
//! At most 256 rules. Rules are tried in file order; the first rule that matches decides.
//! Unknown fields are rejected, so a typo is an error rather than a silently ignored setting.

use crate::detect::SourceKind;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use thiserror::Error;

/// Most rules in one file.
pub const MAX_RULES: usize = 256;
/// Longest pattern, in characters.
pub const MAX_PATTERN_LEN: usize = 1024;
/// Largest compiled program of one pattern.
pub const MAX_REGEX_BYTES: usize = 256 * 1024;
/// Largest rules file accepted.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Why a rules file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleError {
    /// The file is too large.
    #[error("rules file is {0} bytes; at most {MAX_FILE_BYTES} are accepted")]
    FileTooLarge(usize),
    /// The JSON does not parse or does not have the documented shape.
    #[error("rules file is not valid: {0}")]
    Json(String),
    /// The file's `version` is not one this build reads.
    #[error("rules file version {0} is not supported (expected 1)")]
    Version(u32),
    /// Too many rules.
    #[error("rules file has {0} rules; at most {MAX_RULES} are accepted")]
    TooManyRules(usize),
    /// A rule name is malformed.
    #[error("rule #{index}: name {name:?} is not valid (use 1 to 64 of a-z, 0-9, '_', '-')")]
    BadName {
        /// Position in the file, from 1.
        index: usize,
        /// The name as written.
        name: String,
    },
    /// Two rules share a name.
    #[error("rule {0:?} is defined twice")]
    DuplicateName(String),
    /// A provider id is malformed.
    #[error("rule {rule:?}: provider {provider:?} is not a snake_case id (1 to 64 of a-z, 0-9, '_')")]
    BadProvider {
        /// Rule name.
        rule: String,
        /// The provider as written.
        provider: String,
    },
    /// The pattern is too long.
    #[error("rule {rule:?}: pattern is {len} characters; at most {MAX_PATTERN_LEN} are accepted")]
    PatternTooLong {
        /// Rule name.
        rule: String,
        /// Its length.
        len: usize,
    },
    /// The pattern does not compile (syntax, or larger than the size limit).
    #[error("rule {rule:?}: pattern does not compile: {message}")]
    BadPattern {
        /// Rule name.
        rule: String,
        /// The regex engine's message.
        message: String,
    },
    /// The pattern matches the empty string, so it would match every event.
    #[error("rule {rule:?}: pattern matches empty text, so it would match every event")]
    MatchesEmpty {
        /// Rule name.
        rule: String,
    },
    /// The template names a group the pattern lacks.
    #[error("rule {rule:?}: template variable {{{variable}}} is not a group of the pattern (groups: {known})")]
    UnknownVariable {
        /// Rule name.
        rule: String,
        /// The variable as written.
        variable: String,
        /// The groups the pattern has.
        known: String,
    },
    /// The template has an unbalanced brace or an empty variable.
    #[error("rule {rule:?}: template is malformed at byte {at}: {problem}")]
    BadTemplate {
        /// Rule name.
        rule: String,
        /// Byte offset in the template.
        at: usize,
        /// What is wrong.
        problem: &'static str,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    version: u32,
    #[serde(default)]
    rules: Vec<RuleDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    name: String,
    provider: String,
    pattern: String,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    sources: Option<Vec<SourceKind>>,
    #[serde(default)]
    case_insensitive: bool,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Named(String),
    Index(usize),
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// Provider id reported.
    pub provider: String,
    /// Which sources the rule reads.
    pub sources: Vec<SourceKind>,
    regex: Regex,
    template: Option<Vec<Piece>>,
}

impl Rule {
    /// The first URI this rule yields on `haystack`.
    pub fn apply(&self, haystack: &str) -> Option<String> {
        for caps in self.regex.captures_iter(haystack) {
            let uri = match &self.template {
                None => caps.get(0).map(|m| m.as_str().to_string()),
                Some(pieces) => render(pieces, &caps),
            };
            if let Some(uri) = uri {
                let uri = uri.trim();
                if !uri.is_empty() {
                    return Some(uri.to_string());
                }
            }
        }
        None
    }
}

fn render(pieces: &[Piece], caps: &regex::Captures<'_>) -> Option<String> {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Lit(s) => out.push_str(s),
            Piece::Named(n) => out.push_str(caps.name(n)?.as_str()),
            Piece::Index(i) => out.push_str(caps.get(*i)?.as_str()),
        }
    }
    Some(out)
}

/// An ordered, validated set of rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// No rules.
    pub fn empty() -> RuleSet {
        RuleSet::default()
    }

    /// Parses and validates a rules file.
    pub fn from_json(text: &str) -> Result<RuleSet, RuleError> {
        if text.len() > MAX_FILE_BYTES {
            return Err(RuleError::FileTooLarge(text.len()));
        }
        let doc: FileDoc = serde_json::from_str(text).map_err(|e| RuleError::Json(e.to_string()))?;
        if doc.version != 1 {
            return Err(RuleError::Version(doc.version));
        }
        if doc.rules.len() > MAX_RULES {
            return Err(RuleError::TooManyRules(doc.rules.len()));
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(doc.rules.len());
        for (i, r) in doc.rules.into_iter().enumerate() {
            let rule = compile(i + 1, r)?;
            if let Some(rule) = rule {
                if rules.iter().any(|x| x.name == rule.name) {
                    return Err(RuleError::DuplicateName(rule.name));
                }
                rules.push(rule);
            }
        }
        Ok(RuleSet { rules })
    }

    /// The enabled rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether there are no enabled rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn valid_id(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || extra.contains(&b))
}

fn compile(index: usize, r: RuleDoc) -> Result<Option<Rule>, RuleError> {
    if !valid_id(&r.name, b"-") {
        return Err(RuleError::BadName { index, name: r.name });
    }
    if !valid_id(&r.provider, b"") {
        return Err(RuleError::BadProvider {
            rule: r.name,
            provider: r.provider,
        });
    }
    let len = r.pattern.chars().count();
    if len > MAX_PATTERN_LEN {
        return Err(RuleError::PatternTooLong { rule: r.name, len });
    }
    let regex = RegexBuilder::new(&r.pattern)
        .case_insensitive(r.case_insensitive)
        .size_limit(MAX_REGEX_BYTES)
        .dfa_size_limit(MAX_REGEX_BYTES)
        .nest_limit(64)
        .build()
        .map_err(|e| RuleError::BadPattern {
            rule: r.name.clone(),
            message: e.to_string(),
        })?;
    if regex.is_match("") {
        return Err(RuleError::MatchesEmpty { rule: r.name });
    }
    let template = match &r.template {
        None => None,
        Some(t) => Some(parse_template(&r.name, t, &regex)?),
    };
    if !r.enabled {
        return Ok(None);
    }
    let sources = r
        .sources
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec![SourceKind::OnlineMeeting, SourceKind::Location, SourceKind::Body]);
    Ok(Some(Rule {
        name: r.name,
        provider: r.provider,
        sources,
        regex,
        template,
    }))
}

fn parse_template(rule: &str, t: &str, regex: &Regex) -> Result<Vec<Piece>, RuleError> {
    let bad = |at: usize, problem: &'static str| RuleError::BadTemplate {
        rule: rule.to_string(),
        at,
        problem,
    };
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = t.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                chars.next();
                lit.push('}');
            }
            '}' => return Err(bad(at, "'}' without '{' (write '}}' for a literal brace)")),
            '{' => {
                let mut var = String::new();
                let mut closed = false;
                for (_, n) in chars.by_ref() {
                    if n == '}' {
                        closed = true;
                        break;
                    }
                    var.push(n);
                }
                if !closed {
                    return Err(bad(at, "'{' is never closed (write '{{' for a literal brace)"));
                }
                if var.is_empty() {
                    return Err(bad(at, "empty variable '{}'"));
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(variable(rule, &var, regex)?);
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(pieces)
}

fn variable(rule: &str, var: &str, regex: &Regex) -> Result<Piece, RuleError> {
    if let Ok(i) = var.parse::<usize>() {
        if i < regex.captures_len() {
            return Ok(Piece::Index(i));
        }
    } else if regex.capture_names().flatten().any(|n| n == var) {
        return Ok(Piece::Named(var.to_string()));
    }
    let mut known: Vec<String> = (0..regex.captures_len()).map(|i| i.to_string()).collect();
    known.extend(regex.capture_names().flatten().map(str::to_string));
    Err(RuleError::UnknownVariable {
        rule: rule.to_string(),
        variable: var.to_string(),
        known: known.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(rule: &str) -> Result<RuleSet, RuleError> {
        RuleSet::from_json(&format!(r#"{{"version":1,"rules":[{rule}]}}"#))
    }

    #[test]
    fn meeting_id_to_sip() {
        let set = one(
            r#"{"name":"vmr","provider":"pexip","pattern":"Meeting ID: (?P<id>\\d{9,11})","template":"sip:{id}@video.example.com"}"#,
        )
        .unwrap();
        let r = &set.rules()[0];
        assert_eq!(
            r.apply("Hello\nMeeting ID: 123456789\n").as_deref(),
            Some("sip:123456789@video.example.com")
        );
        assert_eq!(r.apply("Meeting ID: 12"), None);
        assert_eq!(r.sources.len(), 3);
    }

    #[test]
    fn whole_match_and_numbered() {
        let set = one(r#"{"name":"a","provider":"x","pattern":"vmr-(\\d+)","template":"{{{1}}}-{0}"}"#).unwrap();
        assert_eq!(set.rules()[0].apply("call vmr-42").as_deref(), Some("{42}-vmr-42"));
        let set = one(r#"{"name":"b","provider":"x","pattern":"room-\\d+"}"#).unwrap();
        assert_eq!(set.rules()[0].apply("room-7!").as_deref(), Some("room-7"));
    }

    #[test]
    fn typed_errors() {
        let e = one(r#"{"name":"a","provider":"x","pattern":"(","template":""}"#).unwrap_err();
        assert!(matches!(e, RuleError::BadPattern { .. }), "{e}");
        let e = one(r#"{"name":"a","provider":"x","pattern":"(?P<id>\\d+)","template":"sip:{pin}@x"}"#).unwrap_err();
        assert!(matches!(e, RuleError::UnknownVariable { .. }), "{e}");
        assert!(e.to_string().contains("{pin}"), "{e}");
        let e = one(r#"{"name":"a","provider":"x","pattern":"(\\d+)","template":"sip:{2}@x"}"#).unwrap_err();
        assert!(matches!(e, RuleError::UnknownVariable { .. }), "{e}");
        let e = one(r#"{"name":"a","provider":"x","pattern":"\\d+","template":"sip:{0@x"}"#).unwrap_err();
        assert!(matches!(e, RuleError::BadTemplate { .. }), "{e}");
        let e = one(r#"{"name":"a","provider":"x","pattern":"\\d*"}"#).unwrap_err();
        assert!(matches!(e, RuleError::MatchesEmpty { .. }), "{e}");
        let e = one(r#"{"name":"A B","provider":"x","pattern":"\\d"}"#).unwrap_err();
        assert!(matches!(e, RuleError::BadName { .. }), "{e}");
        let e = one(r#"{"name":"a","provider":"X-y","pattern":"\\d"}"#).unwrap_err();
        assert!(matches!(e, RuleError::BadProvider { .. }), "{e}");
        let e = one(r#"{"name":"a","provider":"x","pattern":"\\d","sorces":["body"]}"#).unwrap_err();
        assert!(matches!(e, RuleError::Json(_)), "{e}");
        let e = RuleSet::from_json(r#"{"version":2,"rules":[]}"#).unwrap_err();
        assert_eq!(e, RuleError::Version(2));
        let e = RuleSet::from_json("not json").unwrap_err();
        assert!(matches!(e, RuleError::Json(_)));
        let dup = r#"{"version":1,"rules":[{"name":"a","provider":"x","pattern":"1"},{"name":"a","provider":"x","pattern":"2"}]}"#;
        assert!(matches!(RuleSet::from_json(dup), Err(RuleError::DuplicateName(_))));
    }

    #[test]
    fn size_limits() {
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        let e = one(&format!(r#"{{"name":"a","provider":"x","pattern":"{long}"}}"#)).unwrap_err();
        assert!(matches!(e, RuleError::PatternTooLong { .. }), "{e}");
        // Small text, huge program: counted repetition of a Unicode class.
        let e = one(r#"{"name":"a","provider":"x","pattern":"\\w{1000}\\w{1000}\\w{1000}"}"#).unwrap_err();
        assert!(matches!(e, RuleError::BadPattern { .. }), "{e}");
    }

    #[test]
    fn disabled_rules_are_validated_but_skipped() {
        let set = one(r#"{"name":"a","provider":"x","pattern":"\\d","enabled":false}"#).unwrap();
        assert!(set.is_empty());
        let e = one(r#"{"name":"a","provider":"x","pattern":"(","enabled":false}"#).unwrap_err();
        assert!(matches!(e, RuleError::BadPattern { .. }));
    }
}
