//! The event log as its users rely on it: durable appends with optimistic
//! concurrency, reads, group commit, snapshots, export and import.

mod common;
use common::raw_sled;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hcal_actors::journal::Journal;
use hcal_actors::log::{EventLog, ExpectedVersion, LogError, LogOptions, NewEvent, SideWrite, export};
use hcal_actors::replay::{load_stream, load_stream_from_snapshot, replay_all, save_snapshot};
use hcal_actors::sample::SampleCalendar;
use hcal_actors::{Store, StoreError};
use hcal_schemas::aggregate::MailboxState;
use hcal_schemas::events::EventFamily;
use hcal_schemas::events::mailbox::ContentAt;
use hcal_schemas::{AnyState, MailboxEvent, MailboxKey, Opened, OrgId, SecretKey, StreamId, Vault};

fn mailbox(n: u32) -> StreamId {
    StreamId::mailbox(
        &OrgId::new("acme").unwrap(),
        &MailboxKey::parse(&format!("{n:032x}")).unwrap(),
    )
}

fn store(dir: &std::path::Path) -> Store {
    Store::open(dir, SecretKey::from_bytes([42; 32]), &LogOptions::default()).unwrap()
}

#[test]
fn appends_are_versioned_and_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let s = mailbox(1);
    let sealer = store.sealer(&s).unwrap();
    let mut cal = SampleCalendar::new(1);
    let events: Vec<MailboxEvent> = (0..3).map(|_| cal.change(&sealer, 5).unwrap()).collect();
    let a = store
        .append_blocking(&s, ExpectedVersion::Exact(0), &events[..2])
        .unwrap();
    assert_eq!((a.first_seq, a.version), (1, 2));
    let err = store
        .append_blocking(&s, ExpectedVersion::Exact(1), &events[2..])
        .unwrap_err();
    match err {
        StoreError::Log(LogError::WrongExpectedVersion { expected, actual, .. }) => {
            assert_eq!((expected, actual), (1, 2))
        }
        other => panic!("unexpected {other}"),
    }
    let b = store.append_blocking(&s, ExpectedVersion::Any, &events[2..]).unwrap();
    assert_eq!((b.first_seq, b.version), (3, 3));

    let read: Vec<MailboxEvent> = store
        .log
        .read_stream(&s, 1)
        .map(|r| {
            let r = r.unwrap();
            let f = r.frame().unwrap();
            MailboxEvent::decode(f.type_name, f.schema_version, f.payload).unwrap()
        })
        .collect();
    assert_eq!(read, events);
    assert_eq!(store.log.read_stream(&s, 3).count(), 1);
    assert_eq!(store.log.head(&s).unwrap(), 3);
    assert_eq!(store.log.head(&mailbox(2)).unwrap(), 0);
    let heads: Vec<(StreamId, u64)> = store.log.stream_heads().map(Result::unwrap).collect();
    assert_eq!(heads, vec![(s.clone(), 3)]);

    // Reopened, the log continues where it was.
    drop(store);
    let store = self::store(dir.path());
    let c = store
        .append_blocking(&s, ExpectedVersion::Exact(3), &events[..1])
        .unwrap();
    assert_eq!((c.first_seq, c.version), (4, 4));
}

#[test]
fn concurrent_appenders_share_fsyncs_and_keep_every_stream_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let threads = 16;
    let per_thread = 40;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let store = store.clone();
            scope.spawn(move || {
                let s = mailbox(t);
                let sealer = store.sealer(&s).unwrap();
                let mut cal = SampleCalendar::new(t as u64);
                for i in 0..per_thread {
                    let e = cal.change(&sealer, 10).unwrap();
                    let a = store.append_blocking(&s, ExpectedVersion::Exact(i), &[e]).unwrap();
                    assert_eq!(a.version, i + 1);
                }
            });
        }
    });
    let stats = store.log.stats();
    let appends = threads as u64 * per_thread;
    assert_eq!(stats.events.load(std::sync::atomic::Ordering::Relaxed), appends);
    let syncs = stats.syncs.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        syncs < appends,
        "group commit folded nothing: {syncs} fsyncs for {appends} appends"
    );
    for t in 0..threads {
        let versions: Vec<u64> = store
            .log
            .read_stream(&mailbox(t), 1)
            .map(|r| r.unwrap().frame().unwrap().version)
            .collect();
        assert_eq!(versions, (1..=per_thread).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn expected_versions_hold_for_streams_whose_heads_the_log_forgot() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let event = || {
        vec![NewEvent {
            type_name: "probe",
            schema_version: 1,
            payload: vec![1, 2, 3],
        }]
    };
    let heads = |store: &Store| store.log.stats().heads_cached.load(Ordering::Relaxed);
    let streams: Vec<StreamId> = (0..200).map(mailbox).collect();
    let firsts = futures_util::future::join_all(
        streams
            .iter()
            .map(|s| store.log.append(s, ExpectedVersion::Exact(0), event())),
    )
    .await;
    assert!(firsts.iter().all(|r| r.as_ref().is_ok_and(|a| a.version == 1)));
    assert_eq!(heads(&store), 200);
    // Half the writers are done (as mailboxes passivating): their heads go, and
    // are read from the index at their next append.
    for s in streams.iter().step_by(2) {
        store.log.forget_head(s);
    }
    // Requests are taken in order: once a later append is answered, the forgets are done.
    store
        .log
        .append(&mailbox(1_000), ExpectedVersion::Exact(0), event())
        .await
        .unwrap();
    assert_eq!(heads(&store), 101);
    for s in &streams {
        match store.log.append(s, ExpectedVersion::Exact(0), event()).await {
            Err(LogError::WrongExpectedVersion {
                expected: 0, actual: 1, ..
            }) => {}
            other => panic!("{s}: {other:?}"),
        }
        let a = store.log.append(s, ExpectedVersion::Exact(1), event()).await.unwrap();
        assert_eq!(a.version, 2);
    }
    assert_eq!(heads(&store), 201);
}

#[tokio::test]
async fn side_writes_commit_with_appends_and_the_log_refuses_its_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let s = mailbox(3);
    let sealer = store.sealer(&s).unwrap();
    let e = SampleCalendar::new(3).change(&sealer, 2).unwrap();
    store
        .log
        .write_durable(vec![SideWrite::Insert(b"Ix1".to_vec(), b"one".to_vec())])
        .await
        .unwrap();
    let new = vec![NewEvent::from_event(&e).unwrap()];
    store
        .log
        .append_with(
            &s,
            ExpectedVersion::Exact(0),
            new,
            vec![SideWrite::Remove(b"Ix1".to_vec())],
        )
        .await
        .unwrap();
    assert_eq!(store.log.scan_side(b"I").count(), 0);
    let refused = store
        .log
        .write_durable(vec![SideWrite::Insert(b"L\0\0\0\0\0\0\0\x01".to_vec(), vec![])])
        .await;
    assert!(matches!(refused, Err(LogError::Refused(_))));
}

#[test]
fn a_stream_loads_the_same_from_its_snapshot_as_from_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let s = mailbox(4);
    let sealer = store.sealer(&s).unwrap();
    let mut cal = SampleCalendar::new(4);
    let first: Vec<MailboxEvent> = (0..30).map(|_| cal.change(&sealer, 12).unwrap()).collect();
    store.append_blocking(&s, ExpectedVersion::Any, &first).unwrap();
    let at_30 = load_stream(&store.log, &s).unwrap();
    assert_eq!(at_30.version(), 30);
    save_snapshot(&store.log, &s, &at_30).unwrap();
    let rest: Vec<MailboxEvent> = (0..20).map(|_| cal.change(&sealer, 12).unwrap()).collect();
    store.append_blocking(&s, ExpectedVersion::Any, &rest).unwrap();
    let from_snapshot = load_stream(&store.log, &s).unwrap();
    let full = replay_all(&store.log, |_, _| {}).unwrap().states.remove(&s).unwrap();
    assert_eq!(from_snapshot.version(), 50);
    assert_eq!(from_snapshot, full);
    // An actor's journal knows how far its state is past the snapshot.
    let mut journal = Journal::<MailboxState>::load(&store, s.clone()).unwrap();
    assert_eq!(journal.unsnapshotted(), 20);
    journal.snapshot().unwrap();
    assert_eq!(journal.unsnapshotted(), 0);
    assert_eq!(
        Journal::<MailboxState>::load(&store, s.clone())
            .unwrap()
            .unsnapshotted(),
        0
    );
    // A snapshot that no longer decodes is ignored, not fatal.
    store.log.save_snapshot(&s, 50, b"\x09junk").unwrap();
    assert_eq!(load_stream(&store.log, &s).unwrap(), full);
    // So is one of the layout before (a bare state, its meetings holding
    // their content): the stream is replayed instead.
    store
        .log
        .save_snapshot(&s, 50, &hcal_schemas::codec::encode(&full).unwrap())
        .unwrap();
    assert_eq!(load_stream_from_snapshot(&store.log, &s).unwrap(), (full, 0));
}

/// A mailbox's state points at its meetings' content in the log: the store
/// reads it from there, and it opens to what a whole replay (which keeps the
/// content it folds) finds.
#[test]
fn held_meetings_read_their_content_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let s = mailbox(6);
    let sealer = store.sealer(&s).unwrap();
    let mut cal = SampleCalendar::new(6);
    let events: Vec<MailboxEvent> = (0..40).map(|_| cal.change(&sealer, 8).unwrap()).collect();
    // Appends of several sizes: reads go within and across commits.
    for chunk in events.chunks(7) {
        store.append_blocking(&s, ExpectedVersion::Any, chunk).unwrap();
    }
    let AnyState::Mailbox(state) = load_stream(&store.log, &s).unwrap() else {
        panic!("not a mailbox state");
    };
    assert!(state.meetings.len() > 3, "{} meetings", state.meetings.len());
    let replayed = replay_all(&store.log, |_, _| {}).unwrap();
    let kept = replayed.contents.with_keys(store.keys.as_ref());
    assert_eq!(
        replayed.contents.len(),
        state.meetings.len(),
        "only held content is kept"
    );
    for m in state.meetings.values() {
        let from_log = m.content.open(&store, &s).unwrap();
        assert!(matches!(from_log, Opened::Plain(_)));
        assert_eq!(from_log, m.content.open(&kept, &s).unwrap());
    }
    let past_the_end = ContentAt { version: 41, index: 0 };
    assert_eq!(store.meeting_content(&s, past_the_end).unwrap(), None);
    let beyond = ContentAt { version: 1, index: 9 };
    assert_eq!(store.meeting_content(&s, beyond).unwrap(), None);
    // Many at once (read in one pass where close, sought where far apart)
    // come back in the order asked, each as it reads alone.
    let mut ats: Vec<ContentAt> = (1..=41)
        .rev()
        .chain([1, 40, 2, 39])
        .map(|version| ContentAt { version, index: 0 })
        .collect();
    ats.push(beyond);
    let many = store.meeting_contents(&s, &ats).unwrap();
    assert_eq!(many.len(), ats.len());
    for (at, got) in ats.iter().zip(&many) {
        assert_eq!(
            got.as_deref(),
            store.meeting_content(&s, *at).unwrap().as_ref(),
            "{at:?}"
        );
    }
    assert!(many.iter().filter(|c| c.is_some()).count() > 20);
}

#[test]
fn export_then_import_gives_the_same_replay() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut cal = SampleCalendar::new(5);
    for n in 0..3 {
        let s = mailbox(n);
        let sealer = store.sealer(&s).unwrap();
        let events: Vec<MailboxEvent> = (0..10).map(|_| cal.change(&sealer, 6).unwrap()).collect();
        store.append_blocking(&s, ExpectedVersion::Any, &events).unwrap();
    }
    let mut bytes = Vec::new();
    assert_eq!(export::export(&store.log, &mut bytes).unwrap(), 30);
    let original = replay_all(&store.log, |_, _| {}).unwrap();

    let other = tempfile::tempdir().unwrap();
    let log = EventLog::open(other.path(), &LogOptions::default()).unwrap();
    assert_eq!(export::import(&log, &mut bytes.as_slice()).unwrap(), 30);
    let imported = replay_all(&log, |_, _| {}).unwrap();
    assert_eq!(imported.states, original.states);
    // The imported log continues its sequence.
    let s = mailbox(0);
    let e = NewEvent::from_event(&cal.change(&store.sealer(&s).unwrap(), 6).unwrap()).unwrap();
    let a = log.append_blocking(&s, ExpectedVersion::Exact(10), vec![e]).unwrap();
    assert_eq!(a.first_seq, 31);
    // A second import is refused; a truncated export is refused whole.
    assert!(matches!(
        export::import(&log, &mut bytes.as_slice()),
        Err(LogError::Refused(_))
    ));
    let third = tempfile::tempdir().unwrap();
    let log3 = EventLog::open(third.path(), &LogOptions::default()).unwrap();
    assert!(export::import(&log3, &mut &bytes[..bytes.len() - 5]).is_err());
    assert_eq!(log3.last_seq().unwrap(), 0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Replay is deterministic, and equals the fold a live node keeps while
    /// it appends (with the version and time each append returned).
    #[test]
    fn replay_equals_the_fold_kept_while_appending(seed: u64, streams in 1u32..6, events in 1usize..80) {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut live: BTreeMap<StreamId, AnyState> = BTreeMap::new();
        let mut cal = SampleCalendar::new(seed);
        for round in 0..events {
            let s = mailbox(seed.wrapping_add(round as u64) as u32 % streams);
            let sealer = store.sealer(&s).unwrap();
            let e = cal.change(&sealer, 8).unwrap();
            let a = store.append_blocking(&s, ExpectedVersion::Any, std::slice::from_ref(&e)).unwrap();
            let state = live.remove(&s).unwrap_or_else(|| AnyState::empty(s.kind()));
            let meta = hcal_schemas::EventMeta { version: a.version, at: a.at };
            let payload = e.encode_payload().unwrap();
            let state = state.apply_stored(&meta, e.type_name(), e.schema_version(), &payload).unwrap();
            live.insert(s, state);
        }
        let first = replay_all(&store.log, |_, _| {}).unwrap();
        let second = replay_all(&store.log, |_, _| {}).unwrap();
        proptest::prop_assert_eq!(first.events, events as u64);
        proptest::prop_assert_eq!(&first.states, &live);
        let keys: Arc<_> = store.keys.clone();
        let d1 = first.digest(keys.as_ref()).unwrap();
        proptest::prop_assert_eq!(&d1, &second.digest(keys.as_ref()).unwrap());
        let live_digest = hcal_schemas::aggregate::digest(&live, &BTreeMap::new(), &store).unwrap();
        proptest::prop_assert_eq!(d1, live_digest);
    }
}

#[test]
fn reads_start_anywhere_inside_a_multi_event_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut cal = SampleCalendar::new(7);
    for n in [3u32, 1, 2] {
        let s = mailbox(n);
        let sealer = store.sealer(&s).unwrap();
        let events: Vec<MailboxEvent> = (0..5).map(|_| cal.change(&sealer, 4).unwrap()).collect();
        store.append_blocking(&s, ExpectedVersion::Any, &events[..3]).unwrap();
        store.append_blocking(&s, ExpectedVersion::Any, &events[3..]).unwrap();
    }
    let versions = |from| -> Vec<u64> {
        store
            .log
            .read_stream(&mailbox(1), from)
            .map(|r| r.unwrap().frame().unwrap().version)
            .collect()
    };
    assert_eq!(versions(0), vec![1, 2, 3, 4, 5]);
    assert_eq!(versions(2), vec![2, 3, 4, 5]);
    assert_eq!(versions(4), vec![4, 5]);
    assert_eq!(versions(6), Vec::<u64>::new());
    let heads: Vec<(StreamId, u64)> = store.log.stream_heads().map(Result::unwrap).collect();
    assert_eq!(heads, vec![(mailbox(1), 5), (mailbox(2), 5), (mailbox(3), 5)]);
    assert_eq!(store.log.last_seq().unwrap(), 15);
    let seqs: Vec<u64> = store.log.read_all(7).map(|r| r.unwrap().seq).collect();
    assert_eq!(seqs, (7..=15).collect::<Vec<_>>());
}

#[test]
fn a_log_another_handle_holds_is_told_apart_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _held = store(dir.path());
    let Err(err) = sled::open(dir.path().join("log")) else {
        panic!("a second open of a held log succeeded");
    };
    assert!(hcal_actors::log::is_locked(&err), "{err}");
}

#[test]
fn a_commit_torn_before_its_index_is_completed_at_open() {
    use hcal_actors::log::{frame, layout};
    let dir = tempfile::tempdir().unwrap();
    let s = mailbox(9);
    let payload = {
        let store = store(dir.path());
        let sealer = store.sealer(&s).unwrap();
        let mut cal = SampleCalendar::new(9);
        let events: Vec<MailboxEvent> = (0..3).map(|_| cal.change(&sealer, 4).unwrap()).collect();
        store
            .append_blocking(&s, ExpectedVersion::Exact(0), &events[..2])
            .unwrap();
        (
            events[2].type_name(),
            events[2].schema_version(),
            events[2].encode_payload().unwrap(),
        )
    };
    let (type_name, schema, payload) = payload;
    // What a crash right after writing a commit's records (before its index
    // and watermark) leaves behind: seq 3, version 3, unindexed.
    {
        let db = raw_sled(&dir.path().join("log"));
        let tree = db.open_tree("hcal").unwrap();
        let mut rec = Vec::new();
        frame::encode_into(&mut rec, &s, 3, hcal_schemas::Timestamp(5), type_name, schema, &payload);
        let mut blob = Vec::new();
        layout::push_record(&mut blob, &rec);
        tree.insert(layout::log_key(3), blob).unwrap();
        db.flush().unwrap();
    }
    let store = store(dir.path());
    assert_eq!(store.log.head(&s).unwrap(), 3);
    assert_eq!(store.log.read_stream(&s, 1).count(), 3);
    assert_eq!(replay_all(&store.log, |_, _| {}).unwrap().states[&s].version(), 3);
    let sealer = store.sealer(&s).unwrap();
    let e = SampleCalendar::new(10).change(&sealer, 4).unwrap();
    let a = store.append_blocking(&s, ExpectedVersion::Exact(3), &[e]).unwrap();
    assert_eq!((a.first_seq, a.version), (4, 4));
}
