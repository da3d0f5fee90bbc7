//! One network on one batch, as `forward` and `grad` compute it: in f64 on the CPU (the oracle of
//! the engines) or as a one-network GPU pack. [`trajectories`] and [`gradient`] are written once;
//! [`OneNetwork`] holds what differs between the kinds (which trajectories a forward pass has, how
//! the oracle computes a rule's gradient, which GPU pack form a rule runs in).

use std::sync::Arc;

use ndarray::{Array3, Axis, s};

use crate::backend::NetKind;
use crate::batch::Batch;
use crate::error::Result;
use crate::gpu::engine::{ConfigOf, Engine, LossOf, PackModel, ParamsOf};
use crate::gpu::rate_engine::Rate;
use crate::gpu::spiking_engine::Spiking;
use crate::gpu::{EpropForm, GpuContext, SpikingEngine};
use crate::model::RateModel;
use crate::reference::rate::{self as rate, Net, Prepared};
use crate::reference::spiking::{self as spk, SpikingNet};
use crate::rules::Rule;
use crate::spiking::{SpikingConfig, SpikingModel};

/// Named trajectories of one forward pass, each time-major `[T, B, C]`, in the order `forward`
/// writes them.
pub type Trajectories = Vec<(&'static str, Array3<f64>)>;

/// Where one network runs.
#[derive(Clone, Copy, Debug)]
pub enum On<'a> {
    /// The f64 CPU reference.
    Oracle,
    /// A one-network GPU pack on the adapter the filter picks.
    Gpu { adapter: Option<&'a str> },
}

/// What `forward` and `grad` need of a kind of network besides its backend ([`NetKind`]).
pub trait OneNetwork: NetKind {
    /// Whether the kind has a firing-rate regulariser (whose target `--rate-target` sets).
    const HAS_RATE_TARGET: bool;
    /// The per-update value of [`NetKind::Extra`] for the regulariser's target rate.
    fn extra(rate_target: f64) -> Self::Extra;
    /// The GPU pack form a one-network pack computes `rule` in (None: the forward pass only).
    fn one_network_engine(
        ctx: Arc<GpuContext>,
        cfg: &ConfigOf<Self>,
        batch: &Batch,
        rule: Option<Rule>,
    ) -> Result<Engine<Self>>;
    /// The oracle's trajectories of `model` on `batch`.
    fn cpu_trajectories(model: &Self::Model, batch: &Batch) -> Trajectories;
    /// The trajectories of the last forward pass of a one-network pack.
    fn gpu_trajectories(e: &Engine<Self>) -> Result<Trajectories>;
    /// The oracle's gradient of `rule` on `batch` (cast to f32) and its total loss.
    fn cpu_gradient(
        model: &Self::Model,
        rule: Rule,
        batch: &Batch,
        lambda: f64,
        extra: Self::Extra,
    ) -> (ParamsOf<Self>, f32);
}

/// A one-network GPU pack holding `model` and `batch`, for `rule` (None: forward only).
fn one_network_pack<K: OneNetwork>(
    adapter: Option<&str>,
    model: &K::Model,
    batch: &Batch,
    rule: Option<Rule>,
) -> Result<Engine<K>> {
    let ctx = Arc::new(GpuContext::new(adapter)?);
    let mut e = K::one_network_engine(ctx, model.config(), batch, rule)?;
    e.set_networks(&[model])?;
    e.set_batches(&[batch])?;
    Ok(e)
}

/// The trajectories of `model` on `batch`.
pub fn trajectories<K: OneNetwork>(
    on: On,
    model: &K::Model,
    batch: &Batch,
) -> Result<Trajectories> {
    match on {
        On::Gpu { adapter } => {
            let mut e = one_network_pack::<K>(adapter, model, batch, None)?;
            e.forward()?;
            K::gpu_trajectories(&e)
        }
        On::Oracle => Ok(K::cpu_trajectories(model, batch)),
    }
}

/// The gradient of `rule` of `model` on `batch` and its total loss (task + lambda · regulariser):
/// the GPU's, or the oracle's cast to f32.
pub fn gradient<K: OneNetwork>(
    on: On,
    model: &K::Model,
    rule: Rule,
    batch: &Batch,
    lambda: f64,
    extra: K::Extra,
) -> Result<(ParamsOf<K>, f32)> {
    match on {
        On::Gpu { adapter } => {
            let mut e = one_network_pack::<K>(adapter, model, batch, Some(rule))?;
            e.set_hyper(&[lambda], &[0.0]);
            K::set_extra(&mut e, extra);
            let [task, reg]: [f32; 2] = LossOf::<K>::into(e.gradient(rule)?[0]);
            Ok((e.read_grads()?.remove(0), task + lambda as f32 * reg))
        }
        On::Oracle => Ok(K::cpu_gradient(model, rule, batch, lambda, extra)),
    }
}

/// The first network's `[T, B, C]` of a pack's `[M, T, B, C]` readback.
fn first_network(a: ndarray::Array4<f32>) -> Array3<f64> {
    a.index_axis(Axis(0), 0).mapv(f64::from)
}

impl OneNetwork for Rate {
    const HAS_RATE_TARGET: bool = false;
    fn extra(_rate_target: f64) {}
    fn one_network_engine(
        ctx: Arc<GpuContext>,
        cfg: &ConfigOf<Self>,
        batch: &Batch,
        _rule: Option<Rule>,
    ) -> Result<Engine<Self>> {
        Engine::<Rate>::new(ctx, cfg, 1, batch.n_trials(), batch.n_steps(), batch.loss)
    }
    /// `y` and `h` (without the initial state).
    fn cpu_trajectories(model: &RateModel, batch: &Batch) -> Trajectories {
        let tr = rate::forward(&Net::<f64>::new(model), &Prepared::<f64>::new(batch).x);
        vec![("y", tr.y), ("h", tr.h.slice_move(s![1.., .., ..]))]
    }
    fn gpu_trajectories(e: &Engine<Self>) -> Result<Trajectories> {
        let (y, h) = e.read_trajectories()?;
        let h = first_network(h).slice_move(s![1.., .., ..]);
        Ok(vec![("y", first_network(y)), ("h", h)])
    }
    /// e-prop from its online traces, the other rules from the backward sweep.
    fn cpu_gradient(
        model: &RateModel,
        rule: Rule,
        batch: &Batch,
        lambda: f64,
        _extra: (),
    ) -> (ParamsOf<Self>, f32) {
        let (net, d) = (Net::<f64>::new(model), Prepared::<f64>::new(batch));
        let tr = rate::forward(&net, &d.x);
        let lo = rate::loss(&tr, &d, lambda);
        let grad = if rule.is_eprop() {
            rate::grad_eprop_traces::<f64>
        } else {
            rate::grad_backward::<f64>
        };
        let g = grad(&net, rule, &d, &tr, &lo, lambda);
        (g.cast::<f32>(), lo.total as f32)
    }
}

/// Above this many trace updates (B·T·N·(N + n_in)) the oracle's e-prop gradient comes from the
/// factorised form instead of the online traces: the two are equal (tested), the factorised one
/// is GEMMs.
const ONLINE_TRACE_WORK: usize = 200_000_000;

impl OneNetwork for Spiking {
    const HAS_RATE_TARGET: bool = true;
    fn extra(rate_target: f64) -> f64 {
        rate_target
    }
    /// e-prop rules use the online traces when they fit one storage binding, else the (equal)
    /// factorised sweep.
    fn one_network_engine(
        ctx: Arc<GpuContext>,
        cfg: &ConfigOf<Self>,
        batch: &Batch,
        rule: Option<Rule>,
    ) -> Result<Engine<Self>> {
        let (b, t) = (batch.n_trials(), batch.n_steps());
        let online_fits = SpikingEngine::memory_bytes(cfg, 1, b, t, batch.loss, true).largest
            <= ctx.max_binding_bytes();
        let form = if rule.is_some_and(|r| r.is_eprop()) && online_fits {
            EpropForm::Online
        } else {
            EpropForm::Factorised
        };
        SpikingEngine::new(ctx, cfg, 1, b, t, batch.loss, form)
    }
    /// `y`, `z`, `v` and, for ALIF, `a`.
    fn cpu_trajectories(model: &SpikingModel, batch: &Batch) -> Trajectories {
        let tr = spk::forward(
            &SpikingNet::<f64>::new(model),
            &Prepared::<f64>::new(batch).x,
        );
        spiking_trajectories(&model.config, [tr.y, tr.z, tr.v, tr.a])
    }
    fn gpu_trajectories(e: &Engine<Self>) -> Result<Trajectories> {
        let ([v, a, z, _], y) = e.read_trajectories()?;
        let f = first_network;
        Ok(spiking_trajectories(&e.cfg, [f(y), f(z), f(v), f(a)]))
    }
    /// e-prop from its online traces while they are cheap enough, the rest from the backward
    /// sweep.
    fn cpu_gradient(
        model: &SpikingModel,
        rule: Rule,
        batch: &Batch,
        lambda: f64,
        rate_target: f64,
    ) -> (ParamsOf<Self>, f32) {
        let c = &model.config;
        let work = batch.n_trials() * batch.n_steps() * c.n_rec * (c.n_rec + c.n_in);
        let grad = if rule.is_eprop() && work <= ONLINE_TRACE_WORK {
            spk::grad_eprop_online::<f64>
        } else {
            spk::grad_backward::<f64>
        };
        let (net, d) = (SpikingNet::<f64>::new(model), Prepared::<f64>::new(batch));
        let tr = spk::forward(&net, &d.x);
        let lo = spk::loss(&tr, &d, lambda, rate_target);
        (
            grad(&net, rule, &d, &tr, &lo).cast::<f32>(),
            lo.total as f32,
        )
    }
}

/// A spiking forward pass's trajectories as `forward` writes them (`a` for ALIF only).
fn spiking_trajectories(cfg: &SpikingConfig, [y, z, v, a]: [Array3<f64>; 4]) -> Trajectories {
    let mut out = vec![("y", y), ("z", z), ("v", v)];
    if cfg.is_alif() {
        out.push(("a", a));
    }
    out
}
