//! `TenantSupervisor`: one actor per organisation. It runs provisioning
//! (consent URL, consent callback, test-mailbox checks) and the user
//! registry (enable, disable, activation with a status admins understand),
//! and tells the subscription manager and the mailbox router what follows.
//! Every state change is an event in `org:{org}` first.

mod checks;
mod status;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hcal_schemas::aggregate::tenant::{Consent, TenantState, UserEntry};
use hcal_schemas::events::tenant::*;
use hcal_schemas::{EventFamily, MailboxKey, Opened, OrgId, StreamId, TenantEvent, Timestamp};
use rand::RngCore;
use tracing::{info, warn};

pub use checks::{CheckReport, PermissionResult};
pub use status::{UserCounts, UserInfo, classify, graph_code};

use crate::clock::Clock;
use crate::graph::GraphClient;
use crate::journal::Journal;
use crate::log::LogError;
use crate::serial::to_self;
use crate::store::Store;
use crate::subscriptions::manager::{Ensure, Remove, Resubscribe, SetTenant};
use crate::subscriptions::{SubscriptionError, SubscriptionManager};
use crate::tables;

#[derive(Clone, Debug)]
pub struct ProvisioningSettings {
    /// Where the admin consent redirect lands (`{public_url}/admin/v1/consent/callback`).
    pub consent_redirect: String,
    /// How long a consent URL's `state` is valid.
    pub setup_ttl: Duration,
    /// How often users that are not activated are checked again.
    pub recheck: Duration,
    pub tick: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("the consent link is unknown, used or expired; start setup again")]
    BadState,
    #[error("the tenant's admin did not consent: {error}")]
    ConsentRefused { error: String, description: String },
    #[error("the consent callback names no valid tenant id")]
    NoTenant,
    #[error("this organisation is already connected to another Office 365 tenant")]
    OtherTenant,
    #[error("that tenant is already connected to another organisation")]
    TenantTaken,
    #[error("hcal could not get a token for the tenant ({code}); consent is not in effect")]
    TokenRefused { code: String },
    #[error("the organisation has not completed setup (admin consent) yet")]
    NotConsented,
    #[error("that is not a mail address")]
    BadAddress,
    #[error("that mailbox is not enabled")]
    UnknownUser,
    #[error("the join settings are not valid: {0}")]
    BadSettings(String),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("sealing failed: {0}")]
    Seal(String),
}

/// What the node tells a started mailbox (issue 5's router listens).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub enum MailboxLifecycle {
    Activated {
        org: OrgId,
        mailbox: MailboxKey,
        address: String,
        tenant_id: String,
    },
    Disabled {
        org: OrgId,
        mailbox: MailboxKey,
    },
    /// The organisation's join settings (at start and whenever they change).
    Configured {
        org: OrgId,
        setup: std::sync::Arc<crate::join::JoinSetup>,
    },
}

/// Personal API tokens of every organisation: digest -> mailbox. Only
/// digests are held; tokens are 256-bit random, so a digest lookup is safe.
#[derive(Clone, Default)]
pub struct ApiTokens {
    inner: std::sync::Arc<std::sync::RwLock<HashMap<String, (OrgId, MailboxKey)>>>,
}

impl ApiTokens {
    /// The mailbox a presented token belongs to.
    pub fn mailbox_of(&self, token: &str) -> Option<(OrgId, MailboxKey)> {
        self.inner.read().ok()?.get(&digest(token)).cloned()
    }

    fn insert(&self, digest: String, org: &OrgId, mailbox: &MailboxKey) {
        if let Ok(mut m) = self.inner.write() {
            m.insert(digest, (org.clone(), mailbox.clone()));
        }
    }

    fn forget_mailbox(&self, org: &OrgId, mailbox: &MailboxKey) {
        if let Ok(mut m) = self.inner.write() {
            m.retain(|_, (o, k)| !(o == org && k == mailbox));
        }
    }
}

pub struct TenantSupervisor {
    org: OrgId,
    tokens: ApiTokens,
    join: std::sync::Arc<crate::join::JoinSetup>,
    journal: Journal<TenantState>,
    graph: GraphClient,
    clock: Clock,
    subscriptions: Addr<SubscriptionManager>,
    settings: ProvisioningSettings,
    activating: HashSet<MailboxKey>,
    /// Each enabled mailbox not activated, and when to check it next (an
    /// activated one has no entry: a node's memory goes to the few in trouble).
    next_check: HashMap<MailboxKey, Timestamp>,
    /// Transient failures in a row of each mailbox not activated (for back-off).
    failures: HashMap<MailboxKey, u32>,
    /// Enabled users by status, as the users table has them.
    counts: UserCounts,
    mailboxes: Option<Recipient<MailboxLifecycle>>,
}

/// The addresses in the `UserEnabled` events of the `tenant` stream at
/// `versions` (ascending), by version, read in one pass over the log. Those
/// that cannot be read are left out, and logged.
pub fn addresses_at(store: &Store, tenant: &StreamId, versions: &[u64]) -> HashMap<u64, String> {
    let mut out = HashMap::with_capacity(versions.len());
    let read = store.log.read_versions(tenant, versions, |f| {
        if let Ok(TenantEvent::UserEnabled(e)) = TenantEvent::decode(f.type_name, f.schema_version, f.payload)
            && let Ok(Opened::Plain(a)) = e.address.open(store.keys.as_ref(), tenant, USER_ADDRESS_FIELD)
        {
            out.insert(f.version, a);
        }
        Ok(())
    });
    if let Err(e) = read {
        warn!(stream = %tenant, error = %e, "reading users' addresses failed");
    }
    if out.len() < versions.len() {
        warn!(stream = %tenant, missing = versions.len() - out.len(), "users whose address could not be read");
    }
    out
}

/// A mail address as hcal keys it: trimmed, lower case, one `@`.
pub fn normalise_address(address: &str) -> Result<String, TenantError> {
    let a = address.trim().to_lowercase();
    let ok = a.len() <= 320
        && a.split('@').count() == 2
        && a.split('@').all(|p| !p.is_empty())
        && !a.contains(char::is_whitespace)
        && !a.contains(['/', '?', '#', '\'', '"']);
    if ok { Ok(a) } else { Err(TenantError::BadAddress) }
}

impl TenantSupervisor {
    pub fn load(
        org: OrgId,
        store: &Store,
        graph: GraphClient,
        clock: Clock,
        subscriptions: Addr<SubscriptionManager>,
        settings: ProvisioningSettings,
        tokens: ApiTokens,
    ) -> Result<Self, crate::replay::ReplayError> {
        let journal = Journal::<TenantState>::load(store, StreamId::tenant(&org))?;
        for (d, mailbox) in &journal.state.api_tokens {
            tokens.insert(d.clone(), &org, mailbox);
        }
        let join = std::sync::Arc::new(Self::join_setup(&journal, &org));
        if let Some(t) = journal.state.tenant_id() {
            subscriptions.do_send(SetTenant(t.to_string()));
        }
        // Enabled users not activated are due for a check now; activated
        // ones are not held here at all.
        let now = clock.now();
        let mut next_check = HashMap::new();
        let mut counts = UserCounts::default();
        for r in tables::users::of_org(&store.log, &org) {
            let (mailbox, user) = r?;
            counts.count(&user, true);
            if user.enabled && user.status != UserStatus::Activated {
                next_check.insert(mailbox, now);
            }
        }
        Ok(Self {
            org,
            tokens,
            join,
            journal,
            graph,
            clock,
            subscriptions,
            settings,
            activating: HashSet::new(),
            next_check,
            failures: HashMap::new(),
            counts,
            mailboxes: None,
        })
    }

    /// The join setup the recorded settings describe (hcal's defaults without any).
    fn join_setup(journal: &Journal<TenantState>, org: &OrgId) -> crate::join::JoinSetup {
        let built = journal.state.join_settings.as_ref().map(|s| {
            let token = match &s.provider {
                ProviderSettings::Http { token, .. } => {
                    match token.open(journal.store().keys.as_ref(), &journal.stream, PROVIDER_TOKEN_FIELD) {
                        Ok(Opened::Plain(t)) => Some(t),
                        _ => None,
                    }
                }
                ProviderSettings::Site { .. } => None,
            };
            crate::join::settings::build(s, token.as_deref())
        });
        match built {
            Some(Ok(setup)) => setup,
            other => {
                if let Some(Err(e)) = other {
                    warn!(%org, error = %e, "recorded join settings do not build; using hcal's defaults");
                }
                crate::join::JoinSetup::defaults().unwrap_or_else(|_| unreachable!("the defaults build"))
            }
        }
    }

    pub fn tenant_id(&self) -> Option<String> {
        self.journal.state.tenant_id().map(str::to_string)
    }

    fn seal(&self, field: &'static str, value: &String) -> Result<hcal_schemas::Sealed<String>, TenantError> {
        self.journal
            .store()
            .sealer(&self.journal.stream)
            .and_then(|s| s.seal(field, value).map_err(Into::into))
            .map_err(|e| TenantError::Seal(e.to_string()))
    }

    /// A user's entry, from the log's users table (None: never enabled, or
    /// the table could not be read, which is logged).
    fn user(&self, mailbox: &MailboxKey) -> Option<UserEntry> {
        let stream = StreamId::mailbox(&self.org, mailbox);
        tables::users::get(&self.journal.store().log, &stream)
            .inspect_err(|e| warn!(org = %self.org, %mailbox, error = %e, "reading a user's entry failed"))
            .ok()
            .flatten()
    }

    /// Every user entry of the organisation (one pass over its rows of the
    /// users table); a failed read is logged and ends the list.
    fn users(&self) -> Vec<(MailboxKey, UserEntry)> {
        let mut out = Vec::new();
        for r in tables::users::of_org(&self.journal.store().log, &self.org) {
            match r {
                Ok(u) => out.push(u),
                Err(e) => {
                    warn!(org = %self.org, error = %e, "reading the users table failed");
                    break;
                }
            }
        }
        out
    }

    /// The addresses of `users`, read from the events that enabled them
    /// (one pass over the log); those that cannot be read are left out.
    fn addresses<'a>(
        &self,
        users: impl Iterator<Item = (&'a MailboxKey, &'a UserEntry)>,
    ) -> HashMap<MailboxKey, String> {
        let at: HashMap<u64, MailboxKey> = users.map(|(m, u)| (u.address_in, m.clone())).collect();
        let mut versions: Vec<u64> = at.keys().copied().collect();
        versions.sort_unstable();
        let mut found = addresses_at(self.journal.store(), &self.journal.stream, &versions);
        at.into_iter()
            .filter_map(|(v, m)| Some((m, found.remove(&v)?)))
            .collect()
    }

    fn append(&mut self, events: Vec<TenantEvent>) -> ResponseActFuture<Self, Result<(), TenantError>> {
        // The entries these events change, before and (read back) after, for the counts.
        let mut changed: Vec<MailboxKey> = events.iter().filter_map(|e| e.user().cloned()).collect();
        changed.sort();
        changed.dedup();
        let before: Vec<Option<UserEntry>> = changed.iter().map(|m| self.user(m)).collect();
        let pending = match self.journal.prepare(events) {
            Ok(p) => p,
            Err(e) => return Box::pin(fut::ready(Err(e.into()))),
        };
        Box::pin(
            async move { pending.write().await }
                .into_actor(self)
                .map(move |w, act, _| {
                    act.journal.commit(w?);
                    for (mailbox, before) in changed.iter().zip(before) {
                        if let Some(u) = before {
                            act.counts.count(&u, false);
                        }
                        if let Some(u) = act.user(mailbox) {
                            act.counts.count(&u, true);
                        }
                    }
                    Ok(())
                }),
        )
    }

    fn user_infos(&self) -> Vec<UserInfo> {
        let users = self.users();
        let mut addresses = self.addresses(users.iter().map(|(k, u)| (k, u)));
        users
            .iter()
            .map(|(key, u)| UserInfo::new(key, addresses.remove(key), u))
            .collect()
    }

    /// Checks a mailbox and subscribes it; records the status if it changed.
    fn activate(&mut self, mailbox: MailboxKey, ctx: &mut Context<Self>) {
        self.activate_all(vec![mailbox], ctx);
    }

    /// [`Self::activate`] for each of `mailboxes` not being checked already,
    /// their entries and addresses read in one pass.
    fn activate_all(&mut self, mut mailboxes: Vec<MailboxKey>, ctx: &mut Context<Self>) {
        mailboxes.retain(|m| !self.activating.contains(m));
        let mut users = Vec::with_capacity(mailboxes.len());
        for mailbox in mailboxes {
            match self.user(&mailbox).filter(|u| u.enabled) {
                Some(user) => users.push((mailbox, user)),
                // Disabled meanwhile (or never enabled): nothing to check.
                None => self.forget_checks(&mailbox),
            }
        }
        let mut addresses = self.addresses(users.iter().map(|(m, u)| (m, u)));
        for (mailbox, _) in users {
            if let Some(address) = addresses.remove(&mailbox) {
                self.check_and_subscribe(mailbox, address, ctx);
            }
        }
        self.report_checks();
    }

    /// How many enabled mailboxes wait to be activated, and how many of them
    /// are being checked now (an onboarding's progress).
    fn report_checks(&self) {
        let org = self.org.to_string();
        metrics::gauge!("hcal_users_awaiting_activation", "org" => org.clone()).set(self.next_check.len() as f64);
        metrics::gauge!("hcal_user_checks_in_flight", "org" => org).set(self.activating.len() as f64);
    }

    fn check_and_subscribe(&mut self, mailbox: MailboxKey, address: String, ctx: &mut Context<Self>) {
        let Some(tenant) = self.tenant_id() else {
            return;
        };
        self.activating.insert(mailbox.clone());
        let started = std::time::Instant::now();
        let graph = self.graph.clone();
        let subs = self.subscriptions.clone();
        let key = mailbox.clone();
        let addr = address.clone();
        let fut = async move {
            if let Err(e) = graph.get_mailbox_settings(&tenant, &addr).await {
                return (classify_graph(&e), Some(tenant));
            }
            match subs
                .send(Ensure {
                    mailbox: key,
                    address: addr,
                })
                .await
            {
                Ok(Ok(_)) => (UserStatus::Activated, Some(tenant)),
                Ok(Err(SubscriptionError::Graph(e))) => {
                    let mut s = classify_graph(&e);
                    if let UserStatus::Error {
                        kind: kind @ UserErrorKind::Other,
                        ..
                    } = &mut s
                    {
                        *kind = UserErrorKind::SubscriptionFailed;
                    }
                    (s, Some(tenant))
                }
                Ok(Err(e)) => (
                    UserStatus::Error {
                        kind: UserErrorKind::SubscriptionFailed,
                        code: Some(e.code()),
                    },
                    Some(tenant),
                ),
                Err(_) => (
                    UserStatus::Error {
                        kind: UserErrorKind::Other,
                        code: Some(SubscriptionError::Gone.code()),
                    },
                    Some(tenant),
                ),
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |(status, tenant), act, ctx| {
            metrics::histogram!("hcal_user_check_seconds").record(started.elapsed().as_secs_f64());
            act.activating.remove(&mailbox);
            if !act.user(&mailbox).is_some_and(|u| u.enabled) {
                // Disabled while it was being checked: not checked again.
                act.forget_checks(&mailbox);
                act.report_checks();
                return;
            }
            act.schedule_check(&mailbox, &status);
            act.report_checks();
            if status == UserStatus::Activated
                && let (Some(r), Some(t)) = (&act.mailboxes, tenant)
            {
                r.do_send(MailboxLifecycle::Activated {
                    org: act.org.clone(),
                    mailbox: mailbox.clone(),
                    address: address.clone(),
                    tenant_id: t,
                });
            }
            to_self(ctx, SetStatus { mailbox, status });
        }));
    }

    /// A mailbox no longer to be checked (disabled).
    fn forget_checks(&mut self, mailbox: &MailboxKey) {
        self.next_check.remove(mailbox);
        self.failures.remove(mailbox);
    }

    /// When to try a mailbox again after `status`. Transient trouble (throttling, an
    /// unexpected answer, a refused subscription: typical of a burst of enables) is
    /// retried after 30 s, doubling with each failure in a row up to the recheck
    /// period; lasting conditions (no such user, outside the access policy, consent
    /// revoked, ...) are looked at again after the recheck period.
    fn schedule_check(&mut self, mailbox: &MailboxKey, status: &UserStatus) {
        let recheck = self.settings.recheck;
        let delay = match status {
            UserStatus::Activated => {
                self.next_check.remove(mailbox);
                self.failures.remove(mailbox);
                return;
            }
            UserStatus::Error {
                kind: UserErrorKind::Throttled | UserErrorKind::Other | UserErrorKind::SubscriptionFailed,
                ..
            } => {
                let n = self.failures.entry(mailbox.clone()).or_insert(0);
                *n += 1;
                FIRST_RETRY.saturating_mul(1 << (*n - 1).min(16)).min(recheck)
            }
            _ => recheck,
        };
        let at = self.clock.now().plus_millis(delay.as_millis() as i64);
        self.next_check.insert(mailbox.clone(), at);
    }
}

/// The first retry of a mailbox whose activation met transient trouble.
const FIRST_RETRY: Duration = Duration::from_secs(30);

/// The user status a Graph error means.
fn classify_graph(e: &crate::graph::GraphError) -> UserStatus {
    UserStatus::Error {
        kind: classify(e),
        code: Some(graph_code(e)),
    }
}

impl Actor for TenantSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.settings.tick, |act, ctx| {
            let now = act.clock.now();
            let due: Vec<MailboxKey> = act
                .next_check
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(k, _)| k.clone())
                .collect();
            act.activate_all(due, ctx);
        });
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct SetStatus {
    mailbox: MailboxKey,
    status: UserStatus,
}

impl Handler<SetStatus> for TenantSupervisor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: SetStatus, _: &mut Context<Self>) -> Self::Result {
        let current = self.user(&msg.mailbox);
        if current.is_none_or(|u| !u.enabled || u.status == msg.status) {
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        info!(org = %self.org, mailbox = %msg.mailbox, status = ?msg.status, "user status changed");
        metrics::counter!("hcal_user_status_changes_total").increment(1);
        let mailbox = msg.mailbox.clone();
        let e = UserStatusChanged {
            mailbox: msg.mailbox,
            status: msg.status,
            graph_user_id: None,
        };
        AtomicResponse::new(Box::pin(self.append(vec![e.into()]).map(move |r, act, _| {
            if let Err(e) = r {
                warn!(error = %e, "recording a user status failed; the mailbox is checked again");
                act.next_check.insert(mailbox, act.clock.now());
            }
        })))
    }
}

/// Reports a problem with a mailbox found elsewhere (subscription, sync).
#[derive(Message)]
#[rtype(result = "()")]
pub struct MailboxProblem {
    pub mailbox: MailboxKey,
    pub status: UserStatus,
}

impl Handler<MailboxProblem> for TenantSupervisor {
    type Result = ();

    fn handle(&mut self, msg: MailboxProblem, ctx: &mut Context<Self>) {
        self.schedule_check(&msg.mailbox, &msg.status);
        to_self(
            ctx,
            SetStatus {
                mailbox: msg.mailbox,
                status: msg.status,
            },
        );
    }
}

/// A mailbox's subscription is gone (removed by Graph, not found on renewal
/// or at reconciliation): it is checked and subscribed again if enabled.
impl Handler<Resubscribe> for TenantSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Resubscribe, ctx: &mut Context<Self>) {
        // `activate` passes over a mailbox no longer enabled.
        self.activate(msg.mailbox, ctx);
    }
}

/// Who starts and stops mailbox actors.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OnMailboxLifecycle(pub Recipient<MailboxLifecycle>);

impl Handler<OnMailboxLifecycle> for TenantSupervisor {
    type Result = ();

    fn handle(&mut self, msg: OnMailboxLifecycle, _: &mut Context<Self>) {
        msg.0.do_send(MailboxLifecycle::Configured {
            org: self.org.clone(),
            setup: self.join.clone(),
        });
        if let Some(tenant) = self.tenant_id() {
            let users = self.users();
            let activated = users
                .iter()
                .filter(|(_, u)| u.enabled && u.status == UserStatus::Activated)
                .map(|(k, u)| (k, u));
            for (mailbox, address) in self.addresses(activated) {
                msg.0.do_send(MailboxLifecycle::Activated {
                    org: self.org.clone(),
                    mailbox,
                    address,
                    tenant_id: tenant.clone(),
                });
            }
        }
        self.mailboxes = Some(msg.0);
    }
}

/// Start setup: the admin-consent URL, with a single-use `state`.
#[derive(Message)]
#[rtype(result = "Result<String, TenantError>")]
pub struct StartSetup {
    /// Builds the consent URL from the `state` (the node knows the login URL).
    pub consent_url: fn(&GraphClient, &str, &str) -> String,
}

impl Handler<StartSetup> for TenantSupervisor {
    type Result = AtomicResponse<Self, Result<String, TenantError>>;

    fn handle(&mut self, msg: StartSetup, _: &mut Context<Self>) -> Self::Result {
        let mut raw = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut raw);
        let state = format!("{}.{}", self.org, URL_SAFE_NO_PAD.encode(raw));
        let url = (msg.consent_url)(&self.graph, &self.settings.consent_redirect, &state);
        let expires_at = self.clock.now().plus_millis(self.settings.setup_ttl.as_millis() as i64);
        let e = SetupStarted {
            state_digest: digest(&state),
            expires_at,
        };
        info!(org = %self.org, "setup started");
        AtomicResponse::new(Box::pin(self.append(vec![e.into()]).map(move |r, _, _| r.map(|_| url))))
    }
}

pub fn digest(state: &str) -> String {
    blake3::hash(state.as_bytes()).to_hex().to_string()
}

/// The admin-consent redirect came back.
#[derive(Message)]
#[rtype(result = "Result<String, TenantError>")]
pub struct CompleteConsent {
    pub state: String,
    pub tenant: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// Tenants already linked to other organisations.
    pub taken: Vec<String>,
}

impl Handler<CompleteConsent> for TenantSupervisor {
    type Result = AtomicResponse<Self, Result<String, TenantError>>;

    fn handle(&mut self, msg: CompleteConsent, _: &mut Context<Self>) -> Self::Result {
        let d = digest(&msg.state);
        let now = self.clock.now();
        match self.journal.state.pending_setups.get(&d) {
            Some(expires) if *expires > now => {}
            _ => return AtomicResponse::new(Box::pin(fut::ready(Err(TenantError::BadState)))),
        }
        // Branch on `error`, never on `admin_consent` alone.
        if let Some(error) = msg.error {
            let description = msg.error_description.unwrap_or_default();
            let e = ConsentFailed {
                state_digest: d,
                error: error.clone(),
                description: description.clone(),
            };
            warn!(org = %self.org, %error, "admin consent refused");
            return AtomicResponse::new(Box::pin(
                self.append(vec![e.into()])
                    .map(move |r, _, _| r.and(Err(TenantError::ConsentRefused { error, description }))),
            ));
        }
        let Some(tenant) = msg.tenant.filter(|t| is_tenant_id(t)) else {
            return AtomicResponse::new(Box::pin(fut::ready(Err(TenantError::NoTenant))));
        };
        if let Consent::Granted { tenant_id, .. } = &self.journal.state.consent
            && tenant_id != &tenant
        {
            return AtomicResponse::new(Box::pin(fut::ready(Err(TenantError::OtherTenant))));
        }
        if msg.taken.contains(&tenant) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(TenantError::TenantTaken))));
        }
        let graph = self.graph.clone();
        let t = tenant.clone();
        // Never trust the redirect's tenant: prove it by getting a token for it.
        AtomicResponse::new(Box::pin(async move { graph.token_ok(&t).await }.into_actor(self).then(
            move |proven, act, _| -> ResponseActFuture<Self, Result<String, TenantError>> {
                match proven {
                    Err(e) => {
                        let code = e.code().unwrap_or("token_failed").to_string();
                        let ev = ConsentFailed {
                            state_digest: d,
                            error: "token_refused".into(),
                            description: code.clone(),
                        };
                        Box::pin(
                            act.append(vec![ev.into()])
                                .map(move |r, _, _| r.and(Err(TenantError::TokenRefused { code }))),
                        )
                    }
                    Ok(()) => {
                        info!(org = %act.org, "admin consent granted and proven");
                        act.subscriptions.do_send(SetTenant(tenant.clone()));
                        let ev = ConsentGranted {
                            tenant_id: tenant.clone(),
                            state_digest: d,
                        };
                        Box::pin(act.append(vec![ev.into()]).map(move |r, _, ctx| {
                            to_self(ctx, RecheckAll);
                            r.map(|_| tenant)
                        }))
                    }
                }
            },
        )))
    }
}

/// A tenant id as Microsoft issues them: a GUID.
fn is_tenant_id(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[derive(Message)]
#[rtype(result = "()")]
struct RecheckAll;

impl Handler<RecheckAll> for TenantSupervisor {
    type Result = ();

    fn handle(&mut self, _: RecheckAll, _: &mut Context<Self>) {
        let now = self.clock.now();
        self.next_check.values_mut().for_each(|at| *at = now);
    }
}

/// Prove each permission on a test mailbox.
#[derive(Message)]
#[rtype(result = "Result<CheckReport, TenantError>")]
pub struct CheckTestMailbox {
    pub address: String,
}

impl Handler<CheckTestMailbox> for TenantSupervisor {
    type Result = AtomicResponse<Self, Result<CheckReport, TenantError>>;

    fn handle(&mut self, msg: CheckTestMailbox, _: &mut Context<Self>) -> Self::Result {
        let address = match normalise_address(&msg.address) {
            Ok(a) => a,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
        };
        let Some(tenant) = self.tenant_id() else {
            return AtomicResponse::new(Box::pin(fut::ready(Err(TenantError::NotConsented))));
        };
        let graph = self.graph.clone();
        let now = self.clock.now();
        let a = address.clone();
        AtomicResponse::new(Box::pin(
            async move { checks::run(&graph, &tenant, &a, now).await }
                .into_actor(self)
                .then(
                    move |report, act, _| -> ResponseActFuture<Self, Result<CheckReport, TenantError>> {
                        let sealed = match act.seal(TEST_ADDRESS_FIELD, &address) {
                            Ok(s) => s,
                            Err(e) => return Box::pin(fut::ready(Err(e))),
                        };
                        let checks = report.to_events(|m| act.seal(CHECK_MESSAGE_FIELD, &m.to_string()).ok());
                        info!(org = %act.org, ok = report.ok, "test mailbox checked");
                        let ev = TestMailboxChecked {
                            address: sealed,
                            ok: report.ok,
                            checks,
                        };
                        Box::pin(act.append(vec![ev.into()]).map(move |r, _, _| r.map(|_| report)))
                    },
                ),
        ))
    }
}

/// Enable a mailbox (user or room).
#[derive(Message)]
#[rtype(result = "Result<UserInfo, TenantError>")]
pub struct EnableUser {
    pub address: String,
    pub kind: MailboxKind,
}

impl Handler<EnableUser> for TenantSupervisor {
    type Result = AtomicResponse<Self, Result<UserInfo, TenantError>>;

    fn handle(&mut self, msg: EnableUser, _: &mut Context<Self>) -> Self::Result {
        let address = match normalise_address(&msg.address) {
            Ok(a) => a,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
        };
        let mailbox = self.journal.store().keys.mailbox_key(&address);
        if let Some(u) = self.user(&mailbox)
            && u.enabled
            && u.kind == msg.kind
        {
            let info = UserInfo::new(&mailbox, Some(address), &u);
            return AtomicResponse::new(Box::pin(fut::ready(Ok(info))));
        }
        let sealed = match self.seal(USER_ADDRESS_FIELD, &address) {
            Ok(s) => s,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
        };
        let ev = UserEnabled {
            mailbox: mailbox.clone(),
            address: sealed,
            kind: msg.kind,
        };
        info!(org = %self.org, %mailbox, "user enabled");
        AtomicResponse::new(Box::pin(self.append(vec![ev.into()]).map(move |r, act, ctx| {
            r?;
            // Due now: checked and subscribed, and again after a failure.
            act.next_check.insert(mailbox.clone(), act.clock.now());
            act.failures.remove(&mailbox);
            act.activate(mailbox.clone(), ctx);
            let u = act.user(&mailbox).ok_or(TenantError::UnknownUser)?;
            Ok(UserInfo::new(&mailbox, Some(address), &u))
        })))
    }
}

/// Disable a mailbox: its subscription goes, its actor stops.
#[derive(Message)]
#[rtype(result = "Result<UserInfo, TenantError>")]
pub struct DisableUser {
    pub address: String,
}

impl Handler<DisableUser> for TenantSupervisor {
    type Result = AtomicResponse<Self, Result<UserInfo, TenantError>>;

    fn handle(&mut self, msg: DisableUser, _: &mut Context<Self>) -> Self::Result {
        let address = match normalise_address(&msg.address) {
            Ok(a) => a,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
        };
        let mailbox = self.journal.store().keys.mailbox_key(&address);
        match self.user(&mailbox) {
            None => return AtomicResponse::new(Box::pin(fut::ready(Err(TenantError::UnknownUser)))),
            Some(u) if !u.enabled => {
                let info = UserInfo::new(&mailbox, Some(address), &u);
                return AtomicResponse::new(Box::pin(fut::ready(Ok(info))));
            }
            Some(_) => {}
        }
        info!(org = %self.org, %mailbox, "user disabled");
        self.tokens.forget_mailbox(&self.org, &mailbox);
        let ev = UserDisabled {
            mailbox: mailbox.clone(),
        };
        AtomicResponse::new(Box::pin(self.append(vec![ev.into()]).then(move |r, act, _| {
            let subs = act.subscriptions.clone();
            let m = mailbox.clone();
            if let Some(rcp) = &act.mailboxes {
                rcp.do_send(MailboxLifecycle::Disabled {
                    org: act.org.clone(),
                    mailbox: mailbox.clone(),
                });
            }
            async move {
                r?;
                if let Ok(Err(e)) = subs.send(Remove { mailbox: m }).await {
                    warn!(error = %e, "removing the subscription of a disabled user failed");
                }
                Ok::<_, TenantError>(())
            }
            .into_actor(act)
            .map(move |r, act, _| {
                r?;
                act.forget_checks(&mailbox);
                let u = act.user(&mailbox).ok_or(TenantError::UnknownUser)?;
                Ok(UserInfo::new(&mailbox, Some(address), &u))
            })
        })))
    }
}

/// Every user with status.
#[derive(Message)]
#[rtype(result = "Vec<UserInfo>")]
pub struct ListUsers;

impl Handler<ListUsers> for TenantSupervisor {
    type Result = MessageResult<ListUsers>;

    fn handle(&mut self, _: ListUsers, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.user_infos())
    }
}

/// The Microsoft tenant the organisation is connected to, if any (cheap:
/// for readiness probes; `Describe` counts users from the users table).
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct TenantIdOf;

impl Handler<TenantIdOf> for TenantSupervisor {
    type Result = Option<String>;

    fn handle(&mut self, _: TenantIdOf, _: &mut Context<Self>) -> Option<String> {
        self.tenant_id()
    }
}

/// The organisation's provisioning state.
#[derive(Message)]
#[rtype(result = "TenantSummary")]
pub struct Describe;

#[derive(Clone, Debug, serde::Serialize)]
pub struct TenantSummary {
    pub org: String,
    pub consent: &'static str,
    pub tenant_id: Option<String>,
    /// Enabled users, and how many of them are activated, waiting for
    /// their first check, or in error.
    pub users: usize,
    #[serde(flatten)]
    pub counts: UserCounts,
}

impl Handler<Describe> for TenantSupervisor {
    type Result = MessageResult<Describe>;

    fn handle(&mut self, _: Describe, _: &mut Context<Self>) -> Self::Result {
        let s = &self.journal.state;
        MessageResult(TenantSummary {
            org: self.org.to_string(),
            consent: match s.consent {
                Consent::NotStarted => "not_started",
                Consent::Pending => "pending",
                Consent::Granted { .. } => "granted",
                Consent::Failed { .. } => "failed",
            },
            tenant_id: s.tenant_id().map(str::to_string),
            users: self.counts.enabled(),
            counts: self.counts,
        })
    }
}

/// Issue a personal API token for a mailbox (it reads that mailbox's meetings only).
#[derive(Message)]
#[rtype(result = "Result<String, TenantError>")]
pub struct IssueToken {
    pub address: String,
}

impl Handler<IssueToken> for TenantSupervisor {
    type Result = AtomicResponse<Self, Result<String, TenantError>>;

    fn handle(&mut self, msg: IssueToken, _: &mut Context<Self>) -> Self::Result {
        let address = match normalise_address(&msg.address) {
            Ok(a) => a,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
        };
        let mailbox = self.journal.store().keys.mailbox_key(&address);
        if !self.user(&mailbox).is_some_and(|u| u.enabled) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(TenantError::UnknownUser))));
        }
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = format!("hcal_{}", URL_SAFE_NO_PAD.encode(raw));
        let d = digest(&token);
        info!(org = %self.org, %mailbox, "personal API token issued");
        let ev = ApiTokenIssued {
            mailbox: mailbox.clone(),
            token_digest: d.clone(),
        };
        AtomicResponse::new(Box::pin(self.append(vec![ev.into()]).map(move |r, act, _| {
            r?;
            act.tokens.insert(d, &act.org, &mailbox);
            Ok(token)
        })))
    }
}

impl Handler<crate::journal::StateOf> for TenantSupervisor {
    type Result = MessageResult<crate::journal::StateOf>;

    fn handle(&mut self, _: crate::journal::StateOf, _: &mut Context<Self>) -> Self::Result {
        MessageResult(hcal_schemas::Aggregate::into_any(self.journal.state.clone()))
    }
}

/// Set the organisation's join settings (keywords, rules, wording, meeting service).
#[derive(Message)]
#[rtype(result = "Result<serde_json::Value, TenantError>")]
pub struct SetJoinSettings(pub crate::join::settings::JoinSettingsInput);

impl Handler<SetJoinSettings> for TenantSupervisor {
    type Result = AtomicResponse<Self, Result<serde_json::Value, TenantError>>;

    fn handle(&mut self, msg: SetJoinSettings, _: &mut Context<Self>) -> Self::Result {
        let sealer = self.journal.store().sealer(&self.journal.stream);
        let built = crate::join::settings::settings(msg.0, |token| {
            let sealer = sealer.map_err(|e| e.to_string())?;
            sealer
                .seal(PROVIDER_TOKEN_FIELD, &token.to_string())
                .map_err(|e| e.to_string())
        });
        let (settings, setup) = match built {
            Ok(b) => b,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(TenantError::BadSettings(e.to_string()))))),
        };
        info!(org = %self.org, "join settings changed");
        let ev = JoinSettingsChanged { settings };
        AtomicResponse::new(Box::pin(self.append(vec![ev.into()]).map(move |r, act, _| {
            r?;
            act.join = std::sync::Arc::new(setup);
            if let Some(rcp) = &act.mailboxes {
                rcp.do_send(MailboxLifecycle::Configured {
                    org: act.org.clone(),
                    setup: act.join.clone(),
                });
            }
            Ok(act.join_settings_view())
        })))
    }
}

impl TenantSupervisor {
    fn join_settings_view(&self) -> serde_json::Value {
        use hcal_schemas::Aggregate;
        self.journal
            .state
            .view(&self.journal.stream, &hcal_schemas::Reveal::Redacted)
            .ok()
            .and_then(|v| v.join_settings)
            .unwrap_or(serde_json::json!("defaults"))
    }
}

/// The organisation's join settings as recorded (the token never shown).
#[derive(Message)]
#[rtype(result = "serde_json::Value")]
pub struct GetJoinSettings;

impl Handler<GetJoinSettings> for TenantSupervisor {
    type Result = MessageResult<GetJoinSettings>;

    fn handle(&mut self, _: GetJoinSettings, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.join_settings_view())
    }
}

/// What the organisation's detection makes of one Graph event (the rule tester).
#[derive(Message)]
#[rtype(result = "serde_json::Value")]
pub struct TestJoinRules(pub serde_json::Value);

impl Handler<TestJoinRules> for TenantSupervisor {
    type Result = MessageResult<TestJoinRules>;

    fn handle(&mut self, msg: TestJoinRules, _: &mut Context<Self>) -> Self::Result {
        MessageResult(hcal_joinlink::detect_graph_event(&msg.0, &self.join.detector))
    }
}
