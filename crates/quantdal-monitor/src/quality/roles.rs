//! A class's quality config checked against its spec once, with column roles resolved to indexes: explicit
//! roles first, name conventions of `table_config.yaml` otherwise.

use quantdal_core::{Error, Result, TableSpec};

use super::config::{parse_duration_ns, Checks, Policy, QualityConfig};

#[derive(Debug, Clone)]
pub struct ResolvedQuality {
    pub class: String,
    pub policy: Policy,
    pub checks: Checks,
    pub future_tolerance_ns: i64,
    pub required: Vec<usize>,
    pub prices: Vec<usize>,
    pub volumes: Vec<usize>,
    /// open, high, low, close.
    pub ohlc: Option<[usize; 4]>,
    pub bid_ask: Vec<(usize, usize)>,
    pub level: Option<(usize, i64, i64)>,
}

impl ResolvedQuality {
    pub fn new(spec: &TableSpec, config: &QualityConfig) -> Result<ResolvedQuality> {
        let fail = |m: String| Error::config(format!("quality: {m}")).with_class(spec.name.clone());
        let schema = spec.arrow_schema();
        let index = |name: &str, numeric: bool| -> Result<usize> {
            let i = spec
                .column_index(name)
                .ok_or_else(|| fail(format!("`{name}` is not a column of the class")))?;
            if numeric && !schema.field(i).data_type().is_numeric() {
                return Err(fail(format!("`{name}` is not a numeric column")));
            }
            Ok(i)
        };
        let numeric = |name: &str| {
            spec.column_index(name)
                .filter(|&i| schema.field(i).data_type().is_numeric())
        };
        let names: Vec<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
        let roles = &config.columns;

        let prices = match &roles.prices {
            Some(list) => list.iter().map(|c| index(c, true)).collect::<Result<_>>()?,
            None => names
                .iter()
                .filter(|n| is_price_name(n))
                .filter_map(|n| numeric(n))
                .collect(),
        };
        let volumes = match &roles.volumes {
            Some(list) => list.iter().map(|c| index(c, true)).collect::<Result<_>>()?,
            None => names
                .iter()
                .filter(|n| is_volume_name(n))
                .filter_map(|n| numeric(n))
                .collect(),
        };
        let ohlc = match &roles.ohlc {
            Some(o) => Some([
                index(&o.open, true)?,
                index(&o.high, true)?,
                index(&o.low, true)?,
                index(&o.close, true)?,
            ]),
            None => match (
                numeric("open"),
                numeric("high"),
                numeric("low"),
                numeric("close"),
            ) {
                (Some(o), Some(h), Some(l), Some(c)) => Some([o, h, l, c]),
                _ => None,
            },
        };
        let bid_ask = match &roles.bid_ask {
            Some(pairs) => pairs
                .iter()
                .map(|[b, a]| Ok((index(b, true)?, index(a, true)?)))
                .collect::<Result<_>>()?,
            // bid_price1 ↔ ask_price1, bid_price ↔ ask_price, …
            None => names
                .iter()
                .filter_map(|n| n.strip_prefix("bid_price").map(|suffix| (n, suffix)))
                .filter_map(|(b, suffix)| {
                    Some((numeric(b)?, numeric(&format!("ask_price{suffix}"))?))
                })
                .collect(),
        };
        let [lo, hi] = roles.levels;
        if lo > hi {
            return Err(fail(format!("levels [{lo}, {hi}] is empty")));
        }
        let level = match &roles.level {
            Some(c) => Some((index(c, true)?, lo, hi)),
            None => numeric("level").map(|i| (i, lo, hi)),
        };
        let mut required: Vec<usize> = spec
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.nullable)
            .map(|(i, _)| i)
            .collect();
        for c in &config.required {
            let i = index(c, false)?;
            if !required.contains(&i) {
                required.push(i);
            }
        }
        Ok(ResolvedQuality {
            class: spec.name.clone(),
            policy: config.policy,
            checks: config.checks.clone(),
            future_tolerance_ns: parse_duration_ns(&config.future_tolerance).map_err(fail)?,
            required,
            prices,
            volumes,
            ohlc,
            bid_ask,
            level,
        })
    }
}

fn is_price_name(n: &str) -> bool {
    matches!(n, "price" | "open" | "high" | "low" | "close" | "pre_close")
        || n.starts_with("bid_price")
        || n.starts_with("ask_price")
        || n.ends_with("_price")
}

fn is_volume_name(n: &str) -> bool {
    matches!(n, "volume" | "amount")
        || n.starts_with("bid_volume")
        || n.starts_with("ask_volume")
        || n.ends_with("_volume")
}
