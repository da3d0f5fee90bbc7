//! Tasks from files (SPEC §8): a built-in task exported to files trains exactly as the built-in
//! one; `init_seed` seeds the initial network only; `activity` is forward's h over the analysis
//! steps in the layout asked for, and `procrustes` on it equals `evaluate`'s distance for any
//! layout of the data; checkpoints name their task; bad file tasks are one-line input errors.

use crate::common;
use common::{run_err, run_ok, write_file};

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayD, Axis};
use ndarray_npy::NpzWriter;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snnlab::batch::{Batch, LossKind};
use snnlab::train::{TrainConfig, train};

/// Write a batch file: ce batches as class indices and a mask `[B, T]`.
fn write_batch(path: &Path, b: &Batch) {
    let mut w = NpzWriter::new(std::fs::File::create(path).unwrap());
    w.add_array("inputs", &b.inputs).unwrap();
    match b.loss {
        LossKind::Mse => {
            w.add_array("targets", &b.targets).unwrap();
            w.add_array("mask", &b.mask).unwrap();
        }
        LossKind::Ce => {
            w.add_array(
                "targets",
                &b.targets.index_axis(Axis(2), 0).mapv(|c| c as i64),
            )
            .unwrap();
            w.add_array("mask", &b.mask.index_axis(Axis(2), 0).to_owned())
                .unwrap();
        }
    }
    w.finish().unwrap();
}

fn write_arrays(path: &Path, arrays: &[(&str, ArrayD<f64>)]) {
    let mut w = NpzWriter::new(std::fs::File::create(path).unwrap());
    for (n, a) in arrays {
        w.add_array(*n, a).unwrap();
    }
    w.finish().unwrap();
}

fn load(dir: &Path, name: &str, body: &str) -> TrainConfig {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    TrainConfig::load(&p).unwrap()
}

/// The built-in task's config and its file twin (`common` settings for both, outputs in
/// `dir/builtin` and `dir/file`), both trained: their loss logs are the same bytes.
fn train_builtin_and_file(
    dir: &Path,
    common: &str,
    builtin_task: &str,
    file_task: &str,
) -> (TrainConfig, TrainConfig) {
    let [builtin, file] = [("builtin", builtin_task), ("file", file_task)].map(|(name, task)| {
        let out = dir.join(name).display().to_string();
        load(
            dir,
            &format!("{name}.toml"),
            &format!("{task}{common}out = \"{out}\"\n"),
        )
    });
    train(&builtin, None, true).unwrap();
    train(&file, None, true).unwrap();
    assert_eq!(
        read(builtin.out.join("loss.csv")),
        read(file.out.join("loss.csv"))
    );
    (builtin, file)
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn rate_params(p: PathBuf) -> (snnlab::model::RateConfig, Vec<f32>) {
    let m = snnlab::io::load_model(&p).unwrap();
    (m.config, m.params.flatten())
}

#[test]
fn reach_exported_to_files_trains_exactly_as_the_builtin_reach() {
    let dir = common::tmpdir("reach");
    let reach = snnlab::tasks::reach::Reach::load_default().unwrap();
    // One update of 6 trials: the pool is exactly the batch the built-in task draws for seed 3.
    let pool = reach.training_batch(6, 80, &mut snnlab::train::trial_rng(3));
    write_batch(&dir.join("train.npz"), &pool);
    write_batch(&dir.join("analysis.npz"), &reach.analysis_batch());
    let common = "rule = \"bptt\"\nn_rec = 12\nlr = 1e-3\nseeds = [3]\nupdates = 1\ncheckpoints = [0, 1]\ndevice = \"cpu\"\n";
    let (builtin, file) = train_builtin_and_file(
        &dir,
        common,
        "task = \"reach\"\nbatch_size = 6\nn_steps = 80\n",
        "task = \"file\"\ntrain_batch = \"train.npz\"\nanalysis_batch = \"analysis.npz\"\nloss = \"mse\"\nanalysis_steps = [105, 225]\n",
    );
    assert_eq!(file.batch_size, 6, "no batch_size: the whole pool");
    for u in ["update0000", "update0001"] {
        let f = |c: &TrainConfig| rate_params(c.out.join(format!("seed3/{u}.safetensors")));
        assert_eq!(f(&builtin), f(&file), "{u}");
    }
    let data = snnlab::reproduce::default_data();
    snnlab::analysis::analyze(&[builtin.out.clone(), file.out.clone()], &data).unwrap();
    let a = read(builtin.out.join("analysis.csv"));
    assert_eq!(a, read(file.out.join("analysis.csv")));
    assert_eq!(a.lines().count(), 3, "{a}");
}

#[test]
fn mante_exported_to_files_trains_exactly_as_the_builtin_mante() {
    let dir = common::tmpdir("mante");
    let (batch, _) = snnlab::tasks::mante::load_default().unwrap();
    write_batch(&dir.join("train.npz"), &batch);
    let common = "rule = \"eprop\"\nn_rec = 10\nlr = 1e-3\nseeds = [1, 2]\nupdates = 3\ncheckpoints = [0, 2]\ndevice = \"cpu\"\n";
    let (builtin, file) = train_builtin_and_file(
        &dir,
        common,
        "task = \"mante\"\n",
        "task = \"file\"\ntrain_batch = \"train.npz\"\nanalysis_batch = \"train.npz\"\nloss = \"ce\"\n",
    );
    for s in [1, 2] {
        for u in [0, 2, 3] {
            let f = |c: &TrainConfig| {
                rate_params(c.out.join(format!("seed{s}/update{u:04}.safetensors")))
            };
            assert_eq!(f(&builtin), f(&file), "seed {s} update {u}");
        }
    }
}

#[test]
fn init_seed_seeds_the_initial_network_only() {
    let dir = common::tmpdir("initseed");
    let body = |seed: u64, init: &str, out: &str| {
        format!(
            "task = \"reach\"\nn_rec = 8\nbatch_size = 4\nn_steps = 60\nupdates = 2\ncheckpoints = [0]\ndevice = \"cpu\"\nseeds = [{seed}]\n{init}out = \"{}\"\n",
            dir.join(out).display()
        )
    };
    let a = load(&dir, "a.toml", &body(1, "init_seed = 7\n", "a"));
    let b = load(&dir, "b.toml", &body(7, "", "b"));
    let c = load(&dir, "c.toml", &body(1, "", "c"));
    for cfg in [&a, &b, &c] {
        train(cfg, None, true).unwrap();
    }
    let p = |cfg: &TrainConfig, s: u64, u: &str| {
        rate_params(cfg.out.join(format!("seed{s}/{u}.safetensors")))
    };
    // Same initial weights as the network of seed 7 …
    assert_eq!(p(&a, 1, "update0000"), p(&b, 7, "update0000"));
    assert_ne!(p(&a, 1, "update0000"), p(&c, 1, "update0000"));
    // … trained on seed 1's trials: the same trials as seed 1's run, other losses than seed 7's.
    let losses = |cfg: &TrainConfig| -> Vec<String> {
        read(cfg.out.join("loss.csv"))
            .lines()
            .skip(1)
            .map(|l| l.split(',').skip(2).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_ne!(losses(&a), losses(&b));
    assert_ne!(losses(&a), losses(&c));
    // The checkpoint records both seeds.
    let ck = a.out.join("seed1/update0002.safetensors");
    let meta = |k: &str| snnlab::io::model_metadata(&ck, k).unwrap();
    assert_eq!(meta("seed").as_deref(), Some("1"));
    assert_eq!(meta("init_seed").as_deref(), Some("7"));
    assert_eq!(meta("update").as_deref(), Some("2"));
    assert_eq!(meta("rule").as_deref(), Some("bptt"));
    assert!(meta("config").is_some(), "the model config stays");
}

/// A small random mse file task: pool of 5 trials, 4 analysis trials (conditions) of 12 steps.
fn small_task(dir: &Path) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut batch = |b: usize| Batch {
        inputs: Array3::from_shape_fn((b, 12, 3), |_| rng.random_range(-1.0..1.0)),
        targets: Array3::from_shape_fn((b, 12, 2), |_| rng.random_range(-1.0..1.0)),
        mask: Array3::ones((b, 12, 2)),
        loss: LossKind::Mse,
    };
    write_batch(&dir.join("train.npz"), &batch(5));
    write_batch(&dir.join("analysis.npz"), &batch(4));
    std::fs::write(
        dir.join("task.toml"),
        format!(
            "task = \"file\"\ntrain_batch = \"train.npz\"\nanalysis_batch = \"analysis.npz\"\nloss = \"mse\"\nanalysis_steps = [2, 9]\nn_rec = 6\nseeds = [4]\nupdates = 1\ncheckpoints = [0]\nbatch_size = 3\ndevice = \"cpu\"\nout = \"{}\"\n",
            dir.join("run").display()
        ),
    )
    .unwrap();
}

fn npz(p: &Path, name: &str) -> ArrayD<f64> {
    snnlab::io::read_npz_f64(p, name).unwrap()
}

#[test]
fn activity_is_forward_over_the_analysis_steps_and_procrustes_on_it_is_evaluates_distance() {
    let dir = common::tmpdir("activity");
    small_task(&dir);
    let s = |p: PathBuf| p.display().to_string();
    run_ok(&["train", &s(dir.join("task.toml")), "--quiet"]);
    let model = s(dir.join("run/seed4/update0001.safetensors"));
    let act = s(dir.join("act.npz"));
    run_ok(&[
        "activity",
        "--model",
        &model,
        "--config",
        &s(dir.join("task.toml")),
        "--layout",
        "TCN",
        "--out",
        &act,
    ]);
    run_ok(&[
        "forward",
        "--model",
        &model,
        "--batch",
        &s(dir.join("analysis.npz")),
        "--out",
        &s(dir.join("fwd.npz")),
        "--device",
        "cpu",
    ]);
    // forward: h [C, T, N]; activity in TCN: [T = steps 2..=9, C, N].
    let h = npz(&dir.join("fwd.npz"), "h");
    let a = npz(Path::new(&act), "activity");
    assert_eq!(a.shape(), &[8, 4, 6]);
    for ((t, c, n), v) in a
        .clone()
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap()
        .indexed_iter()
    {
        let want = h[[c, t + 2, n]];
        assert!(
            (v - want).abs() <= 1e-6 * (1.0 + want.abs()),
            "[{t},{c},{n}] {v} vs {want}"
        );
    }
    let y = npz(&dir.join("fwd.npz"), "y");
    let ya = npz(Path::new(&act), "y");
    assert_eq!(ya.shape(), y.shape());
    assert!(
        ya.iter()
            .zip(y.iter())
            .all(|(a, b)| (a - b).abs() <= 1e-5 * (1.0 + b.abs()))
    );

    // Data [N = 5, T = 8, C = 4], stored in three layouts.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let d = Array3::<f64>::from_shape_fn((5, 8, 4), |_| rng.random_range(0.0..1.0));
    for layout in ["NTC", "CTN", "TCN"] {
        let stored = snnlab::evaluate::Layout::from_ntc(layout.parse().unwrap(), d.clone());
        let dp = dir.join(format!("data_{layout}.npy"));
        ndarray_npy::write_npy(&dp, &stored).unwrap();
        let ev = s(dir.join(format!("ev_{layout}.json")));
        run_ok(&[
            "evaluate",
            "--model",
            &model,
            "--config",
            &s(dir.join("task.toml")),
            "--data",
            &s(dp.clone()),
            "--data-layout",
            layout,
            "--out",
            &ev,
        ]);
        let j: serde_json::Value = serde_json::from_str(&read(PathBuf::from(&ev))).unwrap();
        let want = j["procrustes"].as_f64().unwrap();
        let got: f64 = run_ok(&[
            "procrustes",
            "--x",
            &format!("{act}:activity"),
            "--x-layout",
            "TCN",
            "--y",
            &s(dp.clone()),
            "--y-layout",
            layout,
        ])
        .trim()
        .parse()
        .unwrap();
        assert!((got - want).abs() < 1e-12, "{layout}: {got} vs {want}");
        assert!(want > 0.0 && want < 1.0);
        // The checkpoint knows its task: no --config needed.
        run_ok(&[
            "evaluate",
            "--model",
            &model,
            "--data",
            &s(dp.clone()),
            "--data-layout",
            layout,
            "--out",
            &s(dir.join("ev_self.json")),
        ]);
        let k: serde_json::Value = serde_json::from_str(&read(dir.join("ev_self.json"))).unwrap();
        assert_eq!(j, k);
    }
    // A layout that does not fit names both shapes and the layout.
    let e = run_err(&[
        "evaluate",
        "--model",
        &model,
        "--data",
        &s(dir.join("data_NTC.npy")),
        "--data-layout",
        "TNC",
        "--out",
        &s(dir.join("bad.json")),
    ]);
    assert!(
        e.contains("[5, 8, 4]") && e.contains("TNC") && e.contains("[8, 5, 4]"),
        "{e}"
    );
    assert!(!dir.join("bad.json").exists());

    // A changed task file behind the checkpoint, then a moved one.
    let analysis = dir.join("analysis.npz");
    let saved = std::fs::read(&analysis).unwrap();
    let mut changed = saved.clone();
    let last = changed.len() - 30;
    changed[last] ^= 1;
    std::fs::write(&analysis, &changed).unwrap();
    let (x_npz, x_json) = (s(dir.join("x.npz")), s(dir.join("x.json")));
    let e = run_err(&["activity", "--model", &model, "--out", &x_npz]);
    assert!(e.contains("analysis.npz") && e.contains("changed"), "{e}");
    std::fs::remove_file(&analysis).unwrap();
    let e = run_err(&["evaluate", "--model", &model, "--out", &x_json]);
    assert!(e.contains("analysis.npz") && e.contains("missing"), "{e}");
    assert!(!dir.join("x.npz").exists() && !dir.join("x.json").exists());
}

#[test]
fn bad_file_tasks_are_one_line_input_errors_naming_the_file() {
    let dir = common::tmpdir("bad");
    small_task(&dir);
    let base = read(dir.join("task.toml"));
    let check = |body: String, want: &[&str]| {
        let p = write_file(&dir, "bad.toml", body);
        let e = TrainConfig::load(&p).unwrap_err();
        assert!(matches!(e, snnlab::error::Error::Input(_)), "{e}");
        let m = e.to_string();
        assert_eq!(m.lines().count(), 1, "{m}");
        for w in want {
            assert!(m.contains(w), "{m} lacks {w}");
        }
    };
    let x = |a: usize, b: usize, c: usize| ArrayD::<f64>::zeros(vec![a, b, c]);
    write_arrays(&dir.join("no_targets.npz"), &[("inputs", x(2, 12, 3))]);
    check(
        base.replace("\"train.npz\"", "\"no_targets.npz\""),
        &["no_targets.npz", "targets"],
    );
    write_arrays(
        &dir.join("flat.npz"),
        &[
            ("inputs", ArrayD::zeros(vec![2, 12])),
            ("targets", x(2, 12, 2)),
        ],
    );
    check(
        base.replace("\"train.npz\"", "\"flat.npz\""),
        &["flat.npz", "inputs", "shape"],
    );
    let mut nan = x(2, 12, 3);
    nan[[1, 3, 0]] = f64::NAN;
    write_arrays(
        &dir.join("nan.npz"),
        &[("inputs", nan), ("targets", x(2, 12, 2))],
    );
    check(
        base.replace("\"train.npz\"", "\"nan.npz\""),
        &["nan.npz", "NaN"],
    );
    write_arrays(
        &dir.join("wide.npz"),
        &[("inputs", x(4, 12, 5)), ("targets", x(4, 12, 2))],
    );
    check(
        base.replace("\"analysis.npz\"", "\"wide.npz\""),
        &["wide.npz", "n_in"],
    );
    check(
        base.replace("[2, 9]", "[2, 12]"),
        &["analysis.npz", "analysis_steps"],
    );
    check(
        base.replace("batch_size = 3", "batch_size = 9"),
        &["train.npz", "batch_size"],
    );
    check(base.replace("\"train.npz\"", "\"gone.npz\""), &["gone.npz"]);
    check(base.replace("loss = \"mse\"\n", ""), &["loss"]);
    check(
        format!("{base}kind = \"lif\"\nbin_ms = 5.0\n[spiking]\ndt_ms = 2.0\n"),
        &["dt_ms", "5"],
    );
    check(format!("{base}kind = \"lif\"\n"), &["bin_ms"]);
    check(
        "task = \"reach\"\ntrain_batch = \"train.npz\"\n".into(),
        &["train_batch", "file"],
    );
}

#[test]
fn ce_tasks_report_percent_correct() {
    // y [T = 2, B = 2, 3 classes]; masked steps: (b0, t0) right, (b0, t1) a tie (wrong),
    // (b1, t1) right; (b1, t0) masked out.
    let y = Array3::from_shape_vec(
        (2, 2, 3),
        vec![0.9, 0.1, 0.0, 5.0, 0.0, 0.0, 0.2, 0.7, 0.7, 0.0, 0.0, 3.0],
    )
    .unwrap();
    let b = Batch {
        inputs: Array3::zeros((2, 2, 1)),
        targets: Array3::from_shape_vec((2, 2, 1), vec![0.0, 1.0, 1.0, 2.0]).unwrap(),
        mask: Array3::from_shape_vec((2, 2, 1), vec![1.0, 1.0, 0.0, 1.0]).unwrap(),
        loss: LossKind::Ce,
    };
    assert!((snnlab::evaluate::fraction_correct(&y, &b) - 2.0 / 3.0).abs() < 1e-15);
    // Mante: the paper's 1 - cross-entropy as accuracy, with percent correct beside it.
    let task = snnlab::evaluate::AnalysisTask::load(snnlab::evaluate::TaskName::Mante).unwrap();
    let cfg = snnlab::model::RateConfig {
        kind: snnlab::model::Kind::Rate,
        n_in: task.batch.inputs.dim().2,
        n_rec: 8,
        n_out: 3,
        alpha: 0.1,
        activation: snnlab::model::Activation::Retanh,
        dale: false,
        connectivity: 1.0,
    };
    let m = snnlab::model::RateModel::init(cfg, 1.0, 2).unwrap();
    let e = snnlab::evaluate::evaluate(&task, &m, None).unwrap();
    assert!((e.accuracy - (1.0 - e.loss)).abs() < 1e-12);
    let pc = e.percent_correct.unwrap();
    assert!((0.0..=100.0).contains(&pc));
}

#[test]
fn a_spiking_network_trains_on_a_file_task_at_a_finer_dt_and_the_gpu_agrees_with_the_cpu() {
    let dir = common::tmpdir("spiking");
    small_task(&dir);
    let base = read(dir.join("task.toml")).replace("updates = 1", "updates = 2");
    let body = |device: &str, out: &str| {
        format!(
            "{}kind = \"lif\"\nbin_ms = 2.0\n[spiking]\ndt_ms = 1.0\n",
            base.replace("device = \"cpu\"", &format!("device = \"{device}\""))
                .replace(
                    &dir.join("run").display().to_string(),
                    &dir.join(out).display().to_string()
                )
        )
    };
    let cpu = load(&dir, "cpu.toml", &body("cpu", "cpu"));
    assert_eq!(cpu.steps_per_bin().unwrap(), 2);
    train(&cpu, None, true).unwrap();
    let ck = cpu.out.join("seed4/update0002.safetensors");
    let m = snnlab::io::load_any_model(&ck).unwrap();
    // Read at each bin's end: 8 bins (steps 2..=9) of the 4 conditions, outputs at 12 bins.
    let task = snnlab::evaluate::AnalysisTask::for_config(&cpu).unwrap();
    let r = snnlab::evaluate::run_any_full(&task, &m, 20.0).unwrap();
    assert_eq!(r.activity.shape(), &[6, 8, 4]);
    assert_eq!(r.y.shape(), &[4, 12, 2]);
    assert!(r.accuracy.is_finite() && r.loss.is_finite());
    if common::gpu::context().is_none() {
        return;
    }
    let gpu = load(&dir, "gpu.toml", &body("gpu", "gpu"));
    train(&gpu, None, true).unwrap();
    let f = |c: &TrainConfig| {
        snnlab::io::load_spiking_model(&c.out.join("seed4/update0002.safetensors"))
            .unwrap()
            .params
            .flatten()
    };
    let (x, y) = (f(&cpu), f(&gpu));
    common::gpu::Tolerance::rel(2e-4).assert_close("parameters", &y, &x);
    let losses = |c: &TrainConfig| -> Vec<f64> {
        read(c.out.join("loss.csv"))
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
            .collect()
    };
    for (a, b) in losses(&cpu).iter().zip(losses(&gpu)) {
        assert!((a - b).abs() <= 1e-4 * a.abs(), "loss {a} vs {b}");
    }
}

#[test]
fn the_worked_example_lines_up_with_the_churchland_data() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = TrainConfig::load(&root.join("configs/examples/churchland/train.toml")).unwrap();
    let task = snnlab::evaluate::AnalysisTask::for_config(&cfg).unwrap();
    let data = root.join("data/neural/churchland2012_tme/dataTensor_t61_n50_c10.npy");
    let layout: snnlab::evaluate::Layout = "TNC".parse().unwrap();
    let d = snnlab::evaluate::load_data_in(&data, &task, layout).unwrap();
    assert_eq!(d.shape(), &[50, 61, 10]);
    // Stored [T, N, C]: the permutation moves values, it does not reorder within an axis.
    let stored = snnlab::neural::load_neural(&data).unwrap();
    assert_eq!(d[[7, 20, 3]], stored[[20, 7, 3]]);
    // The default layout does not fit, and says so.
    let e = snnlab::evaluate::load_data(&data, &task)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[61, 50, 10]") && e.contains("NTC"), "{e}");
}
