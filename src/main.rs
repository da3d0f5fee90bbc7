//! The `snnlab` command line (SPEC §7): parse, dispatch to the command's module under `cli/`, and
//! map errors to exit codes. Every failure is one line on stderr naming the file, array or flag at
//! fault; exit status 2 for bad input, 1 for anything else.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use snnlab::error::Result;

mod cli;
use cli::{
    analyze, bench, devices, dsa, environment, evaluate, forward, grad, import, process,
    procrustes, reproduce, sweep, train,
};

// mimalloc keeps freed blocks for reuse: the CPU backends allocate trajectories of tens of MB every
// update, which glibc returns to the kernel and faults back in (measured: ~45 % of a spiking
// update spent in the kernel).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "snnlab",
    version,
    about = "Train rate and spiking RNNs with BPTT and e-prop on the GPU or CPU, and compare them with neural recordings"
)]
struct Cli {
    /// GPU adapter to use (substring of its name; overrides WGPU_ADAPTER_NAME).
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Memory budget: sizes read from files, configs and grids are refused past it before
    /// anything is allocated (e.g. 8G, 512M; default $SNNLAB_MAX_MEMORY, else 3/4 of the RAM).
    #[arg(long, global = true)]
    max_memory: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}
#[derive(Subcommand)]
enum Cmd {
    /// List the GPU adapters found and say which one is used.
    Devices,
    /// Run a model on a batch; write y and h (rate) or z, v, a (spiking) trajectories to an .npz.
    Forward(forward::Args),
    /// Gradient of a learning rule on a batch; write one array per parameter plus `loss`.
    Grad(grad::Args),
    /// Convert one checkpoint of the paper's released .npz files into a model file.
    ImportNpz(import::Args),
    /// Train networks on a task from a TOML config (see configs/).
    Train(train::Args),
    /// Seconds per training update of rate networks (and per phase), CPU and GPU, over a grid of
    /// rule × N × B × T × pack size M; FLOP/s and bytes/s against nominal peaks; CSV and a plot.
    Bench(bench::RateArgs),
    /// Seconds per update and device bytes of spiking networks: kind × form × N × T, cpu and gpu.
    BenchSpiking(bench::SpikingArgs),
    /// Dynamical similarity (SPEC §9) between two arrays [units, T, C]; prints a bare number.
    Dsa(dsa::Args),
    /// Shape distance (SPEC §5) between two activity arrays [units, T, C]; prints a bare number.
    Procrustes(procrustes::Args),
    /// Score a model on a task's analysis trials (accuracy, loss; distance to --data); JSON out.
    Evaluate(evaluate::EvaluateArgs),
    /// Write the activity `evaluate` compares with recordings (and the outputs y) to an .npz.
    Activity(evaluate::ActivityArgs),
    /// Score every checkpoint of training runs against neural data: RUN/analysis.csv, best checkpoint.
    Analyze(analyze::AnalyzeArgs),
    /// HTML report with plots (distance vs accuracy with baseline and floor, learning curves, PCA).
    Report(analyze::ReportArgs),
    /// Parameter sweeps: train every run of a grid (resumable, shardable, on Slurm), merge results.
    Sweep {
        #[command(subcommand)]
        cmd: sweep::Command,
    },
    /// The paper's reach comparison end to end: train BPTT and e-prop, analyse, write the report.
    Reproduce(reproduce::Args),
}

fn main() -> ExitCode {
    if process::cpu_lacks_build_features() {
        eprintln!(
            "snnlab: error: this CPU lacks AVX2/FMA, which this build targets (x86-64-v3, .cargo/config.toml); rebuild with RUSTFLAGS=\"-C target-cpu=x86-64\" cargo build --release"
        );
        return ExitCode::from(1);
    }
    process::restart_with_single_threaded_blas();
    process::quiet_wayland_probe();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(
                e.kind(),
                DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::from(if e.kind() == DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                });
            }
            let first = e.render().to_string();
            let first = first
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("snnlab: {first} (see snnlab --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snnlab: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    environment::apply(cli.max_memory.as_deref())?;
    let adapter_name = environment::adapter_name(cli.adapter);
    let adapter = adapter_name.as_deref();
    match cli.cmd {
        Cmd::Devices => devices::run(adapter),
        Cmd::Forward(a) => forward::run(a, adapter),
        Cmd::Grad(a) => grad::run(a, adapter),
        Cmd::ImportNpz(a) => import::run(a),
        Cmd::Train(a) => train::run(a, adapter),
        Cmd::Bench(a) => bench::run_rate(a, adapter),
        Cmd::BenchSpiking(a) => bench::run_spiking(a, adapter),
        Cmd::Dsa(a) => dsa::run(a),
        Cmd::Procrustes(a) => procrustes::run(a),
        Cmd::Evaluate(a) => evaluate::evaluate(a),
        Cmd::Activity(a) => evaluate::activity(a),
        Cmd::Analyze(a) => analyze::analyze(a),
        Cmd::Report(a) => analyze::report(a),
        Cmd::Sweep { cmd } => sweep::run(cmd, adapter),
        Cmd::Reproduce(a) => reproduce::run(a, adapter),
    }
}
