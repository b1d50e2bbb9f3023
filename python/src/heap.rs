//! Handing freed heap memory back to the OS between the steps of a large conversion.

/// glibc keeps freed memory in its arenas' free lists, where a later allocation of another size (a numpy
/// array, a polars column) may not reuse it; `malloc_trim` returns the free pages to the OS, so a
/// conversion's peak is what it holds, not what it has held. A no-op off glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() {
    // SAFETY: `malloc_trim(size_t pad)` takes no pointers and is thread-safe (it locks each arena); it
    // only releases memory no allocation holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
