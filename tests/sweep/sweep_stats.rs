//! `sweep merge`'s statistics (SPEC §10) on a sweep whose run folders are written by hand (no
//! training): matched.csv, attribution.csv and paired.csv against hand computations, a network
//! that never reaches a level, a group of one, a zipped axis, and a merge with nothing run yet.

use std::path::{Path, PathBuf};
use std::process::Output;

use snnlab::sweep::Sweep;

use crate::common;
use common::{run_err, run_ok, sweep_file_in, table, tmpdir, train_quietly, write_done_run};

/// rule (zipped with lr) × g0 × seed, reach task, no neural data (nothing is trained here).
fn sweep_file(dir: &Path) -> PathBuf {
    sweep_file_in(
        dir,
        "s",
        "results",
        "data = \"none\"\n[base]\ntask = \"reach\"\nn_rec = 8\nupdates = 2\n[grid]\ng0 = [1.0, 2.0]\nseed = [1, 2]\n[zip]\nrule = [\"bptt\", \"eprop\"]\nlr = [1e-3, 3e-4]\n",
    )
}

/// `sweep merge SWEEP FLAGS`, asserted to exit 0.
fn merge(sweep: &Path, flags: &[&str]) -> Output {
    let o = common::bin()
        .args(["sweep", "merge"])
        .arg(sweep)
        .args(flags)
        .output()
        .unwrap();
    common::stdout_ok(&o, flags);
    o
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
        let dir = write_done_run(s, r);
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

/// The table with its first column, `metric`, taken off; every row must be in `procrustes-angular`.
fn strip_metric(csv: &str) -> String {
    csv.lines()
        .enumerate()
        .map(|(i, l)| {
            let (m, rest) = l.split_once(',').unwrap();
            assert_eq!(
                m,
                if i == 0 {
                    "metric"
                } else {
                    "procrustes-angular"
                }
            );
            rest.to_string() + "\n"
        })
        .collect()
}

#[test]
fn merge_writes_matched_attribution_and_paired_tables() {
    let d = tmpdir("merge-stats");
    let path = sweep_file(&d);
    let s = Sweep::load(&path).unwrap();
    assert_eq!(s.runs.len(), 8);
    write_runs(&s);
    merge(&path, &["--levels", "0.5,0.9"]);
    let read = |f: &str| std::fs::read_to_string(s.results.join(f)).unwrap();

    let matched = strip_metric(&read("matched.csv"));
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

    let attribution = strip_metric(&read("attribution.csv"));
    let rows = table(&attribution).1;
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

    let paired = strip_metric(&read("paired.csv"));
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
    let o = merge(&path, &[]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to merge yet"));
    let r = d.join("results");
    assert_eq!(
        std::fs::read_to_string(r.join("matched.csv")).unwrap(),
        "metric,level,g0,lr,rule,n,missing,mean,sd,sem,ci_low,ci_high\n"
    );
    assert_eq!(
        std::fs::read_to_string(r.join("attribution.csv")).unwrap(),
        "metric,level,axis,eta2,ci_low,ci_high\n".to_string()
            + &["0.5", "0.8", "0.9", "0.95"]
                .iter()
                .flat_map(|l| {
                    ["g0", "seed", "lr", "rule"].map(|a| format!("procrustes-angular,{l},{a},,,\n"))
                })
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
        let err = run_err(&["sweep", "merge", common::s(&path), flag, v]);
        assert!(err.contains(culprit), "{err}");
    }
    assert!(!d.join("results/merged.csv").exists());
}

/// Analysis tables with two metrics per checkpoint: Procrustes as in [`write_runs`], and CKA
/// (a similarity) = 1 - the Procrustes distance, so every CKA statistic is known by hand.
fn write_two_metric_runs(s: &Sweep) {
    write_runs(s);
    for r in &s.runs {
        let p = s.run_dir(&r.id).join("analysis.csv");
        let old = std::fs::read_to_string(&p).unwrap();
        let mut csv = String::from(
            "seed,update,metric,accuracy,percent_correct,loss,distance,normalised_distance,cka,baseline,split_half_floor,participation_ratio\n",
        );
        for l in old.lines().skip(1) {
            let f: Vec<&str> = l.split(',').collect();
            let d: f64 = f[4].parse().unwrap();
            for (m, v) in [("procrustes-angular", d), ("cka", 1.0 - d)] {
                csv.push_str(&format!(
                    "{},{},{m},{},,{},{v},,{},0.2,0.1,1\n",
                    f[0],
                    f[1],
                    f[2],
                    f[3],
                    1.0 - d
                ));
            }
        }
        std::fs::write(&p, csv).unwrap();
    }
}

#[test]
fn merge_computes_every_table_per_metric() {
    let d = tmpdir("merge-metrics");
    let path = sweep_file(&d);
    let s = Sweep::load(&path).unwrap();
    write_two_metric_runs(&s);
    merge(&path, &["--levels", "0.5", "--metric", "procrustes,cka"]);
    let read = |f: &str| std::fs::read_to_string(s.results.join(f)).unwrap();
    let num = |s: &str| s.parse::<f64>().unwrap();

    // merged.csv: one row per (checkpoint, metric), the metric named, its baseline and floor.
    let merged = read("merged.csv");
    let (head, rows) = table(&merged);
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    // 7 networks with 3 checkpoints, 1 with 2; two metrics each.
    assert_eq!(rows.len(), 2 * (7 * 3 + 2));
    for pair in rows.chunks(2) {
        assert_eq!(pair[0][col("metric")], "procrustes-angular");
        assert_eq!(pair[1][col("metric")], "cka");
        assert_eq!(pair[0][col("update")], pair[1][col("update")]);
        let (p, c) = (num(pair[0][col("distance")]), num(pair[1][col("distance")]));
        assert!((p + c - 1.0).abs() < 1e-12);
        assert_eq!(pair[1][col("split_half_floor")], "0.1");
        assert_eq!(pair[1][col("percent_correct")], "");
    }

    // matched.csv: the Procrustes block as before, then the CKA block: g0 = 1.0, eprop:
    // CKA 1 - (0.7, 0.5) = (0.3, 0.5), mean 0.4; the group of one (bptt, 2.0) 1 - 0.3 = 0.7.
    let matched = read("matched.csv");
    let lines: Vec<&str> = matched.lines().collect();
    assert_eq!(lines.len(), 1 + 2 * 4);
    assert!(
        lines[1..5]
            .iter()
            .all(|l| l.starts_with("procrustes-angular,0.5,"))
    );
    let f: Vec<&str> = lines[5].split(',').collect();
    assert_eq!(&f[..7], ["cka", "0.5", "1.0", "0.0003", "eprop", "2", "0"]);
    assert!((num(f[7]) - 0.4).abs() < 1e-12);
    assert_eq!(lines[8], "cka,0.5,2.0,0.001,bptt,1,1,0.7,,,0.7,0.7");

    // attribution.csv: eta² is invariant under d -> 1 - d, so both blocks agree axis by axis.
    let attribution = read("attribution.csv");
    let rows = table(&attribution).1;
    assert_eq!(rows.len(), 2 * 4);
    for (p, c) in rows[..4].iter().zip(&rows[4..]) {
        assert_eq!((p[0], c[0]), ("procrustes-angular", "cka"));
        assert_eq!(p[2], c[2]);
        assert!((num(p[3]) - num(c[3])).abs() < 1e-12);
    }

    // paired.csv: the CKA differences are the Procrustes ones negated (mean -0.4/3), same p.
    let paired = read("paired.csv");
    let rows = table(&paired).1;
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[1][..6], ["cka", "0.5", "rule", "bptt", "eprop", "3"]);
    assert!((num(rows[1][6]) + 0.4 / 3.0).abs() < 1e-12);
    assert!((num(rows[1][10]) - num(rows[0][10])).abs() < 1e-12);

    // A metric no analysis.csv holds and no data to score it with: empty, well-formed tables.
    let o = merge(&path, &["--levels", "0.5", "--metric", "cca"]);
    assert_eq!(
        read("matched.csv"),
        "metric,level,g0,lr,rule,n,missing,mean,sd,sem,ci_low,ci_high\n"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cca-mean-pca20-ridge1e-3") && err.contains("no data"),
        "{err}"
    );
}

#[test]
fn run_json_holds_typed_axis_values() {
    let values: Vec<(String, String)> = [
        ("lr", "0.001"),
        ("rule", "bptt"),
        ("dale", "true"),
        ("seed", "1"),
        ("g0", "1.0"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    let typed = snnlab::sweep::typed_values(&values);
    let json = serde_json::Value::Object(typed);
    assert_eq!(json["lr"].as_f64(), Some(0.001));
    assert_eq!(json["rule"].as_str(), Some("bptt"));
    assert_eq!(json["dale"].as_bool(), Some(true));
    assert_eq!(json["seed"].as_i64(), Some(1));
    assert_eq!(json["g0"].as_f64(), Some(1.0));
    // A sweep's own run.json as `merge` reads it back.
    let d = tmpdir("run-json");
    let s = Sweep::load(&sweep_file(&d)).unwrap();
    write_runs(&s);
    let r = &s.runs[0];
    let text = std::fs::read_to_string(s.run_dir(&r.id).join("run.json")).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        j["values"]["g0"].is_f64() && j["values"]["seed"].is_i64(),
        "{text}"
    );
    assert!(j["values"]["rule"].is_string(), "{text}");
    assert_eq!(s.record(&r.id).unwrap().status, "done");
}

/// `--metric dsa:… --compare rule`: model_pairs.csv scores each pair of networks at its first
/// checkpoint reaching the level; two copies of one network score 0, two networks their DSA.
#[test]
fn merge_scores_paired_networks_dynamics_in_model_pairs_csv() {
    let d = tmpdir("model-pairs");
    // Two trained networks to copy into the hand-made runs.
    let config = "task = \"reach\"\nrule = \"bptt\"\nn_rec = 12\nbatch_size = 4\nupdates = 2\nseeds = [1, 2]\ncheckpoints = [2]\ndevice = \"cpu\"\n";
    let trained = train_quietly(&d, "trained", config);
    let (net_a, net_b) = (
        trained.join("seed1/update0002.safetensors"),
        trained.join("seed2/update0002.safetensors"),
    );
    let path = sweep_file(&d);
    let s = Sweep::load(&path).unwrap();
    write_runs(&s);
    // g0 = 1.0: both rules are network a; g0 = 2.0: bptt a, eprop b. Update 1 is where every
    // network that reaches 0.5 first does.
    for r in &s.runs {
        let v = &r.values;
        let src = if value(v, "g0") == "2.0" && value(v, "rule") == "eprop" {
            &net_b
        } else {
            &net_a
        };
        let dir = s.run_dir(&r.id).join(format!("seed{}", value(v, "seed")));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(src, dir.join("update0001.safetensors")).unwrap();
        std::fs::copy(src, dir.join("update0002.safetensors")).unwrap();
    }
    merge(
        &path,
        &["--levels", "0.5,0.9", "--metric", "procrustes,dsa:rank4"],
    );
    let text = std::fs::read_to_string(s.results.join("model_pairs.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        head.join(","),
        "metric,level,axis,a,b,g0,seed,run_a,seed_a,update_a,accuracy_a,run_b,seed_b,update_b,accuracy_b,score"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // Level 0.5: (1.0, 1), (1.0, 2), (2.0, 1); (2.0, 2) has no bptt network there; 0.9: none.
    assert_eq!(rows.len(), 3, "{text}");
    let ab = {
        let (a, b) = (common::s(&net_a), common::s(&net_b));
        run_ok(&["dsa", "--x-model", a, "--y-model", b, "--rank", "4"])
            .trim()
            .parse::<f64>()
            .unwrap()
    };
    assert!(ab > 1e-3);
    for r in &rows {
        assert_eq!(
            &r[..5],
            ["dsa-angular-rank4", "0.5", "rule", "bptt", "eprop"]
        );
        assert_eq!(
            (r[9], r[13]),
            ("1", "1"),
            "the first checkpoint at accuracy 0.5"
        );
        let score: f64 = r[15].parse().unwrap();
        if r[5] == "1.0" {
            assert!(score.abs() < 1e-6, "one network against itself: {score}");
        } else {
            assert!((score - ab).abs() < 1e-9, "{score} vs {ab}");
        }
    }
}
