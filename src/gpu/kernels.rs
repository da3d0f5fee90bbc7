//! The WGSL sources as compiled (preludes, the binding declarations generated from the kernel's
//! entry in [`abi::KERNELS`], the kernel's file, the snippets it calls) and [`Kernel`]: one compute
//! pipeline with the explicit bind-group layout that entry gives, bound by binding name and
//! dispatched by the engines.
//!
//! `shaders/common/` holds the preludes, `shaders/rate/` and `shaders/spike/` the kernels (and
//! snippets) of one kind, `shaders/shared/` what both kinds build with.

use std::fmt::Write as _;

use wgpu::util::DeviceExt;

use super::abi::{self, KernelSpec, Prelude, Slot};
use super::context::GpuContext;

/// One WGSL file: its name (the file stem), its path below `shaders/` and its text.
#[derive(Clone, Copy, Debug)]
pub struct ShaderFile {
    pub name: &'static str,
    pub path: &'static str,
    pub source: &'static str,
}

/// The files named, folder by folder: `shader_files!["dir": ["name", ...], ...]`.
macro_rules! shader_files {
    ($($dir:literal: [$($name:literal),* $(,)?]),* $(,)?) => {
        &[$($(ShaderFile {
            name: $name,
            path: concat!($dir, "/", $name, ".wgsl"),
            source: include_str!(concat!("../../shaders/", $dir, "/", $name, ".wgsl")),
        }),*),*]
    };
}

/// The preludes: `pack` before every kernel, then the kind's own (`rate` or `spike`).
pub const PRELUDES: &[ShaderFile] = shader_files!["common": ["pack", "rate", "spike"]];

/// Every kernel file (a file may hold the simple and the tiled form of a step kernel, see
/// [`parts_of`]). Those in `shared/` are built with both preludes.
#[rustfmt::skip]
pub const SHADERS: &[ShaderFile] = shader_files![
    "rate": [
        "rec_effective", "rec_grad_chain", "rate_init", "rate_step", "rate_readout_loss",
        "loss_reduce", "rate_bptt_step", "ah0_grad", "eprop_trace", "eprop_accum",
    ],
    "spike": [
        "spike_step", "spike_readout", "spike_loss", "spike_rates", "spike_loss_reduce",
        "spike_bptt_step", "spike_zero_diag", "spike_eprop_pre", "spike_eprop_trace",
        "spike_online_out", "spike_online_readout_grad", "spike_online_rates",
        "spike_online_reg_grad",
    ],
    "shared": ["outer_grad", "adam"],
];

/// Shared WGSL appended after the file of the kernels that call it (WGSL has no includes): the
/// entry points of the two step forms and the tiled products, the task loss, the loss totals,
/// the rate regulariser.
#[rustfmt::skip]
pub const SNIPPETS: &[ShaderFile] = shader_files![
    "shared": [
        "step_simple", "step_tiled", "tile", "tile_forward", "tile_backward", "task_loss",
        "loss_totals",
    ],
    "spike": ["rate_reg"],
];

const SIMPLE: &[&str] = &["step_simple"];
const TILED_FORWARD: &[&str] = &["tile", "tile_forward", "step_tiled"];
const TILED_BACKWARD: &[&str] = &["tile", "tile_backward", "step_tiled"];

/// Kernel `kernel`'s file (in [`SHADERS`]) and the snippets appended to it, in order.
pub fn parts_of(kernel: &str) -> (&'static str, &'static [&'static str]) {
    match kernel {
        "rate_step" | "rate_bptt_step" | "spike_step" | "spike_bptt_step" => {
            (kernel_file(kernel), SIMPLE)
        }
        "rate_step_tiled" => ("rate_step", TILED_FORWARD),
        "spike_step_tiled" => ("spike_step", TILED_FORWARD),
        "rate_bptt_step_tiled" => ("rate_bptt_step", TILED_BACKWARD),
        "spike_bptt_step_tiled" => ("spike_bptt_step", TILED_BACKWARD),
        "rate_readout_loss" | "spike_loss" | "spike_online_out" => {
            (kernel_file(kernel), &["task_loss"])
        }
        "loss_reduce" | "spike_loss_reduce" => (kernel_file(kernel), &["loss_totals"]),
        "spike_rates" | "spike_online_rates" => (kernel_file(kernel), &["rate_reg"]),
        _ => (kernel_file(kernel), &[]),
    }
}

/// The registered file named `name` (every kernel's own name is its file's).
fn kernel_file(name: &str) -> &'static str {
    file(SHADERS, name).name
}

fn file(files: &'static [ShaderFile], name: &str) -> &'static ShaderFile {
    files
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name}.wgsl is not registered in gpu::kernels"))
}

/// A kernel's file followed by its snippets (no prelude, no bindings).
pub fn kernel_source(kernel: &str) -> String {
    let (own, snippets) = parts_of(kernel);
    let mut src = file(SHADERS, own).source.to_string();
    for snip in snippets {
        src.push('\n');
        src.push_str(file(SNIPPETS, snip).source);
    }
    src
}

/// The preludes of a kernel built with `p`, as prepended: `pack`, then the kind's own.
pub fn prelude_source(p: Prelude) -> String {
    let kind = match p {
        Prelude::Rate => "rate",
        Prelude::Spike => "spike",
    };
    format!(
        "{}\n{}",
        file(PRELUDES, "pack").source,
        file(PRELUDES, kind).source
    )
}

/// The WGSL declaration of every binding of `spec`, generated from the table: binding i is the
/// i-th entry (storage bindings are arrays of the slot's element type).
pub fn binding_declarations(spec: &KernelSpec) -> String {
    let mut out = format!("// Bindings of {}, from gpu::abi::KERNELS.\n", spec.name);
    for (i, (name, slot)) in spec.bindings.iter().enumerate() {
        let decl = match slot {
            Slot::Uniform(ty) | Slot::UniformDyn(ty) => format!("var<uniform> {name}: {ty};"),
            Slot::Read(ty) => format!("var<storage, read> {name}: array<{ty}>;"),
            Slot::ReadWrite(ty) => format!("var<storage, read_write> {name}: array<{ty}>;"),
        };
        writeln!(out, "@group(0) @binding({i}) {decl}").expect("writing to a String");
    }
    out
}

/// Kernel `spec` as compiled: its prelude, its bindings, its file, then its snippets.
pub fn built_source(spec: &KernelSpec) -> String {
    format!(
        "{}\n{}\n{}",
        prelude_source(spec.prelude),
        binding_declarations(spec),
        kernel_source(spec.name)
    )
}

/// `kernel_src` after the rate preludes (for checking sources that are not in the table).
pub fn full_source(kernel_src: &str) -> String {
    format!("{}\n{kernel_src}", prelude_source(Prelude::Rate))
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
    /// One thread per (unit, trial) looping over the N inputs (`shaders/shared/step_simple.wgsl`
    /// after the step kernel's file): no workgroup barriers, the fastest on lavapipe.
    Simple,
    /// 64 units × 8 trials per workgroup through workgroup memory (`shaders/shared/tile*.wgsl`,
    /// `step_tiled.wgsl`): coalesced
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
