//! What the process sets up before it parses its arguments: a check that the CPU runs this build,
//! OpenBLAS without threads of its own, and a quiet Wayland probe on headless machines.

/// Does this CPU run the instructions the build was compiled for? `.cargo/config.toml` builds for
/// x86-64-v3 (AVX2 + FMA); on an older CPU the binary would die of SIGILL at its first vector
/// loop. Asked through CPUID directly: `is_x86_feature_detected!` answers "yes" at compile time
/// for features the build enables.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
pub(crate) fn cpu_lacks_build_features() -> bool {
    use std::arch::x86_64::__cpuid_count;
    // CPUID exists on every x86_64 CPU (a safe intrinsic); leaf 7 only where leaf 0 says so.
    if __cpuid_count(0, 0).eax < 7 {
        return true;
    }
    let (l1, l7) = (__cpuid_count(1, 0), __cpuid_count(7, 0));
    let fma = l1.ecx & (1 << 12) != 0;
    let avx2 = l7.ebx & (1 << 5) != 0;
    !(fma && avx2)
}
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
pub(crate) fn cpu_lacks_build_features() -> bool {
    false
}

/// OpenBLAS sizes its thread pool from OPENBLAS_NUM_THREADS when the library loads, before
/// main. The CPU backends call it from one rayon worker per core, so its own threads only
/// oversubscribe the cores; turning them off at run time (backend.rs) still leaves the pool's
/// per-call overhead (BPTT update 0.084 s vs 0.079 s started with the variable set), so the
/// binary restarts itself once with the variable set unless the user chose a value. Returns only
/// where it did not restart.
pub(crate) fn restart_with_single_threaded_blas() {
    #[cfg(unix)]
    if std::env::var_os("OPENBLAS_NUM_THREADS").is_none() {
        use std::os::unix::process::CommandExt;
        if let Ok(me) = std::env::current_exe() {
            let err = std::process::Command::new(me)
                .args(std::env::args_os().skip(1))
                .env("OPENBLAS_NUM_THREADS", "1")
                .exec();
            eprintln!(
                "snnlab: note: could not restart with OPENBLAS_NUM_THREADS=1 ({err}); going on"
            );
        }
    }
}

/// Headless machines (clusters, CI): Mesa's Vulkan drivers probe Wayland at start-up, and
/// libwayland prints "error: XDG_RUNTIME_DIR is invalid or not set" to stderr for each probe.
/// Pointing it at the temp directory (where no compositor socket exists) makes the probe fail
/// quietly. To be called first, before any thread exists, which is what makes set_var sound.
pub(crate) fn quiet_wayland_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: single-threaded here (main's first steps); nothing reads the environment
        // concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}
