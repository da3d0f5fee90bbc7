//! The centre-out reach task of Hatsopoulos et al. 2007, as the authors' generator
//! (`generateINandTARGETOUT_Hatsopoulos2007_sincosbumpinput_holdcue`) defines it and
//! data/paper/README.md describes it ("Reach task").
//!
//! One step is 10 ms. Inputs `[B, T, 3]`: `sin(theta)·bump`, `cos(theta)·bump`, hold cue, with
//! `theta = 45°·c` for condition `c = 0…7`. Outputs `[B, T, 2]`: shoulder and elbow angle of the
//! condition, loss mse over the 0/1 mask.
//!
//! Step numbers in the README are 1-based (step 1 = index 0). For one trial, with
//! `tendhold = interval1 + 23 + interval2`:
//! - condition input: 1-based steps `interval1 + 1 ..= interval1 + 23`, i.e. 0-based indices
//!   `interval1 .. interval1 + 23`, holding `bump` times sin / cos;
//! - hold cue: 1-based steps `1 ..= tendhold`, i.e. 0-based `0 .. tendhold`, equal to 1 except its
//!   last 8 steps (0-based `tendhold - 8 .. tendhold`), which hold the reversed ramp;
//! - target: see [`OUTPUT_OFFSET`].
//!
//! # Where the kinematic target starts
//! The README says the output starts "at step `tendhold + 1 − 10`" (1-based). The authors'
//! generator writes the first kinematic sample at 1-based step `tstartoutput = tendhold + 1 +
//! toffsetoutput`, so the README's text is the generator with `toffsetoutput = −10`. This is also
//! the only reading under which the target is aligned with the go signal: the 51 kinematic samples
//! start at −100 ms, i.e. 10 bins *before* movement onset, so placing sample 0 ten steps before the
//! first step without hold cue (1-based `tendhold + 1`) puts movement onset (0 ms, sample 10)
//! exactly on that first hold-free step. We therefore read the README literally:
//! the first target sample sits at 1-based step `tendhold + 1 − 10`, i.e. at **0-based index
//! `tendhold − 10`**, and sample `s` at 0-based index `tendhold − 10 + s`. As in the generator, the
//! number of samples written is `min(51, T − tstartoutput + 1)` = `min(51, T − (tendhold − 10))`;
//! every step before the first sample has target 0 with the mask on, and the mask is 0 on every
//! step after the last written sample. (`tendhold ≥ 23`, so the start is never before step 0.)

use std::f64::consts::PI;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, Axis, s};
use rand::Rng;

use crate::batch::{Batch, LossKind};
use crate::error::{Result, input_err};
use crate::io::Npz;

/// Number of reach conditions (targets at 45° steps).
/// One step (bin) of the task, ms.
pub const DT_MS: f64 = 10.0;
pub const N_CONDITIONS: usize = 8;
/// Inputs: sin(theta)·bump, cos(theta)·bump, hold cue.
pub const N_INPUTS: usize = 3;
/// Outputs: shoulder angle, elbow angle.
pub const N_OUTPUTS: usize = 2;
/// Rising edge of the bump (the falling edge is its reverse).
pub const BUMP_ON: [f64; 8] = [0.05, 0.1, 0.2, 0.35, 0.65, 0.8, 0.9, 0.95];
/// Length of the condition bump: 8 ramp up, 7 ones, 8 ramp down.
pub const BUMP_LEN: usize = 23;
/// First kinematic sample kept, in ms relative to movement onset.
pub const DATA_T_START_MS: f64 = -100.0;
/// Offset of the first target sample from the first hold-free step (1-based `tendhold + 1`),
/// in steps: the README's `tendhold + 1 − 10`. See the module documentation.
pub const OUTPUT_OFFSET: isize = -10;
/// Training trials: T = 300 steps, 100 trials per update.
pub const TRAIN_STEPS: usize = 300;
pub const TRAIN_TRIALS: usize = 100;
/// interval1 is drawn uniformly from `0..=INTERVAL1_MAX`, interval2 from `0..=INTERVAL2_MAX`.
pub const INTERVAL1_MAX: usize = 49;
pub const INTERVAL2_MAX: usize = 149;
/// Analysis trials (SPEC §7 `evaluate`): conditions 0..7, interval1 = 25, interval2 = 105, T = 250.
pub const ANALYSIS_STEPS: usize = 250;
pub const ANALYSIS_INTERVAL1: usize = 25;
pub const ANALYSIS_INTERVAL2: usize = 105;
/// Model steps (0-based, inclusive) of the analysis trials aligned with the 121 bins of the neural
/// data (−800 … 400 ms).
pub const ANALYSIS_DATA_STEPS: RangeInclusive<usize> = 105..=225;

/// The 23-sample condition bump: ramp up, seven ones, ramp down.
pub fn bump() -> [f64; BUMP_LEN] {
    let mut b = [1.0; BUMP_LEN];
    for (i, &v) in BUMP_ON.iter().enumerate() {
        b[i] = v;
        b[BUMP_LEN - 1 - i] = v;
    }
    b
}

/// Reach angle of condition `c` in radians, computed as the generator does (`45·c·π / 180`).
pub fn theta(c: usize) -> f64 {
    (45.0 * c as f64) * PI / 180.0
}

/// One trial's condition and timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReachTrial {
    pub condition: usize,
    pub interval1: usize,
    pub interval2: usize,
}

impl ReachTrial {
    /// 1-based last step of the hold cue (= number of steps it is on): `interval1 + 23 + interval2`.
    pub fn tendhold(&self) -> usize {
        self.interval1 + BUMP_LEN + self.interval2
    }
    /// 0-based index of the first kinematic target sample: `tendhold − 10`.
    pub fn output_start(&self) -> usize {
        (self.tendhold() as isize + OUTPUT_OFFSET).max(0) as usize
    }
}

/// The training draw: condition uniform in 0..8 (trials 0..8 are conditions 0..7 when
/// `n_trials >= 8`), then per trial interval1 uniform in `0..=49` and interval2 in `0..=149`.
pub fn sample_trials(n_trials: usize, rng: &mut impl Rng) -> Vec<ReachTrial> {
    let mut conds: Vec<usize> = (0..n_trials)
        .map(|_| rng.random_range(0..N_CONDITIONS))
        .collect();
    if n_trials >= N_CONDITIONS {
        for (c, slot) in conds.iter_mut().take(N_CONDITIONS).enumerate() {
            *slot = c;
        }
    }
    conds
        .into_iter()
        .map(|condition| {
            let interval1 = rng.random_range(0..=INTERVAL1_MAX);
            let interval2 = rng.random_range(0..=INTERVAL2_MAX);
            ReachTrial {
                condition,
                interval1,
                interval2,
            }
        })
        .collect()
}

/// The deterministic analysis trials: conditions 0..7, interval1 = 25, interval2 = 105.
pub fn analysis_trials() -> Vec<ReachTrial> {
    (0..N_CONDITIONS)
        .map(|condition| ReachTrial {
            condition,
            interval1: ANALYSIS_INTERVAL1,
            interval2: ANALYSIS_INTERVAL2,
        })
        .collect()
}

/// The kinematic targets: shoulder and elbow angle `[8 conditions, 51 samples]` from −100 ms on.
#[derive(Clone, Debug)]
pub struct Reach {
    shoulder: Array2<f64>,
    elbow: Array2<f64>,
}

impl Reach {
    /// `data_dir()/neural/hatsopoulos2007/hatsopoulos2007_plain.npz`.
    pub fn default_path() -> PathBuf {
        super::data_dir()
            .join("neural")
            .join("hatsopoulos2007")
            .join("hatsopoulos2007_plain.npz")
    }
    pub fn load_default() -> Result<Reach> {
        Self::load(Self::default_path())
    }
    /// Read `shoulderangle`, `elbowangle` `[8, n_t]` and `t_ms` `[n_t]` from the plain npz and keep
    /// the samples with `t_ms >= −100` (51 for the bundled file).
    pub fn load(path: impl AsRef<Path>) -> Result<Reach> {
        let path = path.as_ref();
        let mut npz = Npz::open(path)?;
        let sh: Array2<f64> = npz.read_f64_as("shoulderangle")?;
        let el: Array2<f64> = npz.read_f64_as("elbowangle")?;
        let t: Array1<f64> = npz.read_f64_as("t_ms")?;
        if sh.dim() != el.dim() {
            return Err(input_err(
                path,
                format!(
                    "shoulderangle {:?} and elbowangle {:?} differ in shape",
                    sh.shape(),
                    el.shape()
                ),
            ));
        }
        if sh.nrows() != N_CONDITIONS {
            return Err(input_err(
                path,
                format!(
                    "shoulderangle has {} conditions, expected {N_CONDITIONS}",
                    sh.nrows()
                ),
            ));
        }
        if t.len() != sh.ncols() {
            return Err(input_err(
                path,
                format!(
                    "t_ms has {} samples but shoulderangle has {}",
                    t.len(),
                    sh.ncols()
                ),
            ));
        }
        let keep: Vec<usize> = (0..t.len()).filter(|&i| t[i] >= DATA_T_START_MS).collect();
        if keep.is_empty() {
            return Err(input_err(path, "t_ms has no sample at or after -100 ms"));
        }
        let shoulder = sh.select(Axis(1), &keep);
        let elbow = el.select(Axis(1), &keep);
        if shoulder.iter().chain(elbow.iter()).any(|v| !v.is_finite()) {
            return Err(input_err(
                path,
                "shoulderangle or elbowangle contains NaN or infinity",
            ));
        }
        Ok(Reach { shoulder, elbow })
    }
    /// Build from arrays `[8, n_samples]` already cut to start at −100 ms.
    pub fn from_arrays(shoulder: Array2<f64>, elbow: Array2<f64>) -> Reach {
        assert_eq!(shoulder.dim(), elbow.dim());
        assert_eq!(shoulder.nrows(), N_CONDITIONS);
        Reach { shoulder, elbow }
    }
    /// Shoulder angle `[8, n_samples]` (samples from −100 ms on).
    pub fn shoulder(&self) -> &Array2<f64> {
        &self.shoulder
    }
    /// Elbow angle `[8, n_samples]`.
    pub fn elbow(&self) -> &Array2<f64> {
        &self.elbow
    }
    /// Number of kinematic samples per condition (51).
    pub fn n_samples(&self) -> usize {
        self.shoulder.ncols()
    }

    /// Inputs, targets and mask of the given trials, `n_steps` steps each (events past the end of
    /// the trial are cut off).
    pub fn batch(&self, trials: &[ReachTrial], n_steps: usize) -> Batch {
        let b = trials.len();
        let t_n = n_steps;
        let mut inputs = Array3::<f64>::zeros((b, t_n, N_INPUTS));
        let mut targets = Array3::<f64>::zeros((b, t_n, N_OUTPUTS));
        let mut mask = Array3::<f64>::ones((b, t_n, N_OUTPUTS));
        let bump = bump();
        for (k, tr) in trials.iter().enumerate() {
            assert!(
                tr.condition < N_CONDITIONS,
                "reach condition {} out of range",
                tr.condition
            );
            let (sn, cs) = theta(tr.condition).sin_cos();
            // Condition bump on 0-based interval1 .. interval1 + 23.
            for (i, &bv) in bump.iter().enumerate() {
                let t = tr.interval1 + i;
                if t < t_n {
                    inputs[[k, t, 0]] = sn * bv;
                    inputs[[k, t, 1]] = cs * bv;
                }
            }
            // Hold cue on 0 .. tendhold, last 8 steps replaced by the falling ramp.
            let th = tr.tendhold();
            for t in 0..th.min(t_n) {
                inputs[[k, t, 2]] = 1.0;
            }
            for i in 0..BUMP_ON.len() {
                let t = th - BUMP_ON.len() + i;
                if t < t_n {
                    inputs[[k, t, 2]] = BUMP_ON[BUMP_ON.len() - 1 - i];
                }
            }
            // Kinematic target from 0-based tendhold - 10; mask off after the last sample.
            let start = tr.output_start();
            if start < t_n {
                let n_out = self.n_samples().min(t_n - start);
                targets
                    .slice_mut(s![k, start..start + n_out, 0])
                    .assign(&self.shoulder.slice(s![tr.condition, ..n_out]));
                targets
                    .slice_mut(s![k, start..start + n_out, 1])
                    .assign(&self.elbow.slice(s![tr.condition, ..n_out]));
                mask.slice_mut(s![k, start + n_out.., ..]).fill(0.0);
            }
        }
        Batch {
            inputs,
            targets,
            mask,
            loss: LossKind::Mse,
        }
    }

    /// A random training batch (callers use `n_trials = 100`, `n_steps = 300`), see [`sample_trials`].
    pub fn training_batch(&self, n_trials: usize, n_steps: usize, rng: &mut impl Rng) -> Batch {
        self.batch(&sample_trials(n_trials, rng), n_steps)
    }

    /// The 8 deterministic analysis trials, T = 250 (SPEC §7).
    pub fn analysis_batch(&self) -> Batch {
        self.batch(&analysis_trials(), ANALYSIS_STEPS)
    }
}
