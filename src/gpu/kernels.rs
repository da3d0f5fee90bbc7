//! One typed wrapper per WGSL kernel in `shaders/`. Each wrapper owns its pipeline and explicit
//! bind-group layout (built once), binds named buffers, and records its dispatch.

use wgpu::util::DeviceExt;

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

#[derive(Clone, Copy)]
pub(crate) enum Slot {
    Uniform,
    UniformDyn,
    Read,
    ReadWrite,
}

/// A compute pipeline with its explicit bind-group layout.
pub struct Kernel {
    name: &'static str,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    slots: Vec<Slot>,
}

impl Kernel {
    pub(crate) fn new(ctx: &GpuContext, name: &'static str, slots: &[Slot]) -> Self {
        Self::with_prelude(ctx, name, prelude_of(name), slots)
    }

    pub(crate) fn with_prelude(
        ctx: &GpuContext,
        name: &'static str,
        prelude: &str,
        slots: &[Slot],
    ) -> Self {
        let dev = &ctx.device;
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(
                full_source_with(prelude, &kernel_source(name)).into(),
            ),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match s {
                        Slot::Uniform | Slot::UniformDyn => wgpu::BufferBindingType::Uniform,
                        Slot::Read => wgpu::BufferBindingType::Storage { read_only: true },
                        Slot::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: matches!(s, Slot::UniformDyn),
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(name),
            entries: &entries,
        });
        let pl = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(name),
            layout: Some(&pl),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Self {
            name,
            pipeline,
            layout,
            slots: slots.to_vec(),
        }
    }

    /// Bind buffers in binding order; a dynamic uniform binds one `size`-byte entry.
    pub(crate) fn bind(
        &self,
        ctx: &GpuContext,
        buffers: &[&wgpu::Buffer],
        dyn_size: u64,
    ) -> wgpu::BindGroup {
        assert_eq!(
            buffers.len(),
            self.slots.len(),
            "kernel {} binds {} buffers",
            self.name,
            self.slots.len()
        );
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .zip(&self.slots)
            .enumerate()
            .map(|(i, (b, s))| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: match s {
                    Slot::UniformDyn => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: b,
                        offset: 0,
                        size: wgpu::BufferSize::new(dyn_size),
                    }),
                    _ => b.as_entire_binding(),
                },
            })
            .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.name),
            layout: &self.layout,
            entries: &entries,
        })
    }

    pub(crate) fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        offsets: &[u32],
        x: u32,
        y: u32,
        z: u32,
    ) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bg, offsets);
        pass.dispatch_workgroups(x, y, z);
    }
}

pub const WG: u32 = 64;
pub fn groups(n: usize) -> u32 {
    (n as u32).div_ceil(WG)
}

/// Uniform `Dims` of `shaders/common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Dims {
    pub m: u32,
    pub b: u32,
    pub t: u32,
    pub n: u32,
    pub n_in: u32,
    pub n_out: u32,
    pub k_t: u32,
    pub act: u32,
    pub loss: u32,
    pub p_len: u32,
    pub dale: u32,
    pub use_feedback: u32,
    pub off_w_in: u32,
    pub off_b_in: u32,
    pub off_w_rec: u32,
    pub off_w_out: u32,
    pub off_b_out: u32,
    pub off_ah0: u32,
    pub alpha: f32,
    pub b_total: u32,
    pub accumulate: u32,
    pub _pad: [u32; 3],
}

/// Uniform `Step` of `shaders/common.wgsl`; one per time step, 256-byte aligned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Step {
    pub t: u32,
    pub cut_self: u32,
    pub cut_next: u32,
    pub _pad: u32,
    pub decay: f32,
    pub eps_b: f32,
    pub _pad2: [f32; 2],
}

/// Uniform `OuterJob` of `shaders/outer_grad.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct OuterJob {
    pub rows: u32,
    pub cols: u32,
    pub samples: u32,
    pub ones: u32,
    pub a_net: u32,
    pub a_off: u32,
    pub a_stride: u32,
    pub p_net: u32,
    pub p_off: u32,
    pub p_stride: u32,
    pub dst: u32,
    pub scale: f32,
}

/// Uniform `AdamStep` of `shaders/adam.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamStep {
    pub bc1: f32,
    pub sqrt_bc2: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub _pad: [f32; 3],
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

// ---- typed wrappers -------------------------------------------------------------------------

/// `rec_effective.wgsl`: w_eff = (dale ? |w| : w) * mask_rec.
pub struct RecEffective(Kernel);
impl RecEffective {
    pub fn new(ctx: &GpuContext) -> Self {
        Self(Kernel::new(
            ctx,
            "rec_effective",
            &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite],
        ))
    }
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        params: &wgpu::Buffer,
        mask_rec: &wgpu::Buffer,
        w_eff: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, params, mask_rec, w_eff], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &Dims) {
        self.0
            .dispatch(pass, bg, &[], groups((d.n * d.n) as usize), d.m, 1);
    }
}

/// `rec_grad_chain.wgsl`: maps the w_eff gradient back to the w_rec parameter in place.
pub struct RecGradChain(Kernel);
impl RecGradChain {
    pub fn new(ctx: &GpuContext) -> Self {
        Self(Kernel::new(
            ctx,
            "rec_grad_chain",
            &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite],
        ))
    }
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        params: &wgpu::Buffer,
        mask_rec: &wgpu::Buffer,
        grads: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, params, mask_rec, grads], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &Dims) {
        self.0
            .dispatch(pass, bg, &[], groups((d.n * d.n) as usize), d.m, 1);
    }
}

/// `rate_init.wgsl`: state slot 0 from ah0.
pub struct RateInit(Kernel);
impl RateInit {
    pub fn new(ctx: &GpuContext) -> Self {
        Self(Kernel::new(
            ctx,
            "rate_init",
            &[Slot::Uniform, Slot::Read, Slot::ReadWrite, Slot::ReadWrite],
        ))
    }
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        params: &wgpu::Buffer,
        ah: &wgpu::Buffer,
        h: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, params, ah, h], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &Dims) {
        self.0
            .dispatch(pass, bg, &[], groups(d.n as usize), d.b, d.m);
    }
}

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
    /// `$SNNLAB_GPU_KERNELS` (`simple` or `tiled`) when set, else tiled on hardware GPUs and
    /// simple on software adapters (llvmpipe runs barriers slowly: 2.4× slower forward there).
    pub fn for_adapter(ctx: &GpuContext) -> crate::error::Result<Self> {
        match std::env::var("SNNLAB_GPU_KERNELS").ok().as_deref() {
            Some("simple") => Ok(Self::Simple),
            Some("tiled") => Ok(Self::Tiled),
            Some(other) => Err(crate::error::Error::Input(format!(
                "SNNLAB_GPU_KERNELS = '{other}': expected simple or tiled"
            ))),
            None => Ok(if ctx.is_software() {
                Self::Simple
            } else {
                Self::Tiled
            }),
        }
    }
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

/// `rate_step.wgsl` / `rate_step_tiled.wgsl`: one forward step.
pub struct RateStep(Kernel, StepKernels);
impl RateStep {
    pub fn new(ctx: &GpuContext, variant: StepKernels) -> Self {
        use Slot::*;
        Self(
            Kernel::new(
                ctx,
                variant.name("rate_step"),
                &[Uniform, UniformDyn, Read, Read, Read, ReadWrite, ReadWrite],
            ),
            variant,
        )
    }
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        steps: &wgpu::Buffer,
        params: &wgpu::Buffer,
        w_eff: &wgpu::Buffer,
        x: &wgpu::Buffer,
        ah: &wgpu::Buffer,
        h: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[dims, steps, params, w_eff, x, ah, h],
            std::mem::size_of::<Step>() as u64,
        )
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &Dims,
        step_offset: u32,
    ) {
        self.0.dispatch(
            pass,
            bg,
            &[step_offset],
            groups(d.n as usize),
            self.1.trial_groups(d.b),
            d.m,
        );
    }
}

/// Trials per workgroup of the tiled step kernels (`TB` in rate_step_tiled.wgsl,
/// rate_bptt_step_tiled.wgsl, spike_step_tiled.wgsl, spike_bptt_step_tiled.wgsl).
pub const TILE_TRIALS: u32 = 8;

/// `rate_readout_loss.wgsl`: y, loss parts and dE/dy for every step.
pub struct RateReadoutLoss(Kernel);
impl RateReadoutLoss {
    pub fn new(ctx: &GpuContext) -> Self {
        use Slot::*;
        Self(Kernel::new(
            ctx,
            "rate_readout_loss",
            &[
                Uniform, Read, Read, Read, Read, Read, ReadWrite, ReadWrite, ReadWrite,
            ],
        ))
    }
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        params: &wgpu::Buffer,
        h: &wgpu::Buffer,
        targets: &wgpu::Buffer,
        mask: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        y: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        part: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[dims, params, h, targets, mask, net_f, y, dy, part],
            0,
        )
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &Dims) {
        self.0
            .dispatch(pass, bg, &[], groups((d.t * d.b) as usize), d.m, 1);
    }
}

/// `loss_reduce.wgsl`: per-network task loss and mean(h^2).
pub struct LossReduce(Kernel);
impl LossReduce {
    pub fn new(ctx: &GpuContext) -> Self {
        Self(Kernel::new(
            ctx,
            "loss_reduce",
            &[Slot::Uniform, Slot::Read, Slot::Read, Slot::ReadWrite],
        ))
    }
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        part: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        loss_out: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, part, net_f, loss_out], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &Dims) {
        self.0.dispatch(pass, bg, &[], d.m, 1, 1);
    }
}

/// `rate_bptt_step.wgsl` / `rate_bptt_step_tiled.wgsl`: one reverse step of the delta recurrence.
pub struct RateBpttStep(Kernel, StepKernels);
impl RateBpttStep {
    pub fn new(ctx: &GpuContext, variant: StepKernels) -> Self {
        use Slot::*;
        Self(
            Kernel::new(
                ctx,
                variant.name("rate_bptt_step"),
                &[
                    Uniform, UniformDyn, Read, Read, Read, Read, Read, Read, Read, ReadWrite,
                ],
            ),
            variant,
        )
    }
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        steps: &wgpu::Buffer,
        params: &wgpu::Buffer,
        w_eff: &wgpu::Buffer,
        feedback_t: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        ah: &wgpu::Buffer,
        h: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        delta: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[
                dims, steps, params, w_eff, feedback_t, dy, ah, h, net_f, delta,
            ],
            std::mem::size_of::<Step>() as u64,
        )
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &Dims,
        step_offset: u32,
    ) {
        self.0.dispatch(
            pass,
            bg,
            &[step_offset],
            groups(d.n as usize),
            self.1.trial_groups(d.b),
            d.m,
        );
    }
}

/// `outer_grad.wgsl`: weight gradients as sums of outer products.
pub struct OuterGrad(Kernel);
impl OuterGrad {
    pub fn new(ctx: &GpuContext) -> Self {
        use Slot::*;
        Self(Kernel::new(
            ctx,
            "outer_grad",
            &[Uniform, UniformDyn, Read, Read, ReadWrite],
        ))
    }
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        jobs: &wgpu::Buffer,
        a: &wgpu::Buffer,
        p: &wgpu::Buffer,
        grads: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[dims, jobs, a, p, grads],
            std::mem::size_of::<OuterJob>() as u64,
        )
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &Dims,
        job: &OuterJob,
        job_offset: u32,
    ) {
        self.0.dispatch(
            pass,
            bg,
            &[job_offset],
            groups((job.rows * job.cols) as usize),
            d.m,
            1,
        );
    }
}

/// `ah0_grad.wgsl`: gradient of the initial state.
pub struct Ah0Grad(Kernel);
impl Ah0Grad {
    pub fn new(ctx: &GpuContext) -> Self {
        use Slot::*;
        Self(Kernel::new(
            ctx,
            "ah0_grad",
            &[Uniform, UniformDyn, Read, Read, Read, ReadWrite],
        ))
    }
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        steps: &wgpu::Buffer,
        params: &wgpu::Buffer,
        w_eff: &wgpu::Buffer,
        delta: &wgpu::Buffer,
        grads: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[dims, steps, params, w_eff, delta, grads],
            std::mem::size_of::<Step>() as u64,
        )
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &Dims) {
        self.0
            .dispatch(pass, bg, &[0], groups(d.n as usize), d.m, 1);
    }
}

/// `eprop_trace.wgsl`: presynaptic traces and postsynaptic factor of step t.
pub struct EpropTrace(Kernel);
impl EpropTrace {
    pub fn new(ctx: &GpuContext) -> Self {
        use Slot::*;
        Self(Kernel::new(
            ctx,
            "eprop_trace",
            &[
                Uniform, UniformDyn, Read, Read, Read, Read, Read, Read, Read, ReadWrite,
                ReadWrite, ReadWrite,
            ],
        ))
    }
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        steps: &wgpu::Buffer,
        params: &wgpu::Buffer,
        feedback_t: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        ah: &wgpu::Buffer,
        h: &wgpu::Buffer,
        x: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        eps_h: &wgpu::Buffer,
        eps_x: &wgpu::Buffer,
        post: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[
                dims, steps, params, feedback_t, dy, ah, h, x, net_f, eps_h, eps_x, post,
            ],
            std::mem::size_of::<Step>() as u64,
        )
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &Dims,
        step_offset: u32,
    ) {
        self.0.dispatch(
            pass,
            bg,
            &[step_offset],
            groups(d.n.max(d.n_in) as usize),
            d.b,
            d.m,
        );
    }
}

/// `eprop_accum.wgsl`: adds step t's eligibility × learning signal to the gradients.
pub struct EpropAccum(Kernel);
impl EpropAccum {
    pub fn new(ctx: &GpuContext) -> Self {
        use Slot::*;
        Self(Kernel::new(
            ctx,
            "eprop_accum",
            &[Uniform, UniformDyn, Read, Read, Read, ReadWrite],
        ))
    }
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        steps: &wgpu::Buffer,
        post: &wgpu::Buffer,
        eps_h: &wgpu::Buffer,
        eps_x: &wgpu::Buffer,
        grads: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[dims, steps, post, eps_h, eps_x, grads],
            std::mem::size_of::<Step>() as u64,
        )
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &Dims,
        step_offset: u32,
    ) {
        self.0.dispatch(
            pass,
            bg,
            &[step_offset],
            groups((d.n + d.n_in + 2) as usize),
            d.n,
            d.m,
        );
    }
}

/// `adam.wgsl`: one Adam step for every parameter of every network.
pub struct AdamKernel(Kernel);
impl AdamKernel {
    pub fn new(ctx: &GpuContext) -> Self {
        use Slot::*;
        Self(Kernel::new(
            ctx,
            "adam",
            &[
                Uniform, Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite,
            ],
        ))
    }
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        hyper: &wgpu::Buffer,
        grads: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        params: &wgpu::Buffer,
        mo: &wgpu::Buffer,
        ve: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0
            .bind(ctx, &[dims, hyper, grads, net_f, params, mo, ve], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &Dims) {
        self.0
            .dispatch(pass, bg, &[], groups(d.p_len as usize), d.m, 1);
    }
}
