//! Key names. Every key of a class starts `<prefix>:{<class>}:`, so:
//! - a class is one Redis Cluster hash slot (the braces are the hash tag), which is what lets one script
//!   write many series atomically on a cluster;
//! - two classes never share a key, even with the same prefix (class names are unique identifiers);
//! - any tag value gives a safe key: each value is percent-encoded outside `[A-Za-z0-9._-]` (so `:`, braces,
//!   spaces, `%` and every non-ASCII byte are escaped) and the values are joined by `:`, which no encoded
//!   value contains. The encoding is injective, so distinct series never collide.

use quantdal_core::TableSpec;

/// Prefix when the class sets none.
pub const DEFAULT_PREFIX: &str = "qd";

/// The keys of one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassKeys {
    base: String,
}

impl ClassKeys {
    pub fn new(spec: &TableSpec) -> ClassKeys {
        let prefix = spec
            .options
            .redis
            .as_ref()
            .and_then(|r| r.key_prefix.as_deref())
            .unwrap_or(DEFAULT_PREFIX);
        ClassKeys::with_prefix(prefix, &spec.name)
    }

    /// Keys under `prefix` for `class` (a cache uses a prefix of its own).
    pub fn with_prefix(prefix: &str, class: &str) -> ClassKeys {
        ClassKeys {
            base: format!("{prefix}:{{{class}}}"),
        }
    }

    /// The hash of the class's newest rows: series member → packed row (crate::rowpack).
    pub fn latest_rows(&self) -> String {
        format!("{}:latest", self.base)
    }
    /// Where the layout before packed rows kept a series' newest row (a hash, one field per column): read
    /// until the series is next written, then deleted.
    pub fn legacy_latest(&self, member: &str) -> String {
        self.under(":l:", member)
    }

    /// `<base><kind><member>`, built without `format!`: reads name keys per series.
    fn under(&self, kind: &str, member: &str) -> String {
        let mut key = String::with_capacity(self.base.len() + kind.len() + member.len());
        key.push_str(&self.base);
        key.push_str(kind);
        key.push_str(member);
        key
    }
    /// What every key of the class starts with (the save script builds the keys of expired series from it).
    pub fn base(&self) -> &str {
        &self.base
    }
    /// The capped stream of a series' recent rows, entry ids derived from the row time.
    pub fn history(&self, member: &str) -> String {
        self.under(":h:", member)
    }
    /// Sorted set of the class's series (score: wall-clock ms of the last write, to trim expired ones).
    pub fn index(&self) -> String {
        format!("{}:series", self.base)
    }
    /// The class schema `provision` records, checked for drift.
    pub fn schema(&self) -> String {
        format!("{}:schema", self.base)
    }
    /// The live feed subscribers read: one entry per save, the saved rows as Arrow IPC.
    pub fn feed(&self) -> String {
        format!("{}:feed", self.base)
    }
    /// The pattern matching every key of the class (for operators; quantdal itself never scans).
    pub fn pattern(&self) -> String {
        format!("{}:*", self.base.replace('{', "\\{").replace('}', "\\}"))
    }
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends one tag value in its key form.
pub fn encode_component(text: &str, out: &mut String) {
    for &b in text.as_bytes() {
        if is_plain(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
        }
    }
}

/// The member (key suffix) of a series from its tag values' text forms, in tag order.
pub fn member<S: AsRef<str>>(texts: &[S]) -> String {
    let mut out = String::new();
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        encode_component(t.as_ref(), &mut out);
    }
    out
}

/// The tag values' text forms of a member, or `None` when it is not one [`member`] could have made.
pub fn decode_member(member: &str) -> Option<Vec<String>> {
    member
        .split(':')
        .map(|part| {
            let bytes = part.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' {
                    let hex = bytes.get(i + 1..i + 3)?;
                    let hex = std::str::from_utf8(hex).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                } else if is_plain(bytes[i]) {
                    out.push(bytes[i]);
                    i += 1;
                } else {
                    return None;
                }
            }
            String::from_utf8(out).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn readable_for_plain_codes_escaped_otherwise() {
        assert_eq!(member(&["600000.SH"]), "600000.SH");
        assert_eq!(member(&["a:b", "{x}"]), "a%3Ab:%7Bx%7D");
        assert_eq!(member(&["é 1"]), "%C3%A9%201");
        let keys = ClassKeys::with_prefix("rt:quote", "realtime_quotes");
        assert_eq!(keys.latest_rows(), "rt:quote:{realtime_quotes}:latest");
        assert_eq!(
            keys.history("600000.SH"),
            "rt:quote:{realtime_quotes}:h:600000.SH"
        );
    }

    #[test]
    fn classes_never_share_keys_even_with_one_prefix() {
        let a = ClassKeys::with_prefix("p", "a");
        let b = ClassKeys::with_prefix("p", "b");
        assert_ne!(a.latest_rows(), b.latest_rows());
        assert_ne!(a.history("x"), b.history("x"));
        assert_ne!(a.index(), b.index());
    }

    proptest! {
        #[test]
        fn members_round_trip_and_never_collide(
            a in proptest::collection::vec(any::<String>(), 1..4),
            b in proptest::collection::vec(any::<String>(), 1..4),
        ) {
            let ma = member(&a);
            prop_assert_eq!(decode_member(&ma), Some(a.clone()));
            let safe = !ma.contains('{') && !ma.contains('}') && !ma.contains(' ');
            prop_assert!(safe, "member {:?} holds a brace or a space", ma);
            if a != b {
                prop_assert_ne!(ma, member(&b));
            }
        }
    }
}
