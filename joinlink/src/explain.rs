//! Why an event got a join target, or why it did not: the "why no Join button?" answer that
//! no peer product gives organisers.
//!
//! Each explanation has a stable snake_case code (for metrics, filters and translations) and
//! a sentence for people. Callers add outcomes this crate cannot know ("past meeting",
//! "failed patch") with [`Explanation::custom`].

use crate::detect::Source;
use crate::keyword::{KeywordAction, Modifier};
use crate::providers::display_name;
use crate::safelinks::rewriter_name;
use std::fmt;
use thiserror::Error;

/// The outcome of detection on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Explanation {
    /// A scheduling keyword in the location: hcal creates the meeting.
    KeywordInLocation {
        /// The keyword as configured.
        keyword: String,
        /// The modifier written, if any.
        modifier: Option<Modifier>,
        /// What will be created.
        action: KeywordAction,
        /// A join link the event already carries (provider id), which the node may prefer to
        /// keep rather than add a second meeting.
        existing_join: Option<String>,
    },
    /// A built-in provider's join link or SIP address.
    JoinLinkFound {
        /// Provider id.
        provider: String,
        /// Where it was found.
        source: Source,
        /// Rewriters removed to reach it (`safelinks`, `proofpoint`, ...), outermost first.
        via: Vec<&'static str>,
    },
    /// An org rule produced the join target.
    RuleMatched {
        /// Rule name.
        rule: String,
        /// Provider id the rule reports.
        provider: String,
    },
    /// A keyword is in the body, where keywords do not count.
    KeywordInBody {
        /// The keyword found.
        keyword: String,
    },
    /// A link of a mail-security rewriter whose target is not recoverable from the link.
    RewrittenLinkUnrecoverable {
        /// The rewriter (`mimecast`, or another whose link would not decode).
        rewriter: &'static str,
    },
    /// A link that looks like a meeting, of no known provider and matched by no rule.
    UnknownMeetingLink {
        /// The link (unwrapped).
        url: String,
    },
    /// Only help, options or dial-in links (e.g. Teams' "Need help?", Zoom's local numbers).
    HousekeepingLinksOnly {
        /// The kinds seen (`help`, `dial_in`, `meeting_options`).
        kinds: Vec<&'static str>,
    },
    /// Links, none of a meeting service.
    UnrecognisedLinksOnly {
        /// How many distinct links.
        count: usize,
    },
    /// No link, address or keyword at all.
    NoLink,
    /// An outcome added by a caller.
    Other {
        /// snake_case code.
        code: String,
        /// Sentence for people.
        message: String,
    },
}

/// The code of [`Explanation::KeywordInLocation`]: the event's location holds a keyword.
pub const KEYWORD_IN_LOCATION: &str = "keyword_in_location";

/// A custom code that is not snake_case.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("explanation code {0:?} is not snake_case (1 to 64 of a-z, 0-9, '_', starting with a letter)")]
pub struct InvalidCode(pub String);

impl Explanation {
    /// A caller-defined outcome, e.g. `custom("past_meeting", "The meeting is over.")`.
    pub fn custom(code: impl Into<String>, message: impl Into<String>) -> Result<Explanation, InvalidCode> {
        let code = code.into();
        let ok = code.len() <= 64
            && code.starts_with(|c: char| c.is_ascii_lowercase())
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(InvalidCode(code));
        }
        Ok(Explanation::Other {
            code,
            message: message.into(),
        })
    }

    /// The stable snake_case code.
    pub fn code(&self) -> &str {
        match self {
            Explanation::KeywordInLocation { .. } => KEYWORD_IN_LOCATION,
            Explanation::JoinLinkFound { .. } => "join_link_found",
            Explanation::RuleMatched { .. } => "rule_matched",
            Explanation::KeywordInBody { .. } => "keyword_in_body",
            Explanation::RewrittenLinkUnrecoverable { .. } => "rewritten_link_unrecoverable",
            Explanation::UnknownMeetingLink { .. } => "unknown_meeting_link",
            Explanation::HousekeepingLinksOnly { .. } => "housekeeping_links_only",
            Explanation::UnrecognisedLinksOnly { .. } => "unrecognised_links_only",
            Explanation::NoLink => "no_link",
            Explanation::Other { code, .. } => code,
        }
    }

    /// Whether the event gets a Join button from this outcome.
    pub fn has_join(&self) -> bool {
        matches!(
            self,
            Explanation::KeywordInLocation { .. } | Explanation::JoinLinkFound { .. } | Explanation::RuleMatched { .. }
        )
    }
}

fn action_words(a: KeywordAction) -> &'static str {
    match a {
        KeywordAction::PersonalRoom => "the organiser's personal room",
        KeywordAction::Space => "a space meeting",
        KeywordAction::OneTime => "a one-time meeting",
    }
}

fn source_words(s: &Source) -> String {
    match s {
        Source::OnlineMeeting => "the event's online meeting".into(),
        Source::Location => "the location".into(),
        Source::Body => "the body".into(),
        Source::Rule(r) => format!("org rule {r:?}"),
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Explanation::KeywordInLocation {
                keyword,
                modifier,
                action,
                existing_join,
            } => {
                let typed = match modifier {
                    Some(m) => format!("{keyword}:{}", m.as_str()),
                    None => keyword.clone(),
                };
                write!(
                    f,
                    "Keyword {typed} in the location: hcal adds join details for {}.",
                    action_words(*action)
                )?;
                if let Some(p) = existing_join {
                    write!(
                        f,
                        " The event already carries a {} join link.",
                        display_name(p).unwrap_or(p)
                    )?;
                }
                Ok(())
            }
            Explanation::JoinLinkFound { provider, source, via } => {
                let what = if provider == "sip" {
                    "Video address".to_string()
                } else {
                    format!("{} join link", display_name(provider).unwrap_or(provider))
                };
                write!(f, "{what} found in {}", source_words(source))?;
                if !via.is_empty() {
                    let names: Vec<&str> = via.iter().map(|v| rewriter_name(v)).collect();
                    write!(f, " (unwrapped from {})", names.join(", then "))?;
                }
                write!(f, ".")
            }
            Explanation::RuleMatched { rule, provider } => write!(
                f,
                "Org rule {rule:?} matched; the join target is a {} address.",
                display_name(provider).unwrap_or(provider)
            ),
            Explanation::KeywordInBody { keyword } => write!(
                f,
                "Keyword {keyword} is in the body, where keywords are ignored: put it in the location."
            ),
            Explanation::RewrittenLinkUnrecoverable { rewriter } => write!(
                f,
                "A link rewritten by {} hides its target; paste the original meeting link.",
                rewriter_name(rewriter)
            ),
            Explanation::UnknownMeetingLink { url } => write!(
                f,
                "The link {url} looks like a meeting but matches no known service or org rule."
            ),
            Explanation::HousekeepingLinksOnly { kinds } => write!(
                f,
                "Only {} links were found, no join link.",
                kinds
                    .iter()
                    .map(|k| k.replace('_', "-"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            Explanation::UnrecognisedLinksOnly { count } => write!(
                f,
                "{count} link{} found, none of a meeting service.",
                if *count == 1 { "" } else { "s" }
            ),
            Explanation::NoLink => write!(
                f,
                "No scheduling keyword in the location and no meeting link or video address."
            ),
            Explanation::Other { message, .. } => write!(f, "{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_sentences_end() {
        let all = [
            Explanation::KeywordInLocation {
                keyword: "@webex".into(),
                modifier: Some(Modifier::Space),
                action: KeywordAction::Space,
                existing_join: Some("teams".into()),
            },
            Explanation::JoinLinkFound {
                provider: "zoom".into(),
                source: Source::Body,
                via: vec!["safelinks"],
            },
            Explanation::RuleMatched {
                rule: "vmr".into(),
                provider: "pexip".into(),
            },
            Explanation::KeywordInBody {
                keyword: "@webex".into(),
            },
            Explanation::RewrittenLinkUnrecoverable { rewriter: "mimecast" },
            Explanation::UnknownMeetingLink {
                url: "https://video.example/join/1".into(),
            },
            Explanation::HousekeepingLinksOnly {
                kinds: vec!["help", "dial_in"],
            },
            Explanation::UnrecognisedLinksOnly { count: 2 },
            Explanation::NoLink,
        ];
        for e in &all {
            assert!(e.code().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(e.to_string().ends_with('.'), "{e}");
        }
        assert!(all[0].to_string().contains("@webex:space"));
        assert!(all[1].to_string().contains("Zoom join link"), "{}", all[1]);
        assert!(all[1].to_string().contains("Outlook SafeLinks"), "{}", all[1]);
        assert!(all[0].to_string().contains("Microsoft Teams"), "{}", all[0]);
    }

    #[test]
    fn custom_codes() {
        let e = Explanation::custom("past_meeting", "The meeting is over.").unwrap();
        assert_eq!(e.code(), "past_meeting");
        assert_eq!(e.to_string(), "The meeting is over.");
        assert!(Explanation::custom("Past-Meeting", "x").is_err());
        assert!(Explanation::custom("", "x").is_err());
    }
}
