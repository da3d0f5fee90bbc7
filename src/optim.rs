//! Adam with PyTorch's defaults (SPEC §4), on the CPU, over any parameter set (rate or
//! spiking). The GPU twin is `shaders/adam.wgsl`.

pub use crate::params::{NamedTensor, ParamSet};

use crate::model::Real;

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

/// Adam's state for one network: learning rate, steps taken and the two moments.
#[derive(Clone, Debug)]
pub struct Adam<P> {
    pub lr: f64,
    pub step: u64,
    pub m: P,
    pub v: P,
}

impl<P> Adam<P> {
    /// Bias corrections `(1 - beta1^t, 1 - beta2^t)` for the step about to be taken.
    pub fn bias_corrections(step: u64) -> (f64, f64) {
        (1.0 - BETA1.powi(step as i32), 1.0 - BETA2.powi(step as i32))
    }
}

impl<P: ParamSet> Adam<P> {
    pub fn new(cfg: &P::Config, lr: f64) -> Self {
        Self {
            lr,
            step: 0,
            m: P::zeros(cfg),
            v: P::zeros(cfg),
        }
    }
    pub fn update(&mut self, p: &mut P, g: &P) {
        self.step += 1;
        for (((p, (_, g)), m), v) in p
            .tensors_mut()
            .into_iter()
            .zip(g.tensors())
            .zip(self.m.tensors_mut())
            .zip(self.v.tensors_mut())
        {
            adam_step(self.lr, self.step, p, g, m, v);
        }
    }
}

/// One Adam step (PyTorch's formula) on one tensor with its moments; `step` counts from 1.
pub fn adam_step<F: Real>(lr: f64, step: u64, p: &mut [F], g: &[F], m: &mut [F], v: &mut [F]) {
    let (bc1, bc2) = Adam::<()>::bias_corrections(step);
    let (b1, b2, eps) = (F::c(BETA1), F::c(BETA2), F::c(EPS));
    let (lr_t, sbc2) = (F::c(lr / bc1), F::c(bc2.sqrt()));
    for i in 0..p.len() {
        m[i] = b1 * m[i] + (F::one() - b1) * g[i];
        v[i] = b2 * v[i] + (F::one() - b2) * g[i] * g[i];
        // PyTorch: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
        p[i] -= lr_t * m[i] / (v[i].sqrt() / sbc2 + eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Kind, RateConfig, RateParams};

    fn cfg() -> RateConfig {
        RateConfig {
            kind: Kind::Rate,
            n_in: 2,
            n_rec: 3,
            n_out: 1,
            alpha: 0.1,
            activation: Activation::Retanh,
            dale: false,
            connectivity: 1.0,
        }
    }

    #[test]
    fn first_adam_step_moves_each_parameter_by_lr_against_its_gradient_sign() {
        // Step 1: m = (1-b1) g, v = (1-b2) g², so m/bc1 / sqrt(v/bc2) = sign(g) (eps aside).
        let c = cfg();
        let mut p = RateParams::<f64>::zeros(&c);
        let mut g = RateParams::<f64>::zeros(&c);
        g.w_rec.fill(0.5);
        g.b_out.fill(-2.0);
        let mut adam = Adam::<RateParams<f64>>::new(&c, 0.01);
        adam.update(&mut p, &g);
        assert_eq!(adam.step, 1);
        assert!(p.w_rec.iter().all(|&x| (x + 0.01).abs() < 1e-9));
        assert!(p.b_out.iter().all(|&x| (x - 0.01).abs() < 1e-9));
        assert!(p.w_in.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn named_tensors_round_trip_and_a_wrong_shape_is_named() {
        let c = cfg();
        let mut p = RateParams::<f32>::zeros(&c);
        for (k, t) in p.tensors_mut().into_iter().enumerate() {
            t.iter_mut()
                .enumerate()
                .for_each(|(i, x)| *x = (k * 100 + i) as f32);
        }
        let saved: Vec<(String, Vec<usize>, Vec<f32>)> = p
            .named()
            .into_iter()
            .map(|(n, s, v)| (n.to_string(), s, v.to_vec()))
            .collect();
        let mut q = RateParams::<f32>::zeros(&c);
        q.fill_named(|n| {
            saved
                .iter()
                .find(|(m, _, _)| m == n)
                .map(|(_, s, v)| (s.clone(), v.clone()))
        })
        .unwrap();
        assert_eq!(p, q);
        assert_eq!(q.to_flat(), p.flatten());
        let err = q
            .fill_named(|n| (n != "w_rec").then(|| (vec![0], vec![])))
            .unwrap_err();
        assert!(err.contains("w_in"), "{err}");
        q.w_out[[0, 1]] = f32::NAN;
        assert_eq!(ParamSet::first_non_finite(&q), Some("w_out"));
    }
}
