//! The analysis commands as outside checks call them (SPEC §7): `procrustes` prints the distance
//! as a bare number, `evaluate` writes the paper's numbers for its released reach checkpoint,
//! `analyze`/`report` score a training run; bad data → one line naming the file, exit 2, no output.

use std::path::{Path, PathBuf};

use ndarray::{Array3, Axis};

mod common;
use common::{bin, tmpdir};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn hatsopoulos() -> PathBuf {
    root().join("data/neural/hatsopoulos2007/firing_rate_n141_t121_c8.npy")
}

fn write_npy(path: &Path, a: &Array3<f64>) {
    ndarray_npy::write_npy(path, a).unwrap();
}

fn run_ok(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "args {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit 2, one stderr line containing every `culprit`, `out` (if any) not created.
fn assert_bad(args: &[&str], culprits: &[&str], out: Option<&Path>) {
    let o = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: stderr {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {err}");
    for c in culprits {
        assert!(
            lines[0].contains(c),
            "message '{}' should name '{c}'",
            lines[0]
        );
    }
    if let Some(p) = out {
        assert!(!p.exists(), "{} must not be written", p.display());
    }
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
    let (xs, ys, zs) = (
        xp.to_str().unwrap(),
        yp.to_str().unwrap(),
        zp.to_str().unwrap(),
    );

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
    assert_bad(
        &["procrustes", "--x", two.to_str().unwrap(), "--y", zs],
        &["two.npy"],
        None,
    );
    let mut n = z.clone();
    n[[1, 2, 3]] = f64::NAN;
    let nan = d.join("nan.npy");
    write_npy(&nan, &n);
    assert_bad(
        &["procrustes", "--x", xs, "--y", nan.to_str().unwrap()],
        &["nan.npy", "NaN"],
        None,
    );
    let short = d.join("short.npy");
    write_npy(&short, &random((7, 4, 4), 3));
    assert_bad(
        &["procrustes", "--x", xs, "--y", short.to_str().unwrap()],
        &["short.npy", "T = 4"],
        None,
    );
    assert_bad(
        &["procrustes", "--x", xs, "--y", zs, "--metric", "cosine"],
        &["--metric"],
        None,
    );
    assert_bad(
        &["procrustes", "--x", xs, "--y", zs, "--alpha", "1.5"],
        &["--alpha"],
        None,
    );
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
    let ckpt = root().join("data/paper/reach_bptt_lr1e-3.npz");
    run_ok(&[
        "import-npz",
        "--npz",
        ckpt.to_str().unwrap(),
        "--prefix",
        "p0_",
        "--kind",
        "rate",
        "--out",
        m.to_str().unwrap(),
    ]);
    let out = d.join("e.json");
    let (ms, os, hs) = (m.to_str().unwrap(), out.to_str().unwrap(), hatsopoulos());
    run_ok(&[
        "evaluate",
        "--model",
        ms,
        "--task",
        "reach",
        "--data",
        hs.to_str().unwrap(),
        "--out",
        os,
    ]);
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
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

    // Without data: accuracy and loss only.
    let out2 = d.join("e2.json");
    run_ok(&[
        "evaluate",
        "--model",
        ms,
        "--task",
        "reach",
        "--out",
        out2.to_str().unwrap(),
    ]);
    let j2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out2).unwrap()).unwrap();
    assert_eq!(j2["accuracy"], j["accuracy"]);
    assert!(j2.get("procrustes").is_none());

    // Bad data: conditions that do not match the task; the wrong task for the model; NaN.
    let bad = d.join("c7.npy");
    write_npy(&bad, &random((20, 121, 7), 4));
    let bo = d.join("bad.json");
    assert_bad(
        &[
            "evaluate",
            "--model",
            ms,
            "--task",
            "reach",
            "--data",
            bad.to_str().unwrap(),
            "--out",
            bo.to_str().unwrap(),
        ],
        &["c7.npy", "7"],
        Some(&bo),
    );
    let mut n = random((20, 121, 8), 5);
    n[[0, 0, 0]] = f64::NAN;
    let nan = d.join("nan.npy");
    write_npy(&nan, &n);
    assert_bad(
        &[
            "evaluate",
            "--model",
            ms,
            "--task",
            "reach",
            "--data",
            nan.to_str().unwrap(),
            "--out",
            bo.to_str().unwrap(),
        ],
        &["nan.npy", "NaN"],
        Some(&bo),
    );
    assert_bad(
        &[
            "evaluate",
            "--model",
            ms,
            "--task",
            "mante",
            "--out",
            bo.to_str().unwrap(),
        ],
        &["n_in"],
        Some(&bo),
    );
    assert_bad(
        &[
            "evaluate",
            "--model",
            ms,
            "--task",
            "sudoku",
            "--out",
            bo.to_str().unwrap(),
        ],
        &["--task"],
        Some(&bo),
    );
}

#[test]
fn analyze_and_report_score_every_checkpoint() {
    let d = tmpdir("analyze");
    let run = d.join("run");
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, "task = \"reach\"\nrule = \"bptt\"\nn_rec = 24\nbatch_size = 8\nupdates = 3\ncheckpoints = [0, 2]\ndevice = \"cpu\"\n").unwrap();
    run_ok(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    let h = hatsopoulos();
    let stdout = run_ok(&[
        "analyze",
        run.to_str().unwrap(),
        "--data",
        h.to_str().unwrap(),
    ]);
    assert!(stdout.contains("closest to data"), "{stdout}");
    let csv = std::fs::read_to_string(run.join("analysis.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
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
    run_ok(&[
        "report",
        run.to_str().unwrap(),
        "--data",
        h.to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.matches("<svg").count() >= 5,
        "report should hold the charts"
    );
    assert!(page.contains("cross-condition baseline") && page.contains("split-half floor"));

    assert_bad(
        &[
            "analyze",
            d.join("nothing").to_str().unwrap(),
            "--data",
            h.to_str().unwrap(),
        ],
        &["nothing"],
        None,
    );
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
    let (xs, ys, zs) = (
        xp.to_str().unwrap(),
        yp.to_str().unwrap(),
        zp.to_str().unwrap(),
    );
    let same: f64 = run_ok(&["dsa", "--x", xs, "--y", ys, "--n-delays", "2"])
        .trim()
        .parse()
        .expect("a bare number");
    assert!(same < 1e-3, "angle to a permuted, scaled copy: {same}");
    let json = d.join("dsa.json");
    let far: f64 = run_ok(&[
        "dsa",
        "--x",
        xs,
        "--y",
        zs,
        "--n-delays",
        "2",
        "--rank",
        "6",
        "--out",
        json.to_str().unwrap(),
    ])
    .trim()
    .parse()
    .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
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
    let w: f64 = run_ok(&[
        "dsa",
        "--x",
        xs,
        "--y",
        zs,
        "--n-delays",
        "2",
        "--rank",
        "6",
        "--score",
        "wasserstein",
    ])
    .trim()
    .parse()
    .unwrap();
    assert!((w - v["wasserstein"].as_f64().unwrap()).abs() < 1e-12);
    // --x-layout: the [T, N, C] copy is the same array.
    let same_layout: f64 = run_ok(&[
        "dsa",
        "--x",
        tp.to_str().unwrap(),
        "--x-layout",
        "TNC",
        "--y",
        ys,
        "--n-delays",
        "2",
    ])
    .trim()
    .parse()
    .unwrap();
    assert!(same_layout < 1e-3);

    // 4 units x 12 delays = 48 features > 3 x 9 samples: one line saying what to do.
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
            json.with_extension("bad").to_str().unwrap(),
        ],
        &["x.npy", "reduce --n-delays", "--pca"],
        Some(&json.with_extension("bad")),
    );
    let ok: f64 = run_ok(&[
        "dsa",
        "--x",
        xs,
        "--y",
        ys,
        "--n-delays",
        "12",
        "--pca",
        "2",
    ])
    .trim()
    .parse()
    .unwrap();
    assert!(ok < 1e-3, "{ok}");
    let mut n = x.clone();
    n[[1, 2, 0]] = f64::NAN;
    let nan = d.join("nan.npy");
    write_npy(&nan, &n);
    assert_bad(
        &["dsa", "--x", xs, "--y", nan.to_str().unwrap()],
        &["nan.npy", "NaN"],
        None,
    );
    let short = d.join("short.npy");
    write_npy(&short, &random((4, 19, 3), 13));
    assert_bad(
        &["dsa", "--x", xs, "--y", short.to_str().unwrap()],
        &["short.npy", "T and C"],
        None,
    );
    assert_bad(
        &["dsa", "--x", xs, "--y", ys, "--x-layout", "NTX"],
        &["--x-layout"],
        None,
    );
    assert_bad(
        &["dsa", "--x", xs, "--y", ys, "--score", "cosine"],
        &["--score"],
        None,
    );
}
