//! The emulator's own request/response types, independent of actix, so that `$batch` items
//! go through exactly the same code as top-level requests.

use serde_json::Value;

/// A request as the emulator sees it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path without the query, still percent-encoded.
    pub path: String,
    pub raw_query: String,
    pub query: Vec<(String, String)>,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `http://host:port` the client used.
    pub base: String,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A query parameter whose name is matched case-insensitively (Graph's window params).
    pub fn qi(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All `Prefer` preferences, from repeated headers and comma lists.
    pub fn prefers(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        for (k, v) in &self.headers {
            if k != "prefer" {
                continue;
            }
            for part in split_outside_quotes(v) {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                match part.split_once('=') {
                    Some((n, val)) => out.push((
                        n.trim().to_ascii_lowercase(),
                        Some(val.trim().trim_matches('"').to_string()),
                    )),
                    None => out.push((part.to_ascii_lowercase(), None)),
                }
            }
        }
        out
    }

    pub fn prefer(&self, name: &str) -> Option<String> {
        self.prefers().into_iter().find(|(n, _)| n == name).and_then(|(_, v)| v)
    }

    pub fn parse_query(raw: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

fn split_outside_quotes(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_q = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_q = !in_q,
            ',' if !in_q => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// A response body.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Json(Value),
    /// Already serialised JSON.
    JsonText(String),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Resp {
    pub fn json(status: u16, v: Value) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Body::Json(v),
        }
    }
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }
    pub fn html(status: u16, html: String) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Body::Raw {
                content_type: "text/html; charset=utf-8".into(),
                bytes: html.into_bytes(),
            },
        }
    }
    pub fn redirect(location: &str) -> Resp {
        Resp {
            status: 302,
            headers: vec![("Location".into(), location.to_string())],
            body: Body::Empty,
        }
    }
    pub fn with_header(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
