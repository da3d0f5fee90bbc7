//! The evidence-accumulation task of Bellec et al. 2020 (src/tasks/cue.rs): shapes, determinism,
//! Poisson rates, cue windows, labels, mask and the recall-window accuracy.

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snnlab::batch::{Batch, IoDims, LossKind};
use snnlab::tasks::cue::{self, CueTask, CueTrial, N_CLASSES, N_INPUTS};

/// A model's input and output widths for `Batch::validate`.
struct Dims;
impl IoDims for Dims {
    fn n_in(&self) -> usize {
        N_INPUTS
    }
    fn n_out(&self) -> usize {
        N_CLASSES
    }
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A short task for the tests that do not need the paper's timing.
fn small() -> CueTask {
    CueTask {
        n_cues: 3,
        cue_ms: 10,
        gap_ms: 5,
        delay_ms: 20,
        recall_ms: 7,
        ..CueTask::paper()
    }
}

/// Independent expectation: which population is "on" at step t for this trial, by the README-style
/// layout (gap, cue, gap, cue, ..., delay, recall).
fn expected_prob(task: &CueTask, tr: &CueTrial, t: usize, ch: usize) -> f64 {
    let t_n = task.n_steps();
    let group = ch / 10;
    match group {
        0 | 1 => {
            for (k, &side) in tr.sides.iter().enumerate() {
                let start = task.gap_ms * (k + 1) + task.cue_ms * k;
                if side == group && t >= start && t < start + task.cue_ms {
                    return task.cue_rate_hz / 1000.0;
                }
            }
            0.0
        }
        2 => {
            if t >= t_n - task.recall_ms {
                task.recall_rate_hz / 1000.0
            } else {
                0.0
            }
        }
        _ => task.noise_rate_hz / 1000.0,
    }
}

#[test]
fn paper_defaults_and_timing() {
    let t = CueTask::paper();
    assert_eq!(
        (t.n_cues, t.cue_ms, t.gap_ms, t.delay_ms, t.recall_ms),
        (7, 100, 50, 1050, 150)
    );
    assert_eq!(
        (t.cue_rate_hz, t.recall_rate_hz, t.noise_rate_hz, t.p_group),
        (40.0, 40.0, 10.0, 0.3)
    );
    assert_eq!(CueTask::default(), t);
    assert_eq!(
        t.n_steps(),
        2250,
        "Bellec et al.: 7 x 150 ms + 1050 ms delay + 150 ms recall"
    );
    assert_eq!(t.cue_window(0), 50..150);
    assert_eq!(t.cue_window(6), 950..1050);
    assert_eq!(t.recall_window(), 2100..2250);
    // The delay runs from the end of the last cue to the recall window.
    assert_eq!(t.recall_window().start - t.cue_window(6).end, t.delay_ms);
    assert_eq!((N_INPUTS, N_CLASSES), (40, 2));
    assert_eq!(cue::rate_to_prob(40.0), 0.04);
    assert_eq!(cue::rate_to_prob(10.0), 0.01);
    t.validate().unwrap();
}

#[test]
fn validate_rejects_bad_parameters() {
    let p = CueTask::paper();
    for bad in [
        CueTask {
            n_cues: 6,
            ..p.clone()
        },
        CueTask {
            n_cues: 0,
            ..p.clone()
        },
        CueTask {
            cue_ms: 0,
            ..p.clone()
        },
        CueTask {
            recall_ms: 0,
            ..p.clone()
        },
        CueTask {
            cue_rate_hz: 2000.0,
            ..p.clone()
        },
        CueTask {
            noise_rate_hz: -1.0,
            ..p.clone()
        },
        CueTask {
            recall_rate_hz: f64::NAN,
            ..p.clone()
        },
        CueTask {
            p_group: 1.5,
            ..p.clone()
        },
    ] {
        let e = bad.validate().unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
    }
}

#[test]
fn shapes_and_validity() {
    let task = CueTask::paper();
    let b = task.batch(5, &mut rng(1));
    assert_eq!(b.inputs.dim(), (5, 2250, 40));
    assert_eq!(b.targets.dim(), (5, 2250, 1));
    assert_eq!(b.mask.dim(), (5, 2250, 1));
    assert_eq!(b.loss, LossKind::Ce);
    assert_eq!(b.n_trials(), 5);
    assert_eq!(b.n_steps(), task.n_steps());
    assert!(
        b.inputs.iter().all(|&x| x == 0.0 || x == 1.0),
        "inputs are 0/1 spikes"
    );
    assert!(
        b.targets.iter().all(|&c| c == 0.0 || c == 1.0),
        "targets are class indices 0/1"
    );
    // Validates against a model with 40 inputs and 2 outputs.
    b.validate(&Dims, "cue").unwrap();
}

#[test]
fn deterministic_under_a_seed() {
    let task = CueTask::paper();
    let (a, ta) = task.batch_with_trials(4, &mut rng(7));
    let (b, tb) = task.batch_with_trials(4, &mut rng(7));
    assert_eq!(ta, tb);
    assert_eq!(a.inputs, b.inputs);
    assert_eq!(a.targets, b.targets);
    assert_eq!(a.mask, b.mask);
    // `batch` is `batch_with_trials` without the trials.
    let c = task.batch(4, &mut rng(7));
    assert_eq!(a.inputs, c.inputs);
    // Another seed gives other spikes.
    let d = task.batch(4, &mut rng(8));
    assert_ne!(a.inputs, d.inputs);
}

#[test]
fn labels_are_the_majority_side_and_mask_is_the_recall_window() {
    let task = CueTask::paper();
    let (b, trials) = task.batch_with_trials(200, &mut rng(3));
    let recall = task.recall_window();
    let (mut n_left_labels, mut n_left_cues) = (0, 0);
    for (i, tr) in trials.iter().enumerate() {
        assert_eq!(tr.sides.len(), 7);
        assert!(tr.sides.iter().all(|&s| s < 2));
        let n_right = tr.sides.iter().filter(|&&s| s == 1).count();
        let majority = if n_right * 2 > tr.sides.len() { 1 } else { 0 };
        assert_eq!(tr.label(), majority);
        assert_eq!(tr.n_left() + tr.n_right(), 7);
        for t in 0..task.n_steps() {
            assert_eq!(b.targets[[i, t, 0]], majority as f64, "trial {i} step {t}");
            let want = if recall.contains(&t) { 1.0 } else { 0.0 };
            assert_eq!(b.mask[[i, t, 0]], want, "mask of trial {i} at step {t}");
        }
        n_left_labels += (majority == 0) as usize;
        n_left_cues += tr.n_left();
    }
    // Both classes occur, about equally (symmetric draw): 200 trials, |k - 100| < 5 sd.
    assert!(
        (n_left_labels as f64 - 100.0).abs() < 5.0 * 50f64.sqrt(),
        "{n_left_labels} left labels"
    );
    // Each cue is left with probability 1/2 overall (p_group or 1 - p_group, each half the time).
    let frac = n_left_cues as f64 / 1400.0;
    assert!(
        (frac - 0.5).abs() < 5.0 * (0.25f64 / 1400.0).sqrt() * 2.0,
        "left-cue fraction {frac}"
    );
    // With p_group = 0.3, a trial's cues are correlated: unanimous trials are far more frequent
    // than with fair coins (2 * (0.3^7 + 0.7^7)/2 = 8.3 % vs 1.6 %).
    let unanimous = trials
        .iter()
        .filter(|t| t.n_left() == 0 || t.n_right() == 0)
        .count();
    assert!(unanimous >= 5, "{unanimous} unanimous trials out of 200");
}

#[test]
fn cues_occupy_their_windows_and_silence_elsewhere() {
    let task = CueTask::paper();
    let (b, trials) = task.batch_with_trials(50, &mut rng(11));
    for (i, tr) in trials.iter().enumerate() {
        for t in 0..task.n_steps() {
            for ch in 0..30 {
                if expected_prob(&task, tr, t, ch) == 0.0 {
                    assert_eq!(
                        b.inputs[[i, t, ch]],
                        0.0,
                        "trial {i} step {t} channel {ch} should be silent"
                    );
                }
            }
        }
        // Every cue window of the cue's side carries spikes (10 channels x 100 steps at 0.04:
        // P(no spike) = 0.96^1000 ~ 2e-18), and the other side is silent there.
        for (k, &side) in tr.sides.iter().enumerate() {
            let w = task.cue_window(k);
            let on = side * 10..side * 10 + 10;
            let off = (1 - side) * 10..(1 - side) * 10 + 10;
            let s_on: f64 = w
                .clone()
                .flat_map(|t| on.clone().map(move |c| (t, c)))
                .map(|(t, c)| b.inputs[[i, t, c]])
                .sum();
            let s_off: f64 = w
                .clone()
                .flat_map(|t| off.clone().map(move |c| (t, c)))
                .map(|(t, c)| b.inputs[[i, t, c]])
                .sum();
            assert!(s_on > 0.0, "trial {i} cue {k}: no spike on its side");
            assert_eq!(s_off, 0.0, "trial {i} cue {k}: spikes on the other side");
        }
        let s_recall: f64 = task
            .recall_window()
            .flat_map(|t| (20..30).map(move |c| (t, c)))
            .map(|(t, c)| b.inputs[[i, t, c]])
            .sum();
        assert!(s_recall > 0.0, "trial {i}: silent recall cue");
    }
}

/// Counts of spikes and of (step, channel) samples per channel, where the channel is "on".
fn on_counts(task: &CueTask, b: &Batch, trials: &[CueTrial]) -> Vec<(f64, f64, f64)> {
    let mut out = vec![(0.0, 0.0, 0.0); N_INPUTS]; // (spikes, samples, p)
    for (i, tr) in trials.iter().enumerate() {
        for t in 0..task.n_steps() {
            for (ch, o) in out.iter_mut().enumerate() {
                let p = expected_prob(task, tr, t, ch);
                if p > 0.0 {
                    o.0 += b.inputs[[i, t, ch]];
                    o.1 += 1.0;
                    o.2 = p;
                }
            }
        }
    }
    out
}

#[test]
fn firing_rates_match_40_and_10_hz() {
    let task = CueTask::paper();
    let (b, trials) = task.batch_with_trials(100, &mut rng(5));
    let counts = on_counts(&task, &b, &trials);
    // Per channel: binomial(n, p), |k/n - p| < 5 sd.
    for (ch, &(k, n, p)) in counts.iter().enumerate() {
        let want = if ch < 30 { 0.04 } else { 0.01 };
        assert_eq!(p, want, "channel {ch}");
        assert!(n > 10_000.0, "channel {ch}: only {n} samples");
        let sd = (p * (1.0 - p) / n).sqrt();
        let rate = k / n;
        assert!(
            (rate - p).abs() < 5.0 * sd,
            "channel {ch}: rate {rate} per step, expected {p} ± {sd}"
        );
    }
    // Pooled per population, tighter in absolute terms.
    for (name, chans, p) in [
        ("left", 0..10, 0.04),
        ("right", 10..20, 0.04),
        ("recall", 20..30, 0.04),
        ("noise", 30..40, 0.01),
    ] {
        let (k, n) = chans.fold((0.0, 0.0), |(k, n), c| (k + counts[c].0, n + counts[c].1));
        let sd = (p * (1.0 - p) / n).sqrt();
        assert!(
            (k / n - p).abs() < 5.0 * sd,
            "{name}: rate {} per step, expected {p} ± {sd}",
            k / n
        );
        // In Hz (1 ms steps).
        assert!(
            (1000.0 * k / n - 1000.0 * p).abs() < 1.0,
            "{name}: {} Hz",
            1000.0 * k / n
        );
    }
    // Noise channels fire on every step at 10 Hz: samples = trials x T x 10.
    let n_noise: f64 = (30..40).map(|c| counts[c].1).sum();
    assert_eq!(n_noise, 100.0 * 2250.0 * 10.0);
}

#[test]
fn batch_for_given_trials() {
    let task = small();
    assert_eq!(task.n_steps(), 3 * 15 + 20 + 7);
    let trials = vec![
        CueTrial {
            sides: vec![0, 0, 1],
        },
        CueTrial {
            sides: vec![1, 0, 1],
        },
        CueTrial {
            sides: vec![1, 1, 1],
        },
    ];
    let mut r = rng(2);
    let sure = CueTask {
        cue_rate_hz: 1000.0,
        recall_rate_hz: 1000.0,
        noise_rate_hz: 0.0,
        ..task.clone()
    };
    let b = sure.batch_for(&trials, &mut r);
    // Probability 1 and 0: the inputs are exactly the expected layout.
    let t_n = task.n_steps();
    for (i, tr) in trials.iter().enumerate() {
        for t in 0..t_n {
            for ch in 0..N_INPUTS {
                let p = expected_prob(&sure, tr, t, ch);
                assert!(p == 0.0 || p == 1.0);
                assert_eq!(b.inputs[[i, t, ch]], p, "trial {i} step {t} channel {ch}");
            }
        }
    }
    let labels: Vec<f64> = (0..3).map(|i| b.targets[[i, 0, 0]]).collect();
    assert_eq!(labels, [0.0, 1.0, 1.0]);
    assert_eq!(b.mask.sum(), 3.0 * 7.0);
}

#[test]
#[should_panic(expected = "must be odd")]
fn batch_panics_on_even_cues() {
    CueTask {
        n_cues: 4,
        ..small()
    }
    .batch(1, &mut rng(0));
}

/// y [T, B, 2] with `value` on the class `class_of(i)` during every step, others 0.
fn oracle_y(b: &Batch, class_of: impl Fn(usize) -> usize) -> Array3<f64> {
    let (n, t_n) = (b.n_trials(), b.n_steps());
    let mut y = Array3::zeros((t_n, n, N_CLASSES));
    for i in 0..n {
        for t in 0..t_n {
            y[[t, i, class_of(i)]] = 1.0;
        }
    }
    y
}

#[test]
fn accuracy_oracle_random_and_by_hand() {
    let task = small();
    let (b, trials) = task.batch_with_trials(400, &mut rng(9));
    let label = |i: usize| b.targets[[i, 0, 0]] as usize;
    assert_eq!(cue::accuracy(&oracle_y(&b, label), &b), 1.0);
    assert_eq!(CueTask::accuracy(&oracle_y(&b, label), &b), 1.0);
    assert_eq!(cue::accuracy(&oracle_y(&b, |i| trials[i].label()), &b), 1.0);
    assert_eq!(cue::accuracy(&oracle_y(&b, |i| 1 - label(i)), &b), 0.0);

    // Random readouts: ~ 0.5, binomial(400, 1/2) -> sd 0.025, 5 sd.
    let mut r = rng(10);
    let y = Array3::from_shape_fn((task.n_steps(), 400, 2), |_| r.random::<f64>() - 0.5);
    let acc = cue::accuracy(&y, &b);
    assert!((acc - 0.5).abs() < 0.125, "random accuracy {acc}");

    // Outside the recall window the readout does not count: a huge wrong output before recall
    // with a small right one during recall is still correct.
    let mut y = oracle_y(&b, label);
    let recall = task.recall_window();
    for i in 0..400 {
        for t in 0..recall.start {
            y[[t, i, label(i)]] = 0.0;
            y[[t, i, 1 - label(i)]] = 1e6;
        }
    }
    assert_eq!(cue::accuracy(&y, &b), 1.0);
}

#[test]
fn accuracy_hand_built() {
    // 4 trials of 4 steps, recall (mask) on steps 2 and 3; labels 0, 1, 1, 0.
    let mut mask = Array3::zeros((4, 4, 1));
    let mut targets = Array3::zeros((4, 4, 1));
    for (i, &c) in [0.0, 1.0, 1.0, 0.0].iter().enumerate() {
        for t in 0..4 {
            targets[[i, t, 0]] = c;
        }
        mask[[i, 2, 0]] = 1.0;
        mask[[i, 3, 0]] = 1.0;
    }
    let batch = Batch {
        inputs: Array3::zeros((4, 4, N_INPUTS)),
        targets,
        mask,
        loss: LossKind::Ce,
    };
    // y[t, i, :] per trial over the 4 steps.
    let per_trial: [[[f64; 2]; 4]; 4] = [
        // trial 0, label 0: recall sums (0.9 + 0.2, 0.1 + 0.8) = (1.1, 0.9) -> 0, correct.
        [[0.0, 5.0], [0.0, 5.0], [0.9, 0.1], [0.2, 0.8]],
        // trial 1, label 1: recall sums (0.6 + 0.6, 0.5 + 0.5) = (1.2, 1.0) -> 0, wrong
        // (although step 0 strongly says 1: outside the mask).
        [[0.0, 9.0], [0.0, 0.0], [0.6, 0.5], [0.6, 0.5]],
        // trial 2, label 1: (-1 + -1, 0 + 0) = (-2, 0) -> 1, correct.
        [[0.0, 0.0], [0.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]],
        // trial 3, label 0: tie (0.5, 0.5) -> wrong.
        [[0.0, 0.0], [0.0, 0.0], [0.25, 0.5], [0.25, 0.0]],
    ];
    let mut y = Array3::zeros((4, 4, 2));
    for (i, tr) in per_trial.iter().enumerate() {
        for (t, v) in tr.iter().enumerate() {
            y[[t, i, 0]] = v[0];
            y[[t, i, 1]] = v[1];
        }
    }
    assert_eq!(cue::accuracy(&y, &batch), 0.5);
    // Breaking trial 3's tie for class 0 (sums 0.55, 0.5): 3 of 4 correct.
    y[[2, 3, 0]] = 0.3;
    assert_eq!(cue::accuracy(&y, &batch), 0.75);
}

#[test]
#[should_panic(expected = "time-major")]
fn accuracy_rejects_trial_major_y() {
    let task = small();
    let b = task.batch(3, &mut rng(0));
    // [B, T, 2] instead of [T, B, 2].
    let y = Array3::zeros((3, task.n_steps(), 2));
    cue::accuracy(&y, &b);
}
