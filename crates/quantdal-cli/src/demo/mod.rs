//! `quantdal demo`: realistic synthetic data for every class, saved through the public API, read back, and
//! timed. Seeded: the same seed gives the same rows, so re-running upserts in place (row counts stay put).

mod batch;
mod indicators;
mod market;

use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use quantdal::{col, Dal, Load, Result, Timestamp};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::args::Format;
use crate::output::print_rows;
use batch::Batch;
use market::{days_since_epoch, round2, trading_days, Security, MS_PER_DAY};

/// Money at scale 4 (ten-thousandths), exact.
fn money(x: f64) -> i128 {
    (x * 10_000.0).round() as i128
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

struct Timed {
    rows: Vec<Vec<String>>,
}

impl Timed {
    async fn save(&mut self, dal: &Dal, class: &str, batch: RecordBatch) -> Result<()> {
        let report = dal.save(class, &batch).await?;
        let secs = report.elapsed.as_secs_f64();
        self.rows.push(vec![
            class.to_string(),
            report.store.clone(),
            report.rows.to_string(),
            format!("{:.3}", secs),
            format!("{:.0}", report.rows as f64 / secs.max(1e-9)),
        ]);
        Ok(())
    }
}

pub async fn run(dal: &Dal, n_symbols: usize, n_days: usize, seed: u64) -> Result<()> {
    let started = Instant::now();
    let provisioned = dal.provision().await?;
    println!(
        "provisioned {} classes in {:.2}s",
        provisioned.len(),
        started.elapsed().as_secs_f64()
    );

    let mut rng = SmallRng::seed_from_u64(seed);
    let secs = market::securities(n_symbols.max(1), &mut rng);
    let history = trading_days(date(2023, 1, 2), 250);
    let after_history = history
        .last()
        .copied()
        .unwrap_or_default()
        .succ_opt()
        .unwrap_or_default();
    let tick_days = trading_days(after_history, n_days.max(1));
    let mut timed = Timed { rows: Vec::new() };

    let gen_started = Instant::now();
    // Daily history first: the tick day opens at the last daily close.
    let daily: Vec<Vec<market::Daily>> = secs
        .iter()
        .map(|s| market::daily_bars(s, &history, &mut rng))
        .collect();
    let mut ticks = market::Ticks::default();
    for (sec, bars) in secs.iter().zip(&daily) {
        let mut open = bars.last().map(|b| b.close).unwrap_or(sec.start_price);
        for day in &tick_days {
            open = market::ticks_for_day(sec, *day, open, &mut rng, &mut ticks);
        }
    }
    let minutes = market::minute_bars(&ticks);
    let depth = market::depth_from_ticks(&ticks, 60_000, &mut rng);
    println!(
        "generated {} symbols, {} tick days, {} ticks in {:.2}s",
        secs.len(),
        tick_days.len(),
        ticks.ts.len(),
        gen_started.elapsed().as_secs_f64()
    );

    timed.save(dal, "symbols", symbols_batch(&secs)?).await?;
    timed.save(dal, "trade_calendar", calendar_batch()?).await?;
    timed
        .save(dal, "industry_classes", industry_batch(&secs)?)
        .await?;
    timed
        .save(
            dal,
            "index_constituents",
            constituents_batch(&secs, &tick_days, &mut rng)?,
        )
        .await?;
    timed.save(dal, "tick_data", ticks_batch(&ticks)?).await?;
    timed
        .save(dal, "minute_kline", bars_batch(&minutes)?)
        .await?;
    timed.save(dal, "depth_data", depth_batch(&depth)?).await?;
    timed
        .save(dal, "daily_kline", daily_batch(&daily, &mut rng)?)
        .await?;
    let derived = derived::build(&secs, &daily, &mut rng)?;
    timed
        .save(dal, "technical_indicators", derived.indicators)
        .await?;
    timed.save(dal, "quant_factors", derived.factors).await?;
    timed.save(dal, "model_outputs", derived.models).await?;
    timed.save(dal, "trading_signals", derived.signals).await?;
    let trading = derived::trading(&derived.signal_rows, &history)?;
    timed.save(dal, "order_records", trading.orders).await?;
    timed.save(dal, "trade_records", trading.trades).await?;
    timed
        .save(dal, "position_records", trading.positions.clone())
        .await?;
    // The realtime view of the same snapshots: the store keeps the newest per account and symbol.
    timed
        .save(dal, "realtime_positions", trading.positions)
        .await?;
    timed.save(dal, "account_funds", trading.funds).await?;
    for (class, batch) in derived::meta()? {
        timed.save(dal, class, batch).await?;
    }
    timed
        .save(dal, "realtime_quotes", realtime_batch(&ticks)?)
        .await?;

    println!();
    print_rows(
        &["class", "store", "rows", "seconds", "rows/s"],
        &timed.rows,
        Format::Table,
    )?;
    println!();
    read_back(dal, &secs, &tick_days, ticks.ts.len() as u64).await?;
    println!("\ndemo finished in {:.2}s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn read_back(
    dal: &Dal,
    secs: &[Security],
    tick_days: &[NaiveDate],
    tick_rows: u64,
) -> Result<()> {
    let first = &secs[0].symbol;
    let day_ms = i64::from(days_since_epoch(tick_days[0])) * MS_PER_DAY;
    let morning = Timestamp::from_millis(day_ms + 5_400_000).unwrap_or(Timestamp(0))
        ..Timestamp::from_millis(day_ms + 7_200_000).unwrap_or(Timestamp(0));

    let t = Instant::now();
    let rows: usize = dal
        .load(
            "tick_data",
            Load::range(morning.clone()).symbols([first.as_str()]),
        )
        .await?
        .iter()
        .map(|b| b.num_rows())
        .sum();
    println!(
        "load   tick_data {first} 09:30–10:00 CST: {rows} rows in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let all: usize = dal
        .load("tick_data", Load::all().columns(["ts", "symbol", "price"]))
        .await?
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let secs_all = t.elapsed().as_secs_f64();
    println!(
        "load   tick_data, all {all} rows (3 columns) in {:.1} ms ({:.0} rows/s)",
        secs_all * 1e3,
        all as f64 / secs_all.max(1e-9)
    );

    let t = Instant::now();
    let latest = dal
        .latest(
            "tick_data",
            Load::all().symbols(secs.iter().take(5).map(|s| s.symbol.as_str())),
        )
        .await?;
    println!(
        "latest tick_data for 5 symbols in {:.1} ms:",
        t.elapsed().as_secs_f64() * 1e3
    );
    print_small(&latest)?;

    let t = Instant::now();
    let bars = dal
        .kline(
            "tick_data",
            "5m",
            Load::range(morning).symbols([first.as_str()]),
        )
        .await?;
    println!(
        "kline  5m from tick_data, {first} 09:30–10:00 CST, in {:.1} ms:",
        t.elapsed().as_secs_f64() * 1e3
    );
    print_small(&bars)?;

    let t = Instant::now();
    let thirty = dal
        .kline("minute_kline", "30m", Load::all().tag("frequency", ["1m"]))
        .await?;
    let n: usize = thirty.iter().map(|b| b.num_rows()).sum();
    println!(
        "kline  30m from minute_kline, every symbol: {n} bars in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let limit_up = dal
        .load(
            "daily_kline",
            Load::all()
                .filter(col("pct_chg").ge(9.9))
                .columns(["trade_date", "symbol", "pct_chg"]),
        )
        .await?;
    let n: usize = limit_up.iter().map(|b| b.num_rows()).sum();
    println!(
        "load   daily_kline where pct_chg >= 9.9: {n} rows in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let held = dal.count("tick_data").await?;
    println!(
        "tick_data holds {held} rows for {tick_rows} generated ({}).",
        if held == tick_rows {
            "re-runs upsert in place"
        } else {
            "other data is present too"
        }
    );
    Ok(())
}

fn print_small(batches: &[RecordBatch]) -> Result<()> {
    let shown: Vec<RecordBatch> = batches
        .iter()
        .take(1)
        .map(|b| b.slice(0, b.num_rows().min(6)))
        .collect();
    if !shown.is_empty() {
        println!("{}", arrow::util::pretty::pretty_format_batches(&shown)?);
    }
    Ok(())
}

fn symbols_batch(secs: &[Security]) -> Result<RecordBatch> {
    let n = secs.len();
    let list = days_since_epoch(date(2010, 1, 4));
    Batch::new()
        .str("symbol", secs.iter().map(|s| s.symbol.clone()).collect())
        .str(
            "name",
            secs.iter()
                .map(|s| format!("Demo {}", &s.symbol[..6]))
                .collect(),
        )
        .str_opt(
            "full_name",
            secs.iter()
                .map(|s| Some(format!("Demo Holdings {} Co., Ltd.", &s.symbol[..6])))
                .collect(),
        )
        .str(
            "exchange",
            secs.iter()
                .map(|s| if s.exchange == "SH" { "SSE" } else { "SZSE" }.to_string())
                .collect(),
        )
        .str("asset_type", vec!["stock".to_string(); n])
        .str_opt(
            "board",
            secs.iter().map(|s| Some(s.board.to_string())).collect(),
        )
        .str_opt(
            "industry",
            secs.iter()
                .map(|s| Some(market::INDUSTRIES[s.industry].1.to_string()))
                .collect(),
        )
        .str("currency", vec!["CNY".to_string(); n])
        .i32("lot_size", vec![100; n])
        .f64("price_tick", vec![0.01; n])
        .date("list_date", (0..n).map(|i| list + i as i32).collect())
        .bool("is_st", vec![false; n])
        .bool("is_active", vec![true; n])
        .build()
}

fn calendar_batch() -> Result<RecordBatch> {
    let (mut exchange, mut days, mut open, mut pre) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ex in ["SSE", "SZSE"] {
        let mut last_open: Option<i32> = None;
        for d in date(2023, 1, 1)
            .iter_days()
            .take_while(|d| *d <= date(2024, 12, 31))
        {
            let is_open = !matches!(
                chrono::Datelike::weekday(&d),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            );
            exchange.push(ex.to_string());
            days.push(days_since_epoch(d));
            open.push(is_open);
            pre.push(last_open);
            if is_open {
                last_open = Some(days_since_epoch(d));
            }
        }
    }
    Batch::new()
        .str("exchange", exchange)
        .date("cal_date", days)
        .bool("is_open", open)
        .date_opt("pretrade_date", pre)
        .build()
}

fn industry_batch(secs: &[Security]) -> Result<RecordBatch> {
    let n = secs.len();
    Batch::new()
        .str("classifier", vec!["sw2021".to_string(); n])
        .i32("level", vec![1; n])
        .str(
            "industry_code",
            secs.iter()
                .map(|s| market::INDUSTRIES[s.industry].0.to_string())
                .collect(),
        )
        .str(
            "industry_name",
            secs.iter()
                .map(|s| market::INDUSTRIES[s.industry].1.to_string())
                .collect(),
        )
        .str("symbol", secs.iter().map(|s| s.symbol.clone()).collect())
        .date_opt(
            "in_date",
            vec![Some(days_since_epoch(date(2021, 7, 30))); n],
        )
        .bool("is_current", vec![true; n])
        .build()
}

fn constituents_batch(
    secs: &[Security],
    days: &[NaiveDate],
    rng: &mut SmallRng,
) -> Result<RecordBatch> {
    let members: Vec<&Security> = secs.iter().take(300).collect();
    let raw: Vec<f64> = members.iter().map(|_| rng.gen_range(0.05..2.0)).collect();
    let total: f64 = raw.iter().sum();
    let (mut code, mut symbol, mut day, mut weight) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for d in days {
        for (m, w) in members.iter().zip(&raw) {
            code.push("000300.SH".to_string());
            symbol.push(m.symbol.clone());
            day.push(days_since_epoch(*d));
            weight.push(Some((w / total * 100.0 * 1e4).round() / 1e4));
        }
    }
    Batch::new()
        .str("index_code", code)
        .str("symbol", symbol)
        .date("trade_date", day)
        .f64_opt("weight", weight)
        .build()
}

fn ticks_batch(t: &market::Ticks) -> Result<RecordBatch> {
    Batch::new()
        .ts("ts", t.ts.clone())
        .str("symbol", t.symbol.clone())
        .f64("price", t.price.clone())
        .i64("volume", t.volume.clone())
        .f64("amount", t.amount.clone())
        .f64("bid_price1", t.bid_price1.clone())
        .i64("bid_volume1", t.bid_volume1.clone())
        .f64("ask_price1", t.ask_price1.clone())
        .i64("ask_volume1", t.ask_volume1.clone())
        .str_opt("direction", t.direction.clone())
        .build()
}

fn bars_batch(b: &market::Bars) -> Result<RecordBatch> {
    Batch::new()
        .ts("ts", b.ts.clone())
        .str("symbol", b.symbol.clone())
        .str("frequency", b.frequency.clone())
        .f64("open", b.open.clone())
        .f64("high", b.high.clone())
        .f64("low", b.low.clone())
        .f64("close", b.close.clone())
        .i64("volume", b.volume.clone())
        .f64("amount", b.amount.clone())
        .build()
}

fn depth_batch(d: &market::Depth) -> Result<RecordBatch> {
    Batch::new()
        .ts("ts", d.ts.clone())
        .str("symbol", d.symbol.clone())
        .i32("level", d.level.clone())
        .f64_opt("bid_price", d.bid_price.clone())
        .push_i64_opt("bid_volume", d.bid_volume.clone())
        .f64_opt("ask_price", d.ask_price.clone())
        .push_i64_opt("ask_volume", d.ask_volume.clone())
        .i32_opt("bid_orders", d.bid_orders.clone())
        .i32_opt("ask_orders", d.ask_orders.clone())
        .build()
}

fn daily_batch(daily: &[Vec<market::Daily>], rng: &mut SmallRng) -> Result<RecordBatch> {
    let rows: Vec<&market::Daily> = daily.iter().flatten().collect();
    let float_shares: Vec<f64> = daily.iter().map(|_| rng.gen_range(2e8..5e9)).collect();
    let shares: Vec<f64> = daily
        .iter()
        .zip(&float_shares)
        .flat_map(|(bars, s)| std::iter::repeat_n(*s, bars.len()))
        .collect();
    let pe: Vec<Option<f64>> = rows
        .iter()
        .map(|_| Some(round2(rng.gen_range(5.0..80.0))))
        .collect();
    let pb: Vec<Option<f64>> = rows
        .iter()
        .map(|_| Some(round2(rng.gen_range(0.5..12.0))))
        .collect();
    Batch::new()
        .date("trade_date", rows.iter().map(|r| r.date).collect())
        .str("symbol", rows.iter().map(|r| r.symbol.clone()).collect())
        .f64("open", rows.iter().map(|r| r.open).collect())
        .f64("high", rows.iter().map(|r| r.high).collect())
        .f64("low", rows.iter().map(|r| r.low).collect())
        .f64("close", rows.iter().map(|r| r.close).collect())
        .f64("pre_close", rows.iter().map(|r| r.pre_close).collect())
        .i64("volume", rows.iter().map(|r| r.volume).collect())
        .f64("amount", rows.iter().map(|r| r.amount).collect())
        .f64("adj_factor", vec![1.0; rows.len()])
        .f64(
            "pct_chg",
            rows.iter()
                .map(|r| round2((r.close / r.pre_close - 1.0) * 100.0))
                .collect(),
        )
        .f64_opt(
            "turnover",
            rows.iter()
                .zip(&shares)
                .map(|(r, s)| Some(round2(r.volume as f64 / s * 100.0)))
                .collect(),
        )
        .f64_opt(
            "price_change",
            rows.iter()
                .map(|r| Some(round2(r.close - r.pre_close)))
                .collect(),
        )
        .f64_opt(
            "limit_up",
            rows.iter()
                .map(|r| Some(round2(r.pre_close * 1.1)))
                .collect(),
        )
        .f64_opt(
            "limit_down",
            rows.iter()
                .map(|r| Some(round2(r.pre_close * 0.9)))
                .collect(),
        )
        .f64_opt(
            "total_mv",
            rows.iter()
                .zip(&shares)
                .map(|(r, s)| Some(round2(r.close * s * 1.25)))
                .collect(),
        )
        .f64_opt(
            "circ_mv",
            rows.iter()
                .zip(&shares)
                .map(|(r, s)| Some(round2(r.close * s)))
                .collect(),
        )
        .f64_opt("pe_ttm", pe)
        .f64_opt("pb", pb)
        .bool("is_suspended", vec![false; rows.len()])
        .build()
}

fn realtime_batch(t: &market::Ticks) -> Result<RecordBatch> {
    // Last tick of each symbol, with the day's open/high/low from all its ticks.
    let mut rows: Vec<(usize, f64, f64, f64)> = Vec::new();
    for i in 0..t.ts.len() {
        match rows.last_mut() {
            Some(r) if t.symbol[r.0] == t.symbol[i] => {
                r.0 = i;
                r.2 = r.2.max(t.price[i]);
                r.3 = r.3.min(t.price[i]);
            }
            _ => rows.push((i, t.price[i], t.price[i], t.price[i])),
        }
    }
    let volume: Vec<i64> = rows.iter().map(|r| t.volume[r.0]).collect();
    Batch::new()
        .ts("ts", rows.iter().map(|r| t.ts[r.0]).collect())
        .str(
            "symbol",
            rows.iter().map(|r| t.symbol[r.0].clone()).collect(),
        )
        .f64("price", rows.iter().map(|r| t.price[r.0]).collect())
        .f64_opt("open", rows.iter().map(|r| Some(r.1)).collect())
        .f64_opt("high", rows.iter().map(|r| Some(r.2)).collect())
        .f64_opt("low", rows.iter().map(|r| Some(r.3)).collect())
        .f64("pre_close", rows.iter().map(|r| r.1).collect())
        .i64("volume", volume)
        .f64("amount", rows.iter().map(|r| t.amount[r.0]).collect())
        .f64_opt(
            "bid1",
            rows.iter().map(|r| Some(t.bid_price1[r.0])).collect(),
        )
        .f64_opt(
            "ask1",
            rows.iter().map(|r| Some(t.ask_price1[r.0])).collect(),
        )
        .build()
}

mod derived;
