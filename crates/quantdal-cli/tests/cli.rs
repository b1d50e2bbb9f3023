//! The `quantdal` binary end to end, each test in its own folder with its own embedded store.

mod common;

use std::fs::File;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType};
use common::Env;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

/// The 22 classes of config/table_config.yaml, in file order.
const CLASSES: [&str; 22] = [
    "tick_data",
    "minute_kline",
    "depth_data",
    "daily_kline",
    "symbols",
    "trade_calendar",
    "index_constituents",
    "industry_classes",
    "technical_indicators",
    "quant_factors",
    "model_outputs",
    "trading_signals",
    "order_records",
    "trade_records",
    "position_records",
    "account_funds",
    "data_sources",
    "task_schedules",
    "strategy_params",
    "system_config",
    "realtime_quotes",
    "realtime_positions",
];

/// Seven ticks of two symbols, columns in an order of their own (the header maps them), timestamps as text.
const TICKS_CSV: &str = "\
symbol,ts,price,volume,amount,bid_price1,bid_volume1,ask_price1,ask_volume1,direction
600000.SH,2024-01-02 01:30:00,10.0,100,1000.0,9.99,500,10.01,300,B
000001.SZ,2024-01-02 01:30:05,12.0,1000,12000.0,11.99,1,12.01,2,S
600000.SH,2024-01-02 01:30:30,10.05,200,2010.0,10.04,400,10.06,100,S
000001.SZ,2024-01-02 01:30:55,11.9,500,5950.0,11.89,3,11.91,4,B
600000.SH,2024-01-02 01:31:10,10.02,300,3006.0,10.01,100,10.03,200,
600000.SH,2024-01-02 01:31:50,10.1,50,505.0,10.09,10,10.11,20,B
000001.SZ,2024-01-02 01:32:00,12.1,700,8470.0,12.09,5,12.11,6,N
";

const TICK_HEADER: &str =
    "ts,symbol,price,volume,amount,bid_price1,bid_volume1,ask_price1,ask_volume1,direction";

/// The rows of [`TICKS_CSV`] as `load --format csv` prints them: class column order, series then time.
const TICK_ROWS: [&str; 7] = [
    "2024-01-02T01:30:05Z,000001.SZ,12.0,1000,12000.0,11.99,1,12.01,2,S",
    "2024-01-02T01:30:55Z,000001.SZ,11.9,500,5950.0,11.89,3,11.91,4,B",
    "2024-01-02T01:32:00Z,000001.SZ,12.1,700,8470.0,12.09,5,12.11,6,N",
    "2024-01-02T01:30:00Z,600000.SH,10.0,100,1000.0,9.99,500,10.01,300,B",
    "2024-01-02T01:30:30Z,600000.SH,10.05,200,2010.0,10.04,400,10.06,100,S",
    "2024-01-02T01:31:10Z,600000.SH,10.02,300,3006.0,10.01,100,10.03,200,",
    "2024-01-02T01:31:50Z,600000.SH,10.1,50,505.0,10.09,10,10.11,20,B",
];

/// `header` then `rows`, one per line, as the CSV writer prints them.
fn csv(header: &str, rows: &[&str]) -> String {
    let mut out = String::from(header);
    out.push('\n');
    for r in rows {
        out.push_str(r);
        out.push('\n');
    }
    out
}

/// A provisioned env holding [`TICKS_CSV`] in tick_data.
fn env_with_ticks() -> Env {
    let env = Env::new();
    env.ok(&["provision"]);
    let file = env.path("ticks.csv");
    std::fs::write(&file, TICKS_CSV).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let out = env.ok(&[
        "import",
        "tick_data",
        &file.display().to_string(),
        "--time-format",
        "%Y-%m-%d %H:%M:%S",
    ]);
    assert!(out.starts_with("imported 7 rows into tick_data"), "{out}");
    env
}

fn load_csv(env: &Env, class: &str, extra: &[&str]) -> String {
    let mut args = vec!["--format", "csv", "load", class];
    args.extend_from_slice(extra);
    env.ok(&args)
}

// ---------------------------------------------------------------------------------------------------------
// classes, provision
// ---------------------------------------------------------------------------------------------------------

#[test]
fn classes_lists_every_class() {
    let env = Env::new();
    let out = env.ok(&["classes"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 23, "header + 22 classes:\n{out}");
    assert!(lines[0].starts_with("class"), "{out}");
    for (line, class) in lines[1..].iter().zip(CLASSES) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], class, "{line}");
        assert_eq!(&cells[2..], ["embedded", "duckdb", class], "{line}");
    }

    let json = env.ok(&["--format", "json", "classes"]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let items = parsed.as_array().unwrap();
    assert_eq!(items.len(), 22, "{json}");
    for (item, class) in items.iter().zip(CLASSES) {
        assert_eq!(item["class"], class);
        assert_eq!(item["table"], class);
        assert_eq!(item["store"], "embedded");
        assert_eq!(item["kind"], "duckdb");
    }
    assert_eq!(items[0]["category"], "market");
    assert_eq!(items[20]["category"], "realtime");
    assert!(!env.db().exists(), "listing classes opens no store");
}

#[test]
fn provision_dry_run_prints_ddl_and_touches_nothing() {
    let env = Env::new();
    let out = env.ok(&["provision", "--dry-run"]);
    assert!(out.starts_with("-- store: embedded\n"), "{out}");
    assert_eq!(out.matches("CREATE TABLE").count(), 22, "{out}");
    for class in CLASSES {
        assert!(out.contains(&format!("-- class: {class}\n")), "{class}");
        assert!(
            out.contains(&format!("CREATE TABLE IF NOT EXISTS \"{class}\" (")),
            "{class}"
        );
    }
    // Keys without the time column (reference data) are a PRIMARY KEY; series classes have no index.
    let tick_ddl = out
        .split("-- class: ")
        .find(|block| block.starts_with("tick_data\n"))
        .unwrap_or_default();
    assert!(!tick_ddl.contains("PRIMARY KEY"), "{tick_ddl}");
    assert!(out.contains("    PRIMARY KEY (\""), "{out}");
    let entries: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["quantdal.yaml"], "a dry run creates no file");
}

/// `provision --format csv` → (class, status) per line.
fn provision_statuses(env: &Env) -> Vec<(String, String)> {
    let out = env.ok(&["--format", "csv", "provision"]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("class,store,table,status"), "{out}");
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), 4, "{l}");
            assert_eq!(cells[1], "embedded", "{l}");
            (cells[0].to_string(), cells[3].to_string())
        })
        .collect()
}

#[test]
fn provision_twice_creates_then_finds_every_table() {
    let env = Env::new();
    let first = provision_statuses(&env);
    assert_eq!(
        first.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        CLASSES
    );
    assert!(first.iter().all(|(_, s)| s == "created"), "{first:?}");
    assert!(env.db().exists());

    let second = provision_statuses(&env);
    assert_eq!(second.len(), 22);
    assert!(
        second.iter().all(|(_, s)| s == "already present"),
        "{second:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// import, load, export
// ---------------------------------------------------------------------------------------------------------

#[test]
fn import_csv_then_load_returns_exactly_those_rows() {
    let env = env_with_ticks();
    assert_eq!(
        load_csv(&env, "tick_data", &[]),
        csv(TICK_HEADER, &TICK_ROWS)
    );
    // Re-importing is an upsert: still seven rows.
    let file = env.path("ticks.csv");
    env.ok(&[
        "import",
        "tick_data",
        file.to_str().unwrap(),
        "--time-format",
        "%Y-%m-%d %H:%M:%S",
        "--chunk-rows",
        "3",
    ]);
    assert_eq!(
        load_csv(&env, "tick_data", &[]),
        csv(TICK_HEADER, &TICK_ROWS)
    );
}

const DAILY_HEADER: &str =
    "trade_date,symbol,open,high,low,close,pre_close,volume,amount,adj_factor,\
pct_chg,turnover,price_change,limit_up,limit_down,total_mv,circ_mv,pe_ttm,pb,is_suspended";

/// Three daily bars with only the required columns and `turnover`: the rest are defaults or nulls.
fn daily_parquet(path: &std::path::Path) {
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "trade_date",
            Arc::new(Date32Array::from(vec![19724, 19725, 19724])),
        ),
        (
            "symbol",
            Arc::new(StringArray::from(vec![
                "600000.SH",
                "600000.SH",
                "000001.SZ",
            ])),
        ),
        ("open", Arc::new(Float64Array::from(vec![10.0, 10.2, 9.0]))),
        ("high", Arc::new(Float64Array::from(vec![10.5, 10.4, 9.1]))),
        ("low", Arc::new(Float64Array::from(vec![9.8, 10.1, 8.9]))),
        (
            "close",
            Arc::new(Float64Array::from(vec![10.2, 10.3, 9.05])),
        ),
        (
            "pre_close",
            Arc::new(Float64Array::from(vec![10.0, 10.2, 9.0])),
        ),
        (
            "volume",
            Arc::new(Int64Array::from(vec![1_000_000, 800_000, 500_000])),
        ),
        (
            "amount",
            Arc::new(Float64Array::from(vec![
                10_200_000.0,
                8_240_000.0,
                4_525_000.0,
            ])),
        ),
        (
            "pct_chg",
            Arc::new(Float64Array::from(vec![2.0, 0.98, 0.56])),
        ),
        (
            "turnover",
            Arc::new(Float64Array::from(vec![Some(0.5), None, Some(1.25)])),
        ),
    ];
    let write = || -> Result<(), Box<dyn std::error::Error>> {
        let batch = RecordBatch::try_from_iter(columns)?;
        let mut writer = ArrowWriter::try_new(File::create(path)?, batch.schema(), None)?;
        writer.write(&batch)?;
        writer.close()?;
        Ok(())
    };
    write().unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

const DAILY_ROWS: [&str; 3] = [
    "2024-01-02,000001.SZ,9.0,9.1,8.9,9.05,9.0,500000,4525000.0,1.0,0.56,1.25,,,,,,,,false",
    "2024-01-02,600000.SH,10.0,10.5,9.8,10.2,10.0,1000000,10200000.0,1.0,2.0,0.5,,,,,,,,false",
    "2024-01-03,600000.SH,10.2,10.4,10.1,10.3,10.2,800000,8240000.0,1.0,0.98,,,,,,,,,false",
];

#[test]
fn import_parquet_then_load_returns_exactly_those_rows() {
    let env = Env::new();
    env.ok(&["provision"]);
    let file = env.path("daily.parquet");
    daily_parquet(&file);
    let out = env.ok(&["import", "daily_kline", file.to_str().unwrap()]);
    assert!(out.starts_with("imported 3 rows into daily_kline"), "{out}");
    assert_eq!(
        load_csv(&env, "daily_kline", &[]),
        csv(DAILY_HEADER, &DAILY_ROWS)
    );
    // DATE classes take dates in --start / --end.
    assert_eq!(
        load_csv(&env, "daily_kline", &["--start", "2024-01-03"]),
        csv(DAILY_HEADER, &DAILY_ROWS[2..])
    );
}

#[test]
fn export_to_parquet_and_csv_round_trips_the_rows() {
    let env = env_with_ticks();

    let parquet_file = env.path("out/ticks.parquet");
    let out = env.ok(&["export", "tick_data", parquet_file.to_str().unwrap()]);
    assert_eq!(
        out.trim_end(),
        format!("exported 7 rows of tick_data to {}", parquet_file.display())
    );
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&parquet_file).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(batch.num_rows(), 7);
    assert_eq!(batch.num_columns(), 10);
    assert_eq!(
        batch.schema().field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    let ts = batch.column(0).as_primitive::<TimestampMillisecondType>();
    let symbol = batch.column(1).as_string::<i32>();
    let price = batch.column(2).as_primitive::<Float64Type>();
    let volume = batch.column(3).as_primitive::<Int64Type>();
    let direction = batch.column(9).as_string::<i32>();
    // 2024-01-02 01:30:05 UTC, the first row of 000001.SZ.
    assert_eq!(ts.value(0), 1_704_159_005_000);
    assert_eq!(symbol.value(0), "000001.SZ");
    assert_eq!(price.value(0), 12.0);
    assert_eq!(volume.value(0), 1000);
    assert_eq!(symbol.value(6), "600000.SH");
    assert_eq!(price.value(6), 10.1);
    assert_eq!(ts.value(6), 1_704_159_110_000);
    assert!(direction.is_null(5));
    assert_eq!(direction.value(6), "B");

    let csv_file = env.path("ticks_out.csv");
    env.ok(&[
        "export",
        "tick_data",
        csv_file.to_str().unwrap(),
        "--symbol",
        "600000.SH",
    ]);
    assert_eq!(
        std::fs::read_to_string(&csv_file).unwrap(),
        csv(TICK_HEADER, &TICK_ROWS[3..])
    );

    // Both files import into a fresh store and load back the same rows.
    for file in [&parquet_file, &csv_file] {
        let fresh = Env::new();
        fresh.ok(&["provision"]);
        fresh.ok(&["import", "tick_data", file.to_str().unwrap()]);
        let expected = if file == &parquet_file {
            &TICK_ROWS[..]
        } else {
            &TICK_ROWS[3..]
        };
        assert_eq!(
            load_csv(&fresh, "tick_data", &[]),
            csv(TICK_HEADER, expected),
            "{}",
            file.display()
        );
    }
}

#[test]
fn exporting_no_rows_writes_the_projected_schema() {
    let env = env_with_ticks();
    let parquet_file = env.path("none.parquet");
    let filter = ["--symbol", "NOPE.SH", "--columns", "ts,price"];
    let mut args = vec!["export", "tick_data", parquet_file.to_str().unwrap()];
    args.extend(filter);
    let out = env.ok(&args);
    assert!(out.starts_with("exported 0 rows of tick_data"), "{out}");
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(File::open(&parquet_file).unwrap()).unwrap();
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["ts", "price"]);
    assert_eq!(builder.metadata().file_metadata().num_rows(), 0);

    let csv_file = env.path("none.csv");
    let mut args = vec!["export", "tick_data", csv_file.to_str().unwrap()];
    args.extend(filter);
    env.ok(&args);
    assert_eq!(std::fs::read_to_string(&csv_file).unwrap(), "ts,price\n");
}

#[test]
fn load_filters_give_the_exact_rows() {
    let env = env_with_ticks();
    let range = [
        "--symbol",
        "600000.SH",
        "--start",
        "2024-01-02 01:30:10",
        "--end",
        "2024-01-02 01:31:50",
    ];
    // [start, end) of one symbol: the end is exclusive.
    assert_eq!(
        load_csv(&env, "tick_data", &range),
        csv(TICK_HEADER, &TICK_ROWS[4..6])
    );
    let mut args = range.to_vec();
    args.extend(["--columns", "ts,price,volume", "--where", "volume >= 300"]);
    assert_eq!(
        load_csv(&env, "tick_data", &args),
        "ts,price,volume\n2024-01-02T01:31:10Z,10.02,300\n"
    );
    let mut args = range.to_vec();
    args.extend(["--columns", "volume,ts", "--limit", "1"]);
    assert_eq!(
        load_csv(&env, "tick_data", &args),
        "volume,ts\n200,2024-01-02T01:30:30Z\n"
    );
    args.push("--desc");
    assert_eq!(
        load_csv(&env, "tick_data", &args),
        "volume,ts\n300,2024-01-02T01:31:10Z\n"
    );
    // Several --symbol and --where, each operator family.
    assert_eq!(
        load_csv(
            &env,
            "tick_data",
            &[
                "--symbol",
                "600000.SH",
                "--symbol",
                "000001.SZ",
                "--where",
                "price between 10.02 and 12.0",
                "--where",
                "direction in ('B', N)",
                "--columns",
                "symbol,price",
            ]
        ),
        "symbol,price\n000001.SZ,11.9\n600000.SH,10.1\n"
    );
    assert_eq!(
        load_csv(
            &env,
            "tick_data",
            &["--where", "direction is null", "--columns", "ts,symbol"]
        ),
        "ts,symbol\n2024-01-02T01:31:10Z,600000.SH\n"
    );
    assert_eq!(
        load_csv(
            &env,
            "tick_data",
            &[
                "--where",
                "symbol != 600000.SH",
                "--where",
                "ts < '2024-01-02 01:31:00'",
                "--columns",
                "price"
            ]
        ),
        "price\n12.0\n11.9\n"
    );
    // Table format ends with the row count.
    let table = env.ok(&["load", "tick_data", "--limit", "2"]);
    assert!(table.trim_end().ends_with("2 rows"), "{table}");
}

#[test]
fn latest_gives_the_newest_row_per_series() {
    let env = env_with_ticks();
    assert_eq!(
        env.ok(&["--format", "csv", "latest", "tick_data"]),
        csv(TICK_HEADER, &[TICK_ROWS[2], TICK_ROWS[6]])
    );
    assert_eq!(
        env.ok(&[
            "--format",
            "csv",
            "latest",
            "tick_data",
            "--end",
            "2024-01-02 01:31:00",
            "--columns",
            "symbol,ts,price",
        ]),
        "symbol,ts,price\n000001.SZ,2024-01-02T01:30:55Z,11.9\n600000.SH,2024-01-02T01:30:30Z,10.05\n"
    );
}

#[test]
fn kline_one_minute_bars_match_a_hand_computation() {
    let env = env_with_ticks();
    let out = env.ok(&["--format", "csv", "kline", "tick_data", "--interval", "1m"]);
    // 000001.SZ 01:30: ticks 12.0 x1000 then 11.9 x500; 01:32: 12.1 x700.
    // 600000.SH 01:30: 10.0 x100 then 10.05 x200; 01:31: 10.02 x300 then 10.1 x50.
    assert_eq!(
        out,
        "symbol,ts,open,high,low,close,volume,amount,count\n\
         000001.SZ,2024-01-02T01:30:00Z,12.0,12.0,11.9,11.9,1500,17950.0,2\n\
         000001.SZ,2024-01-02T01:32:00Z,12.1,12.1,12.1,12.1,700,8470.0,1\n\
         600000.SH,2024-01-02T01:30:00Z,10.0,10.05,10.0,10.05,300,3010.0,2\n\
         600000.SH,2024-01-02T01:31:00Z,10.02,10.1,10.02,10.1,350,3511.0,2\n"
    );
    let out = env.ok(&[
        "--format",
        "csv",
        "kline",
        "tick_data",
        "--interval",
        "5m",
        "--symbol",
        "600000.SH",
    ]);
    assert_eq!(
        out,
        "symbol,ts,open,high,low,close,volume,amount,count\n\
         600000.SH,2024-01-02T01:30:00Z,10.0,10.1,10.0,10.1,650,6521.0,4\n"
    );
}

// ---------------------------------------------------------------------------------------------------------
// delete
// ---------------------------------------------------------------------------------------------------------

#[test]
fn delete_needs_a_filter_or_all() {
    let env = env_with_ticks();
    let err = env.fails(&["delete", "tick_data"]);
    assert!(err.contains("tick_data"), "{err}");
    assert!(err.contains("--all"), "{err}");
    assert_eq!(
        load_csv(&env, "tick_data", &[]),
        csv(TICK_HEADER, &TICK_ROWS),
        "nothing deleted"
    );
    let err = env.fails(&["delete", "tick_data", "--all", "--symbol", "600000.SH"]);
    assert!(err.contains("--all"), "{err}");

    let out = env.ok(&[
        "delete",
        "tick_data",
        "--symbol",
        "000001.SZ",
        "--start",
        "2024-01-02 01:30:30",
    ]);
    assert_eq!(out.trim_end(), "deleted 2 rows from tick_data");
    assert_eq!(
        load_csv(&env, "tick_data", &[]),
        csv(TICK_HEADER, &[&TICK_ROWS[..1], &TICK_ROWS[3..]].concat())
    );

    let out = env.ok(&["delete", "tick_data", "--all"]);
    assert_eq!(out.trim_end(), "deleted 5 rows from tick_data");
    let table = env.ok(&["load", "tick_data"]);
    assert_eq!(table.trim_end(), "0 rows");
}

// ---------------------------------------------------------------------------------------------------------
// errors: one line on stderr, exit code 1
// ---------------------------------------------------------------------------------------------------------

#[test]
fn bad_queries_fail_with_one_line() {
    let env = env_with_ticks();
    let err = env.fails(&["load", "no_such_class"]);
    assert!(err.contains("no_such_class"), "{err}");

    let err = env.fails(&["load", "tick_data", "--where", "nope = 1"]);
    assert!(err.contains("column nope"), "{err}");
    assert!(err.contains("tick_data"), "{err}");

    let err = env.fails(&["load", "tick_data", "--where", "price ~ 3"]);
    assert!(err.contains("--where 'price ~ 3'"), "{err}");

    let err = env.fails(&["load", "tick_data", "--where", "price > ten"]);
    assert!(err.contains("column price"), "{err}");

    let err = env.fails(&["load", "tick_data", "--start", "yesterday"]);
    assert!(err.contains("--start"), "{err}");
    assert!(err.contains("yesterday"), "{err}");

    let err = env.fails(&["kline", "tick_data", "--interval", "7x"]);
    assert!(err.contains("7x"), "{err}");

    let err = env.fails(&["latest", "symbols", "--limit", "1"]);
    assert!(err.contains("symbols"), "{err}");
}

#[test]
fn config_errors_fail_with_one_line() {
    let env = Env::new();
    let missing = env.path("missing.yaml");
    let run: common::Run = std::process::Command::new(env!("CARGO_BIN_EXE_quantdal"))
        .arg("--config")
        .arg(&missing)
        .arg("classes")
        .current_dir(env.dir.path())
        .env_remove("QUANTDAL_CONFIG")
        .output()
        .unwrap()
        .into();
    common::assert_one_line_error(&run, "missing config");
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );

    // A misspelt top-level key on line 3.
    let text = std::fs::read_to_string(&env.config).unwrap();
    let typo = text.replacen("stores:", "storse:", 1);
    assert_eq!(typo.lines().nth(2), Some("storse:"));
    std::fs::write(&env.config, typo).unwrap();
    let err = env.fails(&["classes"]);
    assert!(err.contains(&env.config.display().to_string()), "{err}");
    assert!(err.contains("storse"), "{err}");
    assert!(err.contains("line 3"), "{err}");

    // A YAML syntax error (an unclosed flow mapping) on line 4.
    std::fs::write(
        &env.config,
        text.replacen(
            "{ kind: duckdb, path: q.duckdb }",
            "{ kind: duckdb, path: q.duckdb",
            1,
        ),
    )
    .unwrap();
    let err = env.fails(&["classes"]);
    assert!(err.contains(&env.config.display().to_string()), "{err}");
    assert!(err.contains("line "), "{err}");

    // A misspelt key in the table config the settings name: the error names that file and the line.
    let tables = env.path("tables.yaml");
    let shipped = std::fs::read_to_string(common::table_config()).unwrap();
    let line = shipped
        .lines()
        .position(|l| l.trim_start().starts_with("- name: minute_kline"))
        .unwrap();
    let mut lines: Vec<&str> = shipped.lines().collect();
    let misspelt = lines[line + 1].replacen("category:", "categroy:", 1);
    lines[line + 1] = &misspelt;
    std::fs::write(&tables, lines.join("\n")).unwrap();
    std::fs::write(
        &env.config,
        text.replacen(
            &serde_json::to_string(&common::table_config().display().to_string()).unwrap(),
            "tables.yaml",
            1,
        ),
    )
    .unwrap();
    let err = env.fails(&["classes"]);
    assert!(err.contains(&tables.display().to_string()), "{err}");
    assert!(err.contains("categroy"), "{err}");
    assert!(err.contains(&format!("line {}", line + 2)), "{err}");
}

#[test]
fn importing_a_bad_value_names_the_class_column_and_row() {
    let env = Env::new();
    env.ok(&["provision"]);

    // A price that is not a number, on the third data row.
    let mut lines: Vec<String> = TICKS_CSV.lines().map(String::from).collect();
    lines[3] = lines[3].replacen(",10.05,", ",ten,", 1);
    let file = env.path("bad_price.csv");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err = env.fails(&[
        "import",
        "tick_data",
        file.to_str().unwrap(),
        "--time-format",
        "%Y-%m-%d %H:%M:%S",
    ]);
    // Rows count from 0 after the header, as in validation errors.
    assert!(
        err.contains("class tick_data, column price, row 2)"),
        "{err}"
    );
    assert!(err.contains("'ten'"), "{err}");

    // A timestamp that does not match --time-format, on the second data row.
    let mut lines: Vec<String> = TICKS_CSV.lines().map(String::from).collect();
    lines[2] = lines[2].replacen("2024-01-02 01:30:05", "2024-01-02T01:30:05", 1);
    let file = env.path("bad_ts.csv");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err = env.fails(&[
        "import",
        "tick_data",
        file.to_str().unwrap(),
        "--time-format",
        "%Y-%m-%d %H:%M:%S",
    ]);
    assert!(err.contains("class tick_data, column ts, row 1)"), "{err}");
    assert!(err.contains("2024-01-02T01:30:05"), "{err}");

    // A record with a field too few, on the fourth data row.
    let mut lines: Vec<String> = TICKS_CSV.lines().map(String::from).collect();
    lines[4] = lines[4].replacen(",B", "", 1);
    let file = env.path("short_row.csv");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err = env.fails(&[
        "import",
        "tick_data",
        file.to_str().unwrap(),
        "--time-format",
        "%Y-%m-%d %H:%M:%S",
    ]);
    assert!(err.contains("class tick_data, row 3)"), "{err}");

    // A header naming an undeclared column.
    let file = env.path("bad_header.csv");
    std::fs::write(&file, TICKS_CSV.replacen("bid_price1", "bid_px", 1)).unwrap();
    let err = env.fails(&["import", "tick_data", file.to_str().unwrap()]);
    assert!(err.contains("column bid_px"), "{err}");

    // Nothing was saved by the failed imports.
    assert_eq!(env.ok(&["load", "tick_data"]).trim_end(), "0 rows");
}

/// The demo's calls are in the monitoring store once the command exits (the CLI closes the `Dal`), and
/// every terminal view reads them.
#[test]
fn monitor_views_read_what_commands_recorded() {
    let env = Env::new();
    env.ok(&["demo", "--symbols", "5"]);
    assert!(env.path("quantdal-monitor.db").exists());

    let ops: serde_json::Value =
        serde_json::from_str(&env.ok(&["monitor", "ops", "--format", "json", "--limit", "1000"]))
            .unwrap();
    let ops = ops.as_array().unwrap();
    assert!(ops
        .iter()
        .any(|o| o["operation"] == "save" && o["class"] == "tick_data"));
    assert!(ops
        .iter()
        .all(|o| o["status"] == "ok" || o["status"] == "partial"));

    let table = env.ok(&["monitor", "ops", "--class", "daily_kline"]);
    assert!(
        table.contains("daily_kline") && !table.contains("tick_data"),
        "{table}"
    );

    let quality: serde_json::Value =
        serde_json::from_str(&env.ok(&["monitor", "quality", "--format", "json"])).unwrap();
    assert!(quality
        .as_array()
        .unwrap()
        .iter()
        .any(|q| q["class"] == "tick_data" && q["check"] == "validity" && q["status"] == "pass"));
    env.ok(&["monitor", "slow", "--since", "1d"]);
    let pruned = env.ok(&["monitor", "prune"]);
    assert!(pruned.starts_with("pruned operations 0"), "{pruned}");

    // A read is one more operations row, from a read-only open.
    env.ok(&["load", "symbols", "--limit", "1"]);
    let after: serde_json::Value = serde_json::from_str(&env.ok(&[
        "monitor", "ops", "--format", "json", "--class", "symbols", "--limit", "1000",
    ]))
    .unwrap();
    assert!(after
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["operation"] == "load"));

    let err = env.fails(&["monitor", "ops", "--since", "yesterday"]);
    assert!(err.contains("--since"), "{err}");
}

/// `check` records freshness / completeness / consistency results and exits 1 on a failure; the failures
/// raise alerts, which `alerts ack` and `alerts resolve` move along.
#[test]
fn check_and_alerts() {
    let env = Env::new();
    env.ok(&["demo", "--symbols", "3"]);
    let run = env.run(&["check", "--format", "json"]);
    let results: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let results = results.as_array().unwrap();
    let checks: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["class"].as_str().unwrap(), r["check"].as_str().unwrap()))
        .collect();
    for expected in [
        ("tick_data", "freshness"),
        ("minute_kline", "completeness"),
        ("daily_kline", "consistency"),
    ] {
        assert!(checks.contains(&expected), "{checks:?}");
    }
    // The demo's data is from 2024: stale by any clock this runs under.
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let fresh = results
        .iter()
        .find(|r| r["class"] == "tick_data" && r["check"] == "freshness")
        .unwrap();
    assert_eq!(fresh["status"], "fail");

    let only: serde_json::Value = serde_json::from_str(
        &env.run(&["check", "daily_kline", "--format", "json"])
            .stdout,
    )
    .unwrap();
    assert!(only
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["class"] == "daily_kline"));

    let alerts: serde_json::Value =
        serde_json::from_str(&env.ok(&["alerts", "list", "--format", "json"])).unwrap();
    let alert = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["dedup_key"] == "quality:tick_data:freshness")
        .unwrap()
        .clone();
    // Two check runs, one alert row.
    assert_eq!(alert["occurrences"], 1);
    env.run(&["check", "tick_data"]);
    let id = alert["id"].as_i64().unwrap().to_string();
    let again: serde_json::Value =
        serde_json::from_str(&env.ok(&["alerts", "--format", "json"])).unwrap();
    let again = again
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == alert["id"])
        .unwrap()
        .clone();
    assert_eq!(again["occurrences"], 2);

    assert!(env.ok(&["alerts", "ack", &id]).contains("acknowledged"));
    assert!(env.ok(&["alerts", "resolve", &id]).contains("resolved"));
    let open = env.ok(&["monitor", "alerts", "--format", "json"]);
    assert!(!open.contains("quality:tick_data:freshness"), "{open}");
    let err = env.fails(&["alerts", "ack", "999999"]);
    assert!(err.contains("999999"), "{err}");
}

/// Two real processes on the embedded monitoring store: `monitor ops` reads while `demo` writes through
/// the library, and never fails for it.
#[test]
fn monitor_reads_while_another_process_writes() {
    let env = Env::new();
    env.ok(&["demo", "--symbols", "2"]);
    let mut writer = env.spawn(&["demo", "--symbols", "50"]);
    let mut reads = 0;
    while writer.try_wait().unwrap().is_none() {
        let run = env.run(&["monitor", "ops", "--format", "json", "--limit", "5"]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        reads += 1;
    }
    assert!(writer.wait().unwrap().success());
    assert!(reads > 0);
    let ops: serde_json::Value =
        serde_json::from_str(&env.ok(&["monitor", "ops", "--format", "json", "--limit", "100000"]))
            .unwrap();
    let pids: std::collections::HashSet<_> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["pid"].clone())
        .collect();
    assert!(pids.len() >= 2, "both demo processes recorded: {pids:?}");
}

// ---------------------------------------------------------------------------------------------------------
// point in time
// ---------------------------------------------------------------------------------------------------------

/// A versioned class from the command line: `--as-of` on load / latest / kline (time and information bars),
/// `history`, and `--as-of` refused on a delete.
#[test]
fn as_of_and_history_on_a_versioned_class() {
    let env = Env::new();
    std::fs::write(
        env.path("v.yaml"),
        "version: 1\nclasses:\n  - name: vdaily\n    category: market\n    store: embedded\n    \
         time: { column: trade_date }\n    tags: [symbol]\n    versions: true\n    columns:\n      \
         - { name: trade_date, type: DATE }\n      - { name: symbol, type: VARCHAR(16) }\n      \
         - { name: close, type: DOUBLE, nullable: false }\n      - { name: volume, type: BIGINT, nullable: false }\n    \
         kline: { open: close, high: close, low: close, close: close, volume: volume }\n",
    )
    .unwrap();
    std::fs::write(
        &env.config,
        "version: 1\ntables: v.yaml\nstores:\n  embedded: { kind: duckdb, path: q.duckdb }\n",
    )
    .unwrap();
    env.ok(&["provision"]);
    let import = |name: &str, body: &str| {
        let file = env.path(name);
        std::fs::write(&file, format!("trade_date,symbol,close,volume\n{body}")).unwrap();
        env.ok(&["import", "vdaily", &file.display().to_string()]);
    };
    import(
        "first.csv",
        "2024-01-02,600000.SH,10.0,100\n2024-01-03,600000.SH,10.5,200\n",
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    std::thread::sleep(std::time::Duration::from_millis(20));
    import("restated.csv", "2024-01-03,600000.SH,10.25,200\n");

    let closes = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["--format", "csv", "load", "vdaily", "--columns", "close"];
        args.extend_from_slice(extra);
        env.ok(&args).lines().skip(1).map(String::from).collect()
    };
    assert_eq!(closes(&[]), ["10.0", "10.25"]);
    assert_eq!(closes(&["--as-of", &between]), ["10.0", "10.5"]);
    let latest = env.ok(&[
        "--format",
        "csv",
        "latest",
        "vdaily",
        "--columns",
        "close",
        "--as-of",
        &between,
    ]);
    assert_eq!(latest.lines().nth(1), Some("10.5"), "{latest}");
    let bars = env.ok(&[
        "--format",
        "csv",
        "kline",
        "vdaily",
        "--interval",
        "ticks:2",
        "--as-of",
        &between,
    ]);
    assert!(
        bars.lines()
            .next()
            .unwrap_or_default()
            .ends_with("count,first_time,last_time"),
        "{bars}"
    );
    assert!(
        bars.lines()
            .nth(1)
            .unwrap_or_default()
            .contains(",10.0,10.5,10.0,10.5,300,"),
        "{bars}"
    );
    let history = env.ok(&[
        "--format",
        "csv",
        "history",
        "vdaily",
        "--where",
        "trade_date = 2024-01-03",
        "--columns",
        "close",
    ]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines[0], "close,_known_at,_deleted", "{history}");
    assert_eq!(lines.len(), 3, "{history}");
    assert!(
        lines[1].starts_with("10.5,") && lines[1].ends_with(",false"),
        "{history}"
    );
    assert!(
        lines[2].starts_with("10.25,") && lines[2].ends_with(",false"),
        "{history}"
    );
    let err = env.fails(&[
        "delete",
        "vdaily",
        "--symbol",
        "600000.SH",
        "--as-of",
        &between,
    ]);
    assert!(err.contains("as_of does not apply"), "{err}");
}
