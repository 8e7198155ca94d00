//! Graph subscriptions, projected from each organisation's `subs:{org}`
//! stream into five tables:
//!
//! - `T i` + subscription id: the subscription (the webhook finds a
//!   notification's mailbox here, the manager what a lifecycle event is about);
//! - `T m` + mailbox stream: the mailbox's current subscription. The row
//!   stays, without one, once a mailbox has had any: a new one then opens a gap;
//! - `T e` + org + 0 + expiry (u64 BE) + id: live subscriptions by expiry,
//!   for renewals (a scan up to the renewal margin, not of every subscription);
//! - `T r` + org + 0 + id: subscriptions Graph asked to reauthorise;
//! - `T g` + mailbox stream: mailboxes with a gap in their notifications,
//!   and since when (they must resync).
//!
//! Nothing here is sealed: the sealed resource and client state stay in the
//! creating event (`created_in`).

use hcal_schemas::{EventFamily, MailboxKey, OrgId, StreamId, SubscriptionEvent, Timestamp, codec};
use serde::{Deserialize, Serialize};

use crate::log::tables::Rows;
use crate::log::{EventLog, Frame, LogError, layout};

const BY_ID: u8 = b'i';
const BY_MAILBOX: u8 = b'm';
const BY_EXPIRY: u8 = b'e';
const REAUTHORIZE: u8 = b'r';
const GAPS: u8 = b'g';

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub org: OrgId,
    pub mailbox: MailboxKey,
    pub expires_at: Timestamp,
    /// The version of the event that created it (its sealed client state).
    pub created_in: u64,
    pub created_at: Timestamp,
    pub last_renewed: Option<Timestamp>,
    pub reauthorization_requested: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct MailboxRow {
    subscription: Option<String>,
}

fn key(table: u8, rest: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![layout::TABLE, table];
    rest.iter().for_each(|part| k.extend_from_slice(part));
    k
}

fn by_id(id: &str) -> Vec<u8> {
    key(BY_ID, &[id.as_bytes()])
}

fn by_mailbox(org: &OrgId, mailbox: &MailboxKey) -> Vec<u8> {
    key(BY_MAILBOX, &[StreamId::mailbox(org, mailbox).text().as_bytes()])
}

fn gap(org: &OrgId, mailbox: &MailboxKey) -> Vec<u8> {
    key(GAPS, &[StreamId::mailbox(org, mailbox).text().as_bytes()])
}

/// Where an organisation's rows of a table keyed by org begin.
fn org_prefix(table: u8, org: &OrgId) -> Vec<u8> {
    key(table, &[org.as_str().as_bytes(), &[0]])
}

/// Where an organisation's rows of a table keyed by mailbox stream begin.
fn mailboxes_prefix(table: u8, org: &OrgId) -> Vec<u8> {
    key(table, &[b"mbx:", org.as_str().as_bytes(), b":"])
}

fn expiry_bytes(at: Timestamp) -> [u8; 8] {
    (at.0.max(0) as u64).to_be_bytes()
}

fn by_expiry(org: &OrgId, at: Timestamp, id: &str) -> Vec<u8> {
    let mut k = org_prefix(BY_EXPIRY, org);
    k.extend_from_slice(&expiry_bytes(at));
    k.extend_from_slice(id.as_bytes());
    k
}

fn reauthorize(org: &OrgId, id: &str) -> Vec<u8> {
    let mut k = org_prefix(REAUTHORIZE, org);
    k.extend_from_slice(id.as_bytes());
    k
}

fn corrupt(e: impl std::fmt::Display) -> LogError {
    LogError::Corrupt(format!("subscription row: {e}"))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, LogError> {
    codec::decode(bytes).map_err(corrupt)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, LogError> {
    codec::encode(value).map_err(corrupt)
}

fn read<T: serde::de::DeserializeOwned>(rows: &Rows<'_>, key: &[u8]) -> Result<Option<T>, LogError> {
    rows.get(key)?.map(|b| decode(&b)).transpose()
}

/// Writes `s` back, keeping its reauthorisation index in step.
fn put_subscription(rows: &mut Rows<'_>, id: &str, s: &Subscription) -> Result<(), LogError> {
    match s.reauthorization_requested {
        Some(_) => rows.put(reauthorize(&s.org, id), &[])?,
        None => rows.remove(reauthorize(&s.org, id))?,
    }
    rows.put(by_id(id), &encode(s)?)
}

fn open_gap(rows: &mut Rows<'_>, org: &OrgId, mailbox: &MailboxKey, at: Timestamp) -> Result<(), LogError> {
    if rows.get(&gap(org, mailbox))?.is_none() {
        rows.put(gap(org, mailbox), &encode(&at)?)?;
    }
    Ok(())
}

pub(super) fn project(frame: &Frame<'_>, rows: &mut Rows<'_>) -> Result<(), LogError> {
    let event = SubscriptionEvent::decode(frame.type_name, frame.schema_version, frame.payload)
        .map_err(|e| LogError::Corrupt(e.to_string()))?;
    let org = StreamId::parse(frame.stream).map_err(corrupt)?.org();
    let at = frame.at;
    match event {
        SubscriptionEvent::SubscriptionCreated(e) => {
            // A mailbox subscribed again after losing a subscription has a gap.
            if rows.get(&by_mailbox(&org, &e.mailbox))?.is_some() {
                open_gap(rows, &org, &e.mailbox, at)?;
            }
            let current = MailboxRow {
                subscription: Some(e.subscription_id.clone()),
            };
            rows.put(by_mailbox(&org, &e.mailbox), &encode(&current)?)?;
            rows.put(by_expiry(&org, e.expires_at, &e.subscription_id), &[])?;
            let s = Subscription {
                org,
                mailbox: e.mailbox,
                expires_at: e.expires_at,
                created_in: frame.version,
                created_at: at,
                last_renewed: None,
                reauthorization_requested: None,
            };
            put_subscription(rows, &e.subscription_id, &s)?;
        }
        SubscriptionEvent::SubscriptionRenewed(e) => {
            if let Some(mut s) = read::<Subscription>(rows, &by_id(&e.subscription_id))? {
                rows.remove(by_expiry(&org, s.expires_at, &e.subscription_id))?;
                rows.put(by_expiry(&org, e.expires_at, &e.subscription_id), &[])?;
                s.expires_at = e.expires_at;
                s.last_renewed = Some(at);
                s.reauthorization_requested = None;
                put_subscription(rows, &e.subscription_id, &s)?;
            }
        }
        SubscriptionEvent::SubscriptionRemoved(e) => {
            if let Some(s) = read::<Subscription>(rows, &by_id(&e.subscription_id))? {
                rows.remove(by_id(&e.subscription_id))?;
                rows.remove(by_expiry(&org, s.expires_at, &e.subscription_id))?;
                rows.remove(reauthorize(&org, &e.subscription_id))?;
                let current = read::<MailboxRow>(rows, &by_mailbox(&org, &s.mailbox))?;
                if current.is_some_and(|m| m.subscription.as_deref() == Some(e.subscription_id.as_str())) {
                    rows.put(
                        by_mailbox(&org, &s.mailbox),
                        &encode(&MailboxRow { subscription: None })?,
                    )?;
                }
            }
        }
        SubscriptionEvent::ReauthorizationRequested(e) => {
            if let Some(mut s) = read::<Subscription>(rows, &by_id(&e.subscription_id))? {
                s.reauthorization_requested.get_or_insert(at);
                put_subscription(rows, &e.subscription_id, &s)?;
            }
        }
        SubscriptionEvent::Reauthorized(e) => {
            if let Some(mut s) = read::<Subscription>(rows, &by_id(&e.subscription_id))? {
                s.reauthorization_requested = None;
                put_subscription(rows, &e.subscription_id, &s)?;
            }
        }
        SubscriptionEvent::NotificationsMissed(e) => open_gap(rows, &org, &e.mailbox, at)?,
        SubscriptionEvent::Resynced(e) => rows.remove(gap(&org, &e.mailbox))?,
    }
    Ok(())
}

/// A subscription by its Graph id.
pub fn get(log: &EventLog, id: &str) -> Result<Option<Subscription>, LogError> {
    log.side(&by_id(id))?.map(|b| decode(&b)).transpose()
}

/// The current subscription of a mailbox: its id and what it is.
pub fn of_mailbox(
    log: &EventLog,
    org: &OrgId,
    mailbox: &MailboxKey,
) -> Result<Option<(String, Subscription)>, LogError> {
    let Some(row) = log.side(&by_mailbox(org, mailbox))? else {
        return Ok(None);
    };
    let Some(id) = decode::<MailboxRow>(&row)?.subscription else {
        return Ok(None);
    };
    Ok(get(log, &id)?.map(|s| (id, s)))
}

/// Live subscriptions of an organisation expiring at or before `until`,
/// soonest first: (id, expiry).
pub fn expiring(log: &EventLog, org: &OrgId, until: Timestamp) -> Result<Vec<(String, Timestamp)>, LogError> {
    let prefix = org_prefix(BY_EXPIRY, org);
    let mut out = Vec::new();
    for r in log.scan_side(&prefix) {
        let (k, _) = r?;
        let rest = &k[prefix.len()..];
        let expires = layout::be_u64(rest).ok_or_else(|| corrupt("short expiry key"))?;
        if expires > until.0.max(0) as u64 {
            break;
        }
        let id = std::str::from_utf8(&rest[8..]).map_err(corrupt)?;
        out.push((id.to_string(), Timestamp(expires as i64)));
    }
    Ok(out)
}

/// Every live subscription of an organisation: (id, expiry).
pub fn of_org(log: &EventLog, org: &OrgId) -> Result<Vec<(String, Timestamp)>, LogError> {
    expiring(log, org, Timestamp(i64::MAX))
}

/// Subscriptions of an organisation that Graph asked to reauthorise.
pub fn reauthorization_wanted(log: &EventLog, org: &OrgId) -> Result<Vec<String>, LogError> {
    let prefix = org_prefix(REAUTHORIZE, org);
    log.scan_side(&prefix)
        .map(|r| {
            let (k, _) = r?;
            Ok(std::str::from_utf8(&k[prefix.len()..]).map_err(corrupt)?.to_string())
        })
        .collect()
}

/// Mailboxes of an organisation with a gap, and since when.
pub fn gaps(log: &EventLog, org: &OrgId) -> Result<Vec<(MailboxKey, Timestamp)>, LogError> {
    log.scan_side(&mailboxes_prefix(GAPS, org))
        .map(|r| {
            let (k, v) = r?;
            let text = std::str::from_utf8(&k[2..]).map_err(corrupt)?;
            let mailbox = StreamId::parse(text)
                .map_err(corrupt)?
                .mailbox_key()
                .ok_or_else(|| corrupt("not a mailbox"))?;
            Ok((mailbox, decode(&v)?))
        })
        .collect()
}

/// Since when a mailbox has had a gap, if it has one.
pub fn gap_of(log: &EventLog, org: &OrgId, mailbox: &MailboxKey) -> Result<Option<Timestamp>, LogError> {
    log.side(&gap(org, mailbox))?.map(|b| decode(&b)).transpose()
}

/// How many subscriptions the node has, in all organisations.
pub fn count(log: &EventLog) -> Result<usize, LogError> {
    log.scan_side(&[layout::TABLE, BY_ID])
        .try_fold(0, |n, r| r.map(|_| n + 1))
}
