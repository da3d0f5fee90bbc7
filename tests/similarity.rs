//! Similarity measures of SPEC §5: invariances, zero-padding, agreement with brute force on tiny
//! inputs, CKA, participation ratio, split-half floor and input rejection.

use std::f64::consts::{FRAC_PI_2, PI};

use ndarray::{Array2, Array3, ArrayView3, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use snnlab::error::Error;
use snnlab::similarity::*;

fn gauss(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array3::from_shape_simple_fn(shape, || StandardNormal.sample(&mut rng))
}

fn gauss2(shape: (usize, usize), seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn(shape, || StandardNormal.sample(&mut rng))
}

/// `out[i, t, c] = sum_u a[i, u] x[u, t, c]`: a linear map of the units.
fn mix(a: &Array2<f64>, x: &Array3<f64>) -> Array3<f64> {
    let (n, t, c) = x.dim();
    let flat = x.view().into_shape_with_order((n, t * c)).unwrap();
    a.dot(&flat)
        .into_shape_with_order((a.nrows(), t, c))
        .unwrap()
}

/// Random activity with a non-isotropic unit covariance (so whitening matters).
fn activity(units: usize, t: usize, c: usize, seed: u64) -> Array3<f64> {
    let mut m = gauss2((units, units), seed ^ 0x5eed);
    for (i, mut row) in m.rows_mut().into_iter().enumerate() {
        row *= 1.0 + i as f64;
    }
    mix(&m, &gauss((units, t, c), seed)) + 0.7
}

/// Columns orthonormalised by Gram–Schmidt: an `n × k` matrix with orthonormal columns.
fn orthonormal(n: usize, k: usize, seed: u64) -> Array2<f64> {
    let mut q = gauss2((n, k), seed);
    for j in 0..k {
        for i in 0..j {
            let p = q.column(i).dot(&q.column(j));
            let qi = q.column(i).to_owned();
            q.column_mut(j).scaled_add(-p, &qi);
        }
        let norm = q.column(j).dot(&q.column(j)).sqrt();
        q.column_mut(j).mapv_inplace(|v| v / norm);
    }
    q
}

/// Add a different constant to every unit.
fn offset(x: &Array3<f64>, seed: u64) -> Array3<f64> {
    let off = gauss2((x.dim().0, 1), seed);
    let mut y = x.clone();
    for (u, mut plane) in y.outer_iter_mut().enumerate() {
        plane += 10.0 * off[[u, 0]];
    }
    y
}

fn d(x: &Array3<f64>, y: &Array3<f64>, alpha: f64, score: Score) -> f64 {
    shape_distance(x.view(), y.view(), alpha, score).unwrap()
}

fn input_error<T: std::fmt::Debug>(r: Result<T, Error>, needle: &str) {
    match r {
        Err(Error::Input(msg)) => {
            assert!(!msg.contains('\n'), "message is not one line: {msg}");
            assert!(
                msg.contains(needle),
                "message '{msg}' does not mention '{needle}'"
            );
        }
        other => panic!("expected Error::Input mentioning '{needle}', got {other:?}"),
    }
}

/// Samples × features, computed here independently: row `t + T*c`, column `u`.
fn flat_by_hand(x: &Array3<f64>) -> Array2<f64> {
    let (n, t, c) = x.dim();
    Array2::from_shape_fn((t * c, n), |(s, u)| x[[u, s % t, s / t]])
}

fn centred(x: &Array3<f64>) -> Array2<f64> {
    let mut f = flat_by_hand(x);
    let mean = f.mean_axis(ndarray::Axis(0)).unwrap();
    f -= &mean;
    f
}

fn fro(a: &Array2<f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Maximum over O(2) (rotations and reflections, by a dense grid of angles) of `<X R, Y>_F` for
/// two-column matrices.
fn brute_max_alignment(x: &Array2<f64>, y: &Array2<f64>) -> f64 {
    let steps = 200_000;
    let mut best = f64::NEG_INFINITY;
    for k in 0..steps {
        let th = 2.0 * PI * k as f64 / steps as f64;
        let (c, s) = (th.cos(), th.sin());
        for r in [
            ndarray::arr2(&[[c, -s], [s, c]]),
            ndarray::arr2(&[[c, s], [s, -c]]),
        ] {
            let v: f64 = (&x.dot(&r) * y).sum();
            best = best.max(v);
        }
    }
    best
}

/// `A^(-1/2)` of a 2×2 symmetric positive definite matrix in closed form.
fn inv_sqrt_2x2(a: &Array2<f64>) -> Array2<f64> {
    let det = a[[0, 0]] * a[[1, 1]] - a[[0, 1]] * a[[1, 0]];
    let tr = a[[0, 0]] + a[[1, 1]];
    let sd = det.sqrt();
    let root = (a + &(Array2::<f64>::eye(2) * sd)) / (tr + 2.0 * sd).sqrt();
    let rdet = root[[0, 0]] * root[[1, 1]] - root[[0, 1]] * root[[1, 0]];
    ndarray::arr2(&[[root[[1, 1]], -root[[0, 1]]], [-root[[1, 0]], root[[0, 0]]]]) / rdet
}

fn angle(inner: f64, x: &Array2<f64>, y: &Array2<f64>) -> f64 {
    (inner / (fro(x) * fro(y))).clamp(-1.0, 1.0).acos() / FRAC_PI_2
}

const ALPHAS: [f64; 4] = [0.0, 0.3, 0.5, 1.0];

#[test]
fn flatten_puts_time_within_condition() {
    let x = gauss((3, 4, 5), 1);
    let f = flatten(x.view());
    assert_eq!(f.dim(), (20, 3));
    assert_eq!(f, flat_by_hand(&x));
    assert_eq!(f[[1 + 4 * 2, 2]], x[[2, 1, 2]]);
}

#[test]
fn distance_to_itself_is_zero() {
    let x = activity(6, 9, 4, 2);
    for alpha in ALPHAS {
        let a = d(&x, &x, alpha, Score::Angular);
        let e = d(&x, &x, alpha, Score::Euclidean);
        assert!(a.abs() < 1e-6, "alpha {alpha}: angular self-distance {a}");
        assert!(
            e.abs() < 1e-8 * fro(&centred(&x)),
            "alpha {alpha}: euclidean self-distance {e}"
        );
    }
    assert!(angular_procrustes(x.view(), x.view()).unwrap() < 1e-6);
}

#[test]
fn distance_between_different_activity_is_positive() {
    let (x, y) = (activity(6, 9, 4, 3), activity(6, 9, 4, 4));
    for alpha in ALPHAS {
        let a = d(&x, &y, alpha, Score::Angular);
        assert!(a > 0.05 && a <= 1.0, "alpha {alpha}: angular distance {a}");
        assert!(d(&x, &y, alpha, Score::Euclidean) > 0.05);
    }
}

#[test]
fn invariant_to_rotation_of_units_and_offsets_at_every_alpha() {
    let (x, y) = (activity(6, 9, 4, 5), activity(6, 9, 4, 6));
    let q = orthonormal(6, 6, 7);
    let y2 = offset(&mix(&q, &y), 8);
    let x2 = offset(&x, 9);
    for alpha in ALPHAS {
        for score in [Score::Angular, Score::Euclidean] {
            let (a, b) = (d(&x, &y, alpha, score), d(&x2, &y2, alpha, score));
            assert!(
                (a - b).abs() < 1e-9 * a.max(1.0),
                "alpha {alpha} {score:?}: {a} vs {b}"
            );
        }
        let z = d(&x, &offset(&mix(&q, &x), 10), alpha, Score::Angular);
        assert!(
            z < 1e-6,
            "alpha {alpha}: distance to a rotated, offset copy {z}"
        );
    }
}

#[test]
fn angular_invariant_to_isotropic_scaling_without_or_with_full_whitening() {
    // Partial whitening (0 < alpha < 1) mixes identity and whitening with fixed weights, so it is
    // not scale-equivariant (as in netrep); alpha = 0 and alpha = 1 are.
    let (x, y) = (activity(6, 9, 4, 11), activity(6, 9, 4, 12));
    for alpha in [0.0, 1.0] {
        let a = d(&x, &y, alpha, Score::Angular);
        let b = d(&x, &(&y * 3.7), alpha, Score::Angular);
        let c = d(&(&x * 0.02), &y, alpha, Score::Angular);
        assert!(
            (a - b).abs() < 1e-9 && (a - c).abs() < 1e-9,
            "alpha {alpha}: {a} {b} {c}"
        );
        assert!(d(&x, &(&x * 42.0), alpha, Score::Angular) < 1e-6);
    }
}

#[test]
fn symmetric_in_its_arguments() {
    let (x, y) = (activity(5, 8, 3, 13), activity(7, 8, 3, 14));
    for alpha in ALPHAS {
        for score in [Score::Angular, Score::Euclidean] {
            let (a, b) = (d(&x, &y, alpha, score), d(&y, &x, alpha, score));
            assert!(
                (a - b).abs() < 1e-10 * a.max(1.0),
                "alpha {alpha} {score:?}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn zero_padding_handles_different_unit_counts() {
    let x = activity(5, 8, 3, 15);
    // Extra silent units change nothing.
    let mut padded = Array3::zeros((8, 8, 3));
    padded.slice_mut(s![..5, .., ..]).assign(&x);
    // x isometrically embedded in a larger space (orthonormal columns, 8 × 5), plus offsets.
    let embedded = offset(&mix(&orthonormal(8, 5, 16), &x), 17);
    for alpha in ALPHAS {
        for (name, y) in [("zero units", &padded), ("embedded", &embedded)] {
            let a = d(&x, y, alpha, Score::Angular);
            let e = d(&x, y, alpha, Score::Euclidean);
            assert!(a < 1e-6, "alpha {alpha} {name}: angular {a}");
            assert!(
                e < 1e-6 * fro(&centred(&x)),
                "alpha {alpha} {name}: euclidean {e}"
            );
        }
    }
    // A two-unit copy is not the same shape as five units.
    let two = x.slice(s![..2, .., ..]).to_owned();
    assert!(d(&x, &two, 1.0, Score::Angular) > 0.05);
}

#[test]
fn two_units_without_whitening_match_brute_force_over_rotations_and_reflections() {
    for seed in 20..23 {
        let (x, y) = (activity(2, 6, 3, seed), activity(2, 6, 3, seed + 100));
        let (xc, yc) = (centred(&x), centred(&y));
        let best = brute_max_alignment(&xc, &yc);
        let want = angle(best, &xc, &yc);
        let got = angular_procrustes(x.view(), y.view()).unwrap();
        assert!(
            (got - want).abs() < 1e-6,
            "angular {got} vs brute force {want}"
        );
        let want_e = (fro(&xc).powi(2) + fro(&yc).powi(2) - 2.0 * best)
            .max(0.0)
            .sqrt();
        let got_e = d(&x, &y, 1.0, Score::Euclidean);
        assert!(
            (got_e - want_e).abs() < 1e-6 * want_e,
            "euclidean {got_e} vs brute force {want_e}"
        );
    }
}

#[test]
fn two_units_with_explicit_whitening_match_brute_force() {
    for seed in 30..33 {
        let (x, y) = (activity(2, 6, 3, seed), activity(2, 6, 3, seed + 100));
        let (xc, yc) = (centred(&x), centred(&y));
        let (ix, iy) = (
            inv_sqrt_2x2(&xc.t().dot(&xc)),
            inv_sqrt_2x2(&yc.t().dot(&yc)),
        );
        // Full whitening (alpha = 0), rescaled to keep the total variance: sum(lam) / 2 units.
        let xw = xc.dot(&ix) * (fro(&xc).powi(2) / 2.0).sqrt();
        let yw = yc.dot(&iy) * (fro(&yc).powi(2) / 2.0).sqrt();
        let best = brute_max_alignment(&xw, &yw);
        let got = d(&x, &y, 0.0, Score::Angular);
        let want = angle(best, &xw, &yw);
        assert!(
            (got - want).abs() < 1e-6,
            "alpha 0 angular {got} vs brute force {want}"
        );
        let got_e = d(&x, &y, 0.0, Score::Euclidean);
        let want_e = (fro(&xw).powi(2) + fro(&yw).powi(2) - 2.0 * best)
            .max(0.0)
            .sqrt();
        assert!(
            (got_e - want_e).abs() < 1e-6 * want_e,
            "alpha 0 euclidean {got_e} vs brute force {want_e}"
        );

        // Partial whitening: Z = alpha I + (1 - alpha) (X^T X)^(-1/2), up to a scale.
        let alpha = 0.5;
        let zx = Array2::<f64>::eye(2) * alpha + &ix * (1.0 - alpha);
        let zy = Array2::<f64>::eye(2) * alpha + &iy * (1.0 - alpha);
        let (xw, yw) = (xc.dot(&zx), yc.dot(&zy));
        let want = angle(brute_max_alignment(&xw, &yw), &xw, &yw);
        let got = d(&x, &y, alpha, Score::Angular);
        assert!(
            (got - want).abs() < 1e-6,
            "alpha 0.5 angular {got} vs brute force {want}"
        );
    }
}

#[test]
fn euclidean_is_unnormalised_frobenius_distance() {
    let x = activity(4, 7, 3, 40);
    // Best alignment of x with 2x is the identity: the distance is ||Xc||_F.
    let e = d(&x, &(&x * 2.0), 1.0, Score::Euclidean);
    let want = fro(&centred(&x));
    assert!((e - want).abs() < 1e-9 * want, "{e} vs {want}");
}

#[test]
fn shape_distance_on_samples_matches_the_tensor_form() {
    let (x, y) = (activity(4, 7, 3, 41), activity(6, 7, 3, 42));
    for alpha in ALPHAS {
        let a = d(&x, &y, alpha, Score::Angular);
        let b = shape_distance_samples(
            flatten(x.view()).view(),
            flatten(y.view()).view(),
            alpha,
            Score::Angular,
        )
        .unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn cka_is_one_with_itself_and_invariant_to_rotation_and_scale() {
    let (x, y) = (activity(6, 9, 4, 50), activity(4, 9, 4, 51));
    let c = linear_cka(x.view(), x.view()).unwrap();
    assert!((c - 1.0).abs() < 1e-12, "cka(x, x) = {c}");
    let x2 = offset(&(mix(&orthonormal(6, 6, 52), &x) * 5.0), 53);
    let c2 = linear_cka(x.view(), x2.view()).unwrap();
    assert!((c2 - 1.0).abs() < 1e-10, "cka(x, 5 Q x + b) = {c2}");
    let a = linear_cka(x.view(), y.view()).unwrap();
    let b = linear_cka(x2.view(), (y.clone() * 0.1).view()).unwrap();
    assert!(a > 0.0 && a < 0.999, "cka {a}");
    assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    assert!((a - linear_cka(y.view(), x.view()).unwrap()).abs() < 1e-12);

    // Against the sample-space (Gram matrix) definition.
    let (xc, yc) = (centred(&x), centred(&y));
    let (k, l) = (xc.dot(&xc.t()), yc.dot(&yc.t()));
    let want = (&k * &l).sum() / (fro(&k) * fro(&l));
    assert!((a - want).abs() < 1e-10, "cka {a} vs gram form {want}");
}

#[test]
fn participation_ratio_counts_dimensions() {
    // Four orthogonal, zero-mean signals of equal power over whole periods: isotropic.
    let t = 16;
    let wave = |u: usize, ti: usize| {
        let ph = 2.0 * PI * ti as f64 / t as f64 * (1 + u / 2) as f64;
        if u % 2 == 0 { ph.cos() } else { ph.sin() }
    };
    let iso = Array3::from_shape_fn((4, t, 1), |(u, ti, _)| wave(u, ti) + u as f64);
    let pr = participation_ratio(iso.view()).unwrap();
    assert!((pr - 4.0).abs() < 1e-9, "isotropic: {pr}");
    // Powers 1 : 2 on two orthogonal signals: (1 + 2)² / (1 + 4) = 1.8.
    let two = Array3::from_shape_fn((2, t, 1), |(u, ti, _)| {
        wave(u, ti) * if u == 0 { 1.0 } else { 2f64.sqrt() }
    });
    let pr = participation_ratio(two.view()).unwrap();
    assert!((pr - 1.8).abs() < 1e-9, "two dimensions: {pr}");
    // Rank 1: every unit a multiple of one signal, plus offsets.
    let g = gauss((1, 9, 4), 60);
    let rank1 = offset(
        &Array3::from_shape_fn((5, 9, 4), |(u, ti, c)| (u as f64 - 2.5) * g[[0, ti, c]]),
        61,
    );
    let pr = participation_ratio(rank1.view()).unwrap();
    assert!((pr - 1.0).abs() < 1e-9, "rank 1: {pr}");
    // Random isotropic Gaussian data: close to the unit count.
    let pr = participation_ratio(gauss((5, 400, 5), 62).view()).unwrap();
    assert!((pr - 5.0).abs() < 0.1, "gaussian: {pr}");
}

#[test]
fn condition_average_and_its_baseline() {
    let x = activity(5, 7, 4, 70);
    let avg = condition_average(x.view());
    assert_eq!(avg.dim(), x.dim());
    for u in 0..5 {
        for t in 0..7 {
            let mean = (0..4).map(|c| x[[u, t, c]]).sum::<f64>() / 4.0;
            for c in 0..4 {
                assert!((avg[[u, t, c]] - mean).abs() < 1e-12);
            }
        }
    }
    let base = cross_condition_baseline(x.view()).unwrap();
    let want = angular_procrustes(avg.view(), x.view()).unwrap();
    assert_eq!(base, want);
    assert!(base > 0.05 && base < 1.0, "baseline {base}");
    // Conditions that are all alike: the average is the data.
    let same = Array3::from_shape_fn((5, 7, 3), |(u, t, _)| x[[u, t, 0]]);
    assert!(cross_condition_baseline(same.view()).unwrap() < 1e-6);
}

#[test]
fn split_half_floor_is_deterministic_under_a_seed() {
    let x = activity(9, 8, 3, 80);
    let a = split_half_floor(x.view(), 5, 7).unwrap();
    let b = split_half_floor(x.view(), 5, 7).unwrap();
    let c = split_half_floor(x.view(), 5, 8).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a > 0.0 && a < 1.0, "floor {a}");
    // With 2 units there is one split up to order, so every seed and draw count agrees.
    let two = x.slice(s![..2, .., ..]).to_owned();
    let want = angular_procrustes(two.slice(s![..1, .., ..]), two.slice(s![1..2, .., ..])).unwrap();
    for seed in 0..4 {
        assert!((split_half_floor(two.view(), 3, seed).unwrap() - want).abs() < 1e-12);
    }
    assert_eq!(split_half_normalised(0.5, 0.2), (0.5 - 0.2) / 0.8);
    assert_eq!(split_half_normalised(0.2, 0.2), 0.0);
    assert_eq!(split_half_normalised(1.0, 0.3), 1.0);
}

#[test]
fn bad_input_is_rejected_with_a_message() {
    let x = activity(4, 6, 3, 90);
    for alpha in [-0.1, 1.1, f64::NAN] {
        input_error(
            shape_distance(x.view(), x.view(), alpha, Score::Angular),
            "alpha",
        );
    }
    let short = activity(4, 5, 3, 91);
    input_error(angular_procrustes(x.view(), short.view()), "time bins");
    input_error(linear_cka(x.view(), short.view()), "time bins");
    let fewer = activity(4, 6, 2, 92);
    input_error(
        shape_distance(x.view(), fewer.view(), 0.5, Score::Euclidean),
        "conditions",
    );

    let mut nan = x.clone();
    nan[[1, 2, 0]] = f64::NAN;
    input_error(angular_procrustes(x.view(), nan.view()), "NaN");
    input_error(participation_ratio(nan.view()), "NaN");
    input_error(cross_condition_baseline(nan.view()), "NaN");

    let zeros = Array3::<f64>::zeros((4, 6, 3));
    let constant = Array3::<f64>::from_elem((4, 6, 3), 0.1) + 1e-3;
    for bad in [&zeros, &constant] {
        for alpha in [0.0, 1.0] {
            input_error(
                shape_distance(x.view(), bad.view(), alpha, Score::Angular),
                "no variance",
            );
        }
        input_error(linear_cka(bad.view(), x.view()), "no variance");
        input_error(participation_ratio(bad.view()), "no variance");
        input_error(split_half_floor(bad.view(), 2, 0), "no variance");
    }
    // Data constant in time: its condition average is constant, so the baseline is undefined.
    let flat_in_time = Array3::from_shape_fn((4, 6, 3), |(u, _, c)| (u * c) as f64);
    input_error(cross_condition_baseline(flat_in_time.view()), "no variance");

    let empty: ArrayView3<f64> = x.slice(s![.., ..0, ..]);
    input_error(angular_procrustes(empty, empty), "empty");
    input_error(
        split_half_floor(x.slice(s![..1, .., ..]), 3, 0),
        "at least 2 units",
    );
    input_error(split_half_floor(x.view(), 0, 0), "draw");
    input_error("cosine".parse::<Score>(), "cosine");
    assert_eq!("euclidean".parse::<Score>().unwrap(), Score::Euclidean);
}
