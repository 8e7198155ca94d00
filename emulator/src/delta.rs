//! `calendarView/delta`: initial rounds, next pages (`$skiptoken`), delta links
//! (`$deltatoken`), `@removed` tombstones (also for changes outside the window), and the
//! injected 410 reset / syncStateNotFound.

use serde_json::{Value, json};
use std::collections::HashMap;

use crate::calendar;
use crate::error::GraphError;
use crate::graph;
use crate::http::{Req, Resp};
use crate::model::DeltaState;
use crate::render;
use crate::shared::{Shared, lock};
use crate::wire;

const MAX_TOKENS: usize = 20_000;

fn sync_state_not_found() -> GraphError {
    GraphError::new(
        400,
        "SyncStateNotFound",
        "The sync state generation specified by the delta token was not found. Restart the sync with a request without a delta token.",
    )
}

fn new_token() -> String {
    use base64::Engine;
    let b: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn store(st: &mut crate::model::State, token: String, d: DeltaState) {
    st.deltas.insert(token.clone(), d);
    st.delta_order.push_back(token);
    while st.delta_order.len() > MAX_TOKENS {
        if let Some(old) = st.delta_order.pop_front() {
            st.deltas.remove(&old);
        }
    }
}

pub fn handle(shared: &Shared, req: &Req, mbx: usize, user: &str) -> Result<Resp, GraphError> {
    for k in ["$select", "$expand", "$filter", "$orderby", "$search"] {
        if req.q(k).is_some() {
            return Err(GraphError::bad_request(format!(
                "The query option '{k}' is not supported with delta."
            )));
        }
    }
    let (mut opts, mut applied) = graph::prefer_opts(req);
    let skiptoken = req.q("$skiptoken").map(String::from);
    let deltatoken = req.q("$deltatoken").map(String::from);
    let path_base = format!("{}{}", req.base, req.path);
    let mut st = graph::state_for(shared, mbx)?;
    let mailbox_id = st.mailboxes[mbx].id.clone();
    let token_used = skiptoken.clone().or(deltatoken.clone());
    let mut d = if let Some(tok) = &token_used {
        {
            let mut f = lock(&shared.faults);
            if f.delta_reset_next {
                f.delta_reset_next = false;
                let old = st.deltas.get(tok).cloned();
                let location = match old {
                    Some(o) => format!(
                        "{path_base}?startDateTime={}&endDateTime={}",
                        wire::qenc(&wire::fmt_utc(o.start)),
                        wire::qenc(&wire::fmt_utc(o.end))
                    ),
                    None => path_base.clone(),
                };
                return Err(GraphError::new(
                    410,
                    "resyncRequired",
                    "Resync required. Replace any local cached data with data from a new delta query.",
                )
                .with_header("Location", location));
            }
            if f.delta_sync_state_not_found_next {
                f.delta_sync_state_not_found_next = false;
                return Err(sync_state_not_found());
            }
        }
        let d = st.deltas.get(tok).cloned().ok_or_else(sync_state_not_found)?;
        if d.mailbox_id != mailbox_id {
            return Err(sync_state_not_found());
        }
        d
    } else {
        let (s, e) = graph::window(req)?;
        DeltaState {
            mailbox_id: mailbox_id.clone(),
            user_segment: user.to_string(),
            start: s,
            end: e,
            change_seq: 0,
            visible: HashMap::new(),
            pending: Vec::new(),
            page_size: 0,
            tz: opts.tz.as_ref().map(|(n, _)| n.clone()),
        }
    };
    if opts.tz.is_none()
        && let Some(name) = &d.tz
        && let Some(tz) = crate::tz::resolve(name)
    {
        opts.tz = Some((name.clone(), tz));
        applied.push(format!("outlook.timezone=\"{name}\""));
    }
    let page_size = req
        .prefer("odata.maxpagesize")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(shared.cfg.page_size);
    if let Some(n) = req.prefer("odata.maxpagesize") {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    let m = &st.mailboxes[mbx];
    if skiptoken.is_none() {
        // A new round (initial or from a delta link): compute what changed.
        let current = calendar::view(m, d.start, d.end, &shared.cfg);
        let mut now_visible: HashMap<String, String> = HashMap::new();
        for i in &current {
            now_visible.insert(i.id.clone(), i.change_key.clone());
        }
        let mut pending = Vec::new();
        for i in &current {
            if d.visible.get(&i.id) != Some(&i.change_key) {
                pending.push((i.id.clone(), true));
            }
        }
        for id in d.visible.keys() {
            if !now_visible.contains_key(id) {
                pending.push((id.clone(), false));
            }
        }
        if d.change_seq > 0 {
            // Changed items outside the window are reported removed, as Graph does.
            for (seq, id) in &m.changes {
                if *seq > d.change_seq
                    && !now_visible.contains_key(id)
                    && !d.visible.contains_key(id)
                    && !pending.iter().any(|(p, _)| p == id)
                {
                    pending.push((id.clone(), false));
                }
            }
        }
        let dup = lock(&shared.faults).delta_duplicate_rate;
        if dup > 0.0 {
            use rand::Rng;
            let mut rng = rand::thread_rng();
            let extra: Vec<(String, bool)> = pending
                .iter()
                .filter(|_| rng.gen_bool(dup.clamp(0.0, 1.0)))
                .cloned()
                .collect();
            pending.extend(extra);
        }
        d.visible = now_visible;
        d.change_seq = m.change_seq;
        d.pending = pending;
    }
    let take: Vec<(String, bool)> = d.pending.drain(..d.pending.len().min(page_size)).collect();
    let mut values = Vec::new();
    let present: HashMap<String, calendar::Instance> = if take.iter().any(|(_, p)| *p) {
        calendar::view(m, d.start, d.end, &shared.cfg)
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect()
    } else {
        HashMap::new()
    };
    for (id, is_present) in take {
        match present.get(&id) {
            Some(inst) if is_present => values.push(render::render(inst, &opts)),
            _ => values
                .push(json!({"@odata.type": "#microsoft.graph.event", "id": id, "@removed": {"reason": "deleted"}})),
        }
    }
    let token = new_token();
    let more = !d.pending.is_empty();
    d.page_size = page_size;
    store(&mut st, token.clone(), d);
    let mut body = serde_json::Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#Collection(event)", req.base)),
    );
    if more {
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{path_base}?$skiptoken={token}")),
        );
    } else {
        body.insert(
            "@odata.deltaLink".into(),
            json!(format!("{path_base}?$deltatoken={token}")),
        );
    }
    body.insert("value".into(), Value::Array(values));
    let mut resp = Resp::json(200, Value::Object(body));
    if !applied.is_empty() {
        resp.headers.push(("Preference-Applied".into(), applied.join(",")));
    }
    Ok(resp)
}
