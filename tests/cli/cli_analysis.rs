//! The analysis commands as outside checks call them (SPEC §7): `procrustes` prints the distance
//! as a bare number, `evaluate` writes the paper's numbers for its released reach checkpoint,
//! `analyze`/`report` score a training run; bad data → one line naming the file, exit 2, no output.

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayView3, Axis};

use crate::common;
use common::{assert_bad, hatsopoulos, json, repo, run_ok, s, table, tmpdir, train_quietly};

fn write_npy(path: &Path, a: &Array3<f64>) {
    ndarray_npy::write_npy(path, a).unwrap();
}

/// `d/nan.npy` (`x` with a NaN at `at`) and `d/short.npy` (`short`).
fn nan_and_short(
    d: &Path,
    x: &Array3<f64>,
    at: [usize; 3],
    short: &Array3<f64>,
) -> (PathBuf, PathBuf) {
    let mut n = x.clone();
    n[at] = f64::NAN;
    let (nan_p, short_p) = (d.join("nan.npy"), d.join("short.npy"));
    write_npy(&nan_p, &n);
    write_npy(&short_p, short);
    (nan_p, short_p)
}

/// The rows of an analysis.csv in `metric` as the columns seed, update, accuracy, loss,
/// distance, normalised_distance, participation_ratio (the table before its `metric` column).
fn old_columns(csv: &str, metric: &str) -> Vec<String> {
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|f| f[col("metric")] == metric)
        .map(|f| {
            [
                "seed",
                "update",
                "accuracy",
                "loss",
                "distance",
                "normalised_distance",
                "participation_ratio",
            ]
            .map(|n| f[col(n)])
            .join(",")
        })
        .collect()
}

fn random(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array3::from_shape_simple_fn(shape, || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    })
}

#[test]
fn procrustes_prints_the_distance() {
    let d = tmpdir("procrustes");
    let x = random((7, 5, 4), 1);
    let (xp, yp, zp) = (d.join("x.npy"), d.join("y.npy"), d.join("z.npy"));
    write_npy(&xp, &x);
    // y: x with units permuted, scaled by 3 and shifted — angular distance 0.
    let mut y = x.clone();
    y.invert_axis(Axis(0));
    write_npy(&yp, &(y * 3.0 + 1.5));
    let z = random((9, 5, 4), 2);
    write_npy(&zp, &z);
    let (xs, ys, zs) = (s(&xp), s(&yp), s(&zp));

    let same: f64 = run_ok(&["procrustes", "--x", xs, "--y", ys])
        .trim()
        .parse()
        .expect("a bare number");
    assert!(
        same.abs() < 1e-6,
        "distance to a rotated, scaled, shifted copy is {same}"
    );
    let out = run_ok(&["procrustes", "--x", xs, "--y", zs]);
    let dxz: f64 = out.trim().parse().expect("a bare number");
    let want = snnlab::similarity::angular_procrustes(x.view(), z.view()).unwrap();
    assert!(
        (dxz - want).abs() < 1e-12 && dxz > 0.05,
        "cli {dxz} vs library {want}"
    );
    let eu: f64 = run_ok(&[
        "procrustes",
        "--x",
        xs,
        "--y",
        zs,
        "--metric",
        "euclidean",
        "--alpha",
        "0.5",
    ])
    .trim()
    .parse()
    .unwrap();
    let want = snnlab::similarity::shape_distance(
        x.view(),
        z.view(),
        0.5,
        snnlab::similarity::Score::Euclidean,
    )
    .unwrap();
    assert!(
        (eu - want).abs() < 1e-12,
        "euclidean cli {eu} vs library {want}"
    );

    // Bad input: wrong axis count, NaN, T/C mismatch, unknown metric, alpha out of range.
    let two = d.join("two.npy");
    ndarray_npy::write_npy(&two, &ndarray::Array2::<f64>::zeros((3, 4))).unwrap();
    let (nan, short) = nan_and_short(&d, &z, [1, 2, 3], &random((7, 4, 4), 3));
    let (twos, nans, shorts) = (s(&two), s(&nan), s(&short));
    let cases: [(&[&str], &[&str]); 5] = [
        (&["--x", twos, "--y", zs], &["two.npy"]),
        (&["--x", xs, "--y", nans], &["nan.npy", "NaN"]),
        (&["--x", xs, "--y", shorts], &["short.npy", "T = 4"]),
        (&["--x", xs, "--y", zs, "--metric", "cosine"], &["--metric"]),
        (&["--x", xs, "--y", zs, "--alpha", "1.5"], &["--alpha"]),
    ];
    for (args, culprits) in cases {
        assert_bad(&[&["procrustes"], args].concat(), culprits, None);
    }
    assert_bad(
        &["procrustes", "--x", "missing.npy", "--y", zs],
        &["missing.npy"],
        None,
    );
}

#[test]
fn evaluate_reproduces_the_papers_reach_checkpoint() {
    let d = tmpdir("evaluate");
    let m = d.join("reach0.safetensors");
    let ckpt = repo("data/paper/reach_bptt_lr1e-3.npz");
    let (cs, ms) = (s(&ckpt), s(&m));
    run_ok(&[
        "import-npz",
        "--npz",
        cs,
        "--prefix",
        "p0_",
        "--kind",
        "rate",
        "--out",
        ms,
    ]);
    let out = d.join("e.json");
    let (os, h) = (s(&out), hatsopoulos());
    let hs = s(&h);
    run_ok(&[
        "evaluate", "--model", ms, "--task", "reach", "--data", hs, "--out", os,
    ]);
    let j = json(&out);
    let get = |k: &str| {
        j[k].as_f64()
            .unwrap_or_else(|| panic!("{k} missing in {j}"))
    };
    for (k, want) in [
        ("accuracy", -1.049),
        ("procrustes", 0.5173),
        ("baseline", 0.4838),
    ] {
        assert!(
            (get(k) - want).abs() <= 2e-3,
            "{k} = {} (paper {want})",
            get(k)
        );
    }
    assert!(get("loss") > 0.0);
    // The metric set of analysis.csv, named as there.
    assert_eq!(j["metric"], "procrustes-angular");
    assert_eq!(get("distance"), get("procrustes"));
    let task = snnlab::evaluate::AnalysisTask::load(snnlab::evaluate::TaskName::Reach).unwrap();
    let data = snnlab::evaluate::load_data(&h, &task).unwrap();
    let floor = snnlab::similarity::split_half_floor(data.view(), 100, 0).unwrap();
    // The same computation in this process (OpenBLAS threaded) and in the binary (one thread):
    // equal up to the last bits of LAPACK's summation order.
    assert!((get("split_half_floor") - floor).abs() < 1e-12);
    assert!((get("normalised_distance") - (get("distance") - floor) / (1.0 - floor)).abs() < 1e-12);
    assert!(get("cka") > 0.0 && get("participation_ratio") >= 1.0);

    // Without data: accuracy and loss only.
    let out2 = d.join("e2.json");
    run_ok(&[
        "evaluate",
        "--model",
        ms,
        "--task",
        "reach",
        "--out",
        s(&out2),
    ]);
    let j2 = json(&out2);
    assert_eq!(j2["accuracy"], j["accuracy"]);
    assert!(j2.get("procrustes").is_none());

    // Bad data: conditions that do not match the task; the wrong task for the model; NaN.
    let bad = d.join("c7.npy");
    write_npy(&bad, &random((20, 121, 7), 4));
    let bo = d.join("bad.json");
    let mut n = random((20, 121, 8), 5);
    n[[0, 0, 0]] = f64::NAN;
    let nan = d.join("nan.npy");
    write_npy(&nan, &n);
    let (bads, nans) = (s(&bad), s(&nan));
    let cases: [(&[&str], &[&str]); 4] = [
        (&["--task", "reach", "--data", bads], &["c7.npy", "7"]),
        (&["--task", "reach", "--data", nans], &["nan.npy", "NaN"]),
        (&["--task", "mante"], &["n_in"]),
        (&["--task", "sudoku"], &["--task"]),
    ];
    for (args, culprits) in cases {
        let all = [&["evaluate", "--model", ms, "--out", s(&bo)], args].concat();
        assert_bad(&all, culprits, Some(&bo));
    }
}

#[test]
fn analyze_and_report_score_every_checkpoint() {
    let d = tmpdir("analyze");
    let config = "task = \"reach\"\nrule = \"bptt\"\nn_rec = 24\nbatch_size = 8\nupdates = 3\ncheckpoints = [0, 2]\ndevice = \"cpu\"\n";
    let run = train_quietly(&d, "run", config);
    let h = hatsopoulos();
    let (rs, hs) = (s(&run), s(&h));
    let stdout = run_ok(&["analyze", rs, "--data", hs]);
    assert!(stdout.contains("closest to data"), "{stdout}");
    let csv = std::fs::read_to_string(run.join("analysis.csv")).unwrap();
    // Without --metric every row is Procrustes; the columns the assertions below index.
    let rows: Vec<String> = old_columns(&csv, "procrustes-angular");
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    // Checkpoints 0 and 2, plus the final update 3.
    assert_eq!(rows.len(), 3, "{csv}");
    let model = snnlab::io::load_model(&run.join("seed1/update0002.safetensors")).unwrap();
    let task = snnlab::evaluate::AnalysisTask::load(snnlab::evaluate::TaskName::Reach).unwrap();
    let data = snnlab::evaluate::load_data(&h, &task).unwrap();
    let e = snnlab::evaluate::evaluate(&task, &model, Some(&data)).unwrap();
    let row: Vec<f64> = rows[1].split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!(row[1], 2.0);
    assert!(
        (row[2] - e.accuracy).abs() < 1e-12 && (row[4] - e.procrustes.unwrap()).abs() < 1e-12,
        "{row:?} vs {e:?}"
    );
    let floor = snnlab::similarity::split_half_floor(data.view(), 100, 0).unwrap();
    assert!(
        (row[5] - (row[4] - floor) / (1.0 - floor)).abs() < 1e-12,
        "normalised distance {row:?}, floor {floor}"
    );

    let html = d.join("report.html");
    let htmls = s(&html);
    run_ok(&["report", rs, "--data", hs, "--out", htmls]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.matches("<svg").count() >= 5,
        "report should hold the charts"
    );
    assert!(page.contains("cross-condition baseline") && page.contains("split-half floor"));
    // No network of 3 updates reaches 0.95: the table says so instead of a value.
    assert!(page.contains("no network reached accuracy 0.95"), "{page}");
    assert!(page.contains("no checkpoint at accuracy ≥ 0.9"));
    assert!(
        !page.contains(&d.display().to_string()),
        "no absolute paths"
    );

    // The matched table of plain run folders: the level below every accuracy is met by the
    // first checkpoint (its distance); the level above every accuracy by none.
    let first: Vec<f64> = rows[0].split(',').map(|v| v.parse().unwrap()).collect();
    let stdout = run_ok(&[
        "analyze",
        rs,
        "--data",
        hs,
        "--levels",
        "-1e9,2",
        "--min-accuracy",
        "-1e9",
    ]);
    let table = &stdout[stdout
        .find("metric,level,run,")
        .expect("matched table printed")..];
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "metric,level,run,n,missing,mean,sd,sem,ci_low,ci_high"
    );
    assert_eq!(
        lines[1],
        format!(
            "procrustes-angular,-1000000000,run,1,0,{0},,,{0},{0}",
            first[4]
        )
    );
    assert_eq!(lines[2], "procrustes-angular,2,run,0,1,,,,,");
    // Every checkpoint is at accuracy >= -1e9: the closest is the smallest distance of all.
    let min_d = rows
        .iter()
        .map(|r| r.split(',').nth(4).unwrap().parse::<f64>().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!(stdout.contains(&format!("distance {min_d:.4}")), "{stdout}");
    run_ok(&[
        "report", rs, "--data", hs, "--out", htmls, "--levels", "-1e9,2",
    ]);
    assert_eq!(
        std::fs::read_to_string(d.join("matched.csv")).unwrap(),
        lines.join("\n") + "\n",
        "report and analyze give the same matched table"
    );

    let nothing = d.join("nothing");
    assert_bad(&["analyze", s(&nothing), "--data", hs], &["nothing"], None);
}

#[test]
fn dsa_prints_the_angle_writes_json_and_rejects_bad_input() {
    let d = tmpdir("dsa");
    let x = random((4, 20, 3), 11);
    let (xp, yp, zp, tp) = (
        d.join("x.npy"),
        d.join("y.npy"),
        d.join("z.npy"),
        d.join("x_tnc.npy"),
    );
    write_npy(&xp, &x);
    // y: x with units reversed and scaled — DSA angle 0.
    let mut y = x.clone();
    y.invert_axis(Axis(0));
    write_npy(&yp, &(y * 2.0));
    write_npy(&zp, &random((5, 20, 3), 12));
    // x stored as [T, N, C].
    let xt = x
        .view()
        .permuted_axes([1, 0, 2])
        .as_standard_layout()
        .into_owned();
    write_npy(&tp, &xt);
    let (xs, ys, zs, ts) = (s(&xp), s(&yp), s(&zp), s(&tp));
    // `dsa ARGS`: the bare number it prints.
    let dsa = |args: &[&str]| -> f64 {
        run_ok(&[&["dsa"], args].concat())
            .trim()
            .parse()
            .expect("a bare number")
    };
    let same = dsa(&["--x", xs, "--y", ys, "--n-delays", "2"]);
    assert!(same < 1e-3, "angle to a permuted, scaled copy: {same}");
    let json_p = d.join("dsa.json");
    let js = s(&json_p);
    let rank6 = ["--x", xs, "--y", zs, "--n-delays", "2", "--rank", "6"];
    let far = dsa(&[&rank6[..], &["--out", js]].concat());
    let v = json(&json_p);
    assert_eq!(v["score"].as_f64().unwrap(), far);
    assert_eq!(v["score_method"], "angular");
    assert_eq!(v["rank"], 6);
    assert_eq!(v["n_delays"], 2);
    assert!(v["wasserstein"].as_f64().unwrap() > 0.0);
    let ex = v["eigenvalues_x"].as_array().unwrap();
    assert_eq!(ex.len(), 6);
    let moduli: Vec<f64> = ex
        .iter()
        .map(|z| z[0].as_f64().unwrap().hypot(z[1].as_f64().unwrap()))
        .collect();
    assert!(moduli.windows(2).all(|w| w[0] >= w[1]), "{moduli:?}");
    assert!(far > 0.05 && far <= std::f64::consts::PI);
    // Wasserstein as the score equals the JSON's wasserstein field.
    let w = dsa(&[&rank6[..], &["--score", "wasserstein"]].concat());
    assert!((w - v["wasserstein"].as_f64().unwrap()).abs() < 1e-12);
    // --x-layout: the [T, N, C] copy is the same array.
    let same_layout = dsa(&["--x", ts, "--x-layout", "TNC", "--y", ys, "--n-delays", "2"]);
    assert!(same_layout < 1e-3);

    // 4 units x 12 delays = 48 features > 3 x 9 samples: one line saying what to do.
    let bad_out = json_p.with_extension("bad");
    assert_bad(
        &[
            "dsa",
            "--x",
            xs,
            "--y",
            ys,
            "--n-delays",
            "12",
            "--out",
            s(&bad_out),
        ],
        &["x.npy", "reduce --n-delays", "--pca"],
        Some(&bad_out),
    );
    let ok = dsa(&["--x", xs, "--y", ys, "--n-delays", "12", "--pca", "2"]);
    assert!(ok < 1e-3, "{ok}");
    let (nan, short) = nan_and_short(&d, &x, [1, 2, 0], &random((4, 19, 3), 13));
    let (nans, shorts) = (s(&nan), s(&short));
    let cases: [(&[&str], &[&str]); 4] = [
        (&["--x", xs, "--y", nans], &["nan.npy", "NaN"]),
        (&["--x", xs, "--y", shorts], &["short.npy", "T and C"]),
        (
            &["--x", xs, "--y", ys, "--x-layout", "NTX"],
            &["--x-layout"],
        ),
        (&["--x", xs, "--y", ys, "--score", "cosine"], &["--score"]),
    ];
    for (args, culprits) in cases {
        assert_bad(&[&["dsa"], args].concat(), culprits, None);
    }
}

/// A tiny trained reach run (`updates` updates, checkpoints 0 and 2, two seeds).
fn tiny_run(d: &Path) -> PathBuf {
    train_quietly(
        d,
        "run",
        "task = \"reach\"\nrule = \"bptt\"\nn_rec = 16\nbatch_size = 8\nupdates = 3\nseeds = [1, 2]\ncheckpoints = [0, 2]\ndevice = \"cpu\"\n",
    )
}

#[test]
fn analyze_scores_every_checkpoint_in_every_metric_asked() {
    use snnlab::similarity as sim;
    let d = tmpdir("analyze-metrics");
    let run = tiny_run(&d);
    let (rs, h) = (s(&run), hatsopoulos());
    let hs = s(&h);
    run_ok(&["analyze", rs, "--data", hs]);
    let plain = std::fs::read_to_string(run.join("analysis.csv")).unwrap();
    // Repeated and comma-separated flags; an output name is accepted as the metric's id.
    let stdout = run_ok(&[
        "analyze",
        rs,
        "--data",
        hs,
        "--metric",
        "procrustes,cka",
        "--metric",
        "cca-mean-pca20-ridge1e-3",
    ]);
    let csv = std::fs::read_to_string(run.join("analysis.csv")).unwrap();
    let (head, rows) = table(&csv);
    assert_eq!(
        head.join(","),
        "seed,update,metric,accuracy,percent_correct,loss,distance,normalised_distance,cka,baseline,split_half_floor,participation_ratio"
    );
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    // Two seeds × checkpoints 0, 2, 3 × three metrics, checkpoint-major.
    assert_eq!(rows.len(), 2 * 3 * 3, "{csv}");
    let metrics: Vec<&str> = rows.iter().take(3).map(|r| r[col("metric")]).collect();
    assert_eq!(
        metrics,
        ["procrustes-angular", "cka", "cca-mean-pca20-ridge1e-3"]
    );
    // The Procrustes rows are the numbers of a plain `analyze`.
    assert_eq!(
        old_columns(&csv, "procrustes-angular"),
        old_columns(&plain, "procrustes-angular")
    );
    // Every row against an independent computation on the checkpoint's activity.
    let task = snnlab::evaluate::AnalysisTask::load(snnlab::evaluate::TaskName::Reach).unwrap();
    let data = snnlab::evaluate::load_data(&h, &task).unwrap();
    let avg = sim::condition_average(data.view());
    let halves = sim::split_halves(data.view(), 100, 0).unwrap();
    // A score's mean over the 100 split halves of the recordings.
    let half_mean = |score: &dyn Fn(ArrayView3<f64>, ArrayView3<f64>) -> f64| {
        let half = |rows: &Vec<usize>| data.select(Axis(0), rows);
        halves
            .iter()
            .map(|(a, b)| score(half(a).view(), half(b).view()))
            .sum::<f64>()
            / 100.0
    };
    let cca_floor = half_mean(&|x, y| sim::cca_distance(x, y).unwrap());
    let num = |v: &str| v.parse::<f64>().unwrap();
    for r in &rows {
        let update: usize = r[col("update")].parse().unwrap();
        let path = run.join(format!(
            "seed{}/update{update:04}.safetensors",
            r[col("seed")]
        ));
        let model = snnlab::io::load_model(&path).unwrap();
        let (_, _, act) = snnlab::evaluate::run_model(&task, &model).unwrap();
        let cka = sim::linear_cka(act.view(), data.view()).unwrap();
        assert!((num(r[col("cka")]) - cka).abs() < 1e-12, "{r:?}");
        assert_eq!(r[col("percent_correct")], "", "reach is an mse task");
        let (want, baseline, floor) = match r[col("metric")] {
            "procrustes-angular" => (
                sim::angular_procrustes(act.view(), data.view()).unwrap(),
                sim::cross_condition_baseline(data.view()).unwrap(),
                sim::split_half_floor(data.view(), 100, 0).unwrap(),
            ),
            "cka" => (
                cka,
                sim::linear_cka(avg.view(), data.view()).unwrap(),
                half_mean(&|x, y| sim::linear_cka(x, y).unwrap()),
            ),
            _ => (
                sim::cca_distance(act.view(), data.view()).unwrap(),
                sim::cca_distance(avg.view(), data.view()).unwrap(),
                cca_floor,
            ),
        };
        assert!((num(r[col("distance")]) - want).abs() < 1e-12, "{r:?}");
        assert!((num(r[col("baseline")]) - baseline).abs() < 1e-12, "{r:?}");
        assert!(
            (num(r[col("split_half_floor")]) - floor).abs() < 1e-12,
            "{r:?}"
        );
        // CKA is a similarity: no split-half normalised distance.
        if r[col("metric")] == "cka" {
            assert_eq!(r[col("normalised_distance")], "");
        } else {
            let n = (want - floor) / (1.0 - floor);
            assert!((num(r[col("normalised_distance")]) - n).abs() < 1e-12);
        }
    }
    // The matched table has one block per metric, named.
    let table = &stdout[stdout
        .find("metric,level,run,")
        .expect("matched table printed")..];
    let blocks: Vec<&str> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 3 * 4, "{table}");
    assert_eq!(blocks[0], "procrustes-angular");
    assert_eq!(blocks[4], "cka");
    assert_eq!(blocks[8], "cca-mean-pca20-ridge1e-3");
    assert_bad(
        &["analyze", rs, "--data", hs, "--metric", "procrustes,nope"],
        &["--metric", "nope"],
        None,
    );
}

#[test]
fn dsa_compares_two_models_symmetric_zero_on_itself_and_on_a_rotated_copy() {
    let d = tmpdir("dsa-models");
    let run = tiny_run(&d);
    let a = run.join("seed1/update0003.safetensors");
    let b = run.join("seed2/update0003.safetensors");
    let (a_s, b_s) = (s(&a), s(&b));
    let score = |args: &[&str]| -> f64 {
        let mut all = vec!["dsa"];
        all.extend_from_slice(args);
        run_ok(&all).trim().parse().unwrap()
    };
    let self_pair = score(&["--x-model", a_s, "--y-model", a_s]);
    assert!(self_pair.abs() < 1e-6, "self-pair {self_pair}");
    let ab = score(&["--x-model", a_s, "--y-model", b_s, "--task", "reach"]);
    let ba = score(&["--x-model", b_s, "--y-model", a_s, "--task", "reach"]);
    assert!(ab > 1e-3, "two different networks: {ab}");
    assert!((ab - ba).abs() < 1e-6 * ab.max(1.0), "{ab} vs {ba}");
    // The model's activity with its units rotated by a random orthogonal matrix.
    let act_path = d.join("a.npz");
    run_ok(&["activity", "--model", a_s, "--out", s(&act_path)]);
    let act: Array3<f64> = {
        let mut z = ndarray_npy::NpzReader::new(std::fs::File::open(&act_path).unwrap()).unwrap();
        z.by_name("activity").unwrap()
    };
    let n = act.dim().0;
    let (q, _) =
        ndarray_linalg::QR::qr(&random((n, n, 1), 5).index_axis(Axis(2), 0).to_owned()).unwrap();
    let mut rot = Array3::zeros(act.dim());
    for c in 0..act.dim().2 {
        let m = q.dot(&act.index_axis(Axis(2), c));
        rot.index_axis_mut(Axis(2), c).assign(&m);
    }
    let rp = d.join("rot.npy");
    write_npy(&rp, &rot);
    // Silent units leave null temporal modes whose basis is arbitrary: compare the top modes.
    let rotated = score(&["--x-model", a_s, "--y", s(&rp), "--rank", "4"]);
    assert!(rotated < 1e-3, "rotated copy {rotated}");
    // An unrelated array scores far from it.
    let other = d.join("other.npy");
    write_npy(&other, &random(act.dim(), 9));
    assert!(score(&["--x-model", a_s, "--y", s(&other)]) > 0.1);
    let none = d.join("none.safetensors");
    assert_bad(
        &["dsa", "--x-model", s(&none), "--y", s(&rp)],
        &["none.safetensors"],
        None,
    );
}
