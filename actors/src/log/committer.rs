//! The group committer: one thread owns every write to the log. It takes all
//! requests waiting, checks each append's expected version, writes them as
//! one atomic sled batch, flushes and fsyncs once, then answers them all.
//! Many concurrent small appends therefore cost one fsync per round.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;

use hcal_schemas::{StreamId, Timestamp};
use tokio::sync::oneshot;
use tracing::{error, trace_span};

use super::durability::Durability;
use super::{Appended, ExpectedVersion, LogError, LogStats, NewEvent, SideWrite, frame, layout};

type Reply<T> = oneshot::Sender<Result<T, LogError>>;

pub(super) enum Request {
    Append {
        stream: StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        side: Vec<SideWrite>,
        reply: Reply<Appended>,
    },
    Write {
        writes: Vec<SideWrite>,
        reply: Reply<()>,
    },
    /// Whole records from an export, into an empty log.
    Import {
        batch: sled::Batch,
        last_seq: u64,
        reply: Reply<()>,
    },
}

enum Answer {
    Append(Reply<Appended>, Result<Appended, LogError>),
    Write(Reply<()>, Result<(), LogError>),
}

impl Answer {
    fn staged(&self) -> bool {
        matches!(self, Answer::Append(_, Ok(_)) | Answer::Write(_, Ok(_)))
    }

    /// Sends the answer, or `failure` instead of a staged success.
    fn send(self, failure: Option<&str>) {
        // The requester may have gone away; what was written stands regardless.
        let fail = |m: &str| LogError::Corrupt(format!("commit failed: {m}"));
        match (self, failure) {
            (Answer::Append(r, Ok(_)), Some(m)) => drop(r.send(Err(fail(m)))),
            (Answer::Write(r, Ok(_)), Some(m)) => drop(r.send(Err(fail(m)))),
            (Answer::Append(r, a), _) => drop(r.send(a)),
            (Answer::Write(r, a), _) => drop(r.send(a)),
        }
    }
}

pub(super) struct Committer {
    db: sled::Db,
    tree: sled::Tree,
    durability: Durability,
    next_seq: u64,
    stats: Arc<LogStats>,
}

impl Committer {
    pub fn new(db: sled::Db, tree: sled::Tree, durability: Durability, next_seq: u64, stats: Arc<LogStats>) -> Self {
        Self {
            db,
            tree,
            durability,
            next_seq,
            stats,
        }
    }

    pub fn run(mut self, rx: Receiver<Request>, max_batch: usize) {
        while let Ok(first) = rx.recv() {
            let mut round = vec![first];
            while round.len() < max_batch {
                match rx.try_recv() {
                    Ok(r) => round.push(r),
                    Err(_) => break,
                }
            }
            self.commit(round);
        }
    }

    fn head(&self, stream: &StreamId, pending: &HashMap<StreamId, u64>) -> Result<u64, LogError> {
        if let Some(v) = pending.get(stream) {
            return Ok(*v);
        }
        Ok(match self.tree.get(layout::head_key(stream))? {
            Some(v) => layout::be_u64(&v).ok_or_else(|| LogError::Corrupt("bad stream head".into()))?,
            None => 0,
        })
    }

    fn commit(&mut self, round: Vec<Request>) {
        let _span = trace_span!("log.commit", requests = round.len()).entered();
        let at = Timestamp::now();
        let first_seq_of_round = self.next_seq;
        let mut batch = sled::Batch::default();
        let mut pending: HashMap<StreamId, u64> = HashMap::new();
        let mut answers: Vec<Answer> = Vec::with_capacity(round.len());
        let mut events = 0u64;
        let mut sides = 0u64;
        for request in round {
            answers.push(match request {
                Request::Append {
                    stream,
                    expected,
                    events: new,
                    side,
                    reply,
                } => {
                    let staged = self.stage_append(&mut batch, &mut pending, &stream, expected, &new, at);
                    if staged.is_ok() {
                        events += new.len() as u64;
                        sides += side.len() as u64;
                        stage_side(&mut batch, side);
                    }
                    Answer::Append(reply, staged)
                }
                Request::Import {
                    batch: imported,
                    last_seq,
                    reply,
                } => {
                    // Imports run alone on an empty log; commit them as their own round.
                    let done = self.tree.apply_batch(imported).map_err(LogError::from);
                    if done.is_ok() {
                        self.next_seq = self.next_seq.max(last_seq + 1);
                    }
                    Answer::Write(reply, done)
                }
                Request::Write { writes, reply } => {
                    sides += writes.len() as u64;
                    stage_side(&mut batch, writes);
                    Answer::Write(reply, Ok(()))
                }
            });
        }
        let writes = answers.iter().filter(|a| a.staged()).count();
        if writes > 0 {
            let durable = self
                .tree
                .apply_batch(batch)
                .map_err(LogError::from)
                .and_then(|_| self.db.flush().map_err(LogError::from))
                .and_then(|_| self.durability.sync().map_err(LogError::from));
            if let Err(e) = durable {
                error!(error = %e, "log commit failed; answering the round with the error");
                // Nothing of this round may be taken as written: its sequence
                // numbers are reused only if the batch never reached sled.
                self.next_seq = match self.tree.scan_prefix([layout::LOG]).next_back() {
                    Some(Ok((k, _))) => layout::seq_of_log_key(&k).unwrap_or(first_seq_of_round - 1) + 1,
                    _ => first_seq_of_round,
                };
                let msg = e.to_string();
                for answer in answers {
                    answer.send(Some(&msg));
                }
                return;
            }
            self.stats.commits.fetch_add(1, Ordering::Relaxed);
            self.stats.events.fetch_add(events, Ordering::Relaxed);
            self.stats.side_writes.fetch_add(sides, Ordering::Relaxed);
        }
        self.stats.requests.fetch_add(answers.len() as u64, Ordering::Relaxed);
        for answer in answers {
            answer.send(None);
        }
    }

    fn stage_append(
        &mut self,
        batch: &mut sled::Batch,
        pending: &mut HashMap<StreamId, u64>,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        at: Timestamp,
    ) -> Result<Appended, LogError> {
        let current = self.head(stream, pending)?;
        if let ExpectedVersion::Exact(e) = expected
            && e != current
        {
            return Err(LogError::WrongExpectedVersion {
                stream: stream.clone(),
                expected: e,
                actual: current,
            });
        }
        let first_seq = self.next_seq;
        let mut version = current;
        for ev in events {
            version += 1;
            let seq = self.next_seq;
            self.next_seq += 1;
            let mut rec = Vec::with_capacity(frame::encoded_len(stream, ev.type_name, &ev.payload));
            frame::encode_into(
                &mut rec,
                stream,
                version,
                at,
                ev.type_name,
                ev.schema_version,
                &ev.payload,
            );
            batch.insert(&layout::log_key(seq)[..], rec);
            batch.insert(layout::index_key(stream, version), &seq.to_be_bytes()[..]);
        }
        batch.insert(layout::head_key(stream), &version.to_be_bytes()[..]);
        pending.insert(stream.clone(), version);
        Ok(Appended { first_seq, version, at })
    }
}

fn stage_side(batch: &mut sled::Batch, writes: Vec<SideWrite>) {
    for w in writes {
        match w {
            SideWrite::Insert(k, v) => batch.insert(k, v),
            SideWrite::Remove(k) => batch.remove(k),
        }
    }
}
