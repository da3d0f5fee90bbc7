//! Similarity of network activity to neural recordings (SPEC §5), on the CPU in f64 with LAPACK
//! (ndarray-linalg).
//!
//! Activity is `[units, T, C]` (units × time bins × conditions). Every measure first flattens it
//! to a samples × features matrix `[T*C, units]` with time running within condition: sample
//! `s = t + T*c` (numpy's `reshape(units, T*C, order='F')`, transposed), see [`flatten`].
//!
//! The generalised shape metric reproduces netrep's
//! `LinearMetric(alpha, center_columns=True, zero_pad=True, score_method=...)` (Williams et al.
//! 2021) as used by Liu, Yang & Cueva 2025, `fit` and `score` on the same matrices:
//! 1. zero-pad the matrix with fewer features to the larger feature count;
//! 2. centre every column (feature) over samples;
//! 3. partially whiten each matrix with `Z = V diag(d) V^T`, where `X^T X = V diag(lam) V^T`,
//!    `lam` clipped below at 1e-7, `d = alpha + (1 - alpha) lam^(-1/2)`, rescaled so that the
//!    total variance is kept: `d *= sqrt(sum(lam) / sum(alpha² lam + 2 alpha (1-alpha) sqrt(lam)
//!    + (1-alpha)²))` (sums over all padded features, as netrep does); for
//!    `alpha > 1 - 1e-7` no whitening at all (`Z = I`);
//! 4. align the whitened matrices by the orthogonal Procrustes solution: `Xw^T Yw = U S V^T`,
//!    `X' = Xw U`, `Y' = Yw V`;
//! 5. score: angular `arccos(<X', Y'>_F / (||X'||_F ||Y'||_F))`, which equals
//!    `arccos(sum(S) / (||Xw||_F ||Yw||_F))`, returned **divided by pi/2** (SPEC §5: netrep
//!    returns radians, the paper normalises to `[0, 1]`); euclidean `||X' - Y'||_F`, returned
//!    as netrep returns it (not normalised; in the units of the data, since the partial
//!    whitening keeps the total variance).

use std::f64::consts::FRAC_PI_2;
use std::str::FromStr;

use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayView3, Axis};
use ndarray_linalg::{EigValsh, Eigh, JobSvd, SVDDC, UPLO};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Eigenvalues of `X^T X` are clipped below at this value before partial whitening, and
/// `alpha > 1 - EIGVAL_TOL` means no whitening (netrep's `whiten(eigval_tol=1e-7)`).
pub const EIGVAL_TOL: f64 = 1e-7;

/// Ground metric of the shape distance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    /// `arccos` of the normalised Frobenius inner product of the aligned matrices, divided by
    /// `pi/2`: in `[0, 1]` for the non-negative correlations seen in practice (at most 2).
    Angular,
    /// Frobenius norm of the difference of the aligned matrices (netrep's value, unnormalised).
    Euclidean,
}

impl FromStr for Score {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "angular" => Ok(Score::Angular),
            "euclidean" => Ok(Score::Euclidean),
            other => Err(Error::Input(format!(
                "unknown metric '{other}' (expected angular or euclidean)"
            ))),
        }
    }
}

/// `[units, T, C]` → samples × features `[T*C, units]`, sample index `s = t + T*c`.
pub fn flatten(act: ArrayView3<f64>) -> Array2<f64> {
    let (n, t, c) = act.dim();
    act.permuted_axes([2, 1, 0])
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((t * c, n))
        .expect("standard layout")
}

/// Generalised shape distance (netrep `LinearMetric(alpha, center_columns=True, zero_pad=True)`)
/// between `x [units_x, T, C]` and `y [units_y, T, C]`; see the module docs for the steps.
/// `Score::Angular` returns the angle divided by `pi/2` (0 = same shape); `Score::Euclidean`
/// returns netrep's Frobenius distance `||Xw U - Yw V||_F` of the aligned, partially whitened,
/// centred matrices (unnormalised, in the units of the data).
///
/// Errors (`Error::Input`): T or C differ, `alpha` outside `[0, 1]`, an empty axis, a NaN or
/// infinite value, or a matrix with no variance (all-zero or constant activity).
pub fn shape_distance(
    x: ArrayView3<f64>,
    y: ArrayView3<f64>,
    alpha: f64,
    score: Score,
) -> Result<f64> {
    shape_distance_named(x, "x", y, "y", alpha, score)
}

/// Angular Procrustes distance (SPEC §5): [`shape_distance`] with `alpha = 1`, angular score,
/// i.e. `arccos(sum(s) / (||Xc||_F ||Yc||_F)) / (pi/2)` with `s` the singular values of
/// `Xc^T Yc` of the centred, zero-padded flattened matrices.
pub fn angular_procrustes(x: ArrayView3<f64>, y: ArrayView3<f64>) -> Result<f64> {
    shape_distance(x, y, 1.0, Score::Angular)
}

/// [`shape_distance`] on matrices already flattened to samples × features (`[m, p]`, `[m, q]`).
pub fn shape_distance_samples(
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    alpha: f64,
    score: Score,
) -> Result<f64> {
    check_matrix("x", x)?;
    check_matrix("y", y)?;
    shape_core(x, "x", y, "y", alpha, score)
}

fn shape_distance_named(
    x: ArrayView3<f64>,
    xn: &str,
    y: ArrayView3<f64>,
    yn: &str,
    alpha: f64,
    score: Score,
) -> Result<f64> {
    check_alpha(alpha)?;
    check_pair(x, xn, y, yn)?;
    shape_core(flatten(x).view(), xn, flatten(y).view(), yn, alpha, score)
}

/// The shape metric on validated samples × features matrices.
fn shape_core(
    x: ArrayView2<f64>,
    xn: &str,
    y: ArrayView2<f64>,
    yn: &str,
    alpha: f64,
    score: Score,
) -> Result<f64> {
    check_alpha(alpha)?;
    if x.nrows() != y.nrows() {
        return Err(Error::Input(format!(
            "{xn} and {yn} have different numbers of samples ({} and {})",
            x.nrows(),
            y.nrows()
        )));
    }
    let n = x.ncols().max(y.ncols());
    // Zero columns stay zero under centring, so padding after centring is netrep's pad-then-centre.
    let xc = pad_columns(centre(x), n);
    let yc = pad_columns(centre(y), n);
    check_variance(&xc, xn)?;
    check_variance(&yc, yn)?;
    let xw = whiten(xc, alpha, xn)?;
    let yw = whiten(yc, alpha, yn)?;
    let m = xw.t().dot(&yw);
    match score {
        Score::Angular => {
            let (_, s, _) = m
                .svddc(JobSvd::None)
                .map_err(|e| lapack_err("SVD of x^T y", e))?;
            let corr = s.sum() / (fro(&xw) * fro(&yw));
            Ok(corr.clamp(-1.0, 1.0).acos() / FRAC_PI_2)
        }
        Score::Euclidean => {
            let (u, _, vt) = m
                .svddc(JobSvd::All)
                .map_err(|e| lapack_err("SVD of x^T y", e))?;
            let (u, vt) = (u.expect("U requested"), vt.expect("V^T requested"));
            let diff = xw.dot(&u) - yw.dot(&vt.t());
            Ok(fro(&diff))
        }
    }
}

/// netrep's `whiten(X, alpha, preserve_variance=True)` of a centred matrix; returns `X Z`.
fn whiten(xc: Array2<f64>, alpha: f64, name: &str) -> Result<Array2<f64>> {
    if alpha > 1.0 - EIGVAL_TOL {
        return Ok(xc);
    }
    let cov = xc.t().dot(&xc);
    let (lam, v) = cov
        .eigh(UPLO::Lower)
        .map_err(|e| lapack_err(&format!("eigendecomposition of {name}^T {name}"), e))?;
    let lam = lam.mapv(|l| l.max(EIGVAL_TOL));
    let new_var: f64 = lam
        .iter()
        .map(|&l| {
            alpha * alpha * l
                + 2.0 * alpha * (1.0 - alpha) * l.sqrt()
                + (1.0 - alpha) * (1.0 - alpha)
        })
        .sum();
    let rescale = (lam.sum() / new_var).sqrt();
    let d: Array1<f64> = lam.mapv(|l| (alpha + (1.0 - alpha) / l.sqrt()) * rescale);
    // Z = V diag(d) V^T: scale column j of V by d[j].
    let z = (&v * &d).dot(&v.t());
    Ok(xc.dot(&z))
}

/// Centred linear CKA (Kornblith et al. 2019) of the flattened `x` and `y`:
/// `||Yc^T Xc||_F² / (||Xc^T Xc||_F ||Yc^T Yc||_F)` in `[0, 1]` (1 = same up to rotation and
/// isotropic scale). Same input checks as [`shape_distance`]; unit counts may differ.
pub fn linear_cka(x: ArrayView3<f64>, y: ArrayView3<f64>) -> Result<f64> {
    check_pair(x, "x", y, "y")?;
    let xc = centre(flatten(x).view());
    let yc = centre(flatten(y).view());
    check_variance(&xc, "x")?;
    check_variance(&yc, "y")?;
    let cross = fro(&yc.t().dot(&xc));
    let sx = fro(&xc.t().dot(&xc));
    let sy = fro(&yc.t().dot(&yc));
    Ok((cross / sx) * (cross / sy))
}

/// One side of a shape metric, prepared once (centred, zero-padded to `width` features,
/// partially whitened) so that a recording is compared with many models without redoing it.
#[derive(Clone, Debug)]
pub struct ShapeSide {
    w: Array2<f64>,
    norm: f64,
}

impl ShapeSide {
    /// From activity `[units, T, C]` with `units <= width`.
    pub fn new(act: ArrayView3<f64>, name: &str, width: usize, alpha: f64) -> Result<Self> {
        check_alpha(alpha)?;
        check_tensor(act, name)?;
        let xc = pad_columns(centre(flatten(act).view()), width);
        check_variance(&xc, name)?;
        let w = whiten(xc, alpha, name)?;
        let norm = fro(&w);
        Ok(ShapeSide { w, norm })
    }
}

/// The shape metric between two prepared sides of equal width and sample count (the same
/// numbers as [`shape_distance`]).
pub fn shape_between(x: &ShapeSide, y: &ShapeSide, score: Score) -> Result<f64> {
    if x.w.dim() != y.w.dim() {
        return Err(Error::Input(format!(
            "prepared sides differ in shape: {:?} and {:?}",
            x.w.dim(),
            y.w.dim()
        )));
    }
    let m = x.w.t().dot(&y.w);
    match score {
        Score::Angular => {
            let (_, s, _) = m
                .svddc(JobSvd::None)
                .map_err(|e| lapack_err("SVD of x^T y", e))?;
            Ok((s.sum() / (x.norm * y.norm)).clamp(-1.0, 1.0).acos() / FRAC_PI_2)
        }
        Score::Euclidean => {
            let (u, _, vt) = m
                .svddc(JobSvd::All)
                .map_err(|e| lapack_err("SVD of x^T y", e))?;
            let (u, vt) = (u.expect("U requested"), vt.expect("V^T requested"));
            Ok(fro(&(x.w.dot(&u) - y.w.dot(&vt.t()))))
        }
    }
}

/// One side of linear CKA, prepared once: the centred matrix and `||Xc^T Xc||_F`.
#[derive(Clone, Debug)]
pub struct CkaSide {
    xc: Array2<f64>,
    gram_norm: f64,
}

impl CkaSide {
    pub fn new(act: ArrayView3<f64>, name: &str) -> Result<Self> {
        check_tensor(act, name)?;
        let xc = centre(flatten(act).view());
        check_variance(&xc, name)?;
        let gram_norm = fro(&xc.t().dot(&xc));
        Ok(CkaSide { xc, gram_norm })
    }

    /// Linear CKA with `other` (same sample count; [`linear_cka`]'s value).
    pub fn cka_with(&self, other: &CkaSide) -> f64 {
        let cross = fro(&other.xc.t().dot(&self.xc));
        (cross / self.gram_norm) * (cross / other.gram_norm)
    }
}

/// Metric CKA: `arccos(CKA) / (pi/2)` of [`linear_cka`], in `[0, 1]` (0 = same up to rotation
/// and isotropic scale); an angle, so it satisfies the triangle inequality.
pub fn cka_angular(x: ArrayView3<f64>, y: ArrayView3<f64>) -> Result<f64> {
    Ok(linear_cka(x, y)?.clamp(0.0, 1.0).acos() / FRAC_PI_2)
}

/// Principal components kept by [`cca_distance`] (the paper's recipe).
pub const CCA_COMPONENTS: usize = 20;
/// Ridge of [`cca_distance`], relative to the mean variance of the kept components.
pub const CCA_RIDGE: f64 = 1e-3;

/// One side of [`cca_distance`]: the centred samples × features matrix reduced to its top
/// principal components and whitened with the ridge, `P_k diag(1/sqrt(var_k + lambda))`, so that
/// the canonical correlations are the singular values of `Wx^T Wy / (m - 1)`.
#[derive(Clone, Debug)]
pub struct CcaBasis {
    w: Array2<f64>,
}

impl CcaBasis {
    /// From activity `[units, T, C]` (`name` names it in errors).
    pub fn new(act: ArrayView3<f64>, name: &str) -> Result<Self> {
        check_tensor(act, name)?;
        let xc = centre(flatten(act).view());
        check_variance(&xc, name)?;
        let m = xc.nrows();
        let (u, sv, _) = xc
            .svddc(JobSvd::Some)
            .map_err(|e| lapack_err(&format!("PCA of {name}"), e))?;
        let u = u.expect("U requested");
        let s0 = sv[0];
        let k = sv
            .iter()
            .take(CCA_COMPONENTS)
            .take_while(|&&v| v > 1e-10 * s0)
            .count();
        let dof = (m.max(2) - 1) as f64;
        let var: Vec<f64> = sv.iter().take(k).map(|v| v * v / dof).collect();
        let lambda = CCA_RIDGE * var.iter().sum::<f64>() / k as f64;
        let mut w = u.slice(ndarray::s![.., ..k]).to_owned();
        for (j, mut col) in w.columns_mut().into_iter().enumerate() {
            col *= sv[j] / (var[j] + lambda).sqrt();
        }
        Ok(CcaBasis { w })
    }
}

/// CCA distance as Liu, Yang & Cueva 2025 compute it: each flattened, centred matrix reduced to
/// its top 20 principal components (fewer if it has fewer), ridge `1e-3` times the mean variance of
/// those components added to each covariance, and `1 - mean` of the `min(kx, ky)` canonical
/// correlations. In `[0, 1]`; invariant to rotation, isotropic scaling and shifts of either side.
pub fn cca_distance(x: ArrayView3<f64>, y: ArrayView3<f64>) -> Result<f64> {
    check_pair(x, "x", y, "y")?;
    cca_between(&CcaBasis::new(x, "x")?, &CcaBasis::new(y, "y")?)
}

/// [`cca_distance`] between two prepared sides (same number of samples).
pub fn cca_between(x: &CcaBasis, y: &CcaBasis) -> Result<f64> {
    let m = x.w.nrows();
    if m != y.w.nrows() {
        return Err(Error::Input(format!(
            "x and y have different numbers of samples ({m} and {})",
            y.w.nrows()
        )));
    }
    let cross = x.w.t().dot(&y.w) / (m.max(2) - 1) as f64;
    let (_, rho, _) = cross
        .svddc(JobSvd::None)
        .map_err(|e| lapack_err("SVD of the CCA cross-covariance", e))?;
    Ok(1.0 - rho.mean().unwrap_or(0.0))
}

/// Every condition replaced by the across-condition mean: `out[u, t, c] = mean_c' data[u, t, c']`.
pub fn condition_average(data: ArrayView3<f64>) -> Array3<f64> {
    let (n, t, c) = data.dim();
    match data.mean_axis(Axis(2)) {
        Some(mean) => mean
            .insert_axis(Axis(2))
            .broadcast((n, t, c))
            .expect("broadcast over conditions")
            .to_owned(),
        None => Array3::zeros((n, t, c)),
    }
}

/// The paper's cross-condition-average baseline: the angular Procrustes distance (SPEC §5,
/// normalised to `[0, 1]`) between the condition-averaged data and the data, both flattened over
/// all conditions (`computecrossconditionaveragebaseline`).
pub fn cross_condition_baseline(data: ArrayView3<f64>) -> Result<f64> {
    check_tensor(data, "data")?;
    let avg = condition_average(data);
    shape_distance_named(
        avg.view(),
        "condition-averaged data",
        data,
        "data",
        1.0,
        Score::Angular,
    )
}

/// Split-half noise floor: the mean, over `draws` random splits of the units, of the angular
/// Procrustes distance between two disjoint halves of `n/2` units each (for odd `n` one unit is
/// left out of each split). The splits are drawn from ChaCha8 seeded with `seed`, so the result
/// is deterministic for a given seed.
pub fn split_half_floor(data: ArrayView3<f64>, draws: usize, seed: u64) -> Result<f64> {
    check_tensor(data, "data")?;
    let mut total = 0.0;
    for (ia, ib) in split_halves(data, draws, seed)? {
        let a = data.select(Axis(0), &ia);
        let b = data.select(Axis(0), &ib);
        total += shape_distance_named(
            a.view(),
            "first half of data",
            b.view(),
            "second half of data",
            1.0,
            Score::Angular,
        )?;
    }
    Ok(total / draws as f64)
}

/// The unit indices of [`split_half_floor`]'s `draws` splits (two disjoint halves of `n/2`
/// units each, ChaCha8 seeded with `seed`), for scoring the same splits in other metrics.
pub fn split_halves(
    data: ArrayView3<f64>,
    draws: usize,
    seed: u64,
) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    let n = data.dim().0;
    if n < 2 {
        return Err(Error::Input(format!(
            "data: split-half floor needs at least 2 units, got {n}"
        )));
    }
    if draws == 0 {
        return Err(Error::Input(
            "split-half floor needs at least one draw".into(),
        ));
    }
    let half = n / 2;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx: Vec<usize> = (0..n).collect();
    Ok((0..draws)
        .map(|_| {
            idx.shuffle(&mut rng);
            (idx[..half].to_vec(), idx[half..2 * half].to_vec())
        })
        .collect())
}

/// Split-half normalised distance `(d_model - d_floor) / (1 - d_floor)`: 0 at the noise floor,
/// 1 at the maximal distance. Not finite when `d_floor == 1`.
pub fn split_half_normalised(d_model: f64, d_floor: f64) -> f64 {
    (d_model - d_floor) / (1.0 - d_floor)
}

/// Participation ratio `(sum lambda)² / sum lambda²` of the eigenvalues of the covariance of the
/// flattened, centred activity (`[units, T, C]`); between 1 (rank 1) and the number of units
/// (isotropic). Errors as [`shape_distance`] for NaN, empty or variance-free input.
pub fn participation_ratio(act: ArrayView3<f64>) -> Result<f64> {
    check_tensor(act, "activity")?;
    let xc = centre(flatten(act).view());
    check_variance(&xc, "activity")?;
    let dof = (xc.nrows().max(2) - 1) as f64;
    let cov = xc.t().dot(&xc) / dof;
    let lam = cov
        .eigvalsh(UPLO::Lower)
        .map_err(|e| lapack_err("eigendecomposition of the activity covariance", e))?;
    let lam = lam.mapv(|l| l.max(0.0));
    let (s1, s2) = (lam.sum(), lam.iter().map(|l| l * l).sum::<f64>());
    Ok(s1 * s1 / s2)
}

// ---------------------------------------------------------------------------------------------

fn fro(a: &Array2<f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Subtract each column's mean over rows; a column whose values are all equal becomes exactly 0
/// (so constant activity is recognised as having no variance despite rounding).
fn centre(x: ArrayView2<f64>) -> Array2<f64> {
    let mut out = x.to_owned();
    for mut col in out.columns_mut() {
        let first = col[0];
        if col.iter().all(|&v| v == first) {
            col.fill(0.0);
        } else {
            let mean = col.sum() / col.len() as f64;
            col.mapv_inplace(|v| v - mean);
        }
    }
    out
}

fn pad_columns(x: Array2<f64>, n: usize) -> Array2<f64> {
    if x.ncols() == n {
        return x;
    }
    let mut out = Array2::zeros((x.nrows(), n));
    out.slice_mut(ndarray::s![.., ..x.ncols()]).assign(&x);
    out
}

fn check_alpha(alpha: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::Input(format!(
            "alpha must be in [0, 1], got {alpha}"
        )));
    }
    Ok(())
}

fn check_variance(xc: &Array2<f64>, name: &str) -> Result<()> {
    if xc.iter().all(|&v| v == 0.0) {
        return Err(Error::Input(format!(
            "{name} has no variance across time and conditions (all-zero or constant activity)"
        )));
    }
    Ok(())
}

fn check_tensor(a: ArrayView3<f64>, name: &str) -> Result<()> {
    let (n, t, c) = a.dim();
    if n == 0 || t == 0 || c == 0 {
        return Err(Error::Input(format!(
            "{name} has an empty axis: [units, T, C] = [{n}, {t}, {c}]"
        )));
    }
    if let Some(((u, ti, ci), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::Input(format!(
            "{name} holds {v} at [unit {u}, time {ti}, condition {ci}]"
        )));
    }
    Ok(())
}

fn check_matrix(name: &str, a: ArrayView2<f64>) -> Result<()> {
    let (m, n) = a.dim();
    if m == 0 || n == 0 {
        return Err(Error::Input(format!(
            "{name} has an empty axis: [samples, features] = [{m}, {n}]"
        )));
    }
    if let Some(((s, f), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::Input(format!(
            "{name} holds {v} at [sample {s}, feature {f}]"
        )));
    }
    Ok(())
}

fn check_pair(x: ArrayView3<f64>, xn: &str, y: ArrayView3<f64>, yn: &str) -> Result<()> {
    let ((_, tx, cx), (_, ty, cy)) = (x.dim(), y.dim());
    if (tx, cx) != (ty, cy) {
        return Err(Error::Input(format!(
            "{xn} and {yn} must have the same time bins and conditions: {xn} is [units, T, C] = {:?}, {yn} is {:?}",
            x.dim(),
            y.dim()
        )));
    }
    check_tensor(x, xn)?;
    check_tensor(y, yn)
}

fn lapack_err(what: &str, e: ndarray_linalg::error::LinalgError) -> Error {
    Error::Runtime(format!("LAPACK failed in the {what}: {e}"))
}
