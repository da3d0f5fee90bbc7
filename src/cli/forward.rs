//! `snnlab forward`: a model's trajectories on a batch (rate: y, h; spiking: y, z, v, a).

use std::path::Path;

use ndarray::{Axis, IxDyn};

use snnlab::batch::LossKind;
use snnlab::error::Result;
use snnlab::io::AnyModel;
use snnlab::model::RateModel;
use snnlab::reference::rate::{Net, Prepared, forward};
use snnlab::reference::spiking as spk;
use snnlab::spiking::SpikingModel;

use super::single_network::{Call, Inputs, Output, gpu_engine, spiking_gpu_engine};

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
        AnyModel::Rate(m) => forward_rate(&m, &call),
        AnyModel::Spiking(m) => forward_spiking(&m, &call),
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

fn forward_rate(model: &RateModel, call: &Call) -> Result<()> {
    let batch = snnlab::io::load_batch(call.batch, &model.config, infer_loss(call.batch)?)?;
    let (y, h) = if call.on_gpu() {
        let mut e = gpu_engine(call.adapter, model, &batch)?;
        e.forward()?;
        let (y, h) = e.read_trajectories()?;
        let y = y.index_axis(Axis(0), 0).permuted_axes([1, 0, 2]).to_owned();
        let h = h
            .index_axis(Axis(0), 0)
            .slice(ndarray::s![1.., .., ..])
            .permuted_axes([1, 0, 2])
            .to_owned();
        (y, h)
    } else {
        let net = Net::<f64>::new(model);
        let d = Prepared::<f64>::new(&batch);
        let tr = forward(&net, &d.x);
        let y = tr.y.permuted_axes([1, 0, 2]).mapv(|v| v as f32);
        let h =
            tr.h.slice(ndarray::s![1.., .., ..])
                .permuted_axes([1, 0, 2])
                .mapv(|v| v as f32);
        (y, h)
    };
    let dyn_ = |a: ndarray::Array3<f32>| {
        a.as_standard_layout()
            .into_owned()
            .into_dimensionality::<IxDyn>()
            .unwrap()
    };
    write_finite(&[("y", dyn_(y)), ("h", dyn_(h))], call)
}

fn forward_spiking(model: &SpikingModel, call: &Call) -> Result<()> {
    let batch = snnlab::io::load_batch(call.batch, &model.config, infer_loss(call.batch)?)?;
    let (y, z, v, a) = if call.on_gpu() {
        let mut e = spiking_gpu_engine(call.adapter, model, &batch, None)?;
        e.forward()?;
        let ([v, a, z, _], y) = e.read_trajectories()?;
        let first = |x: ndarray::Array4<f32>| x.index_axis(Axis(0), 0).mapv(f64::from);
        (first(y), first(z), first(v), first(a))
    } else {
        let net = spk::SpikingNet::<f64>::new(model);
        let tr = spk::forward(&net, &Prepared::<f64>::new(&batch).x);
        (tr.y, tr.z, tr.v, tr.a)
    };
    let mut arrays = vec![
        ("y", batch_major(&y)),
        ("z", batch_major(&z)),
        ("v", batch_major(&v)),
    ];
    if model.config.is_alif() {
        arrays.push(("a", batch_major(&a)));
    }
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
