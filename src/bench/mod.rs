//! The benchmarks: seconds per training update over a grid of sizes, for rate networks
//! ([`rate`]: packs of M, rules, the PyTorch [`peer`]) and spiking ones ([`spiking`]: e-prop's
//! forms). What they share is here: the grid, device checks and the timing of a pack.

pub mod peer;
pub mod rate;
pub mod spiking;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::backend::{BackendOf, Device, NetKind};
use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::rules::Rule;

pub use peer::{DEFAULT_PEER_PYTHON, PeerLine, parse_peer_line};
pub use rate::{
    BenchSpec, nominal_gpu_peaks, rate_update_bytes, rate_update_gflop, run, run_with_peer,
};

/// What the grids of `bench` and `bench-spiking` have in common.
pub struct Grid {
    /// Recurrent units.
    pub n: Vec<usize>,
    /// Steps per trial.
    pub t: Vec<usize>,
    /// [`Device::Cpu`] and/or [`Device::Gpu`].
    pub devices: Vec<Device>,
    /// Timed updates per point, after one warm-up.
    pub repeats: usize,
    /// Where the rows go as CSV, when given.
    pub csv: Option<PathBuf>,
}

impl Grid {
    pub fn new(
        n: Vec<usize>,
        t: Vec<usize>,
        devices: Vec<Device>,
        repeats: usize,
        csv: Option<PathBuf>,
    ) -> Self {
        Grid {
            n,
            t,
            devices,
            repeats,
            csv,
        }
    }
}

/// The median of the repeats' seconds (the upper one of an even count).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The benches time a named device: `auto` would hide which one a row measured.
pub(crate) fn check_devices(devices: &[Device]) -> Result<()> {
    match devices
        .iter()
        .find(|d| !matches!(d, Device::Cpu | Device::Gpu))
    {
        Some(d) => Err(Error::Input(format!(
            "--devices: '{}' is not a bench device (cpu or gpu)",
            d.name()
        ))),
        None => Ok(()),
    }
}

/// A kind of network as the benches time it.
pub trait BenchKind: NetKind {
    /// A random batch of `b` trials × `t` steps shaped for the bench's networks.
    fn batch(b: usize, t: usize, seed: u64) -> Batch;
    /// The per-update value besides the regulariser weight (spiking: the target rate).
    fn extra() -> Self::Extra;
}

/// The regulariser weight and learning rate of every benchmarked network.
const LAMBDA: f64 = 0.1;
const LR: f64 = 1e-3;

/// What timing one pack measured.
pub struct Timed {
    /// Median seconds of one update of the whole pack.
    pub seconds: f64,
    /// Seconds of forward, gradient and optimiser per update, where they were timed.
    pub phases: Option<Phases>,
    /// Device memory the pack holds (GPU only).
    pub device_bytes: Option<u64>,
    /// Trials per upload on the GPU (fewer than the batch's when it is split to fit a binding).
    pub trial_chunk: Option<usize>,
}

/// Seconds of forward, gradient and optimiser per update, and how they were measured.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    pub forward: f64,
    pub gradient: f64,
    pub optimiser: f64,
    /// `cpu-thread-share` (thread-seconds, shown as shares of the median update) or
    /// `gpu-timestamps` (device seconds per pass from timestamp queries).
    pub source: &'static str,
}

/// The forward, gradient and optimiser seconds as a table shows them (`-` where not timed).
pub(crate) fn phase_texts(phases: Option<Phases>) -> [String; 3] {
    match phases {
        Some(p) => [p.forward, p.gradient, p.optimiser].map(|x| format!("{x:.4}")),
        None => std::array::from_fn(|_| "-".into()),
    }
}

/// The CSV cells `forward_s,gradient_s,optimiser_s,phase_source` (empty where not timed).
pub(crate) fn phase_cells(phases: Option<Phases>) -> String {
    match phases {
        Some(p) => format!("{},{},{},{}", p.forward, p.gradient, p.optimiser, p.source),
        None => ",,,".into(),
    }
}

/// The median seconds of `repeats` calls of `update`, after one warm-up call (pipeline
/// compilation, first allocations) that is not counted.
pub(crate) fn time_repeats(repeats: usize, mut update: impl FnMut() -> Result<()>) -> Result<f64> {
    update()?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t0 = Instant::now();
        update()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

/// Seconds per training update (forward, gradient and Adam; batch upload included) of a pack of
/// `models` on the GPU of `gpu` (one context for every point of a bench) or else the CPU, each on
/// its own random batch of `b` × `t`, trained as `train` trains them ([`BackendOf`]). Each update
/// reads its losses back, so the time is synchronised.
pub fn time_pack<K: BenchKind>(
    gpu: Option<&Arc<GpuContext>>,
    models: &[K::Model],
    [b, t]: [usize; 2],
    rule: Rule,
    repeats: usize,
) -> Result<Timed> {
    let m = models.len();
    let batches: Vec<Batch> = (0..m as u64).map(|s| K::batch(b, t, s)).collect();
    let refs: Vec<&Batch> = batches.iter().collect();
    let lambdas = vec![LAMBDA; m];
    let lrs = vec![LR; m];
    let mut be = match gpu {
        Some(ctx) => BackendOf::<K>::on_gpu(ctx.clone(), models, &lrs, [b, t], LossKind::Mse)?,
        None => BackendOf::<K>::new(Device::Cpu, None, models, &lrs, b, t, LossKind::Mse)?,
    };
    let on_cpu = gpu.is_none();
    let timed = be.enable_phase_timing();
    let mut first = true;
    let seconds = time_repeats(repeats, || {
        be.update_with(rule, &refs, &lambdas, K::extra())?;
        if std::mem::take(&mut first) {
            be.take_phase_seconds(); // the warm-up's
        }
        Ok(())
    })?;
    let phases = be.take_phase_seconds();
    let phase = |names: &[&str]| -> f64 {
        let sum: f64 = phases
            .iter()
            .filter(|(k, _)| names.contains(k))
            .map(|(_, v)| v)
            .sum();
        if on_cpu {
            let all: f64 = phases.iter().map(|(_, v)| v).sum();
            seconds * sum / all.max(1e-300)
        } else {
            sum / repeats as f64
        }
    };
    let phases = (timed && !phases.is_empty()).then(|| Phases {
        forward: phase(&["forward"]),
        gradient: phase(&["gradient", "chain"]),
        optimiser: phase(&["adam"]),
        source: if on_cpu {
            "cpu-thread-share"
        } else {
            "gpu-timestamps"
        },
    });
    Ok(Timed {
        seconds,
        phases,
        device_bytes: be.device_bytes(),
        trial_chunk: be.trial_chunk(),
    })
}
