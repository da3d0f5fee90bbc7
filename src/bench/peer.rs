//! The PyTorch peer of the rate bench (`benches/peers/torch_rate.py`): finding it, checking it
//! can run, and timing one grid point with it.

use std::path::PathBuf;
use std::process::Command;

use super::rate::Point;

/// One JSON line of the PyTorch peer (`benches/peers/torch_rate.py`).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerLine {
    pub rule: String,
    pub n: usize,
    pub b: usize,
    pub t: usize,
    pub m: usize,
    pub device: String,
    pub threads: usize,
    /// Median seconds of one network's update.
    pub seconds_per_update: f64,
    pub torch: String,
}

/// Parses one line the peer prints; an error names what is wrong with it.
pub fn parse_peer_line(line: &str) -> std::result::Result<PeerLine, String> {
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).map_err(|e| format!("not JSON ({e})"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    let str_of = |k: &str| -> std::result::Result<String, String> {
        o.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_owned)
            .ok_or(format!("field '{k}' missing or not a string"))
    };
    let int_of = |k: &str| -> std::result::Result<usize, String> {
        o.get(k)
            .and_then(|x| x.as_u64())
            .map(|x| x as usize)
            .ok_or(format!("field '{k}' missing or not a non-negative integer"))
    };
    let secs = o
        .get("seconds_per_update")
        .and_then(|x| x.as_f64())
        .ok_or("field 'seconds_per_update' missing or not a number")?;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!(
            "seconds_per_update {secs} is not a positive number"
        ));
    }
    Ok(PeerLine {
        rule: str_of("rule")?,
        n: int_of("n")?,
        b: int_of("b")?,
        t: int_of("t")?,
        m: int_of("m")?,
        device: str_of("device")?,
        threads: int_of("threads")?,
        seconds_per_update: secs,
        torch: str_of("torch")?,
    })
}

/// The Python the peer runs with by default (the CLI passes `$SNNLAB_PYTHON` instead when set).
pub const DEFAULT_PEER_PYTHON: &str = "python3";

const PEER_SCRIPT: &str = "benches/peers/torch_rate.py";

/// The peer script: under the source tree snnlab was built from, else under the current directory.
pub fn peer_script() -> std::result::Result<PathBuf, String> {
    let candidates = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(PEER_SCRIPT),
        PathBuf::from(PEER_SCRIPT),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "peer skipped: peer script not found (looked for {} and ./{PEER_SCRIPT})",
                candidates[0].display()
            )
        })
}

/// A ready peer: the Python, the script and the torch version it imports.
pub struct Peer {
    pub python: String,
    pub script: PathBuf,
    pub torch: String,
}

/// Checks that the peer can run; the error is the one line to print ("peer skipped: …").
pub fn peer_probe(python: &str) -> std::result::Result<Peer, String> {
    let python = python.to_string();
    let script = peer_script()?;
    let out = Command::new(&python)
        .args([
            "-c",
            "import sys, torch; sys.stdout.write(torch.__version__)",
        ])
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "peer skipped: Python executable '{python}' not found (install python3 and `pip install torch`, or set SNNLAB_PYTHON)"
            ));
        }
        Err(e) => return Err(format!("peer skipped: cannot run '{python}': {e}")),
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named") && err.contains("torch") {
            return Err(format!(
                "peer skipped: PyTorch is not installed for '{python}' (pip install torch)"
            ));
        }
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(format!(
            "peer skipped: '{python}' cannot import torch: {}",
            last.trim()
        ));
    }
    Ok(Peer {
        python,
        script,
        torch: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    })
}

/// Runs the peer for one point and rule on `device` (cpu or cuda) and returns its line.
pub(crate) fn peer_point(
    peer: &Peer,
    p: Point,
    repeats: usize,
    rule: &str,
    threads: usize,
    device: &str,
) -> std::result::Result<PeerLine, String> {
    let (m, spec) = (p.m, p);
    let out = Command::new(&peer.python)
        .arg(&peer.script)
        .args([
            "--n",
            &spec.n.to_string(),
            "--b",
            &spec.b.to_string(),
            "--t",
            &spec.t.to_string(),
        ])
        .args([
            "--rules",
            rule,
            "--m",
            &m.to_string(),
            "--repeats",
            &repeats.to_string(),
        ])
        .args(["--threads", &threads.to_string(), "--device", device])
        .output()
        .map_err(|e| format!("cannot run '{}': {e}", peer.python))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(format!("exited with {}: {}", out.status, last.trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<PeerLine> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(parse_peer_line)
        .collect::<std::result::Result<_, _>>()?;
    lines
        .into_iter()
        .find(|p| p.rule == rule && p.m == m && p.n == spec.n && p.b == spec.b && p.t == spec.t)
        .ok_or_else(|| format!("no line for rule {rule}, m {m} in its output"))
}

/// Whether the peer's PyTorch sees a CUDA device.
pub(crate) fn cuda_available(peer: &Peer) -> bool {
    Command::new(&peer.python)
        .args([
            "-c",
            "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
