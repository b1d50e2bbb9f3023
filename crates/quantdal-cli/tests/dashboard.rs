//! The web dashboard in a real headless Chromium: the demo fills the monitoring store, `quantdal serve`
//! serves it, and the rendered DOM must show every chart with data and every table with rows. A
//! screenshot is kept for the docs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::Env;

const CHROMIUM: &str = "/usr/bin/chromium";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromium(args: &[&str]) -> String {
    let out = Command::new(CHROMIUM)
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

/// Values of `attr="…"` in order of appearance.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!("{attr}=\"");
    html.match_indices(&key)
        .filter_map(|(i, _)| {
            let rest = &html[i + key.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

fn screenshot_path(env: &Env) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => Path::new(&dir).join("quantdal-dashboard.png"),
        None => env.path("quantdal-dashboard.png"),
    }
}

#[test]
fn dashboard_renders_in_chromium() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("QUANTDAL_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "{CHROMIUM} is missing and QUANTDAL_REQUIRE_SERVICES=1 (apt-get install -y chromium)"
        );
        eprintln!("skipping: {CHROMIUM} is missing (apt-get install -y chromium)");
        return;
    }
    let env = Env::new();
    // Every operation past warn_ms = 0 gets a slow_queries row, so the slow-statements table has rows.
    let mut yaml = std::fs::read_to_string(&env.config).unwrap();
    yaml.push_str("monitoring: { warn_ms: 0, slow_ms: 60000 }\n");
    std::fs::write(&env.config, yaml).unwrap();
    env.ok(&["demo", "--symbols", "10"]);
    // Quality status and alerts from the on-demand checks (the demo's 2024 data is stale).
    env.run(&["check"]);

    let mut child = env
        .command(&["serve", "--addr", "127.0.0.1:0", "--check-every", "off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();

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
    assert!(rows.len() >= 3, "tables: {rows:?}");
    for r in &rows {
        assert!(
            r.parse::<u64>().unwrap() > 0,
            "a table without rows: {rows:?}"
        );
    }

    let png = screenshot_path(&env);
    chromium(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1400,1000",
        "--hide-scrollbars",
        &url,
    ]);
    assert!(std::fs::metadata(&png)
        .map(|m| m.len() > 10_000)
        .unwrap_or(false));
    println!("dashboard screenshot: {}", png.display());

    // The JSON and Prometheus endpoints behind the page answer too.
    let metrics = chromium(&["--dump-dom", &format!("{url}metrics")]);
    assert!(metrics.contains("quantdal_operations_total"), "{metrics}");
    assert!(
        metrics.contains("quantdal_operation_duration_seconds_bucket"),
        "{metrics}"
    );
    drop(server);
}
