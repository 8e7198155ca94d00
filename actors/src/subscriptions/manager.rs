//! `SubscriptionManager`: one actor per organisation that keeps a Graph
//! change-notification subscription alive for every enabled mailbox.
//!
//! It creates them, renews them well before expiry (each at its own point
//! in the renewal margin, so renewals do not bunch; when many are due at
//! once, as after downtime, 64 at a time, four in flight, each batch right
//! after the last with what queued meanwhile in between), reauthorises on
//! `reauthorizationRequired`, recreates after `subscriptionRemoved` or a 404
//! on renewal, records `missed` as a resync need, deletes on disable, and at
//! start reconciles what it believes with `GET /subscriptions`. Due work is
//! found on a periodic tick from state and the clock, so nothing is lost to
//! a restart or a moved clock. Every change is an event in `subs:{org}`,
//! and what the events say about each subscription is the log's
//! subscriptions table (`crate::tables::subscriptions`), which this actor
//! and the webhook's directory read by key: a node holds nothing here per
//! subscription.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use hcal_schemas::aggregate::subscriptions::SubscriptionsState;
use hcal_schemas::events::subscription::*;
use hcal_schemas::graph::SubscriptionRequest;
use hcal_schemas::{MailboxKey, OrgId, StreamId, SubscriptionEvent, Timestamp};
use rand::RngCore;
use tracing::{info, warn};

use super::directory::SubscriptionDirectory;
use crate::clock::Clock;
use crate::graph::{GraphClient, GraphError};
use crate::inbox::{Inbox, InboxItem, LifecycleEvent, Pending};
use crate::journal::Journal;
use crate::log::LogError;
use crate::serial::to_self;
use crate::store::Store;
use crate::tables::subscriptions::{self as table, Subscription};

#[derive(Clone, Debug)]
pub struct SubscriptionSettings {
    /// Where Graph posts change notifications (`{public_url}/graph/notifications`).
    pub notification_url: String,
    /// Where Graph posts lifecycle notifications (`{public_url}/graph/lifecycle`).
    pub lifecycle_url: String,
    pub lifetime: Duration,
    pub renew_before: Duration,
    pub tick: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("the organisation has no consented tenant yet")]
    NoTenant,
    #[error("Graph refused: {0}")]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("sealing failed: {0}")]
    Seal(String),
    #[error("the subscription manager is gone")]
    Gone,
}

impl SubscriptionError {
    /// Graph's error code, or hcal's word for what failed, for the user's status.
    pub fn code(&self) -> String {
        match self {
            SubscriptionError::Graph(g) => crate::tenant::graph_code(g),
            SubscriptionError::NoTenant => "no_tenant".to_string(),
            SubscriptionError::Log(_) => "log".to_string(),
            SubscriptionError::Seal(_) => "seal".to_string(),
            SubscriptionError::Gone => "subscription_manager_gone".to_string(),
        }
    }
}

/// A mailbox whose notifications had a gap: it must resync.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct ResyncNeeded {
    pub org: OrgId,
    pub mailbox: MailboxKey,
}

/// A mailbox whose subscription is gone: whoever holds its address (the
/// tenant's user registry) subscribes it again if it is still enabled.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Resubscribe {
    pub mailbox: MailboxKey,
}

/// What an admin sees of one subscription.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SubscriptionInfo {
    pub id: String,
    pub org: String,
    pub mailbox: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub last_renewed: Option<Timestamp>,
    pub last_notification: Option<Timestamp>,
    /// `active`, `reauthorization_required` or `expired`.
    pub state: &'static str,
    pub resync_needed: bool,
}

pub struct SubscriptionManager {
    org: OrgId,
    journal: Journal<SubscriptionsState>,
    graph: GraphClient,
    clock: Clock,
    directory: SubscriptionDirectory,
    inbox: Inbox,
    settings: SubscriptionSettings,
    tenant_id: Option<String>,
    /// Failed work and when to try again: subscription id or mailbox key.
    retry_at: HashMap<String, (u32, Timestamp)>,
    resync: Option<Recipient<ResyncNeeded>>,
    /// Who subscribes a mailbox again, and what waits for it to be known.
    resubscribe: Option<Recipient<Resubscribe>>,
    awaiting_resubscribe: Vec<MailboxKey>,
    busy: bool,
}

impl SubscriptionManager {
    pub fn load(
        org: OrgId,
        store: &Store,
        graph: GraphClient,
        clock: Clock,
        directory: SubscriptionDirectory,
        settings: SubscriptionSettings,
    ) -> Result<Self, crate::replay::ReplayError> {
        let journal = Journal::<SubscriptionsState>::load(store, StreamId::subscriptions(&org))?;
        Ok(Self {
            org,
            journal,
            graph,
            clock,
            directory,
            inbox: Inbox::new(store.log.clone()),
            settings,
            tenant_id: None,
            retry_at: HashMap::new(),
            resync: None,
            resubscribe: None,
            awaiting_resubscribe: Vec::new(),
            busy: false,
        })
    }

    fn tenant(&self) -> Result<String, SubscriptionError> {
        self.tenant_id.clone().ok_or(SubscriptionError::NoTenant)
    }

    /// Renew when less than the margin is left, each subscription at its own
    /// point in the first quarter of the margin.
    fn renew_at(&self, id: &str, expires: Timestamp) -> Timestamp {
        let margin = self.settings.renew_before.as_millis() as i64;
        let spread = (u64::from_le_bytes(blake3::hash(id.as_bytes()).as_bytes()[..8].try_into().unwrap_or([0; 8]))
            % (margin as u64 / 4).max(1)) as i64;
        expires.plus_millis(-margin + spread)
    }

    fn backoff(&mut self, key: &str) {
        let now = self.clock.now();
        let entry = self.retry_at.entry(key.to_string()).or_insert((0, now));
        entry.0 += 1;
        let delay = (30_000i64 << entry.0.min(8)).min(3_600_000);
        entry.1 = now.plus_millis(delay);
    }

    fn may_try(&self, key: &str) -> bool {
        self.retry_at.get(key).is_none_or(|(_, at)| *at <= self.clock.now())
    }

    /// Up to `limit` subscriptions due for reauthorisation or renewal (those
    /// Graph asked about first, then by expiry), their mailboxes, and whether
    /// more are due: a scan of those expiring within the renewal margin, not
    /// of all, and a read of each one taken.
    fn due(&self, now: Timestamp, limit: usize) -> Result<(Vec<(String, MailboxKey)>, bool), LogError> {
        let margin = self.settings.renew_before.as_millis() as i64;
        let reauthorize = table::reauthorization_wanted(self.log(), &self.org)?;
        let expiring = table::expiring(self.log(), &self.org, now.plus_millis(margin))?
            .into_iter()
            .filter(|(id, expires)| now >= self.renew_at(id, *expires) && !reauthorize.contains(id))
            .map(|(id, _)| id);
        let mut ids = reauthorize
            .iter()
            .cloned()
            .chain(expiring)
            .filter(|id| self.may_try(id));
        let mut due = Vec::new();
        for id in ids.by_ref() {
            if let Some(s) = table::get(self.log(), &id)? {
                due.push((id, s.mailbox));
                if due.len() == limit {
                    break;
                }
            }
        }
        Ok((due, ids.next().is_some()))
    }

    /// Every live subscription of the organisation, and its mailbox.
    fn ours(&self) -> Result<HashMap<String, MailboxKey>, LogError> {
        let mut out = HashMap::new();
        for (id, _) in table::of_org(self.log(), &self.org)? {
            if let Some(s) = table::get(self.log(), &id)? {
                out.insert(id, s.mailbox);
            }
        }
        Ok(out)
    }

    fn resubscribe(&mut self, mailbox: MailboxKey) {
        match &self.resubscribe {
            Some(r) => r.do_send(Resubscribe { mailbox }),
            None => self.awaiting_resubscribe.push(mailbox),
        }
    }

    fn notify_resync(&self, mailbox: &MailboxKey) {
        if let Some(r) = &self.resync {
            r.do_send(ResyncNeeded {
                org: self.org.clone(),
                mailbox: mailbox.clone(),
            });
        }
    }

    fn log(&self) -> &crate::log::EventLog {
        &self.journal.store().log
    }

    fn info(&self) -> Result<Vec<SubscriptionInfo>, LogError> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for (id, _) in table::of_org(self.log(), &self.org)? {
            if let Some(s) = table::get(self.log(), &id)? {
                out.push(self.info_of(&id, &s, now)?);
            }
        }
        Ok(out)
    }

    fn info_of(&self, id: &str, s: &Subscription, now: Timestamp) -> Result<SubscriptionInfo, LogError> {
        Ok(SubscriptionInfo {
            id: id.to_string(),
            org: self.org.to_string(),
            mailbox: s.mailbox.to_string(),
            expires_at: s.expires_at,
            created_at: s.created_at,
            last_renewed: s.last_renewed,
            last_notification: self.inbox.last_notification(id)?,
            state: if s.expires_at <= now {
                "expired"
            } else if s.reauthorization_requested.is_some() {
                "reauthorization_required"
            } else {
                "active"
            },
            resync_needed: table::gap_of(self.log(), &self.org, &s.mailbox)?.is_some(),
        })
    }

    /// The organisation's mailboxes with a gap (a failed read is logged: none).
    fn gaps(&self) -> Vec<(MailboxKey, Timestamp)> {
        table::gaps(self.log(), &self.org).unwrap_or_else(|e| {
            warn!(org = %self.org, error = %e, "reading the gaps table failed");
            Vec::new()
        })
    }

    /// The mailboxes these events may open a gap for, and whether each has one now.
    fn gaps_among(&self, events: &[SubscriptionEvent]) -> Vec<(MailboxKey, bool)> {
        events
            .iter()
            .filter_map(|e| match e {
                SubscriptionEvent::SubscriptionCreated(c) => Some(&c.mailbox),
                SubscriptionEvent::NotificationsMissed(m) => Some(&m.mailbox),
                _ => None,
            })
            .map(|m| {
                let open = table::gap_of(self.log(), &self.org, m).is_ok_and(|g| g.is_some());
                (m.clone(), open)
            })
            .collect()
    }
}

/// What one piece of work wants recorded.
struct Outcome {
    events: Vec<SubscriptionEvent>,
    /// Subscriptions created and removed, for the directory once the events are durable.
    added: usize,
    removed: Vec<String>,
    /// Inbox entries the work consumed.
    retire: Vec<Pending>,
    /// Mailboxes whose subscription is gone and must be made again.
    recreate: Vec<MailboxKey>,
}

impl Outcome {
    fn empty() -> Self {
        Self {
            events: vec![],
            added: 0,
            removed: vec![],
            retire: vec![],
            recreate: vec![],
        }
    }
}

/// Creates a Graph subscription for `address`; the event that records it, and its id.
async fn create(
    graph: &GraphClient,
    tenant: &str,
    settings: &SubscriptionSettings,
    sealer: &crate::keys::StreamSealer,
    now: Timestamp,
    mailbox: &MailboxKey,
    address: &str,
) -> Result<(SubscriptionEvent, String), SubscriptionError> {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let client_state = URL_SAFE_NO_PAD.encode(raw);
    let expires = now.plus_millis(settings.lifetime.as_millis() as i64);
    let request = SubscriptionRequest::mailbox_events(
        address,
        &settings.notification_url,
        Some(&settings.lifecycle_url),
        expires,
        &client_state,
    );
    let created = graph.create_subscription(tenant, &request).await?;
    let expires_at = created.expires().unwrap_or(expires);
    let seal = |field, v: &String| {
        sealer
            .seal(field, v)
            .map_err(|e| SubscriptionError::Seal(e.to_string()))
    };
    let event = SubscriptionCreated {
        mailbox: mailbox.clone(),
        subscription_id: created.id.clone(),
        resource: seal(RESOURCE_FIELD, &request.resource)?,
        expires_at,
        client_state: seal(CLIENT_STATE_FIELD, &client_state)?,
    };
    metrics::counter!("hcal_subscriptions_created_total").increment(1);
    Ok((event.into(), created.id))
}

impl Actor for SubscriptionManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.settings.tick, |_, ctx| to_self(ctx, Tick));
    }
}

impl SubscriptionManager {
    /// Records an outcome: events (with consumed inbox entries retired
    /// atomically), then tells the directory and whoever must resync or
    /// resubscribe. Runs as the actor's one piece of work.
    fn record(
        &mut self,
        mut outcome: Outcome,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<(), SubscriptionError>> {
        if outcome.events.is_empty() {
            let inbox = self.inbox.clone();
            let retire = outcome.retire;
            return Box::pin(
                async move { inbox.retire(&retire).await.map_err(SubscriptionError::from) }.into_actor(self),
            );
        }
        // Graph may repeat a removal in one batch; the directory counts each once.
        outcome.removed.sort();
        outcome.removed.dedup();
        let gaps_before = self.gaps_among(&outcome.events);
        let side = outcome
            .retire
            .iter()
            .map(Pending::retire)
            .chain(outcome.removed.iter().map(|id| Inbox::forget(id)))
            .collect();
        let pending = match self.journal.prepare(outcome.events) {
            Ok(p) => p.with_side(side),
            Err(e) => return Box::pin(fut::ready(Err(e.into()))),
        };
        let _ = ctx;
        Box::pin(
            async move { pending.write().await }
                .into_actor(self)
                .map(move |written, act, _| {
                    let written = written?;
                    act.journal.commit(written);
                    (0..outcome.added).for_each(|_| act.directory.added());
                    for id in &outcome.removed {
                        act.directory.removed(id);
                    }
                    for mailbox in outcome.recreate {
                        act.resubscribe(mailbox);
                    }
                    // Only the gaps this outcome opened; older ones were announced when they opened.
                    for (mailbox, was_open) in gaps_before {
                        if !was_open && table::gap_of(act.log(), &act.org, &mailbox).is_ok_and(|g| g.is_some()) {
                            act.notify_resync(&mailbox);
                        }
                    }
                    Ok(())
                }),
        )
    }
}

/// Tells the manager the tenant it works for (after consent).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetTenant(pub String);

impl Handler<SetTenant> for SubscriptionManager {
    type Result = ();

    fn handle(&mut self, msg: SetTenant, _: &mut Context<Self>) {
        self.tenant_id = Some(msg.0);
    }
}

/// Who subscribes a mailbox again when its subscription is gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OnResubscribe(pub Recipient<Resubscribe>);

impl Handler<OnResubscribe> for SubscriptionManager {
    type Result = ();

    fn handle(&mut self, msg: OnResubscribe, _: &mut Context<Self>) {
        for mailbox in self.awaiting_resubscribe.drain(..) {
            msg.0.do_send(Resubscribe { mailbox });
        }
        self.resubscribe = Some(msg.0);
    }
}

/// Who to tell when a mailbox needs a resync.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OnResync(pub Recipient<ResyncNeeded>);

impl Handler<OnResync> for SubscriptionManager {
    type Result = ();

    fn handle(&mut self, msg: OnResync, _: &mut Context<Self>) {
        for (mailbox, _) in self.gaps() {
            msg.0.do_send(ResyncNeeded {
                org: self.org.clone(),
                mailbox,
            });
        }
        self.resync = Some(msg.0);
    }
}

/// Make sure `mailbox` has a live subscription; its id.
#[derive(Message)]
#[rtype(result = "Result<String, SubscriptionError>")]
pub struct Ensure {
    pub mailbox: MailboxKey,
    pub address: String,
}

impl Handler<Ensure> for SubscriptionManager {
    type Result = AtomicResponse<Self, Result<String, SubscriptionError>>;

    fn handle(&mut self, msg: Ensure, _: &mut Context<Self>) -> Self::Result {
        match table::of_mailbox(self.log(), &self.org, &msg.mailbox) {
            Ok(Some((id, _))) => return AtomicResponse::new(Box::pin(fut::ready(Ok(id)))),
            Ok(None) => {}
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e.into())))),
        }
        let graph = self.graph.clone();
        let settings = self.settings.clone();
        let now = self.clock.now();
        let tenant = self.tenant();
        let sealer = self
            .journal
            .store()
            .sealer(&self.journal.stream)
            .map_err(|e| SubscriptionError::Seal(e.to_string()));
        AtomicResponse::new(Box::pin(
            async move {
                let (tenant, sealer) = (tenant?, sealer?);
                create(&graph, &tenant, &settings, &sealer, now, &msg.mailbox, &msg.address).await
            }
            .into_actor(self)
            .then(
                |created, act, ctx| -> ResponseActFuture<Self, Result<String, SubscriptionError>> {
                    match created {
                        Err(e) => {
                            warn!(org = %act.org, error = %e, "subscription create failed");
                            metrics::counter!("hcal_subscription_failures_total", "op" => "create").increment(1);
                            Box::pin(fut::ready(Err(e)))
                        }
                        Ok((event, id)) => {
                            let mut o = Outcome::empty();
                            o.events.push(event);
                            o.added += 1;
                            Box::pin(act.record(o, ctx).map(move |r, _, _| r.map(|_| id)))
                        }
                    }
                },
            ),
        ))
    }
}

/// Stop notifications for `mailbox` (user disabled).
#[derive(Message)]
#[rtype(result = "Result<(), SubscriptionError>")]
pub struct Remove {
    pub mailbox: MailboxKey,
}

impl Handler<Remove> for SubscriptionManager {
    type Result = AtomicResponse<Self, Result<(), SubscriptionError>>;

    fn handle(&mut self, msg: Remove, _: &mut Context<Self>) -> Self::Result {
        let id = match table::of_mailbox(self.log(), &self.org, &msg.mailbox) {
            Ok(Some((id, _))) => id,
            Ok(None) => return AtomicResponse::new(Box::pin(fut::ready(Ok(())))),
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e.into())))),
        };
        let graph = self.graph.clone();
        let tenant = self.tenant_id.clone();
        AtomicResponse::new(Box::pin(
            async move {
                if let Some(t) = tenant {
                    match graph.delete_subscription(&t, &id).await {
                        Ok(()) | Err(GraphError::ItemNotFound { .. }) => {}
                        // Graph expires it on its own; our record goes regardless.
                        Err(e) => warn!(error = %e, "subscription delete failed; it will expire"),
                    }
                }
                id
            }
            .into_actor(self)
            .then(|id, act, ctx| {
                let mut o = Outcome::empty();
                o.events.push(
                    SubscriptionRemoved {
                        subscription_id: id.clone(),
                        reason: RemovalReason::UserDisabled,
                    }
                    .into(),
                );
                o.removed.push(id);
                act.record(o, ctx)
            }),
        ))
    }
}

/// New lifecycle notifications are in the inbox.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DrainLifecycle;

impl Handler<DrainLifecycle> for SubscriptionManager {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: DrainLifecycle, _: &mut Context<Self>) -> Self::Result {
        let pending = match self.inbox.pending(&self.journal.stream, usize::MAX) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "reading lifecycle notifications failed");
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
        };
        let graph = self.graph.clone();
        let tenant = self.tenant_id.clone();
        let known: HashMap<String, MailboxKey> = pending
            .iter()
            .filter_map(|p| match &p.item {
                InboxItem::Lifecycle { subscription_id, .. } => table::get(self.log(), subscription_id)
                    .inspect_err(|e| warn!(error = %e, "reading the subscriptions table failed"))
                    .ok()
                    .flatten()
                    .filter(|s| s.org == self.org)
                    .map(|s| (subscription_id.clone(), s.mailbox)),
                _ => None,
            })
            .collect();
        AtomicResponse::new(Box::pin(
            async move {
                let mut o = Outcome::empty();
                for p in pending {
                    let InboxItem::Lifecycle {
                        subscription_id: id,
                        event,
                        ..
                    } = &p.item
                    else {
                        o.retire.push(p);
                        continue;
                    };
                    let Some(mailbox) = known.get(id).cloned() else {
                        // Not (or no longer) ours.
                        o.retire.push(p);
                        continue;
                    };
                    info!(event = ?event, "lifecycle notification");
                    metrics::counter!("hcal_lifecycle_notifications_total", "event" => format!("{event:?}"))
                        .increment(1);
                    match event {
                        LifecycleEvent::ReauthorizationRequired => {
                            o.events.push(
                                ReauthorizationRequested {
                                    subscription_id: id.clone(),
                                }
                                .into(),
                            );
                            let Some(t) = &tenant else {
                                // No tenant yet: left flagged, the tick tries again.
                                o.retire.push(p);
                                continue;
                            };
                            match graph.reauthorize_subscription(t, id).await {
                                Ok(()) => o.events.push(
                                    Reauthorized {
                                        subscription_id: id.clone(),
                                    }
                                    .into(),
                                ),
                                Err(GraphError::ItemNotFound { .. }) => {
                                    o.events.push(
                                        SubscriptionRemoved {
                                            subscription_id: id.clone(),
                                            reason: RemovalReason::NotFound,
                                        }
                                        .into(),
                                    );
                                    o.removed.push(id.clone());
                                    o.recreate.push(mailbox);
                                }
                                // Left flagged; the tick tries again.
                                Err(e) => warn!(error = %e, "reauthorize failed"),
                            }
                        }
                        LifecycleEvent::SubscriptionRemoved => {
                            o.events.push(
                                SubscriptionRemoved {
                                    subscription_id: id.clone(),
                                    reason: RemovalReason::RemovedByGraph,
                                }
                                .into(),
                            );
                            o.removed.push(id.clone());
                            o.recreate.push(mailbox);
                        }
                        LifecycleEvent::Missed => {
                            o.events.push(
                                NotificationsMissed {
                                    subscription_id: id.clone(),
                                    mailbox,
                                }
                                .into(),
                            );
                        }
                    }
                    o.retire.push(p);
                }
                o
            }
            .into_actor(self)
            .then(|o, act, ctx| {
                act.record(o, ctx).map(|r, _, _| {
                    if let Err(e) = r {
                        warn!(error = %e, "recording lifecycle work failed; it stays in the inbox");
                    }
                })
            }),
        ))
    }
}

/// Look for due work: renewals, reauthorisations still wanted.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Tick;

/// Renewals a tick makes before the manager takes its next message.
const RENEWALS_PER_TICK: usize = 64;
/// Renewals in flight at once (each a different mailbox's).
const RENEWALS_AT_ONCE: usize = 4;

impl Handler<Tick> for SubscriptionManager {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: Tick, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        // A gap still open a minute later is announced again (its mailbox may not have been running).
        for (mailbox, since) in self.gaps() {
            if since.plus_millis(60_000) < now {
                self.notify_resync(&mailbox);
            }
        }
        let Some(tenant) = self.tenant_id.clone() else {
            return AtomicResponse::new(Box::pin(fut::ready(())));
        };
        let (due, more) = match self.due(now, RENEWALS_PER_TICK) {
            Ok(d) => d,
            Err(e) => {
                warn!(org = %self.org, error = %e, "reading the subscriptions table failed");
                return AtomicResponse::new(Box::pin(fut::ready(())));
            }
        };
        if due.is_empty() || self.busy {
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        self.busy = true;
        // A batch at a time, so that the manager answers what queued meanwhile
        // (a new mailbox's `Ensure`) between batches; the next batch right after.
        let graph = self.graph.clone();
        let lifetime = self.settings.lifetime.as_millis() as i64;
        AtomicResponse::new(Box::pin(
            async move {
                let expires = now.plus_millis(lifetime);
                let renewals: Vec<_> = futures_util::stream::iter(due)
                    .map(|(id, mailbox)| {
                        let (graph, tenant) = (&graph, &tenant);
                        async move {
                            let renewed = graph.renew_subscription(tenant, &id, expires).await;
                            (id, mailbox, renewed)
                        }
                    })
                    .buffer_unordered(RENEWALS_AT_ONCE)
                    .collect()
                    .await;
                let mut o = Outcome::empty();
                let mut failed = Vec::new();
                for (id, mailbox, renewed) in renewals {
                    match renewed {
                        Ok(s) => {
                            metrics::counter!("hcal_subscriptions_renewed_total").increment(1);
                            let expires_at = s.expires().unwrap_or(now.plus_millis(lifetime));
                            o.events.push(
                                SubscriptionRenewed {
                                    subscription_id: id,
                                    expires_at,
                                }
                                .into(),
                            );
                        }
                        Err(GraphError::ItemNotFound { .. }) => {
                            o.events.push(
                                SubscriptionRemoved {
                                    subscription_id: id.clone(),
                                    reason: RemovalReason::NotFound,
                                }
                                .into(),
                            );
                            o.removed.push(id);
                            o.recreate.push(mailbox);
                        }
                        Err(e) => {
                            metrics::counter!("hcal_subscription_failures_total", "op" => "renew").increment(1);
                            warn!(error = %e, "subscription renewal failed; backing off");
                            failed.push(id);
                        }
                    }
                }
                (o, failed)
            }
            .into_actor(self)
            .then(move |(o, failed), act, ctx| {
                for id in &failed {
                    act.backoff(id);
                }
                // The next batch at once, unless a renewal came back still due
                // (an expiry Graph cut short): then at the next tick, as before.
                let mut more = more;
                for ev in &o.events {
                    if let SubscriptionEvent::SubscriptionRenewed(r) = ev {
                        act.retry_at.remove(&r.subscription_id);
                        more &= now < act.renew_at(&r.subscription_id, r.expires_at);
                    }
                }
                act.record(o, ctx).map(move |r, act, ctx| {
                    act.busy = false;
                    match r {
                        Err(e) => warn!(error = %e, "recording renewals failed"),
                        Ok(()) if more => to_self(ctx, Tick),
                        Ok(()) => {}
                    }
                })
            }),
        ))
    }
}

/// Compare belief with Graph (at start): delete strays of ours, recreate what vanished.
#[derive(Message)]
#[rtype(result = "Result<ReconcileReport, SubscriptionError>")]
pub struct Reconcile;

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ReconcileReport {
    pub kept: usize,
    pub strays_deleted: usize,
    pub recreated: usize,
}

impl Handler<Reconcile> for SubscriptionManager {
    type Result = AtomicResponse<Self, Result<ReconcileReport, SubscriptionError>>;

    fn handle(&mut self, _: Reconcile, _: &mut Context<Self>) -> Self::Result {
        let tenant = match self.tenant() {
            Ok(t) => t,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
        };
        let graph = self.graph.clone();
        let ours = match self.ours() {
            Ok(o) => o,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e.into())))),
        };
        let url = self.settings.notification_url.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let at_graph = graph.list_subscriptions(&tenant).await?;
                let mut report = ReconcileReport::default();
                let mut o = Outcome::empty();
                for s in &at_graph {
                    if ours.contains_key(&s.id) {
                        report.kept += 1;
                    } else if s.notification_url.as_deref() == Some(url.as_str()) {
                        match graph.delete_subscription(&tenant, &s.id).await {
                            Ok(()) | Err(GraphError::ItemNotFound { .. }) => report.strays_deleted += 1,
                            Err(e) => warn!(error = %e, "deleting a stray subscription failed"),
                        }
                    }
                }
                for (id, mailbox) in ours {
                    if !at_graph.iter().any(|s| s.id == id) {
                        o.events.push(SubscriptionRemoved { subscription_id: id.clone(), reason: RemovalReason::NotFound }.into());
                        o.removed.push(id);
                        o.recreate.push(mailbox);
                        report.recreated += 1;
                    }
                }
                Ok::<_, SubscriptionError>((report, o))
            }
            .into_actor(self)
            .then(|r, act, ctx| -> ResponseActFuture<Self, Result<ReconcileReport, SubscriptionError>> {
                match r {
                    Err(e) => Box::pin(fut::ready(Err(e))),
                    Ok((report, o)) => {
                        info!(org = %act.org, kept = report.kept, strays = report.strays_deleted, recreated = report.recreated, "subscriptions reconciled");
                        Box::pin(act.record(o, ctx).map(move |r, _, _| r.map(|_| report)))
                    }
                }
            }),
        ))
    }
}

/// A mailbox caught up after a gap.
#[derive(Message)]
#[rtype(result = "Result<(), SubscriptionError>")]
pub struct Resynced {
    pub mailbox: MailboxKey,
}

impl Handler<Resynced> for SubscriptionManager {
    type Result = AtomicResponse<Self, Result<(), SubscriptionError>>;

    fn handle(&mut self, msg: Resynced, ctx: &mut Context<Self>) -> Self::Result {
        match table::gap_of(self.log(), &self.org, &msg.mailbox) {
            Ok(Some(_)) => {}
            Ok(None) => return AtomicResponse::new(Box::pin(fut::ready(Ok(())))),
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e.into())))),
        }
        let mut o = Outcome::empty();
        o.events
            .push(hcal_schemas::events::subscription::Resynced { mailbox: msg.mailbox }.into());
        AtomicResponse::new(self.record(o, ctx))
    }
}

/// The subscriptions, for the admin API.
#[derive(Message)]
#[rtype(result = "Vec<SubscriptionInfo>")]
pub struct List;

impl Handler<List> for SubscriptionManager {
    type Result = MessageResult<List>;

    fn handle(&mut self, _: List, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.info().unwrap_or_else(|e| {
            warn!(org = %self.org, error = %e, "reading the subscriptions table failed");
            Vec::new()
        }))
    }
}

/// The subscription of one mailbox, as `List` shows it.
#[derive(Message)]
#[rtype(result = "Option<SubscriptionInfo>")]
pub struct SubscriptionOf {
    pub mailbox: MailboxKey,
}

impl Handler<SubscriptionOf> for SubscriptionManager {
    type Result = MessageResult<SubscriptionOf>;

    fn handle(&mut self, msg: SubscriptionOf, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let found = table::of_mailbox(self.log(), &self.org, &msg.mailbox)
            .and_then(|f| f.map(|(id, s)| self.info_of(&id, &s, now)).transpose());
        MessageResult(found.unwrap_or_else(|e| {
            warn!(org = %self.org, error = %e, "reading the subscriptions table failed");
            None
        }))
    }
}

impl Handler<crate::journal::StateOf> for SubscriptionManager {
    type Result = MessageResult<crate::journal::StateOf>;

    fn handle(&mut self, _: crate::journal::StateOf, _: &mut Context<Self>) -> Self::Result {
        MessageResult(hcal_schemas::Aggregate::into_any(self.journal.state.clone()))
    }
}
