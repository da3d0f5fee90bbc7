//! `snnlab bench-spiking`: seconds per training update and bytes of device memory of spiking
//! networks, for kind × form × N × T at batch B, on the CPU and the GPU engine. Forms: `bptt`,
//! `eprop-online` (per-synapse traces every step; on the CPU the reference's scalar loops) and
//! `eprop-factorised` (the backward recurrence per neuron plus one product per weight matrix).
//! Timing is synchronised (each update reads its losses back), one warm-up update is excluded and
//! the median of the repeats reported. Points whose estimated work exceeds the device's budget
//! (`--max-gflop`) or whose largest buffer exceeds one storage binding are listed as skipped, with
//! the reason, so the same grid runs on a laptop and on an H200.

use std::sync::Arc;
use std::time::Instant;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::Device;
use crate::batch::{Batch, LossKind};
use crate::bench::{Grid, check_devices, median};
use crate::error::{Error, Result};
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

    /// The GPU pack's form: online packs keep per-synapse traces, the others sweep back.
    pub fn engine_form(self) -> EpropForm {
        match self {
            Self::EpropOnline => EpropForm::Online,
            Self::Bptt | Self::EpropFactorised => EpropForm::Factorised,
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

fn random_batch(b: usize, t: usize, seed: u64) -> Batch {
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

/// One CPU update of the given form (forward, loss, gradient, Adam): BPTT and factorised e-prop
/// as the CPU backend trains (trial chunks on every thread); online e-prop by the reference's
/// per-trial trace loop (trial groups on every thread).
fn cpu_update(
    net: &mut spk::SpikingNet<f32>,
    adam: &mut SpikingAdam<f32>,
    form: SpikeForm,
    d: &Prepared<f32>,
) {
    let g = if form == SpikeForm::EpropOnline {
        let tr = spk::forward(net, &d.x);
        let lo = spk::loss(&tr, d, 0.1, 0.01);
        spk::grad_eprop_online(net, Rule::Eprop, d, &tr, &lo)
    } else {
        let mut out = crate::backend::spiking_gradients_cpu(
            &[&*net],
            form.rule(),
            |_| d.clone(),
            &[0.1],
            0.01,
        );
        out.pop().expect("one network").1
    };
    adam.update(&mut net.p, &g);
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
    let mut rows = vec!["device,adapter,kind,form,n,b,t,seconds_per_update,gflop_estimate,device_bytes,note,trace_gb_per_second".to_string()];
    println!(
        "{:<4} {:<5} {:<17} {:>5} {:>4} {:>5} {:>11} {:>9} {:>10} {:>13}  note",
        "dev", "kind", "form", "N", "B", "T", "s/update", "GFLOP/s", "trace GB/s", "device bytes"
    );
    for &device in devices {
        let dev = device.name();
        let gpu = device == Device::Gpu;
        let (budget, adapter_name) = if gpu {
            (
                spec.max_gflop_gpu,
                ctx.as_ref().expect("gpu context").info.name.clone(),
            )
        } else {
            (
                spec.max_gflop_cpu,
                format!("{} threads", rayon::current_num_threads()),
            )
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
                        let bytes = if gpu {
                            mem.total.to_string()
                        } else {
                            "-".into()
                        };
                        let mut note = String::new();
                        if gflop > budget {
                            note = format!(
                                "skipped: ~{gflop:.0} GFLOP > --max-gflop {budget} for {dev}"
                            );
                        } else if gpu && mem.largest > ctx.as_ref().unwrap().max_binding_bytes() {
                            note = format!(
                                "skipped: a {} MiB buffer exceeds the {} MiB binding limit",
                                mem.largest >> 20,
                                ctx.as_ref().unwrap().max_binding_bytes() >> 20
                            );
                        }
                        let secs = if note.is_empty() {
                            let model = SpikingModel::init(cfg.clone(), 1)?;
                            let batch = random_batch(spec.b, t, 2);
                            let mut times = Vec::new();
                            if !gpu {
                                let mut net = spk::SpikingNet::<f32>::new(&model);
                                let mut adam = SpikingAdam::new(&cfg, 1e-3);
                                let d = Prepared::<f32>::new(&batch);
                                for i in 0..=spec.grid.repeats {
                                    let t0 = Instant::now();
                                    cpu_update(&mut net, &mut adam, form, &d);
                                    if i > 0 {
                                        times.push(t0.elapsed().as_secs_f64());
                                    }
                                }
                            } else {
                                let mut e = SpikingEngine::new(
                                    ctx.clone().unwrap(),
                                    &cfg,
                                    1,
                                    spec.b,
                                    t,
                                    LossKind::Mse,
                                    form.engine_form(),
                                )?;
                                e.set_networks(&[&model])?;
                                e.set_batches(&[&batch])?;
                                e.set_hyper(&[0.1], &[1e-3], 0.01);
                                for i in 0..=spec.grid.repeats {
                                    let t0 = Instant::now();
                                    e.update(form.rule())?;
                                    if i > 0 {
                                        times.push(t0.elapsed().as_secs_f64());
                                    }
                                }
                            }
                            Some(median(times))
                        } else {
                            None
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
                        println!(
                            "{dev:<4} {kind:<5} {form:<17} {n:>5} {:>4} {t:>5} {s_txt:>11} {rate_txt:>9} {tr_txt:>10} {bytes:>13}  {note}",
                            spec.b
                        );
                        rows.push(format!(
                            "{dev},{},{kind},{form},{n},{},{t},{},{gflop},{},{},{}",
                            adapter_name.replace(',', ";"),
                            spec.b,
                            secs.map(|s| s.to_string()).unwrap_or_default(),
                            if gpu {
                                mem.total.to_string()
                            } else {
                                String::new()
                            },
                            note.replace(',', ";"),
                            trace_gbs.map(|g| g.to_string()).unwrap_or_default()
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
