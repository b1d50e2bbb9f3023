//! `quantdal overview [CLASS]`: per series, rows and first / last time, computed in the store.

use quantdal::{Config, Result};

use crate::args::Format;
use crate::output::{print_json, print_rows};
use crate::run::{close, open};

pub async fn run(config: Config, class: Option<&str>, format: Format) -> Result<()> {
    let dal = open(config, true).await?;
    let overview = dal.overview(class).await;
    close(dal).await;
    let overview = overview?;
    if format == Format::Json {
        return print_json(&overview);
    }
    let dash = || "-".to_string();
    let mut rows = Vec::new();
    for c in &overview {
        if let Some(e) = &c.error {
            rows.push(vec![
                c.class.clone(),
                c.store.clone(),
                "-".into(),
                "-".into(),
                dash(),
                format!("error: {e}"),
            ]);
            continue;
        }
        for s in &c.series {
            rows.push(vec![
                c.class.clone(),
                c.store.clone(),
                if s.series.is_empty() {
                    "(all)".into()
                } else {
                    s.series.clone()
                },
                s.rows.to_string(),
                s.first.clone().unwrap_or_else(dash),
                s.last.clone().unwrap_or_else(dash),
            ]);
        }
        if c.series.is_empty() {
            rows.push(vec![
                c.class.clone(),
                c.store.clone(),
                "-".into(),
                "0".into(),
                dash(),
                dash(),
            ]);
        }
    }
    print_rows(
        &["class", "store", "series", "rows", "first", "last"],
        &rows,
        format,
    )
}
