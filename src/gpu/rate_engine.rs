//! The GPU engine for a pack of M rate networks of one shape, each with its own weights, batch,
//! regulariser weight and learning rate. Buffers, pipelines and bind groups are built once; an
//! update (forward over all T steps, loss, gradient, Adam) is recorded into one command buffer and
//! one submission, and only the M losses are read back.

use std::sync::Arc;

use ndarray::{Array3, Array4};
use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::kernels::*;
use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::gpu::timer::{PassTimer, add_seconds};
use crate::model::{RateConfig, RateModel, RateParams};
use crate::optim::{Adam, BETA1, BETA2, EPS};
use crate::rules::Rule;

/// Losses of one network after a forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetLoss {
    pub task: f32,
    pub mean_h2: f32,
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
    mask_rec: wgpu::Buffer,
    w_eff: wgpu::Buffer,
    feedback_t: wgpu::Buffer,
    net_f: wgpu::Buffer,
    x: wgpu::Buffer,
    targets: wgpu::Buffer,
    mask: wgpu::Buffer,
    ah: wgpu::Buffer,
    h: wgpu::Buffer,
    delta: wgpu::Buffer,
    y: wgpu::Buffer,
    dy: wgpu::Buffer,
    part: wgpu::Buffer,
    loss_out: wgpu::Buffer,
    loss_staging: wgpu::Buffer,
    eps_h: wgpu::Buffer,
    eps_x: wgpu::Buffer,
    post: wgpu::Buffer,
}

struct Groups {
    rec_effective: wgpu::BindGroup,
    rec_grad_chain: wgpu::BindGroup,
    init: wgpu::BindGroup,
    step: wgpu::BindGroup,
    readout: wgpu::BindGroup,
    reduce: wgpu::BindGroup,
    bptt: wgpu::BindGroup,
    ah0: wgpu::BindGroup,
    trace: wgpu::BindGroup,
    accum: wgpu::BindGroup,
    adam: wgpu::BindGroup,
    /// w_rec, w_in, b_in, w_out, b_out
    outer: [wgpu::BindGroup; 5],
}

struct Kernels {
    rec_effective: RecEffective,
    rec_grad_chain: RecGradChain,
    init: RateInit,
    step: RateStep,
    readout: RateReadoutLoss,
    reduce: LossReduce,
    bptt: RateBpttStep,
    outer: OuterGrad,
    ah0: Ah0Grad,
    trace: EpropTrace,
    accum: EpropAccum,
    adam: AdamKernel,
}

pub struct RateEngine {
    ctx: Arc<GpuContext>,
    pub cfg: RateConfig,
    pub dims: Dims,
    k: Kernels,
    buf: Buffers,
    g: Groups,
    step_stride: u64,
    job_stride: u64,
    jobs: [OuterJob; 5],
    net_f: Vec<f32>,
    has_feedback: bool,
    rule: Option<Rule>,
    adam_steps: u64,
    /// Gradients were accumulated over chunks and still lack the w_rec chain rule.
    chain_pending: bool,
    /// Bytes of the pack's storage buffers (the device memory it holds, uniforms aside).
    device_bytes: u64,
    /// Per-pass GPU times of each submission, when profiling is on and the device has timestamps.
    timer: Option<PassTimer>,
    /// Seconds per pass summed since the last [`RateEngine::take_pass_seconds`].
    pass_seconds: Vec<(&'static str, f64)>,
}

/// The passes of one update, as the bench reports them.
pub const PASSES: [&str; 4] = ["forward", "gradient", "chain", "adam"];

/// Bytes of the largest single buffer for a pack of `m` networks (the state buffers).
fn largest_buffer_bytes(cfg: &RateConfig, m: usize, b: usize, t: usize) -> u64 {
    let state = (m * (t + 1) * b * cfg.n_rec) as u64 * 4;
    let x = (m * t * b * cfg.n_in.max(cfg.n_out)) as u64 * 4;
    state.max(x)
}

impl RateEngine {
    /// How many networks of this shape fit in one pack under the device's binding limit.
    pub fn max_networks(ctx: &GpuContext, cfg: &RateConfig, b: usize, t: usize) -> usize {
        let one = largest_buffer_bytes(cfg, 1, b, t).max(1);
        (ctx.max_binding_bytes() / one) as usize
    }

    pub fn new(
        ctx: Arc<GpuContext>,
        cfg: &RateConfig,
        m: usize,
        b: usize,
        t: usize,
        loss: LossKind,
    ) -> Result<Self> {
        let variant = StepKernels::for_adapter(&ctx)?;
        Self::with_step_kernels(ctx, cfg, m, b, t, loss, variant)
    }

    /// [`RateEngine::new`] with a chosen implementation of the step kernels (tests run both).
    pub fn with_step_kernels(
        ctx: Arc<GpuContext>,
        cfg: &RateConfig,
        m: usize,
        b: usize,
        t: usize,
        loss: LossKind,
        variant: StepKernels,
    ) -> Result<Self> {
        cfg.validate()?;
        if m == 0 || b == 0 || t == 0 {
            return Err(Error::Input(format!(
                "empty pack: M = {m}, B = {b}, T = {t}"
            )));
        }
        let need = largest_buffer_bytes(cfg, m, b, t);
        if need > ctx.max_binding_bytes() {
            return Err(Error::Runtime(format!(
                "a pack of {m} networks needs a {need}-byte buffer but {} allows {} bytes per binding; use at most {} networks per pack",
                ctx.info.name,
                ctx.max_binding_bytes(),
                Self::max_networks(&ctx, cfg, b, t)
            )));
        }
        ctx.check_dispatch_dims(m, b, cfg.n_rec)?;
        let (n, ni, no) = (cfg.n_rec, cfg.n_in, cfg.n_out);
        let kt = if loss == LossKind::Mse { no } else { 1 };
        let off = RateParams::<f32>::offsets(cfg);
        let p_len = RateParams::<f32>::len(cfg);
        let dims = Dims {
            m: m as u32,
            b: b as u32,
            t: t as u32,
            n: n as u32,
            n_in: ni as u32,
            n_out: no as u32,
            k_t: kt as u32,
            act: cfg.activation.gpu_code(),
            loss: loss.gpu_code(),
            p_len: p_len as u32,
            dale: cfg.dale as u32,
            use_feedback: 0,
            off_w_in: off[0] as u32,
            off_b_in: off[1] as u32,
            off_w_rec: off[2] as u32,
            off_w_out: off[3] as u32,
            off_b_out: off[4] as u32,
            off_ah0: off[5] as u32,
            alpha: cfg.alpha as f32,
            b_total: b as u32,
            accumulate: 0,
            _pad: [0; 3],
        };
        let a = ctx.limits.min_uniform_buffer_offset_alignment as u64;
        let step_stride = align(std::mem::size_of::<Step>() as u64, a);
        let job_stride = align(std::mem::size_of::<OuterJob>() as u64, a);

        let dev = &ctx.device;
        let device_bytes = std::cell::Cell::new(0u64);
        let storage = |label: &str, floats: usize| {
            device_bytes.set(device_bytes.get() + (floats.max(1) * 4) as u64);
            ctx.storage_buffer(label, floats)
        };
        let state = m * (t + 1) * b * n;
        let samples = (t * b) as u32;
        // Outer-product jobs (rows of a network's a/p arrays are (step, trial) samples).
        let st = ((t + 1) * b * n) as u32; // per-network stride of state buffers
        let alpha = cfg.alpha as f32;
        let jobs = [
            OuterJob {
                rows: n as u32,
                cols: n as u32,
                samples,
                ones: 0,
                a_net: st,
                a_off: 0,
                a_stride: n as u32,
                p_net: st,
                p_off: 0,
                p_stride: n as u32,
                dst: off[2] as u32,
                scale: alpha,
            },
            OuterJob {
                rows: n as u32,
                cols: ni as u32,
                samples,
                ones: 0,
                a_net: st,
                a_off: 0,
                a_stride: n as u32,
                p_net: (t * b * ni) as u32,
                p_off: 0,
                p_stride: ni as u32,
                dst: off[0] as u32,
                scale: alpha,
            },
            OuterJob {
                rows: n as u32,
                cols: 1,
                samples,
                ones: 1,
                a_net: st,
                a_off: 0,
                a_stride: n as u32,
                p_net: 0,
                p_off: 0,
                p_stride: 0,
                dst: off[1] as u32,
                scale: alpha,
            },
            OuterJob {
                rows: no as u32,
                cols: n as u32,
                samples,
                ones: 0,
                a_net: (t * b * no) as u32,
                a_off: 0,
                a_stride: no as u32,
                p_net: st,
                p_off: (b * n) as u32,
                p_stride: n as u32,
                dst: off[3] as u32,
                scale: 1.0,
            },
            OuterJob {
                rows: no as u32,
                cols: 1,
                samples,
                ones: 1,
                a_net: (t * b * no) as u32,
                a_off: 0,
                a_stride: no as u32,
                p_net: 0,
                p_off: 0,
                p_stride: 0,
                dst: off[4] as u32,
                scale: 1.0,
            },
        ];
        let buf = Buffers {
            dims: dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("dims"),
                contents: bytemuck::bytes_of(&dims),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            }),
            steps: uniform_table(&ctx, "steps", &vec![Step::default(); t], step_stride), // filled by set_rule
            jobs: uniform_table(&ctx, "outer jobs", &jobs, job_stride),
            adam: uniform_table(
                &ctx,
                "adam step",
                &[AdamStep::default()],
                std::mem::size_of::<AdamStep>() as u64,
            ),
            params: storage("params", m * p_len),
            grads: storage("grads", m * p_len),
            adam_m: storage("adam m", m * p_len),
            adam_v: storage("adam v", m * p_len),
            mask_rec: storage("mask_rec", m * n * n),
            w_eff: storage("w_eff", m * n * n),
            feedback_t: storage("feedback_t", m * no * n),
            net_f: storage("net_f", m * 4),
            x: storage("x", m * t * b * ni),
            targets: storage("targets", m * t * b * kt),
            mask: storage("mask", m * t * b * kt),
            ah: storage("ah", state),
            h: storage("h", state),
            delta: storage("delta", state),
            y: storage("y", m * t * b * no),
            dy: storage("dy", m * t * b * no),
            part: storage("loss parts", m * t * b * 2),
            loss_out: storage("loss out", m * 2),
            loss_staging: dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("loss staging"),
                size: (m * 2 * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            eps_h: storage("eps_h", m * b * n),
            eps_x: storage("eps_x", m * b * ni),
            post: storage("post", m * b * n),
        };
        let k = Kernels {
            rec_effective: RecEffective::new(&ctx),
            rec_grad_chain: RecGradChain::new(&ctx),
            init: RateInit::new(&ctx),
            step: RateStep::new(&ctx, variant),
            readout: RateReadoutLoss::new(&ctx),
            reduce: LossReduce::new(&ctx),
            bptt: RateBpttStep::new(&ctx, variant),
            outer: OuterGrad::new(&ctx),
            ah0: Ah0Grad::new(&ctx),
            trace: EpropTrace::new(&ctx),
            accum: EpropAccum::new(&ctx),
            adam: AdamKernel::new(&ctx),
        };
        let c = &*ctx;
        let bf = &buf;
        let g = Groups {
            rec_effective: k
                .rec_effective
                .bind(c, &bf.dims, &bf.params, &bf.mask_rec, &bf.w_eff),
            rec_grad_chain: k
                .rec_grad_chain
                .bind(c, &bf.dims, &bf.params, &bf.mask_rec, &bf.grads),
            init: k.init.bind(c, &bf.dims, &bf.params, &bf.ah, &bf.h),
            step: k.step.bind(
                c, &bf.dims, &bf.steps, &bf.params, &bf.w_eff, &bf.x, &bf.ah, &bf.h,
            ),
            readout: k.readout.bind(
                c,
                &bf.dims,
                &bf.params,
                &bf.h,
                &bf.targets,
                &bf.mask,
                &bf.net_f,
                &bf.y,
                &bf.dy,
                &bf.part,
            ),
            reduce: k
                .reduce
                .bind(c, &bf.dims, &bf.part, &bf.net_f, &bf.loss_out),
            bptt: k.bptt.bind(
                c,
                &bf.dims,
                &bf.steps,
                &bf.params,
                &bf.w_eff,
                &bf.feedback_t,
                &bf.dy,
                &bf.ah,
                &bf.h,
                &bf.net_f,
                &bf.delta,
            ),
            ah0: k.ah0.bind(
                c, &bf.dims, &bf.steps, &bf.params, &bf.w_eff, &bf.delta, &bf.grads,
            ),
            trace: k.trace.bind(
                c,
                &bf.dims,
                &bf.steps,
                &bf.params,
                &bf.feedback_t,
                &bf.dy,
                &bf.ah,
                &bf.h,
                &bf.x,
                &bf.net_f,
                &bf.eps_h,
                &bf.eps_x,
                &bf.post,
            ),
            accum: k.accum.bind(
                c, &bf.dims, &bf.steps, &bf.post, &bf.eps_h, &bf.eps_x, &bf.grads,
            ),
            adam: k.adam.bind(
                c, &bf.dims, &bf.adam, &bf.grads, &bf.net_f, &bf.params, &bf.adam_m, &bf.adam_v,
            ),
            outer: [
                k.outer
                    .bind(c, &bf.dims, &bf.jobs, &bf.delta, &bf.h, &bf.grads),
                k.outer
                    .bind(c, &bf.dims, &bf.jobs, &bf.delta, &bf.x, &bf.grads),
                k.outer
                    .bind(c, &bf.dims, &bf.jobs, &bf.delta, &bf.x, &bf.grads),
                k.outer
                    .bind(c, &bf.dims, &bf.jobs, &bf.dy, &bf.h, &bf.grads),
                k.outer
                    .bind(c, &bf.dims, &bf.jobs, &bf.dy, &bf.h, &bf.grads),
            ],
        };
        let mut eng = Self {
            ctx,
            cfg: cfg.clone(),
            dims,
            k,
            buf,
            g,
            step_stride,
            job_stride,
            jobs,
            net_f: vec![0.0; m * 4],
            has_feedback: false,
            rule: None,
            adam_steps: 0,
            chain_pending: false,
            device_bytes: device_bytes.get(),
            timer: None,
            pass_seconds: Vec::new(),
        };
        // The step table also carries t for the forward kernels: fill it before any pass.
        eng.set_rule(Rule::Bptt)?;
        Ok(eng)
    }

    pub fn n_networks(&self) -> usize {
        self.dims.m as usize
    }

    /// Time every pass with timestamp queries from now on; false when the device has none.
    pub fn enable_pass_timing(&mut self) -> bool {
        if self.timer.is_none() {
            self.timer = PassTimer::new(&self.ctx, &PASSES);
        }
        self.timer.is_some()
    }

    /// GPU seconds per pass ([`PASSES`]) summed over the submissions since the last call.
    pub fn take_pass_seconds(&mut self) -> Vec<(&'static str, f64)> {
        std::mem::take(&mut self.pass_seconds)
    }

    fn record_pass_seconds(&mut self) -> Result<()> {
        if let Some(t) = &self.timer {
            for (name, s) in t.read(&self.ctx)? {
                add_seconds(&mut self.pass_seconds, name, s);
            }
        }
        Ok(())
    }

    fn timestamps(&self, pass: &str) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        self.timer.as_ref().and_then(|t| t.writes(pass))
    }

    /// Bytes of device memory the pack's storage buffers hold.
    pub fn device_bytes(&self) -> u64 {
        self.device_bytes
    }

    fn write(&self, b: &wgpu::Buffer, data: &[f32]) {
        self.ctx
            .queue
            .write_buffer(b, 0, bytemuck::cast_slice(data));
    }

    /// Upload the networks' parameters and fixed tensors; resets the Adam state.
    pub fn set_networks(&mut self, models: &[&RateModel]) -> Result<()> {
        let m = self.n_networks();
        if models.len() != m {
            return Err(Error::Runtime(format!(
                "pack holds {m} networks, got {}",
                models.len()
            )));
        }
        let (n, no) = (self.cfg.n_rec, self.cfg.n_out);
        let mut params = Vec::with_capacity(m * self.dims.p_len as usize);
        let mut mask = Vec::with_capacity(m * n * n);
        let mut fb = vec![0f32; m * no * n];
        self.has_feedback = models.iter().all(|md| md.feedback.is_some());
        for (i, md) in models.iter().enumerate() {
            if md.config != self.cfg {
                return Err(Error::Input(format!(
                    "network {i} has a different configuration from the pack's"
                )));
            }
            params.extend(md.params.flatten());
            match &md.mask_rec {
                Some(mr) => mask.extend(mr.iter().copied()),
                None => mask.extend(std::iter::repeat_n(1.0f32, n * n)),
            }
            if let Some(f) = &md.feedback {
                for k in 0..no {
                    for j in 0..n {
                        fb[(i * no + k) * n + j] = f[[j, k]];
                    }
                }
            }
        }
        self.write(&self.buf.params, &params);
        self.write(&self.buf.mask_rec, &mask);
        self.write(&self.buf.feedback_t, &fb);
        let zeros = vec![0f32; params.len()];
        self.write(&self.buf.adam_m, &zeros);
        self.write(&self.buf.adam_v, &zeros);
        self.adam_steps = 0;
        Ok(())
    }

    /// One batch per network, or a single batch shared by all. Shapes must match the pack.
    pub fn set_batches(&mut self, batches: &[&Batch]) -> Result<()> {
        self.set_batch_chunk(batches, 0)
    }

    /// Trials `first .. first + B` of each batch (B = the pack's trials) when a batch is larger than
    /// one binding holds: the loss and regulariser stay normalised by the whole batch, so the
    /// gradients of the chunks (see `gradient_chunk`) add up to the whole batch's.
    pub fn set_batch_chunk(&mut self, batches: &[&Batch], first: usize) -> Result<()> {
        let m = self.n_networks();
        if batches.len() != m && batches.len() != 1 {
            return Err(Error::Runtime(format!(
                "need 1 or {m} batches, got {}",
                batches.len()
            )));
        }
        let (b, t) = (self.dims.b as usize, self.dims.t as usize);
        let mut x = Vec::with_capacity(m * t * b * self.cfg.n_in);
        let mut tg = Vec::new();
        let mut mk = Vec::new();
        let mut b_total = None;
        for i in 0..m {
            let whole = batches[if batches.len() == 1 { 0 } else { i }];
            if first + b > whole.n_trials()
                || whole.n_steps() != t
                || whole.loss.gpu_code() != self.dims.loss
            {
                return Err(Error::Runtime(format!(
                    "batch {i} has B = {}, T = {} but the pack was built for chunks of B = {b} (from trial {first}), T = {t}",
                    whole.n_trials(),
                    whole.n_steps()
                )));
            }
            if whole.n_trials() != b_total.unwrap_or(whole.n_trials()) {
                return Err(Error::Runtime(
                    "batches of one pack must have the same number of trials".into(),
                ));
            }
            b_total = Some(whole.n_trials());
            let chunk = if whole.n_trials() == b {
                whole.clone()
            } else {
                whole.slice_trials(first, first + b)
            };
            let tm = |a: &Array3<f64>| Batch::time_major(a).into_iter().map(|v| v as f32);
            x.extend(tm(&chunk.inputs));
            tg.extend(tm(&chunk.targets));
            mk.extend(tm(&chunk.mask));
            self.net_f[i * 4] = (1.0 / whole.mask.sum()) as f32;
        }
        let b_total = b_total.unwrap_or(b) as u32;
        if b_total != self.dims.b_total {
            self.dims.b_total = b_total;
            self.ctx
                .queue
                .write_buffer(&self.buf.dims, 0, bytemuck::bytes_of(&self.dims));
        }
        self.write(&self.buf.x, &x);
        self.write(&self.buf.targets, &tg);
        self.write(&self.buf.mask, &mk);
        self.write(&self.buf.net_f, &self.net_f);
        Ok(())
    }

    /// Regulariser weight lambda and learning rate of every network.
    pub fn set_hyper(&mut self, lambdas: &[f64], lrs: &[f64]) {
        for i in 0..self.n_networks() {
            self.net_f[i * 4 + 1] = lambdas[i.min(lambdas.len() - 1)] as f32;
            self.net_f[i * 4 + 2] = lrs[i.min(lrs.len() - 1)] as f32;
        }
        self.write(&self.buf.net_f, &self.net_f);
    }

    /// Regulariser weight lambda of every network (learning rates unchanged).
    pub fn set_lambdas(&mut self, lambdas: &[f64]) {
        for (i, l) in lambdas.iter().enumerate().take(self.n_networks()) {
            self.net_f[i * 4 + 1] = *l as f32;
        }
        self.write(&self.buf.net_f, &self.net_f);
    }

    fn set_rule(&mut self, rule: Rule) -> Result<()> {
        if rule.uses_feedback() && !self.has_feedback {
            return Err(Error::Input(format!(
                "rule {} needs the model's feedback matrix",
                rule.name()
            )));
        }
        if self.rule == Some(rule) {
            return Ok(());
        }
        let t = self.dims.t as usize;
        let leak = 1.0 - self.cfg.alpha;
        let steps: Vec<Step> = (0..t)
            .map(|s| {
                let decay = leak.powi(s as i32 + 1);
                Step {
                    t: s as u32,
                    cut_self: rule.cuts(s, t) as u32,
                    cut_next: (s + 1 < t && rule.cuts(s + 1, t)) as u32,
                    _pad: 0,
                    decay: decay as f32,
                    eps_b: (1.0 - decay) as f32,
                    _pad2: [0.0; 2],
                }
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

    fn encode_forward(&self, pass: &mut wgpu::ComputePass) {
        let (k, g, d) = (&self.k, &self.g, &self.dims);
        k.rec_effective.encode(pass, &g.rec_effective, d);
        k.init.encode(pass, &g.init, d);
        for t in 0..d.t {
            k.step.encode(pass, &g.step, d, t * self.step_stride as u32);
        }
        k.readout.encode(pass, &g.readout, d);
        k.reduce.encode(pass, &g.reduce, d);
    }

    fn encode_outer(&self, pass: &mut wgpu::ComputePass, which: usize) {
        self.k.outer.encode(
            pass,
            &self.g.outer[which],
            &self.dims,
            &self.jobs[which],
            (which as u64 * self.job_stride) as u32,
        );
    }

    fn encode_grad(&self, enc: &mut wgpu::CommandEncoder, rule: Rule, accumulate: bool) {
        let (k, g, d) = (&self.k, &self.g, &self.dims);
        if rule.is_eprop() {
            if !accumulate {
                enc.clear_buffer(&self.buf.grads, 0, None);
            }
            enc.clear_buffer(&self.buf.eps_h, 0, None);
            enc.clear_buffer(&self.buf.eps_x, 0, None);
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("e-prop traces"),
                timestamp_writes: self.timestamps("gradient"),
            });
            for t in 0..d.t {
                let o = t * self.step_stride as u32;
                k.trace.encode(&mut pass, &g.trace, d, o);
                k.accum.encode(&mut pass, &g.accum, d, o);
            }
            self.encode_outer(&mut pass, 3);
            self.encode_outer(&mut pass, 4);
        } else {
            enc.clear_buffer(&self.buf.delta, 0, None);
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bptt"),
                timestamp_writes: self.timestamps("gradient"),
            });
            for t in (0..d.t).rev() {
                k.bptt
                    .encode(&mut pass, &g.bptt, d, t * self.step_stride as u32);
            }
            for j in 0..5 {
                self.encode_outer(&mut pass, j);
            }
            k.ah0.encode(&mut pass, &g.ah0, d);
        }
    }

    /// Record and submit: forward (unless this is an Adam step alone), gradient (when a rule is
    /// given), Adam (when `adam`). `chunk = Some(first)` marks one chunk of a split batch: its
    /// gradient is added to grads unless `first`, and the w_rec chain rule (Dale/sparsity), which
    /// is not additive over repeated application, waits until the Adam step.
    fn run(&mut self, rule: Option<Rule>, adam: bool, chunk: Option<bool>) -> Result<Vec<NetLoss>> {
        let accumulate = chunk == Some(false);
        if let Some(r) = rule {
            self.set_rule(r)?;
        }
        if self.dims.accumulate != accumulate as u32 {
            self.dims.accumulate = accumulate as u32;
            self.ctx
                .queue
                .write_buffer(&self.buf.dims, 0, bytemuck::bytes_of(&self.dims));
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
        let mut enc = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("rate update"),
            });
        if rule.is_some() || !adam {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("forward"),
                timestamp_writes: self.timestamps("forward"),
            });
            self.encode_forward(&mut pass);
        }
        if let Some(r) = rule {
            self.encode_grad(&mut enc, r, accumulate);
            self.chain_pending = true;
        }
        if self.chain_pending && (chunk.is_none() || adam) {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("w_rec chain rule"),
                timestamp_writes: self.timestamps("chain"),
            });
            self.k
                .rec_grad_chain
                .encode(&mut pass, &self.g.rec_grad_chain, &self.dims);
            drop(pass);
            self.chain_pending = false;
        }
        if adam {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("adam"),
                timestamp_writes: self.timestamps("adam"),
            });
            self.k.adam.encode(&mut pass, &self.g.adam, &self.dims);
        }
        if let Some(t) = &self.timer {
            t.resolve(&mut enc);
        }
        enc.copy_buffer_to_buffer(&self.buf.loss_out, 0, &self.buf.loss_staging, 0, None);
        self.ctx.queue.submit([enc.finish()]);
        let v = self.map_read(&self.buf.loss_staging)?;
        self.record_pass_seconds()?;
        Ok(v.chunks(2)
            .map(|c| NetLoss {
                task: c[0],
                mean_h2: c[1],
            })
            .collect())
    }

    /// Forward pass only.
    pub fn forward(&mut self) -> Result<Vec<NetLoss>> {
        self.run(None, false, None)
    }
    /// Forward and gradient (left in the grads buffer; see `read_grads`).
    pub fn gradient(&mut self, rule: Rule) -> Result<Vec<NetLoss>> {
        self.run(Some(rule), false, None)
    }
    /// Gradient of the chunk uploaded by `set_batch_chunk`, added to the grads buffer unless
    /// `first`. The losses returned are this chunk's share of the whole batch's.
    pub fn gradient_chunk(&mut self, rule: Rule, first: bool) -> Result<Vec<NetLoss>> {
        self.run(Some(rule), false, Some(first))
    }
    /// One Adam step with the gradients in the grads buffer (after the chunks of a split batch).
    pub fn adam_step(&mut self) -> Result<()> {
        self.run(None, true, Some(false)).map(|_| ())
    }
    /// One training update: forward, gradient, Adam. Returns the losses before the step.
    pub fn update(&mut self, rule: Rule) -> Result<Vec<NetLoss>> {
        self.run(Some(rule), true, None)
    }

    fn map_read(&self, staging: &wgpu::Buffer) -> Result<Vec<f32>> {
        self.ctx.map_read_f32(staging)
    }

    fn read(&self, src: &wgpu::Buffer) -> Result<Vec<f32>> {
        self.ctx.read_f32(src)
    }

    fn split_params(&self, flat: &[f32]) -> Vec<RateParams<f32>> {
        flat.chunks(self.dims.p_len as usize)
            .map(|c| RateParams::from_flat(&self.cfg, c))
            .collect()
    }
    pub fn read_params(&self) -> Result<Vec<RateParams<f32>>> {
        Ok(self.split_params(&self.read(&self.buf.params)?))
    }
    /// The gradient in the grads buffer (after the chunks of a split batch: their sum, with the
    /// w_rec chain rule applied now if it was still pending).
    pub fn read_grads(&mut self) -> Result<Vec<RateParams<f32>>> {
        if self.chain_pending {
            let mut enc = self
                .ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("w_rec chain rule"),
                });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("w_rec chain rule"),
                    timestamp_writes: None,
                });
                self.k
                    .rec_grad_chain
                    .encode(&mut pass, &self.g.rec_grad_chain, &self.dims);
            }
            self.ctx.queue.submit([enc.finish()]);
            self.chain_pending = false;
        }
        Ok(self.split_params(&self.read(&self.buf.grads)?))
    }
    /// `y [M, T, B, n_out]` and `h [M, T+1, B, N]` (slot 0 = f(ah0)) of the last forward pass.
    pub fn read_trajectories(&self) -> Result<(Array4<f32>, Array4<f32>)> {
        let (m, b, t) = (
            self.dims.m as usize,
            self.dims.b as usize,
            self.dims.t as usize,
        );
        let y = Array4::from_shape_vec((m, t, b, self.cfg.n_out), self.read(&self.buf.y)?)
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let h = Array4::from_shape_vec((m, t + 1, b, self.cfg.n_rec), self.read(&self.buf.h)?)
            .map_err(|e| Error::Runtime(e.to_string()))?;
        Ok((y, h))
    }
}
