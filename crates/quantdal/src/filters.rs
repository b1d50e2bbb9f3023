//! The text grammar of one predicate, `column op value` — the CLI's `--where` and the Python package's
//! `where="…"` strings. Values stay text here; [`Load::resolve`](crate::Load::resolve) coerces them to the
//! column's type and stores bind them, so nothing typed by a user is spliced into SQL.
//!
//! Operators: `= == != <> < <= > >=`, `in (a, b)`, `between a and b`, `is null`, `is not null`. Values may be
//! quoted with `'` or `"` (needed for commas inside `in` lists).

use crate::{col, Error, Predicate, Result, Value};

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Splits `a, 'b, c', "d"` at the commas outside quotes.
fn split_list(list: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in list.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// Parses `column op value`. The error is `InvalidQuery` with only the reason as its message; callers put
/// their own label in front (`--where 'x ~ 1': …`) with [`Error::with_message_prefix`].
pub fn parse_predicate(text: &str) -> Result<Predicate> {
    let bad = |why: &str| Error::invalid_query(why.to_string());
    let t = text.trim();
    let name_end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(t.len());
    let (column, rest) = t.split_at(name_end);
    if column.is_empty() {
        return Err(bad("expected a column name first"));
    }
    let rest = rest.trim_start();
    let lower = rest.to_ascii_lowercase();
    let c = || col(column);
    if lower == "is null" {
        return Ok(c().is_null());
    }
    if lower == "is not null" {
        return Ok(c().is_not_null());
    }
    if lower
        .strip_prefix("in")
        .is_some_and(|r| r.trim_start().starts_with('('))
    {
        let inner = rest[2..].trim();
        let inner = inner
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| bad("IN takes a parenthesised list"))?;
        let values: Vec<Value> = split_list(inner)
            .into_iter()
            .map(|v| Value::from(unquote(v)))
            .collect();
        return Ok(c().is_in(values));
    }
    if lower.starts_with("between ") {
        let body = &rest[8..];
        let split = body
            .to_ascii_lowercase()
            .find(" and ")
            .ok_or_else(|| bad("BETWEEN takes 'low and high'"))?;
        let (low, high) = (&body[..split], &body[split + 5..]);
        return Ok(c().between(unquote(low), unquote(high)));
    }
    for (op, make) in [
        ("<=", 0u8),
        (">=", 1),
        ("!=", 2),
        ("<>", 2),
        ("==", 3),
        ("=", 3),
        ("<", 4),
        (">", 5),
    ] {
        if let Some(value) = rest.strip_prefix(op) {
            let v = unquote(value);
            if v.is_empty() {
                return Err(bad("missing value"));
            }
            return Ok(match make {
                0 => c().le(v),
                1 => c().ge(v),
                2 => c().ne(v),
                3 => c().eq(v),
                4 => c().lt(v),
                _ => c().gt(v),
            });
        }
    }
    Err(bad(
        "expected an operator: = != < <= > >= in between 'is null' 'is not null'",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, Value};

    #[test]
    fn parses_each_operator() {
        let p = parse_predicate("close > 10.5").unwrap();
        assert_eq!(
            (p.column.as_str(), p.op, p.values.clone()),
            ("close", Op::Gt, vec![Value::from("10.5")])
        );
        assert_eq!(parse_predicate("close<=3").unwrap().op, Op::Le);
        assert_eq!(
            parse_predicate("symbol != '600000.SH'").unwrap().values,
            vec![Value::from("600000.SH")]
        );
        let p = parse_predicate("symbol in (600000.SH, '000001.SZ')").unwrap();
        assert_eq!(p.op, Op::In);
        assert_eq!(
            p.values,
            vec![Value::from("600000.SH"), Value::from("000001.SZ")]
        );
        let p = parse_predicate("name in ('Ping An, Bank', \"a'b\", c)").unwrap();
        assert_eq!(
            p.values,
            vec![
                Value::from("Ping An, Bank"),
                Value::from("a'b"),
                Value::from("c")
            ]
        );
        let p = parse_predicate("trade_date between 2024-01-01 and 2024-02-01").unwrap();
        assert_eq!(
            p.values,
            vec![Value::from("2024-01-01"), Value::from("2024-02-01")]
        );
        assert_eq!(parse_predicate("reason is null").unwrap().op, Op::IsNull);
        assert_eq!(
            parse_predicate("reason IS NOT NULL").unwrap().op,
            Op::IsNotNull
        );
        assert_eq!(parse_predicate("x = 1").unwrap().op, Op::Eq);
    }

    #[test]
    fn rejects_malformed_predicates() {
        for bad in [
            "",
            "> 3",
            "close",
            "close ~ 3",
            "close >",
            "symbol in 1,2",
            "d between 1",
        ] {
            assert!(parse_predicate(bad).is_err(), "{bad}");
        }
    }
}
