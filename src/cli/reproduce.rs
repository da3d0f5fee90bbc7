//! `snnlab reproduce`: the paper's reach comparison end to end.

use std::path::PathBuf;

use snnlab::backend::Device;
use snnlab::error::Result;

use super::values::device;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The paper's settings: three runs (BPTT lr 1e-3 and 3e-4, e-prop 3e-4), 3 seeds of snnlab's
    /// own initialisation (default: BPTT and e-prop from the paper's released initial network).
    #[arg(long)]
    full: bool,
    #[arg(long, default_value = "runs/reproduce")]
    out: PathBuf,
    #[arg(long, value_parser = device(), default_value = "auto")]
    device: Device,
    /// Updates per run (default 1000, the paper's schedule).
    #[arg(long)]
    updates: Option<usize>,
    /// Neural data (default: the bundled Hatsopoulos 2007 firing rates).
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long)]
    quiet: bool,
}

pub(crate) fn run(args: Args, adapter: Option<&str>) -> Result<()> {
    let Args {
        full,
        out,
        device,
        updates,
        data,
        quiet,
    } = args;
    let o = snnlab::reproduce::Options {
        full,
        out,
        device,
        updates: updates.unwrap_or(if full {
            1000
        } else {
            snnlab::reproduce::DEFAULT_UPDATES
        }),
        data: data.unwrap_or_else(snnlab::reproduce::default_data),
        quiet,
    };
    snnlab::reproduce::reproduce(&o, adapter).map(|_| ())
}
