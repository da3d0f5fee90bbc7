//! `snnlab bench`: seconds per training update (forward + gradient + Adam, batch upload included)
//! of packs of M rate networks, per rule and device. Timing is synchronised (every update reads its
//! losses back), one warm-up update is excluded, and the median of the repeats is reported.

use std::path::PathBuf;
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub fn run(spec: &BenchSpec, adapter: Option<&str>) -> Result<()> {
    if spec.repeats == 0 {
        return Err(Error::Input("--repeats must be at least 1".into()));
    }
    let cfg = RateConfig::new(3, spec.n, 2);
    let mut rows = vec!["device,adapter,rule,n,b,t,m,seconds_per_update,network_updates_per_second".to_string()];
    println!("{:<5} {:<10} {:>5} {:>5} {:>5} {:>4} {:>12} {:>14}", "dev", "rule", "N", "B", "T", "M", "s/update", "net-updates/s");
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
                println!("{:<5} {:<10} {:>5} {:>5} {:>5} {:>4} {:>12.4} {:>14.2}", dev, rule.name(), spec.n, spec.b, spec.t, m, s, m as f64 / s);
                rows.push(format!("{dev},{adapter_name},{},{},{},{},{m},{s},{}", rule.name(), spec.n, spec.b, spec.t, m as f64 / s));
            }
        }
    }
    if let Some(p) = &spec.csv {
        crate::io::write_atomic(p, (rows.join("\n") + "\n").as_bytes())?;
    }
    Ok(())
}
