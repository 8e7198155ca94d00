//! `MailboxRouter`: which mailboxes exist, which have a live actor, and the
//! way work reaches them. It activates a mailbox's actor on demand (from
//! snapshot plus log tail), forgets it when it passivates, and restarts it
//! if it died, so a node holds far more mailboxes than it keeps in memory.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;
use hcal_schemas::aggregate::mailbox::JoinFailures;
use hcal_schemas::aggregate::tenant::UserEntry;
use hcal_schemas::events::tenant::UserStatus;
use hcal_schemas::{MailboxKey, OrgId, StreamId};
use tracing::{info, warn};

use super::work::Mailbox;
use super::{Faults, MailboxActor, MailboxSettings, Resync, Stop, Wake};
use crate::clock::Clock;
use crate::graph::GraphClient;
use crate::store::Store;
use crate::subscriptions::SubscriptionManager;
use crate::subscriptions::manager::ResyncNeeded;
use crate::tenant::MailboxLifecycle;

pub struct MailboxRouter {
    store: Store,
    graph: GraphClient,
    clock: Clock,
    settings: Arc<MailboxSettings>,
    faults: Faults,
    /// hcal's defaults, and each organisation's own once it has set them.
    join: Arc<crate::join::JoinSetup>,
    joins: HashMap<OrgId, Arc<crate::join::JoinSetup>>,
    /// Each organisation's Microsoft tenant id.
    tenants: HashMap<OrgId, Arc<str>>,
    active: HashMap<StreamId, Addr<MailboxActor>>,
    subscriptions: HashMap<OrgId, Addr<SubscriptionManager>>,
    /// Mailboxes with failed decorations, as they last reported them.
    join_failures: HashMap<StreamId, JoinFailures>,
}

impl MailboxRouter {
    pub fn new(
        store: Store,
        graph: GraphClient,
        clock: Clock,
        settings: MailboxSettings,
        faults: Faults,
        join: Arc<crate::join::JoinSetup>,
    ) -> Self {
        Self {
            store,
            graph,
            clock,
            settings: Arc::new(settings),
            faults,
            join,
            joins: HashMap::new(),
            tenants: HashMap::new(),
            active: HashMap::new(),
            subscriptions: HashMap::new(),
            join_failures: HashMap::new(),
        }
    }

    /// The live actor of `stream`, started if needed (None: not an enabled mailbox).
    fn activate(&mut self, stream: &StreamId, ctx: &mut Context<Self>) -> Option<Addr<MailboxActor>> {
        self.activate_with(stream, None, ctx)
    }

    /// [`Self::activate`], with the mailbox's address when the caller has it
    /// (else it is read from the tenant stream).
    fn activate_with(
        &mut self,
        stream: &StreamId,
        address: Option<String>,
        ctx: &mut Context<Self>,
    ) -> Option<Addr<MailboxActor>> {
        if let Some(a) = self.active.get(stream)
            && a.connected()
        {
            return Some(a.clone());
        }
        let tenant = self.tenants.get(&stream.org())?;
        let address = match address {
            Some(a) => a,
            None => {
                // Where its sealed address is: the users table, read from
                // disk, so that a passivated mailbox costs nothing here.
                let address_in = self.activated_user(stream)?.address_in;
                let tenant_stream = StreamId::tenant(&stream.org());
                match crate::tenant::addresses_at(&self.store, &tenant_stream, &[address_in]).remove(&address_in) {
                    Some(a) => a,
                    None => {
                        warn!(%stream, address_in, "the mailbox's address could not be read: not activated");
                        activation_failed("address");
                        return None;
                    }
                }
            }
        };
        let key = stream.mailbox_key()?;
        let sealer = match self.store.sealer(stream) {
            Ok(s) => s,
            Err(e) => {
                warn!(%stream, error = %e, "no data key for the mailbox");
                activation_failed("data_key");
                return None;
            }
        };
        let join = self
            .joins
            .get(&stream.org())
            .cloned()
            .unwrap_or_else(|| self.join.clone());
        let mailbox = Mailbox {
            graph: self.graph.clone(),
            tenant: tenant.clone(),
            address: Arc::from(address),
            detector: join.detector.clone(),
            sealer,
        };
        match MailboxActor::load(
            stream.org(),
            key,
            &self.store,
            mailbox,
            self.clock.clone(),
            self.settings.clone(),
            ctx.address(),
            self.faults.clone(),
            join,
        ) {
            Ok(actor) => {
                let addr = actor.start();
                metrics::counter!("hcal_mailbox_activations_total").increment(1);
                self.active.insert(stream.clone(), addr.clone());
                Some(addr)
            }
            Err(e) => {
                warn!(%stream, error = %e, "mailbox state could not be loaded");
                activation_failed("state");
                None
            }
        }
    }
}

impl MailboxRouter {
    /// The user entry of `stream`'s mailbox, if it is enabled and was
    /// activated (checked and subscribed): the mailboxes the tenant hands
    /// over. One pending or in error is not served until it is.
    fn activated_user(&self, stream: &StreamId) -> Option<UserEntry> {
        match crate::tables::users::get(&self.store.log, stream) {
            Ok(user) => user.filter(|u| u.enabled && u.status == UserStatus::Activated),
            Err(e) => {
                warn!(%stream, error = %e, "the users table could not be read");
                activation_failed("address");
                None
            }
        }
    }
}

/// An enabled mailbox that could not be activated, by what was missing: its
/// address, its data key or its state. Each later request tries again.
fn activation_failed(reason: &'static str) {
    metrics::counter!("hcal_mailbox_activations_failed_total", "reason" => reason).increment(1);
}

impl Actor for MailboxRouter {
    type Context = Context<Self>;
}

/// An organisation's subscription manager (to report finished resyncs to).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterOrg {
    pub org: OrgId,
    pub subscriptions: Addr<SubscriptionManager>,
}

impl Handler<RegisterOrg> for MailboxRouter {
    type Result = ();

    fn handle(&mut self, msg: RegisterOrg, _: &mut Context<Self>) {
        self.subscriptions.insert(msg.org, msg.subscriptions);
    }
}

impl Handler<MailboxLifecycle> for MailboxRouter {
    type Result = ();

    fn handle(&mut self, msg: MailboxLifecycle, ctx: &mut Context<Self>) {
        match msg {
            MailboxLifecycle::Activated {
                org,
                mailbox,
                address,
                tenant_id,
            } => {
                let stream = StreamId::mailbox(&org, &mailbox);
                if self.tenants.get(&org).is_none_or(|t| **t != *tenant_id) {
                    self.tenants.insert(org, tenant_id.into());
                }
                // A newly enabled mailbox syncs in full; a known one continues from its cursor.
                if let Some(a) = self.activate_with(&stream, Some(address), ctx) {
                    a.do_send(Resync { full: false });
                }
            }
            MailboxLifecycle::Configured { org, setup } => {
                for (stream, actor) in &self.active {
                    if stream.org() == org {
                        actor.do_send(super::SetJoin(setup.clone()));
                    }
                }
                self.joins.insert(org, setup);
            }
            MailboxLifecycle::Disabled { org, mailbox } => {
                let stream = StreamId::mailbox(&org, &mailbox);
                self.join_failures.remove(&stream);
                if let Some(a) = self.active.remove(&stream) {
                    a.do_send(Stop);
                }
            }
        }
    }
}

impl Handler<ResyncNeeded> for MailboxRouter {
    type Result = ();

    fn handle(&mut self, msg: ResyncNeeded, ctx: &mut Context<Self>) {
        let stream = StreamId::mailbox(&msg.org, &msg.mailbox);
        if let Some(a) = self.activate(&stream, ctx) {
            a.do_send(Resync { full: false });
        }
    }
}

/// A mailbox finished a delta round.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SyncDone {
    pub org: OrgId,
    pub mailbox: MailboxKey,
}

impl Handler<SyncDone> for MailboxRouter {
    type Result = ();

    fn handle(&mut self, msg: SyncDone, _: &mut Context<Self>) {
        if let Some(s) = self.subscriptions.get(&msg.org) {
            s.do_send(crate::subscriptions::manager::Resynced { mailbox: msg.mailbox });
        }
    }
}

/// New inbox entries for these streams.
#[derive(Message)]
#[rtype(result = "()")]
pub struct InboxArrived {
    pub streams: Vec<StreamId>,
}

impl Handler<InboxArrived> for MailboxRouter {
    type Result = ();

    fn handle(&mut self, msg: InboxArrived, ctx: &mut Context<Self>) {
        for stream in msg.streams {
            match self.activate(&stream, ctx) {
                Some(a) => a.do_send(Wake),
                None => metrics::counter!("hcal_inbox_unrouted_total").increment(1),
            }
        }
    }
}

/// A mailbox actor stopped (idle, disabled).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Passivated {
    pub stream: StreamId,
}

impl Handler<Passivated> for MailboxRouter {
    type Result = ();

    fn handle(&mut self, msg: Passivated, _: &mut Context<Self>) {
        if self.active.get(&msg.stream).is_some_and(|a| !a.connected()) {
            self.active.remove(&msg.stream);
            crate::sparse::shrink_if_sparse(&mut self.active);
        }
    }
}

/// A mailbox's failed decorations changed (None: none left).
#[derive(Message)]
#[rtype(result = "()")]
pub struct JoinFailed {
    pub stream: StreamId,
    pub failures: Option<JoinFailures>,
}

impl Handler<JoinFailed> for MailboxRouter {
    type Result = ();

    fn handle(&mut self, msg: JoinFailed, _: &mut Context<Self>) {
        match msg.failures {
            Some(f) if self.activated_user(&msg.stream).is_some() => {
                self.join_failures.insert(msg.stream, f);
            }
            _ => {
                self.join_failures.remove(&msg.stream);
            }
        }
    }
}

/// The failed decorations of an organisation's mailboxes, by mailbox.
#[derive(Message)]
#[rtype(result = "HashMap<MailboxKey, JoinFailures>")]
pub struct JoinFailuresOf {
    pub org: OrgId,
}

impl Handler<JoinFailuresOf> for MailboxRouter {
    type Result = MessageResult<JoinFailuresOf>;

    fn handle(&mut self, msg: JoinFailuresOf, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.join_failures
                .iter()
                .filter(|(s, _)| s.org() == msg.org)
                .filter_map(|(s, f)| Some((s.mailbox_key()?, f.clone())))
                .collect(),
        )
    }
}

/// The node's clock was moved: every live mailbox looks again at what is due.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClockMoved;

impl Handler<ClockMoved> for MailboxRouter {
    type Result = ();

    fn handle(&mut self, _: ClockMoved, _: &mut Context<Self>) {
        for actor in self.active.values() {
            actor.do_send(super::Tick);
        }
    }
}

/// The actor of a mailbox, activated if needed.
#[derive(Message)]
#[rtype(result = "Option<Addr<MailboxActor>>")]
pub struct Get {
    pub stream: StreamId,
}

impl Handler<Get> for MailboxRouter {
    type Result = MessageResult<Get>;

    fn handle(&mut self, msg: Get, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.activate(&msg.stream, ctx))
    }
}

/// Where one mailbox stands: a lookup, so that a request about one mailbox
/// costs the same in a node of ten mailboxes as in one of ten thousand.
#[derive(Message)]
#[rtype(result = "Presence")]
pub struct Locate {
    pub stream: StreamId,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    /// An enabled mailbox whose user is activated.
    pub enabled: bool,
    /// Its actor is live (not passivated).
    pub active: bool,
}

impl Handler<Locate> for MailboxRouter {
    type Result = MessageResult<Locate>;

    fn handle(&mut self, msg: Locate, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Presence {
            enabled: self.activated_user(&msg.stream).is_some(),
            active: self.active.get(&msg.stream).is_some_and(|a| a.connected()),
        })
    }
}

/// Counts, and the live actors (for the digest).
#[derive(Message)]
#[rtype(result = "RouterStatus")]
pub struct Status;

#[derive(Clone, Debug, serde::Serialize)]
pub struct RouterStatus {
    pub active: usize,
    #[serde(skip)]
    pub active_streams: HashSet<StreamId>,
}

impl Handler<Status> for MailboxRouter {
    type Result = MessageResult<Status>;

    fn handle(&mut self, _: Status, _: &mut Context<Self>) -> Self::Result {
        self.active.retain(|_, a| a.connected());
        MessageResult(RouterStatus {
            active: self.active.len(),
            active_streams: self.active.keys().cloned().collect(),
        })
    }
}

impl Drop for MailboxRouter {
    fn drop(&mut self) {
        info!(active = self.active.len(), "mailbox router stopped");
    }
}
