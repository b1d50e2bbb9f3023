//! Running the `quantdal` binary in a temporary folder with its own `quantdal.yaml`: every class of the
//! shipped `config/table_config.yaml` routed to one embedded DuckDB file `q.duckdb` in that folder.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use tempfile::TempDir;

/// The shipped table config, as an absolute path.
pub fn table_config() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/table_config.yaml");
    path.canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub struct Env {
    pub dir: TempDir,
    pub config: PathBuf,
}

impl Env {
    /// A fresh folder holding `quantdal.yaml` (and nothing else until a command creates the store).
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        // A JSON string is a valid YAML double-quoted scalar, whatever the path holds.
        let tables = serde_json::to_string(&table_config().display().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let yaml = format!(
            "version: 1\n\
             tables: {tables}\n\
             stores:\n  embedded: {{ kind: duckdb, path: q.duckdb }}\n\
             routes:\n  tdengine: embedded\n  postgres: embedded\n  redis: embedded\n"
        );
        let config = dir.path().join("quantdal.yaml");
        std::fs::write(&config, yaml).unwrap_or_else(|e| panic!("{}: {e}", config.display()));
        Env { dir, config }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The embedded DuckDB file the config names.
    pub fn db(&self) -> PathBuf {
        self.path("q.duckdb")
    }

    /// `quantdal --config <this env> <args>`, run in the env's folder.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_quantdal"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("QUANTDAL_CONFIG")
            .env_remove("QUANTDAL_LOG")
            // A panic would print a backtrace: the error checks below would see it.
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("running quantdal {args:?}: {e}"))
            .into()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning quantdal {args:?}: {e}"))
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code,
            Some(0),
            "quantdal {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
        run.stdout
    }

    /// Runs a command that must fail with exit code 1 and one line on stderr; returns that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_one_line_error(&run, &format!("quantdal {args:?}"));
        run.stderr.trim_end().to_string()
    }
}

/// Exit code 1, exactly one line on stderr, no panic and no backtrace.
pub fn assert_one_line_error(run: &Run, what: &str) {
    assert_eq!(
        run.code,
        Some(1),
        "{what}: expected exit code 1\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    let stderr = run.stderr.trim_end();
    assert_eq!(
        stderr.lines().count(),
        1,
        "{what}: expected one line on stderr, got:\n{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{what}: {stderr}");
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(bad), "{what}: {stderr}");
    }
}
