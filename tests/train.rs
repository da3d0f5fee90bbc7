//! Training end to end (small): the loss falls, files appear, packing changes nothing.

use std::path::PathBuf;

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

fn csv_rows(p: PathBuf) -> Vec<Vec<String>> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[test]
fn reach_training_lowers_the_error_and_writes_its_files() {
    for rule in ["bptt", "eprop"] {
        let c = cfg(rule, vec![3], rule);
        let res = train(&c, None, true).unwrap();
        let ev = csv_rows(c.out.join("checkpoints.csv"));
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
        assert_eq!(csv_rows(c.out.join("loss.csv")).len(), 40);
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
