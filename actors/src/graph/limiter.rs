//! Per-mailbox limits, kept on hcal's side so that Graph never has to say
//! no: at most N requests in flight per mailbox (a semaphore), and a
//! rolling request budget per mailbox, in memory that does not grow with
//! the mailboxes: a node that has touched many holds nothing for each.
//!
//! Budgets count in buckets of a tenth of the window, a count-min sketch
//! of per-mailbox counts for each (8 KiB: see [`Sketch`]), and forget a
//! bucket only once its *end* is a full window old: they never undercount
//! a true rolling window, and free a request at most one bucket (a minute
//! of Graph's ten) after that window would. A mailbox's semaphore exists only while it has a request in
//! flight or waiting (one left by a waiter that gave up goes at the next
//! sweep); mailboxes are known by a 64-bit keyed hash of their key (two
//! that collide would share limits: stricter, never looser).

use std::collections::{HashMap, VecDeque};
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

/// Counters in a row of a bucket's sketch.
const WIDTH: usize = 2048;
/// Rows in a bucket's sketch.
const ROWS: usize = 2;

/// Requests per mailbox in one bucket, in a count-min sketch: each of
/// [`ROWS`] rows of [`WIDTH`] counters counts a mailbox in the counter its
/// hash picks there, and the mailbox's count is the least of its counters.
/// Never under the mailbox's true count; over it only where other
/// mailboxes share every one of its counters, and then by at most what
/// they made. 8 KiB, whatever the number of mailboxes.
struct Sketch([u16; ROWS * WIDTH]);

impl Sketch {
    fn new() -> Box<Self> {
        Box::new(Sketch([0; ROWS * WIDTH]))
    }

    /// Where `mailbox` is counted in each row: a multiplicative hash of
    /// the key per row (mailbox keys are already keyed hashes; this also
    /// spreads small keys, as tests use).
    fn cells(mailbox: u64) -> [usize; ROWS] {
        const MUL: [u64; ROWS] = [0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F];
        std::array::from_fn(|row| {
            let h = (mailbox ^ (row as u64)).wrapping_mul(MUL[row]);
            row * WIDTH + (h >> (64 - WIDTH.trailing_zeros())) as usize
        })
    }

    fn count(&self, mailbox: u64) -> u16 {
        Self::cells(mailbox).iter().map(|&i| self.0[i]).min().unwrap_or(0)
    }

    /// One more request of `mailbox`: only the counters at its least go up
    /// (conservative update), which keeps the others' overcount down.
    fn add(&mut self, mailbox: u64) {
        let cells = Self::cells(mailbox);
        let next = self.count(mailbox).saturating_add(1);
        for i in cells {
            self.0[i] = self.0[i].max(next);
        }
    }
}

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sketch")
    }
}

/// Every mailbox's rolling count of requests: for each bucket still
/// counted (those a window back from the current one, and it; oldest
/// first), a sketch of how many requests each mailbox made in it. The
/// budgets take at most 11 sketches (88 KiB) however many mailboxes make
/// requests, and a bucket leaves whole once forgotten, so nothing has to
/// sweep idle mailboxes. A sketch may count a mailbox high by what
/// mailboxes sharing its counters made (some 30 a bucket at 1,000
/// requests/s, against Graph's 10,000 a window): it refuses early, never
/// late.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    buckets: VecDeque<(u64, Box<Sketch>)>,
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
            let c = counts.count(mailbox);
            if c > 0 {
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
            Some((b, counts)) if *b >= current => counts.add(mailbox),
            _ => {
                let mut counts = Sketch::new();
                counts.add(mailbox);
                self.buckets.push_back((current, counts));
            }
        }
        Ok(())
    }

    /// Buckets held (each a sketch): what the budgets cost in memory.
    #[cfg(test)]
    fn buckets(&self) -> usize {
        self.buckets.len()
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
        let taken = lock(&self.tracked)
            .budgets
            .try_take(mailbox, &self.window, Instant::now());
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
        // A window after their last requests, nothing of either is held.
        b.prune(&w, t0 + Duration::from_secs(1400));
        assert_eq!(b.buckets(), 0);
        assert!(b.try_take(alice, &w, t0 + Duration::from_secs(1400)).is_ok());
    }

    proptest::proptest! {
        /// A sketch never counts a mailbox under its requests, and among
        /// 20,000 other mailboxes' requests in its bucket (a busy node's
        /// minute) counts it over by a few on average.
        #[test]
        fn a_sketch_counts_high_by_little(
            keys in proptest::collection::vec(proptest::num::u64::ANY, 200),
            others in proptest::num::u64::ANY,
        ) {
            let mut sketch = Sketch::new();
            let mut rng = others;
            for _ in 0..20_000 {
                // SplitMix64: the other mailboxes' keyed hashes.
                rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = rng;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                sketch.add(z ^ (z >> 31));
            }
            let mut over = 0u64;
            for (i, key) in keys.iter().enumerate() {
                let mine = (i % 3) as u16 + 1;
                for _ in 0..mine {
                    sketch.add(*key);
                }
                let counted = sketch.count(*key);
                proptest::prop_assert!(counted >= mine);
                over += u64::from(counted - mine);
            }
            // Two rows of 2,048 counters, 20,000 requests: about 10 a counter,
            // the least of two much less.
            proptest::prop_assert!(over / 200 <= 12, "mean overcount {}", over / 200);
        }
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
        let buckets = |lim: &Limiters| lock(&lim.tracked).budgets.buckets();
        let p = lim.acquire("alice").await.ok().unwrap();
        let _ = lim.acquire("bob").await.ok().unwrap();
        assert_eq!(buckets(&lim), 1);
        let now = Instant::now();
        // Recently used: kept.
        lim.sweep(now + Duration::from_secs(1));
        assert_eq!(buckets(&lim), 1);
        // A window and a bucket later both budgets count nothing and go; alice's
        // semaphore stays while her request is in flight, and goes with it.
        lim.sweep(now + Duration::from_secs(700));
        assert_eq!(buckets(&lim), 0);
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
        assert_eq!(lock(&lim.tracked).budgets.buckets(), 1);
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
