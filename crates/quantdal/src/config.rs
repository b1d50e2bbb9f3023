//! Settings + catalog, loaded and cross-checked but with no store opened: enough to list classes and print
//! DDL (`provision --dry-run`) without connecting anywhere.

use std::collections::BTreeMap;
use std::path::Path;

use quantdal_core::{Catalog, Result, Settings};

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
                let store = self.settings.route_for(&spec.name, &spec.store)?;
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

    /// What every store's spool holds, read from its folder without opening any store (so it works while a
    /// writer holds the embedded file, or the stores are down).
    pub fn spool_status(&self) -> Result<Vec<crate::spool::SpoolStatus>> {
        let mut out = Vec::new();
        for store in self.settings.stores.values() {
            if let Some(spool) = &store.spool {
                if spool.dir.is_dir() {
                    let dir = crate::spool::SpoolDir::open(&spool.dir)?;
                    out.extend(crate::spool::status_of(&store.name, &dir)?);
                }
            }
        }
        Ok(out)
    }

    /// Deletes the spooled batches of `class` in every store's spool without saving them; returns their rows.
    pub fn spool_discard(&self, class: &str) -> Result<u64> {
        if self.catalog.get(class).is_none() {
            return Err(quantdal_core::Error::new(
                quantdal_core::ErrorKind::UnknownClass,
                "no such class",
            )
            .with_class(class.to_string()));
        }
        let mut rows = 0;
        for store in self.settings.stores.values() {
            if let Some(spool) = &store.spool {
                if spool.dir.is_dir() {
                    rows += crate::spool::discard_in(
                        &crate::spool::SpoolDir::open(&spool.dir)?,
                        class,
                    )?
                    .0;
                }
            }
        }
        Ok(rows)
    }

    /// The statements `provision` would run, per store and class, computed offline.
    pub fn provision_plan(&self) -> Result<ProvisionPlan> {
        let mut plan = ProvisionPlan::new();
        for spec in self.catalog.classes() {
            let Some(store) = self.settings.route_for(&spec.name, &spec.store) else {
                continue;
            };
            let ddl = crate::backends::of(store)?
                .provision_plan(store, spec)
                .map_err(|e| e.with_class(spec.name.clone()))?;
            plan.entry(store.name.clone())
                .or_default()
                .push((spec.name.clone(), ddl));
        }
        Ok(plan)
    }
}
