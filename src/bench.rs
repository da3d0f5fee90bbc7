//! `snnlab bench`: seconds per training update (forward + gradient + Adam, batch upload included)
//! of packs of M rate networks, per rule and device. Timing is synchronised (every update reads its
//! losses back), one warm-up update is excluded, and the median of the repeats is reported.
//!
//! `--peer` ([`run_with_peer`]) also times a PyTorch implementation of the same update
//! (`benches/peers/torch_rate.py`: SPEC §1 network, mse + lambda·mean(h²), autograd BPTT or the
//! stop-gradient e-prop form, torch.optim.Adam) for every CPU row, with the same N, B, T, rule,
//! repeats and thread count, and reports its seconds per network-update and the ratio
//! peer / snnlab. The Python used is `$SNNLAB_PYTHON` (default `python3`); without Python or
//! PyTorch the peer is skipped with one line and the bench goes on.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::{Backend, Device};
use crate::batch::{Batch, LossKind};
use crate::error::{Error, Result};
use crate::model::{RateConfig, RateModel};
use crate::rules::Rule;

pub struct BenchSpec {
    pub n: usize,
    pub b: usize,
    pub t: usize,
    pub m: Vec<usize>,
    pub rules: Vec<String>,
    pub devices: Vec<String>,
    pub repeats: usize,
    pub csv: Option<PathBuf>,
}

/// A reach-shaped random batch (3 inputs, 2 outputs, mask on).
fn random_batch(b: usize, t: usize, seed: u64) -> Batch {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    Batch {
        inputs: Array3::from_shape_simple_fn((b, t, 3), || r.random_range(-1.0..1.0)),
        targets: Array3::from_shape_simple_fn((b, t, 2), || r.random_range(-1.0..1.0)),
        mask: Array3::ones((b, t, 2)),
        loss: LossKind::Mse,
    }
}

/// Estimated GFLOP of one rate-network update (the dominant products; elementwise work aside):
/// forward `2TBN(N + n_in + n_out)`, weight gradients `2TBN(N + n_in + n_out)`, and for rules
/// with a backward sweep through w_rec another `2TBN²` (BPTT at the paper's reach setting
/// N = 200, B = 100, T = 300: 7.3 GFLOP).
pub fn rate_update_gflop(rule: Rule, n: usize, b: usize, t: usize) -> f64 {
    let (n, b, t) = (n as f64, b as f64, t as f64);
    let dense = 2.0 * t * b * n * (n + 3.0 + 2.0);
    let sweep = if rule.is_eprop() { 0.0 } else { 2.0 * t * b * n * n };
    (2.0 * dense + sweep) / 1e9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// One JSON line of the PyTorch peer (`benches/peers/torch_rate.py`).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerLine {
    pub rule: String,
    pub n: usize,
    pub b: usize,
    pub t: usize,
    pub m: usize,
    pub device: String,
    pub threads: usize,
    /// Median seconds of one network's update.
    pub seconds_per_update: f64,
    pub torch: String,
}

/// Parses one line the peer prints; an error names what is wrong with it.
pub fn parse_peer_line(line: &str) -> std::result::Result<PeerLine, String> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).map_err(|e| format!("not JSON ({e})"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    let str_of = |k: &str| -> std::result::Result<String, String> {
        o.get(k).and_then(|x| x.as_str()).map(str::to_owned).ok_or(format!("field '{k}' missing or not a string"))
    };
    let int_of = |k: &str| -> std::result::Result<usize, String> {
        o.get(k).and_then(|x| x.as_u64()).map(|x| x as usize).ok_or(format!("field '{k}' missing or not a non-negative integer"))
    };
    let secs = o.get("seconds_per_update").and_then(|x| x.as_f64()).ok_or("field 'seconds_per_update' missing or not a number")?;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("seconds_per_update {secs} is not a positive number"));
    }
    Ok(PeerLine {
        rule: str_of("rule")?,
        n: int_of("n")?,
        b: int_of("b")?,
        t: int_of("t")?,
        m: int_of("m")?,
        device: str_of("device")?,
        threads: int_of("threads")?,
        seconds_per_update: secs,
        torch: str_of("torch")?,
    })
}

/// The Python the peer runs with: `$SNNLAB_PYTHON`, else `python3`.
pub fn peer_python() -> String {
    std::env::var("SNNLAB_PYTHON").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "python3".into())
}

const PEER_SCRIPT: &str = "benches/peers/torch_rate.py";

/// The peer script: under the source tree snnlab was built from, else under the current directory.
pub fn peer_script() -> std::result::Result<PathBuf, String> {
    let candidates = [PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(PEER_SCRIPT), PathBuf::from(PEER_SCRIPT)];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!("peer skipped: peer script not found (looked for {} and ./{PEER_SCRIPT})", candidates[0].display())
    })
}

/// A ready peer: the Python, the script and the torch version it imports.
pub struct Peer {
    pub python: String,
    pub script: PathBuf,
    pub torch: String,
}

/// Checks that the peer can run; the error is the one line to print ("peer skipped: …").
pub fn peer_probe() -> std::result::Result<Peer, String> {
    let python = peer_python();
    let script = peer_script()?;
    let out = Command::new(&python).args(["-c", "import sys, torch; sys.stdout.write(torch.__version__)"]).output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("peer skipped: Python executable '{python}' not found (install python3 and `pip install torch`, or set SNNLAB_PYTHON)"));
        }
        Err(e) => return Err(format!("peer skipped: cannot run '{python}': {e}")),
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named") && err.contains("torch") {
            return Err(format!("peer skipped: PyTorch is not installed for '{python}' (pip install torch)"));
        }
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(format!("peer skipped: '{python}' cannot import torch: {}", last.trim()));
    }
    Ok(Peer { python, script, torch: String::from_utf8_lossy(&out.stdout).trim().to_owned() })
}

/// Runs the peer for one (rule, m) point and returns its seconds per network-update.
fn peer_point(peer: &Peer, spec: &BenchSpec, rule: &str, m: usize, threads: usize) -> std::result::Result<PeerLine, String> {
    let out = Command::new(&peer.python)
        .arg(&peer.script)
        .args(["--n", &spec.n.to_string(), "--b", &spec.b.to_string(), "--t", &spec.t.to_string()])
        .args(["--rules", rule, "--m", &m.to_string(), "--repeats", &spec.repeats.to_string()])
        .args(["--threads", &threads.to_string(), "--device", "cpu"])
        .output()
        .map_err(|e| format!("cannot run '{}': {e}", peer.python))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(format!("exited with {}: {}", out.status, last.trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<PeerLine> = text.lines().filter(|l| l.trim_start().starts_with('{')).map(parse_peer_line).collect::<std::result::Result<_, _>>()?;
    lines.into_iter().find(|p| p.rule == rule && p.m == m && p.n == spec.n && p.b == spec.b && p.t == spec.t).ok_or_else(|| format!("no line for rule {rule}, m {m} in its output"))
}

pub fn run(spec: &BenchSpec, adapter: Option<&str>) -> Result<()> {
    run_with_peer(spec, adapter, false)
}

/// [`run`], plus the PyTorch peer on every CPU row when `peer` is set (never fails because of it).
pub fn run_with_peer(spec: &BenchSpec, adapter: Option<&str>, peer: bool) -> Result<()> {
    if spec.repeats == 0 {
        return Err(Error::Input("--repeats must be at least 1".into()));
    }
    let cfg = RateConfig::new(3, spec.n, 2);
    let threads = rayon::current_num_threads();
    let ready = if peer && spec.devices.iter().any(|d| d == "cpu") {
        match peer_probe() {
            Ok(p) => {
                println!("peer: PyTorch {} ({} {}), {threads} threads on cpu rows", p.torch, p.python, p.script.display());
                Some(p)
            }
            Err(msg) => {
                println!("{msg}");
                None
            }
        }
    } else {
        if peer {
            println!("peer skipped: the peer runs on cpu rows only (--devices has no cpu)");
        }
        None
    };
    let mut header = "device,adapter,rule,n,b,t,m,seconds_per_update,network_updates_per_second,gflop_per_update,gflop_per_second,device_bytes".to_string();
    let mut title = format!("{:<5} {:<10} {:>5} {:>5} {:>5} {:>4} {:>12} {:>14} {:>9} {:>13}", "dev", "rule", "N", "B", "T", "M", "s/update", "net-updates/s", "GFLOP/s", "device bytes");
    if peer {
        header.push_str(",peer_seconds_per_network_update,peer_ratio");
        title.push_str(&format!(" {:>13} {:>13}", "torch s/net", "torch/snnlab"));
    }
    let mut rows = vec![header];
    println!("{title}");
    for dev in &spec.devices {
        let device = match dev.as_str() {
            "cpu" => Device::Cpu,
            "gpu" => Device::Gpu,
            other => return Err(Error::Input(format!("--devices: unknown device '{other}' (cpu or gpu)"))),
        };
        let adapter_name = if device == Device::Gpu { crate::gpu::GpuContext::new(adapter)?.info.name } else { format!("{} threads", rayon::current_num_threads()) };
        for rule_s in &spec.rules {
            let rule = Rule::parse(rule_s)?;
            for &m in &spec.m {
                let models: Vec<RateModel> = (0..m as u64).map(|s| RateModel::init(cfg.clone(), 1.0, s)).collect::<Result<_>>()?;
                let batches: Vec<Batch> = (0..m as u64).map(|s| random_batch(spec.b, spec.t, s)).collect();
                let refs: Vec<&Batch> = batches.iter().collect();
                let lambdas = vec![0.1; m];
                let mut be = Backend::new(device, adapter, &models, &vec![1e-3; m], spec.b, spec.t, LossKind::Mse)?;
                be.update(rule, &refs, &lambdas)?; // warm-up (pipeline JIT, allocations)
                let mut times = Vec::new();
                for _ in 0..spec.repeats {
                    let t0 = Instant::now();
                    be.update(rule, &refs, &lambdas)?;
                    times.push(t0.elapsed().as_secs_f64());
                }
                let s = median(times);
                let gflop = m as f64 * rate_update_gflop(rule, spec.n, spec.b, spec.t);
                let bytes = be.device_bytes().map(|b| b.to_string()).unwrap_or_else(|| "-".into());
                let mut line = format!("{:<5} {:<10} {:>5} {:>5} {:>5} {:>4} {:>12.4} {:>14.2} {:>9.1} {:>13}", dev, rule.name(), spec.n, spec.b, spec.t, m, s, m as f64 / s, gflop / s, bytes);
                let mut row = format!("{dev},{adapter_name},{},{},{},{},{m},{s},{},{gflop},{},{}", rule.name(), spec.n, spec.b, spec.t, m as f64 / s, gflop / s, be.device_bytes().map(|b| b.to_string()).unwrap_or_default());
                if peer {
                    let got = match (&ready, device, rule.name().as_str()) {
                        (Some(p), Device::Cpu, r @ ("bptt" | "eprop")) => match peer_point(p, spec, r, m, threads) {
                            Ok(pl) => Some(pl.seconds_per_update),
                            Err(e) => {
                                eprintln!("peer failed for {r}, m = {m}: {e}");
                                None
                            }
                        },
                        _ => None,
                    };
                    match got {
                        Some(ps) => {
                            let ratio = ps / (s / m as f64);
                            line.push_str(&format!(" {ps:>13.4} {ratio:>13.2}"));
                            row.push_str(&format!(",{ps},{ratio}"));
                        }
                        None => {
                            line.push_str(&format!(" {:>13} {:>13}", "-", "-"));
                            row.push_str(",,");
                        }
                    }
                }
                println!("{line}");
                rows.push(row);
            }
        }
    }
    if let Some(p) = &spec.csv {
        crate::io::write_atomic(p, (rows.join("\n") + "\n").as_bytes())?;
    }
    Ok(())
}
