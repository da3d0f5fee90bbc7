//! The paper's tasks: reach trials laid out as data/paper/README.md describes, and the fixed Mante
//! batch. Expected indices are derived here from the README's 1-based text, not from the generator.

use ndarray::{Array1, Array2, s};
use ndarray_npy::NpzReader;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use snnlab::batch::LossKind;
use snnlab::tasks::{data_dir, mante, reach};

const RAMP: [f64; 8] = [0.05, 0.1, 0.2, 0.35, 0.65, 0.8, 0.9, 0.95];

/// The README's bump: ramp, seven ones, ramp reversed.
fn readme_bump() -> Vec<f64> {
    let mut b = RAMP.to_vec();
    b.extend([1.0; 7]);
    b.extend(RAMP.iter().rev());
    b
}

/// Kinematics straight from the npz, samples with t_ms >= -100.
fn raw_kinematics() -> (Array2<f64>, Array2<f64>) {
    let path = data_dir().join("neural/hatsopoulos2007/hatsopoulos2007_plain.npz");
    let mut npz = NpzReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let sh: Array2<f64> = npz.by_name("shoulderangle").unwrap();
    let el: Array2<f64> = npz.by_name("elbowangle").unwrap();
    let t: Array1<f64> = npz.by_name("t_ms").unwrap();
    assert_eq!(sh.dim(), (8, 121));
    assert_eq!(t[0], -800.0);
    assert_eq!(t[120], 400.0);
    let first = t.iter().position(|&v| v >= -100.0).unwrap();
    assert_eq!(first, 70);
    (
        sh.slice(s![.., first..]).to_owned(),
        el.slice(s![.., first..]).to_owned(),
    )
}

#[test]
fn reach_loads_51_samples_from_minus_100_ms() {
    let r = reach::Reach::load_default().unwrap();
    let (sh, el) = raw_kinematics();
    assert_eq!(r.n_samples(), 51);
    assert_eq!(r.shoulder(), &sh);
    assert_eq!(r.elbow(), &el);
}

#[test]
fn reach_missing_file_is_an_input_error() {
    let e = reach::Reach::load("/nonexistent/reach.npz").unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("/nonexistent/reach.npz"));
    let e = mante::load_fixed_batch("/nonexistent/mante.npz").unwrap_err();
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn reach_analysis_batch_layout() {
    let r = reach::Reach::load_default().unwrap();
    let (sh, el) = raw_kinematics();
    let b = r.analysis_batch();
    assert_eq!(b.loss, LossKind::Mse);
    assert_eq!(b.inputs.dim(), (8, 250, 3));
    assert_eq!(b.targets.dim(), (8, 250, 2));
    assert_eq!(b.mask.dim(), (8, 250, 2));
    assert_eq!(reach::ANALYSIS_DATA_STEPS, 105..=225);

    // README, 1-based: interval1 = 25, interval2 = 105.
    let (i1, i2) = (25usize, 105usize);
    let tendhold = i1 + 23 + i2; // 153: hold cue on 1-based steps 1..=153
    assert_eq!(tendhold, 153);
    // Condition input on 1-based steps i1+1 ..= i1+23  ->  0-based 25..=47.
    let cond_steps: Vec<usize> = ((i1 + 1)..=(i1 + 23)).map(|s1| s1 - 1).collect();
    assert_eq!(cond_steps.first(), Some(&25));
    assert_eq!(cond_steps.last(), Some(&47));
    // Hold cue: 1-based 1..=153 -> 0-based 0..=152; last 8 (0-based 145..=152) = reversed ramp.
    // Output: 1-based step tendhold + 1 - 10 = 144 -> 0-based 143; 51 samples: 0-based 143..=193.
    let out0 = tendhold + 1 - 10 - 1;
    assert_eq!(out0, 143);
    let bump = readme_bump();

    for c in 0..8 {
        let th = (45.0 * c as f64).to_radians();
        for t in 0..250 {
            // condition inputs
            let (es, ec) = match cond_steps.iter().position(|&u| u == t) {
                Some(k) => (th.sin() * bump[k], th.cos() * bump[k]),
                None => (0.0, 0.0),
            };
            assert!((b.inputs[[c, t, 0]] - es).abs() < 1e-12, "sin c{c} t{t}");
            assert!((b.inputs[[c, t, 1]] - ec).abs() < 1e-12, "cos c{c} t{t}");
            // hold cue
            let eh = if t < 145 {
                1.0
            } else if t <= 152 {
                RAMP[7 - (t - 145)]
            } else {
                0.0
            };
            assert_eq!(b.inputs[[c, t, 2]], eh, "hold c{c} t{t}");
            // targets and mask
            for k in 0..2 {
                let data = if k == 0 { &sh } else { &el };
                if t < 143 {
                    assert_eq!(b.targets[[c, t, k]], 0.0);
                    assert_eq!(b.mask[[c, t, k]], 1.0);
                } else if t <= 193 {
                    assert_eq!(
                        b.targets[[c, t, k]],
                        data[[c, t - 143]],
                        "target c{c} t{t} k{k}"
                    );
                    assert_eq!(b.mask[[c, t, k]], 1.0);
                } else {
                    assert_eq!(b.mask[[c, t, k]], 0.0, "mask c{c} t{t}");
                    assert_eq!(b.targets[[c, t, k]], 0.0);
                }
            }
        }
        // Spot checks of the explicit values.
        assert_eq!(b.inputs[[c, 152, 2]], 0.05);
        assert_eq!(b.inputs[[c, 145, 2]], 0.95);
        assert_eq!(b.inputs[[c, 144, 2]], 1.0);
        assert_eq!(b.inputs[[c, 153, 2]], 0.0);
        // Movement onset (t = 0 ms, kinematic sample 10) lands on the first hold-free step.
        assert_eq!(b.targets[[c, 153, 0]], sh[[c, 10]]);
    }
    // Condition 2 is 90 degrees: sin = bump, cos ~ 0.
    assert!((b.inputs[[2, 35, 0]] - 1.0).abs() < 1e-15);
    assert!(b.inputs[[2, 35, 1]].abs() < 1e-15);
}

/// interval1 and interval2 of one trial, read back from its inputs.
fn intervals_from_inputs(b: &snnlab::batch::Batch, k: usize) -> (usize, usize) {
    let t_n = b.n_steps();
    let amp = |t: usize| b.inputs[[k, t, 0]].hypot(b.inputs[[k, t, 1]]);
    let i1 = (0..t_n).position(|t| amp(t) > 0.0).unwrap();
    let tendhold = (0..t_n).rposition(|t| b.inputs[[k, t, 2]] > 0.0).unwrap() + 1;
    (i1, tendhold - i1 - 23)
}

#[test]
// Sample indices into several arrays at once.
#[allow(clippy::needless_range_loop)]
fn reach_training_batch() {
    let r = reach::Reach::load_default().unwrap();
    let (sh, el) = raw_kinematics();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let b = r.training_batch(100, 300, &mut rng);
    assert_eq!(b.inputs.dim(), (100, 300, 3));
    assert_eq!(b.targets.dim(), (100, 300, 2));
    assert_eq!(b.loss, LossKind::Mse);
    let bump = readme_bump();
    let mut seen_i1 = std::collections::BTreeSet::new();
    for k in 0..100 {
        let (i1, i2) = intervals_from_inputs(&b, k);
        assert!(
            i1 <= 49 && i2 <= 149,
            "trial {k}: interval1 {i1}, interval2 {i2}"
        );
        seen_i1.insert(i1);
        // Condition from the peak of the bump (sin, cos of 45 c degrees).
        let (sv, cv) = (b.inputs[[k, i1 + 10, 0]], b.inputs[[k, i1 + 10, 1]]);
        let c = ((sv.atan2(cv).to_degrees() + 360.0).round() as usize % 360) / 45;
        if k < 8 {
            assert_eq!(c, k, "trial {k} must be condition {k}");
        }
        for j in 0..23 {
            let th = (45.0 * c as f64).to_radians();
            assert!((b.inputs[[k, i1 + j, 0]] - th.sin() * bump[j]).abs() < 1e-12);
            assert!((b.inputs[[k, i1 + j, 1]] - th.cos() * bump[j]).abs() < 1e-12);
        }
        // Targets: 51 samples from 0-based tendhold - 10, mask off after.
        let tendhold = i1 + 23 + i2;
        let start = tendhold - 10;
        assert!(start + 51 <= 300);
        for t in 0..300 {
            let on = if t < start + 51 { 1.0 } else { 0.0 };
            assert_eq!(b.mask[[k, t, 0]], on);
            assert_eq!(b.mask[[k, t, 1]], on);
            let (es, ee) = if t >= start && t < start + 51 {
                (sh[[c, t - start]], el[[c, t - start]])
            } else {
                (0.0, 0.0)
            };
            assert_eq!(b.targets[[k, t, 0]], es);
            assert_eq!(b.targets[[k, t, 1]], ee);
        }
    }
    assert!(seen_i1.len() > 20, "interval1 should vary across trials");

    // Seeded: identical batches; different seed: different batch.
    let b2 = r.training_batch(100, 300, &mut ChaCha8Rng::seed_from_u64(7));
    assert_eq!(b.inputs, b2.inputs);
    assert_eq!(b.targets, b2.targets);
    assert_eq!(b.mask, b2.mask);
    let b3 = r.training_batch(100, 300, &mut ChaCha8Rng::seed_from_u64(8));
    assert_ne!(b.inputs, b3.inputs);
}

#[test]
fn reach_intervals_cover_their_ranges() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut lo = (usize::MAX, usize::MAX);
    let mut hi = (0, 0);
    let mut conds = [0usize; 8];
    for _ in 0..50 {
        for tr in reach::sample_trials(100, &mut rng) {
            lo = (lo.0.min(tr.interval1), lo.1.min(tr.interval2));
            hi = (hi.0.max(tr.interval1), hi.1.max(tr.interval2));
            conds[tr.condition] += 1;
        }
    }
    assert_eq!(lo, (0, 0));
    assert_eq!(hi, (49, 149));
    assert!(conds.iter().all(|&n| n > 400), "{conds:?}");
    // Fewer than 8 trials: no forced conditions, still in range.
    let few = reach::sample_trials(3, &mut rng);
    assert_eq!(few.len(), 3);
    assert!(few.iter().all(|t| t.condition < 8));
}

#[test]
fn reach_short_trials_are_cut() {
    // T shorter than the output window: the target is truncated, the mask stays on to the end.
    let r = reach::Reach::load_default().unwrap();
    let trial = reach::ReachTrial {
        condition: 3,
        interval1: 49,
        interval2: 149,
    };
    let b = r.batch(&[trial], 250);
    // tendhold = 221, start 0-based 211, only 39 samples fit.
    assert_eq!(b.targets[[0, 249, 0]], r.shoulder()[[3, 38]]);
    assert!(b.mask.iter().all(|&m| m == 1.0));
    // Output start past the end: no target at all, mask on.
    let b = r.batch(&[trial], 200);
    assert!(b.targets.iter().all(|&v| v == 0.0));
    assert!(b.mask.iter().all(|&m| m == 1.0));
}

#[test]
fn mante_fixed_batch() {
    let (b, info) = mante::load_default().unwrap();
    assert_eq!(b.loss, LossKind::Ce);
    assert_eq!(b.inputs.dim(), (72, 113, 9));
    assert_eq!(b.targets.dim(), (72, 113, 1));
    assert_eq!(b.mask.dim(), (72, 113, 1));
    assert_eq!(mante::RECORDING_STEPS, 23..=72);
    assert_eq!((info.recording_start, info.recording_stop), (23, 73));
    assert_eq!(info.context.len(), 72);
    assert_eq!(info.ground_truth.len(), 72);
    for bi in 0..72 {
        for t in 0..113 {
            let n = b
                .inputs
                .slice(s![bi, t, ..])
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt();
            assert!((n - 1.0).abs() < 1e-6, "trial {bi} step {t}: |x| = {n}");
        }
    }
    assert!(b.targets.iter().all(|&c| c == 0.0 || c == 1.0 || c == 2.0));
    // Fixation before the decision period, a choice during it.
    assert!(b.targets.slice(s![.., ..93, 0]).iter().all(|&c| c == 0.0));
    assert!(
        b.targets
            .slice(s![.., 93.., 0])
            .iter()
            .all(|&c| c == 1.0 || c == 2.0)
    );
    assert!(b.mask.iter().all(|&m| m == 1.0));
    let cfg = snnlab::model::RateConfig::new(9, 10, 3);
    b.validate(&cfg, "mante").unwrap();
}

/// The authors' trained reach network (BPTT, update 1000) fits the analysis batch only with the
/// target placed where this crate puts it (0-based `tendhold - 10`): one step either way is
/// several times worse. Confirms the reading of the README's "step tendhold + 1 - 10".
#[test]
fn reach_target_placement_matches_the_authors_trained_network() {
    use snnlab::model::{RateConfig, RateParams};
    use snnlab::reference::rate::{Net, Prepared, forward, normalised_error};
    let path = data_dir().join("paper/reach_bptt_lr1e-3.npz");
    let mut z = NpzReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut m2 = |n: &str| -> Array2<f64> {
        z.by_name::<ndarray::OwnedRepr<f32>, _>(n)
            .unwrap()
            .mapv(|v| v as f64)
    };
    let (w_in, w_rec, w_out) = (m2("p1000_w_in"), m2("p1000_w_rec"), m2("p1000_w_out"));
    let mut v1 = |n: &str| -> Array1<f64> {
        z.by_name::<ndarray::OwnedRepr<f32>, _>(n)
            .unwrap()
            .mapv(|v| v as f64)
    };
    let (b_in, b_out, ah0) = (v1("p1000_b_in"), v1("p1000_b_out"), v1("p1000_ah0"));
    let cfg = RateConfig::new(3, 200, 2); // retanh, alpha = 0.1
    let net = Net::from_parts(
        &cfg,
        RateParams {
            w_in,
            b_in,
            w_rec,
            w_out,
            b_out,
            ah0,
        },
        None,
        None,
    );

    let r = reach::Reach::load_default().unwrap();
    let batch = r.analysis_batch();
    let d = Prepared::<f64>::new(&batch);
    let err = normalised_error(&forward(&net, &d.x).y, &d);
    assert!(err < 2e-3, "normalised error {err}");

    // The same trials with the target shifted by one step either way.
    for shift in [-1i64, 1] {
        let mut b = batch.clone();
        b.targets.fill(0.0);
        b.mask.fill(1.0);
        let start = (143 + shift) as usize;
        for c in 0..8 {
            b.targets
                .slice_mut(s![c, start..start + 51, 0])
                .assign(&r.shoulder().row(c));
            b.targets
                .slice_mut(s![c, start..start + 51, 1])
                .assign(&r.elbow().row(c));
            b.mask.slice_mut(s![c, start + 51.., ..]).fill(0.0);
        }
        let d = Prepared::<f64>::new(&b);
        let shifted = normalised_error(&forward(&net, &d.x).y, &d);
        assert!(shifted > 2.0 * err, "shift {shift}: {shifted} vs {err}");
    }
}
