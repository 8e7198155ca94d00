//! What a mailbox does with Graph, as plain async functions over a snapshot
//! of what it knows: turning inbox entries into calendar events (one GET per
//! distinct change; none for duplicates and echoes, which carry an etag the
//! mailbox already holds), and calendarView delta rounds (initial sync,
//! resync after a gap, the daily slide of the window).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use hcal_joinlink::Detector;
use hcal_schemas::aggregate::mailbox::{MailboxState, Window};
use hcal_schemas::events::mailbox::*;
use hcal_schemas::{ChangeKey, MailboxEvent, Timestamp};
use tracing::warn;

use super::convert::{self, ConvertError};
use crate::graph::{DeltaItem, GraphClient, GraphError};
use crate::inbox::{ChangeType, InboxItem, Pending};
use crate::keys::StreamSealer;

#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("log: {0}")]
    Log(#[from] crate::log::LogError),
    #[error("Graph: {0}")]
    Graph(#[from] GraphError),
    #[error("event conversion: {0}")]
    Convert(#[from] ConvertError),
    #[error("sealing: {0}")]
    Seal(String),
}

impl WorkError {
    pub fn code(&self) -> String {
        match self {
            WorkError::Graph(g) => g.code().unwrap_or("graph_error").to_string(),
            WorkError::Convert(_) => "bad_event".into(),
            WorkError::Seal(_) => "sealing".into(),
            WorkError::Log(_) => "storage".into(),
        }
    }
}

/// Who a mailbox is at Graph, and how its events are sealed and read.
#[derive(Clone)]
pub struct Mailbox {
    pub graph: GraphClient,
    pub tenant: Arc<str>,
    pub address: Arc<str>,
    pub detector: Arc<Detector>,
    pub sealer: StreamSealer,
}

/// What a mailbox holds of one meeting, enough to decide without its content.
#[derive(Clone, Debug)]
pub struct Known {
    pub change_key: ChangeKey,
    pub last_modified: Timestamp,
    pub kind: EventKind,
    pub series_master_id: Option<String>,
}

pub fn known(state: &MailboxState) -> HashMap<String, Known> {
    state
        .meetings
        .values()
        .map(|m| {
            (
                m.id.to_string(),
                Known {
                    change_key: m.change_key.clone(),
                    last_modified: m.last_modified,
                    kind: m.kind,
                    series_master_id: m.series_master_id.as_ref().map(|s| s.to_string()),
                },
            )
        })
        .collect()
}

/// `W/"<changeKey>"` -> `<changeKey>`.
fn etag_key(etag: &str) -> &str {
    etag.trim().trim_start_matches("W/").trim_matches('"')
}

/// The events one fetched Graph event means, given what is known.
async fn absorb(
    mb: &Mailbox,
    ev: hcal_schemas::graph::Event,
    known: &HashMap<String, Known>,
    window: Window,
    events: &mut Vec<MailboxEvent>,
    fetched_masters: &mut HashSet<String>,
) -> Result<(), WorkError> {
    let record = convert::record(&ev, &mb.detector, &mb.sealer)?;
    let id = record.id.to_string();
    let unchanged = known.get(&id).is_some_and(|k| k.change_key == record.change_key);
    let is_master = record.kind == EventKind::SeriesMaster;
    let master_of = record.series_master_id.as_ref().map(|s| s.to_string());
    let relevant = is_master || window.overlaps(record.start, record.end) || known.contains_key(&id);
    if !unchanged && relevant {
        events.push(CalendarEventUpserted { meeting: record }.into());
    }
    if is_master {
        let instances = mb
            .graph
            .list_instances(&mb.tenant, &mb.address, &id, window.start, window.end)
            .await?;
        let mut records = Vec::with_capacity(instances.len());
        for i in instances.iter().filter(|i| convert::is_complete(i)) {
            records.push(convert::record(i, &mb.detector, &mb.sealer)?);
        }
        fetched_masters.insert(id.clone());
        // Nothing to record when the series' instances are what the mailbox holds.
        let held: HashMap<&str, &ChangeKey> = known
            .iter()
            .filter(|(_, k)| k.series_master_id.as_deref() == Some(id.as_str()))
            .map(|(i, k)| (i.as_str(), &k.change_key))
            .collect();
        let same = held.len() == records.len()
            && records
                .iter()
                .all(|r| held.get(r.id.to_string().as_str()) == Some(&&r.change_key));
        if !same {
            let refreshed = InstancesRefreshed {
                series_master_id: id,
                from: window.start,
                to: window.end,
                instances: records,
            };
            events.push(refreshed.into());
        }
    } else if let Some(master) = master_of
        && !known.contains_key(&master)
        && fetched_masters.insert(master.clone())
    {
        // An occurrence of a series hcal has not seen: its master carries the series' keyword and content.
        match mb.graph.get_event(&mb.tenant, &mb.address, &master).await {
            Ok(m) if convert::is_complete(&m) => events.push(
                CalendarEventUpserted {
                    meeting: convert::record(&m, &mb.detector, &mb.sealer)?,
                }
                .into(),
            ),
            Ok(_) | Err(GraphError::ItemNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Outcome of one round over the inbox.
pub struct Processed {
    pub events: Vec<MailboxEvent>,
    /// Entries whose consequences are in `events` (or that needed none).
    pub retired: Vec<Pending>,
    pub gets: u32,
    pub coalesced: u32,
}

/// Turns waiting inbox entries into calendar events.
pub async fn process(
    mb: &Mailbox,
    pending: Vec<Pending>,
    known: &HashMap<String, Known>,
    window: Window,
) -> Result<Processed, WorkError> {
    let mut by_event: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
    let mut retired = Vec::new();
    for p in pending {
        match &p.item {
            InboxItem::Change { event_id, .. } => by_event.entry(event_id.clone()).or_default().push(p),
            InboxItem::Lifecycle { .. } => retired.push(p),
        }
    }
    let mut events = Vec::new();
    let mut gets = 0;
    let mut coalesced = 0;
    let mut masters = HashSet::new();
    for (event_id, entries) in by_event {
        let all_deleted = entries.iter().all(|p| {
            matches!(
                &p.item,
                InboxItem::Change {
                    change_type: ChangeType::Deleted,
                    ..
                }
            )
        });
        let have = known.get(&event_id).map(|k| &k.change_key);
        // A series master is read again whatever its etag: Graph may announce an
        // occurrence's change on the master alone, so only its instances tell.
        let is_master = known.get(&event_id).is_some_and(|k| k.kind == EventKind::SeriesMaster);
        let all_known = !is_master
            && entries.iter().all(|p| match &p.item {
                InboxItem::Change { etag: Some(e), .. } => have.is_some_and(|k| *k == *etag_key(e)),
                _ => false,
            });
        if all_deleted {
            if known.contains_key(&event_id) {
                events.push(CalendarEventDeleted { event_id }.into());
            }
        } else if all_known {
            // A duplicate, or the echo of hcal's own write: nothing new to read.
            coalesced += entries.len() as u32;
        } else {
            gets += 1;
            match mb.graph.get_event(&mb.tenant, &mb.address, &event_id).await {
                Ok(ev) => absorb(mb, ev, known, window, &mut events, &mut masters).await?,
                Err(GraphError::ItemNotFound { .. }) => {
                    if known.contains_key(&event_id) {
                        events.push(CalendarEventDeleted { event_id }.into());
                    }
                }
                // An id Graph calls malformed names no event, now or later: retrying it
                // would hold up every notification behind it.
                Err(GraphError::BadRequest { code, .. }) if code.eq_ignore_ascii_case("ErrorInvalidIdMalformed") => {
                    warn!(entries = entries.len(), "notification for a malformed event id dropped");
                    metrics::counter!("hcal_notifications_dropped_total", "reason" => "malformed_id")
                        .increment(entries.len() as u64);
                }
                Err(e) => return Err(e.into()),
            }
        }
        retired.extend(entries);
    }
    Ok(Processed {
        events,
        retired,
        gets,
        coalesced,
    })
}

/// How far Graph's clock and the node's may disagree.
const CLOCK_SKEW_MS: i64 = 10 * 60_000;

/// Outcome of a delta round.
pub struct Synced {
    pub events: Vec<MailboxEvent>,
    pub full: bool,
}

/// One calendarView delta round: from `cursor` if there is one (and `full`
/// is not asked for), else over `window` from the start. A full round also
/// drops what it did not see (gone, or out of the window).
///
/// A round continued from a cursor reports what changed since the cursor's
/// round, but not the deletion of a meeting created after it: one the
/// mailbox learnt of from a notification, whose deletion notice was lost in
/// the gap. So every meeting modified since the cursor (with a margin for
/// clock skew) that the round did not mention is read again.
pub async fn sync(
    mb: &Mailbox,
    cursor: Option<(String, Timestamp)>,
    window: Window,
    full: bool,
    known: &HashMap<String, Known>,
    locale: Option<&str>,
) -> Result<Synced, WorkError> {
    let cursor_at = cursor.as_ref().map(|(_, at)| *at);
    let cursor = cursor.map(|(link, _)| link);
    let (round, full) = match cursor.filter(|_| !full) {
        Some(link) => match mb
            .graph
            .calendar_view_delta_continue(&mb.tenant, &mb.address, &link)
            .await
        {
            Ok(r) => (r, false),
            Err(GraphError::DeltaReset { .. } | GraphError::SyncStateNotFound { .. }) => (
                mb.graph
                    .calendar_view_delta(&mb.tenant, &mb.address, window.start, window.end)
                    .await?,
                true,
            ),
            Err(e) => return Err(e.into()),
        },
        None => (
            mb.graph
                .calendar_view_delta(&mb.tenant, &mb.address, window.start, window.end)
                .await?,
            true,
        ),
    };
    let mut events = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut masters = HashSet::new();
    // The same item may come more than once in a round; the last one counts.
    let mut latest: BTreeMap<String, DeltaItem> = BTreeMap::new();
    for item in round.items {
        let id = match &item {
            DeltaItem::Upserted(e) => e.id.clone(),
            DeltaItem::Removed { id } => Some(id.clone()),
        };
        if let Some(id) = id {
            latest.insert(id, item);
        }
    }
    let mentioned: HashSet<String> = latest.keys().cloned().collect();
    for (id, item) in latest {
        match item {
            DeltaItem::Removed { .. } => {
                if known.contains_key(&id) {
                    events.push(CalendarEventDeleted { event_id: id }.into());
                }
            }
            DeltaItem::Upserted(ev) => {
                seen.insert(id.clone());
                let ev = if convert::is_complete(&ev) {
                    ev
                } else {
                    match mb.graph.get_event(&mb.tenant, &mb.address, &id).await {
                        Ok(e) => e,
                        Err(GraphError::ItemNotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                };
                absorb(mb, ev, known, window, &mut events, &mut masters).await?;
            }
        }
    }
    if full {
        for (id, k) in known {
            if k.kind != EventKind::SeriesMaster && !seen.contains(id) {
                events.push(CalendarEventDeleted { event_id: id.clone() }.into());
            }
        }
    } else if let Some(at) = cursor_at {
        let since = at.plus_millis(-CLOCK_SKEW_MS);
        let unconfirmed: Vec<&String> = known
            .iter()
            .filter(|(id, k)| k.kind != EventKind::SeriesMaster && k.last_modified >= since && !mentioned.contains(*id))
            .map(|(id, _)| id)
            .collect();
        for id in unconfirmed {
            match mb.graph.get_event(&mb.tenant, &mb.address, id).await {
                Ok(ev) if convert::is_complete(&ev) => absorb(mb, ev, known, window, &mut events, &mut masters).await?,
                Ok(_) => {}
                Err(GraphError::ItemNotFound { .. }) => {
                    events.push(CalendarEventDeleted { event_id: id.clone() }.into())
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    // The organiser's language (for join details) comes with every sync.
    let settings = mb.graph.get_mailbox_settings(&mb.tenant, &mb.address).await?;
    if let Some(l) = settings.language.and_then(|l| l.locale)
        && Some(l.as_str()) != locale
    {
        events.push(
            LocaleChanged {
                locale: l,
                time_zone: settings.time_zone,
            }
            .into(),
        );
    }
    let delta_link = mb
        .sealer
        .seal(SYNC_CURSOR_FIELD, &round.delta_link)
        .map_err(|e| WorkError::Seal(e.to_string()))?;
    events.push(
        SyncCursorAdvanced {
            delta_link,
            window_start: window.start,
            window_end: window.end,
        }
        .into(),
    );
    Ok(Synced { events, full })
}
