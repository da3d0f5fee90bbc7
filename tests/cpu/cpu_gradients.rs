//! CPU reference gradients (SPEC §1, §3, §4) in f64:
//! - BPTT against central finite differences of the library's own loss, for every activation,
//!   both losses, the activity regulariser, Dale's law and a sparse mask;
//! - a forward pass and loss written independently here (plain loops) against the library's;
//! - e-prop (trace form = backward form), and both against finite differences of an independently
//!   written "cut graph" whose recurrent input reads a frozen copy of the unperturbed trajectory;
//! - truncated BPTT against the same cut graph with only the steps `(T - t) % K == 0` frozen;
//! - feedback-alignment variants with `feedback = w_out^T` reduce to their symmetric rules, and
//!   e-prop-random against finite differences of a linear surrogate loss;
//! - Adam's first steps against the PyTorch formula.
//!
//! Set `GRAD_DIAG=1` (with `-- --nocapture`) to print the relative error of every comparison.

use ndarray::{Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use snnlab::batch::{Batch, LossKind};
use snnlab::model::{Activation, PARAM_NAMES, RateConfig, RateParams, dale_signs};
use snnlab::optim::Adam;
use snnlab::reference::rate::{
    Net, Prepared, forward, grad_backward, grad_eprop_traces, loss, loss_and_grad,
};
use snnlab::rules::Rule;

const ACTS: [Activation; 4] = [
    Activation::Retanh,
    Activation::Tanh,
    Activation::Relu,
    Activation::Softplus,
];
const N_IN: usize = 3;
const N: usize = 7;
const B: usize = 3;
const T: usize = 9;
const FD_EPS: f64 = 1e-6;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Constraint {
    Dense,
    Dale,
    Sparse,
    DaleSparse,
}

struct Case {
    net: Net<f64>,
    batch: Batch,
    prep: Prepared<f64>,
    lambda: f64,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// A small random network and batch, in the nonlinear regime. Resamples until no pre-activation
/// (nor ah0) lies within 1e-3 of a kink of relu/retanh and, under Dale, no recurrent weight lies
/// within 1e-3 of 0 (the kink of |w|), so central differences are valid everywhere.
fn make_case(
    act: Activation,
    kind: LossKind,
    constraint: Constraint,
    lambda: f64,
    seed: u64,
) -> Case {
    let n_out = if kind == LossKind::Ce { 3 } else { 2 };
    for attempt in 0..1000u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed * 7919 + attempt);
        let mut cfg = RateConfig::new(N_IN, N, n_out);
        cfg.activation = act;
        cfg.alpha = 0.25;
        cfg.dale = matches!(constraint, Constraint::Dale | Constraint::DaleSparse);
        let sparse = matches!(constraint, Constraint::Sparse | Constraint::DaleSparse);
        if sparse {
            cfg.connectivity = 0.6;
        }
        let mut p = RateParams::<f64>::zeros(&cfg);
        p.w_in.mapv_inplace(|_| normal(&mut rng));
        p.b_in.mapv_inplace(|_| 0.3 * normal(&mut rng));
        p.w_rec
            .mapv_inplace(|_| 2.0 * normal(&mut rng) / (N as f64).sqrt());
        p.w_out
            .mapv_inplace(|_| normal(&mut rng) / (N as f64).sqrt());
        p.b_out.mapv_inplace(|_| 0.3 * normal(&mut rng));
        p.ah0.mapv_inplace(|_| normal(&mut rng));
        let mut mask: Option<Array2<f64>> = None;
        if sparse {
            mask = Some(Array2::from_shape_fn((N, N), |_| {
                (rng.random::<f64>() < 0.6) as u8 as f64
            }));
        }
        if cfg.dale {
            let signs = dale_signs(N, cfg.n_excitatory()).mapv(|v| v as f64);
            mask = Some(match mask {
                Some(m) => m * &signs,
                None => signs,
            });
        }
        let inputs = Array3::from_shape_simple_fn((B, T, N_IN), || normal(&mut rng));
        let (targets, lmask) = match kind {
            LossKind::Mse => (
                Array3::from_shape_simple_fn((B, T, n_out), || normal(&mut rng)),
                Array3::from_shape_simple_fn((B, T, n_out), || {
                    (rng.random::<f64>() < 0.7) as u8 as f64
                }),
            ),
            LossKind::Ce => (
                Array3::from_shape_simple_fn((B, T, 1), || rng.random_range(0..n_out) as f64),
                Array3::from_shape_simple_fn((B, T, 1), || {
                    (rng.random::<f64>() < 0.7) as u8 as f64
                }),
            ),
        };
        if lmask.sum() < 1.0 {
            continue;
        }
        let batch = Batch {
            inputs,
            targets,
            mask: lmask,
            loss: kind,
        };
        batch.validate(&cfg, "case").unwrap();
        let net = Net::from_parts(&cfg, p, mask, None);
        let prep = Prepared::new(&batch);
        let tr = forward(&net, &prep.x);
        let kinked = matches!(act, Activation::Relu | Activation::Retanh)
            && tr.ah.iter().any(|a| a.abs() < 1e-3);
        let abs_kink = cfg.dale && net.p.w_rec.iter().any(|w| w.abs() < 1e-3);
        // Nonlinear regime: a fair share of pre-activations beyond |ah| = 0.5.
        let big = tr.ah.iter().filter(|a| a.abs() > 0.5).count() as f64 / tr.ah.len() as f64;
        if kinked || abs_kink || big < 0.3 {
            continue;
        }
        return Case {
            net,
            batch,
            prep,
            lambda,
        };
    }
    panic!("no kink-free case found for {act:?} {kind:?} {constraint:?}");
}

fn with_params(net: &Net<f64>, p: &RateParams<f64>) -> Net<f64> {
    let mut n = net.clone();
    n.p = p.clone();
    n.refresh();
    n
}

/// Central differences of `f` with respect to every parameter.
fn finite_diff(
    p0: &RateParams<f64>,
    mut f: impl FnMut(&RateParams<f64>) -> f64,
) -> RateParams<f64> {
    let mut g = p0.clone();
    let mut p = p0.clone();
    for k in 0..6 {
        let len = p0.slices()[k].len();
        for i in 0..len {
            let orig = p0.slices()[k][i];
            p.slices_mut()[k][i] = orig + FD_EPS;
            let up = f(&p);
            p.slices_mut()[k][i] = orig - FD_EPS;
            let down = f(&p);
            p.slices_mut()[k][i] = orig;
            g.slices_mut()[k][i] = (up - down) / (2.0 * FD_EPS);
        }
    }
    g
}

/// Every tensor: `max|got - want| <= rtol * max(|want|_inf, |got|_inf) + atol`.
fn assert_close(what: &str, got: &RateParams<f64>, want: &RateParams<f64>, rtol: f64, atol: f64) {
    for (k, name) in PARAM_NAMES.iter().enumerate() {
        let (g, w) = (got.slices()[k], want.slices()[k]);
        let scale = g.iter().chain(w.iter()).fold(0.0f64, |a, v| a.max(v.abs()));
        let err = g
            .iter()
            .zip(w)
            .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
        if std::env::var_os("GRAD_DIAG").is_some() {
            eprintln!("DIAG {what} {name} rel {:.2e}", err / scale.max(1e-300));
        }
        assert!(
            err <= rtol * scale + atol,
            "{what}: {name} differs: max abs err {err:.3e}, scale {scale:.3e}\n got  {g:?}\n want {w:?}"
        );
    }
}

fn assert_close_one(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) {
    let scale = got
        .iter()
        .chain(want.iter())
        .fold(0.0f64, |a, v| a.max(v.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
    assert!(
        err <= rtol * scale + atol,
        "{what}: max abs err {err:.3e}, scale {scale:.3e}\n got  {got:?}\n want {want:?}"
    );
}

fn library_total(net: &Net<f64>, prep: &Prepared<f64>, lambda: f64) -> f64 {
    loss(&forward(net, &prep.x), prep, lambda).total
}

// ---------------------------------------------------------------------------------------------
// An independent implementation: plain loops over the trial-major batch.

fn act_f(a: Activation, x: f64) -> f64 {
    match a {
        Activation::Retanh => x.tanh().max(0.0),
        Activation::Tanh => x.tanh(),
        Activation::Relu => x.max(0.0),
        Activation::Softplus => x.exp().ln_1p(),
    }
}

fn my_w_eff(net: &Net<f64>, p: &RateParams<f64>) -> Array2<f64> {
    match &net.mask {
        None => p.w_rec.clone(),
        Some(m) => Array2::from_shape_fn((N, N), |(j, i)| {
            if net.cfg.dale {
                p.w_rec[[j, i]].abs() * m[[j, i]]
            } else {
                p.w_rec[[j, i]] * m[[j, i]]
            }
        }),
    }
}

/// `h [B, T+1, N]`, slot 0 = `f(ah0)`. The recurrent input of step t reads `frozen[b, t, :]`
/// (a fixed trajectory, no dependence on `p`) where `cut(t)`, else the live `h[t-1]`.
fn my_forward(
    net: &Net<f64>,
    p: &RateParams<f64>,
    x: &Array3<f64>,
    frozen: Option<&Array3<f64>>,
    cut: &dyn Fn(usize) -> bool,
) -> Array3<f64> {
    let (bn, tn, ni) = x.dim();
    let alpha = net.cfg.alpha;
    let act = net.cfg.activation;
    let w = my_w_eff(net, p);
    let mut h = Array3::<f64>::zeros((bn, tn + 1, N));
    for b in 0..bn {
        let mut ah: Vec<f64> = p.ah0.to_vec();
        for j in 0..N {
            h[[b, 0, j]] = act_f(act, ah[j]);
        }
        for t in 0..tn {
            let src = if cut(t) {
                frozen.expect("frozen trajectory")
            } else {
                &h
            };
            let mut next = vec![0.0; N];
            for j in 0..N {
                let mut drive = p.b_in[j];
                for i in 0..ni {
                    drive += p.w_in[[j, i]] * x[[b, t, i]];
                }
                for i in 0..N {
                    drive += w[[j, i]] * src[[b, t, i]];
                }
                next[j] = ah[j] + alpha * (-ah[j] + drive);
            }
            ah = next;
            for j in 0..N {
                h[[b, t + 1, j]] = act_f(act, ah[j]);
            }
        }
    }
    h
}

/// Readout `y [B, T, n_out]` of a trajectory from `my_forward`.
fn my_readout(p: &RateParams<f64>, h: &Array3<f64>) -> Array3<f64> {
    let (bn, t1, _) = h.dim();
    let no = p.b_out.len();
    Array3::from_shape_fn((bn, t1 - 1, no), |(b, t, k)| {
        p.b_out[k]
            + (0..N)
                .map(|j| p.w_out[[k, j]] * h[[b, t + 1, j]])
                .sum::<f64>()
    })
}

/// Task loss of SPEC §3 plus `lambda * mean(h^2)` (h after step 0 onward, not the initial state).
fn my_loss(batch: &Batch, p: &RateParams<f64>, h: &Array3<f64>, lambda: f64) -> f64 {
    let y = my_readout(p, h);
    let (bn, tn, no) = y.dim();
    let msum: f64 = batch.mask.sum();
    let mut task = 0.0;
    for b in 0..bn {
        for t in 0..tn {
            match batch.loss {
                LossKind::Mse => {
                    for k in 0..no {
                        let e = y[[b, t, k]] - batch.targets[[b, t, k]];
                        task += batch.mask[[b, t, k]] * e * e;
                    }
                }
                LossKind::Ce => {
                    let c = batch.targets[[b, t, 0]] as usize;
                    let lse = (0..no).map(|k| y[[b, t, k]].exp()).sum::<f64>().ln();
                    task += batch.mask[[b, t, 0]] * (lse - y[[b, t, c]]);
                }
            }
        }
    }
    let mut h2 = 0.0;
    for b in 0..bn {
        for t in 1..=tn {
            for j in 0..N {
                h2 += h[[b, t, j]] * h[[b, t, j]];
            }
        }
    }
    task / msum + lambda * h2 / (bn * tn * N) as f64
}

/// FD gradient of the graph in which the recurrent input of every step with `cut(t)` reads the
/// unperturbed trajectory (stop-gradient), every other path live.
fn cut_graph_fd(c: &Case, cut: &dyn Fn(usize) -> bool) -> RateParams<f64> {
    let frozen = my_forward(&c.net, &c.net.p, &c.batch.inputs, None, &|_| false);
    finite_diff(&c.net.p, |p| {
        let h = my_forward(&c.net, p, &c.batch.inputs, Some(&frozen), cut);
        my_loss(&c.batch, p, &h, c.lambda)
    })
}

fn variants() -> Vec<(Constraint, f64)> {
    vec![
        (Constraint::Dense, 0.0),
        (Constraint::Dense, 0.5),
        (Constraint::Dale, 0.5),
        (Constraint::Sparse, 0.0),
        (Constraint::DaleSparse, 0.5),
    ]
}

fn all_cases() -> Vec<(String, Case)> {
    let mut out = Vec::new();
    let mut seed = 1;
    for act in ACTS {
        for kind in [LossKind::Mse, LossKind::Ce] {
            for (cons, lambda) in variants() {
                seed += 1;
                let name = format!("{act:?}/{kind:?}/{cons:?}/lambda={lambda}");
                out.push((name, make_case(act, kind, cons, lambda, seed)));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------

#[test]
fn independent_forward_and_loss_match_the_library() {
    for (name, c) in all_cases() {
        let tr = forward(&c.net, &c.prep.x);
        let h = my_forward(&c.net, &c.net.p, &c.batch.inputs, None, &|_| false);
        for b in 0..B {
            for t in 0..=T {
                for j in 0..N {
                    let (a, e) = (tr.h[[t, b, j]], h[[b, t, j]]);
                    assert!(
                        (a - e).abs() <= 1e-12 * (1.0 + e.abs()),
                        "{name}: h[{b},{t},{j}] {a} vs {e}"
                    );
                }
            }
        }
        let y = my_readout(&c.net.p, &h);
        for b in 0..B {
            for t in 0..T {
                for k in 0..y.dim().2 {
                    assert!((tr.y[[t, b, k]] - y[[b, t, k]]).abs() < 1e-12, "{name}: y");
                }
            }
        }
        let lo = loss(&tr, &c.prep, c.lambda);
        let mine = my_loss(&c.batch, &c.net.p, &h, c.lambda);
        assert!(
            (lo.total - mine).abs() <= 1e-12 * mine.abs().max(1.0),
            "{name}: loss {} vs {mine}",
            lo.total
        );
        assert!((lo.total - lo.task - c.lambda * lo.mean_h2).abs() < 1e-14);
    }
}

#[test]
fn bptt_matches_finite_differences() {
    for (name, c) in all_cases() {
        let (lo, g, _) = loss_and_grad(&c.net, Rule::Bptt, &c.prep, c.lambda);
        assert!((lo.total - library_total(&c.net, &c.prep, c.lambda)).abs() < 1e-14);
        let fd = finite_diff(&c.net.p, |p| {
            library_total(&with_params(&c.net, p), &c.prep, c.lambda)
        });
        assert_close(&format!("bptt vs FD, {name}"), &g, &fd, 1e-6, 1e-9);
        // Fixed-zero entries stay exactly zero: the Dale diagonal and masked-out connections.
        if let Some(m) = &c.net.mask {
            for ((j, i), &mk) in m.indexed_iter() {
                if mk == 0.0 {
                    assert_eq!(
                        g.w_rec[[j, i]],
                        0.0,
                        "{name}: masked w_rec[{j},{i}] has a gradient"
                    );
                }
            }
        }
    }
}

#[test]
fn bptt_matches_the_independent_full_graph() {
    // Same check through the loop implementation (no cut anywhere): ties the library's gradient
    // to a loss it did not compute.
    for (name, c) in all_cases().into_iter().step_by(3) {
        let (_, g, _) = loss_and_grad(&c.net, Rule::Bptt, &c.prep, c.lambda);
        let fd = cut_graph_fd(&c, &|_| false);
        let what = format!("bptt vs independent FD, {name}");
        assert_close(&what, &g, &fd, 1e-6, 1e-9);
    }
}

fn random_feedback(c: &Case, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let no = c.net.cfg.n_out;
    let bound = 1.0 / (N as f64).sqrt();
    Array2::from_shape_fn((N, no), |_| rng.random_range(-bound..bound))
}

#[test]
fn eprop_trace_form_equals_backward_form() {
    for (name, c) in all_cases() {
        let mut net = c.net.clone();
        net.feedback = Some(random_feedback(&c, 99));
        let tr = forward(&net, &c.prep.x);
        let lo = loss(&tr, &c.prep, c.lambda);
        for rule in [Rule::Eprop, Rule::EpropRandom] {
            let a = grad_eprop_traces(&net, rule, &c.prep, &tr, &lo, c.lambda);
            let b = grad_backward(&net, rule, &c.prep, &tr, &lo, c.lambda);
            let what = format!("{} traces vs backward, {name}", rule.name());
            assert_close(&what, &a, &b, 1e-9, 1e-15);
        }
    }
}

#[test]
fn eprop_matches_finite_differences_of_the_cut_graph() {
    for (name, c) in all_cases() {
        let (_, g, _) = loss_and_grad(&c.net, Rule::Eprop, &c.prep, c.lambda);
        let fd = cut_graph_fd(&c, &|_| true);
        let what = format!("eprop vs cut-graph FD, {name}");
        assert_close(&what, &g, &fd, 1e-6, 1e-9);
        // It really differs from BPTT (the recurrent path matters in these networks).
        let (_, gb, _) = loss_and_grad(&c.net, Rule::Bptt, &c.prep, c.lambda);
        let d = (&gb.w_in - &g.w_in).mapv(f64::abs).sum();
        assert!(
            d > 1e-6,
            "{name}: e-prop equals BPTT, test network too weak"
        );
    }
}

#[test]
fn eprop_random_matches_a_linear_surrogate() {
    // With feedback B, the e-prop-random gradient of w_in, b_in, w_rec, ah0 is the cut-graph
    // gradient of  sum_t (B dE/dy[t]) . h[t] + lambda mean(h^2)  with dE/dy held fixed at its
    // unperturbed value; w_out and b_out keep their exact gradients.
    for (name, c) in all_cases().into_iter().step_by(2) {
        let mut net = c.net.clone();
        let fb = random_feedback(&c, 5);
        net.feedback = Some(fb.clone());
        let (lo, g, _) = loss_and_grad(&net, Rule::EpropRandom, &c.prep, c.lambda);
        let (_, g_exact, _) = loss_and_grad(&net, Rule::Bptt, &c.prep, c.lambda);
        // coef[b, t, j] = sum_k B[j, k] dE/dy[t, b, k]
        let coef = Array3::from_shape_fn((B, T, N), |(b, t, j)| {
            (0..net.cfg.n_out)
                .map(|k| fb[[j, k]] * lo.dy[[t, b, k]])
                .sum::<f64>()
        });
        let frozen = my_forward(&net, &net.p, &c.batch.inputs, None, &|_| false);
        let fd = finite_diff(&net.p, |p| {
            let h = my_forward(&net, p, &c.batch.inputs, Some(&frozen), &|_| true);
            let mut s = 0.0;
            let mut h2 = 0.0;
            for b in 0..B {
                for t in 0..T {
                    for j in 0..N {
                        s += coef[[b, t, j]] * h[[b, t + 1, j]];
                        h2 += h[[b, t + 1, j]] * h[[b, t + 1, j]];
                    }
                }
            }
            s + c.lambda * h2 / (B * T * N) as f64
        });
        let what = format!("eprop-random vs surrogate FD, {name}");
        // w_in, b_in, w_rec and ah0 against the surrogate; w_out and b_out exactly BPTT's.
        let (got, fd, exact) = (g.slices(), fd.slices(), g_exact.slices());
        for (k, param) in PARAM_NAMES.iter().enumerate() {
            if matches!(*param, "w_out" | "b_out") {
                let what = format!("{what}: {param} exact");
                assert_close_one(&what, got[k], exact[k], 1e-14, 0.0);
            } else {
                assert_close_one(&format!("{what}: {param}"), got[k], fd[k], 1e-6, 1e-9);
            }
        }
    }
}

#[test]
fn tbptt_matches_finite_differences_of_its_cut_graph() {
    for (name, c) in all_cases().into_iter().step_by(2) {
        for k in [2usize, 3, 4, T - 1, T, T + 1, 3 * T] {
            let (_, g, _) = loss_and_grad(&c.net, Rule::Tbptt(k), &c.prep, c.lambda);
            let fd = cut_graph_fd(&c, &|t| (T - t).is_multiple_of(k));
            let what = format!("tbptt:{k} vs cut-graph FD, {name}");
            assert_close(&what, &g, &fd, 1e-6, 1e-9);
        }
    }
}

#[test]
fn tbptt_limits() {
    for (name, c) in all_cases() {
        let grad = |rule| loss_and_grad(&c.net, rule, &c.prep, c.lambda).1;
        let (bptt, eprop) = (grad(Rule::Bptt), grad(Rule::Eprop));
        // K = 1 cuts every step: e-prop.
        let what = format!("tbptt:1 = eprop, {name}");
        assert_close(&what, &grad(Rule::Tbptt(1)), &eprop, 1e-13, 0.0);
        // K > T cuts no step (T - t lies in 1..=T): BPTT.
        for k in [T + 1, 5 * T] {
            let what = format!("tbptt:{k} = bptt, {name}");
            assert_close(&what, &grad(Rule::Tbptt(k)), &bptt, 1e-13, 0.0);
        }
        // K = T cuts only step 0, whose recurrent input is w_rec f(ah0): everything equals BPTT
        // except ah0, which keeps only its leak path.
        let g = grad(Rule::Tbptt(T));
        let mut g_no_ah0 = g.clone();
        g_no_ah0.ah0 = bptt.ah0.clone();
        let what = format!("tbptt:T = bptt except ah0, {name}");
        assert_close(&what, &g_no_ah0, &bptt, 1e-13, 0.0);
        assert!(
            (&g.ah0 - &bptt.ah0).mapv(f64::abs).sum() > 1e-9,
            "{name}: ah0 recurrent path missing"
        );
    }
}

#[test]
fn feedback_equal_to_readout_transpose_reduces_to_symmetric_rules() {
    for (name, c) in all_cases() {
        let mut net = c.net.clone();
        net.feedback = Some(net.p.w_out.t().to_owned());
        let grad = |net: &Net<f64>, rule| loss_and_grad(net, rule, &c.prep, c.lambda).1;
        for (rule, equals) in [
            (Rule::ReadoutFa, Rule::Bptt),
            (Rule::EpropRandom, Rule::Eprop),
        ] {
            let what = format!("{}(B = w_out^T) = {}, {name}", rule.name(), equals.name());
            assert_close(&what, &grad(&net, rule), &grad(&net, equals), 1e-13, 0.0);
        }
        // With a random B, readout-fa still has the exact readout gradients but differs elsewhere.
        net.feedback = Some(random_feedback(&c, 11));
        let (fa, bp) = (grad(&net, Rule::ReadoutFa), grad(&net, Rule::Bptt));
        let (got, want) = (fa.slices(), bp.slices());
        for param in ["w_out", "b_out"] {
            let k = PARAM_NAMES.iter().position(|n| *n == param).unwrap();
            let what = format!("readout-fa {param}, {name}");
            assert_close_one(&what, got[k], want[k], 1e-14, 0.0);
        }
        assert!(
            (&fa.w_in - &bp.w_in).mapv(f64::abs).sum() > 1e-9,
            "{name}: feedback unused"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Adam (PyTorch: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//        p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)), b1 = 0.9, b2 = 0.999, eps = 1e-8.

fn adam_cfg() -> RateConfig {
    RateConfig::new(1, 2, 1) // 2 + 2 + 4 + 2 + 1 + 2 = 13 scalars
}

const G1: [f64; 13] = [
    0.5, -2.0, 1e-8, 0.0, 3e-3, -1e5, 7.25, -1e-9, 1.0, -0.125, 4e-6, 2.0, -0.5,
];
const G2: [f64; 13] = [
    0.1, 0.3, -1e-8, 1.0, -3e-3, 2e5, 0.0, 1e-9, -1.0, 0.125, 0.0, 2.0, 0.25,
];

#[test]
fn adam_first_step() {
    let cfg = adam_cfg();
    let lr = 1e-3;
    let p0: Vec<f64> = (0..13).map(|i| 0.1 * i as f64 - 0.6).collect();
    let mut p = RateParams::from_flat(&cfg, &p0);
    let g = RateParams::from_flat(&cfg, &G1);
    let mut adam = Adam::<RateParams<f64>>::new(&cfg, lr);
    adam.update(&mut p, &g);
    // Step 1: m_hat = g, v_hat = g^2, so the move is exactly lr * g / (|g| + eps): about
    // lr * sign(g) for |g| >> eps, half of it for |g| = eps, nothing for g = 0.
    let got = p.flatten();
    for i in 0..13 {
        let want = p0[i] - lr * G1[i] / (G1[i].abs() + 1e-8);
        assert!(
            (got[i] - want).abs() <= 1e-15,
            "param {i}: {} vs {want}",
            got[i]
        );
    }
    assert_eq!(got[3], p0[3]);
    assert!((got[2] - (p0[2] - 0.5e-3)).abs() < 1e-15);
    assert!((got[0] - (p0[0] - 1e-3 * 0.5 / (0.5 + 1e-8))).abs() < 1e-15);
    assert_eq!(adam.step, 1);
    let m1 = adam.m.flatten();
    let v1 = adam.v.flatten();
    for i in 0..13 {
        assert!((m1[i] - 0.1 * G1[i]).abs() <= 1e-15 * G1[i].abs());
        assert!((v1[i] - 0.001 * G1[i] * G1[i]).abs() <= 1e-14 * G1[i] * G1[i]);
    }
}

#[test]
fn adam_second_step_and_constant_gradient() {
    let cfg = adam_cfg();
    let lr = 3e-4;
    let p0: Vec<f64> = (0..13).map(|i| 0.05 * i as f64).collect();
    let mut p = RateParams::from_flat(&cfg, &p0);
    let mut adam = Adam::<RateParams<f64>>::new(&cfg, lr);
    adam.update(&mut p, &RateParams::from_flat(&cfg, &G1));
    adam.update(&mut p, &RateParams::from_flat(&cfg, &G2));
    let got = p.flatten();
    for i in 0..13 {
        let mut q = p0[i];
        let (mut m, mut v) = (0.0, 0.0);
        for (t, g) in [(1, G1[i]), (2, G2[i])] {
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            let m_hat = m / (1.0 - 0.9f64.powi(t));
            let v_hat = v / (1.0 - 0.999f64.powi(t));
            q -= lr * m_hat / (v_hat.sqrt() + 1e-8);
        }
        assert!(
            (got[i] - q).abs() <= 1e-15 + 1e-12 * lr,
            "param {i}: {} vs {q}",
            got[i]
        );
    }
    // A constant gradient g keeps m_hat = g and v_hat = g^2: every step moves lr * g / (|g| + eps).
    let mut p = RateParams::from_flat(&cfg, &p0);
    let mut adam = Adam::<RateParams<f64>>::new(&cfg, lr);
    let g = RateParams::from_flat(&cfg, &G1);
    for _ in 0..10 {
        adam.update(&mut p, &g);
    }
    let got = p.flatten();
    for i in 0..13 {
        let want = p0[i] - 10.0 * lr * G1[i] / (G1[i].abs() + 1e-8);
        assert!(
            (got[i] - want).abs() <= 1e-14,
            "param {i} after 10 steps: {} vs {want}",
            got[i]
        );
    }
}

#[test]
fn adam_f32_matches_f64() {
    let cfg = adam_cfg();
    let p0: Vec<f64> = (0..13).map(|i| 0.1 * i as f64 - 0.6).collect();
    let mut p64 = RateParams::from_flat(&cfg, &p0);
    let mut p32: RateParams<f32> = p64.cast();
    let mut a64 = Adam::<RateParams<f64>>::new(&cfg, 1e-3);
    let mut a32 = Adam::<RateParams<f32>>::new(&cfg, 1e-3);
    for g in [&G1, &G2, &G1] {
        let g64 = RateParams::from_flat(&cfg, g);
        a64.update(&mut p64, &g64);
        a32.update(&mut p32, &g64.cast());
    }
    let (x, y) = (p64.flatten(), p32.cast::<f64>().flatten());
    for i in 0..13 {
        assert!(
            (x[i] - y[i]).abs() < 1e-6,
            "param {i}: f64 {} vs f32 {}",
            x[i],
            y[i]
        );
    }
}

#[test]
fn fast_f32_tanh_matches_libm() {
    use snnlab::model::Real;
    let mut worst = 0.0f64;
    for i in -200_000..=200_000 {
        let x = i as f32 * 5e-5; // [-10, 10]
        let err = ((x.tanh_act() as f64) - (x as f64).tanh()).abs();
        worst = worst.max(err);
    }
    assert!(worst < 1e-6, "fast tanh max abs error {worst:e}");
}

/// The f32 path the CPU backend trains with (packed SIMD products, narrow products, fused steps)
/// against the f64 oracle (`general_mat_mul`), on sizes that leave remainders in every kernel
/// block (N = 37: two 16-column panels and a 5-column tail; 13 trials: two 6-row blocks and 1),
/// for every rule family, with Dale's law, a sparse mask and the regulariser.
#[test]
fn f32_fast_path_matches_the_f64_oracle() {
    use snnlab::model::RateModel;
    let mut cfg = RateConfig::new(3, 37, 2);
    cfg.alpha = 0.2;
    cfg.dale = true;
    cfg.connectivity = 0.6;
    let mut model = RateModel::init(cfg.clone(), 1.2, 5).unwrap();
    model.ensure_feedback(5);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    model
        .params
        .ah0
        .mapv_inplace(|_| rng.random_range(-0.5..0.5));
    model
        .params
        .b_in
        .mapv_inplace(|_| rng.random_range(-0.2..0.2));
    let (b, t) = (13, 25);
    let batch = Batch {
        inputs: Array3::from_shape_simple_fn((b, t, 3), || normal(&mut rng)),
        targets: Array3::from_shape_simple_fn((b, t, 2), || normal(&mut rng)),
        mask: Array3::from_shape_simple_fn((b, t, 2), || (rng.random::<f64>() < 0.8) as u8 as f64),
        loss: LossKind::Mse,
    };
    let (n64, n32) = (Net::<f64>::new(&model), Net::<f32>::new(&model));
    let (p64, p32) = (Prepared::<f64>::new(&batch), Prepared::<f32>::new(&batch));
    use Rule::{Bptt, Eprop, EpropRandom, ReadoutFa, Tbptt};
    for rule in [Bptt, Eprop, EpropRandom, Tbptt(4), ReadoutFa] {
        let (l64, g64, tr64) = loss_and_grad(&n64, rule, &p64, 0.1);
        let (l32, g32, tr32) = loss_and_grad(&n32, rule, &p32, 0.1f32);
        let rel = |a: &[f32], b: &[f64]| {
            let num: f64 = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| (x as f64 - y).powi(2))
                .sum::<f64>()
                .sqrt();
            num / b.iter().map(|y| y * y).sum::<f64>().sqrt().max(1e-30)
        };
        let ys = rel(tr32.y.as_slice().unwrap(), tr64.y.as_slice().unwrap());
        assert!(ys < 1e-5, "{rule:?}: outputs differ by {ys:.2e} (relative)");
        assert!(
            ((l32.total as f64) - l64.total).abs() < 1e-5 * l64.total.abs(),
            "{rule:?}: loss {} vs {}",
            l32.total,
            l64.total
        );
        for ((name, a), b) in PARAM_NAMES.iter().zip(g32.slices()).zip(g64.slices()) {
            let e = rel(a, b);
            assert!(
                e < 1e-4,
                "{rule:?} d{name}: f32 fast path vs f64 oracle differ by {e:.2e} (relative)"
            );
        }
    }
}
