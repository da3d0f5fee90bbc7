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

/// Both pairs are the same distance apart at `alpha` in both scores (within `tol`, relative
/// to the distance when above 1).
fn assert_same_scores(alpha: f64, [(x, y), (x2, y2)]: [(&Array3<f64>, &Array3<f64>); 2], tol: f64) {
    for score in [Score::Angular, Score::Euclidean] {
        let (a, b) = (d(x, y, alpha, score), d(x2, y2, alpha, score));
        assert!(
            (a - b).abs() < tol * a.max(1.0),
            "alpha {alpha} {score:?}: {a} vs {b}"
        );
    }
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
        assert_same_scores(alpha, [(&x, &y), (&x2, &y2)], 1e-9);
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
        assert_same_scores(alpha, [(&x, &y), (&y, &x)], 1e-10);
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
        if u.is_multiple_of(2) {
            ph.cos()
        } else {
            ph.sin()
        }
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

// ---------------------------------------------------------------------------------------------
// DSA (SPEC §9)

use snnlab::dsa::{self, DmdSettings, DsaScore};

/// Eigenvalues sorted by modulus (descending), then real and imaginary part, as `dsa` sorts them.
fn sorted(mut v: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    v.sort_by(|p, q| {
        let (mp, mq) = (p[0].hypot(p[1]), q[0].hypot(q[1]));
        mq.total_cmp(&mp)
            .then(q[0].total_cmp(&p[0]))
            .then(q[1].total_cmp(&p[1]))
    });
    v
}

fn assert_eigs_close(got: &[[f64; 2]], want: &[[f64; 2]], tol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g[0] - w[0]).abs() < tol && (g[1] - w[1]).abs() < tol,
            "{got:?} vs {want:?}"
        );
    }
}

/// `x[:, t+1, c] = m x[:, t, c]` from random initial states: `[n, T, C]`.
fn linear_run(m: &Array2<f64>, t: usize, c: usize, seed: u64) -> Array3<f64> {
    let n = m.nrows();
    let x0 = gauss2((n, c), seed);
    let mut x = Array3::zeros((n, t, c));
    for ci in 0..c {
        let mut state = x0.column(ci).to_owned();
        for ti in 0..t {
            x.slice_mut(s![.., ti, ci]).assign(&state);
            state = m.dot(&state);
        }
    }
    x
}

#[test]
fn dmd_of_a_linear_system_has_its_eigenvalues() {
    // M = R diag(rotation 0.9 e^{±0.4i}, 0.7) R^-1, with R a fixed well-conditioned matrix.
    let (rho, th) = (0.9f64, 0.4f64);
    let block = ndarray::arr2(&[
        [rho * th.cos(), -rho * th.sin(), 0.0],
        [rho * th.sin(), rho * th.cos(), 0.0],
        [0.0, 0.0, 0.7],
    ]);
    let r = ndarray::arr2(&[[1.0, 0.3, -0.2], [0.1, 1.0, 0.4], [-0.3, 0.2, 1.0]]);
    let rinv = {
        use ndarray_linalg::Inverse;
        r.inv().unwrap()
    };
    let m = r.dot(&block).dot(&rinv);
    let x = linear_run(&m, 30, 4, 1);
    let d = dsa::fit_dmd(x.view(), "x", &DmdSettings::default()).unwrap();
    let want = sorted(vec![
        [rho * th.cos(), rho * th.sin()],
        [rho * th.cos(), -rho * th.sin()],
        [0.7, 0.0],
    ]);
    assert_eigs_close(&d.eigenvalues, &want, 1e-9);
}

#[test]
fn delay_embedded_dmd_finds_the_roots_of_an_ar2_process() {
    // x_t = a1 x_{t-1} + a2 x_{t-2} with characteristic roots 0.95 e^{±0.3i}: the 2-delay state
    // [x_t, x_{t-1}] evolves by the companion matrix, whose eigenvalues are those roots.
    let (rho, th) = (0.95f64, 0.3f64);
    let (a1, a2) = (2.0 * rho * th.cos(), -rho * rho);
    let (t, c) = (40, 3);
    let mut x = Array3::zeros((1, t, c));
    let init = gauss2((c, 2), 7);
    for ci in 0..c {
        let (mut prev, mut cur) = (init[[ci, 0]], init[[ci, 1]]);
        for ti in 0..t {
            x[[0, ti, ci]] = cur;
            let next = a1 * cur + a2 * prev;
            prev = cur;
            cur = next;
        }
    }
    let want = sorted(vec![
        [rho * th.cos(), rho * th.sin()],
        [rho * th.cos(), -rho * th.sin()],
    ]);
    let s = DmdSettings {
        n_delays: 2,
        ..Default::default()
    };
    let d = dsa::fit_dmd(x.view(), "x", &s).unwrap();
    assert_eigs_close(&d.eigenvalues, &want, 1e-8);
}

/// A noisy nonlinear network's trajectories `[n, T, C]`: `x_{t+1} = tanh(W x_t) + noise`.
fn dynamics(n: usize, t: usize, c: usize, seed: u64) -> Array3<f64> {
    let w = gauss2((n, n), seed) * (1.3 / (n as f64).sqrt());
    let noise = gauss((n, t, c), seed ^ 0xabc) * 0.1;
    let x0 = gauss2((n, c), seed ^ 0x123);
    let mut x = Array3::zeros((n, t, c));
    for ci in 0..c {
        let mut state = x0.column(ci).to_owned();
        for ti in 0..t {
            x.slice_mut(s![.., ti, ci]).assign(&state);
            state = w.dot(&state).mapv(f64::tanh) + noise.slice(s![.., ti, ci]);
        }
    }
    x
}

fn dsa_angle(x: &Array3<f64>, y: &Array3<f64>, s: &DmdSettings) -> f64 {
    dsa::dsa(x.view(), y.view(), s, DsaScore::Angular, 1500)
        .unwrap()
        .0
        .score
}

#[test]
fn dsa_is_zero_on_itself_and_on_rotated_scaled_shifted_or_permuted_copies() {
    let plain = DmdSettings {
        n_delays: 2,
        ..Default::default()
    };
    let centred = DmdSettings {
        n_delays: 2,
        pca: Some(6),
        ..Default::default()
    };
    for seed in 0..3 {
        let x = dynamics(6, 40, 5, seed);
        assert!(dsa_angle(&x, &x, &plain) < 1e-6);
        let q = orthonormal(6, 6, seed + 100);
        let rotated = mix(&q, &x) * 3.0;
        assert!(dsa_angle(&x, &rotated, &plain) < 1e-3, "seed {seed}");
        let mut perm = Array2::zeros((6, 6));
        for i in 0..6 {
            perm[[i, (i * 5 + seed as usize) % 6]] = 1.0;
        }
        assert!(dsa_angle(&x, &mix(&perm, &x), &plain) < 1e-3, "seed {seed}");
        // DMD does not centre, so a shift is removed by the (centring) PCA.
        let shifted = offset(&(mix(&q, &x) * 0.5), seed);
        assert!(dsa_angle(&x, &shifted, &centred) < 1e-3, "seed {seed}");
    }
}

#[test]
fn dsa_is_symmetric_and_positive_between_different_systems() {
    let s = DmdSettings {
        n_delays: 2,
        ..Default::default()
    };
    for seed in 0..3 {
        let x = dynamics(5, 40, 4, seed);
        let y = dynamics(5, 40, 4, seed + 50);
        let (dxy, dyx) = (dsa_angle(&x, &y, &s), dsa_angle(&y, &x, &s));
        assert!(dxy > 0.05, "{dxy}");
        assert!((dxy - dyx).abs() < 1e-6, "{dxy} vs {dyx}");
    }
}

fn random_orthogonal(n: usize, seed: u64, reflect: bool) -> Array2<f64> {
    let mut q = orthonormal(n, n, seed);
    let det = {
        use ndarray_linalg::Determinant;
        q.det().unwrap()
    };
    if (det < 0.0) != reflect {
        q.column_mut(0).mapv_inplace(|v| -v);
    }
    q
}

fn cos_of(a: &Array2<f64>, b: &Array2<f64>, c: &Array2<f64>) -> f64 {
    (a * &c.dot(b).dot(&c.t())).sum() / (fro(a) * fro(b))
}

#[test]
fn exactly_conjugate_dmd_matrices_score_zero_in_both_components_of_o_n() {
    for seed in 0..6 {
        for reflect in [false, true] {
            let a = gauss2((10, 10), seed) / 3.0;
            let q = random_orthogonal(10, seed + 20, reflect);
            let b = q.t().dot(&a).dot(&q);
            let (da, db) = (dsa::prepare(a, "a").unwrap(), dsa::prepare(b, "b").unwrap());
            let r = dsa::compare(&da, &db, DsaScore::Angular, 1500).unwrap();
            assert!(
                r.angular < 1e-3,
                "seed {seed}, reflect {reflect}: {}",
                r.angular
            );
            assert!(r.wasserstein < 1e-12, "{}", r.wasserstein);
        }
    }
}

/// The reference's search, written out here: Adam (lr 0.01, betas 0.9/0.999, eps 1e-8) on `X`
/// with `C = (I + S)^-1 (I - S)`, `S = X - X^T`, minimising `||A - C B C^T||_F²` of the
/// normalised matrices; restarts from the identity and against the row-swapped `P B P^T`.
/// Returns the better cosine.
fn adam_cayley(a: &Array2<f64>, b: &Array2<f64>, iters: usize) -> f64 {
    use ndarray_linalg::Inverse;
    let n = a.nrows();
    let a = a / fro(a);
    let b = b / fro(b);
    let eye = Array2::<f64>::eye(n);
    let run = |b: &Array2<f64>| {
        let mut x = Array2::<f64>::zeros((n, n));
        let (mut m, mut v) = (x.clone(), x.clone());
        let (b1, b2, lr, eps) = (0.9f64, 0.999f64, 0.01, 1e-8);
        let cay = |x: &Array2<f64>| {
            let s = x - &x.t();
            let inv = (&eye + &s).inv().unwrap();
            (inv.dot(&(&eye - &s)), inv)
        };
        for k in 1..=iters {
            let (c, inv) = cay(&x);
            let e = c.dot(b).dot(&c.t()) - &a;
            let gc = (e.dot(&c).dot(&b.t()) + e.t().dot(&c).dot(b)) * 2.0;
            let gs = -inv.t().dot(&gc).dot(&(&c + &eye).t());
            let g = &gs - &gs.t();
            m = &m * b1 + &g * (1.0 - b1);
            v = &v * b2 + &(&g * &g) * (1.0 - b2);
            let mh = &m / (1.0 - b1.powi(k as i32));
            let vh = &v / (1.0 - b2.powi(k as i32));
            x = &x - &(mh / (vh.mapv(f64::sqrt) + eps) * lr);
        }
        cay(&x).0
    };
    let c1 = run(&b);
    let mut p = eye.clone();
    if n > 1 {
        p[[0, 0]] = 0.0;
        p[[1, 1]] = 0.0;
        p[[0, 1]] = 1.0;
        p[[1, 0]] = 1.0;
    }
    let c2 = run(&p.dot(&b).dot(&p.t())).dot(&p);
    cos_of(&a, &b, &c1).max(cos_of(&a, &b, &c2))
}

#[test]
fn multi_start_search_is_never_worse_than_adam_on_cayley_with_two_restarts() {
    let mut cases = Vec::new();
    for seed in 0..5 {
        // Unrelated pairs, noisy conjugates (both components) and DMD matrices of dynamics.
        let a = gauss2((6, 6), seed) / 2.0;
        cases.push((a.clone(), gauss2((6, 6), seed + 40) / 2.0));
        let q = random_orthogonal(6, seed + 60, seed % 2 == 1);
        cases.push((
            a.clone(),
            q.t().dot(&a).dot(&q) + gauss2((6, 6), seed + 80) * 0.1,
        ));
        let s = DmdSettings::default();
        let x = dsa::dmd_matrix(dynamics(6, 30, 4, seed).view(), "x", &s).unwrap();
        let y = dsa::dmd_matrix(dynamics(6, 30, 4, seed + 9).view(), "y", &s).unwrap();
        cases.push((x, y));
    }
    for (i, (a, b)) in cases.into_iter().enumerate() {
        let reference = adam_cayley(&a, &b, 1500);
        let (da, db) = (dsa::prepare(a, "a").unwrap(), dsa::prepare(b, "b").unwrap());
        let (ours, c) = dsa::align(&da, &db, 1500);
        // The returned C is orthogonal and attains the returned cosine.
        let ctc = c.t().dot(&c) - Array2::<f64>::eye(c.nrows());
        assert!(fro(&ctc) < 1e-9, "case {i}: C^T C - I = {}", fro(&ctc));
        assert!((cos_of(&da.a, &db.a, &c) - ours).abs() < 1e-9, "case {i}");
        assert!(
            ours >= reference - 1e-9,
            "case {i}: ours cos {ours} < reference {reference}"
        );
    }
}

#[test]
fn wasserstein_is_the_optimal_assignment_cost() {
    let x = [[1.0, 0.0], [0.5, 0.5], [0.5, -0.5], [-0.2, 0.0]];
    let y = [[0.9, 0.1], [-0.1, 0.0], [0.4, -0.6], [0.6, 0.4]];
    // Brute force over the 24 matchings.
    let cost = |p: [f64; 2], q: [f64; 2]| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2);
    let mut best = f64::INFINITY;
    let idx = [0usize, 1, 2, 3];
    for a in idx {
        for b in idx {
            for c in idx {
                for d in idx {
                    let perm = [a, b, c, d];
                    let mut seen = [false; 4];
                    perm.iter().for_each(|&k| seen[k] = true);
                    if seen.iter().all(|&s| s) {
                        let total: f64 = (0..4).map(|i| cost(x[i], y[perm[i]])).sum();
                        best = best.min(total);
                    }
                }
            }
        }
    }
    let w = dsa::wasserstein(&x, &y).unwrap();
    assert!((w - best / 4.0).abs() < 1e-15, "{w} vs {}", best / 4.0);
    // Unequal counts: the smaller set is padded with zeros.
    let w2 = dsa::wasserstein(&x[..1], &[[0.0, 0.0], [1.0, 0.0]]).unwrap();
    assert!(w2.abs() < 1e-15);
}

#[test]
fn dmd_rejects_too_many_delays_and_nan() {
    let x = dynamics(6, 10, 2, 1);
    let s = DmdSettings {
        n_delays: 4,
        ..Default::default()
    };
    // 6 units x 4 delays = 24 features > 2 x 7 samples.
    input_error(dsa::fit_dmd(x.view(), "x", &s), "add --pca");
    let with_pca = DmdSettings {
        pca: Some(2),
        ..s.clone()
    };
    assert!(dsa::fit_dmd(x.view(), "x", &with_pca).is_ok());
    let mut bad = x.clone();
    bad[[1, 2, 0]] = f64::NAN;
    input_error(
        dsa::fit_dmd(bad.view(), "x", &DmdSettings::default()),
        "NaN",
    );
}

// ---------------------------------------------------------------------------------------------
// The family as one type (snnlab::metric)

use snnlab::metric::{Metric, score_many};

#[test]
fn cca_of_single_units_is_one_minus_the_shrunk_correlation() {
    // One unit each: the canonical correlation is |corr(x, y)| / (1 + 1e-3) (ridge relative to
    // the variance), computed here by hand.
    let x = gauss((1, 30, 2), 1);
    let y = &x * 0.6 + gauss((1, 30, 2), 2) * 0.8;
    let (xf, yf) = (centred(&x), centred(&y));
    let corr = (&xf * &yf).sum() / (fro(&xf) * fro(&yf));
    let want = 1.0 - corr.abs() / (1.0 + CCA_RIDGE);
    let got = cca_distance(x.view(), y.view()).unwrap();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
}

#[test]
fn cca_is_invariant_to_rotation_scale_and_shift_and_shrunk_only_by_the_ridge() {
    let x = activity(8, 20, 3, 4);
    let q = orthonormal(8, 8, 9);
    let y = offset(&(mix(&q, &x) * 4.0), 3);
    let dxy = cca_distance(x.view(), y.view()).unwrap();
    let dxx = cca_distance(x.view(), x.view()).unwrap();
    assert!((dxy - dxx).abs() < 1e-10, "{dxy} vs {dxx}");
    // Self-distance by hand: only the ridge shrinks the correlations: 1 - mean(v/(v + lambda))
    // over the PC variances v (all 8 kept), lambda = 1e-3 mean(v).
    let xc = centred(&x);
    let v = {
        use ndarray_linalg::EigValsh;
        xc.t()
            .dot(&xc)
            .eigvalsh(ndarray_linalg::UPLO::Lower)
            .unwrap()
    };
    let lambda = CCA_RIDGE * v.mean().unwrap();
    let want = 1.0 - v.iter().map(|vi| vi / (vi + lambda)).sum::<f64>() / v.len() as f64;
    // So dxx = mean(lambda / (v + lambda)), which lies strictly between 0 and
    // mean(lambda / v) = 1e-3 mean(v) mean(1/v): small only when the spectrum is well
    // conditioned, so no fixed bound like 1e-2 follows from the ridge alone.
    let bound = lambda * v.iter().map(|vi| 1.0 / vi).sum::<f64>() / v.len() as f64;
    assert!(dxx > 0.0 && dxx < bound, "{dxx} vs bound {bound}");
    assert!(
        dxx >= lambda / (v.iter().cloned().fold(0.0, f64::max) + lambda),
        "{dxx}"
    );
    assert!((dxx - want).abs() < 1e-10, "{dxx} vs {want}");
}

#[test]
fn metric_cka_is_the_angle_of_cka() {
    let x = activity(5, 10, 3, 1);
    let y = activity(6, 10, 3, 2);
    let cka = linear_cka(x.view(), y.view()).unwrap();
    let ang = cka_angular(x.view(), y.view()).unwrap();
    assert!((ang - cka.acos() / FRAC_PI_2).abs() < 1e-15);
    assert!(cka_angular(x.view(), x.view()).unwrap() < 1e-6);
    // A hand case: two orthogonal 1-unit signals have CKA 0, metric CKA 1.
    let mut a = Array3::zeros((1, 4, 1));
    let mut b = Array3::zeros((1, 4, 1));
    for (t, (va, vb)) in [(1.0, 1.0), (-1.0, 1.0), (1.0, -1.0), (-1.0, -1.0)]
        .iter()
        .enumerate()
    {
        a[[0, t, 0]] = *va;
        b[[0, t, 0]] = *vb;
    }
    assert!(linear_cka(a.view(), b.view()).unwrap().abs() < 1e-15);
    assert!((cka_angular(a.view(), b.view()).unwrap() - 1.0).abs() < 1e-15);
}

#[test]
fn metric_ids_parse_and_batched_scores_equal_the_pairwise_ones() {
    let ids = [
        "procrustes",
        "shape:0.5",
        "shape:0:euclidean",
        "cka",
        "cka-angular",
        "cca",
        "dsa",
    ];
    let rec = dynamics(7, 25, 4, 1);
    let models: Vec<Array3<f64>> = (0..4)
        .map(|i| dynamics(5 + i, 25, 4, 10 + i as u64))
        .collect();
    let views: Vec<ArrayView3<f64>> = models.iter().map(|m| m.view()).collect();
    for id in ids {
        let m: Metric = id.parse().unwrap();
        assert_eq!(m.id(), id);
        assert_eq!(m.id().parse::<Metric>().unwrap(), m);
        let batch = score_many(&m, &views, rec.view()).unwrap();
        for (i, mv) in views.iter().enumerate() {
            let pair = m.score(*mv, rec.view()).unwrap();
            assert!(
                (batch[i] - pair).abs() < 1e-9,
                "{id} model {i}: {} vs {pair}",
                batch[i]
            );
        }
    }
    assert_eq!(Metric::parse_list("procrustes, cka,dsa").unwrap().len(), 3);
    assert_eq!(
        "procrustes".parse::<Metric>().unwrap().registry_name(),
        "procrustes-angular"
    );
    let p = "shape:0.5".parse::<Metric>().unwrap();
    let want = shape_distance(views[0], rec.view(), 0.5, Score::Angular).unwrap();
    assert_eq!(p.score(views[0], rec.view()).unwrap(), want);
    input_error("shape:1.5".parse::<Metric>(), "alpha");
    input_error("cosine".parse::<Metric>(), "--metric");
    let short = dynamics(5, 24, 4, 3);
    input_error(
        score_many(&Metric::Cka, &[short.view()], rec.view()),
        "model 0",
    );
}

/// Every metric id parses, prints back as itself, and its output name parses to the same metric
/// (so a table's `metric` value can be given to `--metric`).
#[test]
fn metric_ids_and_output_names_round_trip() {
    use snnlab::metric::Metric;
    for (id, name) in [
        ("procrustes", "procrustes-angular"),
        ("shape:0.5", "shape-angular-alpha0.5"),
        ("shape:0:euclidean", "shape-euclidean-alpha0"),
        ("cka", "cka"),
        ("cka-angular", "cka-angular"),
        ("cca", "cca-mean-pca20-ridge1e-3"),
        ("dsa", "dsa-angular"),
        ("dsa:pca10:rank8", "dsa-angular-pca10-rank8"),
        ("dsa:wasserstein:delays3", "dsa-wasserstein-delays3"),
    ] {
        let m: Metric = id.parse().unwrap();
        assert_eq!(m.id(), id);
        assert_eq!(m.registry_name(), name);
        assert_eq!(name.parse::<Metric>().unwrap(), m, "{name}");
    }
    for bad in ["dsa:pca0", "dsa:fast", "shape:2", "procrustes-euclidean"] {
        input_error(bad.parse::<Metric>(), bad);
    }
    let flags = [
        "procrustes,cka".to_string(),
        "procrustes-angular".to_string(),
    ];
    assert_eq!(
        Metric::parse_flags(&flags).unwrap().len(),
        2,
        "duplicates once"
    );
    assert_eq!(Metric::parse_flags(&[]).unwrap(), [Metric::PROCRUSTES]);
}

/// A DSA id's settings are the ones scored with; the baseline and floor of a metric are its
/// score of the condition average and the mean over the split halves.
#[test]
fn dsa_ids_carry_their_settings_and_metrics_give_their_own_floor() {
    use snnlab::dsa::{DmdSettings, DsaScore};
    use snnlab::metric::Metric;
    let x = activity(12, 30, 4, 3);
    let y = activity(10, 30, 4, 4);
    let m: Metric = "dsa:pca5:rank4".parse().unwrap();
    let s = DmdSettings {
        pca: Some(5),
        rank: Some(4),
        ..DmdSettings::default()
    };
    let want = snnlab::dsa::dsa(x.view(), y.view(), &s, DsaScore::Angular, 1500)
        .unwrap()
        .0
        .score;
    assert_eq!(m.score(x.view(), y.view()).unwrap(), want);
    let many = snnlab::metric::score_many(&m, &[x.view(), y.view()], y.view()).unwrap();
    assert_eq!(many[0], want);
    assert!(many[1].abs() < 1e-6, "self {}", many[1]);
    // Procrustes: exactly the similarity module's baseline and floor.
    let p = Metric::PROCRUSTES;
    assert_eq!(
        p.baseline(x.view()).unwrap(),
        cross_condition_baseline(x.view()).unwrap()
    );
    assert_eq!(
        p.split_half_floor(x.view(), 10, 0).unwrap(),
        split_half_floor(x.view(), 10, 0).unwrap()
    );
    // CCA: by hand over the same halves.
    let halves = split_halves(x.view(), 10, 0).unwrap();
    assert_eq!(halves.len(), 10);
    let by_hand = halves
        .iter()
        .map(|(a, b)| {
            assert_eq!((a.len(), b.len()), (6, 6));
            assert!(a.iter().all(|i| !b.contains(i)), "disjoint halves");
            cca_distance(
                x.select(ndarray::Axis(0), a).view(),
                x.select(ndarray::Axis(0), b).view(),
            )
            .unwrap()
        })
        .sum::<f64>()
        / 10.0;
    let got = Metric::Cca.split_half_floor(x.view(), 10, 0).unwrap();
    assert!((got - by_hand).abs() < 1e-12, "{got} vs {by_hand}");
    let avg = condition_average(x.view());
    assert_eq!(
        Metric::Cka.baseline(x.view()).unwrap(),
        linear_cka(avg.view(), x.view()).unwrap()
    );
}

/// One model that cannot be scored (no variance) gets its own error; the others their scores.
#[test]
fn score_many_each_keeps_the_other_models_scores() {
    use snnlab::metric::{Metric, score_many_each};
    let rec = activity(8, 20, 3, 1);
    let good = activity(6, 20, 3, 2);
    let flat = Array3::<f64>::zeros((6, 20, 3));
    for m in [Metric::PROCRUSTES, Metric::Cka, Metric::Cca] {
        let r = score_many_each(&m, &[good.view(), flat.view()], rec.view()).unwrap();
        assert_eq!(
            *r[0].as_ref().unwrap(),
            m.score(good.view(), rec.view()).unwrap()
        );
        assert!(r[1].is_err(), "{m:?}");
    }
}
