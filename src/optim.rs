//! Adam with PyTorch's defaults (SPEC §4), on the CPU. The GPU twin is `shaders/adam.wgsl`.

use crate::model::{RateConfig, RateParams, Real};

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

#[derive(Clone, Debug)]
pub struct Adam<F> {
    pub lr: f64,
    pub step: u64,
    pub m: RateParams<F>,
    pub v: RateParams<F>,
}

impl<F: Real> Adam<F> {
    pub fn new(cfg: &RateConfig, lr: f64) -> Self {
        Self {
            lr,
            step: 0,
            m: RateParams::zeros(cfg),
            v: RateParams::zeros(cfg),
        }
    }
    /// Bias corrections `(1 - beta1^t, 1 - beta2^t)` for the step about to be taken.
    pub fn bias_corrections(step: u64) -> (f64, f64) {
        (1.0 - BETA1.powi(step as i32), 1.0 - BETA2.powi(step as i32))
    }
    pub fn update(&mut self, p: &mut RateParams<F>, g: &RateParams<F>) {
        self.step += 1;
        for (((p, g), m), v) in p
            .slices_mut()
            .into_iter()
            .zip(g.slices())
            .zip(self.m.slices_mut())
            .zip(self.v.slices_mut())
        {
            adam_step(self.lr, self.step, p, g, m, v);
        }
    }
}

/// One Adam step (PyTorch's formula) on one tensor with its moments; `step` counts from 1.
pub fn adam_step<F: Real>(lr: f64, step: u64, p: &mut [F], g: &[F], m: &mut [F], v: &mut [F]) {
    let (bc1, bc2) = (1.0 - BETA1.powi(step as i32), 1.0 - BETA2.powi(step as i32));
    let (b1, b2, eps) = (F::c(BETA1), F::c(BETA2), F::c(EPS));
    let (lr_t, sbc2) = (F::c(lr / bc1), F::c(bc2.sqrt()));
    for i in 0..p.len() {
        m[i] = b1 * m[i] + (F::one() - b1) * g[i];
        v[i] = b2 * v[i] + (F::one() - b2) * g[i] * g[i];
        // PyTorch: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
        p[i] -= lr_t * m[i] / (v[i].sqrt() / sbc2 + eps);
    }
}

/// Adam for a spiking network's parameters.
#[derive(Clone, Debug)]
pub struct SpikingAdam<F> {
    pub lr: f64,
    pub step: u64,
    pub m: crate::spiking::SpikingParams<F>,
    pub v: crate::spiking::SpikingParams<F>,
}

impl<F: Real> SpikingAdam<F> {
    pub fn new(cfg: &crate::spiking::SpikingConfig, lr: f64) -> Self {
        Self {
            lr,
            step: 0,
            m: crate::spiking::SpikingParams::zeros(cfg),
            v: crate::spiking::SpikingParams::zeros(cfg),
        }
    }
    pub fn update(
        &mut self,
        p: &mut crate::spiking::SpikingParams<F>,
        g: &crate::spiking::SpikingParams<F>,
    ) {
        self.step += 1;
        for (((p, g), m), v) in p
            .slices_mut()
            .into_iter()
            .zip(g.slices())
            .zip(self.m.slices_mut())
            .zip(self.v.slices_mut())
        {
            adam_step(self.lr, self.step, p, g, m, v);
        }
    }
}
