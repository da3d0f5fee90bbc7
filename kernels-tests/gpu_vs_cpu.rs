//! Every GPU kernel against the CPU implementation on a small pack of networks (lavapipe in CI):
//! forward trajectories, losses, gradients of every rule, and the Adam step.

use crate::common::{assert_close, gpu, random_batch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snnlab::batch::{Batch, LossKind};
use snnlab::gpu::RateEngine;
use snnlab::gpu::kernels::StepKernels;
use snnlab::model::{Activation, RateConfig, RateModel, RateParams};
use snnlab::optim::Adam;
use snnlab::reference::rate::{Net, Prepared, forward, grad_backward, loss};
use snnlab::rules::Rule;

const M: usize = 3;
const B: usize = 4;
const T: usize = 12;

fn models(cfg: &RateConfig, seed: u64) -> Vec<RateModel> {
    (0..M)
        .map(|i| {
            let mut md = RateModel::init(cfg.clone(), 1.2, seed + i as u64).unwrap();
            let mut r = ChaCha8Rng::seed_from_u64(seed * 31 + i as u64);
            md.params.ah0.mapv_inplace(|_| r.random_range(-0.5..0.8));
            md.params.b_in.mapv_inplace(|_| r.random_range(-0.3..0.3));
            md.ensure_feedback(seed + i as u64);
            md
        })
        .collect()
}

fn batch(cfg: &RateConfig, loss: LossKind, seed: u64) -> Batch {
    batch_bt(cfg, loss, seed, B, T)
}

fn batch_bt(cfg: &RateConfig, loss: LossKind, seed: u64, b: usize, t: usize) -> Batch {
    // Mostly on, never all off (the loss would be undefined).
    random_batch([cfg.n_in, cfg.n_out], loss, seed, [b, t], -1.0..1.0, 0.7)
}

fn flat64(p: &RateParams<f64>) -> Vec<f64> {
    p.flatten()
}

#[derive(Clone)]
struct Case {
    cfg: RateConfig,
    loss: LossKind,
    lambda: f64,
    b: usize,
    t: usize,
}

fn cases() -> Vec<Case> {
    let mut base = RateConfig::new(3, 24, 2);
    base.activation = Activation::Retanh;
    let mut tanh_ce = RateConfig::new(3, 24, 3);
    tanh_ce.activation = Activation::Tanh;
    let mut dale = RateConfig::new(3, 20, 2);
    dale.dale = true;
    dale.connectivity = 0.6;
    dale.activation = Activation::Softplus;
    let mut relu = RateConfig::new(2, 16, 2);
    relu.activation = Activation::Relu;
    // Sizes are not multiples of the workgroup size (64); the last cases are the degenerate
    // shapes: one unit, one step, one trial; and more units than one workgroup.
    let mut wide = RateConfig::new(5, 70, 2);
    wide.activation = Activation::Tanh;
    vec![
        Case {
            cfg: base,
            loss: LossKind::Mse,
            lambda: 0.5,
            b: B,
            t: T,
        },
        Case {
            cfg: tanh_ce,
            loss: LossKind::Ce,
            lambda: 0.2,
            b: B,
            t: T,
        },
        Case {
            cfg: dale,
            loss: LossKind::Mse,
            lambda: 0.1,
            b: B,
            t: T,
        },
        Case {
            cfg: relu,
            loss: LossKind::Mse,
            lambda: 0.0,
            b: B,
            t: T,
        },
        Case {
            cfg: RateConfig::new(1, 1, 1),
            loss: LossKind::Mse,
            lambda: 0.3,
            b: 1,
            t: 1,
        },
        Case {
            cfg: wide.clone(),
            loss: LossKind::Mse,
            lambda: 0.2,
            b: 3,
            t: 5,
        },
        // The step kernels tile 64 units × 8 trials and 32 inputs per chunk: more trials than
        // one tile with a ragged last one, units spilling into a second tile.
        Case {
            cfg: wide,
            loss: LossKind::Mse,
            lambda: 0.2,
            b: 19,
            t: 4,
        },
    ]
}

#[test]
fn forward_losses_and_every_rule_match_cpu() {
    let Some(ctx) = gpu() else { return };
    let rules = [
        Rule::Bptt,
        Rule::Eprop,
        Rule::EpropRandom,
        Rule::Tbptt(5),
        Rule::ReadoutFa,
    ];
    // Both implementations of the step kernels, whichever the adapter would pick.
    let runs = cases()
        .into_iter()
        .enumerate()
        .flat_map(|(ci, c)| [StepKernels::Simple, StepKernels::Tiled].map(|v| (ci, c.clone(), v)));
    for (ci, case, variant) in runs {
        let case = &case;
        let mds = models(&case.cfg, 10 * ci as u64 + 1);
        let batches: Vec<Batch> = (0..M)
            .map(|i| batch_bt(&case.cfg, case.loss, 100 + i as u64, case.b, case.t))
            .collect();
        let mut eng = RateEngine::with_step_kernels(
            ctx.clone(),
            &case.cfg,
            M,
            case.b,
            case.t,
            case.loss,
            variant,
        )
        .unwrap();
        eng.set_networks(&mds.iter().collect::<Vec<_>>()).unwrap();
        eng.set_batches(&batches.iter().collect::<Vec<_>>())
            .unwrap();
        let lambdas: Vec<f64> = (0..M).map(|i| case.lambda * (1.0 + i as f64)).collect();
        eng.set_hyper(&lambdas, &[1e-3]);

        let losses = eng.forward().unwrap();
        let (y, h) = eng.read_trajectories().unwrap();
        for i in 0..M {
            let net = Net::<f64>::new(&mds[i]);
            let d = Prepared::<f64>::new(&batches[i]);
            let tr = forward(&net, &d.x);
            let lo = loss(&tr, &d, lambdas[i]);
            let tag = format!("case {ci} ({variant:?} steps) net {i}");
            assert_close(
                &format!("{tag} y"),
                y.index_axis(ndarray::Axis(0), i).as_slice().unwrap(),
                tr.y.as_slice().unwrap(),
            );
            assert_close(
                &format!("{tag} h"),
                h.index_axis(ndarray::Axis(0), i).as_slice().unwrap(),
                tr.h.as_slice().unwrap(),
            );
            assert_close(&format!("{tag} task loss"), &[losses[i].task], &[lo.task]);
            assert_close(
                &format!("{tag} mean h^2"),
                &[losses[i].mean_h2],
                &[lo.mean_h2],
            );
        }
        for rule in rules {
            eng.gradient(rule).unwrap();
            let g = eng.read_grads().unwrap();
            for i in 0..M {
                let net = Net::<f64>::new(&mds[i]);
                let d = Prepared::<f64>::new(&batches[i]);
                let tr = forward(&net, &d.x);
                let lo = loss(&tr, &d, lambdas[i]);
                let cpu = grad_backward(&net, rule, &d, &tr, &lo, lambdas[i]);
                for ((name, gg), cc) in snnlab::model::PARAM_NAMES
                    .iter()
                    .zip(g[i].slices())
                    .zip(cpu.slices())
                {
                    assert_close(
                        &format!(
                            "case {ci} ({variant:?} steps) net {i} rule {} grad {name}",
                            rule.name()
                        ),
                        gg,
                        cc,
                    );
                }
            }
        }
    }
}

#[test]
fn adam_update_matches_cpu() {
    let Some(ctx) = gpu() else { return };
    let case = &cases()[0];
    let mds = models(&case.cfg, 7);
    let batches: Vec<Batch> = (0..M)
        .map(|i| batch(&case.cfg, case.loss, 200 + i as u64))
        .collect();
    let mut eng = RateEngine::new(ctx, &case.cfg, M, B, T, case.loss).unwrap();
    eng.set_networks(&mds.iter().collect::<Vec<_>>()).unwrap();
    eng.set_batches(&batches.iter().collect::<Vec<_>>())
        .unwrap();
    let lrs = [1e-2, 3e-3, 1e-3];
    eng.set_hyper(&[0.3], &lrs);
    // Three updates: exercises the bias corrections and the moment buffers.
    let mut cpu_nets: Vec<Net<f64>> = mds.iter().map(Net::new).collect();
    let mut opts: Vec<Adam<RateParams<f64>>> =
        (0..M).map(|i| Adam::new(&case.cfg, lrs[i])).collect();
    for _ in 0..3 {
        let gl = eng.update(Rule::Bptt).unwrap();
        for i in 0..M {
            let d = Prepared::<f64>::new(&batches[i]);
            let tr = forward(&cpu_nets[i], &d.x);
            let lo = loss(&tr, &d, 0.3);
            assert_close("loss before update", &[gl[i].task], &[lo.task]);
            let g = grad_backward(&cpu_nets[i], Rule::Bptt, &d, &tr, &lo, 0.3);
            opts[i].update(&mut cpu_nets[i].p, &g);
            cpu_nets[i].refresh();
        }
    }
    let p = eng.read_params().unwrap();
    for i in 0..M {
        let moved: f64 = flat64(&cpu_nets[i].p)
            .iter()
            .zip(mds[i].params.flatten())
            .map(|(a, b)| (a - b as f64).abs())
            .fold(0.0, f64::max);
        assert!(moved > 1e-4, "the update must move the parameters");
        let gpu: Vec<f32> = p[i].flatten();
        assert_close(
            &format!("params after 3 Adam updates, net {i}"),
            &gpu,
            &flat64(&cpu_nets[i].p),
        );
    }
}

#[test]
fn oversized_pack_is_refused_with_a_clear_error() {
    let Some(ctx) = gpu() else { return };
    let cfg = RateConfig::new(3, 512, 2);
    let fit = RateEngine::max_networks(&ctx, &cfg, 256, 1000);
    let err = RateEngine::new(ctx, &cfg, fit + 1, 256, 1000, LossKind::Mse)
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("per pack"), "{err}");
}

/// A batch split into trial chunks (what the engine does when a batch exceeds one storage
/// binding) gives the whole batch's losses, gradients and Adam step.
#[test]
fn trial_chunks_add_up_to_the_whole_batch() {
    let Some(ctx) = gpu() else { return };
    // Unconstrained and Dale + sparse (whose chain rule must be applied once, after all chunks).
    for case in [&cases()[0], &cases()[2]] {
        let mds = models(&case.cfg, 3);
        let batches: Vec<Batch> = (0..M)
            .map(|i| batch(&case.cfg, case.loss, 300 + i as u64))
            .collect();
        let refs: Vec<&Batch> = batches.iter().collect();
        let half = B / 2;
        for rule in [Rule::Bptt, Rule::Eprop] {
            let mut eng = RateEngine::new(ctx.clone(), &case.cfg, M, half, T, case.loss).unwrap();
            eng.set_networks(&mds.iter().collect::<Vec<_>>()).unwrap();
            eng.set_hyper(&[0.4], &[1e-2]);
            eng.set_batch_chunk(&refs, 0).unwrap();
            let l0 = eng.gradient_chunk(rule, true).unwrap();
            eng.set_batch_chunk(&refs, half).unwrap();
            let l1 = eng.gradient_chunk(rule, false).unwrap();
            let g = eng.read_grads().unwrap();
            eng.adam_step().unwrap();
            let p = eng.read_params().unwrap();
            for i in 0..M {
                let mut net = Net::<f64>::new(&mds[i]);
                let d = Prepared::<f64>::new(&batches[i]);
                let tr = forward(&net, &d.x);
                let lo = loss(&tr, &d, 0.4);
                let cpu = grad_backward(&net, rule, &d, &tr, &lo, 0.4);
                assert_close("chunked task loss", &[l0[i].task + l1[i].task], &[lo.task]);
                assert_close(
                    "chunked mean h^2",
                    &[l0[i].mean_h2 + l1[i].mean_h2],
                    &[lo.mean_h2],
                );
                assert_close(
                    &format!("chunked {} gradient", rule.name()),
                    &g[i].flatten(),
                    &flat64(&cpu),
                );
                let mut opt = Adam::<RateParams<f64>>::new(&case.cfg, 1e-2);
                opt.update(&mut net.p, &cpu);
                assert_close(
                    "params after the chunked update",
                    &p[i].flatten(),
                    &flat64(&net.p),
                );
            }
        }
    }
}
