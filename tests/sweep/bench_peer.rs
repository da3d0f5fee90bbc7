//! `snnlab bench --peer`: the PyTorch peer's JSON line parser, and the skip path when Python or
//! PyTorch is missing (no torch needed; tiny networks, one repeat).

use std::process::Command;

use snnlab::bench::parse_peer_line;

use crate::common;
use common::{s, tmpdir, write_file};

const SAMPLE: &str = r#"{"rule": "eprop", "n": 200, "b": 100, "t": 300, "m": 1, "device": "cpu", "threads": 2, "seconds_per_update": 0.0812, "torch": "2.5.1+cpu"}"#;

#[test]
fn parses_a_peer_line() {
    let p = parse_peer_line(SAMPLE).unwrap();
    assert_eq!(
        (p.rule.as_str(), p.n, p.b, p.t, p.m),
        ("eprop", 200, 100, 300, 1)
    );
    assert_eq!(
        (p.device.as_str(), p.threads, p.torch.as_str()),
        ("cpu", 2, "2.5.1+cpu")
    );
    assert_eq!(p.seconds_per_update, 0.0812);
    assert_eq!(parse_peer_line(&format!("  {SAMPLE}\n")).unwrap(), p);
}

#[test]
fn rejects_garbage_peer_lines() {
    for bad in [
        "",
        "hello",
        "[1, 2]",
        r#"{"rule": "bptt"}"#,
        &SAMPLE.replace(r#""n": 200"#, r#""n": "200""#),
        &SAMPLE.replace(r#""m": 1"#, r#""m": -1"#),
        &SAMPLE.replace("0.0812", "-0.5"),
        &SAMPLE.replace("0.0812", "0"),
        &SAMPLE.replace(r#""seconds_per_update": 0.0812, "#, ""),
        &SAMPLE[..SAMPLE.len() - 5],
    ] {
        assert!(parse_peer_line(bad).is_err(), "accepted {bad:?}");
    }
}

/// `snnlab bench --peer` on a tiny CPU point with the given Python; returns (stdout, csv text).
fn bench_with_python(python: &str, dir: &std::path::Path) -> (String, String) {
    let csv = dir.join("bench.csv");
    let point = "bench --n 8 --b 2 --t 5 --m 1 --rules bptt --devices cpu --repeats 1";
    let out = Command::new(env!("CARGO_BIN_EXE_snnlab"))
        .args(point.split(' '))
        .args(["--peer", "--csv"])
        .arg(&csv)
        .env("SNNLAB_PYTHON", python)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout, std::fs::read_to_string(&csv).unwrap())
}

#[test]
fn peer_is_skipped_without_python() {
    let dir = tmpdir("nopython");
    let (stdout, csv) = bench_with_python("/nonexistent/snnlab-test/python3", &dir);
    let skips: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("peer skipped:"))
        .collect();
    assert_eq!(skips.len(), 1, "{stdout}");
    assert!(
        skips[0].contains("/nonexistent/snnlab-test/python3") && skips[0].contains("not found"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("cpu") && l.contains("bptt")),
        "no table row: {stdout}"
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].ends_with(",peer_seconds_per_network_update,peer_ratio"),
        "{csv}"
    );
    assert!(
        lines[1].starts_with("cpu,") && lines[1].ends_with(",,"),
        "{csv}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
#[test]
fn peer_is_skipped_without_torch() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmpdir("notorch");
    // A "python" whose `import torch` fails the way CPython's does.
    let script = "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n";
    let fake = write_file(&dir, "python-without-torch", script);
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (stdout, _) = bench_with_python(s(&fake), &dir);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("peer skipped: PyTorch is not installed")
                && l.contains("pip install torch")),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
