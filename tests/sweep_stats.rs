//! `sweep merge`'s statistics (SPEC §10) on a sweep whose run folders are written by hand (no
//! training): matched.csv, attribution.csv and paired.csv against hand computations, a network
//! that never reaches a level, a group of one, a zipped axis, and a merge with nothing run yet.

use std::path::{Path, PathBuf};

use snnlab::sweep::{RunRecord, Sweep};

mod common;
use common::{bin, tmpdir};

/// rule (zipped with lr) × g0 × seed, reach task, no neural data (nothing is trained here).
fn sweep_file(dir: &Path) -> PathBuf {
    let p = dir.join("s.toml");
    std::fs::write(
        &p,
        format!(
            "results = \"{}\"\ndata = \"none\"\n[base]\ntask = \"reach\"\nn_rec = 8\nupdates = 2\n[grid]\ng0 = [1.0, 2.0]\nseed = [1, 2]\n[zip]\nrule = [\"bptt\", \"eprop\"]\nlr = [1e-3, 3e-4]\n",
            dir.join("results").display()
        ),
    )
    .unwrap();
    p
}

fn value<'a>(values: &'a [(String, String)], k: &str) -> &'a str {
    &values.iter().find(|(a, _)| a == k).unwrap().1
}

/// Distance at accuracy 0.5 of each network (`None`: never reaches 0.5).
fn distance(rule: &str, g0: &str, seed: &str) -> Option<f64> {
    match (rule, g0, seed) {
        ("bptt", "1.0", "1") => Some(0.6),
        ("bptt", "1.0", "2") => Some(0.4),
        ("bptt", "2.0", "1") => Some(0.3),
        ("bptt", "2.0", "2") => None,
        ("eprop", "1.0", "1") => Some(0.7),
        ("eprop", "1.0", "2") => Some(0.5),
        ("eprop", "2.0", "1") => Some(0.5),
        ("eprop", "2.0", "2") => Some(0.3),
        _ => unreachable!(),
    }
}

/// Write every run's folder as `sweep run` would leave it: run.json and analysis.csv, whose
/// checkpoints (accuracy 0.3, 0.5, 0.7 at updates 0, 1, 2) reach 0.5 exactly at update 1.
fn write_runs(s: &Sweep) {
    for r in &s.runs {
        let dir = s.run_dir(&r.id);
        std::fs::create_dir_all(&dir).unwrap();
        let rec = RunRecord {
            id: r.id.clone(),
            values: r.values.clone(),
            status: "done".into(),
            diverged_at: None,
            final_loss: None,
            final_eval_error: None,
            seconds: 0.0,
            analysis_error: None,
        };
        std::fs::write(dir.join("run.json"), serde_json::to_string(&rec).unwrap()).unwrap();
        let v = &r.values;
        let d = distance(value(v, "rule"), value(v, "g0"), value(v, "seed"));
        let seed = value(v, "seed");
        // Checkpoints written out of update order: the merge must sort them.
        let csv = match d {
            Some(d) => format!(
                "seed,update,accuracy,loss,distance,normalised_distance,participation_ratio\n{seed},2,0.7,0.1,0.05,0,1\n{seed},0,0.3,0.5,0.95,0,1\n{seed},1,0.5,0.2,{d},0,1\n"
            ),
            None => format!(
                "seed,update,accuracy,loss,distance,normalised_distance,participation_ratio\n{seed},0,0.1,0.9,0.9,0,1\n{seed},1,0.45,0.5,0.8,0,1\n"
            ),
        };
        std::fs::write(dir.join("analysis.csv"), csv).unwrap();
    }
}

#[test]
fn merge_writes_matched_attribution_and_paired_tables() {
    let d = tmpdir("merge-stats");
    let path = sweep_file(&d);
    let s = Sweep::load(&path).unwrap();
    assert_eq!(s.runs.len(), 8);
    write_runs(&s);
    let o = bin()
        .args([
            "sweep",
            "merge",
            path.to_str().unwrap(),
            "--levels",
            "0.5,0.9",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |f: &str| std::fs::read_to_string(s.results.join(f)).unwrap();

    let matched = read("matched.csv");
    let lines: Vec<&str> = matched.lines().collect();
    // Group axes: every axis but `seed`, in the merged table's order (grid, then zip, each
    // sorted by name); groups in numeric order of their values (lr 0.0003 = eprop first).
    assert_eq!(
        lines[0],
        "level,g0,lr,rule,n,missing,mean,sd,sem,ci_low,ci_high"
    );
    assert_eq!(lines.len(), 1 + 2 * 4);
    // g0 = 1.0, eprop: (0.7, 0.5): mean 0.6, sd sqrt(0.02), sem 0.1; bootstrap CI (0.5, 0.7).
    let num = |s: &str| s.parse::<f64>().unwrap();
    let f: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(&f[..6], ["0.5", "1.0", "0.0003", "eprop", "2", "0"]);
    assert!((num(f[6]) - 0.6).abs() < 1e-12);
    assert!((num(f[7]) - 0.02f64.sqrt()).abs() < 1e-12);
    assert!((num(f[8]) - 0.1).abs() < 1e-12);
    assert_eq!((num(f[9]), num(f[10])), (0.5, 0.7));
    let f: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(&f[..6], ["0.5", "1.0", "0.001", "bptt", "2", "0"]);
    assert!((num(f[6]) - 0.5).abs() < 1e-12);
    // g0 = 2.0, bptt: a group of one (the other network never reaches 0.5).
    assert_eq!(lines[4], "0.5,2.0,0.001,bptt,1,1,0.3,,,0.3,0.3");
    // Level 0.9: nobody reaches it.
    assert_eq!(lines[5], "0.9,1.0,0.0003,eprop,0,2,,,,,");

    let attribution = read("attribution.csv");
    let rows: Vec<Vec<&str>> = attribution
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let axes: Vec<&str> = rows.iter().take(4).map(|r| r[1]).collect();
    assert_eq!(axes, ["g0", "seed", "lr", "rule"]);
    // Seven distances at 0.5 (sum 3.3, sum of squares 1.69); rule: bptt sum 1.3 of 3, eprop 2.0
    // of 4; g0: 1.0 sum 2.2 of 4, 2.0 sum 1.1 of 3.
    let c = 3.3f64.powi(2) / 7.0;
    let total = 1.69 - c;
    let rule = (1.3f64.powi(2) / 3.0 + 1.0 - c) / total;
    let g0 = (2.2f64.powi(2) / 4.0 + 1.1f64.powi(2) / 3.0 - c) / total;
    assert!((num(rows[0][2]) - g0).abs() < 1e-12);
    assert!((num(rows[3][2]) - rule).abs() < 1e-12);
    // lr is zipped with rule: the same grouping, the same share.
    assert_eq!(rows[2][2], rows[3][2]);
    // Level 0.9: no network, no value.
    assert_eq!(rows[4].get(2).copied().unwrap_or(""), "");

    let paired = read("paired.csv");
    let p: Vec<&str> = paired.lines().nth(1).unwrap().split(',').collect();
    // Pairs across the zipped lr: (1.0, 1) 0.1, (1.0, 2) 0.1, (2.0, 1) 0.2; exact p = 2/8.
    assert_eq!(&p[..5], ["0.5", "rule", "bptt", "eprop", "3"]);
    assert!((num(p[5]) - 0.4 / 3.0).abs() < 1e-12);
    assert!((num(p[9]) - 0.25).abs() < 1e-12);
    let report = read("report.html");
    assert!(report.contains("no network reached accuracy 0.9"));
    assert!(
        !report.contains(&d.display().to_string()),
        "no absolute paths in the report"
    );
}

#[test]
fn merge_with_nothing_run_writes_empty_tables_and_says_so() {
    let d = tmpdir("merge-empty");
    let path = sweep_file(&d);
    let o = bin()
        .args(["sweep", "merge", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to merge yet"));
    let r = d.join("results");
    assert_eq!(
        std::fs::read_to_string(r.join("matched.csv")).unwrap(),
        "level,g0,lr,rule,n,missing,mean,sd,sem,ci_low,ci_high\n"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("attribution.csv")).unwrap(),
        "level,axis,eta2,ci_low,ci_high\n".to_string()
            + &["0.5", "0.8", "0.9", "0.95"]
                .iter()
                .flat_map(|l| ["g0", "seed", "lr", "rule"].map(|a| format!("{l},{a},,,\n")))
                .collect::<String>()
    );
    assert!(r.join("paired.csv").is_file());
}

#[test]
fn merge_rejects_a_bad_compare_axis_and_bad_levels() {
    let d = tmpdir("merge-bad");
    let path = sweep_file(&d);
    for (flag, v, culprit) in [
        ("--compare", "tau", "--compare"),
        ("--levels", "0.5,high", "--levels"),
    ] {
        let o = bin()
            .args(["sweep", "merge", path.to_str().unwrap(), flag, v])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(culprit), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(!d.join("results/merged.csv").exists());
}
