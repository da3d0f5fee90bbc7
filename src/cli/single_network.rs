//! What `forward` and `grad` share: their file and device flags, one-network GPU engines, and
//! the error of an input that drives the network to overflow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use snnlab::backend::Device;
use snnlab::batch::Batch;
use snnlab::error::{Error, Result};
use snnlab::gpu::{GpuContext, RateEngine};
use snnlab::model::RateModel;
use snnlab::rules::Rule;
use snnlab::spiking::SpikingModel;

use super::values::device;

pub(crate) fn gpu_engine(
    adapter: Option<&str>,
    model: &RateModel,
    batch: &Batch,
) -> Result<RateEngine> {
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
pub(crate) fn spiking_gpu_engine(
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

/// `--model` and `--batch`: the first flags of `forward` and `grad`.
#[derive(clap::Args)]
pub(crate) struct Inputs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    batch: PathBuf,
}

/// `--out` and `--device`: the last flags of `forward` and `grad`.
#[derive(clap::Args)]
pub(crate) struct Output {
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_parser = device(), default_value = "auto")]
    device: Device,
}

/// One `forward` or `grad` call: its files, its device and the GPU adapter filter.
pub(crate) struct Call<'a> {
    pub(crate) model: &'a Path,
    pub(crate) batch: &'a Path,
    pub(crate) out: &'a Path,
    device: Device,
    pub(crate) adapter: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// The call, once `--out` is known not to be one of the inputs.
    pub(crate) fn checked(
        inputs: &'a Inputs,
        output: &'a Output,
        adapter: Option<&'a str>,
    ) -> Result<Self> {
        let (model, batch) = (inputs.model.as_path(), inputs.batch.as_path());
        snnlab::io::check_output(
            &output.out,
            "--out",
            &[("--model", model), ("--batch", batch)],
        )?;
        Ok(Call {
            model,
            batch,
            out: &output.out,
            device: output.device,
            adapter,
        })
    }

    /// Whether it runs on the GPU (`auto` resolved).
    pub(crate) fn on_gpu(&self) -> bool {
        self.device.resolve(self.adapter) == Device::Gpu
    }

    /// The error of a model or batch that drives the network to overflow (exit status 2: the
    /// input's).
    pub(crate) fn overflow(&self, what: &str) -> Error {
        Error::Input(format!(
            "{}: {what} is not finite on batch {} (the model's weights or the batch's inputs drive the network to overflow)",
            self.model.display(),
            self.batch.display()
        ))
    }
}
