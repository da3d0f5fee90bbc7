//! A sweep over the cue task is analysed as the cue task (issue 11: the sweep once scored every
//! task that was not `mante` with the reach analysis), with its data read in `data_layout` by
//! both `sweep run` and `sweep merge`.

use crate::common;
use common::{run_ok, s, sweep_file_in, table, tmpdir};

/// The sweep's base config; `train` with the same keys trains the same network.
const CUE: &str = "task = \"cue\"\nrule = \"bptt\"\nn_rec = 8\nlr = 1e-2\nupdates = 1\nbatch_size = 2\ncheckpoints = [0, 1]\ndevice = \"cpu\"\n";

#[test]
fn a_cue_sweep_is_scored_with_the_cue_analysis() {
    let dir = tmpdir("cue_sweep");
    // The recordings: the cue-task activity of the network the sweep will train, stored with
    // time first (so that a reader ignoring data_layout fails on the shape).
    let alone = common::train_quietly(&dir, "alone", &format!("{CUE}seeds = [2]\n"));
    let act = dir.join("act.npz");
    let model = alone.join("seed2/update0001.safetensors");
    run_ok(&[
        "activity",
        "--model",
        s(&model),
        "--layout",
        "TCN",
        "--out",
        s(&act),
    ]);

    let sweep = sweep_file_in(
        &dir,
        "cue",
        "results",
        &format!(
            "data = \"{}:activity\"\ndata_layout = \"TCN\"\n[base]\n{CUE}[grid]\nseed = [2]\n",
            act.display()
        ),
    );
    run_ok(&["sweep", "run", s(&sweep), "--quiet"]);
    run_ok(&[
        "sweep",
        "merge",
        s(&sweep),
        "--metric",
        "procrustes,cka-angular",
    ]);
    let merged = std::fs::read_to_string(dir.join("results/merged.csv")).unwrap();
    let (head, rows) = table(&merged);
    let col = |name: &str| head.iter().position(|c| *c == name).unwrap();
    let (update, metric, distance) = (col("update"), col("metric"), col("distance"));
    let mut seen = Vec::new();
    for r in &rows {
        let d: f64 = r[distance].parse().unwrap();
        assert!(d.is_finite(), "{r:?}");
        if r[update] == "1" {
            // The same network on the same (cue) analysis trials: distance 0 up to f32.
            assert!(d < 1e-3, "update 1 against its own activity: {r:?}");
            seen.push(r[metric]);
        } else {
            // The untrained network differs from the trained one's activity.
            assert!(d > 1e-3, "update 0 should differ: {r:?}");
        }
    }
    seen.sort();
    assert_eq!(seen, ["cka-angular", "procrustes-angular"]);
}
