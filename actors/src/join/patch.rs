//! The JoinPatcher's work on Graph and the meeting service: each task
//! becomes the events that record it. The join block goes into the body
//! with `If-Match` on the event's changeKey (re-read on 412), every byte of
//! the body outside the block kept; the same PATCH sets an extended property
//! naming the meeting and the block's hash, and the PATCH's answer becomes
//! the mailbox's new record of the event, so the echo notification of
//! hcal's own write carries a changeKey the mailbox already holds.

use std::sync::Arc;

use hcal_joinlink::{BlockFormat, DialIn, JoinDetails, Templates, find_block, remove_block, splice_block};
use hcal_schemas::events::mailbox::*;
use hcal_schemas::graph::Event;
use hcal_schemas::graph::enums::BodyType;
use hcal_schemas::{MailboxEvent, Opened, StreamId, Timestamp};

use super::plan::JoinTask;
use super::provider::{CreatedMeeting, MeetingProvider, MeetingRequest, Provider, ProviderError};
use crate::graph::GraphError;
use crate::mailbox::convert;
use crate::mailbox::work::Mailbox;

/// The extended property hcal marks decorated events with: `{meeting id};{block hash}`.
pub const JOIN_PROPERTY: &str = "String {b1e2c0a4-6c1d-4a5e-9f3b-8d2c7e4a1f60} Name hcalJoin";

const PRECONDITION_RETRIES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("Graph: {0}")]
    Graph(#[from] GraphError),
    #[error("meeting service: {0}")]
    Provider(#[from] ProviderError),
    #[error("join block: {0}")]
    Block(#[from] hcal_joinlink::BlockError),
    #[error("the event changed under every attempt to patch it")]
    Conflict,
    #[error("the event is gone")]
    Gone,
    #[error("event conversion: {0}")]
    Convert(#[from] convert::ConvertError),
    #[error("sealing: {0}")]
    Seal(String),
}

impl JoinError {
    /// The code recorded with a failure (Graph's own where it has one).
    pub fn code(&self) -> String {
        match self {
            JoinError::Graph(g) => g.code().unwrap_or("graph_error").to_string(),
            JoinError::Provider(p) => p.code(),
            JoinError::Block(_) => "join_block".into(),
            JoinError::Conflict => "ErrorIrresolvableConflict".into(),
            JoinError::Gone => "ErrorItemNotFound".into(),
            JoinError::Convert(_) => "bad_event".into(),
            JoinError::Seal(_) => "sealing".into(),
        }
    }

    /// Worth trying again later (a conflict or a transient failure), rather than a fact about the event.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, JoinError::Gone | JoinError::Block(_))
    }
}

/// Everything the patcher needs for one mailbox's tasks.
#[derive(Clone)]
pub struct Patcher {
    pub mailbox: Mailbox,
    pub provider: Arc<Provider>,
    pub templates: Arc<Templates>,
    pub locale: Option<String>,
}

fn details(meeting_id: &str, m: &ProviderMeeting) -> JoinDetails {
    JoinDetails {
        meeting_id: meeting_id.to_string(),
        join_url: Some(m.join_url.clone()),
        sip_address: m.sip.clone(),
        meeting_number: m.meeting_number.clone(),
        passcode: None,
        dial_in: m
            .dial_in
            .iter()
            .map(|(label, number)| DialIn {
                number: number.clone(),
                label: Some(label.clone()),
            })
            .collect(),
    }
}

fn body_of(ev: &Event) -> (String, BlockFormat, &'static str) {
    let (content, kind) = match &ev.body {
        Some(b) => (b.content.clone().unwrap_or_default(), b.content_type.clone()),
        None => (String::new(), None),
    };
    match kind {
        Some(BodyType::Text) => (content, BlockFormat::for_content_type("text"), "text"),
        _ => (content, BlockFormat::for_content_type("html"), "html"),
    }
}

impl Patcher {
    fn key(&self, stream: &StreamId, event_id: &str) -> String {
        let h = blake3::hash(format!("{stream}\0{event_id}").as_bytes());
        format!("hcal-{}", &h.to_hex()[..32])
    }

    fn request(&self, stream: &StreamId, ev: &Event, action: JoinAction) -> Result<MeetingRequest, JoinError> {
        let id = ev.id.clone().ok_or(JoinError::Gone)?;
        Ok(MeetingRequest {
            key: self.key(stream, &id),
            organizer: self.mailbox.address.to_string(),
            subject: ev.subject.clone().unwrap_or_default(),
            start: ev.start_utc().unwrap_or(Timestamp::EPOCH),
            end: ev.end_utc().unwrap_or(Timestamp::EPOCH),
            action,
        })
    }

    async fn get(&self, event_id: &str) -> Result<Event, JoinError> {
        match self
            .mailbox
            .graph
            .get_event(&self.mailbox.tenant, &self.mailbox.address, event_id)
            .await
        {
            Ok(e) => Ok(e),
            Err(GraphError::ItemNotFound { .. }) => Err(JoinError::Gone),
            Err(e) => Err(e.into()),
        }
    }

    /// PATCHes the body that `make` derives from the current one (None: leave
    /// it), re-reading on 412; the event as Graph answered, or None if no
    /// change was needed.
    /// `first` is the event as just read, used for the first attempt.
    async fn patch_body(
        &self,
        event_id: &str,
        property: &str,
        first: Option<Event>,
        make: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Event>, JoinError> {
        let mut first = first;
        for _ in 0..PRECONDITION_RETRIES {
            let ev = match first.take() {
                Some(e) => e,
                None => self.get(event_id).await?,
            };
            let (body, _, content_type) = body_of(&ev);
            let Some(new_body) = make(&body) else { return Ok(None) };
            let patch = serde_json::json!({
                "body": {"contentType": content_type, "content": new_body},
                "singleValueExtendedProperties": [{"id": JOIN_PROPERTY, "value": property}],
            });
            let if_match = ev
                .odata_etag
                .clone()
                .or_else(|| ev.change_key.as_ref().map(|ck| format!("W/\"{ck}\"")));
            match self
                .mailbox
                .graph
                .patch_event(
                    &self.mailbox.tenant,
                    &self.mailbox.address,
                    event_id,
                    &patch,
                    if_match.as_deref(),
                )
                .await
            {
                Ok(updated) => return Ok(Some(updated)),
                Err(GraphError::PreconditionFailed { .. }) => {
                    metrics::counter!("hcal_join_patch_conflicts_total").increment(1);
                    continue;
                }
                Err(GraphError::ItemNotFound { .. }) => return Err(JoinError::Gone),
                Err(e) => return Err(e.into()),
            }
        }
        Err(JoinError::Conflict)
    }

    fn upserted(&self, ev: &Event) -> Result<Option<MailboxEvent>, JoinError> {
        if !convert::is_complete(ev) {
            return Ok(None);
        }
        let record = convert::record(ev, &self.mailbox.detector, &self.mailbox.sealer)?;
        Ok(Some(CalendarEventUpserted { meeting: record }.into()))
    }

    /// Runs one task; the events that record what was done.
    pub async fn run(
        &self,
        stream: &StreamId,
        task: &JoinTask,
        known: Option<&(String, ProviderMeeting)>,
    ) -> Result<Vec<MailboxEvent>, JoinError> {
        match task {
            JoinTask::Decorate { event_id, action, .. } => self.decorate(stream, event_id, *action, known).await,
            JoinTask::Update { event_id, meeting_id } => {
                let ev = self.get(event_id).await?;
                let req = self.request(stream, &ev, JoinAction::OneTime)?;
                self.provider.update(meeting_id, &req).await?;
                Ok(vec![
                    JoinMeetingUpdated {
                        event_id: event_id.clone(),
                        meeting_id: meeting_id.clone(),
                        start: req.start,
                        end: req.end,
                    }
                    .into(),
                ])
            }
            JoinTask::Undecorate { event_id, meeting_id } => {
                let mut events = Vec::new();
                match self
                    .patch_body(event_id, "", None, |body| find_block(body).map(|_| remove_block(body)))
                    .await
                {
                    Ok(Some(updated)) => {
                        let ck = updated.change_key.clone().unwrap_or_default();
                        events.extend(self.upserted(&updated)?);
                        events.push(
                            JoinDetailsRemoved {
                                event_id: event_id.clone(),
                                change_key: ck,
                            }
                            .into(),
                        );
                    }
                    Ok(None) | Err(JoinError::Gone) => events.push(
                        JoinDetailsRemoved {
                            event_id: event_id.clone(),
                            change_key: String::new(),
                        }
                        .into(),
                    ),
                    Err(e) => return Err(e),
                }
                if let Some(m) = meeting_id {
                    self.provider.delete(m).await?;
                }
                events.push(
                    JoinMeetingDeleted {
                        event_id: event_id.clone(),
                        meeting_id: meeting_id.clone().unwrap_or_default(),
                    }
                    .into(),
                );
                Ok(events)
            }
            JoinTask::DeleteMeeting { event_id, meeting_id } => {
                self.provider.delete(meeting_id).await?;
                Ok(vec![
                    JoinMeetingDeleted {
                        event_id: event_id.clone(),
                        meeting_id: meeting_id.clone(),
                    }
                    .into(),
                ])
            }
        }
    }

    async fn decorate(
        &self,
        stream: &StreamId,
        event_id: &str,
        action: JoinAction,
        known: Option<&(String, ProviderMeeting)>,
    ) -> Result<Vec<MailboxEvent>, JoinError> {
        let mut events = Vec::new();
        let ev = self.get(event_id).await?;
        let created = match known {
            Some((meeting_id, details)) => CreatedMeeting {
                meeting_id: meeting_id.clone(),
                details: details.clone(),
            },
            None => {
                let req = self.request(stream, &ev, action)?;
                let created = self.provider.create(&req).await?;
                metrics::counter!("hcal_join_meetings_created_total").increment(1);
                let sealed = self
                    .mailbox
                    .sealer
                    .seal(ProviderMeeting::FIELD, &created.details)
                    .map_err(|e| JoinError::Seal(e.to_string()))?;
                events.push(
                    JoinMeetingCreated {
                        event_id: event_id.to_string(),
                        meeting_id: created.meeting_id.clone(),
                        provider: self.provider.id().to_string(),
                        action,
                        details: sealed,
                    }
                    .into(),
                );
                created
            }
        };
        let (_, format, _) = body_of(&ev);
        let locale = self.locale.clone().unwrap_or_else(|| "en".to_string());
        let block = self
            .templates
            .render(&details(&created.meeting_id, &created.details), &locale, format)?;
        let property = format!("{};{}", created.meeting_id, block.hash);
        let wanted = block.clone();
        let patched = self
            .patch_body(event_id, &property, Some(ev), move |body| match find_block(body) {
                // Already there and untouched (a crash after the PATCH): nothing to write.
                Some(found) if found.meeting_id == wanted.meeting_id && found.hash == wanted.hash => None,
                _ => Some(splice_block(body, &wanted)),
            })
            .await?;
        let current = match patched {
            Some(e) => {
                metrics::counter!("hcal_join_patches_total").increment(1);
                e
            }
            None => self.get(event_id).await?,
        };
        events.extend(self.upserted(&current)?);
        events.push(
            JoinDetailsPatched {
                event_id: event_id.to_string(),
                meeting_id: created.meeting_id,
                block_hash: block.hash,
                change_key: current.change_key.clone().unwrap_or_default(),
                start: current.start_utc().unwrap_or(Timestamp::EPOCH),
                end: current.end_utc().unwrap_or(Timestamp::EPOCH),
            }
            .into(),
        );
        Ok(events)
    }
}

/// The provider meeting a join record already has, opened.
pub fn known_meeting(
    state: &hcal_schemas::aggregate::mailbox::MailboxState,
    event_id: &str,
    keys: &dyn hcal_schemas::KeyLookup,
    stream: &StreamId,
) -> Option<(String, ProviderMeeting)> {
    let r = state.join.get(event_id)?;
    let meeting_id = r.meeting_id.clone()?;
    match r.details.as_ref()?.open(keys, stream, ProviderMeeting::FIELD) {
        Ok(Opened::Plain(d)) => Some((meeting_id, d)),
        _ => None,
    }
}
