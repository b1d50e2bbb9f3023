//! Synthetic A-share market data: symbols, sessions, ticks as a random walk on the 0.01 price grid, minute
//! bars aggregated from those ticks, 10-level depth, and a year of daily bars.

use chrono::{Datelike, NaiveDate, Weekday};
use rand::rngs::SmallRng;
use rand::Rng;

pub const MS_PER_DAY: i64 = 86_400_000;
/// Snapshot spacing of level-1 ticks (the exchanges' 3-second snapshots).
pub const TICK_MS: i64 = 3_000;

/// The two continuous sessions in UTC (09:30–11:30 and 13:00–15:00 China Standard Time).
pub const SESSIONS_MS: [(i64, i64); 2] = [(5_400_000, 12_600_000), (18_000_000, 25_200_000)];

pub struct Security {
    pub symbol: String,
    pub exchange: &'static str,
    pub board: &'static str,
    pub industry: usize,
    /// Close of the day before the first generated daily bar.
    pub start_price: f64,
}

pub fn securities(n: usize, rng: &mut SmallRng) -> Vec<Security> {
    let prefixes: [(&str, &str, &str); 6] = [
        ("600", "SH", "main"),
        ("601", "SH", "main"),
        ("688", "SH", "star"),
        ("000", "SZ", "main"),
        ("002", "SZ", "sme"),
        ("300", "SZ", "chinext"),
    ];
    (0..n)
        .map(|i| {
            let (prefix, exchange, board) = prefixes[i % prefixes.len()];
            let code = i / prefixes.len() + 1;
            Security {
                symbol: format!("{prefix}{code:03}.{exchange}"),
                exchange,
                board,
                industry: i % INDUSTRIES.len(),
                start_price: round2(rng.gen_range(3.0..120.0)),
            }
        })
        .collect()
}

pub const INDUSTRIES: [(&str, &str); 10] = [
    ("801010", "Agriculture"),
    ("801030", "Chemicals"),
    ("801040", "Steel"),
    ("801080", "Electronics"),
    ("801120", "Food & Beverage"),
    ("801150", "Pharmaceuticals"),
    ("801180", "Real Estate"),
    ("801750", "Computers"),
    ("801780", "Banks"),
    ("801790", "Non-bank Financials"),
];

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// Weekdays from `first` on (holidays are not modelled).
pub fn trading_days(first: NaiveDate, count: usize) -> Vec<NaiveDate> {
    first
        .iter_days()
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .take(count)
        .collect()
}

/// Column vectors of one class, filled row by row.
#[derive(Default)]
pub struct Ticks {
    pub ts: Vec<i64>,
    pub symbol: Vec<String>,
    pub price: Vec<f64>,
    pub volume: Vec<i64>,
    pub amount: Vec<f64>,
    pub bid_price1: Vec<f64>,
    pub bid_volume1: Vec<i64>,
    pub ask_price1: Vec<f64>,
    pub ask_volume1: Vec<i64>,
    pub direction: Vec<Option<String>>,
}

/// Ticks of one symbol for one day: a random walk in cents, volume in board lots.
pub fn ticks_for_day(
    sec: &Security,
    day: NaiveDate,
    open: f64,
    rng: &mut SmallRng,
    out: &mut Ticks,
) -> f64 {
    let day_ms = i64::from(days_since_epoch(day)) * MS_PER_DAY;
    let mut cents = (open * 100.0).round() as i64;
    let floor = (open * 90.0).round() as i64;
    let cap = (open * 110.0).round() as i64;
    for (start, end) in SESSIONS_MS {
        let mut t = start;
        while t < end {
            let step: i64 = match rng.gen_range(0..10) {
                0..=2 => -1,
                3..=5 => 1,
                6 => -2,
                7 => 2,
                _ => 0,
            };
            cents = (cents + step).clamp(floor.max(1), cap);
            let price = cents as f64 / 100.0;
            let lots: i64 = rng.gen_range(1..60);
            let volume = lots * 100;
            out.ts.push(day_ms + t);
            out.symbol.push(sec.symbol.clone());
            out.price.push(price);
            out.volume.push(volume);
            out.amount.push(round2(price * volume as f64));
            out.bid_price1.push((cents - 1) as f64 / 100.0);
            out.bid_volume1.push(rng.gen_range(1..200) * 100);
            out.ask_price1.push((cents + 1) as f64 / 100.0);
            out.ask_volume1.push(rng.gen_range(1..200) * 100);
            out.direction.push(Some(
                match step.signum() {
                    1 => "B",
                    -1 => "S",
                    _ => "N",
                }
                .to_string(),
            ));
            t += TICK_MS;
        }
    }
    cents as f64 / 100.0
}

#[derive(Default)]
pub struct Bars {
    pub ts: Vec<i64>,
    pub symbol: Vec<String>,
    pub frequency: Vec<String>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<i64>,
    pub amount: Vec<f64>,
}

/// One-minute bars aggregated from ticks already in time order per symbol, labelled by minute start.
pub fn minute_bars(ticks: &Ticks) -> Bars {
    let mut bars = Bars::default();
    let mut i = 0;
    while i < ticks.ts.len() {
        let minute = ticks.ts[i] - ticks.ts[i].rem_euclid(60_000);
        let symbol = &ticks.symbol[i];
        let (mut high, mut low) = (ticks.price[i], ticks.price[i]);
        let (mut volume, mut amount) = (0i64, 0f64);
        let open = ticks.price[i];
        let mut j = i;
        while j < ticks.ts.len()
            && &ticks.symbol[j] == symbol
            && ticks.ts[j] - ticks.ts[j].rem_euclid(60_000) == minute
        {
            high = high.max(ticks.price[j]);
            low = low.min(ticks.price[j]);
            volume += ticks.volume[j];
            amount += ticks.amount[j];
            j += 1;
        }
        bars.ts.push(minute);
        bars.symbol.push(symbol.clone());
        bars.frequency.push("1m".into());
        bars.open.push(open);
        bars.high.push(high);
        bars.low.push(low);
        bars.close.push(ticks.price[j - 1]);
        bars.volume.push(volume);
        bars.amount.push(round2(amount));
        i = j;
    }
    bars
}

#[derive(Default)]
pub struct Depth {
    pub ts: Vec<i64>,
    pub symbol: Vec<String>,
    pub level: Vec<i32>,
    pub bid_price: Vec<Option<f64>>,
    pub bid_volume: Vec<Option<i64>>,
    pub ask_price: Vec<Option<f64>>,
    pub ask_volume: Vec<Option<i64>>,
    pub bid_orders: Vec<Option<i32>>,
    pub ask_orders: Vec<Option<i32>>,
}

/// A 10-level book around each sampled tick's price.
pub fn depth_from_ticks(ticks: &Ticks, every_ms: i64, rng: &mut SmallRng) -> Depth {
    let mut d = Depth::default();
    for i in 0..ticks.ts.len() {
        if ticks.ts[i] % every_ms != 0 {
            continue;
        }
        let mid = (ticks.price[i] * 100.0).round() as i64;
        for level in 1..=10i32 {
            d.ts.push(ticks.ts[i]);
            d.symbol.push(ticks.symbol[i].clone());
            d.level.push(level);
            d.bid_price
                .push(Some((mid - i64::from(level)) as f64 / 100.0));
            d.ask_price
                .push(Some((mid + i64::from(level)) as f64 / 100.0));
            d.bid_volume.push(Some(rng.gen_range(1..500) * 100));
            d.ask_volume.push(Some(rng.gen_range(1..500) * 100));
            d.bid_orders.push(Some(rng.gen_range(1..80)));
            d.ask_orders.push(Some(rng.gen_range(1..80)));
        }
    }
    d
}

pub struct Daily {
    pub date: i32,
    pub symbol: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub pre_close: f64,
    pub volume: i64,
    pub amount: f64,
}

/// Daily bars as a geometric random walk inside the ±10% limit, ending the day before `days[last]`.
pub fn daily_bars(sec: &Security, days: &[NaiveDate], rng: &mut SmallRng) -> Vec<Daily> {
    let mut pre = sec.start_price;
    days.iter()
        .map(|d| {
            // About one day in fifty closes at the ±10% daily limit, as A-shares do on news.
            let ret: f64 = match rng.gen_range(0..100) {
                0 => 0.1,
                1 => -0.1,
                _ => rng.gen_range(-0.045..0.047),
            };
            let close = round2((pre * (1.0 + ret)).clamp(pre * 0.9, pre * 1.1).max(0.01));
            let open = round2((pre * (1.0 + rng.gen_range(-0.01..0.01))).max(0.01));
            let high = round2(open.max(close) * (1.0 + rng.gen_range(0.0..0.02)));
            let low = round2((open.min(close) * (1.0 - rng.gen_range(0.0..0.02))).max(0.01));
            let volume = rng.gen_range(20_000..2_000_000) * 100;
            let bar = Daily {
                date: days_since_epoch(*d),
                symbol: sec.symbol.clone(),
                open,
                high,
                low,
                close,
                pre_close: pre,
                volume,
                amount: round2(volume as f64 * (open + close) / 2.0),
            };
            pre = close;
            bar
        })
        .collect()
}
