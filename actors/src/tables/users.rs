//! Each mailbox's user entry, by mailbox stream: the same fold as the
//! tenant aggregate's (`UserEntry::fold`), over the tenant stream's user
//! events. Everything in it is in the clear in those events.

use hcal_schemas::aggregate::tenant::UserEntry;
use hcal_schemas::events::EventMeta;
use hcal_schemas::{EventFamily, StreamId, TenantEvent, codec};

use crate::log::tables::Rows;
use crate::log::{EventLog, Frame, LogError, layout};

fn key(mailbox: &StreamId) -> Vec<u8> {
    let text = mailbox.text();
    let mut k = Vec::with_capacity(2 + text.len());
    k.push(layout::TABLE);
    k.push(super::USERS);
    k.extend_from_slice(text.as_bytes());
    k
}

fn corrupt(e: impl std::fmt::Display) -> LogError {
    LogError::Corrupt(format!("user row: {e}"))
}

pub(super) fn project(frame: &Frame<'_>, rows: &mut Rows<'_>) -> Result<(), LogError> {
    let event = TenantEvent::decode(frame.type_name, frame.schema_version, frame.payload)
        .map_err(|e| LogError::Corrupt(e.to_string()))?;
    let Some(mailbox) = event.user() else {
        return Ok(());
    };
    let tenant = StreamId::parse(frame.stream).map_err(corrupt)?;
    let key = key(&StreamId::mailbox(&tenant.org(), mailbox));
    let entry = match rows.get(&key)? {
        Some(bytes) => Some(codec::decode::<UserEntry>(&bytes).map_err(corrupt)?),
        None => None,
    };
    let meta = EventMeta {
        version: frame.version,
        at: frame.at,
    };
    match UserEntry::fold(entry, &meta, &event) {
        Some(entry) => rows.put(key, &codec::encode(&entry).map_err(corrupt)?),
        None => rows.remove(key),
    }
}

/// The user entry of a mailbox (None: never enabled).
pub fn get(log: &EventLog, mailbox: &StreamId) -> Result<Option<UserEntry>, LogError> {
    match log.row(&key(mailbox))? {
        Some(bytes) => Ok(Some(codec::decode(&bytes).map_err(corrupt)?)),
        None => Ok(None),
    }
}
