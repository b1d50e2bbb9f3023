//! Driver errors → quantdal errors, by TDengine error code. Connection trouble is `Unavailable` (temporary,
//! so the retry layer tries again — on the next endpoint of a cluster DSN); authentication failures are
//! `Unavailable` but permanent; values the server refuses are `InvalidBatch`; the rest is `Store`.

use quantdal_core::{Error, ErrorKind};

/// Codes from the TDengine 3.x error table (taos-error's constants) and taos-ws's client errors.
const AUTH: &[i32] = &[0x0357, 0x0351, 0x0208, 0x2648, 0xE006, 0x0354];
const CONNECTION: &[i32] = &[0x000B, 0xE001, 0xE002, 0xE003, 0xE004, 0xE005, 0x03D5];
const VALUE: &[i32] = &[
    0x2653, 0x021E, 0x021F, 0x0376, 0x0377, 0x263D, 0x263E, 0x2642,
];
const MISSING: &[i32] = &[0x0388, 0x0362, 0x036D, 0x2603, 0x0218, 0x0618, 0x061A];
const NO_COLUMN: &[i32] = &[0x036C, 0x2602, 0x0526];

/// Text of a driver error with any password removed.
pub fn describe(err: &taos::Error, scrub: &dyn Fn(&str) -> String) -> (i32, String) {
    let code = i32::from(err.code()) & 0xFFFF;
    (code, scrub(&err.to_string()))
}

pub fn from_taos(err: taos::Error, scrub: &dyn Fn(&str) -> String) -> Error {
    let (code, text) = describe(&err, scrub);
    let lower = text.to_ascii_lowercase();
    let (kind, temporary, hint) =
        if AUTH.contains(&code) || lower.contains("authentication failure") {
            (
                ErrorKind::Unavailable,
                false,
                " (authentication failed: check the user and password in the dsn)",
            )
        } else if CONNECTION.contains(&code)
            || lower.contains("connection refused")
            || lower.contains("connect error")
            || lower.contains("timed out")
            || lower.contains("dns error")
        {
            (ErrorKind::Unavailable, true, "")
        } else if VALUE.contains(&code) {
            (ErrorKind::InvalidBatch, false, "")
        } else if NO_COLUMN.contains(&code) {
            (
                ErrorKind::Store,
                false,
                " (the super-table lacks a column the class declares: run provision)",
            )
        } else if MISSING.contains(&code) {
            (ErrorKind::Store, false, " (run provision to create it)")
        } else {
            (ErrorKind::Store, false, "")
        };
    Error::new(kind, format!("TDengine error {code:#06X}: {text}{hint}")).set_temporary(temporary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(code: i32, msg: &str) -> taos::Error {
        taos::Error::new(code, msg.to_string())
    }

    #[test]
    fn codes_map_to_kinds() {
        let id = |s: &str| s.replace("hunter2", "***");
        let auth = from_taos(raw(0x0357, "Authentication failure hunter2"), &id);
        assert_eq!(auth.kind(), ErrorKind::Unavailable);
        assert!(!auth.is_temporary());
        assert!(!auth.to_string().contains("hunter2"));
        let down = from_taos(raw(0xE001, "websocket connect error"), &id);
        assert_eq!(down.kind(), ErrorKind::Unavailable);
        assert!(down.is_temporary());
        let long = from_taos(raw(0x2653, "Value too long for column/tag"), &id);
        assert_eq!(long.kind(), ErrorKind::InvalidBatch);
        let missing = from_taos(raw(0x0388, "Database not exist"), &id);
        assert_eq!(missing.kind(), ErrorKind::Store);
        assert!(missing.message().contains("provision"));
        let syntax = from_taos(raw(0x2600, "syntax error near"), &id);
        assert_eq!(syntax.kind(), ErrorKind::Store);
        assert!(syntax.message().contains("0x2600"));
    }
}
