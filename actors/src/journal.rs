//! An actor's own stream: its state, folded from the log, and the one way it
//! changes: events are appended (durable, at the expected version) and only
//! then folded into the state.
//!
//! Appending is split in two so that an actix actor can await the write
//! without holding `&mut self`: [`Journal::prepare`] encodes and captures the
//! expected version; the [`PendingAppend`] is awaited; [`Journal::commit`]
//! folds the appended events in with the version and time the log stamped.

use hcal_schemas::events::EventMeta;
use hcal_schemas::{Aggregate, StreamId};

use crate::log::{Appended, ExpectedVersion, LogError, NewEvent, SideWrite};
use crate::replay::{self, ReplayError};
use crate::store::Store;

pub struct Journal<A: Aggregate> {
    pub stream: StreamId,
    pub state: A,
    store: Store,
    /// The version of the stream's latest snapshot (0: none).
    snapshotted: u64,
}

/// Prepares appends to one stream at a given expected version.
#[derive(Clone)]
pub struct JournalWriter {
    store: Store,
    stream: StreamId,
}

impl JournalWriter {
    pub fn prepare<E: hcal_schemas::EventFamily>(
        &self,
        expected: u64,
        events: Vec<E>,
    ) -> Result<PendingAppend<E>, LogError> {
        let new = events.iter().map(NewEvent::from_event).collect::<Result<Vec<_>, _>>()?;
        Ok(PendingAppend {
            store: self.store.clone(),
            stream: self.stream.clone(),
            expected,
            new,
            side: Vec::new(),
            events,
        })
    }
}

/// Events on their way to the log.
pub struct PendingAppend<E> {
    store: Store,
    stream: StreamId,
    expected: u64,
    new: Vec<NewEvent>,
    side: Vec<SideWrite>,
    events: Vec<E>,
}

/// Events the log holds, ready to fold.
pub struct Written<E> {
    pub appended: Appended,
    events: Vec<E>,
}

impl<E> Written<E> {
    pub fn events(&self) -> &[E] {
        &self.events
    }
}

impl<E> PendingAppend<E> {
    /// Adds writes (e.g. retired inbox entries) that commit atomically with the events.
    pub fn with_side(mut self, side: Vec<SideWrite>) -> Self {
        self.side.extend(side);
        self
    }

    pub async fn write(self) -> Result<Written<E>, LogError> {
        let appended = self
            .store
            .log
            .append_with(&self.stream, ExpectedVersion::Exact(self.expected), self.new, self.side)
            .await?;
        Ok(Written {
            appended,
            events: self.events,
        })
    }
}

impl<A: Aggregate> Journal<A> {
    /// Loads the stream's state (snapshot plus the log's tail).
    pub fn load(store: &Store, stream: StreamId) -> Result<Self, ReplayError> {
        let (any, snapshotted) = replay::load_stream_from_snapshot(&store.log, &stream)?;
        let mut state = A::from_any(any).unwrap_or_default();
        state.settle();
        Ok(Self {
            stream,
            state,
            store: store.clone(),
            snapshotted,
        })
    }

    /// Events a load would fold after the latest snapshot.
    pub fn unsnapshotted(&self) -> u64 {
        self.state.version().saturating_sub(self.snapshotted)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn prepare(&self, events: Vec<A::Event>) -> Result<PendingAppend<A::Event>, LogError> {
        self.writer().prepare(self.state.version(), events)
    }

    /// A handle that prepares appends to this stream away from the actor
    /// (for work that appends more than once before the state is folded).
    pub fn writer(&self) -> JournalWriter {
        JournalWriter {
            store: self.store.clone(),
            stream: self.stream.clone(),
        }
    }

    /// Folds written events into the state. A write that no longer follows
    /// the state (someone else appended meanwhile) reloads from the log.
    pub fn commit(&mut self, written: Written<A::Event>) {
        let n = written.events.len() as u64;
        let first_version = written.appended.version + 1 - n;
        if first_version != self.state.version() + 1 {
            if let Ok(j) = Self::load(&self.store, self.stream.clone()) {
                self.state = j.state;
            }
            return;
        }
        let state = std::mem::take(&mut self.state);
        self.state = written.events.into_iter().enumerate().fold(state, |s, (i, e)| {
            s.apply(
                &EventMeta {
                    version: first_version + i as u64,
                    at: written.appended.at,
                },
                e,
            )
        });
    }

    /// Appends and folds in one go (for callers that may hold `&mut self`).
    pub async fn append(&mut self, events: Vec<A::Event>) -> Result<Appended, LogError> {
        let written = self.prepare(events)?.write().await?;
        let appended = written.appended;
        self.commit(written);
        Ok(appended)
    }

    /// Stores a snapshot of the current state.
    pub fn snapshot(&mut self) -> Result<(), ReplayError> {
        replay::save_snapshot(&self.store.log, &self.stream, &self.state.clone().into_any())?;
        self.snapshotted = self.state.version();
        Ok(())
    }
}

/// Ask an actor for its aggregate's state (for the live digest).
#[derive(actix::Message)]
#[rtype(result = "hcal_schemas::AnyState")]
pub struct StateOf;
