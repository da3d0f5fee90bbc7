//! Training spiking networks (kind lif/alif) on the paper's tasks and the cue task, and scoring
//! them against neural data: the loss falls, packing changes nothing, the GPU engine trains as
//! the CPU does, filtered spikes are read at the data's bins, bad configs are refused.

use snnlab::evaluate::{AnalysisTask, TaskName, run_spiking};
use snnlab::train::{TrainConfig, train};

use crate::common;
use common::csv_rows;
use common::gpu::Tolerance;

fn cfg(name: &str, body: &str) -> TrainConfig {
    let out = std::env::temp_dir().join(format!("snnlab-trainspk-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let p = std::env::temp_dir().join(format!(
        "snnlab-trainspk-{name}-{}.toml",
        std::process::id()
    ));
    std::fs::write(&p, format!("out = \"{}\"\n{body}", out.display())).unwrap();
    TrainConfig::load(&p).unwrap()
}

/// [`REACH`] with these seeds (a `seeds = …` line) trained for `updates` updates.
fn reach_cfg(name: &str, seeds: &str, updates: usize) -> TrainConfig {
    let body = REACH.replace("updates = 30", &format!("updates = {updates}"));
    cfg(name, &format!("{seeds}{body}"))
}

const REACH: &str = "task = \"reach\"\nkind = \"alif\"\nrule = \"eprop\"\nn_rec = 24\nlr = 5e-3\nupdates = 30\nbatch_size = 8\nn_steps = 300\ncheckpoints = [0, 15]\ndevice = \"cpu\"\nactivity_l2 = 1.0\n[spiking]\ndt_ms = 2.0\n";

#[test]
fn alif_eprop_on_reach_lowers_the_error_and_saves_spiking_checkpoints() {
    let c = cfg("reach", &format!("seeds = [2]\n{REACH}"));
    let res = train(&c, None, true).unwrap();
    let ev = csv_rows(&c.out.join("checkpoints.csv"));
    let first: f64 = ev[0][2].parse().unwrap();
    assert!(
        res[0].final_eval_error < 0.7 * first,
        "eval error {first} -> {}",
        res[0].final_eval_error
    );
    let m = snnlab::io::load_spiking_model(&c.out.join("seed2/update0030.safetensors")).unwrap();
    assert_eq!(
        (m.config.kind.as_str(), m.config.n_rec, m.config.dt_ms),
        ("alif", 24, 2.0)
    );
    assert!(m.params.w_rec.diag().iter().all(|&v| v == 0.0));
    // The run's own config reloads to the same settings.
    let again = TrainConfig::load(&c.out.join("config.toml")).unwrap();
    assert_eq!(again.spiking_config(), c.spiking_config());
    // Training at dt = 2 ms runs 5 steps per 10 ms bin: 1500 steps per trial.
    assert_eq!(c.steps_per_bin().unwrap(), 5);
}

#[test]
fn packed_spiking_networks_train_exactly_as_alone() {
    let both = reach_cfg("both", "seeds = [5, 6]\n", 6);
    let alone = reach_cfg("alone", "seeds = [6]\n", 6);
    train(&both, None, true).unwrap();
    train(&alone, None, true).unwrap();
    let a = snnlab::io::load_spiking_model(&both.out.join("seed6/update0006.safetensors")).unwrap();
    let b =
        snnlab::io::load_spiking_model(&alone.out.join("seed6/update0006.safetensors")).unwrap();
    assert_eq!(a.params, b.params);
}

#[test]
fn gpu_training_matches_cpu_training() {
    if common::gpu::context().is_none() {
        return;
    }
    let body = "seeds = [3, 4]\ntask = \"reach\"\nkind = \"lif\"\nrule = \"bptt\"\nn_rec = 12\nlr = 1e-3\nupdates = 3\nbatch_size = 4\nn_steps = 120\ncheckpoints = [0]\nactivity_l2 = 1.0\n[spiking]\ndt_ms = 5.0\n";
    let on_cpu = cfg("cpu", &format!("device = \"cpu\"\n{body}"));
    let on_gpu = cfg("gpu", &format!("device = \"gpu\"\n{body}"));
    train(&on_cpu, None, true).unwrap();
    train(&on_gpu, None, true).unwrap();
    for s in [3, 4] {
        let f = |c: &TrainConfig| {
            snnlab::io::load_spiking_model(&c.out.join(format!("seed{s}/update0003.safetensors")))
                .unwrap()
                .params
                .flatten()
        };
        let (x, y) = (f(&on_cpu), f(&on_gpu));
        // Three Adam steps of lr 1e-3 move weights by ~3e-3; f32 reduction order differs.
        Tolerance::rel(2e-4).assert_close(&format!("seed {s}: parameters"), &y, &x);
    }
}

#[test]
fn spiking_activity_is_filtered_spikes_at_the_data_bins() {
    let c = reach_cfg("act", "seeds = [1]\n", 1);
    let model = snnlab::spiking::SpikingModel::init(c.spiking_config(), 9).unwrap();
    let task = AnalysisTask::load(TaskName::Reach).unwrap();
    let tau = 20.0;
    let (acc, _, act) = run_spiking(&task, &model, tau).unwrap();
    assert!(acc.is_finite());
    assert_eq!(act.dim(), (24, 121, 8));
    // By hand: the filtered train of one neuron, read at the last 2-ms step of bin 105 + 40.
    let k = 5;
    let b = task.batch.upsample(k);
    let net = snnlab::reference::spiking::SpikingNet::<f64>::new(&model);
    let tr = snnlab::reference::spiking::forward(
        &net,
        &snnlab::reference::rate::Prepared::<f64>::new(&b).x,
    );
    let (j, cond, bin) = (7, 3, 145);
    let decay = (-2.0f64 / tau).exp();
    let mut r = 0.0;
    for t in 0..(bin + 1) * k {
        r = decay * r + tr.z[[t, cond, j]] / tau;
    }
    assert!(
        (act[[j, bin - 105, cond]] - r).abs() < 1e-12,
        "{} vs {r}",
        act[[j, bin - 105, cond]]
    );
    assert!(
        act.iter().any(|&v| v > 0.0),
        "the network should spike on the analysis trials"
    );
}

#[test]
fn bad_spiking_configs_are_refused() {
    let p = std::env::temp_dir().join(format!("snnlab-trainspk-bad-{}.toml", std::process::id()));
    for (body, culprit) in [
        (
            "task = \"reach\"\nkind = \"alif\"\n[spiking]\ndt_ms = 3.0\n",
            "dt_ms",
        ),
        ("task = \"reach\"\nkind = \"lif\"\ndale = true\n", "dale"),
        ("task = \"reach\"\n[spiking]\ndt_ms = 1.0\n", "[spiking]"),
        ("task = \"reach\"\nkind = \"izhikevich\"\n", "izhikevich"),
        (
            "task = \"reach\"\nkind = \"alif\"\n[spiking]\ntau_m = 20.0\n",
            "tau_m",
        ),
    ] {
        std::fs::write(&p, body).unwrap();
        let e = TrainConfig::load(&p).expect_err(body).to_string();
        assert!(e.contains(culprit), "{e} should name {culprit}");
    }
}

/// `[spiking] tonic_input` gives the network one more input, constant 1, in training and in
/// `evaluate`; `in_gain` / `out_gain` scale the seeded initial weights and nothing else.
#[test]
fn tonic_input_and_initial_gains() {
    let body = |extra: &str| {
        format!(
            "seeds = [4]\n{}{extra}",
            REACH.replace("updates = 30", "updates = 0")
        )
    };
    let plain = cfg("gain1", &body(""));
    let scaled = cfg("gain2", &body("in_gain = 0.25\nout_gain = 2.0\n"));
    let tonic = cfg("tonic", &body("tonic_input = true\n"));
    assert_eq!(plain.spiking_config().n_in, 3);
    assert_eq!(tonic.spiking_config().n_in, 4);
    for c in [&plain, &scaled, &tonic] {
        train(c, None, true).unwrap();
    }
    let load = |c: &TrainConfig| {
        snnlab::io::load_spiking_model(&c.out.join("seed4/update0000.safetensors")).unwrap()
    };
    let (p, s, t) = (load(&plain), load(&scaled), load(&tonic));
    assert_eq!(s.params.w_in, p.params.w_in.mapv(|w| w * 0.25));
    assert_eq!(s.params.w_out, p.params.w_out.mapv(|w| w * 2.0));
    assert_eq!(s.params.w_rec, p.params.w_rec);
    assert_eq!(t.params.w_in.dim(), (24, 4));
    // The run's own config reloads with the tonic input (and without the default gains).
    let again = TrainConfig::load(&tonic.out.join("config.toml")).unwrap();
    assert_eq!(again.spiking_config().n_in, 4);
    let written = std::fs::read_to_string(plain.out.join("config.toml")).unwrap();
    assert!(
        !written.contains("in_gain") && !written.contains("out_gain") && !written.contains("tonic"),
        "{written}"
    );

    // evaluate feeds the constant input: the same as the task batch with a column of ones.
    let task = AnalysisTask::load(TaskName::Reach).unwrap();
    let (acc, _, act) = run_spiking(&task, &t, 20.0).unwrap();
    let by_hand = task.batch.with_tonic_input();
    assert!(by_hand.inputs.iter().skip(3).step_by(4).all(|&v| v == 1.0));
    assert_eq!(
        by_hand.inputs.slice(ndarray::s![.., .., ..3]),
        task.batch.inputs
    );
    let mut t3 = t.clone();
    let net = snnlab::reference::spiking::SpikingNet::<f64>::new(&t3);
    let tr = snnlab::reference::spiking::forward(
        &net,
        &snnlab::reference::rate::Prepared::<f64>::new(&by_hand.upsample(5)).x,
    );
    let (j, cond) = (5, 2);
    let decay = (-2.0f64 / 20.0).exp();
    let mut r = 0.0;
    for tt in 0..(150 + 1) * 5 {
        r = decay * r + tr.z[[tt, cond, j]] / 20.0;
    }
    assert!((act[[j, 150 - 105, cond]] - r).abs() < 1e-12);
    assert!(acc.is_finite());
    // Two inputs more than the task is no tonic input: refused with a line naming both counts.
    t3.config.n_in = 5;
    t3.params.w_in = ndarray::Array2::zeros((24, 5));
    let e = run_spiking(&task, &t3, 20.0).unwrap_err().to_string();
    assert!(e.contains("n_in = 5") && e.contains("3 inputs"), "{e}");
}
