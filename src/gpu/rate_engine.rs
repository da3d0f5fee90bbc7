//! The GPU engine for a pack of M rate networks of one shape, each with its own weights, batch,
//! regulariser weight and learning rate. Buffers, pipelines and bind groups are built once; an
//! update (forward over all T steps, loss, gradient, Adam) is recorded into one command buffer and
//! one submission, and only the M losses are read back. What every pack shares (the layout of
//! params, batch and per-network values, uploads, Adam, timing, readback) is the [`Pack`] core.

use std::sync::Arc;

use ndarray::Array4;

use super::abi::{Dims, OuterJob, Prelude, Step};
use super::context::GpuContext;
use super::engine::{Bound, Pack, PackShape};
use super::kernels::{StepKernels, groups};
use crate::batch::{Batch, LossKind};
use crate::error::Result;
use crate::model::{RateConfig, RateModel, RateParams};
use crate::rules::Rule;

/// Losses of one network after a forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetLoss {
    pub task: f32,
    pub mean_h2: f32,
}

impl From<[f32; 2]> for NetLoss {
    fn from([task, mean_h2]: [f32; 2]) -> Self {
        Self { task, mean_h2 }
    }
}

/// The rate pack's own buffers (the shared ones are in [`Pack`]).
struct Buffers {
    mask_rec: wgpu::Buffer,
    w_eff: wgpu::Buffer,
    feedback_t: wgpu::Buffer,
    ah: wgpu::Buffer,
    h: wgpu::Buffer,
    delta: wgpu::Buffer,
    y: wgpu::Buffer,
    dy: wgpu::Buffer,
    part: wgpu::Buffer,
    eps_h: wgpu::Buffer,
    eps_x: wgpu::Buffer,
    post: wgpu::Buffer,
}

struct Kernels {
    rec_effective: Bound,
    rec_grad_chain: Bound,
    init: Bound,
    step: Bound,
    readout: Bound,
    reduce: Bound,
    bptt: Bound,
    ah0: Bound,
    trace: Bound,
    accum: Bound,
    /// Outer-product jobs: w_rec, w_in, b_in, w_out, b_out
    outer: [wgpu::BindGroup; 5],
}

pub struct RateEngine {
    pack: Pack,
    pub cfg: RateConfig,
    pub dims: Dims,
    variant: StepKernels,
    k: Kernels,
    buf: Buffers,
    jobs: [OuterJob; 5],
    /// Gradients were accumulated over chunks and still lack the w_rec chain rule.
    chain_pending: bool,
}

/// The passes of one update, as the bench reports them.
pub const PASSES: [&str; 4] = ["forward", "gradient", "chain", "adam"];

/// Bytes of the largest single buffer for a pack of `m` networks (the state buffers).
fn largest_buffer_bytes(cfg: &RateConfig, m: usize, b: usize, t: usize) -> u64 {
    let state = (m * (t + 1) * b * cfg.n_rec) as u64 * 4;
    let x = (m * t * b * cfg.n_in.max(cfg.n_out)) as u64 * 4;
    state.max(x)
}

super::engine::derefs_to_pack!(RateEngine);

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
        let (n, ni, no) = (cfg.n_rec, cfg.n_in, cfg.n_out);
        let off = RateParams::<f32>::offsets(cfg);
        let p_len = RateParams::<f32>::len(cfg);
        let shape = PackShape::new(m, b, t, n, ni, no, loss, p_len);
        let kt = shape.k_t;
        shape.check(
            &ctx,
            "rate",
            largest_buffer_bytes(cfg, m, b, t),
            largest_buffer_bytes(cfg, 1, b, t),
        )?;
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
            ..Dims::default()
        };
        let state = m * (t + 1) * b * n;
        let samples = (t * b) as u32;
        // Outer-product jobs (rows of a network's a/p arrays are (step, trial) samples).
        let st = (t + 1) * b * n; // per-network stride of state buffers
        let alpha = cfg.alpha as f32;
        let jobs = [
            OuterJob::product(n, n, samples, [st, 0, n], [st, 0, n], off[2] as u32, alpha),
            OuterJob::product(
                n,
                ni,
                samples,
                [st, 0, n],
                [t * b * ni, 0, ni],
                off[0] as u32,
                alpha,
            ),
            OuterJob::bias(n, samples, [st, 0, n], off[1] as u32, alpha),
            OuterJob::product(
                no,
                n,
                samples,
                [t * b * no, 0, no],
                [st, b * n, n],
                off[3] as u32,
                1.0,
            ),
            OuterJob::bias(no, samples, [t * b * no, 0, no], off[4] as u32, 1.0),
        ];
        let mut pack = Pack::new::<Dims, Step>(ctx, shape, Prelude::Rate, &dims, &jobs, &PASSES);
        let buf = Buffers {
            mask_rec: pack.storage("mask_rec", m * n * n),
            w_eff: pack.storage("w_eff", m * n * n),
            feedback_t: pack.storage("feedback_t", m * no * n),
            ah: pack.storage("ah", state),
            h: pack.storage("h", state),
            delta: pack.storage("delta", state),
            y: pack.storage("y", m * t * b * no),
            dy: pack.storage("dy", m * t * b * no),
            part: pack.storage("loss parts", m * t * b * 2),
            eps_h: pack.storage("eps_h", m * b * n),
            eps_x: pack.storage("eps_x", m * b * ni),
            post: pack.storage("post", m * b * n),
        };
        let (p, bf) = (&pack, &buf);
        // Every buffer by the binding name the kernels give it.
        let mut named = p.named();
        named.extend([
            ("mask_rec", &bf.mask_rec),
            ("w_eff", &bf.w_eff),
            ("feedback_t", &bf.feedback_t),
            ("ah", &bf.ah),
            ("h", &bf.h),
            ("delta", &bf.delta),
            ("y", &bf.y),
            ("dy", &bf.dy),
            ("part", &bf.part),
            ("eps_h", &bf.eps_h),
            ("eps_x", &bf.eps_x),
            ("post", &bf.post),
        ]);
        let k = Kernels {
            rec_effective: Bound::new(p, "rec_effective", &named),
            rec_grad_chain: Bound::new(p, "rec_grad_chain", &named),
            init: Bound::new(p, "rate_init", &named),
            step: Bound::new(p, variant.name("rate_step"), &named),
            readout: Bound::new(p, "rate_readout_loss", &named),
            reduce: Bound::new(p, "loss_reduce", &named),
            bptt: Bound::new(p, variant.name("rate_bptt_step"), &named),
            ah0: Bound::new(p, "ah0_grad", &named),
            trace: Bound::new(p, "eprop_trace", &named),
            accum: Bound::new(p, "eprop_accum", &named),
            outer: [
                p.bind_outer(&bf.delta, &bf.h),
                p.bind_outer(&bf.delta, &p.x),
                p.bind_outer(&bf.delta, &p.x),
                p.bind_outer(&bf.dy, &bf.h),
                p.bind_outer(&bf.dy, &bf.h),
            ],
        };
        let mut eng = Self {
            pack,
            cfg: cfg.clone(),
            dims,
            variant,
            k,
            buf,
            jobs,
            chain_pending: false,
        };
        // The step table also carries t for the forward kernels: fill it before any pass.
        eng.set_rule(Rule::Bptt)?;
        Ok(eng)
    }

    /// Bytes of device memory the pack's storage buffers hold (as a path: `RateEngine::device_bytes`).
    pub fn device_bytes(&self) -> u64 {
        self.pack.device_bytes()
    }

    /// Upload the networks' parameters and fixed tensors; resets the Adam state.
    pub fn set_networks(&mut self, models: &[&RateModel]) -> Result<()> {
        let cfg = &self.cfg;
        let describe = |md: &RateModel| {
            (
                md.config == *cfg,
                md.feedback.is_some(),
                md.params.flatten(),
            )
        };
        self.pack.upload_networks(models, describe)?;
        let (m, n, no) = (models.len(), cfg.n_rec, cfg.n_out);
        let mut mask = Vec::with_capacity(m * n * n);
        let mut fb = vec![0f32; m * no * n];
        for (i, md) in models.iter().enumerate() {
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
        self.pack.write(&self.buf.mask_rec, &mask);
        self.pack.write(&self.buf.feedback_t, &fb);
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
        let b_total = self
            .pack
            .upload_batch_chunk(batches, first, self.dims.loss)? as u32;
        if b_total != self.dims.b_total {
            self.dims.b_total = b_total;
            self.pack.write_dims(&self.dims);
        }
        Ok(())
    }

    /// Regulariser weight lambda and learning rate of every network.
    pub fn set_hyper(&mut self, lambdas: &[f64], lrs: &[f64]) {
        self.pack.set_hyper(lambdas, lrs);
    }

    fn set_rule(&mut self, rule: Rule) -> Result<()> {
        if !self.pack.switch_rule(rule)? {
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
                    decay: decay as f32,
                    eps_b: (1.0 - decay) as f32,
                    ..Step::default()
                }
            })
            .collect();
        self.dims.use_feedback = rule.uses_feedback() as u32;
        self.pack.write_rule(&steps, &self.dims);
        Ok(())
    }

    fn encode_forward(&self, pass: &mut wgpu::ComputePass) {
        let (k, d) = (&self.k, &self.dims);
        k.rec_effective
            .encode(pass, &[], [groups(d.n * d.n), d.m, 1]);
        k.init.encode(pass, &[], [groups(d.n), d.b, d.m]);
        for t in 0..d.t {
            k.step.encode(
                pass,
                &[self.pack.step_offset(t)],
                self.pack.step_grid(self.variant),
            );
        }
        k.readout.encode(pass, &[], [groups(d.t * d.b), d.m, 1]);
        k.reduce.encode(pass, &[], [d.m, 1, 1]);
    }

    fn encode_outer(&self, pass: &mut wgpu::ComputePass, which: usize) {
        self.pack
            .encode_outer(pass, &self.k.outer[which], &self.jobs[which], which);
    }

    fn encode_grad(&self, enc: &mut wgpu::CommandEncoder, rule: Rule, accumulate: bool) {
        let (k, d, p) = (&self.k, &self.dims, &self.pack);
        if rule.is_eprop() {
            if !accumulate {
                enc.clear_buffer(&p.grads, 0, None);
            }
            enc.clear_buffer(&self.buf.eps_h, 0, None);
            enc.clear_buffer(&self.buf.eps_x, 0, None);
            let mut pass = p.begin_pass(enc, "e-prop traces", Some("gradient"));
            for t in 0..d.t {
                let o = [p.step_offset(t)];
                k.trace
                    .encode(&mut pass, &o, [groups(d.n.max(d.n_in)), d.b, d.m]);
                k.accum
                    .encode(&mut pass, &o, [groups(d.n + d.n_in + 2), d.n, d.m]);
            }
            self.encode_outer(&mut pass, 3);
            self.encode_outer(&mut pass, 4);
        } else {
            enc.clear_buffer(&self.buf.delta, 0, None);
            let mut pass = p.begin_pass(enc, "bptt", Some("gradient"));
            for t in (0..d.t).rev() {
                k.bptt.encode(
                    &mut pass,
                    &[p.step_offset(t)],
                    self.pack.step_grid(self.variant),
                );
            }
            for j in 0..5 {
                self.encode_outer(&mut pass, j);
            }
            k.ah0.encode(&mut pass, &[0], [groups(d.n), d.m, 1]);
        }
    }

    fn encode_chain(&self, enc: &mut wgpu::CommandEncoder, timed: Option<&str>) {
        let d = &self.dims;
        let mut pass = self.pack.begin_pass(enc, "w_rec chain rule", timed);
        self.k
            .rec_grad_chain
            .encode(&mut pass, &[], [groups(d.n * d.n), d.m, 1]);
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
            self.pack.write_dims(&self.dims);
        }
        if adam {
            self.pack.next_adam_step();
        }
        let mut enc = self.pack.encoder("rate update");
        if rule.is_some() || !adam {
            let mut pass = self.pack.begin_pass(&mut enc, "forward", Some("forward"));
            self.encode_forward(&mut pass);
        }
        if let Some(r) = rule {
            self.encode_grad(&mut enc, r, accumulate);
            self.chain_pending = true;
        }
        if self.chain_pending && (chunk.is_none() || adam) {
            self.encode_chain(&mut enc, Some("chain"));
            self.chain_pending = false;
        }
        self.pack.finish(enc, adam)
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

    pub fn read_params(&self) -> Result<Vec<RateParams<f32>>> {
        self.pack
            .read_per_network(&self.pack.params, |c| RateParams::from_flat(&self.cfg, c))
    }
    /// The gradient in the grads buffer (after the chunks of a split batch: their sum, with the
    /// w_rec chain rule applied now if it was still pending).
    pub fn read_grads(&mut self) -> Result<Vec<RateParams<f32>>> {
        if self.chain_pending {
            let mut enc = self.pack.encoder("w_rec chain rule");
            self.encode_chain(&mut enc, None);
            self.pack.ctx.queue.submit([enc.finish()]);
            self.chain_pending = false;
        }
        self.pack
            .read_per_network(&self.pack.grads, |c| RateParams::from_flat(&self.cfg, c))
    }
    /// `y [M, T, B, n_out]` and `h [M, T+1, B, N]` (slot 0 = f(ah0)) of the last forward pass.
    pub fn read_trajectories(&self) -> Result<(Array4<f32>, Array4<f32>)> {
        let (m, b, t) = (
            self.dims.m as usize,
            self.dims.b as usize,
            self.dims.t as usize,
        );
        let y = self
            .pack
            .read_array(&self.buf.y, [m, t, b, self.cfg.n_out])?;
        let h = self
            .pack
            .read_array(&self.buf.h, [m, t + 1, b, self.cfg.n_rec])?;
        Ok((y, h))
    }
}
