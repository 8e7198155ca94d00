//! Each mailbox's user entry, by mailbox stream: the same fold as the
//! tenant aggregate's (`UserEntry::fold`), over the tenant stream's user
//! events. Everything in it is in the clear in those events.

use hcal_schemas::aggregate::tenant::UserEntry;
use hcal_schemas::events::EventMeta;
use hcal_schemas::{EventFamily, MailboxKey, OrgId, StreamId, TenantEvent, codec};

use crate::log::tables::Rows;
use crate::log::{EventLog, Frame, LogError, layout};

/// `T u` + the mailbox's stream id (`mbx:{org}:{key}`).
fn key(mailbox: &StreamId) -> Vec<u8> {
    let text = mailbox.text();
    let mut k = Vec::with_capacity(2 + text.len());
    k.push(layout::TABLE);
    k.push(super::USERS);
    k.extend_from_slice(text.as_bytes());
    k
}

/// The keys of one organisation's rows begin with this (its id ends at the `:`).
fn org_prefix(org: &OrgId) -> Vec<u8> {
    let mut k = vec![layout::TABLE, super::USERS];
    k.extend_from_slice(b"mbx:");
    k.extend_from_slice(org.as_str().as_bytes());
    k.push(b':');
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
    match log.side(&key(mailbox))? {
        Some(bytes) => Ok(Some(codec::decode(&bytes).map_err(corrupt)?)),
        None => Ok(None),
    }
}

/// The rows under `prefix`, by mailbox stream, in key order.
fn rows<'a>(
    log: &'a EventLog,
    prefix: &[u8],
) -> impl Iterator<Item = Result<(StreamId, UserEntry), LogError>> + use<'a> {
    log.scan_side(prefix).map(|r| {
        let (k, v) = r?;
        let text = k.get(2..).and_then(|t| std::str::from_utf8(t).ok()).unwrap_or_default();
        let stream = StreamId::parse(text).map_err(corrupt)?;
        Ok((stream, codec::decode(&v).map_err(corrupt)?))
    })
}

/// Every user entry of an organisation, in key order.
pub fn of_org<'a>(
    log: &'a EventLog,
    org: &OrgId,
) -> impl Iterator<Item = Result<(MailboxKey, UserEntry), LogError>> + 'a {
    rows(log, &org_prefix(org)).map(|r| {
        let (stream, user) = r?;
        let mailbox = stream.mailbox_key().ok_or_else(|| corrupt("not a mailbox stream"))?;
        Ok((mailbox, user))
    })
}
