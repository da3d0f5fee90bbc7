//! Parameter sweeps: a base run config plus axes, expanded into runs with stable ids, trained in
//! packs (runs of one shape share a dispatch), analysed against neural data, resumable after any
//! crash, shardable (`--shard I/N`, Slurm job arrays), merged into one table and one report.
//!
//! Sweep file (TOML):
//! ```toml
//! name = "gain-by-rule"           # optional; default: the file's stem
//! results = "runs/sweeps/gain"    # optional; default: runs/sweeps/<name>
//! data = "neural.npy"             # optional; default: the bundled Hatsopoulos data for reach,
//!                                 # none (no analysis) for mante; "none" turns analysis off
//! data_layout = "NTC"             # optional; the data's axis order (as `--data-layout`)
//! pack_max = 64                   # optional; most runs trained together in one pack
//! [base]                          # a `train` config (configs/*.toml keys) without seeds/out
//! task = "reach"
//! updates = 300
//! [grid]                          # cartesian product of these axes
//! rule = ["bptt", "eprop"]
//! seed = [1, 2, 3]                # `seed` is the axis of network seeds
//! [zip]                           # lists of one length, stepped together (one more axis)
//! lr = [1e-3, 3e-4]
//! g0 = [1.0, 1.5]
//! ```
//!
//! A run's id is a hash of its complete, resolved settings (defaults filled in; `out` and
//! `device` left out): adding a value to an axis, or an axis whose value equals the default,
//! leaves every other run's id — and so its results folder — as it was.
//!
//! Results directory:
//! - `runs/<id>/` — a complete run: `run.json` (id, axis values, status `done` or `diverged`),
//!   `config.toml`, `loss.csv`, `checkpoints.csv`, `seed<S>/update<U>.safetensors`, `analysis.csv`.
//!   A run is trained in `tmp/<id>.<host>.<pid>/` and renamed into place when finished, so a run is
//!   either complete or absent; `sweep run` skips complete runs.
//! - `failed/<id>.txt` — the error of a run whose pack failed (retried by the next `sweep run`).
//! - `slurm/` — the sbatch script, its logs, and `jobs.txt` (submitted job ids).
//! - `merged.csv`, `report.html` — from `sweep merge`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::analysis::CheckpointScore;
use crate::claim::Owner;
use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::train::{Member, TrainConfig};

fn d_pack_max() -> usize {
    64
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Option<String>,
    results: Option<PathBuf>,
    data: Option<String>,
    /// The recordings' axis order (as `--data-layout`), default NTC.
    data_layout: Option<String>,
    #[serde(default = "d_pack_max")]
    pack_max: usize,
    base: toml::Table,
    #[serde(default)]
    grid: BTreeMap<String, Vec<toml::Value>>,
    #[serde(default)]
    zip: BTreeMap<String, Vec<toml::Value>>,
}

/// A sweep's name becomes a folder and a Slurm job name: letters, digits, `_`, `.`, `-`, not
/// starting with `.` (so never `.` or `..`).
fn check_name(name: &str) -> std::result::Result<(), String> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    if name.is_empty() || name.starts_with('.') || !name.chars().all(safe) {
        return Err(format!(
            "name {name:?} must be made of letters, digits, '_', '.' and '-', not starting with '.' (set `name = ...` in the sweep file)"
        ));
    }
    Ok(())
}

/// A loaded sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub name: String,
    pub path: PathBuf,
    pub results: PathBuf,
    /// Neural data for the analysis of every run; `None`: no analysis.
    pub data: Option<PathBuf>,
    /// The order of the data's axes (`data_layout`, SPEC §8).
    pub data_layout: crate::evaluate::Layout,
    pub pack_max: usize,
    /// Axis names, in the order of the merged table's columns.
    pub axes: Vec<String>,
    /// The axes of the `[zip]` group (stepped together, so never crossed with one another).
    pub zip_axes: Vec<String>,
    /// Every run, sorted by id (built on demand).
    pub runs: Runs,
}

/// One expanded run.
#[derive(Clone, Debug)]
pub struct Run {
    pub id: String,
    /// (axis, value as written in TOML), in axis order.
    pub values: Vec<(String, String)>,
    pub config: TrainConfig,
}

impl Run {
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }
    pub fn seed(&self) -> u64 {
        self.config().seeds[0]
    }
}

/// What `run.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    /// Axis name → value, typed as in the sweep file (numbers as numbers, see [`typed_values`]).
    /// Results of earlier versions, a list of `[axis, text]` pairs, still read.
    #[serde(deserialize_with = "values_map_or_pairs")]
    pub values: serde_json::Map<String, serde_json::Value>,
    /// "done" or "diverged".
    pub status: String,
    pub diverged_at: Option<usize>,
    pub final_loss: Option<f64>,
    pub final_eval_error: Option<f64>,
    pub seconds: f64,
    /// Error of the analysis, when it failed (the run's training results stand).
    pub analysis_error: Option<String>,
}

/// `run.json`'s values: a map (this version) or `[axis, text]` pairs (earlier ones).
fn values_map_or_pairs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<serde_json::Map<String, serde_json::Value>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Values {
        Map(serde_json::Map<String, serde_json::Value>),
        Pairs(Vec<(String, String)>),
    }
    Ok(match Values::deserialize(d)? {
        Values::Map(m) => m,
        Values::Pairs(p) => typed_values(&p),
    })
}

/// Axis values as JSON of their TOML type: `1e-3` a number, `true` a boolean, `"bptt"` a
/// string (a value is read back from its text, so a string that reads as a number is one).
pub fn typed_values(values: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    values
        .iter()
        .map(|(k, text)| {
            let v = toml::from_str::<toml::Table>(&format!("v = {text}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .filter(|v| {
                    matches!(
                        v,
                        toml::Value::Integer(_)
                            | toml::Value::Float(_)
                            | toml::Value::Boolean(_)
                            | toml::Value::Array(_)
                    )
                })
                .and_then(|v| serde_json::to_value(v).ok())
                .unwrap_or_else(|| serde_json::Value::String(text.clone()));
            (k.clone(), v)
        })
        .collect()
}

/// 64-bit FNV-1a: a hash that is the same on every platform and Rust version (std's is not).
/// It streams: the hash of `a ++ b` is `fnv1a_from(fnv1a_from(FNV_OFFSET, a), b)`.
fn fnv1a_from(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// A run's resolved settings without `out` and `device`, as canonical text (serde_json's map
/// is ordered by key).
fn id_text(cfg: &TrainConfig) -> String {
    let mut v = serde_json::to_value(cfg).expect("configs serialise");
    if let Some(m) = v.as_object_mut() {
        m.remove("out");
        m.remove("device");
    }
    v.to_string()
}

fn id_hash(cfg: &TrainConfig) -> u64 {
    fnv1a_from(FNV_OFFSET, id_text(cfg).as_bytes())
}

/// The id of a run: a hash of its resolved settings without `out` and `device`.
pub fn run_id(cfg: &TrainConfig) -> String {
    format!("{:016x}", id_hash(cfg))
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Bytes per run of a loaded sweep: its (id, combination) index entry and, when runs are
/// borrowed one by one ([`Runs::iter`]), a memo slot.
const RUN_BYTES: u64 = 32;

/// The most runs a sweep may have: every run's id is computed on loading (about a microsecond
/// each), so a larger grid would take minutes before any command starts.
const MAX_RUNS: u64 = 100_000_000;

/// Runs expanded per parallel batch of stems (runs less their seed); the batches go in grid
/// order, so the error reported is the first failing run's.
const RUNS_PER_BATCH: u64 = 1 << 16;

/// A seed put in a run's settings to find where its seed stands in their canonical text.
const SEED_PLACEHOLDER: u64 = i64::MAX as u64;

/// How a sweep's runs are made: the base config and the axes' values. A run is a combination
/// index over the factors (mixed radix, the first factor the most significant digit; the zip
/// group is one digit), and is built from it on demand, so a grid is never held expanded.
#[derive(Debug)]
struct Grid {
    path: PathBuf,
    base: toml::Table,
    /// Per factor, its choices; a choice sets one or more (axis, value).
    factors: Vec<Vec<Vec<(String, toml::Value)>>>,
    /// Per factor, the number of combinations of the factors after it.
    strides: Vec<u64>,
    n_runs: u64,
    /// The factor of the `seed` grid axis: runs that differ only in it share all other settings.
    seed_factor: Option<usize>,
}

impl Grid {
    fn new(
        path: &Path,
        base: toml::Table,
        factors: Vec<Vec<Vec<(String, toml::Value)>>>,
        seed_factor: Option<usize>,
    ) -> Grid {
        let mut strides = vec![1u64; factors.len()];
        for i in (0..factors.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * factors[i + 1].len() as u64;
        }
        // Checked against the memory budget already, so it fits in u64.
        let n_runs = factors.iter().map(|f| f.len() as u64).product();
        Grid {
            path: path.to_path_buf(),
            base,
            factors,
            strides,
            n_runs,
            seed_factor,
        }
    }

    fn bad(&self, m: String) -> Error {
        Error::Input(format!("{}: {m}", self.path.display()))
    }

    /// The (axis, value) pairs of combination `combo`, in axis order.
    fn choices(&self, combo: u64) -> Vec<(&str, &toml::Value)> {
        self.factors
            .iter()
            .zip(&self.strides)
            .flat_map(|(fac, &stride)| {
                fac[((combo / stride) % fac.len() as u64) as usize]
                    .iter()
                    .map(|(k, v)| (k.as_str(), v))
            })
            .collect()
    }

    fn values(&self, combo: u64) -> Vec<(String, String)> {
        self.choices(combo)
            .into_iter()
            .map(|(k, v)| (k.to_string(), value_text(v)))
            .collect()
    }

    /// The network seed of `seed = S` among `choices` (1 without a seed axis).
    fn seed_of(choices: &[(&str, &toml::Value)]) -> toml::Value {
        choices
            .iter()
            .find(|(k, _)| *k == "seed")
            .map_or(toml::Value::Integer(1), |(_, v)| (*v).clone())
    }

    /// The resolved, validated config of one combination.
    fn config(&self, combo: u64) -> Result<TrainConfig> {
        let choices = self.choices(combo);
        let mut t = self.base.clone();
        for (k, v) in &choices {
            if *k != "seed" {
                t.insert(k.to_string(), (*v).clone());
            }
        }
        let label = || {
            choices
                .iter()
                .map(|(k, v)| format!("{k}={}", value_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let seed = Self::seed_of(&choices);
        let Some(s) = seed.as_integer().filter(|s| *s >= 0) else {
            return Err(self.bad(format!("seed {seed} is not a non-negative integer")));
        };
        t.insert(
            "seeds".into(),
            toml::Value::Array(vec![toml::Value::Integer(s)]),
        );
        t.insert("out".into(), toml::Value::String(String::new()));
        let batch_size_given = t.contains_key("batch_size");
        let mut cfg: TrainConfig =
            toml::Value::Table(t)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    self.bad(format!(
                        "run {}: {}",
                        label(),
                        e.message().lines().next().unwrap_or("invalid setting")
                    ))
                })?;
        // File tasks' paths are relative to the sweep file's folder.
        cfg.resolve(
            self.path.parent().unwrap_or(Path::new("")),
            batch_size_given,
        )
        .and_then(|()| cfg.validate())
        .map_err(|e| self.bad(format!("run {}: {e}", label())))?;
        Ok(cfg)
    }

    /// (length, stride) of the seed digit; (1, 1) without a seed axis.
    fn seed_digit(&self) -> (u64, u64) {
        self.seed_factor
            .map_or((1, 1), |i| (self.factors[i].len() as u64, self.strides[i]))
    }

    fn n_stems(&self) -> u64 {
        self.n_runs / self.seed_digit().0
    }

    /// The combination of stem `stem` with the `j`-th seed.
    fn combo_of(&self, stem: u64, j: u64) -> u64 {
        let (len, stride) = self.seed_digit();
        (stem / stride) * len * stride + j * stride + stem % stride
    }

    /// The stem of combination `combo` (its seed digit taken out).
    fn stem_of(&self, combo: u64) -> u64 {
        let (len, stride) = self.seed_digit();
        (combo / (len * stride)) * stride + combo % stride
    }

    /// The `j`-th value of the seed axis, when it is a non-negative integer.
    fn seed_value(&self, j: u64) -> Option<u64> {
        let i = self.seed_factor?;
        self.factors[i][j as usize][0]
            .1
            .as_integer()
            .filter(|s| *s >= 0)
            .map(|s| s as u64)
    }

    /// The (id hash, combination) of every run of stem `stem` whose seed is valid. The settings
    /// are built and checked once, with the first seed; the other seeds' ids come from the
    /// canonical text around the seed (checked against the full hash for that first seed).
    fn expand_stem(&self, stem: u64) -> Result<Vec<(u64, u64)>> {
        let first = self.combo_of(stem, 0);
        let mut cfg = self.config(first)?;
        let (len, _) = self.seed_digit();
        if len == 1 {
            return Ok(vec![(id_hash(&cfg), first)]);
        }
        let full = id_hash(&cfg);
        let seeds = std::mem::replace(&mut cfg.seeds, vec![SEED_PLACEHOLDER]);
        let text = id_text(&cfg);
        let marker = format!("\"seeds\":[{SEED_PLACEHOLDER}]");
        let split = (text.matches(&marker).count() == 1)
            .then(|| text.find(&marker))
            .flatten()
            .map(|at| {
                let head = at + "\"seeds\":[".len();
                (
                    fnv1a_from(FNV_OFFSET, &text.as_bytes()[..head]),
                    &text[head + SEED_PLACEHOLDER.to_string().len()..],
                )
            });
        let fast = |s: u64| {
            split.map(|(h, tail)| {
                fnv1a_from(fnv1a_from(h, s.to_string().as_bytes()), tail.as_bytes())
            })
        };
        let template_ok = fast(seeds[0]) == Some(full);
        Ok((0..len)
            .filter_map(|j| {
                let s = self.seed_value(j)?;
                let h = if template_ok {
                    fast(s)?
                } else {
                    let mut c = cfg.clone();
                    c.seeds = vec![s];
                    id_hash(&c)
                };
                Some((h, self.combo_of(stem, j)))
            })
            .collect())
    }
}

/// The runs of a sweep, sorted by id: an index of (id, combination) over the [`Grid`], each run
/// built when asked for. [`Runs::get`] builds a run for the caller; [`Runs::iter`] and indexing
/// keep the runs they build (convenient for small sweeps; the program's commands use `get`).
pub struct Runs {
    grid: Arc<Grid>,
    /// (id hash, combination), sorted.
    index: Vec<(u64, u64)>,
    device: Option<crate::backend::Device>,
    memo: OnceLock<Vec<OnceLock<Box<Run>>>>,
}

impl Clone for Runs {
    fn clone(&self) -> Self {
        Runs {
            grid: Arc::clone(&self.grid),
            index: self.index.clone(),
            device: self.device,
            memo: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Runs({} of {:?})", self.index.len(), self.grid)
    }
}

/// What `merge` needs of a run, without building its config.
pub struct RunInfo {
    pub id: String,
    pub values: Vec<(String, String)>,
    seed: u64,
}

impl RunInfo {
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl Runs {
    /// Every run's id, sorted; the first failing run in grid order is the error.
    fn expand(grid: Arc<Grid>) -> Result<Runs> {
        let (len, stride) = grid.seed_digit();
        // A bad seed fails the runs that carry it: the first of them in grid order is this one.
        let seed_err = grid.seed_factor.and_then(|i| {
            (0..len).find(|&j| grid.seed_value(j).is_none()).map(|j| {
                let v = &grid.factors[i][j as usize][0].1;
                (
                    j * stride,
                    grid.bad(format!("seed {v} is not a non-negative integer")),
                )
            })
        });
        let n_stems = grid.n_stems();
        let stems_per_batch = (RUNS_PER_BATCH / len).max(1);
        let mut index = Vec::new();
        index.try_reserve_exact(grid.n_runs as usize).map_err(|e| {
            Error::Runtime(format!(
                "{}: the index of {} runs: {e}",
                grid.path.display(),
                grid.n_runs
            ))
        })?;
        let mut from = 0;
        while from < n_stems {
            let to = (from + stems_per_batch).min(n_stems);
            if seed_err
                .as_ref()
                .is_some_and(|(c, _)| *c < grid.combo_of(from, 0))
            {
                break;
            }
            let batch: Vec<Result<Vec<(u64, u64)>>> = {
                use rayon::prelude::*;
                (from..to)
                    .into_par_iter()
                    .map(|stem| grid.expand_stem(stem))
                    .collect()
            };
            for (stem, r) in (from..to).zip(batch) {
                match r {
                    Ok(v) => index.extend(v),
                    Err(e) => {
                        return Err(match seed_err {
                            Some((c, se)) if c <= grid.combo_of(stem, 0) => se,
                            _ => e,
                        });
                    }
                }
            }
            from = to;
        }
        if let Some((_, e)) = seed_err {
            return Err(e);
        }
        // By id, then in grid order (as a stable sort of the expanded list would give).
        index.sort_unstable();
        if let Some(w) = index.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(grid.bad(format!(
                "two runs have the same settings ({}): an axis repeats a value",
                grid.values(w[0].1)
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
        Ok(Runs {
            grid,
            index,
            device: None,
            memo: OnceLock::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    /// The id of the `k`-th run.
    pub fn id(&self, k: usize) -> String {
        format!("{:016x}", self.index[k].0)
    }
    /// Train every run on this device (not part of the runs' ids).
    pub fn set_device(&mut self, d: crate::backend::Device) {
        self.device = Some(d);
        self.memo = OnceLock::new();
    }
    /// The `k`-th run, built (a file task's files are read again).
    pub fn get(&self, k: usize) -> Result<Run> {
        let (hash, combo) = self.index[k];
        let mut config = self.grid.config(combo)?;
        if let Some(d) = self.device {
            config.device = d;
        }
        Ok(Run {
            id: format!("{hash:016x}"),
            values: self.grid.values(combo),
            config,
        })
    }
    /// The `k`-th run's id, axis values and seed.
    pub fn info(&self, k: usize) -> RunInfo {
        let combo = self.index[k].1;
        let choices = self.grid.choices(combo);
        RunInfo {
            id: self.id(k),
            values: self.grid.values(combo),
            seed: Grid::seed_of(&choices).as_integer().unwrap_or(1) as u64,
        }
    }
    /// The `k`-th run, kept once built. Panics when it can no longer be built (a file task's
    /// file removed since the sweep was loaded); [`Runs::get`] says so instead.
    fn memo(&self, k: usize) -> &Run {
        let slots = self
            .memo
            .get_or_init(|| (0..self.len()).map(|_| OnceLock::new()).collect());
        slots[k].get_or_init(|| {
            Box::new(
                self.get(k)
                    .unwrap_or_else(|e| panic!("run {} cannot be rebuilt: {e}", self.id(k))),
            )
        })
    }
    pub fn iter(&self) -> impl Iterator<Item = &Run> + '_ {
        (0..self.len()).map(|k| self.memo(k))
    }
    /// Runs of one shape (same `pack_key`), at most `pack_max` per pack, in the order of
    /// `positions` (as [`packs`] does on built runs); with each pack's number of updates.
    /// A run's shape does not depend on its seed, so it is computed once per stem.
    pub fn packs(&self, positions: &[usize], pack_max: usize) -> Result<Vec<(Vec<usize>, usize)>> {
        let mut by_stem: std::collections::HashMap<u64, usize> = Default::default();
        let mut by_key: std::collections::HashMap<String, usize> = Default::default();
        let mut groups: Vec<(Vec<usize>, usize)> = Vec::new();
        for &k in positions {
            let stem = self.grid.stem_of(self.index[k].1);
            let g = match by_stem.get(&stem) {
                Some(&g) => g,
                None => {
                    let cfg = self.get(k)?.config;
                    let n = groups.len();
                    let g = *by_key.entry(crate::train::pack_key(&cfg)).or_insert(n);
                    if g == n {
                        groups.push((Vec::new(), cfg.updates));
                    }
                    by_stem.insert(stem, g);
                    g
                }
            };
            groups[g].0.push(k);
        }
        Ok(groups
            .into_iter()
            .flat_map(|(v, updates)| {
                v.chunks(pack_max)
                    .map(|c| (c.to_vec(), updates))
                    .collect::<Vec<_>>()
            })
            .collect())
    }
}

impl std::ops::Index<usize> for Runs {
    type Output = Run;
    fn index(&self, k: usize) -> &Run {
        self.memo(k)
    }
}

impl<'a> IntoIterator for &'a Runs {
    type Item = &'a Run;
    type IntoIter = Box<dyn Iterator<Item = &'a Run> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl Sweep {
    /// The sweep's recordings (`data`, read in `data_layout`), or `None` without data.
    pub fn references(&self) -> Option<crate::analysis::References> {
        self.data
            .as_deref()
            .map(|d| crate::analysis::References::with_layout(d, self.data_layout))
    }
    pub fn load(path: &Path) -> Result<Sweep> {
        let text = crate::io::budget::read_input_text(path, "a TOML sweep file")?;
        Self::from_toml(path, &text)
    }

    /// Expand the sweep file `path` whose text is `text` (also the `cargo fuzz` target's entry).
    pub fn from_toml(path: &Path, text: &str) -> Result<Sweep> {
        let bad = |m: String| Error::Input(format!("{}: {m}", path.display()));
        let f: SweepFile = toml::from_str(text).map_err(|e| {
            bad(e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string())
        })?;
        let name = f.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into())
        });
        check_name(&name).map_err(bad)?;
        let data_layout = match &f.data_layout {
            Some(l) => l
                .parse()
                .map_err(|e: String| bad(format!("data_layout = {l:?}: {e}")))?,
            None => crate::evaluate::Layout::default(),
        };
        if f.pack_max == 0 {
            return Err(bad("pack_max must be at least 1".into()));
        }
        for k in ["seeds", "out"] {
            if f.base.contains_key(k) {
                return Err(bad(format!(
                    "[base] may not set '{k}' (seeds are the `seed` axis; the results directory is `results`)"
                )));
            }
        }
        for (k, vals) in f.grid.iter().chain(&f.zip) {
            if vals.is_empty() {
                return Err(bad(format!("axis '{k}' has no values")));
            }
            if k == "seeds" || k == "out" {
                return Err(bad(format!(
                    "'{k}' cannot be an axis (use `seed` for seeds)"
                )));
            }
        }
        if let Some(k) = f.grid.keys().find(|k| f.zip.contains_key(*k)) {
            return Err(bad(format!("axis '{k}' is in both [grid] and [zip]")));
        }
        let zip_len = f.zip.values().map(Vec::len).max().unwrap_or(0);
        if let Some((k, v)) = f.zip.iter().find(|(_, v)| v.len() != zip_len) {
            return Err(bad(format!(
                "[zip] lists must have one length: '{k}' has {} values, another has {zip_len}",
                v.len()
            )));
        }
        // Axes: the grid's (sorted by name), then the zip group's; the zip group is one factor.
        let mut factors: Vec<Vec<Vec<(String, toml::Value)>>> = f
            .grid
            .iter()
            .map(|(k, vals)| vals.iter().map(|v| vec![(k.clone(), v.clone())]).collect())
            .collect();
        if zip_len > 0 {
            factors.push(
                (0..zip_len)
                    .map(|i| {
                        f.zip
                            .iter()
                            .map(|(k, v)| (k.clone(), v[i].clone()))
                            .collect()
                    })
                    .collect(),
            );
        }
        let axes: Vec<String> = f.grid.keys().chain(f.zip.keys()).cloned().collect();
        // The grid's size, refused before it is expanded when its index could not fit in memory.
        let lengths: Vec<u64> = factors.iter().map(|fac| fac.len() as u64).collect();
        let n_runs = crate::io::budget::product(&lengths);
        let what = format!(
            "the grid of {} runs ({})",
            n_runs.map_or("more than 2^64".into(), |n| n.to_string()),
            lengths
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" × ")
        );
        crate::io::budget::check(&what, n_runs.and_then(|n| n.checked_mul(RUN_BYTES)))
            .map_err(|e| bad(e.to_string()))?;
        if n_runs.is_none_or(|n| n > MAX_RUNS) {
            return Err(bad(format!(
                "{what} is more than a sweep may have ({MAX_RUNS}): split it into several sweeps"
            )));
        }
        let results = f
            .results
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs/sweeps").join(&name));
        let seed_factor = f.grid.keys().position(|k| k == "seed");
        let grid = Grid::new(path, f.base.clone(), factors, seed_factor);
        let runs = Runs::expand(Arc::new(grid))?;
        let task = runs.get(0)?.config().task;
        let data = match f.data.as_deref() {
            Some("none") => None,
            Some(p) => Some(PathBuf::from(p)),
            None if task == crate::train::TaskKind::Reach => Some(crate::reproduce::default_data()),
            None => None,
        };
        Ok(Sweep {
            name,
            path: path.to_path_buf(),
            results,
            data,
            data_layout,
            pack_max: f.pack_max,
            axes,
            zip_axes: f.zip.keys().cloned().collect(),
            runs,
        })
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.results.join("runs")
    }
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runs_dir().join(id)
    }
    fn tmp_dir(&self) -> PathBuf {
        self.results.join("tmp")
    }
    fn claims_dir(&self) -> PathBuf {
        self.results.join("claims")
    }
    fn failed_dir(&self) -> PathBuf {
        self.results.join("failed")
    }
    pub fn is_complete(&self, id: &str) -> bool {
        self.run_dir(id).join("run.json").is_file()
    }
    pub fn record(&self, id: &str) -> Option<RunRecord> {
        serde_json::from_str(&std::fs::read_to_string(self.run_dir(id).join("run.json")).ok()?).ok()
    }
}

/// `I/N` (0 <= I < N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || {
            Error::Input(format!(
                "--shard '{s}': expected I/N with 0 <= I < N, e.g. 0/4"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Slurm array task: `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`) of
    /// `SLURM_ARRAY_TASK_COUNT`, as `get` gives those variables (set and non-empty; the CLI reads
    /// the environment); `None` outside an array job.
    pub fn from_slurm(get: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let (Some(id), Some(count)) = (get("SLURM_ARRAY_TASK_ID"), get("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let num = |k: &str, v: &str| {
            v.parse::<usize>()
                .map_err(|_| Error::Input(format!("{k} = '{v}' is not a number")))
        };
        let (id, count) = (
            num("SLURM_ARRAY_TASK_ID", &id)?,
            num("SLURM_ARRAY_TASK_COUNT", &count)?,
        );
        let min = match get("SLURM_ARRAY_TASK_MIN") {
            Some(m) => num("SLURM_ARRAY_TASK_MIN", &m)?,
            None => 0,
        };
        Shard::parse(&format!("{}/{count}", id.saturating_sub(min))).map(Some)
    }

    /// The runs of this shard: every `count`-th of the id-sorted list, from `index`.
    pub fn select<'a>(&self, runs: &'a Runs) -> Vec<&'a Run> {
        self.positions(runs.len()).map(|k| &runs[k]).collect()
    }

    /// The positions in the id-sorted list of this shard's runs among `n`.
    pub fn positions(&self, n: usize) -> impl Iterator<Item = usize> + use<> {
        (self.index..n).step_by(self.count)
    }
}

/// A temporary run directory's (id, owner) from its name `<id>.<host>.<pid>.<start>`.
fn parse_tmp(name: &str) -> Option<(String, Owner)> {
    crate::io::temp::parse_owned(name)
}

/// Where this process trains run `id` (the owner's tag in the name tells a live process's
/// partial run from a dead one's).
pub fn tmp_run_dir(sweep: &Sweep, id: &str) -> PathBuf {
    sweep.tmp_dir().join(format!("{id}.{}", Owner::me().tag()))
}

/// The results folder's own folders, created; one that is a symbolic link is refused (the
/// clean-up would otherwise remove what it points to).
fn prepare_results(sweep: &Sweep) -> Result<()> {
    let dirs = [
        sweep.runs_dir(),
        sweep.tmp_dir(),
        sweep.claims_dir(),
        sweep.failed_dir(),
    ];
    if let Some(d) = dirs
        .iter()
        .find(|d| std::fs::symlink_metadata(d).is_ok_and(|m| !m.is_dir()))
    {
        return Err(Error::Input(format!(
            "{}: is a symbolic link or a file, not a folder; a results folder's runs/, tmp/, claims/ and failed/ must be its own",
            d.display()
        )));
    }
    for d in dirs {
        std::fs::create_dir_all(&d).map_err(|e| {
            Error::Input(format!(
                "{}: cannot create the results directory: {e}",
                d.display()
            ))
        })?;
    }
    Ok(())
}

fn io_err(p: &Path, e: std::io::Error) -> Error {
    Error::Runtime(format!("{}: {e}", p.display()))
}

/// Remove the temporary run directories of dead processes on this host, and those of other
/// hosts whose run is complete and no longer claimed. Only real directories with the names this
/// program gives are touched (a link is never followed). Returns how many were removed, and
/// how many dead processes' partial runs were kept to be continued from their training state.
fn clean_stale(sweep: &Sweep) -> Result<(usize, usize)> {
    let (mut n, mut kept) = (0, 0);
    let Ok(rd) = std::fs::read_dir(sweep.tmp_dir()) else {
        return Ok((0, 0));
    };
    let here = crate::claim::hostname();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((id, owner)) = parse_tmp(&name) else {
            continue;
        };
        let is_dir = std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_dir());
        let gone = if owner.host == here {
            // A dead process's partial run with a training state waits for the next process
            // that claims the run, which continues it.
            !owner.alive() && (sweep.is_complete(&id) || !holds_state(&e.path()))
        } else {
            sweep.is_complete(&id)
                && crate::claim::holder(&sweep.claims_dir(), &id).is_none_or(|h| h != owner)
        };
        if is_dir && gone {
            std::fs::remove_dir_all(e.path()).map_err(|er| io_err(&e.path(), er))?;
            n += 1;
        } else if is_dir && owner.host == here && !owner.alive() {
            kept += 1;
        }
    }
    crate::claim::clean_private(&sweep.claims_dir());
    Ok((n, kept))
}

/// Whether a temporary run folder holds a training state to continue from.
fn holds_state(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(crate::train::STATE_FILE)).is_ok_and(|m| m.is_file())
}

/// Move the partial run of `id` that a process now gone left in `tmp/` (the one furthest on,
/// when there are several) to `to`, and remove the others. Only for a claimed run: no live
/// process trains it then. Returns whether one was taken over.
fn adopt_partial(sweep: &Sweep, id: &str, to: &Path) -> Result<bool> {
    let Ok(rd) = std::fs::read_dir(sweep.tmp_dir()) else {
        return Ok(false);
    };
    let me = Owner::me();
    let mut found: Vec<(Option<usize>, PathBuf)> = rd
        .flatten()
        .filter(|e| {
            parse_tmp(&e.file_name().to_string_lossy()).is_some_and(|(i, o)| i == id && o != me)
        })
        .filter(|e| std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_dir()))
        .map(|e| (crate::train::saved_update(&e.path()), e.path()))
        .collect();
    found.sort();
    let best = found.pop().filter(|(u, _)| u.is_some());
    for (_, d) in found {
        let _ = std::fs::remove_dir_all(d);
    }
    match best {
        Some((_, d)) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(Error::Input(format!("{}: exists already", to.display())));
            }
            std::fs::rename(&d, to).map_err(|e| io_err(&d, e))?;
            crate::train::clean_stale_run(to);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Options of `sweep run`.
pub struct RunOptions {
    pub shard: Shard,
    pub quiet: bool,
}

/// What `sweep run` did.
#[derive(Debug, Default)]
pub struct RunReport {
    pub selected: usize,
    pub skipped: usize,
    pub done: usize,
    pub diverged: usize,
    pub failed: usize,
    /// Claimed or finished by another process meanwhile.
    pub elsewhere: usize,
}

/// Group runs into packs: runs of one shape (same `pack_key`), at most `pack_max` per pack, in
/// the order of the id-sorted list.
pub fn packs<'a>(runs: &[&'a Run], pack_max: usize) -> Vec<Vec<&'a Run>> {
    let mut groups: Vec<(String, Vec<&Run>)> = Vec::new();
    for r in runs {
        let k = crate::train::pack_key(r.config());
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(r),
            None => groups.push((k, vec![r])),
        }
    }
    groups
        .into_iter()
        .flat_map(|(_, v)| v.chunks(pack_max).map(<[&Run]>::to_vec).collect::<Vec<_>>())
        .collect()
}

/// Train (and analyse) every run of the shard that is not complete yet.
pub fn run(sweep: &Sweep, opts: &RunOptions, adapter: Option<&str>) -> Result<RunReport> {
    prepare_results(sweep)?;
    // The data, checked before spending any time on training and prepared once for every run.
    let mut refs = sweep.references();
    if let Some(r) = &mut refs {
        r.for_config(sweep.runs.get(0)?.config())?;
    }
    let (removed, resumable) = clean_stale(sweep)?;
    // Positions in the id-sorted list; runs are built one pack at a time.
    let mine: Vec<usize> = opts.shard.positions(sweep.runs.len()).collect();
    let present = listing(&sweep.runs_dir());
    let todo: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|&k| {
            let id = sweep.runs.id(k);
            !(present.contains(&id) && sweep.is_complete(&id))
        })
        .collect();
    let mut rep = RunReport {
        selected: mine.len(),
        skipped: mine.len() - todo.len(),
        ..Default::default()
    };
    let packed = sweep.runs.packs(&todo, sweep.pack_max)?;
    let total_updates: u64 = packed.iter().map(|(_, u)| *u as u64).sum();
    if !opts.quiet {
        eprintln!(
            "sweep {}: {} runs, shard {}/{} has {}: {} complete, {} to train in {} pack(s){}",
            sweep.name,
            sweep.runs.len(),
            opts.shard.index,
            opts.shard.count,
            mine.len(),
            rep.skipped,
            todo.len(),
            packed.len(),
            match (removed, resumable) {
                (0, 0) => String::new(),
                (r, 0) => format!(" ({r} stale partial run(s) removed)"),
                (0, k) =>
                    format!(" ({k} stale partial run(s) to continue from their training state)"),
                (r, k) => format!(
                    " ({r} stale partial run(s) removed, {k} to continue from their training state)"
                ),
            }
        );
    }
    let bar = sweep_bar(total_updates, opts.quiet);
    let t0 = Instant::now();
    for (positions, _) in &packed {
        let built: Vec<Run> = positions
            .iter()
            .map(|&k| sweep.runs.get(k))
            .collect::<Result<_>>()?;
        let planned: Vec<&Run> = built.iter().collect();
        let planned = &planned;
        bar.set_prefix(format!(
            "runs {}/{}",
            rep.skipped + rep.done + rep.diverged + rep.failed + rep.elsewhere,
            mine.len()
        ));
        // The runs of the pack that no other process trains or has finished meanwhile.
        let mut pack: Vec<&Run> = Vec::new();
        let mut claims = Vec::new();
        for r in planned {
            match crate::claim::try_claim(&sweep.claims_dir(), &r.id)? {
                Some(c) if sweep.is_complete(&r.id) => {
                    c.release();
                    rep.elsewhere += 1;
                }
                Some(c) => {
                    pack.push(r);
                    claims.push(c);
                }
                None => rep.elsewhere += 1,
            }
        }
        if pack.is_empty() {
            bar.inc(planned[0].config().updates as u64);
            continue;
        }
        let tmp: Vec<PathBuf> = pack.iter().map(|r| tmp_run_dir(sweep, &r.id)).collect();
        // A fresh folder of our own, or the partial run of a process now gone (continued from
        // its training state): anything already at our name (a planted link included) is not
        // ours, and is neither used nor removed.
        if let Some((d, e)) = pack.iter().zip(&tmp).find_map(|(r, d)| {
            let made = match adopt_partial(sweep, &r.id, d) {
                Ok(true) => Ok(()),
                Ok(false) => std::fs::create_dir(d),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            made.err().map(|e| (d, e))
        }) {
            for d2 in tmp.iter().take_while(|d2| *d2 != d) {
                let _ = std::fs::remove_dir_all(d2);
            }
            claims.into_iter().for_each(crate::claim::Claim::release);
            return Err(Error::Input(format!(
                "{}: cannot create this process's temporary run folder: {e}",
                d.display()
            )));
        }
        let members: Vec<Member> = pack
            .iter()
            .zip(&tmp)
            .map(|(r, d)| {
                let c = r.config();
                Member {
                    seed: c.seeds[0],
                    init_seed: c.init_seed_for(c.seeds[0]),
                    lr: c.lr,
                    g0: c.g0,
                    activity_l2: c.activity_l2,
                    dir: d.clone(),
                }
            })
            .collect();
        let outcome = crate::train::train_members(pack[0].config(), &members, adapter, &bar, true);
        let outcomes = match outcome {
            Ok(o) => o,
            Err(e) => {
                std::fs::create_dir_all(sweep.failed_dir())
                    .map_err(|er| io_err(&sweep.failed_dir(), er))?;
                for (r, d) in pack.iter().zip(&tmp) {
                    let _ = std::fs::remove_dir_all(d); // our own fresh folder
                    crate::io::write_atomic(
                        &sweep.failed_dir().join(format!("{}.txt", r.id)),
                        format!("{e}\n").as_bytes(),
                    )?;
                }
                rep.failed += pack.len();
                claims.into_iter().for_each(crate::claim::Claim::release);
                bar.suspend(|| eprintln!("pack of {} run(s) failed: {e}", pack.len()));
                continue;
            }
        };
        for (((r, d), o), claim) in pack.iter().zip(&tmp).zip(outcomes).zip(claims) {
            let dest = sweep.run_dir(&r.id);
            // An error names the run's final folder, never the temporary one.
            let analysis_error = match &mut refs {
                Some(r) => crate::analysis::analyze_with(std::slice::from_ref(d), r)
                    .err()
                    .map(|e| {
                        e.to_string()
                            .replace(&d.display().to_string(), &dest.display().to_string())
                    }),
                None => None,
            };
            let rec = RunRecord {
                id: r.id.clone(),
                values: typed_values(&r.values),
                status: if o.diverged_at.is_some() {
                    "diverged".into()
                } else {
                    "done".into()
                },
                diverged_at: o.diverged_at,
                final_loss: Some(o.summary.final_loss).filter(|v| v.is_finite()),
                final_eval_error: Some(o.summary.final_eval_error).filter(|v| v.is_finite()),
                seconds: o.summary.seconds,
                analysis_error,
            };
            let json =
                serde_json::to_string_pretty(&rec).map_err(|e| Error::Runtime(e.to_string()))?;
            crate::io::write_atomic(&d.join("run.json"), json.as_bytes())?;
            // The rename is the commit point: before it the run is absent, after it complete.
            let mut c = r.config.clone();
            c.out = dest.clone();
            crate::io::write_atomic(
                &d.join("config.toml"),
                toml::to_string(&c)
                    .map_err(|e| Error::Runtime(e.to_string()))?
                    .as_bytes(),
            )?;
            if dest.exists() {
                std::fs::remove_dir_all(d).map_err(|e| io_err(d, e))?; // finished elsewhere meanwhile
            } else {
                std::fs::rename(d, &dest).map_err(|e| io_err(&dest, e))?;
            }
            let _ = std::fs::remove_file(sweep.failed_dir().join(format!("{}.txt", r.id)));
            claim.release();
            if o.diverged_at.is_some() {
                rep.diverged += 1;
            } else {
                rep.done += 1;
            }
            let line = format!(
                "run {} ({}) {}: eval error {}",
                r.id,
                r.values
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                rec.status,
                rec.final_eval_error
                    .map(|v| format!("{v:.5}"))
                    .unwrap_or_else(|| "-".into())
            );
            if bar.is_hidden() {
                if !opts.quiet {
                    eprintln!("{line}");
                }
            } else {
                bar.println(line);
            }
        }
    }
    bar.finish_and_clear();
    if !opts.quiet {
        eprintln!(
            "shard {}/{}: {} trained, {} diverged, {} failed, {} already complete, {} trained by other processes, in {:.1} s",
            opts.shard.index,
            opts.shard.count,
            rep.done,
            rep.diverged,
            rep.failed,
            rep.skipped,
            rep.elsewhere,
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(rep)
}

fn sweep_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} {elapsed_precise} [{bar:30}] {pos}/{len} pack-updates ({per_sec}, ETA {eta}) {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

// ---------------------------------------------------------------------------------------------
// Status, Slurm submission
// ---------------------------------------------------------------------------------------------

/// Counts of `sweep status`.
#[derive(Debug, Default, Serialize)]
pub struct Status {
    pub total: usize,
    pub done: usize,
    pub diverged: usize,
    pub failed: usize,
    /// Partial runs being trained now (live process here, or on another host).
    pub running: usize,
    /// Partial runs whose process on this host is gone (removed by the next `sweep run`).
    pub stale: usize,
    pub pending: usize,
}

/// The names in folder `dir` (none when it cannot be read).
fn listing(dir: &Path) -> std::collections::HashSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn status(sweep: &Sweep) -> Status {
    let mut s = Status {
        total: sweep.runs.len(),
        ..Default::default()
    };
    // A run is being trained while its claim's owner lives; a partial run of a dead owner is
    // stale. (The owner's start time tells a reused pid apart.)
    let mut in_progress: BTreeMap<String, bool> = BTreeMap::new();
    let me = Owner::me();
    if let Ok(rd) = std::fs::read_dir(sweep.tmp_dir()) {
        for e in rd.flatten() {
            if let Some((id, owner)) = parse_tmp(&e.file_name().to_string_lossy()) {
                let live = owner != me
                    && crate::claim::holder(&sweep.claims_dir(), &id).is_some()
                    && owner.alive();
                *in_progress.entry(id).or_insert(false) |= live;
            }
        }
    }
    // The folders are listed once: a run that is in neither listing is not looked up.
    let (present, failed) = (listing(&sweep.runs_dir()), listing(&sweep.failed_dir()));
    for k in 0..sweep.runs.len() {
        let id = sweep.runs.id(k);
        let record = present.contains(&id).then(|| sweep.record(&id)).flatten();
        match record {
            Some(rec) if rec.status == "diverged" => s.diverged += 1,
            Some(_) => s.done += 1,
            None => match in_progress.get(&id) {
                Some(true) => s.running += 1,
                Some(false) => s.stale += 1,
                None if failed.contains(&format!("{id}.txt"))
                    && sweep.failed_dir().join(format!("{id}.txt")).exists() =>
                {
                    s.failed += 1
                }
                None => s.pending += 1,
            },
        }
    }
    s
}

/// Options of `sweep submit`.
pub struct SubmitOptions {
    pub partition: Option<String>,
    pub time: String,
    pub gpus_per_task: usize,
    pub cpus_per_task: usize,
    pub runs_per_task: usize,
    /// Write the script but do not call sbatch.
    pub dry_run: bool,
}

/// `--time` in one of Slurm's forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (or
/// UNLIMITED / INFINITE).
pub fn check_slurm_time(t: &str) -> Result<()> {
    let num = |p: &str| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit());
    let ok = ["unlimited", "infinite"].contains(&t.to_ascii_lowercase().as_str())
        || match t.split_once('-') {
            Some((d, rest)) => {
                num(d) && {
                    let p: Vec<&str> = rest.split(':').collect();
                    p.len() <= 3 && p.iter().all(|x| num(x))
                }
            }
            None => {
                let p: Vec<&str> = t.split(':').collect();
                p.len() <= 3 && p.iter().all(|x| num(x))
            }
        };
    if !ok {
        return Err(Error::Input(format!(
            "--time {t:?}: expected one of Slurm's forms MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS"
        )));
    }
    Ok(())
}

/// `--partition`: one name or a comma list of names of letters, digits, `_`, `.`, `-`.
pub fn check_partition(p: &str) -> Result<()> {
    let name = |n: &str| {
        !n.is_empty()
            && !n.starts_with('-')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    };
    if !p.split(',').all(name) {
        return Err(Error::Input(format!(
            "--partition {p:?}: expected a partition name or a comma list of them (letters, digits, '_', '.', '-')"
        )));
    }
    Ok(())
}

/// Write the sbatch array script; returns (its path, number of array tasks).
pub fn write_sbatch(sweep: &Sweep, o: &SubmitOptions) -> Result<(PathBuf, usize)> {
    if o.runs_per_task == 0 || o.cpus_per_task == 0 {
        return Err(Error::Input(
            "--runs-per-task and --cpus-per-task must be at least 1".into(),
        ));
    }
    check_slurm_time(&o.time)?;
    if let Some(p) = &o.partition {
        check_partition(p)?;
    }
    let abs = |p: &Path| std::path::absolute(p).map_err(|e| io_err(p, e));
    let results = abs(&sweep.results)?;
    let slurm = results.join("slurm");
    std::fs::create_dir_all(&slurm).map_err(|e| io_err(&slurm, e))?;
    let tasks = sweep.runs.len().div_ceil(o.runs_per_task).max(1);
    let exe = std::env::current_exe()
        .map_err(|e| Error::Runtime(format!("cannot find the snnlab executable: {e}")))?;
    let cwd = std::env::current_dir()
        .map_err(|e| Error::Runtime(format!("no working directory: {e}")))?;
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    // `#SBATCH` values: sbatch reads them with its own double-quote rule, so a path with a '"'
    // or a control character cannot be written safely and is refused.
    let sq = |p: &Path| -> Result<String> {
        let t = p.display().to_string();
        if t.contains(|c: char| c == '"' || c.is_control()) {
            return Err(Error::Input(format!(
                "{t:?}: a path with '\"' or a control character cannot go into an sbatch script"
            )));
        }
        Ok(format!("\"{t}\""))
    };
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# snnlab sweep '{}': {} runs in {tasks} array tasks (written by `snnlab sweep submit`)\n",
        sweep.name,
        sweep.runs.len()
    ));
    s.push_str(&format!(
        "#SBATCH --job-name=snnlab-{}\n#SBATCH --array=0-{}\n",
        sweep.name,
        tasks - 1
    ));
    s.push_str(&format!(
        "#SBATCH --time={}\n#SBATCH --cpus-per-task={}\n#SBATCH --ntasks=1\n",
        o.time, o.cpus_per_task
    ));
    if let Some(p) = &o.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if o.gpus_per_task > 0 {
        s.push_str(&format!("#SBATCH --gpus-per-task={}\n", o.gpus_per_task));
    }
    s.push_str(&format!(
        "#SBATCH --output={}\n#SBATCH --chdir={}\n",
        sq(&slurm.join("%A_%a.out"))?,
        sq(&cwd)?
    ));
    // A preempted (or failed node's) task is queued again and continues where it stopped: runs
    // done are skipped and a partial run resumes from its training state; its log is appended to.
    s.push_str("#SBATCH --requeue\n#SBATCH --open-mode=append\n");
    s.push_str("set -euo pipefail\n");
    s.push_str(&format!(
        "exec {} sweep run {} --results {} --shard \"$((SLURM_ARRAY_TASK_ID - ${{SLURM_ARRAY_TASK_MIN:-0}}))/{tasks}\"\n",
        q(&exe),
        q(&abs(&sweep.path)?),
        q(&results)
    ));
    let path = slurm.join("sweep.sbatch");
    crate::io::write_atomic(&path, s.as_bytes())?;
    Ok((path, tasks))
}

/// Write the script and submit it; returns the job id.
pub fn submit(sweep: &Sweep, o: &SubmitOptions) -> Result<(PathBuf, usize, Option<String>)> {
    let (path, tasks) = write_sbatch(sweep, o)?;
    if o.dry_run {
        return Ok((path, tasks, None));
    }
    let out = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(|e| {
            Error::Runtime(format!(
                "cannot run sbatch (is Slurm installed and on PATH?): {e}"
            ))
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Runtime(format!(
            "sbatch failed: {}",
            err.lines().next().unwrap_or("no message")
        )));
    }
    let id = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    let jobs = path.with_file_name("jobs.txt");
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&jobs)
        .map_err(|e| io_err(&jobs, e))?;
    writeln!(f, "{id}").map_err(|e| io_err(&jobs, e))?;
    Ok((path, tasks, Some(id)))
}

/// (job id, task state counts) from `squeue` for the jobs this sweep submitted; `None` when
/// squeue is not available.
pub fn slurm_jobs(sweep: &Sweep) -> Option<Vec<(String, BTreeMap<String, usize>)>> {
    let text = std::fs::read_to_string(sweep.results.join("slurm/jobs.txt")).ok()?;
    let mut out = Vec::new();
    for id in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let o = std::process::Command::new("squeue")
            .args(["-h", "-r", "-j", id, "-o", "%T"])
            .output()
            .ok()?;
        let mut counts = BTreeMap::new();
        for st in String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            *counts.entry(st.to_string()).or_insert(0) += 1;
        }
        out.push((id.to_string(), counts));
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Merge and report
// ---------------------------------------------------------------------------------------------

fn read_scores(dir: &Path) -> Vec<CheckpointScore> {
    std::fs::read_to_string(dir.join("analysis.csv"))
        .map(|text| CheckpointScore::parse_csv(&text))
        .unwrap_or_default()
}

/// Every checkpoint of a run scored in each of `metrics` (outer index = metric): the rows of
/// its `analysis.csv` in that metric, else — when the sweep has data — scored now (without
/// touching the run's folder); a metric with neither is empty.
fn scores_by_metric(
    dir: &Path,
    metrics: &[Metric],
    refs: Option<&mut crate::analysis::References>,
) -> Result<Vec<Vec<CheckpointScore>>> {
    let on_disk = read_scores(dir);
    let mut out: Vec<Vec<CheckpointScore>> = metrics
        .iter()
        .map(|m| {
            let name = m.registry_name();
            on_disk
                .iter()
                .filter(|s| s.metric == name)
                .cloned()
                .collect()
        })
        .collect();
    let absent: Vec<usize> = (0..metrics.len()).filter(|&k| out[k].is_empty()).collect();
    if let (Some(refs), false) = (refs, absent.is_empty())
        && dir.join("config.toml").is_file()
        && crate::analysis::checkpoints(dir).is_ok()
    {
        let asked: Vec<Metric> = absent.iter().map(|&k| metrics[k].clone()).collect();
        let r = crate::analysis::score_run(dir, refs, &asked)?;
        for (k, (_, scores)) in absent.into_iter().zip(r.by_metric) {
            out[k] = scores;
        }
    }
    Ok(out)
}

/// (update, eval_error) of every checkpoint from `checkpoints.csv`.
fn read_eval(dir: &Path) -> Vec<(usize, f64)> {
    crate::io::read_csv_columns(&dir.join("checkpoints.csv"), 0, 2)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One network of a merged sweep, as `model_pairs.csv` needs it.
#[derive(Clone, Debug)]
struct PairNetwork {
    run: String,
    dir: PathBuf,
    /// The run's position in `sweep.runs` (its config is built when a pair needs it).
    run_index: usize,
    seed: u64,
    /// Axis values in the sweep's axis order.
    values: Vec<String>,
    /// (update, accuracy) in update order.
    checkpoints: Vec<(usize, f64)>,
}

/// `model_pairs.csv`: for every level and every two networks that pair along axis `compare`
/// (equal on the axes `match_axes`, as in paired.csv), the DSA score between the two
/// networks' activity at their first checkpoint with accuracy >= level (the checkpoint the
/// first crossing of SPEC §10 ends at), each run on its task's analysis trials. Columns:
/// `metric`, `level`, `axis`, `a`, `b`, the matched axes, `run_a`, `seed_a`, `update_a`,
/// `accuracy_a`, the same for b, `score`. Pairs where either network never reaches the level
/// are left out.
fn model_pairs_csv(
    sweep: &Sweep,
    nets: &[PairNetwork],
    levels: &[f64],
    compare: usize,
    match_axes: &[usize],
    metric: &Metric,
) -> Result<String> {
    use rayon::prelude::*;
    let Metric::Dsa {
        settings,
        score,
        iters,
    } = metric
    else {
        return Err(Error::Runtime("model_pairs.csv is a DSA table".into()));
    };
    let mut head = vec!["metric", "level", "axis", "a", "b"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    head.extend(match_axes.iter().map(|&i| csv_field(&sweep.axes[i])));
    head.extend(
        [
            "run_a",
            "seed_a",
            "update_a",
            "accuracy_a",
            "run_b",
            "seed_b",
            "update_b",
            "accuracy_b",
            "score",
        ]
        .map(String::from),
    );
    let mut out = head.join(",") + "\n";
    let mut values: Vec<String> = nets.iter().map(|n| n.values[compare].clone()).collect();
    values.sort();
    values.dedup();
    crate::stats::sort_values(&mut values);
    let first_at = |n: &PairNetwork, level: f64| -> Option<(usize, f64)> {
        n.checkpoints.iter().find(|c| c.1 >= level).copied()
    };
    // (level, a, b, network a, network b) in table order.
    let mut jobs: Vec<(f64, &str, &str, usize, usize)> = Vec::new();
    for &level in levels {
        for (i, a) in values.iter().enumerate() {
            for b in &values[i + 1..] {
                for (ia, na) in nets.iter().enumerate() {
                    if na.values[compare] != *a || first_at(na, level).is_none() {
                        continue;
                    }
                    for (ib, nb) in nets.iter().enumerate() {
                        if nb.values[compare] == *b
                            && match_axes.iter().all(|&m| na.values[m] == nb.values[m])
                            && first_at(nb, level).is_some()
                        {
                            jobs.push((level, a, b, ia, ib));
                        }
                    }
                }
            }
        }
    }
    // Each checkpoint's DMD once, however many pairs and levels it is in.
    let mut wanted: Vec<(usize, usize)> = jobs
        .iter()
        .flat_map(|&(level, _, _, ia, ib)| {
            [
                (ia, first_at(&nets[ia], level).expect("reached").0),
                (ib, first_at(&nets[ib], level).expect("reached").0),
            ]
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let dmds: Vec<crate::dsa::Dmd> = wanted
        .par_iter()
        .map(|&(ni, update)| {
            let n = &nets[ni];
            let path = n
                .dir
                .join(format!("seed{}/update{update:04}.safetensors", n.seed));
            let config = sweep.runs.get(n.run_index)?.config;
            let task = crate::evaluate::AnalysisTask::for_config(&config)?;
            let model = crate::io::load_any_model(&path)?;
            let run = crate::evaluate::run_any_full(
                &task,
                &model,
                config.spiking_settings().tau_filter_ms,
            )?;
            crate::dsa::fit_dmd(run.activity.view(), &path.display().to_string(), settings)
        })
        .collect::<Result<_>>()?;
    let dmd_of =
        |ni: usize, update: usize| &dmds[wanted.binary_search(&(ni, update)).expect("fitted")];
    let scores: Vec<f64> = jobs
        .par_iter()
        .map(|&(level, _, _, ia, ib)| {
            let (ua, ub) = (
                first_at(&nets[ia], level).expect("reached").0,
                first_at(&nets[ib], level).expect("reached").0,
            );
            Ok(crate::dsa::compare(dmd_of(ia, ua), dmd_of(ib, ub), *score, *iters)?.score)
        })
        .collect::<Result<_>>()?;
    for ((level, a, b, ia, ib), sc) in jobs.iter().zip(scores) {
        let (na, nb) = (&nets[*ia], &nets[*ib]);
        let (ua, acc_a) = first_at(na, *level).expect("reached");
        let (ub, acc_b) = first_at(nb, *level).expect("reached");
        let mut f = vec![
            metric.registry_name(),
            level.to_string(),
            csv_field(&sweep.axes[compare]),
            csv_field(a),
            csv_field(b),
        ];
        f.extend(match_axes.iter().map(|&m| csv_field(&na.values[m])));
        f.extend([
            na.run.clone(),
            na.seed.to_string(),
            ua.to_string(),
            acc_a.to_string(),
            nb.run.clone(),
            nb.seed.to_string(),
            ub.to_string(),
            acc_b.to_string(),
            sc.to_string(),
        ]);
        out.push_str(&(f.join(",") + "\n"));
    }
    Ok(out)
}

/// What `merge` found and wrote.
pub struct Merged {
    pub csv: PathBuf,
    pub report: PathBuf,
    pub matched: PathBuf,
    pub attribution: PathBuf,
    /// `paired.csv`, when there is an axis to compare.
    pub paired: Option<PathBuf>,
    /// `model_pairs.csv`, when a DSA metric is asked and there is an axis to compare.
    pub model_pairs: Option<PathBuf>,
    pub runs: usize,
    pub rows: usize,
    pub missing: usize,
}

/// The statistics `merge` computes beside the merged table (SPEC §10).
#[derive(Clone, Debug)]
pub struct MergeOptions {
    /// Matched accuracy levels.
    pub levels: Vec<f64>,
    /// The axis of `paired.csv`; `None`: `rule` when it is an axis.
    pub compare: Option<String>,
    /// The report's closest checkpoint is chosen among checkpoints at or above this accuracy.
    pub min_accuracy: f64,
    /// The metrics of merged.csv and the tables (the first is the report's); metrics a run's
    /// analysis.csv lacks are scored from its checkpoints against the sweep's data.
    pub metrics: Vec<Metric>,
}

/// Default accuracy floor of the "closest checkpoint" tables.
pub const DEFAULT_MIN_ACCURACY: f64 = 0.9;

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            levels: crate::stats::DEFAULT_LEVELS.to_vec(),
            compare: None,
            min_accuracy: DEFAULT_MIN_ACCURACY,
            metrics: vec![Metric::PROCRUSTES],
        }
    }
}

/// A network's run id, axis values and closest checkpoint (update, accuracy, distance) at or
/// above the accuracy floor.
pub type ClosestCheckpoint = (String, Vec<String>, Option<(usize, f64, f64)>);

/// One CSV row per (run, checkpoint) of every complete run, the matched-accuracy, attribution
/// and paired tables beside it, and the sweep report.
pub fn merge(
    sweep: &Sweep,
    csv_out: Option<&Path>,
    report_out: Option<&Path>,
    opts: &MergeOptions,
) -> Result<Merged> {
    let compare = match &opts.compare {
        Some(a) => Some(sweep.axes.iter().position(|x| x == a).ok_or_else(|| {
            Error::Input(format!(
                "--compare: '{a}' is not an axis of {} (axes: {})",
                sweep.path.display(),
                sweep.axes.join(", ")
            ))
        })?),
        None => sweep.axes.iter().position(|x| x == "rule"),
    };
    let mut head: Vec<String> = vec!["run".into()];
    head.extend(sweep.axes.iter().cloned());
    // The network seed is a column of its own unless it is an axis already.
    let seed_col = !sweep.axes.iter().any(|a| a == "seed");
    head.push("status".into());
    if seed_col {
        head.push("seed".into());
    }
    // analysis.csv's columns after its seed, with the training log's eval_error after the metric.
    let (own, scores) = crate::analysis::ANALYSIS_COLUMNS[1..].split_at(2);
    head.extend(
        own.iter()
            .chain(&["eval_error"])
            .chain(scores)
            .map(|c| c.to_string()),
    );
    if opts.metrics.is_empty() {
        return Err(Error::Input("--metric: no metric given".into()));
    }
    let mut refs = sweep.references();
    let mut csv = head.join(",") + "\n";
    let (mut rows, mut runs, mut missing) = (0, 0, 0);
    // Per network: (run id, axis values, closest checkpoint at or above the floor).
    let mut best: Vec<ClosestCheckpoint> = Vec::new();
    // Per metric, per network.
    let mut networks_by: Vec<Vec<crate::stats::Network>> = vec![Vec::new(); opts.metrics.len()];
    // Per network (the order of `networks_by`'s): where its checkpoints are, for model_pairs.csv.
    let mut network_runs: Vec<PairNetwork> = Vec::new();
    let present = listing(&sweep.runs_dir());
    for (k, r) in (0..sweep.runs.len()).map(|k| (k, sweep.runs.info(k))) {
        let Some(rec) = present
            .contains(&r.id)
            .then(|| sweep.record(&r.id))
            .flatten()
        else {
            missing += 1;
            continue;
        };
        runs += 1;
        let dir = sweep.run_dir(&r.id);
        let by_metric = scores_by_metric(&dir, &opts.metrics, refs.as_mut())?;
        let scores = by_metric[0].clone();
        let evals = read_eval(&dir);
        let values: Vec<String> = sweep
            .axes
            .iter()
            .map(|a| {
                r.values
                    .iter()
                    .find(|(k, _)| k == a)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect();
        // The same values as CSV fields (a missing axis is empty either way).
        let axis_vals: Vec<String> = values.iter().map(|v| csv_field(v)).collect();
        let mut emit = |update: usize, ev: Option<f64>, s: Option<&CheckpointScore>| {
            let f = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
            let seed = if seed_col {
                format!("{},", r.seed())
            } else {
                String::new()
            };
            let axes = if axis_vals.is_empty() {
                String::new()
            } else {
                format!("{},", axis_vals.join(","))
            };
            // NaN (undefined) written as an empty field, as the tables beside it.
            let g = |v: Option<f64>| f(v.filter(|x| !x.is_nan()));
            csv.push_str(&format!(
                "{},{axes}{},{seed}{},{},{},{},{},{},{},{},{},{},{},{}\n",
                r.id,
                rec.status,
                update,
                s.map(|s| csv_field(&s.metric)).unwrap_or_default(),
                f(ev),
                f(s.map(|s| s.accuracy)),
                f(s.and_then(|s| s.percent_correct)),
                f(s.map(|s| s.loss)),
                f(s.map(|s| s.distance)),
                g(s.map(|s| s.normalised_distance)),
                g(s.map(|s| s.cka)),
                g(s.map(|s| s.baseline)),
                g(s.map(|s| s.split_half_floor)),
                f(s.map(|s| s.participation_ratio)),
            ));
            rows += 1;
        };
        if scores.is_empty() {
            for (u, e) in &evals {
                emit(*u, Some(*e), None);
            }
        } else {
            for (i, s) in scores.iter().enumerate() {
                let ev = evals.iter().find(|(u, _)| *u == s.update).map(|(_, e)| *e);
                emit(s.update, ev, Some(s));
                for other in by_metric[1..].iter() {
                    // The same checkpoint in the other metric (same order when scored together).
                    let o = other
                        .get(i)
                        .filter(|o| (o.seed, o.update) == (s.seed, s.update))
                        .or_else(|| {
                            other
                                .iter()
                                .find(|o| (o.seed, o.update) == (s.seed, s.update))
                        });
                    if let Some(o) = o {
                        emit(s.update, ev, Some(o));
                    }
                }
            }
        }
        let mut seeds: Vec<u64> = by_metric.iter().flatten().map(|s| s.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        for seed in seeds {
            let mut own: Vec<&CheckpointScore> = scores.iter().filter(|s| s.seed == seed).collect();
            own.sort_by_key(|s| s.update);
            let closest = own
                .iter()
                .filter(|s| s.distance.is_finite() && s.accuracy >= opts.min_accuracy)
                .min_by(|a, b| a.distance.total_cmp(&b.distance))
                .map(|s| (s.update, s.accuracy, s.distance));
            best.push((r.id.clone(), values.clone(), closest));
            network_runs.push(PairNetwork {
                run: r.id.clone(),
                dir: dir.clone(),
                run_index: k,
                seed,
                values: values.clone(),
                // Accuracy is the same in every metric: any metric that has the checkpoints.
                checkpoints: {
                    let any = by_metric
                        .iter()
                        .find(|m| m.iter().any(|s| s.seed == seed))
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    let mut c: Vec<(usize, f64)> = any
                        .iter()
                        .filter(|s| s.seed == seed)
                        .map(|s| (s.update, s.accuracy))
                        .collect();
                    c.sort_by_key(|x| x.0);
                    c
                },
            });
            for (k, scores) in by_metric.iter().enumerate() {
                let mut own: Vec<&CheckpointScore> =
                    scores.iter().filter(|s| s.seed == seed).collect();
                own.sort_by_key(|s| s.update);
                networks_by[k].push(crate::stats::Network {
                    values: values.clone(),
                    checkpoints: own.iter().map(|s| (s.accuracy, s.distance)).collect(),
                });
            }
        }
    }
    for (m, nets) in opts.metrics.iter().zip(&networks_by) {
        if runs > 0 && nets.iter().all(|n| n.checkpoints.is_empty()) {
            eprintln!(
                "warning: no run has scores in {}: no analysis.csv holds them{}",
                m.registry_name(),
                if sweep.data.is_none() {
                    " and the sweep has no data to score them against"
                } else {
                    ""
                }
            );
        }
    }
    let csv_path = csv_out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| sweep.results.join("merged.csv"));
    // Nothing run yet: the results folder does not exist, and the empty tables go there.
    if csv_out.is_none() || report_out.is_none() {
        std::fs::create_dir_all(&sweep.results).map_err(|e| io_err(&sweep.results, e))?;
    }
    crate::io::write_atomic(&csv_path, csv.as_bytes())?;

    // Statistics across networks, beside the merged table.
    let is_seed = |a: &str| a == "seed" || a == "init_seed";
    let group_idx: Vec<usize> = (0..sweep.axes.len())
        .filter(|&i| !is_seed(&sweep.axes[i]))
        .collect();
    let group_names: Vec<String> = group_idx.iter().map(|&i| sweep.axes[i].clone()).collect();
    let match_idx: Option<Vec<usize>> = compare.map(|c| {
        let zipped = sweep.zip_axes.contains(&sweep.axes[c]);
        (0..sweep.axes.len())
            .filter(|&i| i != c && !(zipped && sweep.zip_axes.contains(&sweep.axes[i])))
            .collect()
    });
    // Every table per metric: a section of the report each, and one block each of the CSVs.
    let sections: Vec<crate::report::sweep_report::MetricSection> = opts
        .metrics
        .iter()
        .zip(&networks_by)
        .map(|(m, nets)| {
            let name = m.registry_name();
            crate::report::sweep_report::MetricSection {
                metric: m,
                networks: nets,
                matched: crate::stats::with_metric(
                    crate::stats::matched(nets, &opts.levels, &group_idx),
                    &name,
                ),
                attribution: crate::stats::with_metric(
                    crate::stats::attribution(&sweep.axes, nets, &opts.levels),
                    &name,
                ),
                paired: match (compare, &match_idx) {
                    (Some(c), Some(mi)) => Some(crate::stats::with_metric(
                        crate::stats::paired(&sweep.axes, nets, &opts.levels, c, mi),
                        &name,
                    )),
                    _ => None,
                },
            }
        })
        .collect();
    // DSA between paired networks' checkpoints at each level (issue 14: the dynamics comparison).
    let model_pairs_path = match (compare, &match_idx) {
        (Some(c), Some(mi)) => {
            let dsa: Vec<&Metric> = opts
                .metrics
                .iter()
                .filter(|m| matches!(m, Metric::Dsa { .. }))
                .collect();
            if dsa.is_empty() {
                None
            } else {
                let mut text = String::new();
                for (k, m) in dsa.iter().enumerate() {
                    let t = model_pairs_csv(sweep, &network_runs, &opts.levels, c, mi, m)?;
                    // One header for every DSA metric's block.
                    text.push_str(if k == 0 {
                        &t
                    } else {
                        t.split_once('\n').map_or("", |x| x.1)
                    });
                }
                let p = csv_path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("model_pairs.csv");
                crate::io::write_atomic(&p, text.as_bytes())?;
                Some(p)
            }
        }
        _ => None,
    };
    let all_matched: Vec<_> = sections.iter().flat_map(|s| s.matched.clone()).collect();
    let all_attribution: Vec<_> = sections
        .iter()
        .flat_map(|s| s.attribution.clone())
        .collect();
    let dir = csv_path.parent().unwrap_or(Path::new("."));
    let matched_path = dir.join("matched.csv");
    crate::io::write_atomic(
        &matched_path,
        crate::stats::matched_csv(&group_names, &all_matched).as_bytes(),
    )?;
    let attribution_path = dir.join("attribution.csv");
    crate::io::write_atomic(
        &attribution_path,
        crate::stats::attribution_csv(&all_attribution).as_bytes(),
    )?;
    let paired_path = match compare {
        Some(_) => {
            let p = dir.join("paired.csv");
            let all_paired: Vec<_> = sections
                .iter()
                .flat_map(|s| s.paired.clone().unwrap_or_default())
                .collect();
            crate::io::write_atomic(&p, crate::stats::paired_csv(&all_paired).as_bytes())?;
            Some(p)
        }
        None => None,
    };

    let report_path = report_out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| sweep.results.join("report.html"));
    crate::report::sweep_report::write(
        &crate::report::sweep_report::SweepReport {
            sweep,
            runs,
            missing,
            sections: &sections,
            best: &best,
            group_names: &group_names,
            levels: &opts.levels,
            min_accuracy: opts.min_accuracy,
        },
        &report_path,
    )?;
    Ok(Merged {
        csv: csv_path,
        report: report_path,
        matched: matched_path,
        attribution: attribution_path,
        paired: paired_path,
        model_pairs: model_pairs_path,
        runs,
        rows,
        missing,
    })
}
