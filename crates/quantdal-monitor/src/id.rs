//! Record ids: unique across processes and hosts, and fixed when the record is made, so a replayed record
//! is recognised by the store (`ON CONFLICT DO NOTHING`) instead of counted twice.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static PREFIX: OnceLock<u64> = OnceLock::new();
static SEQ: AtomicU64 = AtomicU64::new(0);

/// 64 random bits per process (std seeds `RandomState` from the OS), mixed with the pid and start time.
fn prefix() -> u64 {
    *PREFIX.get_or_init(|| {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_i64(crate::record::now_us());
        h.finish()
    })
}

/// 32 hex digits: the process prefix, then a per-process sequence number.
pub fn next_id() -> String {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{:016x}", prefix(), seq)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_fixed_width() {
        let a = super::next_id();
        let b = super::next_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert_eq!(a[..16], b[..16]);
    }
}
