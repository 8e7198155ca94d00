//! The node: one data directory, its actors, and the HTTP server in front.
//!
//! Start-up opens the log and keys, completes the log's index, loads every
//! organisation's tenant and subscription streams, starts their actors (so
//! the webhook knows every live subscription before it answers Graph),
//! starts the HTTP server, then reconciles subscriptions with Graph and picks
//! up whatever the inbox still holds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use hcal_actors::Store;
use hcal_actors::clock::Clock;
use hcal_actors::graph::{GraphClient, GraphConfig};
use hcal_actors::inbox::{Inbox, InboxItem};
use hcal_actors::keys::load_master_key;
use hcal_actors::log::LogOptions;
use hcal_actors::mailbox::router::{InboxArrived, RegisterOrg};
use hcal_actors::mailbox::{Faults, MailboxRouter, MailboxSettings};
use hcal_actors::subscriptions::manager::{DrainLifecycle, Reconcile};
use hcal_actors::subscriptions::manager::{OnResubscribe, OnResync};
use hcal_actors::subscriptions::{SubscriptionDirectory, SubscriptionManager, SubscriptionSettings};
use hcal_actors::tenant::{ApiTokens, OnMailboxLifecycle, ProvisioningSettings, TenantSupervisor};
use hcal_schemas::{OrgId, StreamId, StreamKind};
use metrics_exporter_prometheus::PrometheusHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::http;
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] hcal_actors::StoreError),
    #[error(transparent)]
    Key(#[from] hcal_actors::keys::KeyError),
    #[error(transparent)]
    Replay(#[from] hcal_actors::replay::ReplayError),
    #[error("the Graph client cannot start: {0}")]
    Graph(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error("the node stopped: {0}")]
    Stopped(String),
    #[error("cannot start the thread for organisations' actors: {0}")]
    Supervisors(std::io::Error),
}

/// One organisation's actors.
#[derive(Clone)]
pub struct OrgActors {
    pub tenant: Addr<TenantSupervisor>,
    pub subscriptions: Addr<SubscriptionManager>,
}

/// Everything request handlers share.
pub struct NodeState {
    pub config: Config,
    pub store: Store,
    pub inbox: Inbox,
    pub directory: SubscriptionDirectory,
    pub clock: Clock,
    pub graph: GraphClient,
    pub metrics: PrometheusHandle,
    pub router: Addr<MailboxRouter>,
    pub tokens: ApiTokens,
    /// Injected failures (drills); only reachable when `fault_injection` is on.
    pub faults: Faults,
    orgs: RwLock<BTreeMap<OrgId, OrgActors>>,
    supervisors: Supervisors,
}

/// Where organisations' actors run: a thread of their own, neither an HTTP
/// worker (an org first seen in a request would otherwise live on that
/// worker, and its long work, such as listing 40,000 users, hold up the
/// webhook answers Graph wants within 3 s) nor the mailboxes'.
struct Supervisors {
    handle: ArbiterHandle,
    arbiter: std::sync::Mutex<Option<Arbiter>>,
}

impl Supervisors {
    fn start() -> Result<Self, NodeError> {
        let arbiter = Arbiter::try_new().map_err(NodeError::Supervisors)?;
        Ok(Self {
            handle: arbiter.handle(),
            arbiter: std::sync::Mutex::new(Some(arbiter)),
        })
    }

    /// Stops the thread and waits until its actors are gone (they hold the log).
    fn stop(&self) {
        let arbiter = self.arbiter.lock().ok().and_then(|mut a| a.take());
        if let Some(a) = arbiter {
            a.stop();
            let _ = a.join();
        }
    }
}

impl Drop for Supervisors {
    /// A node that failed to start does not leave the thread behind (not
    /// waited for: this may run on that thread).
    fn drop(&mut self) {
        self.handle.stop();
    }
}

impl NodeState {
    /// The actors of `org`, started on first use.
    pub fn org(&self, org: &OrgId) -> Result<OrgActors, NodeError> {
        if let Some(a) = self.orgs.read().ok().and_then(|m| m.get(org).cloned()) {
            return Ok(a);
        }
        let mut orgs = self
            .orgs
            .write()
            .map_err(|_| NodeError::Stopped("org registry poisoned".into()))?;
        if let Some(a) = orgs.get(org) {
            return Ok(a.clone());
        }
        let a = self.start_org(org)?;
        orgs.insert(org.clone(), a.clone());
        Ok(a)
    }

    /// Organisations with actors.
    pub fn orgs(&self) -> Vec<(OrgId, OrgActors)> {
        self.orgs
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    fn start_org(&self, org: &OrgId) -> Result<OrgActors, NodeError> {
        let c = &self.config;
        let subscriptions = SubscriptionManager::load(
            org.clone(),
            &self.store,
            self.graph.clone(),
            self.clock.clone(),
            self.directory.clone(),
            SubscriptionSettings {
                notification_url: format!("{}/graph/notifications", c.public_url),
                lifecycle_url: format!("{}/graph/lifecycle", c.public_url),
                lifetime: c.subscriptions.lifetime,
                renew_before: c.subscriptions.renew_before,
                tick: c.subscriptions.tick,
            },
        )?;
        let subscriptions = SubscriptionManager::start_in_arbiter(&self.supervisors.handle, move |_| subscriptions);
        let tenant = TenantSupervisor::load(
            org.clone(),
            &self.store,
            self.graph.clone(),
            self.clock.clone(),
            subscriptions.clone(),
            ProvisioningSettings {
                consent_redirect: format!("{}/admin/v1/consent/callback", c.public_url),
                setup_ttl: Duration::from_secs(3600),
                recheck: Duration::from_secs(15 * 60),
                tick: c.subscriptions.tick,
            },
            self.tokens.clone(),
        )?;
        let tenant = TenantSupervisor::start_in_arbiter(&self.supervisors.handle, move |_| tenant);
        self.router.do_send(RegisterOrg {
            org: org.clone(),
            subscriptions: subscriptions.clone(),
        });
        subscriptions.do_send(OnResync(self.router.clone().recipient()));
        subscriptions.do_send(OnResubscribe(tenant.clone().recipient()));
        tenant.do_send(OnMailboxLifecycle(self.router.clone().recipient()));
        info!(%org, "organisation actors started");
        Ok(OrgActors { tenant, subscriptions })
    }

    /// Wakes the consumers of newly stored inbox entries.
    pub fn dispatch(&self, items: &[(StreamId, InboxItem)]) {
        let mut woken: Vec<StreamId> = Vec::new();
        for (stream, _) in items {
            if woken.contains(stream) {
                continue;
            }
            woken.push(stream.clone());
            if stream.kind() == StreamKind::Subscriptions
                && let Some(a) = self.orgs.read().ok().and_then(|m| m.get(&stream.org()).cloned())
            {
                a.subscriptions.do_send(DrainLifecycle);
            }
        }
        woken.retain(|s| s.kind() == StreamKind::Mailbox);
        if !woken.is_empty() {
            self.router.do_send(InboxArrived { streams: woken });
        }
    }
}

fn graph_client(c: &Config) -> Result<GraphClient, NodeError> {
    let mut gc = GraphConfig::new(c.client_id.clone(), c.client_secret.expose().to_string());
    gc.graph_url = c.graph_url.clone();
    gc.login_url = c.login_url.clone();
    GraphClient::new(gc).map_err(|e| NodeError::Graph(e.to_string()))
}

/// Opens the data directory and starts every known organisation's actors.
/// Must run inside an actix System.
pub fn build(config: Config) -> Result<Arc<NodeState>, NodeError> {
    let metrics = telemetry::metrics();
    let master = load_master_key(Some(&config.master_key))?;
    let store = Store::open(
        &config.data_dir,
        master,
        &LogOptions {
            cache_capacity: config.log_cache_bytes,
            ..LogOptions::default()
        },
    )?;
    let clock = if config.adjustable_clock {
        Clock::adjustable()
    } else {
        Clock::system()
    };
    let graph = graph_client(&config)?;
    let faults = Faults::default();
    let join =
        Arc::new(hcal_actors::join::JoinSetup::defaults().map_err(|e| NodeError::Graph(format!("join setup: {e}")))?);
    let router = MailboxRouter::new(
        store.clone(),
        graph.clone(),
        clock.clone(),
        MailboxSettings {
            window_back_days: config.mailbox.window_back_days,
            window_ahead_days: config.mailbox.window_ahead_days,
            idle: config.mailbox.idle,
            snapshot_every: 200,
            private_subject: config.private_subject.clone(),
        },
        faults.clone(),
        join,
    )
    .start();
    let node = Arc::new(NodeState {
        router,
        tokens: ApiTokens::default(),
        faults,
        inbox: Inbox::new(store.log.clone()),
        directory: SubscriptionDirectory::new(store.clone()),
        clock,
        graph,
        metrics,
        orgs: RwLock::new(BTreeMap::new()),
        supervisors: Supervisors::start()?,
        store,
        config,
    });
    let known: Vec<StreamId> = node
        .store
        .log
        .stream_heads()
        .filter_map(Result::ok)
        .map(|(s, _)| s)
        .filter(|s| s.kind() == StreamKind::Tenant)
        .collect();
    for stream in known {
        node.org(&stream.org())?;
    }
    Ok(node)
}

/// After the server listens: reconcile subscriptions, drain what the inbox
/// kept, and give memory back once mailboxes passivate.
pub fn after_start(node: &Arc<NodeState>) {
    crate::memory::spawn_after_passivations(node.router.clone(), TRIM_CHECK_EVERY);
    match node.inbox.streams_with_pending() {
        Ok(streams) => {
            let mailboxes: Vec<StreamId> = streams
                .into_iter()
                .filter(|s| s.kind() == StreamKind::Mailbox)
                .collect();
            if !mailboxes.is_empty() {
                info!(mailboxes = mailboxes.len(), "resuming inbox entries left from before");
                node.router.do_send(InboxArrived { streams: mailboxes });
            }
        }
        Err(e) => warn!(error = %e, "reading the inbox at start failed"),
    }
    for (org, actors) in node.orgs() {
        actors.subscriptions.do_send(DrainLifecycle);
        let subs = actors.subscriptions.clone();
        actix::spawn(async move {
            match subs.send(Reconcile).await {
                Ok(Ok(report)) => info!(%org, ?report, "reconciled subscriptions with Graph"),
                Ok(Err(e)) => warn!(%org, error = %e, "subscription reconciliation failed"),
                Err(_) => {}
            }
        });
    }
}

/// How often the node looks whether enough mailboxes passivated to give
/// the memory they freed back to the OS.
const TRIM_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the node until the process is told to stop (`hcal serve`).
pub fn serve(config: Config) -> Result<(), NodeError> {
    let system = actix::System::new();
    system.block_on(async move {
        let listen = config.listen;
        let node = build(config)?;
        let (server, addr) = http::server(node.clone(), listen)?;
        info!(%addr, "hcal is serving");
        after_start(&node);
        let served = server.await.map_err(|e| NodeError::Stopped(e.to_string()));
        node.supervisors.stop();
        served
    })
}

/// A node on its own thread with its own actix System (tests, demo).
pub struct NodeHandle {
    pub addr: SocketAddr,
    pub state: Arc<NodeState>,
    server: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NodeHandle {
    pub fn spawn(config: Config) -> Result<NodeHandle, NodeError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hcal-node".into())
            .spawn(move || {
                let system = actix::System::new();
                system.block_on(async move {
                    let listen = config.listen;
                    let started = build(config).and_then(|node| {
                        let (server, addr) = http::server(node.clone(), listen)?;
                        Ok((node, server, addr))
                    });
                    match started {
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                        Ok((node, server, addr)) => {
                            after_start(&node);
                            let _ = tx.send(Ok((addr, node.clone(), server.handle())));
                            let _ = server.await;
                            node.supervisors.stop();
                        }
                    }
                });
            })
            .map_err(|e| NodeError::Stopped(e.to_string()))?;
        let (addr, state, server) = rx
            .recv()
            .map_err(|_| NodeError::Stopped("node thread ended".into()))??;
        Ok(NodeHandle {
            addr,
            state,
            server,
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and the actors; returns once nothing holds the data directory.
    pub fn stop(mut self) {
        futures_stop(&self.server);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // HTTP workers release their share of the node as their threads wind down.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&self.state) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Stops the server from any thread (also from inside another runtime).
fn futures_stop(server: &actix_web::dev::ServerHandle) {
    let s = server.clone();
    let stopper = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            rt.block_on(s.stop(true));
        }
    });
    let _ = stopper.join();
}
