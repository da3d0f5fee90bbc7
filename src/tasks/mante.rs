//! The Mante et al. 2013 context-dependent integration task: the authors' fixed batch of 72
//! conditions (2 contexts × 6 motion × 6 colour coherences), T = 113 steps of 15 ms, read from
//! `data/paper/mante_task_72conditions.npz` (see data/paper/README.md).
//!
//! Inputs `[72, 113, 9]` (each step's vector has unit L2 norm); targets are classes per step
//! (0 = fixate, 1 or 2 = choice), cross-entropy over every step whose `output_mask` is 1.
//!
//! [`generate`] rebuilds that batch from its coherence levels ([`PAPER_COHERENCES`]): the same
//! numbers (bit for bit), targets and trial order. The trial order is the order of the neural
//! conditions of `crate::neural::load_mante_units` (see [`conditions`]).

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use ndarray::{Array0, Array1, Array2, Array3, Axis};

use crate::batch::{Batch, LossKind};
use crate::error::{Result, input_err};
use crate::io::Npz;

/// One step (bin) of the task, ms.
pub const DT_MS: f64 = 15.0;
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
    super::data_dir()
        .join("paper")
        .join("mante_task_72conditions.npz")
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
    let mut npz = Npz::open(path)?;
    let names = npz.names.clone();
    let has = |n: &str| names.iter().any(|m| m == n);

    let inputs: Array3<f64> = npz.read_f64_as("inputs")?;
    let targets: Array2<f64> = npz.read_f64_as("targets")?;
    let (b, t, _) = inputs.dim();
    if targets.dim() != (b, t) {
        return Err(input_err(
            path,
            format!(
                "targets has shape {:?}, expected [B, T] = [{b}, {t}] to match inputs",
                targets.shape()
            ),
        ));
    }
    let mask: Array2<f64> = if has("output_mask") {
        npz.read_f64_as("output_mask")?
    } else if has("mask") {
        npz.read_f64_as("mask")?
    } else {
        Array2::ones((b, t))
    };
    if mask.dim() != (b, t) {
        return Err(input_err(
            path,
            format!(
                "output_mask has shape {:?}, expected [{b}, {t}]",
                mask.shape()
            ),
        ));
    }
    if inputs
        .iter()
        .chain(targets.iter())
        .chain(mask.iter())
        .any(|v| !v.is_finite())
    {
        return Err(input_err(
            path,
            "inputs, targets or output_mask contains NaN or infinity",
        ));
    }
    if let Some(c) = targets.iter().find(|&&c| c < 0.0 || c.fract() != 0.0) {
        return Err(input_err(
            path,
            format!("targets holds {c}, not a class index"),
        ));
    }

    let mut read_vec = |name: &str| -> Result<Array1<f64>> {
        if has(name) {
            npz.read_f64_as(name)
        } else {
            Ok(Array1::zeros(0))
        }
    };
    let context = read_vec("trial_context")?;
    let coh_motion = read_vec("trial_coh_motion")?;
    let coh_color = read_vec("trial_coh_color")?;
    let ground_truth = read_vec("trial_ground_truth")?;
    let mut read_index = |name: &str, default: usize| -> Result<usize> {
        if !has(name) {
            return Ok(default);
        }
        let a: Array0<f64> = npz.read_f64_as(name)?;
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
    Ok((
        batch,
        ManteInfo {
            context,
            coh_motion,
            coh_color,
            ground_truth,
            recording_start,
            recording_stop,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Generator: rebuilds the fixed batch from its coherences (tests/cpu/mante_generator.rs checks
// that it reproduces mante_task_72conditions.npz bit for bit).
// ---------------------------------------------------------------------------------------------

/// The coherence levels of the bundled batch, for motion and for colour alike.
pub const PAPER_COHERENCES: [f64; 6] = [-0.5, -0.17, -0.06, 0.06, 0.17, 0.5];
/// Epochs (0-based step ranges, end exclusive) at dt = 15 ms: fixation 350 ms, stimulus 750 ms,
/// delay 300 ms, decision 300 ms.
pub const FIXATION: std::ops::Range<usize> = 0..23;
pub const STIMULUS: std::ops::Range<usize> = 23..73;
pub const DELAY: std::ops::Range<usize> = 73..93;
pub const DECISION: std::ops::Range<usize> = 93..113;
/// Input channels.
pub const IN_FIXATION: usize = 0;
pub const IN_MOTION_LEFT: usize = 1;
pub const IN_MOTION_RIGHT: usize = 2;
pub const IN_COLOR_RED: usize = 3;
pub const IN_COLOR_GREEN: usize = 4;
/// Context one-hot: `[1, 0]` motion context (`context = +1`), `[0, 1]` colour (`context = -1`).
pub const IN_CONTEXT: [usize; 2] = [5, 6];
/// Colour-target order one-hot, `[0, 1]` in every trial (left target red, right target green).
pub const IN_TARGET_ORDER: [usize; 2] = [7, 8];

/// One condition of the task. `context`: +1 motion context, −1 colour context (the authors'
/// coding, also the Mante 2013 data's). Coherences: +1 all rightward / all green, −1 all leftward /
/// all red.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Condition {
    pub context: f64,
    pub coh_motion: f64,
    pub coh_color: f64,
}

impl Condition {
    /// Correct choice class: 2 if the relevant evidence favours right (motion) / green (colour;
    /// left target red, right target green), else 1 (zero coherence → 1). Computed from the
    /// dot proportions, as the authors' environment does.
    pub fn ground_truth(&self) -> usize {
        let right = (self.coh_motion + 1.0) / 2.0;
        let left = 1.0 - right;
        let green = (self.coh_color + 1.0) / 2.0;
        let red = 1.0 - green;
        let favours_2 = if self.context > 0.0 {
            right > left
        } else {
            green > red
        };
        if favours_2 { 2 } else { 1 }
    }
}

/// Every (context, motion, colour) combination, in the batch's order: sorted by
/// (ground truth, motion coherence, colour coherence, context), which is the order of the
/// authors' neural conditions sorted by (targ_dir, stim_dir, stim_col2dir, context).
pub fn conditions(cohs_motion: &[f64], cohs_color: &[f64]) -> Vec<Condition> {
    let mut all = Vec::with_capacity(2 * cohs_motion.len() * cohs_color.len());
    for &context in &[-1.0, 1.0] {
        for &coh_motion in cohs_motion {
            for &coh_color in cohs_color {
                all.push(Condition {
                    context,
                    coh_motion,
                    coh_color,
                });
            }
        }
    }
    let key = |c: &Condition| (c.ground_truth(), c.coh_motion, c.coh_color, c.context);
    all.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(ka.2.total_cmp(&kb.2))
            .then(ka.3.total_cmp(&kb.3))
    });
    all
}

/// The batch of every condition of `cohs_motion × cohs_color × {colour, motion}` context, in the
/// order of [`conditions`]; `generate(&PAPER_COHERENCES, &PAPER_COHERENCES)` is the bundled file.
pub fn generate(cohs_motion: &[f64], cohs_color: &[f64]) -> Batch {
    generate_trials(&conditions(cohs_motion, cohs_color)).0
}

/// [`generate`] with the per-trial labels.
pub fn generate_with_info(cohs_motion: &[f64], cohs_color: &[f64]) -> (Batch, ManteInfo) {
    generate_trials(&conditions(cohs_motion, cohs_color))
}

/// One trial per given condition (no noise), as the authors' environment in test/record mode with
/// the context shown from fixation on and colour targets `[0, 1]`:
/// - steps 0–92: fixation 1 and the context one-hot; steps 23–72: left/right motion evidence
///   `(1 ∓ coh_motion)/2` and red/green colour evidence `(1 ∓ coh_color)/2`; every step: target
///   order `[0, 1]`. Values are computed in f64 and stored as f32.
/// - each step's vector is divided by its L2 norm, in f32 (sum of squares in channel order,
///   `sqrt`, divide), then kept as f64.
/// - targets: 0 before the decision epoch, the ground truth (1 or 2) during it; mask all ones.
pub fn generate_trials(conds: &[Condition]) -> (Batch, ManteInfo) {
    let b = conds.len();
    let mut inputs = Array3::<f64>::zeros((b, N_STEPS, N_INPUTS));
    let mut targets = Array3::<f64>::zeros((b, N_STEPS, 1));
    for (i, c) in conds.iter().enumerate() {
        let right = (c.coh_motion + 1.0) / 2.0;
        let left = 1.0 - right;
        let green = (c.coh_color + 1.0) / 2.0;
        let red = 1.0 - green;
        let ctx: [f32; 2] = if c.context > 0.0 {
            [1.0, 0.0]
        } else {
            [0.0, 1.0]
        };
        let gt = c.ground_truth() as f64;
        for t in 0..N_STEPS {
            let mut v = [0f32; N_INPUTS];
            if t < DECISION.start {
                v[IN_FIXATION] = 1.0;
                v[IN_CONTEXT[0]] = ctx[0];
                v[IN_CONTEXT[1]] = ctx[1];
            }
            if STIMULUS.contains(&t) {
                v[IN_MOTION_LEFT] = left as f32;
                v[IN_MOTION_RIGHT] = right as f32;
                v[IN_COLOR_RED] = red as f32;
                v[IN_COLOR_GREEN] = green as f32;
            }
            v[IN_TARGET_ORDER[0]] = 0.0;
            v[IN_TARGET_ORDER[1]] = 1.0;
            let mut ss = 0f32;
            for x in v {
                ss += x * x;
            }
            let norm = ss.sqrt();
            for (k, x) in v.iter().enumerate() {
                inputs[[i, t, k]] = f64::from(x / norm);
            }
            if DECISION.contains(&t) {
                targets[[i, t, 0]] = gt;
            }
        }
    }
    let info = ManteInfo {
        context: conds.iter().map(|c| c.context).collect(),
        coh_motion: conds.iter().map(|c| c.coh_motion).collect(),
        coh_color: conds.iter().map(|c| c.coh_color).collect(),
        ground_truth: conds.iter().map(|c| c.ground_truth() as f64).collect(),
        recording_start: *RECORDING_STEPS.start(),
        recording_stop: *RECORDING_STEPS.end() + 1,
    };
    let batch = Batch {
        inputs,
        targets,
        mask: Array3::ones((b, N_STEPS, 1)),
        loss: LossKind::Ce,
    };
    (batch, info)
}
