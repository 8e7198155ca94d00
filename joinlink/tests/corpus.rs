//! Runs the whole invitation corpus (`tests/corpus/*.json`) through the detector and checks
//! every case's stated expectation.

use hcal_joinlink::corpus::{self, Case};
use hcal_joinlink::{Detector, detect_graph_event};
use serde_json::Value;
use std::collections::BTreeSet;

fn check(case: &Case, out: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let e = &case.expect;
    if let Some(kw) = &e.keyword {
        let got = match &out["keyword"] {
            Value::Null => None,
            k => Some(match k["modifier"].as_str() {
                Some(m) => format!("{}:{m}", k["keyword"].as_str().unwrap_or("?")),
                None => k["keyword"].as_str().unwrap_or("?").to_string(),
            }),
        };
        if &got != kw {
            errs.push(format!("keyword: expected {kw:?}, got {got:?}"));
        }
    }
    if let Some(p) = &e.provider {
        let got = out["join"]["provider"].as_str().map(str::to_string);
        if &got != p {
            errs.push(format!("provider: expected {p:?}, got {got:?}"));
        }
    }
    if let Some(u) = &e.uri {
        let got = out["join"]["uri"].as_str();
        if got != Some(u.as_str()) {
            errs.push(format!("uri: expected {u:?}, got {got:?}"));
        }
    }
    if let Some(s) = &e.source {
        let got = out["join"]["source"].as_str();
        if got != Some(s.as_str()) {
            errs.push(format!("source: expected {s:?}, got {got:?}"));
        }
    }
    if let Some(c) = &e.explanation_code {
        let got = out["explanation_code"].as_str();
        if got != Some(c.as_str()) {
            errs.push(format!("explanation_code: expected {c:?}, got {got:?}"));
        }
    }
    let uris: BTreeSet<&str> = out["candidates"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["uri"].as_str()).collect())
        .unwrap_or_default();
    for bad in &e.not_candidates {
        if uris.contains(bad.as_str()) {
            errs.push(format!("{bad} must not be a candidate"));
        }
    }
    errs
}

#[test]
fn whole_corpus() {
    let cases = corpus::cases().expect("corpus parses");
    assert!(cases.len() >= 60, "corpus has only {} cases", cases.len());
    let detector = Detector::default();
    let mut failures = Vec::new();
    let mut names = BTreeSet::new();
    for case in &cases {
        assert!(names.insert(case.name.clone()), "duplicate case {}", case.name);
        assert!(!case.about.trim().is_empty(), "{} has no 'about'", case.name);
        let out = detect_graph_event(&case.event, &detector);
        // Every case states at least what the join (or its absence) must be.
        assert!(
            case.expect.provider.is_some() || case.expect.keyword.is_some(),
            "{} states no expected provider or keyword",
            case.name
        );
        for err in check(case, &out) {
            failures.push(format!("{}: {err}\n   output: {out}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_the_required_services() {
    let cases = corpus::cases().expect("corpus parses");
    let providers: BTreeSet<String> = cases
        .iter()
        .filter_map(|c| c.expect.provider.clone().flatten())
        .collect();
    for p in [
        "teams",
        "zoom",
        "webex",
        "google_meet",
        "gotomeeting",
        "bluejeans",
        "chime",
        "jitsi",
        "whereby",
        "skype_for_business",
        "sip",
    ] {
        assert!(providers.contains(p), "no corpus case expects {p}");
    }
    for code in [
        "no_link",
        "housekeeping_links_only",
        "unrecognised_links_only",
        "unknown_meeting_link",
        "keyword_in_body",
        "keyword_in_location",
        "rewritten_link_unrecoverable",
    ] {
        assert!(
            cases.iter().any(|c| c.expect.explanation_code.as_deref() == Some(code)),
            "no corpus case expects {code}"
        );
    }
}

#[test]
fn every_corpus_file_is_compiled_in() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let listed: BTreeSet<String> = corpus::FILES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, listed, "corpus::FILES and tests/corpus/ differ");
    assert_eq!(corpus::corpus().len(), corpus::cases().unwrap().len());
}
