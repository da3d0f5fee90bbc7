//! `snnlab bench` and `snnlab bench-spiking`: seconds per training update over a grid of sizes,
//! CPU and GPU.

use std::path::{Path, PathBuf};

use snnlab::backend::Device;
use snnlab::bench::Grid;
use snnlab::bench::spiking::SpikeForm;
use snnlab::error::{Error, Result};
use snnlab::model::Kind;
use snnlab::rules::Rule;

use super::environment::env_value;
use super::values::{bench_device, spiking_kind};

#[derive(clap::Args)]
pub(crate) struct RateArgs {
    #[arg(long, value_delimiter = ',', default_value = "200")]
    n: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "100")]
    b: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "300")]
    t: Vec<usize>,
    /// Pack sizes (networks trained together).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    m: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "bptt,eprop")]
    rules: Vec<Rule>,
    #[arg(long, value_delimiter = ',', default_value = "cpu,gpu", value_parser = bench_device())]
    devices: Vec<Device>,
    /// Timed updates per point (after one warm-up update); the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Also write the table as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Also write an SVG of seconds per network-update against N and against T, per rule.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Nominal FP32 peak of the device, GFLOP/s (known GPUs default from their data sheets).
    #[arg(long)]
    peak_gflops: Option<f64>,
    /// Nominal memory bandwidth of the device, GB/s.
    #[arg(long)]
    peak_gbps: Option<f64>,
    /// On a software GPU adapter (lavapipe), skip points above this estimated work per update
    /// (the paper's reach update is 7.3 GFLOP and takes ~8 s there).
    #[arg(long, default_value_t = 10.0)]
    software_gpu_max_gflop: f64,
    /// Also time the PyTorch peer (benches/peers/torch_rate.py, Python from $SNNLAB_PYTHON or
    /// python3) with the same N, B, T, M, rule, repeats and threads: on cpu rows on the CPU,
    /// on gpu rows with CUDA when PyTorch has it; skipped with one line when it cannot run.
    #[arg(long)]
    peer: bool,
}

pub(crate) fn run_rate(a: RateArgs, adapter: Option<&str>) -> Result<()> {
    if let Some(c) = &a.csv {
        snnlab::io::check_output(c, "--csv", &[])?;
    }
    if let Some(p) = &a.plot {
        let others: Vec<(&str, &Path)> = a.csv.iter().map(|c| ("--csv", c.as_path())).collect();
        snnlab::io::check_output(p, "--plot", &others)?;
        if a.csv.as_deref() == Some(p.as_path()) {
            return Err(Error::Input(format!(
                "--plot {}: is also --csv; give two paths",
                p.display()
            )));
        }
    }
    let peer_python = a.peer.then(|| {
        env_value("SNNLAB_PYTHON").unwrap_or_else(|| snnlab::bench::DEFAULT_PEER_PYTHON.into())
    });
    let spec = snnlab::bench::BenchSpec {
        grid: Grid::new(a.n, a.t, a.devices, a.repeats, a.csv),
        b: a.b,
        m: a.m,
        rules: a.rules,
        plot: a.plot,
        peak_gflops: a.peak_gflops,
        peak_gbps: a.peak_gbps,
        software_gpu_max_gflop: a.software_gpu_max_gflop,
    };
    snnlab::bench::run_with_peer(&spec, adapter, peer_python.as_deref())
}

#[derive(clap::Args)]
pub(crate) struct SpikingArgs {
    #[arg(long, value_delimiter = ',', default_value = "lif,alif", value_parser = spiking_kind())]
    kinds: Vec<Kind>,
    /// bptt | eprop-online | eprop-factorised
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bptt,eprop-online,eprop-factorised"
    )]
    forms: Vec<SpikeForm>,
    #[arg(long, value_delimiter = ',', default_value = "128,512,2048")]
    n: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    t: Vec<usize>,
    #[arg(long, default_value_t = 64)]
    b: usize,
    #[arg(long, value_delimiter = ',', default_value = "cpu,gpu", value_parser = bench_device())]
    devices: Vec<Device>,
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Skip CPU points above this estimated work per update.
    #[arg(long, default_value_t = 200.0)]
    max_gflop_cpu: f64,
    /// Skip GPU points above this estimated work per update (raise it on a real GPU).
    #[arg(long, default_value_t = 5.0)]
    max_gflop_gpu: f64,
    #[arg(long)]
    csv: Option<PathBuf>,
}

pub(crate) fn run_spiking(a: SpikingArgs, adapter: Option<&str>) -> Result<()> {
    if let Some(c) = &a.csv {
        snnlab::io::check_output(c, "--csv", &[])?;
    }
    let b1 = [a.b];
    for (flag, values) in [("--t", &a.t[..]), ("--n", &a.n[..]), ("--b", &b1[..])] {
        if values.contains(&0) {
            return Err(Error::Input(format!(
                "{flag}: 0 steps or units; give at least 1"
            )));
        }
    }
    let spec = snnlab::bench::spiking::SpikeBenchSpec {
        kinds: a.kinds,
        forms: a.forms,
        grid: Grid::new(a.n, a.t, a.devices, a.repeats, a.csv),
        b: a.b,
        max_gflop_cpu: a.max_gflop_cpu,
        max_gflop_gpu: a.max_gflop_gpu,
    };
    snnlab::bench::spiking::run(&spec, adapter)
}
