//! `snnlab analyze` and `snnlab report`: every checkpoint of training runs scored against
//! neural data; tables, or an HTML report.

use std::path::PathBuf;

use snnlab::error::{Error, Result};
use snnlab::evaluate::Layout;

#[derive(clap::Args)]
pub(crate) struct AnalyzeArgs {
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    #[arg(long)]
    data: PathBuf,
    /// Accuracy levels of the matched-accuracy table printed at the end (comma-separated).
    #[arg(long, default_value = "0.5,0.8,0.9,0.95", allow_hyphen_values = true)]
    levels: String,
    /// The closest checkpoint is chosen among checkpoints at or above this accuracy.
    #[arg(long, default_value_t = snnlab::sweep::DEFAULT_MIN_ACCURACY, allow_hyphen_values = true)]
    min_accuracy: f64,
    /// Axis order of --data: a permutation of N (neurons), T (bins), C (conditions).
    #[arg(long, default_value = "NTC")]
    data_layout: Layout,
    /// Metrics to score with (comma-separated or repeated): procrustes, shape:ALPHA[:euclidean],
    /// cka, cka-angular, cca, dsa, or their output names; default procrustes.
    #[arg(long = "metric")]
    metrics: Vec<String>,
}

pub(crate) fn analyze(args: AnalyzeArgs) -> Result<()> {
    let AnalyzeArgs {
        runs,
        data,
        levels,
        min_accuracy,
        data_layout,
        metrics,
    } = args;
    let metrics = snnlab::metric::Metric::parse_flags(&metrics)?;
    let levels = snnlab::stats::parse_levels(&levels).map_err(Error::Input)?;
    for dir in &runs {
        if let Some(w) = snnlab::analysis::incomplete(dir) {
            eprintln!("warning: {w}");
        }
    }
    let mut refs = snnlab::analysis::References::with_layout(&data, data_layout);
    let analysed = snnlab::analysis::analyze_with_metrics(&runs, &mut refs, &metrics)?;
    for r in &analysed {
        let closest = r
            .seeds()
            .into_iter()
            .filter_map(|s| r.closest_above(s, min_accuracy))
            .min_by(|a, b| a.distance.total_cmp(&b.distance));
        match closest {
            Some(b) => println!(
                "{}: {} checkpoints; closest to data at accuracy >= {min_accuracy}: seed {} update {} (accuracy {:.4}, distance {:.4}); table {}",
                r.dir.display(),
                r.scores.len(),
                b.seed,
                b.update,
                b.accuracy,
                b.distance,
                r.dir.join("analysis.csv").display()
            ),
            None => println!(
                "{}: {} checkpoints; closest to data at accuracy >= {min_accuracy}: none (no checkpoint reaches it with a finite distance); table {}",
                r.dir.display(),
                r.scores.len(),
                r.dir.join("analysis.csv").display()
            ),
        }
    }
    println!("distance at matched accuracy (matched.csv columns):");
    print!(
        "{}",
        snnlab::stats::matched_csv(
            &["run".to_string()],
            &snnlab::analysis::matched_table(&analysed, &levels)
        )
    );
    Ok(())
}

#[derive(clap::Args)]
pub(crate) struct ReportArgs {
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    #[arg(long)]
    data: PathBuf,
    /// Axis order of --data.
    #[arg(long, default_value = "NTC")]
    data_layout: Layout,
    #[arg(long)]
    out: PathBuf,
    /// Accuracy levels of the matched-accuracy table (also written as matched.csv beside OUT).
    #[arg(long, default_value = "0.5,0.8,0.9,0.95", allow_hyphen_values = true)]
    levels: String,
    /// The closest checkpoint is chosen among checkpoints at or above this accuracy.
    #[arg(long, default_value_t = snnlab::sweep::DEFAULT_MIN_ACCURACY, allow_hyphen_values = true)]
    min_accuracy: f64,
    /// Metrics to score with (comma-separated or repeated): procrustes, shape:ALPHA[:euclidean],
    /// cka, cka-angular, cca, dsa, or their output names; default procrustes; the
    /// plots show the first.
    #[arg(long = "metric")]
    metrics: Vec<String>,
}

pub(crate) fn report(args: ReportArgs) -> Result<()> {
    let ReportArgs {
        runs,
        data,
        data_layout,
        out,
        levels,
        min_accuracy,
        metrics,
    } = args;
    let metrics = snnlab::metric::Metric::parse_flags(&metrics)?;
    snnlab::io::check_output(&out, "--out", &[("--data", data.as_path())])?;
    let opts = snnlab::analysis::ReportOptions {
        levels: snnlab::stats::parse_levels(&levels).map_err(Error::Input)?,
        min_accuracy,
    };
    let mut refs = snnlab::analysis::References::with_layout(&data, data_layout);
    let analysed = snnlab::analysis::analyze_with_metrics(&runs, &mut refs, &metrics)?;
    snnlab::analysis::report_with_options(&analysed, &mut refs, &out, &opts)?;
    println!("report: {}", out.display());
    Ok(())
}
