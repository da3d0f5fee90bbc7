//! Adam with PyTorch's defaults (SPEC §4), on the CPU, over any parameter set (rate or
//! spiking). The GPU twin is `shaders/adam.wgsl`.

use crate::model::{PARAM_NAMES, RateConfig, RateParams, Real, tensors};

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

/// One tensor of a parameter set as checkpoints see it: (name, shape, values).
pub type NamedTensor<'a, F> = (&'static str, Vec<usize>, &'a [F]);

/// The trained tensors of one network kind (also its gradients and Adam moments), in the
/// kind's fixed order: what Adam, the finiteness check and checkpoint I/O need of them.
pub trait ParamSet: Clone + Send + Sync {
    type Scalar: Real;
    type Config;
    /// All tensors zero, shaped for `cfg`.
    fn zeros(cfg: &Self::Config) -> Self;
    /// Tensor names, in the set's order (as in model files).
    fn names(&self) -> &'static [&'static str];
    /// (shape, values) of each tensor, in the set's order.
    fn tensors(&self) -> Vec<(&[usize], &[Self::Scalar])>;
    fn tensors_mut(&mut self) -> Vec<&mut [Self::Scalar]>;

    /// All tensors one after the other (the flat layout of the GPU engines).
    fn to_flat(&self) -> Vec<Self::Scalar> {
        let ts: Vec<&[Self::Scalar]> = self.tensors().into_iter().map(|(_, t)| t).collect();
        tensors::flatten(&ts)
    }
    /// Fill the tensors from the flat layout (which must hold exactly their number of values).
    fn fill_flat(&mut self, flat: &[Self::Scalar]) -> std::result::Result<(), String> {
        let want: usize = self.tensors().iter().map(|(_, t)| t.len()).sum();
        if flat.len() != want {
            return Err(format!("{} values, expected {want}", flat.len()));
        }
        tensors::fill(self.tensors_mut(), flat);
        Ok(())
    }
    /// Name of the first tensor holding a NaN or an infinity.
    fn first_non_finite(&self) -> Option<&'static str> {
        let ts: Vec<&[Self::Scalar]> = self.tensors().into_iter().map(|(_, t)| t).collect();
        tensors::first_non_finite(self.names(), &ts)
    }
    /// Checkpoint output: (name, shape, values) of each tensor.
    fn named(&self) -> Vec<NamedTensor<'_, Self::Scalar>> {
        self.names()
            .iter()
            .zip(self.tensors())
            .map(|(n, (s, t))| (*n, s.to_vec(), t))
            .collect()
    }
    /// Checkpoint input: every tensor from `get(name)`, which gives (shape, values); a missing
    /// tensor or a wrong shape is an error naming the tensor.
    fn fill_named(
        &mut self,
        mut get: impl FnMut(&str) -> Option<(Vec<usize>, Vec<Self::Scalar>)>,
    ) -> std::result::Result<(), String> {
        let names = self.names();
        let shapes: Vec<Vec<usize>> = self.tensors().iter().map(|(s, _)| s.to_vec()).collect();
        for ((name, shape), dst) in names.iter().zip(shapes).zip(self.tensors_mut()) {
            let (s, v) = get(name).ok_or_else(|| format!("tensor {name} is missing"))?;
            if s != shape || v.len() != dst.len() {
                return Err(format!("tensor {name} has shape {s:?}, expected {shape:?}"));
            }
            dst.copy_from_slice(&v);
        }
        Ok(())
    }
}

impl<F: Real> ParamSet for RateParams<F> {
    type Scalar = F;
    type Config = RateConfig;
    fn zeros(cfg: &RateConfig) -> Self {
        RateParams::zeros(cfg)
    }
    fn names(&self) -> &'static [&'static str] {
        &PARAM_NAMES
    }
    fn tensors(&self) -> Vec<(&[usize], &[F])> {
        let shapes = [
            self.w_in.shape(),
            self.b_in.shape(),
            self.w_rec.shape(),
            self.w_out.shape(),
            self.b_out.shape(),
            self.ah0.shape(),
        ];
        shapes.into_iter().zip(self.slices()).collect()
    }
    fn tensors_mut(&mut self) -> Vec<&mut [F]> {
        self.slices_mut().into()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activation;

    fn cfg() -> RateConfig {
        RateConfig {
            kind: "rate".into(),
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
