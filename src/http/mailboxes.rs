//! Mailboxes over HTTP: the meeting list for people's apps and room devices
//! (`/api/v1`), and the live actors for admins (`/admin/v1/mailboxes`,
//! `/admin/v1/digest`, personal API tokens, fault drills).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use hcal_actors::journal::{Journal, StateOf};
use hcal_actors::mailbox::router::{Get, Locate, Presence, Status};
use hcal_actors::mailbox::{Health, Inspect, Meetings, view};
use hcal_actors::replay::load_stream;
use hcal_actors::subscriptions::manager::SubscriptionOf;
use hcal_actors::tenant::{IssueToken, normalise_address};
use hcal_schemas::aggregate::mailbox::MailboxState;
use hcal_schemas::events::EventFamily;
use hcal_schemas::{AnyState, MailboxEvent, OrgId, StreamId, StreamKind, Timestamp};
use serde::Deserialize;

use super::auth::{Admin, bearer, same_secret};
use super::error::ApiError;
use crate::node::NodeState;

pub fn api_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{email}/meetings", web::get().to(meetings));
}

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/mailboxes/{email}", web::get().to(inspect))
        .route("/mailboxes/{email}/log", web::get().to(log))
        .route("/mailboxes/{email}/faults", web::post().to(faults))
        .route("/orgs/{org}/users/{email}/tokens", web::post().to(issue_token))
        .route("/digest", web::get().to(digest));
}

fn gone<E>(_: E) -> ApiError {
    ApiError::unavailable("the mailbox's actor is not running")
}

/// The stream of `email`'s mailbox in whichever organisation has it
/// (enabled now, or with a history in the log).
async fn presence(node: &NodeState, stream: &StreamId) -> Result<Presence, ApiError> {
    node.router.send(Locate { stream: stream.clone() }).await.map_err(gone)
}

async fn find(node: &NodeState, email: &str) -> Result<StreamId, ApiError> {
    let address = normalise_address(email).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let key = node.store.keys.mailbox_key(&address);
    for (org, _) in node.orgs() {
        let stream = StreamId::mailbox(&org, &key);
        if presence(node, &stream).await?.enabled || node.store.log.head(&stream).unwrap_or(0) > 0 {
            return Ok(stream);
        }
    }
    Err(ApiError::not_found("no mailbox with that address is known"))
}

#[derive(Deserialize)]
struct Range {
    from: Option<String>,
    to: Option<String>,
}

fn instant(s: &str, name: &str) -> Result<Timestamp, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| Timestamp::from_datetime(d.with_timezone(&chrono::Utc)))
        .map_err(|_| ApiError::bad_request(format!("`{name}` must be an RFC 3339 time, e.g. 2030-01-07T00:00:00Z")))
}

/// `GET /api/v1/users/{email}/meetings?from=&to=`: admin token, or the
/// mailbox's own personal token.
async fn meetings(
    req: HttpRequest,
    node: web::Data<NodeState>,
    path: web::Path<String>,
    q: web::Query<Range>,
) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a bearer token is required"))?;
    let stream = if same_secret(token, node.config.admin_token.expose()) {
        find(&node, &path).await?
    } else {
        let (org, key) = node
            .tokens
            .mailbox_of(token)
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown or revoked token"))?;
        let asked = normalise_address(&path).map_err(|e| ApiError::bad_request(e.to_string()))?;
        if node.store.keys.mailbox_key(&asked) != key {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a personal token reads only its own mailbox",
            ));
        }
        StreamId::mailbox(&org, &key)
    };
    let now = node.clock.now();
    let day = 86_400_000;
    let from = match &q.from {
        Some(f) => instant(f, "from")?,
        None => Timestamp(now.millis() - now.millis().rem_euclid(day)),
    };
    let to = match &q.to {
        Some(t) => instant(t, "to")?,
        None => from.plus_days(28),
    };
    if to <= from || to.millis() - from.millis() > 92 * day {
        return Err(ApiError::bad_request(
            "`to` must come after `from`, at most 92 days later",
        ));
    }
    let actor = node.router.send(Get { stream }).await.map_err(gone)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_active",
            "the mailbox is not enabled and activated",
        )
    })?;
    let list = actor.send(Meetings { from, to }).await.map_err(gone)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "from": from, "to": to, "meetings": list })))
}

#[derive(Deserialize)]
struct RevealQuery {
    #[serde(default)]
    reveal: bool,
}

/// `GET /admin/v1/mailboxes/{email}`: the live actor (or, passivated, its state from the log).
async fn inspect(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<String>,
    q: web::Query<RevealQuery>,
) -> Result<HttpResponse, ApiError> {
    let stream = find(&node, &path).await?;
    let presence = presence(&node, &stream).await?;
    let mut inspection = if presence.active {
        let actor = node
            .router
            .send(Get { stream: stream.clone() })
            .await
            .map_err(gone)?
            .ok_or_else(|| gone(()))?;
        actor.send(Inspect { reveal: q.reveal }).await.map_err(gone)?
    } else {
        let journal = Journal::<MailboxState>::load(&node.store, stream.clone())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let pending = node.inbox.count(&stream).unwrap_or(0);
        let mut i = view::inspect(&journal, &Health::default(), pending, node.clock.now(), q.reveal);
        i.active = false;
        i
    };
    if !presence.enabled {
        inspection.active = false;
    }
    let mut subscription = serde_json::Value::Null;
    if let (Some((_, actors)), Some(mailbox)) = (
        node.orgs().into_iter().find(|(o, _)| *o == stream.org()),
        stream.mailbox_key(),
    ) && let Ok(Some(s)) = actors.subscriptions.send(SubscriptionOf { mailbox }).await
    {
        subscription = serde_json::to_value(s).unwrap_or_default();
    }
    let mut body = serde_json::to_value(&inspection).map_err(|e| ApiError::internal(e.to_string()))?;
    body["subscription"] = subscription;
    body["enabled"] = serde_json::Value::Bool(presence.enabled);
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
struct LogQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /admin/v1/mailboxes/{email}/log?after=&limit=`: the stream's events,
/// sealed fields shown as `<sealed>`.
async fn log(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<String>,
    q: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    let stream = find(&node, &path).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut events = Vec::new();
    for rec in node
        .store
        .log
        .read_stream(&stream, q.after.unwrap_or(0) + 1)
        .take(limit)
    {
        let rec = rec.map_err(|e| ApiError::internal(e.to_string()))?;
        let f = rec.frame().map_err(|e| ApiError::internal(e.to_string()))?;
        let event = MailboxEvent::decode(f.type_name, f.schema_version, f.payload)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        events.push(serde_json::json!({
            "version": f.version,
            "seq": rec.seq,
            "at": f.at,
            "type": f.type_name,
            "schema_version": f.schema_version,
            "event": event,
        }));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "stream": stream.to_string(), "events": events })))
}

/// `GET /admin/v1/digest`: the digest `hcal replay` prints, over the live state.
async fn digest(_: Admin, node: web::Data<NodeState>) -> Result<HttpResponse, ApiError> {
    let orgs: BTreeMap<OrgId, _> = node.orgs().into_iter().collect();
    let status = node.router.send(Status).await.map_err(gone)?;
    let mut states: BTreeMap<StreamId, AnyState> = BTreeMap::new();
    let mut events = 0u64;
    let heads: Vec<(StreamId, u64)> = node.store.log.stream_heads().filter_map(Result::ok).collect();
    for (stream, version) in heads {
        events += version;
        let live = match (stream.kind(), orgs.get(&stream.org())) {
            (StreamKind::Tenant, Some(a)) => Some(a.tenant.send(StateOf).await.map_err(gone)?),
            (StreamKind::Subscriptions, Some(a)) => Some(a.subscriptions.send(StateOf).await.map_err(gone)?),
            (StreamKind::Mailbox, _) if status.active_streams.contains(&stream) => {
                match node.router.send(Get { stream: stream.clone() }).await.map_err(gone)? {
                    Some(actor) => Some(actor.send(StateOf).await.map_err(gone)?),
                    None => None,
                }
            }
            _ => None,
        };
        let state = match live {
            Some(s) => s,
            None => load_stream(&node.store.log, &stream).map_err(|e| ApiError::internal(e.to_string()))?,
        };
        states.insert(stream, state);
    }
    let rows = node
        .store
        .log
        .table_rows()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let d =
        hcal_schemas::aggregate::digest(&states, &rows, &node.store).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events, "streams": states.len(), "digest": d })))
}

/// `POST /admin/v1/orgs/{org}/users/{email}/tokens`: a personal API token.
async fn issue_token(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org, email) = path.into_inner();
    let org = OrgId::new(&org).map_err(|e| ApiError::bad_request(format!("bad organisation id: {e}")))?;
    let actors = node.org(&org).map_err(|e| ApiError::internal(e.to_string()))?;
    let token = actors
        .tenant
        .send(IssueToken { address: email })
        .await
        .map_err(gone)??;
    Ok(HttpResponse::Created().json(serde_json::json!({ "token": token })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    panic_next: u32,
}

/// `POST /admin/v1/mailboxes/{email}/faults`: make the mailbox's next rounds panic (drills).
async fn faults(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<String>,
    body: web::Json<FaultBody>,
) -> Result<HttpResponse, ApiError> {
    if !node.config.fault_injection {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "faults_disabled",
            "fault injection is off (fault_injection = false)",
        ));
    }
    let stream = find(&node, &path).await?;
    node.faults.panic_next(&stream, body.panic_next);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "stream": stream.to_string(), "panic_next": body.panic_next })))
}
