//! Scoring a network on a task's deterministic analysis trials (SPEC §7 `evaluate`): accuracy,
//! loss, and — against neural data — the angular Procrustes distance and friends (SPEC §5).

use std::path::Path;

use ndarray::{Array3, Axis, s};
use serde::Serialize;

use crate::batch::Batch;
use crate::batch::LossKind;
use crate::error::{Error, Result};
use crate::io::AnyModel;
use crate::model::RateModel;
use crate::reference::rate::{Net, Prepared, forward, loss, normalised_error};
use crate::similarity;
use crate::spiking::SpikingModel;
use crate::tasks::{mante, reach};
use crate::train::{TaskKind, TrainConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskName {
    Reach,
    Mante,
    /// Bellec et al.'s evidence accumulation: the analysis trials are the training's fixed
    /// evaluation batch ([`cue_analysis_batch`]), every step compared.
    Cue,
    /// A task from files (SPEC §8), named by a train config rather than on the command line.
    File,
}

/// Trials of the cue task's analysis: the 100 seeded trials on which training reports its
/// evaluation error, so that `evaluate`'s accuracy is one minus that error.
pub fn cue_analysis_batch() -> Batch {
    use rand::SeedableRng;
    crate::tasks::cue::CueTask::paper().batch(
        CUE_ANALYSIS_TRIALS,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(CUE_EVAL_SEED),
    )
}

/// The seed of training's evaluation batch (`train.rs`, `eval_batch`).
const CUE_EVAL_SEED: u64 = 0x7e57;

/// Number of [`cue_analysis_batch`] trials.
pub const CUE_ANALYSIS_TRIALS: usize = 100;

/// A task's analysis trials and how model steps align with the neural data's bins.
#[derive(Clone, Debug)]
pub struct AnalysisTask {
    pub name: TaskName,
    pub batch: Batch,
    /// Model steps (0-based, inclusive) aligned with the data bins.
    pub steps: std::ops::RangeInclusive<usize>,
    /// Duration of one task step in ms (spiking networks simulate `bin_ms / dt_ms` steps each).
    pub bin_ms: f64,
    /// How messages name the task: `reach`, `mante`, or a file task's analysis file.
    pub label: String,
}

impl AnalysisTask {
    pub fn load(name: TaskName) -> Result<Self> {
        Ok(match name {
            TaskName::Reach => AnalysisTask {
                name,
                batch: reach::Reach::load_default()?.analysis_batch(),
                steps: reach::ANALYSIS_DATA_STEPS,
                bin_ms: reach::DT_MS,
                label: "reach task".into(),
            },
            TaskName::Mante => AnalysisTask {
                name,
                batch: mante::load_default()?.0,
                steps: mante::RECORDING_STEPS,
                bin_ms: mante::DT_MS,
                label: "mante task".into(),
            },
            TaskName::Cue => {
                let batch = cue_analysis_batch();
                AnalysisTask {
                    name,
                    steps: 0..=batch.n_steps() - 1,
                    batch,
                    bin_ms: crate::tasks::cue::DT_MS,
                    label: "cue task".into(),
                }
            }
            TaskName::File => {
                return Err(Error::Input(
                    "a file task is given by its train config (--config), not by --task".into(),
                ));
            }
        })
    }
    /// The analysis trials of a train config's task (reach, mante or a file task).
    pub fn for_config(cfg: &TrainConfig) -> Result<Self> {
        match cfg.task {
            TaskKind::Reach => Self::load(TaskName::Reach),
            TaskKind::Mante => Self::load(TaskName::Mante),
            TaskKind::File => {
                let f = cfg.file_task()?;
                Ok(AnalysisTask {
                    name: TaskName::File,
                    batch: f.analysis.clone(),
                    steps: f.steps.clone(),
                    bin_ms: cfg.bin_ms(),
                    label: cfg
                        .analysis_batch
                        .as_deref()
                        .map_or_else(|| "file task".into(), |p| p.display().to_string()),
                })
            }
            TaskKind::Cue => Self::load(TaskName::Cue),
        }
    }
    /// What identifies the analysis trials and window (two tasks with one key are the same).
    pub fn key(&self) -> String {
        format!("{:?}|{}|{:?}", self.name, self.label, self.steps)
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
    /// reach and mse file tasks: 1 − normalised error; mante: 1 − cross-entropy; ce file tasks:
    /// the fraction of masked steps whose largest output is the target class.
    pub accuracy: f64,
    /// ce tasks: that fraction in percent (0–100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_correct: Option<f64>,
    /// The task loss on the analysis trials (mse or cross-entropy; no regulariser).
    pub loss: f64,
    /// Angular Procrustes distance to the data (SPEC §5), when data is given (the key SPEC §7
    /// fixes; the same number as `distance`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procrustes: Option<f64>,
    /// The metric of `distance`, `normalised_distance`, `baseline` and `split_half_floor`, named
    /// as in analysis.csv and merged.csv (`procrustes-angular`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The model's distance to the data in `metric`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<f64>,
    /// `(distance - split_half_floor) / (1 - split_half_floor)` (SPEC §5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalised_distance: Option<f64>,
    /// Linear CKA with the data (a similarity, 1 = same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cka: Option<f64>,
    /// The data's cross-condition-average baseline distance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// The data's split-half floor (100 seeded draws of n/2 neurons against n/2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_half_floor: Option<f64>,
    /// Participation ratio of the model's activity in the analysis window.
    pub participation_ratio: f64,
}

/// A network on a task's analysis trials.
#[derive(Clone, Debug)]
pub struct ModelRun {
    pub accuracy: f64,
    /// The task loss (mse or cross-entropy; no regulariser).
    pub loss: f64,
    /// ce tasks: percent of masked steps whose largest output is the target class.
    pub percent_correct: Option<f64>,
    /// What is compared with the recordings: `[units, bins, conditions]`.
    pub activity: Array3<f64>,
    /// The outputs at every task step, `[conditions, steps, n_out]` (spiking: at each bin's end).
    pub y: Array3<f64>,
}

/// Fraction of the masked [b, t] of a ce batch whose largest output (of `y [T, B, n_out]`,
/// time-major) is the target class; a tie counts as wrong.
pub fn fraction_correct(y: &Array3<f64>, batch: &Batch) -> f64 {
    let (mut n, mut correct) = (0.0, 0.0);
    for ((bi, t, _), &m) in batch.mask.indexed_iter() {
        if m == 0.0 {
            continue;
        }
        n += m;
        let target = batch.targets[[bi, t, 0]] as usize;
        let row = y.slice(s![t, bi, ..]);
        let best = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if row[target] == best && row.iter().filter(|&&v| v == best).count() == 1 {
            correct += m;
        }
    }
    correct / n
}

/// Accuracy (and percent correct for ce) from the outputs `y [T, B, n_out]` on the task's own
/// steps, the task loss being `task_loss`.
fn score(
    task: &AnalysisTask,
    y: &Array3<f64>,
    d: &Prepared<f64>,
    task_loss: f64,
) -> (f64, Option<f64>) {
    let fraction = (task.batch.loss == LossKind::Ce).then(|| fraction_correct(y, &task.batch));
    let accuracy = match (task.name, task.batch.loss) {
        (TaskName::Mante, _) => 1.0 - task_loss,
        // Per trial, the class of the readout summed over the recall window (as training scores it).
        (TaskName::Cue, _) if y.dim().0 == task.batch.n_steps() => {
            crate::tasks::cue::accuracy(y, &task.batch)
        }
        // A spiking network at a finer dt: scored at the bin ends by the caller.
        (TaskName::Cue, _) => f64::NAN,
        (_, LossKind::Mse) => 1.0 - normalised_error(y, d),
        (_, LossKind::Ce) => fraction.expect("ce"),
    };
    (accuracy, fraction.map(|f| 100.0 * f))
}

/// Run the model on the analysis trials: (accuracy, loss, activity `[units, bins, conditions]`).
pub fn run_model(task: &AnalysisTask, model: &RateModel) -> Result<(f64, f64, Array3<f64>)> {
    let r = run_rate(task, model)?;
    Ok((r.accuracy, r.loss, r.activity))
}

/// A rate network on the analysis trials (see [`ModelRun`]).
pub fn run_rate(task: &AnalysisTask, model: &RateModel) -> Result<ModelRun> {
    if model.config.n_in != task.batch.inputs.dim().2 {
        return Err(Error::Input(format!(
            "the model has n_in = {} but the {} gives {} inputs",
            model.config.n_in,
            task.label,
            task.batch.inputs.dim().2
        )));
    }
    task.batch.validate(&model.config, &task.label)?;
    let net = Net::<f64>::new(model);
    let d = Prepared::<f64>::new(&task.batch);
    let tr = forward(&net, &d.x);
    let lo = loss(&tr, &d, 0.0);
    let (accuracy, percent_correct) = score(task, &tr.y, &d, lo.task);
    // h slot s holds step s-1: steps a..=b are slots a+1..=b+1. [bins, C, N] → [N, bins, C].
    let (a, b) = (*task.steps.start(), *task.steps.end());
    let activity =
        tr.h.slice(s![a + 1..b + 2, .., ..])
            .permuted_axes([2, 0, 1])
            .as_standard_layout()
            .into_owned();
    let y =
        tr.y.view()
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned();
    Ok(ModelRun {
        accuracy,
        loss: lo.task,
        percent_correct,
        activity,
        y,
    })
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
    let r = run_spiking_full(task, model, tau_filter_ms)?;
    Ok((r.accuracy, r.loss, r.activity))
}

/// A spiking network on the analysis trials (see [`ModelRun`], [`run_spiking`]).
pub fn run_spiking_full(
    task: &AnalysisTask,
    model: &SpikingModel,
    tau_filter_ms: f64,
) -> Result<ModelRun> {
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
            "the model has n_in = {} but the {} gives {} inputs (or {} with the tonic input)",
            c.n_in,
            task.label,
            task_inputs,
            task_inputs + 1
        )));
    }
    let input = if tonic {
        task.batch.with_tonic_input()
    } else {
        task.batch.clone()
    };
    input.validate(c, &task.label)?;
    let k = crate::train::task_steps_per_bin(&task.label, task.bin_ms, c.dt_ms)?;
    let batch = input.upsample(k);
    let net = spk::SpikingNet::<f64>::new(model);
    let d = Prepared::<f64>::new(&batch);
    let tr = spk::forward(&net, &d.x);
    let (task_loss, _) = crate::reference::rate::task_loss(&tr.y, &d);
    let (mut accuracy, _) = score(task, &tr.y, &d, task_loss);
    // Outputs at each bin's end, scored on the task's own steps for percent correct.
    let y_bins = tr.y.slice(s![k - 1..;k, .., ..]).to_owned();
    let percent_correct = (task.batch.loss == LossKind::Ce).then(|| {
        let f = fraction_correct(&y_bins, &task.batch);
        if task.name == TaskName::File {
            accuracy = f;
        }
        if task.name == TaskName::Cue {
            accuracy = crate::tasks::cue::accuracy(&y_bins, &task.batch);
        }
        100.0 * f
    });
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
    Ok(ModelRun {
        accuracy,
        loss: task_loss,
        percent_correct,
        activity: act,
        y: y_bins
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned(),
    })
}

/// Either kind of network on the analysis trials (see [`run_model`], [`run_spiking`]).
pub fn run_any(
    task: &AnalysisTask,
    model: &AnyModel,
    tau_filter_ms: f64,
) -> Result<(f64, f64, Array3<f64>)> {
    let r = run_any_full(task, model, tau_filter_ms)?;
    Ok((r.accuracy, r.loss, r.activity))
}

/// Either kind of network on the analysis trials, everything kept (see [`ModelRun`]).
pub fn run_any_full(task: &AnalysisTask, model: &AnyModel, tau_filter_ms: f64) -> Result<ModelRun> {
    match model {
        AnyModel::Rate(m) => run_rate(task, m),
        AnyModel::Spiking(m) => run_spiking_full(task, m, tau_filter_ms),
    }
}

/// Neural data `[neurons, bins, conditions]` checked against the task.
pub fn load_data(path: &Path, task: &AnalysisTask) -> Result<Array3<f64>> {
    load_data_in(path, task, Layout::default())
}

pub fn evaluate(
    task: &AnalysisTask,
    model: &RateModel,
    data: Option<&Array3<f64>>,
) -> Result<Evaluation> {
    evaluate_activity(task, run_rate(task, model)?, data)
}

/// [`evaluate`] for either kind (`tau_filter_ms`: spikes to rates, spiking models only).
pub fn evaluate_any(
    task: &AnalysisTask,
    model: &AnyModel,
    data: Option<&Array3<f64>>,
    tau_filter_ms: f64,
) -> Result<Evaluation> {
    evaluate_activity(task, run_any_full(task, model, tau_filter_ms)?, data)
}

fn evaluate_activity(
    task: &AnalysisTask,
    run: ModelRun,
    data: Option<&Array3<f64>>,
) -> Result<Evaluation> {
    let act = run.activity;
    let participation_ratio = similarity::participation_ratio(act.view()).unwrap_or(f64::NAN);
    let (procrustes, cka, baseline, floor) = match data {
        Some(d) => (
            Some(similarity::angular_procrustes(act.view(), d.view())?),
            Some(similarity::linear_cka(act.view(), d.view())?),
            Some(similarity::cross_condition_baseline(d.view())?),
            Some(similarity::split_half_floor(
                d.view(),
                crate::analysis::SPLIT_HALF_DRAWS,
                crate::analysis::SPLIT_HALF_SEED,
            )?),
        ),
        None => (None, None, None, None),
    };
    Ok(Evaluation {
        task: task.name,
        accuracy: run.accuracy,
        percent_correct: run.percent_correct,
        loss: run.loss,
        procrustes,
        metric: procrustes.map(|_| crate::metric::Metric::PROCRUSTES.registry_name()),
        distance: procrustes,
        normalised_distance: procrustes
            .zip(floor)
            .map(|(d, f)| similarity::split_half_normalised(d, f)),
        cka,
        baseline,
        split_half_floor: floor,
        participation_ratio,
    })
}

/// Mean over conditions, kept for the trajectory plots: `[units, bins]`.
pub fn condition_mean(act: &Array3<f64>) -> ndarray::Array2<f64> {
    act.mean_axis(Axis(2)).expect("at least one condition")
}

/// The order of the axes of recordings or activity (SPEC §8 `--data-layout`): a permutation
/// of N (neurons or units), T (time bins) and C (conditions), as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout([u8; 3]);

impl Default for Layout {
    fn default() -> Self {
        Layout(*b"NTC")
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let b = s.to_ascii_uppercase().into_bytes();
        let mut sorted = b.clone();
        sorted.sort_unstable();
        if sorted != b"CNT" {
            return Err(format!(
                "'{s}' is not a permutation of the letters N, T, C (e.g. NTC, TCN)"
            ));
        }
        Ok(Layout([b[0], b[1], b[2]]))
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::str::from_utf8(&self.0).expect("ASCII letters"))
    }
}

impl Layout {
    fn axis_of(self, letter: u8) -> usize {
        self.0
            .iter()
            .position(|&l| l == letter)
            .expect("a permutation")
    }
    /// Stored array → `[N, T, C]`.
    pub fn to_ntc(self, a: Array3<f64>) -> Array3<f64> {
        let order = [self.axis_of(b'N'), self.axis_of(b'T'), self.axis_of(b'C')];
        a.permuted_axes(order).as_standard_layout().into_owned()
    }
    /// `[N, T, C]` → this layout.
    pub fn from_ntc(self, a: Array3<f64>) -> Array3<f64> {
        let ntc = Layout::default();
        let order = self.0.map(|l| ntc.axis_of(l));
        a.permuted_axes(order).as_standard_layout().into_owned()
    }
}

/// Recordings stored in `layout`, brought to `[neurons, bins, conditions]` and checked against
/// the task's analysis window and trials.
pub fn load_data_in(path: &Path, task: &AnalysisTask, layout: Layout) -> Result<Array3<f64>> {
    let stored = crate::neural::load_neural(path)?;
    let shape = stored.shape().to_vec();
    let d = layout.to_ntc(stored);
    let (t, c) = (task.n_bins(), task.n_conditions());
    if d.dim().1 != t || d.dim().2 != c {
        return Err(Error::Input(format!(
            "{}: shape {shape:?} read as {layout} is [N, T, C] = {:?}, but the {} needs T = {t} bins (analysis steps {}..={}) and C = {c} conditions",
            path.display(),
            d.shape(),
            task.label,
            task.steps.start(),
            task.steps.end()
        )));
    }
    crate::neural::check_shape(&d, path, t, c)?;
    Ok(d)
}
