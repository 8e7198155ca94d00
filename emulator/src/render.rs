//! Events as Graph writes them: property set, casing, UTC or `Prefer: outlook.timezone`,
//! HTML or text bodies, `$select` and `$expand` of extended properties.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use crate::calendar::Instance;
use crate::error::GraphError;
use crate::input;
use crate::wire;

/// Every property of `microsoft.graph.event` the emulator knows (for `$select`).
pub const EVENT_PROPERTIES: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "transactionId",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "uid",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "occurrenceId",
    "isDraft",
    "hideAttendees",
    "responseStatus",
    "body",
    "start",
    "end",
    "originalStart",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
    "onlineMeeting",
];

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOpts {
    /// `Prefer: outlook.timezone`: the name as given and the zone.
    pub tz: Option<(String, Tz)>,
    /// `Prefer: outlook.body-content-type="text"`.
    pub text_body: bool,
    /// `$select`, already validated.
    pub select: Option<Vec<String>>,
    /// `$expand=singleValueExtendedProperties($filter=...)`: the ids asked for.
    pub expand_single: Option<Vec<String>>,
    pub expand_multi: Option<Vec<String>>,
    /// Base URL for webLink.
    pub base: String,
}

fn dttz(t: DateTime<Utc>, opts: &RenderOpts) -> Value {
    match &opts.tz {
        Some((name, tz)) => json!({"dateTime": wire::fmt_local(t.with_timezone(tz).naive_local()), "timeZone": name}),
        None => json!({"dateTime": wire::fmt_local(t.naive_utc()), "timeZone": "UTC"}),
    }
}

/// Validate a `$select` list against the event type.
pub fn parse_select(s: &str) -> Result<Vec<String>, GraphError> {
    let mut out = Vec::new();
    for p in s.split(',') {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let known = EVENT_PROPERTIES
            .iter()
            .find(|k| k.eq_ignore_ascii_case(p))
            .ok_or_else(|| {
                GraphError::bad_request(format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.event'."
                ))
            })?;
        out.push((*known).to_string());
    }
    Ok(out)
}

/// Parse `$expand`: only extended properties with an `id eq` filter (one or several `or`ed).
pub fn parse_expand(s: &str, opts: &mut RenderOpts) -> Result<(), GraphError> {
    for part in split_top(s) {
        let part = part.trim();
        let (name, inner) = match part.find('(') {
            Some(i) if part.ends_with(')') => (&part[..i], Some(&part[i + 1..part.len() - 1])),
            _ => (part, None),
        };
        let single = name.eq_ignore_ascii_case("singleValueExtendedProperties");
        let multi = name.eq_ignore_ascii_case("multiValueExtendedProperties");
        if !single && !multi {
            return Err(GraphError::bad_request(format!(
                "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type 'microsoft.graph.event'."
            )));
        }
        let inner = inner.ok_or_else(|| {
            GraphError::new(
                400,
                "ErrorInvalidUrlQuery",
                "The query parameter 'expand' is invalid: extended properties need a $filter on id.",
            )
        })?;
        let filter = inner.trim().strip_prefix("$filter=").ok_or_else(|| {
            GraphError::new(
                400,
                "ErrorInvalidUrlQuery",
                "The expand of extended properties requires $filter=id eq '...'.",
            )
        })?;
        let mut ids = Vec::new();
        for clause in filter.split(" or ") {
            let c = clause.trim().trim_start_matches('(').trim_end_matches(')').trim();
            let rest = c
                .strip_prefix("id eq ")
                .or_else(|| c.strip_prefix("Id eq "))
                .ok_or_else(|| {
                    GraphError::new(
                        400,
                        "ErrorInvalidUrlQueryFilter",
                        "The filter on extended properties must be id eq '...'.",
                    )
                })?;
            let v = rest.trim();
            let v = v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')).ok_or_else(|| {
                GraphError::new(
                    400,
                    "ErrorInvalidUrlQueryFilter",
                    "The id in the filter must be quoted.",
                )
            })?;
            ids.push(v.replace("''", "'"));
        }
        if single {
            opts.expand_single = Some(ids);
        } else {
            opts.expand_multi = Some(ids);
        }
    }
    Ok(())
}

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl RenderOpts {
    /// No Prefer, `$select` or `$expand`: the form that can be cached.
    pub fn is_default(&self) -> bool {
        self.tz.is_none()
            && !self.text_body
            && self.select.is_none()
            && self.expand_single.is_none()
            && self.expand_multi.is_none()
    }
}

/// The JSON text of a stored item with default options, with `@odata.context` first.
/// Rendered once per write and cached on the item.
pub fn render_cached(inst: &Instance, context: &str) -> Option<String> {
    if inst.id != inst.item.id {
        return None;
    }
    let cached = inst
        .item
        .rendered
        .get_or_init(|| serde_json::to_string(&render(inst, &RenderOpts::default())).unwrap_or_default());
    let body = cached.strip_prefix('{')?;
    let ctx = serde_json::to_string(context).ok()?;
    let mut s = String::with_capacity(cached.len() + ctx.len() + 20);
    s.push_str("{\"@odata.context\":");
    s.push_str(&ctx);
    if body != "}" {
        s.push(',');
    }
    s.push_str(body);
    Some(s)
}

/// One event (or occurrence) as JSON.
pub fn render(inst: &Instance, opts: &RenderOpts) -> Value {
    let ev = &inst.item;
    let p = &ev.props;
    let get = |k: &str| p.get(k).cloned().unwrap_or(Value::Null);
    let body_html = p
        .get("body")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut m = Map::new();
    m.insert("@odata.etag".into(), json!(format!("W/\"{}\"", inst.change_key)));
    m.insert("id".into(), json!(inst.id));
    m.insert("createdDateTime".into(), json!(wire::fmt_utc(ev.created)));
    m.insert("lastModifiedDateTime".into(), json!(wire::fmt_utc(ev.modified)));
    m.insert("changeKey".into(), json!(inst.change_key));
    m.insert("categories".into(), get("categories"));
    m.insert("transactionId".into(), get("transactionId"));
    m.insert("originalStartTimeZone".into(), json!(ev.start_tz));
    m.insert("originalEndTimeZone".into(), json!(ev.end_tz));
    m.insert("iCalUId".into(), json!(inst.ical_uid));
    m.insert("uid".into(), json!(ev.ical_uid));
    m.insert("reminderMinutesBeforeStart".into(), get("reminderMinutesBeforeStart"));
    m.insert("isReminderOn".into(), get("isReminderOn"));
    m.insert("hasAttachments".into(), json!(false));
    m.insert("subject".into(), get("subject"));
    m.insert("bodyPreview".into(), json!(ev.preview));
    m.insert("importance".into(), get("importance"));
    m.insert("sensitivity".into(), get("sensitivity"));
    m.insert("isAllDay".into(), get("isAllDay"));
    m.insert("isCancelled".into(), json!(ev.is_cancelled));
    m.insert("isOrganizer".into(), json!(ev.is_organizer));
    m.insert("responseRequested".into(), get("responseRequested"));
    m.insert("seriesMasterId".into(), json!(inst.series_master_id));
    m.insert("showAs".into(), get("showAs"));
    m.insert("type".into(), json!(inst.kind));
    m.insert(
        "webLink".into(),
        json!(format!(
            "https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item",
            wire::qenc(&inst.id)
        )),
    );
    m.insert("onlineMeetingUrl".into(), Value::Null);
    m.insert("isOnlineMeeting".into(), get("isOnlineMeeting"));
    m.insert("onlineMeetingProvider".into(), get("onlineMeetingProvider"));
    m.insert("allowNewTimeProposals".into(), get("allowNewTimeProposals"));
    m.insert("occurrenceId".into(), Value::Null);
    m.insert("isDraft".into(), json!(false));
    m.insert("hideAttendees".into(), get("hideAttendees"));
    m.insert(
        "responseStatus".into(),
        json!({"response": ev.response, "time": ev.response_time.map(wire::fmt_utc).unwrap_or_else(|| "0001-01-01T00:00:00Z".into())}),
    );
    let body = if opts.text_body {
        json!({"contentType": "text", "content": wire::html_to_text(body_html)})
    } else {
        json!({"contentType": "html", "content": body_html})
    };
    m.insert("body".into(), body);
    m.insert("start".into(), dttz(inst.start, opts));
    m.insert("end".into(), dttz(inst.end, opts));
    if let Some(o) = inst.original_start {
        m.insert("originalStart".into(), json!(wire::fmt_utc(o)));
    }
    m.insert("location".into(), get("location"));
    m.insert("locations".into(), get("locations"));
    let recurrence = if inst.kind == "seriesMaster" {
        ev.recurrence.as_ref().map(|r| r.to_json()).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    m.insert("recurrence".into(), recurrence);
    m.insert("attendees".into(), get("attendees"));
    m.insert(
        "organizer".into(),
        json!({"emailAddress": {"name": ev.organizer_name, "address": ev.organizer_address}}),
    );
    m.insert("onlineMeeting".into(), get("onlineMeeting"));
    if let Some(sel) = &opts.select {
        m.retain(|k, _| k == "@odata.etag" || k == "id" || sel.iter().any(|s| s == k));
    }
    if let Some(ids) = &opts.expand_single {
        let wanted: Vec<Option<String>> = ids.iter().map(|i| input::ext_key(i)).collect();
        let found: Vec<Value> = ev
            .ext
            .iter()
            .filter(|(id, _)| {
                let k = input::ext_key(id);
                k.is_some() && wanted.contains(&k)
            })
            .map(|(id, v)| json!({"id": id, "value": v}))
            .collect();
        if !found.is_empty() {
            m.insert("singleValueExtendedProperties".into(), Value::Array(found));
        }
    }
    if let Some(ids) = &opts.expand_multi {
        let wanted: Vec<Option<String>> = ids.iter().map(|i| input::ext_key(i)).collect();
        let found: Vec<Value> = ev
            .multi_ext
            .iter()
            .filter(|(id, _)| {
                let k = input::ext_key(id);
                k.is_some() && wanted.contains(&k)
            })
            .map(|(id, v)| json!({"id": id, "value": v}))
            .collect();
        if !found.is_empty() {
            m.insert("multiValueExtendedProperties".into(), Value::Array(found));
        }
    }
    Value::Object(m)
}
