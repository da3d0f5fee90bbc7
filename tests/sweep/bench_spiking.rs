//! `bench-spiking` writes one CSV row per grid point with a time or a stated skip reason.

use std::process::Command;

use crate::common::csv_rows;

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
            snnlab::bench_spiking::estimated_gflop(&r[3], n, 5, 2)
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
                    (gbs - snnlab::bench_spiking::online_trace_bytes(n, 5, 2) / 1e9 / s).abs()
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
        snnlab::bench_spiking::online_trace_bytes(8, 5, 2),
        16.0 * 5.0 * 2.0 * 8.0 * (8.0 + 20.0)
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_snnlab"))
        .args(["bench-spiking", "--forms", "rtrl", "--devices", "cpu"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--forms"));
}
