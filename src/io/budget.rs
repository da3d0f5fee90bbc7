//! The memory budget and input-file checks: every size a file header, a config or a sweep grid
//! asks for is checked against the file's real length and a budget before anything is allocated,
//! and only regular files are read as inputs.
//!
//! The budget is set once by the command line (`--max-memory`, else `SNNLAB_MAX_MEMORY`, else a
//! fraction of the machine's RAM: [`default_max_memory`]) through [`set_max_memory`]; nothing
//! below the CLI reads the environment. Without a call (library use) there is no budget, but
//! sizes are still checked against the lengths of the files that claim them.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static MAX_MEMORY: AtomicU64 = AtomicU64::new(u64::MAX);

/// Fraction of the machine's RAM (MemTotal) that is the default budget.
pub const DEFAULT_FRACTION: f64 = 0.75;

/// Set the process's memory budget in bytes (the CLI does, once, before running a command).
pub fn set_max_memory(bytes: u64) {
    MAX_MEMORY.store(bytes, Ordering::Relaxed);
}

/// The memory budget in bytes (`u64::MAX`: none).
pub fn max_memory() -> u64 {
    MAX_MEMORY.load(Ordering::Relaxed)
}

/// [`DEFAULT_FRACTION`] of MemTotal from `/proc/meminfo`; `None` where it cannot be read.
pub fn default_max_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kib as f64 * 1024.0 * DEFAULT_FRACTION) as u64)
}

/// Parse a size: a byte count with an optional unit (`K`, `M`, `G`, `T`, powers of 1024, with
/// or without `B`/`iB`): `4G`, `512MiB`, `1000000`.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 8G, 512M, 1000000)"))?;
    let scale: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024f64.powi(2),
        "G" | "GB" | "GIB" => 1024f64.powi(3),
        "T" | "TB" | "TIB" => 1024f64.powi(4),
        _ => return Err(format!("'{s}': unknown unit (use K, M, G or T)")),
    };
    let bytes = value * scale;
    if !(bytes.is_finite() && (1.0..1.8e19).contains(&bytes)) {
        return Err(format!("'{s}' is not a positive size"));
    }
    Ok(bytes as u64)
}

/// `1234567` as `1234567 bytes (1.2 MiB)`.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{bytes} bytes ({v:.1} {})", UNITS[u])
}

/// `count` items of `size` bytes each, `None` on overflow.
pub fn product(factors: &[u64]) -> Option<u64> {
    factors.iter().try_fold(1u64, |a, &b| a.checked_mul(b))
}

/// The message of a request over `limit`: `{what} would need {bytes}, over the memory budget`.
pub fn over_budget(what: &str, bytes: Option<u64>, limit: u64) -> String {
    match bytes {
        Some(b) => format!(
            "{what} would need {}, over the memory budget of {} (--max-memory / SNNLAB_MAX_MEMORY)",
            bytes_text(b),
            bytes_text(limit)
        ),
        None => format!("{what} would need more than 2^64 bytes"),
    }
}

/// Check a request against an explicit `limit` (the parsers' entry points take one).
pub fn check_within(what: &str, bytes: Option<u64>, limit: u64) -> std::result::Result<(), String> {
    match bytes {
        Some(b) if b <= limit => Ok(()),
        _ => Err(over_budget(what, bytes, limit)),
    }
}

/// Check a request (`None`: overflowed) against the process's budget; an input error otherwise.
pub fn check(what: &str, bytes: Option<u64>) -> Result<()> {
    check_within(what, bytes, max_memory()).map_err(Error::Input)
}

/// Open `path` as an input: it must be a regular file (not a directory, FIFO, device or
/// socket: those would block or never end). Returns the file and its length.
pub fn open_input(path: &Path, expected: &str) -> Result<(File, u64)> {
    let meta =
        std::fs::metadata(path).map_err(|e| super::bad(path, format!("cannot open: {e}")))?;
    if meta.is_dir() {
        return Err(super::bad(
            path,
            format!("is a directory, expected {expected}"),
        ));
    }
    if !meta.is_file() {
        return Err(super::bad(
            path,
            format!("is not a regular file (a FIFO, device or socket), expected {expected}"),
        ));
    }
    let f = File::open(path).map_err(|e| super::bad(path, format!("cannot open: {e}")))?;
    // The file opened may differ from the one looked at (a race): check the handle too.
    let meta = f
        .metadata()
        .map_err(|e| super::bad(path, format!("cannot open: {e}")))?;
    if !meta.is_file() {
        return Err(super::bad(
            path,
            format!("is not a regular file, expected {expected}"),
        ));
    }
    Ok((f, meta.len()))
}

/// Read a whole input file into memory, after checking it is regular and fits the budget.
pub fn read_input(path: &Path, expected: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let (f, len) = open_input(path, expected)?;
    check_within("reading the file", Some(len), max_memory()).map_err(|e| super::bad(path, e))?;
    let mut bytes = Vec::with_capacity(len as usize);
    // `take`: a file that grows while being read cannot grow the buffer past its length.
    f.take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| super::bad(path, format!("cannot read: {e}")))?;
    Ok(bytes)
}

/// Read a text input (a TOML config) after the same checks.
pub fn read_input_text(path: &Path, expected: &str) -> Result<String> {
    String::from_utf8(read_input(path, expected)?)
        .map_err(|_| super::bad(path, "is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("8X").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn overflow_and_limits_are_refused() {
        assert_eq!(product(&[1 << 32, 1 << 31]), Some(1 << 63));
        assert_eq!(product(&[1 << 32, 1 << 32]), None);
        assert!(check_within("x", Some(10), 10).is_ok());
        let e = check_within("array a", Some(11), 10).unwrap_err();
        assert!(e.starts_with("array a would need 11 bytes"), "{e}");
        assert!(check_within("x", None, u64::MAX).is_err());
    }

    #[test]
    fn non_regular_files_are_refused() {
        let e = open_input(Path::new("/dev/zero"), "an .npz file").unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = open_input(Path::new("/"), "an .npz file").unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
}
