//! CPU implementation of the spiking network (SPEC §2, §3, §4), generic over f32/f64: forward
//! pass, losses with the leaky readout and the firing-rate regulariser, BPTT (and every rule of
//! SPEC §4 as a cut graph), e-prop online (per-synapse eligibility traces) and e-prop factorised.
//!
//! Layout is time-major as for the rate network: `x [T, B, n_in]`, `v, a, z, psi [T, B, N]`,
//! `y [T, B, n_out]`; step `t` is index `t` (the state before step 0 is zero).
//!
//! Gradients use the pseudo-derivative `psi` for dz/dv (and `-beta psi` for dz/da); no gradient
//! flows through the reset term. With `delta_v[t] = dE/dv[t]` and `delta_a[t] = dE/da[t]` in the
//! rule's graph, the backward recurrence is
//! ```text
//! gy[t]  = dE/dy[t] + kappa gy[t+1]                                   (leaky readout)
//! dz[t]  = S gy[t] + dEreg/dz[t] + (1 - rho) delta_a[t+1] + [not cut at t+1] w_rec^T delta_v[t+1]
//! delta_v[t] = psi[t] dz[t] + a_v delta_v[t+1]
//! delta_a[t] = -beta psi[t] dz[t] + rho delta_a[t+1]
//! dE/dw_rec = sum_t delta_v[t] z[t-1]^T,  dE/dw_in = sum_t delta_v[t] x[t]^T,
//! dE/dw_out = sum_t gy[t] z[t]^T,          dE/db_out = sum_t gy[t]
//! ```
//! with `S = w_out^T`, or the fixed `feedback` for `eprop-random` and `readout-fa`.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array3, Axis, Zip, s};
use rayon::prelude::*;

use super::common::{Prepared, cast_matrix, flat, readout_back, readout_grads, task_loss};
use crate::model::Real;
use crate::rules::Rule;
use crate::spiking::{SpikingConfig, SpikingModel, SpikingParams};

/// A spiking network in scalar type F.
#[derive(Clone, Debug)]
pub struct SpikingNet<F> {
    pub cfg: SpikingConfig,
    pub p: SpikingParams<F>,
    pub feedback: Option<Array2<F>>,
}

impl<F: Real> SpikingNet<F> {
    pub fn new(model: &SpikingModel) -> Self {
        Self {
            cfg: model.config.clone(),
            p: model.params.cast(),
            feedback: cast_matrix(model.feedback.as_ref()),
        }
    }
}

/// Everything the gradients need from the forward pass.
#[derive(Clone, Debug)]
pub struct SpikeTrajectory<F> {
    pub v: Array3<F>,
    /// Adaptation `a` (zero for lif).
    pub a: Array3<F>,
    pub z: Array3<F>,
    pub psi: Array3<F>,
    pub y: Array3<F>,
}

/// The forward pass of SPEC §2. Refractoriness: a spike at step t silences steps t+1 … t+n_ref
/// (z = 0, psi = 0) while v keeps integrating; the reset `v_th z[t-1]` is subtracted once.
pub fn forward<F: Real>(net: &SpikingNet<F>, x: &Array3<F>) -> SpikeTrajectory<F> {
    let c = &net.cfg;
    let (t_n, b, _) = x.dim();
    let n = c.n_rec;
    let (a_v, rho, kappa) = (F::c(c.a_v()), F::c(c.rho()), F::c(c.kappa()));
    let (v_th, beta, gamma) = (F::c(c.v_th), F::c(c.beta_eff()), F::c(c.gamma));
    let alif = c.is_alif();
    // Input drive of every step in one product.
    let u = flat(x)
        .dot(&net.p.w_in.t())
        .into_shape_with_order((t_n, b, n))
        .unwrap();
    let mut v = Array3::<F>::zeros((t_n, b, n));
    let mut a = Array3::<F>::zeros((t_n, b, n));
    let mut z = Array3::<F>::zeros((t_n, b, n));
    let mut psi = Array3::<F>::zeros((t_n, b, n));
    let mut refr = Array2::<usize>::zeros((b, n));
    let mut pre = Array2::<F>::zeros((b, n));
    let zero2 = Array2::<F>::zeros((b, n));
    let w_step = F::step_matrix(net.p.w_rec.t());
    for t in 0..t_n {
        pre.assign(&u.index_axis(Axis(0), t));
        if t > 0 {
            F::step_mul_add(
                &w_step,
                F::one(),
                &z.index_axis(Axis(0), t - 1),
                &mut pre.view_mut(),
            );
        }
        // Step t is written in place; the views before it hold step t-1 (zeros before step 0).
        let (v_hist, mut v_now) = v.view_mut().split_at(Axis(0), t);
        let (a_hist, mut a_now) = a.view_mut().split_at(Axis(0), t);
        let (z_hist, mut z_now) = z.view_mut().split_at(Axis(0), t);
        let (vp, ap, zp) = if t > 0 {
            (
                v_hist.index_axis(Axis(0), t - 1),
                a_hist.index_axis(Axis(0), t - 1),
                z_hist.index_axis(Axis(0), t - 1),
            )
        } else {
            (zero2.view(), zero2.view(), zero2.view())
        };
        let (mut vt, mut at, mut zt) = (
            v_now.index_axis_mut(Axis(0), 0),
            a_now.index_axis_mut(Axis(0), 0),
            z_now.index_axis_mut(Axis(0), 0),
        );
        let mut pt = psi.index_axis_mut(Axis(0), t);
        Zip::from(&mut vt)
            .and(&vp)
            .and(&pre)
            .and(&zp)
            .for_each(|vn, &vo, &p, &zo| *vn = a_v * vo + p - v_th * zo);
        if alif {
            Zip::from(&mut at)
                .and(&ap)
                .and(&zp)
                .for_each(|an, &ao, &zo| *an = rho * ao + (F::one() - rho) * zo);
        }
        Zip::from(&mut zt)
            .and(&mut pt)
            .and(&mut refr)
            .and(&vt)
            .and(&at)
            .for_each(|zn, pn, r, &vn, &an| {
                if *r > 0 {
                    *r -= 1;
                    (*zn, *pn) = (F::zero(), F::zero());
                    return;
                }
                let u = vn - v_th - beta * an;
                *pn = gamma / v_th * (F::one() - u.abs() / v_th).max(F::zero());
                *zn = F::zero();
                if u > F::zero() {
                    *zn = F::one();
                    *r = c.n_ref;
                }
            });
    }
    // Leaky readout: y[t] = kappa y[t-1] + w_out z[t] + b_out.
    let mut y = flat(&z)
        .dot(&net.p.w_out.t())
        .into_shape_with_order((t_n, b, c.n_out))
        .unwrap();
    y += &net.p.b_out;
    for t in 1..t_n {
        let (prev, mut cur) = y.view_mut().split_at(Axis(0), t);
        Zip::from(cur.index_axis_mut(Axis(0), 0))
            .and(prev.index_axis(Axis(0), t - 1))
            .for_each(|yc, &yp| *yc += kappa * yp);
    }
    SpikeTrajectory { v, a, z, psi, y }
}

#[derive(Clone, Debug)]
pub struct SpikeLoss<F> {
    /// Task loss (mse or ce on y), SPEC §3.
    pub task: F,
    /// `mean_j (rate_j - target)^2`, `rate_j` = mean over [b, t] of z (before lambda).
    pub rate_reg: F,
    /// task + lambda * rate_reg
    pub total: F,
    /// dE/dy `[T, B, n_out]`.
    pub dy: Array3<F>,
    /// dE_reg/dz `[N]` (the same at every [t, b]), lambda included.
    pub dreg: ndarray::Array1<F>,
}

/// Task loss plus the firing-rate regulariser `lambda * mean_j (rate_j - target)^2`.
pub fn loss<F: Real>(
    tr: &SpikeTrajectory<F>,
    d: &Prepared<F>,
    lambda: F,
    rate_target: F,
) -> SpikeLoss<F> {
    let (t_n, b, _) = tr.z.dim();
    let reg = RateTerms::new(&spike_counts(tr), t_n * b, lambda, rate_target);
    loss_with(tr, d, lambda, &reg)
}

/// Spikes per neuron summed over steps and trials, `[N]`.
pub fn spike_counts<F: Real>(tr: &SpikeTrajectory<F>) -> ndarray::Array1<F> {
    flat(&tr.z).sum_axis(Axis(0))
}

/// The firing-rate regulariser of a whole batch: its value and `dE_reg/dz` (lambda included).
/// It depends on every trial's spikes, so a batch processed in trial chunks computes it once
/// from the chunks' summed [`spike_counts`] and gives it to each chunk's [`loss_with`].
#[derive(Clone, Debug)]
pub struct RateTerms<F> {
    pub rate_reg: F,
    pub dreg: ndarray::Array1<F>,
}

impl<F: Real> RateTerms<F> {
    /// From spike counts over `samples` = steps × trials of the whole batch.
    pub fn new(counts: &ndarray::Array1<F>, samples: usize, lambda: F, rate_target: F) -> Self {
        let n = F::c(counts.len() as f64);
        let cnt = F::c(samples as f64);
        let dev = counts.mapv(|c| c / cnt - rate_target);
        let rate_reg = dev.iter().map(|&e| e * e).sum::<F>() / n;
        let dreg = dev.mapv(|e| lambda * F::c(2.0) * e / (n * cnt));
        Self { rate_reg, dreg }
    }
}

/// [`loss`] with the regulariser of the whole batch given (the task loss of `d`, a share of the
/// whole batch's when `d` is a chunk of it).
pub fn loss_with<F: Real>(
    tr: &SpikeTrajectory<F>,
    d: &Prepared<F>,
    lambda: F,
    reg: &RateTerms<F>,
) -> SpikeLoss<F> {
    let (task, dy) = task_loss(&tr.y, d);
    SpikeLoss {
        task,
        rate_reg: reg.rate_reg,
        total: task + lambda * reg.rate_reg,
        dy,
        dreg: reg.dreg.clone(),
    }
}

/// `gy[t] = dE/dy[t] + kappa gy[t+1]`: the total derivative of E by y[t] through the leaky readout.
fn readout_adjoint<F: Real>(dy: &Array3<F>, kappa: F) -> Array3<F> {
    let mut gy = dy.clone();
    for t in (0..gy.dim().0.saturating_sub(1)).rev() {
        let (mut cur, next) = gy.view_mut().split_at(Axis(0), t + 1);
        Zip::from(cur.index_axis_mut(Axis(0), t))
            .and(next.index_axis(Axis(0), 0))
            .for_each(|g, &gn| *g += kappa * gn);
    }
    gy
}

/// `[T, B, N]`: `M · S^T` per step, with `S = w_out^T` (`[N, n_out]`) or the feedback matrix.
fn through_readout<F: Real>(net: &SpikingNet<F>, rule: Rule, m: &Array3<F>) -> Array3<F> {
    let (t_n, b, _) = m.dim();
    let s_mat = readout_back(rule, &net.p.w_out, net.feedback.as_ref());
    flat(m)
        .dot(&s_mat)
        .into_shape_with_order((t_n, b, net.cfg.n_rec))
        .unwrap()
}

/// `(a_v, rho, kappa, beta)` of SPEC §2 in scalar type F (beta 0 for lif).
fn decays<F: Real>(c: &SpikingConfig) -> (F, F, F, F) {
    (
        F::c(c.a_v()),
        F::c(c.rho()),
        F::c(c.kappa()),
        F::c(c.beta_eff()),
    )
}

/// The gradient of `rule` by the backward recurrence above, in the rule's cut graph. For
/// `eprop` / `eprop-random` every recurrent input is cut, so the recurrence is per neuron (a 2×2
/// system in (delta_v, delta_a)): this is e-prop's **factorised** form. It is exact — the same
/// number as the online eligibility traces of [`grad_eprop_online`] — because both compute
/// `sum_t dE/dz[t] · dz[t]/dW` in the same cut graph, where each neuron's state (v, a) is a linear
/// recurrence in its own past: the traces carry dz[t]/dW forward in time (forward-mode), the
/// recurrence carries dE/dv[t] backward (reverse-mode), and exchanging the order of the sums over
/// t and t' in `sum_t sum_{t'<=t}` turns one into the other (the leaky readout's kappa filter moves
/// from `ebar` onto `gy` the same way). Storage is O(B·T·N) activity and each weight gradient is
/// one large product, instead of O(B·N²) traces updated every step.
pub fn grad_backward<F: Real>(
    net: &SpikingNet<F>,
    rule: Rule,
    d: &Prepared<F>,
    tr: &SpikeTrajectory<F>,
    lo: &SpikeLoss<F>,
) -> SpikingParams<F> {
    let c = &net.cfg;
    let (t_n, b, n) = tr.z.dim();
    let (a_v, rho, kappa, beta) = decays(c);
    let gy = readout_adjoint(&lo.dy, kappa);
    let sig = through_readout(net, rule, &gy);
    let mut dv = Array3::<F>::zeros((t_n, b, n));
    let mut da_next = Array2::<F>::zeros((b, n));
    let mut dz = Array2::<F>::zeros((b, n));
    let w_back = F::step_matrix(net.p.w_rec.view());
    for t in (0..t_n).rev() {
        dz.assign(&sig.index_axis(Axis(0), t));
        dz += &lo.dreg;
        let has_next = t + 1 < t_n;
        if has_next {
            dz.scaled_add(F::one() - rho, &da_next);
            if !rule.cuts(t + 1, t_n) {
                F::step_mul_add(
                    &w_back,
                    F::one(),
                    &dv.index_axis(Axis(0), t + 1),
                    &mut dz.view_mut(),
                );
            }
        }
        let (mut cur, next) = dv.view_mut().split_at(Axis(0), t + 1);
        let mut cur = cur.index_axis_mut(Axis(0), t);
        let ps = tr.psi.index_axis(Axis(0), t);
        if has_next {
            Zip::from(&mut cur)
                .and(&dz)
                .and(&ps)
                .and(next.index_axis(Axis(0), 0))
                .for_each(|d, &g, &p, &dn| *d = p * g + a_v * dn);
        } else {
            Zip::from(&mut cur)
                .and(&dz)
                .and(&ps)
                .for_each(|d, &g, &p| *d = p * g);
        }
        Zip::from(&mut da_next)
            .and(&dz)
            .and(&ps)
            .for_each(|da, &g, &p| *da = -beta * p * g + rho * *da);
    }
    let mut g = SpikingParams::zeros(c);
    // sum_t dv[t] z[t-1]^T over t >= 1 (z[-1] = 0): one product of the shifted slices.
    if t_n > 1 {
        let (dv1, z0) = (dv.slice(s![1.., .., ..]), tr.z.slice(s![..t_n - 1, .., ..]));
        let (dv1, z0) = (
            dv1.to_shape(((t_n - 1) * b, n)).unwrap(),
            z0.to_shape(((t_n - 1) * b, n)).unwrap(),
        );
        general_mat_mul(F::one(), &dv1.t(), &z0, F::zero(), &mut g.w_rec);
    }
    g.w_rec.diag_mut().fill(F::zero());
    general_mat_mul(
        F::one(),
        &flat(&dv).t(),
        &flat(&d.x),
        F::zero(),
        &mut g.w_in,
    );
    readout_grads(&mut g.w_out, &mut g.b_out, &gy, &flat(&tr.z));
    g
}

/// e-prop in its **online** form (SPEC §4): per-synapse eligibility traces updated forward in
/// time, memory O(B·N²) whatever T. Per trial b, postsynaptic j, presynaptic i:
/// ```text
/// eps_v[t][i]   = a_v eps_v[t-1][i] + z[t-1][i]           (x[t][i] for w_in)
/// eps_a[t][j,i] = (1-rho) psi[t-1][j] eps_v[t-1][i] + (rho - (1-rho) psi[t-1][j] beta) eps_a[t-1][j,i]
/// e[t][j,i]     = psi[t][j] (eps_v[t][i] - beta eps_a[t][j,i])
/// ebar[t]       = kappa ebar[t-1] + e[t]
/// grad w[j,i]   = sum_t Lout[t][j] ebar[t][j,i] + Lreg[t][j] e[t][j,i]
/// ```
/// with `Lout[t] = S dE/dy[t]`. Only for the e-prop rules.
// The traces and the trajectory share the unit index.
#[allow(clippy::needless_range_loop)]
pub fn grad_eprop_online<F: Real>(
    net: &SpikingNet<F>,
    rule: Rule,
    d: &Prepared<F>,
    tr: &SpikeTrajectory<F>,
    lo: &SpikeLoss<F>,
) -> SpikingParams<F> {
    assert!(
        rule.is_eprop(),
        "the trace form exists only for e-prop rules"
    );
    let c = &net.cfg;
    let (t_n, b, n) = tr.z.dim();
    let ni = c.n_in;
    let (a_v, rho, kappa, beta) = decays(c);
    let lout = through_readout(net, rule, &lo.dy);
    // One trial at a time: traces [N, N] and [N, n_in] for that trial. Trials run in a fixed
    // number of groups on the rayon threads, each group's sum kept, then the groups summed in
    // order: deterministic whatever the thread count, and memory 8 N² however large B.
    const GROUPS: usize = 8;
    let per = b.div_ceil(GROUPS).max(1);
    let trial = |bi: usize, gr: &mut Array2<F>, gi: &mut Array2<F>| {
        let mut ev_r = vec![F::zero(); n];
        let mut ev_i = vec![F::zero(); ni];
        let mut ea_r = Array2::<F>::zeros((n, n));
        let mut ea_i = Array2::<F>::zeros((n, ni));
        let mut eb_r = Array2::<F>::zeros((n, n));
        let mut eb_i = Array2::<F>::zeros((n, ni));
        for t in 0..t_n {
            // eps_a uses the previous step's eps_v and psi.
            if t > 0 && beta != F::zero() {
                for j in 0..n {
                    let pp = tr.psi[[t - 1, bi, j]];
                    let (k1, k2) = ((F::one() - rho) * pp, rho - (F::one() - rho) * pp * beta);
                    for i in 0..n {
                        ea_r[[j, i]] = k1 * ev_r[i] + k2 * ea_r[[j, i]];
                    }
                    for i in 0..ni {
                        ea_i[[j, i]] = k1 * ev_i[i] + k2 * ea_i[[j, i]];
                    }
                }
            }
            for i in 0..n {
                let zp = if t > 0 {
                    tr.z[[t - 1, bi, i]]
                } else {
                    F::zero()
                };
                ev_r[i] = a_v * ev_r[i] + zp;
            }
            for i in 0..ni {
                ev_i[i] = a_v * ev_i[i] + d.x[[t, bi, i]];
            }
            for j in 0..n {
                let p = tr.psi[[t, bi, j]];
                let (lo_j, lr_j) = (lout[[t, bi, j]], lo.dreg[j]);
                for i in 0..n {
                    let e = p * (ev_r[i] - beta * ea_r[[j, i]]);
                    eb_r[[j, i]] = kappa * eb_r[[j, i]] + e;
                    gr[[j, i]] += lo_j * eb_r[[j, i]] + lr_j * e;
                }
                for i in 0..ni {
                    let e = p * (ev_i[i] - beta * ea_i[[j, i]]);
                    eb_i[[j, i]] = kappa * eb_i[[j, i]] + e;
                    gi[[j, i]] += lo_j * eb_i[[j, i]] + lr_j * e;
                }
            }
        }
    };
    let sums: Vec<(Array2<F>, Array2<F>)> = (0..b)
        .step_by(per)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|lo_b| {
            let (mut gr, mut gi) = (Array2::<F>::zeros((n, n)), Array2::<F>::zeros((n, ni)));
            for bi in lo_b..(lo_b + per).min(b) {
                trial(bi, &mut gr, &mut gi);
            }
            (gr, gi)
        })
        .collect();
    let mut g = SpikingParams::zeros(c);
    for (gr, gi) in sums {
        g.w_rec += &gr;
        g.w_in += &gi;
    }
    g.w_rec.diag_mut().fill(F::zero());
    let gy = readout_adjoint(&lo.dy, kappa);
    readout_grads(&mut g.w_out, &mut g.b_out, &gy, &flat(&tr.z));
    g
}
