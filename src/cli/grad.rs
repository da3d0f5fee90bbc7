//! `snnlab grad`: the gradient of a learning rule on a batch, one array per parameter plus `loss`.

use snnlab::batch::LossKind;
use snnlab::error::{Error, Result};
use snnlab::io::AnyModel;
use snnlab::model::RateModel;
use snnlab::reference::rate::{Net, Prepared, forward, grad_backward, grad_eprop_traces, loss};
use snnlab::reference::spiking as spk;
use snnlab::rules::Rule;
use snnlab::spiking::SpikingModel;

use super::single_network::{Call, Inputs, Output, gpu_engine, spiking_gpu_engine};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// bptt | eprop | eprop-random | tbptt:K | readout-fa
    #[arg(long)]
    rule: Rule,
    /// mse | ce
    #[arg(long)]
    loss: LossKind,
    #[arg(long, default_value_t = 0.0)]
    activity_l2: f64,
    /// Target firing rate per step of the spiking regulariser (spiking models only; default 0.01).
    #[arg(long)]
    rate_target: Option<f64>,
    /// Seed of the random feedback matrix when the model has none (eprop-random, readout-fa).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    output: Output,
}

pub(crate) fn run(args: Args, adapter: Option<&str>) -> Result<()> {
    let call = Call::checked(&args.inputs, &args.output, adapter)?;
    let activity_l2 = args.activity_l2;
    if !activity_l2.is_finite() || activity_l2 < 0.0 {
        return Err(Error::Input(format!(
            "--activity-l2: {activity_l2} must be a finite number >= 0"
        )));
    }
    if let Some(r) = args.rate_target.filter(|r| !(r.is_finite() && *r >= 0.0)) {
        return Err(Error::Input(format!(
            "--rate-target: {r} must be a finite number >= 0"
        )));
    }
    match snnlab::io::load_any_model(call.model)? {
        AnyModel::Rate(m) => grad_rate(m, &args, &call),
        AnyModel::Spiking(m) => grad_spiking(m, &args, &call),
    }
}

fn grad_rate(mut model: RateModel, o: &Args, call: &Call) -> Result<()> {
    if o.rate_target.is_some() {
        eprintln!(
            "snnlab: note: --rate-target applies to spiking models only; ignored for a rate model"
        );
    }
    let (rule, lambda, seed) = (o.rule, o.activity_l2, o.seed);
    let batch = snnlab::io::load_batch(call.batch, &model.config, o.loss)?;
    if rule.uses_feedback() {
        model.ensure_feedback(seed);
    }
    let (g, total) = if call.on_gpu() {
        let mut e = gpu_engine(call.adapter, &model, &batch)?;
        e.set_hyper(&[lambda], &[0.0]);
        let l = e.gradient(rule)?[0];
        (
            e.read_grads()?.remove(0),
            l.task + lambda as f32 * l.mean_h2,
        )
    } else {
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
    };
    ensure_finite(g.first_non_finite(), total, call)?;
    snnlab::io::save_grads(call.out, &g, total)
}

/// Above this many trace updates (B·T·N·(N + n_in)) e-prop's gradient comes from the factorised
/// form instead of the online traces: the two are equal (tested), the factorised one is GEMMs.
const ONLINE_TRACE_WORK: usize = 200_000_000;

fn grad_spiking(mut model: SpikingModel, o: &Args, call: &Call) -> Result<()> {
    let batch = snnlab::io::load_batch(call.batch, &model.config, o.loss)?;
    if o.rule.uses_feedback() {
        model.ensure_feedback(o.seed);
    }
    let (lambda, rate_target) = (o.activity_l2, o.rate_target.unwrap_or(0.01));
    let (g, total) = if call.on_gpu() {
        let mut e = spiking_gpu_engine(call.adapter, &model, &batch, Some(o.rule))?;
        e.set_hyper(&[lambda], &[0.0], rate_target);
        let l = e.gradient(o.rule)?[0];
        let g = e.read_grads()?.remove(0);
        (g, l.task + lambda as f32 * l.rate_reg)
    } else {
        let net = spk::SpikingNet::<f64>::new(&model);
        let d = Prepared::<f64>::new(&batch);
        let tr = spk::forward(&net, &d.x);
        let lo = spk::loss(&tr, &d, lambda, rate_target);
        let c = &model.config;
        let work = batch.n_trials() * batch.n_steps() * c.n_rec * (c.n_rec + c.n_in);
        let g = if o.rule.is_eprop() && work <= ONLINE_TRACE_WORK {
            spk::grad_eprop_online(&net, o.rule, &d, &tr, &lo)
        } else {
            spk::grad_backward(&net, o.rule, &d, &tr, &lo)
        };
        (g.cast::<f32>(), lo.total as f32)
    };
    ensure_finite(g.first_non_finite(), total, call)?;
    snnlab::io::save_spiking_grads(call.out, &g, total)
}

/// Refuse a gradient with a non-finite tensor (`first_non_finite` names it) or a non-finite loss.
fn ensure_finite(first_non_finite: Option<&str>, total: f32, call: &Call) -> Result<()> {
    if let Some(name) = first_non_finite {
        return Err(call.overflow(&format!("gradient of {name}")));
    }
    if !total.is_finite() {
        return Err(call.overflow("the loss"));
    }
    Ok(())
}
