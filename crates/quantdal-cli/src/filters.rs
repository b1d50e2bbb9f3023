//! `--where 'col op value'` → typed predicates. Values stay text here; the core coerces them to the column's
//! type and binds them, so nothing typed on the command line is spliced into SQL.

use quantdal::{Error, Load, Order, Result, Timestamp};

use crate::args::FilterArgs;

pub fn build_load(args: &FilterArgs) -> Result<Load> {
    let mut load = Load::all();
    if let Some(s) = &args.start {
        load = load
            .since(Timestamp::parse(s).map_err(|m| Error::invalid_query(format!("--start: {m}")))?);
    }
    if let Some(e) = &args.end {
        load = load
            .until(Timestamp::parse(e).map_err(|m| Error::invalid_query(format!("--end: {m}")))?);
    }
    if !args.symbols.is_empty() {
        load = load.symbols(args.symbols.iter());
    }
    if !args.columns.is_empty() {
        load = load.columns(args.columns.iter().map(|c| c.trim().to_string()));
    }
    for p in &args.predicates {
        load = load.filter(parse_predicate(p)?);
    }
    if let Some(n) = args.limit {
        load = load.limit(n);
    }
    if args.desc {
        load = load.order(Order::Desc);
    }
    if let Some(t) = &args.as_of {
        load = load
            .as_of(Timestamp::parse(t).map_err(|m| Error::invalid_query(format!("--as-of: {m}")))?);
    }
    Ok(load)
}

/// One `--where` predicate: the grammar lives in the facade (`quantdal::filters`), shared with the Python
/// package; the CLI only puts the flag in front of its errors.
pub fn parse_predicate(text: &str) -> Result<quantdal::Predicate> {
    quantdal::filters::parse_predicate(text)
        .map_err(|e| e.with_message_prefix(format!("--where '{text}'")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quantdal::Op;

    #[test]
    fn parses_through_the_facade_and_labels_errors() {
        assert_eq!(parse_predicate("close > 10.5").unwrap().op, Op::Gt);
        let err = parse_predicate("close ~ 3").unwrap_err().to_string();
        assert!(
            err.contains("--where 'close ~ 3': expected an operator"),
            "{err}"
        );
    }
}
