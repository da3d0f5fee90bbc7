//! `snnlab train CONFIG.toml`: trains M networks (one per seed) on a task with Adam and the
//! paper's adaptive activity regulariser, writing a loss log (CSV, appended every update so a
//! crash loses nothing already done), checkpoints (safetensors) and an evaluation log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendOf, Device};
use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::gpu::engine::{PackModel, ParamsOf};
use crate::gpu::rate_engine::Rate;
use crate::gpu::spiking_engine::Spiking;
use crate::io::budget;
use crate::model::{Activation, Kind, RateConfig, RateModel};
use crate::one_network::OneNetwork;
use crate::optim::{Adam, ParamSet};
use crate::reference::rate::{Net, Prepared, forward, loss, normalised_error};
use crate::rules::Rule;
use crate::spiking::{SpikingConfig, SpikingModel};
use crate::tasks::file::{FileTask, FileTaskSpec};
use crate::tasks::{mante, reach::Reach};

fn d_rule() -> Rule {
    Rule::Bptt
}
fn d_n() -> usize {
    200
}
fn d_alpha() -> f64 {
    0.1
}
fn d_act() -> Activation {
    Activation::Retanh
}
fn d_one() -> f64 {
    1.0
}
fn d_seeds() -> Vec<u64> {
    vec![1]
}
fn d_updates() -> usize {
    1000
}
fn d_batch() -> usize {
    100
}
fn d_steps() -> usize {
    300
}
fn d_l2() -> f64 {
    10.0
}
fn d_true() -> bool {
    true
}
fn d_lr() -> f64 {
    1e-3
}
fn d_device() -> Device {
    Device::Auto
}
fn d_out() -> PathBuf {
    PathBuf::from("runs/train")
}

fn is_rate(k: &Kind) -> bool {
    *k == Kind::Rate
}

pub use crate::spiking::SpikingSettings;

/// The task a config trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Hatsopoulos 2007 centre-out reach (mse).
    Reach,
    /// The fixed 72-condition Mante 2013 batch (ce).
    Mante,
    /// Bellec et al. 2020 evidence accumulation (ce).
    Cue,
    /// Trials from files (SPEC §8): `train_batch`, `analysis_batch`, `loss`, ...
    File,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Reach => "reach",
            TaskKind::Mante => "mante",
            TaskKind::Cue => "cue",
            TaskKind::File => "file",
        }
    }
}

impl std::fmt::Display for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A loaded file task kept with its config (not serialised; shown by its widths only).
#[derive(Clone, Default)]
pub struct LoadedFileTask(Option<Arc<FileTask>>);

impl std::fmt::Debug for LoadedFileTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(t) => write!(f, "{:?}", t.dims),
            None => f.write_str("not loaded"),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// reach, mante, cue, or file (SPEC §8: the trials come from `train_batch` and
    /// `analysis_batch`).
    pub task: TaskKind,
    /// File task: the pool of training trials (SPEC §6 batch), relative to the config's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_batch: Option<PathBuf>,
    /// File task: the analysis trials, one per condition in the recordings' order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_batch: Option<PathBuf>,
    /// File task: mse or ce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossKind>,
    /// File task: inclusive range of analysis steps compared with the recordings' bins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_steps: Option<[usize; 2]>,
    /// File task: ms per file step (required for spiking kinds; their dt_ms must divide it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin_ms: Option<f64>,
    /// Seed of the initial network only (default: each network's seed, which seeds the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_seed: Option<u64>,
    #[serde(skip)]
    pub file_task: LoadedFileTask,
    /// Network kind: "rate" (SPEC §1), "lif" or "alif" (SPEC §2; settings in `[spiking]`).
    #[serde(default, skip_serializing_if = "is_rate")]
    pub kind: Kind,
    /// Spiking settings (kind lif/alif); defaults when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spiking: Option<SpikingSettings>,
    /// bptt | eprop | eprop-random | tbptt:K | readout-fa
    #[serde(default = "d_rule")]
    pub rule: Rule,
    #[serde(default = "d_n")]
    pub n_rec: usize,
    #[serde(default = "d_alpha")]
    pub alpha: f64,
    #[serde(default = "d_act")]
    pub activation: Activation,
    #[serde(default)]
    pub dale: bool,
    #[serde(default = "d_one")]
    pub connectivity: f64,
    /// Initial recurrent gain g0.
    #[serde(default = "d_one")]
    pub g0: f64,
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// One network per seed; all are trained together (one pack on the GPU).
    #[serde(default = "d_seeds")]
    pub seeds: Vec<u64>,
    #[serde(default = "d_updates")]
    pub updates: usize,
    /// Trials per update (reach; the Mante batch is fixed at 72).
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Steps per training trial (reach; Mante is fixed at 113).
    #[serde(default = "d_steps")]
    pub n_steps: usize,
    /// Initial activity-L2 weight lambda.
    #[serde(default = "d_l2")]
    pub activity_l2: f64,
    /// The paper's schedule: lambda × 2/3 after an update where lambda·mean(h²) ≥ task loss / 2.
    #[serde(default = "d_true")]
    pub adaptive_l2: bool,
    /// Update indices at which to save a checkpoint; default: the paper's 115-point schedule
    /// (clipped to `updates`).
    #[serde(default)]
    pub checkpoints: Option<Vec<usize>>,
    /// Start every network from this model file (.safetensors) instead of the seeded
    /// initialisation (the seed still draws the training trials), e.g. a paper checkpoint made
    /// with `import-npz`. Its configuration must match the run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    #[serde(default = "d_device")]
    pub device: Device,
    /// Save the resumable training state (`train-state.safetensors`) after every this many
    /// updates; default: at every checkpoint. Outputs do not depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_every: Option<usize>,
    #[serde(default = "d_out")]
    pub out: PathBuf,
}

impl TrainConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = budget::read_input_text(path, "a TOML config file")?;
        let (mut c, batch_size_given) = Self::parse_toml(&text)
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new(""));
        c.resolve(base, batch_size_given)
            .map_err(|e| prefix_config(path, e))?;
        c.validate()
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        Ok(c)
    }
    /// Parse and validate a config's TOML text, file-task paths relative to the working folder
    /// (also the entry point of the `cargo fuzz` target).
    pub fn from_toml(text: &str) -> Result<Self> {
        let (mut c, batch_size_given) = Self::parse_toml(text)?;
        c.resolve(Path::new(""), batch_size_given)?;
        c.validate()?;
        Ok(c)
    }
    /// The config as written, and whether it gave `batch_size` (a file task's default is its pool).
    fn parse_toml(text: &str) -> Result<(Self, bool)> {
        let toml_error = |e: toml::de::Error| {
            let msg = e.message().lines().next().unwrap_or("invalid TOML");
            // A bad value's message does not say whose: the key on the line it points at does.
            let key = e
                .span()
                .and_then(|r| text.get(..r.start))
                .and_then(|t| t.rsplit('\n').next())
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && !msg.contains(*k));
            Error::Input(match key {
                Some(k) => format!("{k}: {msg}"),
                None => msg.to_string(),
            })
        };
        let table: toml::Table = toml::from_str(text).map_err(toml_error)?;
        let c: TrainConfig = toml::from_str(text).map_err(toml_error)?;
        Ok((c, table.contains_key("batch_size")))
    }
    /// The file task's definition, paths as given (File tasks only).
    pub fn file_task_spec(&self) -> Result<FileTaskSpec> {
        let need = |v: &Option<PathBuf>, key: &str| {
            v.clone()
                .ok_or_else(|| Error::Input(format!("task = \"file\" needs {key} = \"PATH.npz\"")))
        };
        Ok(FileTaskSpec {
            train_batch: need(&self.train_batch, "train_batch")?,
            analysis_batch: need(&self.analysis_batch, "analysis_batch")?,
            loss: self.loss.ok_or_else(|| {
                Error::Input("task = \"file\" needs loss = \"mse\" or \"ce\"".into())
            })?,
            analysis_steps: self.analysis_steps,
            bin_ms: self.bin_ms,
        })
    }
    /// A file task: make its paths absolute (relative ones are taken from `base`, the config's
    /// folder), load and check its files, and, when the config gave no `batch_size`, train on the
    /// whole pool at every update. Other tasks: nothing to do.
    pub fn resolve(&mut self, base: &Path, batch_size_given: bool) -> Result<()> {
        if self.task != TaskKind::File {
            return Ok(());
        }
        for p in [&mut self.train_batch, &mut self.analysis_batch]
            .into_iter()
            .flatten()
        {
            let joined = base.join(&*p);
            *p = std::path::absolute(&joined).unwrap_or(joined);
        }
        let task = FileTask::load(&self.file_task_spec()?)?;
        let pool = task.train.n_trials();
        if !batch_size_given {
            self.batch_size = pool;
        } else if self.batch_size > pool {
            return Err(Error::Input(format!(
                "batch_size = {} is more than the {pool} trials of {}",
                self.batch_size,
                task_path(&self.train_batch)
            )));
        }
        self.file_task = LoadedFileTask(Some(Arc::new(task)));
        Ok(())
    }
    /// The loaded file task (File tasks after [`TrainConfig::resolve`]).
    pub fn file_task(&self) -> Result<&FileTask> {
        self.file_task.0.as_deref().ok_or_else(|| {
            Error::Runtime(
                "the file task's files were not loaded (resolve the config first)".into(),
            )
        })
    }
    pub fn validate(&self) -> Result<()> {
        if self.task == TaskKind::File {
            self.file_task_spec()?;
            self.file_task()?;
            if self.is_spiking() && self.bin_ms.is_none() {
                return Err(Error::Input(
                    "task = \"file\" with a spiking kind needs bin_ms (the ms of one file step)"
                        .into(),
                ));
            }
        } else if let Some(key) = [
            ("train_batch", self.train_batch.is_some()),
            ("analysis_batch", self.analysis_batch.is_some()),
            ("loss", self.loss.is_some()),
            ("analysis_steps", self.analysis_steps.is_some()),
            ("bin_ms", self.bin_ms.is_some()),
        ]
        .into_iter()
        .find_map(|(k, set)| set.then_some(k))
        {
            return Err(Error::Input(format!(
                "{key} applies to task = \"file\" only (task is {})",
                self.task
            )));
        }
        if self.is_spiking() {
            if self.dale || self.connectivity < 1.0 {
                return Err(Error::Input(
                    "dale and connectivity apply to rate networks only".into(),
                ));
            }
            self.spiking_config().validate()?;
            self.steps_per_bin()?;
            let s = self.spiking_settings();
            if !(s.in_gain.is_finite() && s.out_gain.is_finite()) {
                return Err(Error::Input(format!(
                    "[spiking] in_gain = {} and out_gain = {} must be finite",
                    s.in_gain, s.out_gain
                )));
            }
        } else if self.spiking.is_some() {
            return Err(Error::Input(
                "a [spiking] table needs kind = \"lif\" or \"alif\"".into(),
            ));
        }
        if self.seeds.is_empty() {
            return Err(Error::Input("seeds is empty: give at least one".into()));
        }
        let mut sorted = self.seeds.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Input(format!(
                "seeds lists {} twice (each seed is one network)",
                w[0]
            )));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Input(format!("lr = {} must be positive", self.lr)));
        }
        if self.batch_size == 0 || self.n_steps == 0 {
            return Err(Error::Input(
                "batch_size and n_steps must be positive".into(),
            ));
        }
        if self.state_every == Some(0) {
            return Err(Error::Input(
                "state_every = 0: give a number of updates of at least 1".into(),
            ));
        }
        self.model_config().validate()?;
        self.check_memory()
    }
    /// Refuse sizes whose training could not fit the memory budget ([`crate::io::budget`]), before
    /// anything is allocated. A lower bound: per network, the parameters with their gradients and
    /// two Adam moments (f32), and two f32 trajectories (the states and their gradients) of
    /// batch_size × simulation steps × n_rec.
    fn check_memory(&self) -> Result<()> {
        let (ni, no) = self.task_io();
        let n = self.n_rec as u64;
        let steps = budget::product(&[self.n_steps as u64, self.steps_per_bin()? as u64]);
        let params = n
            .checked_mul(n)
            .and_then(|w| w.checked_add(n.checked_mul((ni + no + 2) as u64)?));
        let per_net = (|| {
            let weights = params?.checked_mul(4 * 4)?;
            let traj = budget::product(&[8, self.batch_size as u64, steps?, n])?;
            weights.checked_add(traj)
        })();
        let need = per_net.and_then(|b| b.checked_mul(self.seeds.len() as u64));
        budget::check(
            &format!(
                "training {} network(s) (seeds) of n_rec = {} on batch_size = {} × n_steps = {}{}",
                self.seeds.len(),
                self.n_rec,
                self.batch_size,
                self.n_steps,
                if self.is_spiking() {
                    format!(" × {} steps per bin (dt_ms)", self.steps_per_bin()?)
                } else {
                    String::new()
                }
            ),
            need,
        )
    }
    pub fn is_spiking(&self) -> bool {
        self.kind.is_spiking()
    }
    pub fn spiking_settings(&self) -> SpikingSettings {
        self.spiking.clone().unwrap_or_default()
    }
    /// The spiking network of this config (kind lif/alif).
    pub fn spiking_config(&self) -> SpikingConfig {
        let (ni, no) = self.task_io();
        let s = self.spiking_settings();
        SpikingConfig::with_settings(
            self.kind,
            ni + usize::from(s.tonic_input),
            self.n_rec,
            no,
            &s,
        )
    }
    /// Simulation steps per task bin (1 for rate networks): the task's bin (reach 10 ms, Mante
    /// 15 ms) over the spiking dt, which must divide it.
    pub fn steps_per_bin(&self) -> Result<usize> {
        if !self.is_spiking() {
            return Ok(1);
        }
        task_steps_per_bin(
            &self.task_label(),
            self.bin_ms(),
            self.spiking_settings().dt_ms,
        )
    }
    /// The ms of one task step: the built-in tasks' bins, or a file task's `bin_ms` (1 when
    /// absent: rate networks do not use it).
    pub fn bin_ms(&self) -> f64 {
        match self.task {
            TaskKind::File => self.bin_ms.unwrap_or(1.0),
            t => task_bin_ms(t),
        }
    }
    /// How error messages name the task: `reach`, or a file task's training file.
    fn task_label(&self) -> String {
        match self.task {
            TaskKind::File => format!("file ({})", task_path(&self.train_batch)),
            t => t.to_string(),
        }
    }
    /// (inputs, outputs) of this task's networks.
    pub fn task_io(&self) -> (usize, usize) {
        match (self.task, self.file_task.0.as_deref()) {
            (TaskKind::File, Some(t)) => (t.dims.n_in, t.dims.n_out),
            (TaskKind::File, None) => (0, 0),
            (t, _) => task_io(t),
        }
    }
    /// The loss of this task.
    pub fn loss_kind(&self) -> LossKind {
        match self.task {
            TaskKind::Reach => LossKind::Mse,
            TaskKind::Mante | TaskKind::Cue => LossKind::Ce,
            TaskKind::File => self.loss.unwrap_or(LossKind::Mse),
        }
    }
    /// Seed of the initial network of the member with training seed `seed`.
    pub fn init_seed_for(&self, seed: u64) -> u64 {
        self.init_seed.unwrap_or(seed)
    }
    pub fn model_config(&self) -> RateConfig {
        let (ni, no) = self.task_io();
        RateConfig {
            kind: Kind::Rate,
            n_in: ni,
            n_rec: self.n_rec,
            n_out: no,
            alpha: self.alpha,
            activation: self.activation,
            dale: self.dale,
            connectivity: self.connectivity,
        }
    }
}

fn prefix_config(path: &Path, e: Error) -> Error {
    match e {
        Error::Input(m) if !m.starts_with(&path.display().to_string()) => {
            Error::Input(format!("{}: {m}", path.display()))
        }
        e => e,
    }
}

fn task_path(p: &Option<PathBuf>) -> String {
    p.as_deref()
        .map_or_else(|| "?".into(), |p| p.display().to_string())
}

/// Bin width of a built-in task in ms (one rate-network step; a file task gives its `bin_ms`).
pub fn task_bin_ms(task: TaskKind) -> f64 {
    match task {
        TaskKind::Mante => mante::DT_MS,
        TaskKind::Cue => crate::tasks::cue::DT_MS,
        TaskKind::Reach | TaskKind::File => crate::tasks::reach::DT_MS,
    }
}

/// (inputs, outputs) of a built-in task's networks (a file task's come from its files).
pub fn task_io(task: TaskKind) -> (usize, usize) {
    match task {
        TaskKind::Mante => (mante::N_INPUTS, mante::N_CLASSES),
        TaskKind::Cue => (crate::tasks::cue::N_INPUTS, crate::tasks::cue::N_CLASSES),
        TaskKind::Reach | TaskKind::File => (3, 2),
    }
}

/// Steps of `dt_ms` per bin of `bin` ms (of the task named `task`); dt must divide the bin.
pub fn task_steps_per_bin(task: &str, bin: f64, dt_ms: f64) -> Result<usize> {
    let k = (bin / dt_ms).round();
    if !(k >= 1.0 && (k * dt_ms - bin).abs() < 1e-9 * bin) {
        return Err(Error::Input(format!(
            "spiking dt_ms = {dt_ms} must divide the {task} task's {bin} ms bins"
        )));
    }
    Ok(k as usize)
}

/// The generator of a network's training trials (seeded by its training seed).
pub fn trial_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9) ^ 0xda7a)
}

/// numpy's `np.round(np.linspace(a, b, n))` (round half to even).
fn linspace_round(a: f64, b: f64, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |i| (a + (b - a) * i as f64 / (n - 1) as f64).round_ties_even() as usize)
}

/// The authors' 115 checkpoint indices: 0…5, {50, 100, 150, 200} and rounded linspaces
/// 25→150 ×20, 0→1000 ×20, 200→700 ×40, 700→1000 ×30 (data/paper/README.md).
pub fn paper_checkpoints() -> Vec<usize> {
    let mut v: Vec<usize> = (0..=5).chain([50, 100, 150, 200]).collect();
    v.extend(linspace_round(25.0, 150.0, 20));
    v.extend(linspace_round(0.0, 1000.0, 20));
    v.extend(linspace_round(200.0, 700.0, 40));
    v.extend(linspace_round(700.0, 1000.0, 30));
    v.sort_unstable();
    v.dedup();
    v
}

/// The paper's lambda rule, applied after an update with losses (task, mean h²).
pub fn adapt_lambda(lambda: f64, task: f64, mean_h2: f64) -> f64 {
    if lambda * mean_h2 >= task / 2.0 {
        lambda * 2.0 / 3.0
    } else {
        lambda
    }
}

enum Task {
    Reach(Reach),
    Mante(Batch),
    /// Bellec et al.'s evidence accumulation (fresh random trials every update).
    Cue(crate::tasks::cue::CueTask),
    /// Trials from files: `batch_size` of the pool per update (the whole pool, in file order,
    /// when that is all of it).
    File(Arc<FileTask>),
}

impl Task {
    fn load(cfg: &TrainConfig) -> Result<Task> {
        Ok(match cfg.task {
            TaskKind::Reach => Task::Reach(Reach::load_default()?),
            TaskKind::Cue => Task::Cue(crate::tasks::cue::CueTask::paper()),
            TaskKind::Mante => Task::Mante(mante::load_default()?.0),
            TaskKind::File => Task::File(
                cfg.file_task
                    .0
                    .clone()
                    .ok_or_else(|| Error::Runtime("file task not loaded".into()))?,
            ),
        })
    }
    /// Held-out evaluation batch: reach — 100 random trials (fixed seed); mante — the fixed batch.
    fn eval_batch(&self, cfg: &TrainConfig) -> Batch {
        match self {
            Task::Reach(r) => {
                r.training_batch(100, cfg.n_steps, &mut ChaCha8Rng::seed_from_u64(0x7e57))
            }
            Task::Mante(b) => b.clone(),
            Task::Cue(c) => c.batch(100, &mut ChaCha8Rng::seed_from_u64(0x7e57)),
            Task::File(f) => f.analysis.clone(),
        }
    }
}

/// A file task's error on `b` from the outputs `y [T, B, n_out]`: mse, the normalised error;
/// ce, the fraction of masked steps whose largest output is not the target.
fn file_task_error(y: &ndarray::Array3<f32>, b: &Batch, d: &Prepared<f32>) -> f64 {
    match b.loss {
        LossKind::Mse => normalised_error(y, d) as f64,
        LossKind::Ce => 1.0 - crate::evaluate::fraction_correct(&y.mapv(f64::from), b),
    }
}

/// What a training run ends with, per network.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub seed: u64,
    pub final_loss: f64,
    /// Reach: normalised error on the evaluation batch; Mante: cross-entropy.
    pub final_eval_error: f64,
    pub seconds: f64,
}

fn eval_error(task: &Task, model: &RateModel, b: &Batch) -> f64 {
    let net = Net::<f32>::new(model);
    let d = Prepared::<f32>::new(b);
    let tr = forward(&net, &d.x);
    match task {
        Task::Reach(_) => normalised_error(&tr.y, &d) as f64,
        Task::Mante(_) => loss(&tr, &d, 0.0).task as f64,
        Task::Cue(_) => 1.0 - crate::tasks::cue::accuracy(&tr.y.mapv(f64::from), b),
        Task::File(_) => file_task_error(&tr.y, b, &d),
    }
}

fn eval_error_spiking(task: &Task, model: &SpikingModel, b: &Batch) -> f64 {
    use crate::reference::spiking as spk;
    let net = spk::SpikingNet::<f32>::new(model);
    let d = Prepared::<f32>::new(b);
    let tr = spk::forward(&net, &d.x);
    match task {
        Task::Reach(_) => normalised_error(&tr.y, &d) as f64,
        Task::Mante(_) => crate::reference::rate::task_loss(&tr.y, &d).0 as f64,
        Task::Cue(_) => 1.0 - crate::tasks::cue::accuracy(&tr.y.mapv(f64::from), b),
        Task::File(_) => file_task_error(&tr.y, b, &d),
    }
}

/// What the training loop needs of a kind of network besides its backend ([`OneNetwork`]): its
/// models' parameters, their files and their evaluation.
trait TrainKind: OneNetwork {
    fn model_params(m: &Self::Model) -> &ParamsOf<Self>;
    fn model_params_mut(m: &mut Self::Model) -> &mut ParamsOf<Self>;
    /// Write the model with the `__metadata__` entries `meta`.
    fn save(path: &Path, m: &Self::Model, meta: &[(String, String)]) -> Result<()>;
    /// Its error on the task's evaluation batch.
    fn eval_error(task: &Task, m: &Self::Model, eval: &Batch) -> f64;
}

/// [`TrainKind`] for a kind whose model keeps its parameters in `params`.
macro_rules! train_kind {
    ($kind:ty, $model:ty, $save:path, $eval:path) => {
        impl TrainKind for $kind {
            fn model_params(m: &$model) -> &ParamsOf<Self> {
                &m.params
            }
            fn model_params_mut(m: &mut $model) -> &mut ParamsOf<Self> {
                &mut m.params
            }
            fn save(path: &Path, m: &$model, meta: &[(String, String)]) -> Result<()> {
                $save(path, m, meta)
            }
            fn eval_error(task: &Task, m: &$model, eval: &Batch) -> f64 {
                $eval(task, m, eval)
            }
        }
    };
}
train_kind!(Rate, RateModel, crate::io::save_model_with, eval_error);
train_kind!(
    Spiking,
    SpikingModel,
    crate::io::save_spiking_model_with,
    eval_error_spiking
);

/// The networks being trained, of one kind, with their backend and the kind's own per-update
/// value (spiking: the target rate).
struct PackOf<K: TrainKind> {
    backend: BackendOf<K>,
    models: Vec<K::Model>,
    extra: K::Extra,
}

/// What every pack's backend is made with besides its models: device, adapter, learning rates,
/// trials × steps of the batches, loss.
type BackendArgs<'a> = (Device, Option<&'a str>, &'a [f64], usize, usize, LossKind);

impl<K: TrainKind> PackOf<K> {
    /// The pack of `members`: each one's model from `model_of` (the `init` file or a new
    /// network), with its feedback matrix when `rule` needs one and its saved parameters when
    /// training resumes.
    fn new(
        members: &[Member],
        rule: Rule,
        resumed: Option<&Resumed>,
        model_of: impl Fn(&Member) -> Result<K::Model>,
        (device, adapter, lrs, b, t, loss): BackendArgs,
        extra: K::Extra,
    ) -> Result<Self> {
        let mut models = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let mut model = model_of(m)?;
            if rule.uses_feedback() {
                model.ensure_feedback(m.seed);
            }
            if let Some(r) = resumed {
                r.restore_params(i, K::model_params_mut(&mut model))?;
            }
            models.push(model);
        }
        Ok(PackOf {
            backend: BackendOf::new(device, adapter, &models, lrs, b, t, loss)?,
            models,
            extra,
        })
    }
}

/// Per network its training-state tensors, and per network its Adam step.
type NetworkStates = (Vec<Vec<StateTensor>>, Vec<u64>);

/// A pack of either kind, as the training loop drives it (one implementation, [`PackOf`]).
trait TrainPack {
    /// One update; (task loss, regulariser before lambda) per network.
    fn update(
        &mut self,
        rule: Rule,
        batches: &[&Batch],
        lambdas: &[f64],
    ) -> Result<Vec<(f64, f64)>>;
    /// Copy the backend's current parameters into the models of the networks still training.
    fn snapshot(&mut self, live: &dyn Fn(usize) -> bool) -> Result<()>;
    /// The first parameter tensor of network `i` (as of the last snapshot) holding a NaN or an
    /// infinity.
    fn non_finite(&self, i: usize) -> Option<&'static str>;
    /// Save network `i` (as of the last snapshot) with the `__metadata__` entries `meta`.
    fn save(&self, i: usize, path: &Path, meta: &[(String, String)]) -> Result<()>;
    /// Every network's training-state tensors (parameters and Adam moments, as they are now)
    /// and Adam step; None where the backend keeps them on the GPU.
    fn state_tensors(&self, members: &[Member]) -> Result<Option<NetworkStates>>;
    /// Continue every network's optimiser from the saved states.
    fn restore_adams(&mut self, r: &Resumed, members: &[Member], lrs: &[f64]) -> Result<()>;
    /// Evaluation error of network `i` as of the last snapshot.
    fn final_eval(&self, i: usize, task: &Task, eval: &Batch) -> f64;
}

impl<K: TrainKind> TrainPack for PackOf<K> {
    fn update(
        &mut self,
        rule: Rule,
        batches: &[&Batch],
        lambdas: &[f64],
    ) -> Result<Vec<(f64, f64)>> {
        Ok(self
            .backend
            .update_with(rule, batches, lambdas, self.extra)?
            .into_iter()
            .map(|l| {
                let [task, reg]: [f32; 2] = l.into();
                (task as f64, reg as f64)
            })
            .collect())
    }
    fn snapshot(&mut self, live: &dyn Fn(usize) -> bool) -> Result<()> {
        let params = self.backend.params()?;
        for (i, p) in params.into_iter().enumerate().filter(|(i, _)| live(*i)) {
            *K::model_params_mut(&mut self.models[i]) = p;
        }
        Ok(())
    }
    fn non_finite(&self, i: usize) -> Option<&'static str> {
        K::model_params(&self.models[i]).first_non_finite()
    }
    fn save(&self, i: usize, path: &Path, meta: &[(String, String)]) -> Result<()> {
        K::save(path, &self.models[i], meta)
    }
    fn state_tensors(&self, members: &[Member]) -> Result<Option<NetworkStates>> {
        let Some(adams) = self.backend.adam_states() else {
            return Ok(None);
        };
        let params = self.backend.params()?;
        let t = members
            .iter()
            .zip(params.iter().zip(&adams))
            .map(|(m, (p, a))| member_tensors(m.seed, p, a))
            .collect();
        Ok(Some((t, adams.iter().map(|a| a.step).collect())))
    }
    fn restore_adams(&mut self, r: &Resumed, members: &[Member], lrs: &[f64]) -> Result<()> {
        debug_assert_eq!(members.len(), r.members.len());
        let cfg = self.models[0].config();
        self.backend.set_adam_states(r.adams(cfg, lrs)?)
    }
    fn final_eval(&self, i: usize, task: &Task, eval: &Batch) -> f64 {
        K::eval_error(task, &self.models[i], eval)
    }
}

/// A new log file; never one that exists, nor through a link.
fn create_log(path: &Path) -> Result<std::fs::File> {
    use crate::claim::NoFollow;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags_nofollow()
        .open(path)
        .map_err(|e| crate::io::create_err(path, e))
}

fn append_line(f: &mut std::fs::File, line: &str) -> Result<()> {
    writeln!(f, "{line}")
        .and_then(|_| f.flush())
        .map_err(|e| Error::Runtime(format!("cannot write log: {e}")))
}

/// One network of a pack: what may differ between networks trained in one dispatch.
#[derive(Clone, Debug)]
pub struct Member {
    pub seed: u64,
    /// Seed of the initial network (the config's `init_seed`, else `seed`).
    pub init_seed: u64,
    pub lr: f64,
    pub g0: f64,
    /// Initial activity-L2 weight.
    pub activity_l2: f64,
    /// Output directory: `config.toml`, `loss.csv`, `checkpoints.csv`, `seedS/updateUUUU.safetensors`
    /// (members sharing a directory share its logs, one row per seed).
    pub dir: PathBuf,
}

/// How one member's training ended.
#[derive(Clone, Debug)]
pub struct MemberOutcome {
    pub summary: RunSummary,
    /// The update at which its loss became NaN or infinite; it was not trained or saved after.
    pub diverged_at: Option<usize>,
}

/// The settings every network of a pack must share (the members' own are in [`Member`]).
pub fn pack_key(cfg: &TrainConfig) -> String {
    let model = if cfg.is_spiking() {
        format!("{:?}|{:?}", cfg.spiking_config(), cfg.spiking_settings())
    } else {
        format!("{:?}", cfg.model_config())
    };
    format!(
        "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{model}|{}|{}|{}|{}|{:?}|{:?}|{:?}|{:?}",
        cfg.task,
        cfg.train_batch,
        cfg.analysis_batch,
        cfg.loss,
        cfg.analysis_steps,
        cfg.bin_ms,
        cfg.rule,
        cfg.updates,
        cfg.batch_size,
        cfg.n_steps,
        cfg.adaptive_l2,
        cfg.checkpoints,
        cfg.device,
        cfg.init,
        cfg.state_every
    )
}

pub fn train(cfg: &TrainConfig, adapter: Option<&str>, quiet: bool) -> Result<Vec<RunSummary>> {
    train_into(cfg, adapter, quiet, false)
}

/// [`train`]; `force`: replace a run already in `cfg.out` (it is kept aside until the new run has
/// its first checkpoint, and put back if the new run fails before). A folder holding an
/// unfinished run of the same config is resumed from its last saved state; one holding a
/// finished run of it is reported, and nothing is trained.
pub fn train_into(
    cfg: &TrainConfig,
    adapter: Option<&str>,
    quiet: bool,
    force: bool,
) -> Result<Vec<RunSummary>> {
    cfg.validate()?;
    let mut folder = RunFolder::open(&cfg.out, force, cfg)?;
    match folder.start {
        FolderStart::Finished => {
            if !quiet {
                eprintln!(
                    "{} holds a finished run of this config ({} updates); nothing to do (--force trains it again)",
                    cfg.out.display(),
                    cfg.updates
                );
            }
            return Ok(Vec::new());
        }
        FolderStart::Restart if !quiet => eprintln!(
            "{}: an unfinished run with no saved training state; training it again from the start",
            cfg.out.display()
        ),
        _ => {}
    }
    let members: Vec<Member> = cfg
        .seeds
        .iter()
        .map(|&seed| Member {
            seed,
            init_seed: cfg.init_seed_for(seed),
            lr: cfg.lr,
            g0: cfg.g0,
            activity_l2: cfg.activity_l2,
            dir: cfg.out.clone(),
        })
        .collect();
    let bar = progress_bar(cfg.updates as u64, quiet);
    let outcomes = match train_members_with(cfg, &members, adapter, &bar, quiet, &mut folder) {
        Ok(o) => o,
        Err(e) => {
            bar.finish_and_clear();
            folder.fail(&e.to_string());
            return Err(e);
        }
    };
    bar.finish_and_clear();
    let diverged: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.diverged_at
                .map(|u| format!("seed {} at update {u}", o.summary.seed))
        })
        .collect();
    if !diverged.is_empty() {
        let msg = format!(
            "loss diverged: {} (try a smaller lr); the other seeds' results are in {}",
            diverged.join(", "),
            cfg.out.display()
        );
        folder.fail(&msg);
        return Err(Error::Runtime(msg));
    }
    Ok(outcomes.into_iter().map(|o| o.summary).collect())
}

/// The resumable training state in a run folder (removed once the run is finished).
pub const STATE_FILE: &str = "train-state.safetensors";

/// The files of a run in its folder, besides its `seedS/` folders.
const RUN_FILES: [&str; 5] = [
    "config.toml",
    "loss.csv",
    "checkpoints.csv",
    STATE_FILE,
    "FAILED",
];

/// Whether `dir` holds (part of) a training run: its config, logs, state or a seed folder.
/// Nothing is followed through a link.
pub fn holds_run(dir: &Path) -> bool {
    let is = |p: PathBuf| std::fs::symlink_metadata(p).is_ok();
    if RUN_FILES[..4].iter().any(|f| is(dir.join(f))) {
        return true;
    }
    !seed_dirs(dir).is_empty()
}

/// The `seedS` entries of `dir` (S all digits).
fn seed_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix("seed")
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect()
}

/// Remove a run's files and seed folders from `dir` (what else is there stays).
fn clear_run(dir: &Path) {
    for f in RUN_FILES {
        let _ = std::fs::remove_file(dir.join(f));
    }
    for d in seed_dirs(dir) {
        if std::fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::remove_dir_all(d);
        } else {
            let _ = std::fs::remove_file(d);
        }
    }
}

/// Remove what killed processes left in a run folder: atomic-write temporaries (in it and in
/// its seed folders) and half-made claim files.
pub fn clean_stale_run(dir: &Path) {
    crate::io::temp::clean_stale_temps(dir);
    for d in seed_dirs(dir) {
        if std::fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir()) {
            crate::io::temp::clean_stale_temps(&d);
        }
    }
    crate::claim::clean_private(dir);
}

/// Whether this process may write in `dir` (a read-only mount or a folder without write
/// permission is the user's choice of output: exit status 2).
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; access(2) only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Claim `dir` for this `train` (a `train.N` file naming this process, as sweeps claim runs);
/// a folder another live `train` holds is refused.
fn claim_folder(dir: &Path) -> Result<crate::claim::Claim> {
    let claim = crate::claim::try_claim(dir, "train").map_err(|e| match e {
        Error::Runtime(m) if !writable(dir) => Error::Input(format!(
            "{}: cannot write to the output folder ({m})",
            dir.display()
        )),
        e => e,
    })?;
    claim.ok_or_else(|| {
        let who = crate::claim::holder(dir, "train")
            .map(|o| format!(" (pid {} on {})", o.pid, o.host))
            .unwrap_or_default();
        Error::Input(format!(
            "{}: another train{who} is using this folder",
            dir.display()
        ))
    })
}

/// The update at which the training state in `dir` was saved (None: no readable state).
pub fn saved_update(dir: &Path) -> Option<usize> {
    crate::io::state::peek_state(&dir.join(STATE_FILE))
        .and_then(|t| serde_json::from_str::<SavedState>(&t).ok())
        .map(|s| s.update)
}

/// The first setting in which the run in `dir` (its `config.toml`) differs from `cfg`, ignoring
/// `out` (the folder may be named differently now); `Ok(None)` when they are the same.
fn config_difference(dir: &Path, cfg: &TrainConfig) -> Result<Option<String>> {
    let path = dir.join("config.toml");
    let unreadable = |why: String| {
        Error::Input(format!(
            "{} holds a run whose config.toml {why}; use --force to replace it",
            dir.display()
        ))
    };
    let text = budget::read_input_text(&path, "a TOML config file")
        .map_err(|e| unreadable(format!("cannot be read ({e})")))?;
    let mut old: toml::Table = toml::from_str(&text)
        .map_err(|e| unreadable(format!("is not valid TOML ({})", e.message())))?;
    let mut new: toml::Table =
        toml::from_str(&toml::to_string(cfg).map_err(|e| Error::Runtime(e.to_string()))?)
            .map_err(|e| Error::Runtime(e.to_string()))?;
    old.remove("out");
    new.remove("out");
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    Ok(keys
        .into_iter()
        .find(|k| old.get(*k) != new.get(*k))
        .map(|k| k.to_string()))
}

/// How `train` takes its output folder.
#[derive(Debug, PartialEq, Eq)]
enum FolderStart {
    /// It does not exist: created, and removed again if the run fails before its first checkpoint.
    Create,
    /// It exists and holds no run: used as it is.
    Reuse,
    /// It holds a run and `--force` was given: the old run is moved aside.
    Replace,
    /// It holds an unfinished run of this config with a saved training state: continued.
    Resume,
    /// It holds an unfinished run of this config without a saved state: trained again.
    Restart,
    /// It holds the finished run of this config: nothing to do.
    Finished,
}

/// The output folder of one `train`: set up only once every input is checked, the earlier run
/// it replaces (with `--force`) kept aside until the new run has its first checkpoint.
pub struct RunFolder {
    dir: PathBuf,
    start: FolderStart,
    /// Where the replaced run waits (same parent, so the move is a rename).
    aside: Option<PathBuf>,
    /// The folder has been written to.
    opened: bool,
    checkpointed: bool,
    /// This process's claim on the folder (released when the `RunFolder` goes).
    claim: Option<crate::claim::Claim>,
}

impl Drop for RunFolder {
    fn drop(&mut self) {
        if let Some(c) = self.claim.take() {
            c.release();
        }
    }
}

impl RunFolder {
    /// Decide what to do with `dir`, writing nothing: a folder that already holds a run is
    /// refused unless `force`. (`train` itself uses [`RunFolder::open`], which also resumes.)
    pub fn plan(dir: &Path, force: bool) -> Result<RunFolder> {
        let meta = std::fs::symlink_metadata(dir);
        let start = match &meta {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FolderStart::Create,
            Err(e) => return Err(Error::Input(format!("{}: {e}", dir.display()))),
            Ok(m) if !m.is_dir() => {
                return Err(Error::Input(format!(
                    "{}: the output folder is {}",
                    dir.display(),
                    if m.file_type().is_symlink() {
                        "a symbolic link; give the folder it points to"
                    } else {
                        "not a folder"
                    }
                )));
            }
            Ok(_) if !holds_run(dir) => FolderStart::Reuse,
            Ok(_) if force => FolderStart::Replace,
            Ok(_) => {
                return Err(Error::Input(format!(
                    "{} holds a run; use --force to replace it",
                    dir.display()
                )));
            }
        };
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            start,
            aside: None,
            opened: false,
            checkpointed: false,
            claim: None,
        })
    }

    /// [`RunFolder::plan`] for training `cfg` into `dir`, with the folder claimed (a second
    /// `train` on it is refused) and the temporaries of killed processes removed. A run already
    /// there of the same config is resumed from its saved state (or, without one, trained again,
    /// or, when finished, left alone); one of another config is refused unless `force`.
    pub fn open(dir: &Path, force: bool, cfg: &TrainConfig) -> Result<RunFolder> {
        let mut f = match RunFolder::plan(dir, true) {
            Ok(f) if f.start == FolderStart::Create => return Ok(f),
            r => r?,
        };
        f.claim = Some(claim_folder(dir)?);
        clean_stale_run(dir);
        if f.start == FolderStart::Reuse || force {
            return Ok(f);
        }
        if let Some(key) = config_difference(dir, cfg)? {
            return Err(Error::Input(format!(
                "{} holds a run; use --force to replace it (its config differs from this one in {key})",
                dir.display()
            )));
        }
        let is = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
        f.start = if is(STATE_FILE) {
            FolderStart::Resume
        } else if is("FAILED") {
            return Err(Error::Input(format!(
                "{} holds a run; use --force to replace it (it failed: see its FAILED file)",
                dir.display()
            )));
        } else if cfg
            .seeds
            .iter()
            .all(|s| is(&format!("seed{s}/update{:04}.safetensors", cfg.updates)))
        {
            FolderStart::Finished
        } else {
            FolderStart::Restart
        };
        Ok(f)
    }

    /// After a failure: a run without any checkpoint leaves nothing (the replaced run is put
    /// back); one with checkpoints is marked by a `FAILED` file holding the reason.
    pub fn fail(&mut self, reason: &str) {
        if !self.opened {
            return;
        }
        if self.checkpointed {
            let _ =
                crate::io::write_atomic(&self.dir.join("FAILED"), format!("{reason}\n").as_bytes());
            return;
        }
        match self.start {
            FolderStart::Create | FolderStart::Replace => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
            FolderStart::Reuse | FolderStart::Restart => clear_run(&self.dir),
            FolderStart::Resume | FolderStart::Finished => {}
        }
        if let Some(a) = self.aside.take() {
            let _ = std::fs::rename(&a, &self.dir);
        }
    }
}

/// What a caller of [`train_members_with`] does around the writing of the run.
pub trait RunHooks {
    /// Called once every input is checked and the backend made, before anything is written.
    fn before_write(&mut self) -> Result<()>;
    /// Called once every member's first checkpoint is on disk.
    fn first_checkpoint(&mut self) -> Result<()>;
    /// Whether a training state found in a member's folder is continued (else ignored, and
    /// replaced as the run goes).
    fn resume(&self) -> bool {
        true
    }
}

/// The sweeps' hooks: their temporary folders are set up and committed by the sweep.
pub struct NoHooks;

impl RunHooks for NoHooks {
    fn before_write(&mut self) -> Result<()> {
        Ok(())
    }
    fn first_checkpoint(&mut self) -> Result<()> {
        Ok(())
    }
}

impl RunHooks for RunFolder {
    fn before_write(&mut self) -> Result<()> {
        let mkdir = |d: &Path| {
            if let Some(p) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(p).map_err(|e| crate::io::create_err(d, e))?;
            }
            std::fs::create_dir(d).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::Input(format!(
                    "{}: created by another process meanwhile (another train?)",
                    d.display()
                )),
                _ => crate::io::create_err(d, e),
            })
        };
        match self.start {
            FolderStart::Create => {
                mkdir(&self.dir)?;
                self.opened = true;
                self.claim = Some(claim_folder(&self.dir)?);
            }
            FolderStart::Reuse | FolderStart::Finished => {}
            FolderStart::Restart => clear_run(&self.dir),
            FolderStart::Resume => {
                self.checkpointed = true;
                let _ = std::fs::remove_file(self.dir.join("FAILED"));
            }
            FolderStart::Replace => {
                let name = self
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned());
                let name = name.unwrap_or_else(|| "run".into());
                let aside = self.dir.with_file_name(format!(
                    ".{name}.replaced.{}",
                    crate::claim::Owner::me().tag()
                ));
                // Our claim goes aside with the old run; the new folder gets a new one.
                if let Some(c) = self.claim.take() {
                    c.release();
                }
                std::fs::rename(&self.dir, &aside).map_err(|e| {
                    Error::Runtime(format!(
                        "{}: cannot move the earlier run aside: {e}",
                        self.dir.display()
                    ))
                })?;
                self.aside = Some(aside);
                self.opened = true;
                mkdir(&self.dir)?;
                self.claim = Some(claim_folder(&self.dir)?);
            }
        }
        self.opened = true;
        Ok(())
    }
    fn first_checkpoint(&mut self) -> Result<()> {
        self.checkpointed = true;
        if let Some(a) = self.aside.take() {
            std::fs::remove_dir_all(&a).map_err(|e| {
                Error::Runtime(format!(
                    "{}: cannot remove the replaced run: {e}",
                    a.display()
                ))
            })?;
        }
        Ok(())
    }
    fn resume(&self) -> bool {
        self.start == FolderStart::Resume
    }
}

/// An `init` model must have the run's configuration (either kind).
fn check_init_config<C: PartialEq + std::fmt::Debug>(path: &Path, got: &C, want: &C) -> Result<()> {
    if got != want {
        return Err(Error::Input(format!(
            "{}: init model is {got:?}, but the run needs {want:?}",
            path.display()
        )));
    }
    Ok(())
}

/// Train `members` together (one pack on the GPU, threads over networks on the CPU) with the
/// shared settings of `shared` (its `seeds`, `lr`, `g0`, `activity_l2` and `out` are ignored).
/// Advances `bar` by one per update. Each member's directory gets its config, logs and
/// checkpoints; a diverged member stops being logged and saved, the others go on. A member
/// directory holding a training state continues from it.
pub fn train_members(
    shared: &TrainConfig,
    members: &[Member],
    adapter: Option<&str>,
    bar: &indicatif::ProgressBar,
    quiet: bool,
) -> Result<Vec<MemberOutcome>> {
    // Members continue from their own saved updates: those at the same update train as one
    // pack, one pack after the other (on the CPU a network's numbers do not depend on its pack).
    let mut groups: Vec<(Option<usize>, Vec<usize>)> = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let at = saved_update(&m.dir);
        match groups.iter_mut().find(|(u, _)| *u == at) {
            Some((_, v)) => v.push(i),
            None => groups.push((at, vec![i])),
        }
    }
    if groups.len() == 1 {
        return train_members_with(shared, members, adapter, bar, quiet, &mut NoHooks);
    }
    let mut out: Vec<Option<MemberOutcome>> = vec![None; members.len()];
    for (_, idx) in groups {
        let part: Vec<Member> = idx.iter().map(|&i| members[i].clone()).collect();
        for (i, o) in idx.into_iter().zip(train_members_with(
            shared,
            &part,
            adapter,
            bar,
            quiet,
            &mut NoHooks,
        )?) {
            out[i] = Some(o);
        }
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every member trained"))
        .collect())
}

/// [`train_members`], with `hooks` called before the first write and after the first checkpoint.
pub fn train_members_with(
    shared: &TrainConfig,
    members: &[Member],
    adapter: Option<&str>,
    bar: &indicatif::ProgressBar,
    quiet: bool,
    hooks: &mut dyn RunHooks,
) -> Result<Vec<MemberOutcome>> {
    shared.validate()?;
    if members.is_empty() {
        return Err(Error::Input("no networks to train".into()));
    }
    let rule = shared.rule;
    let mcfg = shared.model_config();
    let task = Task::load(shared)?;
    let (b, t) = match &task {
        Task::Reach(_) => (shared.batch_size, shared.n_steps),
        Task::Mante(bt) => (bt.n_trials(), bt.n_steps()),
        Task::Cue(c) => (shared.batch_size, c.n_steps()),
        Task::File(f) => (shared.batch_size, f.train.n_steps()),
    };
    for m in members {
        let valid = m.lr > 0.0
            && m.lr.is_finite()
            && m.g0.is_finite()
            && m.activity_l2 >= 0.0
            && m.activity_l2.is_finite();
        if !valid {
            return Err(Error::Input(format!(
                "seed {}: lr = {}, g0 = {}, activity_l2 = {} are not all valid",
                m.seed, m.lr, m.g0, m.activity_l2
            )));
        }
    }
    let spiking = shared.is_spiking();
    let k = shared.steps_per_bin()?;
    let (b, t) = (b, t * k);
    let lrs: Vec<f64> = members.iter().map(|m| m.lr).collect();
    // Directories, one pair of logs and one training state each (in members' order).
    let mut dirs: Vec<PathBuf> = Vec::new();
    for m in members {
        if !dirs.contains(&m.dir) {
            dirs.push(m.dir.clone());
        }
    }
    let log_of: Vec<usize> = members
        .iter()
        .map(|m| dirs.iter().position(|d| d == &m.dir).unwrap())
        .collect();
    let run_meta = members
        .iter()
        .map(|m| checkpoint_metadata(shared, m))
        .collect::<Result<Vec<_>>>()?;
    let resumed = if hooks.resume() {
        Resumed::load(&dirs, members, &log_of, &run_meta)?
    } else {
        None
    };
    let loss_kind = shared.loss_kind();
    let backend_args = (shared.device, adapter, &lrs[..], b, t, loss_kind);
    let mut pack: Box<dyn TrainPack> = if spiking {
        let scfg = shared.spiking_config();
        let settings = shared.spiking_settings();
        let model_of = |m: &Member| match &shared.init {
            Some(p) => {
                let m0 = crate::io::load_spiking_model(p)?;
                check_init_config(p, &m0.config, &scfg)?;
                Ok(m0)
            }
            None => {
                let mut m0 = SpikingModel::init(scfg.clone(), m.init_seed)?;
                // g0 scales the recurrent weights, as for rate networks.
                m0.params.w_rec.mapv_inplace(|w| w * m.g0 as f32);
                m0.params.w_in.mapv_inplace(|w| w * settings.in_gain as f32);
                m0.params
                    .w_out
                    .mapv_inplace(|w| w * settings.out_gain as f32);
                Ok(m0)
            }
        };
        let extra = settings.rate_target;
        let pack = PackOf::<Spiking>::new(
            members,
            rule,
            resumed.as_ref(),
            model_of,
            backend_args,
            extra,
        )?;
        Box::new(pack)
    } else {
        let model_of = |m: &Member| match &shared.init {
            Some(p) => {
                let m0 = crate::io::load_model(p)?;
                check_init_config(p, &m0.config, &mcfg)?;
                Ok(m0)
            }
            None => RateModel::init(mcfg.clone(), m.g0, m.init_seed),
        };
        let pack =
            PackOf::<Rate>::new(members, rule, resumed.as_ref(), model_of, backend_args, ())?;
        Box::new(pack)
    };
    if let Some(r) = &resumed {
        pack.restore_adams(r, members, &lrs)?;
    }
    // Every input is checked and the backend made: only now is anything written.
    hooks.before_write()?;
    let mut logs = Vec::new();
    for (di, dir) in dirs.iter().enumerate() {
        std::fs::create_dir_all(dir).map_err(|e| crate::io::create_err(dir, e))?;
        // The directory's own config: the shared settings with its members' seeds and values.
        let mine: Vec<&Member> = members.iter().filter(|m| &m.dir == dir).collect();
        let mut c = shared.clone();
        c.seeds = mine.iter().map(|m| m.seed).collect();
        (c.lr, c.g0, c.activity_l2, c.out) =
            (mine[0].lr, mine[0].g0, mine[0].activity_l2, dir.clone());
        crate::io::write_atomic(
            &dir.join("config.toml"),
            toml::to_string(&c)
                .map_err(|e| Error::Runtime(e.to_string()))?
                .as_bytes(),
        )?;
        if let Some(r) = &resumed {
            // Rows written after the state was saved are written again.
            let (loss_len, ckpt_len) = r.log_bytes[di];
            logs.push((
                reopen_log(&dir.join("loss.csv"), loss_len)?,
                reopen_log(&dir.join("checkpoints.csv"), ckpt_len)?,
            ));
            continue;
        }
        let mut log = create_log(&dir.join("loss.csv"))?;
        append_line(
            &mut log,
            if spiking {
                "update,seed,loss,task_loss,rate_reg,lambda"
            } else {
                "update,seed,loss,task_loss,mean_h2,lambda"
            },
        )?;
        let mut evlog = create_log(&dir.join("checkpoints.csv"))?;
        append_line(&mut evlog, "update,seed,eval_error,checkpoint")?;
        logs.push((log, evlog));
    }

    let checkpoints: Vec<usize> = shared
        .checkpoints
        .clone()
        .unwrap_or_else(paper_checkpoints)
        .into_iter()
        .filter(|&u| u <= shared.updates)
        .collect();
    // What a network sees of a task batch: spiking networks at their dt, with the tonic input.
    let tonic = shared.is_spiking() && shared.spiking_settings().tonic_input;
    let prep = |b: Batch| -> Batch {
        let b = b.upsample(k);
        if tonic { b.with_tonic_input() } else { b }
    };
    let eval = prep(task.eval_batch(shared));

    let mut rngs: Vec<ChaCha8Rng> = members.iter().map(|m| trial_rng(m.seed)).collect();
    let mut lambdas: Vec<f64> = members.iter().map(|m| m.activity_l2).collect();
    let mut last = vec![f64::NAN; members.len()];
    let mut diverged: Vec<Option<usize>> = vec![None; members.len()];
    let mut first_update = 0;
    if let Some(r) = &resumed {
        for (i, s) in r.members.iter().enumerate() {
            rngs[i] = s.rng()?;
            lambdas[i] = f64::from_bits(s.lambda_bits);
            last[i] = f64::from_bits(s.last_loss_bits);
            diverged[i] = s.diverged_at;
        }
        first_update = r.update;
        bar.inc(first_update as u64);
        if !quiet {
            bar.suspend(|| {
                eprintln!(
                    "resuming {} from its training state at update {first_update}",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        }
    }
    let state_due = |u: usize| match shared.state_every {
        Some(n) => u.is_multiple_of(n),
        None => checkpoints.contains(&u),
    };
    let start = Instant::now();
    let mut first_checkpoint = resumed.is_none();
    for u in first_update..=shared.updates {
        // Where the run resumes, its checkpoint and state are on disk already.
        let resumed_here = resumed.is_some() && u == first_update;
        // Checkpoint index U = parameters after U updates (U = 0: the initialisation).
        if (checkpoints.contains(&u) || u == shared.updates) && !resumed_here {
            if diverged.iter().any(Option::is_none) {
                pack.snapshot(&|i| diverged[i].is_none())?;
            }
            for i in 0..members.len() {
                if diverged[i].is_some() {
                    continue;
                }
                // Parameters that overflowed in the last update (its loss still finite): the
                // network diverged there, and no checkpoint of it is written.
                if let Some(name) = pack.non_finite(i) {
                    let at = u.saturating_sub(1);
                    diverged[i] = Some(at);
                    if !quiet {
                        bar.suspend(|| eprintln!("seed {} in {}: {name} became non-finite at update {at}; not trained further", members[i].seed, members[i].dir.display()));
                    }
                    continue;
                }
                let dir = members[i].dir.join(format!("seed{}", members[i].seed));
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::Runtime(format!("{}: {e}", dir.display())))?;
                let path = dir.join(format!("update{u:04}.safetensors"));
                let mut meta = run_meta[i].clone();
                meta.push(("update".into(), u.to_string()));
                meta.push(("lambda".into(), lambdas[i].to_string()));
                pack.save(i, &path, &meta)?;
                let err = pack.final_eval(i, &task, &eval);
                // Relative to the run directory, so that the log stays right when the directory moves.
                append_line(
                    &mut logs[log_of[i]].1,
                    &format!(
                        "{u},{},{err},seed{}/update{u:04}.safetensors",
                        members[i].seed, members[i].seed
                    ),
                )?;
            }
            if first_checkpoint {
                first_checkpoint = false;
                hooks.first_checkpoint()?;
            }
        }
        if u == shared.updates {
            break;
        }
        if state_due(u) && !resumed_here {
            let saved = SavedProgress {
                update: u,
                rngs: &rngs,
                lambdas: &lambdas,
                last: &last,
                diverged: &diverged,
                run_meta: &run_meta,
            };
            save_states(pack.as_ref(), &saved, members, &dirs, &log_of, &logs)?;
        }
        let batches: Vec<Batch> = match &task {
            Task::Reach(r) => rngs
                .iter_mut()
                .map(|g| prep(r.training_batch(b, t / k, g)))
                .collect(),
            Task::Mante(bt) => vec![prep(bt.clone())],
            Task::Cue(c) => rngs.iter_mut().map(|g| prep(c.batch(b, g))).collect(),
            Task::File(f) if b == f.train.n_trials() => vec![prep(f.train.clone())],
            Task::File(f) => rngs
                .iter_mut()
                .map(|g| prep(draw_trials(&f.train, b, g)))
                .collect(),
        };
        let losses = pack.update(rule, &batches.iter().collect::<Vec<_>>(), &lambdas)?;
        for (i, &(task_l, h2)) in losses.iter().enumerate() {
            if diverged[i].is_some() {
                continue;
            }
            if !task_l.is_finite() || !h2.is_finite() {
                diverged[i] = Some(u);
                if !quiet {
                    bar.suspend(|| eprintln!("seed {} in {}: loss diverged to {task_l} at update {u}; not trained further", members[i].seed, members[i].dir.display()));
                }
                continue;
            }
            append_line(
                &mut logs[log_of[i]].0,
                &format!(
                    "{u},{},{},{task_l},{h2},{}",
                    members[i].seed,
                    task_l + lambdas[i] * h2,
                    lambdas[i]
                ),
            )?;
            last[i] = task_l + lambdas[i] * h2;
            if shared.adaptive_l2 {
                lambdas[i] = adapt_lambda(lambdas[i], task_l, h2);
            }
        }
        let live: Vec<f64> = losses
            .iter()
            .zip(&diverged)
            .filter(|(_, d)| d.is_none())
            .map(|(l, _)| l.0)
            .collect();
        let mean = live.iter().sum::<f64>() / live.len().max(1) as f64;
        bar.set_message(format!("loss {mean:.4}"));
        bar.inc(1);
        if bar.is_hidden() && !quiet && (u + 1) % 50 == 0 {
            eprintln!(
                "update {}/{}: mean task loss {mean:.5}",
                u + 1,
                shared.updates
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    // Finished: the states are no longer needed (and a folder without one is a finished run).
    for dir in &dirs {
        let p = dir.join(STATE_FILE);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Runtime(format!(
                    "{}: cannot remove: {e}",
                    p.display()
                )));
            }
            _ => {}
        }
    }
    Ok((0..members.len())
        .map(|i| MemberOutcome {
            summary: RunSummary {
                seed: members[i].seed,
                final_loss: last[i],
                final_eval_error: if diverged[i].is_some() {
                    f64::NAN
                } else {
                    pack.final_eval(i, &task, &eval)
                },
                seconds: secs,
            },
            diverged_at: diverged[i],
        })
        .collect())
}

/// What a training state file says besides its tensors (`__metadata__["state"]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedState {
    /// Updates done: checkpoint `update` (when it is one) is written and logged.
    update: usize,
    /// Lengths of `loss.csv` and `checkpoints.csv` then; later rows are discarded on resume.
    loss_log_bytes: u64,
    checkpoint_log_bytes: u64,
    members: Vec<SavedMember>,
}

/// One network's place in its training (its tensors are `seedS.params.*`, `seedS.adam_m.*`
/// and `seedS.adam_v.*`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedMember {
    seed: u64,
    /// The checkpoint metadata of its run (config, task files and their SHA-256): a state is
    /// only continued by the same run.
    run: Vec<(String, String)>,
    adam_step: u64,
    /// f64 bits (exact, and NaN-safe).
    lambda_bits: u64,
    last_loss_bits: u64,
    diverged_at: Option<usize>,
    /// The trial generator: seed (hex), stream and word position.
    rng_seed: String,
    rng_stream: u64,
    rng_word_pos: String,
}

impl SavedMember {
    fn rng(&self) -> Result<ChaCha8Rng> {
        let bad = || Error::Input(format!("seed {}: training state: bad rng state", self.seed));
        let bytes: Vec<u8> = (0..self.rng_seed.len())
            .step_by(2)
            .map(|i| {
                self.rng_seed
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.rng_stream);
        rng.set_word_pos(self.rng_word_pos.parse().map_err(|_| bad())?);
        Ok(rng)
    }
}

/// The training states a run continues from: one file per member directory, all at one update.
struct Resumed {
    update: usize,
    /// Per member, in members' order.
    members: Vec<SavedMember>,
    /// Per member: its directory's state file (index into `files`).
    file_of: Vec<usize>,
    files: Vec<(PathBuf, crate::io::state::StateFile)>,
    /// Per directory: the lengths its logs are cut back to.
    log_bytes: Vec<(u64, u64)>,
}

impl Resumed {
    /// The states in `dirs` (None when there are none). Every directory must have one, all at
    /// the same update, each for the same run (config and task files) as its members now.
    fn load(
        dirs: &[PathBuf],
        members: &[Member],
        log_of: &[usize],
        run_meta: &[Vec<(String, String)>],
    ) -> Result<Option<Resumed>> {
        let paths: Vec<PathBuf> = dirs.iter().map(|d| d.join(STATE_FILE)).collect();
        let present: Vec<bool> = paths
            .iter()
            .map(|p| std::fs::symlink_metadata(p).is_ok())
            .collect();
        if !present.iter().any(|&p| p) {
            return Ok(None);
        }
        if let Some(i) = present.iter().position(|&p| !p) {
            return Err(Error::Runtime(format!(
                "{}: no training state, while other networks of its pack have one (train them apart)",
                dirs[i].display()
            )));
        }
        let mut files = Vec::new();
        let mut states = Vec::new();
        for p in &paths {
            let f = crate::io::state::StateFile::read(p)?;
            let s: SavedState = serde_json::from_str(&f.state).map_err(|e| {
                Error::Input(format!(
                    "{}: not a training state of this version: {e}",
                    p.display()
                ))
            })?;
            if let Some(s0) = states.first().map(|s: &SavedState| s.update)
                && s0 != s.update
            {
                return Err(Error::Runtime(format!(
                    "{}: saved at update {}, another network of its pack at {s0} (train them apart)",
                    p.display(),
                    s.update
                )));
            }
            states.push(s);
            files.push((p.clone(), f));
        }
        let mut saved = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let (path, s) = (&paths[log_of[i]], &states[log_of[i]]);
            let sm = s.members.iter().find(|x| x.seed == m.seed).ok_or_else(|| {
                Error::Input(format!(
                    "{}: holds no state of seed {}; use --force to train again",
                    path.display(),
                    m.seed
                ))
            })?;
            if sm.run != run_meta[i] {
                return Err(Error::Input(format!(
                    "{}: saved by a different run of seed {} (its settings or task files changed since); use --force to train again",
                    path.display(),
                    m.seed
                )));
            }
            saved.push(sm.clone());
        }
        Ok(Some(Resumed {
            update: states[0].update,
            members: saved,
            file_of: log_of.to_vec(),
            log_bytes: states
                .iter()
                .map(|s| (s.loss_log_bytes, s.checkpoint_log_bytes))
                .collect(),
            files,
        }))
    }

    /// Member `i`'s tensors `{kind}.*` (params, adam_m, adam_v) into `p`.
    fn fill<P: ParamSet<Scalar = f32>>(&self, i: usize, kind: &str, p: &mut P) -> Result<()> {
        let (path, f) = &self.files[self.file_of[i]];
        let seed = self.members[i].seed;
        p.fill_named(|n| f.tensor(&format!("seed{seed}.{kind}.{n}")))
            .map_err(|e| Error::Input(format!("{}: seed {seed}: {e}", path.display())))
    }

    fn restore_params<P: ParamSet<Scalar = f32>>(&self, i: usize, p: &mut P) -> Result<()> {
        self.fill(i, "params", p)
    }

    /// Every member's Adam state.
    fn adams<P: ParamSet<Scalar = f32>>(
        &self,
        cfg: &P::Config,
        lrs: &[f64],
    ) -> Result<Vec<Adam<P>>> {
        (0..self.members.len())
            .map(|i| {
                let mut a = Adam::<P>::new(cfg, lrs[i]);
                a.step = self.members[i].adam_step;
                self.fill(i, "adam_m", &mut a.m)?;
                self.fill(i, "adam_v", &mut a.v)?;
                Ok(a)
            })
            .collect()
    }
}

/// The loop's own state at a training-state save.
struct SavedProgress<'a> {
    update: usize,
    rngs: &'a [ChaCha8Rng],
    lambdas: &'a [f64],
    last: &'a [f64],
    diverged: &'a [Option<usize>],
    run_meta: &'a [Vec<(String, String)>],
}

/// One tensor of a state file: (name, shape, values).
type StateTensor = (String, Vec<usize>, Vec<f32>);

/// Member `seed`'s parameters and Adam state as state-file tensors.
fn member_tensors<P: ParamSet<Scalar = f32>>(seed: u64, p: &P, a: &Adam<P>) -> Vec<StateTensor> {
    [("params", p), ("adam_m", &a.m), ("adam_v", &a.v)]
        .into_iter()
        .flat_map(|(kind, set)| {
            set.named()
                .into_iter()
                .map(move |(n, shape, v)| (format!("seed{seed}.{kind}.{n}"), shape, v.to_vec()))
        })
        .collect()
}

/// Write every directory's training state (atomically). The GPU keeps its Adam moments on the
/// device: there, no state is saved (a killed GPU run trains again from the start).
fn save_states(
    pack: &dyn TrainPack,
    at: &SavedProgress,
    members: &[Member],
    dirs: &[PathBuf],
    log_of: &[usize],
    logs: &[(std::fs::File, std::fs::File)],
) -> Result<()> {
    let Some((tensors, steps)) = pack.state_tensors(members)? else {
        return Ok(());
    };
    let len = |f: &std::fs::File| {
        f.metadata()
            .map(|m| m.len())
            .map_err(|e| Error::Runtime(format!("cannot read a log's length: {e}")))
    };
    for (di, dir) in dirs.iter().enumerate() {
        let mine: Vec<usize> = (0..members.len()).filter(|&i| log_of[i] == di).collect();
        let state = SavedState {
            update: at.update,
            loss_log_bytes: len(&logs[di].0)?,
            checkpoint_log_bytes: len(&logs[di].1)?,
            members: mine
                .iter()
                .map(|&i| {
                    let g = &at.rngs[i];
                    SavedMember {
                        seed: members[i].seed,
                        run: at.run_meta[i].clone(),
                        adam_step: steps[i],
                        lambda_bits: at.lambdas[i].to_bits(),
                        last_loss_bits: at.last[i].to_bits(),
                        diverged_at: at.diverged[i],
                        rng_seed: g.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
                        rng_stream: g.get_stream(),
                        rng_word_pos: g.get_word_pos().to_string(),
                    }
                })
                .collect(),
        };
        let views: Vec<(String, Vec<usize>, &[f32])> = mine
            .iter()
            .flat_map(|&i| {
                tensors[i]
                    .iter()
                    .map(|(n, s, v)| (n.clone(), s.clone(), &v[..]))
            })
            .collect();
        crate::io::state::write_state(&dir.join(STATE_FILE), &views, &to_json(&state)?)?;
    }
    Ok(())
}

/// An existing log, cut back to `len` bytes and opened for appending (never through a link).
fn reopen_log(path: &Path, len: u64) -> Result<std::fs::File> {
    use crate::claim::NoFollow;
    let f = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags_nofollow()
        .open(path)
        .map_err(|e| {
            Error::Input(format!(
                "{}: cannot reopen the log to resume: {e}",
                path.display()
            ))
        })?;
    let now = f
        .metadata()
        .map_err(|e| Error::Runtime(format!("{}: {e}", path.display())))?
        .len();
    if now < len {
        return Err(Error::Input(format!(
            "{}: shorter ({now} bytes) than when the training state was saved ({len}); use --force to train again",
            path.display()
        )));
    }
    f.set_len(len)
        .map_err(|e| Error::Runtime(format!("{}: cannot cut back the log: {e}", path.display())))?;
    Ok(f)
}

/// SHA-256 of a file, hex.
fn sha256_file(p: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(p).map_err(|e| Error::Input(format!("{}: {e}", p.display())))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// A file a run depends on, with its content hash (checkpoint metadata `task_files`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TaskFile {
    path: PathBuf,
    sha256: String,
}

/// What a checkpoint of `m` says of its run (besides `update` and `lambda`): the resolved config
/// (its task included), the task files with their SHA-256, rule, seed, init_seed and version.
fn checkpoint_metadata(shared: &TrainConfig, m: &Member) -> Result<Vec<(String, String)>> {
    let mut c = shared.clone();
    // How often the training state is saved does not change the run.
    c.state_every = None;
    (c.seeds, c.lr, c.g0, c.activity_l2, c.out, c.init_seed) = (
        vec![m.seed],
        m.lr,
        m.g0,
        m.activity_l2,
        // Not the output folder: a checkpoint's bytes must not depend on where it was written
        // (sweeps train in temporary folders and move them).
        PathBuf::new(),
        Some(m.init_seed),
    );
    let files: Vec<TaskFile> = [&c.train_batch, &c.analysis_batch]
        .into_iter()
        .flatten()
        .map(|p| {
            Ok(TaskFile {
                path: p.clone(),
                sha256: sha256_file(p)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(vec![
        ("train_config".into(), to_json(&c)?),
        ("task_files".into(), to_json(&files)?),
        ("rule".into(), c.rule.name()),
        ("seed".into(), m.seed.to_string()),
        ("init_seed".into(), m.init_seed.to_string()),
        (
            "snnlab_version".into(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ])
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Runtime(e.to_string()))
}

impl TrainConfig {
    /// The run a checkpoint came from, when its metadata says (None for files without it),
    /// with its task files checked to be where they were and unchanged.
    pub fn from_checkpoint(path: &Path) -> Result<Option<TrainConfig>> {
        let Some(text) = crate::io::model_metadata(path, "train_config")? else {
            return Ok(None);
        };
        let bad = |m: String| Error::Input(format!("{}: {m}", path.display()));
        let mut c: TrainConfig = serde_json::from_str(&text)
            .map_err(|e| bad(format!("__metadata__ train_config: {e}")))?;
        let files: Vec<TaskFile> = match crate::io::model_metadata(path, "task_files")? {
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| bad(format!("__metadata__ task_files: {e}")))?,
            None => Vec::new(),
        };
        for f in &files {
            if !f.path.is_file() {
                return Err(bad(format!(
                    "its task file {} is missing (moved or deleted since training); give --config or --task",
                    f.path.display()
                )));
            }
            let now = sha256_file(&f.path)?;
            if now != f.sha256 {
                return Err(bad(format!(
                    "its task file {} has changed since training (sha256 {now}, trained on {}); give --config or --task",
                    f.path.display(),
                    f.sha256
                )));
            }
        }
        c.resolve(Path::new(""), true)
            .and_then(|()| c.validate())
            .map_err(|e| bad(format!("__metadata__ train_config: {e}")))?;
        Ok(Some(c))
    }
}

/// `n` trials of `pool` drawn without replacement.
fn draw_trials(pool: &Batch, n: usize, rng: &mut ChaCha8Rng) -> Batch {
    let idx = rand::seq::index::sample(rng, pool.n_trials(), n).into_vec();
    let pick = |a: &ndarray::Array3<f64>| a.select(ndarray::Axis(0), &idx);
    Batch {
        inputs: pick(&pool.inputs),
        targets: pick(&pool.targets),
        mask: pick(&pool.mask),
        loss: pool.loss,
    }
}

pub fn progress_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} updates ({per_sec}, ETA {eta}) {msg}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    bar
}
