//! FNV-1a, 64-bit: one definition for the names derived from other names (stable across runs and builds,
//! where std's hasher is seeded per process) and for hash maps of short keys (series keys: a few bytes,
//! where SipHash's setup dominates).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a state; `Default` starts at the offset basis.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(OFFSET_BASIS)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes
            .iter()
            .fold(self.0, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    }
}

/// FNV-1a over the parts' bytes in order (no separator: the callers' parts are fixed in number).
pub fn stable_hash<S: AsRef<str>>(parts: &[S]) -> u64 {
    let mut h = Fnv1a::default();
    for p in parts {
        h.write(p.as_ref().as_bytes());
    }
    h.finish()
}

/// A `HashMap` hashed with FNV-1a. For keys that are the caller's own data, so flooding is not a concern.
pub type ShortKeyMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv1a>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_test_vectors() {
        assert_eq!(stable_hash::<&str>(&[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(&["a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(&["foobar"]), 0x8594_4171_f739_67e8);
        assert_eq!(stable_hash(&["foo", "bar"]), stable_hash(&["foobar"]));
    }
}
