//! Where a pack of networks trains: the CPU implementation (threads over networks, GEMMs for the
//! products) or the GPU engine (networks packed into as few dispatches as the device allows).
//! One backend, [`BackendOf`], serves every kind of network through [`NetKind`] (its CPU twin
//! and its GPU kernels): [`Backend`] for rate networks, [`SpikingBackend`] for spiking ones.

use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::gpu::engine::{ConfigOf, Engine, Kernels, LossOf, PackModel, PackSize, ParamsOf};
use crate::gpu::rate_engine::Rate;
use crate::gpu::spiking_engine::Spiking;
use crate::gpu::timer::add_seconds;
use crate::gpu::{EpropForm, GpuContext, NetLoss, RateEngine, SpikeNetLoss, SpikingEngine};
use crate::model::{RateConfig, RateModel, RateParams};
use crate::optim::{Adam, ParamSet};
use crate::reference::rate::{
    Net, Prepared, Scratch, Trajectory, forward_with, grad_backward_with, loss,
};
use crate::reference::spiking::{self as spk, SpikingNet};
use crate::rules::Rule;
use crate::spiking::{SpikingConfig, SpikingModel, SpikingParams};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// A hardware GPU when there is one, else the CPU implementation.
    Auto,
    /// The CPU implementation.
    Cpu,
    /// The wgpu engine on the best adapter (a software Vulkan adapter where there is no GPU).
    Gpu,
}

impl Device {
    /// The name as configs and the command line write it.
    pub fn name(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Gpu => "gpu",
        }
    }

    /// Resolve `auto`: a real (non-software) adapter means gpu.
    pub fn resolve(self, adapter: Option<&str>) -> Device {
        match self {
            Device::Auto => {
                let found = crate::gpu::context::usable_adapters().into_iter().any(|a| {
                    !crate::gpu::context::is_software(&a.info)
                        && crate::gpu::context::name_filter(adapter)
                            .is_none_or(|f| a.info.name.to_lowercase().contains(&f.to_lowercase()))
                });
                if found { Device::Gpu } else { Device::Cpu }
            }
            d => d,
        }
    }
}

unsafe extern "C" {
    fn openblas_set_num_threads(n: std::ffi::c_int);
}

/// The CPU backends run their GEMMs (ndarray → OpenBLAS) inside rayon workers, one work item per
/// core: OpenBLAS's own threads on top would oversubscribe the cores (measured: BPTT update 0.145 s
/// with them, 0.078 s without, N = 200, B = 100, T = 300 on 2 cores).
pub fn single_threaded_blas() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: sets a global thread count; called once, before any BLAS call of the backend.
    ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
}

thread_local! {
    /// Each worker thread's trajectory buffers, reused by the work items it runs from update to
    /// update (per thread, not per network: a pack of 64 networks holds no more than one). Work
    /// items make no rayon calls while they hold them, so no other item can run on the thread then.
    static BUFFERS: std::cell::RefCell<(Trajectory<f32>, Scratch<f32>)> = std::cell::RefCell::new((Trajectory::empty(), Scratch::default()));
}

/// The CPU phases of one update, as the bench reports them.
pub const CPU_PHASES: [&str; 3] = ["forward", "gradient", "adam"];

/// Trials per CPU work item. Fixed (not derived from the thread count or the number of networks)
/// so that results are bit-identical however networks are packed and whatever the machine; 50
/// (two work items per paper-sized batch) measured 8 % faster than 25 on 2 cores (larger GEMMs).
pub const TRIAL_CHUNK: usize = 50;

/// The CPU work items of `n` networks' batches: (network, chunk of [`TRIAL_CHUNK`] trials), in
/// network then chunk order.
fn trial_chunks(
    n: usize,
    batch_of: impl Fn(usize) -> Prepared<f32> + Sync,
) -> Vec<(usize, Prepared<f32>)> {
    (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let d = batch_of(i);
            let k = d.n_trials().div_ceil(TRIAL_CHUNK);
            d.split(k).into_iter().map(move |p| (i, p))
        })
        .collect()
}

/// Per-network sums of per-chunk results, added in chunk order (so the sums do not depend on
/// how many threads ran the chunks).
fn sum_by_network<T>(
    n: usize,
    items: impl IntoIterator<Item = (usize, T)>,
    mut add: impl FnMut(&mut T, T),
) -> Vec<T> {
    let mut sums: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for (i, x) in items {
        match &mut sums[i] {
            Some(acc) => add(acc, x),
            None => sums[i] = Some(x),
        }
    }
    sums.into_iter()
        .map(|s| s.expect("every network has at least one chunk"))
        .collect()
}

/// Losses, gradient and thread-seconds (forward with loss, gradient) of one network's batch.
pub type NetGradient<K> = (LossOf<K>, ParamsOf<K>, [f64; 2]);

/// A kind of network as a backend trains it: its GPU engine (the [`Kernels`] it implements) and
/// its CPU twin.
pub trait NetKind:
    Kernels<
    Model: PackModel<
        Params: ParamSet<Scalar = f32, Config = ConfigOf<Self>>,
        Loss: Copy + Send + std::ops::AddAssign,
    >,
>
{
    /// One network on the CPU.
    type CpuNet: Send + Sync;
    /// What an update needs besides rule, batches and lambdas (spiking: the target rate).
    type Extra: Copy;
    fn cpu_net(model: &Self::Model) -> Self::CpuNet;
    fn params(net: &Self::CpuNet) -> &ParamsOf<Self>;
    fn params_mut(net: &mut Self::CpuNet) -> &mut ParamsOf<Self>;
    fn has_feedback(net: &Self::CpuNet) -> bool;
    /// Bring what the network derives from its parameters up to date after a step.
    fn refresh(_net: &mut Self::CpuNet) {}
    /// Networks whose gradients one CPU call computes (a kind whose calls hold every
    /// network's trajectories at once keeps this to the thread count).
    fn cpu_group(n: usize) -> usize {
        n
    }
    /// Each network's losses and gradient on its batch (`batch_of(network)`) on the CPU.
    fn cpu_gradients(
        nets: &[&Self::CpuNet],
        rule: Rule,
        batch_of: impl Fn(usize) -> Prepared<f32> + Sync,
        lambdas: &[f64],
        extra: Self::Extra,
    ) -> Vec<NetGradient<Self>>;
    /// Recurrent units (for messages).
    fn units(cfg: &ConfigOf<Self>) -> usize;
    /// How many networks fit one pack for uploads of `[b, t]` trials × steps.
    fn max_networks(
        ctx: &GpuContext,
        cfg: &ConfigOf<Self>,
        b_t: [usize; 2],
        loss: LossKind,
    ) -> usize;
    /// A GPU pack of `size`.
    fn engine(ctx: Arc<GpuContext>, cfg: &ConfigOf<Self>, size: PackSize) -> Result<Engine<Self>>;
    /// Set the per-update values besides the lambdas on a GPU pack.
    fn set_extra(_pack: &mut Engine<Self>, _extra: Self::Extra) {}
}

/// One network on the CPU with its optimiser state.
pub struct CpuNet<K: NetKind> {
    net: K::CpuNet,
    adam: Adam<ParamsOf<K>>,
    /// Thread-seconds spent in forward (+ loss), gradient and Adam since the last take.
    phases: [f64; 3],
}

/// Where the networks of one kind train.
pub enum BackendOf<K: NetKind> {
    Cpu(Vec<CpuNet<K>>),
    /// Packs of networks (the networks of pack i are the next `n_networks()` in order), each run on
    /// chunks of `chunk` trials when a whole batch does not fit one storage binding.
    Gpu {
        packs: Vec<Engine<K>>,
        chunk: usize,
    },
}

pub type Backend = BackendOf<Rate>;

/// e-prop runs in its factorised form on both devices (the same numbers as the online traces,
/// far cheaper).
pub type SpikingBackend = BackendOf<Spiking>;

impl<K: NetKind> BackendOf<K> {
    /// Build a backend holding `models` (all of one configuration), trials of `b` × `t` steps.
    pub fn new(
        device: Device,
        adapter: Option<&str>,
        models: &[K::Model],
        lrs: &[f64],
        b: usize,
        t: usize,
        loss_kind: LossKind,
    ) -> Result<Self> {
        let cfg = config_of::<K>(models)?;
        match device.resolve(adapter) {
            Device::Cpu | Device::Auto => Ok(Self::Cpu({
                single_threaded_blas();
                models
                    .iter()
                    .zip(lrs)
                    .map(|(m, &lr)| CpuNet {
                        net: K::cpu_net(m),
                        adam: Adam::new(cfg, lr),
                        phases: [0.0; 3],
                    })
                    .collect()
            })),
            Device::Gpu => {
                let ctx = Arc::new(GpuContext::new(adapter)?);
                Self::on_gpu(ctx, models, lrs, [b, t], loss_kind)
            }
        }
    }

    /// The GPU backend of `models` on `ctx` for trials of `b` × `t` steps, sized to the context's
    /// storage-binding limit.
    pub fn on_gpu(
        ctx: Arc<GpuContext>,
        models: &[K::Model],
        lrs: &[f64],
        [b, t]: [usize; 2],
        loss_kind: LossKind,
    ) -> Result<Self> {
        let cfg = config_of::<K>(models)?;
        // Whole batches when one network's fit a binding; else the smallest number of equal
        // trial chunks that fits (equal, so every chunk runs on the same pack).
        let fits = |c: usize| K::max_networks(&ctx, cfg, [c, t], loss_kind) >= 1;
        let chunk = (1..=b)
            .filter(|k| b.is_multiple_of(*k))
            .map(|k| b / k)
            .find(|&c| fits(c))
            .ok_or_else(|| {
                Error::Runtime(format!(
                    "one {} network of N = {} with B = 1, T = {t} exceeds the storage-binding limit of {}",
                    K::NAME,
                    K::units(cfg),
                    ctx.info.name
                ))
            })?;
        let per = K::max_networks(&ctx, cfg, [chunk, t], loss_kind).min(models.len());
        let mut packs = Vec::new();
        for (nets, lr) in models.chunks(per).zip(lrs.chunks(per)) {
            let size = PackSize {
                m: nets.len(),
                b: chunk,
                t,
                loss: loss_kind,
            };
            let mut e = K::engine(ctx.clone(), cfg, size)?;
            e.set_networks(&nets.iter().collect::<Vec<_>>())?;
            e.set_hyper(&[0.0], lr);
            packs.push(e);
        }
        Ok(Self::Gpu { packs, chunk })
    }

    /// Trials per upload on the GPU (less than a batch's when it is split into chunks to fit one
    /// storage binding); None on the CPU.
    pub fn trial_chunk(&self) -> Option<usize> {
        match self {
            Self::Cpu(_) => None,
            Self::Gpu { chunk, .. } => Some(*chunk),
        }
    }

    /// Device memory held by the GPU packs (None on the CPU).
    pub fn device_bytes(&self) -> Option<u64> {
        match self {
            Self::Cpu(_) => None,
            Self::Gpu { packs, .. } => Some(packs.iter().map(|e| e.device_bytes()).sum()),
        }
    }

    /// Time per phase since the last call: on the GPU, device seconds per pass from timestamp
    /// queries (`enable_pass_timing`; empty where the adapter has none); on the CPU,
    /// thread-seconds per phase summed over the worker threads.
    pub fn take_phase_seconds(&mut self) -> Vec<(&'static str, f64)> {
        let mut out: Vec<(&'static str, f64)> = Vec::new();
        match self {
            Self::Cpu(nets) => {
                for c in nets.iter_mut() {
                    for (name, s) in CPU_PHASES.iter().zip(std::mem::take(&mut c.phases)) {
                        add_seconds(&mut out, name, s);
                    }
                }
            }
            Self::Gpu { packs, .. } => {
                for e in packs.iter_mut() {
                    for (name, s) in e.take_pass_seconds() {
                        add_seconds(&mut out, name, s);
                    }
                }
            }
        }
        out
    }

    /// Turn on per-pass GPU timestamps (true when every pack has them; the CPU always times).
    pub fn enable_phase_timing(&mut self) -> bool {
        match self {
            Self::Cpu(_) => true,
            Self::Gpu { packs, .. } => {
                // Every pack, not only up to the first without timestamps.
                let mut all = true;
                for e in packs.iter_mut() {
                    all &= e.enable_pass_timing();
                }
                all
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Cpu(_) => "cpu",
            Self::Gpu { .. } => "gpu",
        }
    }

    /// One update of every network on its own batch (or one shared batch) with its own lambda,
    /// and the kind's own per-update value `extra`.
    pub fn update_with(
        &mut self,
        rule: Rule,
        batches: &[&Batch],
        lambdas: &[f64],
        extra: K::Extra,
    ) -> Result<Vec<LossOf<K>>> {
        match self {
            Self::Cpu(nets) => {
                if rule.uses_feedback() && nets.iter().any(|n| !K::has_feedback(&n.net)) {
                    return Err(Error::Input(format!(
                        "rule {} needs the model's feedback matrix",
                        rule.name()
                    )));
                }
                Ok(cpu_update(nets, rule, batches, lambdas, extra))
            }
            Self::Gpu { packs, chunk } => {
                let mut out = Vec::new();
                let mut at = 0;
                for e in packs.iter_mut() {
                    let m = e.n_networks();
                    let bs: Vec<&Batch> = if batches.len() == 1 {
                        vec![batches[0]]
                    } else {
                        batches[at..at + m].to_vec()
                    };
                    e.set_lambdas(&lambdas[at..at + m]);
                    K::set_extra(e, extra);
                    let b = bs[0].n_trials();
                    if *chunk >= b {
                        e.set_batches(&bs)?;
                        out.extend(e.update(rule)?);
                    } else {
                        out.extend(e.gradient_in_chunks(rule, &bs)?);
                        e.adam_step()?;
                    }
                    at += m;
                }
                Ok(out)
            }
        }
    }

    /// Every network's Adam state, for a resumable training state (None on the GPU, whose
    /// moments stay on the device).
    pub fn adam_states(&self) -> Option<Vec<Adam<ParamsOf<K>>>> {
        match self {
            Self::Cpu(nets) => Some(nets.iter().map(|c| c.adam.clone()).collect()),
            Self::Gpu { .. } => None,
        }
    }

    /// Continue from saved Adam states (one per network, in order; CPU only).
    pub fn set_adam_states(&mut self, states: Vec<Adam<ParamsOf<K>>>) -> Result<()> {
        match self {
            Self::Cpu(nets) if nets.len() == states.len() => {
                nets.iter_mut().zip(states).for_each(|(c, a)| c.adam = a);
                Ok(())
            }
            Self::Cpu(_) => Err(Error::Runtime("Adam states do not match the pack".into())),
            Self::Gpu { .. } => Err(gpu_resume_error()),
        }
    }

    /// Current parameters of every network (a device readback on the GPU).
    pub fn params(&self) -> Result<Vec<ParamsOf<K>>> {
        match self {
            Self::Cpu(nets) => Ok(nets.iter().map(|c| K::params(&c.net).clone()).collect()),
            Self::Gpu { packs, .. } => {
                let mut v = Vec::new();
                for e in packs {
                    v.extend(e.read_params()?);
                }
                Ok(v)
            }
        }
    }
}

impl Backend {
    /// One update of every network on its own batch (or one shared batch) with its own lambda.
    pub fn update(
        &mut self,
        rule: Rule,
        batches: &[&Batch],
        lambdas: &[f64],
    ) -> Result<Vec<NetLoss>> {
        self.update_with(rule, batches, lambdas, ())
    }
}

impl SpikingBackend {
    /// One update of every network, as [`Backend::update`], towards the target rate `rate_target`.
    pub fn update(
        &mut self,
        rule: Rule,
        batches: &[&Batch],
        lambdas: &[f64],
        rate_target: f64,
    ) -> Result<Vec<SpikeNetLoss>> {
        self.update_with(rule, batches, lambdas, rate_target)
    }
}

/// The one configuration of a backend's models.
fn config_of<K: NetKind>(models: &[K::Model]) -> Result<&ConfigOf<K>> {
    Ok(models
        .first()
        .ok_or_else(|| Error::Input("no networks to train".into()))?
        .config())
}

fn gpu_resume_error() -> Error {
    Error::Input(
        "a saved training state can only be resumed on the CPU (device = \"cpu\"); use --force to train again from the start".into(),
    )
}

/// One update of every network on the CPU, in groups of [`NetKind::cpu_group`] networks: their
/// gradients (work items of (network, chunk of trials), so that even one network keeps several
/// threads busy; chunk results summed in chunk order), then each network's Adam step.
fn cpu_update<K: NetKind>(
    nets: &mut [CpuNet<K>],
    rule: Rule,
    batches: &[&Batch],
    lambdas: &[f64],
    extra: K::Extra,
) -> Vec<LossOf<K>> {
    let pick = |i: usize| batches[if batches.len() == 1 { 0 } else { i }];
    let per = K::cpu_group(nets.len()).max(1);
    let mut out = Vec::with_capacity(nets.len());
    for (gi, group) in nets.chunks_mut(per).enumerate() {
        let first = gi * per;
        let refs: Vec<&K::CpuNet> = group.iter().map(|c| &c.net).collect();
        let grads = K::cpu_gradients(
            &refs,
            rule,
            |k| Prepared::new(pick(first + k)),
            &lambdas[first..],
            extra,
        );
        let losses: Vec<LossOf<K>> = group
            .par_iter_mut()
            .zip(grads)
            .map(|(c, (l, g, secs))| {
                let t0 = Instant::now();
                c.adam.update(K::params_mut(&mut c.net), &g);
                K::refresh(&mut c.net);
                c.phases[0] += secs[0];
                c.phases[1] += secs[1];
                c.phases[2] += t0.elapsed().as_secs_f64();
                l
            })
            .collect();
        out.extend(losses);
    }
    out
}

/// The [`NetKind`] items of a CPU twin built by `new(model)`, with its parameters in `p` and its
/// feedback matrix in `feedback`.
macro_rules! cpu_twin {
    ($model:ty, $net:ty, $params:ty) => {
        fn cpu_net(model: &$model) -> $net {
            <$net>::new(model)
        }
        fn params(net: &$net) -> &$params {
            &net.p
        }
        fn params_mut(net: &mut $net) -> &mut $params {
            &mut net.p
        }
        fn has_feedback(net: &$net) -> bool {
            net.feedback.is_some()
        }
    };
}

impl NetKind for Rate {
    type CpuNet = Net<f32>;
    type Extra = ();
    cpu_twin!(RateModel, Net<f32>, RateParams<f32>);
    fn refresh(net: &mut Net<f32>) {
        net.refresh();
    }
    /// e-prop uses its factorised (stop-gradient) form here: the same numbers as the trace form
    /// (tested to 1e-9) without a product per step.
    fn cpu_gradients(
        nets: &[&Net<f32>],
        rule: Rule,
        batch_of: impl Fn(usize) -> Prepared<f32> + Sync,
        lambdas: &[f64],
        _extra: (),
    ) -> Vec<NetGradient<Rate>> {
        let work = trial_chunks(nets.len(), batch_of);
        let done: Vec<(usize, NetGradient<Rate>)> = work
            .par_iter()
            .map(|(i, d)| {
                let (net, lambda) = (nets[*i], lambdas[*i] as f32);
                BUFFERS.with_borrow_mut(|(tr, scratch)| {
                    let t0 = Instant::now();
                    forward_with(net, &d.x, tr);
                    let lo = loss(tr, d, lambda);
                    let t1 = Instant::now();
                    let g = grad_backward_with(net, rule, d, tr, &lo, lambda, scratch);
                    let l = NetLoss {
                        task: lo.task,
                        mean_h2: lo.mean_h2,
                    };
                    let secs = [(t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64()];
                    (*i, (l, g, secs))
                })
            })
            .collect();
        sum_by_network(nets.len(), done, |acc, (l, g, secs)| {
            acc.0 += l;
            acc.1.add_assign(&g);
            acc.2[0] += secs[0];
            acc.2[1] += secs[1];
        })
    }
    fn units(cfg: &RateConfig) -> usize {
        cfg.n_rec
    }
    fn max_networks(ctx: &GpuContext, cfg: &RateConfig, [b, t]: [usize; 2], _: LossKind) -> usize {
        RateEngine::max_networks(ctx, cfg, b, t)
    }
    fn engine(ctx: Arc<GpuContext>, cfg: &RateConfig, s: PackSize) -> Result<RateEngine> {
        RateEngine::new(ctx, cfg, s.m, s.b, s.t, s.loss)
    }
}

impl NetKind for Spiking {
    type CpuNet = SpikingNet<f32>;
    /// The target firing rate of the regulariser.
    type Extra = f64;
    cpu_twin!(SpikingModel, SpikingNet<f32>, SpikingParams<f32>);
    /// As many as there are threads, so that only one group's trajectories are alive between
    /// the two phases of [`spiking_gradients_cpu`].
    fn cpu_group(_n: usize) -> usize {
        rayon::current_num_threads()
    }
    /// See [`spiking_gradients_cpu`]; with each network's thread-seconds (forward, loss and
    /// gradient).
    fn cpu_gradients(
        nets: &[&SpikingNet<f32>],
        rule: Rule,
        batch_of: impl Fn(usize) -> Prepared<f32> + Sync,
        lambdas: &[f64],
        rate_target: f64,
    ) -> Vec<NetGradient<Spiking>> {
        let rate_target = rate_target as f32;
        let work = trial_chunks(nets.len(), batch_of);
        let trs: Vec<(spk::SpikeTrajectory<f32>, f64)> = work
            .par_iter()
            .map(|(k, d)| {
                let t0 = Instant::now();
                let tr = spk::forward(nets[*k], &d.x);
                (tr, t0.elapsed().as_secs_f64())
            })
            .collect();
        // Each network's spike counts over its whole batch, with the batch's steps × trials.
        let counts = sum_by_network(
            nets.len(),
            work.iter().zip(&trs).map(|((k, d), (tr, _))| {
                (*k, (spk::spike_counts(tr), d.n_steps() * d.batch_trials))
            }),
            |(acc, _), (c, _)| *acc += &c,
        );
        let regs: Vec<spk::RateTerms<f32>> = counts
            .iter()
            .enumerate()
            .map(|(k, (c, samples))| {
                spk::RateTerms::new(c, *samples, lambdas[k] as f32, rate_target)
            })
            .collect();
        let done: Vec<(f32, SpikingParams<f32>, [f64; 2])> = work
            .par_iter()
            .zip(&trs)
            .map(|((k, d), (tr, forward_s))| {
                let t0 = Instant::now();
                let lo = spk::loss_with(tr, d, lambdas[*k] as f32, &regs[*k]);
                let t1 = Instant::now();
                let g = spk::grad_backward(nets[*k], rule, d, tr, &lo);
                let secs = [
                    forward_s + (t1 - t0).as_secs_f64(),
                    t1.elapsed().as_secs_f64(),
                ];
                (lo.task, g, secs)
            })
            .collect();
        drop(trs);
        let sums = sum_by_network(
            nets.len(),
            work.iter().map(|(k, _)| *k).zip(done),
            |(t, acc, secs), (task, g, s)| {
                *t += task;
                acc.add_assign(&g);
                secs[0] += s[0];
                secs[1] += s[1];
            },
        );
        sums.into_iter()
            .zip(regs)
            .map(|((task, g, secs), reg)| {
                let l = SpikeNetLoss {
                    task,
                    rate_reg: reg.rate_reg,
                };
                (l, g, secs)
            })
            .collect()
    }
    fn units(cfg: &SpikingConfig) -> usize {
        cfg.n_rec
    }
    /// Sized by the backward sweep's buffers (the form the backend trains with).
    fn max_networks(
        ctx: &GpuContext,
        cfg: &SpikingConfig,
        [b, t]: [usize; 2],
        loss: LossKind,
    ) -> usize {
        let one = SpikingEngine::memory_bytes(cfg, 1, b, t, loss, false).largest;
        (ctx.max_binding_bytes() / one.max(1)) as usize
    }
    fn engine(ctx: Arc<GpuContext>, cfg: &SpikingConfig, s: PackSize) -> Result<SpikingEngine> {
        SpikingEngine::new(ctx, cfg, s.m, s.b, s.t, s.loss, EpropForm::Factorised)
    }
    fn set_extra(pack: &mut SpikingEngine, rate_target: f64) {
        pack.update_nets(|_, v| v.rate_target = rate_target as f32);
    }
}

/// Losses and gradients of spiking networks on the CPU (f32, each on its own batch), in work
/// items of (network, chunk of [`TRIAL_CHUNK`] trials) like the rate backend's, so that one network
/// keeps every core busy. The firing-rate regulariser depends on the whole batch's spikes, hence
/// two phases: every chunk's forward pass, then (with each network's regulariser from its chunks'
/// summed spike counts) every chunk's loss and gradient. Chunk results are summed in chunk order,
/// so a network's numbers do not depend on which other networks share the call.
pub fn spiking_gradients_cpu(
    nets: &[&SpikingNet<f32>],
    rule: Rule,
    batch_of: impl Fn(usize) -> Prepared<f32> + Sync,
    lambdas: &[f64],
    rate_target: f32,
) -> Vec<(SpikeNetLoss, SpikingParams<f32>)> {
    let target = rate_target as f64;
    <Spiking as NetKind>::cpu_gradients(nets, rule, batch_of, lambdas, target)
        .into_iter()
        .map(|(l, g, _)| (l, g))
        .collect()
}
