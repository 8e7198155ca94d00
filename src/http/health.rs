//! Liveness, readiness, metrics, and per-request observation.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::node::NodeState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the log answers and a Graph token can be had for every
/// connected tenant.
pub async fn readyz(node: web::Data<NodeState>) -> HttpResponse {
    let log_ok = node.store.log.last_seq().is_ok();
    let mut tenants = Vec::new();
    for (org, actors) in node.orgs() {
        if let Ok(Some(t)) = actors.tenant.send(hcal_actors::tenant::TenantIdOf).await {
            let ok = node.graph.token_ok(&t).await.is_ok();
            tenants.push(serde_json::json!({"org": org.to_string(), "token": ok}));
        }
    }
    let ready = log_ok && tenants.iter().all(|t| t["token"] == true);
    let body = serde_json::json!({"ready": ready, "log": log_ok, "tenants": tenants});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn metrics(node: web::Data<NodeState>) -> HttpResponse {
    let stats = node.store.log.stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    metrics::gauge!("hcal_log_commits").set(load(&stats.commits) as f64);
    metrics::gauge!("hcal_log_fsyncs").set(load(&stats.syncs) as f64);
    metrics::gauge!("hcal_log_events_appended").set(load(&stats.events) as f64);
    metrics::gauge!("hcal_log_heads_cached").set(load(&stats.heads_cached) as f64);
    metrics::gauge!("hcal_inbox_pending").set(node.inbox.len() as f64);
    metrics::gauge!("hcal_subscriptions_known").set(node.directory.len() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(node.metrics.render())
}

/// Counts and times every request by route pattern (never by raw path:
/// paths can carry addresses).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let status = res.status().as_u16().to_string();
    metrics::counter!("hcal_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("hcal_http_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}
