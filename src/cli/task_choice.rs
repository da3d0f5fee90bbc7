//! Which analysis trials `evaluate`, `activity` and `dsa` run, and the spike filter they use.

use std::path::{Path, PathBuf};

use snnlab::error::{Error, Result};
use snnlab::evaluate::{AnalysisTask, TaskName};
use snnlab::train::TrainConfig;

use super::values::task_name;

/// Which analysis trials: a built-in task, a train config's task, or (neither given) the task a
/// checkpoint's metadata records.
#[derive(clap::Args)]
pub(crate) struct TaskChoice {
    #[arg(long, value_parser = task_name(), conflicts_with = "config")]
    task: Option<TaskName>,
    /// A train config (TOML) whose task to use, e.g. a file task.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl TaskChoice {
    /// The analysis trials, and the run's config when one is known.
    pub(crate) fn resolve(&self, model: &Path) -> Result<(AnalysisTask, Option<TrainConfig>)> {
        if let Some(t) = self.task {
            return Ok((AnalysisTask::load(t)?, None));
        }
        let cfg = match &self.config {
            Some(p) => TrainConfig::load(p)?,
            None => TrainConfig::from_checkpoint(model)?.ok_or_else(|| {
                Error::Input(format!(
                    "{}: the checkpoint does not record its task; give --task or --config",
                    model.display()
                ))
            })?,
        };
        Ok((AnalysisTask::for_config(&cfg)?, Some(cfg)))
    }
}

/// The spike filter: the flag, else the run's, else 20 ms.
pub(crate) fn tau_filter(flag: Option<f64>, cfg: &Option<TrainConfig>) -> f64 {
    flag.unwrap_or_else(|| {
        cfg.as_ref()
            .map_or(20.0, |c| c.spiking_settings().tau_filter_ms)
    })
}
