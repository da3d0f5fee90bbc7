//! `bench-spiking` writes one CSV row per grid point with a time or a stated skip reason.

use std::process::Command;

use crate::common::{csv_rows, run_ok, s, tmpdir};

#[test]
fn grid_rows_are_timed_or_skipped_with_a_reason() {
    let d = std::env::temp_dir().join(format!("snnlab-bench-spiking-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let csv = d.join("b.csv");
    let o = Command::new(env!("CARGO_BIN_EXE_snnlab"))
        .env("NODEVICE_SELECT", "1")
        .args(
            "bench-spiking --kinds lif,alif --n 8,64 --t 5 --b 2 --repeats 1 --devices cpu"
                .split(' '),
        )
        .args(["--max-gflop-cpu", "0.0002", "--csv"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 2 * 2 * 3, "kinds × N × forms");
    for r in &rows {
        let (n, secs, gflop, note) = (
            r[4].parse::<usize>().unwrap(),
            r[7].as_str(),
            r[8].parse::<f64>().unwrap(),
            r[10].as_str(),
        );
        assert_eq!(
            gflop,
            snnlab::bench::spiking::estimated_gflop(&r[3], n, 5, 2)
        );
        if gflop > 0.0002 {
            assert!(
                secs.is_empty() && note.contains("skipped") && r[11].is_empty(),
                "{r:?}"
            );
        } else {
            let s: f64 = secs.parse().unwrap();
            assert!(s > 0.0 && note.is_empty(), "{r:?}");
            // Trace bytes/s on online rows only: the estimate over the measured time.
            if r[3] == "eprop-online" {
                let gbs: f64 = r[11].parse().unwrap();
                assert!(
                    (gbs - snnlab::bench::spiking::online_trace_bytes(n, 5, 2) / 1e9 / s).abs()
                        <= 1e-9 * gbs,
                    "{r:?}"
                );
            } else {
                assert!(r[11].is_empty(), "{r:?}");
            }
        }
    }
    assert!(
        rows.iter().any(|r| r[10].contains("skipped")) && rows.iter().any(|r| r[10].is_empty()),
        "both kinds of rows"
    );
    assert!(
        rows.iter()
            .any(|r| r[3] == "eprop-online" && !r[11].is_empty()),
        "an online row was timed"
    );
    // 16 bytes per synapse (eps_a and ebar, read and written) per trial and step.
    assert_eq!(
        snnlab::bench::spiking::online_trace_bytes(8, 5, 2),
        16.0 * 5.0 * 2.0 * 8.0 * (8.0 + 20.0)
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_snnlab"))
        .args(["bench-spiking", "--forms", "rtrl", "--devices", "cpu"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--forms"));
}

/// BPTT and factorised e-prop are timed through the training backend, so their rows split the
/// update into forward, gradient and optimiser; online rows (their own loop) have no split.
#[test]
fn backend_rows_split_the_update_into_phases() {
    let csv = tmpdir("bench-phases").join("b.csv");
    let grid = "bench-spiking --kinds alif --n 8 --t 5 --b 2 --repeats 2 --devices cpu --csv";
    let mut args: Vec<&str> = grid.split(' ').collect();
    args.push(s(&csv));
    run_ok(&args);
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 3, "one row per form");
    for r in &rows {
        assert_eq!(r.len(), 16, "{r:?}");
        if r[3] == "eprop-online" {
            assert!(r[12..16].iter().all(|c| c.is_empty()), "{r:?}");
            continue;
        }
        // On the CPU the phases are the shares of the median update: they add up to it.
        let secs: f64 = r[7].parse().unwrap();
        let sum: f64 = r[12..15].iter().map(|c| c.parse::<f64>().unwrap()).sum();
        assert!((sum - secs).abs() <= 1e-9 * secs, "{r:?}");
        assert_eq!(r[15], "cpu-thread-share", "{r:?}");
    }
}
