//! A quick process exit after native connections. libtaos stops its heartbeat thread from an exit hook
//! by joining it, and that thread sleeps 1.5 s at a time, so a command that used a native connection spent
//! ~1.2 s in `exit` however little it did. `taos_set_hb_quit(1)` (what TDengine's own shell calls before it
//! exits) makes the hook skip the join. The call is made only if this process opened a native connection,
//! through the library already loaded.

use std::sync::atomic::{AtomicBool, Ordering};

static NATIVE_USED: AtomicBool = AtomicBool::new(false);

/// Records that a native connection was opened (so there is a heartbeat thread to let go).
pub(crate) fn native_connection_opened() {
    NATIVE_USED.store(true, Ordering::Relaxed);
}

/// Call once before the process exits (the CLI does): lets libtaos skip its slow heartbeat join. A no-op
/// when no native connection was opened or the library cannot be found.
pub fn prepare_exit() {
    #[cfg(feature = "native")]
    if NATIVE_USED.load(Ordering::Relaxed) {
        native::set_hb_quit();
    }
}

#[cfg(feature = "native")]
mod native {
    /// The library name libtaos is loaded by (the optin driver's own rule: TAOS_LIBRARY_PATH, else the
    /// loader path).
    fn library() -> String {
        std::env::var("TAOS_LIBRARY_PATH")
            .ok()
            .map(|dir| {
                let p = std::path::Path::new(&dir);
                if p.is_dir() {
                    p.join("libtaos.so").display().to_string()
                } else {
                    dir
                }
            })
            .unwrap_or_else(|| "libtaos.so".to_string())
    }

    // The one unsafe call of the crate: a C function of the library the driver already loaded.
    #[allow(unsafe_code)]
    pub(super) fn set_hb_quit() {
        let Ok(lib) = dlopen2::raw::Library::open(library()) else {
            return;
        };
        // SAFETY: `taos_set_hb_quit` has the C signature `void taos_set_hb_quit(int8_t quitByKill)` in
        // every libtaos 3.x (taos.h); it only sets a flag the exit hook reads. The library stays loaded
        // (the driver holds it), so the symbol is valid for the call.
        unsafe {
            if let Ok(f) = lib.symbol::<unsafe extern "C" fn(i8)>("taos_set_hb_quit") {
                f(1);
            }
        }
    }
}
