//! A batch of trials (SPEC §6): inputs, targets and mask, validated against a model.

use ndarray::{Array3, Axis};

use crate::error::{Error, Result};
use crate::model::RateConfig;
use crate::spiking::SpikingConfig;

/// What a batch is checked against: the model's input and output widths, whatever its kind.
pub trait IoDims {
    fn n_in(&self) -> usize;
    fn n_out(&self) -> usize;
}

impl IoDims for RateConfig {
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_out
    }
}

impl IoDims for SpikingConfig {
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    Mse,
    Ce,
}

/// `--loss` as the command line gives it (configs go through serde).
impl std::str::FromStr for LossKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "mse" => Ok(Self::Mse),
            "ce" => Ok(Self::Ce),
            _ => Err(format!("unknown loss '{s}' (expected mse or ce)")),
        }
    }
}

impl LossKind {
    pub fn gpu_code(self) -> u32 {
        match self {
            Self::Mse => 0,
            Self::Ce => 1,
        }
    }
}

/// Trial-major arrays as in the file format: `inputs [B, T, n_in]`; `targets` and `mask`
/// `[B, T, n_out]` for mse, `[B, T, 1]` (class index, mask per step) for ce.
#[derive(Clone, Debug)]
pub struct Batch {
    pub inputs: Array3<f64>,
    pub targets: Array3<f64>,
    pub mask: Array3<f64>,
    pub loss: LossKind,
}

impl Batch {
    pub fn n_trials(&self) -> usize {
        self.inputs.shape()[0]
    }
    pub fn n_steps(&self) -> usize {
        self.inputs.shape()[1]
    }
    /// Checks shapes against the model, finiteness, class range and mask sum. `name` names the
    /// file in messages.
    pub fn validate<C: IoDims + ?Sized>(&self, cfg: &C, name: &str) -> Result<()> {
        let (n_in, n_out) = (cfg.n_in(), cfg.n_out());
        let (b, t, ni) = self.inputs.dim();
        if b == 0 || t == 0 {
            return Err(Error::Input(format!(
                "{name}: inputs has an empty axis {:?}",
                self.inputs.shape()
            )));
        }
        if ni != n_in {
            return Err(Error::Input(format!(
                "{name}: inputs has {ni} input channels [B, T, n_in] but the model has n_in = {n_in}"
            )));
        }
        let k = match self.loss {
            LossKind::Mse => n_out,
            LossKind::Ce => 1,
        };
        let want = [b, t, k];
        let what = match self.loss {
            LossKind::Mse => "[B, T, n_out]",
            LossKind::Ce => "[B, T] class indices",
        };
        if self.targets.shape() != want {
            return Err(Error::Input(format!(
                "{name}: targets has shape {:?}, expected {what} = {:?} for --loss {}",
                self.targets.shape(),
                &want[..if self.loss == LossKind::Ce { 2 } else { 3 }],
                format!("{:?}", self.loss).to_lowercase()
            )));
        }
        if self.mask.shape() != want {
            return Err(Error::Input(format!(
                "{name}: mask has shape {:?}, expected {:?}",
                self.mask.shape(),
                &want[..if self.loss == LossKind::Ce { 2 } else { 3 }]
            )));
        }
        for (arr, label) in [
            (&self.inputs, "inputs"),
            (&self.targets, "targets"),
            (&self.mask, "mask"),
        ] {
            if arr.iter().any(|x| !x.is_finite()) {
                return Err(Error::Input(format!(
                    "{name}: {label} contains NaN or infinity"
                )));
            }
        }
        if self.loss == LossKind::Ce
            && let Some(c) = self
                .targets
                .iter()
                .find(|&&c| c < 0.0 || c >= n_out as f64 || c.fract() != 0.0)
        {
            return Err(Error::Input(format!(
                "{name}: targets holds class {c}, not an integer in 0..{n_out}"
            )));
        }
        if self.mask.sum() <= 0.0 {
            return Err(Error::Input(format!(
                "{name}: mask is all zero, the loss is undefined"
            )));
        }
        Ok(())
    }
    /// Time-major copy `[T, B, C]` of a trial-major array (the layout every engine computes in).
    pub fn time_major(a: &Array3<f64>) -> Array3<f64> {
        a.view()
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned()
    }
    /// Keep trials `lo..hi`.
    pub fn slice_trials(&self, lo: usize, hi: usize) -> Batch {
        let s = |a: &Array3<f64>| a.slice_axis(Axis(0), (lo..hi).into()).to_owned();
        Batch {
            inputs: s(&self.inputs),
            targets: s(&self.targets),
            mask: s(&self.mask),
            loss: self.loss,
        }
    }

    /// The same trials at a `k` times finer time step: every step repeated `k` times (inputs,
    /// targets and mask), as a spiking network at dt = bin / k sees a task defined in bins.
    pub fn upsample(&self, k: usize) -> Batch {
        if k <= 1 {
            return self.clone();
        }
        let rep = |a: &Array3<f64>| {
            let (b, t, c) = a.dim();
            Array3::from_shape_fn((b, t * k, c), |(bi, ti, ci)| a[[bi, ti / k, ci]])
        };
        Batch {
            inputs: rep(&self.inputs),
            targets: rep(&self.targets),
            mask: rep(&self.mask),
            loss: self.loss,
        }
    }

    /// The same trials with one more input, constant 1 (the tonic input of a spiking network:
    /// SPEC §2 has no bias, and without a drive of its own a network whose task inputs all go
    /// to 0 — the reach task after the go cue — falls silent for good).
    pub fn with_tonic_input(&self) -> Batch {
        let (b, t, c) = self.inputs.dim();
        let inputs = Array3::from_shape_fn((b, t, c + 1), |(bi, ti, ci)| {
            if ci < c {
                self.inputs[[bi, ti, ci]]
            } else {
                1.0
            }
        });
        Batch {
            inputs,
            ..self.clone()
        }
    }
}
