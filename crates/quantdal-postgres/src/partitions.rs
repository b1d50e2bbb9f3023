//! Native range partitions on time for classes on plain PostgreSQL (`postgres: { partition: 1d }`).
//!
//! Each period is a table of its own with its own key index. A save into the newest period then updates a
//! small index instead of one that grows with the class, so the save rate stays flat as the class grows, and
//! range loads prune to the periods they cover. A partition is created on demand, before the first save
//! that has rows in its period. A class that is a TimescaleDB hypertable ignores the option: its chunks
//! already do this.

use std::collections::BTreeSet;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};
use quantdal_core::{Error, Interval, NeutralType, Result, TableSpec, Timestamp};

use crate::ddl::{literal, qualified, quote};

/// Periods start at Monday 1970-01-05 00:00 UTC (the origin kline bars use), so weekly partitions start on
/// Mondays; day-multiple widths under a week are unaffected.
const ORIGIN_SECONDS: i64 = 4 * 86_400;
const DAY_SECONDS: i64 = 86_400;

/// The class's partitioning: a whole number of days per partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitioning {
    width_seconds: i64,
}

/// The partitioning a class declares, or `None`. A width that is not whole days, a class without a time
/// column, a key that leaves the time column out (PostgreSQL requires it in a partitioned table's key) or a
/// versioned class is a config error naming the class.
pub fn declared(spec: &TableSpec) -> Result<Option<Partitioning>> {
    let Some(text) = spec
        .options
        .postgres
        .as_ref()
        .and_then(|p| p.partition.as_deref())
    else {
        return Ok(None);
    };
    let refuse = |why: String| Err(Error::config(why).with_class(spec.name.clone()));
    let width: Interval = match text.parse() {
        Ok(w) => w,
        Err(e) => return refuse(format!("postgres.partition: {}", e.message())),
    };
    if width.seconds() % DAY_SECONDS != 0 {
        return refuse(format!(
            "postgres.partition `{text}` must be a whole number of days (`1d`, `7d`)"
        ));
    }
    let Some(time) = &spec.time else {
        return refuse("postgres.partition needs a time column to partition on".into());
    };
    if !spec.key.is_empty() && !spec.key.contains(&time.column) {
        return refuse(format!(
            "postgres.partition needs the time column {} in the key: PostgreSQL's key on a partitioned \
             table must hold the partition column",
            time.column
        ));
    }
    if spec.versions.is_some() {
        return refuse("postgres.partition is not available for versioned classes".into());
    }
    Ok(Some(Partitioning {
        width_seconds: width.seconds(),
    }))
}

impl Partitioning {
    fn period_start(self, seconds: i64) -> i64 {
        ORIGIN_SECONDS
            + (seconds - ORIGIN_SECONDS).div_euclid(self.width_seconds) * self.width_seconds
    }

    /// Start (Unix seconds) of every period the batch has rows in. The time column is NOT NULL (it is part of
    /// the key, or the class's time), so every row has a value.
    pub fn periods_of(self, spec: &TableSpec, batch: &RecordBatch) -> Result<BTreeSet<i64>> {
        let time = spec
            .time
            .as_ref()
            .ok_or_else(|| Error::config("partitioned class without a time column"))?;
        let column = batch.column_by_name(&time.column).ok_or_else(|| {
            Error::invalid_batch(format!("the batch has no time column {}", time.column))
                .with_column(time.column.clone())
        })?;
        let mut out = BTreeSet::new();
        let mut add_all = |values: &mut dyn Iterator<Item = i64>| {
            let mut last = None;
            for seconds in values {
                let start = self.period_start(seconds);
                // Rows come in runs within a period: skip the set lookup while the period repeats.
                if last != Some(start) {
                    out.insert(start);
                    last = Some(start);
                }
            }
        };
        match column.data_type() {
            DataType::Timestamp(unit, _) => {
                let per_second = match unit {
                    TimeUnit::Second => 1,
                    TimeUnit::Millisecond => 1_000,
                    TimeUnit::Microsecond => 1_000_000,
                    TimeUnit::Nanosecond => 1_000_000_000,
                };
                let raw = arrow::compute::cast(column, &DataType::Int64)?;
                let values = raw.as_primitive::<Int64Type>();
                add_all(&mut values.iter().flatten().map(|t| t.div_euclid(per_second)));
            }
            DataType::Date32 => {
                let values = column.as_primitive::<Date32Type>();
                add_all(&mut values.iter().flatten().map(|d| i64::from(d) * DAY_SECONDS));
            }
            other => {
                return Err(Error::invalid_batch(format!(
                    "time column {} is {other}, not a timestamp or date",
                    time.column
                ))
                .with_column(time.column.clone()))
            }
        }
        Ok(out)
    }

    /// `CREATE TABLE IF NOT EXISTS <table>_p<YYYYMMDD> PARTITION OF <table> FOR VALUES FROM (…) TO (…)` for
    /// the period starting at `start` (Unix seconds). The bounds are literals made from integers: DDL takes
    /// no bound parameters.
    pub fn create_statement(self, spec: &TableSpec, schema: &str, start: i64) -> String {
        let is_date = spec
            .time
            .as_ref()
            .and_then(|t| spec.column(&t.column))
            .is_some_and(|c| c.data_type == NeutralType::Date);
        let bound = |seconds: i64| {
            let at = Timestamp::from_nanos(seconds.saturating_mul(1_000_000_000)).to_datetime();
            literal(&if is_date {
                at.format("%Y-%m-%d").to_string()
            } else {
                at.format("%Y-%m-%d %H:%M:%S+00").to_string()
            })
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})",
            qualified(schema, &partition_name(spec, start)),
            qualified(schema, &spec.table),
            bound(start),
            bound(start + self.width_seconds)
        )
    }
}

/// `<table>_p<YYYYMMDD>` of the period's first day; a table name too long for that keeps its first 40 bytes
/// and a hash of the whole name, so the name stays within PostgreSQL's 63 bytes and unique per table.
pub fn partition_name(spec: &TableSpec, start: i64) -> String {
    let day = Timestamp::from_nanos(start.saturating_mul(1_000_000_000))
        .to_datetime()
        .format("%Y%m%d");
    let table = &spec.table;
    if table.len() <= 53 {
        return format!("{table}_p{day}");
    }
    let hash = quantdal_core::fnv::stable_hash(&[table]);
    format!(
        "{}_{:08x}_p{day}",
        crate::ddl::ident_prefix(table, 40),
        hash as u32
    )
}

/// `PARTITION BY RANGE (<time>)` for the table's CREATE statement.
pub fn clause(spec: &TableSpec) -> Option<String> {
    spec.time
        .as_ref()
        .map(|t| format!(" PARTITION BY RANGE ({})", quote(&t.column)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Date32Array, TimestampMillisecondArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn spec(partition: &str, time_type: &str) -> Arc<TableSpec> {
        let yaml = format!(
            r#"
version: 1
classes:
  - name: ticks
    category: market
    store: pg
    time: {{ column: ts, precision: ms }}
    tags: [symbol]
    columns:
      - {{ name: ts, type: {time_type}, nullable: false }}
      - {{ name: symbol, type: VARCHAR(16), nullable: false }}
      - {{ name: price, type: DOUBLE }}
    options: {{ postgres: {{ partition: "{partition}" }} }}
"#
        );
        quantdal_core::Catalog::from_yaml(&yaml, "test")
            .expect("catalog")
            .get("ticks")
            .expect("class")
            .clone()
    }

    fn millis(text: &str) -> i64 {
        Timestamp::parse(text).expect("timestamp").nanos() / 1_000_000
    }

    #[test]
    fn daily_periods_of_a_batch_and_their_ddl() {
        let s = spec("1d", "TIMESTAMP");
        let p = declared(&s).expect("valid").expect("declared");
        let ts = TimestampMillisecondArray::from(vec![
            millis("2024-01-02T23:59:59.999Z"),
            millis("2024-01-02T00:00:00Z"),
            millis("2024-01-03T00:00:00Z"),
            millis("1969-12-31T12:00:00Z"),
        ])
        .with_timezone("UTC");
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "ts",
                ts.data_type().clone(),
                false,
            )])),
            vec![Arc::new(ts)],
        )
        .expect("batch");
        let periods: Vec<String> = p
            .periods_of(&s, &batch)
            .expect("periods")
            .into_iter()
            .map(|start| partition_name(&s, start))
            .collect();
        assert_eq!(
            periods,
            ["ticks_p19691231", "ticks_p20240102", "ticks_p20240103"]
        );
        assert_eq!(
            p.create_statement(&s, "md", millis("2024-01-02T00:00:00Z") / 1000),
            "CREATE TABLE IF NOT EXISTS \"md\".\"ticks_p20240102\" PARTITION OF \"md\".\"ticks\" \
             FOR VALUES FROM ('2024-01-02 00:00:00+00') TO ('2024-01-03 00:00:00+00')"
        );
    }

    #[test]
    fn weekly_periods_start_on_mondays_and_dates_use_date_bounds() {
        let s = spec("7d", "DATE");
        let p = declared(&s).expect("valid").expect("declared");
        // 2024-01-03 is a Wednesday: its week starts on Monday 2024-01-01.
        let days = Date32Array::from(vec![19_725]);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("ts", DataType::Date32, false)])),
            vec![Arc::new(days)],
        )
        .expect("batch");
        let starts = p.periods_of(&s, &batch).expect("periods");
        let start = *starts.iter().next().expect("one period");
        assert_eq!(partition_name(&s, start), "ticks_p20240101");
        assert!(p
            .create_statement(&s, "md", start)
            .ends_with("FROM ('2024-01-01') TO ('2024-01-08')"));
    }

    #[test]
    fn widths_that_are_not_whole_days_are_config_errors() {
        for bad in ["1h", "36h", "soon"] {
            let e = declared(&spec(bad, "TIMESTAMP")).expect_err(bad);
            assert_eq!(e.kind(), quantdal_core::ErrorKind::Config, "{bad}");
            assert_eq!(e.class(), Some("ticks"));
        }
    }

    #[test]
    fn long_table_names_stay_within_63_bytes_and_distinct() {
        let mut a = (*spec("1d", "TIMESTAMP")).clone();
        a.table = "t".repeat(60);
        let mut b = a.clone();
        b.table = format!("{}x", "t".repeat(59));
        let (na, nb) = (partition_name(&a, 0), partition_name(&b, 0));
        assert!(na.len() <= 63 && nb.len() <= 63, "{na} {nb}");
        assert_ne!(na, nb);
    }
}
