//! The web dashboard in a real headless Chromium: the demo fills the stores and the monitoring store,
//! `quantdal serve` serves them, and the rendered DOM must show every chart with data, every table with
//! rows, the coverage grid with its gaps and stale series, quality results in words, and the data explorer
//! running, refusing and timing out statements. A screenshot is kept for the docs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::Env;

const CHROMIUM: &str = "/usr/bin/chromium";

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// False (and the test returns) when Chromium is missing, unless services are required.
fn have_chromium() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var("QUANTDAL_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{CHROMIUM} is missing and QUANTDAL_REQUIRE_SERVICES=1 (apt-get install -y chromium)"
    );
    eprintln!("skipping: {CHROMIUM} is missing (apt-get install -y chromium)");
    false
}

fn chromium(args: &[&str]) -> String {
    let out = std::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=10000",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{CHROMIUM}: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `quantdal serve` on a free port, with scheduled checks off.
fn serve(env: &Env) -> Server {
    let mut child = env
        .command(&["serve", "--addr", "127.0.0.1:0", "--check-every", "off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    Server { child, url }
}

/// Appends YAML to the env's quantdal.yaml.
fn configure(env: &Env, yaml: &str) {
    let mut text = std::fs::read_to_string(&env.config).unwrap();
    text.push_str(yaml);
    std::fs::write(&env.config, text).unwrap();
}

/// Values of `attr="…"` in order of appearance.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!(" {attr}=\"");
    html.match_indices(&key)
        .filter_map(|(i, _)| {
            let rest = &html[i + key.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// The value of `attr` on the element that has `id="…"`.
fn attr_of<'a>(html: &'a str, id: &str, attr: &str) -> Option<&'a str> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let tag_start = html[..start].rfind('<')?;
    let tag_end = start + html[start..].find('>')?;
    attr_values(&html[tag_start..tag_end], attr)
        .first()
        .copied()
}

/// The markup from `id="…"` to the end of its section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id} in\n{html}"));
    let end = html[start..]
        .find("</section>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// Text of the elements between `<open…>` and `</close>` in `html`.
fn texts<'a>(html: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    html.match_indices(open)
        .filter_map(|(i, _)| {
            let rest = &html[i..];
            let body = rest.find('>')? + 1;
            let end = rest.find(close)?;
            (body <= end).then(|| &rest[body..end])
        })
        .collect()
}

/// A URL query value: everything but unreserved characters as %XX of its UTF-8 bytes.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn screenshot_path(env: &Env, name: &str) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => Path::new(&dir).join(name),
        None => env.path(name),
    }
}

/// The newest `n` trade dates of one symbol's daily bars, newest first.
fn newest_days(env: &Env, symbol: &str, n: usize) -> Vec<String> {
    let out = env.ok(&[
        "--format",
        "json",
        "load",
        "daily_kline",
        "--symbol",
        symbol,
        "--columns",
        "trade_date",
        "--desc",
        "--limit",
        &n.to_string(),
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(out.trim()).unwrap();
    rows.iter()
        .map(|r| r["trade_date"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dashboard_renders_in_chromium() {
    if !have_chromium() {
        return;
    }
    let env = Env::new();
    // Every operation past warn_ms = 0 gets a slow_queries row, so the slow-statements table has rows.
    configure(&env, "monitoring: { warn_ms: 0, slow_ms: 60000 }\n");
    env.ok(&["demo", "--symbols", "10"]);
    // A stale series and a gap in the daily bars, for the coverage view: the first symbol loses its
    // newest 3 days, the second one day in the middle of the shown window.
    let symbols: Vec<String> = {
        let out = env.ok(&[
            "--format",
            "json",
            "latest",
            "daily_kline",
            "--columns",
            "symbol",
        ]);
        let rows: Vec<serde_json::Value> = serde_json::from_str(out.trim()).unwrap();
        rows.iter()
            .map(|r| r["symbol"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(symbols.len(), 10, "{symbols:?}");
    let stale = &symbols[0];
    let days = newest_days(&env, stale, 3);
    env.ok(&[
        "delete",
        "daily_kline",
        "--symbol",
        stale,
        "--start",
        &days[2],
    ]);
    let gappy = &symbols[1];
    let days = newest_days(&env, gappy, 6);
    env.ok(&[
        "delete",
        "daily_kline",
        "--symbol",
        gappy,
        "--start",
        &days[5],
        "--end",
        &days[4],
    ]);
    // Quality status and alerts from the on-demand checks (the demo's 2024 data is stale).
    env.run(&["check"]);

    let server = serve(&env);
    // `?coverage=` picks the class of the coverage grid (else the one with the most series-days).
    let url = format!("{}?coverage=daily_kline", server.url);
    let dom = chromium(&["--dump-dom", &url]);
    assert!(
        dom.contains("data-loaded=\"true\""),
        "page never loaded its data:\n{dom}"
    );
    let points = attr_values(&dom, "data-points");
    assert!(points.len() >= 2, "charts: {points:?}");
    for p in &points {
        assert!(
            p.parse::<u64>().unwrap() > 0,
            "a chart without data: {points:?}"
        );
    }
    let rows = attr_values(&dom, "data-rows");
    assert!(rows.len() >= 4, "tables: {rows:?}");
    for r in &rows {
        assert!(
            r.parse::<u64>().unwrap() > 0,
            "a table without rows: {rows:?}"
        );
    }

    // Operations per minute is a time series over the window: an hour of one-minute buckets with time
    // labels across it, not one bar.
    let ops = section(&dom, "ops");
    assert_eq!(
        attr_values(ops, "data-buckets").first(),
        Some(&"60"),
        "{ops}"
    );
    let ticks = attr_values(ops, "data-tick");
    assert!(ticks.len() >= 10, "time ticks on both charts: {ticks:?}");
    let labels = texts(ops, "<text", "</text>");
    assert!(
        labels
            .iter()
            .filter(|l| l.len() == 5 && l.as_bytes()[2] == b':')
            .count()
            >= 5,
        "HH:MM labels: {labels:?}"
    );

    // Coverage of the daily bars: a cell per series and day, the gap and the stale series marked.
    let coverage = section(&dom, "coverage-section");
    assert_eq!(
        attr_values(coverage, "data-class").first(),
        Some(&"daily_kline")
    );
    let cells: usize = attr_values(coverage, "data-cells")[0].parse().unwrap();
    assert_eq!(cells, 10 * 20, "{coverage}");
    assert_eq!(coverage.matches("class=\"cell ").count(), cells);
    assert_eq!(attr_values(coverage, "data-gaps"), ["1"], "{coverage}");
    assert_eq!(attr_values(coverage, "data-stale"), ["1"], "{coverage}");
    assert_eq!(coverage.matches("class=\"cell gap\"").count(), 1);
    assert_eq!(coverage.matches("class=\"cell stale\"").count(), 3);
    assert!(coverage.contains("3 days behind"), "{coverage}");

    // Quality results in words and numbers, never the stored JSON.
    let quality = section(&dom, "quality");
    assert!(
        !quality.contains("{\"") && !quality.contains("{&quot;"),
        "raw JSON in the quality table:\n{quality}"
    );
    assert!(
        quality.contains("trading days stale, 10 of 10 series"),
        "freshness in words:\n{quality}"
    );
    assert!(
        quality.contains("trading days behind"),
        "stalest series listed:\n{quality}"
    );

    // Slow statements folded to their first 80 characters; the whole text one click away.
    let slow = section(&dom, "slow");
    let folded = texts(slow, "<summary", "</summary>");
    assert!(!folded.is_empty(), "{slow}");
    for s in &folded {
        let shown = s.replace("<code>", "").replace("</code>", "");
        assert!(shown.chars().count() <= 90, "not folded: {shown}");
    }

    let png = screenshot_path(&env, "quantdal-dashboard.png");
    chromium(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1400,1700",
        "--hide-scrollbars",
        &url,
    ]);
    assert!(std::fs::metadata(&png)
        .map(|m| m.len() > 10_000)
        .unwrap_or(false));
    println!("dashboard screenshot: {}", png.display());

    // The JSON and Prometheus endpoints behind the page answer too.
    let metrics = chromium(&["--dump-dom", &format!("{}metrics", server.url)]);
    assert!(metrics.contains("quantdal_operations_total"), "{metrics}");
    assert!(
        metrics.contains("quantdal_operation_duration_seconds_bucket"),
        "{metrics}"
    );
    let quality_json = chromium(&["--dump-dom", &format!("{}api/quality", server.url)]);
    assert!(quality_json.contains("\"summary\":"), "{quality_json}");
    drop(server);
}

/// Runs `sql` in the explorer (given in the address, as a shared link is) and returns the DOM once the
/// explorer has an outcome.
fn explore(server: &Server, sql: &str) -> String {
    let url = format!("{}?sql={}#explorer", server.url, url_encode(sql));
    let dom = chromium(&["--dump-dom", &url]);
    let outcome = attr_of(&dom, "explorer", "data-explorer");
    assert!(
        matches!(outcome, Some("ok" | "refused" | "timeout" | "error")),
        "{sql}: no outcome ({outcome:?}):\n{dom}"
    );
    dom
}

fn outcome(dom: &str) -> &str {
    attr_of(dom, "explorer", "data-explorer").unwrap()
}

/// The first cell of the explorer's result.
fn first_cell(dom: &str) -> String {
    let result = section(dom, "result");
    texts(result, "<td", "</td>")
        .first()
        .unwrap_or_else(|| panic!("no cells:\n{result}"))
        .to_string()
}

#[test]
fn data_explorer_in_chromium() {
    if !have_chromium() {
        return;
    }
    let env = Env::new();
    // A short statement timeout, so a runaway join is cancelled while the test waits.
    configure(&env, "sql: { timeout_ms: 200 }\n");
    let demo = env.ok(&["demo", "--symbols", "10"]);
    let held: u64 = demo
        .lines()
        .find_map(|l| l.strip_prefix("tick_data holds "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tick count in the demo output:\n{demo}"));
    assert!(held > 10_000, "{held}");
    let server = serve(&env);

    // A SELECT over a class: rows, the summary and the statement as the store received it.
    let dom = explore(
        &server,
        "SELECT symbol, count(*) AS ticks, min(price) AS low FROM tick_data GROUP BY symbol ORDER BY symbol",
    );
    assert_eq!(outcome(&dom), "ok", "{dom}");
    assert_eq!(
        attr_of(&dom, "explorer", "data-explorer-rows"),
        Some("10"),
        "{dom}"
    );
    let result = section(&dom, "result");
    assert!(result.contains(".SH") || result.contains(".SZ"), "{result}");
    assert!(result.contains("<small>Int64</small>"), "{result}");
    let sent = texts(&dom, "<code id=\"sent\"", "</code>");
    assert!(
        sent.first().is_some_and(|s| s.contains("LIMIT")),
        "the statement as sent: {sent:?}"
    );
    assert!(dom.contains("10 rows in "), "summary:\n{dom}");

    let count = "SELECT count(*) AS n FROM tick_data";
    let before = explore(&server, count);
    assert_eq!(outcome(&before), "ok", "{before}");
    assert_eq!(first_cell(&before), held.to_string());

    // A write is refused before any store sees it, says so, and deletes nothing.
    let dom = explore(&server, "DELETE FROM tick_data");
    assert_eq!(outcome(&dom), "refused", "{dom}");
    let status = section(&dom, "explorer-status");
    assert!(status.contains("Refused: nothing was run"), "{status}");
    assert!(status.contains("only SELECT"), "{status}");
    let after = explore(&server, count);
    assert_eq!(first_cell(&after), held.to_string(), "rows were deleted");

    // A statement past sql.timeout_ms is cancelled and shown as a timeout.
    let dom = explore(
        &server,
        "SELECT count(*) FROM tick_data a, tick_data b, tick_data c WHERE a.price + b.price + c.price > 0",
    );
    assert_eq!(outcome(&dom), "timeout", "{dom}");
    let status = section(&dom, "explorer-status");
    assert!(status.contains("Timed out"), "{status}");
    assert!(status.contains("200 ms"), "{status}");

    // An unknown table is an error naming the known classes, not a crash of the page.
    let dom = explore(&server, "SELECT * FROM no_such_class");
    assert_ne!(outcome(&dom), "ok", "{dom}");
    assert!(
        section(&dom, "explorer-status").contains("tick_data"),
        "{dom}"
    );

    let png = screenshot_path(&env, "quantdal-explorer.png");
    let url = format!(
        "{}?sql={}#explorer",
        server.url,
        url_encode("SELECT symbol, count(*) AS ticks, min(price) AS low, max(price) AS high FROM tick_data GROUP BY symbol ORDER BY symbol")
    );
    chromium(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1400,900",
        "--hide-scrollbars",
        &url,
    ]);
    println!("explorer screenshot: {}", png.display());
    drop(server);
}
