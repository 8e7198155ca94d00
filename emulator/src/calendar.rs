//! Calendar behaviour: creating, patching, deleting and cancelling events, series and their
//! occurrences, and the Exchange-like attendee copies of meetings. Every write, whether it
//! comes from Graph or from the control API acting as a user, goes through here, so the same
//! notifications follow.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::config::EmulatorConfig;
use crate::error::GraphError;
use crate::input::{self, EventInput};
use crate::model::{Change, ChangeType, Event, Kind, Mailbox, State};
use crate::recurrence::Recurrence;
use crate::tz;
use crate::wire;

/// What a request is made with.
pub struct Ctx<'a> {
    pub now: DateTime<Utc>,
    pub cfg: &'a EmulatorConfig,
}

/// An event as shown: a stored item, or an occurrence computed from its master.
#[derive(Debug, Clone)]
pub struct Instance {
    pub item: Arc<Event>,
    pub id: String,
    pub kind: &'static str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub series_master_id: Option<String>,
    pub original_start: Option<DateTime<Utc>>,
    pub ical_uid: String,
    pub change_key: String,
}

impl Instance {
    pub fn of_item(ev: &Arc<Event>) -> Instance {
        Instance {
            item: ev.clone(),
            id: ev.id.clone(),
            kind: ev.kind.as_str(),
            start: ev.start_utc(),
            end: ev.end_utc(),
            series_master_id: ev.master_id.clone(),
            original_start: ev.original_start,
            ical_uid: ev.ical_uid.clone(),
            change_key: ev.change_key.clone(),
        }
    }

    pub fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        if self.start == self.end {
            self.start >= from && self.start < to
        } else {
            self.start < to && self.end > from
        }
    }
}

fn rec_tz(r: &Recurrence) -> chrono_tz::Tz {
    tz::resolve(&r.time_zone).unwrap_or(chrono_tz::Tz::UTC)
}

/// Original start (UTC) of the occurrence on local date `d` of a series.
fn occurrence_start(master: &Event, r: &Recurrence, d: NaiveDate) -> DateTime<Utc> {
    let rtz = rec_tz(r);
    let tod = tz::utc_to_local(&rtz, master.start_utc()).time();
    tz::local_to_utc(&rtz, d.and_time(tod))
}

fn horizon(master: &Event, cfg: &EmulatorConfig) -> NaiveDate {
    master.start.date() + Duration::days(cfg.no_end_horizon_days.max(1))
}

/// Occurrences and exceptions of `master` overlapping [from, to), in start order.
pub fn expand(
    m: &Mailbox,
    master: &Arc<Event>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cfg: &EmulatorConfig,
) -> Vec<Instance> {
    let Some(r) = &master.recurrence else {
        return Vec::new();
    };
    let dur = master.end_utc() - master.start_utc();
    let last_date = (to + Duration::days(2)).date_naive();
    let first_date = (from - dur - Duration::days(2)).date_naive();
    let dates = r.dates(horizon(master, cfg), |d| d <= last_date);
    let mut out = Vec::new();
    for d in dates {
        if d < first_date {
            continue;
        }
        let orig = occurrence_start(master, r, d);
        let ts = orig.timestamp();
        if master.deleted_occurrences.contains(&ts) || master.exceptions.contains(&ts) {
            continue;
        }
        let inst = Instance {
            item: master.clone(),
            id: wire::make_occurrence_id(&master.key, orig),
            kind: "occurrence",
            start: orig,
            end: orig + dur,
            series_master_id: Some(master.id.clone()),
            original_start: Some(orig),
            ical_uid: wire::ical_uid(&master.key, Some(d)),
            change_key: master.change_key.clone(),
        };
        if inst.overlaps(from, to) {
            out.push(inst);
        }
    }
    for ts in &master.exceptions {
        let Some(orig) = DateTime::from_timestamp(*ts, 0) else {
            continue;
        };
        let id = wire::make_occurrence_id(&master.key, orig);
        if let Some(ex) = m.events.get(&id) {
            let inst = Instance::of_item(ex);
            if inst.overlaps(from, to) {
                out.push(inst);
            }
        }
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    out
}

/// Is `orig` the original start of an occurrence of `master` (deleted ones excluded)?
fn is_occurrence(master: &Event, orig: DateTime<Utc>, cfg: &EmulatorConfig) -> Option<NaiveDate> {
    let r = master.recurrence.as_ref()?;
    if master.deleted_occurrences.contains(&orig.timestamp()) {
        return None;
    }
    let target = tz::utc_to_local(&rec_tz(r), orig).date();
    let dates = r.dates(horizon(master, cfg), |d| d <= target);
    dates
        .into_iter()
        .find(|d| *d == target)
        .filter(|d| occurrence_start(master, r, *d) == orig)
}

/// Everything visible in a window (calendarView): singles, occurrences and exceptions.
pub fn view(m: &Mailbox, from: DateTime<Utc>, to: DateTime<Utc>, cfg: &EmulatorConfig) -> Vec<Instance> {
    let mut out = Vec::new();
    for ev in m.events.values() {
        match ev.kind {
            Kind::SingleInstance => {
                let inst = Instance::of_item(ev);
                if inst.overlaps(from, to) {
                    out.push(inst);
                }
            }
            Kind::SeriesMaster => out.extend(expand(m, ev, from, to, cfg)),
            Kind::Exception => {}
        }
    }
    out.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then_with(|| a.item.seq.cmp(&b.item.seq))
            .then_with(|| a.id.cmp(&b.id))
    });
    out
}

/// What an id names in a mailbox.
pub enum Target {
    Item(Arc<Event>),
    Occurrence {
        master: Arc<Event>,
        original: DateTime<Utc>,
        date: NaiveDate,
    },
}

pub fn resolve(m: &Mailbox, id: &str, cfg: &EmulatorConfig) -> Result<Target, GraphError> {
    let parsed = wire::parse_id(id).ok_or_else(GraphError::id_malformed)?;
    if let Some(ev) = m.events.get(id) {
        return Ok(Target::Item(ev.clone()));
    }
    match parsed {
        wire::ParsedId::Item(_) => Err(GraphError::item_not_found()),
        wire::ParsedId::Occurrence(key, original) => {
            let master_id = wire::make_item_id(&key);
            let master = m.events.get(&master_id).ok_or_else(GraphError::item_not_found)?;
            if master.kind != Kind::SeriesMaster {
                return Err(GraphError::item_not_found());
            }
            let date = is_occurrence(master, original, cfg).ok_or_else(GraphError::item_not_found)?;
            Ok(Target::Occurrence {
                master: master.clone(),
                original,
                date,
            })
        }
    }
}

/// The instance view of a target.
pub fn instance_of(target: &Target) -> Instance {
    match target {
        Target::Item(ev) => Instance::of_item(ev),
        Target::Occurrence { master, original, date } => {
            let dur = master.end_utc() - master.start_utc();
            Instance {
                item: master.clone(),
                id: wire::make_occurrence_id(&master.key, *original),
                kind: "occurrence",
                start: *original,
                end: *original + dur,
                series_master_id: Some(master.id.clone()),
                original_start: Some(*original),
                ical_uid: wire::ical_uid(&master.key, Some(*date)),
                change_key: master.change_key.clone(),
            }
        }
    }
}

fn check_if_match(if_match: Option<&str>, change_key: &str) -> Result<(), GraphError> {
    if let Some(tag) = if_match {
        let tag = tag.trim();
        if tag == "*" {
            return Ok(());
        }
        let inner = tag.trim_start_matches("W/").trim_matches('"');
        if inner != change_key {
            return Err(GraphError::precondition_failed());
        }
    }
    Ok(())
}

fn default_props() -> Map<String, Value> {
    let v = json!({
        "subject": "",
        "body": {"contentType": "html", "content": ""},
        "importance": "normal",
        "sensitivity": "normal",
        "showAs": "busy",
        "isAllDay": false,
        "isReminderOn": true,
        "reminderMinutesBeforeStart": 15,
        "responseRequested": true,
        "allowNewTimeProposals": true,
        "hideAttendees": false,
        "isOnlineMeeting": false,
        "onlineMeetingProvider": "unknown",
        "onlineMeeting": null,
        "categories": [],
        "attendees": [],
        "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": {}, "coordinates": {}},
        "locations": [],
        "transactionId": null,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn merge_ext(ev: &mut Event, input: &EventInput) {
    for (id, value) in &input.ext {
        let key = input::ext_key(id);
        if let Some(slot) = ev.ext.iter_mut().find(|(i, _)| input::ext_key(i) == key) {
            slot.1 = value.clone();
        } else {
            ev.ext.push((id.clone(), value.clone()));
        }
    }
    for (id, values) in &input.multi_ext {
        let key = input::ext_key(id);
        if let Some(slot) = ev.multi_ext.iter_mut().find(|(i, _)| input::ext_key(i) == key) {
            slot.1 = values.clone();
        } else {
            ev.multi_ext.push((id.clone(), values.clone()));
        }
    }
}

fn teams_blob(join_url: &str) -> String {
    format!(
        "<div style=\"width:100%\"><span style=\"white-space:nowrap;color:#5F5F5F;opacity:.36\">________________________________________________________________________________</span></div>\
<div class=\"me-email-text\" lang=\"en-US\" style=\"color:#252424;font-family:'Segoe UI','Helvetica Neue',Helvetica,Arial,sans-serif\">\
<div style=\"margin-top:24px;margin-bottom:20px\"><span style=\"font-size:24px;color:#252424\">Microsoft Teams meeting</span></div>\
<div style=\"margin-bottom:20px\"><div style=\"margin-top:0px;margin-bottom:0px;font-weight:bold\"><span style=\"font-size:14px;color:#252424\">Join on your computer, mobile app or room device</span></div>\
<a href=\"{join_url}\" class=\"me-email-headline\" style=\"font-size:14px;font-family:'Segoe UI Semibold','Segoe UI','Helvetica Neue',Helvetica,Arial,sans-serif;text-decoration:underline;color:#6264a7\">Click here to join the meeting</a></div></div>"
    )
}

/// Online meetings: enabling Teams generates `onlineMeeting` and injects the join block
/// into the body; the provider then cannot change nor be switched off, except by a body that
/// drops the block.
fn apply_online_meeting(ev: &mut Event, input: &EventInput, was_online: bool) {
    let body_given = input.props.contains_key("body");
    if was_online {
        ev.props.insert("isOnlineMeeting".into(), json!(true));
        ev.props
            .insert("onlineMeetingProvider".into(), json!("teamsForBusiness"));
        let join = ev
            .props
            .get("onlineMeeting")
            .and_then(|o| o.get("joinUrl"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if body_given {
            let content = ev
                .props
                .get("body")
                .and_then(|b| b.get("content"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if join.is_empty() || !content.contains(&join) {
                ev.props.insert("isOnlineMeeting".into(), json!(false));
                ev.props.insert("onlineMeetingProvider".into(), json!("unknown"));
                ev.props.insert("onlineMeeting".into(), Value::Null);
            }
        }
        return;
    }
    let wants = ev
        .props
        .get("isOnlineMeeting")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !wants {
        ev.props.insert("onlineMeeting".into(), Value::Null);
        return;
    }
    let provider = ev
        .props
        .get("onlineMeetingProvider")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    if provider != "teamsForBusiness" && provider != "unknown" {
        // Not an allowed provider of this calendar: Exchange leaves the event offline.
        ev.props.insert("isOnlineMeeting".into(), json!(false));
        ev.props.insert("onlineMeeting".into(), Value::Null);
        return;
    }
    let thread: u128 = rand::random();
    let conf: u32 = rand::random();
    let join_url = format!(
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread:032x}%40thread.v2/0?context=%7b%22Tid%22%3a%22{}%22%7d",
        ev.organizer_address
    );
    ev.props
        .insert("onlineMeetingProvider".into(), json!("teamsForBusiness"));
    ev.props.insert(
        "onlineMeeting".into(),
        json!({"joinUrl": join_url, "conferenceId": format!("{}", conf % 1_000_000_000), "tollNumber": "+1 555-0100", "tollFreeNumbers": [], "phones": [], "quickDial": null}),
    );
    let content = ev
        .props
        .get("body")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let inner = if content.is_empty() {
        String::new()
    } else {
        let lower = content.to_ascii_lowercase();
        match (lower.find("<body"), lower.rfind("</body>")) {
            (Some(s), Some(e)) => match content[s..].find('>') {
                Some(gt) if s + gt < e => content[s + gt + 1..e].to_string(),
                _ => content.clone(),
            },
            _ => content.clone(),
        }
    };
    let html = input::html_document(&format!("{inner}{}", teams_blob(&join_url)));
    ev.props
        .insert("body".into(), json!({"contentType": "html", "content": html}));
}

/// Rooms auto-accept: the organizer's view of a room attendee is `accepted`.
fn mark_rooms_accepted(st: &State, tenant: &str, ev: &mut Event, now: DateTime<Utc>) {
    if let Some(Value::Array(list)) = ev.props.get_mut("attendees") {
        for a in list.iter_mut() {
            let addr = a["emailAddress"]["address"].as_str().unwrap_or("").to_ascii_lowercase();
            if let Some(i) = st.mailbox_index(&addr) {
                let mb = &st.mailboxes[i];
                if mb.is_room && mb.tenant_id == tenant && a["status"]["response"] == json!("none") {
                    a["status"] = json!({"response": "accepted", "time": wire::fmt_utc(now)});
                }
            }
        }
    }
}

fn validate_times(ev: &Event) -> Result<(), GraphError> {
    if ev.end_utc() < ev.start_utc() {
        return Err(GraphError::new(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. The end time must be later than the start time.",
        ));
    }
    if ev.props.get("isAllDay").and_then(Value::as_bool).unwrap_or(false) {
        input::check_all_day(ev.start, ev.end)?;
    }
    Ok(())
}

fn change(mbx: usize, ev: &Event, t: ChangeType) -> Change {
    Change {
        mailbox: mbx,
        event_id: ev.id.clone(),
        change_type: t,
        etag: ev.etag(),
    }
}

fn insert(st: &mut State, mbx: usize, mut ev: Event) -> Arc<Event> {
    ev.finish();
    let id = ev.id.clone();
    let arc = Arc::new(ev);
    let m = &mut st.mailboxes[mbx];
    if arc.kind != Kind::Exception {
        m.by_uid.insert(arc.ical_uid.clone(), id.clone());
    }
    m.events.insert(id.clone(), arc.clone());
    st.log_change(mbx, &id);
    arc
}

fn remove(st: &mut State, mbx: usize, id: &str) -> Option<Arc<Event>> {
    let m = &mut st.mailboxes[mbx];
    let ev = m.events.remove(id)?;
    if ev.kind != Kind::Exception && m.by_uid.get(&ev.ical_uid).map(String::as_str) == Some(id) {
        m.by_uid.remove(&ev.ical_uid);
    }
    if ev.kind == Kind::SeriesMaster {
        for ts in &ev.exceptions {
            if let Some(orig) = DateTime::from_timestamp(*ts, 0) {
                m.events.remove(&wire::make_occurrence_id(&ev.key, orig));
            }
        }
    }
    st.log_change(mbx, id);
    Some(ev)
}

/// Create an event in mailbox `mbx` as its owner (the organizer).
pub fn create(st: &mut State, mbx: usize, body: &Value, ctx: &Ctx) -> Result<(Arc<Event>, Vec<Change>), GraphError> {
    let input = input::parse(body)?;
    if let Some(tx) = &input.transaction_id
        && let Some(existing) = st.mailboxes[mbx]
            .events
            .values()
            .find(|e| e.props.get("transactionId").and_then(Value::as_str) == Some(tx.as_str()))
    {
        return Ok((existing.clone(), Vec::new()));
    }
    let (Some(start), Some(end)) = (input.start.clone(), input.end.clone()) else {
        return Err(GraphError::new(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. An event must have a start and an end.",
        ));
    };
    let key: [u8; 16] = rand::random();
    let seq = st.next_seq();
    let m = &st.mailboxes[mbx];
    let mut props = default_props();
    for (k, v) in &input.props {
        props.insert(k.clone(), v.clone());
    }
    let recurrence = match &input.recurrence {
        Some(Some(r)) => Some(input::parse_recurrence(r, &start.1)?),
        _ => None,
    };
    let m_name = m.display_name.clone();
    let m_mail = m.mail.clone();
    let tenant = m.tenant_id.clone();
    let mut ev = Event {
        key,
        id: wire::make_item_id(&key),
        seq,
        kind: if recurrence.is_some() {
            Kind::SeriesMaster
        } else {
            Kind::SingleInstance
        },
        master_id: None,
        original_start: None,
        ical_uid: wire::ical_uid(&key, None),
        change_key: wire::new_change_key(),
        created: ctx.now,
        modified: ctx.now,
        start: start.0,
        start_tz: start.1,
        end: end.0,
        end_tz: end.1,
        recurrence,
        deleted_occurrences: BTreeSet::new(),
        exceptions: BTreeSet::new(),
        is_cancelled: false,
        is_organizer: true,
        organizer_name: m_name,
        organizer_address: m_mail,
        response: "organizer".into(),
        response_time: None,
        props,
        ext: Vec::new(),
        multi_ext: Vec::new(),
        copies: Vec::new(),
        preview: String::new(),
        rendered: Default::default(),
    };
    merge_ext(&mut ev, &input);
    validate_times(&ev)?;
    apply_online_meeting(&mut ev, &input, false);
    mark_rooms_accepted(st, &tenant, &mut ev, ctx.now);
    let arc = insert(st, mbx, ev);
    let mut changes = vec![change(mbx, &arc, ChangeType::Created)];
    sync_copies(st, mbx, &arc.id, ctx, &mut changes);
    let arc = st.mailboxes[mbx].events.get(&arc.id).cloned().unwrap_or(arc);
    Ok((arc, changes))
}

/// Apply a validated PATCH to a stored item.
fn apply(
    st: &State,
    tenant: &str,
    ev: &mut Event,
    input: &EventInput,
    ctx: &Ctx,
    occurrence: bool,
) -> Result<bool, GraphError> {
    let was_online = ev
        .props
        .get("isOnlineMeeting")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut timing_changed = false;
    if let Some((t, z)) = &input.start {
        timing_changed |= ev.start != *t || ev.start_tz != *z;
        ev.start = *t;
        ev.start_tz = z.clone();
    }
    if let Some((t, z)) = &input.end {
        timing_changed |= ev.end != *t || ev.end_tz != *z;
        ev.end = *t;
        ev.end_tz = z.clone();
    }
    if let Some(r) = &input.recurrence {
        if occurrence {
            return Err(GraphError::new(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. The recurrence of an occurrence cannot be changed.",
            ));
        }
        match r {
            Some(rv) => {
                let rec = input::parse_recurrence(rv, &ev.start_tz)?;
                timing_changed |= ev.recurrence.as_ref() != Some(&rec);
                ev.recurrence = Some(rec);
                ev.kind = Kind::SeriesMaster;
            }
            None => {
                timing_changed |= ev.recurrence.is_some();
                ev.recurrence = None;
                if ev.kind == Kind::SeriesMaster {
                    ev.kind = Kind::SingleInstance;
                }
            }
        }
    }
    for (k, v) in &input.props {
        if was_online && (k == "isOnlineMeeting" || k == "onlineMeetingProvider") {
            continue;
        }
        if k == "transactionId" && ev.props.get("transactionId").is_some_and(|x| !x.is_null()) {
            continue;
        }
        ev.props.insert(k.clone(), v.clone());
    }
    merge_ext(ev, input);
    validate_times(ev)?;
    apply_online_meeting(ev, input, was_online);
    if input.attendees_given {
        mark_rooms_accepted(st, tenant, ev, ctx.now);
    }
    ev.change_key = wire::new_change_key();
    ev.modified = ctx.now;
    Ok(timing_changed)
}

/// The neighbouring occurrences of `original` must stay on their own days.
fn check_boundary(
    m: &Mailbox,
    master: &Arc<Event>,
    original: DateTime<Utc>,
    new_start: DateTime<Utc>,
    cfg: &EmulatorConfig,
) -> Result<(), GraphError> {
    let Some(r) = &master.recurrence else { return Ok(()) };
    let rtz = rec_tz(r);
    let span = Duration::days(400);
    let around = expand(m, master, original - span, original + span, cfg);
    let orig_ts = original.timestamp();
    let pos = around
        .iter()
        .position(|i| i.original_start.map(|o| o.timestamp()) == Some(orig_ts));
    let Some(pos) = pos else { return Ok(()) };
    let new_day = tz::utc_to_local(&rtz, new_start).date();
    let err = || {
        GraphError::new(
            400,
            "ErrorOccurrenceCrossingBoundary",
            "An occurrence of a recurring series can't be moved to or past the day of an adjacent occurrence.",
        )
    };
    if pos > 0 && tz::utc_to_local(&rtz, around[pos - 1].start).date() >= new_day {
        return Err(err());
    }
    if pos + 1 < around.len() && tz::utc_to_local(&rtz, around[pos + 1].start).date() <= new_day {
        return Err(err());
    }
    Ok(())
}

/// Make the stored exception for an occurrence (a copy of the master at that date).
fn materialise(master: &Event, original: DateTime<Utc>, date: NaiveDate, ctx: &Ctx) -> Event {
    let dur_start_tz = tz::resolve(&master.start_tz).unwrap_or(chrono_tz::Tz::UTC);
    let dur_end_tz = tz::resolve(&master.end_tz).unwrap_or(chrono_tz::Tz::UTC);
    let dur = master.end_utc() - master.start_utc();
    let mut ex = master.clone();
    ex.id = wire::make_occurrence_id(&master.key, original);
    ex.kind = Kind::Exception;
    ex.master_id = Some(master.id.clone());
    ex.original_start = Some(original);
    ex.ical_uid = wire::ical_uid(&master.key, Some(date));
    ex.start = tz::utc_to_local(&dur_start_tz, original);
    ex.end = tz::utc_to_local(&dur_end_tz, original + dur);
    ex.recurrence = None;
    ex.deleted_occurrences.clear();
    ex.exceptions.clear();
    ex.copies.clear();
    ex.created = ctx.now;
    ex
}

/// Changes reported for an occurrence write: the master (as Graph is observed to do) and,
/// if configured, the occurrence itself.
fn occurrence_changes(
    mbx: usize,
    master: &Event,
    occ_id: &str,
    occ_etag: &str,
    t: ChangeType,
    cfg: &EmulatorConfig,
) -> Vec<Change> {
    let mut v = vec![change(mbx, master, ChangeType::Updated)];
    if !cfg.occurrence_notifies_master_only {
        v.push(Change {
            mailbox: mbx,
            event_id: occ_id.to_string(),
            change_type: t,
            etag: occ_etag.to_string(),
        });
    }
    v
}

/// PATCH an event, an occurrence (making an exception) or an exception.
pub fn patch(
    st: &mut State,
    mbx: usize,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    ctx: &Ctx,
) -> Result<(Instance, Vec<Change>), GraphError> {
    let input = input::parse(body)?;
    let target = resolve(&st.mailboxes[mbx], id, ctx.cfg)?;
    let tenant = st.mailboxes[mbx].tenant_id.clone();
    match target {
        Target::Item(ev) if ev.kind != Kind::Exception => {
            check_if_match(if_match, &ev.change_key)?;
            let mut new = (*ev).clone();
            let timing_changed = apply(st, &tenant, &mut new, &input, ctx, false)?;
            if timing_changed && ev.kind == Kind::SeriesMaster {
                // Exchange drops exceptions and deletions when a series' timing changes.
                let m = &mut st.mailboxes[mbx];
                for ts in &new.exceptions {
                    if let Some(orig) = DateTime::from_timestamp(*ts, 0) {
                        m.events.remove(&wire::make_occurrence_id(&new.key, orig));
                    }
                }
                new.exceptions.clear();
                new.deleted_occurrences.clear();
            }
            let arc = insert(st, mbx, new);
            let mut changes = vec![change(mbx, &arc, ChangeType::Updated)];
            sync_copies(st, mbx, &arc.id, ctx, &mut changes);
            Ok((Instance::of_item(&arc), changes))
        }
        Target::Item(ex) => {
            let master_id = ex.master_id.clone().unwrap_or_default();
            let master = st.mailboxes[mbx]
                .events
                .get(&master_id)
                .cloned()
                .ok_or_else(GraphError::item_not_found)?;
            check_if_match(if_match, &ex.change_key)?;
            let mut new = (*ex).clone();
            apply(st, &tenant, &mut new, &input, ctx, true)?;
            if let Some(orig) = ex.original_start
                && input.start.is_some()
            {
                check_boundary(&st.mailboxes[mbx], &master, orig, new.start_utc(), ctx.cfg)?;
            }
            let arc = insert(st, mbx, new);
            // Exchange keeps exceptions inside their master item: the master changes too.
            let mut m2 = (*master).clone();
            m2.change_key = wire::new_change_key();
            m2.modified = ctx.now;
            let master = Arc::new(m2);
            st.mailboxes[mbx].events.insert(master.id.clone(), master.clone());
            st.log_change(mbx, &master_id);
            let mut changes = occurrence_changes(mbx, &master, &arc.id, &arc.etag(), ChangeType::Updated, ctx.cfg);
            sync_copies(st, mbx, &master_id, ctx, &mut changes);
            Ok((Instance::of_item(&arc), changes))
        }
        Target::Occurrence { master, original, date } => {
            check_if_match(if_match, &master.change_key)?;
            let mut ex = materialise(&master, original, date, ctx);
            apply(st, &tenant, &mut ex, &input, ctx, true)?;
            if input.start.is_some() {
                check_boundary(&st.mailboxes[mbx], &master, original, ex.start_utc(), ctx.cfg)?;
            }
            let arc = insert(st, mbx, ex);
            let mut m2 = (*master).clone();
            m2.exceptions.insert(original.timestamp());
            // Exchange keeps exceptions inside their master item: the master changes too.
            m2.change_key = wire::new_change_key();
            m2.modified = ctx.now;
            let master_arc = Arc::new(m2);
            st.mailboxes[mbx]
                .events
                .insert(master_arc.id.clone(), master_arc.clone());
            st.log_change(mbx, &master_arc.id);
            let mut changes = occurrence_changes(mbx, &master_arc, &arc.id, &arc.etag(), ChangeType::Updated, ctx.cfg);
            sync_copies(st, mbx, &master_arc.id, ctx, &mut changes);
            Ok((Instance::of_item(&arc), changes))
        }
    }
}

/// DELETE an event (a whole series for a master) or one occurrence.
pub fn delete(
    st: &mut State,
    mbx: usize,
    id: &str,
    if_match: Option<&str>,
    ctx: &Ctx,
) -> Result<Vec<Change>, GraphError> {
    let target = resolve(&st.mailboxes[mbx], id, ctx.cfg)?;
    match target {
        Target::Item(ev) if ev.kind != Kind::Exception => {
            check_if_match(if_match, &ev.change_key)?;
            remove(st, mbx, &ev.id);
            let mut changes = vec![change(mbx, &ev, ChangeType::Deleted)];
            if ev.is_organizer {
                for copy_mbx in ev.copies.clone() {
                    if let Some(i) = st.mailbox_index(&copy_mbx) {
                        cancel_copy(st, i, &ev.ical_uid, ctx, &mut changes);
                    }
                }
            }
            Ok(changes)
        }
        Target::Item(ex) => {
            check_if_match(if_match, &ex.change_key)?;
            let master_id = ex.master_id.clone().unwrap_or_default();
            let orig = ex.original_start.ok_or_else(GraphError::item_not_found)?;
            delete_occurrence(st, mbx, &master_id, orig, &ex.id, &ex.etag(), ctx)
        }
        Target::Occurrence { master, original, .. } => {
            check_if_match(if_match, &master.change_key)?;
            let occ_id = wire::make_occurrence_id(&master.key, original);
            delete_occurrence(st, mbx, &master.id, original, &occ_id, &master.etag(), ctx)
        }
    }
}

fn delete_occurrence(
    st: &mut State,
    mbx: usize,
    master_id: &str,
    original: DateTime<Utc>,
    occ_id: &str,
    occ_etag: &str,
    ctx: &Ctx,
) -> Result<Vec<Change>, GraphError> {
    let master = st.mailboxes[mbx]
        .events
        .get(master_id)
        .cloned()
        .ok_or_else(GraphError::item_not_found)?;
    let mut m2 = (*master).clone();
    m2.exceptions.remove(&original.timestamp());
    m2.deleted_occurrences.insert(original.timestamp());
    m2.change_key = wire::new_change_key();
    m2.modified = ctx.now;
    st.mailboxes[mbx].events.remove(occ_id);
    st.log_change(mbx, occ_id);
    let arc = insert(st, mbx, m2);
    let mut changes = occurrence_changes(mbx, &arc, occ_id, occ_etag, ChangeType::Deleted, ctx.cfg);
    sync_copies(st, mbx, master_id, ctx, &mut changes);
    Ok(changes)
}

/// The organizer cancels a meeting (or one occurrence): attendees' copies are cancelled and
/// the organizer's item removed.
pub fn cancel(st: &mut State, mbx: usize, id: &str, ctx: &Ctx) -> Result<Vec<Change>, GraphError> {
    let target = resolve(&st.mailboxes[mbx], id, ctx.cfg)?;
    let organizer = match &target {
        Target::Item(ev) => ev.is_organizer,
        Target::Occurrence { master, .. } => master.is_organizer,
    };
    if !organizer {
        return Err(GraphError::new(
            400,
            "ErrorAccessDenied",
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
        ));
    }
    delete(st, mbx, id, None, ctx)
}

/// An attendee answers: accept, tentativelyAccept or decline.
pub fn respond(st: &mut State, mbx: usize, id: &str, response: &str, ctx: &Ctx) -> Result<Vec<Change>, GraphError> {
    let target = resolve(&st.mailboxes[mbx], id, ctx.cfg)?;
    let ev = match target {
        Target::Item(ev) => ev,
        Target::Occurrence { master, .. } => master,
    };
    if ev.is_organizer {
        return Err(GraphError::new(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. You can't respond to this meeting because you're the meeting organizer.",
        ));
    }
    let mut new = (*ev).clone();
    new.response = response.to_string();
    new.response_time = Some(ctx.now);
    new.props.insert(
        "showAs".into(),
        json!(match response {
            "accepted" => "busy",
            "declined" => "free",
            _ => "tentative",
        }),
    );
    new.change_key = wire::new_change_key();
    new.modified = ctx.now;
    let arc = insert(st, mbx, new);
    let mut changes = vec![change(mbx, &arc, ChangeType::Updated)];
    // The organizer's item records the answer.
    let me = st.mailboxes[mbx].mail.to_ascii_lowercase();
    let org = arc.organizer_address.clone();
    if let Some(oi) = st.mailbox_index(&org)
        && let Some(org_id) = st.mailboxes[oi].by_uid.get(&arc.ical_uid).cloned()
        && let Some(org_ev) = st.mailboxes[oi].events.get(&org_id).cloned()
    {
        let mut o2 = (*org_ev).clone();
        if let Some(Value::Array(list)) = o2.props.get_mut("attendees") {
            for a in list.iter_mut() {
                if a["emailAddress"]["address"].as_str().map(str::to_ascii_lowercase) == Some(me.clone()) {
                    a["status"] = json!({"response": response, "time": wire::fmt_utc(ctx.now)});
                }
            }
        }
        o2.change_key = wire::new_change_key();
        o2.modified = ctx.now;
        let oarc = insert(st, oi, o2);
        changes.push(change(oi, &oarc, ChangeType::Updated));
    }
    Ok(changes)
}

const MEETING_FIELDS: &[&str] = &[
    "subject",
    "body",
    "location",
    "locations",
    "attendees",
    "isAllDay",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "onlineMeeting",
    "importance",
    "sensitivity",
    "hideAttendees",
    "responseRequested",
    "allowNewTimeProposals",
];

/// Attendee mailboxes (same tenant, not the organizer) of an organizer's item.
fn attendee_mailboxes(st: &State, org_mbx: usize, ev: &Event) -> Vec<usize> {
    let tenant = &st.mailboxes[org_mbx].tenant_id;
    let mut out = Vec::new();
    if let Some(Value::Array(list)) = ev.props.get("attendees") {
        for a in list {
            let addr = a["emailAddress"]["address"].as_str().unwrap_or("");
            if let Some(i) = st.mailbox_index(&addr.to_ascii_lowercase())
                && i != org_mbx
                && st.mailboxes[i].tenant_id == *tenant
                && !out.contains(&i)
            {
                out.push(i);
            }
        }
    }
    out
}

fn copy_fields(from: &Event, to: &mut Event) {
    for k in MEETING_FIELDS {
        if let Some(v) = from.props.get(*k) {
            to.props.insert((*k).to_string(), v.clone());
        }
    }
    to.start = from.start;
    to.start_tz = from.start_tz.clone();
    to.end = from.end;
    to.end_tz = from.end_tz.clone();
    to.recurrence = from.recurrence.clone();
    to.kind = from.kind;
}

fn cancelled_subject(s: &str) -> String {
    if s.starts_with("Canceled: ") {
        s.to_string()
    } else {
        format!("Canceled: {s}")
    }
}

/// Bring every attendee's copy of the organizer's item `id` in line with it.
pub fn sync_copies(st: &mut State, org_mbx: usize, id: &str, ctx: &Ctx, changes: &mut Vec<Change>) {
    let Some(org) = st.mailboxes[org_mbx].events.get(id).cloned() else {
        return;
    };
    if !org.is_organizer || org.kind == Kind::Exception {
        return;
    }
    let targets = attendee_mailboxes(st, org_mbx, &org);
    if targets.is_empty() && org.copies.is_empty() {
        return;
    }
    let mut new_copies = Vec::new();
    for t in &targets {
        upsert_copy(st, *t, &org, ctx, changes);
        new_copies.push(st.mailboxes[*t].id.clone());
    }
    for old in &org.copies {
        if !new_copies.contains(old)
            && let Some(i) = st.mailbox_index(old)
        {
            cancel_copy(st, i, &org.ical_uid, ctx, changes);
        }
    }
    if new_copies != org.copies {
        let mut o2 = (*org).clone();
        o2.copies = new_copies;
        st.mailboxes[org_mbx].events.insert(o2.id.clone(), Arc::new(o2));
    }
}

fn upsert_copy(st: &mut State, t: usize, org: &Arc<Event>, ctx: &Ctx, changes: &mut Vec<Change>) {
    let is_room = st.mailboxes[t].is_room;
    let existing = st.mailboxes[t]
        .by_uid
        .get(&org.ical_uid)
        .and_then(|id| st.mailboxes[t].events.get(id))
        .cloned();
    let (mut copy, created) = match &existing {
        Some(e) => ((**e).clone(), false),
        None => {
            let key: [u8; 16] = rand::random();
            let seq = st.next_seq();
            let mut props = default_props();
            props.insert("showAs".into(), json!(if is_room { "busy" } else { "tentative" }));
            (
                Event {
                    key,
                    id: wire::make_item_id(&key),
                    seq,
                    kind: org.kind,
                    master_id: None,
                    original_start: None,
                    ical_uid: org.ical_uid.clone(),
                    change_key: String::new(),
                    created: ctx.now,
                    modified: ctx.now,
                    start: org.start,
                    start_tz: org.start_tz.clone(),
                    end: org.end,
                    end_tz: org.end_tz.clone(),
                    recurrence: None,
                    deleted_occurrences: BTreeSet::new(),
                    exceptions: BTreeSet::new(),
                    is_cancelled: false,
                    is_organizer: false,
                    organizer_name: org.organizer_name.clone(),
                    organizer_address: org.organizer_address.clone(),
                    response: if is_room {
                        "accepted".into()
                    } else {
                        "notResponded".into()
                    },
                    response_time: if is_room { Some(ctx.now) } else { None },
                    props,
                    ext: Vec::new(),
                    multi_ext: Vec::new(),
                    copies: Vec::new(),
                    preview: String::new(),
                    rendered: Default::default(),
                },
                true,
            )
        }
    };
    if let Some(e) = &existing
        && in_line(org, e)
    {
        // Nothing a meeting update would carry changed (e.g. the organizer's own extended
        // properties): Exchange sends no update, the copy stays as it is.
        return;
    }
    copy_fields(org, &mut copy);
    copy.is_cancelled = false;
    copy.change_key = wire::new_change_key();
    copy.modified = ctx.now;
    // Mirror the series' exceptions and deletions.
    let m = &mut st.mailboxes[t];
    for ts in &copy.exceptions {
        if let Some(orig) = DateTime::from_timestamp(*ts, 0) {
            m.events.remove(&wire::make_occurrence_id(&copy.key, orig));
        }
    }
    copy.exceptions.clear();
    copy.deleted_occurrences.clear();
    let mut exception_items = Vec::new();
    if org.kind == Kind::SeriesMaster {
        let org_m = st
            .mailboxes
            .iter()
            .find(|mb| mb.events.get(&org.id).is_some_and(|e| Arc::ptr_eq(e, org)));
        for ts in &org.exceptions {
            let Some(orig) = DateTime::from_timestamp(*ts, 0) else {
                continue;
            };
            let org_ex = org_m.and_then(|mb| mb.events.get(&wire::make_occurrence_id(&org.key, orig)).cloned());
            if let Some(org_ex) = org_ex {
                let mut ex = (*org_ex).clone();
                ex.key = copy.key;
                ex.id = wire::make_occurrence_id(&copy.key, orig);
                ex.master_id = Some(copy.id.clone());
                ex.is_organizer = false;
                ex.response = copy.response.clone();
                ex.response_time = copy.response_time;
                ex.ext.clear();
                ex.multi_ext.clear();
                ex.copies.clear();
                ex.change_key = wire::new_change_key();
                copy.exceptions.insert(*ts);
                exception_items.push(ex);
            }
        }
        for ts in &org.deleted_occurrences {
            let Some(orig) = DateTime::from_timestamp(*ts, 0) else {
                continue;
            };
            if is_room {
                copy.deleted_occurrences.insert(*ts);
            } else if let Some(date) = copy
                .recurrence
                .as_ref()
                .map(|r| tz::utc_to_local(&rec_tz(r), orig).date())
            {
                let mut ex = materialise(&copy, orig, date, ctx);
                ex.is_cancelled = true;
                let subj = cancelled_subject(ex.subject());
                ex.props.insert("subject".into(), json!(subj));
                ex.change_key = wire::new_change_key();
                copy.exceptions.insert(*ts);
                exception_items.push(ex);
            }
        }
    }
    let arc = insert(st, t, copy);
    for mut ex in exception_items {
        ex.finish();
        let id = ex.id.clone();
        st.mailboxes[t].events.insert(id, Arc::new(ex));
    }
    changes.push(change(
        t,
        &arc,
        if created {
            ChangeType::Created
        } else {
            ChangeType::Updated
        },
    ));
}

/// Attendees by address and type (their answers are the organizer's bookkeeping).
fn invitees(ev: &Event) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ev
        .props
        .get("attendees")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["emailAddress"]["address"].as_str().unwrap_or("").to_ascii_lowercase(),
                        x["type"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Is an attendee's copy already in line with the organizer's item?
fn in_line(org: &Event, copy: &Event) -> bool {
    !copy.is_cancelled
        && org.exceptions.is_empty()
        && org.deleted_occurrences.is_empty()
        && copy.exceptions.is_empty()
        && copy.deleted_occurrences.is_empty()
        && org.start == copy.start
        && org.start_tz == copy.start_tz
        && org.end == copy.end
        && org.end_tz == copy.end_tz
        && org.recurrence == copy.recurrence
        && org.kind == copy.kind
        && invitees(org) == invitees(copy)
        && MEETING_FIELDS
            .iter()
            .filter(|k| **k != "attendees")
            .all(|k| org.props.get(*k) == copy.props.get(*k))
}

/// The organizer cancelled (or removed the attendee): rooms drop the item, people keep it
/// marked cancelled.
fn cancel_copy(st: &mut State, t: usize, ical_uid: &str, ctx: &Ctx, changes: &mut Vec<Change>) {
    let Some(id) = st.mailboxes[t].by_uid.get(ical_uid).cloned() else {
        return;
    };
    let Some(ev) = st.mailboxes[t].events.get(&id).cloned() else {
        return;
    };
    if st.mailboxes[t].is_room {
        remove(st, t, &id);
        changes.push(change(t, &ev, ChangeType::Deleted));
        return;
    }
    let mut c = (*ev).clone();
    c.is_cancelled = true;
    let subj = cancelled_subject(c.subject());
    c.props.insert("subject".into(), json!(subj));
    c.change_key = wire::new_change_key();
    c.modified = ctx.now;
    let arc = insert(st, t, c);
    changes.push(change(t, &arc, ChangeType::Updated));
}

/// The id of the occurrence of `master` on local `date` (in the series' zone), if any.
pub fn occurrence_id_on(
    m: &Mailbox,
    master_id: &str,
    date: NaiveDate,
    cfg: &EmulatorConfig,
) -> Result<String, GraphError> {
    let master = m.events.get(master_id).ok_or_else(GraphError::item_not_found)?;
    let r = master.recurrence.as_ref().ok_or_else(GraphError::item_not_found)?;
    let orig = occurrence_start(master, r, date);
    is_occurrence(master, orig, cfg).ok_or_else(GraphError::item_not_found)?;
    Ok(wire::make_occurrence_id(&master.key, orig))
}

/// Give a single item a new id, as a move between folders does in Exchange.
pub fn rekey(st: &mut State, mbx: usize, id: &str, ctx: &Ctx) -> Result<(Arc<Event>, Vec<Change>), GraphError> {
    let ev = st.mailboxes[mbx]
        .events
        .get(id)
        .cloned()
        .ok_or_else(GraphError::item_not_found)?;
    if ev.kind != Kind::SingleInstance {
        return Err(GraphError::new(
            400,
            "ErrorInvalidRequest",
            "Only single events can be moved to a new id.",
        ));
    }
    remove(st, mbx, id);
    let key: [u8; 16] = rand::random();
    let mut n = (*ev).clone();
    n.key = key;
    n.id = wire::make_item_id(&key);
    n.change_key = wire::new_change_key();
    n.modified = ctx.now;
    let arc = insert(st, mbx, n);
    Ok((
        arc.clone(),
        vec![
            change(mbx, &ev, ChangeType::Deleted),
            change(mbx, &arc, ChangeType::Created),
        ],
    ))
}
