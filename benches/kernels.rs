//! `cargo bench --bench kernels`: criterion timings of the hot kernels, one group per kernel so
//! that implementations of the same kernel are compared in one run:
//! - the per-step recurrent product (50 × 200 · 200 × 200): the packed SIMD kernel against
//!   ndarray → OpenBLAS on the same operands;
//! - rate forward, BPTT reverse sweep and e-prop (stop-gradient) gradient on the CPU, one work
//!   item of the paper's reach update (N = 200, 50 trials, T = 300);
//! - spiking (ALIF) forward, factorised e-prop and online (per-synapse trace) e-prop on the CPU;
//! - the GPU engine's rate update with the simple and the tiled step kernels (whatever adapter
//!   wgpu finds; lavapipe without a GPU — there the numbers only compare the two variants).

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snnlab::batch::{Batch, LossKind};
use snnlab::gpu::kernels::StepKernels;
use snnlab::gpu::{GpuContext, RateEngine};
use snnlab::model::{RateConfig, RateModel};
use snnlab::reference::rate::{
    Net, Prepared, Scratch, Trajectory, forward_with, grad_backward_with, loss,
};
use snnlab::reference::spiking as spk;
use snnlab::rules::Rule;
use snnlab::spiking::{SpikingConfig, SpikingModel};

fn batch(n_in: usize, n_out: usize, b: usize, t: usize, seed: u64) -> Batch {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    Batch {
        inputs: Array3::from_shape_simple_fn((b, t, n_in), || r.random_range(-1.0..1.0)),
        targets: Array3::from_shape_simple_fn((b, t, n_out), || r.random_range(-1.0..1.0)),
        mask: Array3::ones((b, t, n_out)),
        loss: LossKind::Mse,
    }
}

fn step_product(c: &mut Criterion) {
    use ndarray::{Array2, linalg::general_mat_mul};
    use snnlab::reference::gemm::PackedB;
    let mut r = ChaCha8Rng::seed_from_u64(7);
    let a = Array2::<f32>::from_shape_simple_fn((50, 200), || r.random_range(-1.0..1.0));
    let w = Array2::<f32>::from_shape_simple_fn((200, 200), || r.random_range(-0.1..0.1));
    let mut out = Array2::<f32>::zeros((50, 200));
    let packed = PackedB::new(w.t());
    let mut g = c.benchmark_group("step product (50 x 200 . 200 x 200)");
    g.bench_function("packed kernel", |b| {
        b.iter(|| packed.mul_add(1.0, &a.view(), &mut out.view_mut()))
    });
    g.bench_function("openblas", |b| {
        b.iter(|| general_mat_mul(1.0, &a, &w.t(), 1.0, &mut out))
    });
    g.finish();
}

fn rate_cpu(c: &mut Criterion) {
    let cfg = RateConfig::new(3, 200, 2);
    let net = Net::<f32>::new(&RateModel::init(cfg.clone(), 1.0, 1).unwrap());
    let d = Prepared::<f32>::new(&batch(3, 2, 50, 300, 2));
    let (mut tr, mut s) = (Trajectory::empty(), Scratch::default());
    forward_with(&net, &d.x, &mut tr);
    let lo = loss(&tr, &d, 0.1);
    let mut g = c.benchmark_group("rate cpu (N 200, B 50, T 300)");
    g.bench_function("forward", |b| b.iter(|| forward_with(&net, &d.x, &mut tr)));
    forward_with(&net, &d.x, &mut tr);
    for rule in [Rule::Bptt, Rule::Eprop] {
        g.bench_function(BenchmarkId::new("gradient", rule.name()), |b| {
            b.iter(|| grad_backward_with(&net, rule, &d, &tr, &lo, 0.1, &mut s))
        });
    }
    g.finish();
}

fn spiking_cpu(c: &mut Criterion) {
    let cfg = SpikingConfig::new("alif", 20, 128, 2);
    let net = spk::SpikingNet::<f32>::new(&SpikingModel::init(cfg, 3).unwrap());
    let d = Prepared::<f32>::new(&batch(20, 2, 16, 200, 4));
    let tr = spk::forward(&net, &d.x);
    let lo = spk::loss(&tr, &d, 0.1, 0.01);
    let mut g = c.benchmark_group("alif cpu (N 128, B 16, T 200)");
    g.bench_function("forward", |b| b.iter(|| spk::forward(&net, &d.x)));
    g.bench_function("bptt", |b| {
        b.iter(|| spk::grad_backward(&net, Rule::Bptt, &d, &tr, &lo))
    });
    g.bench_function("eprop factorised", |b| {
        b.iter(|| spk::grad_backward(&net, Rule::Eprop, &d, &tr, &lo))
    });
    g.bench_function("eprop online", |b| {
        b.iter(|| spk::grad_eprop_online(&net, Rule::Eprop, &d, &tr, &lo))
    });
    g.finish();
}

fn rate_gpu(c: &mut Criterion) {
    let ctx = match GpuContext::new(None) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            eprintln!("rate gpu benches skipped: {e}");
            return;
        }
    };
    let cfg = RateConfig::new(3, 128, 2);
    let (m, bt, t) = (4, 16, 50);
    let models: Vec<RateModel> = (0..m as u64)
        .map(|s| RateModel::init(cfg.clone(), 1.0, s).unwrap())
        .collect();
    let batches: Vec<Batch> = (0..m as u64).map(|s| batch(3, 2, bt, t, s)).collect();
    let mut g = c.benchmark_group(format!(
        "rate gpu update ({}; M {m}, N 128, B {bt}, T {t})",
        ctx.info.name
    ));
    for variant in [StepKernels::Simple, StepKernels::Tiled] {
        let mut eng =
            RateEngine::with_step_kernels(ctx.clone(), &cfg, m, bt, t, LossKind::Mse, variant)
                .unwrap();
        eng.set_networks(&models.iter().collect::<Vec<_>>())
            .unwrap();
        eng.set_batches(&batches.iter().collect::<Vec<_>>())
            .unwrap();
        eng.set_hyper(&[0.1; 4], &[1e-3]);
        for rule in [Rule::Bptt, Rule::Eprop] {
            // Each update reads its losses back: the time includes the whole submission.
            g.bench_function(
                BenchmarkId::new(format!("{variant:?} steps"), rule.name()),
                |b| b.iter(|| eng.update(rule).unwrap()),
            );
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = step_product, rate_cpu, spiking_cpu, rate_gpu }
criterion_main!(benches);
