//! `cargo bench --bench metrics`: seconds to score 115 checkpoints of one run against the
//! Hatsopoulos recordings (141 neurons × 121 bins × 8 conditions) with every metric of
//! `snnlab::metric`, batched (`score_many`: the recording's side prepared once, the pairs on the
//! rayon threads). The activity comes from the paper's released reach checkpoints (N = 200) on
//! the reach analysis trials, cycled to 115 arrays with a small seeded perturbation each so that
//! no two are equal; the network runs are timed apart from the scoring. Prints the machine's
//! load (/proc/loadavg) beside the numbers: the scoring shares the cores with whatever runs.

use std::time::Instant;

use ndarray::Array3;
use snnlab::evaluate::{AnalysisTask, TaskName};
use snnlab::metric::{Metric, score_many};

const CHECKPOINTS: usize = 115;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let npz = root.join("data/paper/reach_bptt_lr1e-3.npz");
    let data_path = root.join("data/neural/hatsopoulos2007/firing_rate_n141_t121_c8.npy");
    // As the CLI runs it: the pairs on rayon's threads, OpenBLAS on one thread inside each (its
    // own threads on top oversubscribe the cores: 42 s instead of 7 s here).
    snnlab::backend::single_threaded_blas();
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load before: {}", load().trim());
    let task = AnalysisTask::load(TaskName::Reach).expect("reach task");
    let data = snnlab::evaluate::load_data(&data_path, &task).expect("recordings");
    let prefixes = snnlab::io::paper_prefixes(&npz).expect("paper checkpoints");
    let t0 = Instant::now();
    let base: Vec<Array3<f64>> = prefixes
        .iter()
        .map(|p| {
            let m = snnlab::io::import_paper_npz(&npz, p).expect("checkpoint");
            snnlab::evaluate::run_model(&task, &m).expect("run").2
        })
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let acts: Vec<Array3<f64>> = (0..CHECKPOINTS)
        .map(|i| {
            base[i % base.len()].mapv(|v| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v + 1e-3 * ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
            })
        })
        .collect();
    println!(
        "{} paper checkpoints run on the reach trials in {:.2} s, cycled to {CHECKPOINTS} arrays {:?}",
        base.len(),
        t0.elapsed().as_secs_f64(),
        acts[0].dim()
    );
    let views: Vec<_> = acts.iter().map(|a| a.view()).collect();
    // SNNLAB_BENCH_METRICS picks (comma-separated ids); default every metric, DSA after PCA to
    // 10 components (as DSA is used on recordings: full rank aligns 200 × 200 matrices).
    let metrics: Vec<String> = std::env::var("SNNLAB_BENCH_METRICS")
        .unwrap_or_else(|_| {
            "procrustes,shape:0.5,shape:0,shape:1:euclidean,cka,cka-angular,cca,dsa:pca10".into()
        })
        .split(',')
        .map(String::from)
        .collect();
    let mut total = 0.0;
    for id in &metrics {
        let m: Metric = id.parse().expect("metric id");
        let t = Instant::now();
        let scores = score_many(&m, &views, data.view()).expect("scores");
        let s = t.elapsed().as_secs_f64();
        total += s;
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        println!(
            "{:28} {CHECKPOINTS} checkpoints in {s:7.3} s (mean score {mean:.4})",
            m.registry_name()
        );
    }
    println!(
        "every metric: {total:.2} s for {CHECKPOINTS} checkpoints on {} rayon threads; load after: {}",
        rayon::current_num_threads(),
        load().trim()
    );
}
