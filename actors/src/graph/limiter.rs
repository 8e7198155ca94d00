//! Per-mailbox limits, kept on hcal's side so that Graph never has to say
//! no: at most N requests in flight per mailbox (a semaphore), and a
//! rolling request budget per mailbox. Mailboxes idle for a whole budget
//! window are forgotten, so a node that has touched many mailboxes does not
//! hold a limiter for each forever.
//!
//! The budget counts in buckets of 1/60 of the window and forgets a bucket
//! only once its *end* is a full window old, so it never undercounts a true
//! rolling window (it may briefly overcount by one bucket).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

const BUCKETS: u32 = 60;
/// How often idle mailboxes are looked for (at most; only on use).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The shape of every mailbox's budget: one copy for all of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    limit: u32,
    window: Duration,
    bucket: Duration,
    /// Bucket numbers count from here.
    epoch: Instant,
}

impl Window {
    pub(crate) fn new(limit: u32, window: Duration, epoch: Instant) -> Self {
        let bucket = (window / BUCKETS).max(Duration::from_millis(1));
        Window {
            limit,
            window,
            bucket,
            epoch,
        }
    }

    fn bucket_of(&self, now: Instant) -> u64 {
        let n = now.saturating_duration_since(self.epoch).as_nanos() / self.bucket.as_nanos();
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// When bucket `n` is a full window old (its end, so a true rolling window is never undercounted).
    fn forgotten_at(&self, n: u64) -> Instant {
        let end = self.bucket.as_nanos().saturating_mul(u128::from(n) + 1);
        self.epoch + Duration::from_nanos(u64::try_from(end).unwrap_or(u64::MAX)) + self.window
    }
}

/// A rolling count of one mailbox's requests: (bucket number, requests in it), oldest first.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    buckets: VecDeque<(u64, u32)>,
    total: u32,
}

impl Budget {
    fn prune(&mut self, w: &Window, now: Instant) {
        while let Some(&(b, n)) = self.buckets.front() {
            if now >= w.forgotten_at(b) {
                self.buckets.pop_front();
                self.total -= n;
            } else {
                break;
            }
        }
        if self.buckets.is_empty() {
            self.buckets = VecDeque::new();
        }
    }

    /// Count one request at `now`, or say how long until one fits.
    pub(crate) fn try_take(&mut self, w: &Window, now: Instant) -> Result<(), Duration> {
        self.prune(w, now);
        if self.total >= w.limit {
            let wait = match self.buckets.front() {
                Some(&(b, _)) => w.forgotten_at(b).saturating_duration_since(now),
                None => w.bucket,
            };
            return Err(wait.max(Duration::from_millis(1)));
        }
        let b = w.bucket_of(now);
        match self.buckets.back_mut() {
            Some((last, n)) if *last == b => *n += 1,
            _ => self.buckets.push_back((b, 1)),
        }
        self.total += 1;
        Ok(())
    }

    /// Nothing counted any more at `now`.
    pub(crate) fn is_empty(&mut self, w: &Window, now: Instant) -> bool {
        self.prune(w, now);
        self.total == 0
    }
}

/// The limits of one mailbox.
#[derive(Debug)]
pub(crate) struct MailboxLimiter {
    slots: Semaphore,
    budget: Mutex<Budget>,
}

/// One of a mailbox's request slots, given back when dropped.
pub(crate) struct Slot(Arc<MailboxLimiter>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.slots.add_permits(1);
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
    map: Mutex<HashMap<Box<str>, Arc<MailboxLimiter>>>,
    last_sweep: Mutex<Instant>,
}

impl Limiters {
    pub(crate) fn new(per_mailbox: usize, budget: u32, window: Duration) -> Self {
        let now = Instant::now();
        Limiters {
            per_mailbox: per_mailbox.max(1),
            window: Window::new(budget, window, now),
            map: Mutex::new(HashMap::new()),
            last_sweep: Mutex::new(now),
        }
    }

    fn limiter(&self, key: &str, now: Instant) -> Arc<MailboxLimiter> {
        self.maybe_sweep(now);
        let mut map = lock(&self.map);
        if let Some(l) = map.get(key) {
            return l.clone();
        }
        let l = Arc::new(MailboxLimiter {
            slots: Semaphore::new(self.per_mailbox),
            budget: Mutex::new(Budget::default()),
        });
        map.insert(key.into(), l.clone());
        metrics::gauge!("hcal_graph_mailboxes_tracked").set(map.len() as f64);
        l
    }

    /// Wait for a slot of mailbox `key`, then count one request against its budget.
    /// The slot is held until the returned `Slot` is dropped.
    pub(crate) async fn acquire(&self, key: &str) -> Result<Slot, Refused> {
        let l = self.limiter(key, Instant::now());
        l.slots
            .acquire()
            .await
            .expect("mailbox semaphores are never closed")
            .forget();
        let slot = Slot(l);
        let taken = lock(&slot.0.budget).try_take(&self.window, Instant::now());
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

    /// Forget the mailboxes with nothing in flight, no waiter and an empty budget.
    pub(crate) fn sweep(&self, now: Instant) {
        let mut map = lock(&self.map);
        map.retain(|_, l| {
            // A held slot or a waiter holds the Arc too.
            let busy = Arc::strong_count(l) > 1;
            busy || !lock(&l.budget).is_empty(&self.window, now)
        });
        crate::sparse::shrink_if_sparse(&mut map);
        metrics::gauge!("hcal_graph_mailboxes_tracked").set(map.len() as f64);
    }

    pub(crate) fn tracked(&self) -> usize {
        lock(&self.map).len()
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
        let mut b = Budget::default();
        for i in 0..3 {
            assert!(b.try_take(&w, t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = b.try_take(&w, t0 + Duration::from_secs(5)).unwrap_err();
        assert!(
            wait > Duration::from_secs(500) && wait <= Duration::from_secs(610),
            "{wait:?}"
        );
        // Still spent just before the oldest bucket has aged a full window.
        assert!(b.try_take(&w, t0 + Duration::from_secs(600)).is_err());
        // Free once it has.
        assert!(b.try_take(&w, t0 + Duration::from_secs(611)).is_ok());
        assert!(!b.is_empty(&w, t0 + Duration::from_secs(611)));
        assert!(b.is_empty(&w, t0 + Duration::from_secs(1300)));
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
        // A window later: bob (idle) goes; alice (a request in flight) stays.
        lim.sweep(now + Duration::from_secs(700));
        assert_eq!(lim.tracked(), 1);
        drop(p);
        lim.sweep(now + Duration::from_secs(700));
        assert_eq!(lim.tracked(), 0);
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
