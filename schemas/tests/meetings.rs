//! A mailbox's meeting collection: it behaves as the id-keyed map it
//! replaced, and reads and writes the same bytes, so snapshots written by
//! earlier versions load unchanged.

use std::collections::BTreeMap;

use hcal_schemas::aggregate::meetings::Meetings;
use hcal_schemas::events::mailbox::*;
use hcal_schemas::*;
use proptest::prelude::*;

fn record(key: &SecretKey, id: &str, start: i64) -> MeetingRecord {
    let stream = StreamId::mailbox(
        &OrgId::new("acme").unwrap(),
        &MailboxKey::parse(&"ab".repeat(16)).unwrap(),
    );
    let content = MeetingContent {
        subject: format!("Meeting {id}"),
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
        start: Timestamp(start),
        end: Timestamp(start + 1),
        is_all_day: false,
        is_cancelled: false,
        is_organizer: true,
        sensitivity: Sensitivity::Normal,
        change_key: format!("ck-{start}"),
        last_modified: Timestamp(start),
        join_explanation: None,
        content: Sealer::new(&stream, KeyRef(0), key)
            .seal(MeetingRecord::CONTENT_FIELD, &content)
            .unwrap(),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, i64),
    Remove(u8),
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
    fn behaves_and_encodes_as_the_map_it_replaced(ops in ops()) {
        let key = SecretKey::generate();
        let mut map: BTreeMap<String, MeetingRecord> = BTreeMap::new();
        let mut meetings = Meetings::default();
        for op in ops {
            match op {
                Op::Insert(i, s) => {
                    let r = record(&key, &format!("AAMkAG-{i:03}"), s);
                    map.insert(r.id.clone(), r.clone());
                    meetings.insert(r);
                }
                Op::Remove(i) => {
                    let id = format!("AAMkAG-{i:03}");
                    prop_assert_eq!(map.remove(&id), meetings.remove(&id));
                }
            }
            prop_assert_eq!(map.len(), meetings.len());
        }
        prop_assert!(map.values().eq(meetings.values()));
        prop_assert!(map.keys().map(String::as_str).eq(meetings.keys()));
        for (id, r) in &map {
            prop_assert_eq!(meetings.get(id), Some(r));
            prop_assert_eq!(&meetings[id.as_str()], r);
        }
        let from_map = codec::encode(&map).unwrap();
        prop_assert_eq!(&from_map, &codec::encode(&meetings).unwrap());
        prop_assert_eq!(&codec::decode::<Meetings>(&from_map).unwrap(), &meetings);
        prop_assert_eq!(codec::decode::<BTreeMap<String, MeetingRecord>>(&from_map).unwrap(), map);
    }
}

#[test]
fn a_record_filed_under_another_id_does_not_decode() {
    let key = SecretKey::generate();
    let mut map = BTreeMap::new();
    map.insert("AAMkAG-a".to_string(), record(&key, "AAMkAG-b", 1));
    let bytes = codec::encode(&map).unwrap();
    assert!(codec::decode::<Meetings>(&bytes).is_err());
}

#[test]
fn collected_records_keep_the_last_of_each_id_in_id_order() {
    let key = SecretKey::generate();
    let m: Meetings = [record(&key, "b", 1), record(&key, "a", 2), record(&key, "b", 3)]
        .into_iter()
        .collect();
    assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(m["b"].start, Timestamp(3));
}
