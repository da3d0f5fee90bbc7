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
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::analysis::CheckpointScore;
use crate::claim::Owner;
use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::plot::{Chart, Mark, esc};
use crate::train::{Member, TrainConfig};

/// Memory of one expanded run (its config, id and axis values), for the grid-size check; about
/// 900 bytes measured on a 10^6-run grid.
const RUN_BYTES: u64 = 1024;

fn d_pack_max() -> usize {
    64
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Option<String>,
    results: Option<PathBuf>,
    data: Option<String>,
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
    pub pack_max: usize,
    /// Axis names, in the order of the merged table's columns.
    pub axes: Vec<String>,
    /// The axes of the `[zip]` group (stepped together, so never crossed with one another).
    pub zip_axes: Vec<String>,
    /// Every run, sorted by id.
    pub runs: Vec<Run>,
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
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The id of a run: a hash of its resolved settings without `out` and `device`.
pub fn run_id(cfg: &TrainConfig) -> String {
    let mut v = serde_json::to_value(cfg).expect("configs serialise");
    if let Some(m) = v.as_object_mut() {
        m.remove("out");
        m.remove("device");
    }
    // serde_json's map is ordered by key: the text is canonical.
    format!("{:016x}", fnv1a(v.to_string().as_bytes()))
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Sweep {
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
        // The grid's size, refused before it is expanded when its runs could not fit in memory.
        let lengths: Vec<u64> = factors.iter().map(|fac| fac.len() as u64).collect();
        let n_runs = crate::io::budget::product(&lengths);
        crate::io::budget::check(
            &format!(
                "the grid of {} runs ({})",
                n_runs.map_or("more than 2^64".into(), |n| n.to_string()),
                lengths
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" × ")
            ),
            n_runs.and_then(|n| n.checked_mul(RUN_BYTES)),
        )
        .map_err(|e| bad(e.to_string()))?;
        let mut combos: Vec<Vec<(String, toml::Value)>> = vec![vec![]];
        for fac in &factors {
            combos = combos
                .iter()
                .flat_map(|c| {
                    fac.iter().map(move |choice| {
                        c.iter().cloned().chain(choice.iter().cloned()).collect()
                    })
                })
                .collect();
        }
        let results = f
            .results
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs/sweeps").join(&name));
        let mut runs = Vec::with_capacity(combos.len());
        for combo in combos {
            let mut t = f.base.clone();
            let mut seed = toml::Value::Integer(1);
            for (k, v) in &combo {
                if k == "seed" {
                    seed = v.clone();
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
            let label: Vec<String> = combo
                .iter()
                .map(|(k, v)| format!("{k}={}", value_text(v)))
                .collect();
            let Some(s) = seed.as_integer().filter(|s| *s >= 0) else {
                return Err(bad(format!("seed {seed} is not a non-negative integer")));
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
                        bad(format!(
                            "run {}: {}",
                            label.join(" "),
                            e.message().lines().next().unwrap_or("invalid setting")
                        ))
                    })?;
            // File tasks' paths are relative to the sweep file's folder.
            cfg.resolve(path.parent().unwrap_or(Path::new("")), batch_size_given)
                .and_then(|()| cfg.validate())
                .map_err(|e| bad(format!("run {}: {e}", label.join(" "))))?;
            let id = run_id(&cfg);
            let values = combo
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect();
            runs.push(Run {
                id,
                values,
                config: cfg,
            });
        }
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(w) = runs.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(bad(format!(
                "two runs have the same settings ({}): an axis repeats a value",
                w[0].values
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
        let task = runs
            .first()
            .map(|r| r.config().task)
            .unwrap_or(crate::train::TaskKind::Reach);
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
    /// `SLURM_ARRAY_TASK_COUNT`; `None` outside an array job.
    pub fn from_slurm_env() -> Result<Option<Shard>> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
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
    pub fn select<'a>(&self, runs: &'a [Run]) -> Vec<&'a Run> {
        runs.iter()
            .enumerate()
            .filter(|(k, _)| k % self.count == self.index)
            .map(|(_, r)| r)
            .collect()
    }
}

/// A temporary run directory's (id, owner) from its name `<id>.<host>.<pid>.<start>`.
fn parse_tmp(name: &str) -> Option<(String, Owner)> {
    let (id, tag) = name.split_once('.')?;
    Some((id.to_string(), Owner::from_tag(tag)?))
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
/// program gives are touched (a link is never followed). Returns how many were removed.
fn clean_stale(sweep: &Sweep) -> Result<usize> {
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir(sweep.tmp_dir()) else {
        return Ok(0);
    };
    let here = crate::claim::hostname();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((id, owner)) = parse_tmp(&name) else {
            continue;
        };
        let is_dir = std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_dir());
        let gone = if owner.host == here {
            !owner.alive()
        } else {
            sweep.is_complete(&id)
                && crate::claim::holder(&sweep.claims_dir(), &id).is_none_or(|h| h != owner)
        };
        if is_dir && gone {
            std::fs::remove_dir_all(e.path()).map_err(|er| io_err(&e.path(), er))?;
            n += 1;
        }
    }
    crate::claim::clean_private(&sweep.claims_dir());
    Ok(n)
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
    let mut refs = sweep.data.as_deref().map(crate::analysis::References::new);
    if let Some(r) = &mut refs {
        r.for_config(sweep.runs[0].config())?;
    }
    let removed = clean_stale(sweep)?;
    let mine = opts.shard.select(&sweep.runs);
    let todo: Vec<&Run> = mine
        .iter()
        .copied()
        .filter(|r| !sweep.is_complete(&r.id))
        .collect();
    let mut rep = RunReport {
        selected: mine.len(),
        skipped: mine.len() - todo.len(),
        ..Default::default()
    };
    let packed = packs(&todo, sweep.pack_max);
    let total_updates: u64 = packed.iter().map(|p| p[0].config().updates as u64).sum();
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
            if removed > 0 {
                format!(" ({removed} stale partial run(s) removed)")
            } else {
                String::new()
            }
        );
    }
    let bar = sweep_bar(total_updates, opts.quiet);
    let t0 = Instant::now();
    for planned in &packed {
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
        // A fresh folder of our own: anything already at the name (a planted link included) is
        // not ours, and is neither used nor removed.
        if let Some((d, e)) = tmp
            .iter()
            .find_map(|d| std::fs::create_dir(d).err().map(|e| (d, e)))
        {
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
    for r in &sweep.runs {
        match sweep.record(&r.id) {
            Some(rec) if rec.status == "diverged" => s.diverged += 1,
            Some(_) => s.done += 1,
            None => match in_progress.get(&r.id) {
                Some(true) => s.running += 1,
                Some(false) => s.stale += 1,
                None if sweep.failed_dir().join(format!("{}.txt", r.id)).exists() => s.failed += 1,
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
    let Ok(text) = std::fs::read_to_string(dir.join("checkpoints.csv")) else {
        return vec![];
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.first()?.parse().ok()?, f.get(2)?.parse().ok()?))
        })
        .collect()
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
    config: TrainConfig,
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
            let task = crate::evaluate::AnalysisTask::for_config(&n.config)?;
            let model = crate::io::load_any_model(&path)?;
            let run = crate::evaluate::run_any_full(
                &task,
                &model,
                n.config.spiking_settings().tau_filter_ms,
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
    head.extend(
        [
            "update",
            "metric",
            "eval_error",
            "accuracy",
            "percent_correct",
            "loss",
            "distance",
            "normalised_distance",
            "cka",
            "baseline",
            "split_half_floor",
            "participation_ratio",
        ]
        .map(String::from),
    );
    if opts.metrics.is_empty() {
        return Err(Error::Input("--metric: no metric given".into()));
    }
    let mut refs = sweep.data.as_deref().map(crate::analysis::References::new);
    let mut csv = head.join(",") + "\n";
    let (mut rows, mut runs, mut missing) = (0, 0, 0);
    // Per axis: value → (accuracy, distance) points.
    let mut groups: Vec<BTreeMap<String, Vec<(f64, f64)>>> =
        vec![BTreeMap::new(); sweep.axes.len()];
    // Per network: (run id, axis values, closest checkpoint at or above the floor).
    let mut best: Vec<(String, Vec<String>, Option<(usize, f64, f64)>)> = Vec::new();
    // Per metric, per network.
    let mut networks_by: Vec<Vec<crate::stats::Network>> = vec![Vec::new(); opts.metrics.len()];
    // Per network (the order of `networks_by`'s): where its checkpoints are, for model_pairs.csv.
    let mut network_runs: Vec<PairNetwork> = Vec::new();
    for r in &sweep.runs {
        let Some(rec) = sweep.record(&r.id) else {
            missing += 1;
            continue;
        };
        runs += 1;
        let dir = sweep.run_dir(&r.id);
        let by_metric = scores_by_metric(&dir, &opts.metrics, refs.as_mut())?;
        let scores = by_metric[0].clone();
        let evals = read_eval(&dir);
        let axis_vals: Vec<String> = sweep
            .axes
            .iter()
            .map(|a| {
                r.values
                    .iter()
                    .find(|(k, _)| k == a)
                    .map(|(_, v)| csv_field(v))
                    .unwrap_or_default()
            })
            .collect();
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
        for (ai, a) in sweep.axes.iter().enumerate() {
            let v = r
                .values
                .iter()
                .find(|(k, _)| k == a)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            groups[ai].entry(format!("{a}={v}")).or_default().extend(
                scores
                    .iter()
                    .filter(|s| s.accuracy >= 0.0)
                    .map(|s| (s.accuracy, s.distance)),
            );
        }
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
                config: r.config.clone(),
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
    let networks = networks_by[0].clone();
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
    // Every table per metric, the metrics' blocks one after another; the report shows the first.
    let (mut all_matched, mut all_attribution, mut all_paired) =
        (Vec::new(), Vec::new(), Vec::new());
    for (m, nets) in opts.metrics.iter().zip(&networks_by) {
        let name = m.registry_name();
        all_matched.extend(crate::stats::with_metric(
            crate::stats::matched(nets, &opts.levels, &group_idx),
            &name,
        ));
        all_attribution.extend(crate::stats::with_metric(
            crate::stats::attribution(&sweep.axes, nets, &opts.levels),
            &name,
        ));
        if let (Some(c), Some(mi)) = (compare, &match_idx) {
            all_paired.extend(crate::stats::with_metric(
                crate::stats::paired(&sweep.axes, nets, &opts.levels, c, mi),
                &name,
            ));
        }
    }
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
    let first = opts.metrics[0].registry_name();
    let matched: Vec<_> = all_matched
        .iter()
        .filter(|r| r.metric == first)
        .cloned()
        .collect();
    let attribution: Vec<_> = all_attribution
        .iter()
        .filter(|r| r.metric == first)
        .cloned()
        .collect();
    let paired: Option<Vec<_>> = compare.map(|_| {
        all_paired
            .iter()
            .filter(|r| r.metric == first)
            .cloned()
            .collect()
    });
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
    let paired_path = match &paired {
        Some(_) => {
            let p = dir.join("paired.csv");
            crate::io::write_atomic(&p, crate::stats::paired_csv(&all_paired).as_bytes())?;
            Some(p)
        }
        None => None,
    };

    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>snnlab sweep report</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>",
    );
    html.push_str(&format!(
        "<h1>Sweep {}</h1><p>snnlab {}; {runs} of {} runs complete ({missing} missing), {} networks.</p>",
        esc(&sweep.name),
        env!("CARGO_PKG_VERSION"),
        sweep.runs.len(),
        networks.len()
    ));
    if runs == 0 {
        html.push_str("<p>No run is complete yet: run <code>snnlab sweep run</code> on this sweep first. The tables below are empty.</p>");
    }
    let (baseline, floor) = match &sweep.data {
        Some(d) => {
            let mut refs = crate::analysis::References::new(d);
            let r = refs.for_config(sweep.runs[0].config())?;
            (Some(r.baseline), Some(r.floor))
        }
        None => (None, None),
    };
    if baseline.is_none() {
        html.push_str("<p>No neural data configured: no distances to show.</p>");
    }
    html.push_str(&format!(
        "<h2>Distance at matched accuracy</h2><p>Each network's distance at an accuracy level is read where its accuracy first reaches the level (linear between the two checkpoints around the crossing); networks that never reach it are counted as missing. Mean over networks, sd (n − 1), sem, and a 95 % bootstrap percentile interval ({} seeded resamples of the networks). Written to matched.csv.</p>{}",
        crate::stats::BOOTSTRAP_RESAMPLES,
        crate::stats::matched_html(&first, &group_names, &matched)
    ));
    html.push_str(&format!(
        "<h2>Attribution: share of variance per axis</h2><p>One-way eta² (between-group over total sum of squares of the matched distances, over the networks that reach the level), with 95 % bootstrap CIs. Written to attribution.csv.</p>{}",
        crate::stats::attribution_html(&attribution)
    ));
    if let Some(rows) = &paired {
        html.push_str(&format!(
            "<h2>Paired differences</h2><p>Networks that agree on every other axis (axes zipped with the compared one excepted); p from a two-sided sign-flip permutation test (exact up to {} pairs, else {} seeded flips). Written to paired.csv.</p>{}",
            crate::stats::EXACT_MAX_PAIRS,
            crate::stats::PERMUTATION_FLIPS,
            crate::stats::paired_html(rows)
        ));
    }
    for (ai, a) in sweep.axes.iter().enumerate() {
        // Seeds are spread, not a factor to colour by; a zip group is one factor, drawn once.
        if baseline.is_none()
            || is_seed(a)
            || sweep
                .zip_axes
                .first()
                .is_some_and(|z| z != a && sweep.zip_axes.contains(a))
        {
            continue;
        }
        let mut ch = Chart::new(
            &format!("Distance to neural data vs accuracy, by {a}"),
            "accuracy",
            "distance (angular Procrustes)",
        );
        ch.hlines = vec![
            (
                baseline.unwrap_or(f64::NAN),
                "cross-condition baseline".into(),
            ),
            (floor.unwrap_or(f64::NAN), "split-half floor".into()),
        ];
        for (label, pts) in &groups[ai] {
            ch.add(label, pts.clone(), Mark::Points);
        }
        html.push_str(&format!("<div>{}</div>", ch.svg(900.0, 420.0)));
    }
    if !best.is_empty() {
        html.push_str(&format!(
            "<h2>Closest checkpoint of each network (accuracy ≥ {})</h2><table><tr><th>run</th>",
            opts.min_accuracy
        ));
        for a in &sweep.axes {
            html.push_str(&format!("<th>{}</th>", esc(a)));
        }
        html.push_str("<th>update</th><th>accuracy</th><th>distance</th>");
        for l in &opts.levels {
            html.push_str(&format!("<th>distance at accuracy {l}</th>"));
        }
        html.push_str("</tr>");
        let order: Vec<usize> = {
            let mut o: Vec<usize> = (0..best.len()).collect();
            let key = |i: &usize| best[*i].2.map_or(f64::INFINITY, |b| b.2);
            o.sort_by(|a, b| key(a).total_cmp(&key(b)));
            o
        };
        for i in order {
            let (id, vals, closest) = &best[i];
            html.push_str(&format!("<tr><td>{id}</td>"));
            for v in vals {
                html.push_str(&format!("<td>{}</td>", esc(v)));
            }
            match closest {
                Some((u, acc, dist)) => {
                    html.push_str(&format!("<td>{u}</td><td>{acc:.4}</td><td>{dist:.4}</td>"))
                }
                None => html.push_str(&format!(
                    "<td colspan=\"3\">no checkpoint at accuracy ≥ {}</td>",
                    opts.min_accuracy
                )),
            }
            for &l in &opts.levels {
                html.push_str(
                    &match crate::stats::distance_at(&networks[i].checkpoints, l) {
                        Some(d) => format!("<td>{d:.4}</td>"),
                        None => "<td>not reached</td>".into(),
                    },
                );
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    let report_path = report_out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| sweep.results.join("report.html"));
    crate::io::write_atomic(&report_path, html.as_bytes())?;
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
