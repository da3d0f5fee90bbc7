//! Shared by the GPU tests: the one tolerance, adapter acquisition, and comparison helpers.
#![allow(dead_code)]

use std::sync::Arc;

use snnlab::gpu::GpuContext;

/// GPU (f32) against the CPU implementation (f64): max |gpu - cpu| over a tensor must not exceed
/// GPU_REL_TOL × max |cpu| of that tensor (plus GPU_ABS_TOL for tensors that are ~0).
pub const GPU_REL_TOL: f64 = 2e-4;
pub const GPU_ABS_TOL: f64 = 1e-6;

/// The adapter for GPU tests. With REQUIRE_GPU=1 (CI) a missing adapter fails the test; elsewhere
/// the test is skipped with a printed reason.
pub fn gpu() -> Option<Arc<GpuContext>> {
    match GpuContext::new(None) {
        Ok(c) => {
            eprintln!("GPU tests on {}", c.describe());
            Some(Arc::new(c))
        }
        Err(e) => {
            if std::env::var("REQUIRE_GPU")
                .map(|v| v == "1")
                .unwrap_or(false)
            {
                panic!("REQUIRE_GPU=1 but no adapter: {e}");
            }
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

pub fn assert_close(what: &str, gpu: &[f32], cpu: &[f64]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: length");
    let scale = cpu.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let err = gpu
        .iter()
        .zip(cpu)
        .fold(0.0f64, |a, (g, c)| a.max((*g as f64 - c).abs()));
    assert!(
        err <= GPU_REL_TOL * scale + GPU_ABS_TOL,
        "{what}: max |gpu - cpu| = {err:.3e} exceeds {GPU_REL_TOL:e} × max|cpu| ({scale:.3e})"
    );
}
