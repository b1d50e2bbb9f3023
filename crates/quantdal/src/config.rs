//! Settings + catalog, loaded and cross-checked but with no store opened: enough to list classes and print
//! DDL (`provision --dry-run`) without connecting anywhere.

use std::collections::BTreeMap;
use std::path::Path;

use quantdal_core::{Catalog, Error, ErrorKind, Result, Settings, StoreKind};

use crate::ClassInfo;

/// DDL per store name, then per class: `(class, statements)` in catalog order.
pub type ProvisionPlan = BTreeMap<String, Vec<(String, Vec<String>)>>;

#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub catalog: Catalog,
}

impl Config {
    /// Reads `quantdal.yaml` and the table config it names, and checks every route.
    pub fn load(path: impl AsRef<Path>) -> Result<Config> {
        let settings = Settings::from_path(path.as_ref())?;
        let catalog = Catalog::from_path(&settings.tables)?;
        Config::new(settings, catalog)
    }

    /// Every class in one embedded file in `dir`, with the built-in class catalog.
    pub fn embedded(dir: impl AsRef<Path>) -> Result<Config> {
        let settings =
            Settings::embedded(dir.as_ref().join("quantdal.duckdb"), "<built-in>".into());
        let catalog = Catalog::from_yaml(
            quantdal_core::BUILTIN_TABLE_CONFIG,
            "<built-in table_config.yaml>",
        )?;
        Config::new(settings, catalog)
    }

    pub fn new(settings: Settings, catalog: Catalog) -> Result<Config> {
        crate::open::check_routes(&settings, &catalog)?;
        crate::monitoring::check_quality(&settings, &catalog)?;
        Ok(Config { settings, catalog })
    }

    pub fn classes(&self) -> Vec<ClassInfo> {
        self.catalog
            .classes()
            .iter()
            .filter_map(|spec| {
                let store = self.settings.resolve(&spec.store)?;
                Some(ClassInfo {
                    class: spec.name.clone(),
                    category: spec.category,
                    route: spec.store.clone(),
                    store: store.name.clone(),
                    kind: store.kind,
                    table: spec.table.clone(),
                    description: spec.description.clone(),
                })
            })
            .collect()
    }

    /// The statements `provision` would run, per store and class, computed offline.
    pub fn provision_plan(&self) -> Result<ProvisionPlan> {
        let mut plan = ProvisionPlan::new();
        for spec in self.catalog.classes() {
            let Some(store) = self.settings.resolve(&spec.store) else {
                continue;
            };
            let ddl = match store.kind {
                StoreKind::Duckdb => quantdal_duckdb::create_statements(spec),
                StoreKind::Postgres => {
                    let schema = spec
                        .options
                        .postgres
                        .as_ref()
                        .and_then(|p| p.schema.clone())
                        .or_else(|| store.schema.clone())
                        .unwrap_or_else(|| "public".into());
                    quantdal_postgres::provision_statements(spec, &schema)
                }
                StoreKind::Tdengine => quantdal_tdengine::provision_statements(spec),
                other => {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "store `{}` is of kind {other}, which this build does not include yet",
                            store.name
                        ),
                    )
                    .with_class(spec.name.clone()))
                }
            };
            plan.entry(store.name.clone())
                .or_default()
                .push((spec.name.clone(), ddl));
        }
        Ok(plan)
    }
}
