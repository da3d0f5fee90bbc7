//! `evaluate` and `activity` on the cue task (SPEC §8 `--task cue`): the analysis trials are
//! training's seeded evaluation batch, the accuracy is the per-trial decision over the recall
//! window (recomputed here by hand from `activity`'s outputs), and a checkpoint that records the
//! cue task needs no `--task`.

use crate::common;
use common::{json, run_ok, s, write_file};

use std::path::Path;

use ndarray::ArrayD;

fn npz(path: &Path, name: &str) -> ArrayD<f64> {
    let mut z = ndarray_npy::NpzReader::new(std::fs::File::open(path).unwrap()).unwrap();
    z.by_name::<ndarray::OwnedRepr<f64>, ndarray::IxDyn>(name)
        .or_else(|_| {
            z.by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>(name)
                .map(|a| a.mapv(f64::from))
        })
        .unwrap()
}

#[test]
fn evaluate_and_activity_on_the_cue_task() {
    let dir = common::tmpdir("cue");
    let cfg = write_file(
        &dir,
        "cue.toml",
        format!(
            "task = \"cue\"\nrule = \"bptt\"\nn_rec = 8\nlr = 1e-2\nseeds = [2]\nupdates = 1\nbatch_size = 2\ncheckpoints = [0, 1]\ndevice = \"cpu\"\nout = \"{}\"\n",
            dir.join("run").display()
        ),
    );
    run_ok(&["train", s(&cfg), "--quiet"]);
    let model = dir.join("run/seed2/update0001.safetensors");
    let (e_task, e_auto, act) = (
        dir.join("e_task.json"),
        dir.join("e_auto.json"),
        dir.join("act.npz"),
    );
    let ms = s(&model);
    run_ok(&[
        "evaluate",
        "--model",
        ms,
        "--task",
        "cue",
        "--out",
        s(&e_task),
    ]);
    // The checkpoint records its task: no --task needed, the same result.
    run_ok(&["evaluate", "--model", ms, "--out", s(&e_auto)]);
    let (a, b) = (json(&e_task), json(&e_auto));
    assert_eq!(a, b);
    assert_eq!(a["task"], "cue");
    run_ok(&["activity", "--model", ms, "--task", "cue", "--out", s(&act)]);

    let batch = snnlab::evaluate::cue_analysis_batch();
    let (c, t_n) = (batch.n_trials(), batch.n_steps());
    assert_eq!(c, snnlab::evaluate::CUE_ANALYSIS_TRIALS);
    let activity = npz(&act, "activity");
    assert_eq!(activity.shape(), &[8, t_n, c], "NTC over every step");
    let y = npz(&act, "y");
    assert_eq!(y.shape(), &[c, t_n, 2]);

    // By hand: per trial, the outputs summed over the masked (recall) steps pick the class.
    let (mut n, mut correct, mut steps, mut steps_correct) = (0, 0, 0, 0);
    for i in 0..c {
        let mut sums = [0.0f64; 2];
        let mut label = None;
        for t in 0..t_n {
            if batch.mask[[i, t, 0]] == 0.0 {
                continue;
            }
            label = Some(batch.targets[[i, t, 0]] as usize);
            sums[0] += y[[i, t, 0]];
            sums[1] += y[[i, t, 1]];
            steps += 1;
            let best = if y[[i, t, 0]] > y[[i, t, 1]] { 0 } else { 1 };
            if y[[i, t, 0]] != y[[i, t, 1]] && Some(best) == label {
                steps_correct += 1;
            }
        }
        let Some(label) = label else { continue };
        n += 1;
        let pick = if sums[0] > sums[1] { 0 } else { 1 };
        if sums[0] != sums[1] && pick == label {
            correct += 1;
        }
    }
    assert_eq!(n, c, "every trial has a recall window");
    let accuracy = a["accuracy"].as_f64().unwrap();
    assert_eq!(accuracy, correct as f64 / n as f64);
    let percent = a["percent_correct"].as_f64().unwrap();
    assert!((percent - 100.0 * steps_correct as f64 / steps as f64).abs() < 1e-9);

    // Training scored the same 100 trials (in f32): its error at update 1 is 1 - accuracy, up
    // to a trial whose two summed outputs are within f32 rounding of each other.
    let log = std::fs::read_to_string(dir.join("run/checkpoints.csv")).unwrap();
    let head: Vec<&str> = log.lines().next().unwrap().split(',').collect();
    let col = head.iter().position(|h| *h == "eval_error").unwrap();
    let row = log
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f[0] == "1")
        .unwrap();
    let eval_error: f64 = row[col].parse().unwrap();
    assert!(
        (eval_error - (1.0 - accuracy)).abs() <= 1.0 / c as f64 + 1e-12,
        "training's eval error {eval_error} vs evaluate's accuracy {accuracy}"
    );

    // Recordings for the cue task: [N, 2250, 100]; a mismatch names both shapes.
    let data = dir.join("data.npy");
    ndarray_npy::write_npy(&data, &ndarray::Array3::<f64>::zeros((5, 10, c))).unwrap();
    let x_json = dir.join("x.json");
    let out = common::bin()
        .args([
            "evaluate",
            "--model",
            ms,
            "--task",
            "cue",
            "--data",
            s(&data),
            "--out",
        ])
        .arg(&x_json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[5, 10, 100]") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!x_json.exists());
}
