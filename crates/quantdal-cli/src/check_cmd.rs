//! `quantdal check [CLASS]`: the on-demand quality checks, printed and recorded; exit 1 when any fails.

use quantdal::monitor::{format_us, CheckStatus};
use quantdal::{Dal, Error, ErrorKind, Result};

use crate::args::Format;
use crate::output::print_rows;

/// True when a check failed.
pub async fn run(dal: &Dal, class: Option<&str>, format: Format) -> Result<bool> {
    let results = dal.run_checks(class).await?;
    if results.is_empty() {
        eprintln!("no class has freshness, completeness or consistency configured under quality:");
    }
    let failed = results.iter().any(|r| r.status == CheckStatus::Fail);
    if format == Format::Json {
        let text = serde_json::to_string_pretty(
            &serde_json::to_value(&results)
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode JSON: {e}")))?,
        )
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot encode JSON: {e}")))?;
        println!("{text}");
        return Ok(failed);
    }
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                format_us(r.time_us),
                r.class.clone(),
                r.check.clone(),
                r.status.as_str().into(),
                r.bad_rows.to_string(),
                r.rows.to_string(),
                r.measured.clone(),
                r.threshold.clone(),
            ]
        })
        .collect();
    print_rows(
        &[
            "time",
            "class",
            "check",
            "status",
            "bad",
            "of",
            "measured",
            "threshold",
        ],
        &rows,
        format,
    )?;
    Ok(failed)
}
