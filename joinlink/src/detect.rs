//! The detector: from one event's online meeting, locations and body to a keyword, a join
//! target, the ranked candidates and an explanation.
//!
//! Ranking: org rules first (in rule order), then by source (online meeting > location >
//! body). Within a source, meeting-service links come before SIP addresses (an invitation's
//! `123@zoomcrc.com` is the room-system alternative to its Zoom link); providers in order of
//! first appearance; within one provider the longest link first, so a Zoom link with `?pwd=`
//! beats a truncated copy. Candidates are de-duplicated by URI, keeping the best-ranked.

use crate::block;
use crate::explain::Explanation;
use crate::html;
use crate::keyword::{KeywordError, KeywordMatch, KeywordSpec, Keywords, default_keywords};
use crate::providers::{self, HOUSEKEEPING, LinkClass, PROVIDERS};
use crate::rules::{RuleError, RuleSet};
use crate::safelinks;
use crate::urls::{self, TokenKind};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::HashSet;
use thiserror::Error;

/// Default cap on the body bytes scanned. Bodies with inline base64 images run to megabytes;
/// join details are never that far in.
pub const DEFAULT_MAX_BODY_BYTES: usize = 512 * 1024;
/// Most link tokens taken from one source.
pub const MAX_LINKS_PER_SOURCE: usize = 1024;
/// Bytes read of each location field (Graph's are short; a hostile one is cut).
pub const MAX_LOCATION_BYTES: usize = 8 * 1024;

/// A place an event carries text in; also what a rule may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// `onlineMeeting.joinUrl`.
    OnlineMeeting,
    /// `location` and `locations[]`.
    Location,
    /// The body.
    Body,
}

/// Where a candidate came from: `online_meeting`, `location`, `body` or `rule:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// `onlineMeeting.joinUrl`.
    OnlineMeeting,
    /// The location fields.
    Location,
    /// The body.
    Body,
    /// An org rule, by name.
    Rule(String),
}

impl Source {
    /// The output form.
    pub fn as_string(&self) -> String {
        match self {
            Source::OnlineMeeting => "online_meeting".into(),
            Source::Location => "location".into(),
            Source::Body => "body".into(),
            Source::Rule(n) => format!("rule:{n}"),
        }
    }

    fn from_kind(k: SourceKind) -> Source {
        match k {
            SourceKind::OnlineMeeting => Source::OnlineMeeting,
            SourceKind::Location => Source::Location,
            SourceKind::Body => Source::Body,
        }
    }
}

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_string())
    }
}

/// A join target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// snake_case provider id (`teams`, `zoom`, `sip`, or a rule's provider).
    pub provider: String,
    /// The URI to join (a SIP address keeps its `sip:`/`sips:`/`h323:` scheme).
    pub uri: String,
    /// Where it came from.
    pub source: Source,
    /// Rewriters removed to reach it, outermost first.
    #[serde(skip)]
    pub via: Vec<&'static str>,
}

/// The result of detection on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The left-most scheduling keyword of the location fields.
    pub keyword: Option<KeywordMatch>,
    /// The best candidate.
    pub join: Option<Candidate>,
    /// All candidates, best first.
    pub candidates: Vec<Candidate>,
    /// Why.
    pub explanation: Explanation,
}

impl Serialize for Detection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Detection", 5)?;
        st.serialize_field("keyword", &self.keyword)?;
        st.serialize_field("join", &self.join)?;
        st.serialize_field("candidates", &self.candidates)?;
        st.serialize_field("explanation", &self.explanation.to_string())?;
        st.serialize_field("explanation_code", self.explanation.code())?;
        st.end()
    }
}

/// The body's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyKind {
    /// `contentType: html`.
    #[default]
    Html,
    /// `contentType: text`.
    Text,
}

/// What the detector reads of an event; see [`crate::graph::event_input`] for Graph JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventInput {
    /// `onlineMeeting.joinUrl` (or the legacy `onlineMeetingUrl`).
    pub online_meeting_url: Option<String>,
    /// `onlineMeetingProvider` (`teamsForBusiness`, ...), to name an unrecognised joinUrl.
    pub online_meeting_provider: Option<String>,
    /// `location.displayName`, then each `locations[].displayName`.
    pub location_names: Vec<String>,
    /// `locationUri` values of the same.
    pub location_uris: Vec<String>,
    /// Body type.
    pub body_kind: BodyKind,
    /// Body content.
    pub body: String,
}

/// Detector settings, as the node's configuration holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// The org's keywords; default `@webex` (personal room) and `@meet` (space).
    #[serde(default = "default_keywords")]
    pub keywords: Vec<KeywordSpec>,
    /// Body bytes scanned at most.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            keywords: default_keywords(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// A detector that could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Bad keyword configuration.
    #[error(transparent)]
    Keyword(#[from] KeywordError),
    /// Bad rules file.
    #[error(transparent)]
    Rules(#[from] RuleError),
    /// `max_body_bytes` of zero.
    #[error("max_body_bytes must be at least 1")]
    ZeroBodyLimit,
}

/// Keyword and join-link detection with one org's configuration and rules.
#[derive(Debug, Clone)]
pub struct Detector {
    keywords: Keywords,
    rules: RuleSet,
    max_body_bytes: usize,
}

impl Default for Detector {
    fn default() -> Self {
        Detector {
            keywords: Keywords::default(),
            rules: RuleSet::empty(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// One link found in a source, before ranking.
#[derive(Debug, Clone)]
struct Link {
    at: usize,
    url: String,
    class: Class,
    via: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    Provider(&'static str),
    Sip,
    Housekeeping(&'static str),
    Stuck(&'static str),
    MeetingLike,
    Other,
    Ignored,
}

/// What one source yielded.
#[derive(Debug, Default)]
struct Scan {
    links: Vec<Link>,
    /// Text rules read: the source's text, then every link found (unwrapped), one per line.
    haystack: String,
}

impl Detector {
    /// Builds a detector from configuration and a parsed rule set.
    pub fn new(config: DetectorConfig, rules: RuleSet) -> Result<Detector, ConfigError> {
        if config.max_body_bytes == 0 {
            return Err(ConfigError::ZeroBodyLimit);
        }
        Ok(Detector {
            keywords: Keywords::new(config.keywords)?,
            rules,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// Builds a detector from configuration and the text of a rules file, if any.
    pub fn from_config(config: DetectorConfig, rules_json: Option<&str>) -> Result<Detector, ConfigError> {
        let rules = match rules_json {
            Some(text) => RuleSet::from_json(text)?,
            None => RuleSet::empty(),
        };
        Detector::new(config, rules)
    }

    /// The configured keywords.
    pub fn keywords(&self) -> &Keywords {
        &self.keywords
    }

    /// The org rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Detection on a Graph event resource (JSON as Graph returns it).
    pub fn detect_graph(&self, event: &serde_json::Value) -> Detection {
        self.detect(&crate::graph::event_input(event))
    }

    /// Detection on one event.
    pub fn detect(&self, input: &EventInput) -> Detection {
        let keyword = self.keywords.find_in(input.location_names.iter().map(String::as_str));

        let online = self.scan_online(input);
        let location = self.scan_location(input);
        let (body, body_text) = self.scan_body(input);
        let scans = [
            (SourceKind::OnlineMeeting, &online),
            (SourceKind::Location, &location),
            (SourceKind::Body, &body),
        ];

        let mut candidates: Vec<Candidate> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for rule in self.rules.rules() {
            let hit = scans
                .iter()
                .filter(|(k, _)| rule.sources.contains(k))
                .find_map(|(_, s)| rule.apply(&s.haystack));
            if let Some(uri) = hit {
                push_unique(
                    &mut candidates,
                    &mut seen,
                    Candidate {
                        provider: rule.provider.clone(),
                        uri,
                        source: Source::Rule(rule.name.clone()),
                        via: Vec::new(),
                    },
                );
            }
        }
        for (kind, scan) in &scans {
            for c in rank_source(*kind, &scan.links) {
                push_unique(&mut candidates, &mut seen, c);
            }
        }
        let join = candidates.first().cloned();

        // With a keyword, the node wants to know whether the event carries someone else's
        // join link; links inside hcal's own block do not count.
        let explained_join = match (&keyword, &join) {
            (Some(_), Some(_)) => self.first_foreign(input, &candidates),
            _ => join.clone(),
        };
        let explanation = explain(&keyword, explained_join.as_ref(), &[&online, &location, &body], || {
            self.keywords.find(&body_text)
        });
        Detection {
            keyword,
            join,
            candidates,
            explanation,
        }
    }

    /// The best candidate that does not come only from hcal's own join block in the body.
    fn first_foreign(&self, input: &EventInput, candidates: &[Candidate]) -> Option<Candidate> {
        let body = truncate(&input.body, self.max_body_bytes);
        if block::find_block(body).is_none() {
            return candidates.first().cloned();
        }
        let without = EventInput {
            body: block::remove_block(body),
            body_kind: input.body_kind,
            ..EventInput::default()
        };
        let (outside, _) = self.scan_body(&without);
        let foreign: HashSet<&str> = outside.links.iter().map(|l| l.url.as_str()).collect();
        candidates
            .iter()
            .find(|c| c.source != Source::Body || foreign.contains(c.uri.as_str()))
            .cloned()
    }

    fn scan_online(&self, input: &EventInput) -> Scan {
        let mut scan = Scan::default();
        let Some(url) = input
            .online_meeting_url
            .as_deref()
            .filter(|u| u.len() <= urls::MAX_TOKEN_LEN)
        else {
            return scan;
        };
        let mut link = classify_link(0, url);
        if matches!(link.class, Class::Other | Class::MeetingLike)
            && let Some(id) = input.online_meeting_provider.as_deref().and_then(online_provider_id)
            && link.url.starts_with("https://")
        {
            link.class = Class::Provider(id);
        }
        scan.haystack = url.to_string();
        scan.links.push(link);
        append_links(&mut scan.haystack, &scan.links);
        scan
    }

    fn scan_location(&self, input: &EventInput) -> Scan {
        let mut scan = Scan::default();
        let mut offset = 0;
        for text in input.location_names.iter().chain(&input.location_uris) {
            let text = truncate(text, MAX_LOCATION_BYTES);
            scan.haystack.push_str(text);
            scan.haystack.push('\n');
            for tok in urls::scan(text, MAX_LINKS_PER_SOURCE) {
                if scan.links.len() >= MAX_LINKS_PER_SOURCE {
                    break;
                }
                scan.links.push(token_link(offset + tok.at, tok.kind, &tok.text));
            }
            offset += text.len() + 1;
        }
        append_links(&mut scan.haystack, &scan.links);
        scan
    }

    /// Scans the body; also returns its plain text (for the keyword-in-body check).
    fn scan_body(&self, input: &EventInput) -> (Scan, String) {
        let body = truncate(&input.body, self.max_body_bytes);
        let is_html = match input.body_kind {
            BodyKind::Html => true,
            BodyKind::Text => html::looks_like_html(body),
        };
        let (text, hrefs) = if is_html {
            let e = html::extract(body);
            (e.text, e.hrefs)
        } else {
            (body.to_string(), Vec::new())
        };
        let mut scan = Scan::default();
        for h in hrefs {
            if scan.links.len() >= MAX_LINKS_PER_SOURCE {
                break;
            }
            if h.url.len() > urls::MAX_TOKEN_LEN {
                continue;
            }
            if h.url.chars().any(char::is_whitespace) {
                // Not a single link; read it as text instead.
                for tok in urls::scan(&h.url, 8) {
                    scan.links.push(token_link(h.at, tok.kind, &tok.text));
                }
                continue;
            }
            scan.links.push(href_link(h.at, &h.url));
        }
        for tok in urls::scan(&text, MAX_LINKS_PER_SOURCE) {
            if scan.links.len() >= MAX_LINKS_PER_SOURCE {
                break;
            }
            scan.links.push(token_link(tok.at, tok.kind, &tok.text));
        }
        // Stable sort: an href stands before the text of its own anchor.
        scan.links.sort_by_key(|l| l.at);
        if !self.rules.is_empty() {
            scan.haystack = text.clone();
            append_links(&mut scan.haystack, &scan.links);
        }
        (scan, text)
    }
}

/// Appends the (unwrapped) links to a rule haystack, one per line.
fn append_links(haystack: &mut String, links: &[Link]) {
    for l in links {
        haystack.push('\n');
        haystack.push_str(&l.url);
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn online_provider_id(graph: &str) -> Option<&'static str> {
    match graph.to_ascii_lowercase().as_str() {
        "teamsforbusiness" => Some("teams"),
        "skypeforbusiness" => Some("skype_for_business"),
        "skypeforconsumer" => Some("skype"),
        _ => None,
    }
}

/// A link from an href or `joinUrl`: trimmed, unwrapped, classified.
fn href_link(at: usize, raw: &str) -> Link {
    let trimmed = urls::trim_trailing(raw);
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("mailto:")
        || lower.starts_with("cid:")
        || lower.starts_with('#')
        || lower.starts_with("javascript:")
        || lower.starts_with("data:")
    {
        return Link {
            at,
            url: trimmed.to_string(),
            class: Class::Ignored,
            via: Vec::new(),
        };
    }
    if lower.starts_with("tel:") {
        return Link {
            at,
            url: trimmed.to_string(),
            class: Class::Housekeeping("dial_in"),
            via: Vec::new(),
        };
    }
    if lower.starts_with("sip:") || lower.starts_with("sips:") || lower.starts_with("h323:") {
        return token_link(at, TokenKind::Sip, trimmed);
    }
    // A bare address as an href (`href="12345@x.example"`): scan it like text.
    if !lower.contains("://")
        && let Some(tok) = urls::scan(trimmed, 1).into_iter().next()
    {
        return token_link(at, tok.kind, &tok.text);
    }
    classify_link(at, trimmed)
}

fn token_link(at: usize, kind: TokenKind, text: &str) -> Link {
    match kind {
        TokenKind::Url => classify_link(at, text),
        TokenKind::Sip | TokenKind::BareSip => Link {
            at,
            url: normalise_sip(text),
            class: Class::Sip,
            via: Vec::new(),
        },
        TokenKind::Tel => Link {
            at,
            url: text.to_string(),
            class: Class::Housekeeping("dial_in"),
            via: Vec::new(),
        },
    }
}

/// Lower-cases the scheme (`SIP:` -> `sip:`); the address part is kept as written.
fn normalise_sip(s: &str) -> String {
    match s.split_once(':') {
        Some((scheme, rest)) => format!("{}:{rest}", scheme.to_ascii_lowercase()),
        None => s.to_string(),
    }
}

fn classify_link(at: usize, raw: &str) -> Link {
    let unwrapped = safelinks::unwrap(raw);
    // The unwrapped target may carry trailing junk of a sloppy wrapper.
    let url = urls::trim_trailing(&unwrapped.url).to_string();
    let class = if let Some(name) = unwrapped.stuck_at {
        Class::Stuck(name)
    } else {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("sip:") || lower.starts_with("sips:") || lower.starts_with("h323:") {
            Class::Sip
        } else {
            match providers::classify(&url) {
                LinkClass::Provider(i) => Class::Provider(PROVIDERS[i].id),
                LinkClass::Housekeeping(i) => Class::Housekeeping(HOUSEKEEPING[i].kind),
                LinkClass::MeetingLike => Class::MeetingLike,
                LinkClass::Other => Class::Other,
            }
        }
    };
    let url = if class == Class::Sip { normalise_sip(&url) } else { url };
    Link {
        at,
        url,
        class,
        via: unwrapped.via,
    }
}

/// Ranks one source's join links (see the module docs).
fn rank_source(kind: SourceKind, links: &[Link]) -> Vec<Candidate> {
    // (is_sip, first appearance of the provider, -len, appearance)
    let mut first_seen: Vec<(&str, usize)> = Vec::new();
    let mut items: Vec<(bool, usize, usize, usize, Candidate)> = Vec::new();
    for (n, l) in links.iter().enumerate() {
        let provider = match &l.class {
            Class::Provider(p) => *p,
            Class::Sip => "sip",
            _ => continue,
        };
        let rank = match first_seen.iter().position(|(p, _)| *p == provider) {
            Some(i) => first_seen[i].1,
            None => {
                first_seen.push((provider, n));
                n
            }
        };
        // Longest first among one provider's links (a complete link beats a truncated
        // copy); SIP addresses are not copies of each other, so they keep their order.
        let length_key = if provider == "sip" { 0 } else { usize::MAX - l.url.len() };
        items.push((
            provider == "sip",
            rank,
            length_key,
            n,
            Candidate {
                provider: provider.to_string(),
                uri: l.url.clone(),
                source: Source::from_kind(kind),
                via: l.via.clone(),
            },
        ));
    }
    items.sort_by_key(|a| (a.0, a.1, a.2, a.3));
    items.into_iter().map(|i| i.4).collect()
}

fn push_unique(list: &mut Vec<Candidate>, seen: &mut HashSet<String>, c: Candidate) {
    if seen.insert(c.uri.clone()) {
        list.push(c);
    }
}

fn explain(
    keyword: &Option<KeywordMatch>,
    join: Option<&Candidate>,
    scans: &[&Scan],
    body_keyword: impl FnOnce() -> Option<KeywordMatch>,
) -> Explanation {
    if let Some(k) = keyword {
        return Explanation::KeywordInLocation {
            keyword: k.keyword.clone(),
            modifier: k.modifier,
            action: k.action,
            existing_join: join.map(|j| j.provider.clone()),
        };
    }
    if let Some(j) = join {
        return match &j.source {
            Source::Rule(name) => Explanation::RuleMatched {
                rule: name.clone(),
                provider: j.provider.clone(),
            },
            source => Explanation::JoinLinkFound {
                provider: j.provider.clone(),
                source: source.clone(),
                via: j.via.clone(),
            },
        };
    }
    if let Some(k) = body_keyword() {
        return Explanation::KeywordInBody { keyword: k.keyword };
    }
    let links = || scans.iter().flat_map(|s| s.links.iter());
    if let Some(name) = links().find_map(|l| match l.class {
        Class::Stuck(n) => Some(n),
        _ => None,
    }) {
        return Explanation::RewrittenLinkUnrecoverable { rewriter: name };
    }
    if let Some(l) = links().find(|l| l.class == Class::MeetingLike) {
        return Explanation::UnknownMeetingLink { url: l.url.clone() };
    }
    let mut others: Vec<&str> = links()
        .filter(|l| l.class == Class::Other)
        .map(|l| l.url.as_str())
        .collect();
    others.sort_unstable();
    others.dedup();
    if !others.is_empty() {
        return Explanation::UnrecognisedLinksOnly { count: others.len() };
    }
    let mut kinds: Vec<&'static str> = Vec::new();
    for l in links() {
        if let Class::Housekeeping(k) = l.class
            && !kinds.contains(&k)
        {
            kinds.push(k);
        }
    }
    if !kinds.is_empty() {
        return Explanation::HousekeepingLinksOnly { kinds };
    }
    Explanation::NoLink
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(body: &str) -> EventInput {
        EventInput {
            body: body.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn longest_of_a_provider_wins() {
        let d = Detector::default().detect(&html(
            "<p>https://us02web.zoom.us/j/81234567890</p><p><a href=\"https://us02web.zoom.us/j/81234567890?pwd=abc.1\">Join</a></p>",
        ));
        let j = d.join.unwrap();
        assert_eq!(j.uri, "https://us02web.zoom.us/j/81234567890?pwd=abc.1");
        assert_eq!(d.candidates.len(), 2);
    }

    #[test]
    fn web_link_before_sip_in_one_source() {
        let d = Detector::default().detect(&html(
            "<p>SIP: 81234567890@zoomcrc.com</p><p>https://zoom.us/j/81234567890</p>",
        ));
        assert_eq!(d.join.unwrap().provider, "zoom");
        assert_eq!(d.candidates[1].uri, "sip:81234567890@zoomcrc.com");
    }

    #[test]
    fn source_priority() {
        let input = EventInput {
            online_meeting_url: Some("https://teams.microsoft.com/l/meetup-join/19%3a1/0".into()),
            location_names: vec!["https://meet.jit.si/Room".into()],
            body: "<a href=\"https://zoom.us/j/1\">z</a>".into(),
            ..Default::default()
        };
        let d = Detector::default().detect(&input);
        let got: Vec<String> = d.candidates.iter().map(|c| c.source.as_string()).collect();
        assert_eq!(got, ["online_meeting", "location", "body"]);
        assert_eq!(d.explanation.code(), "join_link_found");
    }

    #[test]
    fn keyword_explained_with_existing_link() {
        let input = EventInput {
            location_names: vec!["Room 1; @webex".into()],
            body: "<a href=\"https://zoom.us/j/1\">z</a>".into(),
            ..Default::default()
        };
        let d = Detector::default().detect(&input);
        assert_eq!(d.keyword.as_ref().unwrap().keyword, "@webex");
        assert_eq!(d.explanation.code(), "keyword_in_location");
        assert!(d.explanation.to_string().contains("Zoom"), "{}", d.explanation);
    }

    #[test]
    fn own_block_is_not_an_existing_join() {
        use crate::block::{BlockFormat, splice_block};
        use crate::render::{JoinDetails, Templates};
        let block = Templates::default()
            .render(
                &JoinDetails {
                    meeting_id: "m1".into(),
                    join_url: Some("https://acme.webex.com/meet/jdoe".into()),
                    ..Default::default()
                },
                "en",
                BlockFormat::Html,
            )
            .unwrap();
        let body = splice_block("<html><body><p>Agenda</p></body></html>", &block);
        let input = EventInput {
            location_names: vec!["@webex".into()],
            body: body.clone(),
            ..Default::default()
        };
        let d = Detector::default().detect(&input);
        // The block's link is a candidate (rooms join through it)...
        assert_eq!(d.join.as_ref().unwrap().provider, "webex");
        // ...but not "a link the event already carries".
        assert!(matches!(
            d.explanation,
            Explanation::KeywordInLocation {
                existing_join: None,
                ..
            }
        ));
        // A foreign link next to the block is reported.
        let input = EventInput {
            body: body.replace("Agenda", "https://zoom.us/j/123"),
            ..input
        };
        let d = Detector::default().detect(&input);
        assert!(matches!(
            &d.explanation,
            Explanation::KeywordInLocation { existing_join: Some(p), .. } if p == "zoom"
        ));
    }

    #[test]
    fn config_from_json() {
        let c: DetectorConfig = serde_json::from_str(
            r#"{"keywords":[{"keyword":"@Spark","default_action":"space"},{"keyword":"@webex","default_action":"one_time"}]}"#,
        )
        .unwrap();
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        let det = Detector::new(c, RuleSet::empty()).unwrap();
        let d = det.detect(&EventInput {
            location_names: vec!["@spark".into()],
            ..Default::default()
        });
        assert_eq!(d.keyword.unwrap().action, crate::KeywordAction::Space);
        let d = det.detect(&EventInput {
            location_names: vec!["@meet".into()],
            ..Default::default()
        });
        assert!(d.keyword.is_none());
        let bad: DetectorConfig =
            serde_json::from_str(r#"{"keywords":[{"keyword":"spark","default_action":"space"}]}"#).unwrap();
        assert!(matches!(
            Detector::new(bad, RuleSet::empty()),
            Err(ConfigError::Keyword(_))
        ));
        assert!(serde_json::from_str::<DetectorConfig>(r#"{"keywordz":[]}"#).is_err());
    }

    #[test]
    fn serialised_shape() {
        let d = Detector::default().detect(&html("<p>meet.google.com/abc-defg-hij</p>"));
        let v = serde_json::to_value(&d).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["candidates", "explanation", "explanation_code", "join", "keyword"]
        );
        assert_eq!(v["join"]["provider"], "google_meet");
        assert_eq!(v["join"]["source"], "body");
        assert_eq!(v["join"].as_object().unwrap().len(), 3);
        assert_eq!(v["keyword"], serde_json::Value::Null);
    }

    #[test]
    fn body_limit_applies() {
        let mut body = "x".repeat(100);
        body.push_str(" https://zoom.us/j/1");
        let det = Detector::new(
            DetectorConfig {
                max_body_bytes: 50,
                ..Default::default()
            },
            RuleSet::empty(),
        )
        .unwrap();
        let d = det.detect(&EventInput {
            body_kind: BodyKind::Text,
            body,
            ..Default::default()
        });
        assert!(d.join.is_none());
    }
}
