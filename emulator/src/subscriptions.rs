//! `/subscriptions`: create (with the validation handshake on both URLs), get, list, patch
//! (renew), delete and reauthorize, with Graph's limits.

use chrono::Duration;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::error::GraphError;
use crate::graph::{self, Route};
use crate::http::{Req, Resp};
use crate::model::{ChangeType, Subscription, Token};
use crate::shared::Shared;

const KNOWN: &[&str] = &[
    "changeType",
    "notificationUrl",
    "lifecycleNotificationUrl",
    "resource",
    "expirationDateTime",
    "clientState",
    "latestSupportedTlsVersion",
    "includeResourceData",
    "encryptionCertificate",
    "encryptionCertificateId",
    "notificationUrlAppId",
    "notificationQueryOptions",
    "notificationContentType",
    "id",
    "applicationId",
    "creatorId",
];

fn invalid(msg: impl Into<String>) -> GraphError {
    GraphError::new(400, "InvalidRequest", msg)
}

fn not_found() -> GraphError {
    GraphError::new(404, "ResourceNotFound", "The object was not found.")
}

/// Is `url` acceptable as a notification URL?
fn check_url(shared: &Shared, url: &str, what: &str) -> Result<(), GraphError> {
    let parsed = url::Url::parse(url).map_err(|_| invalid(format!("The {what} is not a valid absolute URL.")))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if shared.cfg.allow_http_loopback => {
            let host = parsed.host_str().unwrap_or("");
            let loopback = host == "localhost"
                || host == "[::1]"
                || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(invalid(format!("The {what} must be an HTTPS URL.")))
            }
        }
        _ => Err(invalid(format!("The {what} must be an HTTPS URL."))),
    }
}

/// `users/{user}/events` (optionally `/calendar/events`) -> the user key.
fn parse_resource(resource: &str) -> Result<String, GraphError> {
    let r = resource.trim().trim_start_matches('/');
    let path = r.split('?').next().unwrap_or("");
    let segs: Vec<String> = path.split('/').map(crate::wire::percent_decode).collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match s.as_slice() {
        [u, user, e] if eq(u, "users") && eq(e, "events") => Ok(user.to_string()),
        [u, user, c, e] if eq(u, "users") && eq(c, "calendar") && eq(e, "events") => Ok(user.to_string()),
        [me, ..] if eq(me, "me") => Err(GraphError::bad_request(
            "/me request is only valid with delegated authentication flow.",
        )),
        _ => Err(invalid(format!(
            "The resource '{resource}' is not supported for subscriptions."
        ))),
    }
}

fn expiration(shared: &Shared, v: &Value) -> Result<chrono::DateTime<chrono::Utc>, GraphError> {
    let s = v.as_str().ok_or_else(|| invalid("expirationDateTime is required."))?;
    let t = crate::wire::parse_offset(s).ok_or_else(|| {
        GraphError::body_read(format!(
            "Cannot convert the literal '{s}' to the expected type 'Edm.DateTimeOffset'."
        ))
    })?;
    let now = shared.now();
    let max = shared.cfg.subscription_max_minutes;
    if t > now + Duration::minutes(max) + Duration::seconds(30) {
        return Err(GraphError::new(
            400,
            "ExtensionError",
            format!("Subscription expiration can only be {max} minutes in the future."),
        ));
    }
    let min = now + Duration::minutes(shared.cfg.subscription_min_minutes);
    Ok(if t < min { min } else { t })
}

async fn handshake(shared: &Shared, url: &str) -> Result<(), GraphError> {
    crate::notify::validate_endpoint(url, shared.cfg.validation_timeout_ms)
        .await
        .map_err(|why| {
            tracing::debug!(url, why, "validation handshake failed");
            invalid("Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
        })
}

pub async fn handle(shared: &Arc<Shared>, req: &Req, route: &Route, tok: &Token) -> Result<Resp, GraphError> {
    let m = req.method.as_str();
    match (route, m) {
        (Route::Subscriptions, "POST") => create(shared, req, tok).await,
        (Route::Subscriptions, "GET") => {
            let st = shared.state();
            let list: Vec<Value> = st
                .subscriptions
                .values()
                .filter(|s| s.tenant_id == tok.tenant_id && s.client_id == tok.client_id && s.expiration > shared.now())
                .map(|s| {
                    let mut v = s.to_json(&req.base);
                    if let Some(o) = v.as_object_mut() {
                        o.remove("@odata.context");
                    }
                    v
                })
                .collect();
            Ok(Resp::json(
                200,
                json!({"@odata.context": format!("{}/v1.0/$metadata#subscriptions", req.base), "value": list}),
            ))
        }
        (Route::Subscription { id }, "GET") => {
            let st = shared.state();
            let s = visible(shared, &st, id, tok)?;
            Ok(Resp::json(200, s.to_json(&req.base)))
        }
        (Route::Subscription { id }, "DELETE") => {
            let mut st = shared.state();
            visible(shared, &st, id, tok)?;
            st.subscriptions.remove(id);
            Ok(Resp::empty(204))
        }
        (Route::Subscription { id }, "PATCH") => patch(shared, req, tok, id).await,
        (Route::Reauthorize { id }, "POST") => {
            let mut st = shared.state();
            visible(shared, &st, id, tok)?;
            if let Some(s) = st.subscriptions.get_mut(id) {
                s.paused = false;
                s.reauth_sent = false;
            }
            Ok(Resp::empty(204))
        }
        _ => Err(GraphError::new(
            405,
            "Request_BadRequest",
            format!("The HTTP method '{m}' is not allowed on this resource."),
        )),
    }
}

fn visible<'a>(
    shared: &Shared,
    st: &'a crate::model::State,
    id: &str,
    tok: &Token,
) -> Result<&'a Subscription, GraphError> {
    match st.subscriptions.get(id) {
        Some(s) if s.tenant_id == tok.tenant_id && s.client_id == tok.client_id && s.expiration > shared.now() => Ok(s),
        _ => Err(not_found()),
    }
}

async fn create(shared: &Arc<Shared>, req: &Req, tok: &Token) -> Result<Resp, GraphError> {
    let body = graph::json_body(req)?;
    let o = body
        .as_object()
        .ok_or_else(|| GraphError::body_read("The request body must be a JSON object."))?;
    for k in o.keys() {
        if !KNOWN.contains(&k.as_str()) && !k.starts_with("@odata") {
            return Err(GraphError::unknown_property(k, "microsoft.graph.subscription"));
        }
    }
    let str_of = |k: &str| o.get(k).and_then(Value::as_str).map(String::from);
    let change_text = str_of("changeType").ok_or_else(|| invalid("changeType is required."))?;
    let mut change_types = Vec::new();
    for part in change_text.split(',') {
        let ct =
            ChangeType::parse(part).ok_or_else(|| invalid(format!("'{}' is not a valid change type.", part.trim())))?;
        if !change_types.contains(&ct) {
            change_types.push(ct);
        }
    }
    let notification_url = str_of("notificationUrl").ok_or_else(|| invalid("notificationUrl is required."))?;
    check_url(shared, &notification_url, "notificationUrl")?;
    let lifecycle_url = str_of("lifecycleNotificationUrl");
    if let Some(l) = &lifecycle_url {
        check_url(shared, l, "lifecycleNotificationUrl")?;
    }
    let resource = str_of("resource").ok_or_else(|| invalid("resource is required."))?;
    let user = parse_resource(&resource)?;
    let client_state = match o.get("clientState") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if s.chars().count() > 128 {
                return Err(invalid("clientState must be at most 128 characters long."));
            }
            Some(s.clone())
        }
        Some(_) => return Err(GraphError::body_read("clientState must be a string.")),
    };
    if o.get("includeResourceData").and_then(Value::as_bool).unwrap_or(false) {
        return Err(invalid(
            "A valid encryptionCertificate and encryptionCertificateId are required when includeResourceData is true.",
        ));
    }
    let expires = expiration(shared, o.get("expirationDateTime").unwrap_or(&Value::Null))?;
    graph::require_role(shared, tok, &["Calendars.Read", "Calendars.ReadWrite"])?;
    let (_, mailbox_id, _) = graph::mailbox_for(shared, tok, &user)?;
    {
        let st = shared.state();
        let n = st.subscriptions.of_mailbox(&mailbox_id).count();
        if n >= shared.cfg.subscriptions_per_mailbox {
            return Err(GraphError::new(
                403,
                "ExtensionError",
                format!(
                    "Operation: Create; Exception: [Status Code: Forbidden; Reason: Number of subscriptions on this mailbox has exceeded the limit of {}.]",
                    shared.cfg.subscriptions_per_mailbox
                ),
            ));
        }
    }
    handshake(shared, &notification_url).await?;
    if let Some(l) = &lifecycle_url {
        handshake(shared, l).await?;
    }
    let sub = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tok.tenant_id.clone(),
        client_id: tok.client_id.clone(),
        resource,
        mailbox_id,
        change_types,
        change_type_text: change_text,
        notification_url,
        lifecycle_url,
        expiration: expires,
        client_state,
        latest_tls: str_of("latestSupportedTlsVersion").unwrap_or_else(|| "v1_2".into()),
        include_resource_data: false,
        paused: false,
        reauth_sent: false,
        missed_pending: false,
        creator_id: crate::wire::derived_guid(&tok.client_id),
    };
    let v = sub.to_json(&req.base);
    shared.state().subscriptions.insert(sub);
    Ok(Resp::json(201, v))
}

async fn patch(shared: &Arc<Shared>, req: &Req, tok: &Token, id: &str) -> Result<Resp, GraphError> {
    {
        let st = shared.state();
        visible(shared, &st, id, tok)?;
    }
    let body = graph::json_body(req)?;
    let o = body
        .as_object()
        .ok_or_else(|| GraphError::body_read("The request body must be a JSON object."))?;
    let mut new_exp = None;
    let mut new_url = None;
    for (k, v) in o {
        match k.as_str() {
            "expirationDateTime" => new_exp = Some(expiration(shared, v)?),
            "notificationUrl" => {
                let u = v
                    .as_str()
                    .ok_or_else(|| invalid("notificationUrl must be a string."))?
                    .to_string();
                check_url(shared, &u, "notificationUrl")?;
                new_url = Some(u);
            }
            k if k.starts_with("@odata") => {}
            "lifecycleNotificationUrl" => {
                return Err(invalid(
                    "lifecycleNotificationUrl can only be set when the subscription is created.",
                ));
            }
            other if KNOWN.contains(&other) => {
                return Err(invalid(format!("The property '{other}' cannot be updated.")));
            }
            other => return Err(GraphError::unknown_property(other, "microsoft.graph.subscription")),
        }
    }
    if let Some(u) = &new_url {
        handshake(shared, u).await?;
    }
    let mut st = shared.state();
    let s = st.subscriptions.get_mut(id).ok_or_else(not_found)?;
    if let Some(e) = new_exp {
        s.expiration = e;
    }
    if let Some(u) = new_url {
        s.notification_url = u;
    }
    s.paused = false;
    s.reauth_sent = false;
    Ok(Resp::json(200, s.to_json(&req.base)))
}
