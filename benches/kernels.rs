//! `cargo bench --bench kernels`: criterion timings of the hot kernels, one group per kernel so
//! that implementations of the same kernel are compared in one run:
//! - the per-step recurrent product (50 × 200 · 200 × 200): the packed SIMD kernel against
//!   ndarray → OpenBLAS on the same operands;
//! - rate forward, BPTT reverse sweep and e-prop (stop-gradient) gradient on the CPU, one work
//!   item of the paper's reach update (N = 200, 50 trials, T = 300);
//! - spiking (ALIF) forward, factorised e-prop and online (per-synapse trace) e-prop on the CPU;
//! - the GPU engine's rate update with the simple and the tiled step kernels (whatever adapter
//!   wgpu finds; lavapipe without a GPU — there the numbers only compare the two variants);
//! - loading one Mante unit file of 160 000 distinct trials (the trials' grouping by condition).

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
    use snnlab::linalg::PackedB;
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
    let cfg = SpikingConfig::new(snnlab::model::Kind::Alif, 20, 128, 2);
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

/// One MAT v5 `miMATRIX` element (uncompressed, little-endian): a double array (`Some(data)`,
/// column-major) or a 1×1 struct of `fields`.
fn mat_element(
    name: &str,
    dims: &[usize],
    data: Option<&[f64]>,
    fields: &[(&str, Vec<u8>)],
) -> Vec<u8> {
    fn elem(out: &mut Vec<u8>, ty: u32, bytes: &[u8]) {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
        out.resize(out.len().next_multiple_of(8), 0);
    }
    let mut body = Vec::new();
    let class: u32 = if data.is_some() { 6 } else { 2 };
    elem(
        &mut body,
        6,
        &[class.to_le_bytes(), 0u32.to_le_bytes()].concat(),
    );
    let d: Vec<u8> = dims
        .iter()
        .flat_map(|&x| (x as i32).to_le_bytes())
        .collect();
    elem(&mut body, 5, &d);
    elem(&mut body, 1, name.as_bytes());
    match data {
        Some(v) => elem(
            &mut body,
            9,
            &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
        ),
        None => {
            elem(&mut body, 5, &32i32.to_le_bytes());
            let names: Vec<u8> = fields
                .iter()
                .flat_map(|(n, _)| {
                    let mut b = n.as_bytes().to_vec();
                    b.resize(32, 0);
                    b
                })
                .collect();
            elem(&mut body, 1, &names);
            for (_, f) in fields {
                body.extend_from_slice(f);
            }
        }
    }
    let mut out = 14u32.to_le_bytes().to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A unit of 160 000 trials with distinct conditions (one 15 ms bin of 1 ms samples): the
/// grouping of trials by condition dominates its loading (issue 16: quadratic before).
fn mante_unit_load(c: &mut Criterion) {
    let n = 160_000;
    let dir = std::env::temp_dir().join(format!("snnlab-bench-mante-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let col = |f: &dyn Fn(usize) -> f64| -> Vec<u8> {
        let v: Vec<f64> = (0..n).map(f).collect();
        mat_element("", &[n, 1], Some(&v), &[])
    };
    let task_variable = mat_element(
        "",
        &[1, 1],
        None,
        &[
            ("targ_dir", col(&|i| if i % 2 == 0 { 1.0 } else { -1.0 })),
            ("stim_dir", col(&|i| i as f64)),
            ("stim_col2dir", col(&|i| (i % 7) as f64)),
            ("context", col(&|i| if i % 3 == 0 { 1.0 } else { -1.0 })),
            ("correct", col(&|_| 1.0)),
        ],
    );
    let response: Vec<f64> = (0..n * 15).map(|i| (i % 13) as f64).collect();
    let unit = mat_element(
        "unit",
        &[1, 1],
        None,
        &[
            ("response", mat_element("", &[n, 15], Some(&response), &[])),
            ("task_variable", task_variable),
        ],
    );
    let mut file = b"MATLAB 5.0 MAT-file, Platform: snnlab bench".to_vec();
    file.resize(116, b' ');
    file.extend_from_slice(&[0u8; 8]);
    file.extend_from_slice(&0x0100u16.to_le_bytes());
    file.extend_from_slice(b"IM");
    file.extend_from_slice(&unit);
    std::fs::write(dir.join("unit.mat"), file).unwrap();
    c.bench_function("mante_unit_load/160k_trials", |b| {
        // Dropped (160 000 conditions, not 72): the error comes after the grouping.
        b.iter(|| std::hint::black_box(snnlab::neural::load_mante_units_report(&dir).is_err()))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! { name = benches; config = config(); targets = step_product, rate_cpu, spiking_cpu, rate_gpu, mante_unit_load }
criterion_main!(benches);
