//! What `forward` and `grad` share: their file and device flags, where they run, and
//! the error of an input that drives the network to overflow.

use std::path::{Path, PathBuf};

use snnlab::backend::Device;
use snnlab::error::{Error, Result};
use snnlab::one_network::On;

use super::values::device;

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

    /// Where it runs (`auto` resolved).
    pub(crate) fn on(&self) -> On<'a> {
        match self.device.resolve(self.adapter) {
            Device::Gpu => On::Gpu {
                adapter: self.adapter,
            },
            _ => On::Oracle,
        }
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
