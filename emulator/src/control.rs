//! The control API under `/_emulator` (not Graph): seed and reset, acting as a user through
//! the same code path as Graph writes, faults, subscription lifecycle, the request log, the
//! clock. See the crate documentation for the route list.

use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::calendar::{self, Ctx, Instance};
use crate::error::GraphError;
use crate::http::{Req, Resp};
use crate::model::State;
use crate::notify;
use crate::render::{self, RenderOpts};
use crate::seed::Seed;
use crate::shared::{Shared, lock};

fn err(e: GraphError) -> Resp {
    Resp::json(e.status, json!({"error": {"code": e.code, "message": e.message}}))
}

fn body(req: &Req) -> Result<Value, GraphError> {
    if req.body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body).map_err(|_| GraphError::invalid_json())
}

fn mailbox(shared: &Shared, user: &str) -> Result<usize, GraphError> {
    shared
        .state()
        .mailbox_index(user)
        .ok_or_else(|| GraphError::invalid_user(user))
}

pub async fn handle(shared: &Arc<Shared>, req: &Req) -> Resp {
    match route(shared, req).await {
        Ok(r) => r,
        Err(e) => err(e),
    }
}

fn truth(st: &State, mbx: usize) -> Value {
    let m = &st.mailboxes[mbx];
    let mut items: Vec<_> = m.events.values().collect();
    items.sort_by_key(|e| (e.seq, e.original_start));
    let opts = RenderOpts::default();
    let list: Vec<Value> = items
        .iter()
        .map(|e| {
            let mut v = render::render(&Instance::of_item(e), &opts);
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "singleValueExtendedProperties".into(),
                    json!(
                        e.ext
                            .iter()
                            .map(|(i, v)| json!({"id": i, "value": v}))
                            .collect::<Vec<_>>()
                    ),
                );
                o.insert(
                    "multiValueExtendedProperties".into(),
                    json!(
                        e.multi_ext
                            .iter()
                            .map(|(i, v)| json!({"id": i, "value": v}))
                            .collect::<Vec<_>>()
                    ),
                );
                o.insert(
                    "recurrence".into(),
                    e.recurrence.as_ref().map(|r| r.to_json()).unwrap_or(Value::Null),
                );
                o.insert("deletedOccurrences".into(), json!(e.deleted_occurrences.len()));
            }
            v
        })
        .collect();
    json!({"mailbox": m.id, "mail": m.mail, "value": list})
}

async fn route(shared: &Arc<Shared>, req: &Req) -> Result<Resp, GraphError> {
    let path = req.path.trim_start_matches("/_emulator");
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(crate::wire::percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    let ctx_now = shared.now();
    let ctx = Ctx {
        now: ctx_now,
        cfg: &shared.cfg,
    };
    match (m, s.as_slice()) {
        ("GET", ["health"]) => Ok(Resp::json(200, json!({"status": "ok"}))),
        ("POST", ["reset"]) => {
            let seed = shared.state().seed.clone();
            reset(shared, seed);
            Ok(Resp::empty(204))
        }
        ("POST", ["seed"]) => {
            let seed: Seed = serde_json::from_value(body(req)?)
                .map_err(|e| GraphError::bad_request(format!("invalid seed: {e}")))?;
            reset(shared, seed);
            Ok(Resp::empty(204))
        }
        ("GET", ["users", u, "events"]) => {
            let i = mailbox(shared, u)?;
            Ok(Resp::json(200, truth(&*crate::graph::state_for(shared, i)?, i)))
        }
        ("POST", ["users", u, "events"]) => {
            let i = mailbox(shared, u)?;
            let b = body(req)?;
            let mut st = crate::graph::state_for(shared, i)?;
            let (ev, changes) = calendar::create(&mut st, i, &b, &ctx)?;
            notify::enqueue_changes(shared, &mut st, &changes);
            Ok(Resp::json(
                201,
                render::render(&Instance::of_item(&ev), &RenderOpts::default()),
            ))
        }
        ("PATCH", ["users", u, "events", id]) => {
            let i = mailbox(shared, u)?;
            let b = body(req)?;
            let mut st = crate::graph::state_for(shared, i)?;
            let (inst, changes) = calendar::patch(&mut st, i, id, &b, None, &ctx)?;
            notify::enqueue_changes(shared, &mut st, &changes);
            Ok(Resp::json(200, render::render(&inst, &RenderOpts::default())))
        }
        ("DELETE", ["users", u, "events", id]) => {
            let i = mailbox(shared, u)?;
            let mut st = crate::graph::state_for(shared, i)?;
            let changes = calendar::delete(&mut st, i, id, None, &ctx)?;
            notify::enqueue_changes(shared, &mut st, &changes);
            Ok(Resp::empty(204))
        }
        ("POST", ["users", u, "events", id, action]) => {
            let i = mailbox(shared, u)?;
            let mut st = crate::graph::state_for(shared, i)?;
            let changes = match *action {
                "cancel" => calendar::cancel(&mut st, i, id, &ctx)?,
                "accept" => calendar::respond(&mut st, i, id, "accepted", &ctx)?,
                "decline" => calendar::respond(&mut st, i, id, "declined", &ctx)?,
                "tentativelyAccept" => calendar::respond(&mut st, i, id, "tentativelyAccepted", &ctx)?,
                "move" => {
                    let b = body(req)?;
                    if b.get("new_id").and_then(Value::as_bool).unwrap_or(false) {
                        let (ev, changes) = calendar::rekey(&mut st, i, id, &ctx)?;
                        notify::enqueue_changes(shared, &mut st, &changes);
                        return Ok(Resp::json(200, json!({"id": ev.id})));
                    }
                    let mut patch = serde_json::Map::new();
                    for k in ["start", "end"] {
                        if let Some(v) = b.get(k) {
                            patch.insert(k.into(), v.clone());
                        }
                    }
                    let (inst, changes) = calendar::patch(&mut st, i, id, &Value::Object(patch), None, &ctx)?;
                    notify::enqueue_changes(shared, &mut st, &changes);
                    return Ok(Resp::json(200, render::render(&inst, &RenderOpts::default())));
                }
                other => return Err(GraphError::not_found_segment(other)),
            };
            notify::enqueue_changes(shared, &mut st, &changes);
            Ok(Resp::empty(204))
        }
        (mm @ ("PATCH" | "DELETE"), ["users", u, "events", id, "occurrences", date]) => {
            let i = mailbox(shared, u)?;
            let d = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map_err(|_| GraphError::bad_request("date must be YYYY-MM-DD"))?;
            let mut st = crate::graph::state_for(shared, i)?;
            let occ = calendar::occurrence_id_on(&st.mailboxes[i], id, d, &shared.cfg)?;
            if mm == "DELETE" {
                let changes = calendar::delete(&mut st, i, &occ, None, &ctx)?;
                notify::enqueue_changes(shared, &mut st, &changes);
                return Ok(Resp::empty(204));
            }
            let b = body(req)?;
            let (inst, changes) = calendar::patch(&mut st, i, &occ, &b, None, &ctx)?;
            notify::enqueue_changes(shared, &mut st, &changes);
            Ok(Resp::json(200, render::render(&inst, &RenderOpts::default())))
        }
        ("PUT" | "PATCH", ["users", u, "mailboxSettings"]) => {
            let i = mailbox(shared, u)?;
            let v = crate::graph::patch_settings(shared, i, &body(req)?)?;
            Ok(Resp::json(200, v))
        }
        ("POST", ["users", u, "policy"]) => {
            let i = mailbox(shared, u)?;
            let b = body(req)?;
            let v = b
                .get("in_policy")
                .and_then(Value::as_bool)
                .ok_or_else(|| GraphError::bad_request("in_policy (bool) is required"))?;
            let delay = b
                .get("delay_secs")
                .and_then(Value::as_i64)
                .unwrap_or(shared.cfg.policy_change_delay_secs);
            let mut st = crate::graph::state_for(shared, i)?;
            if delay <= 0 {
                st.mailboxes[i].in_policy = v;
                st.mailboxes[i].policy_pending = None;
            } else {
                st.mailboxes[i].policy_pending = Some((v, ctx_now + Duration::seconds(delay)));
            }
            Ok(Resp::empty(204))
        }
        ("POST", ["users", u, "license"]) => {
            let i = mailbox(shared, u)?;
            let v = body(req)?
                .get("licensed")
                .and_then(Value::as_bool)
                .ok_or_else(|| GraphError::bad_request("licensed (bool) is required"))?;
            crate::graph::state_for(shared, i)?.mailboxes[i].unlicensed = !v;
            Ok(Resp::empty(204))
        }
        ("POST", ["tenants", t, "apps", c, "consent"]) => {
            let granted = body(req)?
                .get("granted")
                .and_then(Value::as_bool)
                .ok_or_else(|| GraphError::bad_request("granted (bool) is required"))?;
            let mut st = shared.state();
            let tenant_id = st
                .tenant(t)
                .map(|x| x.id.clone())
                .ok_or_else(|| GraphError::bad_request("unknown tenant"))?;
            let client = c.to_ascii_lowercase();
            let app = st
                .tenant_mut(t)
                .and_then(|x| x.apps.iter_mut().find(|a| a.client_id == client))
                .ok_or_else(|| GraphError::bad_request("unknown app"))?;
            app.consented = granted;
            if !granted {
                let mut lifecycle = Vec::new();
                for s in st.subscriptions.values_mut() {
                    if s.tenant_id == tenant_id && s.client_id == client {
                        s.paused = true;
                        lifecycle.push(s.clone());
                    }
                }
                drop(st);
                for s in lifecycle {
                    notify::enqueue_lifecycle(shared, &s, "reauthorizationRequired");
                }
            }
            Ok(Resp::empty(204))
        }
        ("GET", ["faults"]) => Ok(Resp::json(200, json!(*lock(&shared.faults)))),
        ("DELETE", ["faults"]) => {
            *lock(&shared.faults) = Default::default();
            Ok(Resp::empty(204))
        }
        ("POST", ["faults"]) => {
            let b = body(req)?;
            let mut f = lock(&shared.faults);
            let mut cur = serde_json::to_value(&*f).unwrap_or(json!({}));
            if let (Some(c), Some(n)) = (cur.as_object_mut(), b.as_object()) {
                for (k, v) in n {
                    if !c.contains_key(k) {
                        return Err(GraphError::bad_request(format!("unknown fault '{k}'")));
                    }
                    c.insert(k.clone(), v.clone());
                }
            }
            *f = serde_json::from_value(cur).map_err(|e| GraphError::bad_request(format!("invalid faults: {e}")))?;
            Ok(Resp::json(200, json!(*f)))
        }
        ("GET", ["subscriptions"]) => {
            let st = shared.state();
            let list: Vec<Value> = st
                .subscriptions
                .values()
                .map(|s| {
                    let mut v = s.to_json(&req.base);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("paused".into(), json!(s.paused));
                        o.insert("mailboxId".into(), json!(s.mailbox_id));
                    }
                    v
                })
                .collect();
            Ok(Resp::json(200, json!({"value": list})))
        }
        ("POST", ["subscriptions", id, action]) => {
            let mut st = shared.state();
            let sub = st
                .subscriptions
                .get(id)
                .cloned()
                .ok_or_else(|| GraphError::new(404, "ResourceNotFound", "The object was not found."))?;
            match *action {
                "expire" => {
                    st.subscriptions.remove(id);
                }
                "remove" => {
                    st.subscriptions.remove(id);
                    drop(st);
                    notify::enqueue_lifecycle(shared, &sub, "subscriptionRemoved");
                }
                "reauthorization-required" => {
                    if let Some(s) = st.subscriptions.get_mut(id) {
                        s.paused = true;
                    }
                    drop(st);
                    notify::enqueue_lifecycle(shared, &sub, "reauthorizationRequired");
                }
                "missed" => {
                    drop(st);
                    notify::enqueue_lifecycle(shared, &sub, "missed");
                }
                "forge" => {
                    let b = body(req)?;
                    let cs = b
                        .get("clientState")
                        .and_then(Value::as_str)
                        .unwrap_or("forged-client-state")
                        .to_string();
                    notify::enqueue_forged(shared, &st, &sub, &cs);
                }
                other => return Err(GraphError::not_found_segment(other)),
            }
            Ok(Resp::empty(204))
        }
        ("GET", ["requests"]) => Ok(Resp::json(200, lock(&shared.log).to_json())),
        ("DELETE", ["requests"]) => {
            *lock(&shared.log) = Default::default();
            Ok(Resp::empty(204))
        }
        ("GET", ["notifications"]) => Ok(Resp::json(
            200,
            json!({"deliveries": shared.notifier.deliveries(), "endpoints": shared.notifier.health()}),
        )),
        ("GET", ["clock"]) => Ok(Resp::json(200, clock_json(shared))),
        ("POST", ["clock"]) => {
            let b = body(req)?;
            if let Some(secs) = b.get("advance_seconds").and_then(Value::as_f64) {
                shared.clock.advance(Duration::milliseconds((secs * 1000.0) as i64));
            }
            if let Some(t) = b.get("set").and_then(Value::as_str) {
                let t =
                    crate::wire::parse_offset(t).ok_or_else(|| GraphError::bad_request("set must be a date-time"))?;
                shared.clock.set(t);
            }
            if let Some(f) = b.get("speed").and_then(Value::as_f64) {
                shared.clock.set_factor(f);
            }
            Ok(Resp::json(200, clock_json(shared)))
        }
        _ => Err(GraphError::new(
            404,
            "NotFound",
            format!("no control route {m} {}", req.path),
        )),
    }
}

fn clock_json(shared: &Shared) -> Value {
    json!({"now": crate::wire::fmt_utc(shared.now()), "speed": shared.clock.factor()})
}

/// Replace the state with `seed` (keeping issued tokens valid), clear subscriptions, delta
/// states, faults, throttling counters, queued notifications and the request log.
pub fn reset(shared: &Shared, seed: Seed) {
    let mut st = shared.state();
    let tokens = std::mem::take(&mut st.tokens);
    *st = State::from_seed(seed);
    st.tokens = tokens;
    drop(st);
    *lock(&shared.faults) = Default::default();
    *lock(&shared.log) = Default::default();
    shared.reset_throttle();
    shared.notifier.clear();
}
