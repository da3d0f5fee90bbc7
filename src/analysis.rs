//! `snnlab analyze` and `snnlab report`: score every checkpoint of training runs against neural
//! data, and draw what a scientist would show (the paper's distance-vs-accuracy figure with the
//! baseline and the split-half floor, learning curves, dimensionality, PCA trajectories).

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, Axis};
use ndarray_linalg::{Eigh, UPLO};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::evaluate::{AnalysisTask, Layout, TaskName, load_data_in, run_any};
use crate::similarity;
use crate::train::TrainConfig;

/// Draws and seed of the split-half floor (SPEC §5: n/2 neurons, 100 draws, seeded).
pub const SPLIT_HALF_DRAWS: usize = 100;
pub const SPLIT_HALF_SEED: u64 = 0;

#[derive(Clone, Debug, Serialize)]
pub struct CheckpointScore {
    pub seed: u64,
    pub update: usize,
    pub accuracy: f64,
    pub loss: f64,
    pub distance: f64,
    /// Split-half normalised distance `(d - floor) / (1 - floor)` (SPEC §5): 0 at the data's
    /// own split-half floor.
    pub normalised_distance: f64,
    pub participation_ratio: f64,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Clone, Debug)]
pub struct RunAnalysis {
    pub dir: PathBuf,
    pub config: TrainConfig,
    /// e.g. "bptt lr=0.001"
    pub label: String,
    pub scores: Vec<CheckpointScore>,
}

impl RunAnalysis {
    /// The checkpoint with the smallest distance to the data (over every seed).
    pub fn best(&self) -> Option<&CheckpointScore> {
        self.scores
            .iter()
            .filter(|s| s.distance.is_finite())
            .min_by(|a, b| a.distance.total_cmp(&b.distance))
    }
    /// The seeds of the run, ascending.
    pub fn seeds(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.scores.iter().map(|s| s.seed).collect();
        v.dedup();
        v
    }
    /// (last checkpoint, closest checkpoint to the data) of one seed.
    pub fn last_and_best(&self, seed: u64) -> Option<(&CheckpointScore, &CheckpointScore)> {
        let mine = || self.scores.iter().filter(move |s| s.seed == seed);
        let last = mine().max_by_key(|s| s.update)?;
        let best = mine()
            .filter(|s| s.distance.is_finite())
            .min_by(|a, b| a.distance.total_cmp(&b.distance))?;
        Some((last, best))
    }
    /// The checkpoint of `seed` closest to the data among those with accuracy >= `min_accuracy`.
    pub fn closest_above(&self, seed: u64, min_accuracy: f64) -> Option<&CheckpointScore> {
        self.scores
            .iter()
            .filter(|s| s.seed == seed && s.distance.is_finite() && s.accuracy >= min_accuracy)
            .min_by(|a, b| a.distance.total_cmp(&b.distance))
    }
    /// The run's name in tables: its folder's name (never an absolute path).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.label.clone())
    }
    /// Mean over seeds of `f` at every checkpoint update (for line charts).
    pub fn mean_by_update(&self, f: impl Fn(&CheckpointScore) -> f64) -> Vec<(f64, f64)> {
        let mut acc: std::collections::BTreeMap<usize, (f64, usize)> =
            std::collections::BTreeMap::new();
        for s in &self.scores {
            let e = acc.entry(s.update).or_insert((0.0, 0));
            e.0 += f(s);
            e.1 += 1;
        }
        acc.into_iter()
            .map(|(u, (sum, n))| (u as f64, sum / n as f64))
            .collect()
    }
}

/// Every `seed*/update*.safetensors` under a run directory, sorted by (seed, update).
pub fn checkpoints(dir: &Path) -> Result<Vec<(u64, usize, PathBuf)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(seed) = name
            .strip_prefix("seed")
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        for f in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
            let fname = f.file_name().to_string_lossy().into_owned();
            if let Some(u) = fname
                .strip_prefix("update")
                .and_then(|s| s.strip_suffix(".safetensors"))
                .and_then(|s| s.parse::<usize>().ok())
            {
                out.push((seed, u, f.path()));
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::Input(format!(
            "{}: no checkpoints (seed*/update*.safetensors) found; is this a `snnlab train` output directory?",
            dir.display()
        )));
    }
    Ok(out)
}

/// Neural data checked against a task's analysis trials, with the two reference distances every
/// report draws: the cross-condition-average baseline and the split-half floor.
pub struct Reference {
    pub task: AnalysisTask,
    pub data: Array3<f64>,
    pub baseline: f64,
    pub floor: f64,
}

/// The data of one file prepared once per task and kept (loading, checking and the floor's 100
/// Procrustes draws are done once however many runs are scored against it).
pub struct References {
    path: PathBuf,
    layout: Layout,
    /// By [`AnalysisTask::key`].
    by_task: Vec<(String, Reference)>,
}

impl References {
    pub fn new(data_path: &Path) -> Self {
        Self::with_layout(data_path, Layout::default())
    }
    /// Recordings whose axes are stored in `layout` (SPEC §8 `--data-layout`).
    pub fn with_layout(data_path: &Path, layout: Layout) -> Self {
        Self {
            path: data_path.to_path_buf(),
            layout,
            by_task: Vec::new(),
        }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The reference for `task`, loaded and checked on first use.
    pub fn get(&mut self, task: TaskName) -> Result<&Reference> {
        self.get_for(AnalysisTask::load(task)?)
    }
    /// The reference for the analysis trials `t`, loaded and checked on first use.
    pub fn get_for(&mut self, t: AnalysisTask) -> Result<&Reference> {
        let key = t.key();
        if !self.by_task.iter().any(|(n, _)| *n == key) {
            let data = load_data_in(&self.path, &t, self.layout)?;
            let baseline = similarity::cross_condition_baseline(data.view())?;
            let floor =
                similarity::split_half_floor(data.view(), SPLIT_HALF_DRAWS, SPLIT_HALF_SEED)?;
            self.by_task.push((
                key.clone(),
                Reference {
                    task: t,
                    data,
                    baseline,
                    floor,
                },
            ));
        }
        Ok(&self
            .by_task
            .iter()
            .find(|(n, _)| *n == key)
            .expect("just inserted")
            .1)
    }
    /// The reference for a training run's task.
    pub fn for_config(&mut self, cfg: &TrainConfig) -> Result<&Reference> {
        self.get_for(AnalysisTask::for_config(cfg)?)
    }
}

/// Score every checkpoint of each run against `data` and write `analysis.csv` into each run.
/// A run with fewer checkpoints or logged updates than its config asks for (killed, failed or
/// diverged) is analysed as it is, with a one-line warning on stderr.
pub fn analyze(runs: &[PathBuf], data_path: &Path) -> Result<Vec<RunAnalysis>> {
    for dir in runs {
        if let Some(w) = incomplete(dir) {
            eprintln!("warning: {w}");
        }
    }
    analyze_with(runs, &mut References::new(data_path))
}

/// Why the run in `dir` is incomplete (its `FAILED` reason, or what it lacks of what its config
/// asks for); `None` for a complete run or one whose config cannot be read (`analyze` says so).
pub fn incomplete(dir: &Path) -> Option<String> {
    let config = TrainConfig::load(&dir.join("config.toml")).ok()?;
    if let Ok(reason) = std::fs::read_to_string(dir.join("FAILED")) {
        return Some(format!(
            "{}: the run failed: {}",
            dir.display(),
            reason.lines().next().unwrap_or("")
        ));
    }
    let mut wanted: Vec<usize> = config
        .checkpoints
        .clone()
        .unwrap_or_else(crate::train::paper_checkpoints)
        .into_iter()
        .filter(|&u| u <= config.updates)
        .chain([config.updates])
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let have = checkpoints(dir).unwrap_or_default();
    let log = std::fs::read_to_string(dir.join("loss.csv")).unwrap_or_default();
    let mut short = Vec::new();
    for &seed in &config.seeds {
        let ck = wanted
            .iter()
            .filter(|&&u| have.iter().any(|(s, v, _)| *s == seed && *v == u))
            .count();
        let rows = log
            .lines()
            .skip(1)
            .filter(|l| l.split(',').nth(1).and_then(|v| v.parse::<u64>().ok()) == Some(seed))
            .count();
        if ck < wanted.len() || rows < config.updates {
            short.push(format!(
                "seed {seed} has {ck} of {} checkpoints and {rows} of {} updates",
                wanted.len(),
                config.updates
            ));
        }
    }
    (!short.is_empty()).then(|| format!("{}: incomplete run: {}", dir.display(), short.join("; ")))
}

/// [`analyze`] against already prepared references.
pub fn analyze_with(runs: &[PathBuf], refs: &mut References) -> Result<Vec<RunAnalysis>> {
    let mut out = Vec::new();
    for dir in runs {
        let config = TrainConfig::load(&dir.join("config.toml"))?;
        let Reference {
            task, data, floor, ..
        } = refs.for_config(&config)?;
        let tau_filter = config.spiking_settings().tau_filter_ms;
        let cks = checkpoints(dir)?;
        let scores: Vec<CheckpointScore> = cks
            .par_iter()
            .map(|(seed, update, path)| -> Result<CheckpointScore> {
                let model = crate::io::load_any_model(path)?;
                let (accuracy, loss, act) = run_any(task, &model, tau_filter)?;
                let distance =
                    similarity::angular_procrustes(act.view(), data.view()).unwrap_or(f64::NAN);
                let participation_ratio =
                    similarity::participation_ratio(act.view()).unwrap_or(f64::NAN);
                let normalised_distance = similarity::split_half_normalised(distance, *floor);
                Ok(CheckpointScore {
                    seed: *seed,
                    update: *update,
                    accuracy,
                    loss,
                    distance,
                    normalised_distance,
                    participation_ratio,
                    path: path.clone(),
                })
            })
            .collect::<Result<_>>()?;
        let mut csv = String::from(
            "seed,update,accuracy,loss,distance,normalised_distance,participation_ratio\n",
        );
        for s in &scores {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                s.seed,
                s.update,
                s.accuracy,
                s.loss,
                s.distance,
                s.normalised_distance,
                s.participation_ratio
            ));
        }
        crate::io::write_atomic(&dir.join("analysis.csv"), csv.as_bytes())?;
        let label = format!(
            "{}{} lr={}{}",
            if config.is_spiking() {
                format!("{} ", config.kind)
            } else {
                String::new()
            },
            config.rule,
            config.lr,
            if config.seeds.len() > 1 {
                format!(" ({} seeds)", config.seeds.len())
            } else {
                String::new()
            }
        );
        out.push(RunAnalysis {
            dir: dir.clone(),
            config,
            label,
            scores,
        });
    }
    Ok(out)
}

/// Top-`k` principal-component projection of activity `[units, bins, C]` → `[k, bins, C]`.
pub fn pca_project(act: &Array3<f64>, k: usize) -> Result<Array3<f64>> {
    let (n, t, c) = act.dim();
    let x = similarity::flatten(act.view()); // [t*c, n]
    let mean = x.mean_axis(Axis(0)).unwrap();
    let xc = &x - &mean;
    let cov: Array2<f64> = xc.t().dot(&xc) / (t * c) as f64;
    let (_, vecs) = cov
        .eigh(UPLO::Upper)
        .map_err(|e| Error::Runtime(format!("PCA eigendecomposition failed: {e}")))?;
    let k = k.min(n);
    let top = vecs.slice(ndarray::s![.., n - k..]).to_owned(); // ascending eigenvalues: last k
    let proj = xc.dot(&top); // [t*c, k], sample s = t + T*c
    let mut out = Array3::zeros((k, t, c));
    for ci in 0..c {
        for ti in 0..t {
            for j in 0..k {
                out[[j, ti, ci]] = proj[[ti + t * ci, k - 1 - j]];
            }
        }
    }
    Ok(out)
}

/// One network per (run, seed), its checkpoints in update order; axis values (run name, seed).
pub fn networks(runs: &[RunAnalysis]) -> Vec<crate::stats::Network> {
    let mut out = Vec::new();
    for r in runs {
        for seed in r.seeds() {
            let mut own: Vec<&CheckpointScore> =
                r.scores.iter().filter(|s| s.seed == seed).collect();
            own.sort_by_key(|s| s.update);
            out.push(crate::stats::Network {
                values: vec![r.name(), seed.to_string()],
                checkpoints: own.iter().map(|s| (s.accuracy, s.distance)).collect(),
            });
        }
    }
    out
}

/// The matched-accuracy table of plain run folders: one group per run, its seeds the networks
/// (the columns of `sweep merge`'s matched.csv, with `run` as the one axis).
pub fn matched_table(runs: &[RunAnalysis], levels: &[f64]) -> Vec<crate::stats::MatchedRow> {
    crate::stats::matched(&networks(runs), levels, &[0])
}

/// What `report` shows beyond the checkpoints themselves.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub levels: Vec<f64>,
    /// The closest checkpoint is chosen among checkpoints at or above this accuracy.
    pub min_accuracy: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            levels: crate::stats::DEFAULT_LEVELS.to_vec(),
            min_accuracy: crate::sweep::DEFAULT_MIN_ACCURACY,
        }
    }
}

/// Write the HTML report (charts inline as SVG) for analysed runs.
pub fn report(runs: &[RunAnalysis], data_path: &Path, out: &Path) -> Result<()> {
    report_with(runs, &mut References::new(data_path), out)
}

/// [`report`] against already prepared references.
pub fn report_with(runs: &[RunAnalysis], refs: &mut References, out: &Path) -> Result<()> {
    report_with_options(runs, refs, out, &ReportOptions::default())
}

/// [`report_with`] with the matched levels and the closest checkpoint's accuracy floor given;
/// also writes `matched.csv` beside the report and the figures into `figures/` beside it.
pub fn report_with_options(
    runs: &[RunAnalysis],
    refs: &mut References,
    out: &Path,
    opts: &ReportOptions,
) -> Result<()> {
    crate::report::run_report::write(runs, refs, out, opts)
}
