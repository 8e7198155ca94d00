//! Rendering the join block hcal writes into an event body, in the organiser's language.
//!
//! The language comes from a locale such as `nl-NL` (Graph `mailboxSettings.language.locale`):
//! built-in wording by language, else the org's default language. The org may add a header and
//! a footer per language (at most 1024 characters each, as Cisco allows), looked up by exact
//! locale, then language, then the default language. Everything inserted (details, header,
//! footer) is HTML-escaped; links are only made for `http(s)`, `sip(s)` and `tel` targets.

use crate::block::{self, BlockFormat};
use crate::labels::{self, Labels};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use thiserror::Error;

/// Longest custom header or footer, in characters.
pub const MAX_HEADER_FOOTER_CHARS: usize = 1024;
/// Longest single detail (URL, number, label), in characters.
pub const MAX_FIELD_CHARS: usize = 4096;
/// Most dial-in numbers in one block.
pub const MAX_DIAL_IN: usize = 64;
/// Longest meeting id, in characters.
pub const MAX_MEETING_ID_CHARS: usize = 256;

/// Why a block could not be rendered or templates not loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockError {
    /// The default language has no built-in wording.
    #[error("default language {0:?} has no built-in join-block wording (built in: en, nl, de, fr, es, ja)")]
    UnsupportedDefaultLanguage(String),
    /// A header/footer key is not a locale.
    #[error("header/footer language {0:?} is not a locale like 'nl' or 'nl-NL'")]
    BadLanguage(String),
    /// A header is too long.
    #[error("header for {lang:?} is {len} characters; at most {MAX_HEADER_FOOTER_CHARS} are allowed")]
    HeaderTooLong {
        /// Language key.
        lang: String,
        /// Its length in characters.
        len: usize,
    },
    /// A footer is too long.
    #[error("footer for {lang:?} is {len} characters; at most {MAX_HEADER_FOOTER_CHARS} are allowed")]
    FooterTooLong {
        /// Language key.
        lang: String,
        /// Its length in characters.
        len: usize,
    },
    /// The meeting id is empty or too long.
    #[error("meeting id must be 1 to {MAX_MEETING_ID_CHARS} characters")]
    BadMeetingId,
    /// A detail is too long.
    #[error("{field} is {len} characters; at most {MAX_FIELD_CHARS} are allowed")]
    FieldTooLong {
        /// Which detail.
        field: &'static str,
        /// Its length in characters.
        len: usize,
    },
    /// Too many dial-in numbers.
    #[error("{0} dial-in numbers; at most {MAX_DIAL_IN} are allowed")]
    TooManyDialIns(usize),
    /// Nothing to join with.
    #[error("join details have no join URL, video address, meeting number or dial-in number")]
    Empty,
}

/// One dial-in number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialIn {
    /// The number as shown, e.g. `+1 415-555-0100`.
    pub number: String,
    /// Where it is, e.g. `United States toll`.
    #[serde(default)]
    pub label: Option<String>,
}

/// The details of a created meeting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinDetails {
    /// The meeting's id at the provider; recorded in the block's marker.
    pub meeting_id: String,
    /// Join link for browsers and apps.
    #[serde(default)]
    pub join_url: Option<String>,
    /// Video address (`sip:…` or bare), for room systems.
    #[serde(default)]
    pub sip_address: Option<String>,
    /// Meeting number.
    #[serde(default)]
    pub meeting_number: Option<String>,
    /// Passcode.
    #[serde(default)]
    pub passcode: Option<String>,
    /// Dial-in numbers.
    #[serde(default)]
    pub dial_in: Vec<DialIn>,
}

/// A custom header and footer for one language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderFooter {
    /// Text above the join details.
    #[serde(default)]
    pub header: Option<String>,
    /// Text below the join details.
    #[serde(default)]
    pub footer: Option<String>,
}

/// The org's join-block settings, as configuration holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// Language used when the organiser's has no built-in wording; also the fallback for
    /// headers and footers.
    #[serde(default = "default_language")]
    pub default_language: String,
    /// Header and footer per locale or language (`nl`, `fr-CA`).
    #[serde(default)]
    pub custom: BTreeMap<String, HeaderFooter>,
}

fn default_language() -> String {
    "en".into()
}

impl Default for TemplateConfig {
    fn default() -> Self {
        TemplateConfig {
            default_language: default_language(),
            custom: BTreeMap::new(),
        }
    }
}

/// Validated join-block templates.
#[derive(Debug, Clone)]
pub struct Templates {
    default: &'static Labels,
    custom: BTreeMap<String, HeaderFooter>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            default: &labels::LABELS[0],
            custom: BTreeMap::new(),
        }
    }
}

/// A rendered block, ready to splice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinBlock {
    /// The block's full text, markers included.
    pub text: String,
    /// Hex hash of the block (see [`block::block_hash`]); record it with the meeting id.
    pub hash: String,
    /// The meeting id in the marker.
    pub meeting_id: String,
    /// HTML or text.
    pub format: BlockFormat,
    /// The language used for the wording.
    pub language: &'static str,
}

impl Templates {
    /// Validates the org's settings.
    pub fn new(config: TemplateConfig) -> Result<Templates, BlockError> {
        let default = labels::primary_language(&config.default_language)
            .and_then(|l| labels::labels(&l))
            .ok_or_else(|| BlockError::UnsupportedDefaultLanguage(config.default_language.clone()))?;
        let mut custom = BTreeMap::new();
        for (key, hf) in config.custom {
            if labels::primary_language(&key).is_none() {
                return Err(BlockError::BadLanguage(key));
            }
            for (text, is_header) in [(&hf.header, true), (&hf.footer, false)] {
                let len = text.as_deref().map_or(0, |t| t.chars().count());
                if len > MAX_HEADER_FOOTER_CHARS {
                    let lang = key.clone();
                    return Err(if is_header {
                        BlockError::HeaderTooLong { lang, len }
                    } else {
                        BlockError::FooterTooLong { lang, len }
                    });
                }
            }
            custom.insert(labels::normalise_locale(&key), hf);
        }
        Ok(Templates { default, custom })
    }

    /// The built-in wording used for `locale`.
    pub fn labels_for(&self, locale: &str) -> &'static Labels {
        labels::primary_language(locale)
            .and_then(|l| labels::labels(&l))
            .unwrap_or(self.default)
    }

    fn header_footer(&self, locale: &str) -> Option<&HeaderFooter> {
        let exact = labels::normalise_locale(locale);
        self.custom
            .get(&exact)
            .or_else(|| labels::primary_language(locale).and_then(|l| self.custom.get(&l)))
            .or_else(|| self.custom.get(self.default.lang))
    }

    /// Renders the block for `details` in the language of `locale`.
    pub fn render(&self, details: &JoinDetails, locale: &str, format: BlockFormat) -> Result<JoinBlock, BlockError> {
        validate(details)?;
        let labels = self.labels_for(locale);
        let hf = self.header_footer(locale);
        let header = hf.and_then(|h| h.header.as_deref()).filter(|s| !s.trim().is_empty());
        let footer = hf.and_then(|h| h.footer.as_deref()).filter(|s| !s.trim().is_empty());
        let inner = match format {
            BlockFormat::Html => render_html(details, labels, header, footer),
            BlockFormat::Text => render_text(details, labels, header, footer),
        };
        Ok(block::wrap(&details.meeting_id, &inner, format, labels.lang))
    }
}

fn validate(d: &JoinDetails) -> Result<(), BlockError> {
    let id_len = d.meeting_id.chars().count();
    if d.meeting_id.trim().is_empty() || id_len > MAX_MEETING_ID_CHARS {
        return Err(BlockError::BadMeetingId);
    }
    let check = |field: &'static str, v: Option<&str>| -> Result<(), BlockError> {
        let len = v.map_or(0, |s| s.chars().count());
        if len > MAX_FIELD_CHARS {
            return Err(BlockError::FieldTooLong { field, len });
        }
        Ok(())
    };
    check("join_url", d.join_url.as_deref())?;
    check("sip_address", d.sip_address.as_deref())?;
    check("meeting_number", d.meeting_number.as_deref())?;
    check("passcode", d.passcode.as_deref())?;
    if d.dial_in.len() > MAX_DIAL_IN {
        return Err(BlockError::TooManyDialIns(d.dial_in.len()));
    }
    for di in &d.dial_in {
        check("dial_in.number", Some(&di.number))?;
        check("dial_in.label", di.label.as_deref())?;
    }
    let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !has(&d.join_url)
        && !has(&d.sip_address)
        && !has(&d.meeting_number)
        && !d.dial_in.iter().any(|x| !x.number.trim().is_empty())
    {
        return Err(BlockError::Empty);
    }
    Ok(())
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn escape_multiline(s: &str) -> String {
    s.trim().lines().map(escape_html).collect::<Vec<_>>().join("<br>")
}

/// The href for a link target, when the target is of a scheme safe to link.
fn safe_href(target: &str) -> Option<String> {
    let t = target.trim();
    let lower = t.to_ascii_lowercase();
    let ok = ["https://", "http://", "sip:", "sips:"]
        .iter()
        .any(|p| lower.starts_with(p) && lower.len() > p.len())
        && !t.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then(|| escape_html(t))
}

fn sip_target(addr: &str) -> String {
    let a = addr.trim();
    let lower = a.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") || lower.starts_with("h323:") {
        a.to_string()
    } else {
        format!("sip:{a}")
    }
}

fn tel_href(number: &str) -> Option<String> {
    let digits: String = number
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '+' | ',' | ';' | '#' | '*'))
        .collect();
    (digits.chars().filter(char::is_ascii_digit).count() >= 3).then(|| format!("tel:{digits}"))
}

const STYLE_BLOCK: &str =
    "font-family:'Segoe UI','Helvetica Neue',Helvetica,Arial,sans-serif;font-size:14px;color:#252424;margin:24px 0";
const STYLE_TITLE: &str = "font-size:20px;margin:0 0 12px 0";
const STYLE_HEAD: &str = "font-weight:bold;margin:12px 0 4px 0";
const STYLE_P: &str = "margin:0 0 4px 0";

fn some_text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn render_html(d: &JoinDetails, l: &Labels, header: Option<&str>, footer: Option<&str>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "\n<div class=\"hcal-join\" lang=\"{}\" style=\"{STYLE_BLOCK}\">\n",
        l.lang
    );
    if let Some(t) = header {
        let _ = writeln!(h, "<p style=\"{STYLE_P}\">{}</p>", escape_multiline(t));
    }
    let _ = writeln!(h, "<p style=\"{STYLE_TITLE}\">{}</p>", escape_html(l.title));
    if let Some(url) = some_text(&d.join_url) {
        let _ = writeln!(h, "<p style=\"{STYLE_HEAD}\">{}</p>", escape_html(l.join_web));
        match safe_href(url) {
            Some(href) => {
                let _ = writeln!(
                    h,
                    "<p style=\"{STYLE_P}\"><a href=\"{href}\">{}</a></p>",
                    escape_html(url)
                );
            }
            None => {
                let _ = writeln!(h, "<p style=\"{STYLE_P}\">{}</p>", escape_html(url));
            }
        }
    }
    if let Some(n) = some_text(&d.meeting_number) {
        let _ = writeln!(
            h,
            "<p style=\"{STYLE_P}\">{} {}</p>",
            escape_html(l.meeting_number),
            escape_html(n)
        );
    }
    if let Some(p) = some_text(&d.passcode) {
        let _ = writeln!(
            h,
            "<p style=\"{STYLE_P}\">{} {}</p>",
            escape_html(l.passcode),
            escape_html(p)
        );
    }
    if let Some(sip) = some_text(&d.sip_address) {
        let _ = writeln!(h, "<p style=\"{STYLE_HEAD}\">{}</p>", escape_html(l.join_video));
        let shown = escape_html(sip);
        let value = match safe_href(&sip_target(sip)) {
            Some(href) => format!("<a href=\"{href}\">{shown}</a>"),
            None => shown,
        };
        let _ = writeln!(h, "<p style=\"{STYLE_P}\">{} {value}</p>", escape_html(l.video_address));
    }
    let numbers: Vec<&DialIn> = d.dial_in.iter().filter(|x| !x.number.trim().is_empty()).collect();
    if !numbers.is_empty() {
        let _ = writeln!(h, "<p style=\"{STYLE_HEAD}\">{}</p>", escape_html(l.join_phone));
        for di in numbers {
            let shown = escape_html(di.number.trim());
            let number = match tel_href(&di.number) {
                Some(href) => format!("<a href=\"{}\">{shown}</a>", escape_html(&href)),
                None => shown,
            };
            let label = some_text(&di.label)
                .map(|s| format!(" {}", escape_html(s)))
                .unwrap_or_default();
            let _ = writeln!(h, "<p style=\"{STYLE_P}\">{number}{label}</p>");
        }
    }
    if let Some(t) = footer {
        let _ = writeln!(h, "<p style=\"{STYLE_HEAD}\">{}</p>", escape_multiline(t));
    }
    h.push_str("</div>\n");
    h
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render_text(d: &JoinDetails, l: &Labels, header: Option<&str>, footer: Option<&str>) -> String {
    let mut t = String::new();
    if let Some(h) = header {
        let _ = writeln!(t, "{}", h.trim());
        t.push('\n');
    }
    let _ = writeln!(t, "{}", l.title);
    if let Some(url) = some_text(&d.join_url) {
        let _ = writeln!(t, "\n{}", l.join_web);
        let _ = writeln!(t, "{}", one_line(url));
    }
    if let Some(n) = some_text(&d.meeting_number) {
        let _ = writeln!(t, "{} {}", l.meeting_number, one_line(n));
    }
    if let Some(p) = some_text(&d.passcode) {
        let _ = writeln!(t, "{} {}", l.passcode, one_line(p));
    }
    if let Some(sip) = some_text(&d.sip_address) {
        let _ = writeln!(t, "\n{}", l.join_video);
        let _ = writeln!(t, "{} {}", l.video_address, one_line(sip));
    }
    let numbers: Vec<&DialIn> = d.dial_in.iter().filter(|x| !x.number.trim().is_empty()).collect();
    if !numbers.is_empty() {
        let _ = writeln!(t, "\n{}", l.join_phone);
        for di in numbers {
            match some_text(&di.label) {
                Some(label) => {
                    let _ = writeln!(t, "{} {}", one_line(&di.number), one_line(label));
                }
                None => {
                    let _ = writeln!(t, "{}", one_line(&di.number));
                }
            }
        }
    }
    if let Some(f) = footer {
        let _ = writeln!(t, "\n{}", f.trim());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details() -> JoinDetails {
        JoinDetails {
            meeting_id: "m-1".into(),
            join_url: Some("https://acme.webex.com/meet/jdoe".into()),
            sip_address: Some("jdoe@acme.webex.com".into()),
            meeting_number: Some("2345 678 901".into()),
            passcode: None,
            dial_in: vec![DialIn {
                number: "+1 415-555-0100".into(),
                label: Some("United States toll".into()),
            }],
        }
    }

    #[test]
    fn languages_and_fallback() {
        let t = Templates::default();
        let b = t.render(&details(), "nl-NL", BlockFormat::Html).unwrap();
        assert_eq!(b.language, "nl");
        assert!(b.text.contains("Deelnemen aan de vergadering"));
        assert!(b.text.contains("lang=\"nl\""));
        let b = t.render(&details(), "pt-BR", BlockFormat::Html).unwrap();
        assert_eq!(b.language, "en");
        let t = Templates::new(TemplateConfig {
            default_language: "de-DE".into(),
            custom: BTreeMap::new(),
        })
        .unwrap();
        assert_eq!(t.render(&details(), "pt-BR", BlockFormat::Text).unwrap().language, "de");
        assert_eq!(t.render(&details(), "ja-JP", BlockFormat::Text).unwrap().language, "ja");
        assert!(matches!(
            Templates::new(TemplateConfig {
                default_language: "pt".into(),
                custom: BTreeMap::new()
            }),
            Err(BlockError::UnsupportedDefaultLanguage(_))
        ));
    }

    #[test]
    fn header_footer_lookup_and_limits() {
        let mut custom = BTreeMap::new();
        custom.insert(
            "fr-CA".into(),
            HeaderFooter {
                header: Some("Bonjour du Québec".into()),
                footer: None,
            },
        );
        custom.insert(
            "fr".into(),
            HeaderFooter {
                header: Some("Bonjour".into()),
                footer: Some("Au revoir".into()),
            },
        );
        custom.insert(
            "en".into(),
            HeaderFooter {
                header: Some("Hello <team>".into()),
                footer: None,
            },
        );
        let t = Templates::new(TemplateConfig {
            default_language: "en".into(),
            custom,
        })
        .unwrap();
        let b = t.render(&details(), "fr_CA", BlockFormat::Html).unwrap();
        assert!(b.text.contains("Bonjour du Québec"));
        let b = t.render(&details(), "fr-FR", BlockFormat::Html).unwrap();
        assert!(b.text.contains("Bonjour") && b.text.contains("Au revoir"));
        let b = t.render(&details(), "es-ES", BlockFormat::Html).unwrap();
        assert!(b.text.contains("Hello &lt;team&gt;"), "{}", b.text);
        assert!(b.text.contains("Unirse a la reunión"));

        let mut custom = BTreeMap::new();
        custom.insert(
            "nl".into(),
            HeaderFooter {
                header: Some("é".repeat(MAX_HEADER_FOOTER_CHARS)),
                footer: Some("x".repeat(MAX_HEADER_FOOTER_CHARS + 1)),
            },
        );
        let e = Templates::new(TemplateConfig {
            default_language: "en".into(),
            custom,
        })
        .unwrap_err();
        assert_eq!(
            e,
            BlockError::FooterTooLong {
                lang: "nl".into(),
                len: MAX_HEADER_FOOTER_CHARS + 1
            }
        );
    }

    #[test]
    fn unsafe_schemes_are_not_linked() {
        let mut d = details();
        d.join_url = Some("javascript:alert(1)".into());
        let b = Templates::default().render(&d, "en", BlockFormat::Html).unwrap();
        assert!(!b.text.contains("href=\"javascript"));
        assert!(b.text.contains("javascript:alert(1)"));
    }

    #[test]
    fn detail_validation() {
        let t = Templates::default();
        let mut d = details();
        d.meeting_id = " ".into();
        assert_eq!(t.render(&d, "en", BlockFormat::Html), Err(BlockError::BadMeetingId));
        let d = JoinDetails {
            meeting_id: "x".into(),
            ..Default::default()
        };
        assert_eq!(t.render(&d, "en", BlockFormat::Html), Err(BlockError::Empty));
    }

    #[test]
    fn text_variant() {
        let b = Templates::default()
            .render(&details(), "de", BlockFormat::Text)
            .unwrap();
        assert!(b.text.contains("Meeting-Nummer: 2345 678 901"));
        assert!(b.text.contains("+1 415-555-0100 United States toll"));
        assert!(!b.text.contains('<') || b.text.contains("[hcal-join"));
    }
}
