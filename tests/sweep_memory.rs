//! `sweep status` on 10^6 runs, or 10,000 seeds, and `submit --dry-run` and `merge` of them stay
//! in bounded memory: runs are indexed by id over the grid, never held expanded.
//!
//! A test binary of its own, like tests/fuzz_corpus.rs: a child's peak RSS from wait4 counts
//! its parent's resident memory at the spawn (the child starts in the parent's address space),
//! so a parent shared with other tests would be measured too.

mod common;
use common::{s, write_file};

use snnlab::sweep::Sweep;

/// A small reach run (2 updates), the base of every run of the grids.
const BASE: &str = concat!(
    "[base]\ntask = \"reach\"\nn_rec = 16\nupdates = 2\nbatch_size = 4\n",
    "checkpoints = [0, 2]\ndevice = \"cpu\"\n"
);

/// `n` values of `f` as a TOML list.
fn axis(n: usize, f: impl Fn(usize) -> String) -> String {
    format!("[{}]", (0..n).map(f).collect::<Vec<_>>().join(", "))
}

/// Run the binary; (exit code, stdout, stderr, peak RSS of the child in KiB) from wait4.
// The child is reaped by wait4 (which gives its peak RSS), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (i32, String, String, u64) {
    use std::process::Stdio;
    let child = common::bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    // The pipes are small: read them while the child runs.
    let mut out_pipe = child.stdout.unwrap();
    let mut err_pipe = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out_pipe, &mut s).unwrap();
        s
    });
    let mut err = String::new();
    std::io::Read::read_to_string(&mut err_pipe, &mut err).unwrap();
    let out = reader.join().unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it in for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    (code, out, err, ru.ru_maxrss as u64)
}

/// [`run_measured`], asserted to exit 0 with every `expect` in its stdout and a peak RSS under
/// 200 MiB; its stdout.
fn bounded_ok(args: &[&str], expect: &[&str], what: &str) -> String {
    let (code, out, err, peak_kib) = run_measured(args);
    assert_eq!(code, 0, "{err}");
    for e in expect {
        assert!(out.contains(e), "{out}");
    }
    assert!(peak_kib < 200 * 1024, "{what} peaked at {peak_kib} KiB");
    out
}

#[test]
fn status_of_a_million_runs_and_of_ten_thousand_seeds_stays_in_bounded_memory() {
    let d = common::tmpdir("million");
    // 10^6 runs: 1000 seeds × 1000 learning rates.
    let body = format!(
        "results = \"{}\"\n{BASE}[grid]\nseed = {}\nlr = {}\n",
        d.join("res").display(),
        axis(1000, |i| i.to_string()),
        axis(1000, |i| format!("{:e}", 1e-4 * (1.0 + i as f64)))
    );
    let million = write_file(&d, "million.toml", &body);
    let status_million = ["sweep", "status", s(&million)];
    // The index is 16 bytes a run (16 MB); a fully expanded grid took about 900 MB.
    bounded_ok(
        &status_million,
        &["1000000 runs", "pending 1000000"],
        "sweep status of 10^6 runs",
    );
    // A run that is done is counted as done (its run.json read), the others stay pending.
    let s = Sweep::load(&million).unwrap();
    let id = s.runs.id(123_456);
    let dir = s.run_dir(&id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("run.json"),
        format!("{{\"id\":\"{id}\",\"values\":[],\"status\":\"done\",\"diverged_at\":null,\"final_loss\":null,\"final_eval_error\":null,\"seconds\":0.0,\"analysis_error\":null}}"),
    )
    .unwrap();
    drop(s);
    let (code, out, err, _) = run_measured(&status_million);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("done 1 |") && out.contains("pending 999999"),
        "{out}"
    );

    // 10,000 seeds of one config.
    let body = format!(
        "results = \"{}\"\n{BASE}[grid]\nseed = {}\n",
        d.join("res2").display(),
        axis(10_000, |i| i.to_string())
    );
    let seeds = write_file(&d, "seeds.toml", &body);
    let ss = common::s(&seeds);
    bounded_ok(
        &["sweep", "status", ss],
        &["10000 runs", "pending 10000"],
        "10,000 seeds",
    );
    let (code, out, err, _) =
        run_measured(&["sweep", "submit", ss, "--dry-run", "--runs-per-task", "100"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("100 array task(s) for 10000 runs"), "{out}");
    // merge with nothing done: empty tables, said so.
    bounded_ok(
        &["sweep", "merge", ss],
        &["nothing to merge yet"],
        "merge of 10,000 runs",
    );
}
