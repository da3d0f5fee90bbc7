//! The GPU engine for a pack of M rate networks of one shape: the rate kernels on the shared
//! [`Engine`] core (which holds the layout of params, batch and per-network values, uploads,
//! Adam, timing, readback). Buffers, pipelines and bind groups are built once; an update (forward
//! over all T steps, loss, gradient, Adam) is one command buffer and one submission.

use std::sync::Arc;

use ndarray::Array4;

use super::abi::{Dims, OuterJob, Prelude, Step};
use super::context::GpuContext;
use super::engine::{Bound, Engine, Kernels, Pack, PackDims, PackShape, PackSize, Submission};
use super::kernels::{StepKernels, groups};
use crate::error::Result;
use crate::model::{RateConfig, RateModel, RateParams};
use crate::rules::Rule;

/// Losses of one network after a forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetLoss {
    pub task: f32,
    pub mean_h2: f32,
}

super::engine::loss_pair!(NetLoss, task, mean_h2);

super::engine::named_buffers!(
    /// The rate pack's own buffers (the shared ones are in [`Pack`]).
    struct Buffers {
        mask_rec, w_eff, feedback_t, ah, h, delta, y, dy, part, eps_h, eps_x, post,
    }
);

struct Bounds {
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

/// The rate kernels, their own buffers and outer-product jobs.
pub struct Rate {
    k: Bounds,
    buf: Buffers,
    jobs: [OuterJob; 5],
    /// Gradients were accumulated over chunks and still lack the w_rec chain rule.
    chain_pending: bool,
}

pub type RateEngine = Engine<Rate>;

/// The passes of one update, as the bench reports them.
pub const PASSES: [&str; 4] = ["forward", "gradient", "chain", "adam"];

/// Bytes of the largest single buffer for a pack of `m` networks (the state buffers).
fn largest_buffer_bytes(cfg: &RateConfig, m: usize, b: usize, t: usize) -> u64 {
    let state = (m * (t + 1) * b * cfg.n_rec) as u64 * 4;
    let x = (m * t * b * cfg.n_in.max(cfg.n_out)) as u64 * 4;
    state.max(x)
}

super::engine::pack_model!(RateModel, RateConfig, RateParams<f32>, NetLoss);
super::engine::pack_dims!(Dims, Step);

impl RateEngine {
    /// How many networks of this shape fit in one pack under the device's binding limit.
    pub fn max_networks(ctx: &GpuContext, cfg: &RateConfig, b: usize, t: usize) -> usize {
        let one = largest_buffer_bytes(cfg, 1, b, t).max(1);
        (ctx.max_binding_bytes() / one) as usize
    }

    super::engine::engine_constructors!(RateConfig);

    fn build(
        ctx: Arc<GpuContext>,
        cfg: &RateConfig,
        size: PackSize,
        variant: StepKernels,
    ) -> Result<Self> {
        cfg.validate()?;
        let PackSize { m, b, t, .. } = size;
        let (n, ni, no) = (cfg.n_rec, cfg.n_in, cfg.n_out);
        let off = RateParams::<f32>::offsets(cfg);
        let shape = PackShape::new(size, [n, ni, no], RateParams::<f32>::len(cfg));
        shape.check(
            &ctx,
            "rate",
            largest_buffer_bytes(cfg, m, b, t),
            largest_buffer_bytes(cfg, 1, b, t),
        )?;
        let dims = Dims {
            act: cfg.activation.gpu_code(),
            dale: cfg.dale as u32,
            off_w_in: off[0] as u32,
            off_b_in: off[1] as u32,
            off_w_rec: off[2] as u32,
            off_w_out: off[3] as u32,
            off_b_out: off[4] as u32,
            off_ah0: off[5] as u32,
            alpha: cfg.alpha as f32,
            b_total: b as u32,
            ..Dims::default()
        }
        .with_shape(&shape);
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
        let mut pack =
            Pack::new::<Dims, Step>(ctx, shape, Prelude::Rate, &dims, &jobs, &PASSES, variant);
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
        let named = bf.named(p);
        let k = Bounds {
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
        let kernels = Rate {
            k,
            buf,
            jobs,
            chain_pending: false,
        };
        Engine::assemble(pack, cfg.clone(), dims, kernels)
    }

    /// `y [M, T, B, n_out]` and `h [M, T+1, B, N]` (slot 0 = f(ah0)) of the last forward pass.
    pub fn read_trajectories(&self) -> Result<(Array4<f32>, Array4<f32>)> {
        let PackShape { m, b, t, .. } = self.shape;
        let buf = &self.kernels().buf;
        let y = self.read_array(&buf.y, [m, t, b, self.cfg.n_out])?;
        let h = self.read_array(&buf.h, [m, t + 1, b, self.cfg.n_rec])?;
        Ok((y, h))
    }
}

impl Kernels for Rate {
    type Model = RateModel;
    type Dims = Dims;
    const NAME: &'static str = "rate";

    /// The recurrent masks (all ones where a network has none) and the feedback matrices,
    /// transposed to `[n_out, N]`.
    fn upload_fixed(&self, pack: &Pack, cfg: &RateConfig, models: &[&RateModel]) {
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
        pack.write(&self.buf.mask_rec, &mask);
        pack.write(&self.buf.feedback_t, &fb);
    }

    fn steps(cfg: &RateConfig, rule: Rule, t: usize) -> Vec<Step> {
        let leak = 1.0 - cfg.alpha;
        (0..t)
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
            .collect()
    }

    /// The w_rec chain rule (Dale/sparsity), which is not additive over repeated application,
    /// runs once the gradient is whole: after a whole batch, or with the Adam step after the
    /// chunks of a split batch.
    fn encode(&mut self, s: Submission<'_, Dims>) -> Result<()> {
        let Submission {
            pack,
            dims,
            enc,
            rule,
            adam,
            chunk,
        } = s;
        if rule.is_some() || !adam {
            let mut pass = pack.begin_pass(enc, "forward", Some("forward"));
            self.encode_forward(pack, dims, &mut pass);
        }
        if let Some(r) = rule {
            self.encode_grad(pack, dims, enc, r, chunk == Some(false));
            self.chain_pending = true;
        }
        if self.chain_pending && (chunk.is_none() || adam) {
            self.encode_chain(pack, dims, enc, Some("chain"));
            self.chain_pending = false;
        }
        Ok(())
    }

    /// Apply the w_rec chain rule now if it was still pending (after the chunks of a split batch).
    fn complete_grads(&mut self, pack: &Pack, dims: &Dims) {
        if self.chain_pending {
            let mut enc = pack.encoder("w_rec chain rule");
            self.encode_chain(pack, dims, &mut enc, None);
            pack.ctx.queue.submit([enc.finish()]);
            self.chain_pending = false;
        }
    }
}

impl Rate {
    fn encode_forward(&self, pack: &Pack, d: &Dims, pass: &mut wgpu::ComputePass) {
        let k = &self.k;
        k.rec_effective
            .encode(pass, &[], [groups(d.n * d.n), d.m, 1]);
        k.init.encode(pass, &[], [groups(d.n), d.b, d.m]);
        pack.encode_steps(pass, &k.step, false);
        k.readout.encode(pass, &[], [groups(d.t * d.b), d.m, 1]);
        k.reduce.encode(pass, &[], [d.m, 1, 1]);
    }

    fn encode_outer(&self, pack: &Pack, pass: &mut wgpu::ComputePass, which: usize) {
        pack.encode_outer(pass, &self.k.outer[which], &self.jobs[which], which);
    }

    fn encode_grad(
        &self,
        p: &Pack,
        d: &Dims,
        enc: &mut wgpu::CommandEncoder,
        rule: Rule,
        accumulate: bool,
    ) {
        let k = &self.k;
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
            self.encode_outer(p, &mut pass, 3);
            self.encode_outer(p, &mut pass, 4);
        } else {
            enc.clear_buffer(&self.buf.delta, 0, None);
            let mut pass = p.begin_pass(enc, "bptt", Some("gradient"));
            p.encode_steps(&mut pass, &k.bptt, true);
            for j in 0..5 {
                self.encode_outer(p, &mut pass, j);
            }
            k.ah0.encode(&mut pass, &[0], [groups(d.n), d.m, 1]);
        }
    }

    fn encode_chain(
        &self,
        pack: &Pack,
        d: &Dims,
        enc: &mut wgpu::CommandEncoder,
        timed: Option<&str>,
    ) {
        let mut pass = pack.begin_pass(enc, "w_rec chain rule", timed);
        self.k
            .rec_grad_chain
            .encode(&mut pass, &[], [groups(d.n * d.n), d.m, 1]);
    }
}
