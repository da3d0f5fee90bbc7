//! A task defined entirely by files (SPEC §8, `task = "file"`): a pool of training trials and
//! the analysis trials (one per condition, in the recordings' order), both in the batch format
//! of SPEC §6. The networks' input and output widths are read off the files.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use crate::batch::{Batch, IoDims, LossKind};
use crate::error::{Error, Result};

/// Input and output widths of a file task's networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub n_in: usize,
    pub n_out: usize,
}

impl IoDims for Dims {
    fn n_in(&self) -> usize {
        self.n_in
    }
    fn n_out(&self) -> usize {
        self.n_out
    }
}

/// What a config says of its file task (paths already resolved against the config's folder).
#[derive(Clone, Debug, PartialEq)]
pub struct FileTaskSpec {
    pub train_batch: PathBuf,
    pub analysis_batch: PathBuf,
    pub loss: LossKind,
    /// Inclusive range of analysis steps compared with the recordings (default: every step).
    pub analysis_steps: Option<[usize; 2]>,
    /// Duration of one file step, ms (required for spiking kinds).
    pub bin_ms: Option<f64>,
}

/// A file task, loaded and checked.
#[derive(Clone, Debug)]
pub struct FileTask {
    pub train: Batch,
    pub analysis: Batch,
    pub steps: RangeInclusive<usize>,
    pub dims: Dims,
}

/// The largest class index + 1 of a ce batch (its targets are checked to be integers later).
fn n_classes(b: &Batch) -> usize {
    b.targets
        .iter()
        .filter(|c| c.is_finite() && **c >= 0.0)
        .map(|c| *c as usize + 1)
        .max()
        .unwrap_or(0)
}

impl FileTask {
    pub fn load(spec: &FileTaskSpec) -> Result<FileTask> {
        let train = crate::io::read_batch(&spec.train_batch, spec.loss)?;
        let analysis = crate::io::read_batch(&spec.analysis_batch, spec.loss)?;
        let n_in = train.inputs.dim().2;
        let n_out = match spec.loss {
            LossKind::Mse => train.targets.dim().2,
            LossKind::Ce => n_classes(&train).max(n_classes(&analysis)).max(1),
        };
        let dims = Dims { n_in, n_out };
        train.validate(&dims, &spec.train_batch.display().to_string())?;
        analysis.validate(&dims, &spec.analysis_batch.display().to_string())?;
        let t = analysis.n_steps();
        let steps = match spec.analysis_steps {
            None => 0..=t - 1,
            Some([a, b]) if a <= b && b < t => a..=b,
            Some([a, b]) => {
                return Err(Error::Input(format!(
                    "{}: analysis_steps = [{a}, {b}] is not a range of its {t} steps (first <= last <= {})",
                    spec.analysis_batch.display(),
                    t - 1
                )));
            }
        };
        if let Some(bin) = spec.bin_ms
            && !(bin > 0.0 && bin.is_finite())
        {
            return Err(Error::Input(format!("bin_ms = {bin} must be positive")));
        }
        Ok(FileTask {
            train,
            analysis,
            steps,
            dims,
        })
    }
}
