//! Driver errors → quantdal errors, by TDengine error code. Connection trouble is `Unavailable` (temporary,
//! so the retry layer tries again — on the next endpoint of a cluster DSN); authentication failures are
//! `Unavailable` but permanent; values the server refuses are `InvalidBatch`; the rest is `Store`.

use quantdal_core::{Error, ErrorKind};

/// Codes from the TDengine 3.x error table (`include/util/taoserror.h`) and taos-ws's client errors. The ones
/// seen from a live 3.3.6 server are pinned by the live tests (tests/tests/tdengine.rs).
const AUTH: &[i32] = &[0x0357, 0x0351, 0x0208, 0x2648, 0xE006, 0x0354];
/// The server or the link to it is gone for now: network unavailable (0x000B, what the native client returns
/// for a refused or killed server), broken link, RPC timeout, node not connected, network error / busy, RPC
/// module quitting, sync timeout / not leader (a vnode electing), plus taos-ws's connection errors.
const CONNECTION: &[i32] = &[
    0x000B, 0x0018, 0x0019, 0x0020, 0x0021, 0x0023, 0x0024, 0x0026, 0x0027, 0x0903, 0x090C, 0xE001,
    0xE002, 0xE003, 0xE004, 0xE005, 0x03D5,
];
/// `Timestamp data out of range`: a row older than the database's KEEP (the store checks before sending;
/// this is the server's word when clocks differ).
const OUT_OF_KEEP: i32 = 0x060B;
/// `Vnodes exhausted`: the dnode's `supportVnodes` are all in use.
const NO_VNODES: i32 = 0x03BA;
/// `Table already exists in other stables`.
const IN_OTHER_STABLE: i32 = 0x061D;
/// `Operation not supported`: e.g. `COMPACT DATABASE` on the community edition (seen live on 3.3.6).
const NOT_SUPPORTED: i32 = 0x0100;
const VALUE: &[i32] = &[
    0x2653, 0x021E, 0x021F, 0x0376, 0x0377, 0x263D, 0x263E, 0x2642,
];
const MISSING: &[i32] = &[0x0388, 0x0362, 0x036D, 0x2603, 0x0218, 0x0618, 0x061A];
const NO_COLUMN: &[i32] = &[0x036C, 0x2602, 0x0526];

/// A driver error that reached us only as text (the connection pool wraps the driver's error in its own):
/// the `[0x….]` code in it, classified like any driver error.
pub fn from_text(text: &str, scrub: &dyn Fn(&str) -> String) -> Option<Error> {
    let at = text.find("[0x")?;
    let hex = text.get(at + 3..)?.split(']').next()?;
    let code = i32::from_str_radix(hex, 16).ok()?;
    Some(from_taos(
        taos::Error::new(code & 0xFFFF, text.to_string()),
        scrub,
    ))
}

/// Text of a driver error with any password removed.
pub fn describe(err: &taos::Error, scrub: &dyn Fn(&str) -> String) -> (i32, String) {
    let code = i32::from(err.code()) & 0xFFFF;
    (code, scrub(&err.to_string()))
}

pub fn from_taos(err: taos::Error, scrub: &dyn Fn(&str) -> String) -> Error {
    let (code, text) = describe(&err, scrub);
    let lower = text.to_ascii_lowercase();
    let (kind, temporary, hint) = if AUTH.contains(&code)
        || lower.contains("authentication failure")
    {
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
    } else if code == OUT_OF_KEEP {
        (
                ErrorKind::InvalidBatch,
                false,
                " (a row is older than the database's KEEP: raise options.tdengine.keep and run provision --migrate)",
            )
    } else if code == NO_VNODES {
        (
                ErrorKind::Store,
                false,
                " (the server has no free vnodes: give the database fewer VGROUPS or raise the dnode's supportVnodes)",
            )
    } else if code == IN_OTHER_STABLE {
        (
            ErrorKind::Store,
            false,
            " (a sub-table of that name belongs to another super-table of this database)",
        )
    } else if code == NOT_SUPPORTED {
        (
            ErrorKind::Unsupported,
            false,
            " (this TDengine server does not offer the operation)",
        )
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
        // Codes a live 3.3.6 server returned (docs/tdengine.md).
        let refused = from_taos(raw(0x000B, "Unable to establish connection"), &id);
        assert_eq!(refused.kind(), ErrorKind::Unavailable);
        assert!(refused.is_temporary());
        let broken = from_taos(raw(0x0018, "Conn is broken"), &id);
        assert!(broken.is_temporary());
        let old = from_taos(raw(0x060B, "Timestamp data out of range"), &id);
        assert_eq!(old.kind(), ErrorKind::InvalidBatch);
        assert!(old.message().contains("KEEP"));
        let vnodes = from_taos(raw(0x03BA, "Vnodes exhausted"), &id);
        assert_eq!(vnodes.kind(), ErrorKind::Store);
        assert!(vnodes.message().contains("VGROUPS"));
        let pooled = from_text(
            "Error occurred while creating a new object: [0x0357] Internal error: `Authentication failure`",
            &id,
        )
        .unwrap();
        assert_eq!(pooled.kind(), ErrorKind::Unavailable);
        assert!(!pooled.is_temporary());
        assert!(from_text("no code here", &id).is_none());
        let compact = from_taos(raw(0x0100, "Operation not supported"), &id);
        assert_eq!(compact.kind(), ErrorKind::Unsupported);
        assert!(!compact.is_temporary());
        let syntax = from_taos(raw(0x2600, "syntax error near"), &id);
        assert_eq!(syntax.kind(), ErrorKind::Store);
        assert!(syntax.message().contains("0x2600"));
    }
}
