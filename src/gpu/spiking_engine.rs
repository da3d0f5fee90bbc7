//! The GPU engine for a pack of M spiking (LIF/ALIF) networks of one shape, each with its own
//! weights, batch, regulariser weight and learning rate. As for the rate engine: buffers,
//! pipelines and bind groups are built once, a whole update (T forward steps, loss, gradient,
//! Adam) is one command buffer and one submission, and only the M losses are read back.
//!
//! Gradients: BPTT and every cut graph (tbptt:K, readout-fa, and e-prop's factorised form) by
//! the reverse sweep `spike_bptt_step` and one outer-product reduction per weight matrix; e-prop
//! online by per-synapse traces (`spike_eprop_pre`, `spike_eprop_trace`) updated every step.
//!
//! Device memory (f32 words), see [`SpikingEngine::memory_bytes`]:
//! - always: params, grads, Adam m and v `4·M·P`; the batch `M·T·B·(n_in + 2·k_t)`; small
//!   per-network state;
//! - BPTT / factorised e-prop: whole trajectories v, a, z, psi, dv `5·M·T·B·N` and y, dy, gy
//!   `3·M·T·B·n_out` — linear in T;
//! - online e-prop: the forward pass and the traces advance together, step by step, so the
//!   trajectories are a ring of 2 steps (`4·M·2·B·N`, `2·M·2·B·n_out`), plus eps_v
//!   `2·M·B·(N + n_in)`, eps_a and ebar `2·M·B·N·(N + n_in)`, esum `M·N·(N + n_in)` and the
//!   readout's running sums `2·M·B·N + M·B` — independent of T (only the batch itself grows).

use std::sync::Arc;

use ndarray::{Array3, Array4};
use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::kernels::{AdamStep, OuterJob, StepKernels, align, table_bytes, uniform_table};
use super::spiking_kernels::*;
use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::optim::{Adam, BETA1, BETA2, EPS};
use crate::rules::Rule;
use crate::spiking::{SpikingConfig, SpikingModel, SpikingParams};

/// Losses of one network after a forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpikeNetLoss {
    pub task: f32,
    /// `mean_j (rate_j - target)^2` (before lambda).
    pub rate_reg: f32,
}

/// How the gradient of an e-prop rule is computed (same numbers, different cost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpropForm {
    /// Per-synapse eligibility traces updated every step: memory independent of T.
    Online,
    /// The backward recurrence per neuron plus one product per weight matrix.
    Factorised,
}

/// The pieces of the device memory of a pack, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeMemory {
    pub total: u64,
    /// The largest single buffer (must fit one storage binding).
    pub largest: u64,
}

struct Buffers {
    dims: wgpu::Buffer,
    steps: wgpu::Buffer,
    jobs: wgpu::Buffer,
    adam: wgpu::Buffer,
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    adam_m: wgpu::Buffer,
    adam_v: wgpu::Buffer,
    feedback: wgpu::Buffer,
    net_f: wgpu::Buffer,
    x: wgpu::Buffer,
    targets: wgpu::Buffer,
    mask: wgpu::Buffer,
    v: wgpu::Buffer,
    a: wgpu::Buffer,
    z: wgpu::Buffer,
    psi: wgpu::Buffer,
    refr: wgpu::Buffer,
    y: wgpu::Buffer,
    dy: wgpu::Buffer,
    gy: wgpu::Buffer,
    part: wgpu::Buffer,
    rate: wgpu::Buffer,
    dreg: wgpu::Buffer,
    loss_out: wgpu::Buffer,
    loss_staging: wgpu::Buffer,
    dv: Option<wgpu::Buffer>,
    da: wgpu::Buffer,
    /// eps_v, eps_a, ebar (online e-prop only)
    traces: Option<[wgpu::Buffer; 3]>,
    online: Option<OnlineBuffers>,
}

/// The running sums of online e-prop (filtered spikes for the readout gradient, spike counts
/// for the rates, summed eligibilities for the regulariser).
struct OnlineBuffers {
    zbar: wgpu::Buffer,
    zsum: wgpu::Buffer,
    cbar: wgpu::Buffer,
    esum: wgpu::Buffer,
}

struct Kernels {
    step: SpikeStepKernel,
    readout: SpikeReadout,
    loss: SpikeLoss,
    rates: SpikeRates,
    reduce: SpikeLossReduce,
    bptt: SpikeBpttStep,
    zero_diag: SpikeZeroDiag,
    pre: SpikeEpropPre,
    trace: SpikeEpropTrace,
    outer: SpikeOuterGrad,
    adam: SpikeAdam,
    online_out: SpikeOnlineOut,
    online_readout: SpikeOnlineReadoutGrad,
    online_rates: SpikeOnlineRates,
    online_reg: SpikeOnlineRegGrad,
}

struct Groups {
    step: wgpu::BindGroup,
    readout: wgpu::BindGroup,
    loss: wgpu::BindGroup,
    rates: wgpu::BindGroup,
    reduce: wgpu::BindGroup,
    bptt: Option<wgpu::BindGroup>,
    zero_diag: wgpu::BindGroup,
    pre: Option<wgpu::BindGroup>,
    trace: Option<wgpu::BindGroup>,
    /// w_rec, w_in (from dv; BPTT only), w_out, b_out (from gy)
    outer: [Option<wgpu::BindGroup>; 4],
    adam: wgpu::BindGroup,
    /// online_out, online_readout, online_rates, online_reg (online packs)
    online: Option<[wgpu::BindGroup; 4]>,
}

pub struct SpikingEngine {
    ctx: Arc<GpuContext>,
    pub cfg: SpikingConfig,
    pub dims: SpikeDims,
    online: bool,
    k: Kernels,
    buf: Buffers,
    g: Groups,
    step_stride: u64,
    job_stride: u64,
    jobs: [OuterJob; 4],
    net_f: Vec<f32>,
    has_feedback: bool,
    rule: Option<Rule>,
    adam_steps: u64,
}

impl SpikingEngine {
    /// Device memory of a pack: with `online`, the trace buffers of online e-prop instead of dv.
    pub fn memory_bytes(
        cfg: &SpikingConfig,
        m: usize,
        b: usize,
        t: usize,
        loss: LossKind,
        online: bool,
    ) -> SpikeMemory {
        let (n, ni, no) = (cfg.n_rec as u64, cfg.n_in as u64, cfg.n_out as u64);
        let (m, b, t) = (m as u64, b as u64, t as u64);
        let kt = if loss == LossKind::Mse { no } else { 1 };
        let p = SpikingParams::<f32>::len(cfg) as u64;
        let batch = [m * t * b * ni, 2 * m * t * b * kt];
        let fixed = 4 * m * p + 2 * m * b * n + 3 * m * n + m * b + 2 * m;
        let (words, largest): (Vec<u64>, u64) = if online {
            let (traj, outs, tr) = (m * 2 * b * n, m * 2 * b * no, m * b * n * (n + ni));
            let w = vec![
                batch[0],
                batch[1],
                fixed,
                4 * traj,
                2 * outs,
                2 * m * b * (n + ni),
                2 * tr,
                m * n * (n + ni),
                2 * m * b * n + m * b,
            ];
            (
                w,
                [tr, batch[0], batch[1], m * p]
                    .into_iter()
                    .max()
                    .unwrap_or(0),
            )
        } else {
            let (traj, outs) = (m * t * b * n, m * t * b * no);
            (
                vec![batch[0], batch[1], fixed, 5 * traj, 3 * outs],
                [traj, batch[0], batch[1], m * p]
                    .into_iter()
                    .max()
                    .unwrap_or(0),
            )
        };
        SpikeMemory {
            total: 4 * words.iter().sum::<u64>(),
            largest: 4 * largest,
        }
    }

    /// Build a pack of `m` networks for batches of `b` trials × `t` steps. `EpropForm::Online`
    /// allocates the per-synapse traces of online e-prop (instead of the backward sweep's dv):
    /// such a pack computes e-prop rules online and refuses the others. `Factorised` packs run
    /// every rule by the backward sweep (e-prop as its factorised form).
    pub fn new(
        ctx: Arc<GpuContext>,
        cfg: &SpikingConfig,
        m: usize,
        b: usize,
        t: usize,
        loss: LossKind,
        form: EpropForm,
    ) -> Result<Self> {
        let variant = StepKernels::for_adapter(&ctx)?;
        Self::with_step_kernels(ctx, cfg, m, b, t, loss, form, variant)
    }

    /// [`SpikingEngine::new`] with a chosen implementation of the two step kernels (tests run both).
    #[allow(clippy::too_many_arguments)]
    pub fn with_step_kernels(
        ctx: Arc<GpuContext>,
        cfg: &SpikingConfig,
        m: usize,
        b: usize,
        t: usize,
        loss: LossKind,
        form: EpropForm,
        variant: StepKernels,
    ) -> Result<Self> {
        let online = form == EpropForm::Online;
        cfg.validate()?;
        if m == 0 || b == 0 || t == 0 {
            return Err(Error::Input(format!(
                "empty pack: M = {m}, B = {b}, T = {t}"
            )));
        }
        let mem = Self::memory_bytes(cfg, m, b, t, loss, online);
        if mem.largest > ctx.max_binding_bytes() {
            return Err(Error::Runtime(format!(
                "a spiking pack of {m} networks needs a {}-byte buffer but {} allows {} bytes per binding per pack",
                mem.largest,
                ctx.info.name,
                ctx.max_binding_bytes()
            )));
        }
        ctx.check_dispatch_dims(m, b, cfg.n_rec)?;
        let (n, ni, no) = (cfg.n_rec, cfg.n_in, cfg.n_out);
        let kt = if loss == LossKind::Mse { no } else { 1 };
        let p_len = SpikingParams::<f32>::len(cfg);
        let dims = SpikeDims {
            m: m as u32,
            b: b as u32,
            t: t as u32,
            n: n as u32,
            n_in: ni as u32,
            n_out: no as u32,
            k_t: kt as u32,
            loss: loss.gpu_code(),
            p_len: p_len as u32,
            use_feedback: 0,
            alif: cfg.is_alif() as u32,
            n_ref: cfg.n_ref as u32,
            off_w_in: 0,
            off_w_rec: (n * ni) as u32,
            off_w_out: (n * ni + n * n) as u32,
            off_b_out: (n * ni + n * n + no * n) as u32,
            a_v: cfg.a_v() as f32,
            rho: cfg.rho() as f32,
            kappa: cfg.kappa() as f32,
            v_th: cfg.v_th as f32,
            beta: cfg.beta_eff() as f32,
            gamma: cfg.gamma as f32,
            accumulate: 0,
            slots: if online { 2 } else { t as u32 },
        };
        let al = ctx.limits.min_uniform_buffer_offset_alignment as u64;
        let step_stride = align(std::mem::size_of::<SpikeStep>() as u64, al);
        let job_stride = align(std::mem::size_of::<OuterJob>() as u64, al);
        let dev = &ctx.device;
        let storage = |label: &str, floats: usize| ctx.storage_buffer(label, floats);
        let slots = dims.slots as usize;
        let traj = m * slots * b * n;
        let outs = m * slots * b * no;
        // Outer-product jobs over samples s = (t, b): w_rec pairs dv[t] with z[t-1] (t >= 1).
        let tb = (t * b) as u32;
        let jobs = [
            OuterJob {
                rows: n as u32,
                cols: n as u32,
                samples: tb - b as u32,
                ones: 0,
                a_net: (t * b * n) as u32,
                a_off: (b * n) as u32,
                a_stride: n as u32,
                p_net: (t * b * n) as u32,
                p_off: 0,
                p_stride: n as u32,
                dst: dims.off_w_rec,
                scale: 1.0,
            },
            OuterJob {
                rows: n as u32,
                cols: ni as u32,
                samples: tb,
                ones: 0,
                a_net: (t * b * n) as u32,
                a_off: 0,
                a_stride: n as u32,
                p_net: (t * b * ni) as u32,
                p_off: 0,
                p_stride: ni as u32,
                dst: dims.off_w_in,
                scale: 1.0,
            },
            OuterJob {
                rows: no as u32,
                cols: n as u32,
                samples: tb,
                ones: 0,
                a_net: (t * b * no) as u32,
                a_off: 0,
                a_stride: no as u32,
                p_net: (t * b * n) as u32,
                p_off: 0,
                p_stride: n as u32,
                dst: dims.off_w_out,
                scale: 1.0,
            },
            OuterJob {
                rows: no as u32,
                cols: 1,
                samples: tb,
                ones: 1,
                a_net: (t * b * no) as u32,
                a_off: 0,
                a_stride: no as u32,
                p_net: 0,
                p_off: 0,
                p_stride: 0,
                dst: dims.off_b_out,
                scale: 1.0,
            },
        ];
        let buf = Buffers {
            dims: dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("spike dims"),
                contents: bytemuck::bytes_of(&dims),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            }),
            steps: uniform_table(
                &ctx,
                "spike steps",
                &vec![SpikeStep::default(); t],
                step_stride,
            ),
            jobs: uniform_table(&ctx, "spike outer jobs", &jobs, job_stride),
            adam: uniform_table(
                &ctx,
                "spike adam step",
                &[AdamStep::default()],
                std::mem::size_of::<AdamStep>() as u64,
            ),
            params: storage("spike params", m * p_len),
            grads: storage("spike grads", m * p_len),
            adam_m: storage("spike adam m", m * p_len),
            adam_v: storage("spike adam v", m * p_len),
            feedback: storage("spike feedback", m * n * no),
            net_f: storage("spike net_f", m * 4),
            x: storage("spike x", m * t * b * ni),
            targets: storage("spike targets", m * t * b * kt),
            mask: storage("spike mask", m * t * b * kt),
            v: storage("v", traj),
            a: storage("a", traj),
            z: storage("z", traj),
            psi: storage("psi", traj),
            refr: storage("refractory", m * b * n),
            y: storage("spike y", outs),
            dy: storage("spike dy", outs),
            gy: storage("spike gy", if online { 1 } else { outs }),
            part: storage("spike loss parts", m * b),
            rate: storage("rates", m * n),
            dreg: storage("dreg", m * n),
            loss_out: storage("spike loss out", m * 2),
            loss_staging: dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("spike loss staging"),
                size: (m * 2 * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            dv: (!online).then(|| storage("dv", traj)),
            da: storage("da", m * b * n),
            traces: online.then(|| {
                [
                    storage("eps_v", 2 * m * b * (n + ni)),
                    storage("eps_a", m * b * n * (n + ni)),
                    storage("ebar", m * b * n * (n + ni)),
                ]
            }),
            online: online.then(|| OnlineBuffers {
                zbar: storage("zbar", m * b * n),
                zsum: storage("zsum", m * b * n),
                cbar: storage("cbar", m * b),
                esum: storage("esum", m * n * (n + ni)),
            }),
        };
        let k = Kernels {
            step: SpikeStepKernel::new(&ctx, variant),
            readout: SpikeReadout::new(&ctx),
            loss: SpikeLoss::new(&ctx),
            rates: SpikeRates::new(&ctx),
            reduce: SpikeLossReduce::new(&ctx),
            bptt: SpikeBpttStep::new(&ctx, variant),
            zero_diag: SpikeZeroDiag::new(&ctx),
            pre: SpikeEpropPre::new(&ctx),
            trace: SpikeEpropTrace::new(&ctx),
            outer: SpikeOuterGrad::new(&ctx),
            adam: SpikeAdam::new(&ctx),
            online_out: SpikeOnlineOut::new(&ctx),
            online_readout: SpikeOnlineReadoutGrad::new(&ctx),
            online_rates: SpikeOnlineRates::new(&ctx),
            online_reg: SpikeOnlineRegGrad::new(&ctx),
        };
        let c = &*ctx;
        let bf = &buf;
        let g = Groups {
            step: k.step.bind(
                c, &bf.dims, &bf.steps, &bf.params, &bf.x, &bf.v, &bf.a, &bf.z, &bf.psi, &bf.refr,
            ),
            readout: k.readout.bind(c, &bf.dims, &bf.params, &bf.z, &bf.y),
            loss: k.loss.bind(
                c,
                &bf.dims,
                &bf.targets,
                &bf.mask,
                &bf.net_f,
                &bf.y,
                &bf.dy,
                &bf.gy,
                &bf.part,
            ),
            rates: k
                .rates
                .bind(c, &bf.dims, &bf.z, &bf.net_f, &bf.rate, &bf.dreg),
            reduce: k
                .reduce
                .bind(c, &bf.dims, &bf.part, &bf.rate, &bf.net_f, &bf.loss_out),
            bptt: bf.dv.as_ref().map(|dv| {
                k.bptt.bind(
                    c,
                    &bf.dims,
                    &bf.steps,
                    &bf.params,
                    &bf.feedback,
                    &bf.gy,
                    &bf.psi,
                    &bf.dreg,
                    dv,
                    &bf.da,
                )
            }),
            zero_diag: k.zero_diag.bind(c, &bf.dims, &bf.grads),
            pre: bf
                .traces
                .as_ref()
                .map(|tr| k.pre.bind(c, &bf.dims, &bf.steps, &bf.z, &bf.x, &tr[0])),
            trace: bf.traces.as_ref().zip(bf.online.as_ref()).map(|(tr, on)| {
                k.trace.bind(
                    c,
                    &bf.dims,
                    &bf.steps,
                    &bf.params,
                    &bf.feedback,
                    &bf.dy,
                    &bf.psi,
                    &on.esum,
                    &tr[0],
                    &tr[1],
                    &tr[2],
                    &bf.grads,
                )
            }),
            outer: [
                bf.dv
                    .as_ref()
                    .map(|dv| k.outer.bind(c, &bf.dims, &bf.jobs, dv, &bf.z, &bf.grads)),
                bf.dv
                    .as_ref()
                    .map(|dv| k.outer.bind(c, &bf.dims, &bf.jobs, dv, &bf.x, &bf.grads)),
                Some(
                    k.outer
                        .bind(c, &bf.dims, &bf.jobs, &bf.gy, &bf.z, &bf.grads),
                ),
                Some(
                    k.outer
                        .bind(c, &bf.dims, &bf.jobs, &bf.gy, &bf.z, &bf.grads),
                ),
            ],
            adam: k.adam.bind(
                c, &bf.dims, &bf.adam, &bf.grads, &bf.net_f, &bf.params, &bf.adam_m, &bf.adam_v,
            ),
            online: bf.online.as_ref().map(|on| {
                [
                    k.online_out.bind(
                        c,
                        &bf.dims,
                        &bf.steps,
                        &bf.params,
                        &bf.z,
                        &bf.targets,
                        &bf.mask,
                        &bf.net_f,
                        &bf.y,
                        &bf.dy,
                        &bf.part,
                        &on.zbar,
                        &on.zsum,
                        &on.cbar,
                    ),
                    k.online_readout.bind(
                        c, &bf.dims, &bf.steps, &bf.dy, &on.zbar, &on.cbar, &bf.grads,
                    ),
                    k.online_rates
                        .bind(c, &bf.dims, &on.zsum, &bf.net_f, &bf.rate, &bf.dreg),
                    k.online_reg
                        .bind(c, &bf.dims, &bf.dreg, &on.esum, &bf.grads),
                ]
            }),
        };
        let mut net_f = vec![0f32; m * 4];
        for i in 0..m {
            net_f[i * 4 + 3] = 0.01; // default rate target (SPEC §3)
        }
        let mut eng = Self {
            ctx,
            cfg: cfg.clone(),
            dims,
            online,
            k,
            buf,
            g,
            step_stride,
            job_stride,
            jobs,
            net_f,
            has_feedback: false,
            rule: None,
            adam_steps: 0,
        };
        eng.set_rule(Rule::Bptt)?;
        Ok(eng)
    }

    pub fn n_networks(&self) -> usize {
        self.dims.m as usize
    }

    /// Device memory this pack holds.
    pub fn memory(&self) -> SpikeMemory {
        let loss = if self.dims.loss == LossKind::Mse.gpu_code() {
            LossKind::Mse
        } else {
            LossKind::Ce
        };
        Self::memory_bytes(
            &self.cfg,
            self.dims.m as usize,
            self.dims.b as usize,
            self.dims.t as usize,
            loss,
            self.online,
        )
    }

    fn write(&self, b: &wgpu::Buffer, data: &[f32]) {
        self.ctx
            .queue
            .write_buffer(b, 0, bytemuck::cast_slice(data));
    }

    /// Upload the networks' parameters and feedback matrices; resets the Adam state.
    pub fn set_networks(&mut self, models: &[&SpikingModel]) -> Result<()> {
        let m = self.n_networks();
        if models.len() != m {
            return Err(Error::Runtime(format!(
                "pack holds {m} networks, got {}",
                models.len()
            )));
        }
        let (n, no) = (self.cfg.n_rec, self.cfg.n_out);
        let mut params = Vec::with_capacity(m * self.dims.p_len as usize);
        let mut fb = vec![0f32; m * n * no];
        self.has_feedback = models.iter().all(|md| md.feedback.is_some());
        for (i, md) in models.iter().enumerate() {
            if md.config != self.cfg {
                return Err(Error::Input(format!(
                    "network {i} has a different configuration from the pack's"
                )));
            }
            params.extend(md.params.flatten());
            if let Some(f) = &md.feedback {
                fb[i * n * no..(i + 1) * n * no]
                    .copy_from_slice(f.as_standard_layout().as_slice().expect("contiguous"));
            }
        }
        self.write(&self.buf.params, &params);
        self.write(&self.buf.feedback, &fb);
        let zeros = vec![0f32; params.len()];
        self.write(&self.buf.adam_m, &zeros);
        self.write(&self.buf.adam_v, &zeros);
        self.adam_steps = 0;
        Ok(())
    }

    /// One batch per network, or a single batch shared by all; shapes must match the pack.
    pub fn set_batches(&mut self, batches: &[&Batch]) -> Result<()> {
        let m = self.n_networks();
        if batches.len() != m && batches.len() != 1 {
            return Err(Error::Runtime(format!(
                "need 1 or {m} batches, got {}",
                batches.len()
            )));
        }
        let (b, t) = (self.dims.b as usize, self.dims.t as usize);
        let (mut x, mut tg, mut mk) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..m {
            let bt = batches[if batches.len() == 1 { 0 } else { i }];
            if bt.n_trials() != b || bt.n_steps() != t || bt.loss.gpu_code() != self.dims.loss {
                return Err(Error::Runtime(format!(
                    "batch {i} has B = {}, T = {} but the pack was built for B = {b}, T = {t}",
                    bt.n_trials(),
                    bt.n_steps()
                )));
            }
            let tm = |a: &Array3<f64>| Batch::time_major(a).into_iter().map(|v| v as f32);
            x.extend(tm(&bt.inputs));
            tg.extend(tm(&bt.targets));
            mk.extend(tm(&bt.mask));
            self.net_f[i * 4] = (1.0 / bt.mask.sum()) as f32;
        }
        self.write(&self.buf.x, &x);
        self.write(&self.buf.targets, &tg);
        self.write(&self.buf.mask, &mk);
        self.write(&self.buf.net_f, &self.net_f);
        Ok(())
    }

    /// Regulariser weight lambda, learning rate and target rate of every network.
    pub fn set_hyper(&mut self, lambdas: &[f64], lrs: &[f64], rate_target: f64) {
        for i in 0..self.n_networks() {
            self.net_f[i * 4 + 1] = lambdas[i.min(lambdas.len() - 1)] as f32;
            self.net_f[i * 4 + 2] = lrs[i.min(lrs.len() - 1)] as f32;
            self.net_f[i * 4 + 3] = rate_target as f32;
        }
        self.write(&self.buf.net_f, &self.net_f);
    }

    /// Regulariser weight lambda of every network (learning rates and target unchanged).
    pub fn set_lambdas(&mut self, lambdas: &[f64]) {
        for (i, l) in lambdas.iter().enumerate().take(self.n_networks()) {
            self.net_f[i * 4 + 1] = *l as f32;
        }
        self.write(&self.buf.net_f, &self.net_f);
    }

    fn set_rule(&mut self, rule: Rule) -> Result<()> {
        if self.rule == Some(rule) {
            return Ok(());
        }
        let t = self.dims.t as usize;
        let steps: Vec<SpikeStep> = (0..t)
            .map(|s| SpikeStep {
                t: s as u32,
                cut_next: (s + 1 < t && rule.cuts(s + 1, t)) as u32,
                parity: (s % 2) as u32,
                _pad: 0,
            })
            .collect();
        self.ctx
            .queue
            .write_buffer(&self.buf.steps, 0, &table_bytes(&steps, self.step_stride));
        self.dims.use_feedback = rule.uses_feedback() as u32;
        self.ctx
            .queue
            .write_buffer(&self.buf.dims, 0, bytemuck::bytes_of(&self.dims));
        self.rule = Some(rule);
        Ok(())
    }

    /// The forward pass (and, for an online pack with `rule`, the e-prop traces step by step
    /// alongside it), the losses, and everything of the gradient that needs no backward sweep.
    fn encode_forward(&self, enc: &mut wgpu::CommandEncoder, online_rule: bool) {
        let (k, g, d) = (&self.k, &self.g, &self.dims);
        if let Some(on) = &g.online {
            if online_rule {
                enc.clear_buffer(&self.buf.grads, 0, None);
            }
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("spiking online forward"),
                timestamp_writes: None,
            });
            let (pre, trace) = (
                g.pre.as_ref().expect("online pack"),
                g.trace.as_ref().expect("online pack"),
            );
            for t in 0..d.t {
                let o = t * self.step_stride as u32;
                k.step.encode(&mut pass, &g.step, d, o);
                k.online_out.encode(&mut pass, &on[0], d, o);
                if online_rule {
                    k.online_readout.encode(&mut pass, &on[1], d, o);
                    k.pre.encode(&mut pass, pre, d, o);
                    k.trace.encode(&mut pass, trace, d, o);
                }
            }
            k.online_rates.encode(&mut pass, &on[2], d);
            if online_rule {
                k.online_reg.encode(&mut pass, &on[3], d);
                k.zero_diag.encode(&mut pass, &g.zero_diag, d);
            }
            k.reduce.encode(&mut pass, &g.reduce, d);
            return;
        }
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("spiking forward"),
            timestamp_writes: None,
        });
        for t in 0..d.t {
            k.step
                .encode(&mut pass, &g.step, d, t * self.step_stride as u32);
        }
        k.readout.encode(&mut pass, &g.readout, d);
        k.loss.encode(&mut pass, &g.loss, d);
        k.rates.encode(&mut pass, &g.rates, d);
        k.reduce.encode(&mut pass, &g.reduce, d);
    }

    fn encode_outer(&self, pass: &mut wgpu::ComputePass, which: usize) {
        if let Some(bg) = &self.g.outer[which] {
            self.k.outer.encode(
                pass,
                bg,
                &self.dims,
                &self.jobs[which],
                (which as u64 * self.job_stride) as u32,
            );
        }
    }

    /// The backward sweep and weight gradients of a pack that keeps whole trajectories (online
    /// packs compute their gradient inside `encode_forward`).
    fn encode_grad(&self, enc: &mut wgpu::CommandEncoder) {
        let (k, g, d) = (&self.k, &self.g, &self.dims);
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("spiking backward sweep"),
            timestamp_writes: None,
        });
        let bptt = g.bptt.as_ref().expect("backward pack");
        for t in (0..d.t).rev() {
            k.bptt
                .encode(&mut pass, bptt, d, t * self.step_stride as u32);
        }
        for w in 0..4 {
            self.encode_outer(&mut pass, w);
        }
        k.zero_diag.encode(&mut pass, &g.zero_diag, d);
    }

    fn run(&mut self, rule: Option<Rule>, adam: bool) -> Result<Vec<SpikeNetLoss>> {
        if let Some(r) = rule {
            if r.uses_feedback() && !self.has_feedback {
                return Err(Error::Input(format!(
                    "rule {} needs the model's feedback matrix",
                    r.name()
                )));
            }
            self.set_rule(r)?;
        }
        if adam {
            self.adam_steps += 1;
            let (bc1, bc2) = Adam::<f32>::bias_corrections(self.adam_steps);
            let h = AdamStep {
                bc1: bc1 as f32,
                sqrt_bc2: bc2.sqrt() as f32,
                beta1: BETA1 as f32,
                beta2: BETA2 as f32,
                eps: EPS as f32,
                _pad: [0.0; 3],
            };
            self.ctx
                .queue
                .write_buffer(&self.buf.adam, 0, bytemuck::bytes_of(&h));
        }
        if let Some(r) = rule {
            if self.online && !r.is_eprop() {
                return Err(Error::Runtime(format!(
                    "this pack runs online e-prop (traces alongside the forward pass); rule {} needs a pack built for the backward sweep",
                    r.name()
                )));
            }
        }
        let mut enc = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("spiking update"),
            });
        self.encode_forward(&mut enc, self.online && rule.is_some());
        if rule.is_some() && !self.online {
            self.encode_grad(&mut enc);
        }
        if adam {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("spiking adam"),
                timestamp_writes: None,
            });
            self.k.adam.encode(&mut pass, &self.g.adam, &self.dims);
        }
        enc.copy_buffer_to_buffer(&self.buf.loss_out, 0, &self.buf.loss_staging, 0, None);
        self.ctx.queue.submit([enc.finish()]);
        let v = self.map_read(&self.buf.loss_staging)?;
        Ok(v.chunks(2)
            .map(|c| SpikeNetLoss {
                task: c[0],
                rate_reg: c[1],
            })
            .collect())
    }

    /// Forward pass only.
    pub fn forward(&mut self) -> Result<Vec<SpikeNetLoss>> {
        self.run(None, false)
    }
    /// Forward and gradient (left in the grads buffer; see `read_grads`).
    pub fn gradient(&mut self, rule: Rule) -> Result<Vec<SpikeNetLoss>> {
        self.run(Some(rule), false)
    }
    /// One training update: forward, gradient, Adam. Returns the losses before the step.
    pub fn update(&mut self, rule: Rule) -> Result<Vec<SpikeNetLoss>> {
        self.run(Some(rule), true)
    }

    fn map_read(&self, staging: &wgpu::Buffer) -> Result<Vec<f32>> {
        self.ctx.map_read_f32(staging)
    }

    fn read(&self, src: &wgpu::Buffer) -> Result<Vec<f32>> {
        self.ctx.read_f32(src)
    }

    fn split(&self, flat: &[f32]) -> Vec<SpikingParams<f32>> {
        flat.chunks(self.dims.p_len as usize)
            .map(|c| SpikingParams::from_flat(&self.cfg, c))
            .collect()
    }
    pub fn read_params(&self) -> Result<Vec<SpikingParams<f32>>> {
        Ok(self.split(&self.read(&self.buf.params)?))
    }
    pub fn read_grads(&self) -> Result<Vec<SpikingParams<f32>>> {
        Ok(self.split(&self.read(&self.buf.grads)?))
    }
    /// `(v, a, z, psi)` each `[M, T, B, N]` and `y [M, T, B, n_out]` of the last forward pass
    /// (packs that keep whole trajectories only).
    pub fn read_trajectories(&self) -> Result<([Array4<f32>; 4], Array4<f32>)> {
        if self.online {
            return Err(Error::Runtime(
                "an online e-prop pack keeps only the last two steps of its trajectories".into(),
            ));
        }
        let (m, b, t, n) = (
            self.dims.m as usize,
            self.dims.b as usize,
            self.dims.t as usize,
            self.cfg.n_rec,
        );
        let st = |buf: &wgpu::Buffer| -> Result<Array4<f32>> {
            Array4::from_shape_vec((m, t, b, n), self.read(buf)?)
                .map_err(|e| Error::Runtime(e.to_string()))
        };
        let y = Array4::from_shape_vec((m, t, b, self.cfg.n_out), self.read(&self.buf.y)?)
            .map_err(|e| Error::Runtime(e.to_string()))?;
        Ok((
            [
                st(&self.buf.v)?,
                st(&self.buf.a)?,
                st(&self.buf.z)?,
                st(&self.buf.psi)?,
            ],
            y,
        ))
    }
}
