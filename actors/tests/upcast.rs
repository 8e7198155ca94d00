//! Old logs replay after event types change: `fixtures/log-v1/` holds a log
//! (and its keys) written with `mailbox.calendar_event_upserted` at schema
//! version 1, before sensitivity and `isOrganizer` were recorded. It is
//! committed as bytes; `HCAL_WRITE_FIXTURES=1 cargo test -p hcal-actors --test
//! upcast` regenerates it (only do that on purpose: it is history).

use std::path::{Path, PathBuf};

use hcal_actors::Store;
use hcal_actors::log::{EventLog, ExpectedVersion, LogOptions, NewEvent, export};
use hcal_actors::replay::replay_all;
use hcal_schemas::codec;
use hcal_schemas::events::legacy::{CalendarEventUpsertedV1, MeetingRecordV1};
use hcal_schemas::events::mailbox::*;
use hcal_schemas::{AnyState, OrgId, Reveal, SecretKey, StreamId, Timestamp};

const MASTER: [u8; 32] = [0x5a; 32];
const ADDRESS: &str = "fixture@contoso.example";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/log-v1")
}

fn write_fixture() {
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(work.path(), SecretKey::from_bytes(MASTER), &LogOptions::default()).unwrap();
    let org = OrgId::new("contoso").unwrap();
    let stream = StreamId::mailbox(&org, &store.keys.mailbox_key(ADDRESS));
    let sealer = store.sealer(&stream).unwrap();
    for i in 0..3 {
        let content = MeetingContent {
            subject: format!("Fixture meeting {i}"),
            locations: vec!["Room 1".into()],
            organizer: Some(Person {
                name: "Fixture".into(),
                address: ADDRESS.into(),
            }),
            attendees: vec![],
            join: None,
            keyword: None,
        };
        let v1 = CalendarEventUpsertedV1 {
            meeting: MeetingRecordV1 {
                id: format!("AAMkAGfixture{i}"),
                kind: EventKind::SingleInstance,
                series_master_id: None,
                start: Timestamp(1_780_000_000_000 + i * 3_600_000),
                end: Timestamp(1_780_001_800_000 + i * 3_600_000),
                is_all_day: false,
                is_cancelled: false,
                change_key: format!("ck{i}"),
                last_modified: Timestamp(1_779_000_000_000),
                content: sealer.seal(MeetingContent::FIELD, &content).unwrap(),
            },
        };
        let event = NewEvent {
            type_name: "mailbox.calendar_event_upserted",
            schema_version: 1,
            payload: codec::encode(&v1).unwrap(),
        };
        store
            .log
            .append_blocking(&stream, ExpectedVersion::Any, vec![event])
            .unwrap();
    }
    let out = fixture_dir();
    std::fs::create_dir_all(out.join("keys")).unwrap();
    let mut f = std::fs::File::create(out.join("log.export")).unwrap();
    export::export(&store.log, &mut f).unwrap();
    for k in ["tenant-keys.bin", "data-keys.bin"] {
        std::fs::copy(work.path().join("keys").join(k), out.join("keys").join(k)).unwrap();
    }
}

#[test]
fn a_log_written_with_schema_v1_replays_upcast() {
    if std::env::var_os("HCAL_WRITE_FIXTURES").is_some() {
        write_fixture();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    for k in ["tenant-keys.bin", "data-keys.bin"] {
        std::fs::copy(fixture_dir().join("keys").join(k), dir.path().join("keys").join(k)).unwrap();
    }
    {
        let log = EventLog::open(dir.path(), &LogOptions::default()).unwrap();
        let bytes = std::fs::read(fixture_dir().join("log.export")).unwrap();
        assert_eq!(export::import(&log, &mut bytes.as_slice()).unwrap(), 3);
        // The fixture really holds v1 records.
        for rec in log.read_all(0) {
            let rec = rec.unwrap();
            let f = rec.frame().unwrap();
            assert_eq!((f.type_name, f.schema_version), ("mailbox.calendar_event_upserted", 1));
        }
    }
    let store = Store::open(dir.path(), SecretKey::from_bytes(MASTER), &LogOptions::default()).unwrap();
    let stream = StreamId::mailbox(&OrgId::new("contoso").unwrap(), &store.keys.mailbox_key(ADDRESS));
    let rebuilt = replay_all(&store.log, |_, _| {}).unwrap();
    assert_eq!(rebuilt.events, 3);
    let AnyState::Mailbox(state) = &rebuilt.states[&stream] else {
        panic!("not a mailbox stream")
    };
    let m = &state.meetings["AAMkAGfixture1"];
    assert_eq!(m.sensitivity, Sensitivity::Normal);
    assert!(!m.is_organizer);
    assert_eq!(m.change_key.to_string(), "ck1");
    let view = rebuilt.states[&stream]
        .view_json(&stream, &Reveal::With(&store))
        .unwrap();
    assert_eq!(view["meetings"][1]["content"]["subject"], "Fixture meeting 1");
    // New appends go on at the current schema, after the old ones.
    assert_eq!(store.log.head(&stream).unwrap(), 3);
}
