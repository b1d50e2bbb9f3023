//! One process per embedded file: while one `quantdal` holds the file read-write, another fails at once with
//! a one-line `Locked` message; with no writer, several read-only commands share the file.

mod common;

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use common::{assert_one_line_error, Env, Run};

/// Waits for `child`, killing it (and failing) if it runs longer than `limit`: a guard against a hang, not a
/// timing assertion.
fn wait_at_most(mut child: Child, limit: Duration, what: &str) -> Run {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let out = child.wait_with_output().ok();
                panic!("{what} still running after {limit:?}: {out:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("{what}: {e}"),
        }
    }
    let out: Output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    out.into()
}

#[test]
fn a_second_process_fails_fast_while_a_writer_holds_the_file() {
    let env = Env::new();
    let mut writer = env.spawn(&["demo", "--symbols", "300", "--days", "3"]);

    // The writer opens (creating) the file first, then provisions, generates and saves for several seconds.
    let started = Instant::now();
    while !env.db().exists() {
        if let Ok(Some(status)) = writer.try_wait() {
            panic!(
                "the demo exited ({status}) before creating {}",
                env.db().display()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the demo did not create {} within 120s",
            env.db().display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));

    let reader = env.spawn(&["load", "tick_data", "--limit", "1"]);
    let run = wait_at_most(reader, Duration::from_secs(60), "the second process");
    let writer_still_running = matches!(writer.try_wait(), Ok(None));
    assert!(
        writer_still_running,
        "the demo finished before the second process ran, so the lock was not exercised; \
         second process: {run:?}"
    );
    assert_one_line_error(&run, "load while the demo writes");
    assert!(
        run.stderr.contains("open in another process"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&env.db().display().to_string()),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let demo = wait_at_most(writer, Duration::from_secs(900), "the demo");
    assert_eq!(
        demo.code,
        Some(0),
        "demo failed\nstdout:\n{}\nstderr:\n{}",
        demo.stdout,
        demo.stderr
    );

    // With no writer left, read-only commands run side by side.
    let readers: Vec<Child> = (0..2)
        .map(|_| env.spawn(&["--format", "csv", "load", "tick_data", "--limit", "1"]))
        .collect();
    for (i, reader) in readers.into_iter().enumerate() {
        let run = wait_at_most(reader, Duration::from_secs(120), "a concurrent reader");
        assert_eq!(run.code, Some(0), "reader {i}: {run:?}");
        assert_eq!(run.stdout.lines().count(), 2, "reader {i}: {}", run.stdout);
        assert!(run.stdout.starts_with("ts,symbol,price,"), "{}", run.stdout);
    }
}
