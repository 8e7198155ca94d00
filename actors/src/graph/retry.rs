//! Back-off: Graph's `Retry-After` where it sends one on 429/503/504,
//! otherwise exponential back-off with full jitter (a random wait between
//! zero and the exponential step), so that many actors retrying after one
//! outage do not come back in lockstep.

use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::config::GraphConfig;

/// `Retry-After` in seconds (Graph sends seconds; an HTTP date is read as well).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = (when.timestamp_millis() - chrono::Utc::now().timestamp_millis()).max(0);
    Some(Duration::from_millis(ms as u64))
}

/// The wait before retry number `retry` (1-based): uniform in `[0, min(max, base * 2^(retry-1))]`.
pub(crate) fn backoff(cfg: &GraphConfig, retry: u32) -> Duration {
    let step = cfg
        .backoff_base
        .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
        .min(cfg.backoff_max);
    let ms = step.as_millis() as u64;
    Duration::from_millis(if ms == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..=ms)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        let mut cfg = GraphConfig::new("c", "s");
        cfg.backoff_base = Duration::from_millis(100);
        cfg.backoff_max = Duration::from_millis(1000);
        for retry in 1..40 {
            let step = Duration::from_millis((100u64 << (retry - 1).min(20)).min(1000));
            assert!(backoff(&cfg, retry) <= step);
        }
        // Full jitter: over many draws of a large step, some land in its upper half.
        assert!((0..200).any(|_| backoff(&cfg, 5) > Duration::from_millis(500)));
    }
}
