//! `quantdal copy CLASS --to STORE`: the verified, resumable copy of `quantdal::copy`, with a progress bar
//! and the route switch printed (or applied with `--switch` once the copy is verified).

use std::io::IsTerminal;
use std::sync::Arc;

use quantdal::copy::{copy_class, route_switch, CopyOptions, CopyReport};
use quantdal::{Config, Load, Result};

use crate::args::Format;
use crate::output::print_json;

pub struct CopyArgs {
    pub class: String,
    pub to: String,
    pub from: Option<String>,
    pub load: Load,
    pub switch: bool,
    pub full: bool,
    pub chunk_rows: usize,
}

/// Runs the copy; `Ok(false)` when the verification found differences (exit status 1).
pub async fn run(config: Config, args: CopyArgs, format: Format) -> Result<bool> {
    let bar = crate::io::progress(std::io::stderr().is_terminal(), 0, "copying");
    let shown = bar.clone();
    let options = CopyOptions {
        from: args.from.clone(),
        load: args.load.clone(),
        chunk_rows: args.chunk_rows,
        full: args.full,
        progress: Some(Arc::new(move |done, total| {
            shown.set_length(total);
            shown.set_position(done);
        })),
    };
    let outcome = copy_class(&config, &args.class, &args.to, options).await;
    bar.finish_and_clear();
    let mut report = outcome?;
    if args.switch && report.verified() {
        report.switch = route_switch(&config, &args.class, &args.to, true)?;
    }
    if format == Format::Json {
        print_json(&report)?;
    } else {
        print_text(&report, args.switch);
    }
    Ok(report.verified())
}

fn print_text(r: &CopyReport, switch_asked: bool) {
    println!(
        "copied {} rows of {} from `{}` to `{}` in {:.2}s ({} series, {} already complete)",
        r.rows_copied, r.class, r.from, r.to, r.seconds, r.series, r.series_skipped
    );
    if !r.verified() {
        println!(
            "MISMATCH: `{}` holds {} rows (checksum {}), `{}` holds {} (checksum {}):",
            r.from, r.rows_source, r.checksum_source, r.to, r.rows_target, r.checksum_target
        );
        for m in &r.mismatches {
            println!("  {m}");
        }
        println!(
            "the route was not switched; `--full` copies every series again (saves are upserts; rows that \
             exist only on `{}` must be deleted there)",
            r.to
        );
        return;
    }
    println!(
        "verified: {} rows on both sides, checksum {}",
        r.rows_source, r.checksum_source
    );
    let place = match (&r.switch.file, r.switch.line) {
        (Some(f), Some(l)) => format!("{f}:{l}"),
        (Some(f), None) => f.clone(),
        (None, _) => "a quantdal.yaml of your own (the built-in configuration is in use)".into(),
    };
    if r.switch.applied {
        println!("switched: {place} now reads `{}`", r.switch.new.trim());
    } else if switch_asked {
        println!("not switched");
    } else {
        let old = r
            .switch
            .old
            .as_deref()
            .map(|o| format!(" (now `{}`)", o.trim()))
            .unwrap_or_default();
        println!(
            "to route {} to `{}`, write `{}` under routes: in {place}{old}, or re-run with --switch",
            r.class,
            r.to,
            r.switch.new.trim()
        );
    }
}
