//! Neural recordings as `[neurons, T, C]` arrays (SPEC §5, §6): `.npy`, `.npz`, MATLAB v5/v7
//! `.mat`, and a directory in the layout of the Mante et al. 2013 release (one `.mat` per unit).
//!
//! Every problem with the data is an [`Error::Input`](crate::error::Error) (exit status 2) whose
//! one-line message names the file and the mismatch.
//!
//! # The Mante 2013 per-unit layout and the paper's recipe
//! Each file holds a struct `unit` with `response [trials × samples]` (1 ms samples: 751 in the
//! release, 100–850 ms after stimulus onset) and `task_variable` with one value per trial in
//! `targ_dir` (correct target, −1/+1), `stim_dir` (signed motion coherence), `stim_col2dir` (signed
//! colour coherence, towards the target direction), `context` (+1 motion, −1 colour) and `correct`
//! (0/1). An optional `unit.time` (seconds) gives the sample period; without it, 1 ms.
//! [`load_mante_units`] follows the preprocessing of Liu, Yang & Cueva 2025 (their
//! `Mante13Dataset`):
//! 1. trials are grouped by the exact tuple (targ_dir, stim_dir, stim_col2dir, context), and the
//!    groups sorted by that tuple;
//! 2. a condition with any incorrect trial (`correct == 0`) is dropped whole;
//! 3. each condition's trials are averaged sample by sample;
//! 4. the average is binned at 15 ms: `n_bins = floor(samples · dt_ms / 15)` (50 for 751 samples),
//!    bin `k` = mean of samples `w·k … w·k + w − 1` with `w = floor(samples / n_bins)` (15): bins
//!    cover samples 0–749, the last sample (750) is not used. The 50 bins are aligned with model
//!    steps 23..=72 (the stimulus epoch of [`crate::tasks::mante`]);
//! 5. only units with exactly 72 remaining conditions are kept, and (a check the authors' code
//!    leaves implicit) those 72 must be the full grid of 6 stim_dir levels × 6 stim_col2dir levels
//!    × 2 contexts, with targ_dir = −1 exactly where the task's ground truth is choice 1.
//!
//! Sessions use different coherence levels; conditions are matched by rank. Condition `c` of the
//! result is trial `c` of `mante_task_72conditions.npz` ([`crate::tasks::mante::conditions`]):
//! targ_dir −1/+1 ↔ ground truth 1/2, the unit's i-th smallest stim_dir level ↔ the i-th motion
//! coherence (−0.5, −0.17, −0.06, 0.06, 0.17, 0.5), likewise stim_col2dir ↔ colour coherence, and
//! context ↔ `trial_context` unchanged. Sorting by (targ_dir, stim_dir, stim_col2dir, context) is
//! the batch's order, sorted by (ground truth, motion, colour, context). Units are stacked in file
//! name order (the authors used directory order; the distances of §5 do not depend on it).

pub mod mat;

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, ArrayD, Ix3, ShapeBuilder};

use crate::error::{Result, input_err};
use crate::tasks::mante;
use mat::MatValue;

/// The array name picked when a file holds several.
pub const FIRING_RATE: &str = "firing_rate";
/// Bin width of the Mante recipe (the task's dt), ms.
pub const MANTE_BIN_MS: f64 = 15.0;

/// Split `file.npz:name` / `file.mat:name` into the file and the variable, unless `spec` itself
/// names an existing file.
pub fn split_spec(spec: &Path) -> (PathBuf, Option<String>) {
    if spec.exists() {
        return (spec.to_path_buf(), None);
    }
    if let Some(s) = spec.to_str()
        && let Some((file, name)) = s.rsplit_once(':')
        && !file.is_empty()
        && !name.is_empty()
        && Path::new(file).is_file()
    {
        return (PathBuf::from(file), Some(name.to_string()));
    }
    (spec.to_path_buf(), None)
}

/// Load neural data `[neurons, T, C]` by extension: `.npy` (must be 3-D); `.npz` (the array
/// `firing_rate` if present, else the only 3-D array); `.mat` (the variable `firing_rate` if
/// present, else the only 3-D numeric variable; MATLAB's column-major order is converted);
/// a directory: the Mante 2013 per-unit layout ([`load_mante_units`]). `file.npz:name` or
/// `file.mat:name` picks a variable. NaN or infinity is an error naming the file.
pub fn load_neural(path: &Path) -> Result<Array3<f64>> {
    let (file, name) = split_spec(path);
    if file.is_dir() {
        if let Some(n) = name {
            return Err(input_err(
                &file,
                format!("is a directory: cannot pick variable '{n}' from it"),
            ));
        }
        return load_mante_units(&file);
    }
    if !file.exists() {
        return Err(input_err(&file, "no such file or directory"));
    }
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let (data, label) = match ext.as_str() {
        "npy" => {
            if let Some(n) = name {
                return Err(input_err(
                    &file,
                    format!("an .npy file holds one array: cannot pick '{n}'"),
                ));
            }
            let a = crate::io::read_npy_f64(&file)?;
            (to3(a, &file, "array", false)?, String::new())
        }
        "npz" => load_npz(&file, name.as_deref())?,
        "mat" => load_mat(&file, name.as_deref())?,
        _ => {
            return Err(input_err(
                &file,
                "unknown neural data format (expected .npy, .npz, .mat, or a directory of Mante 2013 per-unit .mat files)",
            ));
        }
    };
    check_finite_named(&data, &file, &label)?;
    Ok(data)
}

/// A 3-D array or an error naming `what` and its shape.
fn to3(a: ArrayD<f64>, path: &Path, what: &str, matlab: bool) -> Result<Array3<f64>> {
    let shape = a.shape().to_vec();
    if shape.len() != 3 {
        let hint = if matlab && shape.len() == 2 {
            " (MATLAB drops a trailing axis of length 1: C = 1 cannot be stored as 3-D)"
        } else {
            ""
        };
        return Err(input_err(
            path,
            format!(
                "{what} has {} axes {shape:?}, expected 3 [neurons, T, C]{hint}",
                shape.len()
            ),
        ));
    }
    a.into_dimensionality::<Ix3>()
        .map_err(|e| input_err(path, format!("{what}: {e}")))
}

fn load_npz(path: &Path, name: Option<&str>) -> Result<(Array3<f64>, String)> {
    let names = crate::io::npz_names(path)?;
    let pick = match name {
        Some(n) => n.to_string(),
        None if names.iter().any(|n| n == FIRING_RATE) => FIRING_RATE.to_string(),
        None => {
            let mut three = Vec::new();
            let mut listing = Vec::new();
            for n in &names {
                let a = crate::io::read_npz_f64(path, n)?;
                listing.push(format!("{n} {:?}", a.shape()));
                if a.ndim() == 3 {
                    three.push(n.clone());
                }
            }
            match three.len() {
                1 => three.remove(0),
                0 => {
                    return Err(input_err(
                        path,
                        format!(
                            "no 3-D array [neurons, T, C] (arrays: {}); name one {FIRING_RATE} or pick it with FILE.npz:NAME",
                            if listing.is_empty() {
                                "none".into()
                            } else {
                                listing.join(", ")
                            }
                        ),
                    ));
                }
                _ => {
                    return Err(input_err(
                        path,
                        format!(
                            "several 3-D arrays ({}); pick one with FILE.npz:NAME or name it {FIRING_RATE}",
                            three.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    let a = crate::io::read_npz_f64(path, &pick)?;
    Ok((to3(a, path, &format!("array '{pick}'"), false)?, pick))
}

fn load_mat(path: &Path, name: Option<&str>) -> Result<(Array3<f64>, String)> {
    let vars = mat::read_mat(path)?;
    let listing = || {
        let l: Vec<String> = vars
            .iter()
            .map(|v| format!("{} ({} {})", v.name, v.value.class(), v.value.dims_text()))
            .collect();
        if l.is_empty() {
            "none".to_string()
        } else {
            l.join(", ")
        }
    };
    let pick = match name {
        Some(n) => match vars.iter().find(|v| v.name == n) {
            Some(v) => v,
            None => {
                return Err(input_err(
                    path,
                    format!("no variable named '{n}' (variables: {})", listing()),
                ));
            }
        },
        None => match vars.iter().find(|v| v.name == FIRING_RATE) {
            Some(v) => v,
            None => {
                let three: Vec<_> = vars
                    .iter()
                    .filter(|v| {
                        matches!(v.value, MatValue::Numeric { .. }) && v.value.dims().len() == 3
                    })
                    .collect();
                match three.len() {
                    1 => three[0],
                    0 => {
                        return Err(input_err(
                            path,
                            format!(
                                "no 3-D numeric variable [neurons, T, C] (variables: {}); name one {FIRING_RATE} or pick it with FILE.mat:NAME",
                                listing()
                            ),
                        ));
                    }
                    _ => {
                        let names: Vec<&str> = three.iter().map(|v| v.name.as_str()).collect();
                        return Err(input_err(
                            path,
                            format!(
                                "several 3-D numeric variables ({}); pick one with FILE.mat:NAME or name it {FIRING_RATE}",
                                names.join(", ")
                            ),
                        ));
                    }
                }
            }
        },
    };
    let what = format!("variable '{}'", pick.name);
    let MatValue::Numeric {
        dims,
        data,
        complex,
        ..
    } = &pick.value
    else {
        return Err(input_err(
            path,
            format!(
                "{what} is a {} {}, not a numeric array",
                pick.value.class(),
                pick.value.dims_text()
            ),
        ));
    };
    if *complex {
        return Err(input_err(
            path,
            format!("{what} is complex, expected real numbers"),
        ));
    }
    let a = column_major(dims, data.clone(), path, &what)?;
    Ok((to3(a, path, &what, true)?, pick.name.clone()))
}

/// A MATLAB (column-major) array as a standard-layout ndarray of the same shape.
fn column_major(dims: &[usize], data: Vec<f64>, path: &Path, what: &str) -> Result<ArrayD<f64>> {
    let a = ArrayD::from_shape_vec(dims.to_vec().f(), data)
        .map_err(|e| input_err(path, format!("{what}: {e}")))?;
    Ok(a.as_standard_layout().into_owned())
}

/// NaN or infinity anywhere is an error naming the file and the first bad entry.
pub fn check_finite(data: &Array3<f64>, path: &Path) -> Result<()> {
    check_finite_named(data, path, "")
}

fn check_finite_named(data: &Array3<f64>, path: &Path, array: &str) -> Result<()> {
    let bad = data.indexed_iter().filter(|(_, v)| !v.is_finite());
    let mut count = 0usize;
    let mut first = None;
    for (idx, v) in bad {
        count += 1;
        if first.is_none() {
            first = Some((idx, *v));
        }
    }
    if let Some(((n, t, c), v)) = first {
        let what = if array.is_empty() {
            String::new()
        } else {
            format!("array '{array}' ")
        };
        let kind = if v.is_nan() { "NaN" } else { "infinity" };
        return Err(input_err(
            path,
            format!(
                "{what}holds {kind} at [neuron {n}, time bin {t}, condition {c}] ({count} non-finite value{} in all)",
                if count == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(())
}

/// The data must have `t` time bins and `c` conditions (the model's), at least one neuron, and no
/// NaN/infinity. Message e.g. `data.npy: has 100 time bins but the model gives 121`.
pub fn check_shape(data: &Array3<f64>, path: &Path, t: usize, c: usize) -> Result<()> {
    check_shape_for(data, path, t, c, "the model")
}

/// [`check_shape`] with the model named in messages, e.g. `"the reach task's model"`.
pub fn check_shape_for(
    data: &Array3<f64>,
    path: &Path,
    t: usize,
    c: usize,
    model: &str,
) -> Result<()> {
    let (n, dt, dc) = data.dim();
    if dt != t {
        return Err(input_err(
            path,
            format!("has {dt} time bins but {model} gives {t} (data must be [neurons, {t}, {c}])"),
        ));
    }
    if dc != c {
        return Err(input_err(
            path,
            format!("has {dc} conditions but {model} gives {c} (data must be [neurons, {t}, {c}])"),
        ));
    }
    if n == 0 {
        return Err(input_err(path, "has no neurons (axis 0 is empty)"));
    }
    check_finite(data, path)
}

/// What happened to one unit file of a Mante directory.
#[derive(Clone, Debug)]
pub struct UnitOutcome {
    pub file: PathBuf,
    /// Kept in the result (its row index is the count of kept units before it).
    pub kept: bool,
    /// Conditions left after dropping the ones with an incorrect trial.
    pub n_conditions: usize,
    /// Why it was dropped (empty when kept).
    pub reason: String,
}

/// The Mante 2013 release layout: every `*.mat` file of `dir` (in name order) is one unit;
/// returns `[units kept, 50, 72]` (see the module documentation for the recipe).
pub fn load_mante_units(dir: &Path) -> Result<Array3<f64>> {
    load_mante_units_report(dir).map(|(a, _)| a)
}

/// [`load_mante_units`] plus what happened to each file.
pub fn load_mante_units_report(dir: &Path) -> Result<(Array3<f64>, Vec<UnitOutcome>)> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| input_err(dir, format!("cannot read directory: {e}")))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for e in entries {
        let p = e
            .map_err(|e| input_err(dir, format!("cannot read directory: {e}")))?
            .path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        let is_mat = p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| x.eq_ignore_ascii_case("mat"));
        if is_mat && !hidden && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(input_err(
            dir,
            "holds no .mat files (expected the Mante 2013 per-unit layout)",
        ));
    }
    let mut rows: Vec<Array2<f64>> = Vec::new();
    let mut outcomes = Vec::new();
    let mut bins: Option<(usize, PathBuf)> = None;
    for f in files {
        let unit = read_unit(&f)?;
        let (act, n_conditions, reason) = match process_unit(&unit) {
            Ok(a) => (Some(a), mante::N_CONDITIONS, String::new()),
            Err((n, why)) => (None, n, why),
        };
        if let Some(a) = act {
            match &bins {
                Some((nb, first)) if *nb != a.nrows() => {
                    return Err(input_err(
                        &f,
                        format!(
                            "gives {} time bins but {} gives {nb} (different sampling)",
                            a.nrows(),
                            first.display()
                        ),
                    ));
                }
                None => bins = Some((a.nrows(), f.clone())),
                _ => {}
            }
            rows.push(a);
            outcomes.push(UnitOutcome {
                file: f,
                kept: true,
                n_conditions,
                reason,
            });
        } else {
            outcomes.push(UnitOutcome {
                file: f,
                kept: false,
                n_conditions,
                reason,
            });
        }
    }
    let Some((nb, _)) = bins else {
        let first = &outcomes[0];
        return Err(input_err(
            dir,
            format!(
                "no unit has all {} conditions ({} files; e.g. {}: {})",
                mante::N_CONDITIONS,
                outcomes.len(),
                first
                    .file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                first.reason
            ),
        ));
    };
    let mut out = Array3::<f64>::zeros((rows.len(), nb, mante::N_CONDITIONS));
    for (u, r) in rows.iter().enumerate() {
        out.index_axis_mut(ndarray::Axis(0), u).assign(r);
    }
    Ok((out, outcomes))
}

/// One unit file's contents.
struct Unit {
    /// `[trials, samples]`.
    response: Array2<f64>,
    targ_dir: Vec<f64>,
    stim_dir: Vec<f64>,
    stim_col2dir: Vec<f64>,
    context: Vec<f64>,
    correct: Vec<f64>,
    /// Bins of [`MANTE_BIN_MS`] and samples per bin.
    n_bins: usize,
    window: usize,
}

/// Refuse `v` (named `what` in the message) unless it is a 1×1 struct.
fn one_struct(path: &Path, v: &MatValue, what: &str) -> Result<()> {
    if !matches!(v, MatValue::Struct { .. }) || v.dims().iter().product::<usize>() != 1 {
        return Err(input_err(
            path,
            format!(
                "{what} is a {} {}, expected a 1×1 struct",
                v.class(),
                v.dims_text()
            ),
        ));
    }
    Ok(())
}

fn read_unit(path: &Path) -> Result<Unit> {
    let vars = mat::read_mat(path)?;
    let unit = vars.iter().find(|v| v.name == "unit").map(|v| &v.value).ok_or_else(|| {
        input_err(path, "has no variable 'unit' (expected the Mante 2013 per-unit layout: struct unit with response and task_variable)")
    })?;
    one_struct(path, unit, "variable 'unit'")?;
    let numeric = |v: &MatValue, what: &str| -> Result<(Vec<usize>, Vec<f64>)> {
        match v {
            MatValue::Numeric {
                dims,
                data,
                complex: false,
                ..
            } => Ok((dims.clone(), data.clone())),
            _ => Err(input_err(
                path,
                format!(
                    "{what} is a {} {}, expected a real numeric array",
                    v.class(),
                    v.dims_text()
                ),
            )),
        }
    };
    let resp = unit
        .field("response")
        .ok_or_else(|| input_err(path, "unit has no field 'response'"))?;
    let (dims, data) = numeric(resp, "unit.response")?;
    if dims.len() != 2 || dims[0] == 0 || dims[1] == 0 {
        return Err(input_err(
            path,
            format!("unit.response has shape {dims:?}, expected [trials, samples]"),
        ));
    }
    let (n_trials, n_samples) = (dims[0], dims[1]);
    let response = Array2::from_shape_vec((n_trials, n_samples).f(), data)
        .map_err(|e| input_err(path, format!("unit.response: {e}")))?
        .as_standard_layout()
        .into_owned();
    if let Some(((tr, s), v)) = response.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(input_err(
            path,
            format!("unit.response holds {v} at trial {tr}, sample {s}"),
        ));
    }
    let tv = unit
        .field("task_variable")
        .ok_or_else(|| input_err(path, "unit has no field 'task_variable'"))?;
    one_struct(path, tv, "unit.task_variable")?;
    let var = |name: &str| -> Result<Vec<f64>> {
        let what = format!("unit.task_variable.{name}");
        let v = tv
            .field(name)
            .ok_or_else(|| input_err(path, format!("{what} is missing")))?;
        let (_, d) = numeric(v, &what)?;
        if d.len() != n_trials {
            return Err(input_err(
                path,
                format!(
                    "{what} has {} values but unit.response has {n_trials} trials",
                    d.len()
                ),
            ));
        }
        if let Some(i) = d.iter().position(|x| !x.is_finite()) {
            return Err(input_err(
                path,
                format!("{what} holds {} at trial {i}", d[i]),
            ));
        }
        Ok(d)
    };
    let mut dt_ms = 1.0;
    if let Some(t) = unit.field("time") {
        let (_, d) = numeric(t, "unit.time")?;
        if d.len() >= 2 {
            dt_ms = (d[1] - d[0]) * 1000.0;
            if !(dt_ms.is_finite() && dt_ms > 0.0) {
                return Err(input_err(
                    path,
                    format!("unit.time does not increase (first step {dt_ms} ms)"),
                ));
            }
        }
    }
    // As the authors: n_bins = int(samples · dt / 15), window = samples // n_bins.
    let n_bins = (n_samples as f64 * dt_ms / MANTE_BIN_MS) as usize;
    if n_bins == 0 || n_bins > n_samples {
        return Err(input_err(
            path,
            format!(
                "unit.response has {n_samples} samples of {dt_ms} ms: cannot make {MANTE_BIN_MS} ms bins of them"
            ),
        ));
    }
    Ok(Unit {
        response,
        n_bins,
        window: n_samples / n_bins,
        targ_dir: var("targ_dir")?,
        stim_dir: var("stim_dir")?,
        stim_col2dir: var("stim_col2dir")?,
        context: var("context")?,
        correct: var("correct")?,
    })
}

/// The recipe for one unit: `[bins, 72]` in the batch's condition order, or (conditions left,
/// why it is dropped).
fn process_unit(u: &Unit) -> std::result::Result<Array2<f64>, (usize, String)> {
    // 1. group trials by the exact condition tuple; sort the groups by it.
    // Keyed by the values' bits (-0 taken as 0, as `==` does); a NaN equals nothing, so a
    // trial with one is a group of its own.
    let mut groups: Vec<([f64; 4], Vec<usize>)> = Vec::new();
    let mut index: std::collections::HashMap<[u64; 4], usize> = std::collections::HashMap::new();
    for tr in 0..u.response.nrows() {
        let key = [
            u.targ_dir[tr],
            u.stim_dir[tr],
            u.stim_col2dir[tr],
            u.context[tr],
        ];
        if key.iter().any(|v| v.is_nan()) {
            groups.push((key, vec![tr]));
            continue;
        }
        let bits = key.map(|v| if v == 0.0 { 0 } else { v.to_bits() });
        match index.entry(bits) {
            std::collections::hash_map::Entry::Occupied(g) => groups[*g.get()].1.push(tr),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(groups.len());
                groups.push((key, vec![tr]));
            }
        }
    }
    groups.sort_by(|a, b| {
        a.0.iter()
            .zip(&b.0)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    // 2. drop conditions with any incorrect trial.
    groups.retain(|(_, trials)| trials.iter().all(|&t| u.correct[t] != 0.0));
    let n = groups.len();
    if n != mante::N_CONDITIONS {
        return Err((
            n,
            format!(
                "{n} conditions with only correct trials, not {}",
                mante::N_CONDITIONS
            ),
        ));
    }
    // 5. the 72 must be the task's grid, in the batch's order.
    let levels = |k: usize| {
        let mut l: Vec<f64> = groups.iter().map(|(key, _)| key[k]).collect();
        l.sort_by(f64::total_cmp);
        l.dedup();
        l
    };
    let (motion, color) = (levels(1), levels(2));
    let expected = mante::conditions(&motion, &color);
    let matches = expected.len() == n
        && groups.iter().zip(&expected).all(|((k, _), c)| {
            let gt = if k[0] == -1.0 {
                1
            } else if k[0] == 1.0 {
                2
            } else {
                0
            };
            gt == c.ground_truth()
                && k[1] == c.coh_motion
                && k[2] == c.coh_color
                && k[3] == c.context
        });
    if !matches {
        return Err((
            n,
            format!(
                "its 72 conditions are not the task's grid ({} stim_dir levels, {} stim_col2dir levels, contexts ±1, targ_dir ±1 following the rule)",
                motion.len(),
                color.len()
            ),
        ));
    }
    // 3. average each condition's trials sample by sample; 4. bin.
    let samples = u.response.ncols();
    let (n_bins, w) = (u.n_bins, u.window);
    let mut out = Array2::<f64>::zeros((n_bins, n));
    let mut avg = vec![0f64; samples];
    for (c, (_, trials)) in groups.iter().enumerate() {
        avg.fill(0.0);
        for &tr in trials {
            for (a, &x) in avg.iter_mut().zip(u.response.row(tr)) {
                *a += x;
            }
        }
        for a in avg.iter_mut() {
            *a /= trials.len() as f64;
        }
        for k in 0..n_bins {
            out[[k, c]] = avg[k * w..(k + 1) * w].iter().sum::<f64>() / w as f64;
        }
    }
    Ok(out)
}
