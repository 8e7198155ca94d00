//! Validation and normalisation of event request bodies (POST/PATCH), as strict as Graph:
//! unknown properties, wrong types and bad enum literals are refused.

use chrono::{NaiveDateTime, Timelike};
use serde_json::{Map, Value, json};

use crate::error::GraphError;
use crate::recurrence::Recurrence;

const EVENT_TYPE: &str = "microsoft.graph.event";

/// Properties a client may write.
const WRITABLE: &[&str] = &[
    "subject",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "attendees",
    "categories",
    "importance",
    "sensitivity",
    "showAs",
    "isAllDay",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "responseRequested",
    "allowNewTimeProposals",
    "hideAttendees",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "recurrence",
    "transactionId",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
];

/// Properties that exist on the type but are read-only: accepted and ignored.
const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "iCalUId",
    "uid",
    "type",
    "seriesMasterId",
    "isOrganizer",
    "isCancelled",
    "webLink",
    "bodyPreview",
    "onlineMeeting",
    "onlineMeetingUrl",
    "responseStatus",
    "hasAttachments",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "originalStart",
    "occurrenceId",
    "isDraft",
    "organizer",
    "attachments",
    "extensions",
    "instances",
    "calendar",
    "cancelledOccurrences",
    "exceptionOccurrences",
];

/// A validated body. `None` = not supplied.
#[derive(Debug, Default)]
pub struct EventInput {
    pub start: Option<(NaiveDateTime, String)>,
    pub end: Option<(NaiveDateTime, String)>,
    pub recurrence: Option<Option<Value>>,
    pub props: Map<String, Value>,
    pub ext: Vec<(String, String)>,
    pub multi_ext: Vec<(String, Vec<String>)>,
    pub transaction_id: Option<String>,
    pub attendees_given: bool,
    pub location_given: bool,
}

fn enum_value(v: &Value, allowed: &[&str], ty: &str) -> Result<Value, GraphError> {
    let s = v.as_str().ok_or_else(|| GraphError::bad_enum(&v.to_string(), ty))?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(s))
        .map(|a| Value::String((*a).to_string()))
        .ok_or_else(|| GraphError::bad_enum(s, ty))
}

fn expect_bool(k: &str, v: &Value) -> Result<Value, GraphError> {
    match v {
        Value::Bool(_) => Ok(v.clone()),
        _ => Err(GraphError::body_read(format!(
            "Cannot convert a primitive value to the expected type 'Edm.Boolean' for property '{k}'."
        ))),
    }
}

fn expect_string_or_null(k: &str, v: &Value) -> Result<Value, GraphError> {
    match v {
        Value::String(_) | Value::Null => Ok(v.clone()),
        _ => Err(GraphError::body_read(format!(
            "Cannot convert a primitive value to the expected type 'Edm.String' for property '{k}'."
        ))),
    }
}

/// Parse `{dateTime, timeZone}`; a dateTime carrying an offset is converted into the zone.
pub fn parse_dttz(k: &str, v: &Value) -> Result<(NaiveDateTime, String), GraphError> {
    let o = v
        .as_object()
        .ok_or_else(|| GraphError::body_read(format!("Property '{k}' must be a dateTimeTimeZone object.")))?;
    for key in o.keys() {
        if key != "dateTime" && key != "timeZone" && !key.starts_with("@odata") {
            return Err(GraphError::unknown_property(key, "microsoft.graph.dateTimeTimeZone"));
        }
    }
    let dt = o.get("dateTime").and_then(Value::as_str).ok_or_else(|| {
        GraphError::new(
            400,
            "ErrorInvalidRequest",
            format!("The {k}.dateTime property is required."),
        )
    })?;
    let tz_name = match o.get("timeZone") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Null) | None => "UTC".to_string(),
        Some(Value::String(_)) => "UTC".to_string(),
        Some(_) => return Err(GraphError::body_read("timeZone must be a string.")),
    };
    let tz = crate::tz::resolve(&tz_name).ok_or_else(|| GraphError::timezone_not_supported(&tz_name))?;
    let (local, utc) = crate::wire::parse_datetime(dt).ok_or_else(|| {
        GraphError::body_read(format!(
            "Cannot convert the literal '{dt}' to the expected type 'Edm.DateTime'."
        ))
    })?;
    let local = match utc {
        Some(u) => crate::tz::utc_to_local(&tz, u),
        None => local,
    };
    Ok((local, tz_name))
}

fn email_address(v: &Value, ty: &str) -> Result<Value, GraphError> {
    let o = v
        .as_object()
        .ok_or_else(|| GraphError::body_read(format!("emailAddress of {ty} must be an object.")))?;
    for key in o.keys() {
        if key != "address" && key != "name" && !key.starts_with("@odata") {
            return Err(GraphError::unknown_property(key, "microsoft.graph.emailAddress"));
        }
    }
    let address = o
        .get("address")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    let name = o.get("name").and_then(Value::as_str).unwrap_or(&address).to_string();
    Ok(json!({"name": name, "address": address}))
}

/// Normalise attendees: lowerCamel type, a status, name defaulting to the address.
fn attendees(v: &Value) -> Result<Value, GraphError> {
    let arr = v
        .as_array()
        .ok_or_else(|| GraphError::body_read("attendees must be an array."))?;
    if arr.len() > 500 {
        return Err(GraphError::new(
            400,
            "ErrorInvalidRequest",
            "An event can have at most 500 attendees.",
        ));
    }
    let mut out = Vec::with_capacity(arr.len());
    for a in arr {
        let o = a
            .as_object()
            .ok_or_else(|| GraphError::body_read("attendee must be an object."))?;
        for key in o.keys() {
            if !["type", "status", "emailAddress", "proposedNewTime"].contains(&key.as_str())
                && !key.starts_with("@odata")
            {
                return Err(GraphError::unknown_property(key, "microsoft.graph.attendee"));
            }
        }
        let ty = match o.get("type") {
            None | Some(Value::Null) => Value::String("required".into()),
            Some(t) => enum_value(t, &["required", "optional", "resource"], "microsoft.graph.attendeeType")?,
        };
        let email = email_address(o.get("emailAddress").unwrap_or(&Value::Null), "attendee")?;
        if email["address"].as_str().unwrap_or("").is_empty() {
            return Err(GraphError::new(
                400,
                "ErrorInvalidRecipients",
                "At least one recipient isn't valid., Recipient is missing an email address.",
            ));
        }
        let status = match o.get("status") {
            Some(Value::Object(s)) => {
                let resp = match s.get("response") {
                    None | Some(Value::Null) => Value::String("none".into()),
                    Some(r) => enum_value(
                        r,
                        &[
                            "none",
                            "organizer",
                            "tentativelyAccepted",
                            "accepted",
                            "declined",
                            "notResponded",
                        ],
                        "microsoft.graph.responseType",
                    )?,
                };
                json!({"response": resp, "time": s.get("time").cloned().unwrap_or(json!("0001-01-01T00:00:00Z"))})
            }
            _ => json!({"response": "none", "time": "0001-01-01T00:00:00Z"}),
        };
        out.push(json!({"type": ty, "status": status, "emailAddress": email}));
    }
    Ok(Value::Array(out))
}

const LOCATION_KEYS: &[&str] = &[
    "displayName",
    "locationType",
    "uniqueId",
    "uniqueIdType",
    "locationEmailAddress",
    "locationUri",
    "address",
    "coordinates",
];

fn one_location(v: &Value) -> Result<Map<String, Value>, GraphError> {
    let o = match v {
        Value::Object(o) => o,
        Value::Null => return Ok(Map::new()),
        _ => return Err(GraphError::body_read("location must be an object.")),
    };
    for key in o.keys() {
        if !LOCATION_KEYS.contains(&key.as_str()) && !key.starts_with("@odata") {
            return Err(GraphError::unknown_property(key, "microsoft.graph.location"));
        }
    }
    let mut m = o.clone();
    m.retain(|k, _| !k.starts_with("@odata"));
    if let Some(t) = m.get("locationType") {
        let t = enum_value(
            t,
            &[
                "default",
                "conferenceRoom",
                "homeAddress",
                "businessAddress",
                "geoCoordinates",
                "streetAddress",
                "hotel",
                "restaurant",
                "localBusiness",
                "postalAddress",
            ],
            "microsoft.graph.locationType",
        )?;
        m.insert("locationType".into(), t);
    }
    if let Some(t) = m.get("uniqueIdType") {
        let t = enum_value(
            t,
            &["unknown", "locationStore", "directory", "private", "bing"],
            "microsoft.graph.locationUniqueIdType",
        )?;
        m.insert("uniqueIdType".into(), t);
    }
    Ok(m)
}

/// `location` and `locations` kept consistent as Exchange does: setting `location` replaces
/// `locations`; several `locations` make `location.displayName` their `; `-joined names.
pub fn normalise_locations(location: Option<&Value>, locations: Option<&Value>) -> Result<(Value, Value), GraphError> {
    let empty = || json!({"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": {}, "coordinates": {}});
    if let Some(Value::Array(list)) = locations {
        let mut out = Vec::new();
        for l in list {
            let mut m = one_location(l)?;
            m.entry("locationType").or_insert(json!("default"));
            m.entry("uniqueIdType").or_insert(json!("unknown"));
            out.push(Value::Object(m));
        }
        let names: Vec<String> = out
            .iter()
            .filter_map(|l| l.get("displayName").and_then(Value::as_str).map(String::from))
            .filter(|n| !n.is_empty())
            .collect();
        let loc = if out.is_empty() {
            empty()
        } else if out.len() == 1 {
            let mut one = out[0].clone();
            if let Some(o) = one.as_object_mut() {
                let name = o.get("displayName").cloned().unwrap_or(json!(""));
                if o.get("uniqueIdType") == Some(&json!("unknown")) {
                    o.insert("uniqueId".into(), name);
                    o.insert("uniqueIdType".into(), json!("private"));
                }
            }
            one
        } else {
            json!({"displayName": names.join("; "), "locationType": "default", "uniqueIdType": "unknown", "address": {}, "coordinates": {}})
        };
        return Ok((loc, Value::Array(out)));
    }
    let Some(l) = location else {
        return Ok((empty(), json!([])));
    };
    let m = one_location(l)?;
    let name = m.get("displayName").and_then(Value::as_str).unwrap_or("").to_string();
    if name.is_empty() && m.get("locationEmailAddress").is_none() {
        return Ok((empty(), json!([])));
    }
    let mut loc = m.clone();
    let room = loc
        .get("locationEmailAddress")
        .and_then(Value::as_str)
        .map(String::from);
    match room.clone() {
        Some(addr) if !loc.contains_key("uniqueId") => {
            loc.entry("locationType").or_insert(json!("conferenceRoom"));
            loc.insert("uniqueId".into(), json!(addr));
            loc.insert("uniqueIdType".into(), json!("directory"));
        }
        _ => {
            loc.entry("locationType").or_insert(json!("default"));
            loc.entry("uniqueId").or_insert(json!(name));
            loc.entry("uniqueIdType").or_insert(json!("private"));
        }
    }
    loc.entry("address").or_insert(json!({}));
    loc.entry("coordinates").or_insert(json!({}));
    let mut entry = m;
    entry.entry("locationType").or_insert(json!("default"));
    entry.entry("uniqueIdType").or_insert(json!("unknown"));
    if let Some(addr) = room {
        entry.insert("uniqueId".into(), json!(addr));
        entry.insert("uniqueIdType".into(), json!("directory"));
        entry.insert("locationType".into(), json!("conferenceRoom"));
    }
    Ok((Value::Object(loc), json!([Value::Object(entry)])))
}

/// The key under which an extended property id is compared: type and GUID case-insensitive,
/// the `Name` part case-sensitive. `None` if the id is malformed.
pub fn ext_key(id: &str) -> Option<String> {
    let id = id.trim();
    let (ty, rest) = id.split_once(' ')?;
    let known = [
        "string",
        "integer",
        "boolean",
        "systemtime",
        "binary",
        "currency",
        "double",
        "float",
        "long",
        "short",
        "clsid",
        "object",
        "stringarray",
        "integerarray",
        "binaryarray",
        "systemtimearray",
        "currencyarray",
        "doublearray",
        "floatarray",
        "longarray",
        "shortarray",
        "clsidarray",
    ];
    let ty_l = ty.to_ascii_lowercase();
    if !known.contains(&ty_l.as_str()) {
        return None;
    }
    let rest = rest.trim();
    if let Some(tag) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        if tag.len() == 8 && tag.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some(format!("{ty_l} 0x{}", tag.to_ascii_lowercase()));
        }
        return None;
    }
    let rest = rest.strip_prefix('{')?;
    let (guid, after) = rest.split_once('}')?;
    if uuid::Uuid::parse_str(guid).is_err() {
        return None;
    }
    let after = after.trim_start();
    if let Some(name) = after.strip_prefix("Name ").or_else(|| after.strip_prefix("name ")) {
        if name.is_empty() {
            return None;
        }
        return Some(format!("{ty_l} {{{}}} name {name}", guid.to_ascii_lowercase()));
    }
    if let Some(num) = after.strip_prefix("Id ").or_else(|| after.strip_prefix("id ")) {
        let n = num.trim().trim_start_matches("0x").trim_start_matches("0X");
        if !n.is_empty() && n.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some(format!(
                "{ty_l} {{{}}} id 0x{}",
                guid.to_ascii_lowercase(),
                n.to_ascii_lowercase()
            ));
        }
    }
    None
}

fn bad_ext_id(id: &str) -> GraphError {
    GraphError::new(
        400,
        "ErrorInvalidProperty",
        format!("The extended property id '{id}' is not valid."),
    )
}

fn ext_props(v: &Value) -> Result<Vec<(String, String)>, GraphError> {
    let arr = v
        .as_array()
        .ok_or_else(|| GraphError::body_read("singleValueExtendedProperties must be an array."))?;
    let mut out = Vec::new();
    for p in arr {
        let o = p
            .as_object()
            .ok_or_else(|| GraphError::body_read("extended property must be an object."))?;
        for key in o.keys() {
            if key != "id" && key != "value" && !key.starts_with("@odata") {
                return Err(GraphError::unknown_property(
                    key,
                    "microsoft.graph.singleValueLegacyExtendedProperty",
                ));
            }
        }
        let id = o.get("id").and_then(Value::as_str).ok_or_else(|| bad_ext_id(""))?;
        if ext_key(id).is_none() {
            return Err(bad_ext_id(id));
        }
        let value = match o.get("value") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(GraphError::body_read(
                    "Cannot convert a primitive value to the expected type 'Edm.String' for property 'value'.",
                ));
            }
        };
        out.push((id.to_string(), value));
    }
    Ok(out)
}

fn multi_ext_props(v: &Value) -> Result<Vec<(String, Vec<String>)>, GraphError> {
    let arr = v
        .as_array()
        .ok_or_else(|| GraphError::body_read("multiValueExtendedProperties must be an array."))?;
    let mut out = Vec::new();
    for p in arr {
        let o = p
            .as_object()
            .ok_or_else(|| GraphError::body_read("extended property must be an object."))?;
        let id = o.get("id").and_then(Value::as_str).ok_or_else(|| bad_ext_id(""))?;
        if ext_key(id).is_none() {
            return Err(bad_ext_id(id));
        }
        let values = o
            .get("value")
            .and_then(Value::as_array)
            .ok_or_else(|| GraphError::body_read("multiValueExtendedProperty.value must be an array of strings."))?
            .iter()
            .map(|x| x.as_str().map(String::from))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| GraphError::body_read("multiValueExtendedProperty.value must be an array of strings."))?;
        out.push((id.to_string(), values));
    }
    Ok(out)
}

/// The HTML document Exchange stores for a body.
pub fn html_document(inner: &str) -> String {
    format!(
        "<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head><body>{inner}</body></html>"
    )
}

/// Normalise a `body`: always stored as HTML.
fn body(v: &Value) -> Result<Value, GraphError> {
    let o = match v {
        Value::Object(o) => o,
        Value::Null => return Ok(json!({"contentType": "html", "content": ""})),
        _ => return Err(GraphError::body_read("body must be an itemBody object.")),
    };
    for key in o.keys() {
        if key != "contentType" && key != "content" && !key.starts_with("@odata") {
            return Err(GraphError::unknown_property(key, "microsoft.graph.itemBody"));
        }
    }
    let ct = match o.get("contentType") {
        None | Some(Value::Null) => "text".to_string(),
        Some(v) => enum_value(v, &["text", "html"], "microsoft.graph.bodyType")?
            .as_str()
            .unwrap_or("text")
            .to_string(),
    };
    let content = match o.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(GraphError::body_read("body.content must be a string.")),
    };
    let html = if ct == "html" {
        if content.to_ascii_lowercase().contains("<html") {
            content
        } else {
            html_document(&content)
        }
    } else if content.is_empty() {
        String::new()
    } else {
        html_document(&crate::wire::html_escape(&content))
    };
    Ok(json!({"contentType": "html", "content": html}))
}

/// Validate a POST/PATCH body.
pub fn parse(v: &Value) -> Result<EventInput, GraphError> {
    let o = v
        .as_object()
        .ok_or_else(|| GraphError::body_read("The request body must be a JSON object."))?;
    let mut input = EventInput::default();
    for (k, val) in o {
        if k.starts_with("@odata") || READ_ONLY.contains(&k.as_str()) {
            continue;
        }
        if !WRITABLE.contains(&k.as_str()) {
            return Err(GraphError::unknown_property(k, EVENT_TYPE));
        }
        match k.as_str() {
            "subject" | "transactionId" => {
                let s = expect_string_or_null(k, val)?;
                if k == "transactionId" {
                    input.transaction_id = s.as_str().map(String::from);
                }
                input.props.insert(k.clone(), s);
            }
            "body" => {
                input.props.insert("body".into(), body(val)?);
            }
            "start" => input.start = Some(parse_dttz("start", val)?),
            "end" => input.end = Some(parse_dttz("end", val)?),
            "location" | "locations" => {
                input.location_given = true;
            }
            "attendees" => {
                input.attendees_given = true;
                input.props.insert("attendees".into(), attendees(val)?);
            }
            "categories" => {
                let ok = val.as_array().is_some_and(|a| a.iter().all(Value::is_string));
                if !ok {
                    return Err(GraphError::body_read("categories must be an array of strings."));
                }
                input.props.insert(k.clone(), val.clone());
            }
            "importance" => {
                input.props.insert(
                    k.clone(),
                    enum_value(val, &["low", "normal", "high"], "microsoft.graph.importance")?,
                );
            }
            "sensitivity" => {
                input.props.insert(
                    k.clone(),
                    enum_value(
                        val,
                        &["normal", "personal", "private", "confidential"],
                        "microsoft.graph.sensitivity",
                    )?,
                );
            }
            "showAs" => {
                input.props.insert(
                    k.clone(),
                    enum_value(
                        val,
                        &["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"],
                        "microsoft.graph.freeBusyStatus",
                    )?,
                );
            }
            "onlineMeetingProvider" => {
                input.props.insert(
                    k.clone(),
                    enum_value(
                        val,
                        &["unknown", "teamsForBusiness", "skypeForBusiness", "skypeForConsumer"],
                        "microsoft.graph.onlineMeetingProviderType",
                    )?,
                );
            }
            "isAllDay"
            | "isReminderOn"
            | "responseRequested"
            | "allowNewTimeProposals"
            | "hideAttendees"
            | "isOnlineMeeting" => {
                input.props.insert(k.clone(), expect_bool(k, val)?);
            }
            "reminderMinutesBeforeStart" => {
                if !val.is_i64() {
                    return Err(GraphError::body_read(
                        "Cannot convert a primitive value to the expected type 'Edm.Int32' for property 'reminderMinutesBeforeStart'.",
                    ));
                }
                input.props.insert(k.clone(), val.clone());
            }
            "recurrence" => {
                input.recurrence = Some(if val.is_null() { None } else { Some(val.clone()) });
            }
            "singleValueExtendedProperties" => input.ext = ext_props(val)?,
            "multiValueExtendedProperties" => input.multi_ext = multi_ext_props(val)?,
            _ => {}
        }
    }
    if input.location_given {
        let (loc, locs) = normalise_locations(o.get("location"), o.get("locations"))?;
        input.props.insert("location".into(), loc);
        input.props.insert("locations".into(), locs);
    }
    Ok(input)
}

/// Check an all-day event: midnight to midnight, at least one day.
pub fn check_all_day(start: NaiveDateTime, end: NaiveDateTime) -> Result<(), GraphError> {
    let midnight = |t: NaiveDateTime| t.hour() == 0 && t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0;
    if !midnight(start) || !midnight(end) || end <= start {
        return Err(GraphError::new(
            400,
            "ErrorPropertyValidationFailure",
            "At least one property failed validation. An all-day event must start and end at midnight.",
        ));
    }
    Ok(())
}

/// Recurrence JSON validated against the event's start zone.
pub fn parse_recurrence(v: &Value, start_tz: &str) -> Result<Recurrence, GraphError> {
    Recurrence::parse(v, start_tz)
}
