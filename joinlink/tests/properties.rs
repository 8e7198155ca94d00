//! Property tests: detection never panics and finds what it should in any surroundings;
//! unwrapping, trimming, keyword tokenisation, splicing and rendering hold for arbitrary input.

use hcal_joinlink::block::{BlockFormat, find_block, find_blocks, is_unmodified, remove_block, splice_block};
use hcal_joinlink::explain::KEYWORD_IN_LOCATION;
use hcal_joinlink::keyword::{Keywords, Modifier};
use hcal_joinlink::providers::PROVIDERS;
use hcal_joinlink::render::{DialIn, HeaderFooter, JoinDetails, TemplateConfig, Templates};
use hcal_joinlink::safelinks::MAX_UNWRAP_PASSES;
use hcal_joinlink::{BodyKind, Detector, EventInput, RuleSet};
use html5gum::{Token, Tokenizer};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Known join targets: every provider row's example plus SIP forms, with the provider id.
fn known_links() -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = PROVIDERS.iter().map(|p| (p.id, p.example.to_string())).collect();
    v.push(("sip", "sip:jdoe@company.com".into()));
    v.push(("sip", "sips:vmr.42@video.example.org".into()));
    v.push(("sip", "h323:4455@gk.example.com".into()));
    v
}

fn known_link() -> impl Strategy<Value = (&'static str, String)> {
    prop::sample::select(known_links())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Markup-ish noise: fragments that stress the tokenizer and the scanner.
fn soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<a href=\"".to_string()),
        Just("\">".to_string()),
        Just("</a>".to_string()),
        Just("<p>".to_string()),
        Just("</body>".to_string()),
        Just("<!--".to_string()),
        Just("-->".to_string()),
        Just("<style>".to_string()),
        Just("<script>".to_string()),
        Just("&amp;".to_string()),
        Just("&#x".to_string()),
        Just("https://".to_string()),
        Just("zoom.us/j/".to_string()),
        Just(".safelinks.protection.outlook.com/?url=".to_string()),
        Just("https%3A%2F%2F".to_string()),
        Just("urldefense.com/v3/__".to_string()),
        Just("__;".to_string()),
        Just("sip:".to_string()),
        Just("@webex".to_string()),
        Just(":space".to_string()),
        Just("12345@x.example".to_string()),
        Just("<!--hcal-join:begin id=a hash=0f-->".to_string()),
        Just("<!--hcal-join:end-->".to_string()),
        Just("[hcal-join id=a hash=0f]\n".to_string()),
        Just("[/hcal-join]\n".to_string()),
        "[ -~]{0,12}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// Plain surrounding text without markup or whitespace at the ends that would glue to a link.
fn plain() -> impl Strategy<Value = String> {
    "[^<>&\\x00]{0,40}"
}

fn punct() -> impl Strategy<Value = String> {
    "[.,;:!?)'\"*\\]>]{0,3}"
}

fn detect_text(body: String) -> hcal_joinlink::Detection {
    Detector::default().detect(&EventInput {
        body_kind: BodyKind::Text,
        body,
        ..Default::default()
    })
}

fn detect_html(body: String) -> hcal_joinlink::Detection {
    Detector::default().detect(&EventInput {
        body_kind: BodyKind::Html,
        body,
        ..Default::default()
    })
}

fn has(d: &hcal_joinlink::Detection, provider: &str, uri: &str) -> bool {
    d.candidates.iter().any(|c| c.provider == provider && c.uri == uri)
}

fn safelink(inner: &str, n: usize) -> String {
    let hosts = [
        "nam12.safelinks.protection.outlook.com",
        "eur01.safelinks.protection.outlook.com",
        "apc01.safelinks.protection.outlook.com",
        "gcc02.safelinks.protection.office365.us",
        "eur02.safelinks.outlook.microsoft.com",
    ];
    format!(
        "https://{}/?url={}&data=05%7C02%7C%7C{n}%7C0&sdata=x%3D&reserved=0",
        hosts[n % hosts.len()],
        utf8_percent_encode(inner, NON_ALPHANUMERIC)
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn detection_never_panics(body in soup(), loc in soup(), online in soup(), text in any::<bool>()) {
        let d = Detector::default().detect(&EventInput {
            online_meeting_url: Some(online),
            online_meeting_provider: Some("teamsForBusiness".into()),
            location_names: vec![loc.clone(), loc],
            location_uris: vec![],
            body_kind: if text { BodyKind::Text } else { BodyKind::Html },
            body,
        });
        // Whatever came out serialises and explains itself.
        let v = serde_json::to_value(&d).unwrap();
        prop_assert!(v["explanation"].as_str().is_some_and(|s| !s.is_empty()));
        prop_assert_eq!(d.join.is_some(), !d.candidates.is_empty());
        // The node plans join work from this code without opening the sealed content.
        prop_assert_eq!(d.keyword.is_some(), d.explanation.code() == KEYWORD_IN_LOCATION);
    }

    #[test]
    fn arbitrary_unicode_never_panics(s in any::<String>()) {
        let _ = detect_html(s.clone());
        let _ = detect_text(s.clone());
        let _ = Keywords::default().find(&s);
        let _ = find_block(&s);
        let _ = remove_block(&s);
        let _ = hcal_joinlink::safelinks::unwrap(&s);
        let _ = RuleSet::from_json(&s);
    }

    #[test]
    fn known_link_in_text_is_found_exactly(
        (provider, url) in known_link(), pre in plain(), post in plain(), p in punct()
    ) {
        let body = format!("{pre} {url}{p} {post}");
        let d = detect_text(body.clone());
        prop_assert!(has(&d, provider, &url), "{} not found in {:?}: {:?}", url, body, d.candidates);
    }

    #[test]
    fn known_link_in_html_text_and_href_is_found_exactly(
        (provider, url) in known_link(), pre in plain(), post in plain(), p in punct(), as_href in any::<bool>()
    ) {
        let body = if as_href {
            format!("<html><body><p>{}</p><a href=\"{}\">{}</a>{}</body></html>",
                html_escape(&pre), html_escape(&url), html_escape(&post), html_escape(&p))
        } else {
            format!("<html><body><div>{} {}{}</div><div>{}</div></body></html>",
                html_escape(&pre), html_escape(&url), html_escape(&p), html_escape(&post))
        };
        let d = detect_html(body.clone());
        prop_assert!(has(&d, provider, &url), "{} not found in {:?}: {:?}", url, body, d.candidates);
    }

    #[test]
    fn trailing_punctuation_never_ends_a_uri(
        (_, url) in known_link(), pre in plain(), p in "[.,;:!?)'\"*\\]>]{1,4}"
    ) {
        let d = detect_text(format!("{pre} {url}{p}"));
        for c in &d.candidates {
            prop_assert!(
                !c.uri.ends_with(['.', ',', ';', ':', '!', '?', '\'', '"', '*']),
                "{:?}", c.uri
            );
        }
        prop_assert!(d.candidates.iter().any(|c| c.uri == url));
    }

    #[test]
    fn safelinks_unwrap_to_the_bare_result(
        (_, url) in known_link(), depth in 1usize..=MAX_UNWRAP_PASSES, as_href in any::<bool>()
    ) {
        let mut wrapped = url.clone();
        for n in 0..depth {
            wrapped = safelink(&wrapped, n);
        }
        let body = |u: &str| if as_href {
            format!("<p><a href=\"{}\">Join</a></p>", html_escape(u))
        } else {
            format!("<p>Join: {}</p>", html_escape(u))
        };
        let bare = detect_html(body(&url));
        let unwrapped = detect_html(body(&wrapped));
        prop_assert_eq!(
            bare.join.as_ref().map(|j| (&j.provider, &j.uri)),
            unwrapped.join.as_ref().map(|j| (&j.provider, &j.uri))
        );
        prop_assert!(unwrapped.join.is_some());
    }

    #[test]
    fn keyword_as_token_is_found_in_any_case(
        pre in "[a-zA-Z0-9 ,;()]{0,20}",
        before in prop::sample::select(vec!["", " ", "(", "; ", ",", "\"", "\t", "[", "<"]),
        kw in prop::sample::select(vec!["@webex", "@meet"]),
        upper in prop::collection::vec(any::<bool>(), 6),
        modifier in prop::sample::select(vec![None, Some(Modifier::Myroom), Some(Modifier::Space), Some(Modifier::Onetime)]),
        after in prop::sample::select(vec!["", " ", ")", ";", ",", ".", "!", "?", "\"", "\n", ". Thanks"]),
        post in "[a-zA-Z0-9 ,;()]{0,20}",
    ) {
        let cased: String = kw.chars().zip(upper.iter().cycle())
            .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
            .collect();
        let m = modifier.map(|m| format!(":{}", m.as_str().to_uppercase())).unwrap_or_default();
        // Text before the keyword must end in a separator unless `before` supplies one.
        let pre = if before.is_empty() { String::new() } else { pre };
        // Text right after the keyword must not continue it (`@webexabc`, `@webex.com`).
        let post = if after.is_empty() || after == "." { String::new() } else { post };
        let text = format!("{pre}{before}{cased}{m}{after}{post}");
        let found = Keywords::default().find(&text);
        prop_assert!(found.is_some(), "{:?}", text);
        let found = found.unwrap();
        prop_assert_eq!(found.keyword, kw);
        prop_assert_eq!(found.modifier, modifier);
    }

    #[test]
    fn keyword_inside_an_address_is_not_a_keyword(
        local in "[a-zA-Z0-9._%+-]{1,12}",
        kw in prop::sample::select(vec!["@webex", "@meet", "@WebEx"]),
        tail in prop::sample::select(vec!["", ".com", ".co.uk", "x", "-room", "/path", "_1"]),
        post in "[a-zA-Z ]{0,10}",
    ) {
        let text = format!("{local}{kw}{tail} {post}");
        prop_assert_eq!(Keywords::default().find(&text), None, "{:?}", text);
        let text = format!("{kw}{tail} {post}");
        if !tail.is_empty() {
            prop_assert_eq!(Keywords::default().find(&text), None, "{:?}", text);
        }
    }

    #[test]
    fn splice_then_remove_is_byte_exact(body in soup(), id in "[!-~][ -~]{0,39}", text in any::<bool>()) {
        prop_assume!(find_block(&body).is_none());
        let format = if text { BlockFormat::Text } else { BlockFormat::Html };
        let block = Templates::default().render(&JoinDetails {
            meeting_id: id.clone(),
            join_url: Some("https://acme.webex.com/meet/jdoe".into()),
            sip_address: Some("jdoe@acme.webex.com".into()),
            ..Default::default()
        }, "fr-FR", format).unwrap();
        let spliced = splice_block(&body, &block);
        prop_assert_eq!(&remove_block(&spliced), &body);
        let found = find_block(&spliced).unwrap();
        prop_assert_eq!(&spliced[found.range.clone()], block.text.as_str());
        prop_assert_eq!(&found.meeting_id, &id);
        prop_assert_eq!(&found.hash, &block.hash);
        prop_assert!(is_unmodified(&spliced, &found));
        // Replacing (a time change) keeps one block and the rest of the body.
        let again = splice_block(&spliced, &block);
        prop_assert_eq!(&again, &spliced);
        prop_assert_eq!(find_blocks(&again).len(), 1);
        prop_assert_eq!(&remove_block(&again), &body);
    }

    #[test]
    fn render_never_emits_unescaped_user_text(
        url in any::<String>(), sip in any::<String>(), number in any::<String>(),
        pass in any::<String>(), dial in any::<String>(), label in any::<String>(),
        header in "[\\s\\S]{0,200}", footer in any::<String>(), id in "[\\s\\S]{1,60}",
        locale in "[a-zA-Z_-]{0,8}", text in any::<bool>(),
    ) {
        prop_assume!(!id.trim().is_empty());
        let mut custom = BTreeMap::new();
        custom.insert("en".to_string(), HeaderFooter { header: Some(header), footer: Some(footer) });
        let templates = Templates::new(TemplateConfig { default_language: "en".into(), custom }).unwrap();
        let details = JoinDetails {
            meeting_id: id,
            join_url: Some(format!("https://x.example/{url}")),
            sip_address: Some(sip),
            meeting_number: Some(number),
            passcode: Some(pass),
            dial_in: vec![DialIn { number: format!("+1 {dial}"), label: Some(label) }],
        };
        let format = if text { BlockFormat::Text } else { BlockFormat::Html };
        let block = templates.render(&details, &locale, format).unwrap();
        if format == BlockFormat::Html {
            let mut comments = 0;
            for token in Tokenizer::new(block.text.as_str()) {
                let Ok(token) = token;
                match token {
                    Token::StartTag(t) => {
                        let name = String::from_utf8_lossy(&t.name).into_owned();
                        prop_assert!(["div", "p", "a", "br"].contains(&name.as_str()), "tag {}", name);
                        for (k, v) in &t.attributes {
                            let k = String::from_utf8_lossy(k).into_owned();
                            prop_assert!(["class", "lang", "style", "href"].contains(&k.as_str()), "attr {}", k);
                            if k == "href" {
                                let v = String::from_utf8_lossy(&v.value).to_ascii_lowercase();
                                prop_assert!(
                                    ["https://", "http://", "sip:", "sips:", "h323:", "tel:"].iter().any(|p| v.starts_with(p)),
                                    "href {}", v
                                );
                            }
                        }
                    }
                    Token::EndTag(t) => {
                        let name = String::from_utf8_lossy(&t.name).into_owned();
                        prop_assert!(["div", "p", "a"].contains(&name.as_str()), "end tag {}", name);
                    }
                    Token::Comment(_) => comments += 1,
                    Token::Doctype(_) => prop_assert!(false, "doctype"),
                    Token::String(_) | Token::Error(_) => {}
                }
            }
            prop_assert_eq!(comments, 2);
        }
        // Whatever the user text, the block is found whole and intact after splicing.
        let spliced = splice_block("<html><body><p>x</p></body></html>", &block);
        let found = find_block(&spliced).unwrap();
        prop_assert_eq!(&spliced[found.range.clone()], block.text.as_str());
        prop_assert!(is_unmodified(&spliced, &found));
    }
}
