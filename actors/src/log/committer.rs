//! The group committer: one thread owns every write to the log. It takes all
//! requests waiting, checks each append's expected version and projects
//! its events into table rows, writes the round's records as one value, its
//! index entries and side writes, then the watermark (one batch with the
//! rows, when there are any), and hands the round to the syncer, which answers it once
//! it is on disk. Many concurrent small appends therefore cost one fsync per
//! round, and the next round is applied while the last one is synced. A
//! lone writer's rounds (one request, and one before it, nothing waiting
//! behind, the syncer idle) are settled here under the syncer's lock: such
//! an append then waits for no thread hand-off but its answer.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hcal_schemas::{StreamId, Timestamp};
use tracing::{error, trace_span};

use super::syncer::{Answer, Applied, Broken, Reply, Syncer, nanos};
use super::tables::{self, Projection};
use super::{Appended, ExpectedVersion, LogError, LogStats, NewEvent, SideWrite, frame, layout, read};

/// A round stops taking requests past this many record bytes, so that its
/// value stays well below sled's out-of-line blob size (segment / 4).
const ROUND_BYTES: usize = 96 * 1024;
/// Heads remembered between rounds: those of streams being written. A
/// stream's head stays while its writer is live and goes when the writer
/// says it is done ([`Request::Forget`]: a mailbox actor passivating), so a
/// passivated mailbox costs nothing here and a live one never has its head
/// read from the index (a seek that, with thousands of mailboxes busy in
/// turn, pulls an index leaf into sled's cache each time). Past this many
/// all are forgotten and read again as needed: a bound for writers that
/// never say they are done.
const HEAD_CACHE: usize = 65_536;

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
        records: Vec<(u64, Vec<u8>)>,
        reply: Reply<()>,
    },
    /// The stream's writer is done for now: its cached head may go.
    Forget {
        stream: StreamId,
    },
}

impl Request {
    fn bytes(&self) -> usize {
        match self {
            Request::Append { events, .. } => events.iter().map(|e| e.payload.len() + 64).sum(),
            Request::Write { writes, .. } => writes.len() * 64,
            Request::Import { .. } => ROUND_BYTES,
            Request::Forget { .. } => 0,
        }
    }
}

pub(super) struct Committer {
    tree: sled::Tree,
    to_sync: SyncSender<Applied>,
    syncer: Arc<Mutex<Syncer>>,
    /// Requests in the previous round: a lone writer's rounds hold one each,
    /// one after another.
    last_round: usize,
    broken: Broken,
    next_seq: u64,
    heads: HashMap<StreamId, u64>,
    stats: Arc<LogStats>,
    projection: &'static dyn Projection,
}

/// A round's writes, staged before any reaches sled.
#[derive(Default)]
struct Staged {
    blob: Vec<u8>,
    records: u64,
    index: Vec<(Vec<u8>, [u8; 12])>,
    rows: tables::Staged,
    side: Vec<SideWrite>,
    heads: HashMap<StreamId, u64>,
}

impl Committer {
    pub fn new(
        tree: sled::Tree,
        to_sync: SyncSender<Applied>,
        syncer: Arc<Mutex<Syncer>>,
        broken: Broken,
        next_seq: u64,
        stats: Arc<LogStats>,
        projection: &'static dyn Projection,
    ) -> Self {
        Self {
            tree,
            to_sync,
            syncer,
            last_round: 0,
            broken,
            next_seq,
            heads: HashMap::new(),
            stats,
            projection,
        }
    }

    pub fn run(mut self, rx: Receiver<Request>, max_batch: usize) {
        let mut carry: Option<Request> = None;
        loop {
            let first = match carry.take() {
                Some(r) => r,
                None => match rx.recv() {
                    Ok(r) => r,
                    Err(_) => return,
                },
            };
            if matches!(first, Request::Import { .. }) {
                self.import(first);
                continue;
            }
            let mut bytes = first.bytes();
            let mut round = vec![first];
            let mut drained = false;
            while round.len() < max_batch && bytes < ROUND_BYTES {
                match rx.try_recv() {
                    Ok(r @ Request::Import { .. }) => {
                        carry = Some(r);
                        break;
                    }
                    Ok(r) => {
                        bytes += r.bytes();
                        round.push(r);
                    }
                    Err(_) => {
                        drained = true;
                        break;
                    }
                }
            }
            let alone = drained && round.len() == 1 && self.last_round == 1;
            self.last_round = round.len();
            self.commit(round, alone);
        }
    }

    fn forget(&mut self, stream: &StreamId) {
        self.heads.remove(stream);
        crate::sparse::shrink_if_sparse(&mut self.heads);
        self.stats
            .heads_cached
            .store(self.heads.len() as u64, Ordering::Relaxed);
    }

    fn head(&self, stream: &StreamId, staged: &Staged) -> Result<u64, LogError> {
        if let Some(v) = staged.heads.get(stream).or_else(|| self.heads.get(stream)) {
            return Ok(*v);
        }
        read::head(&self.tree, stream)
    }

    /// Applies `round`; `alone`: a lone writer's, to settle here if the syncer is idle.
    fn commit(&mut self, round: Vec<Request>, alone: bool) {
        let _span = trace_span!("log.commit", requests = round.len()).entered();
        let started = Instant::now();
        let at = Timestamp::now();
        let first_seq = self.next_seq;
        let mut staged = Staged::default();
        let mut answers: Vec<Answer> = Vec::with_capacity(round.len());
        for request in round {
            let answer = match request {
                Request::Append {
                    stream,
                    expected,
                    events,
                    side,
                    reply,
                } => {
                    let result = self.stage_append(&mut staged, first_seq, &stream, expected, &events, at);
                    if result.is_ok() {
                        staged.side.extend(side);
                    }
                    Answer::Append(reply, result)
                }
                Request::Write { writes, reply } => {
                    staged.side.extend(writes);
                    Answer::Write(reply, Ok(()))
                }
                Request::Import { reply, .. } => {
                    Answer::Write(reply, Err(LogError::Refused("import mixed into a round")))
                }
                // Nothing to answer. An append earlier in the round caches the head again.
                Request::Forget { stream } => {
                    self.forget(&stream);
                    continue;
                }
            };
            answers.push(answer);
        }
        if let Some(reason) = self.broken.get() {
            let fail = || LogError::Broken(reason.clone());
            answers.into_iter().for_each(|a| a.send(Some(&fail)));
            return;
        }
        if !answers.iter().any(Answer::staged) {
            self.stats.requests.fetch_add(answers.len() as u64, Ordering::Relaxed);
            answers.into_iter().for_each(|a| a.send(None));
            return;
        }
        let records = staged.records;
        let sides = staged.side.len() as u64;
        let heads = std::mem::take(&mut staged.heads);
        match self.apply(staged, first_seq) {
            Ok(()) => {
                self.stats
                    .apply_nanos
                    .fetch_add(nanos(started.elapsed()), Ordering::Relaxed);
                self.next_seq = first_seq + records;
                if self.heads.len() > HEAD_CACHE {
                    self.heads = HashMap::new();
                }
                self.heads.extend(heads);
                self.stats
                    .heads_cached
                    .store(self.heads.len() as u64, Ordering::Relaxed);
                self.hand_over(
                    Applied {
                        answers,
                        records,
                        sides,
                    },
                    alone,
                );
            }
            Err(e) => {
                error!(error = %e, "log commit failed; answering the round with the error");
                // Whatever of the round reached sled is completed (or absent)
                // after this, and nothing of it was acknowledged.
                self.heads.clear();
                match read::complete(&self.tree, self.projection) {
                    Ok(next) => self.next_seq = next.max(first_seq),
                    Err(e2) => error!(error = %e2, "completing the index after a failed commit failed"),
                }
                let msg = e.to_string();
                let fail = || LogError::Corrupt(format!("commit failed: {msg}"));
                answers.into_iter().for_each(|a| a.send(Some(&fail)));
            }
        }
    }

    /// Passes an applied round to the syncer, which answers it once durable;
    /// or settles a lone writer's round here when the syncer is idle.
    fn hand_over(&self, round: Applied, alone: bool) {
        if alone && let Ok(mut syncer) = self.syncer.try_lock() {
            syncer.settle(vec![round]);
            return;
        }
        if let Err(std::sync::mpsc::SendError(round)) = self.to_sync.send(round) {
            round
                .answers
                .into_iter()
                .for_each(|a| a.send(Some(&|| LogError::Closed)));
        }
    }

    fn apply(&mut self, staged: Staged, first_seq: u64) -> Result<(), LogError> {
        if staged.records > 0 {
            self.tree.insert(layout::log_key(first_seq), staged.blob)?;
        }
        for (k, v) in staged.index {
            self.tree.insert(k, &v[..])?;
        }
        for w in staged.side {
            match w {
                SideWrite::Insert(k, v) => drop(self.tree.insert(k, v)?),
                SideWrite::Remove(k) => drop(self.tree.remove(k)?),
            }
        }
        if staged.records > 0 {
            let watermark = first_seq + staged.records - 1;
            if staged.rows.is_empty() {
                self.tree.insert(layout::WATERMARK, &watermark.to_be_bytes()[..])?;
                self.tree
                    .insert(layout::TABLES_MARK, &tables::mark(self.projection, watermark)[..])?;
            } else {
                tables::write_with_watermark(&self.tree, staged.rows, watermark, self.projection)?;
            }
        }
        Ok(())
    }

    fn stage_append(
        &mut self,
        staged: &mut Staged,
        first_seq: u64,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[NewEvent],
        at: Timestamp,
    ) -> Result<Appended, LogError> {
        let current = self.head(stream, staged)?;
        if let ExpectedVersion::Exact(e) = expected
            && e != current
        {
            return Err(LogError::WrongExpectedVersion {
                stream: stream.clone(),
                expected: e,
                actual: current,
            });
        }
        let count = u32::try_from(events.len()).map_err(|_| LogError::Refused("too many events in one append"))?;
        let append_seq = first_seq + staged.records;
        // Projected first, into this append's own changes over the round's:
        // an event the projection refuses leaves the round as it was.
        let mut frames = Vec::with_capacity(events.len());
        let mut rows = tables::Staged::new();
        for (version, ev) in (current + 1..).zip(events) {
            let mut frame_buf = Vec::new();
            frame::encode_into(
                &mut frame_buf,
                stream,
                version,
                at,
                ev.type_name,
                ev.schema_version,
                &ev.payload,
            );
            if self.projection.writes(stream) {
                tables::project_record_over(
                    self.projection,
                    Some(&self.tree),
                    Some(&staged.rows),
                    &mut rows,
                    &frame_buf,
                )?;
            }
            frames.push(frame_buf);
        }
        staged.rows.extend(rows);
        for frame_buf in &frames {
            layout::push_record(&mut staged.blob, frame_buf);
            staged.records += 1;
        }
        let version = current + events.len() as u64;
        staged.index.push((
            layout::index_key(stream, current + 1),
            layout::index_value(append_seq, count),
        ));
        staged.heads.insert(stream.clone(), version);
        Ok(Appended {
            first_seq: append_seq,
            version,
            at,
        })
    }

    fn import(&mut self, request: Request) {
        let Request::Import { records, reply } = request else {
            return;
        };
        let result = (|| -> Result<u64, LogError> {
            // Projected first: a record the tables refuse leaves the log as it was.
            let mut rows = tables::Staged::new();
            for (_, rec) in &records {
                tables::project_record(self.projection, Some(&self.tree), &mut rows, rec)?;
            }
            let mut last = 0;
            for (seq, rec) in &records {
                let f = frame::decode(rec)?;
                let stream = StreamId::parse(f.stream).map_err(|e| LogError::Corrupt(e.to_string()))?;
                let mut blob = Vec::with_capacity(rec.len() + 4);
                layout::push_record(&mut blob, rec);
                self.tree.insert(layout::log_key(*seq), blob)?;
                self.tree
                    .insert(layout::index_key(&stream, f.version), &layout::index_value(*seq, 1)[..])?;
                last = *seq;
            }
            if last > 0 {
                tables::write_with_watermark(&self.tree, rows, last, self.projection)?;
            }
            Ok(last)
        })();
        match result {
            Ok(last) => {
                self.next_seq = self.next_seq.max(last + 1);
                self.heads.clear();
                self.hand_over(
                    Applied {
                        answers: vec![Answer::Write(reply, Ok(()))],
                        records: records.len() as u64,
                        sides: 0,
                    },
                    false,
                );
            }
            Err(e) => drop(reply.send(Err(e))),
        }
    }
}
