//! `snnlab bench-spiking`: seconds per training update and bytes of device memory of spiking
//! networks, for kind × form × N × T at batch B, on the CPU and the GPU engine. Forms: `bptt`,
//! `eprop-online` (per-synapse traces every step; on the CPU the reference's scalar loops) and
//! `eprop-factorised` (the backward recurrence per neuron plus one product per weight matrix).
//! BPTT and factorised e-prop are timed as `train` trains (the backend's pack, batch upload
//! included, with its forward, gradient and optimiser phases); online e-prop, which training does
//! not use, by its own loop. Timing is synchronised (each update reads its losses back), one
//! warm-up update is excluded and the median of the repeats reported. Points whose estimated
//! work exceeds the device's budget (`--max-gflop`), or whose largest buffer exceeds one storage
//! binding even in chunks of one trial (online packs: with the whole batch), are listed as
//! skipped, with the reason, so the same grid runs on a laptop and on an H200.

use std::sync::Arc;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    BenchKind, Grid, LAMBDA, LR, Timed, check_devices, phase_cells, phase_texts, time_pack,
    time_repeats,
};
use crate::backend::Device;
use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::gpu::spiking_engine::Spiking;
use crate::gpu::{EpropForm, GpuContext, SpikingEngine};
use crate::model::Kind;
use crate::optim::Adam;
use crate::reference::rate::Prepared;
use crate::reference::spiking as spk;
use crate::rules::Rule;
use crate::spiking::{SpikingConfig, SpikingModel, SpikingParams};

type SpikingAdam<F> = Adam<SpikingParams<F>>;

/// The grid of `snnlab bench-spiking`: every kind × N × T × form on every device, at one B.
pub struct SpikeBenchSpec {
    /// [`Kind::Lif`] and/or [`Kind::Alif`].
    pub kinds: Vec<Kind>,
    pub forms: Vec<SpikeForm>,
    pub grid: Grid,
    /// Trials per batch.
    pub b: usize,
    /// Skip points above this many GFLOP per update (estimated), per device kind.
    pub max_gflop_cpu: f64,
    pub max_gflop_gpu: f64,
}

const N_IN: usize = 20;
const N_OUT: usize = 3;

/// How a benchmarked update computes its gradient: a rule and, for e-prop, its form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpikeForm {
    Bptt,
    /// Per-synapse traces every step (on the CPU the reference's scalar loops).
    EpropOnline,
    /// The backward recurrence per neuron plus one product per weight matrix.
    EpropFactorised,
}

impl SpikeForm {
    const ALL: [SpikeForm; 3] = [Self::Bptt, Self::EpropOnline, Self::EpropFactorised];

    /// The name as `--forms` and the CSV write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bptt => "bptt",
            Self::EpropOnline => "eprop-online",
            Self::EpropFactorised => "eprop-factorised",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn rule(self) -> Rule {
        match self {
            Self::Bptt => Rule::Bptt,
            Self::EpropOnline | Self::EpropFactorised => Rule::Eprop,
        }
    }

    /// Estimated GFLOP of one update: forward and readout, plus the gradient of the form.
    pub fn gflop(self, n: usize, t: usize, b: usize) -> f64 {
        let (n, t, b, ni) = (n as f64, t as f64, b as f64, N_IN as f64);
        let fwd = 2.0 * t * b * n * (n + ni + N_OUT as f64);
        let grad = match self {
            // reverse sweep (w_rec^T products) + weight-gradient products
            Self::Bptt => 2.0 * t * b * n * n + 2.0 * t * b * n * (n + ni),
            Self::EpropFactorised => 2.0 * t * b * n * (n + ni),
            // per synapse and step: eps_a, e, ebar, accumulate (~10 flops)
            Self::EpropOnline => 10.0 * t * b * n * (n + ni),
        };
        (fwd + grad) / 1e9
    }
}

impl std::str::FromStr for SpikeForm {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self> {
        Self::from_name(name).ok_or_else(|| {
            let all: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
            Error::Input(format!(
                "--forms: unknown form '{name}' ({})",
                all.join(", ")
            ))
        })
    }
}

/// Estimated GFLOP of one update of the form a CSV row names (NaN for a name that is no form).
pub fn estimated_gflop(form: &str, n: usize, t: usize, b: usize) -> f64 {
    SpikeForm::from_name(form).map_or(f64::NAN, |f| f.gflop(n, t, b))
}

/// Estimated bytes of per-synapse trace traffic in one online e-prop update: every step reads and
/// writes `eps_a` and `ebar`, `B·N·(N + n_in)` floats each. The online form is bound by this
/// traffic, so its bytes/s is what a GPU's memory bandwidth is compared with.
pub fn online_trace_bytes(n: usize, t: usize, b: usize) -> f64 {
    16.0 * (t * b * n * (n + N_IN)) as f64
}

/// The target firing rate of the benchmarked networks' regulariser.
const RATE_TARGET: f64 = crate::spiking::DEFAULT_RATE_TARGET;

impl BenchKind for Spiking {
    /// Sparse binary input spikes (5 % per input and step), random targets, mask on.
    fn batch(b: usize, t: usize, seed: u64) -> Batch {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        Batch {
            inputs: Array3::from_shape_simple_fn((b, t, N_IN), || {
                (r.random::<f64>() < 0.05) as u8 as f64
            }),
            targets: Array3::from_shape_simple_fn((b, t, N_OUT), || r.random_range(-1.0..1.0)),
            mask: Array3::ones((b, t, N_OUT)),
            loss: LossKind::Mse,
        }
    }
    fn extra() -> f64 {
        RATE_TARGET
    }
}

/// One online e-prop update on the CPU: the reference's per-trial trace loop (forward, loss,
/// traces, Adam). The other forms are timed as the CPU backend trains ([`time_pack`]).
fn cpu_online_update(
    net: &mut spk::SpikingNet<f32>,
    adam: &mut SpikingAdam<f32>,
    d: &Prepared<f32>,
) {
    let tr = spk::forward(net, &d.x);
    let lo = spk::loss(&tr, d, LAMBDA as f32, RATE_TARGET as f32);
    let g = spk::grad_eprop_online(net, Rule::Eprop, d, &tr, &lo);
    adam.update(&mut net.p, &g);
}

/// Seconds per online e-prop update (the form the backend does not train with) and the pack's
/// device memory: the reference's trace loop on the CPU, an online pack on the GPU.
fn time_online(
    ctx: Option<&Arc<GpuContext>>,
    model: &SpikingModel,
    [b, t]: [usize; 2],
    repeats: usize,
) -> Result<Timed> {
    let batch = <Spiking as BenchKind>::batch(b, t, 0);
    let Some(ctx) = ctx else {
        let mut net = spk::SpikingNet::<f32>::new(model);
        let mut adam = SpikingAdam::new(&model.config, LR);
        let d = Prepared::<f32>::new(&batch);
        let seconds = time_repeats(repeats, || {
            cpu_online_update(&mut net, &mut adam, &d);
            Ok(())
        })?;
        return Ok(Timed {
            seconds,
            phases: None,
            device_bytes: None,
            trial_chunk: None,
        });
    };
    let mut e = SpikingEngine::new(
        ctx.clone(),
        &model.config,
        1,
        b,
        t,
        LossKind::Mse,
        EpropForm::Online,
    )?;
    e.set_networks(&[model])?;
    e.set_hyper(&[LAMBDA], &[LR], RATE_TARGET);
    let seconds = time_repeats(repeats, || {
        e.set_batches(&[&batch])?;
        e.update(Rule::Eprop).map(drop)
    })?;
    Ok(Timed {
        seconds,
        phases: None,
        device_bytes: Some(e.device_bytes()),
        trial_chunk: Some(b),
    })
}

pub fn run(spec: &SpikeBenchSpec, adapter: Option<&str>) -> Result<()> {
    if spec.grid.repeats == 0 || spec.b == 0 {
        return Err(Error::Input("--repeats and --b must be at least 1".into()));
    }
    let (forms, devices) = (&spec.forms, &spec.grid.devices);
    check_devices(devices)?;
    let ctx = if devices.contains(&Device::Gpu) {
        Some(Arc::new(GpuContext::new(adapter)?))
    } else {
        None
    };
    let mut rows = vec!["device,adapter,kind,form,n,b,t,seconds_per_update,gflop_estimate,device_bytes,note,trace_gb_per_second,forward_s,gradient_s,optimiser_s,phase_source".to_string()];
    println!(
        "{:<4} {:<5} {:<17} {:>5} {:>4} {:>5} {:>11} {:>9} {:>10} {:>13} {:>8} {:>8} {:>8}  note",
        "dev",
        "kind",
        "form",
        "N",
        "B",
        "T",
        "s/update",
        "GFLOP/s",
        "trace GB/s",
        "device bytes",
        "fwd s",
        "grad s",
        "opt s"
    );
    for &device in devices {
        let dev = device.name();
        let gpu = device == Device::Gpu;
        // This device's context: None on the CPU rows.
        let on = ctx.as_ref().filter(|_| gpu);
        let (budget, adapter_name) = match on {
            Some(c) => (spec.max_gflop_gpu, c.info.name.clone()),
            None => (
                spec.max_gflop_cpu,
                format!("{} threads", rayon::current_num_threads()),
            ),
        };
        for &kind in &spec.kinds {
            for &n in &spec.grid.n {
                for &t in &spec.grid.t {
                    for &form in forms {
                        let cfg = SpikingConfig::new(kind, N_IN, n, N_OUT);
                        cfg.validate()?;
                        let gflop = form.gflop(n, t, spec.b);
                        let online = form == SpikeForm::EpropOnline;
                        let mem =
                            SpikingEngine::memory_bytes(&cfg, 1, spec.b, t, LossKind::Mse, online);
                        // The backend splits a batch into chunks of trials down to one; an
                        // online pack takes the whole batch.
                        let fewest = if online { spec.b } else { 1 };
                        let least =
                            SpikingEngine::memory_bytes(&cfg, 1, fewest, t, LossKind::Mse, online);
                        let limit = on.map_or(u64::MAX, |c| c.max_binding_bytes());
                        let mut note = String::new();
                        if gflop > budget {
                            note = format!(
                                "skipped: ~{gflop:.0} GFLOP > --max-gflop {budget} for {dev}"
                            );
                        } else if least.largest > limit {
                            note = format!(
                                "skipped: a {} MiB buffer exceeds the {} MiB binding limit",
                                least.largest >> 20,
                                limit >> 20
                            );
                        }
                        let timed = if note.is_empty() {
                            let model = SpikingModel::init(cfg.clone(), 1)?;
                            let bt = [spec.b, t];
                            let repeats = spec.grid.repeats;
                            Some(if online {
                                time_online(on, &model, bt, repeats)?
                            } else {
                                time_pack::<Spiking>(on, &[model], bt, form.rule(), repeats)?
                            })
                        } else {
                            None
                        };
                        let secs = timed.as_ref().map(|x| x.seconds);
                        if let Some(c) = timed.as_ref().and_then(|x| x.trial_chunk)
                            && c < spec.b
                        {
                            note = format!("in chunks of {c} trials (the batch exceeds a binding)");
                        }
                        let phases = timed.as_ref().and_then(|x| x.phases);
                        // What the pack held where it ran, else what it would hold.
                        let held = timed.as_ref().and_then(|x| x.device_bytes);
                        let bytes = if gpu {
                            held.unwrap_or(mem.total).to_string()
                        } else {
                            "-".into()
                        };
                        let (s_txt, rate_txt) = match secs {
                            Some(s) => (format!("{s:.4}"), format!("{:.2}", gflop / s)),
                            None => ("-".into(), "-".into()),
                        };
                        // Trace bytes/s: online rows only (the other forms keep no traces).
                        let trace_gbs = secs
                            .filter(|_| online)
                            .map(|s| online_trace_bytes(n, t, spec.b) / 1e9 / s);
                        let tr_txt = trace_gbs
                            .map(|g| format!("{g:.2}"))
                            .unwrap_or_else(|| "-".into());
                        let form = form.name();
                        let [fwd, grad, opt] = phase_texts(phases);
                        println!(
                            "{dev:<4} {kind:<5} {form:<17} {n:>5} {:>4} {t:>5} {s_txt:>11} {rate_txt:>9} {tr_txt:>10} {bytes:>13} {fwd:>8} {grad:>8} {opt:>8}  {note}",
                            spec.b
                        );
                        rows.push(format!(
                            "{dev},{},{kind},{form},{n},{},{t},{},{gflop},{},{},{},{}",
                            adapter_name.replace(',', ";"),
                            spec.b,
                            secs.map(|s| s.to_string()).unwrap_or_default(),
                            if gpu { bytes.clone() } else { String::new() },
                            note.replace(',', ";"),
                            trace_gbs.map(|g| g.to_string()).unwrap_or_default(),
                            phase_cells(phases)
                        ));
                    }
                }
            }
        }
    }
    if let Some(p) = &spec.grid.csv {
        crate::io::write_atomic(p, (rows.join("\n") + "\n").as_bytes())?;
    }
    Ok(())
}
