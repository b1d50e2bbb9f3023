//! `quantdal overview [CLASS]` and the dashboard's coverage view: per series, rows and first / last time,
//! computed in the store (one GROUP BY on the SQL stores), and series × trading days with gaps and stale
//! series marked.

use std::collections::BTreeMap;

use quantdal_core::{Load, Result, SeriesSummary, Timestamp};
use serde::Serialize;

use quantdal_core::time::age_words;

use crate::checks::Calendar;
use crate::Dal;

const DAY_NS: i64 = quantdal_core::time::NANOS_PER_DAY;

/// `2024-01-02 07:00:00` (UTC), or a date for midnight instants of date classes.
pub fn time_text(ns: i64) -> String {
    let dt = Timestamp::from_nanos(ns).to_datetime();
    if ns.rem_euclid(DAY_NS) == 0 {
        dt.format("%Y-%m-%d").to_string()
    } else if ns.rem_euclid(1_000_000_000) == 0 {
        dt.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        dt.format("%Y-%m-%d %H:%M:%S%.f").to_string()
    }
}

fn day_text(day: i64) -> String {
    time_text(day * DAY_NS)
}

/// One series in an overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesRow {
    /// Series key values joined by `|` (empty for a class without series columns).
    pub series: String,
    pub rows: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
}

/// One class in an overview; `error` instead of series when the store could not answer (e.g. a table not
/// provisioned yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassOverview {
    pub class: String,
    pub store: String,
    pub kind: String,
    pub table: String,
    pub series_columns: Vec<String>,
    pub rows: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub series: Vec<SeriesRow>,
    pub error: Option<String>,
}

impl ClassOverview {
    fn from_summaries(dal: &Dal, class: &str, summaries: Vec<SeriesSummary>) -> Result<Self> {
        let spec = dal.spec(class)?;
        let (_, store) = dal.store_for(class)?;
        let first = summaries.iter().filter_map(|s| s.first_ns).min();
        let last = summaries.iter().filter_map(|s| s.last_ns).max();
        Ok(ClassOverview {
            class: class.to_string(),
            store: store.info().name.clone(),
            kind: store.info().kind.to_string(),
            table: spec.table.clone(),
            series_columns: spec
                .series_columns()
                .iter()
                .map(|c| c.to_string())
                .collect(),
            rows: summaries.iter().map(|s| s.rows).sum(),
            first: first.map(time_text),
            last: last.map(time_text),
            series: summaries
                .into_iter()
                .map(|s| SeriesRow {
                    series: s.series.join("|"),
                    rows: s.rows,
                    first: s.first_ns.map(time_text),
                    last: s.last_ns.map(time_text),
                    first_ns: s.first_ns,
                    last_ns: s.last_ns,
                })
                .collect(),
            error: None,
        })
    }
}

/// Series × trading days of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub class: String,
    pub series_columns: Vec<String>,
    /// The trading days shown, oldest first (`YYYY-MM-DD`).
    pub days: Vec<String>,
    pub series: Vec<CoverageRow>,
    /// The class's newest time and how long ago that is.
    pub newest: Option<String>,
    pub age: Option<String>,
    /// Series whose last row is older than the class's newest trading day.
    pub stale_series: usize,
    /// Trading days inside a series' span (first day … last shown day) with no rows.
    pub gap_cells: usize,
    /// Whether the trading days came from `trade_calendar` (else Monday to Friday).
    pub calendar: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageRow {
    pub series: String,
    /// Rows per shown day.
    pub rows: Vec<u64>,
    pub first: Option<String>,
    pub last: Option<String>,
    /// Trading days behind the class's newest day.
    pub behind_days: usize,
    pub stale: bool,
    pub gaps: usize,
}

impl Dal {
    /// Rows and first / last time per series of `class` matching `load` (rows per UTC day with `by_day`),
    /// computed in the store.
    pub async fn summarize(
        &self,
        class: &str,
        load: Load,
        by_day: bool,
    ) -> Result<Vec<SeriesSummary>> {
        let (spec, store) = self.store_for(class)?;
        let query = load.resolve(&spec)?;
        store.summarize(&spec, query, by_day).await
    }

    /// Per class (one, or every class), per series: rows, first and last time.
    pub async fn overview(&self, class: Option<&str>) -> Result<Vec<ClassOverview>> {
        let classes: Vec<String> = match class {
            Some(c) => {
                self.spec(c)?;
                vec![c.to_string()]
            }
            None => self.classes().into_iter().map(|c| c.class).collect(),
        };
        let mut out = Vec::with_capacity(classes.len());
        for c in classes {
            match self.summarize(&c, Load::all(), false).await {
                Ok(s) => out.push(ClassOverview::from_summaries(self, &c, s)?),
                // One class that cannot be read (not provisioned, store away) does not hide the others.
                Err(e) if class.is_none() => {
                    let mut row = ClassOverview::from_summaries(self, &c, Vec::new())?;
                    row.error = Some(e.to_string());
                    out.push(row);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The last `days` trading days up to the class's newest row: rows per series and day, with the days
    /// a series has no rows inside its span (gaps) and the series that stopped before the others (stale).
    pub async fn coverage(&self, class: &str, days: u32) -> Result<Coverage> {
        let spec = self.spec(class)?;
        let summaries = self.summarize(class, Load::all(), true).await?;
        let calendar = Calendar::load(self).await;
        let newest = summaries.iter().filter_map(|s| s.last_ns).max();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let end_day = newest.unwrap_or(now).div_euclid(DAY_NS);
        let shown = calendar.open_days_back(end_day, days.max(1));
        let index: BTreeMap<i64, usize> = shown.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let newest_open = shown.last().copied();
        let mut rows = Vec::with_capacity(summaries.len());
        for s in &summaries {
            let mut per_day = vec![0u64; shown.len()];
            for (d, n) in &s.days {
                if let Some(&i) = index.get(&i64::from(*d)) {
                    per_day[i] += n;
                }
            }
            let first_day = s.first_ns.map(|t| t.div_euclid(DAY_NS));
            let last_day = s.last_ns.map(|t| t.div_euclid(DAY_NS));
            let behind_days = match (last_day, newest_open) {
                (Some(l), Some(n)) => shown.iter().filter(|&&d| d > l && d <= n).count(),
                _ => 0,
            };
            let gaps = shown
                .iter()
                .zip(&per_day)
                .filter(|(d, n)| {
                    **n == 0
                        && first_day.is_some_and(|f| **d >= f)
                        && last_day.is_some_and(|l| **d <= l)
                })
                .count();
            rows.push(CoverageRow {
                series: s.series.join("|"),
                rows: per_day,
                first: s.first_ns.map(time_text),
                last: s.last_ns.map(time_text),
                behind_days,
                stale: behind_days > 0,
                gaps,
            });
        }
        Ok(Coverage {
            class: class.to_string(),
            series_columns: spec
                .series_columns()
                .iter()
                .map(|c| c.to_string())
                .collect(),
            days: shown.iter().map(|d| day_text(*d)).collect(),
            stale_series: rows.iter().filter(|r| r.stale).count(),
            gap_cells: rows.iter().map(|r| r.gaps).sum(),
            series: rows,
            newest: newest.map(time_text),
            age: newest.map(|t| age_words((now - t) / 1_000_000_000)),
            calendar: calendar.has_rows(),
        })
    }
}
