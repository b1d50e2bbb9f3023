//! The config types live in `quantdal_core::quality` (the catalog parses them with the class).

pub use quantdal_core::quality::{
    parse_duration_ns, Checks, ColumnRoles, Limit, Ohlc, Policy, QualityConfig, Thresholds,
};
