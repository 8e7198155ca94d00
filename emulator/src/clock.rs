//! The emulator's clock: real, frozen (advanced by tests) or sped up.

use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;
use std::time::Instant;

use crate::config::ClockMode;

struct Base {
    emu: DateTime<Utc>,
    real: Instant,
    factor: f64,
}

/// Emulator time. Expiries, retries and token lifetimes are all measured on it.
pub struct Clock {
    base: Mutex<Base>,
}

impl Clock {
    pub fn new(mode: &ClockMode) -> Clock {
        let (emu, factor) = match mode {
            ClockMode::Real => (Utc::now(), 1.0),
            ClockMode::Manual { start } => (start.unwrap_or_else(Utc::now), 0.0),
            ClockMode::Speed { factor, start } => (start.unwrap_or_else(Utc::now), factor.max(0.0)),
        };
        Clock {
            base: Mutex::new(Base {
                emu,
                real: Instant::now(),
                factor,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Base> {
        self.base.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_locked(b: &Base) -> DateTime<Utc> {
        if b.factor == 0.0 {
            return b.emu;
        }
        let real = b.real.elapsed().as_secs_f64() * b.factor;
        b.emu + Duration::nanoseconds((real * 1e9) as i64)
    }

    /// The current emulator time.
    pub fn now(&self) -> DateTime<Utc> {
        Self::now_locked(&self.lock())
    }

    /// Speed factor (0 = frozen).
    pub fn factor(&self) -> f64 {
        self.lock().factor
    }

    /// Move time forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut b = self.lock();
        let now = Self::now_locked(&b);
        b.emu = now + by;
        b.real = Instant::now();
    }

    /// Jump to a given time.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut b = self.lock();
        b.emu = to;
        b.real = Instant::now();
    }

    /// Change the speed factor from now on (0 freezes).
    pub fn set_factor(&self, factor: f64) {
        let mut b = self.lock();
        let now = Self::now_locked(&b);
        b.emu = now;
        b.real = Instant::now();
        b.factor = factor.max(0.0);
    }
}
