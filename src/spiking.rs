//! The spiking network of SPEC §2 (LIF / ALIF, Bellec et al. 2020): configuration, parameters,
//! initialisation and the fixed random `feedback` matrix of SPEC §4.
//!
//! ```text
//! v[t] = a_v v[t-1] + w_rec z[t-1] + w_in x[t] - v_th sg(z[t-1])     (reset by subtraction)
//! a[t] = rho a[t-1] + (1 - rho) z[t-1]                               (alif; lif: beta = 0)
//! z[t] = H(v[t] - v_th - beta a[t]), 0 for n_ref steps after a spike
//! psi[t] = gamma / v_th * max(0, 1 - |v[t] - v_th - beta a[t]| / v_th) (0 while refractory)
//! y[t] = kappa y[t-1] + w_out z[t] + b_out
//! ```

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Real, tensors};

pub(crate) fn d_kind() -> String {
    "alif".into()
}
pub(crate) fn d_dt() -> f64 {
    1.0
}
pub(crate) fn d_tau_m() -> f64 {
    20.0
}
pub(crate) fn d_tau_a() -> f64 {
    2000.0
}
pub(crate) fn d_tau_out() -> f64 {
    20.0
}
pub(crate) fn d_v_th() -> f64 {
    0.6
}
pub(crate) fn d_beta() -> f64 {
    1.8
}
pub(crate) fn d_n_ref() -> usize {
    2
}
pub(crate) fn d_gamma() -> f64 {
    0.3
}

/// Stored as JSON in the safetensors `__metadata__["config"]` (SPEC §6). Times in ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikingConfig {
    /// "lif" or "alif".
    #[serde(default = "d_kind")]
    pub kind: String,
    pub n_in: usize,
    pub n_rec: usize,
    pub n_out: usize,
    #[serde(default = "d_dt")]
    pub dt_ms: f64,
    #[serde(default = "d_tau_m")]
    pub tau_m_ms: f64,
    #[serde(default = "d_tau_a")]
    pub tau_a_ms: f64,
    #[serde(default = "d_tau_out")]
    pub tau_out_ms: f64,
    #[serde(default = "d_v_th")]
    pub v_th: f64,
    /// Threshold adaptation strength (alif; a lif network behaves as beta = 0).
    #[serde(default = "d_beta")]
    pub beta: f64,
    #[serde(default = "d_n_ref")]
    pub n_ref: usize,
    /// Pseudo-derivative dampening.
    #[serde(default = "d_gamma")]
    pub gamma: f64,
}

impl SpikingConfig {
    /// Defaults of SPEC §2 for `kind` ("lif" or "alif").
    pub fn new(kind: &str, n_in: usize, n_rec: usize, n_out: usize) -> Self {
        Self {
            kind: kind.into(),
            n_in,
            n_rec,
            n_out,
            dt_ms: d_dt(),
            tau_m_ms: d_tau_m(),
            tau_a_ms: d_tau_a(),
            tau_out_ms: d_tau_out(),
            v_th: d_v_th(),
            beta: d_beta(),
            n_ref: d_n_ref(),
            gamma: d_gamma(),
        }
    }
    pub fn validate(&self) -> Result<()> {
        if self.kind != "lif" && self.kind != "alif" {
            return Err(Error::Input(format!(
                "config: kind '{}' is not a spiking kind (expected \"lif\" or \"alif\")",
                self.kind
            )));
        }
        if self.n_in == 0 || self.n_rec == 0 || self.n_out == 0 {
            return Err(Error::Input(
                "config: n_in, n_rec and n_out must be positive".into(),
            ));
        }
        for (name, v) in [
            ("dt_ms", self.dt_ms),
            ("tau_m_ms", self.tau_m_ms),
            ("tau_a_ms", self.tau_a_ms),
            ("tau_out_ms", self.tau_out_ms),
            ("v_th", self.v_th),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::Input(format!(
                    "config: {name} = {v} must be a positive number"
                )));
            }
        }
        let non_negative = |x: f64| x >= 0.0 && x.is_finite();
        if !(non_negative(self.beta) && non_negative(self.gamma)) {
            return Err(Error::Input(format!(
                "config: beta = {} and gamma = {} must be finite and >= 0",
                self.beta, self.gamma
            )));
        }
        Ok(())
    }
    pub fn is_alif(&self) -> bool {
        self.kind == "alif"
    }
    /// Membrane decay `exp(-dt / tau_m)`.
    pub fn a_v(&self) -> f64 {
        (-self.dt_ms / self.tau_m_ms).exp()
    }
    /// Adaptation decay `exp(-dt / tau_a)`.
    pub fn rho(&self) -> f64 {
        (-self.dt_ms / self.tau_a_ms).exp()
    }
    /// Readout decay `exp(-dt / tau_out)`.
    pub fn kappa(&self) -> f64 {
        (-self.dt_ms / self.tau_out_ms).exp()
    }
    /// The adaptation strength the dynamics use: `beta` for alif, 0 for lif.
    pub fn beta_eff(&self) -> f64 {
        if self.is_alif() { self.beta } else { 0.0 }
    }
}

/// The trained tensors of SPEC §2 (also gradients and Adam moments), in flat order
/// `w_in, w_rec, w_out, b_out`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpikingParams<F> {
    pub w_in: Array2<F>,
    pub w_rec: Array2<F>,
    pub w_out: Array2<F>,
    pub b_out: Array1<F>,
}

pub const SPIKING_PARAM_NAMES: [&str; 4] = ["w_in", "w_rec", "w_out", "b_out"];

impl<F: Real> SpikingParams<F> {
    pub fn zeros(c: &SpikingConfig) -> Self {
        Self {
            w_in: Array2::zeros((c.n_rec, c.n_in)),
            w_rec: Array2::zeros((c.n_rec, c.n_rec)),
            w_out: Array2::zeros((c.n_out, c.n_rec)),
            b_out: Array1::zeros(c.n_out),
        }
    }
    pub fn shapes(c: &SpikingConfig) -> [Vec<usize>; 4] {
        [
            vec![c.n_rec, c.n_in],
            vec![c.n_rec, c.n_rec],
            vec![c.n_out, c.n_rec],
            vec![c.n_out],
        ]
    }
    pub fn len(c: &SpikingConfig) -> usize {
        Self::shapes(c)
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum()
    }
    pub fn slices(&self) -> [&[F]; 4] {
        [
            self.w_in.as_slice().unwrap(),
            self.w_rec.as_slice().unwrap(),
            self.w_out.as_slice().unwrap(),
            self.b_out.as_slice().unwrap(),
        ]
    }
    pub fn slices_mut(&mut self) -> [&mut [F]; 4] {
        [
            self.w_in.as_slice_mut().unwrap(),
            self.w_rec.as_slice_mut().unwrap(),
            self.w_out.as_slice_mut().unwrap(),
            self.b_out.as_slice_mut().unwrap(),
        ]
    }
    pub fn flatten(&self) -> Vec<F> {
        tensors::flatten(&self.slices())
    }
    pub fn from_flat(c: &SpikingConfig, flat: &[F]) -> Self {
        let mut p = Self::zeros(c);
        tensors::fill(p.slices_mut(), flat);
        p
    }
    pub fn cast<G: Real>(&self) -> SpikingParams<G> {
        let f = |x: &F| G::from_f64(x.to_f64().unwrap()).unwrap();
        SpikingParams {
            w_in: self.w_in.map(f),
            w_rec: self.w_rec.map(f),
            w_out: self.w_out.map(f),
            b_out: self.b_out.map(f),
        }
    }
    pub fn add_assign(&mut self, other: &Self) {
        tensors::add(self.slices_mut(), &other.slices());
    }
    pub fn first_non_finite(&self) -> Option<&'static str> {
        tensors::first_non_finite(&SPIKING_PARAM_NAMES, &self.slices())
    }
}

impl<F: Real> crate::optim::ParamSet for SpikingParams<F> {
    type Scalar = F;
    type Config = SpikingConfig;
    fn zeros(cfg: &SpikingConfig) -> Self {
        SpikingParams::zeros(cfg)
    }
    fn names(&self) -> &'static [&'static str] {
        &SPIKING_PARAM_NAMES
    }
    fn tensors(&self) -> Vec<(&[usize], &[F])> {
        let shapes = [
            self.w_in.shape(),
            self.w_rec.shape(),
            self.w_out.shape(),
            self.b_out.shape(),
        ];
        shapes.into_iter().zip(self.slices()).collect()
    }
    fn tensors_mut(&mut self) -> Vec<&mut [F]> {
        self.slices_mut().into()
    }
}

/// A spiking network as stored on disk.
#[derive(Clone, Debug)]
pub struct SpikingModel {
    pub config: SpikingConfig,
    pub params: SpikingParams<f32>,
    /// `[N, n_out]` fixed random feedback for `eprop-random` / `readout-fa`.
    pub feedback: Option<Array2<f32>>,
}

impl SpikingModel {
    /// Bellec et al.'s initialisation, seeded: `w_in ~ N(0,1)/sqrt(n_in)`, `w_rec ~ N(0,1)/sqrt(N)`
    /// with a zero diagonal, `w_out ~ N(0,1)/sqrt(N)`, `b_out = 0`.
    pub fn init(config: SpikingConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (n, ni, no) = (config.n_rec, config.n_in, config.n_out);
        let mut normal = |scale: f64| -> f32 {
            let z: f64 = StandardNormal.sample(&mut rng);
            (z * scale) as f32
        };
        let w_in = Array2::from_shape_simple_fn((n, ni), || normal(1.0 / (ni as f64).sqrt()));
        let mut w_rec = Array2::from_shape_simple_fn((n, n), || normal(1.0 / (n as f64).sqrt()));
        w_rec.diag_mut().fill(0.0);
        let w_out = Array2::from_shape_simple_fn((no, n), || normal(1.0 / (n as f64).sqrt()));
        Ok(Self {
            params: SpikingParams {
                w_in,
                w_rec,
                w_out,
                b_out: Array1::zeros(no),
            },
            config,
            feedback: None,
        })
    }

    /// Draw `feedback ~ U(-1/sqrt(N), 1/sqrt(N))` once (SPEC §4) unless the model has one.
    pub fn ensure_feedback(&mut self, seed: u64) {
        if self.feedback.is_none() {
            let n = self.config.n_rec;
            let bound = 1.0 / (n as f64).sqrt();
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0000_feed_bacc);
            self.feedback = Some(Array2::from_shape_fn((n, self.config.n_out), |_| {
                rng.random_range(-bound..bound) as f32
            }));
        }
    }
}
