//! `snnlab grad`: the gradient of a learning rule on a batch, one array per parameter plus `loss`.

use snnlab::batch::LossKind;
use snnlab::error::{Error, Result};
use snnlab::gpu::engine::PackModel;
use snnlab::gpu::rate_engine::Rate;
use snnlab::gpu::spiking_engine::Spiking;
use snnlab::io::AnyModel;
use snnlab::one_network::{self, OneNetwork};
use snnlab::optim::ParamSet;
use snnlab::rules::Rule;
use snnlab::spiking::DEFAULT_RATE_TARGET;

use super::single_network::{Call, Inputs, Output};

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
        AnyModel::Rate(m) => grad::<Rate>(m, &args, &call),
        AnyModel::Spiking(m) => grad::<Spiking>(m, &args, &call),
    }
}

/// The gradient of `--rule` of one kind's model on `--batch`, with its total loss.
fn grad<K: OneNetwork>(mut model: K::Model, o: &Args, call: &Call) -> Result<()> {
    if o.rate_target.is_some() && !K::HAS_RATE_TARGET {
        eprintln!(
            "snnlab: note: --rate-target applies to spiking models only; ignored for a {} model",
            K::NAME
        );
    }
    let batch = snnlab::io::load_batch(call.batch, model.config(), o.loss)?;
    if o.rule.uses_feedback() {
        model.ensure_feedback(o.seed);
    }
    let extra = K::extra(o.rate_target.unwrap_or(DEFAULT_RATE_TARGET));
    let (g, total) =
        one_network::gradient::<K>(call.on(), &model, o.rule, &batch, o.activity_l2, extra)?;
    ensure_finite(g.first_non_finite(), total, call)?;
    snnlab::io::save_grads(call.out, &g, total)
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
