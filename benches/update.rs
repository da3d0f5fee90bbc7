//! `cargo bench`: seconds per training update of the paper's reach setting (rate, N = 200,
//! B = 100, T = 300) for bptt and e-prop, CPU against GPU in the same run. Set SNNLAB_BENCH_M
//! (e.g. "1,16,64") and SNNLAB_BENCH_DEVICES ("cpu,gpu") to change the grid.

fn main() {
    let list = |var: &str, default: &str| -> Vec<String> {
        std::env::var(var)
            .unwrap_or_else(|_| default.into())
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect()
    };
    let spec = snnlab::bench::BenchSpec {
        grid: snnlab::bench::Grid {
            n: vec![200],
            t: vec![300],
            devices: list("SNNLAB_BENCH_DEVICES", "cpu,gpu")
                .iter()
                .map(|s| match s.as_str() {
                    "cpu" => snnlab::backend::Device::Cpu,
                    "gpu" => snnlab::backend::Device::Gpu,
                    _ => panic!("SNNLAB_BENCH_DEVICES: cpu and/or gpu, not '{s}'"),
                })
                .collect(),
            repeats: 3,
            csv: None,
        },
        b: vec![100],
        m: list("SNNLAB_BENCH_M", "1")
            .iter()
            .map(|s| s.parse().expect("SNNLAB_BENCH_M: integers"))
            .collect(),
        rules: vec![snnlab::rules::Rule::Bptt, snnlab::rules::Rule::Eprop],
        plot: None,
        peak_gflops: None,
        peak_gbps: None,
        software_gpu_max_gflop: f64::INFINITY,
    };
    if let Err(e) = snnlab::bench::run(&spec, None) {
        eprintln!("bench: {e}");
        std::process::exit(e.exit_code());
    }
}
