//! `snnlab devices`: the GPU adapters found and the one used.

use snnlab::error::Result;
use snnlab::gpu::GpuContext;

pub(crate) fn run(adapter: Option<&str>) -> Result<()> {
    let list = snnlab::gpu::context::list_adapters();
    if list.is_empty() {
        println!("no GPU adapters found; --device gpu is unavailable, --device cpu works");
        return Ok(());
    }
    let chosen = GpuContext::new(adapter).ok().map(|c| c.info.clone());
    for a in &list {
        let used = chosen
            .as_ref()
            .is_some_and(|c| c.name == a.info.name && c.backend == a.info.backend);
        println!(
            "{} {} | backend {:?} | type {:?} | driver {} {} | max binding {} MiB | max buffer {} MiB | max workgroup invocations {} | f64 {}",
            if used { "*" } else { " " },
            a.info.name,
            a.info.backend,
            a.info.device_type,
            a.info.driver,
            a.info.driver_info,
            a.limits.max_storage_buffer_binding_size >> 20,
            a.limits.max_buffer_size >> 20,
            a.limits.max_compute_invocations_per_workgroup,
            a.features.contains(wgpu::Features::SHADER_F64)
        );
    }
    match chosen {
        Some(c) => println!(
            "used: {} ({:?}); --device auto picks {}",
            c.name,
            c.backend,
            if snnlab::gpu::context::is_software(&c) {
                "cpu (software adapter only)"
            } else {
                "gpu"
            }
        ),
        None => println!("used: none (no adapter matches the name filter)"),
    }
    Ok(())
}
