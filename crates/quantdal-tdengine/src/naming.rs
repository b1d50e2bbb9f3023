//! Sub-table names from a super-table and a series' tag tuple: `t_<readable prefix>_<32 hex digits>`.
//!
//! The prefix only helps humans (`600000_sh`); the hash makes names unique. It is FNV-1a 128 over a typed,
//! length-prefixed encoding of the super-table's name and the exact tuple, so `("a_b", "c")` and
//! `("a", "b_c")` differ even though their prefixes match, and two classes sharing a database and a tag
//! tuple (`ticks` and `bars` of one symbol) get different sub-tables: TDengine names a child table once per
//! database, whichever super-table it belongs to. The encoding and hash are part of the on-disk layout:
//! changing either would orphan every existing sub-table, so they are written here and never taken from std
//! (whose hasher is randomised per process).
//!
//! Releases before the super-table entered the hash named sub-tables by the tuple only
//! ([`legacy_subtable_name`]); the store keeps writing a series into such a sub-table when it exists, and
//! reads (which go through the super-table) see both.

/// A tag value as it identifies a series (and is bound to the sub-table's TAGS).
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    Str(String),
    Int(i32),
    BigInt(i64),
    Bool(bool),
    Float(f32),
    Double(f64),
    /// Ticks of the database precision (TIMESTAMP and DATE tags).
    Ticks(i64),
}

/// Longest readable prefix kept, in bytes: the whole name stays far under TDengine's 192-byte limit.
pub const PREFIX_MAX: usize = 40;
/// `t_` + prefix + `_` + 32 hex digits.
pub const NAME_MAX: usize = 2 + PREFIX_MAX + 1 + 32;

const FNV_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

fn fnv1a_128(bytes: &[u8], mut hash: u128) -> u128 {
    for &b in bytes {
        hash ^= u128::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Typed, length-prefixed bytes of the tuple: no two distinct tuples share an encoding.
fn encode(tags: &[TagValue]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * tags.len());
    out.extend_from_slice(&(tags.len() as u64).to_le_bytes());
    for tag in tags {
        match tag {
            TagValue::Str(s) => {
                out.push(b's');
                out.extend_from_slice(&(s.len() as u64).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            TagValue::Int(v) => {
                out.push(b'i');
                out.extend_from_slice(&i64::from(*v).to_le_bytes());
            }
            TagValue::BigInt(v) => {
                out.push(b'l');
                out.extend_from_slice(&v.to_le_bytes());
            }
            TagValue::Bool(v) => {
                out.push(b'b');
                out.push(u8::from(*v));
            }
            TagValue::Float(v) => {
                out.push(b'f');
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            TagValue::Double(v) => {
                out.push(b'd');
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            TagValue::Ticks(v) => {
                out.push(b't');
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    out
}

fn readable(tag: &TagValue) -> String {
    match tag {
        TagValue::Str(s) => s.clone(),
        TagValue::Int(v) => v.to_string(),
        TagValue::BigInt(v) | TagValue::Ticks(v) => v.to_string(),
        TagValue::Bool(v) => v.to_string(),
        TagValue::Float(v) => v.to_string(),
        TagValue::Double(v) => v.to_string(),
    }
}

/// Lower-case ASCII letters and digits kept; any other run of characters becomes one `_`.
fn sanitise(text: &str, out: &mut String) {
    for c in text.chars() {
        if out.len() >= PREFIX_MAX {
            return;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
}

fn readable_prefix(tags: &[TagValue]) -> String {
    let mut prefix = String::with_capacity(PREFIX_MAX + 1);
    for tag in tags {
        if !prefix.is_empty() && !prefix.ends_with('_') && prefix.len() < PREFIX_MAX {
            prefix.push('_');
        }
        sanitise(&readable(tag), &mut prefix);
    }
    prefix.trim_end_matches('_').to_string()
}

fn assemble(prefix: &str, hash: u128) -> String {
    if prefix.is_empty() {
        format!("t_{hash:032x}")
    } else {
        format!("t_{prefix}_{hash:032x}")
    }
}

/// The sub-table name of the series with these tag values (in the class's tag order) under super-table
/// `stable`. Deterministic across runs, platforms and versions; `[a-z0-9_]`, starts with a letter, at most
/// [`NAME_MAX`] bytes.
pub fn subtable_name(stable: &str, tags: &[TagValue]) -> String {
    // A version byte, then the super-table name length-prefixed, then the tuple: no (stable, tuple) pair
    // shares an encoding with another, nor with a legacy (tuple-only) encoding.
    let mut bytes = Vec::with_capacity(16 + stable.len() + 16 * tags.len());
    bytes.push(2);
    bytes.extend_from_slice(&(stable.len() as u64).to_le_bytes());
    bytes.extend_from_slice(stable.as_bytes());
    bytes.extend_from_slice(&encode(tags));
    assemble(&readable_prefix(tags), fnv1a_128(&bytes, FNV_OFFSET))
}

/// The name earlier releases gave the series (tuple only, colliding across super-tables of one database).
pub fn legacy_subtable_name(tags: &[TagValue]) -> String {
    assemble(&readable_prefix(tags), fnv1a_128(&encode(tags), FNV_OFFSET))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &str) -> TagValue {
        TagValue::Str(v.to_string())
    }

    fn valid(name: &str) -> bool {
        name.len() <= NAME_MAX
            && name.starts_with("t_")
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    fn name(tags: &[TagValue]) -> String {
        subtable_name("tick_data", tags)
    }

    #[test]
    fn known_names_are_stable() {
        // Pinned: a change here renames every sub-table in existing databases.
        insta::assert_snapshot!(
            "subtable_names_v2",
            [
                name(&[s("600000.SH")]),
                subtable_name("kline_1m", &[s("600000.SH")]),
                name(&[s("600000.SH"), s("1m")]),
                name(&[s("000001.SZ"), TagValue::Int(3)]),
                name(&[s("")]),
                name(&[s("平安银行")]),
                name(&[s(&"x".repeat(500))]),
            ]
            .join("\n")
        );
    }

    #[test]
    fn legacy_names_are_unchanged() {
        // The names earlier releases wrote: the store still finds series saved under them.
        insta::assert_snapshot!(
            "subtable_names",
            [
                legacy_subtable_name(&[s("600000.SH")]),
                legacy_subtable_name(&[s("600000.SH"), s("1m")]),
                legacy_subtable_name(&[s("000001.SZ"), TagValue::Int(3)]),
                legacy_subtable_name(&[s("")]),
                legacy_subtable_name(&[s("平安银行")]),
                legacy_subtable_name(&[s(&"x".repeat(500))]),
            ]
            .join("\n")
        );
    }

    #[test]
    fn super_tables_sharing_a_tuple_get_distinct_names() {
        let tags = [s("600000.SH")];
        assert_ne!(subtable_name("ticks", &tags), subtable_name("bars", &tags));
        assert_ne!(
            subtable_name("ab", &[s("c")]),
            subtable_name("a", &[s("bc")])
        );
        assert_ne!(subtable_name("ticks", &tags), legacy_subtable_name(&tags));
    }

    #[test]
    fn separators_inside_values_do_not_collide() {
        let a = name(&[s("a_b"), s("c")]);
        let b = name(&[s("a"), s("b_c")]);
        let c = name(&[s("a b"), s("c")]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(name(&[s("1")]), name(&[TagValue::Int(1)]));
        assert_ne!(name(&[s("A")]), name(&[s("a")]));
    }

    fn tag() -> impl Strategy<Value = TagValue> {
        prop_oneof![
            any::<String>().prop_map(TagValue::Str),
            "[-._ a-zA-Z0-9]{0,12}".prop_map(TagValue::Str),
            any::<i32>().prop_map(TagValue::Int),
            any::<i64>().prop_map(TagValue::BigInt),
            any::<bool>().prop_map(TagValue::Bool),
        ]
    }

    proptest! {
        #[test]
        fn names_are_valid_and_deterministic(tags in prop::collection::vec(tag(), 1..4)) {
            let n = name(&tags);
            prop_assert!(valid(&n), "{n}");
            prop_assert_eq!(n, name(&tags.clone()));
        }

        #[test]
        fn distinct_tuples_get_distinct_names(
            a in prop::collection::vec(tag(), 1..3),
            b in prop::collection::vec(tag(), 1..3),
        ) {
            if a != b {
                prop_assert_ne!(name(&a), name(&b));
            }
        }

        #[test]
        fn splitting_a_string_differently_changes_the_name(x in ".{0,8}", y in ".{0,8}", z in ".{0,8}") {
            let one = vec![TagValue::Str(format!("{x}{y}")), TagValue::Str(z.clone())];
            let two = vec![TagValue::Str(x.clone()), TagValue::Str(format!("{y}{z}"))];
            if one != two {
                prop_assert_ne!(name(&one), name(&two));
            }
        }
    }
}
