//! Extracting what a person sees and can click from an HTML body: the rendered text and the
//! `href`s, entities decoded, with a WHATWG tokenizer rather than regexes over markup.
//!
//! Text inside `<head>`, `<style>`, `<script>`, `<title>` and comments is skipped (Outlook
//! bodies carry CSS there). Block-level tags and `<br>` become line breaks, table cells tabs,
//! so words of neighbouring blocks do not run together; inline tags join their text as a
//! browser shows it.

use html5gum::{DefaultEmitter, Token, Tokenizer};

/// The text and links of an HTML body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Rendered text.
    pub text: String,
    /// `href` values of `<a>` and `<area>`, in document order, entity-decoded and trimmed.
    pub hrefs: Vec<Href>,
}

/// One link target and where it stood in the text (for ordering against text links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Href {
    /// The attribute value.
    pub url: String,
    /// Byte offset in [`Extracted::text`] where the link's text begins.
    pub at: usize,
}

/// At most this many hrefs are kept from one body.
pub const MAX_HREFS: usize = 2048;

fn is_block(name: &[u8]) -> bool {
    matches!(
        name,
        b"p" | b"div"
            | b"br"
            | b"tr"
            | b"li"
            | b"ul"
            | b"ol"
            | b"table"
            | b"tbody"
            | b"thead"
            | b"h1"
            | b"h2"
            | b"h3"
            | b"h4"
            | b"h5"
            | b"h6"
            | b"blockquote"
            | b"pre"
            | b"hr"
            | b"section"
            | b"article"
            | b"header"
            | b"footer"
            | b"center"
            | b"address"
            | b"dd"
            | b"dt"
            | b"dl"
            | b"body"
            | b"html"
    )
}

fn is_hidden(name: &[u8]) -> bool {
    matches!(
        name,
        b"head" | b"style" | b"script" | b"title" | b"template" | b"noscript" | b"xml"
    )
}

fn push_break(text: &mut String, brk: char) {
    if !text.is_empty() && !text.ends_with(['\n', '\t']) {
        text.push(brk);
    }
}

/// Extracts text and hrefs from `html`. Never fails: the tokenizer recovers from any input.
pub fn extract(html: &str) -> Extracted {
    let mut emitter = DefaultEmitter::default();
    // Enter raw-text states after <style>/<script>/<title>/<textarea> as a browser would, so
    // CSS and scripts are one text run we can skip.
    emitter.naively_switch_states(true);
    let mut out = Extracted::default();
    let mut hidden_depth: usize = 0;
    for token in Tokenizer::new_with_emitter(html, emitter) {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let name = tag.name.as_slice();
                if is_hidden(name) {
                    if !tag.self_closing {
                        hidden_depth = hidden_depth.saturating_add(1);
                    }
                    continue;
                }
                if is_block(name) {
                    push_break(&mut out.text, '\n');
                } else if name == b"td" || name == b"th" {
                    push_break(&mut out.text, '\t');
                }
                let is_link = name == b"a" || name == b"area";
                if is_link
                    && hidden_depth == 0
                    && out.hrefs.len() < MAX_HREFS
                    && let Some(href) = tag.attributes.get(b"href".as_slice())
                {
                    let url = String::from_utf8_lossy(&href.value).trim().to_string();
                    if !url.is_empty() {
                        out.hrefs.push(Href {
                            url,
                            at: out.text.len(),
                        });
                    }
                }
            }
            Token::EndTag(tag) => {
                let name = tag.name.as_slice();
                if is_hidden(name) {
                    hidden_depth = hidden_depth.saturating_sub(1);
                } else if is_block(name) {
                    push_break(&mut out.text, '\n');
                }
            }
            Token::String(s) => {
                if hidden_depth == 0 {
                    out.text.push_str(&String::from_utf8_lossy(&s.value));
                }
            }
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    out
}

/// Whether a body declared as text is in fact HTML (some clients send HTML as `text`).
pub fn looks_like_html(s: &str) -> bool {
    let head = s.get(..s.len().min(2048)).unwrap_or(s).to_ascii_lowercase();
    head.contains("<html") || head.contains("<body") || head.contains("<div") || head.contains("<p>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_hrefs() {
        let e = extract(
            r#"<html><head><style>p.MsoNormal{color:red} a{x:"https://zoom.us/j/1"}</style></head>
<body><p>Join&nbsp;<a href="https://zoom.us/j/123?pwd=a&amp;b=c">here</a></p><div>ID:</div><span>1</span><span>23</span>
<!-- https://hidden.example/x --><table><tr><td>a</td><td>b</td></tr></table></body></html>"#,
        );
        assert_eq!(e.hrefs.len(), 1);
        assert_eq!(e.hrefs[0].url, "https://zoom.us/j/123?pwd=a&b=c");
        assert!(e.text.contains("Join\u{a0}here"), "{:?}", e.text);
        assert!(e.text.contains("ID:\n123"), "{:?}", e.text);
        assert!(e.text.contains("a\tb"), "{:?}", e.text);
        assert!(!e.text.contains("MsoNormal"));
        assert!(!e.text.contains("hidden.example"));
    }

    #[test]
    fn entities_in_text() {
        let e = extract("<p>https://meet.google.com/abc-defg-hij&#46; &lt;sip:1@x.example&gt;</p>");
        assert!(e.text.contains("abc-defg-hij. <sip:1@x.example>"), "{:?}", e.text);
    }

    #[test]
    fn hostile_markup_does_not_panic() {
        for s in [
            "<",
            "<a href",
            "<a href='",
            "<!--",
            "<plaintext><a href=x>",
            "</head></head></style><style>",
            "<script>",
            "&#xFFFFFFFF;&#0;&",
        ] {
            let _ = extract(s);
        }
    }
}
