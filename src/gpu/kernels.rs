//! The WGSL sources as compiled (prelude, kernel, the snippets it calls) and [`Kernel`]: one
//! compute pipeline with the explicit bind-group layout its entry in [`abi::KERNELS`] gives,
//! bound by binding name and dispatched by the engines.

use wgpu::util::DeviceExt;

use super::abi::{self, KernelSpec, Prelude, Slot};
use super::context::GpuContext;

/// Every kernel's source as compiled: the shared prelude followed by the kernel file. Rate
/// kernels get `common.wgsl`, spiking kernels (`spike_*`) `spike_common.wgsl`; `adam` and
/// `outer_grad` only read fields both preludes' `Dims` share, and are built with either.
pub const PRELUDE: &str = include_str!("../../shaders/common.wgsl");
pub const SPIKE_PRELUDE: &str = include_str!("../../shaders/spike_common.wgsl");

macro_rules! shader {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../shaders/", $name, ".wgsl")),
        )
    };
}

/// (name, kernel source without prelude) of every kernel, for building and for naga validation.
pub const SHADERS: &[(&str, &str)] = &[
    shader!("rec_effective"),
    shader!("rec_grad_chain"),
    shader!("rate_init"),
    shader!("rate_step"),
    shader!("rate_step_tiled"),
    shader!("rate_readout_loss"),
    shader!("loss_reduce"),
    shader!("rate_bptt_step"),
    shader!("rate_bptt_step_tiled"),
    shader!("outer_grad"),
    shader!("ah0_grad"),
    shader!("eprop_trace"),
    shader!("eprop_accum"),
    shader!("adam"),
    shader!("spike_step"),
    shader!("spike_step_tiled"),
    shader!("spike_readout"),
    shader!("spike_loss"),
    shader!("spike_rates"),
    shader!("spike_loss_reduce"),
    shader!("spike_bptt_step"),
    shader!("spike_bptt_step_tiled"),
    shader!("spike_zero_diag"),
    shader!("spike_eprop_pre"),
    shader!("spike_eprop_trace"),
    shader!("spike_online_out"),
    shader!("spike_online_readout_grad"),
    shader!("spike_online_rates"),
    shader!("spike_online_reg_grad"),
];

/// Shared WGSL appended after the source of the kernels that call it (WGSL has no includes): the
/// tile products of the tiled step kernels and the per-unit parts of the steps (one copy for the
/// simple and the tiled form of each).
pub const SNIPPETS: &[(&str, &str)] = &[
    shader!("tile_forward"),
    shader!("tile_backward"),
    shader!("rate_update"),
    shader!("rate_delta"),
    shader!("spike_update"),
    shader!("spike_adjoint"),
    shader!("task_loss"),
    shader!("rate_reg"),
];

/// The snippets a kernel is built with, in order.
pub fn snippets_of(kernel: &str) -> &'static [&'static str] {
    match kernel {
        "rate_step" => &["rate_update"],
        "rate_step_tiled" => &["tile_forward", "rate_update"],
        "rate_bptt_step" => &["rate_delta"],
        "rate_bptt_step_tiled" => &["tile_backward", "rate_delta"],
        "spike_step" => &["spike_update"],
        "spike_step_tiled" => &["tile_forward", "spike_update"],
        "spike_bptt_step" => &["spike_adjoint"],
        "spike_bptt_step_tiled" => &["tile_backward", "spike_adjoint"],
        "rate_readout_loss" | "spike_loss" | "spike_online_out" => &["task_loss"],
        "spike_rates" | "spike_online_rates" => &["rate_reg"],
        _ => &[],
    }
}

/// A registered kernel's source followed by its snippets (no prelude).
pub fn kernel_source(name: &str) -> String {
    let mut src = source_of(name).to_string();
    for snip in snippets_of(name) {
        let (_, s) = SNIPPETS
            .iter()
            .find(|(n, _)| n == snip)
            .expect("snippet registered in SNIPPETS");
        src.push('\n');
        src.push_str(s);
    }
    src
}

/// Kernels compiled with both preludes.
pub const SHARED_KERNELS: &[&str] = &["adam", "outer_grad"];

/// The prelude a kernel is built with by default.
pub fn prelude_of(name: &str) -> &'static str {
    if name.starts_with("spike_") {
        SPIKE_PRELUDE
    } else {
        PRELUDE
    }
}

/// The source of a prelude.
pub fn prelude_source(p: Prelude) -> &'static str {
    match p {
        Prelude::Rate => PRELUDE,
        Prelude::Spike => SPIKE_PRELUDE,
    }
}

/// Kernel `spec` as compiled: its prelude, the kernel, then its snippets.
pub fn built_source(spec: &KernelSpec) -> String {
    full_source_with(prelude_source(spec.prelude), &kernel_source(spec.name))
}

pub fn full_source(kernel_src: &str) -> String {
    format!("{PRELUDE}\n{kernel_src}")
}

pub fn full_source_with(prelude: &str, kernel_src: &str) -> String {
    format!("{prelude}\n{kernel_src}")
}

pub(crate) fn source_of(name: &str) -> &'static str {
    SHADERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .expect("kernel registered in SHADERS")
}

/// A compute pipeline with its explicit bind-group layout, both from the kernel's table entry.
pub struct Kernel {
    spec: &'static KernelSpec,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl Kernel {
    /// Build kernel `name` with `prelude` (its entry in [`abi::KERNELS`]).
    pub fn new(ctx: &GpuContext, name: &str, prelude: Prelude) -> Self {
        let spec = abi::kernel_spec(name, prelude);
        let dev = &ctx.device;
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(spec.name),
            source: wgpu::ShaderSource::Wgsl(built_source(spec).into()),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = spec
            .bindings
            .iter()
            .enumerate()
            .map(|(i, (_, slot))| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match slot {
                        Slot::Uniform(_) | Slot::UniformDyn(_) => wgpu::BufferBindingType::Uniform,
                        Slot::Read(_) => wgpu::BufferBindingType::Storage { read_only: true },
                        Slot::ReadWrite(_) => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: matches!(slot, Slot::UniformDyn(_)),
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(spec.name),
            entries: &entries,
        });
        let pl = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(spec.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(spec.name),
            layout: Some(&pl),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Self {
            spec,
            pipeline,
            layout,
        }
    }

    /// Bind buffers by binding name: each binding of the kernel takes the buffer of its name
    /// in `buffers` (which may name more). A dynamic uniform binds one record of its struct.
    pub fn bind(&self, ctx: &GpuContext, buffers: &[(&str, &wgpu::Buffer)]) -> wgpu::BindGroup {
        let spec = self.spec;
        let entries: Vec<wgpu::BindGroupEntry> =
            spec.bindings
                .iter()
                .enumerate()
                .map(|(i, (name, slot))| {
                    let (_, b) = buffers.iter().find(|(n, _)| n == name).unwrap_or_else(|| {
                        panic!("kernel {}: binding {name} not given", spec.name)
                    });
                    wgpu::BindGroupEntry {
                        binding: i as u32,
                        resource: match slot {
                            Slot::UniformDyn(ty) => {
                                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                    buffer: b,
                                    offset: 0,
                                    size: wgpu::BufferSize::new(
                                        abi::struct_size(spec.prelude, ty) as u64
                                    ),
                                })
                            }
                            _ => b.as_entire_binding(),
                        },
                    }
                })
                .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(spec.name),
            layout: &self.layout,
            entries: &entries,
        })
    }

    /// Record one dispatch of `[x, y, z]` workgroups (`offsets`: one per dynamic uniform).
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        offsets: &[u32],
        [x, y, z]: [u32; 3],
    ) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bg, offsets);
        pass.dispatch_workgroups(x, y, z);
    }
}

pub use super::abi::{TILE_TRIALS, WG};

/// Workgroups of [`WG`] threads covering `n` items.
pub fn groups(n: u32) -> u32 {
    n.div_ceil(WG)
}

/// Pack records into a uniform buffer with one `stride`-byte slot each (for dynamic offsets).
pub fn uniform_table<T: bytemuck::Pod>(
    ctx: &GpuContext,
    label: &str,
    items: &[T],
    stride: u64,
) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &table_bytes(items, stride),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
}

/// The bytes of a uniform table: one `stride`-byte slot per record (at least one slot).
pub fn table_bytes<T: bytemuck::Pod>(items: &[T], stride: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; (items.len().max(1) as u64 * stride) as usize];
    for (i, it) in items.iter().enumerate() {
        let b = bytemuck::bytes_of(it);
        let at = i * stride as usize;
        bytes[at..at + b.len()].copy_from_slice(b);
    }
    bytes
}

/// `x` rounded up to a multiple of `a` (uniform offsets must be aligned).
pub fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Set by [`StepKernels::set_choice`].
static KERNEL_CHOICE: std::sync::RwLock<Option<StepKernels>> = std::sync::RwLock::new(None);

/// Which implementation of the two step kernels (forward, BPTT reverse step) an engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKernels {
    /// One thread per (unit, trial) looping over the N inputs (`rate_step.wgsl`,
    /// `rate_bptt_step.wgsl`, `spike_step.wgsl`, `spike_bptt_step.wgsl`): no workgroup barriers,
    /// the fastest on lavapipe.
    Simple,
    /// 64 units × 8 trials per workgroup through workgroup memory (`*_tiled.wgsl`): coalesced
    /// weight reads, each serving 8 trials — what a GPU's memory system wants.
    Tiled,
}

impl StepKernels {
    /// The form named `simple` or `tiled`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "simple" => Some(Self::Simple),
            "tiled" => Some(Self::Tiled),
            _ => None,
        }
    }
    /// Make every engine use `choice` (the CLI does for `$SNNLAB_GPU_KERNELS`; nothing below the
    /// CLI reads the environment); `None`: chosen by the adapter ([`StepKernels::for_adapter`]).
    pub fn set_choice(choice: Option<StepKernels>) {
        *KERNEL_CHOICE.write().unwrap_or_else(|e| e.into_inner()) = choice;
    }
    /// The form given to [`StepKernels::set_choice`], else tiled on hardware GPUs and simple on
    /// software adapters (llvmpipe runs barriers slowly: 2.4× slower forward there).
    pub fn for_adapter(ctx: &GpuContext) -> crate::error::Result<Self> {
        let chosen = *KERNEL_CHOICE.read().unwrap_or_else(|e| e.into_inner());
        Ok(chosen.unwrap_or(if ctx.is_software() {
            Self::Simple
        } else {
            Self::Tiled
        }))
    }
    /// The file of step kernel `base` in this implementation.
    pub(crate) fn name(self, base: &'static str) -> &'static str {
        match (self, base) {
            (Self::Simple, b) => b,
            (Self::Tiled, "rate_step") => "rate_step_tiled",
            (Self::Tiled, "rate_bptt_step") => "rate_bptt_step_tiled",
            (Self::Tiled, "spike_step") => "spike_step_tiled",
            (Self::Tiled, "spike_bptt_step") => "spike_bptt_step_tiled",
            (Self::Tiled, other) => unreachable!("no tiled form of {other}"),
        }
    }
    /// Workgroups along y: one per trial, or one per tile of [`TILE_TRIALS`].
    pub(crate) fn trial_groups(self, b: u32) -> u32 {
        match self {
            Self::Simple => b,
            Self::Tiled => b.div_ceil(TILE_TRIALS),
        }
    }
}
