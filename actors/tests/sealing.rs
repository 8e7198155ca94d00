//! Sensitive data at rest: never in plaintext on disk, erasable per mailbox,
//! readable across tenant key rotations, and closed to a wrong master key.

mod common;

use std::path::Path;

use hcal_actors::keys::KeyError;
use hcal_actors::log::{ExpectedVersion, LogOptions};
use hcal_actors::replay::replay_all;
use hcal_actors::{Store, StoreError};
use hcal_schemas::events::mailbox::*;
use hcal_schemas::events::tenant::{MailboxKind, USER_ADDRESS_FIELD, UserEnabled};
use hcal_schemas::{
    AnyState, KeyRef, MailboxEvent, OrgId, Reveal, Sealed, SecretKey, StreamId, TenantEvent, Timestamp,
};

const SUBJECT: &str = "Project Nightingale acquisition terms";
const ATTENDEE: &str = "zoe.quartermaine@fabrikam.example";
const JOIN: &str = "https://fabrikam.zoom.us/j/98765432109?pwd=NightingaleSecret";

fn master() -> SecretKey {
    SecretKey::from_bytes([9; 32])
}

fn content(subject: &str) -> MeetingContent {
    MeetingContent {
        subject: subject.into(),
        locations: vec!["Boardroom 7".into()],
        organizer: Some(Person {
            name: "Zoe Quartermaine".into(),
            address: ATTENDEE.into(),
        }),
        attendees: vec![Attendee {
            person: Person {
                name: "Zoe Quartermaine".into(),
                address: ATTENDEE.into(),
            },
            kind: AttendeeKind::Required,
            response: Response::Accepted,
        }],
        join: Some(JoinTarget {
            provider: "zoom".into(),
            uri: JOIN.into(),
            source: "body".into(),
        }),
        keyword: None,
    }
}

fn upsert(store: &Store, stream: &StreamId, id: &str, subject: &str) -> KeyRef {
    let sealer = store.sealer(stream).unwrap();
    let sealed: Sealed<MeetingContent> = sealer.seal(MeetingContent::FIELD, &content(subject)).unwrap();
    let key_ref = sealed.key_ref();
    let meeting = MeetingRecord {
        id: id.into(),
        kind: EventKind::SingleInstance,
        series_master_id: None,
        start: Timestamp(1_800_000_000_000),
        end: Timestamp(1_800_003_600_000),
        is_all_day: false,
        is_cancelled: false,
        is_organizer: true,
        sensitivity: Sensitivity::Normal,
        change_key: "ck1".into(),
        last_modified: Timestamp(1),
        join_explanation: None,
        content: sealed,
    };
    let e: MailboxEvent = CalendarEventUpserted { meeting }.into();
    store.append_blocking(stream, ExpectedVersion::Any, &[e]).unwrap();
    key_ref
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).unwrap().windows(needle.len()).any(|w| w == needle) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

fn subject_of(store: &Store, stream: &StreamId) -> serde_json::Value {
    let rebuilt = replay_all(&store.log, |_, _| {}).unwrap();
    let view = rebuilt.states[stream].view_json(stream, &Reveal::With(store)).unwrap();
    match &view["meetings"][0]["content"] {
        serde_json::Value::String(s) => serde_json::Value::String(s.clone()),
        c => c["subject"].clone(),
    }
}

#[test]
fn no_sensitive_value_reaches_the_data_directory_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new("fabrikam").unwrap();
    {
        let store = Store::open(dir.path(), master(), &LogOptions::default()).unwrap();
        let mk = store.keys.mailbox_key(ATTENDEE);
        let mbx = StreamId::mailbox(&org, &mk);
        for i in 0..50 {
            upsert(&store, &mbx, &format!("ev{i}"), SUBJECT);
        }
        let tenant = StreamId::tenant(&org);
        let address = store
            .sealer(&tenant)
            .unwrap()
            .seal(USER_ADDRESS_FIELD, &ATTENDEE.to_string())
            .unwrap();
        let e: TenantEvent = UserEnabled {
            mailbox: mk,
            address,
            kind: MailboxKind::User,
        }
        .into();
        store.append_blocking(&tenant, ExpectedVersion::Any, &[e]).unwrap();
        // Written and readable (so the scan below is not vacuous).
        assert_eq!(subject_of(&store, &mbx), SUBJECT);
        hcal_actors::replay::save_snapshot(
            &store.log,
            &mbx,
            &replay_all(&store.log, |_, _| {}).unwrap().states[&mbx],
        )
        .unwrap();
    }
    for needle in [SUBJECT, ATTENDEE, JOIN, "Nightingale", "quartermaine"] {
        assert_eq!(
            files_containing(dir.path(), needle.as_bytes()),
            Vec::<String>::new(),
            "{needle} found on disk"
        );
    }
}

/// A store with two mailboxes of one meeting each: (dir, store, gone, kept).
fn one_to_erase_one_to_keep() -> (tempfile::TempDir, Store, StreamId, StreamId) {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new("fabrikam").unwrap();
    let store = Store::open(dir.path(), master(), &LogOptions::default()).unwrap();
    let gone = StreamId::mailbox(&org, &store.keys.mailbox_key("gone@fabrikam.example"));
    let kept = StreamId::mailbox(&org, &store.keys.mailbox_key("kept@fabrikam.example"));
    upsert(&store, &gone, "a", "to be forgotten");
    upsert(&store, &kept, "b", "to be kept");
    (dir, store, gone, kept)
}

/// `gone` reads as erased and `kept` as kept, in `store` and after reopening it.
fn erased_and_kept_also_after_reopening(dir: &Path, store: Store, gone: &StreamId, kept: &StreamId) -> Store {
    assert_eq!(subject_of(&store, gone), "<erased>");
    assert_eq!(subject_of(&store, kept), "to be kept");
    drop(store);
    let store = Store::open(dir, master(), &LogOptions::default()).unwrap();
    assert_eq!(subject_of(&store, gone), "<erased>");
    assert_eq!(subject_of(&store, kept), "to be kept");
    store
}

#[test]
fn erasing_a_mailbox_shreds_it_and_leaves_the_others() {
    let (dir, store, gone, kept) = one_to_erase_one_to_keep();
    let before = std::fs::read(dir.path().join("keys/data-keys.bin")).unwrap();
    // Not held open: the kept key is read again from the rewritten key file.
    store.keys.close(&kept);
    store.keys.erase(&gone).unwrap();
    let after = std::fs::read(dir.path().join("keys/data-keys.bin")).unwrap();
    assert!(
        after.len() < before.len(),
        "the destroyed key's bytes are still in the key file"
    );
    // Still so after reopening, and replay as a whole succeeds.
    let store = erased_and_kept_also_after_reopening(dir.path(), store, &gone, &kept);
    assert!(store.keys.is_erased(&gone));
    // New writes to an erased mailbox get a fresh key; the old data stays gone.
    let k = upsert(&store, &gone, "c", "after erasure");
    assert_eq!(k, KeyRef(1));
    let rebuilt = replay_all(&store.log, |_, _| {}).unwrap();
    let AnyState::Mailbox(m) = &rebuilt.states[&gone] else {
        panic!("not a mailbox")
    };
    assert_eq!(m.meetings.len(), 2);
}

#[test]
fn rotation_keeps_old_data_readable_and_seals_new_data_under_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new("fabrikam").unwrap();
    let store = Store::open(dir.path(), master(), &LogOptions::default()).unwrap();
    let mbx = StreamId::mailbox(&org, &store.keys.mailbox_key("r@fabrikam.example"));
    assert_eq!(upsert(&store, &mbx, "old", "before rotation"), KeyRef(0));
    assert_eq!(store.keys.rotate(&org).unwrap(), 2);
    assert_eq!(upsert(&store, &mbx, "new", "after rotation"), KeyRef(1));
    drop(store);
    let store = Store::open(dir.path(), master(), &LogOptions::default()).unwrap();
    let rebuilt = replay_all(&store.log, |_, _| {}).unwrap();
    let view = rebuilt.states[&mbx].view_json(&mbx, &Reveal::With(&store)).unwrap();
    let subjects: Vec<&str> = view["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"]["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects.len(), 2);
    assert!(subjects.contains(&"before rotation") && subjects.contains(&"after rotation"));
}

#[test]
fn a_wrong_master_key_is_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new("fabrikam").unwrap();
    {
        let store = Store::open(dir.path(), master(), &LogOptions::default()).unwrap();
        let mbx = StreamId::mailbox(&org, &store.keys.mailbox_key("w@fabrikam.example"));
        upsert(&store, &mbx, "x", "secret");
    }
    let err = Store::open(dir.path(), SecretKey::from_bytes([1; 32]), &LogOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Key(KeyError::WrongMasterKey)), "{err}");
    assert_eq!(
        err.to_string(),
        "the master key does not open this data directory's keys"
    );
}

/// A listed meeting whose content cannot be read from the log says so,
/// rather than passing for one whose mailbox was erased.
#[test]
fn a_meeting_whose_content_cannot_be_read_shows_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new("fabrikam").unwrap();
    let store = Store::open(dir.path(), master(), &LogOptions::default()).unwrap();
    let mbx = StreamId::mailbox(&org, &store.keys.mailbox_key("someone@fabrikam.example"));
    upsert(&store, &mbx, "a", "readable");
    let rebuilt = replay_all(&store.log, |_, _| {}).unwrap();
    let hcal_schemas::AnyState::Mailbox(mut state) = rebuilt.states[&mbx].clone() else {
        panic!("not a mailbox");
    };
    let mut lost = state.meetings["a"].clone();
    lost.id = "b".into();
    lost.content = ContentAt { version: 99, index: 0 };
    state.meetings.insert(lost);
    let items = hcal_actors::mailbox::view::meetings(
        &state,
        &mbx,
        &store,
        Timestamp(0),
        Timestamp(i64::MAX),
        Timestamp(0),
        "Private",
    );
    let subjects: Vec<(&str, &str)> = items.iter().map(|i| (i.id.as_str(), i.subject.as_str())).collect();
    assert_eq!(subjects, [("a", "readable"), ("b", "<unavailable>")]);
}

/// The keyring's index of where each stream's keys are is derived from the
/// key file: lost or spoiled (a crash before sled flushed it), it is made
/// again at open, and every key reads.
#[test]
fn keys_read_after_their_index_is_lost_or_spoiled() {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new("fabrikam").unwrap();
    let (lost, spoiled) = {
        let store = Store::open(dir.path(), master(), &LogOptions::default()).unwrap();
        let lost = StreamId::mailbox(&org, &store.keys.mailbox_key("lost@fabrikam.example"));
        let spoiled = StreamId::mailbox(&org, &store.keys.mailbox_key("spoiled@fabrikam.example"));
        upsert(&store, &lost, "a", "index lost");
        upsert(&store, &spoiled, "b", "index spoiled");
        (lost, spoiled)
    };
    {
        let db = common::raw_sled(&dir.path().join("log"));
        let tree = db.open_tree("hcal").unwrap();
        let rows: Vec<_> = tree.scan_prefix(b"K").keys().map(|k| k.unwrap()).collect();
        assert_eq!(rows.len(), 2, "one row per mailbox");
        for k in rows {
            if k.ends_with(lost.to_string().as_bytes()) {
                tree.remove(k).unwrap();
            } else if k.ends_with(spoiled.to_string().as_bytes()) {
                tree.insert(k, &b"not an index row"[..]).unwrap();
            }
        }
        db.flush().unwrap();
    }
    let store = Store::open(dir.path(), master(), &LogOptions::default()).unwrap();
    assert_eq!(subject_of(&store, &lost), "index lost");
    assert_eq!(subject_of(&store, &spoiled), "index spoiled");
}

/// Erasing one mailbox rewrites the key file from the key file itself, not
/// from the index derived from it: a row the index lost while the node ran
/// (sled losing a write) must not take another mailbox's keys with it.
#[test]
fn an_erase_keeps_the_keys_of_a_mailbox_whose_index_row_was_lost() {
    let (dir, store, gone, kept) = one_to_erase_one_to_keep();
    store.keys.close(&kept);
    let mut row = vec![b'K'];
    row.extend_from_slice(kept.to_string().as_bytes());
    store.log.write_derived(&row, None).unwrap();
    assert_eq!(store.log.side(&row).unwrap(), None);

    store.keys.erase(&gone).unwrap();
    erased_and_kept_also_after_reopening(dir.path(), store, &gone, &kept);
}
