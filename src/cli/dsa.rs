//! `snnlab dsa`: dynamical similarity (SPEC §9) of two arrays or two networks' activity.

use std::path::PathBuf;

use snnlab::error::{Error, Result};

use super::task_choice::{TaskChoice, tau_filter};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[arg(long, required_unless_present = "x_model", conflicts_with = "x_model")]
    x: Option<PathBuf>,
    #[arg(long, required_unless_present = "y_model", conflicts_with = "y_model")]
    y: Option<PathBuf>,
    /// A network instead of --x: its activity on the task's analysis trials (model vs model).
    #[arg(long)]
    x_model: Option<PathBuf>,
    /// A network instead of --y.
    #[arg(long)]
    y_model: Option<PathBuf>,
    /// The task the models run (default: the one their checkpoint records).
    #[command(flatten)]
    task: TaskChoice,
    /// Spiking models: time constant (ms) of the spike filter (default: the run's, else 20).
    #[arg(long)]
    tau_filter_ms: Option<f64>,
    /// Axis order of --x: a permutation of N (units), T (time bins), C (conditions).
    #[arg(long, default_value = "NTC")]
    x_layout: String,
    /// Axis order of --y.
    #[arg(long, default_value = "NTC")]
    y_layout: String,
    #[arg(long, default_value_t = 1)]
    n_delays: usize,
    #[arg(long, default_value_t = 1)]
    delay_interval: usize,
    /// Temporal modes kept (default: all).
    #[arg(long)]
    rank: Option<usize>,
    /// Project each array onto its top P principal components first.
    #[arg(long)]
    pca: Option<usize>,
    #[arg(long, default_value_t = 0.0)]
    ridge: f64,
    /// angular (radians) | euclidean | wasserstein
    #[arg(long, default_value = "angular")]
    score: String,
    /// Most steps of the orthogonal search per start.
    #[arg(long, default_value_t = 1500)]
    iters: usize,
    /// JSON with the scores, eigenvalues and settings.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let Args {
        x,
        y,
        x_model,
        y_model,
        task,
        tau_filter_ms,
        x_layout,
        y_layout,
        n_delays,
        delay_interval,
        rank,
        pca,
        ridge,
        score,
        iters,
        out,
    } = args;
    let settings = snnlab::dsa::DmdSettings {
        n_delays,
        delay_interval,
        rank,
        pca,
        ridge,
    };
    let score = score.parse()?;
    // An array as stored, or a network's activity on its task's analysis trials.
    let side = |array: Option<PathBuf>,
                model: Option<PathBuf>,
                layout: &str,
                flag: &str|
     -> Result<(ndarray::Array3<f64>, PathBuf)> {
        match (array, model) {
            (Some(a), _) => Ok((snnlab::dsa::load_layout(&a, layout, flag)?, a)),
            (None, Some(m)) => {
                let net = snnlab::io::load_any_model(&m)?;
                let (t, cfg) = task.resolve(&m)?;
                let run =
                    snnlab::evaluate::run_any_full(&t, &net, tau_filter(tau_filter_ms, &cfg))?;
                Ok((run.activity, m))
            }
            (None, None) => Err(Error::Input(format!(
                "give {} or {}-model",
                &flag[..3],
                &flag[..3]
            ))),
        }
    };
    let (xa, x) = side(x, x_model, &x_layout, "--x-layout")?;
    let (ya, y) = side(y, y_model, &y_layout, "--y-layout")?;
    let report = snnlab::dsa::command(&xa, &x, &ya, &y, &settings, score, iters)?;
    if let Some(out) = out {
        let json =
            serde_json::to_string_pretty(&report).map_err(|e| Error::Runtime(e.to_string()))?;
        snnlab::io::write_atomic(&out, json.as_bytes())?;
    }
    println!("{}", report.result.score);
    Ok(())
}
