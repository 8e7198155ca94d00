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

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const BUCKETS: u32 = 60;
/// How often idle mailboxes are looked for (at most; only on use).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A rolling count of requests.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u32,
    window: Duration,
    bucket: Duration,
    /// (bucket start, requests in it), oldest first.
    buckets: VecDeque<(Instant, u32)>,
    total: u32,
}

impl Budget {
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        let bucket = (window / BUCKETS).max(Duration::from_millis(1));
        Budget {
            limit,
            window,
            bucket,
            buckets: VecDeque::new(),
            total: 0,
        }
    }

    fn prune(&mut self, now: Instant) {
        while let Some(&(start, n)) = self.buckets.front() {
            if now >= start + self.bucket + self.window {
                self.buckets.pop_front();
                self.total -= n;
            } else {
                break;
            }
        }
    }

    /// Count one request at `now`, or say how long until one fits.
    pub(crate) fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.prune(now);
        if self.total >= self.limit {
            let wait = match self.buckets.front() {
                Some(&(start, _)) => (start + self.bucket + self.window).saturating_duration_since(now),
                None => self.bucket,
            };
            return Err(wait.max(Duration::from_millis(1)));
        }
        match self.buckets.back_mut() {
            Some((start, n)) if now < *start + self.bucket => *n += 1,
            _ => self.buckets.push_back((now, 1)),
        }
        self.total += 1;
        Ok(())
    }

    /// Nothing counted any more at `now`.
    pub(crate) fn is_empty(&mut self, now: Instant) -> bool {
        self.prune(now);
        self.total == 0
    }
}

/// The limits of one mailbox.
#[derive(Debug)]
pub(crate) struct MailboxLimiter {
    slots: Arc<Semaphore>,
    budget: Mutex<Budget>,
}

/// Why a request may not go now.
pub(crate) enum Refused {
    Budget(Duration),
}

/// All mailboxes' limiters.
#[derive(Debug)]
pub(crate) struct Limiters {
    per_mailbox: usize,
    budget: u32,
    window: Duration,
    map: Mutex<HashMap<String, Arc<MailboxLimiter>>>,
    last_sweep: Mutex<Instant>,
}

impl Limiters {
    pub(crate) fn new(per_mailbox: usize, budget: u32, window: Duration) -> Self {
        Limiters {
            per_mailbox: per_mailbox.max(1),
            budget,
            window,
            map: Mutex::new(HashMap::new()),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    fn limiter(&self, key: &str, now: Instant) -> Arc<MailboxLimiter> {
        self.maybe_sweep(now);
        let mut map = lock(&self.map);
        if let Some(l) = map.get(key) {
            return l.clone();
        }
        let l = Arc::new(MailboxLimiter {
            slots: Arc::new(Semaphore::new(self.per_mailbox)),
            budget: Mutex::new(Budget::new(self.budget, self.window)),
        });
        map.insert(key.to_string(), l.clone());
        metrics::gauge!("hcal_graph_mailboxes_tracked").set(map.len() as f64);
        l
    }

    /// Wait for a slot of mailbox `key`, then count one request against its budget.
    /// The slot is held until the returned permit is dropped.
    pub(crate) async fn acquire(&self, key: &str) -> Result<OwnedSemaphorePermit, Refused> {
        let l = self.limiter(key, Instant::now());
        let permit = l
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("mailbox semaphores are never closed");
        let taken = lock(&l.budget).try_take(Instant::now());
        match taken {
            Ok(()) => Ok(permit),
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
            let busy = Arc::strong_count(l) > 1 || l.slots.available_permits() < self.per_mailbox;
            busy || !lock(&l.budget).is_empty(now)
        });
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
        let mut b = Budget::new(3, window);
        for i in 0..3 {
            assert!(b.try_take(t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = b.try_take(t0 + Duration::from_secs(5)).unwrap_err();
        assert!(
            wait > Duration::from_secs(500) && wait <= Duration::from_secs(610),
            "{wait:?}"
        );
        // Still spent just before the oldest bucket has aged a full window.
        assert!(b.try_take(t0 + Duration::from_secs(600)).is_err());
        // Free once it has.
        assert!(b.try_take(t0 + Duration::from_secs(611)).is_ok());
        assert!(!b.is_empty(t0 + Duration::from_secs(611)));
        assert!(b.is_empty(t0 + Duration::from_secs(1300)));
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
}
