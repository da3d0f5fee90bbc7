//! Scoring a network on a task's deterministic analysis trials (SPEC §7 `evaluate`): accuracy,
//! loss, and — against neural data — the angular Procrustes distance and friends (SPEC §5).

use std::path::Path;

use ndarray::{Array3, Axis, s};
use serde::Serialize;

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::io::AnyModel;
use crate::model::RateModel;
use crate::reference::rate::{Net, Prepared, forward, loss, normalised_error};
use crate::similarity;
use crate::spiking::SpikingModel;
use crate::tasks::{mante, reach};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TaskName {
    Reach,
    Mante,
}

/// A task's analysis trials and how model steps align with the neural data's bins.
pub struct AnalysisTask {
    pub name: TaskName,
    pub batch: Batch,
    /// Model steps (0-based, inclusive) aligned with the data bins.
    pub steps: std::ops::RangeInclusive<usize>,
}

impl AnalysisTask {
    pub fn load(name: TaskName) -> Result<Self> {
        Ok(match name {
            TaskName::Reach => AnalysisTask {
                name,
                batch: reach::Reach::load_default()?.analysis_batch(),
                steps: reach::ANALYSIS_DATA_STEPS,
            },
            TaskName::Mante => AnalysisTask {
                name,
                batch: mante::load_default()?.0,
                steps: mante::RECORDING_STEPS,
            },
        })
    }
    pub fn n_bins(&self) -> usize {
        self.steps.end() - self.steps.start() + 1
    }
    pub fn n_conditions(&self) -> usize {
        self.batch.n_trials()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub task: TaskName,
    /// reach: 1 − normalised error; mante: 1 − cross-entropy.
    pub accuracy: f64,
    /// The task loss on the analysis trials (mse or cross-entropy; no regulariser).
    pub loss: f64,
    /// Angular Procrustes distance to the data (SPEC §5), when data is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procrustes: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cka: Option<f64>,
    /// The data's cross-condition-average baseline distance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// Participation ratio of the model's activity in the analysis window.
    pub participation_ratio: f64,
}

/// Run the model on the analysis trials: (accuracy, loss, activity `[units, bins, conditions]`).
pub fn run_model(task: &AnalysisTask, model: &RateModel) -> Result<(f64, f64, Array3<f64>)> {
    if model.config.n_in != task.batch.inputs.dim().2 {
        return Err(Error::Input(format!(
            "the model has n_in = {} but the {:?} task gives {} inputs",
            model.config.n_in,
            task.name,
            task.batch.inputs.dim().2
        )));
    }
    task.batch.validate(
        &model.config,
        &format!("{:?} task", task.name).to_lowercase(),
    )?;
    let net = Net::<f64>::new(model);
    let d = Prepared::<f64>::new(&task.batch);
    let tr = forward(&net, &d.x);
    let lo = loss(&tr, &d, 0.0);
    let accuracy = match task.name {
        TaskName::Reach => 1.0 - normalised_error(&tr.y, &d),
        TaskName::Mante => 1.0 - lo.task,
    };
    // h slot s holds step s-1: steps a..=b are slots a+1..=b+1. [bins, C, N] → [N, bins, C].
    let (a, b) = (*task.steps.start(), *task.steps.end());
    let act =
        tr.h.slice(s![a + 1..b + 2, .., ..])
            .permuted_axes([2, 0, 1])
            .as_standard_layout()
            .into_owned();
    Ok((accuracy, lo.task, act))
}

/// A spiking network on the analysis trials, at its own dt (each task bin is `k` steps):
/// (accuracy, loss, activity `[units, bins, conditions]`), the activity being the spikes
/// low-pass filtered with `tau_filter_ms` (`r[t] = exp(-dt/tau) r[t-1] + z[t] / tau`, in spikes
/// per ms) read at the last step of every bin.
pub fn run_spiking(
    task: &AnalysisTask,
    model: &SpikingModel,
    tau_filter_ms: f64,
) -> Result<(f64, f64, Array3<f64>)> {
    use crate::reference::spiking as spk;
    if !(tau_filter_ms > 0.0 && tau_filter_ms.is_finite()) {
        return Err(Error::Input(format!(
            "tau_filter_ms = {tau_filter_ms} must be positive"
        )));
    }
    let c = &model.config;
    let task_inputs = task.batch.inputs.dim().2;
    // One input more than the task: the constant tonic input it was trained with.
    let tonic = c.n_in == task_inputs + 1;
    if c.n_in != task_inputs && !tonic {
        return Err(Error::Input(format!(
            "the model has n_in = {} but the {:?} task gives {} inputs (or {} with the tonic input)",
            c.n_in,
            task.name,
            task_inputs,
            task_inputs + 1
        )));
    }
    let input = if tonic {
        task.batch.with_tonic_input()
    } else {
        task.batch.clone()
    };
    input.validate(c, &format!("{:?} task", task.name).to_lowercase())?;
    let task_name = match task.name {
        TaskName::Reach => "reach",
        TaskName::Mante => "mante",
    };
    let k = crate::train::task_steps_per_bin(task_name, c.dt_ms)?;
    let batch = input.upsample(k);
    let net = spk::SpikingNet::<f64>::new(model);
    let d = Prepared::<f64>::new(&batch);
    let tr = spk::forward(&net, &d.x);
    let (task_loss, _) = crate::reference::rate::task_loss(&tr.y, &d);
    let accuracy = match task.name {
        TaskName::Reach => 1.0 - normalised_error(&tr.y, &d),
        TaskName::Mante => 1.0 - task_loss,
    };
    let (t_n, b, n) = tr.z.dim();
    let decay = (-c.dt_ms / tau_filter_ms).exp();
    let (lo, hi) = (*task.steps.start(), *task.steps.end());
    let mut act = Array3::<f64>::zeros((n, hi - lo + 1, b));
    let mut r = ndarray::Array2::<f64>::zeros((b, n));
    for t in 0..t_n {
        r.zip_mut_with(&tr.z.index_axis(Axis(0), t), |rv, &z| {
            *rv = decay * *rv + z / tau_filter_ms
        });
        let bin = t / k;
        if t % k == k - 1 && (lo..=hi).contains(&bin) {
            for bi in 0..b {
                for j in 0..n {
                    act[[j, bin - lo, bi]] = r[[bi, j]];
                }
            }
        }
    }
    Ok((accuracy, task_loss, act))
}

/// Either kind of network on the analysis trials (see [`run_model`], [`run_spiking`]).
pub fn run_any(
    task: &AnalysisTask,
    model: &AnyModel,
    tau_filter_ms: f64,
) -> Result<(f64, f64, Array3<f64>)> {
    match model {
        AnyModel::Rate(m) => run_model(task, m),
        AnyModel::Spiking(m) => run_spiking(task, m, tau_filter_ms),
    }
}

/// Neural data `[neurons, bins, conditions]` checked against the task.
pub fn load_data(path: &Path, task: &AnalysisTask) -> Result<Array3<f64>> {
    let d = crate::neural::load_neural(path)?;
    crate::neural::check_shape(&d, path, task.n_bins(), task.n_conditions())?;
    Ok(d)
}

pub fn evaluate(
    task: &AnalysisTask,
    model: &RateModel,
    data: Option<&Array3<f64>>,
) -> Result<Evaluation> {
    evaluate_activity(task, run_model(task, model)?, data)
}

/// [`evaluate`] for either kind (`tau_filter_ms`: spikes to rates, spiking models only).
pub fn evaluate_any(
    task: &AnalysisTask,
    model: &AnyModel,
    data: Option<&Array3<f64>>,
    tau_filter_ms: f64,
) -> Result<Evaluation> {
    evaluate_activity(task, run_any(task, model, tau_filter_ms)?, data)
}

fn evaluate_activity(
    task: &AnalysisTask,
    run: (f64, f64, Array3<f64>),
    data: Option<&Array3<f64>>,
) -> Result<Evaluation> {
    let (accuracy, loss, act) = run;
    let participation_ratio = similarity::participation_ratio(act.view()).unwrap_or(f64::NAN);
    let (procrustes, cka, baseline) = match data {
        Some(d) => (
            Some(similarity::angular_procrustes(act.view(), d.view())?),
            Some(similarity::linear_cka(act.view(), d.view())?),
            Some(similarity::cross_condition_baseline(d.view())?),
        ),
        None => (None, None, None),
    };
    Ok(Evaluation {
        task: task.name,
        accuracy,
        loss,
        procrustes,
        cka,
        baseline,
        participation_ratio,
    })
}

/// Mean over conditions, kept for the trajectory plots: `[units, bins]`.
pub fn condition_mean(act: &Array3<f64>) -> ndarray::Array2<f64> {
    act.mean_axis(Axis(2)).expect("at least one condition")
}
