//! The NeuroGym bridge (scripts/neurogym_export.py): two NeuroGym tasks exported as file tasks
//! (SPEC §8), their batches checked (shapes, dtypes, mask), one trained for a few updates through
//! `task = "file"` and evaluated.
//!
//! The Python with neurogym is `SNNLAB_NEUROGYM_PYTHON` (scripts/test.sh makes a venv and sets
//! it). Without it the test is skipped with a message, unless `REQUIRE_NEUROGYM=1` (CI), where it
//! fails.

use crate::common;
use common::{json, output_ok, repo};

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{Array2, Array3};

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("SNNLAB_NEUROGYM_PYTHON").map(PathBuf::from);
    let required = std::env::var("REQUIRE_NEUROGYM").is_ok_and(|v| v == "1");
    match p {
        Some(p) if p.exists() => Some(p),
        _ if required => panic!(
            "REQUIRE_NEUROGYM=1 but SNNLAB_NEUROGYM_PYTHON ({:?}) is not a Python with neurogym (scripts/test.sh sets it up)",
            std::env::var_os("SNNLAB_NEUROGYM_PYTHON")
        ),
        _ => {
            eprintln!(
                "skipped: set SNNLAB_NEUROGYM_PYTHON to a Python with neurogym (scripts/test.sh does)"
            );
            None
        }
    }
}

fn export(py: &Path, task: &str, trials: usize, out: &Path) {
    let script = repo("scripts/neurogym_export.py");
    let trials = trials.to_string();
    output_ok(
        Command::new(py)
            .arg("-W")
            .arg("ignore")
            .arg(&script)
            .args([task, "--trials", &trials, "--updates", "3", "--seed", "5"])
            .arg("--out")
            .arg(out),
    );
}

/// A ce batch as the export writes it: inputs f32 [B, T, n_in], targets i64 [B, T], mask f32 [B, T].
fn read_batch(path: &Path) -> (Array3<f32>, Array2<i64>, Array2<f32>) {
    let mut z = ndarray_npy::NpzReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let inputs: Array3<f32> = z.by_name("inputs").expect("inputs: f32 [B, T, n_in]");
    let targets: Array2<i64> = z.by_name("targets").expect("targets: i64 [B, T]");
    let mask: Array2<f32> = z.by_name("mask").expect("mask: f32 [B, T]");
    (inputs, targets, mask)
}

/// Shapes agree; the mask is 1 on a prefix of each trial and 0 after (padding), where the
/// inputs and targets are 0; every target is a class of the task's action space.
fn check_batch(path: &Path, trials: usize, n_actions: i64) -> usize {
    let (inputs, targets, mask) = read_batch(path);
    let (b, t, _) = inputs.dim();
    assert_eq!(b, trials, "{}", path.display());
    assert_eq!(targets.dim(), (b, t));
    assert_eq!(mask.dim(), (b, t));
    assert!(inputs.iter().all(|v| v.is_finite()));
    for i in 0..b {
        let len = mask.row(i).iter().take_while(|&&m| m == 1.0).count();
        assert!(len > 0, "trial {i} has steps");
        assert!(
            mask.row(i).iter().skip(len).all(|&m| m == 0.0),
            "mask is a prefix"
        );
        for s in len..t {
            assert_eq!(targets[[i, s]], 0);
            assert!(
                inputs
                    .slice(ndarray::s![i, s, ..])
                    .iter()
                    .all(|&v| v == 0.0)
            );
        }
        assert!(targets.row(i).iter().all(|&c| (0..n_actions).contains(&c)));
    }
    t
}

fn conditions(dir: &Path) -> serde_json::Value {
    json(&dir.join("conditions.json"))
}

#[test]
fn two_neurogym_tasks_export_and_one_trains_through_a_file_task() {
    let Some(py) = python() else { return };
    let dir = common::tmpdir("ngym");

    // Perceptual decision making: 3 actions (fixate, left, right); conditions are the ground
    // truth × coherence pairs, one analysis trial each.
    let pdm = dir.join("pdm");
    export(&py, "PerceptualDecisionMaking-v0", 24, &pdm);
    check_batch(&pdm.join("train.npz"), 24, 3);
    let c = conditions(&pdm);
    assert_eq!(c["kind"], "one trial per condition");
    let conds = c["conditions"].as_array().unwrap();
    let n_cond = conds.len();
    assert!(n_cond >= 2, "{c}");
    let mut seen: Vec<String> = conds.iter().map(|x| x.to_string()).collect();
    seen.dedup();
    assert_eq!(seen.len(), n_cond, "conditions are distinct");
    assert!(conds.iter().all(|x| x.get("ground_truth").is_some()));
    let t_analysis = check_batch(&pdm.join("analysis.npz"), n_cond, 3);

    // Go/No-Go: 2 actions, 2 conditions (go, no-go).
    let gng = dir.join("gng");
    export(&py, "GoNogo-v0", 16, &gng);
    check_batch(&gng.join("train.npz"), 16, 2);
    let g = conditions(&gng);
    assert_eq!(g["conditions"].as_array().unwrap().len(), 2, "{g}");
    check_batch(&gng.join("analysis.npz"), 2, 2);

    // The exported config is a valid file task as it stands.
    let toml_text = std::fs::read_to_string(pdm.join("train.toml")).unwrap();
    assert!(toml_text.contains("task = \"file\"") && toml_text.contains("loss = \"ce\""));
    let cfg = snnlab::train::TrainConfig::load(&pdm.join("train.toml")).unwrap();
    let steps = cfg.file_task().unwrap().steps.clone();
    assert_eq!(*steps.start(), 0);
    assert!(*steps.end() < t_analysis);

    // Train it for 3 updates and evaluate the last checkpoint (which records its task).
    let run = dir.join("run");
    output_ok(
        common::bin()
            .arg("train")
            .arg(pdm.join("train.toml"))
            .arg("--out")
            .arg(&run)
            .args(["--device", "cpu", "--quiet"]),
    );
    let losses = std::fs::read_to_string(run.join("loss.csv")).unwrap();
    assert_eq!(
        losses.lines().count(),
        1 + 3,
        "a header and 3 updates: {losses}"
    );
    let model = run.join("seed1/update0003.safetensors");
    assert!(model.is_file());
    let e = run.join("e.json");
    output_ok(
        common::bin()
            .arg("evaluate")
            .arg("--model")
            .arg(&model)
            .arg("--out")
            .arg(&e),
    );
    let ev = json(&e);
    let acc = ev["accuracy"].as_f64().unwrap();
    let pc = ev["percent_correct"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{ev}");
    assert!(
        (pc - 100.0 * acc).abs() < 1e-9,
        "ce file task: accuracy is the fraction correct: {ev}"
    );
}
