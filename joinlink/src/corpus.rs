//! The invitation corpus (`joinlink/tests/corpus/*.json`), compiled in so that `hcal-bench join`
//! can measure detection without knowing where the source tree is.
//!
//! Each file is a JSON array of cases:
//!
//! ```json
//! {"name": "zoom-html-pwd", "about": "why this case exists",
//!  "event": { Graph event resource },
//!  "expect": {"keyword": null | "@webex" | "@webex:space",
//!             "provider": null | "zoom", "uri": "...", "source": "body",
//!             "explanation_code": "join_link_found"}}
//! ```
//!
//! `expect` fields that are absent are not checked. Benchmarks call [`corpus`] and run
//! [`crate::Detector::detect_graph`] over it in a loop.

use serde::Deserialize;
use serde_json::Value;

/// The corpus files, by name.
pub const FILES: &[(&str, &str)] = &[
    ("teams.json", include_str!("../tests/corpus/teams.json")),
    ("zoom.json", include_str!("../tests/corpus/zoom.json")),
    ("webex.json", include_str!("../tests/corpus/webex.json")),
    ("google.json", include_str!("../tests/corpus/google.json")),
    ("others.json", include_str!("../tests/corpus/others.json")),
    ("sip.json", include_str!("../tests/corpus/sip.json")),
    ("wrapped.json", include_str!("../tests/corpus/wrapped.json")),
    ("keywords.json", include_str!("../tests/corpus/keywords.json")),
    ("negatives.json", include_str!("../tests/corpus/negatives.json")),
];

/// One corpus case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique name.
    pub name: String,
    /// What the case is about and where its format comes from.
    pub about: String,
    /// The Graph event.
    pub event: Value,
    /// What detection must report.
    pub expect: Expect,
}

/// Expected detection result; absent fields are not checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `null` for none, or `@kw` / `@kw:modifier`.
    #[serde(default, deserialize_with = "present")]
    pub keyword: Option<Option<String>>,
    /// `null` for no join, or the provider id.
    #[serde(default, deserialize_with = "present")]
    pub provider: Option<Option<String>>,
    /// The join URI.
    #[serde(default)]
    pub uri: Option<String>,
    /// The join source.
    #[serde(default)]
    pub source: Option<String>,
    /// The explanation code.
    #[serde(default)]
    pub explanation_code: Option<String>,
    /// URIs that must not be among the candidates (housekeeping links, ...).
    #[serde(default)]
    pub not_candidates: Vec<String>,
}

/// Distinguishes an absent field (outer `None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Every case of every file. A malformed file is reported by name.
pub fn cases() -> Result<Vec<Case>, String> {
    let mut out = Vec::new();
    for (name, text) in FILES {
        let mut file: Vec<Case> = serde_json::from_str(text).map_err(|e| format!("corpus file {name}: {e}"))?;
        out.append(&mut file);
    }
    Ok(out)
}

/// The corpus events, as Graph event resources. Empty if the corpus is malformed (the corpus
/// test fails loudly in that case).
pub fn corpus() -> Vec<Value> {
    cases()
        .map(|c| c.into_iter().map(|c| c.event).collect())
        .unwrap_or_default()
}
