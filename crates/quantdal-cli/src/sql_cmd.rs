//! `quantdal sql "SELECT …"`: the guarded read-only statement of `Dal::sql`, printed or written to a file.

use std::path::Path;

use futures::StreamExt;
use quantdal::sql::SqlOptions;
use quantdal::{Config, Result};

use crate::args::Format;
use crate::output::print_batches;
use crate::run::{close, open};

pub async fn run(
    config: Config,
    statement: &str,
    max_rows: Option<u64>,
    timeout: Option<&str>,
    output: Option<&Path>,
    format: Format,
) -> Result<()> {
    let options = SqlOptions {
        max_rows,
        timeout: timeout
            .map(|t| crate::watch::parse_duration("--timeout", t))
            .transpose()?,
    };
    let dal = open(config, true).await?;
    let result = dal.sql(statement, options).await;
    close(dal).await;
    let result = result?;
    match output {
        Some(path) => {
            let schema = match result.batches.first() {
                Some(b) => b.schema(),
                None => std::sync::Arc::new(arrow::datatypes::Schema::empty()),
            };
            let batches = futures::stream::iter(result.batches.clone().into_iter().map(Ok)).boxed();
            let rows = crate::io::write_file(path, schema, batches).await?;
            println!("wrote {rows} rows to {}", path.display());
        }
        None => print_batches(&result.batches, format)?,
    }
    // On stderr, so csv / json output stays machine-readable.
    if result.truncated {
        eprintln!(
            "note: more rows matched; only the first {} are here (--max-rows, or sql.max_rows in quantdal.yaml)",
            result.max_rows
        );
    }
    Ok(())
}
