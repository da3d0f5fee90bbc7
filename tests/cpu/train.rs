//! Training end to end (small): the loss falls, files appear, packing changes nothing.

use snnlab::train::{TrainConfig, adapt_lambda, train};

fn cfg(name: &str, seeds: Vec<u64>, rule: &str) -> TrainConfig {
    let out = std::env::temp_dir().join(format!("snnlab-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let text = format!(
        "task = \"reach\"\nrule = \"{rule}\"\nn_rec = 32\nlr = 3e-3\nseeds = {seeds:?}\nupdates = 40\nbatch_size = 16\nn_steps = 300\ncheckpoints = [0, 20]\ndevice = \"cpu\"\nout = \"{}\"\n",
        out.display()
    );
    let p = std::env::temp_dir().join(format!("snnlab-train-{name}-{}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    TrainConfig::load(&p).unwrap()
}

#[test]
fn reach_training_lowers_the_error_and_writes_its_files() {
    for rule in ["bptt", "eprop"] {
        let c = cfg(rule, vec![3], rule);
        let res = train(&c, None, true).unwrap();
        let ev = csv_rows(&c.out.join("checkpoints.csv"));
        let first: f64 = ev[0][2].parse().unwrap();
        assert_eq!(
            ev.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
            ["0", "20", "40"]
        );
        assert!(
            res[0].final_eval_error < 0.8 * first,
            "{rule}: eval error {first} -> {}",
            res[0].final_eval_error
        );
        assert_eq!(csv_rows(&c.out.join("loss.csv")).len(), 40);
        for u in [0, 20, 40] {
            let m = snnlab::io::load_model(&c.out.join(format!("seed3/update{u:04}.safetensors")))
                .unwrap();
            assert_eq!(m.config.n_rec, 32);
        }
        assert!(c.out.join("config.toml").exists());
    }
}

#[test]
fn packed_networks_train_exactly_as_alone() {
    let both = cfg("both", vec![5, 6], "bptt");
    let alone = cfg("alone", vec![6], "bptt");
    train(&both, None, true).unwrap();
    train(&alone, None, true).unwrap();
    let a = snnlab::io::load_model(&both.out.join("seed6/update0040.safetensors")).unwrap();
    let b = snnlab::io::load_model(&alone.out.join("seed6/update0040.safetensors")).unwrap();
    assert_eq!(
        a.params, b.params,
        "seed 6 must not depend on what it was packed with"
    );
}

#[test]
fn lambda_schedule_is_the_papers() {
    assert_eq!(adapt_lambda(10.0, 1.0, 0.05), 10.0 * 2.0 / 3.0); // 10 × 0.05 = 0.5 ≥ 1/2
    assert_eq!(adapt_lambda(10.0, 1.0, 0.049), 10.0);
}

#[test]
fn every_shipped_config_is_valid() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/configs"));
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "toml") {
            let c = TrainConfig::load(&e.path())
                .unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
            assert!(c.updates > 0);
            n += 1;
        }
    }
    assert!(n >= 7, "expected the paper's 7 run configs, found {n}");
}

#[test]
fn a_seed_listed_twice_is_refused() {
    let p = std::env::temp_dir().join(format!("snnlab-train-dupseed-{}.toml", std::process::id()));
    std::fs::write(&p, "task = \"reach\"\nseeds = [3, 1, 3]\n").unwrap();
    let e = TrainConfig::load(&p).unwrap_err().to_string();
    assert!(e.contains("3 twice") && e.contains("dupseed"), "{e}");
}

use crate::common;
use common::{bin, csv_rows, s, tmpdir, write_file};
use std::path::{Path, PathBuf};

/// Every file under `dir` (links as their target text), by path relative to it.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap().flatten() {
            let path = e.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&path).unwrap();
            if m.file_type().is_symlink() {
                let t = std::fs::read_link(&path).unwrap();
                out.insert(rel, format!("-> {}", t.display()).into_bytes());
            } else if m.is_dir() {
                out.insert(rel + "/", vec![]);
                stack.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

const SMALL: &str = "task = \"reach\"\nn_rec = 16\nlr = 3e-3\nupdates = 6\nbatch_size = 8\nn_steps = 300\ncheckpoints = [0, 3]\ndevice = \"cpu\"\n";

/// `train` of `config` into `out`, as a user types it; (exit code, stderr).
fn run_train(config: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let o = bin()
        .args(["train", s(config), "--out", s(out), "--quiet"])
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// [`SMALL`] written to `d/c.toml` and trained into `d/run`: (config, run folder).
fn small_run(d: &Path) -> (PathBuf, PathBuf) {
    let (c, run) = (write_file(d, "c.toml", SMALL), d.join("run"));
    assert_eq!(run_train(&c, &run, &[]).0, 0);
    (c, run)
}

#[test]
fn a_typo_over_a_finished_run_changes_no_byte_of_it() {
    let d = tmpdir("typo");
    let (_, run) = small_run(&d);
    let before = tree(&run);
    assert!(
        before.contains_key("seed1/update0006.safetensors"),
        "{before:?}"
    );
    // The case: the same config with a typo in `init`.
    let typo = write_file(
        &d,
        "typo.toml",
        format!("{SMALL}init = \"typo.safetensors\"\n"),
    );
    let (code, err) = run_train(&typo, &run, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds a run; use --force"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(tree(&run) == before, "refused train changed the run");
    // With --force the typo is found before anything is moved or written.
    let (code, err) = run_train(&typo, &run, &["--force"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("typo.safetensors"), "{err}");
    assert!(tree(&run) == before, "failed --force train changed the run");
    // Nor a bad config (an unknown task): refused before the folder is looked at.
    let bad = write_file(&d, "bad.toml", SMALL.replace("\"reach\"", "\"rech\""));
    assert_eq!(run_train(&bad, &run, &["--force"]).0, 2);
    assert!(tree(&run) == before);
    // Nothing but the run was ever created next to it.
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn force_replaces_a_run_whole_and_a_failed_new_run_leaves_nothing() {
    let d = tmpdir("force");
    let (_, run) = small_run(&d);
    // The old run had a seed the new one lacks, and an extra file: both go with it.
    std::fs::create_dir_all(run.join("seed9")).unwrap();
    std::fs::write(run.join("seed9/update0001.safetensors"), b"old").unwrap();
    let c2 = write_file(&d, "c2.toml", SMALL.replace("updates = 6", "updates = 4"));
    let (code, err) = run_train(&c2, &run, &["--force"]);
    assert_eq!(code, 0, "{err}");
    let t = tree(&run);
    assert!(!t.keys().any(|k| k.starts_with("seed9")), "{:?}", t.keys());
    assert!(t.contains_key("seed1/update0004.safetensors"));
    assert!(!t.contains_key("seed1/update0006.safetensors"));
    assert_eq!(csv_rows(&run.join("loss.csv")).len(), 4);
    // Nothing left aside.
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 3);

    // A new folder whose run fails before any checkpoint (an init of the wrong size) is not
    // created at all.
    let other = d.join("other.toml");
    let init = run.join("seed1/update0004.safetensors");
    std::fs::write(
        &other,
        format!(
            "{}init = {:?}\n",
            SMALL.replace("n_rec = 16", "n_rec = 8"),
            init
        ),
    )
    .unwrap();
    let fresh = d.join("fresh");
    let (code, err) = run_train(&other, &fresh, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(!fresh.exists());
}

#[test]
fn a_symlinked_log_in_a_run_is_never_written_through() {
    let d = tmpdir("link");
    let c = write_file(&d, "c.toml", SMALL);
    let outside = write_file(&d, "precious.csv", b"a week of work\n");
    let run = d.join("run");
    std::fs::create_dir(&run).unwrap();
    std::os::unix::fs::symlink(&outside, run.join("loss.csv")).unwrap();
    // The link makes the folder a run: refused; with --force the link is moved aside and
    // removed as a link, its target untouched.
    assert_eq!(run_train(&c, &run, &[]).0, 2);
    let (code, err) = run_train(&c, &run, &["--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&outside).unwrap(), b"a week of work\n");
    assert!(
        !std::fs::symlink_metadata(run.join("loss.csv"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // An output folder that is itself a link is refused.
    let link = d.join("linked-run");
    std::os::unix::fs::symlink(d.join("elsewhere"), &link).unwrap();
    let (code, err) = run_train(&c, &link, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(!d.join("elsewhere").exists());
}

#[test]
fn divergence_names_every_seed_and_leaves_no_non_finite_checkpoint() {
    let d = tmpdir("diverge");
    // The case: lr = 1e39 overflows the weights in the first update, whose own loss
    // is still finite; checkpoint 1 would hold infinities.
    let body = SMALL
        .replace("lr = 3e-3", "lr = 1e39\nseeds = [1, 2]")
        .replace("checkpoints = [0, 3]", "checkpoints = [0, 1, 3]");
    let c = write_file(&d, "c.toml", body);
    let run = d.join("run");
    let (code, err) = run_train(&c, &run, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("seed 1 at update") && err.contains("seed 2 at update"),
        "{err}"
    );
    for seed in [1, 2] {
        let dir = run.join(format!("seed{seed}"));
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "only the initial checkpoint: {files:?}");
        for f in files {
            snnlab::io::load_model(&f.path()).expect("every checkpoint on disk loads");
        }
    }
    let failed = std::fs::read_to_string(run.join("FAILED")).unwrap();
    assert!(failed.contains("diverged"), "{failed}");
}

#[test]
fn analyze_warns_about_a_truncated_run_and_analyses_both() {
    let d = tmpdir("truncated");
    let c = write_file(&d, "c.toml", SMALL);
    let (whole, cut) = (d.join("whole"), d.join("cut"));
    assert_eq!(run_train(&c, &whole, &[]).0, 0);
    assert_eq!(run_train(&c, &cut, &[]).0, 0);
    // As if killed after update 4: the last checkpoint and two loss rows missing.
    std::fs::remove_file(cut.join("seed1/update0006.safetensors")).unwrap();
    let log = std::fs::read_to_string(cut.join("loss.csv")).unwrap();
    let kept: Vec<&str> = log.lines().take(1 + 4).collect();
    std::fs::write(cut.join("loss.csv"), kept.join("\n") + "\n").unwrap();
    let o = bin()
        .args(["analyze", s(&whole), s(&cut), "--data"])
        .arg(snnlab::reproduce::default_data())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains(&cut.display().to_string())
            && warnings[0].contains("2 of 3 checkpoints and 4 of 6 updates"),
        "{err}"
    );
    assert!(cut.join("analysis.csv").exists() && whole.join("analysis.csv").exists());
}
