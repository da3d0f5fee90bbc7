//! `snnlab forward`: a model's trajectories on a batch (rate: y, h; spiking: y, z, v, a).

use std::path::Path;

use snnlab::batch::LossKind;
use snnlab::error::Result;
use snnlab::gpu::engine::PackModel;
use snnlab::gpu::rate_engine::Rate;
use snnlab::gpu::spiking_engine::Spiking;
use snnlab::io::AnyModel;
use snnlab::one_network::{self, OneNetwork};

use super::single_network::{Call, Inputs, Output};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    inputs: Inputs,
    #[command(flatten)]
    output: Output,
}

pub(crate) fn run(args: Args, adapter: Option<&str>) -> Result<()> {
    let call = Call::checked(&args.inputs, &args.output, adapter)?;
    match snnlab::io::load_any_model(call.model)? {
        AnyModel::Rate(m) => forward::<Rate>(&m, &call),
        AnyModel::Spiking(m) => forward::<Spiking>(&m, &call),
    }
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

/// `[T, B, C]` (time-major, as the engines compute) to the files' `[B, T, C]` f32.
fn batch_major(a: &ndarray::Array3<f64>) -> ndarray::ArrayD<f32> {
    a.view()
        .permuted_axes([1, 0, 2])
        .mapv(|v| v as f32)
        .as_standard_layout()
        .into_owned()
        .into_dyn()
}

/// The trajectories of one kind's model on `--batch`, as `[B, T, C]` f32 arrays.
fn forward<K: OneNetwork>(model: &K::Model, call: &Call) -> Result<()> {
    let batch = snnlab::io::load_batch(call.batch, model.config(), infer_loss(call.batch)?)?;
    let named = one_network::trajectories::<K>(call.on(), model, &batch)?;
    let arrays: Vec<(&str, ndarray::ArrayD<f32>)> =
        named.iter().map(|(n, a)| (*n, batch_major(a))).collect();
    write_finite(&arrays, call)
}

/// Write the trajectories to `--out`, refusing any that hold NaN or infinity.
fn write_finite(arrays: &[(&str, ndarray::ArrayD<f32>)], call: &Call) -> Result<()> {
    if let Some((name, _)) = arrays
        .iter()
        .find(|(_, a)| a.iter().any(|v| !v.is_finite()))
    {
        return Err(call.overflow(&format!("output {name}")));
    }
    snnlab::io::write_npz(call.out, arrays)
}
