//! The rate network of SPEC §1: configuration, parameters, the paper's initialisation, and the
//! fixed (non-trained) tensors `mask_rec` (Dale signs × sparsity) and `feedback` (SPEC §4).

use ndarray::{Array1, Array2, ArrayView2, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use crate::linalg::Real;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Retanh,
    Tanh,
    Relu,
    Softplus,
}

impl Activation {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "retanh" => Ok(Self::Retanh),
            "tanh" => Ok(Self::Tanh),
            "relu" => Ok(Self::Relu),
            "softplus" => Ok(Self::Softplus),
            _ => Err(Error::Input(format!(
                "unknown activation '{s}' (expected retanh, tanh, relu or softplus)"
            ))),
        }
    }
    /// The code the WGSL kernels switch on (keep in step with `shaders/common.wgsl`).
    pub fn gpu_code(self) -> u32 {
        match self {
            Self::Retanh => 0,
            Self::Tanh => 1,
            Self::Relu => 2,
            Self::Softplus => 3,
        }
    }
    #[inline(always)]
    pub fn f<F: Real>(self, x: F) -> F {
        match self {
            Self::Retanh => x.tanh_act().max(F::zero()),
            Self::Tanh => x.tanh_act(),
            Self::Relu => x.max(F::zero()),
            // log(1 + e^x), overflow-safe
            Self::Softplus => x.max(F::zero()) + (-x.abs()).exp().ln_1p(),
        }
    }
    #[inline(always)]
    pub fn df<F: Real>(self, x: F) -> F {
        match self {
            Self::Retanh => {
                if x > F::zero() {
                    let t = x.tanh();
                    F::one() - t * t
                } else {
                    F::zero()
                }
            }
            Self::Tanh => {
                let t = x.tanh();
                F::one() - t * t
            }
            Self::Relu => {
                if x > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
            Self::Softplus => F::one() / (F::one() + (-x).exp()),
        }
    }
    /// `f'(x)` from `x` and the already computed `h = f(x)`: no second tanh (the backward pass
    /// is dominated by these element-wise calls otherwise).
    #[inline(always)]
    pub fn df_given<F: Real>(self, x: F, h: F) -> F {
        match self {
            Self::Retanh => {
                if x > F::zero() {
                    F::one() - h * h
                } else {
                    F::zero()
                }
            }
            Self::Tanh => F::one() - h * h,
            Self::Relu => self.df(x),
            // sigmoid(x) = 1 - exp(-softplus(x))
            Self::Softplus => -(-h).exp_m1(),
        }
    }
}

fn default_alpha() -> f64 {
    0.1
}
fn default_activation() -> Activation {
    Activation::Retanh
}
/// A network kind, parsed once where it enters (serde, or [`FromStr`](std::str::FromStr) for
/// the command line) and written back by its lower-case [`name`](Kind::as_str).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Kind {
    /// The rate network of SPEC §1 (a config's default).
    #[default]
    Rate,
    /// Leaky integrate-and-fire (SPEC §2, no adaptation).
    Lif,
    /// Adaptive LIF (SPEC §2).
    Alif,
}

/// A kind name that is none of the kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kind '{0}' is not one of rate, lif, alif")]
pub struct UnknownKind(pub String);

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Rate, Kind::Lif, Kind::Alif];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rate => "rate",
            Kind::Lif => "lif",
            Kind::Alif => "alif",
        }
    }
    /// LIF or ALIF (SPEC §2).
    pub fn is_spiking(self) -> bool {
        self != Kind::Rate
    }
}

impl std::str::FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> std::result::Result<Self, UnknownKind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

impl TryFrom<String> for Kind {
    type Error = UnknownKind;
    fn try_from(s: String) -> std::result::Result<Self, UnknownKind> {
        s.parse()
    }
}

impl From<Kind> for &'static str {
    fn from(k: Kind) -> &'static str {
        k.as_str()
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stored as JSON in the safetensors `__metadata__["config"]` (SPEC §6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    #[serde(default)]
    pub kind: Kind,
    pub n_in: usize,
    pub n_rec: usize,
    pub n_out: usize,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_activation")]
    pub activation: Activation,
    /// Dale's law: effective weight `|w| * mask_rec` with ±1 columns (80 % excitatory), zero diagonal.
    #[serde(default)]
    pub dale: bool,
    /// Connection probability of the fixed Bernoulli mask (1 = dense).
    #[serde(default = "one")]
    pub connectivity: f64,
}
fn one() -> f64 {
    1.0
}

impl RateConfig {
    pub fn new(n_in: usize, n_rec: usize, n_out: usize) -> Self {
        Self {
            kind: Kind::Rate,
            n_in,
            n_rec,
            n_out,
            alpha: 0.1,
            activation: Activation::Retanh,
            dale: false,
            connectivity: 1.0,
        }
    }
    pub fn validate(&self) -> Result<()> {
        if self.kind != Kind::Rate {
            return Err(Error::Input(format!(
                "config: kind '{}' is not supported by this engine (expected \"rate\")",
                self.kind
            )));
        }
        if self.n_in == 0 || self.n_rec == 0 || self.n_out == 0 {
            return Err(Error::Input(
                "config: n_in, n_rec and n_out must be positive".into(),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(Error::Input(format!(
                "config: alpha = {} must lie in (0, 1]",
                self.alpha
            )));
        }
        if !(self.connectivity > 0.0 && self.connectivity <= 1.0) {
            return Err(Error::Input(format!(
                "config: connectivity = {} must lie in (0, 1]",
                self.connectivity
            )));
        }
        Ok(())
    }
    /// Whether the recurrent weight goes through `mask_rec` (Dale signs and/or sparsity).
    pub fn constrained(&self) -> bool {
        self.dale || self.connectivity < 1.0
    }
    pub fn n_excitatory(&self) -> usize {
        (0.8 * self.n_rec as f64) as usize
    }
}

crate::params::param_set! {
    /// The six trained tensors, in the order of SPEC §1. Also used for gradients and Adam moments.
    pub struct RateParams for RateConfig, names PARAM_NAMES {
        w_in: Array2[n_rec, n_in],
        b_in: Array1[n_rec],
        w_rec: Array2[n_rec, n_rec],
        w_out: Array2[n_out, n_rec],
        b_out: Array1[n_out],
        ah0: Array1[n_rec],
    }
}

/// A rate network as stored on disk: config, parameters and the fixed tensors.
#[derive(Clone, Debug)]
pub struct RateModel {
    pub config: RateConfig,
    pub params: RateParams<f32>,
    /// `[N, N]`: Dale signs (±1, zero diagonal) times the sparsity mask; None = unconstrained.
    pub mask_rec: Option<Array2<f32>>,
    /// `[N, n_out]` fixed random feedback for `eprop-random` / `readout-fa`.
    pub feedback: Option<Array2<f32>>,
}

impl RateModel {
    /// The paper's initialisation (SPEC §1) with recurrent gain `g0`, seeded.
    pub fn init(config: RateConfig, g0: f64, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (n, ni, no) = (config.n_rec, config.n_in, config.n_out);
        let w_in = gaussian(&mut rng, (n, ni), 1.0 / (ni as f64).sqrt());
        let mut w_rec = gaussian(&mut rng, (n, n), g0 * 1.5 / (n as f64).sqrt());
        let bound = 1.0 / (n as f64).sqrt();
        let mut uni = |_| rng.random_range(-bound..bound) as f32;
        let w_out = Array2::from_shape_fn((no, n), |(_, _)| uni(()));
        let b_out = Array1::from_shape_fn(no, |_| uni(()));

        let mut mask: Option<Array2<f32>> = None;
        if config.connectivity < 1.0 {
            let p = config.connectivity;
            let m = Array2::from_shape_fn((n, n), |_| (rng.random::<f64>() < p) as u8 as f32);
            w_rec.mapv_inplace(|w| w / (p.sqrt() as f32));
            mask = Some(m);
        }
        if config.dale {
            let ne = config.n_excitatory();
            let ni_ = n - ne;
            let signs = dale_signs(n, ne);
            mask = Some(match mask {
                Some(m) => m * &signs,
                None => signs,
            });
            if ni_ > 0 {
                let ratio = ne as f32 / ni_ as f32;
                w_rec
                    .slice_mut(ndarray::s![.., ..ne])
                    .mapv_inplace(|w| w / ratio);
            }
        }
        Ok(Self {
            params: RateParams {
                w_in,
                b_in: Array1::zeros(n),
                w_rec,
                w_out,
                b_out,
                ah0: Array1::zeros(n),
            },
            config,
            mask_rec: mask,
            feedback: None,
        })
    }

    /// Draw the fixed random feedback matrix `B ~ U(-1/sqrt(N), 1/sqrt(N))` (SPEC §4).
    pub fn ensure_feedback(&mut self, seed: u64) {
        let c = &self.config;
        ensure_feedback(&mut self.feedback, c.n_rec, c.n_out, seed);
    }
}

/// `rows × cols` draws of `N(0, scale²)` from `rng`, row by row, as f32 (the initialisations).
pub(crate) fn gaussian(rng: &mut ChaCha8Rng, shape: (usize, usize), scale: f64) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || {
        let z: f64 = StandardNormal.sample(rng);
        (z * scale) as f32
    })
}

/// Fill `feedback` with [`random_feedback`] for `n` units unless it holds a matrix already.
pub(crate) fn ensure_feedback(
    feedback: &mut Option<Array2<f32>>,
    n: usize,
    n_out: usize,
    seed: u64,
) {
    if feedback.is_none() {
        *feedback = Some(random_feedback(n, n_out, seed));
    }
}

/// The fixed random feedback matrix `B [n, n_out] ~ U(-1/sqrt(n), 1/sqrt(n))` of SPEC §4, seeded
/// (every network kind draws it the same way).
pub fn random_feedback(n: usize, n_out: usize, seed: u64) -> Array2<f32> {
    let bound = 1.0 / (n as f64).sqrt();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0000_feed_bacc);
    Array2::from_shape_fn((n, n_out), |_| rng.random_range(-bound..bound) as f32)
}

/// `[N, N]` Dale sign mask: +1 for the first `ne` (excitatory) columns, −1 after, 0 on the diagonal.
pub fn dale_signs(n: usize, ne: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, n), |(j, i)| {
        if i == j {
            0.0
        } else if i < ne {
            1.0
        } else {
            -1.0
        }
    })
}

/// The recurrent weight the dynamics see: `w`, `w * mask` or (Dale) `|w| * mask`.
pub fn effective_w_rec<F: Real>(
    w: ArrayView2<F>,
    mask: Option<ArrayView2<F>>,
    dale: bool,
) -> Array2<F> {
    match mask {
        None => w.to_owned(),
        Some(m) => {
            let mut out = w.to_owned();
            Zip::from(&mut out)
                .and(&m)
                .for_each(|o, &mk| *o = if dale { o.abs() * mk } else { *o * mk });
            out
        }
    }
}

/// Chain rule from the effective weight back to the stored parameter (in place on `g`).
pub fn chain_w_rec_grad<F: Real>(
    g: &mut Array2<F>,
    w: ArrayView2<F>,
    mask: Option<ArrayView2<F>>,
    dale: bool,
) {
    if let Some(m) = mask {
        Zip::from(g).and(&w).and(&m).for_each(|g, &w, &mk| {
            // d|w|/dw = sign(w); 0 at w = 0 as in PyTorch
            let s = if dale {
                if w > F::zero() {
                    F::one()
                } else if w < F::zero() {
                    -F::one()
                } else {
                    F::zero()
                }
            } else {
                F::one()
            };
            *g = *g * mk * s;
        });
    }
}
