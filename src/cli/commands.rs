//! Command bodies behind `main.rs`'s dispatcher: device listing and the rate/spiking
//! forward and grad commands (moved unchanged from main.rs).

use std::path::Path;
use std::sync::Arc;

use ndarray::{Axis, IxDyn};
use snnlab::backend::Device;
use snnlab::batch::{Batch, LossKind};
use snnlab::error::{Error, Result};
use snnlab::gpu::{GpuContext, RateEngine};
use snnlab::io::AnyModel;
use snnlab::model::RateModel;
use snnlab::reference::rate::{Net, Prepared, forward, grad_backward, grad_eprop_traces, loss};
use snnlab::reference::spiking as spk;
use snnlab::rules::Rule;
use snnlab::spiking::SpikingModel;

pub(crate) fn devices(adapter: Option<&str>) -> Result<()> {
    let list = snnlab::gpu::context::list_adapters();
    if list.is_empty() {
        println!("no GPU adapters found; --device gpu is unavailable, --device cpu works");
        return Ok(());
    }
    let chosen = GpuContext::new(adapter).ok().map(|c| c.info.clone());
    for a in &list {
        let used = chosen
            .as_ref()
            .is_some_and(|c| c.name == a.info.name && c.backend == a.info.backend);
        println!(
            "{} {} | backend {:?} | type {:?} | driver {} {} | max binding {} MiB | max buffer {} MiB | max workgroup invocations {} | f64 {}",
            if used { "*" } else { " " },
            a.info.name,
            a.info.backend,
            a.info.device_type,
            a.info.driver,
            a.info.driver_info,
            a.limits.max_storage_buffer_binding_size >> 20,
            a.limits.max_buffer_size >> 20,
            a.limits.max_compute_invocations_per_workgroup,
            a.features.contains(wgpu::Features::SHADER_F64)
        );
    }
    match chosen {
        Some(c) => println!(
            "used: {} ({:?}); --device auto picks {}",
            c.name,
            c.backend,
            if snnlab::gpu::context::is_software(&c) {
                "cpu (software adapter only)"
            } else {
                "gpu"
            }
        ),
        None => println!("used: none (no adapter matches the name filter)"),
    }
    Ok(())
}

/// Infer the loss of a batch from its targets (class indices [B, T] → ce) for `forward`.
fn infer_loss(path: &Path) -> Result<LossKind> {
    let t = snnlab::io::read_npz_f64(path, "targets")?;
    Ok(if t.ndim() == 2 {
        LossKind::Ce
    } else {
        LossKind::Mse
    })
}

fn gpu_engine(adapter: Option<&str>, model: &RateModel, batch: &Batch) -> Result<RateEngine> {
    let ctx = Arc::new(GpuContext::new(adapter)?);
    let mut e = RateEngine::new(
        ctx,
        &model.config,
        1,
        batch.n_trials(),
        batch.n_steps(),
        batch.loss,
    )?;
    e.set_networks(&[model])?;
    e.set_batches(&[batch])?;
    Ok(e)
}

/// A one-network spiking pack on the GPU for `forward` / `grad`. e-prop rules use the online
/// traces when they fit one storage binding, else the (equal) factorised sweep.
fn spiking_gpu_engine(
    adapter: Option<&str>,
    model: &SpikingModel,
    batch: &Batch,
    rule: Option<Rule>,
) -> Result<snnlab::gpu::SpikingEngine> {
    use snnlab::gpu::{EpropForm, SpikingEngine};
    let ctx = Arc::new(GpuContext::new(adapter)?);
    let (b, t) = (batch.n_trials(), batch.n_steps());
    let online_fits = SpikingEngine::memory_bytes(&model.config, 1, b, t, batch.loss, true).largest
        <= ctx.max_binding_bytes();
    let form = if rule.is_some_and(|r| r.is_eprop()) && online_fits {
        EpropForm::Online
    } else {
        EpropForm::Factorised
    };
    let mut e = SpikingEngine::new(ctx, &model.config, 1, b, t, batch.loss, form)?;
    e.set_networks(&[model])?;
    e.set_batches(&[batch])?;
    Ok(e)
}

/// `[T, B, C]` (time-major, as the engines compute) to the files' `[B, T, C]` f32.
fn batch_major(a: &ndarray::Array3<f64>) -> ndarray::ArrayD<f32> {
    a.view()
        .permuted_axes([1, 0, 2])
        .mapv(|v| v as f32)
        .as_standard_layout()
        .into_owned()
        .into_dyn()
}

pub(crate) fn cmd_forward(
    model_p: &Path,
    batch_p: &Path,
    out: &Path,
    device: Device,
    adapter: Option<&str>,
) -> Result<()> {
    let model = match snnlab::io::load_any_model(model_p)? {
        AnyModel::Rate(m) => m,
        AnyModel::Spiking(m) => {
            return forward_spiking(&m, model_p, batch_p, out, device, adapter);
        }
    };
    let batch = snnlab::io::load_batch(batch_p, &model.config, infer_loss(batch_p)?)?;
    let (y, h) = match device.resolve(adapter) {
        Device::Gpu => {
            let mut e = gpu_engine(adapter, &model, &batch)?;
            e.forward()?;
            let (y, h) = e.read_trajectories()?;
            let y = y.index_axis(Axis(0), 0).permuted_axes([1, 0, 2]).to_owned();
            let h = h
                .index_axis(Axis(0), 0)
                .slice(ndarray::s![1.., .., ..])
                .permuted_axes([1, 0, 2])
                .to_owned();
            (y, h)
        }
        _ => {
            let net = Net::<f64>::new(&model);
            let d = Prepared::<f64>::new(&batch);
            let tr = forward(&net, &d.x);
            let y = tr.y.permuted_axes([1, 0, 2]).mapv(|v| v as f32);
            let h =
                tr.h.slice(ndarray::s![1.., .., ..])
                    .permuted_axes([1, 0, 2])
                    .mapv(|v| v as f32);
            (y, h)
        }
    };
    let dyn_ = |a: ndarray::Array3<f32>| {
        a.as_standard_layout()
            .into_owned()
            .into_dimensionality::<IxDyn>()
            .unwrap()
    };
    let arrays = [("y", dyn_(y)), ("h", dyn_(h))];
    ensure_finite(&arrays, model_p, batch_p)?;
    snnlab::io::write_npz(out, &arrays)
}

/// The error of a model or batch that drives the network to overflow (exit status 2: the input's).
fn overflow(model_p: &Path, batch_p: &Path, what: &str) -> Error {
    Error::Input(format!(
        "{}: {what} is not finite on batch {} (the model's weights or the batch's inputs drive the network to overflow)",
        model_p.display(),
        batch_p.display()
    ))
}

/// Refuse to write trajectories that hold NaN or infinity.
fn ensure_finite(
    arrays: &[(&str, ndarray::ArrayD<f32>)],
    model_p: &Path,
    batch_p: &Path,
) -> Result<()> {
    match arrays
        .iter()
        .find(|(_, a)| a.iter().any(|v| !v.is_finite()))
    {
        Some((name, _)) => Err(overflow(model_p, batch_p, &format!("output {name}"))),
        None => Ok(()),
    }
}

/// `grad`'s flags, checked.
pub(crate) struct GradOpts {
    pub(crate) rule: Rule,
    pub(crate) loss: LossKind,
    /// `--activity-l2`.
    pub(crate) lambda: f64,
    /// `--rate-target` (spiking models; None = the default 0.01).
    pub(crate) rate_target: Option<f64>,
    /// Seed of the feedback matrix when the model file has none.
    pub(crate) seed: u64,
}

pub(crate) fn cmd_grad(
    model_p: &Path,
    batch_p: &Path,
    o: &GradOpts,
    out: &Path,
    device: Device,
    adapter: Option<&str>,
) -> Result<()> {
    let mut model = match snnlab::io::load_any_model(model_p)? {
        AnyModel::Rate(m) => m,
        AnyModel::Spiking(m) => return grad_spiking(m, model_p, batch_p, o, out, device, adapter),
    };
    if o.rate_target.is_some() {
        eprintln!(
            "snnlab: note: --rate-target applies to spiking models only; ignored for a rate model"
        );
    }
    let (rule, lambda, seed) = (o.rule, o.lambda, o.seed);
    let batch = snnlab::io::load_batch(batch_p, &model.config, o.loss)?;
    if rule.uses_feedback() {
        model.ensure_feedback(seed);
    }
    let (g, total) = match device.resolve(adapter) {
        Device::Gpu => {
            let mut e = gpu_engine(adapter, &model, &batch)?;
            e.set_hyper(&[lambda], &[0.0]);
            let l = e.gradient(rule)?[0];
            (
                e.read_grads()?.remove(0),
                l.task + lambda as f32 * l.mean_h2,
            )
        }
        _ => {
            let net = Net::<f64>::new(&model);
            let d = Prepared::<f64>::new(&batch);
            let tr = forward(&net, &d.x);
            let lo = loss(&tr, &d, lambda);
            let g = if rule.is_eprop() {
                grad_eprop_traces(&net, rule, &d, &tr, &lo, lambda)
            } else {
                grad_backward(&net, rule, &d, &tr, &lo, lambda)
            };
            (g.cast::<f32>(), lo.total as f32)
        }
    };
    ensure_finite_grad(g.first_non_finite(), total, model_p, batch_p)?;
    snnlab::io::save_grads(out, &g, total)
}

/// Refuse to write a gradient (first non-finite tensor named, if any) or a loss that is not finite.
fn ensure_finite_grad(
    non_finite: Option<&str>,
    total: f32,
    model_p: &Path,
    batch_p: &Path,
) -> Result<()> {
    if let Some(name) = non_finite {
        return Err(overflow(model_p, batch_p, &format!("gradient of {name}")));
    }
    if !total.is_finite() {
        return Err(overflow(model_p, batch_p, "the loss"));
    }
    Ok(())
}

fn forward_spiking(
    model: &SpikingModel,
    model_p: &Path,
    batch_p: &Path,
    out: &Path,
    device: Device,
    adapter: Option<&str>,
) -> Result<()> {
    let batch = snnlab::io::load_batch(batch_p, &model.config, infer_loss(batch_p)?)?;
    let (y, z, v, a) = match device.resolve(adapter) {
        Device::Gpu => {
            let mut e = spiking_gpu_engine(adapter, model, &batch, None)?;
            e.forward()?;
            let ([v, a, z, _], y) = e.read_trajectories()?;
            let first = |x: ndarray::Array4<f32>| x.index_axis(Axis(0), 0).mapv(f64::from);
            (first(y), first(z), first(v), first(a))
        }
        _ => {
            let net = spk::SpikingNet::<f64>::new(model);
            let tr = spk::forward(&net, &Prepared::<f64>::new(&batch).x);
            (tr.y, tr.z, tr.v, tr.a)
        }
    };
    let mut arrays = vec![
        ("y", batch_major(&y)),
        ("z", batch_major(&z)),
        ("v", batch_major(&v)),
    ];
    if model.config.is_alif() {
        arrays.push(("a", batch_major(&a)));
    }
    ensure_finite(&arrays, model_p, batch_p)?;
    snnlab::io::write_npz(out, &arrays)
}

/// Above this many trace updates (B·T·N·(N + n_in)) e-prop's gradient comes from the factorised
/// form instead of the online traces: the two are equal (tested), the factorised one is GEMMs.
const ONLINE_TRACE_WORK: usize = 200_000_000;

#[allow(clippy::too_many_arguments)]
fn grad_spiking(
    mut model: SpikingModel,
    model_p: &Path,
    batch_p: &Path,
    o: &GradOpts,
    out: &Path,
    device: Device,
    adapter: Option<&str>,
) -> Result<()> {
    let batch = snnlab::io::load_batch(batch_p, &model.config, o.loss)?;
    if o.rule.uses_feedback() {
        model.ensure_feedback(o.seed);
    }
    if device.resolve(adapter) == Device::Gpu {
        let mut e = spiking_gpu_engine(adapter, &model, &batch, Some(o.rule))?;
        e.set_hyper(&[o.lambda], &[0.0], o.rate_target.unwrap_or(0.01));
        let l = e.gradient(o.rule)?[0];
        let g = e.read_grads()?.remove(0);
        let total: f32 = l.task + o.lambda as f32 * l.rate_reg;
        ensure_finite_grad(g.first_non_finite(), total, model_p, batch_p)?;
        return snnlab::io::save_spiking_grads(out, &g, total);
    }
    let net = spk::SpikingNet::<f64>::new(&model);
    let d = Prepared::<f64>::new(&batch);
    let tr = spk::forward(&net, &d.x);
    let lo = spk::loss(&tr, &d, o.lambda, o.rate_target.unwrap_or(0.01));
    let c = &model.config;
    let work = batch.n_trials() * batch.n_steps() * c.n_rec * (c.n_rec + c.n_in);
    let g = if o.rule.is_eprop() && work <= ONLINE_TRACE_WORK {
        spk::grad_eprop_online(&net, o.rule, &d, &tr, &lo)
    } else {
        spk::grad_backward(&net, o.rule, &d, &tr, &lo)
    };
    let g = g.cast::<f32>();
    let total: f32 = lo.total as f32;
    ensure_finite_grad(g.first_non_finite(), total, model_p, batch_p)?;
    snnlab::io::save_spiking_grads(out, &g, total)
}
