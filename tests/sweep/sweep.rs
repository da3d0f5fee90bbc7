//! Sweeps: expansion and ids, shards, resuming after SIGKILL (results equal to an uninterrupted
//! sweep's), packing equal to training alone, diverged runs marked without stopping the others.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use snnlab::sweep::{Shard, Sweep};

use crate::common;
use common::{bin, files_under, output_ok, sweep_file_in, tmpdir, wait_for};

/// A sweep file `dir/NAME.toml` with results in `dir/results-NAME`.
fn sweep_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    sweep_file_in(dir, name, &format!("results-{name}"), body)
}

/// `snnlab sweep CMD FILE ARGS`, to run or spawn.
fn sweep_cmd(cmd: &str, file: &Path, args: &[&str]) -> Command {
    let mut c = bin();
    c.args(["sweep", cmd]).arg(file).args(args);
    c
}

/// [`BASE`] over these seeds, without neural data (no analysis).
fn unscored(seeds: &str) -> String {
    format!("data = \"none\"\n{BASE}[grid]\nseed = {seeds}\n")
}

/// [`sweep_file`], loaded: (its path, the sweep).
fn loaded(dir: &Path, name: &str, body: &str) -> (PathBuf, Sweep) {
    let f = sweep_file(dir, name, body);
    let s = Sweep::load(&f).unwrap();
    (f, s)
}

/// `sweep run --quiet` of `file`, asserted to succeed; the sweep.
fn run_quietly(file: &Path) -> Sweep {
    output_ok(&mut sweep_cmd("run", file, &["--quiet"]));
    Sweep::load(file).unwrap()
}

const BASE: &str = "[base]\ntask = \"reach\"\nn_rec = 16\nupdates = 20\nbatch_size = 8\ncheckpoints = [0, 10]\ndevice = \"cpu\"\n";

fn ids(s: &Sweep) -> BTreeSet<String> {
    s.runs.iter().map(|r| r.id.clone()).collect()
}

#[test]
fn expansion_is_deterministic_and_ids_stable() {
    let d = tmpdir("ids");
    let a = Sweep::load(&sweep_file(&d, "a", &format!("{BASE}[grid]\nrule = [\"bptt\", \"eprop\"]\nseed = [1, 2]\n[zip]\nlr = [1e-3, 3e-4]\ng0 = [1.0, 1.5]\n"))).unwrap();
    assert_eq!(a.runs.len(), 2 * 2 * 2);
    assert_eq!(a.axes, ["rule", "seed", "g0", "lr"]);
    let again = Sweep::load(&a.path).unwrap();
    assert_eq!(
        a.runs
            .iter()
            .map(|r| (&r.id, &r.values))
            .collect::<Vec<_>>(),
        again
            .runs
            .iter()
            .map(|r| (&r.id, &r.values))
            .collect::<Vec<_>>()
    );
    // zip pairs its lists: lr 1e-3 goes with g0 1.0 only.
    assert!(
        a.runs
            .iter()
            .all(|r| (r.config.lr == 1e-3) == (r.config.g0 == 1.0))
    );

    // One more seed: every earlier run keeps its id. The same values written differently
    // (0.001 for 1e-3, axes in another order) give the same ids.
    let more = Sweep::load(&sweep_file(&d, "b", &format!("{BASE}[grid]\nseed = [1, 2, 3]\nrule = [\"bptt\", \"eprop\"]\n[zip]\ng0 = [1.0, 1.5]\nlr = [0.001, 3e-4]\n"))).unwrap();
    assert_eq!(more.runs.len(), 12);
    assert!(ids(&a).is_subset(&ids(&more)));
    // A new axis whose value is the default (alpha = 0.1) renumbers nothing.
    let extra = Sweep::load(&sweep_file(&d, "c", &format!("{BASE}[grid]\nrule = [\"bptt\", \"eprop\"]\nseed = [1, 2]\nalpha = [0.1]\n[zip]\nlr = [1e-3, 3e-4]\ng0 = [1.0, 1.5]\n"))).unwrap();
    assert_eq!(ids(&a), ids(&extra));
    // A different setting is a different run; device and results are not part of the id.
    let other = Sweep::load(&sweep_file(
        &d,
        "e",
        &BASE
            .replace("updates = 20", "updates = 21")
            .replace("\"cpu\"", "\"gpu\"")
            .to_string(),
    ))
    .unwrap();
    let plain = Sweep::load(&sweep_file(&d, "f", BASE)).unwrap();
    let gpu = Sweep::load(&sweep_file(&d, "g", &BASE.replace("\"cpu\"", "\"gpu\""))).unwrap();
    assert_ne!(ids(&other), ids(&plain));
    assert_eq!(ids(&plain), ids(&gpu));

    // Bad sweeps: unknown key in a run, both grid and zip, unequal zip lists, seeds in base.
    for (body, culprit) in [
        (
            format!("{BASE}[grid]\nlearning_rate = [1.0]\n"),
            "learning_rate",
        ),
        (
            format!("{BASE}[grid]\nlr = [1.0]\n[zip]\nlr = [2.0]\n"),
            "lr",
        ),
        (
            format!("{BASE}[zip]\nlr = [1.0, 2.0]\ng0 = [1.0]\n"),
            "[zip]",
        ),
        (format!("{BASE}seeds = [1]\n"), "seeds"),
        (format!("{BASE}[grid]\nseed = [1, 1]\n"), "same settings"),
        (format!("{BASE}[grid]\nrule = [\"hebb\"]\n"), "hebb"),
    ] {
        let e = Sweep::load(&sweep_file(&d, "bad", &body))
            .expect_err(&body)
            .to_string();
        assert!(
            e.contains(culprit) && e.contains("bad.toml"),
            "{e} should name {culprit} and the file"
        );
    }
}

#[test]
fn shards_are_disjoint_and_cover_every_run() {
    let d = tmpdir("shards");
    let s = Sweep::load(&sweep_file(
        &d,
        "s",
        &format!("{BASE}[grid]\nseed = [1, 2, 3, 4, 5, 6, 7]\ng0 = [1.0, 2.0]\n"),
    ))
    .unwrap();
    for n in 1..=5 {
        let mut seen = BTreeSet::new();
        for i in 0..n {
            let part = Shard::parse(&format!("{i}/{n}")).unwrap().select(&s.runs);
            assert!(
                part.len() >= s.runs.len() / n && part.len() <= s.runs.len().div_ceil(n),
                "shard sizes are balanced"
            );
            for r in part {
                assert!(
                    seen.insert(r.id.clone()),
                    "run {} in two shards of {n}",
                    r.id
                );
            }
        }
        assert_eq!(seen, ids(&s), "shards of {n} cover every run");
    }
    for bad in ["3/3", "1", "a/2", "0/0"] {
        assert!(
            Shard::parse(bad)
                .unwrap_err()
                .to_string()
                .contains("--shard")
        );
    }
}

fn complete(s: &Sweep) -> usize {
    s.runs.iter().filter(|r| s.is_complete(&r.id)).count()
}

/// Every file of every run, as bytes, by (run id, relative path) — except timings in run.json.
fn snapshot(s: &Sweep) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for r in &s.runs {
        for (rel, mut bytes) in files_under(&s.run_dir(&r.id)) {
            if rel == "run.json" {
                let mut j: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                j["seconds"] = 0.into();
                bytes = j.to_string().into_bytes();
            } else if rel == "config.toml" {
                // It names the run's own directory, which differs between the two sweeps.
                bytes = String::from_utf8(bytes)
                    .unwrap()
                    .replace(&s.results.display().to_string(), "RESULTS")
                    .into_bytes();
            }
            out.push((r.id.clone(), rel, bytes));
        }
    }
    out.sort();
    out
}

#[test]
fn sigkill_mid_sweep_then_rerun_completes_every_run_once_with_identical_results() {
    let d = tmpdir("kill");
    // 8 runs of one shape trained one per pack (pack_max = 1) so that runs finish one by one.
    let body = "[base]\ntask = \"reach\"\nn_rec = 24\nupdates = 60\nbatch_size = 16\ncheckpoints = [0, 30]\ndevice = \"cpu\"\n[grid]\nseed = [1, 2, 3, 4]\nrule = [\"bptt\", \"eprop\"]\n";
    let killed = sweep_file(&d, "killed", &format!("pack_max = 1\n{body}"));
    // The uninterrupted peer packs all eight together: packing must not change a bit either.
    let whole = sweep_file(&d, "whole", &format!("pack_max = 8\n{body}"));
    let s = Sweep::load(&killed).unwrap();
    let n = s.runs.len();

    let mut child = sweep_cmd("run", &killed, &["--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("two runs to complete", 300, || complete(&s) >= 2);
    // A partial run must be in flight when the kill lands (the next pack starts at once).
    wait_for("a partial run", 60, || {
        std::fs::read_dir(s.results.join("tmp"))
            .map(|r| r.count() > 0)
            .unwrap_or(false)
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = complete(&s);
    assert!(
        before < n,
        "the sweep finished before the kill: make the runs longer"
    );
    // Almost always one partial run is left (unless the kill fell between a rename and the
    // next pack's start).
    let partial = std::fs::read_dir(s.results.join("tmp")).unwrap().count();
    let st = snnlab::sweep::status(&s);
    assert_eq!(
        (st.done, st.stale, st.pending + st.stale + st.done),
        (before, partial, n),
        "{st:?}"
    );

    let o = sweep_cmd("run", &killed, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("{before} complete")),
        "rerun should skip the {before} complete runs: {err}"
    );
    assert_eq!(
        err.contains("stale partial run"),
        partial > 0,
        "rerun should remove the partial run: {err}"
    );
    assert_eq!(complete(&s), n);
    assert_eq!(
        std::fs::read_dir(s.results.join("tmp")).unwrap().count(),
        0,
        "no partial runs left"
    );
    for r in &s.runs {
        let log = std::fs::read_to_string(s.run_dir(&r.id).join("loss.csv")).unwrap();
        assert_eq!(
            log.lines().count(),
            1 + 60,
            "run {}: one loss row per update, none repeated",
            r.id
        );
        let rec = s.record(&r.id).unwrap();
        assert_eq!(rec.status, "done");
    }

    let w = run_quietly(&whole);
    let (a, b) = (snapshot(&s), snapshot(&w));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, &x.1), (&y.0, &y.1));
        assert!(
            x.2 == y.2,
            "run {} file {} differs between the resumed and the uninterrupted sweep",
            x.0,
            x.1
        );
    }

    // A rerun of a complete sweep trains nothing; merge has every run and checkpoint.
    let o = sweep_cmd("run", &killed, &[]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 to train"));
    output_ok(&mut sweep_cmd("merge", &killed, &[]));
    let csv = std::fs::read_to_string(s.results.join("merged.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + n * 3, "{csv}");
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(&head[..3], ["run", "rule", "seed"]);
    assert!(head.contains(&"distance") && head.contains(&"accuracy"));
    let report = std::fs::read_to_string(s.results.join("report.html")).unwrap();
    // One panel per sweep axis but the seed (issue 13: the seed panels said nothing).
    assert!(report.contains("by rule") && !report.contains("by seed"));
}

#[test]
fn diverged_runs_are_marked_and_the_others_finish() {
    let d = tmpdir("diverge");
    let f = sweep_file(
        &d,
        "div",
        &format!(
            "data = \"none\"\n{}activation = \"relu\"\n[grid]\nlr = [1e-3, 1e2]\ng0 = [1.0, 4.0]\n",
            BASE
        ),
    );
    output_ok(&mut sweep_cmd("run", &f, &[]));
    let s = Sweep::load(&f).unwrap();
    let st = snnlab::sweep::status(&s);
    assert_eq!(st.done + st.diverged, 4);
    let calm = s
        .runs
        .iter()
        .find(|r| r.config.lr == 1e-3 && r.config.g0 == 1.0)
        .unwrap();
    assert_eq!(s.record(&calm.id).unwrap().status, "done");
    let wild = s
        .runs
        .iter()
        .find(|r| r.config.lr == 1e2 && r.config.g0 == 4.0)
        .unwrap();
    let rec = s.record(&wild.id).unwrap();
    assert_eq!(rec.status, "diverged");
    assert!(rec.diverged_at.is_some() && rec.final_loss.is_none());
    // Its last checkpoint is missing; the calm run's is there.
    assert!(
        !s.run_dir(&wild.id)
            .join("seed1/update0020.safetensors")
            .exists()
    );
    assert!(
        s.run_dir(&calm.id)
            .join("seed1/update0020.safetensors")
            .exists()
    );
}

#[test]
fn packing_on_the_gpu_matches_training_each_network_alone() {
    // lavapipe where there is no GPU; REQUIRE_GPU=1 (CI) makes a missing adapter a failure.
    if common::gpu::context().is_none() {
        return;
    }
    let d = tmpdir("gpupack");
    let body = "data = \"none\"\n[base]\ntask = \"reach\"\nn_rec = 16\nupdates = 6\nbatch_size = 4\nn_steps = 200\ncheckpoints = [0]\ndevice = \"gpu\"\n[grid]\nseed = [1, 2, 3]\n[zip]\nlr = [1e-2, 3e-3]\ng0 = [1.0, 1.5]\n";
    let packed = sweep_file(&d, "packed", &format!("pack_max = 6\n{body}"));
    let alone = sweep_file(&d, "alone", &format!("pack_max = 1\n{body}"));
    for f in [&packed, &alone] {
        output_ok(&mut sweep_cmd("run", f, &["--quiet"]));
    }
    let (p, a) = (Sweep::load(&packed).unwrap(), Sweep::load(&alone).unwrap());
    for r in &p.runs {
        let f = |s: &Sweep| {
            snnlab::io::load_model(
                &s.run_dir(&r.id)
                    .join(format!("seed{}/update0006.safetensors", r.seed())),
            )
            .unwrap()
            .params
            .flatten()
        };
        let (x, y) = (f(&p), f(&a));
        let scale = y.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = x
            .iter()
            .zip(&y)
            .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
        // Same kernels, same order of work per network: the pack changes nothing.
        assert!(
            err <= 1e-5 * scale,
            "run {}: packed vs alone differ by {err} (scale {scale})",
            r.id
        );
    }
}

#[test]
fn packs_group_runs_of_one_shape_only() {
    let d = tmpdir("packs");
    let s = Sweep::load(&sweep_file(&d, "p", &format!("{BASE}[grid]\nseed = [1, 2, 3]\nlr = [1e-3, 3e-4]\nkind = [\"rate\", \"lif\", \"alif\"]\n"))).unwrap();
    let all: Vec<&snnlab::sweep::Run> = s.runs.iter().collect();
    let packs = snnlab::sweep::packs(&all, 4);
    // Seeds and learning rates share a pack; network kinds never do. 6 runs per kind, at most 4 a pack.
    assert_eq!(packs.len(), 3 * 2);
    for p in &packs {
        assert!(p.len() <= 4);
        assert!(
            p.iter().all(|r| r.config.kind == p[0].config.kind),
            "one kind per pack"
        );
    }
    assert_eq!(packs.iter().map(Vec::len).sum::<usize>(), s.runs.len());
}

/// Every entry of a folder, without following links.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn four_processes_on_one_results_folder_train_every_run_exactly_once() {
    let d = tmpdir("four");
    // Tiny runs trained one per pack, so that the processes contend for every run.
    let body = "pack_max = 1\ndata = \"none\"\n[base]\ntask = \"reach\"\nn_rec = 8\nupdates = 3\nbatch_size = 4\nn_steps = 60\ncheckpoints = [0, 2]\ndevice = \"cpu\"\n[grid]\nseed = [1, 2, 3, 4, 5, 6]\n";
    let one = sweep_file(&d, "one", body);
    let reference = snapshot(&run_quietly(&one));
    for round in 0..10 {
        let f = sweep_file(&d, &format!("many{round}"), body);
        let s = Sweep::load(&f).unwrap();
        let children: Vec<_> = (0..4)
            .map(|_| {
                sweep_cmd("run", &f, &[])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut trained: Vec<String> = Vec::new();
        for c in children {
            let o = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(o.status.success(), "round {round}: {err}");
            trained.extend(
                err.lines()
                    .filter_map(|l| l.strip_prefix("run "))
                    .filter_map(|l| l.split_whitespace().next())
                    .map(str::to_owned),
            );
        }
        trained.sort();
        let mut all: Vec<String> = s.runs.iter().map(|r| r.id.clone()).collect();
        all.sort();
        assert_eq!(
            trained, all,
            "round {round}: every run trained exactly once"
        );
        assert_eq!(entries(&s.results.join("tmp")), Vec::<String>::new());
        assert_eq!(entries(&s.results.join("claims")), Vec::<String>::new());
        // Identical to one process's results (config.toml names the results folder: snapshot
        // writes it as RESULTS in both).
        let got = snapshot(&s);
        assert_eq!(got.len(), reference.len());
        for (x, y) in got.iter().zip(&reference) {
            assert!(x == y, "round {round}: run {} file {} differs", x.0, x.1);
        }
    }
}

#[test]
fn links_inside_a_results_folder_are_never_followed() {
    let d = tmpdir("links");
    let (f, s) = loaded(&d, "l", &unscored("[1]"));
    // Outside the results folder: something a stale-run clean-up must never reach.
    let outside = d.join("outside");
    let victim = outside.join(format!("{}.host.1.1", s.runs[0].id));
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep"), b"mine").unwrap();
    // 1. RESULTS/tmp (and RESULTS/runs) a link: refused, exit 2, nothing touched.
    for sub in ["tmp", "runs"] {
        std::fs::create_dir_all(&s.results).unwrap();
        std::os::unix::fs::symlink(&outside, s.results.join(sub)).unwrap();
        let o = sweep_cmd("run", &f, &[]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(
            entries(&outside),
            [victim.file_name().unwrap().to_string_lossy()]
        );
        assert_eq!(std::fs::read(victim.join("keep")).unwrap(), b"mine");
        std::fs::remove_file(s.results.join(sub)).unwrap();
    }
    // 2. A link planted at the name this process would train the run in: the run fails
    // (no write into, no removal from, the link's target) and the link stays a link.
    std::fs::create_dir_all(s.results.join("tmp")).unwrap();
    let planted = snnlab::sweep::tmp_run_dir(&s, &s.runs[0].id);
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let opts = snnlab::sweep::RunOptions {
        shard: Shard::ALL,
        quiet: true,
    };
    let e = snnlab::sweep::run(&s, &opts, None).unwrap_err();
    assert!(e.to_string().contains("temporary run folder"), "{e}");
    assert_eq!(entries(&victim), ["keep"]);
    assert!(
        std::fs::symlink_metadata(&planted)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // 3. A stale-looking folder in tmp/ that is a link: the clean-up leaves it (and its
    // target) alone, and the sweep completes.
    std::fs::remove_file(&planted).unwrap();
    let stale_link = s.results.join(format!(
        "tmp/{}.{}.1.1",
        s.runs[0].id,
        snnlab::claim::hostname()
    ));
    std::os::unix::fs::symlink(&victim, &stale_link).unwrap();
    snnlab::sweep::run(&s, &opts, None).unwrap();
    assert!(s.is_complete(&s.runs[0].id));
    assert_eq!(entries(&victim), ["keep"]);
    assert!(std::fs::symlink_metadata(&stale_link).is_ok());
}

#[test]
fn status_tells_a_reused_pid_from_a_live_run() {
    let d = tmpdir("reuse");
    let (f, s) = loaded(&d, "r", &unscored("[1, 2]"));
    let me = snnlab::claim::Owner::me();
    // A partial run named after a process whose pid is alive now (this test's) but which
    // started at another time: a dead process whose pid was reused. Stale, not running.
    let tmp = s.results.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let ghost = snnlab::claim::Owner {
        start: me.start + 1,
        ..me.clone()
    };
    std::fs::create_dir(tmp.join(format!("{}.{}", s.runs[0].id, ghost.tag()))).unwrap();
    let claims = s.results.join("claims");
    std::fs::create_dir_all(&claims).unwrap();
    std::fs::write(claims.join(format!("{}.0", s.runs[0].id)), ghost.tag()).unwrap();
    let st = snnlab::sweep::status(&s);
    assert_eq!((st.running, st.stale, st.pending), (0, 1, 1), "{st:?}");
    // The next run removes it, takes over the claim and trains both runs.
    let o = sweep_cmd("run", &f, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.contains("1 stale partial run"),
        "{err}"
    );
    assert_eq!(complete(&s), 2);
    assert_eq!(entries(&tmp), Vec::<String>::new());
    assert_eq!(entries(&claims), Vec::<String>::new());
}

#[test]
fn a_diverged_run_leaves_only_finite_checkpoints_and_its_analysis_names_no_tmp_path() {
    let d = tmpdir("div39");
    // lr = 1e39: the first update overflows the weights while its loss is still finite.
    let body = "[base]\ntask = \"reach\"\nn_rec = 16\nupdates = 4\nbatch_size = 8\ncheckpoints = [0, 1, 2]\ndevice = \"cpu\"\n[grid]\nlr = [1e-3, 1e39]\n";
    let f = sweep_file(&d, "d", body);
    let s = run_quietly(&f);
    for r in &s.runs {
        let dir = s.run_dir(&r.id);
        let json = std::fs::read_to_string(dir.join("run.json")).unwrap();
        assert!(
            !json.contains("/tmp/") || !json.contains(&s.results.join("tmp").display().to_string()),
            "{json}"
        );
        let rec = s.record(&r.id).unwrap();
        assert_eq!(rec.analysis_error, None, "{json}");
        assert_eq!(
            rec.status,
            if r.config.lr > 1.0 {
                "diverged"
            } else {
                "done"
            }
        );
        // The analysis of both runs scored every checkpoint that is on disk.
        let analysed = std::fs::read_to_string(dir.join("analysis.csv"))
            .unwrap()
            .lines()
            .count()
            - 1;
        let on_disk = std::fs::read_dir(dir.join("seed1")).unwrap().count();
        assert_eq!(analysed, on_disk);
        assert_eq!(on_disk, if r.config.lr > 1.0 { 1 } else { 4 });
    }
}

#[test]
fn the_sweep_report_escapes_what_it_shows() {
    let d = tmpdir("html");
    let (_, mut s) = loaded(&d, "h", &unscored("[1]"));
    // Names are checked on load; the report escapes them anyway.
    s.name = "<script>alert(1)</script>".into();
    let out = d.join("report.html");
    snnlab::sweep::merge(&s, Some(&d.join("m.csv")), Some(&out), &Default::default()).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}
