//! The test-mailbox check: prove each permission hcal needs on one mailbox
//! (create an event, read it, patch it with an extended property and read
//! that back, read mailboxSettings, delete the event), reporting Graph's
//! exact error where one fails.

use hcal_schemas::Sealed;
use hcal_schemas::Timestamp;
use hcal_schemas::events::tenant::PermissionCheck;
use hcal_schemas::graph::{DateTimeTimeZone, Event, ItemBody};
use serde::Serialize;

use crate::graph::{GraphClient, GraphError};

/// The extended property hcal marks its own work with.
pub const CHECK_PROPERTY: &str = "String {6d3a8f31-8a0b-4f7b-9a3c-1c1e2b7a4d55} Name hcalCheck";

#[derive(Clone, Debug, Serialize)]
pub struct PermissionResult {
    pub name: &'static str,
    pub ok: bool,
    /// Graph's error code (or `skipped`).
    pub error: Option<String>,
    /// Graph's message (may quote the mailbox; shown to the admin, stored sealed).
    pub message: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub checks: Vec<PermissionResult>,
}

impl CheckReport {
    pub fn to_events(&self, seal: impl Fn(&str) -> Option<Sealed<String>>) -> Vec<PermissionCheck> {
        self.checks
            .iter()
            .map(|c| PermissionCheck {
                name: c.name.to_string(),
                ok: c.ok,
                error_code: c.error.clone(),
                error_message: c.message.as_deref().and_then(&seal),
            })
            .collect()
    }
}

fn result<T>(name: &'static str, r: &Result<T, GraphError>) -> PermissionResult {
    match r {
        Ok(_) => PermissionResult {
            name,
            ok: true,
            error: None,
            message: None,
        },
        Err(e) => PermissionResult {
            name,
            ok: false,
            error: Some(e.code().unwrap_or("error").to_string()),
            message: Some(e.info().and_then(|i| i.raw_message()).unwrap_or_default().to_string())
                .filter(|m| !m.is_empty()),
        },
    }
}

fn skipped(name: &'static str) -> PermissionResult {
    PermissionResult {
        name,
        ok: false,
        error: Some("skipped".into()),
        message: Some("the event could not be created".into()),
    }
}

pub async fn run(graph: &GraphClient, tenant: &str, address: &str, now: Timestamp) -> CheckReport {
    let start = now.plus_days(1);
    let probe = Event {
        subject: Some("hcal permission check (safe to delete)".into()),
        body: Some(ItemBody {
            content_type: Some(hcal_schemas::graph::BodyType::Text),
            content: Some(String::new()),
        }),
        start: Some(DateTimeTimeZone::utc(start)),
        end: Some(DateTimeTimeZone::utc(start.plus_millis(15 * 60_000))),
        transaction_id: Some(uuid_like(now)),
        ..Event::default()
    };
    let mut checks = Vec::new();
    let created = graph.create_event(tenant, address, &probe).await;
    checks.push(result("create_event", &created));
    let id = created.ok().and_then(|e| e.id);
    match &id {
        Some(id) => {
            checks.push(result("read_event", &graph.get_event(tenant, address, id).await));
            let patch = serde_json::json!({"singleValueExtendedProperties": [{"id": CHECK_PROPERTY, "value": "ok"}]});
            let patched = graph.patch_event(tenant, address, id, &patch, None).await;
            let mut r = result("patch_event", &patched);
            if r.ok {
                match graph.get_event_with_property(tenant, address, id, CHECK_PROPERTY).await {
                    Ok(e) if e.extended_property(CHECK_PROPERTY) == Some("ok") => {}
                    Ok(_) => {
                        r = PermissionResult {
                            name: "patch_event",
                            ok: false,
                            error: Some("property_not_kept".into()),
                            message: Some("the extended property did not read back".into()),
                        }
                    }
                    Err(e) => r = result::<()>("patch_event", &Err(e)),
                }
            }
            checks.push(r);
        }
        None => {
            checks.push(skipped("read_event"));
            checks.push(skipped("patch_event"));
        }
    }
    checks.push(result(
        "read_mailbox_settings",
        &graph.get_mailbox_settings(tenant, address).await,
    ));
    match &id {
        Some(id) => checks.push(result("delete_event", &graph.delete_event(tenant, address, id).await)),
        None => checks.push(skipped("delete_event")),
    }
    CheckReport {
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

fn uuid_like(now: Timestamp) -> String {
    let h = blake3::hash(&now.0.to_le_bytes()).to_hex();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
