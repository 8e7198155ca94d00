//! The front door for Microsoft Graph: `POST /graph/notifications` and
//! `POST /graph/lifecycle`.
//!
//! A validation request (`?validationToken=`) is answered at once with the
//! decoded token as plain text. Otherwise each notification's clientState is
//! checked against its subscription (constant time); mismatches and unknown
//! subscriptions are dropped and counted without telling the sender; what is
//! accepted is written to the durable inbox (group-committed) and only then
//! answered 202. If the inbox cannot be written, the answer is 503 so that
//! Graph retries. Oversized bodies get 413, malformed JSON 400.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use hcal_actors::inbox::{ChangeType, InboxItem, LifecycleEvent};
use hcal_actors::subscriptions::Verdict;
use hcal_schemas::StreamId;
use hcal_schemas::graph::ChangeNotificationCollection;
use hcal_schemas::graph::enums as wire;
use tracing::{debug, warn};

use super::error::ApiError;
use crate::node::NodeState;

#[derive(serde::Deserialize)]
pub struct Validation {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

fn validation_answer(token: &str) -> HttpResponse {
    // The query extractor already percent-decoded it: echo it exactly.
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(token.to_string())
}

fn parse(body: &[u8], limit: usize) -> Result<ChangeNotificationCollection, ApiError> {
    if body.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the notification batch is too large",
        ));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request("the body is not a change-notification collection"))
}

fn change_type(t: &wire::ChangeType) -> ChangeType {
    match t.as_str().to_ascii_lowercase().as_str() {
        "created" => ChangeType::Created,
        "deleted" => ChangeType::Deleted,
        _ => ChangeType::Updated,
    }
}

fn lifecycle(e: &wire::LifecycleEvent) -> Option<LifecycleEvent> {
    match e.as_str().to_ascii_lowercase().as_str() {
        "reauthorizationrequired" => Some(LifecycleEvent::ReauthorizationRequired),
        "subscriptionremoved" => Some(LifecycleEvent::SubscriptionRemoved),
        "missed" => Some(LifecycleEvent::Missed),
        _ => None,
    }
}

/// Which notifications of a batch are kept, where.
fn accept(node: &NodeState, batch: &ChangeNotificationCollection, lifecycle_url: bool) -> Vec<(StreamId, InboxItem)> {
    let now = node.clock.now();
    let mut kept = Vec::new();
    for n in &batch.value {
        let Some(sub) = n.subscription_id.as_deref() else {
            metrics::counter!("hcal_notifications_dropped_total", "reason" => "malformed").increment(1);
            continue;
        };
        let route = match node.directory.check(sub, n.client_state.as_deref()) {
            Verdict::Accepted(r) => r,
            Verdict::Unknown => {
                metrics::counter!("hcal_notifications_dropped_total", "reason" => "unknown_subscription").increment(1);
                continue;
            }
            Verdict::Forged => {
                warn!("notification with a wrong clientState dropped");
                metrics::counter!("hcal_notifications_dropped_total", "reason" => "client_state").increment(1);
                continue;
            }
        };
        match (&n.lifecycle_event, lifecycle_url) {
            (Some(e), _) => match lifecycle(e) {
                Some(event) => kept.push((
                    StreamId::subscriptions(&route.org),
                    InboxItem::Lifecycle {
                        subscription_id: sub.to_string(),
                        event,
                        received_at: now,
                    },
                )),
                None => {
                    metrics::counter!("hcal_notifications_dropped_total", "reason" => "unknown_lifecycle").increment(1)
                }
            },
            (None, true) => metrics::counter!("hcal_notifications_dropped_total", "reason" => "malformed").increment(1),
            (None, false) => {
                let Some(event_id) = n.event_id() else {
                    metrics::counter!("hcal_notifications_dropped_total", "reason" => "malformed").increment(1);
                    continue;
                };
                kept.push((
                    route.mailbox_stream(),
                    InboxItem::Change {
                        event_id: event_id.to_string(),
                        etag: n.resource_data.as_ref().and_then(|r| r.odata_etag.clone()),
                        change_type: n.change_type.as_ref().map(change_type).unwrap_or(ChangeType::Updated),
                        subscription_id: sub.to_string(),
                        received_at: now,
                    },
                ));
            }
        }
    }
    kept
}

async fn receive(
    req: HttpRequest,
    node: web::Data<NodeState>,
    query: web::Query<Validation>,
    body: web::Bytes,
    lifecycle_url: bool,
) -> Result<HttpResponse, ApiError> {
    let _ = req;
    if let Some(token) = &query.validation_token {
        metrics::counter!("hcal_webhook_validations_total").increment(1);
        return Ok(validation_answer(token));
    }
    let batch = parse(&body, node.config.max_body_bytes)?;
    metrics::counter!("hcal_notifications_received_total").increment(batch.value.len() as u64);
    let kept = accept(&node, &batch, lifecycle_url);
    if !kept.is_empty() {
        if let Err(e) = node.inbox.accept(&kept).await {
            warn!(error = %e, "inbox write failed; asking Graph to retry");
            metrics::counter!("hcal_inbox_write_failures_total").increment(1);
            return Err(ApiError::unavailable("notifications could not be stored; retry"));
        }
        metrics::counter!("hcal_notifications_accepted_total").increment(kept.len() as u64);
        debug!(accepted = kept.len(), "notifications stored");
        node.dispatch(&kept);
    }
    Ok(HttpResponse::Accepted().finish())
}

pub async fn notifications(
    req: HttpRequest,
    node: web::Data<NodeState>,
    query: web::Query<Validation>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    receive(req, node, query, body, false).await
}

pub async fn lifecycle_notifications(
    req: HttpRequest,
    node: web::Data<NodeState>,
    query: web::Query<Validation>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    receive(req, node, query, body, true).await
}
