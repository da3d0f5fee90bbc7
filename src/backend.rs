//! Where a pack of networks trains: the CPU implementation (threads over networks, GEMMs for the
//! products) or the GPU engine (networks packed into as few dispatches as the device allows).

use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, NetLoss, RateEngine};
use crate::model::{RateModel, RateParams};
use crate::optim::Adam;
use crate::reference::rate::{
    Net, Prepared, Scratch, Trajectory, forward_with, grad_backward_with, loss,
};
use crate::rules::Rule;

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
fn single_threaded_blas() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: sets a global thread count; called once, before any BLAS call of the backend.
    ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
}

/// One network on the CPU with its optimiser state.
pub struct CpuNet {
    net: Net<f32>,
    adam: Adam<RateParams<f32>>,
    /// Thread-seconds spent in forward (+ loss), gradient and Adam since the last take.
    phases: [f64; 3],
}

thread_local! {
    /// Each worker thread's trajectory buffers, reused by the work items it runs from update to
    /// update (per thread, not per network: a pack of 64 networks holds no more than one). Work
    /// items make no rayon calls while they hold them, so no other item can run on the thread then.
    static BUFFERS: std::cell::RefCell<(Trajectory<f32>, Scratch<f32>)> = std::cell::RefCell::new((Trajectory::empty(), Scratch::default()));
}

/// The CPU phases of one update, as the bench reports them.
pub const CPU_PHASES: [&str; 3] = ["forward", "gradient", "adam"];

pub enum Backend {
    Cpu(Vec<CpuNet>),
    /// Packs of networks (the networks of pack i are the next `n_networks()` in order), each run on
    /// chunks of `chunk` trials when a whole batch does not fit one storage binding.
    Gpu {
        packs: Vec<RateEngine>,
        chunk: usize,
    },
}

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

/// One update of every network on the CPU. Work items are (network, chunk of trials) so that
/// even one network keeps several threads busy; chunk gradients are summed in chunk order. e-prop
/// uses its factorised (stop-gradient) form here: the same numbers as the trace form (tested to
/// 1e-9) without a product per step.
fn cpu_update(
    nets: &mut [CpuNet],
    rule: Rule,
    batch_of: impl Fn(usize) -> Prepared<f32> + Sync,
    lambdas: &[f64],
) -> Vec<NetLoss> {
    let work = trial_chunks(nets.len(), batch_of);
    let done: Vec<(usize, NetLoss, RateParams<f32>, [f64; 2])> = work
        .par_iter()
        .map(|(i, d)| {
            let (net, lambda) = (&nets[*i].net, lambdas[*i] as f32);
            BUFFERS.with_borrow_mut(|(tr, scratch)| {
                let t0 = Instant::now();
                forward_with(net, &d.x, tr);
                let lo = loss(tr, d, lambda);
                let t1 = Instant::now();
                let g = grad_backward_with(net, rule, d, tr, &lo, lambda, scratch);
                (
                    *i,
                    NetLoss {
                        task: lo.task,
                        mean_h2: lo.mean_h2,
                    },
                    g,
                    [(t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64()],
                )
            })
        })
        .collect();
    for (i, _, _, secs) in &done {
        nets[*i].phases[0] += secs[0];
        nets[*i].phases[1] += secs[1];
    }
    let sums = sum_by_network(
        nets.len(),
        done.into_iter().map(|(i, l, g, _)| (i, (l, g))),
        |(acc_l, acc_g), (l, g)| {
            acc_l.task += l.task;
            acc_l.mean_h2 += l.mean_h2;
            acc_g.add_assign(&g);
        },
    );
    nets.par_iter_mut()
        .zip(sums)
        .map(|(c, (l, g))| {
            let t0 = Instant::now();
            c.adam.update(&mut c.net.p, &g);
            c.net.refresh();
            c.phases[2] += t0.elapsed().as_secs_f64();
            l
        })
        .collect()
}

impl Backend {
    /// Build a backend holding `models` (all of one configuration), trials of `b` × `t` steps.
    pub fn new(
        device: Device,
        adapter: Option<&str>,
        models: &[RateModel],
        lrs: &[f64],
        b: usize,
        t: usize,
        loss_kind: LossKind,
    ) -> Result<Self> {
        let cfg = &models
            .first()
            .ok_or_else(|| Error::Input("no networks to train".into()))?
            .config;
        match device.resolve(adapter) {
            Device::Cpu | Device::Auto => Ok(Backend::Cpu({
                single_threaded_blas();
                models
                    .iter()
                    .zip(lrs)
                    .map(|(m, &lr)| CpuNet {
                        net: Net::new(m),
                        adam: Adam::new(cfg, lr),
                        phases: [0.0; 3],
                    })
                    .collect()
            })),
            Device::Gpu => {
                let ctx = Arc::new(GpuContext::new(adapter)?);
                // Whole batches when one network's fit a binding; else the smallest number of
                // equal trial chunks that fits (equal, so every chunk runs on the same pack).
                let chunk = (1..=b)
                    .filter(|k| b.is_multiple_of(*k))
                    .map(|k| b / k)
                    .find(|&c| RateEngine::max_networks(&ctx, cfg, c, t) >= 1)
                    .ok_or_else(|| {
                        Error::Runtime(format!(
                            "one trial of N = {} and T = {t} exceeds the storage-binding limit of {}",
                            cfg.n_rec, ctx.info.name
                        ))
                    })?;
                let per = RateEngine::max_networks(&ctx, cfg, chunk, t).min(models.len());
                let mut packs = Vec::new();
                for (nets, lr) in models.chunks(per).zip(lrs.chunks(per)) {
                    let mut e = RateEngine::new(ctx.clone(), cfg, nets.len(), chunk, t, loss_kind)?;
                    e.set_networks(&nets.iter().collect::<Vec<_>>())?;
                    e.set_hyper(&[0.0], lr);
                    packs.push(e);
                }
                Ok(Backend::Gpu { packs, chunk })
            }
        }
    }

    /// Device memory held by the GPU packs (None on the CPU).
    pub fn device_bytes(&self) -> Option<u64> {
        match self {
            Backend::Cpu(_) => None,
            Backend::Gpu { packs, .. } => Some(packs.iter().map(RateEngine::device_bytes).sum()),
        }
    }

    /// Time per phase since the last call: on the GPU, device seconds per pass from timestamp
    /// queries (`enable_pass_timing`; empty where the adapter has none); on the CPU,
    /// thread-seconds per phase summed over the worker threads.
    pub fn take_phase_seconds(&mut self) -> Vec<(&'static str, f64)> {
        use crate::gpu::timer::add_seconds;
        let mut out: Vec<(&'static str, f64)> = Vec::new();
        match self {
            Backend::Cpu(nets) => {
                for c in nets.iter_mut() {
                    for (name, s) in CPU_PHASES.iter().zip(std::mem::take(&mut c.phases)) {
                        add_seconds(&mut out, name, s);
                    }
                }
            }
            Backend::Gpu { packs, .. } => {
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
            Backend::Cpu(_) => true,
            Backend::Gpu { packs, .. } => {
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
            Backend::Cpu(_) => "cpu",
            Backend::Gpu { .. } => "gpu",
        }
    }

    /// One update of every network on its own batch (or one shared batch) with its own lambda.
    pub fn update(
        &mut self,
        rule: Rule,
        batches: &[&Batch],
        lambdas: &[f64],
    ) -> Result<Vec<NetLoss>> {
        let pick = |i: usize| batches[if batches.len() == 1 { 0 } else { i }];
        match self {
            Backend::Cpu(nets) => {
                if rule.uses_feedback() && nets.iter().any(|n| n.net.feedback.is_none()) {
                    return Err(Error::Input(format!(
                        "rule {} needs the model's feedback matrix",
                        rule.name()
                    )));
                }
                Ok(cpu_update(nets, rule, |i| Prepared::new(pick(i)), lambdas))
            }
            Backend::Gpu { packs, chunk } => {
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
                    let b = bs[0].n_trials();
                    if *chunk >= b {
                        e.set_batches(&bs)?;
                        out.extend(e.update(rule)?);
                    } else {
                        // Chunk losses are shares of the whole batch's: they add up.
                        let mut sum = vec![
                            NetLoss {
                                task: 0.0,
                                mean_h2: 0.0
                            };
                            m
                        ];
                        for (ci, first) in (0..b).step_by(*chunk).enumerate() {
                            e.set_batch_chunk(&bs, first)?;
                            for (s, l) in sum.iter_mut().zip(e.gradient_chunk(rule, ci == 0)?) {
                                s.task += l.task;
                                s.mean_h2 += l.mean_h2;
                            }
                        }
                        e.adam_step()?;
                        out.extend(sum);
                    }
                    at += m;
                }
                Ok(out)
            }
        }
    }

    /// Every network's Adam state, for a resumable training state (None on the GPU, whose
    /// moments stay on the device).
    pub fn adam_states(&self) -> Option<Vec<Adam<RateParams<f32>>>> {
        match self {
            Backend::Cpu(nets) => Some(nets.iter().map(|c| c.adam.clone()).collect()),
            Backend::Gpu { .. } => None,
        }
    }

    /// Continue from saved Adam states (one per network, in order; CPU only).
    pub fn set_adam_states(&mut self, states: Vec<Adam<RateParams<f32>>>) -> Result<()> {
        match self {
            Backend::Cpu(nets) if nets.len() == states.len() => {
                nets.iter_mut().zip(states).for_each(|(c, a)| c.adam = a);
                Ok(())
            }
            Backend::Cpu(_) => Err(Error::Runtime("Adam states do not match the pack".into())),
            Backend::Gpu { .. } => Err(gpu_resume_error()),
        }
    }

    /// Current parameters of every network (a device readback on the GPU).
    pub fn params(&self) -> Result<Vec<RateParams<f32>>> {
        match self {
            Backend::Cpu(nets) => Ok(nets.iter().map(|c| c.net.p.clone()).collect()),
            Backend::Gpu { packs, .. } => {
                let mut v = Vec::new();
                for e in packs {
                    v.extend(e.read_params()?);
                }
                Ok(v)
            }
        }
    }
}

fn gpu_resume_error() -> Error {
    Error::Input(
        "a saved training state can only be resumed on the CPU (device = \"cpu\"); use --force to train again from the start".into(),
    )
}

/// One spiking network on the CPU with its optimiser state.
pub struct CpuSpikingNet {
    net: crate::reference::spiking::SpikingNet<f32>,
    adam: Adam<crate::spiking::SpikingParams<f32>>,
}

/// Where a pack of spiking networks trains: threads over networks on the CPU (each update's
/// products are whole-batch GEMMs), or packs of the GPU engine sized to the binding limit. e-prop
/// runs in its factorised form on both (the same numbers as the online traces, far cheaper).
pub enum SpikingBackend {
    Cpu(Vec<CpuSpikingNet>),
    Gpu(Vec<crate::gpu::SpikingEngine>),
}

/// Losses and gradients of spiking networks on the CPU (f32, each on its own batch), in work
/// items of (network, chunk of [`TRIAL_CHUNK`] trials) like the rate backend's, so that one network
/// keeps every core busy. The firing-rate regulariser depends on the whole batch's spikes, hence
/// two phases: every chunk's forward pass, then (with each network's regulariser from its chunks'
/// summed spike counts) every chunk's loss and gradient. Chunk results are summed in chunk order,
/// so a network's numbers do not depend on which other networks share the call.
pub fn spiking_gradients_cpu(
    nets: &[&crate::reference::spiking::SpikingNet<f32>],
    rule: Rule,
    batch_of: impl Fn(usize) -> Prepared<f32> + Sync,
    lambdas: &[f64],
    rate_target: f32,
) -> Vec<(crate::gpu::SpikeNetLoss, crate::spiking::SpikingParams<f32>)> {
    use crate::reference::spiking as spk;
    let work = trial_chunks(nets.len(), batch_of);
    let trs: Vec<spk::SpikeTrajectory<f32>> = work
        .par_iter()
        .map(|(k, d)| spk::forward(nets[*k], &d.x))
        .collect();
    // Each network's spike counts over its whole batch, with the batch's steps × trials.
    let counts = sum_by_network(
        nets.len(),
        work.iter()
            .zip(&trs)
            .map(|((k, d), tr)| (*k, (spk::spike_counts(tr), d.n_steps() * d.batch_trials))),
        |(acc, _), (c, _)| *acc += &c,
    );
    let regs: Vec<spk::RateTerms<f32>> = counts
        .iter()
        .enumerate()
        .map(|(k, (c, samples))| spk::RateTerms::new(c, *samples, lambdas[k] as f32, rate_target))
        .collect();
    let done: Vec<(f32, crate::spiking::SpikingParams<f32>)> = work
        .par_iter()
        .zip(&trs)
        .map(|((k, d), tr)| {
            let lo = spk::loss_with(tr, d, lambdas[*k] as f32, &regs[*k]);
            (lo.task, spk::grad_backward(nets[*k], rule, d, tr, &lo))
        })
        .collect();
    drop(trs);
    let sums = sum_by_network(
        nets.len(),
        work.iter().map(|(k, _)| *k).zip(done),
        |(t, acc), (task, g)| {
            *t += task;
            acc.add_assign(&g);
        },
    );
    sums.into_iter()
        .zip(regs)
        .map(|((task, g), reg)| {
            (
                crate::gpu::SpikeNetLoss {
                    task,
                    rate_reg: reg.rate_reg,
                },
                g,
            )
        })
        .collect()
}

impl SpikingBackend {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        device: Device,
        adapter: Option<&str>,
        models: &[crate::spiking::SpikingModel],
        lrs: &[f64],
        b: usize,
        t: usize,
        loss_kind: LossKind,
        rate_target: f64,
    ) -> Result<Self> {
        use crate::gpu::{EpropForm, SpikingEngine};
        let cfg = &models
            .first()
            .ok_or_else(|| Error::Input("no networks to train".into()))?
            .config;
        match device.resolve(adapter) {
            Device::Cpu | Device::Auto => Ok(SpikingBackend::Cpu({
                single_threaded_blas();
                models
                    .iter()
                    .zip(lrs)
                    .map(|(m, &lr)| CpuSpikingNet {
                        net: crate::reference::spiking::SpikingNet::new(m),
                        adam: Adam::new(cfg, lr),
                    })
                    .collect()
            })),
            Device::Gpu => {
                let ctx = Arc::new(GpuContext::new(adapter)?);
                let one = SpikingEngine::memory_bytes(cfg, 1, b, t, loss_kind, false)
                    .largest
                    .max(1);
                let per = ((ctx.max_binding_bytes() / one) as usize).min(models.len());
                if per == 0 {
                    return Err(Error::Runtime(format!(
                        "one spiking network of N = {} with B = {b}, T = {t} exceeds the storage-binding limit of {}",
                        cfg.n_rec, ctx.info.name
                    )));
                }
                let mut packs = Vec::new();
                for (nets, lr) in models.chunks(per).zip(lrs.chunks(per)) {
                    let mut e = SpikingEngine::new(
                        ctx.clone(),
                        cfg,
                        nets.len(),
                        b,
                        t,
                        loss_kind,
                        EpropForm::Factorised,
                    )?;
                    e.set_networks(&nets.iter().collect::<Vec<_>>())?;
                    e.set_hyper(&[0.0], lr, rate_target);
                    packs.push(e);
                }
                Ok(SpikingBackend::Gpu(packs))
            }
        }
    }

    /// One update of every network on its own batch (or one shared batch) with its own lambda.
    pub fn update(
        &mut self,
        rule: Rule,
        batches: &[&Batch],
        lambdas: &[f64],
        rate_target: f64,
    ) -> Result<Vec<crate::gpu::SpikeNetLoss>> {
        let pick = |i: usize| batches[if batches.len() == 1 { 0 } else { i }];
        match self {
            SpikingBackend::Cpu(nets) => {
                if rule.uses_feedback() && nets.iter().any(|n| n.net.feedback.is_none()) {
                    return Err(Error::Input(format!(
                        "rule {} needs the model's feedback matrix",
                        rule.name()
                    )));
                }
                // Networks in groups of as many as there are threads, so that only one group's trajectories
                // are alive between the two phases of `spiking_gradients_cpu`.
                let per = rayon::current_num_threads().max(1);
                let mut out = Vec::with_capacity(nets.len());
                for (gi, group) in nets.chunks_mut(per).enumerate() {
                    let first = gi * per;
                    let refs: Vec<&crate::reference::spiking::SpikingNet<f32>> =
                        group.iter().map(|c| &c.net).collect();
                    let grads = spiking_gradients_cpu(
                        &refs,
                        rule,
                        |k| Prepared::new(pick(first + k)),
                        &lambdas[first..],
                        rate_target as f32,
                    );
                    out.extend(
                        group
                            .par_iter_mut()
                            .zip(grads)
                            .map(|(c, (l, g))| {
                                c.adam.update(&mut c.net.p, &g);
                                l
                            })
                            .collect::<Vec<_>>(),
                    );
                }
                Ok(out)
            }
            SpikingBackend::Gpu(packs) => {
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
                    e.set_batches(&bs)?;
                    out.extend(e.update(rule)?);
                    at += m;
                }
                Ok(out)
            }
        }
    }

    /// Every network's Adam state (None on the GPU), as [`Backend::adam_states`].
    pub fn adam_states(&self) -> Option<Vec<Adam<crate::spiking::SpikingParams<f32>>>> {
        match self {
            SpikingBackend::Cpu(nets) => Some(nets.iter().map(|c| c.adam.clone()).collect()),
            SpikingBackend::Gpu(_) => None,
        }
    }

    /// Continue from saved Adam states (CPU only), as [`Backend::set_adam_states`].
    pub fn set_adam_states(
        &mut self,
        states: Vec<Adam<crate::spiking::SpikingParams<f32>>>,
    ) -> Result<()> {
        match self {
            SpikingBackend::Cpu(nets) if nets.len() == states.len() => {
                nets.iter_mut().zip(states).for_each(|(c, a)| c.adam = a);
                Ok(())
            }
            SpikingBackend::Cpu(_) => {
                Err(Error::Runtime("Adam states do not match the pack".into()))
            }
            SpikingBackend::Gpu(_) => Err(gpu_resume_error()),
        }
    }

    pub fn params(&self) -> Result<Vec<crate::spiking::SpikingParams<f32>>> {
        match self {
            SpikingBackend::Cpu(nets) => Ok(nets.iter().map(|c| c.net.p.clone()).collect()),
            SpikingBackend::Gpu(packs) => {
                let mut v = Vec::new();
                for e in packs {
                    v.extend(e.read_params()?);
                }
                Ok(v)
            }
        }
    }
}
