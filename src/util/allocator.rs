//! Process-wide allocator settings for query-heavy processes.
//!
//! A query allocates and frees a few buffers of 1–30 MB (values block, fit sample, score
//! blocks). glibc's malloc serves such sizes with fresh `mmap`s and raises its thresholds only
//! after some frees, depending on which thread freed what first, so the same 10k-row query ran
//! either at ~45 ms or at ~65 ms per process, the slow processes taking ~6,700 more page
//! faults per query (`perf stat -e page-faults`, `cargo bench --bench query_latency`). Fixing
//! the thresholds keeps freed pages for the next buffer: every process then ran at ~45 ms,
//! with no page faults added per query.

/// Largest allocation still served from malloc's heaps (glibc's cap for this setting on
/// 64-bit); larger ones are mapped and unmapped on their own, so a 1M-row matrix never
/// lingers.
const MMAP_THRESHOLD: usize = 32 << 20;
/// Free heap top that malloc keeps instead of returning to the system.
const TRIM_THRESHOLD: usize = 64 << 20;

/// Makes malloc keep freed buffers of up to 32 MiB for reuse (glibc only; elsewhere a no-op).
/// The `clusterby` binary calls this first thing; a long-running process that answers
/// queries through the library should do the same. Returns whether the settings took.
pub fn reuse_freed_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's tuning parameters; any value is accepted or
        // refused with 0.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        assert!(super::reuse_freed_buffers());
    }
}
