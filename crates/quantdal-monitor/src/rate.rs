//! A log line at most once per period, shared across threads without a lock.

use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug)]
pub struct RateLimit {
    every_us: i64,
    last_us: AtomicI64,
}

impl RateLimit {
    pub fn new(every: std::time::Duration) -> Self {
        RateLimit {
            every_us: every.as_micros() as i64,
            last_us: AtomicI64::new(i64::MIN / 2),
        }
    }

    /// True for the first caller in each period.
    pub fn allow(&self) -> bool {
        let now = crate::record::now_us();
        let last = self.last_us.load(Ordering::Relaxed);
        now - last >= self.every_us
            && self
                .last_us
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}
