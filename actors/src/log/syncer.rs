//! The syncer: makes applied rounds durable and only then answers them.
//!
//! The committer applies a round to sled and hands it here; while this
//! thread flushes and fsyncs, the committer already applies the next round
//! (sled's flush covers everything applied before it was called). Rounds
//! that queue up meanwhile share the next flush. A lone writer gains
//! nothing from that overlap and pays a thread hand-off on every append, so
//! the committer settles such rounds itself ([`Syncer::settle`], under the
//! same lock). A failed flush or fsync stops the log for good: after one,
//! the kernel may have dropped the unwritten pages, so a later success
//! would not prove the earlier rounds durable; every later request is
//! answered with the first failure.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tracing::{error, trace_span};

use super::durability::Durability;
use super::{Appended, LogError, LogStats};
use tokio::sync::oneshot;

pub(super) type Reply<T> = oneshot::Sender<Result<T, LogError>>;

/// Why the log stopped, once it has.
pub(super) type Broken = Arc<OnceLock<String>>;

/// One request's answer, held until its round is durable.
pub(super) enum Answer {
    Append(Reply<Appended>, Result<Appended, LogError>),
    Write(Reply<()>, Result<(), LogError>),
}

impl Answer {
    pub fn staged(&self) -> bool {
        matches!(self, Answer::Append(_, Ok(_)) | Answer::Write(_, Ok(_)))
    }

    /// Sends the answer, or the error `failure` makes instead of a staged success.
    pub fn send(self, failure: Option<&dyn Fn() -> LogError>) {
        // The requester may have gone away; what was written stands regardless.
        match (self, failure) {
            (Answer::Append(r, Ok(_)), Some(fail)) => drop(r.send(Err(fail()))),
            (Answer::Write(r, Ok(_)), Some(fail)) => drop(r.send(Err(fail()))),
            (Answer::Append(r, a), _) => drop(r.send(a)),
            (Answer::Write(r, a), _) => drop(r.send(a)),
        }
    }
}

/// A round in sled, not yet on stable storage.
pub(super) struct Applied {
    pub answers: Vec<Answer>,
    pub records: u64,
    pub sides: u64,
}

pub(super) struct Syncer {
    db: sled::Db,
    durability: Durability,
    stats: Arc<LogStats>,
    broken: Broken,
}

impl Syncer {
    pub fn new(db: sled::Db, durability: Durability, stats: Arc<LogStats>, broken: Broken) -> Self {
        Self {
            db,
            durability,
            stats,
            broken,
        }
    }

    /// Makes `rounds` durable, or finds the log broken, and answers them.
    pub fn settle(&mut self, rounds: Vec<Applied>) {
        let failure = match self.broken.get() {
            Some(reason) => Some(reason.clone()),
            None => self.sync(&rounds).err().map(|e| {
                let reason = format!("flushing to disk failed: {e}");
                error!(error = %e, "the event log could not make a commit durable; it takes no more writes");
                self.broken.get_or_init(|| reason).clone()
            }),
        };
        let fail = failure.map(|reason| move || LogError::Broken(reason.clone()));
        let fail = fail.as_ref().map(|f| f as &dyn Fn() -> LogError);
        for round in rounds {
            round.answers.into_iter().for_each(|a| a.send(fail));
        }
    }

    fn sync(&mut self, rounds: &[Applied]) -> Result<(), LogError> {
        let _span = trace_span!("log.sync", rounds = rounds.len()).entered();
        let started = Instant::now();
        self.db.flush()?;
        let flushed = Instant::now();
        self.durability.sync()?;
        let s = &self.stats;
        s.flush_nanos.fetch_add(nanos(flushed - started), Ordering::Relaxed);
        s.sync_nanos.fetch_add(nanos(flushed.elapsed()), Ordering::Relaxed);
        s.syncs.fetch_add(1, Ordering::Relaxed);
        for r in rounds {
            s.commits.fetch_add(1, Ordering::Relaxed);
            s.events.fetch_add(r.records, Ordering::Relaxed);
            s.side_writes.fetch_add(r.sides, Ordering::Relaxed);
            s.requests.fetch_add(r.answers.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }
}

pub(super) fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The syncer's thread: settles every round the committer sends, those that
/// queued meanwhile together, until the committer hangs up.
pub(super) fn run(syncer: Arc<Mutex<Syncer>>, rx: Receiver<Applied>) {
    while let Ok(first) = rx.recv() {
        let mut rounds = vec![first];
        rounds.extend(rx.try_iter());
        // Settling leaves the syncer consistent even if it panicked midway.
        let mut syncer = syncer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        syncer.settle(rounds);
    }
}
