//! Helpers shared by the test binaries (tests/cli, tests/cpu, tests/sweep, tests/fuzz_corpus.rs,
//! tests/sweep_memory.rs): running the `snnlab` binary and judging its exit, scratch folders and
//! the files tests write and read; `gpu` holds the GPU adapter and tolerances.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The binary under test, with GPU adapter selection left to wgpu (no device-select layer).
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snnlab"));
    c.env("NODEVICE_SELECT", "1");
    c
}

/// A fresh, empty directory under the temp dir, unique to the calling source file, `name` and
/// process (several former test files now share one binary, so the crate name is not enough).
#[track_caller]
pub fn tmpdir(name: &str) -> PathBuf {
    let file = Path::new(std::panic::Location::caller().file());
    let stem = file.file_stem().unwrap().to_string_lossy();
    let d = std::env::temp_dir().join(format!(
        "snnlab-{}-{stem}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A file of the repository (data, configs).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The Hatsopoulos 2007 reach recordings shipped in data/.
pub fn hatsopoulos() -> PathBuf {
    repo("data/neural/hatsopoulos2007/firing_rate_n141_t121_c8.npy")
}

/// A path as the command line takes it (every test path is UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes `body` to `dir/name`; its path.
pub fn write_file(dir: &Path, name: &str, body: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// A sweep file `dir/NAME.toml` writing its results to `dir/RESULTS` (`results` names the
/// folder, then `body` follows).
pub fn sweep_file_in(dir: &Path, name: &str, results: &str, body: &str) -> PathBuf {
    let line = format!("results = \"{}\"\n", dir.join(results).display());
    write_file(dir, &format!("{name}.toml"), line + body)
}

/// Asserts `o` exited 0 (else shows `what` and its stderr); its stdout.
pub fn stdout_ok(o: &Output, what: impl std::fmt::Debug) -> String {
    assert!(
        o.status.success(),
        "{what:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `cmd`, asserted to exit 0 (else its stderr is shown); its stdout.
pub fn output_ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    stdout_ok(&o, cmd)
}

/// `snnlab ARGS`, asserted to exit 0; its stdout.
pub fn run_ok(args: &[&str]) -> String {
    stdout_ok(&bin().args(args).output().unwrap(), args)
}

/// Writes `config` to `dir/c.toml` and trains it into `dir/NAME` (`train --quiet`, asserted to
/// succeed); the run folder.
pub fn train_quietly(dir: &Path, name: &str, config: &str) -> PathBuf {
    let (cfg, run) = (write_file(dir, "c.toml", config), dir.join(name));
    run_ok(&["train", s(&cfg), "--out", s(&run), "--quiet"]);
    run
}

/// Writes `run`'s run.json as a finished `sweep run` leaves it (no losses, no time); its folder.
pub fn write_done_run(sweep: &snnlab::sweep::Sweep, run: &snnlab::sweep::Run) -> PathBuf {
    let dir = sweep.run_dir(&run.id);
    std::fs::create_dir_all(&dir).unwrap();
    let rec = snnlab::sweep::RunRecord {
        id: run.id.clone(),
        values: snnlab::sweep::typed_values(&run.values),
        status: "done".into(),
        diverged_at: None,
        final_loss: None,
        final_eval_error: None,
        seconds: 0.0,
        analysis_error: None,
    };
    std::fs::write(dir.join("run.json"), serde_json::to_string(&rec).unwrap()).unwrap();
    dir
}

/// Asserts `o` is a bad-input exit: status 2 and exactly one non-blank stderr line; that line.
pub fn one_line_exit_2(o: &Output, what: impl std::fmt::Debug) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{what:?}: stderr {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {err}");
    lines[0].to_owned()
}

/// `snnlab ARGS`, asserted to be a bad-input exit ([`one_line_exit_2`]); the line.
pub fn run_err(args: &[&str]) -> String {
    one_line_exit_2(&bin().args(args).output().unwrap(), args)
}

/// [`run_err`] whose line names every culprit; when `out` is given, [`assert_not_written`].
pub fn assert_bad(args: &[&str], culprits: &[&str], out: Option<&Path>) {
    let line = run_err(args);
    for c in culprits {
        assert!(line.contains(c), "message '{line}' should name '{c}'");
    }
    if let Some(p) = out {
        assert_not_written(p);
    }
}

/// `out` was not written and no temporary file was left beside it.
pub fn assert_not_written(out: &Path) {
    assert!(!out.exists(), "{} must not be written", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// The rows of a CSV file (header excluded), split at commas.
pub fn csv_rows(p: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// Every file under `dir` (links followed, as `Path::is_dir` does): (path relative to `dir`,
/// bytes), sorted.
pub fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

/// `text` contains every one of `words` (else it is shown).
pub fn assert_contains_all(text: &str, words: &[&str]) {
    for w in words {
        assert!(text.contains(w), "'{w}' missing from: {text}");
    }
}

/// A CSV text as its header and rows, split at commas.
pub fn table(csv: &str) -> (Vec<&str>, Vec<Vec<&str>>) {
    let mut lines = csv.lines().map(|l| l.split(',').collect::<Vec<_>>());
    (lines.next().unwrap(), lines.collect())
}

/// A JSON file, parsed.
pub fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Polls `done` until it holds; fails naming `what` after `secs` seconds.
pub fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub mod gpu;
