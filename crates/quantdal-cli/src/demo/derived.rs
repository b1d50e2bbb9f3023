//! Derived, transaction and meta classes computed from the daily history: indicators, factors, a model's
//! predictions, MA-cross signals, and the orders, fills, positions and funds of trading those signals.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use quantdal::Result;
use rand::rngs::SmallRng;
use rand::Rng;

use super::batch::Batch;
use super::indicators;
use super::market::{round2, Daily, Security, MS_PER_DAY};
use super::money;

/// Close of the Shanghai / Shenzhen session (15:00 CST) in ms after UTC midnight.
const CLOSE_MS: i64 = 25_200_000;
const LOOKBACK: usize = 20;

pub struct Derived {
    pub indicators: RecordBatch,
    pub factors: RecordBatch,
    pub models: RecordBatch,
    pub signals: RecordBatch,
    pub signal_rows: Vec<Signal>,
}

#[derive(Clone)]
pub struct Signal {
    pub ts: i64,
    pub symbol: String,
    pub buy: bool,
    pub price: f64,
}

fn close_ms(d: &Daily) -> i64 {
    i64::from(d.date) * MS_PER_DAY + CLOSE_MS
}

pub fn build(secs: &[Security], daily: &[Vec<Daily>], rng: &mut SmallRng) -> Result<Derived> {
    let mut ind = Batch::new();
    let (mut its, mut isym) = (Vec::new(), Vec::new());
    let mut cols: [Vec<Option<f64>>; 15] = Default::default();
    let (mut fts, mut fsym, mut fname, mut fval) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut mts, mut msym, mut mpred, mut mconf, mut mfeat) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut signals = Vec::new();
    let mut sig_strength = Vec::new();

    for (sec, bars) in secs.iter().zip(daily) {
        let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
        let high: Vec<f64> = bars.iter().map(|b| b.high).collect();
        let low: Vec<f64> = bars.iter().map(|b| b.low).collect();
        let x = indicators::compute(&close, &high, &low);
        for (i, bar) in bars.iter().enumerate() {
            its.push(close_ms(bar));
            isym.push(sec.symbol.clone());
            let boll = x.boll[i];
            let values = [
                x.ma5[i],
                x.ma10[i],
                x.ma20[i],
                Some(x.ema12[i]),
                Some(x.ema26[i]),
                Some(x.macd[i]),
                Some(x.macd_signal[i]),
                Some(x.macd[i] - x.macd_signal[i]),
                x.rsi14[i],
                Some(x.kdj[i].0),
                Some(x.kdj[i].1),
                Some(x.kdj[i].2),
                boll.map(|b| b.0),
                boll.map(|b| b.1),
                boll.map(|b| b.2),
            ];
            for (c, v) in cols.iter_mut().zip(values) {
                c.push(v.map(|v| (v * 1e4).round() / 1e4));
            }
            // MA(5) crossing MA(20): the classic trend-following signal.
            if i > 0 {
                if let (Some(f0), Some(s0), Some(f1), Some(s1)) =
                    (x.ma5[i - 1], x.ma20[i - 1], x.ma5[i], x.ma20[i])
                {
                    if (f0 <= s0) != (f1 <= s1) {
                        signals.push(Signal {
                            ts: close_ms(bar),
                            symbol: sec.symbol.clone(),
                            buy: f1 > s1,
                            price: bar.close,
                        });
                        sig_strength.push(((f1 - s1).abs() / s1 * 1e4).round() / 1e4);
                    }
                }
            }
        }
        for i in bars.len().saturating_sub(LOOKBACK)..bars.len() {
            if i < LOOKBACK {
                continue;
            }
            let momentum = close[i] / close[i - LOOKBACK] - 1.0;
            let rets: Vec<f64> = (i + 1 - LOOKBACK..=i)
                .map(|j| close[j] / close[j - 1] - 1.0)
                .collect();
            let mean = rets.iter().sum::<f64>() / rets.len() as f64;
            let vol =
                (rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rets.len() as f64).sqrt();
            let avg_volume = bars[i + 1 - 5..=i]
                .iter()
                .map(|b| b.volume as f64)
                .sum::<f64>()
                / 5.0;
            for (name, value) in [
                ("momentum_20d", momentum),
                ("volatility_20d", vol),
                ("avg_volume_5d", avg_volume),
            ] {
                fts.push(close_ms(&bars[i]));
                fsym.push(sec.symbol.clone());
                fname.push(name.to_string());
                fval.push((value * 1e6).round() / 1e6);
            }
            let prediction = 0.3 * momentum - 0.1 * vol + rng.gen_range(-0.01..0.01);
            mts.push(close_ms(&bars[i]));
            msym.push(sec.symbol.clone());
            mpred.push((prediction * 1e6).round() / 1e6);
            mconf.push(Some(round2(rng.gen_range(0.5..0.95))));
            mfeat.push(Some(format!(
                "{{\"momentum_20d\":{:.6},\"volatility_20d\":{:.6}}}",
                momentum, vol
            )));
        }
    }

    let names = [
        "ma5",
        "ma10",
        "ma20",
        "ema12",
        "ema26",
        "macd",
        "macd_signal",
        "macd_hist",
        "rsi14",
        "kdj_k",
        "kdj_d",
        "kdj_j",
        "boll_upper",
        "boll_mid",
        "boll_lower",
    ];
    let n = its.len();
    ind = ind
        .ts("ts", its)
        .str("symbol", isym)
        .str("frequency", vec!["1d".to_string(); n]);
    for (name, c) in names.iter().zip(cols) {
        ind = ind.f64_opt(name, c);
    }
    let m = mts.len();
    let s = signals.len();
    Ok(Derived {
        indicators: ind.build()?,
        factors: Batch::new()
            .ts("ts", fts)
            .str("symbol", fsym)
            .str("factor_name", fname)
            .f64("factor_value", fval)
            .build()?,
        models: Batch::new()
            .ts("ts", mts)
            .str("model_name", vec!["lgbm_alpha".to_string(); m])
            .str("model_version", vec!["2024.01".to_string(); m])
            .str("symbol", msym)
            .f64("prediction", mpred)
            .f64_opt("confidence", mconf)
            .str_opt("horizon", vec![Some("5d".to_string()); m])
            .str_opt("features", mfeat)
            .build()?,
        signals: Batch::new()
            .ts("ts", signals.iter().map(|x| x.ts).collect())
            .str("strategy_id", vec!["ma_cross_5_20".to_string(); s])
            .str("symbol", signals.iter().map(|x| x.symbol.clone()).collect())
            .str(
                "signal",
                signals
                    .iter()
                    .map(|x| if x.buy { "buy" } else { "sell" }.to_string())
                    .collect(),
            )
            .f64("strength", sig_strength)
            .f64_opt("price", signals.iter().map(|x| Some(x.price)).collect())
            .str_opt(
                "reason",
                signals
                    .iter()
                    .map(|x| {
                        Some(format!(
                            "MA5 crossed {} MA20",
                            if x.buy { "above" } else { "below" }
                        ))
                    })
                    .collect(),
            )
            .build()?,
        signal_rows: signals,
    })
}

pub struct Trading {
    pub orders: RecordBatch,
    pub trades: RecordBatch,
    pub positions: RecordBatch,
    pub funds: RecordBatch,
}

/// Trades every signal of the last 20 days for one account: buy 1,000 shares, sell what is held.
pub fn trading(signals: &[Signal], history: &[NaiveDate]) -> Result<Trading> {
    let since = history
        .get(history.len().saturating_sub(LOOKBACK))
        .map(|d| i64::from(super::market::days_since_epoch(*d)) * MS_PER_DAY)
        .unwrap_or(0);
    let mut recent: Vec<&Signal> = signals.iter().filter(|s| s.ts >= since).collect();
    recent.sort_by(|a, b| (a.ts, &a.symbol).cmp(&(b.ts, &b.symbol)));

    let mut held: BTreeMap<String, (i64, i128)> = BTreeMap::new(); // quantity, cost at scale 4
    let mut cash: i128 = money(10_000_000.0);
    let mut o = OrderCols::default();
    for (n, s) in recent.iter().enumerate() {
        let have = held.get(&s.symbol).map(|h| h.0).unwrap_or(0);
        let qty = if s.buy { 1_000 } else { have };
        if qty == 0 {
            continue;
        }
        let price = money(s.price);
        let amount = price * i128::from(qty);
        let commission = (amount * 25 / 100_000).max(money(5.0));
        let tax = if s.buy { 0 } else { amount / 2_000 };
        let fees = amount / 50_000;
        // Orders are placed at the next morning's open auction (01:30 UTC).
        let ts_us = (s.ts - 25_200_000 + MS_PER_DAY + 5_400_000) * 1_000 + n as i64;
        o.order_id
            .push(format!("ORD-{}-{:05}", s.ts / MS_PER_DAY, n));
        o.trade_id
            .push(format!("TRD-{}-{:05}", s.ts / MS_PER_DAY, n));
        o.ts.push(ts_us);
        o.symbol.push(s.symbol.clone());
        o.side.push(if s.buy { "BUY" } else { "SELL" }.to_string());
        o.price.push(price);
        o.qty.push(qty);
        o.amount.push(amount);
        o.commission.push(commission);
        o.tax.push(tax);
        o.fees.push(fees);
        let entry = held.entry(s.symbol.clone()).or_insert((0, 0));
        if s.buy {
            entry.0 += qty;
            entry.1 += amount;
            cash -= amount + commission + fees;
        } else {
            entry.0 = 0;
            entry.1 = 0;
            cash += amount - commission - tax - fees;
        }
    }
    let k = o.ts.len();
    let orders = Batch::new()
        .str("order_id", o.order_id.clone())
        .ts_us("ts", o.ts.clone())
        .str("account_id", vec!["ACC001".to_string(); k])
        .str("symbol", o.symbol.clone())
        .str("side", o.side.clone())
        .str("order_type", vec!["LIMIT".to_string(); k])
        .decimal("price", o.price.iter().map(|p| Some(*p)).collect(), 18, 4)?
        .i64("quantity", o.qty.clone())
        .i64("filled_quantity", o.qty.clone())
        .decimal(
            "avg_fill_price",
            o.price.iter().map(|p| Some(*p)).collect(),
            18,
            4,
        )?
        .str("status", vec!["FILLED".to_string(); k])
        .str_opt("strategy_id", vec![Some("ma_cross_5_20".to_string()); k])
        .build()?;
    let trades = Batch::new()
        .str("trade_id", o.trade_id.clone())
        .str("order_id", o.order_id.clone())
        .ts_us("ts", o.ts.iter().map(|t| t + 1_500_000).collect())
        .str("account_id", vec!["ACC001".to_string(); k])
        .str("symbol", o.symbol.clone())
        .str("side", o.side.clone())
        .decimal("price", o.price.iter().map(|p| Some(*p)).collect(), 18, 4)?
        .i64("quantity", o.qty.clone())
        .decimal("amount", o.amount.iter().map(|p| Some(*p)).collect(), 20, 4)?
        .decimal(
            "commission",
            o.commission.iter().map(|p| Some(*p)).collect(),
            18,
            4,
        )?
        .decimal("tax", o.tax.iter().map(|p| Some(*p)).collect(), 18, 4)?
        .decimal("fees", o.fees.iter().map(|p| Some(*p)).collect(), 18, 4)?
        .str_opt("strategy_id", vec![Some("ma_cross_5_20".to_string()); k])
        .build()?;

    let last_close = history
        .last()
        .map(|d| i64::from(super::market::days_since_epoch(*d)) * MS_PER_DAY + CLOSE_MS)
        .unwrap_or(0);
    let open: Vec<(&String, &(i64, i128))> = held.iter().filter(|(_, h)| h.0 > 0).collect();
    let last_price: BTreeMap<&str, f64> = signals
        .iter()
        .map(|s| (s.symbol.as_str(), s.price))
        .collect();
    let p = open.len();
    let mv: Vec<i128> = open
        .iter()
        .map(|(s, h)| money(last_price.get(s.as_str()).copied().unwrap_or(0.0)) * i128::from(h.0))
        .collect();
    let positions = Batch::new()
        .ts_us("ts", vec![last_close * 1_000; p])
        .str("account_id", vec!["ACC001".to_string(); p])
        .str("symbol", open.iter().map(|(s, _)| (*s).clone()).collect())
        .i64("quantity", open.iter().map(|(_, h)| h.0).collect())
        .i64(
            "available_quantity",
            open.iter().map(|(_, h)| h.0).collect(),
        )
        .decimal(
            "avg_cost",
            open.iter()
                .map(|(_, h)| Some(h.1 / i128::from(h.0)))
                .collect(),
            18,
            4,
        )?
        .decimal("market_value", mv.iter().map(|v| Some(*v)).collect(), 20, 4)?
        .decimal(
            "unrealized_pnl",
            open.iter()
                .zip(&mv)
                .map(|((_, h), v)| Some(v - h.1))
                .collect(),
            20,
            4,
        )?
        .build()?;
    let market_value: i128 = mv.iter().sum();
    let funds = Batch::new()
        .ts_us("ts", vec![last_close * 1_000])
        .str("account_id", vec!["ACC001".to_string()])
        .str("currency", vec!["CNY".to_string()])
        .decimal("cash", vec![Some(cash)], 20, 4)?
        .decimal("available_cash", vec![Some(cash)], 20, 4)?
        .decimal("frozen", vec![Some(0)], 20, 4)?
        .decimal("market_value", vec![Some(market_value)], 20, 4)?
        .decimal("total_asset", vec![Some(cash + market_value)], 20, 4)?
        .build()?;
    Ok(Trading {
        orders,
        trades,
        positions,
        funds,
    })
}

#[derive(Default)]
struct OrderCols {
    order_id: Vec<String>,
    trade_id: Vec<String>,
    ts: Vec<i64>,
    symbol: Vec<String>,
    side: Vec<String>,
    price: Vec<i128>,
    qty: Vec<i64>,
    amount: Vec<i128>,
    commission: Vec<i128>,
    tax: Vec<i128>,
    fees: Vec<i128>,
}

/// A few rows of each meta class: where data comes from, what runs when, strategy parameters, settings.
pub fn meta() -> Result<Vec<(&'static str, RecordBatch)>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let o = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
    Ok(vec![
        (
            "data_sources",
            Batch::new()
                .str("source_name", s(&["exchange_l1", "tushare", "akshare"]))
                .str("source_type", s(&["feed", "api", "api"]))
                .str_opt("provider", o(&["SSE/SZSE", "Tushare Pro", "AKShare"]))
                .str_opt(
                    "config",
                    o(&[
                        r#"{"protocol":"binary","snapshot_ms":3000}"#,
                        r#"{"rate_limit_per_min":500}"#,
                        r#"{"rate_limit_per_min":60}"#,
                    ]),
                )
                .i32("priority", vec![1, 2, 3])
                .bool("is_enabled", vec![true, true, false])
                .build()?,
        ),
        (
            "task_schedules",
            Batch::new()
                .str("task_id", s(&["daily_bars", "minute_bars", "factors"]))
                .str(
                    "task_name",
                    s(&[
                        "Daily bars after close",
                        "Minute bars intraday",
                        "Factor refresh",
                    ]),
                )
                .str("task_type", s(&["ingest", "ingest", "compute"]))
                .str(
                    "cron_expr",
                    s(&["30 15 * * 1-5", "*/1 9-15 * * 1-5", "0 18 * * 1-5"]),
                )
                .str_opt(
                    "target_class",
                    o(&["daily_kline", "minute_kline", "quant_factors"]),
                )
                .str_opt(
                    "params",
                    o(&[
                        r#"{"adjust":"none"}"#,
                        r#"{"frequency":"1m"}"#,
                        r#"{"lookback":20}"#,
                    ]),
                )
                .bool("is_enabled", vec![true; 3])
                .i32("timeout_seconds", vec![600, 120, 1800])
                .i32("max_retries", vec![3, 5, 1])
                .build()?,
        ),
        (
            "strategy_params",
            Batch::new()
                .str("strategy_id", s(&["ma_cross_5_20", "ma_cross_5_20"]))
                .str("param_name", s(&["windows", "position_size"]))
                .i32("version", vec![1, 1])
                .str(
                    "param_value",
                    s(&[r#"{"fast":5,"slow":20}"#, r#"{"shares":1000}"#]),
                )
                .bool("is_active", vec![true, true])
                .build()?,
        ),
        (
            "system_config",
            Batch::new()
                .str("config_key", s(&["timezone", "slow_query_ms"]))
                .str("config_value", s(&[r#""UTC""#, "1000"]))
                .str_opt(
                    "description",
                    o(&["Timestamps are stored in UTC", "Slow-operation threshold"]),
                )
                .build()?,
        ),
    ])
}
