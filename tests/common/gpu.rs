//! What every GPU test shares: the adapter (or the decision to skip without one) and the one
//! tolerance type for GPU (f32) against CPU comparisons. Used by the tests in `tests/` (through
//! `mod common;`) and by the kernel tests in `kernels-tests/` (through `#[path]`).
#![allow(dead_code)]

use std::fmt::Display;
use std::sync::Arc;

use snnlab::gpu::GpuContext;

/// Is a missing GPU a failure? REQUIRE_GPU=1 (CI, scripts/test.sh) says so.
pub fn required() -> bool {
    std::env::var("REQUIRE_GPU").as_deref() == Ok("1")
}

/// The GPU part of a test cannot run (`why`: no adapter, or `--device gpu` failed): a failure
/// when [`required`], else a printed reason (the caller then returns).
pub fn skip(why: impl Display) {
    assert!(!required(), "REQUIRE_GPU=1 but {why}");
    eprintln!("skipping GPU test: {why}");
}

/// The adapter for a GPU test, or `None` (after [`skip`]) where there is none.
pub fn context() -> Option<GpuContext> {
    match GpuContext::new(None) {
        Ok(c) => {
            eprintln!("GPU tests on {}", c.describe());
            Some(c)
        }
        Err(e) => {
            skip(format_args!("no adapter: {e}"));
            None
        }
    }
}

/// [`context`], shared between engines.
pub fn gpu() -> Option<Arc<GpuContext>> {
    context().map(Arc::new)
}

/// How far a GPU result may be from the CPU's: max |got − want| over a tensor must not exceed
/// `rel × max(max |want|, floor) + abs`.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub rel: f64,
    pub abs: f64,
    /// The smallest scale `rel` applies to (for tensors near 0).
    pub floor: f64,
}

impl Tolerance {
    /// GPU kernels (f32) against the CPU implementation (f64).
    pub const KERNEL: Tolerance = Tolerance::rel(2e-4).plus(1e-6);

    /// Relative to the tensor's largest magnitude, nothing added.
    pub const fn rel(rel: f64) -> Self {
        Tolerance {
            rel,
            abs: 0.0,
            floor: 0.0,
        }
    }

    pub const fn plus(self, abs: f64) -> Self {
        Tolerance { abs, ..self }
    }

    pub const fn floor(self, floor: f64) -> Self {
        Tolerance { floor, ..self }
    }

    /// Max |got − want| and the scale it is measured against (max |want|).
    pub fn error<G: Copy + Into<f64>, W: Copy + Into<f64>>(got: &[G], want: &[W]) -> (f64, f64) {
        let scale = want.iter().fold(0.0f64, |a, &v| a.max(v.into().abs()));
        let err = got
            .iter()
            .zip(want)
            .fold(0.0f64, |a, (&g, &w)| a.max((g.into() - w.into()).abs()));
        (err, scale)
    }

    /// Panics naming `what` when `got` is not within tolerance of `want` (or differs in length).
    pub fn assert_close<G: Copy + Into<f64>, W: Copy + Into<f64>>(
        &self,
        what: &str,
        got: &[G],
        want: &[W],
    ) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let (err, scale) = Self::error(got, want);
        let bound = self.rel * scale.max(self.floor) + self.abs;
        assert!(
            err <= bound,
            "{what}: max |gpu - cpu| = {err:.3e} exceeds {bound:.3e} ({:e} × max|cpu| {scale:.3e} + {:e})",
            self.rel,
            self.abs
        );
    }
}

/// [`Tolerance::KERNEL`] for a GPU tensor against the CPU's.
pub fn assert_close(what: &str, gpu: &[f32], cpu: &[f64]) {
    Tolerance::KERNEL.assert_close(what, gpu, cpu);
}
