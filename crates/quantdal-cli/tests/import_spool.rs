//! Imports are all or nothing, provision what they need on the embedded default, and complete into the
//! spool when the store is down (then `quantdal spool replay` delivers them).

mod common;

use common::Env;

/// `n` ticks as CSV, the price of data row `bad` (counted from 0) not a number.
fn ticks_csv(n: usize, bad: Option<usize>) -> String {
    let mut out = String::from(
        "ts,symbol,price,volume,amount,bid_price1,bid_volume1,ask_price1,ask_volume1\n",
    );
    for i in 0..n {
        let price = if Some(i) == bad {
            "1O.5".to_string()
        } else {
            format!("{:.2}", 10.0 + (i % 100) as f64 / 100.0)
        };
        out.push_str(&format!(
            "2024-01-02 01:{:02}:{:02}.{:03},{},{price},100,1000.0,9.99,10,10.01,10\n",
            30 + (i / 60_000) % 30,
            (i / 1000) % 60,
            i % 1000,
            ["600000.SH", "000001.SZ"][i % 2]
        ));
    }
    out
}

fn import(env: &Env, file: &str, extra: &[&str]) -> common::Run {
    let path = env.path(file);
    let path = path.to_string_lossy();
    let mut args = vec![
        "import",
        "tick_data",
        &path,
        "--time-format",
        "%Y-%m-%d %H:%M:%S%.f",
        "--chunk-rows",
        "10000",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

/// A bad value in the last chunk: nothing of the file is written, and the error names file, column, row.
#[test]
fn a_bad_value_anywhere_writes_nothing() {
    let env = Env::new();
    std::fs::write(env.path("ticks.csv"), ticks_csv(60_000, Some(55_000))).unwrap();
    let run = import(&env, "ticks.csv", &[]);
    common::assert_one_line_error(&run, "import of a file with a bad value");
    let err = run.stderr;
    assert!(err.contains("ticks.csv"), "{err}");
    assert!(err.contains("column price"), "{err}");
    assert!(err.contains("row 55000"), "{err}");
    assert!(err.contains("nothing was saved"), "{err}");
    // Not even the table was made: a read says to provision.
    let load = env.run(&["load", "tick_data", "--limit", "1"]);
    assert_ne!(load.code, Some(0), "{}", load.stdout);
    assert!(
        load.stderr.contains("quantdal provision"),
        "{}",
        load.stderr
    );
}

/// Into a fresh folder, never provisioned: the embedded default creates the table on first use.
#[test]
fn import_into_a_fresh_folder_provisions_what_it_needs() {
    let env = Env::new();
    std::fs::write(env.path("ticks.csv"), ticks_csv(25_000, None)).unwrap();
    let run = import(&env, "ticks.csv", &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("imported 25000 rows"), "{}", run.stdout);
    let out = env.ok(&[
        "--format",
        "csv",
        "load",
        "tick_data",
        "--columns",
        "ts",
        "--limit",
        "100000",
    ]);
    assert_eq!(out.lines().count(), 25_001);
}

/// PostgreSQL unreachable for the whole import: it completes into the spool, `spool status` lists it, and
/// once the server is configured `spool replay` delivers every row.
#[test]
fn import_during_an_outage_completes_into_the_spool() {
    let Ok(pg) = std::env::var("QUANTDAL_TEST_PG_URL") else {
        assert!(
            std::env::var("QUANTDAL_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "QUANTDAL_TEST_PG_URL is not set"
        );
        eprintln!("QUANTDAL_TEST_PG_URL is not set: skipping");
        return;
    };
    let env = Env::new();
    let schema = format!("qd_cli_spool_{}", std::process::id());
    let tables = common::table_config();
    let write_config = |url: &str| {
        let yaml = format!(
            "version: 1\ntables: {}\nstores:\n  warehouse:\n    kind: postgres\n    url: \"{url}\"\n    schema: {schema}\n    connect_timeout_ms: 500\n    spool: {{ dir: spool }}\n  embedded: {{ kind: duckdb, path: q.duckdb }}\nroutes:\n  tdengine: warehouse\n  postgres: embedded\n  redis: embedded\nretry:\n  max_attempts: 2\n  initial_backoff_ms: 10\n",
            serde_json::to_string(&tables.display().to_string()).unwrap()
        );
        std::fs::write(&env.config, yaml).unwrap();
    };
    write_config("postgres://postgres@127.0.0.1:1/test");
    std::fs::write(env.path("ticks.csv"), ticks_csv(30_000, None)).unwrap();
    let run = import(&env, "ticks.csv", &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("imported 30000 rows"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("30000 rows (3 chunks) are in the local spool"),
        "{}",
        run.stdout
    );
    let status = env.ok(&["--format", "csv", "spool", "status"]);
    assert!(status.contains("warehouse,tick_data,3,30000,"), "{status}");

    write_config(&pg);
    let run = env.run(&["provision"]);
    assert!(run.code == Some(0) || run.code == Some(1), "{}", run.stderr);
    let replayed = env.run(&["--format", "csv", "spool", "replay"]);
    let count = env.ok(&[
        "--format",
        "csv",
        "load",
        "tick_data",
        "--columns",
        "ts",
        "--limit",
        "100000",
    ]);
    let _ = std::process::Command::new("psql")
        .args([
            &pg,
            "-qc",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .status();
    assert_eq!(
        replayed.code,
        Some(0),
        "{}\n{}",
        replayed.stdout,
        replayed.stderr
    );
    assert_eq!(count.lines().count(), 30_001, "every row, once");
    assert!(
        !replayed.stdout.contains("tick_data"),
        "nothing left: {}",
        replayed.stdout
    );
}
