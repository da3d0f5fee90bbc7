//! Resumable training (issue 15 §4): `train` killed with SIGKILL at random moments and run again
//! until done ends with checkpoints and logs byte-identical to an uninterrupted run's and no
//! temporary left; the same for a spiking network on a file task (its pool position included);
//! a second `train` on a folder in use is refused; a different config in the folder is refused
//! (exit 2), a finished run is reported as such; a sweep killed mid-run continues its partial run.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Instant;

use common::{bin, files_under, run_err, run_ok, s, sweep_file_in, tmpdir, wait_for};
use ndarray::Array3;
use ndarray_npy::NpzWriter;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const STATE: &str = "train-state.safetensors";

/// A config file `name.toml` in `dir` training into `dir/name`.
fn config(dir: &Path, name: &str, body: &str) -> (PathBuf, PathBuf) {
    let out = dir.join(name);
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, format!("{body}out = \"{}\"\n", out.display())).unwrap();
    (p, out)
}

fn spawn_train(cfg: &Path, stderr: Stdio) -> Child {
    bin()
        .args(["train", s(cfg)])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Run `train` to its end; its stderr.
fn train_ok(cfg: &Path) -> String {
    let o = bin().args(["train", s(cfg)]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{}: {err}", cfg.display());
    err
}

/// Every file under `dir` (relative path, bytes), sorted; config.toml with the folder's own name
/// replaced (it names the run folder, which differs between the runs compared).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = files_under(dir);
    for (rel, bytes) in &mut out {
        if rel == "config.toml" {
            let text = String::from_utf8(std::mem::take(bytes)).unwrap();
            *bytes = text.replace(&dir.display().to_string(), "OUT").into_bytes();
        }
    }
    out
}

/// The two folders hold the same files, byte for byte (and nothing else: no temporary, state
/// or claim file).
fn assert_same_run(resumed: &Path, whole: &Path) {
    let (a, b) = (files(resumed), files(whole));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "the same files");
    assert!(
        names(&a).iter().any(|n| n.ends_with(".safetensors")),
        "{:?}",
        names(&a)
    );
    for ((n, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{n} differs between the resumed and the uninterrupted run"
        );
    }
}

/// Rows of a log (header excluded).
fn rows(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// The update the folder's training state was saved at (from its header).
fn state_update(dir: &Path) -> Option<usize> {
    snnlab::train::saved_update(dir)
}

/// Kill the child with SIGKILL (it may have finished already); whether it was still running.
fn kill(mut c: Child) -> bool {
    let running = c.try_wait().unwrap().is_none();
    c.kill().ok(); // SIGKILL
    c.wait().unwrap();
    running
}

const REACH: &str = "task = \"reach\"\nrule = \"bptt\"\nn_rec = 24\nbatch_size = 8\nn_steps = 120\nseeds = [1, 2]\nlr = 3e-3\ncheckpoints = [0, 20, 45, 90, 130]\nstate_every = 7\ndevice = \"cpu\"\n";

#[test]
fn train_killed_at_twenty_random_moments_ends_byte_identical_to_an_uninterrupted_run() {
    let d = tmpdir("kill20");
    let updates = 160;
    let body = format!("{REACH}updates = {updates}\n");
    let (whole_cfg, whole) = config(&d, "whole", &body);
    let (killed_cfg, killed) = config(&d, "killed", &body);
    let t0 = Instant::now();
    train_ok(&whole_cfg);
    let full = t0.elapsed();
    // Kills spread over the run's length, most of them landing before it could finish: each
    // restart costs the start-up again, so about a twelfth of the run is gained per life.
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let (mut mid_run, mut resumed_lives) = (0, 0);
    for k in 0..20 {
        let log = d.join(format!("life{k}.err"));
        let child = spawn_train(
            &killed_cfg,
            Stdio::from(std::fs::File::create(&log).unwrap()),
        );
        let delay = full.mul_f64(rng.random_range(0.0..0.16));
        std::thread::sleep(delay);
        if kill(child) {
            mid_run += 1;
        }
        if std::fs::read_to_string(&log).unwrap().contains("resuming") {
            resumed_lives += 1;
        }
    }
    let err = train_ok(&killed_cfg);
    eprintln!(
        "uninterrupted run {:.2} s; {mid_run} of 20 kills hit a running train, {resumed_lives} lives resumed",
        full.as_secs_f64()
    );
    assert!(
        mid_run >= 10,
        "only {mid_run} of the 20 kills hit a running train"
    );
    assert!(
        resumed_lives + usize::from(err.contains("resuming")) > 0,
        "no life resumed from a saved state"
    );
    assert_eq!(
        rows(&killed.join("loss.csv")),
        2 * updates,
        "one row per update and seed"
    );
    assert_same_run(&killed, &whole);
    // Run again: finished, nothing trained, nothing changed.
    let err = train_ok(&killed_cfg);
    assert!(err.contains("finished run"), "{err}");
    assert_same_run(&killed, &whole);
}

/// A pool of reach trials as a file task (mse), and the analysis trials.
fn file_task(dir: &Path) {
    let reach = snnlab::tasks::reach::Reach::load_default().unwrap();
    let pool = reach.training_batch(20, 40, &mut ChaCha8Rng::seed_from_u64(5));
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let analysis = snnlab::batch::Batch {
        inputs: Array3::from_shape_fn((4, 40, 3), |_| rng.random_range(-1.0..1.0)),
        targets: Array3::from_shape_fn((4, 40, 2), |_| rng.random_range(-1.0..1.0)),
        mask: Array3::ones((4, 40, 2)),
        loss: snnlab::batch::LossKind::Mse,
    };
    for (name, b) in [("train.npz", &pool), ("analysis.npz", &analysis)] {
        let mut w = NpzWriter::new(std::fs::File::create(dir.join(name)).unwrap());
        w.add_array("inputs", &b.inputs).unwrap();
        w.add_array("targets", &b.targets).unwrap();
        w.add_array("mask", &b.mask).unwrap();
        w.finish().unwrap();
    }
}

/// Start `train`, kill it once its state is past update `past` (and the logs have moved on from
/// it), then train to the end.
fn kill_after_state_then_finish(cfg: &Path, out: &Path, past: usize) {
    let child = spawn_train(cfg, Stdio::null());
    wait_for("a saved training state", 120, || {
        state_update(out).is_some_and(|u| u > past) && rows(&out.join("loss.csv")) > 2 * (past + 3)
    });
    assert!(kill(child), "train ended before it was killed");
    assert!(out.join(STATE).is_file());
    let err = train_ok(cfg);
    assert!(err.contains("resuming"), "{err}");
    assert!(!out.join(STATE).exists(), "no state once finished");
}

#[test]
fn a_spiking_network_on_a_file_task_resumes_where_it_was_killed() {
    let d = tmpdir("spiking");
    file_task(&d);
    // batch_size < the pool: every update draws trials, so the pool position must resume too.
    let body = format!(
        "task = \"file\"\ntrain_batch = \"{}\"\nanalysis_batch = \"{}\"\nloss = \"mse\"\nbin_ms = 10.0\nkind = \"lif\"\nrule = \"eprop\"\nn_rec = 16\nbatch_size = 6\nseeds = [3, 4]\nupdates = 400\ncheckpoints = [0, 100, 250]\nstate_every = 5\nactivity_l2 = 1.0\ndevice = \"cpu\"\n[spiking]\ndt_ms = 5.0\n",
        d.join("train.npz").display(),
        d.join("analysis.npz").display()
    );
    // `out` must come before the [spiking] table: put the table last.
    let (head, table) = body.split_once("[spiking]").unwrap();
    let with_out = |name: &str| {
        let p = d.join(format!("{name}.toml"));
        let out = d.join(name);
        std::fs::write(
            &p,
            format!("{head}out = \"{}\"\n[spiking]{table}", out.display()),
        )
        .unwrap();
        (p, out)
    };
    let (whole_cfg, whole) = with_out("whole");
    let (killed_cfg, killed) = with_out("killed");
    train_ok(&whole_cfg);
    kill_after_state_then_finish(&killed_cfg, &killed, 12);
    assert_same_run(&killed, &whole);
}

#[test]
fn a_second_train_on_a_folder_in_use_and_a_different_config_are_refused() {
    let d = tmpdir("refuse");
    let (cfg, out) = config(&d, "run", &format!("{REACH}updates = 3000\n"));
    let first = spawn_train(&cfg, Stdio::null());
    wait_for("the first train's state", 120, || out.join(STATE).is_file());
    let err = run_err(&["train", s(&cfg)]);
    assert!(
        err.contains("another train") && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    assert!(kill(first));
    // Killed: the folder holds an unfinished run. Another lr is another run: refused, unless --force.
    let other = d.join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("lr = 3e-3", "lr = 1e-3"),
    )
    .unwrap();
    let err = run_err(&["train", s(&other)]);
    assert!(
        err.contains("differs from this one in lr") && err.contains("--force"),
        "{err}"
    );
    assert!(
        out.join(STATE).is_file(),
        "the refused train changed nothing"
    );
    // --force starts again from scratch (a short run, to its end).
    run_ok(&["train", s(&other), "--force", "--updates", "4", "--quiet"]);
    assert_eq!(rows(&out.join("loss.csv")), 2 * 4);
    assert!(!out.join(STATE).exists());
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.starts_with("train."))
        .collect();
    assert!(left.is_empty(), "no temporary or claim left: {left:?}");
}

/// A sweep of `seeds` (packs of `pack_max`) killed once every partial run has a state past
/// update 30, then run again: each run's files equal those of an uninterrupted sweep trained one
/// run per pack.
fn sweep_killed_mid_run_resumes(name: &str, seeds: &[u64], pack_max: usize) {
    let d = tmpdir(name);
    let sweep = |name: &str, pack_max: usize| {
        let p = sweep_file_in(
            &d,
            name,
            &format!("results-{name}"),
            &format!(
                "pack_max = {pack_max}\n[base]\ntask = \"reach\"\nn_rec = 24\nupdates = 400\nbatch_size = 8\nn_steps = 120\ncheckpoints = [0, 200]\nstate_every = 10\ndevice = \"cpu\"\n[grid]\nseed = {seeds:?}\n"
            ),
        );
        (p.clone(), snnlab::sweep::Sweep::load(&p).unwrap())
    };
    let (killed_file, killed) = sweep("killed", pack_max);
    let (whole_file, whole) = sweep("whole", 1);
    let tmp = killed.results.join("tmp");
    let partials = || -> Vec<PathBuf> {
        std::fs::read_dir(&tmp)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let child = bin()
        .args(["sweep", "run", s(&killed_file), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("partial runs with a state", 120, || {
        let p = partials();
        p.len() == pack_max && p.iter().all(|p| state_update(p).is_some_and(|u| u >= 30))
    });
    assert!(kill(child), "the sweep ended before it was killed");
    let o = bin()
        .args(["sweep", "run", s(&killed_file)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "{pack_max} stale partial run(s) to continue from their training state"
        )),
        "{err}"
    );
    assert_eq!(partials().len(), 0, "no partial run left");
    let o = bin()
        .args(["sweep", "run", s(&whole_file), "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // run.json holds timings, config.toml the results folder: the rest is compared byte for byte.
    let strip = |v: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        v.into_iter()
            .filter(|(n, _)| n != "run.json" && n != "config.toml")
            .collect()
    };
    for r in &killed.runs {
        let (a, b) = (killed.run_dir(&r.id), whole.run_dir(&r.id));
        let (fa, fb) = (strip(files(&a)), strip(files(&b)));
        assert_eq!(
            fa.iter().map(|f| &f.0).collect::<Vec<_>>(),
            fb.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        for ((n, x), (_, y)) in fa.iter().zip(&fb) {
            assert!(
                x == y,
                "run {}: {n} differs between the resumed and the uninterrupted sweep",
                r.id
            );
        }
        assert_eq!(rows(&a.join("loss.csv")), 400);
    }
}

#[test]
fn a_sweep_killed_mid_run_continues_the_partial_run() {
    sweep_killed_mid_run_resumes("sweep", &[7], 1);
}

#[test]
fn a_pack_killed_mid_run_continues_each_member_from_its_state() {
    sweep_killed_mid_run_resumes("pack", &[7, 8], 2);
}
