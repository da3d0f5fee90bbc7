//! The `snnlab` command line (SPEC §7). Every failure is one line on stderr naming the file, array
//! or flag at fault; exit status 2 for bad input, 1 for anything else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use snnlab::backend::Device;
use snnlab::batch::LossKind;
use snnlab::error::{Error, Result};
use snnlab::evaluate::{AnalysisTask, Layout, TaskName};
use snnlab::gpu::kernels::StepKernels;
use snnlab::rules::Rule;

mod cli;
use cli::{GradOpts, cmd_forward, cmd_grad, devices};

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
    Forward {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        batch: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "auto")]
        device: Device,
    },
    /// Gradient of a learning rule on a batch; write one array per parameter plus `loss`.
    Grad {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        batch: PathBuf,
        /// bptt | eprop | eprop-random | tbptt:K | readout-fa
        #[arg(long)]
        rule: Rule,
        /// mse | ce
        #[arg(long)]
        loss: LossKind,
        #[arg(long, default_value_t = 0.0)]
        activity_l2: f64,
        /// Target firing rate per step of the spiking regulariser (spiking models only; default 0.01).
        #[arg(long)]
        rate_target: Option<f64>,
        /// Seed of the random feedback matrix when the model has none (eprop-random, readout-fa).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "auto")]
        device: Device,
    },
    /// Convert one checkpoint of the paper's released .npz files into a model file.
    ImportNpz {
        #[arg(long)]
        npz: PathBuf,
        /// Key prefix of the checkpoint, e.g. p508_
        #[arg(long)]
        prefix: String,
        #[arg(long, default_value = "rate")]
        kind: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Train networks on a task from a TOML config (see configs/).
    Train {
        config: PathBuf,
        /// Output directory (overrides the config's `out`).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum)]
        device: Option<Device>,
        /// Number of updates (overrides the config).
        #[arg(long)]
        updates: Option<usize>,
        /// Replace a run already in the output folder (kept until the new run's first
        /// checkpoint is written, and put back if it fails before).
        #[arg(long)]
        force: bool,
        /// No progress bar or log lines.
        #[arg(long)]
        quiet: bool,
    },
    /// Seconds per training update of rate networks (and per phase), CPU and GPU, over a grid of
    /// rule × N × B × T × pack size M; FLOP/s and bytes/s against nominal peaks; CSV and a plot.
    Bench {
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
        #[arg(long, value_delimiter = ',', default_value = "cpu,gpu")]
        devices: Vec<String>,
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
    },
    /// Seconds per update and device bytes of spiking networks: kind × form × N × T, cpu and gpu.
    BenchSpiking {
        #[arg(long, value_delimiter = ',', default_value = "lif,alif")]
        kinds: Vec<String>,
        /// bptt | eprop-online | eprop-factorised
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "bptt,eprop-online,eprop-factorised"
        )]
        forms: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "128,512,2048")]
        n: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        t: Vec<usize>,
        #[arg(long, default_value_t = 64)]
        b: usize,
        #[arg(long, value_delimiter = ',', default_value = "cpu,gpu")]
        devices: Vec<String>,
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
    },
    /// Dynamical similarity (SPEC §9) between two arrays [units, T, C]; prints a bare number.
    Dsa {
        #[arg(long, required_unless_present = "x_model", conflicts_with = "x_model")]
        x: Option<PathBuf>,
        #[arg(long, required_unless_present = "y_model", conflicts_with = "y_model")]
        y: Option<PathBuf>,
        /// A network instead of --x: its activity on the task's analysis trials (model vs model).
        #[arg(long)]
        x_model: Option<PathBuf>,
        /// A network instead of --y.
        #[arg(long)]
        y_model: Option<PathBuf>,
        /// The task the models run (default: the one their checkpoint records).
        #[command(flatten)]
        task: TaskChoice,
        /// Spiking models: time constant (ms) of the spike filter (default: the run's, else 20).
        #[arg(long)]
        tau_filter_ms: Option<f64>,
        /// Axis order of --x: a permutation of N (units), T (time bins), C (conditions).
        #[arg(long, default_value = "NTC")]
        x_layout: String,
        /// Axis order of --y.
        #[arg(long, default_value = "NTC")]
        y_layout: String,
        #[arg(long, default_value_t = 1)]
        n_delays: usize,
        #[arg(long, default_value_t = 1)]
        delay_interval: usize,
        /// Temporal modes kept (default: all).
        #[arg(long)]
        rank: Option<usize>,
        /// Project each array onto its top P principal components first.
        #[arg(long)]
        pca: Option<usize>,
        #[arg(long, default_value_t = 0.0)]
        ridge: f64,
        /// angular (radians) | euclidean | wasserstein
        #[arg(long, default_value = "angular")]
        score: String,
        /// Most steps of the orthogonal search per start.
        #[arg(long, default_value_t = 1500)]
        iters: usize,
        /// JSON with the scores, eigenvalues and settings.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Shape distance (SPEC §5) between two activity arrays [units, T, C]; prints a bare number.
    Procrustes {
        #[arg(long)]
        x: PathBuf,
        #[arg(long)]
        y: PathBuf,
        /// angular (in [0, 1]) | euclidean (the shape metric at --alpha), or one of
        /// procrustes | shape:ALPHA[:euclidean] | cka | cka-angular | cca | dsa
        #[arg(long, default_value = "angular")]
        metric: String,
        /// Partial whitening: 1 = Procrustes, 0 = CCA-like.
        #[arg(long, default_value_t = 1.0)]
        alpha: f64,
        /// Axis order of --x: a permutation of N (units), T (bins), C (conditions).
        #[arg(long, default_value = "NTC")]
        x_layout: Layout,
        /// Axis order of --y.
        #[arg(long, default_value = "NTC")]
        y_layout: Layout,
    },
    /// Score a model on a task's analysis trials (accuracy, loss; distance to --data); JSON out.
    Evaluate {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        task: TaskChoice,
        /// Neural data [neurons, T, C] (.npy, .npz[:array], .mat[:variable]).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Axis order of --data: a permutation of N (neurons), T (bins), C (conditions).
        #[arg(long, default_value = "NTC")]
        data_layout: Layout,
        #[arg(long)]
        out: PathBuf,
        /// Spiking models: time constant (ms) of the filter turning spikes into rates (default:
        /// the run's, else 20).
        #[arg(long)]
        tau_filter_ms: Option<f64>,
    },
    /// Write the activity `evaluate` compares with recordings (and the outputs y) to an .npz.
    Activity {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        task: TaskChoice,
        /// Axis order of `activity`: a permutation of N (units), T (bins), C (conditions).
        #[arg(long, default_value = "NTC")]
        layout: Layout,
        #[arg(long)]
        out: PathBuf,
        /// Spiking models: time constant (ms) of the filter turning spikes into rates (default:
        /// the run's, else 20).
        #[arg(long)]
        tau_filter_ms: Option<f64>,
    },
    /// Score every checkpoint of training runs against neural data: RUN/analysis.csv, best checkpoint.
    Analyze {
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long)]
        data: PathBuf,
        /// Accuracy levels of the matched-accuracy table printed at the end (comma-separated).
        #[arg(long, default_value = "0.5,0.8,0.9,0.95", allow_hyphen_values = true)]
        levels: String,
        /// The closest checkpoint is chosen among checkpoints at or above this accuracy.
        #[arg(long, default_value_t = snnlab::sweep::DEFAULT_MIN_ACCURACY, allow_hyphen_values = true)]
        min_accuracy: f64,
        /// Axis order of --data: a permutation of N (neurons), T (bins), C (conditions).
        #[arg(long, default_value = "NTC")]
        data_layout: Layout,
        /// Metrics to score with (comma-separated or repeated): procrustes, shape:ALPHA[:euclidean],
        /// cka, cka-angular, cca, dsa, or their output names; default procrustes.
        #[arg(long = "metric")]
        metrics: Vec<String>,
    },
    /// HTML report with plots (distance vs accuracy with baseline and floor, learning curves, PCA).
    Report {
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long)]
        data: PathBuf,
        /// Axis order of --data.
        #[arg(long, default_value = "NTC")]
        data_layout: Layout,
        #[arg(long)]
        out: PathBuf,
        /// Accuracy levels of the matched-accuracy table (also written as matched.csv beside OUT).
        #[arg(long, default_value = "0.5,0.8,0.9,0.95", allow_hyphen_values = true)]
        levels: String,
        /// The closest checkpoint is chosen among checkpoints at or above this accuracy.
        #[arg(long, default_value_t = snnlab::sweep::DEFAULT_MIN_ACCURACY, allow_hyphen_values = true)]
        min_accuracy: f64,
        /// Metrics to score with (comma-separated or repeated): procrustes, shape:ALPHA[:euclidean],
        /// cka, cka-angular, cca, dsa, or their output names; default procrustes; the
        /// plots show the first.
        #[arg(long = "metric")]
        metrics: Vec<String>,
    },
    /// Parameter sweeps: train every run of a grid (resumable, shardable, on Slurm), merge results.
    Sweep {
        #[command(subcommand)]
        cmd: SweepCmd,
    },
    /// The paper's reach comparison end to end: train BPTT and e-prop, analyse, write the report.
    Reproduce {
        /// The paper's settings: three runs (BPTT lr 1e-3 and 3e-4, e-prop 3e-4), 3 seeds of snnlab's
        /// own initialisation (default: BPTT and e-prop from the paper's released initial network).
        #[arg(long)]
        full: bool,
        #[arg(long, default_value = "runs/reproduce")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "auto")]
        device: Device,
        /// Updates per run (default 1000, the paper's schedule).
        #[arg(long)]
        updates: Option<usize>,
        /// Neural data (default: the bundled Hatsopoulos 2007 firing rates).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        quiet: bool,
    },
}

/// Which analysis trials: a built-in task, a train config's task, or (neither given) the task a
/// checkpoint's metadata records.
#[derive(clap::Args)]
struct TaskChoice {
    #[arg(long, value_enum, conflicts_with = "config")]
    task: Option<TaskName>,
    /// A train config (TOML) whose task to use, e.g. a file task.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl TaskChoice {
    /// The analysis trials, and the run's config when one is known.
    fn resolve(&self, model: &Path) -> Result<(AnalysisTask, Option<snnlab::train::TrainConfig>)> {
        if let Some(t) = self.task {
            return Ok((AnalysisTask::load(t)?, None));
        }
        let cfg = match &self.config {
            Some(p) => snnlab::train::TrainConfig::load(p)?,
            None => snnlab::train::TrainConfig::from_checkpoint(model)?.ok_or_else(|| {
                Error::Input(format!(
                    "{}: the checkpoint does not record its task; give --task or --config",
                    model.display()
                ))
            })?,
        };
        Ok((AnalysisTask::for_config(&cfg)?, Some(cfg)))
    }
}

/// The spike filter: the flag, else the run's, else 20 ms.
fn tau_filter(flag: Option<f64>, cfg: &Option<snnlab::train::TrainConfig>) -> f64 {
    flag.unwrap_or_else(|| {
        cfg.as_ref()
            .map_or(20.0, |c| c.spiking_settings().tau_filter_ms)
    })
}

#[derive(clap::Args)]
struct SweepTarget {
    /// Sweep file (TOML: base config + [grid] / [zip] axes; see configs/sweeps/).
    config: PathBuf,
    /// Results directory (overrides the sweep file's `results`).
    #[arg(long)]
    results: Option<PathBuf>,
}

#[derive(Subcommand)]
enum SweepCmd {
    /// Train and analyse every run not complete yet (of this shard).
    Run {
        #[command(flatten)]
        target: SweepTarget,
        /// I/N: take every N-th run from the I-th; default from SLURM_ARRAY_TASK_ID/COUNT, else all.
        #[arg(long)]
        shard: Option<String>,
        #[arg(long, value_enum)]
        device: Option<Device>,
        #[arg(long)]
        quiet: bool,
    },
    /// Write an sbatch job-array script for the sweep and submit it; prints the job id.
    Submit {
        #[command(flatten)]
        target: SweepTarget,
        #[arg(long)]
        partition: Option<String>,
        /// Time limit per array task (Slurm format).
        #[arg(long, default_value = "04:00:00")]
        time: String,
        #[arg(long, default_value_t = 0)]
        gpus_per_task: usize,
        #[arg(long, default_value_t = 2)]
        cpus_per_task: usize,
        /// Runs per array task (the array has ceil(runs / this) tasks).
        #[arg(long, default_value_t = 8)]
        runs_per_task: usize,
        /// Only write the script.
        #[arg(long)]
        dry_run: bool,
    },
    /// Done / running / failed / diverged / pending counts, and the sweep's Slurm jobs.
    Status {
        #[command(flatten)]
        target: SweepTarget,
    },
    /// One CSV row per (run, checkpoint) with every axis value, and a sweep report.
    Merge {
        #[command(flatten)]
        target: SweepTarget,
        /// CSV path (default RESULTS/merged.csv).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Report path (default RESULTS/report.html).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Accuracy levels of matched.csv, attribution.csv and paired.csv (comma-separated).
        #[arg(long, default_value = "0.5,0.8,0.9,0.95", allow_hyphen_values = true)]
        levels: String,
        /// The axis of paired.csv (default: `rule`, when it is an axis).
        #[arg(long)]
        compare: Option<String>,
        /// The report's closest checkpoint is chosen among checkpoints at or above this accuracy.
        #[arg(long, default_value_t = snnlab::sweep::DEFAULT_MIN_ACCURACY, allow_hyphen_values = true)]
        min_accuracy: f64,
        /// Metrics to score with (comma-separated or repeated): procrustes, shape:ALPHA[:euclidean],
        /// cka, cka-angular, cca, dsa, or their output names; default procrustes; metrics a
        /// run's analysis.csv lacks are scored from its checkpoints.
        #[arg(long = "metric")]
        metrics: Vec<String>,
    },
}

fn load_sweep(t: &SweepTarget) -> Result<snnlab::sweep::Sweep> {
    let mut s = snnlab::sweep::Sweep::load(&t.config)?;
    if let Some(r) = &t.results {
        s.results = r.clone();
    }
    Ok(s)
}

fn cmd_sweep(cmd: SweepCmd, adapter: Option<&str>) -> Result<()> {
    use snnlab::sweep;
    match cmd {
        SweepCmd::Run {
            target,
            shard,
            device,
            quiet,
        } => {
            let mut s = load_sweep(&target)?;
            if let Some(d) = device {
                s.runs.set_device(d);
            }
            let shard = match shard {
                Some(x) => sweep::Shard::parse(&x)?,
                None => sweep::Shard::from_slurm_env()?.unwrap_or(sweep::Shard::ALL),
            };
            let rep = sweep::run(&s, &sweep::RunOptions { shard, quiet }, adapter)?;
            if rep.failed > 0 {
                return Err(Error::Runtime(format!(
                    "{} run(s) failed; see {}",
                    rep.failed,
                    s.results.join("failed").display()
                )));
            }
            Ok(())
        }
        SweepCmd::Submit {
            target,
            partition,
            time,
            gpus_per_task,
            cpus_per_task,
            runs_per_task,
            dry_run,
        } => {
            let s = load_sweep(&target)?;
            let o = sweep::SubmitOptions {
                partition,
                time,
                gpus_per_task,
                cpus_per_task,
                runs_per_task,
                dry_run,
            };
            let (path, tasks, id) = sweep::submit(&s, &o)?;
            match id {
                Some(id) => println!(
                    "submitted job {id}: {tasks} array task(s) for {} runs; script {}",
                    s.runs.len(),
                    path.display()
                ),
                None => println!(
                    "wrote {} ({tasks} array task(s) for {} runs); not submitted (--dry-run)",
                    path.display(),
                    s.runs.len()
                ),
            }
            Ok(())
        }
        SweepCmd::Status { target } => {
            let s = load_sweep(&target)?;
            let st = sweep::status(&s);
            println!(
                "sweep {}: {} runs | done {} | diverged {} | failed {} | running {} | stale {} | pending {}",
                s.name, st.total, st.done, st.diverged, st.failed, st.running, st.stale, st.pending
            );
            if let Some(jobs) = sweep::slurm_jobs(&s) {
                for (id, counts) in jobs {
                    let c: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    println!(
                        "slurm job {id}: {}",
                        if c.is_empty() {
                            "no tasks in the queue".into()
                        } else {
                            c.join(", ")
                        }
                    );
                }
            }
            Ok(())
        }
        SweepCmd::Merge {
            target,
            out,
            report,
            levels,
            compare,
            min_accuracy,
            metrics,
        } => {
            let metrics = snnlab::metric::Metric::parse_flags(&metrics)?;
            let s = load_sweep(&target)?;
            let mut inputs = vec![("the sweep file", target.config.as_path())];
            inputs.extend(s.data.as_deref().map(|d| ("the sweep's data", d)));
            for (flag, o) in [("--out", &out), ("--report", &report)] {
                if let Some(o) = o {
                    snnlab::io::check_output(o, flag, &inputs)?;
                }
            }
            let opts = sweep::MergeOptions {
                levels: snnlab::stats::parse_levels(&levels).map_err(Error::Input)?,
                compare,
                min_accuracy,
                metrics,
            };
            let m = sweep::merge(&s, out.as_deref(), report.as_deref(), &opts)?;
            if m.runs == 0 {
                println!(
                    "nothing to merge yet: none of the {} runs is complete (train them with `snnlab sweep run {}`); wrote empty tables",
                    s.runs.len(),
                    s.path.display()
                );
            }
            println!(
                "{} rows from {} of {} runs ({} missing): {}; matched {}; attribution {}{}; report {}",
                m.rows,
                m.runs,
                s.runs.len(),
                m.missing,
                m.csv.display(),
                m.matched.display(),
                m.attribution.display(),
                m.paired
                    .as_ref()
                    .map(|p| format!("; paired {}", p.display()))
                    .unwrap_or_default(),
                m.report.display()
            );
            Ok(())
        }
    }
}

// mimalloc keeps freed blocks for reuse: the CPU backends allocate trajectories of tens of MB every
// update, which glibc returns to the kernel and faults back in (measured: ~45 % of a spiking
// update spent in the kernel).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Does this CPU run the instructions the build was compiled for? `.cargo/config.toml` builds for
/// x86-64-v3 (AVX2 + FMA); on an older CPU the binary would die of SIGILL at its first vector
/// loop. Asked through CPUID directly: `is_x86_feature_detected!` answers "yes" at compile time
/// for features the build enables.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
fn cpu_lacks_build_features() -> bool {
    use std::arch::x86_64::__cpuid_count;
    // CPUID exists on every x86_64 CPU (a safe intrinsic); leaf 7 only where leaf 0 says so.
    if __cpuid_count(0, 0).eax < 7 {
        return true;
    }
    let (l1, l7) = (__cpuid_count(1, 0), __cpuid_count(7, 0));
    let fma = l1.ecx & (1 << 12) != 0;
    let avx2 = l7.ebx & (1 << 5) != 0;
    !(fma && avx2)
}
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
fn cpu_lacks_build_features() -> bool {
    false
}

fn main() -> ExitCode {
    if cpu_lacks_build_features() {
        eprintln!(
            "snnlab: error: this CPU lacks AVX2/FMA, which this build targets (x86-64-v3, .cargo/config.toml); rebuild with RUSTFLAGS=\"-C target-cpu=x86-64\" cargo build --release"
        );
        return ExitCode::from(1);
    }
    // OpenBLAS sizes its thread pool from OPENBLAS_NUM_THREADS when the library loads, before
    // main. The CPU backends call it from one rayon worker per core, so its own threads only
    // oversubscribe the cores; turning them off at run time (backend.rs) still leaves the pool's
    // per-call overhead (BPTT update 0.084 s vs 0.079 s started with the variable set), so the
    // binary restarts itself once with the variable set unless the user chose a value.
    #[cfg(unix)]
    if std::env::var_os("OPENBLAS_NUM_THREADS").is_none() {
        use std::os::unix::process::CommandExt;
        if let Ok(me) = std::env::current_exe() {
            let err = std::process::Command::new(me)
                .args(std::env::args_os().skip(1))
                .env("OPENBLAS_NUM_THREADS", "1")
                .exec();
            eprintln!(
                "snnlab: note: could not restart with OPENBLAS_NUM_THREADS=1 ({err}); going on"
            );
        }
    }
    // Headless machines (clusters, CI): Mesa's Vulkan drivers probe Wayland at start-up, and
    // libwayland prints "error: XDG_RUNTIME_DIR is invalid or not set" to stderr for each probe.
    // Pointing it at the temp directory (where no compositor socket exists) makes the probe fail
    // quietly. Done first, before any thread exists, which is what makes set_var sound.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: single-threaded here; nothing reads the environment concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
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

/// The memory budget: `--max-memory`, else `SNNLAB_MAX_MEMORY`, else a fraction of the RAM
/// (none where /proc/meminfo cannot be read). Read here once; the library is handed the number.
fn max_memory(flag: Option<&str>) -> Result<u64> {
    use snnlab::io::budget;
    if let Some(f) = flag {
        return budget::parse_size(f).map_err(|e| Error::Input(format!("--max-memory: {e}")));
    }
    match std::env::var("SNNLAB_MAX_MEMORY") {
        Ok(v) if !v.is_empty() => {
            budget::parse_size(&v).map_err(|e| Error::Input(format!("SNNLAB_MAX_MEMORY: {e}")))
        }
        _ => Ok(budget::default_max_memory().unwrap_or(u64::MAX)),
    }
}

/// A set, non-empty environment variable.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The settings the environment gives the library (documented in the README), read here once:
/// nothing below the CLI reads the environment.
fn apply_environment() -> Result<()> {
    snnlab::tasks::set_data_dir(env_value("SNNLAB_DATA").map(PathBuf::from));
    if std::env::var_os("SNNLAB_NO_SIMD").is_some() {
        snnlab::linalg::packed::disable_simd();
    }
    let kernels = match env_value("SNNLAB_GPU_KERNELS") {
        None => None,
        Some(v) => Some(StepKernels::from_name(&v).ok_or_else(|| {
            Error::Input(format!(
                "SNNLAB_GPU_KERNELS = '{v}': expected simple or tiled"
            ))
        })?),
    };
    StepKernels::set_choice(kernels);
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    snnlab::io::budget::set_max_memory(max_memory(cli.max_memory.as_deref())?);
    apply_environment()?;
    let adapter_name = cli
        .adapter
        .clone()
        .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok());
    let adapter = adapter_name.as_deref();
    match cli.cmd {
        Cmd::Devices => devices(adapter),
        Cmd::Forward {
            model,
            batch,
            out,
            device,
        } => {
            let inputs = [("--model", model.as_path()), ("--batch", batch.as_path())];
            snnlab::io::check_output(&out, "--out", &inputs)?;
            cmd_forward(&model, &batch, &out, device, adapter)
        }
        Cmd::Grad {
            model,
            batch,
            rule,
            loss,
            activity_l2,
            rate_target,
            seed,
            out,
            device,
        } => {
            let inputs = [("--model", model.as_path()), ("--batch", batch.as_path())];
            snnlab::io::check_output(&out, "--out", &inputs)?;
            if !activity_l2.is_finite() || activity_l2 < 0.0 {
                return Err(Error::Input(format!(
                    "--activity-l2: {activity_l2} must be a finite number >= 0"
                )));
            }
            if let Some(r) = rate_target.filter(|r| !(r.is_finite() && *r >= 0.0)) {
                return Err(Error::Input(format!(
                    "--rate-target: {r} must be a finite number >= 0"
                )));
            }
            let opts = GradOpts {
                rule,
                loss,
                lambda: activity_l2,
                rate_target,
                seed,
            };
            cmd_grad(&model, &batch, &opts, &out, device, adapter)
        }
        Cmd::ImportNpz {
            npz,
            prefix,
            kind,
            out,
        } => {
            if kind != "rate" {
                return Err(Error::Input(format!(
                    "--kind: the paper's checkpoints are rate networks; '{kind}' is not supported"
                )));
            }
            snnlab::io::check_output(&out, "--out", &[("--npz", npz.as_path())])?;
            let m = snnlab::io::import_paper_npz(&npz, &prefix)?;
            snnlab::io::save_model(&out, &m)?;
            println!(
                "{}: rate network n_in {} n_rec {} n_out {}",
                out.display(),
                m.config.n_in,
                m.config.n_rec,
                m.config.n_out
            );
            Ok(())
        }
        Cmd::Train {
            config,
            out,
            device,
            updates,
            force,
            quiet,
        } => {
            let mut cfg = snnlab::train::TrainConfig::load(&config)?;
            if let Some(o) = out {
                cfg.out = o;
            }
            if let Some(d) = device {
                cfg.device = d;
            }
            if let Some(u) = updates {
                cfg.updates = u;
            }
            let t0 = std::time::Instant::now();
            let res = snnlab::train::train_into(&cfg, adapter, quiet, force)?;
            for r in &res {
                println!(
                    "seed {}: final loss {:.5}, eval error {:.5}",
                    r.seed, r.final_loss, r.final_eval_error
                );
            }
            println!(
                "trained {} network(s) in {:.1} s; results in {}",
                res.len(),
                t0.elapsed().as_secs_f64(),
                cfg.out.display()
            );
            Ok(())
        }
        Cmd::Bench {
            n,
            b,
            t,
            m,
            rules,
            devices,
            repeats,
            csv,
            plot,
            peak_gflops,
            peak_gbps,
            software_gpu_max_gflop,
            peer,
        } => {
            if let Some(c) = &csv {
                snnlab::io::check_output(c, "--csv", &[])?;
            }
            if let Some(p) = &plot {
                let others: Vec<(&str, &Path)> =
                    csv.iter().map(|c| ("--csv", c.as_path())).collect();
                snnlab::io::check_output(p, "--plot", &others)?;
                if csv.as_deref() == Some(p.as_path()) {
                    return Err(Error::Input(format!(
                        "--plot {}: is also --csv; give two paths",
                        p.display()
                    )));
                }
            }
            snnlab::bench::run_with_peer(
                &snnlab::bench::BenchSpec {
                    n,
                    b,
                    t,
                    m,
                    rules,
                    devices,
                    repeats,
                    csv,
                    plot,
                    peak_gflops,
                    peak_gbps,
                    software_gpu_max_gflop,
                },
                adapter,
                peer.then(|| {
                    env_value("SNNLAB_PYTHON")
                        .unwrap_or_else(|| snnlab::bench::DEFAULT_PEER_PYTHON.into())
                })
                .as_deref(),
            )
        }
        Cmd::BenchSpiking {
            kinds,
            forms,
            n,
            t,
            b,
            devices,
            repeats,
            max_gflop_cpu,
            max_gflop_gpu,
            csv,
        } => {
            if let Some(c) = &csv {
                snnlab::io::check_output(c, "--csv", &[])?;
            }
            let b1 = [b];
            for (flag, values) in [("--t", &t[..]), ("--n", &n[..]), ("--b", &b1[..])] {
                if values.contains(&0) {
                    return Err(Error::Input(format!(
                        "{flag}: 0 steps or units; give at least 1"
                    )));
                }
            }
            snnlab::bench_spiking::run(
                &snnlab::bench_spiking::SpikeBenchSpec {
                    kinds,
                    forms,
                    n,
                    t,
                    b,
                    devices,
                    repeats,
                    max_gflop_cpu,
                    max_gflop_gpu,
                    csv,
                },
                adapter,
            )
        }
        Cmd::Procrustes {
            x,
            y,
            metric,
            alpha,
            x_layout,
            y_layout,
        } => {
            // angular | euclidean: the shape metric at --alpha (SPEC §7); else a family id.
            let family: snnlab::metric::Metric = match metric.as_str() {
                "angular" | "euclidean" => snnlab::metric::Metric::Shape {
                    alpha,
                    score: metric.parse()?,
                },
                other => other.parse()?,
            };
            if !(0.0..=1.0).contains(&alpha) {
                return Err(Error::Input(format!("--alpha: {alpha} is not in [0, 1]")));
            }
            let xa = x_layout.to_ntc(snnlab::neural::load_neural(&x)?);
            let ya = y_layout.to_ntc(snnlab::neural::load_neural(&y)?);
            let (_, tx, cx) = xa.dim();
            let (_, ty, cy) = ya.dim();
            if (tx, cx) != (ty, cy) {
                return Err(Error::Input(format!(
                    "{}: read as {y_layout} it has T = {ty}, C = {cy} but {} (read as {x_layout}) has T = {tx}, C = {cx}",
                    y.display(),
                    x.display()
                )));
            }
            println!("{}", family.score(xa.view(), ya.view())?);
            Ok(())
        }
        Cmd::Dsa {
            x,
            y,
            x_model,
            y_model,
            task,
            tau_filter_ms,
            x_layout,
            y_layout,
            n_delays,
            delay_interval,
            rank,
            pca,
            ridge,
            score,
            iters,
            out,
        } => {
            let settings = snnlab::dsa::DmdSettings {
                n_delays,
                delay_interval,
                rank,
                pca,
                ridge,
            };
            let score = score.parse()?;
            // An array as stored, or a network's activity on its task's analysis trials.
            let side = |array: Option<PathBuf>,
                        model: Option<PathBuf>,
                        layout: &str,
                        flag: &str|
             -> Result<(ndarray::Array3<f64>, PathBuf)> {
                match (array, model) {
                    (Some(a), _) => Ok((snnlab::dsa::load_layout(&a, layout, flag)?, a)),
                    (None, Some(m)) => {
                        let net = snnlab::io::load_any_model(&m)?;
                        let (t, cfg) = task.resolve(&m)?;
                        let run = snnlab::evaluate::run_any_full(
                            &t,
                            &net,
                            tau_filter(tau_filter_ms, &cfg),
                        )?;
                        Ok((run.activity, m))
                    }
                    (None, None) => Err(Error::Input(format!(
                        "give {} or {}-model",
                        &flag[..3],
                        &flag[..3]
                    ))),
                }
            };
            let (xa, x) = side(x, x_model, &x_layout, "--x-layout")?;
            let (ya, y) = side(y, y_model, &y_layout, "--y-layout")?;
            let report = snnlab::dsa::command(&xa, &x, &ya, &y, &settings, score, iters)?;
            if let Some(out) = out {
                let json = serde_json::to_string_pretty(&report)
                    .map_err(|e| Error::Runtime(e.to_string()))?;
                snnlab::io::write_atomic(&out, json.as_bytes())?;
            }
            println!("{}", report.result.score);
            Ok(())
        }
        Cmd::Evaluate {
            model,
            task,
            data,
            data_layout,
            out,
            tau_filter_ms,
        } => {
            let data_file = data.as_deref().map(|d| snnlab::neural::split_spec(d).0);
            let mut inputs = vec![("--model", model.as_path())];
            inputs.extend(data_file.as_deref().map(|d| ("--data", d)));
            snnlab::io::check_output(&out, "--out", &inputs)?;
            let m = snnlab::io::load_any_model(&model)?;
            let (t, cfg) = task.resolve(&model)?;
            let d = data
                .as_deref()
                .map(|p| snnlab::evaluate::load_data_in(p, &t, data_layout))
                .transpose()?;
            let e = snnlab::evaluate::evaluate_any(
                &t,
                &m,
                d.as_ref(),
                tau_filter(tau_filter_ms, &cfg),
            )?;
            let json =
                serde_json::to_string_pretty(&e).map_err(|e| Error::Runtime(e.to_string()))?;
            snnlab::io::write_atomic(&out, json.as_bytes())?;
            println!("{json}");
            Ok(())
        }
        Cmd::Activity {
            model,
            task,
            layout,
            out,
            tau_filter_ms,
        } => {
            let m = snnlab::io::load_any_model(&model)?;
            let (t, cfg) = task.resolve(&model)?;
            let r = snnlab::evaluate::run_any_full(&t, &m, tau_filter(tau_filter_ms, &cfg))?;
            let activity = layout.from_ntc(r.activity);
            let summary = format!(
                "{}: activity {:?} ({layout}), y {:?}",
                out.display(),
                activity.shape(),
                r.y.shape()
            );
            snnlab::io::write_npz_of(
                &out,
                &[("activity", activity.into_dyn()), ("y", r.y.into_dyn())],
            )?;
            println!("{summary}");
            Ok(())
        }
        Cmd::Analyze {
            runs,
            data,
            data_layout,
            levels,
            min_accuracy,
            metrics,
        } => {
            let metrics = snnlab::metric::Metric::parse_flags(&metrics)?;
            let levels = snnlab::stats::parse_levels(&levels).map_err(Error::Input)?;
            for dir in &runs {
                if let Some(w) = snnlab::analysis::incomplete(dir) {
                    eprintln!("warning: {w}");
                }
            }
            let mut refs = snnlab::analysis::References::with_layout(&data, data_layout);
            let analysed = snnlab::analysis::analyze_with_metrics(&runs, &mut refs, &metrics)?;
            for r in &analysed {
                let closest = r
                    .seeds()
                    .into_iter()
                    .filter_map(|s| r.closest_above(s, min_accuracy))
                    .min_by(|a, b| a.distance.total_cmp(&b.distance));
                match closest {
                    Some(b) => println!(
                        "{}: {} checkpoints; closest to data at accuracy >= {min_accuracy}: seed {} update {} (accuracy {:.4}, distance {:.4}); table {}",
                        r.dir.display(),
                        r.scores.len(),
                        b.seed,
                        b.update,
                        b.accuracy,
                        b.distance,
                        r.dir.join("analysis.csv").display()
                    ),
                    None => println!(
                        "{}: {} checkpoints; closest to data at accuracy >= {min_accuracy}: none (no checkpoint reaches it with a finite distance); table {}",
                        r.dir.display(),
                        r.scores.len(),
                        r.dir.join("analysis.csv").display()
                    ),
                }
            }
            println!("distance at matched accuracy (matched.csv columns):");
            print!(
                "{}",
                snnlab::stats::matched_csv(
                    &["run".to_string()],
                    &snnlab::analysis::matched_table(&analysed, &levels)
                )
            );
            Ok(())
        }
        Cmd::Report {
            runs,
            data,
            data_layout,
            out,
            levels,
            min_accuracy,
            metrics,
        } => {
            let metrics = snnlab::metric::Metric::parse_flags(&metrics)?;
            snnlab::io::check_output(&out, "--out", &[("--data", data.as_path())])?;
            let opts = snnlab::analysis::ReportOptions {
                levels: snnlab::stats::parse_levels(&levels).map_err(Error::Input)?,
                min_accuracy,
            };
            let mut refs = snnlab::analysis::References::with_layout(&data, data_layout);
            let analysed = snnlab::analysis::analyze_with_metrics(&runs, &mut refs, &metrics)?;
            snnlab::analysis::report_with_options(&analysed, &mut refs, &out, &opts)?;
            println!("report: {}", out.display());
            Ok(())
        }
        Cmd::Sweep { cmd } => cmd_sweep(cmd, adapter),
        Cmd::Reproduce {
            full,
            out,
            device,
            updates,
            data,
            quiet,
        } => {
            let o = snnlab::reproduce::Options {
                full,
                out,
                device,
                updates: updates.unwrap_or(if full {
                    1000
                } else {
                    snnlab::reproduce::DEFAULT_UPDATES
                }),
                data: data.unwrap_or_else(snnlab::reproduce::default_data),
                quiet,
            };
            snnlab::reproduce::reproduce(&o, adapter).map(|_| ())
        }
    }
}
