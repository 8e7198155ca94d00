//! The fold as a user of the meeting list would notice it: what a mailbox
//! shows after a sequence of calendar changes; and the mailbox's meeting
//! collection against the id-keyed map it replaced.

use std::collections::BTreeMap;
use std::sync::Arc;

use hcal_schemas::aggregate::mailbox::MailboxState;
use hcal_schemas::aggregate::meetings::Meetings;
use hcal_schemas::aggregate::tenant::{Consent, TenantState, UserEntry};
use hcal_schemas::aggregate::{KeptContents, StreamContents};
use hcal_schemas::events::mailbox::*;
use hcal_schemas::events::tenant::*;
use hcal_schemas::*;
use proptest::prelude::*;

struct Keys(Arc<SecretKey>);
impl KeyLookup for Keys {
    fn data_key(&self, _: &StreamId, _: KeyRef) -> Result<Option<Arc<SecretKey>>, SealError> {
        Ok(Some(self.0.clone()))
    }
}

fn stream() -> StreamId {
    StreamId::mailbox(
        &OrgId::new("acme").unwrap(),
        &MailboxKey::parse(&"ab".repeat(16)).unwrap(),
    )
}

const H: i64 = 3_600_000;

fn meeting(key: &SecretKey, id: &str, start_h: i64, modified: i64, subject: &str) -> MeetingRecord {
    let s = stream();
    let content = MeetingContent {
        subject: subject.into(),
        locations: vec![],
        organizer: None,
        attendees: vec![],
        join: None,
        keyword: None,
    };
    MeetingRecord {
        id: id.into(),
        kind: EventKind::SingleInstance,
        series_master_id: None,
        start: Timestamp(start_h * H),
        end: Timestamp(start_h * H + H),
        is_all_day: false,
        is_cancelled: false,
        is_organizer: true,
        sensitivity: Sensitivity::Normal,
        change_key: format!("ck-{modified}").into(),
        last_modified: Timestamp(modified),
        join_explanation: None,
        content: Sealer::new(&s, KeyRef(0), key)
            .seal(MeetingContent::FIELD, &content)
            .unwrap(),
    }
}

/// A folded state, and the meeting content its events carried (which the
/// state points at rather than holds).
struct Folded {
    state: MailboxState,
    kept: KeptContents,
}

impl std::ops::Deref for Folded {
    type Target = MailboxState;
    fn deref(&self) -> &MailboxState {
        &self.state
    }
}

/// A meeting as a state holds it (its content somewhere in the log).
fn held(key: &SecretKey, id: &str, start_h: i64, subject: &str) -> HeldMeeting {
    meeting(key, id, start_h, start_h, subject).held(ContentAt {
        version: start_h.unsigned_abs(),
        index: 0,
    })
}

fn fold(events: &[MailboxEvent]) -> Folded {
    let mut contents = StreamContents::default();
    let state = events.iter().enumerate().fold(MailboxState::default(), |s, (i, e)| {
        let version = i as u64 + 1;
        let mut e = e.clone();
        contents.take_from(version, &mut e);
        s.apply(
            &EventMeta {
                version,
                at: Timestamp(i as i64),
            },
            e,
        )
    });
    let mut kept = KeptContents::default();
    kept.insert(stream(), contents);
    Folded { state, kept }
}

fn subject(folded: &Folded, keys: &Keys, id: &str) -> String {
    match folded.meetings[id]
        .content
        .open(&folded.kept.with_keys(keys), &stream())
        .unwrap()
    {
        Opened::Plain(c) => c.subject,
        Opened::Erased => panic!("erased"),
    }
}

fn upsert(m: MeetingRecord) -> MailboxEvent {
    CalendarEventUpserted { meeting: m }.into()
}

/// What a replay keeps is what its states point at: a meeting changed
/// again, or deleted, lets its older content go.
#[test]
fn only_content_a_meeting_points_at_is_kept() {
    let key = SecretKey::generate();
    let events = [
        upsert(meeting(&key, "a", 1, 1, "first")),
        upsert(meeting(&key, "a", 1, 2, "second")),
        upsert(meeting(&key, "b", 2, 1, "other")),
        CalendarEventDeleted { event_id: "b".into() }.into(),
    ];
    let mut contents = StreamContents::default();
    let mut state = MailboxState::default();
    for (version, mut e) in (1u64..).zip(events) {
        contents.take_from(version, &mut e);
        state = state.apply(
            &EventMeta {
                version,
                at: Timestamp(0),
            },
            e,
        );
    }
    assert_eq!(contents.len(), 3);
    contents.retain_held(&state);
    assert_eq!(contents.len(), 1);
    let mut kept = KeptContents::default();
    kept.insert(stream(), contents);
    let folded = Folded { state, kept };
    assert_eq!(subject(&folded, &Keys(Arc::new(key)), "a"), "second");
}

/// A settled state keeps room for the meetings it has, not for the 22 its
/// vector grew to on the way to 21.
#[test]
fn a_settled_state_keeps_no_room_beyond_its_meetings() {
    let key = SecretKey::generate();
    let events: Vec<MailboxEvent> = (0..21)
        .map(|i| upsert(meeting(&key, &format!("m{i:02}"), i, 1, "weekly")))
        .collect();
    let mut state = fold(&events).state;
    assert_eq!(state.meetings.len(), 21);
    assert!(state.meetings.capacity() > 21, "grown by an eighth");
    state.settle();
    assert_eq!(state.meetings.capacity(), 21);
}

#[test]
fn an_older_state_never_overwrites_a_newer_one() {
    let key = SecretKey::generate();
    let keys = Keys(Arc::new(key.clone()));
    let state = fold(&[
        upsert(meeting(&key, "a", 10, 200, "new title")),
        upsert(meeting(&key, "a", 10, 100, "old title")),
    ]);
    assert_eq!(subject(&state, &keys, "a"), "new title");
    assert_eq!(state.version, 2);
    let state = fold(&[
        upsert(meeting(&key, "a", 10, 100, "old")),
        upsert(meeting(&key, "a", 12, 200, "moved")),
    ]);
    assert_eq!(subject(&state, &keys, "a"), "moved");
    assert_eq!(state.meetings["a"].start, Timestamp(12 * H));
}

#[test]
fn deleting_a_series_master_removes_its_occurrences() {
    let key = SecretKey::generate();
    let mut master = meeting(&key, "m", 0, 1, "weekly");
    master.kind = EventKind::SeriesMaster;
    let occ = |id: &str, h: i64| {
        let mut o = meeting(&key, id, h, 1, "weekly");
        o.kind = EventKind::Occurrence;
        o.series_master_id = Some(Box::new("m".into()));
        o
    };
    let o1 = occ("o1", 0);
    let o2 = occ("o2", 168);
    let other = meeting(&key, "x", 5, 1, "other");
    let events = vec![
        upsert(master),
        InstancesRefreshed {
            series_master_id: "m".into(),
            from: Timestamp(0),
            to: Timestamp(1000 * H),
            instances: vec![o1, o2.clone()],
        }
        .into(),
        upsert(other),
    ];
    let state = fold(&events);
    assert_eq!(
        state.listed().iter().map(|m| m.id.to_string()).collect::<Vec<_>>(),
        vec!["o1", "x", "o2"]
    );

    // A refresh without o1 (that occurrence was deleted) drops it.
    let mut refreshed = events.clone();
    refreshed.push(
        InstancesRefreshed {
            series_master_id: "m".into(),
            from: Timestamp(0),
            to: Timestamp(1000 * H),
            instances: vec![o2],
        }
        .into(),
    );
    let state = fold(&refreshed);
    assert_eq!(
        state.listed().iter().map(|m| m.id.to_string()).collect::<Vec<_>>(),
        vec!["x", "o2"]
    );

    let mut deleted = events;
    deleted.push(CalendarEventDeleted { event_id: "m".into() }.into());
    let state = fold(&deleted);
    assert_eq!(state.meetings.keys().collect::<Vec<_>>(), vec!["x"]);
}

#[test]
fn the_window_drops_meetings_outside_it() {
    let key = SecretKey::generate();
    let s = stream();
    let cursor = Sealer::new(&s, KeyRef(0), &key)
        .seal(SYNC_CURSOR_FIELD, &"https://delta".to_string())
        .unwrap();
    let state = fold(&[
        upsert(meeting(&key, "past", -500, 1, "long ago")),
        upsert(meeting(&key, "soon", 5, 1, "soon")),
        SyncCursorAdvanced {
            delta_link: cursor,
            window_start: Timestamp(-168 * H),
            window_end: Timestamp(744 * H),
        }
        .into(),
        upsert(meeting(&key, "far", 2000, 1, "far ahead")),
    ]);
    assert_eq!(state.meetings.keys().collect::<Vec<_>>(), vec!["soon"]);
}

#[test]
fn users_move_through_statuses_and_consent_is_recorded() {
    let key = SecretKey::generate();
    let org = OrgId::new("acme").unwrap();
    let s = StreamId::tenant(&org);
    let addr = Sealer::new(&s, KeyRef(0), &key)
        .seal(USER_ADDRESS_FIELD, &"a@x.example".to_string())
        .unwrap();
    let mk = MailboxKey::parse(&"cd".repeat(16)).unwrap();
    let events: Vec<TenantEvent> = vec![
        SetupStarted {
            state_digest: "d1".into(),
            expires_at: Timestamp(10),
        }
        .into(),
        ConsentGranted {
            tenant_id: "t-1".into(),
            state_digest: "d1".into(),
        }
        .into(),
        UserEnabled {
            mailbox: mk.clone(),
            address: addr,
            kind: MailboxKind::User,
        }
        .into(),
        UserStatusChanged {
            mailbox: mk.clone(),
            status: UserStatus::Error {
                kind: UserErrorKind::OutsideAccessPolicy,
                code: Some("ErrorAccessDenied".into()),
            },
            graph_user_id: None,
        }
        .into(),
    ];
    let state = events.iter().enumerate().fold(TenantState::default(), |st, (i, e)| {
        st.apply(
            &EventMeta {
                version: i as u64 + 1,
                at: Timestamp(i as i64 * 1000),
            },
            e.clone(),
        )
    });
    assert_eq!(
        state.consent,
        Consent::Granted {
            tenant_id: "t-1".into(),
            at: Timestamp(1000)
        }
    );
    assert!(state.pending_setups.is_empty());
    // The users' entries fold apart from the aggregate (the log keeps them as a table).
    let u = events
        .iter()
        .enumerate()
        .fold(None, |u, (i, e)| {
            let meta = EventMeta {
                version: i as u64 + 1,
                at: Timestamp(i as i64 * 1000),
            };
            UserEntry::fold(u, &meta, e)
        })
        .unwrap();
    assert!(u.enabled);
    assert!(matches!(
        u.status,
        UserStatus::Error {
            kind: UserErrorKind::OutsideAccessPolicy,
            ..
        }
    ));
    assert_eq!(u.status_changed_at, Timestamp(3000));
    // The address stays in the event that enabled the user (the third).
    assert_eq!(u.address_in, 3);
    let view = AnyState::Tenant(state).view_json(&s, &Reveal::Redacted).unwrap();
    assert!(view.get("users").is_none(), "{view}");
}

#[test]
fn failed_decorations_are_summed_until_patched_or_over() {
    let key = SecretKey::generate();
    let requested = |id: &str| -> MailboxEvent {
        JoinDetailsRequested {
            event_id: id.into(),
            keyword: "@webex".into(),
            action: JoinAction::PersonalRoom,
        }
        .into()
    };
    let failed = |id: &str, code: &str, retry_h: Option<i64>| -> MailboxEvent {
        JoinDetailsFailed {
            event_id: id.into(),
            code: code.into(),
            attempt: 1,
            retry_at: retry_h.map(|h| Timestamp(h * H)),
        }
        .into()
    };
    let mut events = vec![
        upsert(meeting(&key, "a", 10, 1, "a")),
        upsert(meeting(&key, "b", 20, 1, "b")),
        requested("a"),
        requested("b"),
        failed("a", "ErrorAccessDenied", None),
        failed("b", "provider_unavailable", Some(3)),
    ];
    let state = fold(&events);
    let f = state.join_failures(Timestamp(0)).expect("two failures");
    assert_eq!(f.meetings, 2);
    assert_eq!(f.last_code, "provider_unavailable", "the latest failure names the code");
    assert_eq!(f.next_retry_at, Some(Timestamp(3 * H)));
    // Meeting a is over at hour 11: it no longer counts.
    let f = state.join_failures(Timestamp(11 * H)).expect("one failure");
    assert_eq!(f.meetings, 1);
    // Once b is patched nothing is failing.
    events.push(
        JoinDetailsPatched {
            event_id: "b".into(),
            meeting_id: "m".into(),
            block_hash: "h".into(),
            change_key: "ck".into(),
            start: Timestamp(20 * H),
            end: Timestamp(21 * H),
        }
        .into(),
    );
    assert_eq!(fold(&events).join_failures(Timestamp(11 * H)), None);
}

// The meeting collection: it behaves as the id-keyed map it replaced and reads and
// writes the same bytes, so snapshots written by earlier versions load unchanged.

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, i64),
    Remove(u8),
}

/// Ids as Exchange's are: a long head shared by a mailbox's events (two heads
/// here, one a prefix of the other's), then the item; some short.
fn long_id(i: u8) -> String {
    let head = if i.is_multiple_of(3) {
        "AAMkAGI2"
    } else {
        "AAMkAGI2AAAA"
    };
    match i % 4 {
        0 => format!("AAMkAG-{i:03}"),
        _ => format!(
            "{head}{}{i:03}{}",
            "Q".repeat(100 + usize::from(i % 5)),
            "=".repeat(usize::from(i % 2))
        ),
    }
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (0u8..40, 0i64..1000).prop_map(|(i, s)| Op::Insert(i, s)),
            (0u8..40).prop_map(Op::Remove),
        ],
        0..120,
    )
}

proptest! {
    /// Any sequence of inserts and removals leaves the same records, in the same
    /// order, as a BTreeMap by id; both encode to the same bytes and each decodes
    /// the other's.
    #[test]
    fn the_meeting_collection_behaves_and_encodes_as_the_map_it_replaced(ops in ops()) {
        let key = SecretKey::generate();
        let mut map: BTreeMap<String, HeldMeeting> = BTreeMap::new();
        let mut meetings = Meetings::default();
        for op in ops {
            match op {
                Op::Insert(i, s) => {
                    let r = held(&key, &long_id(i), s, "planning");
                    map.insert(r.id.to_string(), r.clone());
                    meetings.insert(r);
                }
                Op::Remove(i) => {
                    let id = long_id(i);
                    prop_assert_eq!(map.remove(&id), meetings.remove(&id));
                }
            }
            prop_assert_eq!(map.len(), meetings.len());
        }
        prop_assert!(map.values().eq(meetings.values()));
        prop_assert!(map.keys().cloned().eq(meetings.keys().map(|k| k.to_string())));
        for (id, r) in &map {
            prop_assert_eq!(meetings.get(id), Some(r));
            prop_assert_eq!(&meetings[id.as_str()], r);
        }
        let from_map = codec::encode(&map).unwrap();
        prop_assert_eq!(&from_map, &codec::encode(&meetings).unwrap());
        prop_assert_eq!(&codec::decode::<Meetings>(&from_map).unwrap(), &meetings);
        prop_assert_eq!(codec::decode::<BTreeMap<String, HeldMeeting>>(&from_map).unwrap(), map);
    }
}

#[test]
fn a_record_filed_under_another_id_does_not_decode() {
    let key = SecretKey::generate();
    let mut map = BTreeMap::new();
    map.insert("AAMkAG-a".to_string(), held(&key, "AAMkAG-b", 1, "planning"));
    let bytes = codec::encode(&map).unwrap();
    assert!(codec::decode::<Meetings>(&bytes).is_err());
}

#[test]
fn collected_records_keep_the_last_of_each_id_in_id_order() {
    let key = SecretKey::generate();
    let m: Meetings = [
        held(&key, "b", 1, "first"),
        held(&key, "a", 2, "other"),
        held(&key, "b", 3, "second"),
    ]
    .into_iter()
    .collect();
    assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(m["b"].start, Timestamp(3 * H));
}

fn digest_of(folded: Folded, keys: &Keys) -> String {
    let states = BTreeMap::from([(stream(), AnyState::Mailbox(folded.state))]);
    hcal_schemas::aggregate::digest(&states, &BTreeMap::new(), &folded.kept.with_keys(keys)).unwrap()
}

/// The digest covers sealed content as plaintext: a subject changes it, the
/// nonce a value was sealed with does not, and another key cannot make one.
#[test]
fn the_digest_follows_the_plaintext_not_its_ciphertext() {
    let key = SecretKey::generate();
    let keys = Keys(Arc::new(key.clone()));
    let state = |subject: &str| fold(&[upsert(meeting(&key, "a", 1, 1, subject))]);
    let standup = digest_of(state("Stand-up"), &keys);
    assert_eq!(
        digest_of(state("Stand-up"), &keys),
        standup,
        "sealed again, same digest"
    );
    assert_ne!(digest_of(state("Stand-down"), &keys), standup);
    let stranger = Keys(Arc::new(SecretKey::generate()));
    let folded = state("Stand-up");
    let states = BTreeMap::from([(stream(), AnyState::Mailbox(folded.state))]);
    assert!(hcal_schemas::aggregate::digest(&states, &BTreeMap::new(), &folded.kept.with_keys(&stranger)).is_err());
}
