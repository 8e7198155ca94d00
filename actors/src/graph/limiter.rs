//! Per-mailbox limits, kept on hcal's side so that Graph never has to say
//! no: at most N requests in flight per mailbox (a semaphore), and a
//! rolling request budget per mailbox. Mailboxes idle for a whole budget
//! window are forgotten, so a node that has touched many mailboxes does not
//! hold a limiter for each forever.
//!
//! Budgets count in buckets of a tenth of the window, a map of per-mailbox
//! counts for each (a mailbox costs an entry in each bucket it made requests
//! in, 17 bytes and the map's slack), and forget a bucket only once its
//! *end* is a full window old: they never undercount a true rolling window,
//! and free a request at most one bucket (a minute of Graph's ten) after
//! that window would. A mailbox's semaphore exists only while it has a request in
//! flight or waiting (one left by a waiter that gave up goes at the next
//! sweep); mailboxes are known by a 64-bit keyed hash of their key (two
//! that collide would share limits: stricter, never looser).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Buckets in a window.
const BUCKETS: u32 = 10;
/// How often idle mailboxes are looked for (at most; only on use).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The shape of every mailbox's budget: one copy for all of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Requests per window (counts are u16: Graph's limit is 10,000).
    limit: u16,
    bucket: Duration,
    /// Bucket numbers count from here.
    epoch: Instant,
}

impl Window {
    pub(crate) fn new(limit: u32, window: Duration, epoch: Instant) -> Self {
        // Rounded up, so that BUCKETS buckets span at least the window.
        let nanos = window.as_nanos().div_ceil(u128::from(BUCKETS));
        let bucket = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)).max(Duration::from_millis(1));
        Window {
            limit: u16::try_from(limit).unwrap_or(u16::MAX),
            bucket,
            epoch,
        }
    }

    fn bucket_of(&self, now: Instant) -> u64 {
        let n = now.saturating_duration_since(self.epoch).as_nanos() / self.bucket.as_nanos();
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// When bucket `n` is forgotten: once the current bucket is more than
    /// BUCKETS past it, so its end is at least a window old.
    fn forgotten_at(&self, n: u64) -> Instant {
        let at = self
            .bucket
            .as_nanos()
            .saturating_mul(u128::from(n) + u128::from(BUCKETS) + 1);
        self.epoch + Duration::from_nanos(u64::try_from(at).unwrap_or(u64::MAX))
    }
}

/// Every mailbox's rolling count of requests: for each bucket still
/// counted (those a window back from the current one, and it; oldest
/// first), how many requests each mailbox made in it. A mailbox costs an
/// entry only in the buckets it made requests in, and a bucket leaves whole
/// once forgotten, so an idle mailbox is gone from here a window after its
/// last request without any sweep.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    buckets: VecDeque<(u64, HashMap<u64, u16>)>,
}

impl Budgets {
    fn prune(&mut self, w: &Window, now: Instant) {
        let current = w.bucket_of(now);
        while self
            .buckets
            .front()
            .is_some_and(|(b, _)| b.saturating_add(u64::from(BUCKETS)) < current)
        {
            self.buckets.pop_front();
        }
    }

    /// Count one request of `mailbox` at `now`, or say how long until one fits.
    pub(crate) fn try_take(&mut self, mailbox: u64, w: &Window, now: Instant) -> Result<(), Duration> {
        self.prune(w, now);
        let mut total = 0u32;
        let mut oldest = None;
        for (b, counts) in &self.buckets {
            if let Some(&c) = counts.get(&mailbox) {
                total += u32::from(c);
                oldest = oldest.or(Some(*b));
            }
        }
        if total >= u32::from(w.limit) {
            let wait = match oldest {
                Some(b) => w.forgotten_at(b).saturating_duration_since(now),
                None => w.bucket,
            };
            return Err(wait.max(Duration::from_millis(1)));
        }
        // A `now` read just before another caller's later one still counts in
        // the newest bucket: forgotten a little later, never earlier.
        let current = w.bucket_of(now);
        match self.buckets.back_mut() {
            Some((b, counts)) if *b >= current => *counts.entry(mailbox).or_default() += 1,
            _ => self.buckets.push_back((current, HashMap::from([(mailbox, 1)]))),
        }
        Ok(())
    }

    /// Mailboxes with a request still counted at `now`.
    fn mailboxes(&mut self, w: &Window, now: Instant) -> usize {
        self.prune(w, now);
        let mut seen: HashSet<u64> = HashSet::new();
        for (_, counts) in &self.buckets {
            seen.extend(counts.keys());
        }
        seen.len()
    }

    /// (mailbox, bucket) counts held: what the budgets cost in memory.
    fn entries(&self) -> usize {
        self.buckets.iter().map(|(_, counts)| counts.len()).sum()
    }
}

/// The mailboxes held now: every budget still counting, and the semaphores
/// of mailboxes with a request in flight or waiting.
#[derive(Debug, Default)]
struct Tracked {
    budgets: Budgets,
    busy: HashMap<u64, Arc<Semaphore>>,
}

/// One of a mailbox's request slots, given back when dropped (and the
/// mailbox's semaphore with it, when nothing else holds or waits on it).
pub(crate) struct Slot {
    mailbox: u64,
    /// Taken (and dropped) under the lock when the slot is given back.
    slots: Option<Arc<Semaphore>>,
    tracked: Arc<Mutex<Tracked>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut tracked = lock(&self.tracked);
        if let Some(slots) = self.slots.take() {
            slots.add_permits(1);
            // Clones are taken and slots' clones dropped under this lock: the map's
            // and this one are the only ones left.
            if Arc::strong_count(&slots) == 2 {
                tracked.busy.remove(&self.mailbox);
            }
        }
    }
}

/// Why a request may not go now.
pub(crate) enum Refused {
    Budget(Duration),
}

/// All mailboxes' limiters.
#[derive(Debug)]
pub(crate) struct Limiters {
    per_mailbox: usize,
    window: Window,
    keys: RandomState,
    tracked: Arc<Mutex<Tracked>>,
    last_sweep: Mutex<Instant>,
}

impl Limiters {
    pub(crate) fn new(per_mailbox: usize, budget: u32, window: Duration) -> Self {
        let now = Instant::now();
        if budget > u32::from(u16::MAX) {
            tracing::warn!(
                budget,
                cap = u16::MAX,
                "a mailbox budget over 65,535 requests per window is capped"
            );
        }
        Limiters {
            per_mailbox: per_mailbox.max(1),
            window: Window::new(budget, window, now),
            keys: RandomState::new(),
            tracked: Arc::new(Mutex::new(Tracked::default())),
            last_sweep: Mutex::new(now),
        }
    }

    /// Wait for a slot of mailbox `key`, then count one request against its budget.
    /// The slot is held until the returned `Slot` is dropped.
    pub(crate) async fn acquire(&self, key: &str) -> Result<Slot, Refused> {
        self.maybe_sweep(Instant::now());
        let mailbox = self.keys.hash_one(key);
        let slots = lock(&self.tracked)
            .busy
            .entry(mailbox)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_mailbox)))
            .clone();
        slots
            .acquire()
            .await
            .expect("mailbox semaphores are never closed")
            .forget();
        let slot = Slot {
            mailbox,
            slots: Some(slots),
            tracked: self.tracked.clone(),
        };
        let mut tracked = lock(&self.tracked);
        let taken = tracked.budgets.try_take(mailbox, &self.window, Instant::now());
        let entries = tracked.budgets.entries();
        drop(tracked);
        metrics::gauge!("hcal_graph_budget_entries").set(entries as f64);
        match taken {
            Ok(()) => Ok(slot),
            Err(wait) => Err(Refused::Budget(wait)),
        }
    }

    fn maybe_sweep(&self, now: Instant) {
        {
            let mut last = lock(&self.last_sweep);
            if now < *last + SWEEP_EVERY {
                return;
            }
            *last = now;
        }
        self.sweep(now);
    }

    /// Forget the buckets that count nothing any more, and the semaphores
    /// of acquisitions given up before they were granted.
    pub(crate) fn sweep(&self, now: Instant) {
        let mut tracked = lock(&self.tracked);
        tracked.budgets.prune(&self.window, now);
        tracked.busy.retain(|_, s| Arc::strong_count(s) > 1);
        crate::sparse::shrink_if_sparse(&mut tracked.busy);
        metrics::gauge!("hcal_graph_budget_entries").set(tracked.budgets.entries() as f64);
    }

    /// Mailboxes whose budget still counts.
    pub(crate) fn tracked(&self) -> usize {
        lock(&self.tracked).budgets.mailboxes(&self.window, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_rolls() {
        let t0 = Instant::now();
        let window = Duration::from_secs(600);
        let w = Window::new(3, window, t0);
        let mut b = Budgets::default();
        let (alice, bob) = (1, 2);
        for i in 0..3 {
            assert!(b.try_take(alice, &w, t0 + Duration::from_secs(i * 30)).is_ok());
        }
        // The first bucket (0-60 s) is forgotten once a window has passed its end.
        let wait = b.try_take(alice, &w, t0 + Duration::from_secs(65)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(595));
        // Another mailbox has a budget of its own.
        assert!(b.try_take(bob, &w, t0 + Duration::from_secs(65)).is_ok());
        // Still spent a true rolling window after the requests, and until then.
        assert!(b.try_take(alice, &w, t0 + Duration::from_secs(602)).is_err());
        assert!(b.try_take(alice, &w, t0 + Duration::from_secs(659)).is_err());
        // Two of three free once the first bucket has gone, the third once the second has.
        assert!(b.try_take(alice, &w, t0 + Duration::from_secs(660)).is_ok());
        assert!(b.try_take(alice, &w, t0 + Duration::from_secs(661)).is_ok());
        assert!(b.try_take(alice, &w, t0 + Duration::from_secs(662)).is_err());
        assert_eq!(b.mailboxes(&w, t0 + Duration::from_secs(662)), 2);
        // A window after their last requests, nothing of either is held.
        assert_eq!(b.mailboxes(&w, t0 + Duration::from_secs(1400)), 0);
        assert_eq!(b.entries(), 0);
    }

    proptest::proptest! {
        /// Against an exact rolling window per mailbox: a budget never lets
        /// more than its limit through in any window, refuses only when the
        /// limit was reached within a window and a bucket, and one mailbox's
        /// requests never count against another's.
        #[test]
        fn budget_is_a_rolling_window_at_most_a_bucket_late(
            limit in 1u32..20,
            requests in proptest::collection::vec((0u64..200_000, 0u64..3), 1..300),
        ) {
            let t0 = Instant::now();
            let window = Duration::from_secs(600);
            let w = Window::new(limit, window, t0);
            let mut b = Budgets::default();
            let mut taken: HashMap<u64, Vec<Duration>> = HashMap::new();
            let mut at = Duration::ZERO;
            for (gap, mailbox) in requests {
                at += Duration::from_millis(gap);
                let in_window =
                    |taken: &[Duration], span: Duration| taken.iter().filter(|t| at - **t < span).count() as u32;
                let mine = taken.entry(mailbox).or_default();
                match b.try_take(mailbox, &w, t0 + at) {
                    Ok(()) => {
                        mine.push(at);
                        proptest::prop_assert!(in_window(mine, window) <= limit);
                    }
                    Err(wait) => {
                        proptest::prop_assert!(in_window(mine, window + w.bucket) >= limit);
                        proptest::prop_assert!(wait <= window + w.bucket);
                    }
                }
                // Only buckets of the last window and a bucket are held.
                proptest::prop_assert!(b.buckets.len() <= BUCKETS as usize + 1);
            }
        }
    }

    #[tokio::test]
    async fn idle_mailboxes_are_forgotten() {
        let lim = Limiters::new(4, 100, Duration::from_secs(600));
        let p = lim.acquire("alice").await.ok().unwrap();
        let _ = lim.acquire("bob").await.ok().unwrap();
        assert_eq!(lim.tracked(), 2);
        let now = Instant::now();
        // Recently used: kept.
        lim.sweep(now + Duration::from_secs(1));
        assert_eq!(lim.tracked(), 2);
        // A window and a bucket later both budgets count nothing and go; alice's
        // semaphore stays while her request is in flight, and goes with it.
        lim.sweep(now + Duration::from_secs(700));
        assert_eq!(lim.tracked(), 0);
        assert_eq!(lock(&lim.tracked).busy.len(), 1);
        drop(p);
        assert_eq!(lock(&lim.tracked).busy.len(), 0);
    }

    #[tokio::test]
    async fn a_mailbox_holds_a_semaphore_only_while_a_request_is_in_flight_or_waiting() {
        let lim = Arc::new(Limiters::new(1, 100, Duration::from_secs(600)));
        let busy = |lim: &Limiters| lock(&lim.tracked).busy.len();
        let first = lim.acquire("alice").await.ok().unwrap();
        assert_eq!(busy(&lim), 1);
        let waiting = {
            let lim = lim.clone();
            tokio::spawn(async move { lim.acquire("alice").await.ok().map(drop).is_some() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The waiter holds the semaphore: giving back the first slot keeps it.
        drop(first);
        assert_eq!(busy(&lim), 1);
        let went = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(went, Ok(Ok(true))), "{went:?}");
        // Both slots given back: the semaphore is gone, the budget stays.
        assert_eq!(busy(&lim), 0);
        assert_eq!(lim.tracked(), 1);
    }

    #[tokio::test]
    async fn a_dropped_slot_lets_the_next_request_of_its_mailbox_go() {
        let lim = Arc::new(Limiters::new(2, 100, Duration::from_secs(600)));
        let a = lim.acquire("alice").await.ok().unwrap();
        let _b = lim.acquire("alice").await.ok().unwrap();
        // Another mailbox has slots of its own.
        let _c = lim.acquire("carol").await.ok().unwrap();
        let waiting = {
            let lim = lim.clone();
            tokio::spawn(async move { lim.acquire("alice").await.is_ok() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "a third request of alice went with two slots held"
        );
        drop(a);
        let went = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(went, Ok(Ok(true))), "{went:?}");
    }
}
