//! What the GPU test modules share: the adapter, the one GPU-against-CPU tolerance (that of
//! `tests/common/gpu.rs`) and the random batches both kinds are tested on.

use std::ops::Range;
use std::sync::Arc;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snnlab::batch::{Batch, LossKind};
use snnlab::gpu::GpuContext;

#[path = "../tests/common/gpu.rs"]
mod tolerance;

pub use tolerance::assert_close;

/// The adapter. These tests exist to run the kernels: without one they fail, never skip.
/// (`Option` so that the test bodies read as those of `tests/`.)
pub fn gpu() -> Option<Arc<GpuContext>> {
    let ctx = GpuContext::new(None)
        .unwrap_or_else(|e| panic!("the GPU kernel tests need an adapter (lavapipe in CI): {e}"));
    eprintln!("GPU tests on {}", ctx.describe());
    Some(Arc::new(ctx))
}

/// A batch of `b` trials of `t` steps: inputs uniform in `inputs`, targets uniform in [-1, 1)
/// (mse) or a class (ce), mask entries on with probability `p_on` (the first always on: the loss
/// of an all-off mask is undefined).
pub fn random_batch(
    [n_in, n_out]: [usize; 2],
    loss: LossKind,
    seed: u64,
    [b, t]: [usize; 2],
    inputs: Range<f64>,
    p_on: f64,
) -> Batch {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let inputs = Array3::from_shape_simple_fn((b, t, n_in), || r.random_range(inputs.clone()));
    let k = if loss == LossKind::Mse { n_out } else { 1 };
    let targets = Array3::from_shape_simple_fn((b, t, k), || match loss {
        LossKind::Mse => r.random_range(-1.0..1.0),
        LossKind::Ce => r.random_range(0..n_out) as f64,
    });
    let mut mask =
        Array3::from_shape_simple_fn((b, t, k), || (r.random::<f64>() < p_on) as u8 as f64);
    mask[[0, 0, 0]] = 1.0;
    Batch {
        inputs,
        targets,
        mask,
        loss,
    }
}
