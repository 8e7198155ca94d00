//! The admin API (`/admin/v1`, bearer admin token): setup with admin consent,
//! the test-mailbox check, users, subscriptions, and the clock when the node
//! allows driving it. The consent callback alone is unauthenticated: the
//! tenant admin's browser arrives there from Microsoft, and the single-use
//! `state` is its credential.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use hcal_actors::join::settings::JoinSettingsInput;
use hcal_actors::mailbox::router::{ClockMoved, JoinFailuresOf};
use hcal_actors::subscriptions::manager::List;
use hcal_actors::tenant::{
    CheckTestMailbox, CompleteConsent, Describe, DisableUser, EnableUser, GetJoinSettings, ListUsers, SetJoinSettings,
    StartSetup, TenantError, TestJoinRules,
};
use hcal_schemas::OrgId;
use hcal_schemas::aggregate::mailbox::JoinFailures;
use hcal_schemas::events::tenant::MailboxKind;
use serde::Deserialize;

use super::auth::Admin;
use super::error::ApiError;
use crate::node::{NodeError, NodeState, OrgActors};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/orgs/{org}", web::get().to(org_summary))
        .route("/orgs/{org}/calendar/setup", web::post().to(setup))
        .route("/consent/callback", web::get().to(consent_callback))
        .route("/orgs/{org}/calendar/test", web::post().to(test_mailbox))
        .route("/orgs/{org}/users", web::get().to(list_users))
        .route("/orgs/{org}/users/{email}", web::put().to(enable_user))
        .route("/orgs/{org}/users/{email}", web::delete().to(disable_user))
        .route("/orgs/{org}/join-settings", web::get().to(get_join_settings))
        .route("/orgs/{org}/join-settings", web::put().to(set_join_settings))
        .route("/orgs/{org}/join-rules/test", web::post().to(test_join_rules))
        .route("/subscriptions", web::get().to(subscriptions))
        .route("/clock", web::post().to(advance_clock));
}

fn org_id(s: &str) -> Result<OrgId, ApiError> {
    OrgId::new(s).map_err(|e| ApiError::bad_request(format!("bad organisation id: {e}")))
}

fn actors(node: &NodeState, org: &OrgId) -> Result<OrgActors, ApiError> {
    node.org(org).map_err(|e: NodeError| ApiError::internal(e.to_string()))
}

fn gone<E>(_: E) -> ApiError {
    ApiError::unavailable("the organisation's actor is not running")
}

impl From<TenantError> for ApiError {
    fn from(e: TenantError) -> Self {
        let (status, code) = match &e {
            TenantError::BadState => (StatusCode::BAD_REQUEST, "bad_state"),
            TenantError::ConsentRefused { .. } => (StatusCode::FORBIDDEN, "consent_refused"),
            TenantError::NoTenant => (StatusCode::BAD_REQUEST, "no_tenant"),
            TenantError::OtherTenant => (StatusCode::CONFLICT, "other_tenant"),
            TenantError::TenantTaken => (StatusCode::CONFLICT, "tenant_taken"),
            TenantError::TokenRefused { .. } => (StatusCode::FORBIDDEN, "consent_not_in_effect"),
            TenantError::NotConsented => (StatusCode::CONFLICT, "not_consented"),
            TenantError::BadAddress => (StatusCode::BAD_REQUEST, "bad_address"),
            TenantError::UnknownUser => (StatusCode::NOT_FOUND, "unknown_user"),
            TenantError::BadSettings(_) => (StatusCode::BAD_REQUEST, "bad_settings"),
            TenantError::Log(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage"),
            TenantError::Seal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "sealing"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

async fn org_summary(_: Admin, node: web::Data<NodeState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let org = org_id(&path)?;
    let summary = actors(&node, &org)?.tenant.send(Describe).await.map_err(gone)?;
    Ok(HttpResponse::Ok().json(summary))
}

async fn setup(_: Admin, node: web::Data<NodeState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let org = org_id(&path)?;
    let url = actors(&node, &org)?
        .tenant
        .send(StartSetup {
            consent_url: |g, redirect, state| g.admin_consent_url("organizations", redirect, state),
        })
        .await
        .map_err(gone)??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "consent_url": url })))
}

#[derive(Deserialize)]
struct Callback {
    state: Option<String>,
    tenant: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn consent_callback(node: web::Data<NodeState>, q: web::Query<Callback>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let state = q.state.ok_or_else(|| ApiError::from(TenantError::BadState))?;
    let org = state
        .split_once('.')
        .and_then(|(o, _)| OrgId::new(o).ok())
        .ok_or(TenantError::BadState)?;
    // Only organisations already in setup have actors; never start one for a forged state.
    let Some((_, target)) = node.orgs().into_iter().find(|(o, _)| *o == org) else {
        return Err(TenantError::BadState.into());
    };
    let mut taken = Vec::new();
    for (other, a) in node.orgs() {
        if other != org
            && let Ok(s) = a.tenant.send(Describe).await
            && let Some(t) = s.tenant_id
        {
            taken.push(t);
        }
    }
    let tenant_id = target
        .tenant
        .send(CompleteConsent {
            state,
            tenant: q.tenant,
            error: q.error,
            error_description: q.error_description,
            taken,
        })
        .await
        .map_err(gone)??;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "org": org.to_string(),
        "tenant_id": tenant_id,
        "status": "connected",
        "message": "hcal is connected to the Office 365 tenant. Next: run the test-mailbox check and enable users."
    })))
}

#[derive(Deserialize)]
struct TestBody {
    email: String,
}

async fn test_mailbox(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<String>,
    body: web::Json<TestBody>,
) -> Result<HttpResponse, ApiError> {
    let org = org_id(&path)?;
    let report = actors(&node, &org)?
        .tenant
        .send(CheckTestMailbox {
            address: body.into_inner().email,
        })
        .await
        .map_err(gone)??;
    Ok(HttpResponse::Ok().json(report))
}

async fn list_users(_: Admin, node: web::Data<NodeState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let org = org_id(&path)?;
    let mut users = actors(&node, &org)?.tenant.send(ListUsers).await.map_err(gone)?;
    let failures: HashMap<String, JoinFailures> = node
        .router
        .send(JoinFailuresOf { org })
        .await
        .map_err(|_| ApiError::unavailable("the mailbox router is not running"))?
        .into_iter()
        .map(|(k, f)| (k.to_string(), f))
        .collect();
    for u in &mut users {
        u.join_failures = failures.get(&u.mailbox).map(Into::into);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "users": users })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EnableBody {
    #[serde(default)]
    kind: Option<String>,
}

async fn enable_user(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<(String, String)>,
    body: Option<web::Json<EnableBody>>,
) -> Result<HttpResponse, ApiError> {
    let (org, email) = path.into_inner();
    let org = org_id(&org)?;
    let kind = match body.and_then(|b| b.into_inner().kind).as_deref() {
        None | Some("user") => MailboxKind::User,
        Some("room") => MailboxKind::Room,
        Some(_) => return Err(ApiError::bad_request("kind must be \"user\" or \"room\"")),
    };
    let info = actors(&node, &org)?
        .tenant
        .send(EnableUser { address: email, kind })
        .await
        .map_err(gone)??;
    Ok(HttpResponse::Ok().json(info))
}

async fn disable_user(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org, email) = path.into_inner();
    let org = org_id(&org)?;
    let info = actors(&node, &org)?
        .tenant
        .send(DisableUser { address: email })
        .await
        .map_err(gone)??;
    Ok(HttpResponse::Ok().json(info))
}

async fn subscriptions(_: Admin, node: web::Data<NodeState>) -> Result<HttpResponse, ApiError> {
    let mut all = Vec::new();
    for (_, a) in node.orgs() {
        all.extend(a.subscriptions.send(List).await.map_err(gone)?);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "subscriptions": all })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_seconds: i64,
}

async fn advance_clock(
    _: Admin,
    node: web::Data<NodeState>,
    body: web::Json<Advance>,
) -> Result<HttpResponse, ApiError> {
    if !node.clock.is_adjustable() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "clock_fixed",
            "this node's clock cannot be moved (adjustable_clock = false)",
        ));
    }
    if !node.clock.advance(body.advance_seconds.saturating_mul(1000)) {
        return Err(ApiError::bad_request("the clock only moves forward"));
    }
    node.router.do_send(ClockMoved);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "now": node.clock.now() })))
}

async fn get_join_settings(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = org_id(&path)?;
    let view = actors(&node, &org)?.tenant.send(GetJoinSettings).await.map_err(gone)?;
    Ok(HttpResponse::Ok().json(view))
}

/// `PUT /admin/v1/orgs/{org}/join-settings`: keywords, link rules, join-block
/// wording per language, and the meeting service (validated by building them).
async fn set_join_settings(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<String>,
    body: web::Json<JoinSettingsInput>,
) -> Result<HttpResponse, ApiError> {
    let org = org_id(&path)?;
    let view = actors(&node, &org)?
        .tenant
        .send(SetJoinSettings(body.into_inner()))
        .await
        .map_err(gone)??;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /admin/v1/orgs/{org}/join-rules/test`: what the organisation's
/// detection makes of one Graph event (the same output as `hcal join-detect`).
async fn test_join_rules(
    _: Admin,
    node: web::Data<NodeState>,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let org = org_id(&path)?;
    if !body.is_object() {
        return Err(ApiError::bad_request("send one Graph event as a JSON object"));
    }
    let result = actors(&node, &org)?
        .tenant
        .send(TestJoinRules(body.into_inner()))
        .await
        .map_err(gone)?;
    Ok(HttpResponse::Ok().json(result))
}
