//! The settings the environment gives the library (documented in the README), read here once:
//! nothing below the CLI reads the environment.

use std::path::PathBuf;

use snnlab::error::{Error, Result};
use snnlab::gpu::kernels::StepKernels;

/// A set, non-empty environment variable.
pub(crate) fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The memory budget: `--max-memory`, else `SNNLAB_MAX_MEMORY`, else a fraction of the RAM
/// (none where /proc/meminfo cannot be read). Read here once; the library is handed the number.
fn max_memory(flag: Option<&str>) -> Result<u64> {
    use snnlab::io::budget;
    if let Some(f) = flag {
        return budget::parse_size(f).map_err(|e| Error::Input(format!("--max-memory: {e}")));
    }
    match std::env::var("SNNLAB_MAX_MEMORY") {
        Ok(v) if !v.is_empty() => {
            budget::parse_size(&v).map_err(|e| Error::Input(format!("SNNLAB_MAX_MEMORY: {e}")))
        }
        _ => Ok(budget::default_max_memory().unwrap_or(u64::MAX)),
    }
}

/// Hands the library its settings: the memory budget (`--max-memory` given as `max_memory_flag`,
/// else the environment's), the data directory, the SIMD switch and the GPU step kernels.
pub(crate) fn apply(max_memory_flag: Option<&str>) -> Result<()> {
    snnlab::io::budget::set_max_memory(max_memory(max_memory_flag)?);
    snnlab::tasks::set_data_dir(env_value("SNNLAB_DATA").map(PathBuf::from));
    if std::env::var_os("SNNLAB_NO_SIMD").is_some() {
        snnlab::linalg::packed::disable_simd();
    }
    let kernels = match env_value("SNNLAB_GPU_KERNELS") {
        None => None,
        Some(v) => Some(StepKernels::from_name(&v).ok_or_else(|| {
            Error::Input(format!(
                "SNNLAB_GPU_KERNELS = '{v}': expected simple or tiled"
            ))
        })?),
    };
    StepKernels::set_choice(kernels);
    Ok(())
}

/// The GPU adapter's name filter: `--adapter`, else `WGPU_ADAPTER_NAME`.
pub(crate) fn adapter_name(flag: Option<String>) -> Option<String> {
    flag.or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
}
