//! What the CPU twins of every network kind share: the prepared batch, the task loss, the
//! readout's way back to the units and its exact gradients.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, Array3, ArrayView2, Axis, Zip, s};

use crate::batch::{Batch, LossKind};
use crate::model::Real;
use crate::rules::Rule;

/// A batch converted to the engine's scalar type and time-major layout.
#[derive(Clone, Debug)]
pub struct Prepared<F> {
    pub x: Array3<F>,
    pub targets: Array3<F>,
    pub mask: Array3<F>,
    pub loss: LossKind,
    /// 1 / sum(mask) over the whole batch: the loss is a masked mean (SPEC §3).
    pub inv_mask_sum: F,
    /// Trials in the whole batch (the regulariser is a mean over all of them). Differs from
    /// `n_trials()` only for a chunk made by [`Prepared::split`].
    pub batch_trials: usize,
}

impl<F: Real> Prepared<F> {
    pub fn new(b: &Batch) -> Self {
        let cast = |a: &Array3<f64>| Batch::time_major(a).mapv(F::c);
        Self {
            x: cast(&b.inputs),
            targets: cast(&b.targets),
            mask: cast(&b.mask),
            loss: b.loss,
            inv_mask_sum: F::c(1.0 / b.mask.sum()),
            batch_trials: b.n_trials(),
        }
    }
    /// Split into at most `k` chunks of trials whose losses and gradients add up to the whole
    /// batch's (normalisers stay those of the whole batch), so trials can run on several threads.
    pub fn split(&self, k: usize) -> Vec<Prepared<F>> {
        let b = self.n_trials();
        let k = k.clamp(1, b);
        let per = b.div_ceil(k);
        (0..b)
            .step_by(per)
            .map(|lo| {
                let hi = (lo + per).min(b);
                let cut = |a: &Array3<F>| a.slice(s![.., lo..hi, ..]).to_owned();
                Prepared {
                    x: cut(&self.x),
                    targets: cut(&self.targets),
                    mask: cut(&self.mask),
                    loss: self.loss,
                    inv_mask_sum: self.inv_mask_sum,
                    batch_trials: self.batch_trials,
                }
            })
            .collect()
    }
    pub fn n_steps(&self) -> usize {
        self.x.dim().0
    }
    pub fn n_trials(&self) -> usize {
        self.x.dim().1
    }
}

/// The task loss of SPEC §3 (masked mse, or masked softmax cross-entropy with class-index
/// targets) of outputs `y [T, B, n_out]`, and its gradient dE/dy. Shared by every network kind.
pub fn task_loss<F: Real>(y: &Array3<F>, d: &Prepared<F>) -> (F, Array3<F>) {
    let (t_n, b, k) = y.dim();
    let mut dy = Array3::<F>::zeros((t_n, b, k));
    let mut task = F::zero();
    let inv = d.inv_mask_sum;
    match d.loss {
        LossKind::Mse => {
            Zip::from(&mut dy)
                .and(y)
                .and(&d.targets)
                .and(&d.mask)
                .for_each(|g, &y, &tg, &m| {
                    let e = y - tg;
                    task += m * e * e;
                    *g = F::c(2.0) * m * e * inv;
                });
        }
        LossKind::Ce => {
            for t in 0..t_n {
                for bi in 0..b {
                    let logits = y.slice(s![t, bi, ..]);
                    let mx = logits.fold(F::neg_infinity(), |a, &v| a.max(v));
                    let z: F = logits.iter().map(|&v| (v - mx).exp()).sum();
                    let lse = mx + z.ln();
                    let c = d.targets[[t, bi, 0]].to_usize().unwrap();
                    let m = d.mask[[t, bi, 0]];
                    task += m * (lse - logits[c]);
                    for kk in 0..k {
                        let p = (logits[kk] - lse).exp();
                        let onehot = if kk == c { F::one() } else { F::zero() };
                        dy[[t, bi, kk]] = m * inv * (p - onehot);
                    }
                }
            }
        }
    }
    (task * inv, dy)
}

/// Normalised error (SPEC §3): mean over outputs of masked SSE / masked variance of the target.
pub fn normalised_error<F: Real>(y: &Array3<F>, d: &Prepared<F>) -> F {
    let k = y.dim().2;
    let mut total = F::zero();
    for kk in 0..k {
        let (yk, tk, mk) = (
            y.slice(s![.., .., kk]),
            d.targets.slice(s![.., .., kk]),
            d.mask.slice(s![.., .., kk]),
        );
        let msum: F = mk.iter().copied().sum();
        let mean = Zip::from(&tk)
            .and(&mk)
            .fold(F::zero(), |a, &t, &m| a + t * m)
            / msum;
        let (mut sse, mut var) = (F::zero(), F::zero());
        Zip::from(&yk).and(&tk).and(&mk).for_each(|&y, &t, &m| {
            sse += m * (y - t) * (y - t);
            var += m * (t - mean) * (t - mean);
        });
        total += sse / var;
    }
    total / F::c(k as f64)
}

/// A time-major `[T, B, n]` array as `[T·B, n]`: every whole-sequence product is one GEMM.
pub(crate) fn flat<F: Real>(a: &Array3<F>) -> ArrayView2<'_, F> {
    let (t, b, n) = a.dim();
    a.view()
        .into_shape_with_order((t * b, n))
        .expect("contiguous")
}

/// A model's optional f32 matrix (the feedback, a mask) in scalar type F.
pub(crate) fn cast_matrix<F: Real>(m: Option<&Array2<f32>>) -> Option<Array2<F>> {
    m.map(|m| m.mapv(|v| F::c(v as f64)))
}

/// `S [n_out, N]`, the matrix that carries the readout error back to the units (SPEC §4):
/// `w_out`, or the fixed feedback (`[N, n_out]`, transposed) for the rules that use it.
pub(crate) fn readout_back<'a, F: Real>(
    rule: Rule,
    w_out: &'a Array2<F>,
    feedback: Option<&'a Array2<F>>,
) -> ArrayView2<'a, F> {
    if rule.uses_feedback() {
        feedback.expect("rule needs the feedback matrix").t()
    } else {
        w_out.view()
    }
}

/// Exact readout gradients (every rule): `dE/dw_out = sum_t gy[t] r[t]^T`, `dE/db_out =
/// sum_t gy[t]`, with `gy [T, B, n_out]` the readout's error and `r [T·B, N]` the states it reads.
pub(crate) fn readout_grads<F: Real>(
    w_out: &mut Array2<F>,
    b_out: &mut Array1<F>,
    gy: &Array3<F>,
    r: &ArrayView2<F>,
) {
    let gyf = flat(gy);
    general_mat_mul(F::one(), &gyf.t(), r, F::zero(), w_out);
    *b_out = gyf.sum_axis(Axis(0));
}
