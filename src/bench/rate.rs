//! `snnlab bench`: seconds per training update (forward + gradient + Adam, batch upload included)
//! of packs of M rate networks, per rule and device. Timing is synchronised (every update reads its
//! losses back), one warm-up update is excluded, and the median of the repeats is reported.
//!
//! `--peer` ([`run_with_peer`]) also times a PyTorch implementation of the same update
//! (`benches/peers/torch_rate.py`: SPEC §1 network, mse + lambda·mean(h²), autograd BPTT or the
//! stop-gradient e-prop form, torch.optim.Adam) for every CPU row, with the same N, B, T, rule,
//! repeats and thread count, and reports its seconds per network-update and the ratio
//! peer / snnlab. The Python used is the one given (the CLI: `$SNNLAB_PYTHON`, default `python3`); without Python or
//! PyTorch the peer is skipped with one line and the bench goes on.

use std::path::PathBuf;
use std::sync::Arc;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::peer::{cuda_available, peer_point, peer_probe};
use super::{BenchKind, Grid, check_devices, phase_cells, phase_texts, time_pack};
use crate::backend::Device;
use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::rate_engine::Rate;
use crate::model::{RateConfig, RateModel};
use crate::rules::Rule;

/// The grid of `snnlab bench`: every rule × N × B × T × M on every device.
pub struct BenchSpec {
    pub grid: Grid,
    /// Trials per batch.
    pub b: Vec<usize>,
    /// Networks trained together (one pack where they fit).
    pub m: Vec<usize>,
    pub rules: Vec<Rule>,
    /// An SVG of the cost of each rule against N and against T, when given.
    pub plot: Option<PathBuf>,
    /// Nominal peaks the achieved rates are reported against (GFLOP/s, GB/s); for known GPUs
    /// they default from [`nominal_gpu_peaks`].
    pub peak_gflops: Option<f64>,
    pub peak_gbps: Option<f64>,
    /// On a software GPU adapter (lavapipe: ~100× slower than the CPU backend), points above
    /// this many GFLOP per update are listed as skipped instead of run for hours.
    pub software_gpu_max_gflop: f64,
}

/// One grid point of the rate bench.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Point {
    pub n: usize,
    pub b: usize,
    pub t: usize,
    pub m: usize,
}

impl BenchKind for Rate {
    /// A reach-shaped random batch (3 inputs, 2 outputs, mask on).
    fn batch(b: usize, t: usize, seed: u64) -> Batch {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        Batch {
            inputs: Array3::from_shape_simple_fn((b, t, 3), || r.random_range(-1.0..1.0)),
            targets: Array3::from_shape_simple_fn((b, t, 2), || r.random_range(-1.0..1.0)),
            mask: Array3::ones((b, t, 2)),
            loss: LossKind::Mse,
        }
    }
    fn extra() {}
}

/// Estimated GFLOP of one rate-network update (the dominant products; elementwise work aside):
/// forward `2TBN(N + n_in + n_out)`, weight gradients `2TBN(N + n_in + n_out)`, and for rules
/// with a backward sweep through w_rec another `2TBN²` (BPTT at the paper's reach setting
/// N = 200, B = 100, T = 300: 7.3 GFLOP).
pub fn rate_update_gflop(rule: Rule, n: usize, b: usize, t: usize) -> f64 {
    let (n, b, t) = (n as f64, b as f64, t as f64);
    let dense = 2.0 * t * b * n * (n + 3.0 + 2.0);
    let sweep = if rule.is_eprop() {
        0.0
    } else {
        2.0 * t * b * n * n
    };
    (2.0 * dense + sweep) / 1e9
}

/// Estimated compulsory memory traffic of one rate-network update, bytes: the batch read once
/// (inputs, targets, mask), the trajectories written by the forward pass and read back by the
/// gradient (`ah`, `h`; BPTT also writes and reads `delta`), and Adam reading parameter,
/// gradient and both moments and writing three of them. Caches make the real traffic larger
/// only where the state does not fit them; this is the floor bytes/s is measured against.
pub fn rate_update_bytes(rule: Rule, n: usize, b: usize, t: usize) -> f64 {
    let (nf, bf, tf) = (n as f64, b as f64, t as f64);
    let (ni, no) = (3.0, 2.0);
    let batch = tf * bf * (ni + 2.0 * no);
    let traj = tf * bf * nf * if rule.is_eprop() { 4.0 } else { 6.0 };
    let params = nf * nf + nf * ni + nf * no + 2.0 * nf + no;
    4.0 * (batch + traj + 7.0 * params)
}

/// Nominal FP32 peak (GFLOP/s, non-tensor-core) and memory bandwidth (GB/s) of GPUs whose name
/// the adapter reports, from the vendors' data sheets; None for others (give --peak-gflops and
/// --peak-gbps).
pub fn nominal_gpu_peaks(adapter: &str) -> Option<(f64, f64)> {
    let a = adapter.to_lowercase();
    [
        ("h200", 66_900.0, 4_800.0),
        ("h100", 66_900.0, 3_350.0),
        ("a100", 19_500.0, 2_039.0),
        ("l40s", 91_600.0, 864.0),
        ("rtx 4090", 82_600.0, 1_008.0),
    ]
    .iter()
    .find(|(k, _, _)| a.contains(k))
    .map(|&(_, f, b)| (f, b))
}

pub fn run(spec: &BenchSpec, adapter: Option<&str>) -> Result<()> {
    run_with_peer(spec, adapter, None)
}

/// One measured row.
struct Row {
    dev: String,
    rule: String,
    p: Point,
    seconds: f64,
}

/// [`run`], plus the PyTorch peer (same N, B, T, rule, M, repeats and threads; cuda on gpu rows
/// when PyTorch sees one) when `peer`, the Python to run it with, is given (never fails because
/// of it).
pub fn run_with_peer(spec: &BenchSpec, adapter: Option<&str>, peer: Option<&str>) -> Result<()> {
    if spec.grid.repeats == 0 {
        return Err(Error::Input("--repeats must be at least 1".into()));
    }
    if [&spec.grid.n, &spec.b, &spec.grid.t, &spec.m]
        .iter()
        .any(|v| v.is_empty() || v.contains(&0))
    {
        return Err(Error::Input(
            "--n, --b, --t and --m need values of at least 1".into(),
        ));
    }
    check_devices(&spec.grid.devices)?;
    let threads = rayon::current_num_threads();
    let ready = if let Some(python) = peer {
        match peer_probe(python) {
            Ok(p) => {
                println!(
                    "peer: PyTorch {} ({} {}), {threads} threads on cpu rows",
                    p.torch,
                    p.python,
                    p.script.display()
                );
                Some(p)
            }
            Err(msg) => {
                println!("{msg}");
                None
            }
        }
    } else {
        None
    };
    let mut header = "device,adapter,rule,n,b,t,m,seconds_per_update,network_updates_per_second,gflop_per_update,gflop_per_second,pct_peak_flops,gb_per_second,pct_peak_bandwidth,device_bytes,forward_s,gradient_s,optimiser_s,phase_source".to_string();
    let mut title = format!(
        "{:<5} {:<6} {:>5} {:>4} {:>5} {:>3} {:>10} {:>9} {:>8} {:>6} {:>7} {:>11} {:>8} {:>8} {:>8}",
        "dev",
        "rule",
        "N",
        "B",
        "T",
        "M",
        "s/update",
        "net-upd/s",
        "GFLOP/s",
        "%peak",
        "GB/s",
        "dev bytes",
        "fwd s",
        "grad s",
        "opt s"
    );
    if peer.is_some() {
        header.push_str(",peer_seconds_per_network_update,peer_ratio");
        title.push_str(&format!(" {:>11} {:>12}", "torch s/net", "torch/snnlab"));
    }
    let mut csv = vec![header];
    let mut rows: Vec<Row> = Vec::new();
    println!("{title}");
    let mut cuda_skip_said = false;
    for &device in &spec.grid.devices {
        let dev = device.name();
        // GPU rows name the step-kernel implementation too ($SNNLAB_GPU_KERNELS compares them).
        let ctx = match device {
            Device::Gpu => Some(Arc::new(GpuContext::new(adapter)?)),
            _ => None,
        };
        let software = ctx.as_ref().is_some_and(|c| c.is_software());
        let adapter_name = match &ctx {
            Some(c) => format!(
                "{} [{:?} steps]",
                c.info.name,
                crate::gpu::kernels::StepKernels::for_adapter(c)?
            )
            .to_lowercase(),
            None => format!("{threads} threads"),
        };
        let peaks = match (spec.peak_gflops, spec.peak_gbps) {
            (Some(f), Some(b)) => Some((f, b)),
            (f, b) => {
                let known = if device == Device::Gpu {
                    nominal_gpu_peaks(&adapter_name)
                } else {
                    None
                };
                match (f.or(known.map(|k| k.0)), b.or(known.map(|k| k.1))) {
                    (Some(f), Some(b)) => Some((f, b)),
                    _ => None,
                }
            }
        };
        let peer_device = match (device, &ready) {
            (Device::Cpu, Some(_)) => Some("cpu"),
            (_, Some(p)) => {
                if cuda_available(p) {
                    Some("cuda")
                } else {
                    if !cuda_skip_said {
                        println!("peer skipped on gpu rows: PyTorch sees no CUDA device here");
                        cuda_skip_said = true;
                    }
                    None
                }
            }
            _ => None,
        };
        for &rule in &spec.rules {
            for &n in &spec.grid.n {
                for &b in &spec.b {
                    for &t in &spec.grid.t {
                        for &m in &spec.m {
                            let p = Point { n, b, t, m };
                            let gflop = m as f64 * rate_update_gflop(rule, n, b, t);
                            if software && gflop > spec.software_gpu_max_gflop {
                                println!(
                                    "{:<5} {:<6} {:>5} {:>4} {:>5} {:>3}   skipped: ~{gflop:.0} GFLOP on a software adapter (> --software-gpu-max-gflop {})",
                                    dev,
                                    rule.name(),
                                    n,
                                    b,
                                    t,
                                    m,
                                    spec.software_gpu_max_gflop
                                );
                                continue;
                            }
                            let cfg = RateConfig::new(3, n, 2);
                            let models: Vec<RateModel> = (0..m as u64)
                                .map(|s| RateModel::init(cfg.clone(), 1.0, s))
                                .collect::<Result<_>>()?;
                            let timed = time_pack::<Rate>(
                                ctx.as_ref(),
                                &models,
                                [b, t],
                                rule,
                                spec.grid.repeats,
                            )?;
                            let s = timed.seconds;
                            let [fwd, grad, opt] = phase_texts(timed.phases);
                            let gbs = m as f64 * rate_update_bytes(rule, n, b, t) / 1e9 / s;
                            let pct = |v: f64, peak: f64| 100.0 * v / peak;
                            let bytes = timed.device_bytes;
                            let mut line = format!(
                                "{:<5} {:<6} {:>5} {:>4} {:>5} {:>3} {:>10.4} {:>9.2} {:>8.1} {:>6} {:>7.1} {:>11} {:>8} {:>8} {:>8}",
                                dev,
                                rule.name(),
                                n,
                                b,
                                t,
                                m,
                                s,
                                m as f64 / s,
                                gflop / s,
                                peaks
                                    .map(|(f, _)| format!("{:.1}", pct(gflop / s, f)))
                                    .unwrap_or_else(|| "-".into()),
                                gbs,
                                bytes.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                                fwd,
                                grad,
                                opt
                            );
                            let opt_csv =
                                |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
                            let mut row = format!(
                                "{dev},{},{},{n},{b},{t},{m},{s},{},{gflop},{},{},{gbs},{},{},{}",
                                adapter_name.replace(',', ";"), // "llvmpipe (LLVM 15, 256 bits)"
                                rule.name(),
                                m as f64 / s,
                                gflop / s,
                                opt_csv(peaks.map(|(f, _)| pct(gflop / s, f))),
                                opt_csv(peaks.map(|(_, bw)| pct(gbs, bw))),
                                bytes.map(|b| b.to_string()).unwrap_or_default(),
                                phase_cells(timed.phases)
                            );
                            if peer.is_some() {
                                // The peer implements BPTT and symmetric e-prop.
                                let peer_rule = matches!(rule, Rule::Bptt | Rule::Eprop);
                                let got = match (&ready, peer_device) {
                                    (Some(pr), Some(pd)) if peer_rule => {
                                        let r = &rule.name();
                                        match peer_point(pr, p, spec.grid.repeats, r, threads, pd) {
                                            Ok(pl) => Some(pl.seconds_per_update),
                                            Err(e) => {
                                                eprintln!("peer failed for {r}, m = {m}: {e}");
                                                None
                                            }
                                        }
                                    }
                                    _ => None,
                                };
                                match got {
                                    Some(ps) => {
                                        let ratio = ps / (s / m as f64);
                                        line.push_str(&format!(" {ps:>11.4} {ratio:>12.2}"));
                                        row.push_str(&format!(",{ps},{ratio}"));
                                    }
                                    None => {
                                        line.push_str(&format!(" {:>11} {:>12}", "-", "-"));
                                        row.push_str(",,");
                                    }
                                }
                            }
                            println!("{line}");
                            csv.push(row);
                            rows.push(Row {
                                dev: dev.to_string(),
                                rule: rule.name(),
                                p,
                                seconds: s,
                            });
                        }
                    }
                }
            }
        }
    }
    if let Some(p) = &spec.grid.csv {
        crate::io::write_atomic(p, (csv.join("\n") + "\n").as_bytes())?;
    }
    if let Some(p) = &spec.plot {
        crate::io::write_atomic(p, cost_plot(&rows)?.as_bytes())?;
    }
    Ok(())
}

/// "The cost of a learning rule": seconds per network-update against N (at the first T, B, M
/// measured) and against T (at the first N, B, M), one line per device × rule, log-log; two
/// panels side by side in one SVG document.
fn cost_plot(rows: &[Row]) -> Result<String> {
    use crate::report::figures::{Figure, Line, Panel, Scale, palette};
    let Some(first) = rows.first() else {
        return Ok("<svg xmlns=\"http://www.w3.org/2000/svg\"/>".into());
    };
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in rows {
        let k = (r.dev.clone(), r.rule.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let chart = |x_of: &dyn Fn(&Point) -> usize,
                 same: &dyn Fn(&Point) -> bool,
                 title: &str,
                 x_label: &str| {
        let mut c = Panel::new(title, x_label, "seconds per network-update");
        (c.x_scale, c.y_scale) = (Scale::Log10, Scale::Log10);
        for (i, (dev, rule)) in keys.iter().enumerate() {
            let mut pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| &r.dev == dev && &r.rule == rule && same(&r.p))
                .map(|r| (x_of(&r.p) as f64, r.seconds / r.p.m as f64))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            pts.dedup_by(|a, b| a.0 == b.0);
            if !pts.is_empty() {
                let mut l = Line::new(pts, palette(i));
                l.dots = true;
                l.label = Some(format!("{dev} {rule}"));
                c.lines.push(l);
            }
        }
        c
    };
    let f = first.p;
    let by_n = chart(
        &|p| p.n,
        &|p| p.t == f.t && p.b == f.b && p.m == f.m,
        &format!("cost vs N (B = {}, T = {}, M = {})", f.b, f.t, f.m),
        "N (recurrent units)",
    );
    let by_t = chart(
        &|p| p.t,
        &|p| p.n == f.n && p.b == f.b && p.m == f.m,
        &format!("cost vs T (N = {}, B = {}, M = {})", f.n, f.b, f.m),
        "T (steps)",
    );
    crate::report::figures::svg(&Figure {
        name: "cost".into(),
        panels: vec![by_n, by_t],
        caption: String::new(),
    })
}
