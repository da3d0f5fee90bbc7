//! `snnlab sweep run | submit | status | merge`: parameter sweeps, resumable and shardable, on
//! Slurm or here.

use std::path::PathBuf;

use clap::Subcommand;

use snnlab::backend::Device;
use snnlab::error::{Error, Result};
use snnlab::sweep;

use super::environment::env_value;
use super::values::device;

#[derive(clap::Args)]
pub(crate) struct SweepTarget {
    /// Sweep file (TOML: base config + [grid] / [zip] axes; see configs/sweeps/).
    config: PathBuf,
    /// Results directory (overrides the sweep file's `results`).
    #[arg(long)]
    results: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Train and analyse every run not complete yet (of this shard).
    Run {
        #[command(flatten)]
        target: SweepTarget,
        /// I/N: take every N-th run from the I-th; default from SLURM_ARRAY_TASK_ID/COUNT, else all.
        #[arg(long)]
        shard: Option<String>,
        #[arg(long, value_parser = device())]
        device: Option<Device>,
        #[arg(long)]
        quiet: bool,
    },
    /// Write an sbatch job-array script for the sweep and submit it; prints the job id.
    Submit(SubmitArgs),
    /// Done / running / failed / diverged / pending counts, and the sweep's Slurm jobs.
    Status {
        #[command(flatten)]
        target: SweepTarget,
    },
    /// One CSV row per (run, checkpoint) with every axis value, and a sweep report.
    Merge {
        #[command(flatten)]
        target: SweepTarget,
        /// CSV path (default RESULTS/merged.csv).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Report path (default RESULTS/report.html).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Accuracy levels of matched.csv, attribution.csv and paired.csv (comma-separated).
        #[arg(long, default_value = "0.5,0.8,0.9,0.95", allow_hyphen_values = true)]
        levels: String,
        /// The axis of paired.csv (default: `rule`, when it is an axis).
        #[arg(long)]
        compare: Option<String>,
        /// The report's closest checkpoint is chosen among checkpoints at or above this accuracy.
        #[arg(long, default_value_t = snnlab::sweep::DEFAULT_MIN_ACCURACY, allow_hyphen_values = true)]
        min_accuracy: f64,
        /// Metrics to score with (comma-separated or repeated): procrustes, shape:ALPHA[:euclidean],
        /// cka, cka-angular, cca, dsa, or their output names; default procrustes; metrics a
        /// run's analysis.csv lacks are scored from its checkpoints.
        #[arg(long = "metric")]
        metrics: Vec<String>,
    },
}

#[derive(clap::Args)]
pub(crate) struct SubmitArgs {
    #[command(flatten)]
    target: SweepTarget,
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per array task (Slurm format).
    #[arg(long, default_value = "04:00:00")]
    time: String,
    #[arg(long, default_value_t = 0)]
    gpus_per_task: usize,
    #[arg(long, default_value_t = 2)]
    cpus_per_task: usize,
    /// Runs per array task (the array has ceil(runs / this) tasks).
    #[arg(long, default_value_t = 8)]
    runs_per_task: usize,
    /// Only write the script.
    #[arg(long)]
    dry_run: bool,
}

fn load_sweep(t: &SweepTarget) -> Result<snnlab::sweep::Sweep> {
    let mut s = snnlab::sweep::Sweep::load(&t.config)?;
    if let Some(r) = &t.results {
        s.results = r.clone();
    }
    Ok(s)
}

pub(crate) fn run(cmd: Command, adapter: Option<&str>) -> Result<()> {
    match cmd {
        Command::Run {
            target,
            shard,
            device,
            quiet,
        } => {
            let mut s = load_sweep(&target)?;
            if let Some(d) = device {
                s.runs.set_device(d);
            }
            let shard = match shard {
                Some(x) => sweep::Shard::parse(&x)?,
                None => sweep::Shard::from_slurm(env_value)?.unwrap_or(sweep::Shard::ALL),
            };
            let rep = sweep::run(&s, &sweep::RunOptions { shard, quiet }, adapter)?;
            if rep.failed > 0 {
                return Err(Error::Runtime(format!(
                    "{} run(s) failed; see {}",
                    rep.failed,
                    s.results.join("failed").display()
                )));
            }
            Ok(())
        }
        Command::Submit(a) => {
            let s = load_sweep(&a.target)?;
            let o = sweep::SubmitOptions {
                partition: a.partition,
                time: a.time,
                gpus_per_task: a.gpus_per_task,
                cpus_per_task: a.cpus_per_task,
                runs_per_task: a.runs_per_task,
                dry_run: a.dry_run,
            };
            let (path, tasks, id) = sweep::submit(&s, &o)?;
            match id {
                Some(id) => println!(
                    "submitted job {id}: {tasks} array task(s) for {} runs; script {}",
                    s.runs.len(),
                    path.display()
                ),
                None => println!(
                    "wrote {} ({tasks} array task(s) for {} runs); not submitted (--dry-run)",
                    path.display(),
                    s.runs.len()
                ),
            }
            Ok(())
        }
        Command::Status { target } => {
            let s = load_sweep(&target)?;
            let st = sweep::status(&s);
            println!(
                "sweep {}: {} runs | done {} | diverged {} | failed {} | running {} | stale {} | pending {}",
                s.name, st.total, st.done, st.diverged, st.failed, st.running, st.stale, st.pending
            );
            if let Some(jobs) = sweep::slurm_jobs(&s) {
                for (id, counts) in jobs {
                    let c: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    println!(
                        "slurm job {id}: {}",
                        if c.is_empty() {
                            "no tasks in the queue".into()
                        } else {
                            c.join(", ")
                        }
                    );
                }
            }
            Ok(())
        }
        Command::Merge {
            target,
            out,
            report,
            levels,
            compare,
            min_accuracy,
            metrics,
        } => {
            let metrics = snnlab::metric::Metric::parse_flags(&metrics)?;
            let s = load_sweep(&target)?;
            let mut inputs = vec![("the sweep file", target.config.as_path())];
            inputs.extend(s.data.as_deref().map(|d| ("the sweep's data", d)));
            for (flag, o) in [("--out", &out), ("--report", &report)] {
                if let Some(o) = o {
                    snnlab::io::check_output(o, flag, &inputs)?;
                }
            }
            let opts = sweep::MergeOptions {
                levels: snnlab::stats::parse_levels(&levels).map_err(Error::Input)?,
                compare,
                min_accuracy,
                metrics,
            };
            let m = sweep::merge(&s, out.as_deref(), report.as_deref(), &opts)?;
            if m.runs == 0 {
                println!(
                    "nothing to merge yet: none of the {} runs is complete (train them with `snnlab sweep run {}`); wrote empty tables",
                    s.runs.len(),
                    s.path.display()
                );
            }
            println!(
                "{} rows from {} of {} runs ({} missing): {}; matched {}; attribution {}{}; report {}",
                m.rows,
                m.runs,
                s.runs.len(),
                m.missing,
                m.csv.display(),
                m.matched.display(),
                m.attribution.display(),
                m.paired
                    .as_ref()
                    .map(|p| format!("; paired {}", p.display()))
                    .unwrap_or_default(),
                m.report.display()
            );
            Ok(())
        }
    }
}
