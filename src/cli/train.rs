//! `snnlab train`: networks trained on a task from a TOML config.

use std::path::PathBuf;

use snnlab::backend::Device;
use snnlab::error::Result;

use super::values::device;

#[derive(clap::Args)]
pub(crate) struct Args {
    config: PathBuf,
    /// Output directory (overrides the config's `out`).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_parser = device())]
    device: Option<Device>,
    /// Number of updates (overrides the config).
    #[arg(long)]
    updates: Option<usize>,
    /// Replace a run already in the output folder (kept until the new run's first
    /// checkpoint is written, and put back if it fails before).
    #[arg(long)]
    force: bool,
    /// No progress bar or log lines.
    #[arg(long)]
    quiet: bool,
}

pub(crate) fn run(args: Args, adapter: Option<&str>) -> Result<()> {
    let Args {
        config,
        out,
        device,
        updates,
        force,
        quiet,
    } = args;
    let mut cfg = snnlab::train::TrainConfig::load(&config)?;
    if let Some(o) = out {
        cfg.out = o;
    }
    if let Some(d) = device {
        cfg.device = d;
    }
    if let Some(u) = updates {
        cfg.updates = u;
    }
    let t0 = std::time::Instant::now();
    let res = snnlab::train::train_into(&cfg, adapter, quiet, force)?;
    for r in &res {
        println!(
            "seed {}: final loss {:.5}, eval error {:.5}",
            r.seed, r.final_loss, r.final_eval_error
        );
    }
    println!(
        "trained {} network(s) in {:.1} s; results in {}",
        res.len(),
        t0.elapsed().as_secs_f64(),
        cfg.out.display()
    );
    Ok(())
}
