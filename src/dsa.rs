//! Dynamical Similarity Analysis (SPEC §9; Ostrow et al. 2023, the HAVOK-DMD form of the
//! `dsa-metric` package), on the CPU in f64 with LAPACK (ndarray-linalg).
//!
//! Per array `[units, T, C]` (conditions are trials, each a `T × n` time-major matrix):
//! optional PCA (pooled over conditions and time, centred), delay embedding (newest sample first),
//! the thin SVD `H = V S U^T` of the flattened Hankel matrix, and the ridge regression
//! `A = ((V-^T V- + λI)^-1 V-^T V+)^T` in the first `r` temporal modes. Two such matrices are
//! compared after dividing each by its Frobenius norm:
//! `max over C in O(r) of tr(A_x^T C A_y C^T)` (= cos of the angular score; the Euclidean score
//! is `sqrt(2 - 2 cos)` since both norms are 1), and by the exact optimal transport between their
//! eigenvalues ([`wasserstein`]).
//!
//! # The orthogonal search
//! Riemannian L-BFGS ascent on O(r) in the body frame: at `C`, with `M = C^T A C`, `f(C) = tr(A^T C
//! B C^T) = <M, B>` and the gradient along a skew `W` (`C <- C exp(W)`) is `skew(M^T B + M B^T)`;
//! steps are the Cayley retraction `C (I - S/2)^-1 (I + S/2)` of the skew L-BFGS step `S` with
//! Armijo backtracking. A start stops when its gradient's norm falls below a tolerance, no step
//! increases `f`, or `f` has stalled over a window of steps. Every step stays on one component of
//! O(r), so the starts cover both: the identity, a row swap (det −1, the reference's two restarts),
//! sign-aligned starts (±1 diagonals maximising `f`: rotating a data set's neurons only flips signs
//! of its DMD matrix; greedy flips from all +1 and from signs propagated along a maximum spanning
//! tree of `|a_ij b_ij|`, which is exact for a sign-conjugate pair), spectral starts `Q_x D Q_y^T`
//! from the eigenvectors of the symmetric parts (with `D` sign-aligned the same ways in that basis)
//! in both components, and, unless one of those already aligns the pair exactly, seeded random
//! orthogonal matrices in both components (the landscape of unrelated pairs has many local maxima).
//! The starts race in two rounds (every start a few steps, then only the best), and the leaders
//! continue (two to eight: more where a step is cheap). A continuing start that has fallen behind
//! one that has converged, and at its current rate could not catch up within its remaining steps,
//! stops.
//!
//! Why Riemannian steps rather than the reference's Adam on a Cayley parametrisation
//! `C = (I + S)^-1 (I - S)`: the parametrisation cannot reach orthogonal matrices with eigenvalue
//! −1 (the Cayley map's image misses them, so a start's component is never fully covered), its
//! gradient is badly scaled far from the identity, and Adam's fixed learning rate needs thousands
//! of iterations (tests/cpu/similarity.rs runs it side by side: the Riemannian search is never
//! worse).
//! A step costs five r × r products (BLAS), one Cayley solve (Gaussian elimination on
//! contiguous rows, no pivoting needed) and a few inner products (eight partial sums each, so
//! they run at the speed of the loads rather than of one add's latency); every buffer is
//! allocated once per start.

use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayView3, Axis, s};
use ndarray_linalg::{EigVals, Eigh, Inverse, JobSvd, SVDDC, UPLO};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};

/// The settings of one DMD fit (SPEC §9 flags).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DmdSettings {
    /// `--n-delays d` (≥ 1).
    pub n_delays: usize,
    /// `--delay-interval tau` (≥ 1).
    pub delay_interval: usize,
    /// `--rank r`: temporal modes kept; None = all.
    pub rank: Option<usize>,
    /// `--pca p`: project onto the top p principal components first.
    pub pca: Option<usize>,
    /// `--ridge lambda` (≥ 0).
    pub ridge: f64,
}

impl Default for DmdSettings {
    fn default() -> Self {
        DmdSettings {
            n_delays: 1,
            delay_interval: 1,
            rank: None,
            pca: None,
            ridge: 0.0,
        }
    }
}

/// Which number `dsa` reports as `score`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DsaScore {
    /// `arccos` of the aligned normalised inner product, radians in `[0, pi]`.
    Angular,
    /// `||A_x - C A_y C^T||_F` of the normalised matrices.
    Euclidean,
    /// Exact optimal transport of the unnormalised eigenvalues, squared Euclidean cost.
    Wasserstein,
}

impl std::str::FromStr for DsaScore {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "angular" => Ok(DsaScore::Angular),
            "euclidean" => Ok(DsaScore::Euclidean),
            "wasserstein" => Ok(DsaScore::Wasserstein),
            o => Err(Error::Input(format!(
                "--score: unknown score '{o}' (expected angular, euclidean or wasserstein)"
            ))),
        }
    }
}

/// One array's DMD, ready to be compared: the r × r matrix, its eigenvalues and what the
/// orthogonal search needs from it (computed once per array, see [`dsa_many`]).
#[derive(Clone, Debug)]
pub struct Dmd {
    /// `A` as fitted (unnormalised).
    pub a: Array2<f64>,
    /// Eigenvalues of `A` as `[re, im]`, sorted by modulus, descending.
    pub eigenvalues: Vec<[f64; 2]>,
    /// `A / ||A||_F`.
    normalised: Array2<f64>,
    /// Eigenvectors of the symmetric part of `normalised` (columns, ascending eigenvalues).
    sym_vectors: Array2<f64>,
}

impl Dmd {
    /// The number of temporal modes r.
    pub fn rank(&self) -> usize {
        self.a.nrows()
    }
}

/// The three scores of one pair (the one asked for is `score`).
#[derive(Clone, Debug, Serialize)]
pub struct DsaResult {
    pub score: f64,
    pub score_method: DsaScore,
    pub angular: f64,
    pub euclidean: f64,
    pub wasserstein: f64,
}

/// Fit the HAVOK DMD of `x [units, T, C]` (`name` names it in errors).
pub fn fit_dmd(x: ArrayView3<f64>, name: &str, s: &DmdSettings) -> Result<Dmd> {
    let a = dmd_matrix(x, name, s)?;
    prepare(a, name)
}

/// The DMD matrix `A` (SPEC §9) of `x [units, T, C]`.
pub fn dmd_matrix(x: ArrayView3<f64>, name: &str, s: &DmdSettings) -> Result<Array2<f64>> {
    check_settings(s)?;
    let (n, t, c) = x.dim();
    if n == 0 || t == 0 || c == 0 {
        return Err(Error::Input(format!(
            "{name} has an empty axis: [units, T, C] = [{n}, {t}, {c}]"
        )));
    }
    if let Some(((u, ti, ci), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::Input(format!(
            "{name} holds {v} at [unit {u}, time {ti}, condition {ci}]"
        )));
    }
    let projected;
    let x = match s.pca {
        Some(p) => {
            projected = pca_project(x, p, name)?;
            projected.view()
        }
        None => x,
    };
    let n = x.dim().0;
    let (d, tau) = (s.n_delays, s.delay_interval);
    let span = (d - 1) * tau;
    if span + 2 > t {
        return Err(Error::Input(format!(
            "{name}: {d} delays {tau} bins apart need more than {t} time bins; reduce --n-delays or --delay-interval"
        )));
    }
    let tp = t - span;
    let (samples, features) = (c * tp, n * d);
    if features > samples {
        return Err(Error::Input(format!(
            "{name}: {n} {} x {d} delays = {features} features exceed the {samples} samples ({c} conditions x {tp} embedded bins); reduce --n-delays or add --pca",
            if s.pca.is_some() {
                "components"
            } else {
                "units"
            }
        )));
    }
    // H[c*T' + t, j*n + u] = x[u, t + (d-1-j) tau, c].
    let mut h = Array2::<f64>::zeros((samples, features));
    for ci in 0..c {
        for ti in 0..tp {
            let mut row = h.row_mut(ci * tp + ti);
            for j in 0..d {
                let src = x.slice(s![.., ti + (d - 1 - j) * tau, ci]);
                row.slice_mut(s![j * n..(j + 1) * n]).assign(&src);
            }
        }
    }
    let (v, sv, _) = h
        .svddc(JobSvd::Some)
        .map_err(|e| lapack_err(&format!("SVD of {name}'s Hankel matrix"), e))?;
    let v = v.expect("U requested");
    let full = sv.len();
    let r = s.rank.unwrap_or(full);
    if r > full {
        return Err(Error::Input(format!(
            "--rank {r} exceeds the {full} temporal modes of {name}"
        )));
    }
    let rows = c * (tp - 1);
    let mut vm = Array2::<f64>::zeros((rows, r));
    let mut vp = Array2::<f64>::zeros((rows, r));
    for ci in 0..c {
        let block = v.slice(s![ci * tp..(ci + 1) * tp, ..r]);
        vm.slice_mut(s![ci * (tp - 1)..(ci + 1) * (tp - 1), ..])
            .assign(&block.slice(s![..tp - 1, ..]));
        vp.slice_mut(s![ci * (tp - 1)..(ci + 1) * (tp - 1), ..])
            .assign(&block.slice(s![1.., ..]));
    }
    let mut gram = vm.t().dot(&vm);
    gram.diag_mut().mapv_inplace(|g| g + s.ridge);
    let inv = gram
        .inv()
        .map_err(|e| lapack_err(&format!("regression of {name}'s temporal modes"), e))?;
    Ok(inv.dot(&vm.t().dot(&vp)).reversed_axes())
}

/// Project `x [units, T, C]` onto its top `p` principal components (pooled over conditions and
/// time, centred): `[min(p, units, samples), T, C]`.
pub fn pca_project(x: ArrayView3<f64>, p: usize, name: &str) -> Result<ndarray::Array3<f64>> {
    if p == 0 {
        return Err(Error::Input("--pca must be at least 1".into()));
    }
    let (n, t, c) = x.dim();
    let mut flat = crate::similarity::flatten(x);
    let mean = flat.mean_axis(Axis(0)).expect("non-empty");
    flat -= &mean;
    let (_, _, vt) = flat
        .svddc(JobSvd::Some)
        .map_err(|e| lapack_err(&format!("PCA of {name}"), e))?;
    let vt = vt.expect("V^T requested");
    let k = p.min(vt.nrows()).min(n);
    let scores = flat.dot(&vt.slice(s![..k, ..]).t()); // [T*C, k], s = t + T*c
    let mut out = ndarray::Array3::<f64>::zeros((k, t, c));
    for ci in 0..c {
        for ti in 0..t {
            out.slice_mut(s![.., ti, ci])
                .assign(&scores.row(ti + t * ci));
        }
    }
    Ok(out)
}

/// Normalise `a`, take its eigenvalues and the eigenvectors of its symmetric part.
pub fn prepare(a: Array2<f64>, name: &str) -> Result<Dmd> {
    let norm = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(Error::Input(format!(
            "{name}: the DMD matrix is {} (no dynamics to compare)",
            if norm == 0.0 { "zero" } else { "not finite" }
        )));
    }
    let normalised = &a / norm;
    let sym = (&normalised + &normalised.t()) * 0.5;
    let (_, sym_vectors) = sym
        .eigh(UPLO::Lower)
        .map_err(|e| lapack_err(&format!("eigendecomposition of {name}'s symmetric part"), e))?;
    let ev = a
        .eigvals()
        .map_err(|e| lapack_err(&format!("eigenvalues of {name}'s DMD matrix"), e))?;
    let mut eigenvalues: Vec<[f64; 2]> = ev.iter().map(|z| [z.re, z.im]).collect();
    eigenvalues.sort_by(|p, q| {
        let (mp, mq) = (p[0].hypot(p[1]), q[0].hypot(q[1]));
        mq.total_cmp(&mp)
            .then(q[0].total_cmp(&p[0]))
            .then(q[1].total_cmp(&p[1]))
    });
    Ok(Dmd {
        a,
        eigenvalues,
        normalised,
        sym_vectors,
    })
}

/// Exact optimal transport cost between two equally weighted point sets in the complex plane
/// (squared Euclidean cost; the reference's `ot.emd2` with uniform weights): with equal counts an
/// assignment problem, solved exactly in f64 (`lsap`, scipy's `linear_sum_assignment`). A smaller
/// set is padded with zeros, as the reference does.
pub fn wasserstein(x: &[[f64; 2]], y: &[[f64; 2]]) -> Result<f64> {
    let m = x.len().max(y.len());
    if m == 0 {
        return Ok(0.0);
    }
    let at = |v: &[[f64; 2]], i: usize| v.get(i).copied().unwrap_or([0.0, 0.0]);
    let mut cost = Vec::with_capacity(m * m);
    for i in 0..m {
        let p = at(x, i);
        for j in 0..m {
            let q = at(y, j);
            cost.push((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2));
        }
    }
    let total = lsap::get_assigned_cost(m, m, &cost, false)
        .map_err(|e| Error::Runtime(format!("assignment of eigenvalues failed: {e:?}")))?;
    Ok(total / m as f64)
}

/// The best `cos = max over C in O(r) tr(A_x^T C A_y C^T)` of the normalised matrices (the
/// smaller one zero-padded) found by the multi-start Riemannian search of the module docs, with
/// at most `iters` steps per start. Returns the cosine and the best C.
///
/// Symmetric by construction: `f_xy(C) = f_yx(C^T)`, so the pair is searched in one canonical
/// order (the matrices compared entry by entry) and the other order gets `C^T`.
pub fn align(x: &Dmd, y: &Dmd, iters: usize) -> (f64, Array2<f64>) {
    if canonical_first(y, x) && !canonical_first(x, y) {
        let (cos, c) = align_ordered(y, x, iters);
        return (cos, c.reversed_axes().as_standard_layout().into_owned());
    }
    align_ordered(x, y, iters)
}

/// Whether `x` comes before `y` in the canonical order of [`align`]: by shape, then the first
/// differing entry of the normalised matrices.
fn canonical_first(x: &Dmd, y: &Dmd) -> bool {
    let (p, q) = (&x.normalised, &y.normalised);
    if p.dim() != q.dim() {
        return p.dim() < q.dim();
    }
    p.iter()
        .zip(q.iter())
        .map(|(u, v)| u.total_cmp(v))
        .find(|o| o.is_ne())
        .is_none_or(|o| o.is_lt())
}

fn align_ordered(x: &Dmd, y: &Dmd, iters: usize) -> (f64, Array2<f64>) {
    let n = x.rank().max(y.rank());
    let a = pad(&x.normalised, n);
    let b = pad(&y.normalised, n);
    let mut starts = vec![Array2::eye(n)];
    if n > 1 {
        let mut swap = Array2::eye(n);
        swap[[0, 0]] = 0.0;
        swap[[1, 1]] = 0.0;
        swap[[0, 1]] = 1.0;
        swap[[1, 0]] = 1.0;
        starts.push(swap);
        for d in sign_patterns(a.view(), b.view()) {
            starts.push(Array2::from_diag(&ndarray::Array1::from(d)));
        }
        let qx = pad_orthogonal(&x.sym_vectors, n);
        let qy = pad_orthogonal(&y.sym_vectors, n);
        let ar = qx.t().dot(&a).dot(&qx);
        let br = qy.t().dot(&b).dot(&qy);
        for signs in sign_patterns(ar.view(), br.view()) {
            starts.push(spectral(&qx, &signs, &qy));
            // The same start in the other component: flip the sign that costs least.
            let mut other = signs.clone();
            let worst = flip_cost_min(ar.view(), br.view(), &signs);
            other[worst] = -other[worst];
            starts.push(spectral(&qx, &other, &qy));
        }
    }
    // Race: every start gets a few steps; only the leaders spend the rest of the budget.
    // Random starts join only when no structured start has found an exact alignment.
    let exact = |s: &Ascent| s.f >= 1.0 - 1e-12;
    let mut field: Vec<Ascent> = starts
        .into_par_iter()
        .map(|c0| Ascent::new(a.view(), b.view(), c0))
        .collect();
    if n > 1 && !field.iter().any(exact) {
        let random: Vec<Ascent> = (0..RANDOM_STARTS)
            .into_par_iter()
            .map(|k| {
                let c0 = random_orthogonal(n, k as u64, k % 2 == 1);
                Ascent::new(a.view(), b.view(), c0)
            })
            .collect();
        field.extend(random);
    }
    // A start that already aligns the pair exactly (a sign-conjugate pair) runs alone.
    if let Some(k) = field.iter().position(exact) {
        field.swap(0, k);
        field.truncate(1);
    }
    // As many leaders as a fixed amount of arithmetic allows: each step costs ~n³.
    let leaders = (LEADER_WORK / (n as f64).powi(3)).clamp(2.0, 8.0) as usize;
    let mut spent = 0;
    for (steps, keep) in [(RACE_FIRST, 2 * leaders), (RACE_SECOND, leaders)] {
        let steps = steps.min(iters - spent);
        field.par_iter_mut().for_each(|s| s.run(steps, None));
        spent += steps;
        // Best first; equal scores keep their start order (the identity first).
        field.sort_by(|p, q| q.f.total_cmp(&p.f));
        field.truncate(keep);
    }
    // The leaders continue from their race points with fresh L-BFGS memory (measured: fewer
    // steps to convergence than keeping the race's pairs).
    let finished = AtomicU64::new(f64::NEG_INFINITY.to_bits());
    field
        .into_par_iter()
        .map(|s| {
            let mut s = Ascent::new(a.view(), b.view(), s.c);
            s.run(iters - spent, Some(&finished));
            (s.f, s.c)
        })
        .reduce_with(|p, q| if q.0 > p.0 { q } else { p })
        .expect("at least one start")
}

/// The two rounds of the race of [`align`]: every start runs `RACE_FIRST` steps and twice the
/// leaders are kept; they run `RACE_SECOND` more and the leaders continue.
const RACE_FIRST: usize = 10;
const RACE_SECOND: usize = 30;
/// Leaders (2 to 8) × n³: two leaders at n = 80 (a 40-unit pair with two delays), eight at
/// n ≤ 50, where a step is cheap and more leaders find better maxima of unrelated pairs.
const LEADER_WORK: f64 = 2.0 * 80.0 * 80.0 * 80.0;
/// Seeded random starts beside the structured ones, alternating between the components of O(n).
const RANDOM_STARTS: usize = 8;
/// Steps between two checks of a start's progress (stalled; behind a converged start).
const WINDOW: usize = 25;
/// A start whose `f` rose less than this over the last [`WINDOW`] steps has converged (its
/// angle is then within about 1e-11 rad of where more steps would take it).
const STALL: f64 = 1e-11;

/// A seeded random orthogonal matrix: the Cayley transform of a Gaussian skew matrix (a
/// rotation), times a reflection of the first axis when `reflect`.
fn random_orthogonal(n: usize, seed: u64, reflect: bool) -> Array2<f64> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xd5a0_0000 + seed);
    let mut skew = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in i + 1..n {
            let v: f64 = StandardNormal.sample(&mut rng);
            skew[[i, j]] = v;
            skew[[j, i]] = -v;
        }
    }
    let (mut lu, mut rot) = (Array2::zeros((n, n)), Array2::zeros((n, n)));
    cayley(&skew, &mut lu, &mut rot);
    if reflect {
        rot.row_mut(0).mapv_inplace(|v| -v);
    }
    rot
}

/// Score two fitted DMDs.
pub fn compare(x: &Dmd, y: &Dmd, score: DsaScore, iters: usize) -> Result<DsaResult> {
    let wasserstein = wasserstein(&x.eigenvalues, &y.eigenvalues)?;
    let (angular, euclidean) = if score == DsaScore::Wasserstein {
        (f64::NAN, f64::NAN)
    } else {
        let (cos, _) = align(x, y, iters);
        let cos = cos.clamp(-1.0, 1.0);
        (cos.acos(), (2.0 - 2.0 * cos).max(0.0).sqrt())
    };
    let value = match score {
        DsaScore::Angular => angular,
        DsaScore::Euclidean => euclidean,
        DsaScore::Wasserstein => wasserstein,
    };
    Ok(DsaResult {
        score: value,
        score_method: score,
        angular,
        euclidean,
        wasserstein,
    })
}

/// DSA between `x` and `y` (`[units, T, C]` each, same T and C not required by the method but
/// by the callers' contract).
pub fn dsa(
    x: ArrayView3<f64>,
    y: ArrayView3<f64>,
    s: &DmdSettings,
    score: DsaScore,
    iters: usize,
) -> Result<(DsaResult, Dmd, Dmd)> {
    let dx = fit_dmd(x, "x", s)?;
    let dy = fit_dmd(y, "y", s)?;
    let r = compare(&dx, &dy, score, iters)?;
    Ok((r, dx, dy))
}

/// Many model arrays against one recording: the recording's DMD is fitted once, the models' fits
/// and the pairs run on the rayon threads. `models[i]` is named `model i` in errors.
pub fn dsa_many(
    models: &[ArrayView3<f64>],
    recording: ArrayView3<f64>,
    s: &DmdSettings,
    score: DsaScore,
    iters: usize,
) -> Result<Vec<DsaResult>> {
    let rec = fit_dmd(recording, "recording", s)?;
    models
        .par_iter()
        .enumerate()
        .map(|(i, m)| {
            let dm = fit_dmd(*m, &format!("model {i}"), s)?;
            compare(&dm, &rec, score, iters)
        })
        .collect()
}

/// [`dsa_many`] with one result per model (a model whose DMD cannot be fitted gets its own
/// error); an error of the recording's fit is the whole call's.
pub fn dsa_many_each(
    models: &[ArrayView3<f64>],
    recording: ArrayView3<f64>,
    s: &DmdSettings,
    score: DsaScore,
    iters: usize,
) -> Result<Vec<Result<DsaResult>>> {
    let rec = fit_dmd(recording, "recording", s)?;
    Ok(models
        .par_iter()
        .enumerate()
        .map(|(i, m)| {
            let dm = fit_dmd(*m, &format!("model {i}"), s)?;
            compare(&dm, &rec, score, iters)
        })
        .collect())
}

/// What `snnlab dsa --out` writes (SPEC §9).
#[derive(Debug, Serialize)]
pub struct DsaReport {
    #[serde(flatten)]
    pub result: DsaResult,
    /// The compared size (the larger rank when the two differ; the smaller is zero-padded).
    pub rank: usize,
    pub rank_x: usize,
    pub rank_y: usize,
    pub eigenvalues_x: Vec<[f64; 2]>,
    pub eigenvalues_y: Vec<[f64; 2]>,
    pub n_delays: usize,
    pub delay_interval: usize,
    pub pca: Option<usize>,
    pub ridge: f64,
    /// `--rank` as given (None = all temporal modes).
    pub rank_requested: Option<usize>,
    pub iters: usize,
}

/// `snnlab dsa`: check the pair (same T and C), fit both, score.
pub fn command(
    x: &ndarray::Array3<f64>,
    x_path: &std::path::Path,
    y: &ndarray::Array3<f64>,
    y_path: &std::path::Path,
    s: &DmdSettings,
    score: DsaScore,
    iters: usize,
) -> Result<DsaReport> {
    let ((_, tx, cx), (_, ty, cy)) = (x.dim(), y.dim());
    if (tx, cx) != (ty, cy) {
        return Err(Error::Input(format!(
            "{} has [units, T, C] = {:?} but {} has {:?}: T and C must match",
            y_path.display(),
            y.dim(),
            x_path.display(),
            x.dim()
        )));
    }
    let dx = fit_dmd(x.view(), &x_path.display().to_string(), s)?;
    let dy = fit_dmd(y.view(), &y_path.display().to_string(), s)?;
    let result = compare(&dx, &dy, score, iters)?;
    Ok(DsaReport {
        result,
        rank: dx.rank().max(dy.rank()),
        rank_x: dx.rank(),
        rank_y: dy.rank(),
        eigenvalues_x: dx.eigenvalues,
        eigenvalues_y: dy.eigenvalues,
        n_delays: s.n_delays,
        delay_interval: s.delay_interval,
        pca: s.pca,
        ridge: s.ridge,
        rank_requested: s.rank,
        iters,
    })
}

/// Load an array (`snnlab::neural::load_neural`) whose axes are in `layout` order (a permutation
/// of N, T, C; `flag` names it in errors) as `[units, T, C]`.
pub fn load_layout(
    path: &std::path::Path,
    layout: &str,
    flag: &str,
) -> Result<ndarray::Array3<f64>> {
    let order = parse_layout(layout, flag)?;
    let a = crate::neural::load_neural(path)?;
    // a's axis k holds letter order[k]; we want N, T, C.
    let axis_of = |l: char| order.iter().position(|&o| o == l).expect("permutation");
    Ok(a.permuted_axes([axis_of('N'), axis_of('T'), axis_of('C')])
        .as_standard_layout()
        .into_owned())
}

fn parse_layout(layout: &str, flag: &str) -> Result<Vec<char>> {
    let order: Vec<char> = layout.to_ascii_uppercase().chars().collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    if sorted != ['C', 'N', 'T'] {
        return Err(Error::Input(format!(
            "{flag}: '{layout}' is not a permutation of the letters N, T, C"
        )));
    }
    Ok(order)
}

// ---------------------------------------------------------------------------------------------

fn check_settings(s: &DmdSettings) -> Result<()> {
    if s.n_delays == 0 {
        return Err(Error::Input("--n-delays must be at least 1".into()));
    }
    if s.delay_interval == 0 {
        return Err(Error::Input("--delay-interval must be at least 1".into()));
    }
    if s.rank == Some(0) {
        return Err(Error::Input("--rank must be at least 1".into()));
    }
    if !(s.ridge >= 0.0 && s.ridge.is_finite()) {
        return Err(Error::Input(format!(
            "--ridge must be finite and >= 0, got {}",
            s.ridge
        )));
    }
    Ok(())
}

fn pad(a: &Array2<f64>, n: usize) -> Array2<f64> {
    let mut out = Array2::zeros((n, n));
    out.slice_mut(s![..a.nrows(), ..a.ncols()]).assign(a);
    out
}

/// An r × r orthogonal matrix embedded in n × n (identity on the padding).
fn pad_orthogonal(q: &Array2<f64>, n: usize) -> Array2<f64> {
    let mut out = Array2::eye(n);
    out.slice_mut(s![..q.nrows(), ..q.ncols()]).assign(q);
    out
}

fn spectral(qx: &Array2<f64>, signs: &[f64], qy: &Array2<f64>) -> Array2<f64> {
    let d = ndarray::Array1::from(signs.to_vec());
    (qx * &d).dot(&qy.t())
}

/// Candidate ±1 signs `d` for `sum_ij a_ij b_ij d_i d_j` (a sign-conjugate pair `B = D A D` has
/// its maximum `sum a_ij^2` at `d = D`), each polished by best single flips until none helps:
/// from all +1, and from signs propagated along a maximum spanning tree of
/// `|m_ij + m_ji|` (`m = a ∘ b`), `d_j = sign(m_ij + m_ji) d_i`, which recovers `D` exactly for
/// a sign-conjugate pair (where greedy flips from all +1 can stop at a local optimum). Distinct
/// patterns only (up to a global sign), best first.
fn sign_patterns(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Vec<Vec<f64>> {
    let n = a.nrows();
    let m = &a * &b;
    let mut found: Vec<(f64, Vec<f64>)> = Vec::new();
    for d in [vec![1.0; n], tree_signs(m.view())] {
        let d = flip_ascent(m.view(), d);
        let same = |e: &Vec<f64>| {
            let s = d.iter().zip(e).map(|(p, q)| p * q).sum::<f64>();
            s.abs() == n as f64
        };
        if !found.iter().any(|(_, e)| same(e)) {
            found.push((sign_objective(m.view(), &d), d));
        }
    }
    found.sort_by(|p, q| q.0.total_cmp(&p.0));
    found.into_iter().map(|(_, d)| d).collect()
}

/// `sum_ij m_ij d_i d_j`.
fn sign_objective(m: ArrayView2<f64>, d: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..d.len() {
        for j in 0..d.len() {
            s += m[[i, j]] * d[i] * d[j];
        }
    }
    s
}

/// Signs along a maximum spanning tree (Prim, from node 0) of `|m_ij + m_ji|`.
fn tree_signs(m: ArrayView2<f64>) -> Vec<f64> {
    let n = m.nrows();
    let w = |i: usize, j: usize| m[[i, j]] + m[[j, i]];
    let mut d = vec![1.0; n];
    let mut in_tree = vec![false; n];
    let mut best = vec![f64::NEG_INFINITY; n];
    let mut parent = vec![0usize; n];
    if n == 0 {
        return d;
    }
    in_tree[0] = true;
    for (j, b) in best.iter_mut().enumerate().skip(1) {
        *b = w(0, j).abs();
    }
    for _ in 1..n {
        let mut j = usize::MAX;
        for k in 0..n {
            if !in_tree[k] && (j == usize::MAX || best[k] > best[j]) {
                j = k;
            }
        }
        in_tree[j] = true;
        let p = parent[j];
        d[j] = if w(p, j) < 0.0 { -d[p] } else { d[p] };
        for k in 0..n {
            if !in_tree[k] {
                let v = w(j, k).abs();
                if v > best[k] {
                    best[k] = v;
                    parent[k] = j;
                }
            }
        }
    }
    d
}

/// Best single flips of `d` for `sum m_ij d_i d_j` until none helps.
fn flip_ascent(m: ArrayView2<f64>, mut d: Vec<f64>) -> Vec<f64> {
    let n = d.len();
    for _ in 0..4 * n {
        let (best, gain) = (0..n)
            .map(|i| (i, -flip_change(m, &d, i)))
            .fold((0, f64::NEG_INFINITY), |p, q| if q.1 > p.1 { q } else { p });
        if gain <= 0.0 {
            break;
        }
        d[best] = -d[best];
    }
    d
}

/// Loss in `sum m_ij d_i d_j` when `d_i` flips (positive = worse).
fn flip_change(m: ArrayView2<f64>, d: &[f64], i: usize) -> f64 {
    let mut s = 0.0;
    for j in 0..d.len() {
        if j != i {
            s += (m[[i, j]] + m[[j, i]]) * d[j];
        }
    }
    2.0 * d[i] * s
}

fn flip_cost_min(a: ArrayView2<f64>, b: ArrayView2<f64>, d: &[f64]) -> usize {
    let m = &a * &b;
    (0..d.len())
        .map(|i| (i, flip_change(m.view(), d, i)))
        .fold((0, f64::INFINITY), |p, q| if q.1 < p.1 { q } else { p })
        .0
}

/// L-BFGS pairs kept by one start's search.
const MEMORY: usize = 8;
/// A start stops once the Frobenius norm of its Riemannian gradient falls below this (`f` is
/// then within about `GRAD_TOL² / curvature` of its local maximum).
const GRAD_TOL: f64 = 1e-9;
/// Armijo's sufficient-increase constant.
const ARMIJO: f64 = 1e-4;

/// One start's Riemannian L-BFGS ascent of `f(C) = <C^T A C, B>` on O(n), in the body frame: a
/// step is a skew `S` with `C <- C cay(S)`, `cay(S) = (I - S/2)^-1 (I + S/2)`. With `M = C^T A C`
/// the gradient is `skew(M^T B + M B^T)` (two products); the L-BFGS pairs live in the skew
/// matrices (the body frame transports them unchanged). Every buffer is allocated in [`Ascent::new`].
struct Ascent<'a> {
    a: ArrayView2<'a, f64>,
    b: ArrayView2<'a, f64>,
    /// The current point, `M = C^T A C` there, `f = <M, B>`, and `g`, the gradient of `-f`.
    c: Array2<f64>,
    m: Array2<f64>,
    f: f64,
    g: Array2<f64>,
    /// The trial point and its `M`, `g`.
    c_new: Array2<f64>,
    m_new: Array2<f64>,
    g_new: Array2<f64>,
    /// Search direction, trial step, and scratch for products and the Cayley solve.
    dir: Array2<f64>,
    step: Array2<f64>,
    p: Array2<f64>,
    q: Array2<f64>,
    lu: Array2<f64>,
    rot: Array2<f64>,
    /// Ring of the last `len` pairs (`s`, `y`, `1 / <s, y>`); `head` is the next slot.
    s_mem: Vec<Array2<f64>>,
    y_mem: Vec<Array2<f64>>,
    rho: [f64; MEMORY],
    alpha: [f64; MEMORY],
    len: usize,
    head: usize,
    /// No more steps: converged, or given up behind a converged start.
    done: bool,
    converged: bool,
}

impl<'a> Ascent<'a> {
    fn new(a: ArrayView2<'a, f64>, b: ArrayView2<'a, f64>, c0: Array2<f64>) -> Self {
        let n = a.nrows();
        let z = || Array2::<f64>::zeros((n, n));
        let mut s = Ascent {
            a,
            b,
            c: c0,
            m: z(),
            f: 0.0,
            g: z(),
            c_new: z(),
            m_new: z(),
            g_new: z(),
            dir: z(),
            step: z(),
            p: z(),
            q: z(),
            lu: z(),
            rot: z(),
            s_mem: (0..MEMORY).map(|_| z()).collect(),
            y_mem: (0..MEMORY).map(|_| z()).collect(),
            rho: [0.0; MEMORY],
            alpha: [0.0; MEMORY],
            len: 0,
            head: 0,
            done: false,
            converged: false,
        };
        s.f = frame(s.a, s.b, &s.c, &mut s.m, &mut s.p);
        descent_gradient(&s.m, s.b, &mut s.p, &mut s.q, &mut s.g);
        s
    }

    /// Stop here: a local maximum (to the search's precision).
    fn converge(&mut self) {
        self.done = true;
        self.converged = true;
    }

    /// `dir = -H g` by the two-loop recursion (steepest descent with no pairs).
    fn direction(&mut self) {
        self.dir.assign(&self.g);
        let slot = |k: usize| (self.head + MEMORY - 1 - k) % MEMORY; // k = 0: newest
        for k in 0..self.len {
            let i = slot(k);
            self.alpha[i] = self.rho[i] * dot(&self.s_mem[i], &self.dir);
            axpy(-self.alpha[i], &self.y_mem[i], &mut self.dir);
        }
        if self.len > 0 {
            let i = slot(0);
            let gamma = 1.0 / (self.rho[i] * dot(&self.y_mem[i], &self.y_mem[i]));
            self.dir.mapv_inplace(|v| v * gamma);
        }
        for k in (0..self.len).rev() {
            let i = slot(k);
            let beta = self.rho[i] * dot(&self.y_mem[i], &self.dir);
            axpy(self.alpha[i] - beta, &self.s_mem[i], &mut self.dir);
        }
        self.dir.mapv_inplace(|v| -v);
    }

    /// At most `steps` steps; stops early at a stationary point or when no step increases `f`.
    /// With `finished` (the best `f` of the starts that have converged, shared by the starts
    /// running side by side), also when this start is behind it and, at the rate of its last
    /// [`WINDOW`] steps, could not catch up within the steps it has left; a start that
    /// converges raises it.
    fn run(&mut self, steps: usize, finished: Option<&AtomicU64>) {
        self.ascend(steps, finished);
        if self.converged
            && let Some(best) = finished
        {
            raise(best, self.f);
        }
    }

    fn ascend(&mut self, steps: usize, finished: Option<&AtomicU64>) {
        let mut f_window = self.f;
        for k in 0..steps {
            if self.done {
                return;
            }
            if k > 0 && k % WINDOW == 0 {
                let gain = self.f - f_window;
                if gain < STALL {
                    self.converge();
                    return;
                }
                if let Some(best) = finished {
                    let best = f64::from_bits(best.load(Ordering::Relaxed));
                    let windows_left = (steps - k) as f64 / WINDOW as f64;
                    if best - self.f > 2.0 * windows_left * gain {
                        self.done = true;
                        return;
                    }
                }
                f_window = self.f;
            }
            let gnorm = dot(&self.g, &self.g).sqrt();
            if gnorm < GRAD_TOL || self.f >= 1.0 - 1e-15 {
                self.converge();
                return;
            }
            self.direction();
            let mut slope = dot(&self.g, &self.dir);
            if slope >= 0.0 {
                self.len = 0;
                self.direction();
                slope = -gnorm * gnorm;
            }
            let mut t = if self.len == 0 {
                (0.5 / gnorm).min(1.0)
            } else {
                1.0
            };
            let mut f_new = f64::NEG_INFINITY;
            while t > 1e-20 {
                for ((s, &d), &dt) in self.step.iter_mut().zip(&self.dir).zip(self.dir.t()) {
                    *s = 0.5 * t * (d - dt);
                }
                cayley(&self.step, &mut self.lu, &mut self.rot);
                general_mat_mul(1.0, &self.c, &self.rot, 0.0, &mut self.c_new);
                f_new = frame(self.a, self.b, &self.c_new, &mut self.m_new, &mut self.p);
                if f_new >= self.f - ARMIJO * t * slope {
                    break;
                }
                t *= 0.5;
            }
            // Written as a bool so that a NaN objective counts as a failed search.
            let sufficient = f_new >= self.f - ARMIJO * t * slope;
            if !sufficient || f_new - self.f <= 1e-16 {
                if self.len == 0 {
                    self.converge();
                    return;
                }
                // A poor quasi-Newton direction: forget the pairs, retry along the gradient.
                self.len = 0;
                continue;
            }
            descent_gradient(
                &self.m_new,
                self.b,
                &mut self.p,
                &mut self.q,
                &mut self.g_new,
            );
            // The new pair: s = the step taken, y = the change of the gradient.
            let i = self.head;
            self.s_mem[i].assign(&self.step);
            self.y_mem[i].assign(&self.g_new);
            axpy(-1.0, &self.g, &mut self.y_mem[i]);
            let sy = dot(&self.s_mem[i], &self.y_mem[i]);
            let yy = dot(&self.y_mem[i], &self.y_mem[i]);
            if sy > 1e-12 * yy.max(f64::MIN_POSITIVE) {
                self.rho[i] = 1.0 / sy;
                self.head = (self.head + 1) % MEMORY;
                self.len = (self.len + 1).min(MEMORY);
            }
            std::mem::swap(&mut self.c, &mut self.c_new);
            std::mem::swap(&mut self.m, &mut self.m_new);
            std::mem::swap(&mut self.g, &mut self.g_new);
            self.f = f_new;
        }
    }
}

/// `m = C^T A C` (`p` scratch); returns `f = <m, B>`.
fn frame(
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    c: &Array2<f64>,
    m: &mut Array2<f64>,
    p: &mut Array2<f64>,
) -> f64 {
    general_mat_mul(1.0, &a, c, 0.0, p);
    general_mat_mul(1.0, &c.t(), p, 0.0, m);
    dot_slices(
        m.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
    )
}

/// `g = -skew(M^T B + M B^T)`: the body-frame gradient of `-<M, B>` (`p`, `q` scratch). Along
/// a skew `W`, `M` moves by `M W - W M`, so `d<M, B> = <W, M^T B - B M^T>`.
fn descent_gradient(
    m: &Array2<f64>,
    b: ArrayView2<f64>,
    p: &mut Array2<f64>,
    q: &mut Array2<f64>,
    g: &mut Array2<f64>,
) {
    general_mat_mul(1.0, &m.t(), &b, 0.0, p);
    general_mat_mul(1.0, m, &b.t(), 0.0, q);
    // p <- M^T B + M B^T; g = -(p - p^T) / 2.
    *p += &*q;
    for ((gv, &pv), &pt) in g.iter_mut().zip(p.iter()).zip(p.t().iter()) {
        *gv = -0.5 * (pv - pt);
    }
}

/// `best = max(best, f)` on the bits of an f64.
fn raise(best: &AtomicU64, f: f64) {
    let _ = best.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
        (f > f64::from_bits(b)).then_some(f.to_bits())
    });
}

/// `<x, y>` of two standard-layout matrices, in eight independent partial sums (a single
/// running sum is bound by the latency of one add per element).
fn dot(x: &Array2<f64>, y: &Array2<f64>) -> f64 {
    dot_slices(
        x.as_slice().expect("standard layout"),
        y.as_slice().expect("standard layout"),
    )
}

fn dot_slices(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f64 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(p, q)| p * q)
        .sum();
    for (p, q) in xc.zip(yc) {
        for k in 0..8 {
            acc[k] += p[k] * q[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// `y += k x`.
fn axpy(k: f64, x: &Array2<f64>, y: &mut Array2<f64>) {
    y.zip_mut_with(x, |v, &u| *v += k * u);
}

/// `rot = (I - S/2)^-1 (I + S/2)` for skew `S` by Gaussian elimination without pivoting in `lu`
/// (safe: `I - S/2` has the identity as its symmetric part, so its leading minors never
/// vanish), on contiguous rows.
fn cayley(s: &Array2<f64>, lu: &mut Array2<f64>, rot: &mut Array2<f64>) {
    let n = s.nrows();
    let sv = s.as_slice().expect("standard layout");
    let lu = lu.as_slice_mut().expect("standard layout");
    let rot = rot.as_slice_mut().expect("standard layout");
    for (k, ((l, r), &x)) in lu.iter_mut().zip(rot.iter_mut()).zip(sv).enumerate() {
        let id = if k % (n + 1) == 0 { 1.0 } else { 0.0 };
        *l = id - 0.5 * x;
        *r = id + 0.5 * x;
    }
    // Forward elimination on lu, the same row operations on rot.
    for p in 0..n {
        let (lu_top, lu_below) = lu.split_at_mut((p + 1) * n);
        let (rot_top, rot_below) = rot.split_at_mut((p + 1) * n);
        let (lu_p, rot_p) = (&lu_top[p * n..], &rot_top[p * n..]);
        let piv = lu_p[p];
        for (lu_i, rot_i) in lu_below
            .chunks_exact_mut(n)
            .zip(rot_below.chunks_exact_mut(n))
        {
            let l = lu_i[p] / piv;
            if l == 0.0 {
                continue;
            }
            for (x, &y) in lu_i[p..].iter_mut().zip(&lu_p[p..]) {
                *x -= l * y;
            }
            for (x, &y) in rot_i.iter_mut().zip(rot_p) {
                *x -= l * y;
            }
        }
    }
    // Back substitution, one row of rot at a time.
    for p in (0..n).rev() {
        let (rot_top, rot_below) = rot.split_at_mut((p + 1) * n);
        let row = &mut rot_top[p * n..];
        let lu_p = &lu[p * n..(p + 1) * n];
        for (&coef, rot_k) in lu_p[p + 1..].iter().zip(rot_below.chunks_exact(n)) {
            for (x, &y) in row.iter_mut().zip(rot_k) {
                *x -= coef * y;
            }
        }
        let inv = 1.0 / lu_p[p];
        row.iter_mut().for_each(|x| *x *= inv);
    }
}

fn lapack_err(what: &str, e: ndarray_linalg::error::LinalgError) -> Error {
    Error::Runtime(format!("LAPACK failed in the {what}: {e}"))
}
