//! The GPU engine for a pack of M spiking (LIF/ALIF) networks of one shape: the spiking kernels
//! on the shared [`Engine`] core. As for the rate engine: buffers, pipelines and bind groups are
//! built once, a whole update (T forward steps, loss, gradient, Adam) is one command buffer and
//! one submission, and only the M losses are read back. A batch larger than one binding holds is
//! split into chunks of trials as for rate packs, with one more pass: the rate regulariser's
//! gradient depends on the firing rates of the whole batch, so a forward pass over every chunk
//! first counts the spikes ([`Kernels::begin_chunks`]), and the chunks' gradients then use those
//! rates and add up to the whole batch's.
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

use ndarray::Array4;

use super::abi::{OuterJob, Prelude, SpikeDims, SpikeStep};
use super::context::GpuContext;
use super::engine::{Bound, Engine, Kernels, Pack, PackDims, PackShape, PackSize, Submission};
use super::kernels::{StepKernels, groups};
use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::rules::Rule;
use crate::spiking::{SpikingConfig, SpikingModel, SpikingParams};

/// Losses of one network after a forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpikeNetLoss {
    pub task: f32,
    /// `mean_j (rate_j - target)^2` (before lambda).
    pub rate_reg: f32,
}

super::engine::loss_pair!(SpikeNetLoss, task, rate_reg);

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

super::engine::named_buffers!(
    /// The spiking pack's own buffers (the shared ones are in [`Pack`]).
    struct Buffers {
        feedback, v, a, z, psi, refr, y, dy, gy, part, rate, dreg, da,
    }
);

/// The kernels of a pack that keeps whole trajectories and sweeps back (BPTT, cut graphs,
/// factorised e-prop).
struct Backward {
    readout: Bound,
    loss: Bound,
    rates: Bound,
    bptt: Bound,
    /// Outer-product jobs: w_rec, w_in (from dv), w_out, b_out (from gy)
    outer: [wgpu::BindGroup; 4],
}

/// The kernels of an online e-prop pack: traces advance with the forward pass, step by step.
struct Online {
    out: Bound,
    readout_grad: Bound,
    rates: Bound,
    reg_grad: Bound,
    pre: Bound,
    trace: Bound,
}

enum Form {
    Backward(Backward),
    Online(Online),
}

/// The spiking kernels, their own buffers and outer-product jobs.
pub struct Spiking {
    step: Bound,
    reduce: Bound,
    zero_diag: Bound,
    form: Form,
    buf: Buffers,
    jobs: [OuterJob; 4],
}

pub type SpikingEngine = Engine<Spiking>;

/// The passes of one update, as the bench reports them (an online pack computes its gradient
/// inside the forward pass).
pub const PASSES: [&str; 3] = ["forward", "gradient", "adam"];

super::engine::pack_model!(
    SpikingModel,
    SpikingConfig,
    SpikingParams<f32>,
    SpikeNetLoss
);
super::engine::pack_dims!(SpikeDims, SpikeStep);

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

    // `new(ctx, cfg, m, b, t, loss, form)`: `EpropForm::Online` allocates the per-synapse
    // traces of online e-prop (instead of the backward sweep's dv): such a pack computes e-prop
    // rules online and refuses the others. `Factorised` packs run every rule by the backward
    // sweep (e-prop as its factorised form).
    super::engine::engine_constructors!(SpikingConfig, form: EpropForm);

    fn build(
        ctx: Arc<GpuContext>,
        cfg: &SpikingConfig,
        size: PackSize,
        form: EpropForm,
        variant: StepKernels,
    ) -> Result<Self> {
        let online = form == EpropForm::Online;
        cfg.validate()?;
        let PackSize { m, b, t, loss } = size;
        let (n, ni, no) = (cfg.n_rec, cfg.n_in, cfg.n_out);
        let shape = PackShape::new(size, [n, ni, no], SpikingParams::<f32>::len(cfg));
        shape.check(
            &ctx,
            "spiking",
            Self::memory_bytes(cfg, m, b, t, loss, online).largest,
            Self::memory_bytes(cfg, 1, b, t, loss, online).largest,
        )?;
        let dims = SpikeDims {
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
            slots: if online { 2 } else { t as u32 },
            b_total: b as u32,
            ..SpikeDims::default()
        }
        .with_shape(&shape);
        let slots = dims.slots as usize;
        let traj = m * slots * b * n;
        let outs = m * slots * b * no;
        // Outer-product jobs over samples s = (t, b): w_rec pairs dv[t] with z[t-1] (t >= 1).
        let tb = (t * b) as u32;
        let (sn, sx, so) = ([t * b * n, 0, n], [t * b * ni, 0, ni], [t * b * no, 0, no]);
        let jobs = [
            OuterJob::product(
                n,
                n,
                tb - b as u32,
                [t * b * n, b * n, n],
                sn,
                dims.off_w_rec,
                1.0,
            ),
            OuterJob::product(n, ni, tb, sn, sx, dims.off_w_in, 1.0),
            OuterJob::product(no, n, tb, so, sn, dims.off_w_out, 1.0),
            OuterJob::bias(no, tb, so, dims.off_b_out, 1.0),
        ];
        let mut pack = Pack::new::<SpikeDims, SpikeStep>(
            ctx,
            shape,
            Prelude::Spike,
            &dims,
            &jobs,
            &PASSES,
            variant,
        );
        let buf = Buffers {
            feedback: pack.storage("feedback", m * n * no),
            v: pack.storage("v", traj),
            a: pack.storage("a", traj),
            z: pack.storage("z", traj),
            psi: pack.storage("psi", traj),
            refr: pack.storage("refractory", m * b * n),
            y: pack.storage("y", outs),
            dy: pack.storage("dy", outs),
            gy: pack.storage("gy", if online { 1 } else { outs }),
            part: pack.storage("loss parts", m * b),
            rate: pack.storage("rates", m * n),
            dreg: pack.storage("dreg", m * n),
            da: pack.storage("da", m * b * n),
        };
        let form = if online {
            Form::Online(Self::online_kernels(&mut pack, &buf))
        } else {
            Form::Backward(Self::backward_kernels(&mut pack, &buf, variant))
        };
        let (p, bf) = (&pack, &buf);
        let named = bf.named(p);
        let step = Bound::new(p, variant.name("spike_step"), &named);
        let reduce = Bound::new(p, "spike_loss_reduce", &named);
        let zero_diag = Bound::new(p, "spike_zero_diag", &named);
        // Default rate target (SPEC §3) until `set_hyper`.
        pack.update_nets(|_, v| v.rate_target = crate::spiking::DEFAULT_RATE_TARGET as f32);
        let kernels = Spiking {
            step,
            reduce,
            zero_diag,
            form,
            buf,
            jobs,
        };
        Engine::assemble(pack, cfg.clone(), dims, kernels)
    }

    fn backward_kernels(pack: &mut Pack, bf: &Buffers, variant: StepKernels) -> Backward {
        let dv = pack.storage(
            "dv",
            pack.shape.m * pack.shape.t * pack.shape.b * pack.shape.n,
        );
        let p = &*pack;
        let mut named = bf.named(p);
        named.push(("dv", &dv));
        Backward {
            readout: Bound::new(p, "spike_readout", &named),
            loss: Bound::new(p, "spike_loss", &named),
            rates: Bound::new(p, "spike_rates", &named),
            bptt: Bound::new(p, variant.name("spike_bptt_step"), &named),
            outer: [
                p.bind_outer(&dv, &bf.z),
                p.bind_outer(&dv, &p.x),
                p.bind_outer(&bf.gy, &bf.z),
                p.bind_outer(&bf.gy, &bf.z),
            ],
        }
    }

    fn online_kernels(pack: &mut Pack, bf: &Buffers) -> Online {
        let PackShape { m, b, n, n_in, .. } = pack.shape;
        let eps_v = pack.storage("eps_v", 2 * m * b * (n + n_in));
        let eps_a = pack.storage("eps_a", m * b * n * (n + n_in));
        let ebar = pack.storage("ebar", m * b * n * (n + n_in));
        let zbar = pack.storage("zbar", m * b * n);
        let zsum = pack.storage("zsum", m * b * n);
        let cbar = pack.storage("cbar", m * b);
        let esum = pack.storage("esum", m * n * (n + n_in));
        let p = &*pack;
        let mut named = bf.named(p);
        named.extend([
            ("eps_v", &eps_v),
            ("eps_a", &eps_a),
            ("ebar", &ebar),
            ("zbar", &zbar),
            ("zsum", &zsum),
            ("cbar", &cbar),
            ("esum", &esum),
        ]);
        Online {
            out: Bound::new(p, "spike_online_out", &named),
            readout_grad: Bound::new(p, "spike_online_readout_grad", &named),
            rates: Bound::new(p, "spike_online_rates", &named),
            reg_grad: Bound::new(p, "spike_online_reg_grad", &named),
            pre: Bound::new(p, "spike_eprop_pre", &named),
            trace: Bound::new(p, "spike_eprop_trace", &named),
        }
    }

    fn online(&self) -> bool {
        self.kernels().online()
    }

    /// Device memory this pack holds.
    pub fn memory(&self) -> SpikeMemory {
        let loss = if self.dims.loss == LossKind::Mse.gpu_code() {
            LossKind::Mse
        } else {
            LossKind::Ce
        };
        let PackShape { m, b, t, .. } = self.shape;
        Self::memory_bytes(&self.cfg, m, b, t, loss, self.online())
    }

    /// Regulariser weight lambda, learning rate and target rate of every network.
    pub fn set_hyper(&mut self, lambdas: &[f64], lrs: &[f64], rate_target: f64) {
        let pack: &mut Pack = self;
        pack.set_hyper(lambdas, lrs);
        pack.update_nets(|_, v| v.rate_target = rate_target as f32);
    }

    /// `(v, a, z, psi)` each `[M, T, B, N]` and `y [M, T, B, n_out]` of the last forward pass
    /// (packs that keep whole trajectories only).
    pub fn read_trajectories(&self) -> Result<([Array4<f32>; 4], Array4<f32>)> {
        if self.online() {
            return Err(Error::Runtime(
                "an online e-prop pack keeps only the last two steps of its trajectories".into(),
            ));
        }
        let PackShape { m, b, t, .. } = self.shape;
        let buf = &self.kernels().buf;
        let st = |buf| self.read_array(buf, [m, t, b, self.cfg.n_rec]);
        let y = self.read_array(&buf.y, [m, t, b, self.cfg.n_out])?;
        Ok(([st(&buf.v)?, st(&buf.a)?, st(&buf.z)?, st(&buf.psi)?], y))
    }
}

impl Kernels for Spiking {
    type Model = SpikingModel;
    type Dims = SpikeDims;
    const NAME: &'static str = "spiking";

    /// Fix every network's firing rates over its whole batch: a forward pass over each chunk,
    /// its spike counts (rate × steps × trials, whole numbers) added up.
    fn begin_chunks(e: &mut Engine<Self>, batches: &[&Batch]) -> Result<()> {
        set_fixed_rates(e, false);
        let PackShape { b, t, .. } = e.shape;
        let mut spikes = vec![0.0f64; e.n_networks() * e.cfg.n_rec];
        for first in e.chunk_starts(batches) {
            e.set_batch_chunk(batches, first)?;
            e.forward()?;
            for (s, r) in spikes.iter_mut().zip(e.read(&e.kernels().buf.rate)?) {
                *s += (f64::from(r) * (t * b) as f64).round();
            }
        }
        // As the whole batch's pass computes them: count / (T·B), rounded once to f32 (B: the
        // whole batch's trials, which the chunks' uploads set).
        let total = e.dims.b_total as usize;
        let rates: Vec<f32> = spikes
            .iter()
            .map(|s| (s / (t * total) as f64) as f32)
            .collect();
        e.write(&e.kernels().buf.rate, &rates);
        set_fixed_rates(e, true);
        Ok(())
    }

    fn end_chunks(e: &mut Engine<Self>) {
        set_fixed_rates(e, false);
    }

    /// The feedback matrices (zeros where a network has none).
    fn upload_fixed(&self, pack: &Pack, cfg: &SpikingConfig, models: &[&SpikingModel]) {
        let (n, no) = (cfg.n_rec, cfg.n_out);
        let mut fb = vec![0f32; models.len() * n * no];
        for (i, md) in models.iter().enumerate() {
            if let Some(f) = &md.feedback {
                fb[i * n * no..(i + 1) * n * no]
                    .copy_from_slice(f.as_standard_layout().as_slice().expect("contiguous"));
            }
        }
        pack.write(&self.buf.feedback, &fb);
    }

    fn steps(_cfg: &SpikingConfig, rule: Rule, t: usize) -> Vec<SpikeStep> {
        (0..t)
            .map(|s| SpikeStep {
                t: s as u32,
                cut_next: (s + 1 < t && rule.cuts(s + 1, t)) as u32,
                parity: (s % 2) as u32,
                _pad: 0,
            })
            .collect()
    }

    /// An online pack runs e-prop rules only (its traces advance with the forward pass).
    fn encode(&mut self, s: Submission<'_, SpikeDims>) -> Result<()> {
        let rule = s.rule;
        if let Some(r) = rule
            && self.online()
            && !r.is_eprop()
        {
            return Err(Error::Runtime(format!(
                "this pack runs online e-prop (traces alongside the forward pass); rule {} needs a pack built for the backward sweep",
                r.name()
            )));
        }
        if rule.is_some() && s.dims.b_total != s.dims.b && s.dims.fixed_rates == 0 {
            return Err(Error::Runtime(
                "the gradient of one chunk of a spiking batch needs the whole batch's firing rates: use gradient_in_chunks".into(),
            ));
        }
        let with_gradient = self.online() && rule.is_some();
        self.encode_forward(s.pack, s.dims, s.enc, with_gradient);
        if let (Some(_), Form::Backward(bw)) = (rule, &self.form) {
            self.encode_backward(s.pack, s.dims, s.enc, bw);
        }
        Ok(())
    }
}

/// Whether the chunks' passes keep the rates set by [`Kernels::begin_chunks`].
fn set_fixed_rates(e: &mut Engine<Spiking>, on: bool) {
    if e.dims.fixed_rates != on as u32 {
        e.dims.fixed_rates = on as u32;
        let dims = e.dims;
        e.write_dims(&dims);
    }
}

impl Spiking {
    fn online(&self) -> bool {
        matches!(self.form, Form::Online(_))
    }

    /// The forward pass (and, for an online pack with `rule`, the e-prop traces step by step
    /// alongside it), the losses, and everything of the gradient that needs no backward sweep.
    fn encode_forward(
        &self,
        p: &Pack,
        d: &SpikeDims,
        enc: &mut wgpu::CommandEncoder,
        with_gradient: bool,
    ) {
        match &self.form {
            Form::Online(on) => {
                if with_gradient {
                    enc.clear_buffer(&p.grads, 0, None);
                }
                let mut pass = p.begin_pass(enc, "spiking online forward", Some("forward"));
                for t in 0..d.t {
                    let o = [p.step_offset(t)];
                    self.step.encode(&mut pass, &o, p.step_grid());
                    on.out.encode(&mut pass, &o, [groups(d.b), d.m, 1]);
                    if with_gradient {
                        on.readout_grad.encode(
                            &mut pass,
                            &o,
                            [groups(d.n_out * (d.n + 1)), d.m, 1],
                        );
                        on.pre
                            .encode(&mut pass, &o, [groups(d.n + d.n_in), d.b, d.m]);
                        on.trace
                            .encode(&mut pass, &o, [groups(d.n + d.n_in), d.n, d.m]);
                    }
                }
                on.rates.encode(&mut pass, &[], [groups(d.n), d.m, 1]);
                if with_gradient {
                    on.reg_grad
                        .encode(&mut pass, &[], [groups(d.n + d.n_in), d.n, d.m]);
                    self.zero_diag.encode(&mut pass, &[], [groups(d.n), d.m, 1]);
                }
                self.reduce.encode(&mut pass, &[], [d.m, 1, 1]);
            }
            Form::Backward(bw) => {
                let mut pass = p.begin_pass(enc, "spiking forward", Some("forward"));
                p.encode_steps(&mut pass, &self.step, false);
                bw.readout
                    .encode(&mut pass, &[], [groups(d.t * d.b * d.n_out), d.m, 1]);
                bw.loss.encode(&mut pass, &[], [groups(d.b), d.m, 1]);
                bw.rates.encode(&mut pass, &[], [groups(d.n), d.m, 1]);
                self.reduce.encode(&mut pass, &[], [d.m, 1, 1]);
            }
        }
    }

    /// The backward sweep and weight gradients of a pack that keeps whole trajectories.
    fn encode_backward(
        &self,
        p: &Pack,
        d: &SpikeDims,
        enc: &mut wgpu::CommandEncoder,
        bw: &Backward,
    ) {
        let mut pass = p.begin_pass(enc, "spiking backward sweep", Some("gradient"));
        p.encode_steps(&mut pass, &bw.bptt, true);
        for (j, (bg, job)) in bw.outer.iter().zip(&self.jobs).enumerate() {
            p.encode_outer(&mut pass, bg, job, j);
        }
        self.zero_diag.encode(&mut pass, &[], [groups(d.n), d.m, 1]);
    }
}
