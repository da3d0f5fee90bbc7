//! CPU reference of the spiking network (SPEC §2, §3, §4) in f64:
//! - the forward pass against an independent scalar-loop implementation written here, and the
//!   refractory / reset semantics on a hand-made single neuron;
//! - every rule's gradient (bptt, eprop, eprop-random, tbptt:K, readout-fa) against forward-mode
//!   sensitivities (RTRL) of the surrogate network written here — an independent formulation of
//!   the same derivative (forward instead of reverse accumulation);
//! - the readout gradients against central finite differences (exact: spikes do not depend on them);
//! - e-prop online (per-synapse traces) == e-prop factorised (backward recurrence) to 1e-9.

use ndarray::{Array2, Array3};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use snnlab::batch::{Batch, LossKind};
use snnlab::model::Kind;
use snnlab::reference::rate::Prepared;
use snnlab::reference::spiking::{
    SpikeLoss, SpikeTrajectory, SpikingNet, forward, grad_backward, grad_eprop_online, loss,
};
use snnlab::rules::Rule;
use snnlab::spiking::{SpikingConfig, SpikingParams};

const N_IN: usize = 3;
const N: usize = 6;
const B: usize = 2;
const T: usize = 60;
const LAMBDA: f64 = 0.3;
const TARGET: f64 = 0.05;

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-300);
    a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

struct Case {
    net: SpikingNet<f64>,
    prep: Prepared<f64>,
}

/// A small active network: inputs and weights strong enough that most neurons spike several
/// times, adaptation fast enough (tau_a = 40 ms) to matter within T.
fn case(kind: &str, loss_kind: LossKind, seed: u64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_out = if loss_kind == LossKind::Ce { 3 } else { 2 };
    let mut cfg = SpikingConfig::new(kind.parse().unwrap(), N_IN, N, n_out);
    cfg.tau_a_ms = 40.0;
    let mut nrm = |s: f64| -> f64 {
        let z: f64 = StandardNormal.sample(&mut rng);
        z * s
    };
    let mut p = SpikingParams::<f64>::zeros(&cfg);
    p.w_in.mapv_inplace(|_| nrm(0.9));
    p.w_rec.mapv_inplace(|_| nrm(0.5));
    p.w_rec.diag_mut().fill(0.0);
    p.w_out.mapv_inplace(|_| nrm(0.7));
    p.b_out.mapv_inplace(|_| nrm(0.1));
    let feedback = Some(Array2::from_shape_simple_fn((N, n_out), || nrm(0.5)));
    let inputs = Array3::from_shape_simple_fn((B, T, N_IN), || 0.25 + nrm(0.3).abs());
    let targets = if loss_kind == LossKind::Ce {
        Array3::from_shape_simple_fn((B, T, 1), || (nrm(1.0).abs() * 7.0) as usize as f64 % 3.0)
    } else {
        Array3::from_shape_simple_fn((B, T, 2), || nrm(1.0))
    };
    let mask = Array3::from_shape_fn(
        targets.raw_dim(),
        |(_, t, _)| if t % 5 == 4 { 0.0 } else { 1.0 },
    );
    let batch = Batch {
        inputs,
        targets,
        mask,
        loss: loss_kind,
    };
    Case {
        net: SpikingNet { cfg, p, feedback },
        prep: Prepared::new(&batch),
    }
}

/// (kind, loss, case, its trajectory, its loss terms).
type Simulated = (
    &'static str,
    LossKind,
    Case,
    SpikeTrajectory<f64>,
    SpikeLoss<f64>,
);

/// The case of `seed` for every kind and loss, run forward.
fn simulated(seed: u64) -> Vec<Simulated> {
    let mut out = vec![];
    for kind in ["lif", "alif"] {
        for lk in [LossKind::Mse, LossKind::Ce] {
            let c = case(kind, lk, seed);
            let tr = forward(&c.net, &c.prep.x);
            let lo = loss(&tr, &c.prep, LAMBDA, TARGET);
            out.push((kind, lk, c, tr, lo));
        }
    }
    out
}

/// The forward pass as plain scalar loops (independent of the library's array code).
// Unit indices into several arrays at once, as the equations write them.
#[allow(clippy::needless_range_loop)]
fn forward_loops(net: &SpikingNet<f64>, x: &Array3<f64>) -> SpikeTrajectory<f64> {
    let c = &net.cfg;
    let (a_v, rho, kappa, v_th, beta, gamma) =
        (c.a_v(), c.rho(), c.kappa(), c.v_th, c.beta_eff(), c.gamma);
    let (t_n, b, _) = x.dim();
    let (n, k) = (c.n_rec, c.n_out);
    let mut tr = SpikeTrajectory {
        v: Array3::zeros((t_n, b, n)),
        a: Array3::zeros((t_n, b, n)),
        z: Array3::zeros((t_n, b, n)),
        psi: Array3::zeros((t_n, b, n)),
        y: Array3::zeros((t_n, b, k)),
    };
    for bi in 0..b {
        let mut last_spike: Vec<Option<usize>> = vec![None; n];
        for t in 0..t_n {
            for j in 0..n {
                let (vp, ap, zp) = if t > 0 {
                    (
                        tr.v[[t - 1, bi, j]],
                        tr.a[[t - 1, bi, j]],
                        tr.z[[t - 1, bi, j]],
                    )
                } else {
                    (0.0, 0.0, 0.0)
                };
                let mut drive = 0.0;
                for i in 0..c.n_in {
                    drive += net.p.w_in[[j, i]] * x[[t, bi, i]];
                }
                if t > 0 {
                    for i in 0..n {
                        drive += net.p.w_rec[[j, i]] * tr.z[[t - 1, bi, i]];
                    }
                }
                let v = a_v * vp + drive - v_th * zp;
                let a = if c.is_alif() {
                    rho * ap + (1.0 - rho) * zp
                } else {
                    0.0
                };
                let refractory = last_spike[j].is_some_and(|s| t > s && t <= s + c.n_ref);
                let u = v - v_th - beta * a;
                let (z, psi) = if refractory {
                    (0.0, 0.0)
                } else {
                    (
                        (u > 0.0) as u8 as f64,
                        gamma / v_th * (1.0 - u.abs() / v_th).max(0.0),
                    )
                };
                if z > 0.0 {
                    last_spike[j] = Some(t);
                }
                tr.v[[t, bi, j]] = v;
                tr.a[[t, bi, j]] = a;
                tr.z[[t, bi, j]] = z;
                tr.psi[[t, bi, j]] = psi;
            }
            for kk in 0..k {
                let mut y = net.p.b_out[kk]
                    + if t > 0 {
                        kappa * tr.y[[t - 1, bi, kk]]
                    } else {
                        0.0
                    };
                for j in 0..n {
                    y += net.p.w_out[[kk, j]] * tr.z[[t, bi, j]];
                }
                tr.y[[t, bi, kk]] = y;
            }
        }
    }
    tr
}

#[test]
fn forward_matches_an_independent_loop_implementation() {
    for kind in ["lif", "alif"] {
        for seed in 0..3 {
            let c = case(kind, LossKind::Mse, seed);
            let (lib, me) = (forward(&c.net, &c.prep.x), forward_loops(&c.net, &c.prep.x));
            assert_eq!(lib.z, me.z, "{kind}: spike trains");
            let spikes = lib.z.sum();
            assert!(
                spikes > (N * B) as f64 && spikes < 0.5 * (N * B * T) as f64,
                "{kind}: regime with {spikes} spikes"
            );
            for (name, a, b) in [
                ("v", &lib.v, &me.v),
                ("a", &lib.a, &me.a),
                ("psi", &lib.psi, &me.psi),
                ("y", &lib.y, &me.y),
            ] {
                let e = rel_err(a.as_slice().unwrap(), b.as_slice().unwrap());
                assert!(e < 1e-12, "{kind} {name}: relative error {e}");
            }
            if kind == "lif" {
                assert!(lib.a.iter().all(|&v| v == 0.0));
            } else {
                assert!(lib.a.iter().any(|&v| v > 0.0));
            }
        }
    }
}

#[test]
fn refractory_period_and_reset_by_subtraction() {
    // One neuron, constant strong input: spikes, then exactly n_ref silent steps while v integrates.
    let mut cfg = SpikingConfig::new(Kind::Lif, 1, 1, 1);
    cfg.n_ref = 3;
    let p = SpikingParams {
        w_in: Array2::from_elem((1, 1), 0.5),
        w_rec: Array2::zeros((1, 1)),
        w_out: Array2::from_elem((1, 1), 1.0),
        b_out: ndarray::Array1::zeros(1),
    };
    let net = SpikingNet {
        cfg: cfg.clone(),
        p,
        feedback: None,
    };
    let x = Array3::from_elem((20, 1, 1), 1.0);
    let tr = forward(&net, &x);
    let z: Vec<u8> = tr.z.iter().map(|&v| v as u8).collect();
    let first = z.iter().position(|&s| s == 1).unwrap();
    // v[0] = 0.5 < 0.6, v[1] = 0.95*0.5 + 0.5 = 0.975 > 0.6.
    assert_eq!(first, 1);
    assert_eq!(&z[2..5], &[0, 0, 0], "n_ref = 3 silent steps");
    // Reset subtracted once, at the step after the spike; v keeps integrating while refractory.
    let a_v = cfg.a_v();
    assert!((tr.v[[2, 0, 0]] - (a_v * tr.v[[1, 0, 0]] + 0.5 - 0.6)).abs() < 1e-12);
    assert!((tr.v[[3, 0, 0]] - (a_v * tr.v[[2, 0, 0]] + 0.5)).abs() < 1e-12);
    assert!(tr.psi[[2, 0, 0]] == 0.0 && tr.psi[[4, 0, 0]] == 0.0);
    // Leaky readout: y[t] = kappa y[t-1] + z[t].
    assert!((tr.y[[2, 0, 0]] - cfg.kappa() * tr.y[[1, 0, 0]]).abs() < 1e-12);
}

/// dE/dw_in and dE/dw_rec of `rule` by forward-mode sensitivities of the surrogate network
/// (`dz = psi (dv - beta da)`, no gradient through the reset), accumulated with the learning
/// signal `S gy[t] + dEreg/dz` where `gy` is the leaky-readout adjoint (computed here).
// Unit indices into several arrays at once, as the equations write them.
#[allow(clippy::needless_range_loop)]
fn rtrl(
    c: &Case,
    rule: Rule,
    tr: &SpikeTrajectory<f64>,
    dy: &Array3<f64>,
    dreg: &[f64],
) -> (Array2<f64>, Array2<f64>) {
    let cfg = &c.net.cfg;
    let (a_v, rho, kappa, beta) = (cfg.a_v(), cfg.rho(), cfg.kappa(), cfg.beta_eff());
    let (n, ni, k) = (cfg.n_rec, cfg.n_in, cfg.n_out);
    let x = &c.prep.x;
    // gy[t] = dy[t] + kappa gy[t+1]; sig[t][j] = sum_k S[j][k] gy[t][k] + dreg[j].
    let mut gy = dy.clone();
    for t in (0..T - 1).rev() {
        for bi in 0..B {
            for kk in 0..k {
                gy[[t, bi, kk]] += kappa * gy[[t + 1, bi, kk]];
            }
        }
    }
    let s = |j: usize, kk: usize| {
        if rule.uses_feedback() {
            c.net.feedback.as_ref().unwrap()[[j, kk]]
        } else {
            c.net.p.w_out[[kk, j]]
        }
    };
    let np = n * ni + n * n;
    let mut grad = vec![0.0; np];
    for bi in 0..B {
        // Tangents per parameter p: [p][j].
        let mut tv = vec![vec![0.0; n]; np];
        let mut ta = vec![vec![0.0; n]; np];
        let mut tz = vec![vec![0.0; n]; np];
        for t in 0..T {
            let cut = rule.cuts(t, T);
            for p in 0..np {
                let mut nv = vec![0.0; n];
                let mut na = vec![0.0; n];
                for j in 0..n {
                    let mut d = a_v * tv[p][j];
                    if t > 0 && !cut {
                        for i in 0..n {
                            d += c.net.p.w_rec[[j, i]] * tz[p][i];
                        }
                    }
                    // Direct dependence on the parameter itself.
                    if p < n * ni {
                        let (pj, pi) = (p / ni, p % ni);
                        if pj == j {
                            d += x[[t, bi, pi]];
                        }
                    } else {
                        let q = p - n * ni;
                        let (pj, pi) = (q / n, q % n);
                        if pj == j && t > 0 {
                            d += tr.z[[t - 1, bi, pi]];
                        }
                    }
                    nv[j] = d;
                    na[j] = rho * ta[p][j] + (1.0 - rho) * tz[p][j];
                }
                for j in 0..n {
                    tz[p][j] = tr.psi[[t, bi, j]] * (nv[j] - beta * na[j]);
                }
                tv[p] = nv;
                ta[p] = na;
                for j in 0..n {
                    let mut sig = dreg[j];
                    for kk in 0..k {
                        sig += s(j, kk) * gy[[t, bi, kk]];
                    }
                    grad[p] += sig * tz[p][j];
                }
            }
        }
    }
    let g_in = Array2::from_shape_vec((n, ni), grad[..n * ni].to_vec()).unwrap();
    let mut g_rec = Array2::from_shape_vec((n, n), grad[n * ni..].to_vec()).unwrap();
    g_rec.diag_mut().fill(0.0);
    (g_in, g_rec)
}

const RULES: [Rule; 5] = [
    Rule::Bptt,
    Rule::Eprop,
    Rule::EpropRandom,
    Rule::Tbptt(7),
    Rule::ReadoutFa,
];

#[test]
fn every_rule_matches_forward_mode_sensitivities_of_the_surrogate() {
    for (kind, lk, c, tr, lo) in simulated(11) {
        for rule in RULES {
            let g = grad_backward(&c.net, rule, &c.prep, &tr, &lo);
            let (g_in, g_rec) = rtrl(&c, rule, &tr, &lo.dy, lo.dreg.as_slice().unwrap());
            let e_in = rel_err(g.w_in.as_slice().unwrap(), g_in.as_slice().unwrap());
            let e_rec = rel_err(g.w_rec.as_slice().unwrap(), g_rec.as_slice().unwrap());
            assert!(
                e_in < 1e-10 && e_rec < 1e-10,
                "{kind} {lk:?} {}: w_in {e_in:.2e}, w_rec {e_rec:.2e}",
                rule.name()
            );
            assert!(
                g_rec.iter().any(|v| v.abs() > 1e-6),
                "{kind} {}: gradient is not trivially zero",
                rule.name()
            );
            assert!(g.w_rec.diag().iter().all(|&v| v == 0.0));
        }
        // The rules differ: e-prop is not BPTT here (recurrent paths matter).
        let gb = grad_backward(&c.net, Rule::Bptt, &c.prep, &tr, &lo);
        let ge = grad_backward(&c.net, Rule::Eprop, &c.prep, &tr, &lo);
        assert!(rel_err(ge.w_rec.as_slice().unwrap(), gb.w_rec.as_slice().unwrap()) > 1e-3);
    }
}

#[test]
fn readout_gradients_match_finite_differences() {
    for (kind, lk, c, tr, lo) in simulated(5) {
        let g = grad_backward(&c.net, Rule::Bptt, &c.prep, &tr, &lo);
        let eps = 1e-6;
        let total = |p: &SpikingParams<f64>| {
            let net = SpikingNet {
                cfg: c.net.cfg.clone(),
                p: p.clone(),
                feedback: None,
            };
            let tr = forward(&net, &c.prep.x);
            loss(&tr, &c.prep, LAMBDA, TARGET).total
        };
        let mut fd_w = Array2::<f64>::zeros(g.w_out.raw_dim());
        for ((kk, j), v) in fd_w.indexed_iter_mut() {
            let (mut pp, mut pm) = (c.net.p.clone(), c.net.p.clone());
            pp.w_out[[kk, j]] += eps;
            pm.w_out[[kk, j]] -= eps;
            *v = (total(&pp) - total(&pm)) / (2.0 * eps);
        }
        let mut fd_b = vec![0.0; g.b_out.len()];
        for (kk, v) in fd_b.iter_mut().enumerate() {
            let (mut pp, mut pm) = (c.net.p.clone(), c.net.p.clone());
            pp.b_out[kk] += eps;
            pm.b_out[kk] -= eps;
            *v = (total(&pp) - total(&pm)) / (2.0 * eps);
        }
        let ew = rel_err(g.w_out.as_slice().unwrap(), fd_w.as_slice().unwrap());
        let eb = rel_err(g.b_out.as_slice().unwrap(), &fd_b);
        assert!(
            ew < 1e-7 && eb < 1e-7,
            "{kind} {lk:?}: w_out {ew:.2e}, b_out {eb:.2e}"
        );
    }
}

#[test]
fn eprop_online_traces_equal_the_factorised_form() {
    for (kind, lk, c, tr, lo) in simulated(21) {
        for rule in [Rule::Eprop, Rule::EpropRandom] {
            let online = grad_eprop_online(&c.net, rule, &c.prep, &tr, &lo);
            let fact = grad_backward(&c.net, rule, &c.prep, &tr, &lo);
            let e = rel_err(&online.flatten(), &fact.flatten());
            assert!(
                e < 1e-9,
                "{kind} {lk:?} {}: online vs factorised {e:.2e}",
                rule.name()
            );
        }
    }
}

#[test]
fn rate_regulariser_value_and_gradient() {
    let c = case("alif", LossKind::Mse, 3);
    let tr = forward(&c.net, &c.prep.x);
    let lo = loss(&tr, &c.prep, LAMBDA, TARGET);
    let mut want = 0.0;
    for j in 0..N {
        let mut r = 0.0;
        for t in 0..T {
            for bi in 0..B {
                r += tr.z[[t, bi, j]];
            }
        }
        r /= (T * B) as f64;
        want += (r - TARGET) * (r - TARGET) / N as f64;
        let dr = LAMBDA * 2.0 * (r - TARGET) / N as f64 / (T * B) as f64;
        assert!((lo.dreg[j] - dr).abs() < 1e-15);
    }
    assert!(
        (lo.rate_reg - want).abs() < 1e-14 && (lo.total - lo.task - LAMBDA * want).abs() < 1e-14
    );
}

/// The CPU backend's spiking gradients run in (network, 50-trial chunk) work items with the
/// firing-rate regulariser taken from the whole batch: on a batch of 107 trials (3 chunks) they
/// equal the whole-batch loss and gradient (f32 both) — for each of two networks in one call.
#[test]
fn chunked_cpu_gradients_equal_the_whole_batch() {
    use rand::Rng;
    use snnlab::spiking::SpikingModel;
    let (b, t) = (107, 30);
    let mut cfg = SpikingConfig::new(Kind::Alif, 3, 40, 2);
    cfg.tau_a_ms = 40.0;
    let models: Vec<SpikingModel> = (0..2)
        .map(|s| {
            let mut m = SpikingModel::init(cfg.clone(), 20 + s).unwrap();
            m.params.w_in.mapv_inplace(|w| 2.0 * w);
            m
        })
        .collect();
    let mut r = ChaCha8Rng::seed_from_u64(3);
    let batches: Vec<Batch> = (0..2)
        .map(|_| Batch {
            inputs: Array3::from_shape_simple_fn((b, t, 3), || r.random_range(0.0..1.5)),
            targets: Array3::from_shape_simple_fn((b, t, 2), || r.random_range(-1.0..1.0)),
            mask: Array3::from_shape_simple_fn((b, t, 2), || {
                (r.random::<f64>() < 0.8) as u8 as f64
            }),
            loss: LossKind::Mse,
        })
        .collect();
    let nets: Vec<SpikingNet<f32>> = models.iter().map(SpikingNet::new).collect();
    let refs: Vec<&SpikingNet<f32>> = nets.iter().collect();
    let (lambdas, target) = ([2.0, 0.5], 0.02f32);
    let got = snnlab::backend::spiking_gradients_cpu(
        &refs,
        Rule::Bptt,
        |k| Prepared::new(&batches[k]),
        &lambdas,
        target,
    );
    for (k, (l, g)) in got.iter().enumerate() {
        let d = Prepared::<f32>::new(&batches[k]);
        let tr = forward(&nets[k], &d.x);
        assert!(
            tr.z.sum() > 500.0,
            "the network must be active for the regulariser to matter"
        );
        let lo = loss(&tr, &d, lambdas[k] as f32, target);
        let want = grad_backward(&nets[k], Rule::Bptt, &d, &tr, &lo);
        assert!(
            (l.task - lo.task).abs() <= 1e-5 * lo.task.abs(),
            "network {k}: task loss {} vs {}",
            l.task,
            lo.task
        );
        assert!(
            (l.rate_reg - lo.rate_reg).abs() <= 1e-6 * lo.rate_reg.abs(),
            "network {k}: rate regulariser {} vs {}",
            l.rate_reg,
            lo.rate_reg
        );
        let (a, w): (Vec<f64>, Vec<f64>) = (
            g.flatten().iter().map(|&v| v as f64).collect(),
            want.flatten().iter().map(|&v| v as f64).collect(),
        );
        let e = rel_err(&a, &w);
        assert!(
            e < 1e-4,
            "network {k}: chunked gradient differs from the whole batch's by {e:.2e}"
        );
    }
}
