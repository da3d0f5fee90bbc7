//! A real Slurm: `sweep submit` of a small sweep runs as a job array on the local single-node
//! cluster (scripts/slurm-local.sh, started by scripts/test.sh), and `sweep merge` has every run.
//! With SNNLAB_SLURM=1 (CI) a missing or broken Slurm fails the test; elsewhere it is skipped
//! with a printed reason when `sbatch` is not installed.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;
use common::{bin, output_ok, run_ok, s, sweep_file_in};

fn slurm_available() -> bool {
    let required = std::env::var("SNNLAB_SLURM").as_deref() == Ok("1");
    let ok = Command::new("scontrol")
        .arg("ping")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("UP"))
        .unwrap_or(false);
    if !ok {
        assert!(
            !required,
            "SNNLAB_SLURM=1 but no Slurm controller answers `scontrol ping` (run scripts/slurm-local.sh up as root)"
        );
        eprintln!(
            "skipping: no Slurm controller answers `scontrol ping` (scripts/slurm-local.sh up starts one; needs root)"
        );
    }
    ok
}

#[test]
fn sweep_submit_runs_as_a_job_array_and_merge_has_every_run() {
    if !slurm_available() {
        return;
    }
    let d: PathBuf = std::env::temp_dir().join(format!("snnlab-slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let cfg = sweep_file_in(
        &d,
        "slurm_small",
        "results",
        "pack_max = 2\n[base]\ntask = \"reach\"\nn_rec = 16\nupdates = 10\nbatch_size = 8\ncheckpoints = [0, 5]\ndevice = \"cpu\"\n[grid]\nseed = [1, 2, 3]\nrule = [\"bptt\", \"eprop\"]\n",
    );
    let cs = s(&cfg);
    let out = output_ok(
        bin()
            .args(["sweep", "submit", cs])
            .args("--runs-per-task 2 --cpus-per-task 1 --time 10".split(' ')),
    );
    let id = out
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    assert!(id.chars().all(|c| c.is_ascii_digit()), "job id in '{out}'");
    assert!(out.contains("3 array task(s)"), "{out}");

    let t0 = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-j", &id])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&q.stdout).trim().is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "job {id} still queued after 600 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let logs: Vec<String> = std::fs::read_dir(d.join("results/slurm"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".out"))
        .collect();
    assert_eq!(logs.len(), 3, "one log per array task: {logs:?}");

    let o = bin().args(["sweep", "status", cs]).output().unwrap();
    let st = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        st.contains("6 runs | done 6 |"),
        "status after the job: {st}\nlogs: {}",
        logs.iter()
            .map(|l| std::fs::read_to_string(d.join("results/slurm").join(l)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(st.contains(&format!("slurm job {id}")), "{st}");

    run_ok(&["sweep", "merge", cs]);
    let csv = std::fs::read_to_string(d.join("results/merged.csv")).unwrap();
    let runs: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(runs.len(), 6, "{csv}");
    assert_eq!(
        csv.lines().count(),
        1 + 6 * 3,
        "three checkpoints (0, 5, 10) per run"
    );
}

/// Needs no Slurm: the script written by `--dry-run`.
#[test]
fn no_value_can_inject_a_command_into_the_sbatch_script() {
    let d: PathBuf = std::env::temp_dir().join(format!("snnlab-slurm-dry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let base = "[base]\ntask = \"reach\"\nn_rec = 8\nupdates = 2\ndevice = \"cpu\"\n";
    let sweep = |name: &str, body: &str| {
        sweep_file_in(&d, name, &format!("r-{name}"), &format!("{body}{base}"))
    };
    let submit = |cfg: &PathBuf, extra: &[&str]| {
        let o = bin()
            .args(["sweep", "submit", s(cfg), "--dry-run"])
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // The name: a newline and a command. Refused, as are `..` and other unsafe names.
    for name in [
        "x\\necho INJECTED > injected.txt\\n#",
        "..",
        ".",
        ".hidden",
        "a b",
        "a/b",
        "$(id)",
    ] {
        let cfg = sweep("named", &format!("name = \"{name}\"\n"));
        let (code, err) = submit(&cfg, &[]);
        assert_eq!(code, Some(2), "name {name:?}: {err}");
        assert!(err.contains("name"), "{err}");
        assert!(!d.join("r-named").exists(), "nothing written for {name:?}");
    }
    let cfg = sweep("ok", "name = \"gain_v1.2-b\"\n");
    for bad in [
        "01:00:00\necho INJECTED2 > i2.txt",
        "1:2:3:4",
        "1-",
        "abc",
        "1-2:3:4:5",
        "",
    ] {
        let (code, err) = submit(&cfg, &["--time", bad]);
        assert_eq!(code, Some(2), "--time {bad:?}: {err}");
        assert!(err.contains("--time"), "{err}");
    }
    for bad in ["gpu\necho x", "gpu;id", "a,,b", "-x", "gpu $(id)"] {
        let (code, err) = submit(&cfg, &["--time", "10", &format!("--partition={bad}")]);
        assert_eq!(code, Some(2), "--partition {bad:?}: {err}");
        assert!(err.contains("--partition"), "{err}");
    }
    assert!(!d.join("r-ok").exists(), "a refused submit writes nothing");
    // Every one of Slurm's time forms, and a partition list, are accepted.
    for t in [
        "30",
        "30:00",
        "01:00:00",
        "2-12",
        "2-12:30",
        "2-12:30:00",
        "UNLIMITED",
    ] {
        let (code, err) = submit(&cfg, &["--time", t, "--partition", "gpu,cpu-long.1"]);
        assert_eq!(code, Some(0), "--time {t}: {err}");
        let script = std::fs::read_to_string(d.join("r-ok/slurm/sweep.sbatch")).unwrap();
        assert!(
            script.contains(&format!("#SBATCH --time={t}\n")),
            "{script}"
        );
        assert!(script.contains("#SBATCH --partition=gpu,cpu-long.1\n"));
        assert!(script.contains("#SBATCH --job-name=snnlab-gain_v1.2-b\n"));
        // Paths are quoted: in the #SBATCH lines for sbatch, in the command line for bash.
        assert!(script.contains("#SBATCH --output=\""), "{script}");
        let exec = script.lines().find(|l| l.starts_with("exec ")).unwrap();
        assert!(exec.starts_with("exec '"), "{exec}");
    }
}
