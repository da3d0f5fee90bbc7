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
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Kind, gaussian};

fn d_kind() -> Kind {
    Kind::Alif
}
fn d_one() -> f64 {
    1.0
}
fn is_one(x: &f64) -> bool {
    *x == 1.0
}

/// Declares the model's [`SpikingConfig`] and a config file's `[spiking]` table
/// ([`SpikingSettings`]) around the one list of neuron settings they share (SPEC §2, with its
/// defaults): the config after its own fields, the table before its training-only ones.
macro_rules! spiking_structs {
    (
        $(#[$cm:meta])* pub struct $config:ident { $($config_own:tt)* }
        $(#[$sm:meta])* pub struct $settings:ident { $($settings_own:tt)* }
        shared { $($(#[$fm:meta])* $field:ident : $ty:ty = $default:tt,)+ }
    ) => {
        $(#[$cm])*
        pub struct $config {
            $($config_own)*
            $($(#[$fm])* #[serde(default = $default)] pub $field: $ty,)+
        }

        $(#[$sm])*
        pub struct $settings {
            $($(#[$fm])* #[serde(default = $default)] pub $field: $ty,)+
            $($settings_own)*
        }

        impl $config {
            /// The network of `kind` and these sizes with the neuron settings of `s`.
            pub fn with_settings(
                kind: Kind,
                n_in: usize,
                n_rec: usize,
                n_out: usize,
                s: &$settings,
            ) -> Self {
                Self {
                    kind,
                    n_in,
                    n_rec,
                    n_out,
                    $($field: s.$field,)+
                }
            }
        }
    };
}

spiking_structs! {
    /// Stored as JSON in the safetensors `__metadata__["config"]` (SPEC §6). Times in ms.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SpikingConfig {
        /// lif or alif.
        #[serde(default = "d_kind")]
        pub kind: Kind,
        pub n_in: usize,
        pub n_rec: usize,
        pub n_out: usize,
    }

    /// The `[spiking]` table of a config for `kind = "lif"` / `"alif"` (SPEC §2 defaults).
    #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct SpikingSettings {
        /// Target rate per step of the firing-rate regulariser (SPEC §3).
        #[serde(default = "d_rate_target")]
        pub rate_target: f64,
        /// Time constant of the exponential filter turning spikes into rates for the comparison
        /// with neural data.
        #[serde(default = "d_tau_filter")]
        pub tau_filter_ms: f64,
        /// Multiplies the initial input weights (g0 does the same for the recurrent ones). Analog
        /// inputs held for seconds (the reach task's hold cue) drive `v` to `|w_in x| / (1 - a_v)`,
        /// about 10 thresholds at SPEC §2's defaults, saturating the network; `1 - a_v` here gives
        /// the drive of Bellec et al.'s LSNN code, whose input current carries that factor.
        #[serde(default = "d_one", skip_serializing_if = "is_one")]
        pub in_gain: f64,
        /// Append a constant-1 input to the task's inputs (the model gets `n_in + 1` inputs; its
        /// last column of `w_in` acts as a learned bias current). Without it, spiking networks
        /// fall silent once a task's inputs end (reach: after the go cue) and cannot produce the
        /// movement.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub tonic_input: bool,
        /// Multiplies the initial readout weights.
        #[serde(default = "d_one", skip_serializing_if = "is_one")]
        pub out_gain: f64,
    }

    shared {
        /// Simulation step; the tasks' bins (reach 10 ms, Mante 15 ms) must be whole multiples.
        dt_ms: f64 = "d_dt",
        tau_m_ms: f64 = "d_tau_m",
        tau_a_ms: f64 = "d_tau_a",
        tau_out_ms: f64 = "d_tau_out",
        v_th: f64 = "d_v_th",
        /// Threshold adaptation strength (alif; a lif network behaves as beta = 0).
        beta: f64 = "d_beta",
        n_ref: usize = "d_n_ref",
        /// Pseudo-derivative dampening.
        gamma: f64 = "d_gamma",
    }
}

fn d_dt() -> f64 {
    1.0
}
fn d_tau_m() -> f64 {
    20.0
}
fn d_tau_a() -> f64 {
    2000.0
}
fn d_tau_out() -> f64 {
    20.0
}
fn d_v_th() -> f64 {
    0.6
}
fn d_beta() -> f64 {
    1.8
}
fn d_n_ref() -> usize {
    2
}
fn d_gamma() -> f64 {
    0.3
}
/// The target firing rate per step of the regulariser (SPEC §3) where none is given.
pub const DEFAULT_RATE_TARGET: f64 = 0.01;

fn d_rate_target() -> f64 {
    DEFAULT_RATE_TARGET
}
fn d_tau_filter() -> f64 {
    20.0
}

impl Default for SpikingSettings {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl SpikingConfig {
    /// Defaults of SPEC §2 for `kind` (lif or alif).
    pub fn new(kind: Kind, n_in: usize, n_rec: usize, n_out: usize) -> Self {
        Self::with_settings(kind, n_in, n_rec, n_out, &SpikingSettings::default())
    }
    pub fn validate(&self) -> Result<()> {
        if !self.kind.is_spiking() {
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
        self.kind == Kind::Alif
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

crate::params::param_set! {
    /// The trained tensors of SPEC §2 (also gradients and Adam moments), in flat order
    /// `w_in, w_rec, w_out, b_out`.
    pub struct SpikingParams for SpikingConfig, names SPIKING_PARAM_NAMES {
        w_in: Array2[n_rec, n_in],
        w_rec: Array2[n_rec, n_rec],
        w_out: Array2[n_out, n_rec],
        b_out: Array1[n_out],
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
        let w_in = gaussian(&mut rng, (n, ni), 1.0 / (ni as f64).sqrt());
        let mut w_rec = gaussian(&mut rng, (n, n), 1.0 / (n as f64).sqrt());
        w_rec.diag_mut().fill(0.0);
        let w_out = gaussian(&mut rng, (no, n), 1.0 / (n as f64).sqrt());
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
        let c = &self.config;
        crate::model::ensure_feedback(&mut self.feedback, c.n_rec, c.n_out, seed);
    }
}
