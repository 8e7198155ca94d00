//! Splicing the join block into an existing body, and finding, replacing and removing it later
//! byte-exactly.
//!
//! The body of an online meeting carries the provider's join blob (Teams' `________________`
//! section); dropping or altering it disables the meeting. So every byte outside hcal's block
//! stays as it was: the block is inserted before `</body>` (else appended), delimited by
//! markers, and removal cuts exactly the marked range, so `remove(splice(body, b)) == body`.
//!
//! Markers carry the meeting id and a hash of the block's content, so the node can recognise
//! its own work (echo safety: record "meeting id + hash" in an extended property) and tell
//! whether someone edited the block:
//!
//! - HTML: `<!--hcal-join:begin id=<id> hash=<hex>-->` … `<!--hcal-join:end-->`
//! - text: `\n\n[hcal-join id=<id> hash=<hex>]\n` … `[/hcal-join]\n`
//!
//! The id is percent-encoded in the marker (all but `A–Z a–z 0–9 . _ ~ -`), so it cannot end
//! the comment or the bracket.

use crate::render::JoinBlock;
use std::ops::Range;

/// Whether a block is for an HTML or a text body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockFormat {
    /// HTML body.
    Html,
    /// Text body.
    Text,
}

impl BlockFormat {
    /// The format for a Graph `body.contentType` (`html`/`text`, any case).
    pub fn for_content_type(content_type: &str) -> BlockFormat {
        if content_type.eq_ignore_ascii_case("text") {
            BlockFormat::Text
        } else {
            BlockFormat::Html
        }
    }
}

const HTML_BEGIN: &str = "<!--hcal-join:begin ";
const HTML_BEGIN_CLOSE: &str = "-->";
const HTML_END: &str = "<!--hcal-join:end-->";
const TEXT_BEGIN: &str = "\n\n[hcal-join ";
const TEXT_BEGIN_BARE: &str = "[hcal-join ";
const TEXT_BEGIN_CLOSE: &str = "]\n";
const TEXT_END: &str = "[/hcal-join]\n";
/// Longest begin marker accepted when parsing (id of 256 characters, percent-encoded).
const MAX_MARKER: usize = 1200;
/// At most this many blocks are handled in one body (a client may have duplicated one).
const MAX_BLOCKS: usize = 16;

/// A block found in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundBlock {
    /// Byte range of the whole block, markers included.
    pub range: Range<usize>,
    /// Byte range of the content between the markers.
    pub content: Range<usize>,
    /// The meeting id in the marker.
    pub meeting_id: String,
    /// The hash in the marker.
    pub hash: String,
    /// HTML or text markers.
    pub format: BlockFormat,
}

/// The hash of a block's content: BLAKE3 over a version tag, the meeting id and the content,
/// first 128 bits in lower-case hex. Stable across releases for the same bytes.
pub fn block_hash(meeting_id: &str, content: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"hcal-join-block/v1\0");
    h.update(meeting_id.as_bytes());
    h.update(b"\0");
    h.update(content.as_bytes());
    let out = h.finalize();
    out.as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn encode_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_id(enc: &str) -> Option<String> {
    percent_encoding::percent_decode_str(enc)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Wraps rendered content in markers. Used by [`crate::render`].
pub(crate) fn wrap(meeting_id: &str, content: &str, format: BlockFormat, language: &'static str) -> JoinBlock {
    let content = match format {
        // User text in a text block must not be able to end the block early.
        BlockFormat::Text => content
            .replace("[/hcal-join]", "(/hcal-join)")
            .replace("[hcal-join", "(hcal-join"),
        BlockFormat::Html => content.to_string(),
    };
    let hash = block_hash(meeting_id, &content);
    let id = encode_id(meeting_id);
    let text = match format {
        BlockFormat::Html => {
            format!("{HTML_BEGIN}id={id} hash={hash}{HTML_BEGIN_CLOSE}{content}{HTML_END}")
        }
        BlockFormat::Text => {
            format!("{TEXT_BEGIN}id={id} hash={hash}{TEXT_BEGIN_CLOSE}{content}{TEXT_END}")
        }
    };
    JoinBlock {
        text,
        hash,
        meeting_id: meeting_id.to_string(),
        format,
        language,
    }
}

fn parse_attrs(s: &str) -> Option<(String, String)> {
    let mut id = None;
    let mut hash = None;
    for part in s.split(' ') {
        if let Some(v) = part.strip_prefix("id=") {
            id = decode_id(v);
        } else if let Some(v) = part.strip_prefix("hash=")
            && !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_hexdigit())
        {
            hash = Some(v.to_string());
        }
    }
    Some((id?, hash?))
}

/// At most this many marker candidates are examined per search, bounding the work on bodies
/// stuffed with broken markers.
const MAX_ATTEMPTS: usize = 64;

/// Finds the first well-formed block at or after `from`. A begin marker whose content would
/// hold another begin marker of the same kind is broken (its own end is missing), so the
/// search moves past it rather than letting it swallow the next block.
fn find_from(body: &str, mut from: usize) -> Option<FoundBlock> {
    for _ in 0..MAX_ATTEMPTS {
        let hay = body.get(from..)?;
        let html = hay.find(HTML_BEGIN).map(|i| (i + from, BlockFormat::Html));
        let text = hay.find(TEXT_BEGIN_BARE).map(|i| (i + from, BlockFormat::Text));
        let (at, format) = match (html, text) {
            (Some(h), Some(t)) => {
                if h.0 <= t.0 {
                    h
                } else {
                    t
                }
            }
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => return None,
        };
        if let Some(found) = parse_block_at(body, at, format) {
            return Some(found);
        }
        from = at + 1;
    }
    None
}

fn parse_block_at(body: &str, at: usize, format: BlockFormat) -> Option<FoundBlock> {
    let (begin, close, end) = match format {
        BlockFormat::Html => (HTML_BEGIN, HTML_BEGIN_CLOSE, HTML_END),
        BlockFormat::Text => (TEXT_BEGIN_BARE, TEXT_BEGIN_CLOSE, TEXT_END),
    };
    let attrs_start = at + begin.len();
    let mut window_end = (attrs_start + MAX_MARKER).min(body.len());
    while window_end > attrs_start && !body.is_char_boundary(window_end) {
        window_end -= 1;
    }
    let window = body.get(attrs_start..window_end)?;
    let close_rel = window.find(close)?;
    let (meeting_id, hash) = parse_attrs(&window[..close_rel])?;
    let content_start = attrs_start + close_rel + close.len();
    let rest = body.get(content_start..)?;
    let end_rel = rest.find(end)?;
    if rest[..end_rel].contains(begin) {
        return None;
    }
    let content_end = content_start + end_rel;
    let mut start = at;
    if format == BlockFormat::Text && body[..at].ends_with("\n\n") {
        // The text block brings its own blank line.
        start = at - 2;
    }
    Some(FoundBlock {
        range: start..content_end + end.len(),
        content: content_start..content_end,
        meeting_id,
        hash,
        format,
    })
}

/// The first hcal block in `body`, if any.
pub fn find_block(body: &str) -> Option<FoundBlock> {
    find_from(body, 0)
}

/// Every hcal block in `body` (at most 16), in order.
pub fn find_blocks(body: &str) -> Vec<FoundBlock> {
    let mut out = Vec::new();
    let mut from = 0;
    while out.len() < MAX_BLOCKS {
        match find_from(body, from) {
            Some(b) => {
                from = b.range.end;
                out.push(b);
            }
            None => break,
        }
    }
    out
}

/// Whether the found block's content still hashes to the hash in its marker.
pub fn is_unmodified(body: &str, found: &FoundBlock) -> bool {
    body.get(found.content.clone())
        .is_some_and(|c| block_hash(&found.meeting_id, c) == found.hash)
}

/// Where a new block goes in an HTML body: before the last `</body` (any case), else the end.
fn insertion_point(body: &str, format: BlockFormat) -> usize {
    if format == BlockFormat::Text {
        return body.len();
    }
    let lower = body.to_ascii_lowercase();
    let mut search_end = lower.len();
    while let Some(i) = lower[..search_end].rfind("</body") {
        let next = lower.as_bytes().get(i + 6).copied();
        if matches!(next, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'\x0c') | None) {
            return i;
        }
        search_end = i;
    }
    body.len()
}

/// The body with `block` in it: an existing hcal block is replaced in place (others removed),
/// else the block goes before `</body>` or at the end. Bytes outside the blocks are kept.
pub fn splice_block(body: &str, block: &JoinBlock) -> String {
    let found = find_blocks(body);
    let mut out = String::with_capacity(body.len() + block.text.len());
    if let Some(first) = found.first() {
        let mut last = 0;
        for (i, b) in found.iter().enumerate() {
            out.push_str(&body[last..b.range.start]);
            if i == 0 {
                out.push_str(&block.text);
            }
            last = b.range.end;
        }
        out.push_str(&body[last..]);
        debug_assert!(first.range.start <= body.len());
        return out;
    }
    let at = insertion_point(body, block.format);
    out.push_str(&body[..at]);
    out.push_str(&block.text);
    out.push_str(&body[at..]);
    out
}

/// The body without any hcal block.
pub fn remove_block(body: &str) -> String {
    let found = find_blocks(body);
    let mut out = String::with_capacity(body.len());
    let mut last = 0;
    for b in &found {
        out.push_str(&body[last..b.range.start]);
        last = b.range.end;
    }
    out.push_str(&body[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{JoinDetails, Templates};

    fn block(id: &str, format: BlockFormat) -> JoinBlock {
        Templates::default()
            .render(
                &JoinDetails {
                    meeting_id: id.into(),
                    join_url: Some("https://acme.webex.com/meet/jdoe".into()),
                    ..Default::default()
                },
                "en",
                format,
            )
            .unwrap()
    }

    const TEAMS_BODY: &str = "<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n<div>Agenda</div>\r\n<div style=\"width:100%\"><span style=\"white-space:nowrap;color:#5F5F5F;opacity:.36\">________________________________________________________________________________</span></div>\r\n<div class=\"me-email-text\">Microsoft Teams meeting</div>\r\n</BODY>\r\n</html>\r\n";

    #[test]
    fn splice_before_body_end_and_roundtrip() {
        let b = block("m1", BlockFormat::Html);
        let spliced = splice_block(TEAMS_BODY, &b);
        let at = spliced.find("<!--hcal-join:begin").unwrap();
        assert!(spliced[at..].contains("</BODY>"));
        assert!(spliced.starts_with(&TEAMS_BODY[..TEAMS_BODY.find("</BODY>").unwrap()]));
        assert_eq!(remove_block(&spliced), TEAMS_BODY);
        let f = find_block(&spliced).unwrap();
        assert_eq!(f.meeting_id, "m1");
        assert_eq!(f.hash, b.hash);
        assert!(is_unmodified(&spliced, &f));
        assert_eq!(&spliced[f.range.clone()], b.text);
    }

    #[test]
    fn replace_does_not_duplicate() {
        let one = splice_block(TEAMS_BODY, &block("m1", BlockFormat::Html));
        let two = splice_block(&one, &block("m2", BlockFormat::Html));
        assert_eq!(two.matches("<!--hcal-join:begin").count(), 1);
        assert_eq!(find_block(&two).unwrap().meeting_id, "m2");
        assert_eq!(remove_block(&two), TEAMS_BODY);
        let same = splice_block(&one, &block("m1", BlockFormat::Html));
        assert_eq!(same, one);
    }

    #[test]
    fn edits_are_detected() {
        let spliced = splice_block(TEAMS_BODY, &block("m1", BlockFormat::Html));
        let edited = spliced.replace("Join the meeting", "Join the party");
        let f = find_block(&edited).unwrap();
        assert!(!is_unmodified(&edited, &f));
    }

    #[test]
    fn no_body_tag_appends() {
        let body = "<div>hello</div>";
        let s = splice_block(body, &block("m1", BlockFormat::Html));
        assert!(s.starts_with(body));
        assert_eq!(remove_block(&s), body);
        // `</bodyx>` is not the end of the body.
        let body = "<p>x</bodyx>";
        let s = splice_block(body, &block("m1", BlockFormat::Html));
        assert!(s.starts_with(body));
    }

    #[test]
    fn text_bodies() {
        let body = "Agenda:\n1. Budget\n";
        let b = block("id with spaces/ü", BlockFormat::Text);
        let s = splice_block(body, &b);
        assert!(s.starts_with(body));
        assert!(s.contains("[hcal-join id=id%20with%20spaces%2F%C3%BC hash="));
        let f = find_block(&s).unwrap();
        assert_eq!(f.meeting_id, "id with spaces/ü");
        assert!(is_unmodified(&s, &f));
        assert_eq!(remove_block(&s), body);
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(block_hash("m", "x"), block_hash("m", "x"));
        assert_ne!(block_hash("m", "x"), block_hash("n", "x"));
        assert_eq!(block_hash("m", "x").len(), 32);
        // Pinned: a change here breaks recognition of blocks already written.
        assert_eq!(block_hash("m1", "<p>x</p>"), "7bb62fb382c8cc229288905c006338a4");
    }

    #[test]
    fn broken_markers_are_ignored() {
        for body in [
            "<!--hcal-join:begin id=x hash=zz-->no end",
            "<!--hcal-join:begin id=x-->x<!--hcal-join:end-->",
            "<!--hcal-join:begin ",
            "[hcal-join id=x hash=ab]\nno end",
            "[hcal-join id=%FF hash=ab]\n[/hcal-join]\n",
        ] {
            assert_eq!(find_block(body), None, "{body}");
            assert_eq!(remove_block(body), body);
        }
    }
}
