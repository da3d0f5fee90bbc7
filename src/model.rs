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
fn default_kind() -> String {
    "rate".into()
}

/// Stored as JSON in the safetensors `__metadata__["config"]` (SPEC §6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    #[serde(default = "default_kind")]
    pub kind: String,
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
            kind: "rate".into(),
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
        if self.kind != "rate" {
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

/// The six trained tensors, in the order of SPEC §1. Also used for gradients and Adam moments.
#[derive(Clone, Debug, PartialEq)]
pub struct RateParams<F> {
    pub w_in: Array2<F>,
    pub b_in: Array1<F>,
    pub w_rec: Array2<F>,
    pub w_out: Array2<F>,
    pub b_out: Array1<F>,
    pub ah0: Array1<F>,
}

pub const PARAM_NAMES: [&str; 6] = ["w_in", "b_in", "w_rec", "w_out", "b_out", "ah0"];

impl<F: Real> RateParams<F> {
    pub fn zeros(c: &RateConfig) -> Self {
        Self {
            w_in: Array2::zeros((c.n_rec, c.n_in)),
            b_in: Array1::zeros(c.n_rec),
            w_rec: Array2::zeros((c.n_rec, c.n_rec)),
            w_out: Array2::zeros((c.n_out, c.n_rec)),
            b_out: Array1::zeros(c.n_out),
            ah0: Array1::zeros(c.n_rec),
        }
    }
    /// Shapes in PARAM_NAMES order.
    pub fn shapes(c: &RateConfig) -> [Vec<usize>; 6] {
        [
            vec![c.n_rec, c.n_in],
            vec![c.n_rec],
            vec![c.n_rec, c.n_rec],
            vec![c.n_out, c.n_rec],
            vec![c.n_out],
            vec![c.n_rec],
        ]
    }
    /// Number of scalars per network (the length of the flat layout used on the GPU).
    pub fn len(c: &RateConfig) -> usize {
        Self::shapes(c)
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum()
    }
    /// Offsets of each tensor in the flat layout, PARAM_NAMES order.
    pub fn offsets(c: &RateConfig) -> [usize; 6] {
        let mut o = [0; 6];
        let mut acc = 0;
        for (i, s) in Self::shapes(c).iter().enumerate() {
            o[i] = acc;
            acc += s.iter().product::<usize>();
        }
        o
    }
    pub fn slices(&self) -> [&[F]; 6] {
        [
            self.w_in.as_slice().unwrap(),
            self.b_in.as_slice().unwrap(),
            self.w_rec.as_slice().unwrap(),
            self.w_out.as_slice().unwrap(),
            self.b_out.as_slice().unwrap(),
            self.ah0.as_slice().unwrap(),
        ]
    }
    pub fn slices_mut(&mut self) -> [&mut [F]; 6] {
        [
            self.w_in.as_slice_mut().unwrap(),
            self.b_in.as_slice_mut().unwrap(),
            self.w_rec.as_slice_mut().unwrap(),
            self.w_out.as_slice_mut().unwrap(),
            self.b_out.as_slice_mut().unwrap(),
            self.ah0.as_slice_mut().unwrap(),
        ]
    }
    pub fn flatten(&self) -> Vec<F> {
        tensors::flatten(&self.slices())
    }
    pub fn from_flat(c: &RateConfig, flat: &[F]) -> Self {
        let mut p = Self::zeros(c);
        tensors::fill(p.slices_mut(), flat);
        p
    }
    pub fn cast<G: Real>(&self) -> RateParams<G> {
        let f = |x: &F| G::from_f64(x.to_f64().unwrap()).unwrap();
        RateParams {
            w_in: self.w_in.map(f),
            b_in: self.b_in.map(f),
            w_rec: self.w_rec.map(f),
            w_out: self.w_out.map(f),
            b_out: self.b_out.map(f),
            ah0: self.ah0.map(f),
        }
    }
    /// `self += other`, tensor by tensor (summing gradients of trial chunks).
    pub fn add_assign(&mut self, other: &Self) {
        tensors::add(self.slices_mut(), &other.slices());
    }
    /// Name of the first tensor holding a NaN or infinity, if any.
    pub fn first_non_finite(&self) -> Option<&'static str> {
        tensors::first_non_finite(&PARAM_NAMES, &self.slices())
    }
}

/// What every parameter set (rate or spiking; also gradients and Adam moments) does with its
/// tensors, given them as slices in the set's fixed order.
pub(crate) mod tensors {
    use super::Real;

    /// All tensors, one after the other (the flat layout of the GPU engines).
    pub fn flatten<F: Real>(ts: &[&[F]]) -> Vec<F> {
        ts.iter().flat_map(|s| s.iter().copied()).collect()
    }
    /// Fill the tensors from the flat layout.
    pub fn fill<'a, F: Real>(ts: impl IntoIterator<Item = &'a mut [F]>, flat: &[F]) {
        let mut at = 0;
        for s in ts {
            s.copy_from_slice(&flat[at..at + s.len()]);
            at += s.len();
        }
    }
    /// `a += b`, tensor by tensor.
    pub fn add<'a, F: Real>(a: impl IntoIterator<Item = &'a mut [F]>, b: &[&[F]]) {
        for (x, y) in a.into_iter().zip(b) {
            x.iter_mut().zip(y.iter()).for_each(|(x, y)| *x += *y);
        }
    }
    /// Name of the first tensor holding a NaN or infinity.
    pub fn first_non_finite<F: Real>(names: &[&'static str], ts: &[&[F]]) -> Option<&'static str> {
        names
            .iter()
            .zip(ts)
            .find(|(_, s)| s.iter().any(|x| !x.is_finite()))
            .map(|(n, _)| *n)
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
        let mut normal = |scale: f64| -> f32 {
            let z: f64 = StandardNormal.sample(&mut rng);
            (z * scale) as f32
        };
        let w_in = Array2::from_shape_simple_fn((n, ni), || normal(1.0 / (ni as f64).sqrt()));
        let mut w_rec =
            Array2::from_shape_simple_fn((n, n), || normal(g0 * 1.5 / (n as f64).sqrt()));
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
