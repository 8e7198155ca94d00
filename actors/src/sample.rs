//! Realistic calendar traffic from a seed: for benchmarks, load scripts and
//! property tests. The same seed always gives the same events (their sealed
//! bytes differ, nonces being random; their plaintext does not).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use hcal_schemas::events::mailbox::*;
use hcal_schemas::{EventId, SealError, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::keys::StreamSealer;

const SUBJECTS: &[&str] = &[
    "Weekly planning",
    "Design review: calendar sync",
    "1:1",
    "Quarterly business review with the regional sales team",
    "Customer call",
    "Standup",
    "Interview loop (backend)",
    "Offsite prep",
];

const PEOPLE: &[(&str, &str)] = &[
    ("Alice Jansen", "alice@contoso.example"),
    ("Bram de Vries", "bram@contoso.example"),
    ("Chloé Martin", "chloe@contoso.example"),
    ("Daisuke Sato", "daisuke@contoso.example"),
    ("Elena García", "elena@contoso.example"),
    ("Frank Müller", "frank@contoso.example"),
];

const JOINS: &[(&str, &str, &str)] = &[
    (
        "teams",
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NzY4ZGQ5YjYtZTY0Zi00@thread.v2/0?context=%7b%22Tid%22%3a%22",
        "body",
    ),
    (
        "zoom",
        "https://us02web.zoom.us/j/81234567890?pwd=K2tQZmRrZ0xyR0Vnd3FJQkRBdz09",
        "body",
    ),
    ("webex", "https://contoso.webex.com/meet/alice", "location"),
    ("sip", "sip:81234567@contoso.example", "body"),
];

/// A seeded source of calendar content and events.
pub struct SampleCalendar {
    rng: StdRng,
    counter: u64,
    /// What this calendar's item ids begin with (see [`SampleCalendar::item_id`]).
    id_head: String,
    /// The bytes of an item id before its number.
    item_prefix: [u8; 28],
}

impl SampleCalendar {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut folder = [0u8; 69];
        rng.fill(&mut folder[..]);
        let mut item_prefix = [0u8; 28];
        rng.fill(&mut item_prefix[..]);
        Self {
            rng,
            counter: 0,
            id_head: format!("AAMkAG{}", URL_SAFE.encode(folder)),
            item_prefix,
        }
    }

    /// The id of item `n` of this calendar, shaped as Graph's: 146
    /// characters, the mailbox's store and folder first (the same for all
    /// of a calendar's items), then 36 bytes naming the item (the last
    /// eight `n`), base64.
    pub fn item_id(&self, n: u64) -> String {
        let mut item = [0u8; 36];
        item[..28].copy_from_slice(&self.item_prefix);
        item[28..].copy_from_slice(&n.to_be_bytes());
        format!("{}{}", self.id_head, URL_SAFE.encode(item))
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Meeting content of a typical invitation (sealed: about 600 bytes).
    pub fn content(&mut self) -> MeetingContent {
        let organizer = PEOPLE[self.rng.gen_range(0..PEOPLE.len())];
        let attendees = (0..self.rng.gen_range(2..5))
            .map(|_| {
                let (name, address) = PEOPLE[self.rng.gen_range(0..PEOPLE.len())];
                Attendee {
                    person: Person {
                        name: name.into(),
                        address: address.into(),
                    },
                    kind: AttendeeKind::Required,
                    response: Response::Accepted,
                }
            })
            .collect();
        let join = (self.rng.gen_range(0..4) > 0).then(|| {
            let (provider, uri, source) = JOINS[self.rng.gen_range(0..JOINS.len())];
            JoinTarget {
                provider: provider.into(),
                uri: uri.into(),
                source: source.into(),
            }
        });
        MeetingContent {
            subject: SUBJECTS[self.rng.gen_range(0..SUBJECTS.len())].into(),
            locations: vec![format!("Room {}", self.rng.gen_range(100..999))],
            organizer: Some(Person {
                name: organizer.0.into(),
                address: organizer.1.into(),
            }),
            attendees,
            join,
            keyword: None,
        }
    }

    /// A single meeting `id` starting `start`, sealed for the sealer's stream.
    pub fn meeting(&mut self, sealer: &StreamSealer, id: &str, start: Timestamp) -> Result<MeetingRecord, SealError> {
        self.counter += 1;
        let minutes = [30, 45, 60, 90][self.rng.gen_range(0..4)];
        let content = self.content();
        Ok(MeetingRecord {
            id: EventId::new(id),
            kind: EventKind::SingleInstance,
            series_master_id: None,
            start,
            end: start.plus_millis(minutes * 60_000),
            is_all_day: false,
            is_cancelled: false,
            is_organizer: self.rng.gen_bool(0.5),
            sensitivity: if self.rng.gen_range(0..10) == 0 {
                Sensitivity::Private
            } else {
                Sensitivity::Normal
            },
            // Shaped as Graph's: base64 of 30 bytes.
            change_key: {
                let mut key = [0x0fu8; 30];
                key[22..].copy_from_slice(&self.counter.to_be_bytes());
                STANDARD.encode(key).into()
            },
            last_modified: Timestamp(1_780_000_000_000 + self.counter as i64 * 1000),
            join_explanation: None,
            content: sealer.seal(MeetingContent::FIELD, &content)?,
        })
    }

    /// A plausible next change to a mailbox holding meetings `0..ids`:
    /// mostly upserts, some deletions, now and then a series refresh or a
    /// new sync cursor.
    pub fn change(&mut self, sealer: &StreamSealer, ids: u32) -> Result<MailboxEvent, SealError> {
        let base = Timestamp(1_780_000_000_000);
        let n = self.rng.gen_range(0..u64::from(ids.max(1)));
        let id = self.item_id(n);
        let roll = self.rng.gen_range(0..100);
        Ok(if roll < 75 {
            let start = base.plus_millis(self.rng.gen_range(-7 * 24..31 * 24) * 3_600_000);
            CalendarEventUpserted {
                meeting: self.meeting(sealer, &id, start)?,
            }
            .into()
        } else if roll < 88 {
            CalendarEventDeleted { event_id: id }.into()
        } else if roll < 96 {
            let master = format!("AAMkAGmaster{:04x}", self.rng.gen_range(0..4));
            let mut instances = Vec::new();
            for week in 0..self.rng.gen_range(0..4) {
                let start = base.plus_days(week * 7);
                let mut m = self.meeting(sealer, &format!("{master}-occ{week}"), start)?;
                m.kind = EventKind::Occurrence;
                m.series_master_id = Some(Box::new(EventId::new(&master)));
                instances.push(m);
            }
            InstancesRefreshed {
                series_master_id: master,
                from: base,
                to: base.plus_days(31),
                instances,
            }
            .into()
        } else {
            let now = base.plus_days(self.rng.gen_range(0..3));
            SyncCursorAdvanced {
                delta_link: sealer.seal(
                    SYNC_CURSOR_FIELD,
                    &format!("https://graph.example/delta?$deltatoken={}", self.counter),
                )?,
                window_start: now.plus_days(-7),
                window_end: now.plus_days(31),
            }
            .into()
        })
    }
}
