//! The spiking GPU kernels against the CPU implementation (f64) on small packs (lavapipe in CI):
//! spike trains identical, trajectories, losses and every rule's gradient within the one
//! tolerance of `tests/common/gpu.rs`, online e-prop (traces advanced with the forward pass, trajectories
//! in a 2-step ring) equal to the factorised sweep, the Adam step, and the memory formula
//! (online e-prop's memory does not grow with T; the backward sweep's grows linearly). The step
//! kernels run in both forms (simple and tiled), once also on a pack several tiles wide and tall.

use std::sync::Arc;

use crate::common::{assert_close, gpu, random_batch};
use ndarray::{Array3, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snnlab::backend::SpikingBackend;
use snnlab::batch::{Batch, LossKind};
use snnlab::gpu::kernels::StepKernels;
use snnlab::gpu::{EpropForm, GpuContext, SpikingEngine};
use snnlab::model::Kind;
use snnlab::optim::Adam;
use snnlab::reference::rate::Prepared;
use snnlab::reference::spiking::{SpikeLoss, SpikeTrajectory};
use snnlab::reference::spiking::{SpikingNet, forward, grad_backward, loss};
use snnlab::rules::Rule;
use snnlab::spiking::{SPIKING_PARAM_NAMES, SpikingConfig, SpikingModel, SpikingParams};

const M: usize = 3;
const B: usize = 3;
const T: usize = 40;
const LAMBDA: f64 = 0.5;
const TARGET: f64 = 0.05;

fn config(kind: Kind, n_out: usize) -> SpikingConfig {
    let mut c = SpikingConfig::new(kind, 3, 10, n_out);
    c.tau_a_ms = 60.0;
    c
}

fn batch(cfg: &SpikingConfig, loss: LossKind, seed: u64, trials: usize) -> Batch {
    random_batch(
        [cfg.n_in, cfg.n_out],
        loss,
        seed,
        [trials, T],
        0.0..1.2,
        0.8,
    )
}

/// The smallest |v - threshold| over every step of the f64 reference: spikes can only be
/// compared exactly when no neuron sits on its threshold (f32 rounding could flip it).
fn margin(net: &SpikingNet<f64>, d: &Prepared<f64>) -> f64 {
    let tr = forward(net, &d.x);
    let c = &net.cfg;
    let mut m = f64::INFINITY;
    for ((v, a), p) in tr.v.iter().zip(&tr.a).zip(&tr.psi) {
        if *p > 0.0 || (v - c.v_th - c.beta_eff() * a).abs() < c.v_th {
            m = m.min((v - c.v_th - c.beta_eff() * a).abs());
        }
    }
    m
}

/// Networks and batches (one per network) resampled until every spike is clear of its threshold.
fn pack(cfg: &SpikingConfig, loss: LossKind, seed: u64) -> (Vec<SpikingModel>, Vec<Batch>) {
    pack_of(cfg, loss, seed, B)
}

/// [`pack`] with batches of `trials` trials.
fn pack_of(
    cfg: &SpikingConfig,
    loss: LossKind,
    seed: u64,
    trials: usize,
) -> (Vec<SpikingModel>, Vec<Batch>) {
    pack_shaped(cfg, loss, seed, trials, |_| {})
}

/// [`pack_of`] with each batch changed by `shape` before it is checked.
fn pack_shaped(
    cfg: &SpikingConfig,
    loss: LossKind,
    seed: u64,
    trials: usize,
    shape: impl Fn(&mut Batch),
) -> (Vec<SpikingModel>, Vec<Batch>) {
    let mut models = Vec::new();
    let mut batches = Vec::new();
    let mut s = seed * 1000;
    while models.len() < M {
        s += 1;
        let mut md = SpikingModel::init(cfg.clone(), s).unwrap();
        md.params.w_in.mapv_inplace(|w| 1.5 * w);
        md.params.b_out.mapv_inplace(|_| 0.1);
        md.ensure_feedback(s);
        let mut b = batch(cfg, loss, s, trials);
        shape(&mut b);
        let net = SpikingNet::<f64>::new(&md);
        let d = Prepared::<f64>::new(&b);
        let spikes = forward(&net, &d.x).z.sum();
        if margin(&net, &d) > 1e-4 && spikes > 20.0 {
            models.push(md);
            batches.push(b);
        }
    }
    (models, batches)
}

/// Both implementations of the step kernels (one thread per unit and trial; workgroup tiles).
const VARIANTS: [StepKernels; 2] = [StepKernels::Simple, StepKernels::Tiled];

fn engine(
    cfg: &SpikingConfig,
    loss: LossKind,
    form: EpropForm,
    variant: StepKernels,
    models: &[SpikingModel],
    batches: &[Batch],
) -> Option<SpikingEngine> {
    let ctx = gpu()?;
    let mut e = SpikingEngine::with_step_kernels(ctx, cfg, M, B, T, loss, form, variant).unwrap();
    e.set_networks(&models.iter().collect::<Vec<_>>()).unwrap();
    e.set_batches(&batches.iter().collect::<Vec<_>>()).unwrap();
    e.set_hyper(&[LAMBDA], &[1e-2], TARGET);
    Some(e)
}

const CASES: [(Kind, LossKind); 4] = [
    (Kind::Lif, LossKind::Mse),
    (Kind::Alif, LossKind::Mse),
    (Kind::Lif, LossKind::Ce),
    (Kind::Alif, LossKind::Ce),
];

/// The f64 CPU reference of one network on its batch.
struct Reference {
    net: SpikingNet<f64>,
    d: Prepared<f64>,
    tr: SpikeTrajectory<f64>,
    lo: SpikeLoss<f64>,
}

fn reference(model: &SpikingModel, batch: &Batch) -> Reference {
    let net = SpikingNet::<f64>::new(model);
    let d = Prepared::<f64>::new(batch);
    let tr = forward(&net, &d.x);
    let lo = loss(&tr, &d, LAMBDA, TARGET);
    Reference { net, d, tr, lo }
}

/// One of [`CASES`] on one form of the step kernels: kind, loss, step form, its pack (models,
/// batches) and the factorised engine holding it.
type FactorisedCase = (
    Kind,
    LossKind,
    StepKernels,
    Vec<SpikingModel>,
    Vec<Batch>,
    SpikingEngine,
);

/// Every case of [`CASES`] × [`VARIANTS`] on a pack seeded by `seed`, built as it is reached.
fn factorised_cases(seed: u64) -> impl Iterator<Item = FactorisedCase> {
    CASES
        .into_iter()
        .flat_map(|c| VARIANTS.map(|v| (c, v)))
        .map(move |((kind, lk), variant)| {
            let cfg = config(kind, if lk == LossKind::Ce { 3 } else { 2 });
            let (models, batches) = pack(&cfg, lk, seed);
            let e = engine(&cfg, lk, EpropForm::Factorised, variant, &models, &batches)
                .expect("an adapter");
            (kind, lk, variant, models, batches, e)
        })
}

#[test]
fn forward_spikes_identical_and_losses_close() {
    for (kind, lk, variant, models, batches, mut e) in factorised_cases(1) {
        let losses = e.forward().unwrap();
        let ([v, a, z, psi], y) = e.read_trajectories().unwrap();
        for i in 0..M {
            let Reference { tr, lo, .. } = reference(&models[i], &batches[i]);
            let zi: Vec<f64> = z
                .index_axis(ndarray::Axis(0), i)
                .iter()
                .map(|&x| x as f64)
                .collect();
            assert_eq!(
                zi,
                tr.z.iter().copied().collect::<Vec<_>>(),
                "{kind:?} {lk:?} {variant:?} network {i}: spike trains differ"
            );
            for (name, g, c) in [("v", &v, &tr.v), ("a", &a, &tr.a), ("psi", &psi, &tr.psi)] {
                let gi: Vec<f32> = g.index_axis(ndarray::Axis(0), i).iter().copied().collect();
                assert_close(&format!("{kind:?} {name}"), &gi, c.as_slice().unwrap());
            }
            let yi: Vec<f32> = y.index_axis(ndarray::Axis(0), i).iter().copied().collect();
            assert_close(&format!("{kind:?} y"), &yi, tr.y.as_slice().unwrap());
            assert_close(
                &format!("{kind:?} {lk:?} task loss"),
                &[losses[i].task],
                &[lo.task],
            );
            assert_close(
                &format!("{kind:?} rate regulariser"),
                &[losses[i].rate_reg],
                &[lo.rate_reg],
            );
        }
    }
}

#[test]
fn every_rule_gradient_matches_cpu() {
    for (kind, lk, variant, models, batches, mut e) in factorised_cases(2) {
        for rule in [
            Rule::Bptt,
            Rule::Eprop,
            Rule::EpropRandom,
            Rule::Tbptt(9),
            Rule::ReadoutFa,
        ] {
            e.gradient(rule).unwrap();
            let g = e.read_grads().unwrap();
            for i in 0..M {
                let Reference { net, d, tr, lo } = reference(&models[i], &batches[i]);
                let c = grad_backward(&net, rule, &d, &tr, &lo);
                for ((name, gs), cs) in SPIKING_PARAM_NAMES
                    .iter()
                    .zip(g[i].slices())
                    .zip(c.slices())
                {
                    assert_close(
                        &format!("{kind:?} {lk:?} {variant:?} {} {name}", rule.name()),
                        gs,
                        cs,
                    );
                }
                assert!(g[i].w_rec.diag().iter().all(|&v| v == 0.0));
            }
        }
    }
}

#[test]
fn online_eprop_traces_match_cpu_and_the_factorised_sweep() {
    for (kind, lk) in CASES {
        let cfg = config(kind, if lk == LossKind::Ce { 3 } else { 2 });
        let (models, batches) = pack(&cfg, lk, 3);
        // The online pack on the tiled forward step, the factorised one on the simple kernels.
        let build = |form, variant| engine(&cfg, lk, form, variant, &models, &batches).unwrap();
        let mut on = build(EpropForm::Online, StepKernels::Tiled);
        let mut fa = build(EpropForm::Factorised, StepKernels::Simple);
        for rule in [Rule::Eprop, Rule::EpropRandom] {
            on.gradient(rule).unwrap();
            fa.gradient(rule).unwrap();
            let (go, gf) = (on.read_grads().unwrap(), fa.read_grads().unwrap());
            for i in 0..M {
                let Reference { net, d, tr, lo } = reference(&models[i], &batches[i]);
                let c = snnlab::reference::spiking::grad_eprop_online(&net, rule, &d, &tr, &lo);
                assert_close(
                    &format!("{kind:?} {lk:?} online {} vs cpu", rule.name()),
                    &go[i].flatten(),
                    &c.flatten(),
                );
                let f: Vec<f64> = gf[i].flatten().iter().map(|&v| v as f64).collect();
                assert_close(
                    &format!("{kind:?} {lk:?} online vs factorised {}", rule.name()),
                    &go[i].flatten(),
                    &f,
                );
            }
        }
        // An online pack computes e-prop rules only.
        assert!(on.gradient(Rule::Bptt).is_err());
    }
}

#[test]
fn adam_update_matches_cpu() {
    let cfg = config(Kind::Alif, 2);
    let (models, batches) = pack(&cfg, LossKind::Mse, 4);
    let Some(mut e) = engine(
        &cfg,
        LossKind::Mse,
        EpropForm::Factorised,
        StepKernels::Tiled,
        &models,
        &batches,
    ) else {
        return;
    };
    e.update(Rule::Bptt).unwrap();
    let p = e.read_params().unwrap();
    for i in 0..M {
        let Reference { net, d, tr, lo } = reference(&models[i], &batches[i]);
        let g = grad_backward(&net, Rule::Bptt, &d, &tr, &lo);
        // Adam on the flat parameter vector (the optimiser is elementwise).
        let mut flat = net.p.flatten();
        let gf = g.flatten();
        let (bc1, bc2) = Adam::<f64>::bias_corrections(1);
        for (w, gr) in flat.iter_mut().zip(&gf) {
            let (mo, ve) = (0.1 * gr, 0.001 * gr * gr);
            *w -= 1e-2 / bc1 * mo / ((ve).sqrt() / bc2.sqrt() + 1e-8);
        }
        assert_close("spiking params after one Adam step", &p[i].flatten(), &flat);
        assert!(
            p[i].w_rec.diag().iter().all(|&v| v == 0.0),
            "the w_rec diagonal stays 0"
        );
    }
}

#[test]
fn memory_online_flat_in_t_backward_sweep_linear() {
    let cfg = SpikingConfig::new(Kind::Alif, 20, 512, 3);
    let (b, kt) = (64u64, 3u64);
    let at = |t: usize, online: bool| {
        SpikingEngine::memory_bytes(&cfg, 1, b as usize, t, LossKind::Mse, online).total
    };
    // The batch itself (inputs, targets, mask) is the only part of an online pack that grows with T.
    let batch_per_step = 4 * b * (20 + 2 * kt);
    for (t1, t2) in [(100, 1000), (1000, 10000)] {
        assert_eq!(
            at(t2, true) - at(t1, true),
            (t2 - t1) as u64 * batch_per_step,
            "online: state independent of T"
        );
    }
    // The backward sweep keeps whole trajectories (v, a, z, psi, dv; y, dy, gy): linear in T.
    let per_step = batch_per_step + 4 * (5 * b * 512 + 3 * b * 3);
    assert_eq!(at(1000, false) - at(100, false), 900 * per_step);
    // The traces (O(B N^2)) outweigh short trajectories (T = 100) and are outweighed by long
    // ones (T = 1000): here the cross-over is near T = 2 (N + n_in) / 5.
    assert!(at(100, true) > at(100, false) && at(1000, true) < at(1000, false));
    // An engine's own report agrees with the formula.
    if let Some(ctx) = gpu() {
        let small = config(Kind::Alif, 2);
        let e =
            SpikingEngine::new(ctx, &small, 2, 3, 17, LossKind::Mse, EpropForm::Online).unwrap();
        assert_eq!(
            e.memory(),
            SpikingEngine::memory_bytes(&small, 2, 3, 17, LossKind::Mse, true)
        );
        assert!(
            e.read_trajectories().is_err(),
            "an online pack keeps no whole trajectories"
        );
    }
}

/// The tiled step kernels on a pack several tiles wide and tall with ragged edges (N = 70: two
/// 64-unit tiles and two 32-unit chunks, 6 of them partial; B = 11: an 8-trial tile and a partial
/// one): spikes identical to the CPU, BPTT and e-prop gradients within the tolerance.
#[test]
fn tiled_steps_on_ragged_multi_tile_pack() {
    let Some(ctx) = gpu() else { return };
    let (b, t) = (11, 15);
    let mut cfg = SpikingConfig::new(Kind::Alif, 3, 70, 2);
    cfg.tau_a_ms = 60.0;
    let mut seed = 500;
    let (model, bt) = loop {
        seed += 1;
        let mut md = SpikingModel::init(cfg.clone(), seed).unwrap();
        md.params.w_in.mapv_inplace(|w| 1.5 * w);
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let bt = Batch {
            inputs: Array3::from_shape_simple_fn((b, t, 3), || r.random_range(0.0..1.2)),
            targets: Array3::from_shape_simple_fn((b, t, 2), || r.random_range(-1.0..1.0)),
            mask: Array3::ones((b, t, 2)),
            loss: LossKind::Mse,
        };
        let net = SpikingNet::<f64>::new(&md);
        let d = Prepared::<f64>::new(&bt);
        if margin(&net, &d) > 1e-4 && forward(&net, &d.x).z.sum() > 100.0 {
            break (md, bt);
        }
        assert!(seed < 2000, "no network clear of its thresholds");
    };
    let mut e = SpikingEngine::with_step_kernels(
        ctx,
        &cfg,
        1,
        b,
        t,
        LossKind::Mse,
        EpropForm::Factorised,
        StepKernels::Tiled,
    )
    .unwrap();
    e.set_networks(&[&model]).unwrap();
    e.set_batches(&[&bt]).unwrap();
    e.set_hyper(&[LAMBDA], &[1e-2], TARGET);
    let Reference { net, d, tr, lo } = reference(&model, &bt);
    e.forward().unwrap();
    let ([_, _, z, _], _) = e.read_trajectories().unwrap();
    assert_eq!(
        z.iter().map(|&x| x as f64).collect::<Vec<_>>(),
        tr.z.iter().copied().collect::<Vec<_>>(),
        "tiled forward: spike trains differ"
    );
    for rule in [Rule::Bptt, Rule::Eprop, Rule::Tbptt(4)] {
        e.gradient(rule).unwrap();
        let g = e.read_grads().unwrap();
        let c = grad_backward(&net, rule, &d, &tr, &lo);
        assert_close(
            &format!("tiled ragged {} gradient", rule.name()),
            &g[0].flatten(),
            &c.flatten(),
        );
    }
}

/// A batch split into chunks of trials (what the engine does when a batch exceeds one storage
/// binding) gives the whole batch's losses, gradients and Adam step: the chunks' regulariser
/// gradients use the whole batch's firing rates, counted over every chunk first. One chunk's
/// gradient without those rates is refused.
#[test]
fn trial_chunks_add_up_to_the_whole_batch() {
    const WHOLE: usize = 6;
    const CHUNK: usize = 2;
    for (kind, lk) in CASES {
        let cfg = config(kind, if lk == LossKind::Ce { 3 } else { 2 });
        let (models, batches) = pack_of(&cfg, lk, 7, WHOLE);
        let refs: Vec<&Batch> = batches.iter().collect();
        for rule in [Rule::Bptt, Rule::Eprop] {
            let ctx = gpu().expect("an adapter");
            let mut e =
                SpikingEngine::new(ctx, &cfg, M, CHUNK, T, lk, EpropForm::Factorised).unwrap();
            e.set_networks(&models.iter().collect::<Vec<_>>()).unwrap();
            e.set_hyper(&[LAMBDA], &[1e-2], TARGET);
            let l = e.gradient_in_chunks(rule, &refs).unwrap();
            let g = e.read_grads().unwrap();
            e.adam_step().unwrap();
            let p = e.read_params().unwrap();
            let what = format!("{kind:?} {lk:?} {}", rule.name());
            for i in 0..M {
                let Reference { mut net, d, tr, lo } = reference(&models[i], &batches[i]);
                assert!(lo.rate_reg > 1e-4, "the regulariser matters here");
                let got: [f32; 2] = l[i].into();
                let parts = [("task loss", lo.task), ("rate regulariser", lo.rate_reg)];
                for (g, (part, want)) in got.into_iter().zip(parts) {
                    assert_close(&format!("{what} chunked {part}"), &[g], &[want]);
                }
                let c = grad_backward(&net, rule, &d, &tr, &lo);
                for ((name, gs), cs) in SPIKING_PARAM_NAMES
                    .iter()
                    .zip(g[i].slices())
                    .zip(c.slices())
                {
                    assert_close(&format!("{what} chunked gradient {name}"), gs, cs);
                }
                let mut opt = Adam::<SpikingParams<f64>>::new(&cfg, 1e-2);
                opt.update(&mut net.p, &c);
                assert_close(
                    &format!("{what} params after the chunked update"),
                    &p[i].flatten(),
                    &net.p.flatten(),
                );
            }
            e.set_batch_chunk(&refs, 0).unwrap();
            let err = e.gradient_chunk(rule, true).unwrap_err().to_string();
            assert!(err.contains("whole batch's firing rates"), "{err}");
        }
    }
}

/// A spiking batch too large for one storage binding trains through the backend (as `train`
/// does) in chunks of trials, to the losses and parameters the whole batch gives: here the
/// binding limit is lowered so that only a third of the batch fits. The last third gets no input,
/// so its firing rates are far from the whole batch's.
#[test]
fn backend_trains_an_oversized_batch_in_chunks() {
    const WHOLE: usize = 6;
    let cfg = config(Kind::Alif, 2);
    let quiet_end = |b: &mut Batch| b.inputs.slice_mut(s![2 * WHOLE / 3.., .., ..]).fill(0.0);
    let (models, batches) = pack_shaped(&cfg, LossKind::Mse, 9, WHOLE, quiet_end);
    let refs: Vec<&Batch> = batches.iter().collect();
    let one_third = SpikingEngine::memory_bytes(&cfg, 1, WHOLE / 3, T, LossKind::Mse, false);
    let mut small = GpuContext::new(None).expect("an adapter");
    small.limits.max_storage_buffer_binding_size = one_third.largest as _;
    let backend =
        |ctx| SpikingBackend::on_gpu(ctx, &models, &[1e-2], [WHOLE, T], LossKind::Mse).unwrap();
    let mut chunked = backend(Arc::new(small));
    let mut whole = backend(gpu().expect("an adapter"));
    assert_eq!(chunked.trial_chunk(), Some(WHOLE / 3));
    assert_eq!(whole.trial_chunk(), Some(WHOLE));
    for step in 0..2 {
        let lc = chunked
            .update(Rule::Bptt, &refs, &[LAMBDA; M], TARGET)
            .unwrap();
        let lw = whole
            .update(Rule::Bptt, &refs, &[LAMBDA; M], TARGET)
            .unwrap();
        for (c, w) in lc.iter().zip(&lw) {
            let (c, w): ([f32; 2], [f32; 2]) = ((*c).into(), (*w).into());
            assert_close(&format!("losses of update {step}"), &c, &w.map(f64::from));
        }
    }
    for (c, w) in chunked
        .params()
        .unwrap()
        .iter()
        .zip(&whole.params().unwrap())
    {
        let w: Vec<f64> = w.flatten().iter().map(|&v| f64::from(v)).collect();
        assert_close("params after 2 chunked updates", &c.flatten(), &w);
    }
}
