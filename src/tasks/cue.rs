//! The evidence-accumulation ("cue accumulation") task of Bellec et al. 2020, the classic check
//! that a spiking network trained with e-prop holds information over seconds.
//!
//! Source: G. Bellec, F. Scherr, A. Subramoney, E. Hajek, D. Salaj, R. Legenstein & W. Maass,
//! "A solution to the learning dilemma for recurrent networks of spiking neurons", Nature
//! Communications 11, 3625 (2020), Fig. 3 and Methods/Supplementary ("Evidence accumulation
//! task"); the layout follows the authors' generator `generate_click_task_data` (LSNN / e-prop
//! code, `create_evidence_accumulation`: 40 inputs, `t_cue = 100`, `t_interval = 150`,
//! `n_cues = 7`, `recall_duration = 150`, `input_f0 = 0.04`, `p_group = 0.3`, `seq_len = 2250`).
//! The task itself comes from the rodent "accumulating towers" experiments of Morcos & Harvey
//! 2016 (Nat. Neurosci. 19, 1672).
//!
//! # What it tests
//! An agent sees `n_cues` cues, each on the left or on the right, then a long delay without any
//! informative input, then a recall cue; during the recall window it must report the side on
//! which more cues appeared. The network has to count the cues and keep the count over the
//! delay (about a second), far longer than a LIF neuron's membrane time constant (20 ms):
//! networks of plain LIF neurons fail at it, while ALIF neurons, whose threshold adaptation
//! (time constant ~ 2 s) is a slow hidden state, provide the working memory that bridges the
//! delay — and, crucially for e-prop, that memory lives in the eligibility traces of the
//! adaptive neurons, so e-prop solves the task almost as well as BPTT (Bellec et al. Fig. 3).
//!
//! # Layout (one step = 1 ms, [`DT_MS`])
//! 40 Poisson input channels ([`N_INPUTS`]), spikes as 0/1 f64 in `inputs [B, T, 40]`:
//! - channels 0–9 ([`LEFT`]): fire at `cue_rate_hz` (40 Hz, i.e. probability 0.04 per step)
//!   during the windows of left cues, silent otherwise;
//! - channels 10–19 ([`RIGHT`]): the same for right cues;
//! - channels 20–29 ([`RECALL`]): fire at `recall_rate_hz` (40 Hz) during the recall window,
//!   silent otherwise;
//! - channels 30–39 ([`NOISE`]): background noise at `noise_rate_hz` (10 Hz) on every step.
//!
//! Cue `k` (0-based) occupies steps `gap + k·(cue + gap) .. gap + k·(cue + gap) + cue`
//! ([`CueTask::cue_window`]): as in the authors' generator, a silent gap precedes every cue.
//! The delay runs from the end of the last cue to the recall window, which closes the trial:
//! `T = n_cues·(gap + cue) + delay + recall` (paper: 7·150 + 1050 + 150 = 2250 steps).
//!
//! The sides are drawn as the authors do: per trial, the left side gets probability `p_group`
//! or `1 − p_group` (each with probability 1/2), and each cue independently takes the left side
//! with that probability (`p_group = 0.5` makes every cue a fair coin). The label is the side with
//! more cues: class 0 = left, 1 = right (`n_cues` is odd, so there are no ties).
//!
//! Outputs: [`N_CLASSES`] = 2, loss [`LossKind::Ce`]; `targets [B, T, 1]` holds the label (as an
//! integral f64) on every step and `mask [B, T, 1]` is 1 exactly on the recall window, 0 elsewhere.

use std::ops::Range;

use ndarray::{Array3, Axis};
use rand::Rng;

use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};

/// Number of input channels: 10 left, 10 right, 10 recall, 10 noise.
pub const N_INPUTS: usize = 40;
/// Output classes: 0 = left, 1 = right.
pub const N_CLASSES: usize = 2;
/// Channels per population.
pub const CHANNELS_PER_GROUP: usize = 10;
/// Left-cue channels.
pub const LEFT: Range<usize> = 0..10;
/// Right-cue channels.
pub const RIGHT: Range<usize> = 10..20;
/// Recall-cue channels.
pub const RECALL: Range<usize> = 20..30;
/// Background-noise channels.
pub const NOISE: Range<usize> = 30..40;
/// One step is 1 ms: every duration of [`CueTask`] in ms is also a number of steps.
pub const DT_MS: f64 = 1.0;
/// Class of a trial whose majority of cues is on the left.
pub const CLASS_LEFT: usize = 0;
/// Class of a trial whose majority of cues is on the right.
pub const CLASS_RIGHT: usize = 1;

/// The task's parameters; durations in ms (= steps, [`DT_MS`]), rates in Hz.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CueTask {
    /// Number of cues per trial; odd, so that there is always a majority.
    pub n_cues: usize,
    /// Duration of one cue.
    pub cue_ms: usize,
    /// Silence before each cue (the first one included).
    pub gap_ms: usize,
    /// Silence between the end of the last cue and the recall window.
    pub delay_ms: usize,
    /// Duration of the recall window, the trial's last steps (the loss mask).
    pub recall_ms: usize,
    /// Rate of a cue population during its cues.
    pub cue_rate_hz: f64,
    /// Rate of the recall population during the recall window.
    pub recall_rate_hz: f64,
    /// Rate of the noise population, on every step.
    pub noise_rate_hz: f64,
    /// Per trial, the probability that a cue is on the left is `p_group` or `1 − p_group`
    /// (each with probability 1/2).
    pub p_group: f64,
}

impl Default for CueTask {
    fn default() -> Self {
        Self::paper()
    }
}

/// One trial's cues: `sides[k]` is the class (0 left, 1 right) of cue `k`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CueTrial {
    pub sides: Vec<usize>,
}

impl CueTrial {
    /// Number of right cues.
    pub fn n_right(&self) -> usize {
        self.sides.iter().filter(|&&s| s == CLASS_RIGHT).count()
    }
    /// Number of left cues.
    pub fn n_left(&self) -> usize {
        self.sides.len() - self.n_right()
    }
    /// The majority side: [`CLASS_RIGHT`] when more cues are on the right, else [`CLASS_LEFT`].
    pub fn label(&self) -> usize {
        if self.n_right() > self.n_left() {
            CLASS_RIGHT
        } else {
            CLASS_LEFT
        }
    }
}

impl CueTask {
    /// Bellec et al. 2020: 7 cues of 100 ms each after 50 ms of silence, a 1050 ms delay and a
    /// 150 ms recall window (T = 2250 ms); 40 Hz cues and recall, 10 Hz noise, `p_group = 0.3`.
    pub fn paper() -> Self {
        CueTask {
            n_cues: 7,
            cue_ms: 100,
            gap_ms: 50,
            delay_ms: 1050,
            recall_ms: 150,
            cue_rate_hz: 40.0,
            recall_rate_hz: 40.0,
            noise_rate_hz: 10.0,
            p_group: 0.3,
        }
    }

    /// Checks the parameters: `n_cues` odd, `cue_ms` and `recall_ms` positive, rates giving a
    /// spike probability in [0, 1] per step, `p_group` in [0, 1].
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Input(format!("cue task: {m}")));
        if self.n_cues == 0 || self.n_cues.is_multiple_of(2) {
            return bad(format!(
                "n_cues = {} must be odd (no ties between left and right)",
                self.n_cues
            ));
        }
        if self.cue_ms == 0 {
            return bad("cue_ms must be positive".into());
        }
        if self.recall_ms == 0 {
            return bad("recall_ms must be positive (it is the loss mask)".into());
        }
        for (name, hz) in [
            ("cue_rate_hz", self.cue_rate_hz),
            ("recall_rate_hz", self.recall_rate_hz),
            ("noise_rate_hz", self.noise_rate_hz),
        ] {
            let p = rate_to_prob(hz);
            if !(0.0..=1.0).contains(&p) {
                return bad(format!(
                    "{name} = {hz} gives a spike probability {p} per step, not in [0, 1]"
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.p_group) {
            return bad(format!("p_group = {} is not in [0, 1]", self.p_group));
        }
        Ok(())
    }

    /// Steps per trial: `n_cues·(gap + cue) + delay + recall` (paper: 2250).
    pub fn n_steps(&self) -> usize {
        self.n_cues * (self.gap_ms + self.cue_ms) + self.delay_ms + self.recall_ms
    }

    /// Steps of cue `k` (0-based): `gap + k·(cue + gap) .. gap + k·(cue + gap) + cue`.
    pub fn cue_window(&self, k: usize) -> Range<usize> {
        assert!(
            k < self.n_cues,
            "cue {k} out of range (n_cues = {})",
            self.n_cues
        );
        let start = self.gap_ms + k * (self.cue_ms + self.gap_ms);
        start..start + self.cue_ms
    }

    /// Steps of the recall window (and of the loss mask): the last `recall_ms` steps.
    pub fn recall_window(&self) -> Range<usize> {
        let t = self.n_steps();
        t - self.recall_ms..t
    }

    /// Draw the cue sides of `n_trials` trials (see the module documentation).
    pub fn sample_trials(&self, n_trials: usize, rng: &mut impl Rng) -> Vec<CueTrial> {
        (0..n_trials)
            .map(|_| {
                let p_left = if rng.random::<f64>() < 0.5 {
                    self.p_group
                } else {
                    1.0 - self.p_group
                };
                let sides = (0..self.n_cues)
                    .map(|_| {
                        if rng.random::<f64>() < p_left {
                            CLASS_LEFT
                        } else {
                            CLASS_RIGHT
                        }
                    })
                    .collect();
                CueTrial { sides }
            })
            .collect()
    }

    /// Inputs (Poisson spikes drawn from `rng`), targets and mask of the given trials.
    ///
    /// Panics if the parameters are invalid ([`CueTask::validate`]) or a trial does not have
    /// `n_cues` sides in {0, 1}.
    pub fn batch_for(&self, trials: &[CueTrial], rng: &mut impl Rng) -> Batch {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        let (b, t_n) = (trials.len(), self.n_steps());
        let p_cue = rate_to_prob(self.cue_rate_hz);
        let p_recall = rate_to_prob(self.recall_rate_hz);
        let p_noise = rate_to_prob(self.noise_rate_hz);
        let recall = self.recall_window();

        let mut inputs = Array3::<f64>::zeros((b, t_n, N_INPUTS));
        let mut targets = Array3::<f64>::zeros((b, t_n, 1));
        let mut mask = Array3::<f64>::zeros((b, t_n, 1));
        // Spike probability of every channel on every step of one trial, then one draw per
        // (step, channel) with a non-zero probability, in step-major order.
        let mut prob = vec![0.0f64; t_n * N_INPUTS];
        for (i, tr) in trials.iter().enumerate() {
            assert_eq!(
                tr.sides.len(),
                self.n_cues,
                "trial {i} has {} cues, expected {}",
                tr.sides.len(),
                self.n_cues
            );
            prob.fill(0.0);
            for (k, &side) in tr.sides.iter().enumerate() {
                let chans = match side {
                    CLASS_LEFT => LEFT,
                    CLASS_RIGHT => RIGHT,
                    s => panic!("trial {i} cue {k} has side {s}, expected 0 (left) or 1 (right)"),
                };
                for t in self.cue_window(k) {
                    prob[t * N_INPUTS + chans.start..t * N_INPUTS + chans.end].fill(p_cue);
                }
            }
            for t in recall.clone() {
                prob[t * N_INPUTS + RECALL.start..t * N_INPUTS + RECALL.end].fill(p_recall);
            }
            for t in 0..t_n {
                prob[t * N_INPUTS + NOISE.start..t * N_INPUTS + NOISE.end].fill(p_noise);
            }
            let mut x = inputs.index_axis_mut(Axis(0), i);
            for (dst, &p) in x.iter_mut().zip(prob.iter()) {
                if p > 0.0 && rng.random::<f64>() < p {
                    *dst = 1.0;
                }
            }
            targets.index_axis_mut(Axis(0), i).fill(tr.label() as f64);
            for t in recall.clone() {
                mask[[i, t, 0]] = 1.0;
            }
        }
        Batch {
            inputs,
            targets,
            mask,
            loss: LossKind::Ce,
        }
    }

    /// A batch of `b` random trials and their cue sides: sides first ([`CueTask::sample_trials`]),
    /// then the spikes ([`CueTask::batch_for`]), all from `rng`.
    pub fn batch_with_trials(&self, b: usize, rng: &mut impl Rng) -> (Batch, Vec<CueTrial>) {
        let trials = self.sample_trials(b, rng);
        (self.batch_for(&trials, rng), trials)
    }

    /// A batch of `b` random trials, `inputs [b, T, 40]`, `targets`/`mask [b, T, 1]`, loss ce.
    pub fn batch(&self, b: usize, rng: &mut impl Rng) -> Batch {
        self.batch_with_trials(b, rng).0
    }

    /// See [`accuracy`].
    pub fn accuracy(y: &Array3<f64>, batch: &Batch) -> f64 {
        accuracy(y, batch)
    }
}

/// Spike probability per 1 ms step of a Poisson rate in Hz.
pub fn rate_to_prob(hz: f64) -> f64 {
    hz * DT_MS / 1000.0
}

/// Fraction of trials classified correctly, given the readout `y [T, B, n_classes]`
/// (time-major, as the engines compute it) and a ce batch: per trial, the readout summed over the
/// steps where the mask is on (the recall window) picks the class with the largest sum, which is
/// compared with the trial's target at those steps. A tie between the largest sums counts as
/// wrong; trials without any masked step are left out (NaN when no trial has one).
///
/// Panics if `y` is not `[T, B, C]` for the batch's `T` and `B`, or the batch is not ce.
pub fn accuracy(y: &Array3<f64>, batch: &Batch) -> f64 {
    assert_eq!(
        batch.loss,
        LossKind::Ce,
        "accuracy needs a ce batch (class-index targets)"
    );
    let (b, t_n) = (batch.n_trials(), batch.n_steps());
    let (ty, by, c) = y.dim();
    assert!(
        ty == t_n && by == b && c >= 1,
        "y has shape {:?}, expected time-major [T, B, n_classes] = [{t_n}, {b}, _]",
        y.shape()
    );
    let (mut n, mut correct) = (0usize, 0usize);
    let mut sums = vec![0.0f64; c];
    for i in 0..b {
        sums.fill(0.0);
        let mut target = None;
        for t in 0..t_n {
            if batch.mask[[i, t, 0]] != 0.0 {
                for (k, s) in sums.iter_mut().enumerate() {
                    *s += y[[t, i, k]];
                }
                target.get_or_insert(batch.targets[[i, t, 0]] as usize);
            }
        }
        let Some(target) = target else { continue };
        n += 1;
        let best = sums.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let winners: Vec<usize> = (0..c).filter(|&k| sums[k] == best).collect();
        if winners == [target] {
            correct += 1;
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        correct as f64 / n as f64
    }
}
