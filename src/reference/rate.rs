//! CPU implementation of the rate network (SPEC §1, §3, §4), generic over f32/f64.
//!
//! Everything is time-major: `x [T, B, n_in]`, `ah`, `h [T+1, B, N]` where slot `s` holds step
//! `s - 1` (slot 0 is the initial state `ah0`, `f(ah0)`), `y [T, B, n_out]`. Time-major storage
//! turns every whole-sequence product (input drive, readout, weight gradients) into one GEMM.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array3, ArrayView2, ArrayViewMut2, Axis, Zip, s};

pub use super::common::{Prepared, normalised_error, task_loss};
use super::common::{cast_matrix, flat, readout_back, readout_grads};
use crate::linalg::narrow::{add_narrow_outer, add_narrow_product, narrow_readout};
use crate::model::{
    Activation, RateConfig, RateModel, RateParams, Real, chain_w_rec_grad, effective_w_rec,
};
use crate::rules::Rule;

/// The fixed parts of a network in scalar type F, with the effective recurrent weight.
#[derive(Clone, Debug)]
pub struct Net<F> {
    pub cfg: RateConfig,
    pub p: RateParams<F>,
    pub mask: Option<Array2<F>>,
    pub feedback: Option<Array2<F>>,
    pub w_eff: Array2<F>,
}

impl<F: Real> Net<F> {
    pub fn new(model: &RateModel) -> Self {
        Self::from_parts(
            &model.config,
            model.params.cast(),
            cast_matrix(model.mask_rec.as_ref()),
            cast_matrix(model.feedback.as_ref()),
        )
    }
    pub fn from_parts(
        cfg: &RateConfig,
        p: RateParams<F>,
        mask: Option<Array2<F>>,
        feedback: Option<Array2<F>>,
    ) -> Self {
        let w_eff = effective_w_rec(p.w_rec.view(), mask.as_ref().map(|m| m.view()), cfg.dale);
        Self {
            cfg: cfg.clone(),
            p,
            mask,
            feedback,
            w_eff,
        }
    }
    /// Recompute the effective weight after the parameters changed.
    pub fn refresh(&mut self) {
        self.w_eff = effective_w_rec(
            self.p.w_rec.view(),
            self.mask.as_ref().map(|m| m.view()),
            self.cfg.dale,
        );
    }
}

#[derive(Clone, Debug)]
pub struct Trajectory<F> {
    pub ah: Array3<F>,
    pub h: Array3<F>,
    pub y: Array3<F>,
}

/// `ah[t] = ah[t-1] + alpha (-ah[t-1] + w_rec h[t-1] + w_in x[t] + b_in)`, `h = f(ah)`, `y = w_out h + b_out`.
pub fn forward<F: Real>(net: &Net<F>, x: &Array3<F>) -> Trajectory<F> {
    let mut tr = Trajectory::empty();
    forward_with(net, x, &mut tr);
    tr
}

/// Buffers of one gradient that the CPU backend keeps between updates; every element is
/// overwritten before it is read, so reused buffers need no clearing.
#[derive(Clone, Debug)]
pub struct Scratch<F> {
    /// `dE/dah` of the step being swept back and of the step after it, `[B, N]` each: the fused
    /// reverse step uses each `delta[t]` while it is computed, so no `[T, B, N]` copy is kept.
    ring: [Array2<F>; 2],
}

impl<F: Real> Default for Scratch<F> {
    fn default() -> Self {
        Self {
            ring: [Array2::zeros((0, 0)), Array2::zeros((0, 0))],
        }
    }
}

/// `a` with shape `dim`: kept when it already has it (contents stale), else reallocated.
fn fit<F: Real>(a: &mut Array3<F>, dim: (usize, usize, usize)) {
    if a.dim() != dim {
        *a = Array3::zeros(dim);
    }
}

impl<F: Real> Trajectory<F> {
    /// No steps yet: [`forward_with`] sizes it.
    pub fn empty() -> Self {
        Self {
            ah: Array3::zeros((0, 0, 0)),
            h: Array3::zeros((0, 0, 0)),
            y: Array3::zeros((0, 0, 0)),
        }
    }
}

/// [`forward`] into `tr`, reusing its buffers when their shapes fit. Each step is fused: input
/// drive, recurrent product (a packed kernel, `w_rec` packed once), leaky update and activation,
/// then the readout of the new state while it is in cache.
pub fn forward_with<F: Real>(net: &Net<F>, x: &Array3<F>, tr: &mut Trajectory<F>) {
    let (t_n, b, _) = x.dim();
    let n = net.cfg.n_rec;
    let alpha = F::c(net.cfg.alpha);
    let act = net.cfg.activation;
    fit(&mut tr.ah, (t_n + 1, b, n));
    fit(&mut tr.h, (t_n + 1, b, n));
    fit(&mut tr.y, (t_n, b, net.cfg.n_out));
    let (ah, h) = (&mut tr.ah, &mut tr.h);
    ah.index_axis_mut(Axis(0), 0)
        .assign(&net.p.ah0.broadcast((b, n)).unwrap());
    let a0 = ah.index_axis(Axis(0), 0);
    Zip::from(h.index_axis_mut(Axis(0), 0))
        .and(&a0)
        .for_each(|hv, &a| *hv = act.f(a));

    let w_step = F::step_matrix(net.w_eff.t());
    let w_in_t = net.p.w_in.t().to_owned();
    for t in 0..t_n {
        let (prev, mut next) = ah.view_mut().split_at(Axis(0), t + 1);
        let prev = prev.index_axis(Axis(0), t);
        let mut next = next.index_axis_mut(Axis(0), 0);
        // next = b_in + w_in x[t] + w_eff h[t], then the leaky update in place.
        next.assign(&net.p.b_in.broadcast((b, n)).unwrap());
        add_narrow_product(
            &mut next,
            F::one(),
            &x.index_axis(Axis(0), t),
            &w_in_t.view(),
        );
        F::step_mul_add(&w_step, F::one(), &h.index_axis(Axis(0), t), &mut next);
        let mut hn = h.index_axis_mut(Axis(0), t + 1);
        leaky_step(act, &mut next, &prev, &mut hn, alpha);
        narrow_readout(
            &mut tr.y.index_axis_mut(Axis(0), t),
            &hn.view(),
            &net.p.w_out.view(),
            &net.p.b_out.view(),
        );
    }
}

#[derive(Clone, Debug)]
pub struct LossOut<F> {
    /// Task loss (mse or ce), SPEC §3.
    pub task: F,
    /// mean(h^2) over [b, t, j] (the regulariser before lambda).
    pub mean_h2: F,
    /// task + lambda * mean_h2
    pub total: F,
    /// dE/dy `[T, B, n_out]`.
    pub dy: Array3<F>,
}

/// Sum of squares with eight running sums, so that the loop vectorises (one running sum is a
/// chain of dependent adds).
fn sum_of_squares<F: Real>(a: &ndarray::ArrayView3<F>) -> F {
    match a.as_slice() {
        Some(v) => {
            let mut acc = [F::zero(); 8];
            let chunks = v.chunks_exact(8);
            let rest: F = chunks.remainder().iter().map(|&x| x * x).sum();
            for c in chunks {
                for (s, &x) in acc.iter_mut().zip(c) {
                    *s += x * x;
                }
            }
            acc.iter().copied().sum::<F>() + rest
        }
        None => a.iter().map(|&x| x * x).sum(),
    }
}

pub fn loss<F: Real>(tr: &Trajectory<F>, d: &Prepared<F>, lambda: F) -> LossOut<F> {
    let (t_n, _, _) = tr.y.dim();
    let n = tr.h.dim().2;
    let (task, dy) = task_loss(&tr.y, d);
    let hs = tr.h.slice(s![1.., .., ..]);
    let mean_h2 = sum_of_squares(&hs) / F::c((t_n * d.batch_trials * n) as f64);
    LossOut {
        task,
        mean_h2,
        total: task + lambda * mean_h2,
        dy,
    }
}

/// Direct learning signal `L[t] = S dE/dy[t] + dE_reg/dh[t]` for every step, `[T, B, N]`, with
/// `S = w_out^T` or the fixed feedback matrix (SPEC §4). (The fused backward sweep computes the
/// same per step; this whole-sequence form serves the independently written trace form.)
fn learning_signal<F: Real>(
    net: &Net<F>,
    rule: Rule,
    d: &Prepared<F>,
    tr: &Trajectory<F>,
    lo: &LossOut<F>,
    lambda: F,
) -> Array3<F> {
    let (t_n, b, _) = lo.dy.dim();
    let n = net.cfg.n_rec;
    let mut l = Array3::zeros((t_n, b, n));
    let dyf = flat(&lo.dy);
    {
        let mut lf = l
            .view_mut()
            .into_shape_with_order((t_n * b, n))
            .expect("contiguous");
        let s_mat = readout_back(rule, &net.p.w_out, net.feedback.as_ref());
        general_mat_mul(F::one(), &dyf, &s_mat, F::zero(), &mut lf);
    }
    if lambda != F::zero() {
        let c = F::c(2.0) * lambda / F::c((t_n * d.batch_trials * n) as f64);
        Zip::from(&mut l)
            .and(tr.h.slice(s![1.., .., ..]))
            .for_each(|g, &h| *g += c * h);
    }
    l
}

/// `$call` with `$f` bound to `$act` as a constant of each arm: the activation is matched once
/// per call and each arm's loop is compiled for its own activation (so that it vectorises).
macro_rules! per_activation {
    ($act:expr, $f:ident => $call:expr) => {
        per_activation!(@arms $act, $f, $call, Retanh Tanh Relu Softplus)
    };
    (@arms $act:expr, $f:ident, $call:expr, $($variant:ident)+) => {
        match $act {
            $(Activation::$variant => {
                let $f = Activation::$variant;
                $call
            })+
        }
    };
}

/// `ah = prev + alpha (drive - prev)` in place of `drive`, and `h = f(ah)`, in one pass over one
/// step's `[B, N]`, the activation matched once per call (see [`delta_step`]).
fn leaky_step<F: Real>(
    act: Activation,
    ah: &mut ArrayViewMut2<F>,
    prev: &ArrayView2<F>,
    h: &mut ArrayViewMut2<F>,
    alpha: F,
) {
    #[inline(always)]
    fn run<F: Real>(
        f: impl Fn(F) -> F,
        ah: &mut ArrayViewMut2<F>,
        prev: &ArrayView2<F>,
        h: &mut ArrayViewMut2<F>,
        alpha: F,
    ) {
        Zip::from(ah).and(prev).and(h).for_each(|a, &p, hv| {
            *a = p + alpha * (*a - p);
            *hv = f(*a);
        });
    }
    per_activation!(act, f => run(move |a| f.f(a), ah, prev, h, alpha))
}

/// `delta = g * f'(ah) + leak * next` (no `next` at the last step) over one step's `[B, N]`, the
/// activation matched once per call rather than per element so that each loop vectorises (as a
/// per-element match it was an eighth of a CPU BPTT update).
fn delta_step<F: Real>(
    act: Activation,
    delta: &mut ArrayViewMut2<F>,
    g: &Array2<F>,
    ah: &ArrayView2<F>,
    h: &ArrayView2<F>,
    next: Option<&ArrayView2<F>>,
    leak: F,
) {
    #[inline(always)]
    fn run<F: Real>(
        df: impl Fn(F, F) -> F,
        delta: &mut ArrayViewMut2<F>,
        g: &Array2<F>,
        ah: &ArrayView2<F>,
        h: &ArrayView2<F>,
        next: Option<&ArrayView2<F>>,
        leak: F,
    ) {
        match next {
            Some(nx) => Zip::from(delta)
                .and(g)
                .and(ah)
                .and(h)
                .and(nx)
                .for_each(|d, &g, &a, &h, &n| *d = g * df(a, h) + leak * n),
            None => Zip::from(delta)
                .and(g)
                .and(ah)
                .and(h)
                .for_each(|d, &g, &a, &h| *d = g * df(a, h)),
        }
    }
    per_activation!(act, f => run(
        move |a, h| f.df_given(a, h),
        delta,
        g,
        ah,
        h,
        next,
        leak
    ))
}

/// The gradient of one rule by the backward recurrence over `delta[t] = dE/dah[t]` in the graph
/// where the rule's recurrent inputs are cut (for e-prop this is the stop-gradient form, and the
/// backward recurrence is per unit: no product with w_rec). Returns the parameter gradients.
pub fn grad_backward<F: Real>(
    net: &Net<F>,
    rule: Rule,
    d: &Prepared<F>,
    tr: &Trajectory<F>,
    lo: &LossOut<F>,
    lambda: F,
) -> RateParams<F> {
    grad_backward_with(net, rule, d, tr, lo, lambda, &mut Scratch::default())
}

/// [`grad_backward`] with `delta` in the reused buffers of `s`. Each reverse step is fused: the
/// learning signal of the step (readout error through `w_out` or the feedback matrix, plus the
/// regulariser), the product through `w_rec` unless the rule cuts it (a packed kernel), `delta`,
/// and every gradient's share of the step (`dE/dw_rec` by the packed kernel too, the narrow
/// readout, input and bias ones) while the step's data are in cache.
pub fn grad_backward_with<F: Real>(
    net: &Net<F>,
    rule: Rule,
    d: &Prepared<F>,
    tr: &Trajectory<F>,
    lo: &LossOut<F>,
    lambda: F,
    s: &mut Scratch<F>,
) -> RateParams<F> {
    let (t_n, b, n) = (d.n_steps(), d.n_trials(), net.cfg.n_rec);
    let alpha = F::c(net.cfg.alpha);
    let act = net.cfg.activation;
    let [d_cur, d_next] = &mut s.ring;
    for d in [&mut *d_cur, &mut *d_next] {
        if d.dim() != (b, n) {
            *d = Array2::zeros((b, n));
        }
    }
    // The readout error reaches the units through S = w_out (n_out × N) or feedback^T (SPEC §4).
    let s_mat = readout_back(rule, &net.p.w_out, net.feedback.as_ref()).to_owned();
    let c_reg = F::c(2.0) * lambda / F::c((t_n * d.batch_trials * n) as f64);
    let mut g = RateParams::zeros(&net.cfg);
    // dE/dw_in transposed (n_in × N), so that each step adds whole rows.
    let mut g_in_t = Array2::<F>::zeros((net.cfg.n_in, n));
    let mut gh = Array2::<F>::zeros((b, n));
    let mut h_packed: Option<F::StepMatrix> = None;
    // Only rules with a reverse sweep through w_rec need it packed (e-prop's backward is per unit).
    let w_back = (0..t_n.saturating_sub(1))
        .any(|t| !rule.cuts(t + 1, t_n))
        .then(|| F::step_matrix(net.w_eff.view()));
    for t in (0..t_n).rev() {
        let (dy, hs) = (
            lo.dy.index_axis(Axis(0), t),
            tr.h.index_axis(Axis(0), t + 1),
        );
        if lambda != F::zero() {
            Zip::from(&mut gh).and(&hs).for_each(|g, &h| *g = c_reg * h);
        } else {
            gh.fill(F::zero());
        }
        add_narrow_product(&mut gh.view_mut(), F::one(), &dy, &s_mat.view());
        add_narrow_outer(&mut g.w_out, &dy, &hs);
        let has_next = t + 1 < t_n;
        if has_next && !rule.cuts(t + 1, t_n) {
            let w = w_back.as_ref().expect("packed when some step is not cut");
            F::step_mul_add(w, alpha, &d_next.view(), &mut gh.view_mut());
        }
        let ahs = tr.ah.index_axis(Axis(0), t + 1);
        let nx = if has_next { Some(d_next.view()) } else { None };
        delta_step(
            act,
            &mut d_cur.view_mut(),
            &gh,
            &ahs,
            &hs,
            nx.as_ref(),
            F::one() - alpha,
        );
        let cur = &*d_cur;
        // dE/dw_rec += alpha delta[t]^T h[t-1]: a packed product per step while both are in
        // cache (K = the trials of the step); measured faster than one BLAS GEMM over the
        // whole sequence afterwards.
        let h_prev = tr.h.index_axis(Axis(0), t);
        match &mut h_packed {
            Some(p) => F::step_repack(p, h_prev),
            None => h_packed = Some(F::step_matrix(h_prev)),
        }
        F::step_mul_add(
            h_packed.as_ref().unwrap(),
            alpha,
            &cur.t(),
            &mut g.w_rec.view_mut(),
        );
        add_narrow_outer(&mut g_in_t, &d.x.index_axis(Axis(0), t), &cur.view());
        for row in cur.rows() {
            g.b_in += &row;
        }
        std::mem::swap(d_cur, d_next);
    }
    chain_w_rec_grad(
        &mut g.w_rec,
        net.p.w_rec.view(),
        net.mask.as_ref().map(|m| m.view()),
        net.cfg.dale,
    );
    g.w_in.assign(&(g_in_t.t().to_owned() * alpha));
    g.b_in *= alpha;
    g.b_out = flat(&lo.dy).sum_axis(Axis(0));
    // ah0 drives step 0 through the leak and (unless cut) through w_rec f(ah0).
    let d0 = &*d_next; // delta[0], after the last swap
    g.ah0 = d0.sum_axis(Axis(0)) * (F::one() - alpha);
    if !rule.cuts(0, t_n) {
        let back = d0.dot(&net.w_eff).sum_axis(Axis(0));
        Zip::from(&mut g.ah0)
            .and(&back)
            .and(&net.p.ah0)
            .for_each(|g, &bk, &a0| *g += alpha * act.df(a0) * bk);
    }
    g
}

/// e-prop in its online eligibility-trace form (SPEC §4), running forward in time:
/// `eps[t] = (1-alpha) eps[t-1] + alpha h[t-1]`, `e[t][j,i] = f'(ah[t][j]) eps[t][i]`,
/// `grad w[j,i] = sum_t L[t][j] e[t][j,i]`. Only valid for e-prop rules.
pub fn grad_eprop_traces<F: Real>(
    net: &Net<F>,
    rule: Rule,
    d: &Prepared<F>,
    tr: &Trajectory<F>,
    lo: &LossOut<F>,
    lambda: F,
) -> RateParams<F> {
    assert!(rule.is_eprop(), "trace form exists only for e-prop rules");
    let (t_n, b, n, ni) = (d.n_steps(), d.n_trials(), net.cfg.n_rec, net.cfg.n_in);
    let alpha = F::c(net.cfg.alpha);
    let leak = F::one() - alpha;
    let act = net.cfg.activation;
    let l = learning_signal(net, rule, d, tr, lo, lambda);
    let mut g = RateParams::zeros(&net.cfg);
    let mut eps_h = Array2::<F>::zeros((b, n));
    let mut eps_x = Array2::<F>::zeros((b, ni));
    let (mut eps_b, mut eps_0) = (F::zero(), F::one());
    let mut post = Array2::<F>::zeros((b, n));
    for t in 0..t_n {
        Zip::from(&mut eps_h)
            .and(tr.h.index_axis(Axis(0), t))
            .for_each(|e, &h| *e = leak * *e + alpha * h);
        Zip::from(&mut eps_x)
            .and(d.x.index_axis(Axis(0), t))
            .for_each(|e, &x| *e = leak * *e + alpha * x);
        eps_b = leak * eps_b + alpha;
        eps_0 = leak * eps_0; // d ah[t] / d ah0 along the leak: (1-alpha)^(t+1)
        Zip::from(&mut post)
            .and(l.index_axis(Axis(0), t))
            .and(tr.ah.index_axis(Axis(0), t + 1))
            .and(tr.h.index_axis(Axis(0), t + 1))
            .for_each(|p, &lt, &a, &h| *p = lt * act.df_given(a, h));
        general_mat_mul(F::one(), &post.t(), &eps_h, F::one(), &mut g.w_rec);
        general_mat_mul(F::one(), &post.t(), &eps_x, F::one(), &mut g.w_in);
        let ps = post.sum_axis(Axis(0));
        g.b_in.scaled_add(eps_b, &ps);
        g.ah0.scaled_add(eps_0, &ps);
    }
    chain_w_rec_grad(
        &mut g.w_rec,
        net.p.w_rec.view(),
        net.mask.as_ref().map(|m| m.view()),
        net.cfg.dale,
    );
    let hs = tr.h.slice(s![1.., .., ..]);
    let hs = hs.to_shape((t_n * b, n)).unwrap();
    readout_grads(&mut g.w_out, &mut g.b_out, &lo.dy, &hs.view());
    g
}

/// Forward, loss and gradient in one call: what `grad` and one training update compute.
pub fn loss_and_grad<F: Real>(
    net: &Net<F>,
    rule: Rule,
    d: &Prepared<F>,
    lambda: F,
) -> (LossOut<F>, RateParams<F>, Trajectory<F>) {
    let tr = forward(net, &d.x);
    let lo = loss(&tr, d, lambda);
    let g = grad_backward(net, rule, d, &tr, &lo, lambda);
    (lo, g, tr)
}
