//! `snnlab bench` over a grid: one row per rule × N × B × T × M, per-phase times that add up to
//! the update (CPU: thread shares; GPU: timestamp queries, device time within the synchronised
//! wall time), the traffic estimate, and the cost plot.

use std::collections::HashMap;

use snnlab::bench::{rate_update_bytes, rate_update_gflop};
use snnlab::rules::Rule;

use crate::common;
use common::{assert_contains_all, bin, output_ok, stdout_ok, tmpdir};

/// CSV rows as maps from column name to text.
fn rows(csv: &str) -> Vec<HashMap<String, String>> {
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            head.iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

fn num(r: &HashMap<String, String>, k: &str) -> f64 {
    r[k].parse()
        .unwrap_or_else(|_| panic!("column {k} = '{}' is not a number", r[k]))
}

fn bench(dir: &std::path::Path, device: &str) -> std::process::Output {
    bin()
        .args("bench --n 8,16 --b 3 --t 6,12 --m 1,2 --rules bptt,eprop --repeats 2".split(' '))
        .args(["--devices", device])
        .arg("--csv")
        .arg(dir.join("bench.csv"))
        .arg("--plot")
        .arg(dir.join("cost.svg"))
        .output()
        .unwrap()
}

#[test]
fn traffic_and_flop_estimates_match_hand_counts() {
    // N = 10, B = 2, T = 3: batch 3·2·(3 + 4) = 42 floats, trajectories 3·2·10·6 = 360 (bptt)
    // or ·4 = 240 (e-prop), parameters 100 + 30 + 20 + 20 + 2 = 172, read/written 7 times.
    assert_eq!(
        rate_update_bytes(Rule::Bptt, 10, 2, 3),
        4.0 * (42.0 + 360.0 + 7.0 * 172.0)
    );
    assert_eq!(
        rate_update_bytes(Rule::Eprop, 10, 2, 3),
        4.0 * (42.0 + 240.0 + 7.0 * 172.0)
    );
    // bptt = e-prop + the reverse sweep through w_rec, 2·T·B·N².
    let sweep = rate_update_gflop(Rule::Bptt, 10, 2, 3) - rate_update_gflop(Rule::Eprop, 10, 2, 3);
    assert!((sweep - 2.0 * 3.0 * 2.0 * 100.0 / 1e9).abs() < 1e-18);
}

#[test]
fn cpu_grid_has_every_point_phases_and_a_plot() {
    let dir = tmpdir("cpu");
    stdout_ok(&bench(&dir, "cpu"), "bench");
    let rs = rows(&std::fs::read_to_string(dir.join("bench.csv")).unwrap());
    assert_eq!(rs.len(), 2 * 2 * 2 * 2, "2 rules × 2 N × 2 T × 2 M");
    for r in &rs {
        let s = num(r, "seconds_per_update");
        let (f, g, o) = (
            num(r, "forward_s"),
            num(r, "gradient_s"),
            num(r, "optimiser_s"),
        );
        assert!(f > 0.0 && g > 0.0 && o >= 0.0, "{r:?}");
        // Thread shares of the median update: they add up to it.
        assert!(
            ((f + g + o) - s).abs() <= 1e-9 * s.max(1.0) + 1e-12,
            "phases {f} + {g} + {o} != {s}"
        );
        assert_eq!(r["phase_source"], "cpu-thread-share");
        let (n, b, t, m) = (
            num(r, "n") as usize,
            num(r, "b") as usize,
            num(r, "t") as usize,
            num(r, "m"),
        );
        let rule = Rule::parse(&r["rule"]).unwrap();
        let gbs = num(r, "gb_per_second");
        assert!(
            (gbs - m * rate_update_bytes(rule, n, b, t) / 1e9 / s).abs() <= 1e-9 * gbs,
            "{r:?}"
        );
    }
    let svg = std::fs::read_to_string(dir.join("cost.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_contains_all(&svg, &["cost vs N", "cost vs T", "cpu bptt", "cpu eprop"]);
    std::fs::remove_dir_all(&dir).ok();
}

/// On the GPU (lavapipe where there is none; REQUIRE_GPU=1 makes a missing adapter a failure)
/// the phases come from timestamp queries: positive, and together within the wall time of the
/// update they were measured in.
#[test]
fn gpu_phases_come_from_timestamps() {
    let dir = tmpdir("gpu");
    let out = bench(&dir, "gpu");
    if !out.status.success() {
        common::gpu::skip(format_args!(
            "the gpu bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    let rs = rows(&std::fs::read_to_string(dir.join("bench.csv")).unwrap());
    assert_eq!(rs.len(), 16);
    for r in &rs {
        assert_eq!(r["phase_source"], "gpu-timestamps", "{r:?}");
        let (f, g, o) = (
            num(r, "forward_s"),
            num(r, "gradient_s"),
            num(r, "optimiser_s"),
        );
        assert!(f > 0.0 && g > 0.0 && o > 0.0, "{r:?}");
        // Device time per update (mean of the two repeats) within the wall time of the slower
        // one, which is what the median of two is.
        assert!(f + g + o <= 1.05 * num(r, "seconds_per_update"), "{r:?}");
        assert!(num(r, "device_bytes") > 0.0);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// On a software adapter, points above `--software-gpu-max-gflop` are listed as skipped, not run
/// (on a hardware GPU the limit does not apply and they are measured).
#[test]
fn software_gpu_points_above_the_budget_are_skipped() {
    let Some(ctx) = common::gpu::context() else {
        return;
    };
    let software = ctx.info.device_type == wgpu::DeviceType::Cpu;
    let dir = tmpdir("budget");
    let point = "bench --n 8 --b 2 --t 5 --m 1,2 --rules bptt --devices gpu --repeats 1";
    let stdout = output_ok(
        bin()
            .args(point.split(' '))
            .args(["--software-gpu-max-gflop", "0", "--csv"])
            .arg(dir.join("b.csv")),
    );
    let skipped = stdout
        .lines()
        .filter(|l| l.contains("skipped:") && l.contains("software adapter"))
        .count();
    let measured = rows(&std::fs::read_to_string(dir.join("b.csv")).unwrap()).len();
    if software {
        assert_eq!((skipped, measured), (2, 0), "{stdout}");
    } else {
        assert_eq!((skipped, measured), (0, 2), "{stdout}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
