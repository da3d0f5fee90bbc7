//! `snnlab evaluate` and `snnlab activity`: a model on its task's analysis trials, scored or
//! written out.

use std::path::PathBuf;

use snnlab::error::{Error, Result};
use snnlab::evaluate::Layout;

use super::task_choice::{TaskChoice, tau_filter};

#[derive(clap::Args)]
pub(crate) struct EvaluateArgs {
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    task: TaskChoice,
    /// Neural data [neurons, T, C] (.npy, .npz[:array], .mat[:variable]).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Axis order of --data: a permutation of N (neurons), T (bins), C (conditions).
    #[arg(long, default_value = "NTC")]
    data_layout: Layout,
    #[arg(long)]
    out: PathBuf,
    /// Spiking models: time constant (ms) of the filter turning spikes into rates (default:
    /// the run's, else 20).
    #[arg(long)]
    tau_filter_ms: Option<f64>,
}

pub(crate) fn evaluate(args: EvaluateArgs) -> Result<()> {
    let EvaluateArgs {
        model,
        task,
        data,
        data_layout,
        out,
        tau_filter_ms,
    } = args;
    let data_file = data.as_deref().map(|d| snnlab::neural::split_spec(d).0);
    let mut inputs = vec![("--model", model.as_path())];
    inputs.extend(data_file.as_deref().map(|d| ("--data", d)));
    snnlab::io::check_output(&out, "--out", &inputs)?;
    let m = snnlab::io::load_any_model(&model)?;
    let (t, cfg) = task.resolve(&model)?;
    let d = data
        .as_deref()
        .map(|p| snnlab::evaluate::load_data_in(p, &t, data_layout))
        .transpose()?;
    let e = snnlab::evaluate::evaluate_any(&t, &m, d.as_ref(), tau_filter(tau_filter_ms, &cfg))?;
    let json = serde_json::to_string_pretty(&e).map_err(|e| Error::Runtime(e.to_string()))?;
    snnlab::io::write_atomic(&out, json.as_bytes())?;
    println!("{json}");
    Ok(())
}

#[derive(clap::Args)]
pub(crate) struct ActivityArgs {
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    task: TaskChoice,
    /// Axis order of `activity`: a permutation of N (units), T (bins), C (conditions).
    #[arg(long, default_value = "NTC")]
    layout: Layout,
    #[arg(long)]
    out: PathBuf,
    /// Spiking models: time constant (ms) of the filter turning spikes into rates (default:
    /// the run's, else 20).
    #[arg(long)]
    tau_filter_ms: Option<f64>,
}

pub(crate) fn activity(args: ActivityArgs) -> Result<()> {
    let ActivityArgs {
        model,
        task,
        layout,
        out,
        tau_filter_ms,
    } = args;
    let m = snnlab::io::load_any_model(&model)?;
    let (t, cfg) = task.resolve(&model)?;
    let r = snnlab::evaluate::run_any_full(&t, &m, tau_filter(tau_filter_ms, &cfg))?;
    let activity = layout.from_ntc(r.activity);
    let summary = format!(
        "{}: activity {:?} ({layout}), y {:?}",
        out.display(),
        activity.shape(),
        r.y.shape()
    );
    snnlab::io::write_npz_of(
        &out,
        &[("activity", activity.into_dyn()), ("y", r.y.into_dyn())],
    )?;
    println!("{summary}");
    Ok(())
}
