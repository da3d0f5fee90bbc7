//! The Mante et al. 2013 context-dependent integration task: the authors' fixed batch of 72
//! conditions (2 contexts × 6 motion × 6 colour coherences), T = 113 steps of 15 ms, read from
//! `data/paper/mante_task_72conditions.npz` (see data/paper/README.md).
//!
//! Inputs `[72, 113, 9]` (each step's vector has unit L2 norm); targets are classes per step
//! (0 = fixate, 1 or 2 = choice), cross-entropy over every step whose `output_mask` is 1.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use ndarray::{Array0, Array1, Array2, Array3, Axis};

use crate::batch::{Batch, LossKind};
use crate::error::{input_err, Result};

pub const N_CONDITIONS: usize = 72;
pub const N_STEPS: usize = 113;
pub const N_INPUTS: usize = 9;
/// Three output classes: fixate, choice 1, choice 2.
pub const N_CLASSES: usize = 3;
/// Model steps (0-based, inclusive) aligned with the 50 bins of the neural recording.
pub const RECORDING_STEPS: RangeInclusive<usize> = 23..=72;

/// Per-trial labels stored next to the batch.
#[derive(Clone, Debug)]
pub struct ManteInfo {
    /// Context of each trial (as stored: the file's own coding).
    pub context: Array1<f64>,
    pub coh_motion: Array1<f64>,
    pub coh_color: Array1<f64>,
    pub ground_truth: Array1<f64>,
    /// Recording window, 0-based, `start..stop` (stop exclusive): 23..73 in the bundled file.
    pub recording_start: usize,
    pub recording_stop: usize,
}

/// `data_dir()/paper/mante_task_72conditions.npz`.
pub fn default_path() -> PathBuf {
    super::data_dir().join("paper").join("mante_task_72conditions.npz")
}

pub fn load_default() -> Result<(Batch, ManteInfo)> {
    load_fixed_batch(default_path())
}

/// Read the fixed batch: `inputs [B, T, n_in]`, `targets [B, T]` (class indices of any integer or
/// float dtype), `output_mask [B, T]` (optional, default ones). Returns an `Ce` batch with targets
/// and mask `[B, T, 1]`. The per-trial labels and the recording window are read when present
/// (trial labels default to empty arrays, the window to [`RECORDING_STEPS`]).
pub fn load_fixed_batch(path: impl AsRef<Path>) -> Result<(Batch, ManteInfo)> {
    let path = path.as_ref();
    let mut npz = super::open_npz(path)?;
    let names = npz.names().map_err(|e| input_err(path, format!("not a readable .npz file ({e})")))?;
    let has = |n: &str| names.iter().any(|m| m == n);

    let inputs: Array3<f64> = super::read_f64(&mut npz, path, "inputs")?;
    let targets: Array2<f64> = super::read_f64(&mut npz, path, "targets")?;
    let (b, t, _) = inputs.dim();
    if targets.dim() != (b, t) {
        return Err(input_err(
            path,
            format!("targets has shape {:?}, expected [B, T] = [{b}, {t}] to match inputs", targets.shape()),
        ));
    }
    let mask: Array2<f64> = if has("output_mask") {
        super::read_f64(&mut npz, path, "output_mask")?
    } else if has("mask") {
        super::read_f64(&mut npz, path, "mask")?
    } else {
        Array2::ones((b, t))
    };
    if mask.dim() != (b, t) {
        return Err(input_err(path, format!("output_mask has shape {:?}, expected [{b}, {t}]", mask.shape())));
    }
    if inputs.iter().chain(targets.iter()).chain(mask.iter()).any(|v| !v.is_finite()) {
        return Err(input_err(path, "inputs, targets or output_mask contains NaN or infinity"));
    }
    if let Some(c) = targets.iter().find(|&&c| c < 0.0 || c.fract() != 0.0) {
        return Err(input_err(path, format!("targets holds {c}, not a class index")));
    }

    let mut read_vec = |name: &str| -> Result<Array1<f64>> {
        if has(name) { super::read_f64(&mut npz, path, name) } else { Ok(Array1::zeros(0)) }
    };
    let context = read_vec("trial_context")?;
    let coh_motion = read_vec("trial_coh_motion")?;
    let coh_color = read_vec("trial_coh_color")?;
    let ground_truth = read_vec("trial_ground_truth")?;
    let mut read_index = |name: &str, default: usize| -> Result<usize> {
        if !has(name) {
            return Ok(default);
        }
        let a: Array0<f64> = super::read_f64(&mut npz, path, name)?;
        let v = a.into_scalar();
        if v < 0.0 || v.fract() != 0.0 {
            return Err(input_err(path, format!("{name} = {v} is not a step index")));
        }
        Ok(v as usize)
    };
    let recording_start = read_index("recording_start_index", *RECORDING_STEPS.start())?;
    let recording_stop = read_index("recording_stop_index", *RECORDING_STEPS.end() + 1)?;

    let batch = Batch {
        inputs,
        targets: targets.insert_axis(Axis(2)),
        mask: mask.insert_axis(Axis(2)),
        loss: LossKind::Ce,
    };
    Ok((batch, ManteInfo { context, coh_motion, coh_color, ground_truth, recording_start, recording_stop }))
}
