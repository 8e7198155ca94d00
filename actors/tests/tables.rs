//! The log's tables: rows the commit that appends events writes beside
//! them, read by key instead of held in memory. The users table must say
//! what a replay folds from the tenant's events, after any appends, a reopen, a crash
//! between a commit's records and its watermark, and a rebuild.

mod common;
use common::raw_sled;

use std::collections::BTreeMap;

use hcal_actors::Store;
use hcal_actors::log::{ExpectedVersion, LogError, LogOptions, NewEvent, layout};
use hcal_actors::replay::replay_all;
use hcal_actors::tables::{subscriptions, users};
use hcal_schemas::aggregate::tenant::UserEntry;
use hcal_schemas::events::EventMeta;
use hcal_schemas::events::subscription::*;
use hcal_schemas::events::tenant::*;
use hcal_schemas::{EventFamily, MailboxKey, OrgId, SecretKey, StreamId, SubscriptionEvent, TenantEvent, Timestamp};
use proptest::prelude::*;

fn org() -> OrgId {
    OrgId::new("acme").unwrap()
}

fn key(n: u8) -> MailboxKey {
    MailboxKey::parse(&format!("{n:032x}")).unwrap()
}

fn store(dir: &std::path::Path) -> Store {
    Store::open(dir, SecretKey::from_bytes([7; 32]), &LogOptions::default()).unwrap()
}

/// A user event about mailbox `n`: 0 enable, 1 disable, 2.. a status.
fn event(store: &Store, n: u8, what: u8) -> TenantEvent {
    let tenant = StreamId::tenant(&org());
    match what {
        0 => {
            let sealer = store.sealer(&tenant).unwrap();
            TenantEvent::UserEnabled(UserEnabled {
                mailbox: key(n),
                address: sealer
                    .seal(USER_ADDRESS_FIELD, &format!("user{n}@acme.example"))
                    .unwrap(),
                kind: if n.is_multiple_of(2) {
                    MailboxKind::User
                } else {
                    MailboxKind::Room
                },
            })
        }
        1 => TenantEvent::UserDisabled(UserDisabled { mailbox: key(n) }),
        s => TenantEvent::UserStatusChanged(UserStatusChanged {
            mailbox: key(n),
            status: match s % 3 {
                0 => UserStatus::Activated,
                1 => UserStatus::Pending,
                _ => UserStatus::Error {
                    kind: UserErrorKind::Throttled,
                    code: Some(format!("code{s}")),
                },
            },
            graph_user_id: s
                .is_multiple_of(2)
                .then(|| format!("0000000{n}-0000-0000-0000-000000000000")),
        }),
    }
}

/// The log's rows are exactly what a replay projects from the events.
fn assert_rows_match(store: &Store) {
    let projected = replay_all(&store.log, |_, _| {}).unwrap().rows;
    assert_eq!(store.log.table_rows().unwrap(), projected);
}

fn watermark(tree: &sled::Tree) -> u64 {
    layout::be_u64(&tree.get(layout::WATERMARK).unwrap().unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_users_table_says_what_the_events_say(
        batches in prop::collection::vec(prop::collection::vec((0u8..4, 0u8..6), 1..4), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let tenant = StreamId::tenant(&org());
        {
            let store = store(dir.path());
            let mut folded: BTreeMap<u8, Option<UserEntry>> = BTreeMap::new();
            for batch in &batches {
                let events: Vec<TenantEvent> = batch.iter().map(|&(n, w)| event(&store, n, w)).collect();
                let a = store.append_blocking(&tenant, ExpectedVersion::Any, &events).unwrap();
                let first = a.version + 1 - events.len() as u64;
                for ((n, _), (version, e)) in batch.iter().zip((first..).zip(&events)) {
                    let entry = folded.remove(n).flatten();
                    folded.insert(*n, UserEntry::fold(entry, &EventMeta { version, at: a.at }, e));
                }
            }
            for (n, entry) in &folded {
                let row = users::get(&store.log, &StreamId::mailbox(&org(), &key(*n))).unwrap();
                prop_assert_eq!(&row, entry, "mailbox {}", n);
            }
            assert_rows_match(&store);
        }
        // The same after a reopen, and after a rebuild from the log alone.
        assert_rows_match(&store(dir.path()));
        {
            let db = raw_sled(&dir.path().join("log"));
            let tree = db.open_tree("hcal").unwrap();
            tree.remove(layout::TABLES_MARK).unwrap();
            for k in tree.scan_prefix([layout::TABLE]).keys() {
                tree.remove(k.unwrap()).unwrap();
            }
            db.flush().unwrap();
        }
        assert_rows_match(&store(dir.path()));
    }
}

/// What a crash right after a commit's records leaves (its index, rows,
/// watermark and the tables' mark never written; the rows, watermark and
/// mark are one batch, so there is no other torn state), or records an
/// older build appended without rows: `event` as version `version` of
/// `stream`, at the next sequence, and nothing else.
fn tear<E: EventFamily>(dir: &std::path::Path, stream: &StreamId, version: u64, event: &E) {
    use hcal_actors::log::frame;
    let db = raw_sled(&dir.join("log"));
    let tree = db.open_tree("hcal").unwrap();
    let seq = watermark(&tree) + 1;
    let mut rec = Vec::new();
    let payload = event.encode_payload().unwrap();
    frame::encode_into(
        &mut rec,
        stream,
        version,
        Timestamp(5),
        event.type_name(),
        event.schema_version(),
        &payload,
    );
    let mut blob = Vec::new();
    layout::push_record(&mut blob, &rec);
    tree.insert(layout::log_key(seq), blob).unwrap();
    db.flush().unwrap();
}

/// A user disabled by a commit torn after its records is disabled in the
/// table once the log opens.
#[test]
fn a_commit_torn_before_its_rows_gets_them_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = StreamId::tenant(&org());
    let mbx = StreamId::mailbox(&org(), &key(2));
    let disable = {
        let store = store(dir.path());
        store
            .append_blocking(&tenant, ExpectedVersion::Any, &[event(&store, 2, 0)])
            .unwrap();
        event(&store, 2, 1)
    };
    tear(dir.path(), &tenant, 2, &disable);
    let store = store(dir.path());
    assert_eq!(store.log.head(&tenant).unwrap(), 2);
    assert!(
        !users::get(&store.log, &mbx).unwrap().unwrap().enabled,
        "the disable is projected at open"
    );
    assert_rows_match(&store);
}

/// A mailbox's first subscription, torn after its records, opens no gap
/// when it is projected at open: the projection reads the rows as they
/// were before the commit, not rows the commit itself had written.
#[test]
fn a_first_subscription_torn_before_its_rows_opens_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let stream = StreamId::subscriptions(&org());
    let created = {
        let store = store(dir.path());
        let mut made = Vec::new();
        // Something in the stream first, so the torn commit is not the log's first.
        let missed = subscription_event(&store, &mut made, 5, 1, 100);
        store
            .append_blocking(&stream, ExpectedVersion::Exact(0), &[missed])
            .unwrap();
        subscription_event(&store, &mut made, 0, 2, 500)
    };
    tear(dir.path(), &stream, 2, &created);
    let store = store(dir.path());
    assert_eq!(
        subscriptions::of_mailbox(&store.log, &org(), &key(2))
            .unwrap()
            .map(|(id, _)| id),
        Some("sub-0".to_string())
    );
    let gaps: Vec<MailboxKey> = subscriptions::gaps(&store.log, &org())
        .unwrap()
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(gaps, vec![key(1)], "only the missed mailbox has a gap");
    assert_rows_match(&store);
}

#[test]
fn an_event_the_tables_cannot_read_is_refused_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let tenant = StreamId::tenant(&org());
    let garbage = NewEvent {
        type_name: "tenant.user_enabled",
        schema_version: 1,
        payload: vec![0xff; 3],
    };
    let err = store
        .log
        .append_blocking(&tenant, ExpectedVersion::Exact(0), vec![garbage])
        .unwrap_err();
    assert!(matches!(err, LogError::Corrupt(_)), "{err}");
    assert_eq!(store.log.head(&tenant).unwrap(), 0, "nothing of it was appended");
    store
        .append_blocking(&tenant, ExpectedVersion::Exact(0), &[event(&store, 0, 0)])
        .unwrap();
    assert_rows_match(&store);
}

/// A subscription event: 0 create (mailbox `n`, a new id), 1 renew, 2 remove,
/// 3 reauthorisation wanted, 4 reauthorised (the `n`th id made so far),
/// 5 missed, 6 resynced (mailbox `n`).
fn subscription_event(store: &Store, made: &mut Vec<String>, what: u8, n: u8, at: i64) -> SubscriptionEvent {
    let id = |made: &Vec<String>| {
        made.get(n as usize % made.len().max(1))
            .cloned()
            .unwrap_or("none".into())
    };
    match what {
        0 => {
            let sealer = store.sealer(&StreamId::subscriptions(&org())).unwrap();
            made.push(format!("sub-{}", made.len()));
            SubscriptionEvent::SubscriptionCreated(SubscriptionCreated {
                mailbox: key(n),
                subscription_id: made.last().unwrap().clone(),
                resource: sealer.seal(RESOURCE_FIELD, &format!("users/{n}/events")).unwrap(),
                expires_at: Timestamp(at),
                client_state: sealer.seal(CLIENT_STATE_FIELD, &"secret".to_string()).unwrap(),
            })
        }
        1 => SubscriptionEvent::SubscriptionRenewed(SubscriptionRenewed {
            subscription_id: id(made),
            expires_at: Timestamp(at),
        }),
        2 => SubscriptionEvent::SubscriptionRemoved(SubscriptionRemoved {
            subscription_id: id(made),
            reason: RemovalReason::NotFound,
        }),
        3 => SubscriptionEvent::ReauthorizationRequested(ReauthorizationRequested {
            subscription_id: id(made),
        }),
        4 => SubscriptionEvent::Reauthorized(Reauthorized {
            subscription_id: id(made),
        }),
        5 => SubscriptionEvent::NotificationsMissed(NotificationsMissed {
            subscription_id: id(made),
            mailbox: key(n),
        }),
        _ => SubscriptionEvent::Resynced(Resynced { mailbox: key(n) }),
    }
}

/// What the subscription events mean, kept the plain way (as the aggregate
/// held it before the tables).
#[derive(Default)]
struct Model {
    /// id -> (mailbox, expiry, reauthorisation wanted)
    live: BTreeMap<String, (u8, i64, bool)>,
    ever: std::collections::BTreeSet<u8>,
    gaps: std::collections::BTreeSet<u8>,
    /// mailbox -> its current subscription
    current: BTreeMap<u8, Option<String>>,
}

impl Model {
    fn apply(&mut self, e: &SubscriptionEvent, mailbox_of: impl Fn(&MailboxKey) -> u8) {
        match e {
            SubscriptionEvent::SubscriptionCreated(c) => {
                let m = mailbox_of(&c.mailbox);
                if !self.ever.insert(m) {
                    self.gaps.insert(m);
                }
                self.live.insert(c.subscription_id.clone(), (m, c.expires_at.0, false));
                self.current.insert(m, Some(c.subscription_id.clone()));
            }
            SubscriptionEvent::SubscriptionRenewed(r) => {
                if let Some(s) = self.live.get_mut(&r.subscription_id) {
                    (s.1, s.2) = (r.expires_at.0, false);
                }
            }
            SubscriptionEvent::SubscriptionRemoved(r) => {
                if let Some((m, ..)) = self.live.remove(&r.subscription_id)
                    && self.current.get(&m) == Some(&Some(r.subscription_id.clone()))
                {
                    self.current.insert(m, None);
                }
            }
            SubscriptionEvent::ReauthorizationRequested(r) => {
                if let Some(s) = self.live.get_mut(&r.subscription_id) {
                    s.2 = true;
                }
            }
            SubscriptionEvent::Reauthorized(r) => {
                if let Some(s) = self.live.get_mut(&r.subscription_id) {
                    s.2 = false;
                }
            }
            SubscriptionEvent::NotificationsMissed(m) => drop(self.gaps.insert(mailbox_of(&m.mailbox))),
            SubscriptionEvent::Resynced(r) => drop(self.gaps.remove(&mailbox_of(&r.mailbox))),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_subscription_tables_say_what_the_events_say(
        batches in prop::collection::vec(prop::collection::vec((0u8..7, 0u8..3, 1i64..1_000), 1..4), 1..14),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let stream = StreamId::subscriptions(&org());
        let store = store(dir.path());
        let mut made = Vec::new();
        let mut model = Model::default();
        let mailbox_of = |k: &MailboxKey| (0u8..3).find(|n| key(*n) == *k).unwrap();
        for batch in &batches {
            let events: Vec<SubscriptionEvent> =
                batch.iter().map(|&(w, n, at)| subscription_event(&store, &mut made, w, n, at)).collect();
            events.iter().for_each(|e| model.apply(e, mailbox_of));
            store.append_blocking(&stream, ExpectedVersion::Any, &events).unwrap();
        }
        let mut by_expiry: Vec<(String, Timestamp)> =
            model.live.iter().map(|(id, s)| (id.clone(), Timestamp(s.1))).collect();
        by_expiry.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        prop_assert_eq!(subscriptions::of_org(&store.log, &org()).unwrap(), by_expiry.clone());
        let soon: Vec<_> = by_expiry.iter().filter(|(_, at)| at.0 <= 500).cloned().collect();
        prop_assert_eq!(subscriptions::expiring(&store.log, &org(), Timestamp(500)).unwrap(), soon);
        let reauth: Vec<String> = model.live.iter().filter(|(_, s)| s.2).map(|(id, _)| id.clone()).collect();
        prop_assert_eq!(subscriptions::reauthorization_wanted(&store.log, &org()).unwrap(), reauth);
        let gaps: Vec<u8> = subscriptions::gaps(&store.log, &org()).unwrap().iter().map(|(m, _)| mailbox_of(m)).collect();
        prop_assert_eq!(gaps, model.gaps.iter().copied().collect::<Vec<_>>());
        for n in 0u8..3 {
            let current = subscriptions::of_mailbox(&store.log, &org(), &key(n)).unwrap().map(|(id, _)| id);
            prop_assert_eq!(current, model.current.get(&n).cloned().flatten(), "mailbox {}", n);
        }
        assert_rows_match(&store);
    }
}

/// Appends that the committer takes in one round see each other's rows:
/// hundreds of changes to one user's entry submitted at once, and the table
/// still says what a replay of the log, in its order, says.
#[tokio::test]
async fn appends_committed_together_see_each_others_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let tenant = StreamId::tenant(&org());
    let appends = (0u16..400).map(|i| {
        let e = NewEvent::from_event(&event(&store, 0, (i % 6) as u8)).unwrap();
        store.log.append(&tenant, ExpectedVersion::Any, vec![e])
    });
    let done = futures_util::future::join_all(appends).await;
    assert!(done.iter().all(Result::is_ok));
    let commits = store.log.stats().commits.load(std::sync::atomic::Ordering::Relaxed);
    assert!(commits < 100, "{commits} commits: rounds held several appends");
    assert_rows_match(&store);
}
