//! `MailboxActor`: one actor per enabled mailbox, holding its calendar
//! state and serialising all work for it: draining its inbox entries into
//! calendar events, delta syncs, and answering meeting-list and inspection
//! queries. Activated on demand from snapshot plus log tail, passivated when
//! idle. A failure (a Graph error, or even a panic) in one round is recorded
//! as the mailbox's last error and retried with back-off; it never reaches
//! other mailboxes.

pub mod convert;
pub mod router;
pub mod view;
pub mod work;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::FutureExt;
use hcal_schemas::aggregate::mailbox::{JoinFailures, JoinStatus, MailboxState, Window};
use hcal_schemas::events::mailbox::{
    ContentAt, EventKind, HeldMeeting, JoinDetailsRequested, MeetingContent, SYNC_CURSOR_FIELD,
};
use hcal_schemas::{Aggregate, EventId, MailboxEvent, MailboxKey, Opened, OrgId, StreamId, Timestamp, Vault};
use tracing::{info, warn};

use crate::clock::Clock;
use crate::inbox::Inbox;
use crate::join::{self, JoinFacts, JoinTask, MeetingProvider};
use crate::journal::{Journal, Written};
use crate::replay::ReplayError;
use crate::serial::to_self;
use crate::store::Store;
use work::{Mailbox, WorkError};

/// Inbox entries a mailbox round takes at most; what is left waits for the next
/// round, so a backlog costs each round the same, not more as it grows.
const ROUND_BATCH: usize = 256;

/// A passivating mailbox writes a snapshot only when its state is at least
/// this many events past the last one. A shorter tail replays in a fraction
/// of a millisecond at the next activation, while every snapshot costs its
/// size again on disk and in sled's memory (a mailbox of 20 meetings: 10 KB).
const PASSIVATION_SNAPSHOT_TAIL: u64 = 50;

pub use router::MailboxRouter;

/// What a round did, for the actor to fold in.
struct RoundDone {
    written: Option<Written<MailboxEvent>>,
    received: Vec<Timestamp>,
    gets: u32,
    coalesced: u32,
    synced: bool,
}
pub use view::{MailboxInspection, MeetingItem};

/// Knobs every mailbox shares.
#[derive(Clone, Debug)]
pub struct MailboxSettings {
    pub window_back_days: i64,
    pub window_ahead_days: i64,
    /// Passivate after this long without work or queries.
    pub idle: Duration,
    /// Snapshot after this many events since the last one.
    pub snapshot_every: u64,
    /// Subject shown for private and confidential meetings.
    pub private_subject: String,
}

/// Injected failures, for drills (off unless the node enables fault injection).
#[derive(Clone, Default)]
pub struct Faults {
    panics: Arc<std::sync::Mutex<std::collections::HashMap<StreamId, u32>>>,
}

impl Faults {
    /// The next `n` rounds of `stream` panic.
    pub fn panic_next(&self, stream: &StreamId, n: u32) {
        if let Ok(mut m) = self.panics.lock() {
            m.insert(stream.clone(), n);
        }
    }

    fn take(&self, stream: &StreamId) -> bool {
        let Ok(mut m) = self.panics.lock() else { return false };
        match m.get_mut(stream) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

/// The mailbox's health as admins see it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Health {
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    pub consecutive_failures: u32,
    pub last_processed_at: Option<Timestamp>,
    pub last_sync_at: Option<Timestamp>,
    pub graph_gets: u64,
    pub coalesced: u64,
}

pub struct MailboxActor {
    key: MailboxKey,
    journal: Journal<MailboxState>,
    mailbox: Mailbox,
    inbox: Inbox,
    clock: Clock,
    /// One copy for every mailbox.
    settings: Arc<MailboxSettings>,
    router: Addr<MailboxRouter>,
    faults: Faults,
    join: Arc<crate::join::JoinSetup>,
    health: Health,
    last_active: Instant,
    /// Work asked for while a round ran.
    wake_again: bool,
    resync_wanted: Option<bool>,
    busy: bool,
    retry_scheduled: bool,
    /// The state version join work was last planned for, and the next retry then due:
    /// planning again before either changes would find the same (no) work.
    join_planned: Option<(u64, Option<Timestamp>)>,
    /// When the notifications behind the last applied round arrived (for join latency).
    last_trigger: Option<Timestamp>,
    /// The failed decorations last reported to the router (for the user's status).
    reported_failures: Option<Box<JoinFailures>>,
    /// The timer of the next retry of a failed decoration, and when it is due.
    retry_timer: Option<(Timestamp, SpawnHandle)>,
}

impl MailboxActor {
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        org: OrgId,
        key: MailboxKey,
        store: &Store,
        mailbox: Mailbox,
        clock: Clock,
        settings: Arc<MailboxSettings>,
        router: Addr<MailboxRouter>,
        faults: Faults,
        join: Arc<crate::join::JoinSetup>,
    ) -> Result<Self, ReplayError> {
        let journal = Journal::<MailboxState>::load(store, StreamId::mailbox(&org, &key))?;
        Ok(Self {
            key,
            inbox: Inbox::new(store.log.clone()),
            journal,
            mailbox,
            clock,
            settings,
            router,
            faults,
            join,
            health: Health::default(),
            last_active: Instant::now(),
            wake_again: false,
            resync_wanted: None,
            busy: false,
            retry_scheduled: false,
            join_planned: None,
            last_trigger: None,
            reported_failures: None,
            retry_timer: None,
        })
    }

    fn stream(&self) -> &StreamId {
        &self.journal.stream
    }

    fn window(&self) -> Window {
        Window::around(
            self.clock.now(),
            self.settings.window_back_days,
            self.settings.window_ahead_days,
        )
    }

    /// The delta link to continue from, and when its round completed.
    fn cursor(&self) -> Option<(String, Timestamp)> {
        let c = self.journal.state.cursor.as_ref()?;
        let keys = self.journal.store().keys.clone();
        match c.delta_link.open(keys.as_ref(), self.stream(), SYNC_CURSOR_FIELD) {
            Ok(Opened::Plain(link)) => Some((link, c.at)),
            _ => None,
        }
    }

    /// The window slid (a new day): a fresh full round re-bases it.
    fn window_stale(&self) -> bool {
        match self.journal.state.window {
            None => true,
            Some(w) => (self.window().start.millis() - w.start.millis()).abs() >= 86_400_000,
        }
    }

    /// Tells the router when the mailbox's failed decorations change, so that
    /// the user's status shows them while the actor is passivated too.
    fn report_join_failures(&mut self) {
        let now = self.clock.now();
        let failures = self.journal.state.join_failures(now);
        if failures.as_ref() != self.reported_failures.as_deref() {
            self.reported_failures = failures.clone().map(Box::new);
            self.router.do_send(router::JoinFailed {
                stream: self.stream().clone(),
                failures,
            });
        }
    }

    /// A timer for the next failed decoration's retry (a due one is run by the
    /// join round at hand); a moved clock reaches the actor as a [`Tick`].
    fn schedule_retry(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let at = self
            .reported_failures
            .as_ref()
            .and_then(|f| f.next_retry_at)
            .filter(|at| *at > now);
        if self.retry_timer.as_ref().map(|t| t.0) == at {
            return;
        }
        if let Some((_, handle)) = self.retry_timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(at) = at {
            let delay = Duration::from_millis((at.millis() - now.millis()) as u64);
            let handle = ctx.run_later(delay, |act, ctx| {
                act.retry_timer = None;
                act.join_round(ctx);
            });
            self.retry_timer = Some((at, handle));
        }
    }

    /// The periodic look at the mailbox: passivate when idle (unless a retry
    /// is pending), re-base a window that slid, or do join work now due.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        let retry_pending = self.retry_timer.is_some();
        if self.last_active.elapsed() >= self.settings.idle && !retry_pending {
            ctx.stop();
        } else if self.window_stale() {
            to_self(ctx, Wake);
        } else {
            self.join_round(ctx);
        }
    }

    fn failed(&mut self, e: String, ctx: &mut Context<Self>) {
        warn!(stream = %self.stream(), error = %e, "mailbox round failed; retrying with back-off");
        metrics::counter!("hcal_mailbox_failures_total").increment(1);
        self.health.consecutive_failures += 1;
        self.health.last_error = Some(e);
        self.health.last_error_at = Some(self.clock.now());
        if !self.retry_scheduled {
            self.retry_scheduled = true;
            let n = self.health.consecutive_failures.min(8);
            let delay = Duration::from_millis((250u64 << n).min(60_000));
            ctx.run_later(delay, |act, ctx| {
                act.retry_scheduled = false;
                to_self(ctx, Wake);
            });
        }
    }

    fn succeeded(&mut self) {
        self.health.consecutive_failures = 0;
        self.health.last_processed_at = Some(self.clock.now());
    }

    /// One round: a sync if one is wanted, then (at most [`ROUND_BATCH`] of) the inbox. Its events and the
    /// retirement of the inbox entries they consumed commit atomically.
    fn round(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            self.wake_again = true;
            return;
        }
        let sync_full = self
            .resync_wanted
            .take()
            .or_else(|| self.window_stale().then_some(true));
        let pending = match self.inbox.pending(self.stream(), ROUND_BATCH) {
            Ok(p) => p,
            Err(e) => return self.failed(e.to_string(), ctx),
        };
        if pending.len() == ROUND_BATCH {
            // More is waiting: another round follows this one.
            self.wake_again = true;
        }
        if sync_full.is_none() && pending.is_empty() {
            // Nothing from Graph to absorb; join work may still be waiting.
            return self.join_round(ctx);
        }
        self.last_active = Instant::now();
        self.busy = true;
        let mb = self.mailbox.clone();
        let known = work::known(&self.journal.state);
        let window = self.window();
        let cursor = self.cursor();
        let locale = self.journal.state.locale.clone();
        let inject = self.faults.take(self.stream());
        let writer = self.journal.writer();
        let inbox = self.inbox.clone();
        let base = self.journal.state.version;
        let work = async move {
            if inject {
                panic!("injected fault");
            }
            let mut events = Vec::new();
            if let Some(full) = sync_full {
                events.extend(
                    work::sync(&mb, cursor, window, full, &known, locale.as_deref())
                        .await?
                        .events,
                );
            }
            let p = work::process(&mb, pending, &known, window).await?;
            events.extend(p.events);
            let received = p
                .retired
                .iter()
                .filter_map(crate::inbox::Pending::received_at)
                .collect();
            let written = if events.is_empty() {
                inbox.retire(&p.retired).await?;
                None
            } else {
                let side = p.retired.iter().map(crate::inbox::Pending::retire).collect();
                Some(writer.prepare(base, events)?.with_side(side).write().await?)
            };
            Ok::<_, WorkError>(RoundDone {
                written,
                received,
                gets: p.gets,
                coalesced: p.coalesced,
                synced: sync_full.is_some(),
            })
        };
        let guarded = AssertUnwindSafe(work).catch_unwind();
        ctx.spawn(guarded.into_actor(self).map(|outcome, act, ctx| {
            act.busy = false;
            match outcome {
                Ok(Ok(done)) => act.absorb(done, ctx),
                Ok(Err(e)) => act.failed(e.to_string(), ctx),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown".into());
                    act.failed(format!("panicked: {what}"), ctx);
                }
            }
        }));
    }

    /// Folds a finished round into the state.
    fn absorb(&mut self, done: RoundDone, ctx: &mut Context<Self>) {
        self.health.graph_gets += done.gets as u64;
        self.health.coalesced += done.coalesced as u64;
        metrics::counter!("hcal_mailbox_graph_gets_total").increment(done.gets as u64);
        metrics::counter!("hcal_notifications_coalesced_total").increment(done.coalesced as u64);
        if let Some(w) = done.written {
            let n = w.events().len() as u64;
            self.journal.commit(w);
            metrics::counter!("hcal_mailbox_events_appended_total").increment(n);
        }
        self.record_latency(&done.received);
        self.after_round(done.synced, ctx);
    }

    /// Time from each notification's arrival to its consequences being durable and applied.
    fn record_latency(&mut self, received: &[Timestamp]) {
        if let Some(first) = received.iter().min() {
            self.last_trigger = Some(*first);
        }
        let now = self.clock.now();
        for r in received {
            metrics::histogram!("hcal_notification_to_applied_seconds")
                .record((now.millis() - r.millis()).max(0) as f64 / 1000.0);
        }
        metrics::counter!("hcal_notifications_applied_total").increment(received.len() as u64);
    }

    fn after_round(&mut self, synced: bool, ctx: &mut Context<Self>) {
        self.succeeded();
        if synced {
            self.health.last_sync_at = Some(self.clock.now());
            self.router.do_send(router::SyncDone {
                org: self.journal.stream.org(),
                mailbox: self.key.clone(),
            });
        }
        if self.journal.unsnapshotted() >= self.settings.snapshot_every
            && let Err(e) = self.journal.snapshot()
        {
            warn!(error = %e, "snapshot failed");
        }
        if std::mem::take(&mut self.wake_again) || self.resync_wanted.is_some() {
            to_self(ctx, Wake);
        } else {
            self.join_round(ctx);
        }
    }

    /// The JoinPatcher's round: the join work the state calls for. Decorations
    /// not yet asked for are recorded as asked first, durably, before any
    /// meeting is created, so a crash in between is resumed, not repeated.
    fn join_round(&mut self, ctx: &mut Context<Self>) {
        self.report_join_failures();
        self.schedule_retry(ctx);
        if self.busy {
            self.wake_again = true;
            return;
        }
        let now = self.clock.now();
        if let Some((version, retry)) = self.join_planned
            && version == self.journal.state.version
            && retry.is_none_or(|at| at > now)
        {
            return;
        }
        let next_retry = self.reported_failures.as_ref().and_then(|f| f.next_retry_at);
        self.join_planned = Some((self.journal.state.version, next_retry));
        let state = &self.journal.state;
        let store = self.journal.store();
        let stream = self.stream().clone();
        // Only content that may hold a keyword is read and opened (all in one read of
        // the log): on most meetings the clear join explanation already says there is none.
        let (keyworded, plain): (Vec<&HeldMeeting>, Vec<&HeldMeeting>) = state
            .meetings
            .values()
            .filter(|m| m.is_organizer && m.kind != EventKind::Occurrence)
            .partition(|m| join::may_have_keyword(*m));
        let mut facts: HashMap<EventId, JoinFacts> = plain
            .into_iter()
            .map(|m| (m.id.clone(), JoinFacts::default()))
            .collect();
        if !keyworded.is_empty() {
            let ats: Vec<ContentAt> = keyworded.iter().map(|m| m.content).collect();
            match store.meeting_contents(&stream, &ats) {
                Ok(contents) => {
                    for (m, sealed) in keyworded.into_iter().zip(contents) {
                        if let Some(Ok(Opened::Plain(c))) =
                            sealed.map(|s| s.open(store, &stream, MeetingContent::FIELD))
                        {
                            facts.insert(m.id.clone(), c.into());
                        }
                    }
                }
                Err(e) => tracing::warn!(%stream, error = %e, "meeting content unreadable for join planning"),
            }
        }
        let setup = self.join.clone();
        let tasks = join::plan(state, &facts, now, setup.provider.id(), |k| setup.default_action(k));
        if tasks.is_empty() {
            return;
        }
        let mut requested: Vec<MailboxEvent> = Vec::new();
        let mut known = HashMap::new();
        let mut attempts = HashMap::new();
        for t in &tasks {
            let JoinTask::Decorate {
                event_id,
                keyword,
                action,
            } = t
            else {
                continue;
            };
            let record = state.join.get(event_id);
            if record.is_none_or(|r| r.status != JoinStatus::Requested) {
                let e = JoinDetailsRequested {
                    event_id: event_id.clone(),
                    keyword: keyword.clone(),
                    action: *action,
                };
                requested.push(e.into());
            }
            attempts.insert(event_id.clone(), record.map(|r| r.attempts).unwrap_or(0));
            if let Some(k) = join::patch::known_meeting(state, event_id, store, &stream) {
                known.insert(event_id.clone(), k);
            }
        }
        let patcher = join::Patcher {
            mailbox: self.mailbox.clone(),
            provider: setup.provider.clone(),
            templates: setup.templates.clone(),
            locale: state.locale.clone(),
        };
        let writer = self.journal.writer();
        let base = state.version;
        let trigger = self.last_trigger.take();
        self.busy = true;
        self.last_active = Instant::now();
        // The requests are on disk before any meeting is created; the results follow them.
        let work = async move {
            let asked = requested.len() as u64;
            let intent = match requested.is_empty() {
                true => None,
                false => Some(writer.prepare(base, requested)?.write().await?),
            };
            let (events, failures) = join::run_tasks(&patcher, &stream, &tasks, &known, &attempts, now).await;
            let results = match events.is_empty() {
                true => None,
                false => Some(writer.prepare(base + asked, events)?.write().await?),
            };
            Ok::<_, crate::log::LogError>((intent, results, failures))
        };
        ctx.spawn(
            work.into_actor(self)
                .map(move |outcome, act, ctx| act.after_join(outcome, trigger, ctx)),
        );
    }

    #[allow(clippy::type_complexity)]
    fn after_join(
        &mut self,
        outcome: Result<(Option<Written<MailboxEvent>>, Option<Written<MailboxEvent>>, u32), crate::log::LogError>,
        trigger: Option<Timestamp>,
        ctx: &mut Context<Self>,
    ) {
        self.busy = false;
        match outcome {
            Err(e) => {
                self.join_planned = None;
                self.failed(format!("recording join work: {e}"), ctx);
            }
            Ok((intent, results, failures)) => {
                if let Some(w) = intent {
                    self.journal.commit(w);
                }
                if let Some(w) = results {
                    let patched = w
                        .events()
                        .iter()
                        .filter(|e| matches!(e, MailboxEvent::JoinDetailsPatched(_)))
                        .count();
                    if let Some(t) = trigger {
                        let secs = (self.clock.now().millis() - t.millis()).max(0) as f64 / 1000.0;
                        for _ in 0..patched {
                            metrics::histogram!("hcal_join_notification_to_patch_seconds").record(secs);
                        }
                    }
                    self.journal.commit(w);
                }
                if failures > 0 {
                    // Failed work without a recorded retry is planned again at the next tick.
                    self.join_planned = None;
                    self.health.last_error = Some(format!("{failures} join task(s) failed"));
                    self.health.last_error_at = Some(self.clock.now());
                }
            }
        }
        self.report_join_failures();
        self.schedule_retry(ctx);
        if std::mem::take(&mut self.wake_again) {
            to_self(ctx, Wake);
        }
    }
}

impl Actor for MailboxActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::gauge!("hcal_mailboxes_active").increment(1.0);
        let every = (self.settings.idle / 4).max(Duration::from_millis(200));
        ctx.run_interval(every, |act, ctx| act.tick(ctx));
        to_self(ctx, Wake);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::gauge!("hcal_mailboxes_active").decrement(1.0);
        if self.journal.unsnapshotted() >= PASSIVATION_SNAPSHOT_TAIL
            && let Err(e) = self.journal.snapshot()
        {
            warn!(error = %e, "snapshot at passivation failed");
        }
        self.journal.store().keys.close(self.stream());
        self.journal.store().log.forget_head(self.stream());
        info!(stream = %self.stream(), "mailbox passivated");
        self.router.do_send(router::Passivated {
            stream: self.stream().clone(),
        });
    }
}

/// Something may be waiting: inbox entries, a wanted sync.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

impl Handler<Wake> for MailboxActor {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.round(ctx);
    }
}

/// Time moved (an admin advanced the node's adjustable clock): look again at
/// what is due, as the periodic tick would.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Tick;

impl Handler<Tick> for MailboxActor {
    type Result = ();

    fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
        self.tick(ctx);
    }
}

/// A gap in notifications (or a new subscription): catch up by delta.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync {
    /// Start over (no cursor) rather than continue from the cursor.
    pub full: bool,
}

impl Handler<Resync> for MailboxActor {
    type Result = ();

    fn handle(&mut self, msg: Resync, ctx: &mut Context<Self>) {
        let full = msg.full || self.journal.state.cursor.is_none();
        self.resync_wanted = Some(self.resync_wanted.unwrap_or(false) || full);
        self.round(ctx);
    }
}

/// The meetings of `[from, to)` as a person's app or a room device lists them.
#[derive(Message)]
#[rtype(result = "Vec<MeetingItem>")]
pub struct Meetings {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Handler<Meetings> for MailboxActor {
    type Result = MessageResult<Meetings>;

    fn handle(&mut self, msg: Meetings, _: &mut Context<Self>) -> Self::Result {
        self.last_active = Instant::now();
        MessageResult(view::meetings(
            &self.journal.state,
            self.stream(),
            self.journal.store(),
            msg.from,
            msg.to,
            self.clock.now(),
            &self.settings.private_subject,
        ))
    }
}

/// The live actor, for admins.
#[derive(Message)]
#[rtype(result = "MailboxInspection")]
pub struct Inspect {
    pub reveal: bool,
}

impl Handler<Inspect> for MailboxActor {
    type Result = MessageResult<Inspect>;

    fn handle(&mut self, msg: Inspect, _: &mut Context<Self>) -> Self::Result {
        let pending = self.inbox.count(self.stream()).unwrap_or(0);
        MessageResult(view::inspect(
            &self.journal,
            &self.health,
            pending,
            self.clock.now(),
            msg.reveal,
        ))
    }
}

impl Handler<crate::journal::StateOf> for MailboxActor {
    type Result = MessageResult<crate::journal::StateOf>;

    fn handle(&mut self, _: crate::journal::StateOf, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.journal.state.clone().into_any())
    }
}

/// Stop now (user disabled, or shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Stop> for MailboxActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// The organisation's join settings changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetJoin(pub Arc<crate::join::JoinSetup>);

impl Handler<SetJoin> for MailboxActor {
    type Result = ();

    fn handle(&mut self, msg: SetJoin, ctx: &mut Context<Self>) {
        self.mailbox.detector = msg.0.detector.clone();
        self.join = msg.0;
        self.join_planned = None;
        self.join_round(ctx);
    }
}
