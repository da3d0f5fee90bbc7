//! One typed wrapper per spiking WGSL kernel (`shaders/spike_*.wgsl`, built with the
//! `spike_common.wgsl` prelude), plus the shared `outer_grad` and `adam` kernels built with that
//! prelude. Same pattern as `kernels.rs`: pipeline and layout built once, named buffers bound,
//! the dispatch recorded.

use super::context::GpuContext;
use super::kernels::{Kernel, OuterJob, SPIKE_PRELUDE, Slot, StepKernels, groups};

/// Uniform `Dims` of `shaders/spike_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SpikeDims {
    pub m: u32,
    pub b: u32,
    pub t: u32,
    pub n: u32,
    pub n_in: u32,
    pub n_out: u32,
    pub k_t: u32,
    pub loss: u32,
    pub p_len: u32,
    pub use_feedback: u32,
    pub alif: u32,
    pub n_ref: u32,
    pub off_w_in: u32,
    pub off_w_rec: u32,
    pub off_w_out: u32,
    pub off_b_out: u32,
    pub a_v: f32,
    pub rho: f32,
    pub kappa: f32,
    pub v_th: f32,
    pub beta: f32,
    pub gamma: f32,
    pub accumulate: u32,
    /// Time slots of the trajectory buffers: T, or 2 for online e-prop (a ring).
    pub slots: u32,
}

/// Uniform `Step` of `shaders/spike_common.wgsl`; one per time step, aligned for dynamic offsets.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SpikeStep {
    pub t: u32,
    pub cut_next: u32,
    pub parity: u32,
    pub _pad: u32,
}

const STEP: u64 = std::mem::size_of::<SpikeStep>() as u64;

macro_rules! wrapper {
    ($(#[$doc:meta])* $ty:ident, $name:literal, [$($slot:ident),*]) => {
        $(#[$doc])*
        pub struct $ty(Kernel);
        impl $ty {
            pub fn new(ctx: &GpuContext) -> Self {
                Self(Kernel::with_prelude(ctx, $name, SPIKE_PRELUDE, &[$(Slot::$slot),*]))
            }
        }
    };
}

/// `spike_step.wgsl` / `spike_step_tiled.wgsl`: one forward step (v, a, z, psi, refractory counters).
pub struct SpikeStepKernel(Kernel, StepKernels);
impl SpikeStepKernel {
    pub fn new(ctx: &GpuContext, variant: StepKernels) -> Self {
        use Slot::*;
        Self(
            Kernel::with_prelude(
                ctx,
                variant.name("spike_step"),
                SPIKE_PRELUDE,
                &[
                    Uniform, UniformDyn, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite,
                    ReadWrite,
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
        x: &wgpu::Buffer,
        v: &wgpu::Buffer,
        a: &wgpu::Buffer,
        z: &wgpu::Buffer,
        psi: &wgpu::Buffer,
        refr: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0
            .bind(ctx, &[dims, steps, params, x, v, a, z, psi, refr], STEP)
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &SpikeDims,
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

wrapper!(
    /// `spike_readout.wgsl`: readout drive w_out z + b_out of every step.
    SpikeReadout, "spike_readout", [Uniform, Read, Read, ReadWrite]
);
impl SpikeReadout {
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        params: &wgpu::Buffer,
        z: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, params, z, y], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &SpikeDims) {
        self.0.dispatch(
            pass,
            bg,
            &[],
            groups((d.t * d.b * d.n_out) as usize),
            d.m,
            1,
        );
    }
}

wrapper!(
    /// `spike_loss.wgsl`: leaky readout, task loss, dE/dy and the readout adjoint gy.
    SpikeLoss, "spike_loss", [Uniform, Read, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite]
);
impl SpikeLoss {
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        targets: &wgpu::Buffer,
        mask: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        y: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        gy: &wgpu::Buffer,
        part: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0
            .bind(ctx, &[dims, targets, mask, net_f, y, dy, gy, part], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &SpikeDims) {
        self.0.dispatch(pass, bg, &[], groups(d.b as usize), d.m, 1);
    }
}

wrapper!(
    /// `spike_rates.wgsl`: firing rates and dE_reg/dz.
    SpikeRates, "spike_rates", [Uniform, Read, Read, ReadWrite, ReadWrite]
);
impl SpikeRates {
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        z: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        rate: &wgpu::Buffer,
        dreg: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, z, net_f, rate, dreg], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &SpikeDims) {
        self.0.dispatch(pass, bg, &[], groups(d.n as usize), d.m, 1);
    }
}

wrapper!(
    /// `spike_loss_reduce.wgsl`: per-network task loss and rate regulariser.
    SpikeLossReduce, "spike_loss_reduce", [Uniform, Read, Read, Read, ReadWrite]
);
impl SpikeLossReduce {
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        part: &wgpu::Buffer,
        rate: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        loss_out: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, part, rate, net_f, loss_out], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &SpikeDims) {
        self.0.dispatch(pass, bg, &[], d.m, 1, 1);
    }
}

/// `spike_bptt_step.wgsl` / `spike_bptt_step_tiled.wgsl`: one reverse step of the adjoint
/// recurrence (BPTT or a cut graph).
pub struct SpikeBpttStep(Kernel, StepKernels);
impl SpikeBpttStep {
    pub fn new(ctx: &GpuContext, variant: StepKernels) -> Self {
        use Slot::*;
        Self(
            Kernel::with_prelude(
                ctx,
                variant.name("spike_bptt_step"),
                SPIKE_PRELUDE,
                &[
                    Uniform, UniformDyn, Read, Read, Read, Read, Read, ReadWrite, ReadWrite,
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
        feedback: &wgpu::Buffer,
        gy: &wgpu::Buffer,
        psi: &wgpu::Buffer,
        dreg: &wgpu::Buffer,
        dv: &wgpu::Buffer,
        da: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[dims, steps, params, feedback, gy, psi, dreg, dv, da],
            STEP,
        )
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &SpikeDims,
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

wrapper!(
    /// `spike_zero_diag.wgsl`: zero diagonal of the w_rec gradient.
    SpikeZeroDiag, "spike_zero_diag", [Uniform, ReadWrite]
);
impl SpikeZeroDiag {
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        grads: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, grads], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &SpikeDims) {
        self.0.dispatch(pass, bg, &[], groups(d.n as usize), d.m, 1);
    }
}

wrapper!(
    /// `spike_eprop_pre.wgsl`: presynaptic eligibility traces of step t.
    SpikeEpropPre, "spike_eprop_pre", [Uniform, UniformDyn, Read, Read, ReadWrite]
);
impl SpikeEpropPre {
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        steps: &wgpu::Buffer,
        z: &wgpu::Buffer,
        x: &wgpu::Buffer,
        eps_v: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, steps, z, x, eps_v], STEP)
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &SpikeDims,
        step_offset: u32,
    ) {
        self.0.dispatch(
            pass,
            bg,
            &[step_offset],
            groups((d.n + d.n_in) as usize),
            d.b,
            d.m,
        );
    }
}

wrapper!(
    /// `spike_eprop_trace.wgsl`: per-synapse traces of step t and their gradient contribution.
    SpikeEpropTrace, "spike_eprop_trace", [Uniform, UniformDyn, Read, Read, Read, Read, ReadWrite, Read, ReadWrite, ReadWrite, ReadWrite]
);
impl SpikeEpropTrace {
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        steps: &wgpu::Buffer,
        params: &wgpu::Buffer,
        feedback: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        psi: &wgpu::Buffer,
        esum: &wgpu::Buffer,
        eps_v: &wgpu::Buffer,
        eps_a: &wgpu::Buffer,
        ebar: &wgpu::Buffer,
        grads: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[
                dims, steps, params, feedback, dy, psi, esum, eps_v, eps_a, ebar, grads,
            ],
            STEP,
        )
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &SpikeDims,
        step_offset: u32,
    ) {
        self.0.dispatch(
            pass,
            bg,
            &[step_offset],
            groups((d.n + d.n_in) as usize),
            d.n,
            d.m,
        );
    }
}

wrapper!(
    /// `spike_online_out.wgsl`: readout, loss, dE/dy and running sums of step t (online e-prop).
    SpikeOnlineOut, "spike_online_out", [Uniform, UniformDyn, Read, Read, Read, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite, ReadWrite, ReadWrite]
);
impl SpikeOnlineOut {
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        steps: &wgpu::Buffer,
        params: &wgpu::Buffer,
        z: &wgpu::Buffer,
        targets: &wgpu::Buffer,
        mask: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        y: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        part: &wgpu::Buffer,
        zbar: &wgpu::Buffer,
        zsum: &wgpu::Buffer,
        cbar: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(
            ctx,
            &[
                dims, steps, params, z, targets, mask, net_f, y, dy, part, zbar, zsum, cbar,
            ],
            STEP,
        )
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &SpikeDims,
        step_offset: u32,
    ) {
        self.0
            .dispatch(pass, bg, &[step_offset], groups(d.b as usize), d.m, 1);
    }
}

wrapper!(
    /// `spike_online_readout_grad.wgsl`: readout gradients of step t from the filtered spikes.
    SpikeOnlineReadoutGrad, "spike_online_readout_grad", [Uniform, UniformDyn, Read, Read, Read, ReadWrite]
);
impl SpikeOnlineReadoutGrad {
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        steps: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        zbar: &wgpu::Buffer,
        cbar: &wgpu::Buffer,
        grads: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0
            .bind(ctx, &[dims, steps, dy, zbar, cbar, grads], STEP)
    }
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        bg: &wgpu::BindGroup,
        d: &SpikeDims,
        step_offset: u32,
    ) {
        self.0.dispatch(
            pass,
            bg,
            &[step_offset],
            groups((d.n_out * (d.n + 1)) as usize),
            d.m,
            1,
        );
    }
}

wrapper!(
    /// `spike_online_rates.wgsl`: rates and dE_reg/dz from the running spike counts.
    SpikeOnlineRates, "spike_online_rates", [Uniform, Read, Read, ReadWrite, ReadWrite]
);
impl SpikeOnlineRates {
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        zsum: &wgpu::Buffer,
        net_f: &wgpu::Buffer,
        rate: &wgpu::Buffer,
        dreg: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, zsum, net_f, rate, dreg], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &SpikeDims) {
        self.0.dispatch(pass, bg, &[], groups(d.n as usize), d.m, 1);
    }
}

wrapper!(
    /// `spike_online_reg_grad.wgsl`: the regulariser's part of the e-prop weight gradients.
    SpikeOnlineRegGrad, "spike_online_reg_grad", [Uniform, Read, Read, ReadWrite]
);
impl SpikeOnlineRegGrad {
    pub fn bind(
        &self,
        ctx: &GpuContext,
        dims: &wgpu::Buffer,
        dreg: &wgpu::Buffer,
        esum: &wgpu::Buffer,
        grads: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.0.bind(ctx, &[dims, dreg, esum, grads], 0)
    }
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &SpikeDims) {
        self.0
            .dispatch(pass, bg, &[], groups((d.n + d.n_in) as usize), d.n, d.m);
    }
}

wrapper!(
    /// `outer_grad.wgsl` with the spiking prelude: weight gradients as sums of outer products.
    SpikeOuterGrad, "outer_grad", [Uniform, UniformDyn, Read, Read, ReadWrite]
);
impl SpikeOuterGrad {
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
        d: &SpikeDims,
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

wrapper!(
    /// `adam.wgsl` with the spiking prelude.
    SpikeAdam, "adam", [Uniform, Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite]
);
impl SpikeAdam {
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
    pub fn encode(&self, pass: &mut wgpu::ComputePass, bg: &wgpu::BindGroup, d: &SpikeDims) {
        self.0
            .dispatch(pass, bg, &[], groups(d.p_len as usize), d.m, 1);
    }
}
