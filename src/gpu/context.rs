//! Adapter discovery and device creation. The best adapter wins (discrete > integrated > virtual >
//! software), Vulkan/Metal/DX12 before GL at equal type; `WGPU_ADAPTER_NAME` (or `--adapter`)
//! picks by name and `WGPU_BACKEND` restricts backends. The device gets the adapter's own limits,
//! not wgpu's small defaults.

use crate::error::{Error, Result};

/// Whether an adapter is a software rasteriser (its device type is the CPU).
pub fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
}

/// One adapter as `snnlab devices` shows it.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut d = wgpu::InstanceDescriptor::new_without_display_handle();
    d.backends = backends;
    wgpu::Instance::new(d)
}

/// Adapters of the given backends, best first.
fn adapters(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let mut v = pollster::block_on(instance(backends).enumerate_adapters(backends));
    v.sort_by_key(|a| {
        let i = a.get_info();
        (type_rank(i.device_type), backend_rank(i.backend))
    });
    v
}

/// Adapters to choose from: those of `WGPU_BACKEND` when set; else Vulkan/Metal/DX12, and GL
/// only when those find nothing (probing GL through EGL is slow and prints warnings on headless
/// machines, and GL is never preferred anyway).
fn candidate_adapters() -> Vec<wgpu::Adapter> {
    if let Some(b) = wgpu::Backends::from_env() {
        return adapters(b);
    }
    let primary = adapters(wgpu::Backends::PRIMARY);
    if primary.is_empty() {
        adapters(wgpu::Backends::GL)
    } else {
        primary
    }
}

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

fn backend_rank(b: wgpu::Backend) -> u32 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    }
}

/// Every adapter wgpu can see (all backends, or those of `WGPU_BACKEND`), best first.
pub fn list_adapters() -> Vec<AdapterSummary> {
    summaries(adapters(
        wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
    ))
}

/// The adapters `GpuContext::new` chooses from, best first.
pub fn usable_adapters() -> Vec<AdapterSummary> {
    summaries(candidate_adapters())
}

fn summaries(adapters: Vec<wgpu::Adapter>) -> Vec<AdapterSummary> {
    adapters
        .into_iter()
        .map(|a| AdapterSummary {
            info: a.get_info(),
            limits: a.limits(),
            features: a.features(),
        })
        .collect()
}

/// The name filter in force: the one given, unless empty (the CLI passes `--adapter`, else
/// `$WGPU_ADAPTER_NAME`; nothing below the CLI reads the environment).
pub fn name_filter(given: Option<&str>) -> Option<String> {
    given.filter(|s| !s.is_empty()).map(str::to_owned)
}

impl GpuContext {
    /// Open the best adapter (or the one whose name contains `adapter_name`, case-insensitive).
    pub fn new(adapter_name: Option<&str>) -> Result<Self> {
        let adapters = candidate_adapters();
        let filter = name_filter(adapter_name);
        let adapter = match &filter {
            Some(f) => {
                let fl = f.to_lowercase();
                adapters.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&fl)).ok_or_else(|| {
                    Error::Input(format!("--adapter / WGPU_ADAPTER_NAME: no adapter named like '{f}' (see `snnlab devices`)"))
                })?
            }
            None => adapters.into_iter().next().ok_or_else(|| {
                Error::Runtime(
                    "no GPU adapter found (install a Vulkan driver, e.g. mesa-vulkan-drivers for lavapipe, or use --device cpu)".into(),
                )
            })?,
        };
        let info = adapter.get_info();
        let limits = adapter.limits();
        let wanted = wgpu::Features::TIMESTAMP_QUERY;
        let features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("snnlab device"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Runtime(format!("could not open GPU device '{}': {e}", info.name)))?;
        Ok(Self {
            device,
            queue,
            info,
            limits,
            features,
        })
    }

    /// A storage buffer of `floats` f32 words (at least one), readable back and writable by
    /// the queue.
    pub fn storage_buffer(&self, label: &str, floats: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (floats.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// Map a MAP_READ staging buffer (after its copy was submitted) and return it as f32s.
    pub fn map_read_f32(&self, staging: &wgpu::Buffer) -> Result<Vec<f32>> {
        self.map_read(staging)
    }

    /// Map a MAP_READ staging buffer (after its copy was submitted) and return it as `T`s.
    pub fn map_read<T: bytemuck::Pod>(&self, staging: &wgpu::Buffer) -> Result<Vec<T>> {
        let slice = staging.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Runtime(format!("GPU wait failed: {e}")))?;
        let v = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Runtime(format!("GPU readback failed: {e:?}")))?;
            bytemuck::cast_slice::<u8, T>(&view).to_vec()
        };
        staging.unmap();
        Ok(v)
    }

    /// Whether the adapter is a software rasteriser (lavapipe/llvmpipe): it proves kernels but
    /// is no place to train or to judge kernel speed.
    pub fn is_software(&self) -> bool {
        is_software(&self.info)
    }

    /// Refuse a pack whose dispatch would exceed the adapter's workgroups per dimension.
    pub fn check_dispatch_dims(&self, m: usize, b: usize, n: usize) -> Result<()> {
        let max_dim = self.limits.max_compute_workgroups_per_dimension as usize;
        if m > max_dim || b > max_dim || n > max_dim {
            return Err(Error::Runtime(format!(
                "M, B and N must each be at most {max_dim} on this adapter"
            )));
        }
        Ok(())
    }

    /// Copy a whole device buffer back through a temporary staging buffer (rare: parameters,
    /// gradients, trajectories).
    pub fn read_f32(&self, src: &wgpu::Buffer) -> Result<Vec<f32>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: src.size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        enc.copy_buffer_to_buffer(src, 0, &staging, 0, None);
        self.queue.submit([enc.finish()]);
        self.map_read_f32(&staging)
    }

    /// Largest buffer one storage binding may hold, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }
}
