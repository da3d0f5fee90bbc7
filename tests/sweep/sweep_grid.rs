//! Large sweep grids: runs are indexed by id over the grid (never held expanded; the bounded
//! memory of `sweep status` on 10^6 runs is tests/sweep_memory.rs); the lazy index gives exactly
//! the ids and order of the full expansion; an absurd grid is refused with its size; the sweep's
//! `data_layout` reads the recordings in any axis order.

use crate::common;
use common::s;

use std::path::{Path, PathBuf};

use snnlab::sweep::{Shard, Sweep, run_id};
use snnlab::train::TrainConfig;

const BASE: &str = "[base]\ntask = \"reach\"\nn_rec = 16\nupdates = 2\nbatch_size = 4\ncheckpoints = [0, 2]\ndevice = \"cpu\"\n";

fn list(values: impl Iterator<Item = String>) -> String {
    format!("[{}]", values.collect::<Vec<_>>().join(", "))
}

fn sweep_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, body).unwrap();
    p
}

/// The expansion as it was before the lazy index: every combination in grid order (the first
/// axis the slowest), each config built from TOML text and hashed, then sorted by id (stably).
fn full_expansion(axes: &[(&str, Vec<&str>)]) -> Vec<(String, Vec<(String, String)>)> {
    let mut combos: Vec<Vec<(&str, &str)>> = vec![vec![]];
    for (k, vals) in axes {
        combos = combos
            .iter()
            .flat_map(|c| {
                vals.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((*k, *v));
                    c
                })
            })
            .collect();
    }
    let mut runs: Vec<(String, Vec<(String, String)>)> = combos
        .into_iter()
        .map(|c| {
            let mut text = BASE.replace("[base]\n", "");
            let mut seed = "1";
            for (k, v) in &c {
                if *k == "seed" {
                    seed = v;
                } else {
                    text.push_str(&format!("{k} = {v}\n"));
                }
            }
            text.push_str(&format!("seeds = [{seed}]\n"));
            let cfg = TrainConfig::from_toml(&text).unwrap();
            let values = c
                .iter()
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                .collect();
            (run_id(&cfg), values)
        })
        .collect();
    runs.sort_by(|a, b| a.0.cmp(&b.0));
    runs
}

#[test]
fn the_lazy_index_gives_the_ids_and_order_of_the_full_expansion() {
    let d = common::tmpdir("order");
    // Axes sorted by name (as the grid's are): g0, lr, rule, seed; seed is not the last digit.
    let axes = vec![
        ("g0", vec!["1.0", "1.5"]),
        ("lr", vec!["0.001", "0.0003", "0.01"]),
        ("rule", vec!["\"bptt\"", "\"eprop\""]),
        ("seed", vec!["1", "2", "3", "40", "7"]),
    ];
    let body = format!(
        "{BASE}[grid]\n{}",
        axes.iter()
            .map(|(k, v)| format!("{k} = [{}]\n", v.join(", ")))
            .collect::<String>()
    );
    let s = Sweep::load(&sweep_file(&d, "grid", &body)).unwrap();
    let expected = full_expansion(&axes);
    assert_eq!(s.runs.len(), 2 * 3 * 2 * 5);
    let got: Vec<(String, Vec<(String, String)>)> = (0..s.runs.len())
        .map(|k| {
            let r = s.runs.get(k).unwrap();
            (r.id, r.values)
        })
        .collect();
    assert_eq!(got, expected);
    // Every run's id is the hash of its own built config (the seed shortcut agrees with it).
    for k in 0..s.runs.len() {
        let r = s.runs.get(k).unwrap();
        assert_eq!(run_id(&r.config), r.id);
        assert_eq!(s.runs.id(k), r.id);
        let info = s.runs.info(k);
        assert_eq!(info.seed(), r.seed());
        assert_eq!((info.id, info.values), (r.id.clone(), r.values.clone()));
    }
    // Shards take every N-th of that order.
    let part: Vec<usize> = Shard::parse("1/4")
        .unwrap()
        .positions(s.runs.len())
        .collect();
    assert_eq!(part, (1..60).step_by(4).collect::<Vec<_>>());

    // A zipped seed (no seed digit) and no seed axis at all give the same order as well.
    let zipped = format!(
        "{BASE}[grid]\nrule = [\"bptt\", \"eprop\"]\n[zip]\nlr = [0.001, 0.01]\nseed = [3, 4]\n"
    );
    let z = Sweep::load(&sweep_file(&d, "zip", &zipped)).unwrap();
    let mut want: Vec<String> = Vec::new();
    for rule in ["bptt", "eprop"] {
        for (lr, seed) in [("0.001", 3), ("0.01", 4)] {
            let t = format!(
                "{}rule = \"{rule}\"\nlr = {lr}\nseeds = [{seed}]\n",
                BASE.replace("[base]\n", "")
            );
            want.push(run_id(&TrainConfig::from_toml(&t).unwrap()));
        }
    }
    want.sort();
    assert_eq!(
        (0..z.runs.len()).map(|k| z.runs.id(k)).collect::<Vec<_>>(),
        want
    );
}

#[test]
fn the_first_bad_run_in_grid_order_is_the_error() {
    let d = common::tmpdir("errors");
    for (grid, culprit) in [
        // A bad seed late in its axis, a good rest: the seed is named.
        ("lr = [0.001, 0.01]\nseed = [1, 2, -3]\n", "seed -3 is not"),
        // A bad lr on the first digit comes before the bad seed's first run (seed=-3 with lr=0.001).
        (
            "lr = [-1.0, 0.01]\nseed = [1, 2, -3]\n",
            "run lr=-1.0 seed=1",
        ),
        // The bad seed's first run (lr = 0.001, seed = -3) comes before any run of lr = -1.
        ("lr = [0.001, -1.0]\nseed = [1, 2, -3]\n", "seed -3 is not"),
        ("lr = [0.001, -1.0]\nseed = [1, 2]\n", "run lr=-1.0 seed=1"),
        ("seed = [1, 2, 1]\n", "same settings (seed=1)"),
    ] {
        let e = Sweep::load(&sweep_file(&d, "bad", &format!("{BASE}[grid]\n{grid}")))
            .expect_err(grid)
            .to_string();
        assert!(e.contains(culprit) && e.contains("bad.toml"), "{grid}: {e}");
    }
}

#[test]
fn an_absurd_grid_is_refused_with_its_size() {
    let d = common::tmpdir("absurd");
    let axis = |n: usize| list((0..n).map(|i| i.to_string()));
    let body = format!(
        "{BASE}[grid]\nseed = {}\nn_steps = {}\n",
        axis(100_000),
        axis(100_000)
    );
    let f = sweep_file(&d, "huge", &body);
    let e = Sweep::load(&f).expect_err("10^10 runs").to_string();
    assert!(
        e.contains("the grid of 10000000000 runs (100000 × 100000)"),
        "{e}"
    );
}

/// The bundled reach recordings `[N, T, C]` rewritten with axes in `layout` order.
fn permuted_data(dir: &Path, layout: &str) -> PathBuf {
    let data = snnlab::reproduce::default_data();
    let a: ndarray::Array3<f64> = ndarray_npy::read_npy(&data).unwrap();
    let axis = |c: char| "NTC".find(c).unwrap();
    let perm: Vec<usize> = layout.chars().map(axis).collect();
    let p = a
        .permuted_axes([perm[0], perm[1], perm[2]])
        .as_standard_layout()
        .into_owned();
    let out = dir.join(format!("data_{layout}.npy"));
    ndarray_npy::write_npy(&out, &p).unwrap();
    out
}

#[test]
fn data_layout_reads_the_recordings_in_any_axis_order() {
    let d = common::tmpdir("layout");
    let analysis = |name: &str, data: &Path, layout: Option<&str>| -> String {
        let f = sweep_file(
            &d,
            name,
            &format!(
                "results = \"{}\"\ndata = \"{}\"\n{}{BASE}[grid]\nseed = [1]\n",
                d.join(name).display(),
                data.display(),
                layout
                    .map(|l| format!("data_layout = \"{l}\"\n"))
                    .unwrap_or_default()
            ),
        );
        common::run_ok(&["sweep", "run", s(&f), "--quiet"]);
        let s = Sweep::load(&f).unwrap();
        let rec = s.record(&s.runs.id(0)).unwrap();
        assert_eq!(rec.analysis_error, None);
        std::fs::read_to_string(s.run_dir(&rec.id).join("analysis.csv")).unwrap()
    };
    let plain = analysis("ntc", &snnlab::reproduce::default_data(), None);
    assert!(
        plain.lines().count() == 3,
        "two checkpoints scored: {plain}"
    );
    let tcn = analysis("tcn", &permuted_data(&d, "TCN"), Some("TCN"));
    assert_eq!(tcn, plain);
    // The permuted data without its layout does not fit the task: the run says so.
    let body = format!(
        "results = \"{}\"\ndata = \"{}\"\n{BASE}[grid]\nseed = [1]\n",
        d.join("wrong").display(),
        permuted_data(&d, "CNT").display()
    );
    let f = sweep_file(&d, "wrong", &body);
    let out = common::bin()
        .args(["sweep", "run", s(&f), "--quiet"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A bad layout is an input error naming the key.
    let bad = sweep_file(&d, "badlayout", &format!("data_layout = \"NTX\"\n{BASE}"));
    let e = Sweep::load(&bad).expect_err("NTX").to_string();
    assert!(e.contains("data_layout") && e.contains("NTX"), "{e}");
}
