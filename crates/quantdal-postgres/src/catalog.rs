//! The live table as the server's catalog describes it, compared with the spec: what `provision --check`
//! reports and what `provision --migrate` may change.

use quantdal_core::{Migration, Result, TableSpec};
use tokio_postgres::Client;

use crate::ddl::{
    brin_index_name, catalog_type, column_definition, known_at_index_name, qualified, quote,
};
use crate::errors::from_pg;
use quantdal_core::versions::{is_revision_column, storage_key, DELETED_COLUMN, KNOWN_AT_COLUMN};
use quantdal_core::NeutralType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    pub name: String,
    /// As `format_type()` spells it: `numeric(18,4)`, `timestamp(3) with time zone`…
    pub type_name: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveTable {
    pub columns: Vec<LiveColumn>,
    pub indexes: Vec<String>,
    /// Primary key columns in key order; empty when there is none.
    pub primary_key: Vec<String>,
    /// A range-partitioned parent (`relkind = 'p'`).
    pub partitioned: bool,
}

/// `pg_class.relkind` of a relation (`r` table, `p` partitioned parent…), or `None` when there is none.
pub async fn relation_kind(client: &Client, relation: &str) -> Result<Option<String>> {
    Ok(client
        .query_one(
            "SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1))",
            &[&relation],
        )
        .await
        .map_err(from_pg)?
        .get(0))
}

/// The live table, or `None` when it does not exist.
pub async fn live_table(client: &Client, schema: &str, table: &str) -> Result<Option<LiveTable>> {
    let relation = qualified(schema, table);
    let Some(relkind) = relation_kind(client, &relation).await? else {
        return Ok(None);
    };
    let columns = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&relation],
        )
        .await
        .map_err(from_pg)?
        .iter()
        .map(|r| LiveColumn {
            name: r.get(0),
            type_name: r.get(1),
            nullable: r.get(2),
        })
        .collect();
    let indexes = client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
            &[&schema, &table],
        )
        .await
        .map_err(from_pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let primary_key = client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY k.n",
            &[&relation],
        )
        .await
        .map_err(from_pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Some(LiveTable {
        columns,
        indexes,
        primary_key,
        partitioned: relkind == "p",
    }))
}

/// One difference between spec and live table, and whether fixing it loses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub description: String,
    pub fix: Fix,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// A statement `--migrate` may run.
    Additive(String),
    /// What a human must decide and do.
    Manual(String),
}

pub fn differences(
    spec: &TableSpec,
    schema: &str,
    live: &LiveTable,
    brin: bool,
) -> Vec<Difference> {
    let table = qualified(schema, &spec.table);
    let mut out = Vec::new();
    for c in &spec.columns {
        let expected = catalog_type(c.data_type, spec.precision());
        match live.columns.iter().find(|l| l.name == c.name) {
            None => {
                let fix = if c.nullable || c.default.is_some() {
                    Fix::Additive(format!(
                        "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {}",
                        column_definition(spec, c)
                    ))
                } else {
                    Fix::Manual(format!(
                        "column {} is NOT NULL without a default, so existing rows have no value for it: add it \
                         as nullable, backfill, then `ALTER TABLE {table} ALTER COLUMN {} SET NOT NULL` (or give \
                         it a default in table_config.yaml)",
                        c.name,
                        quote(&c.name)
                    ))
                };
                out.push(Difference {
                    description: format!("column {} is missing", c.name),
                    fix,
                });
            }
            Some(l) => {
                if l.type_name != expected {
                    out.push(Difference {
                        description: format!(
                            "column {} is {}, spec says {expected}",
                            c.name, l.type_name
                        ),
                        fix: Fix::Manual(format!(
                            "changing the type of {} may lose or reject data: check the values, then run \
                             `ALTER TABLE {table} ALTER COLUMN {} TYPE {expected}` yourself",
                            c.name,
                            quote(&c.name)
                        )),
                    });
                }
                if l.nullable != c.nullable {
                    let description = format!(
                        "column {} is {}, spec says {}",
                        c.name,
                        if l.nullable { "nullable" } else { "NOT NULL" },
                        if c.nullable { "nullable" } else { "NOT NULL" }
                    );
                    let fix = if c.nullable {
                        Fix::Additive(format!(
                            "ALTER TABLE {table} ALTER COLUMN {} DROP NOT NULL",
                            quote(&c.name)
                        ))
                    } else {
                        Fix::Manual(format!(
                            "make sure no row has a null {}, then run `ALTER TABLE {table} ALTER COLUMN {} SET NOT \
                             NULL`",
                            c.name,
                            quote(&c.name)
                        ))
                    };
                    out.push(Difference { description, fix });
                }
            }
        }
    }
    if spec.versions.is_some() {
        let wanted = [
            (
                KNOWN_AT_COLUMN,
                catalog_type(NeutralType::Timestamp, spec.precision()),
            ),
            (DELETED_COLUMN, "boolean".to_string()),
        ];
        for (name, ty) in wanted {
            let description = match live.columns.iter().find(|l| l.name == name) {
                None => format!(
                    "revision column {name} is absent: the table was made for an unversioned class"
                ),
                Some(l) if l.type_name != ty => {
                    format!(
                        "column {name} is {}, a versioned class needs {ty}",
                        l.type_name
                    )
                }
                Some(_) => continue,
            };
            out.push(Difference {
                description,
                fix: Fix::Manual(
                    "a versioned class keeps its revisions in a table of its own shape: create it under a new \
                     name (`table:` in table_config.yaml), copy the rows (`quantdal copy`), then switch"
                        .into(),
                ),
            });
        }
    }
    for l in &live.columns {
        if spec.column(&l.name).is_none() && !is_revision_column(spec, &l.name) {
            out.push(Difference {
                description: format!("column {} is not in the spec", l.name),
                fix: Fix::Manual(format!(
                    "dropping column {} deletes its data: add it to table_config.yaml, or run `ALTER TABLE {table} \
                     DROP COLUMN {}` once nothing needs it",
                    l.name,
                    quote(&l.name)
                )),
            });
        }
    }
    let key = storage_key(spec);
    if live.primary_key != key {
        out.push(Difference {
            description: format!(
                "primary key is ({}), spec says ({})",
                live.primary_key.join(", "),
                key.join(", ")
            ),
            fix: Fix::Manual(
                "changing the key can fail on existing duplicates: deduplicate, then drop and re-add the \
                 primary key by hand"
                    .into(),
            ),
        });
    }
    let wants_partitions = brin && matches!(crate::partitions::declared(spec), Ok(Some(_)));
    if wants_partitions && !live.partitioned {
        out.push(Difference {
            description: "the class declares postgres.partition but the table is not partitioned".into(),
            fix: Fix::Manual(format!(
                "PostgreSQL cannot partition a table in place: create the partitioned table under a new name \
                 (`table:` in table_config.yaml, then `quantdal provision`), copy the rows (`quantdal copy`), \
                 then switch; or drop `partition` to keep {table} as it is"
            )),
        });
    }
    let mut wanted: Vec<(String, String)> = crate::ddl::index_statements(spec, schema, brin)
        .into_iter()
        .zip(
            spec.indexes
                .iter()
                .map(|i| i.name.clone())
                .chain(brin_index_name(spec).filter(|_| brin))
                .chain(known_at_index_name(spec)),
        )
        .map(|(stmt, name)| (name, stmt))
        .collect();
    wanted.retain(|(name, _)| !live.indexes.contains(name));
    for (name, stmt) in wanted {
        out.push(Difference {
            description: format!("index {name} is missing"),
            fix: Fix::Additive(stmt),
        });
    }
    out
}

/// Runs the additive fixes (in one transaction) and lists the rest as refused.
pub async fn migrate(client: &mut Client, differences: &[Difference]) -> Result<Migration> {
    let mut migration = Migration::default();
    let tx = client.transaction().await.map_err(from_pg)?;
    for d in differences {
        match &d.fix {
            Fix::Additive(stmt) => {
                tx.batch_execute(stmt).await.map_err(from_pg)?;
                migration.applied.push(format!("{}: {stmt}", d.description));
            }
            Fix::Manual(what) => migration.refused.push(format!("{}: {what}", d.description)),
        }
    }
    tx.commit().await.map_err(from_pg)?;
    Ok(migration)
}
