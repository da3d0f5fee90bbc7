//! File formats of SPEC §6: models (`.safetensors`), batches, gradients and arrays (`.npz`), the
//! paper's checkpoints, and atomic writes (no partial output file, ever).
//!
//! Every error about a user-supplied file is an [`Error::Input`] with a single-line message that
//! names the file and the array or tensor at fault. Nothing here panics on bad input.

mod batch;
pub mod budget;
mod model;
mod npz;
mod paper;
pub mod state;
pub mod temp;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

pub use batch::{load_batch, read_batch};
pub use model::{
    AnyModel, load_any_model, load_model, load_spiking_model, model_config_json, model_metadata,
    save_model, save_model_with, save_spiking_model, save_spiking_model_with,
};
pub(crate) use npz::Npz;
pub use npz::{
    NpyHeader, check_npy_stream, npz_names, parse_npy_header, read_npy_f64, read_npy_header,
    read_npz_f64, save_grads, write_npz, write_npz_of,
};
pub use paper::{import_paper_npz, paper_lambda, paper_prefixes};

/// Collapse a message onto one line (library error texts occasionally hold newlines).
pub(crate) fn one_line(s: impl std::fmt::Display) -> String {
    s.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Error::Input("{path}: {what}")`, on one line.
pub(crate) fn bad(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Input(format!("{}: {}", path.display(), one_line(what)))
}

pub(crate) fn write_err(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Runtime(format!(
        "{}: cannot write: {}",
        path.display(),
        one_line(what)
    ))
}

/// Creating the output failed: a missing, forbidden or read-only directory is the user's `--out`
/// (exit status 2); anything else is the machine's (exit status 1).
pub(crate) fn create_err(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound
        | std::io::ErrorKind::PermissionDenied
        | std::io::ErrorKind::ReadOnlyFilesystem => Error::Input(format!(
            "{}: cannot create output file: {}",
            path.display(),
            one_line(e)
        )),
        _ => write_err(path, e),
    }
}

/// Create the temp file `tmp` (which must not exist yet) standing in for `path`.
pub(crate) fn create_temp(tmp: &Path, path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| create_err(path, e))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary sibling `.{name}.tmp-{owner tag}-{n}` that an atomic write of `path` goes
/// through (the owner tag lets a later process remove it once this one is gone: [`temp`]).
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| bad(path, "output path has no file name"))?
        .to_string_lossy()
        .into_owned();
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{name}.tmp-{}-{n}", temp::my_tag());
    Ok(match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp),
        _ => PathBuf::from(tmp),
    })
}

/// Flush the temp file to disk, move it over `path`, and (best effort) sync the directory.
fn commit(tmp: &Path, path: &Path) -> Result<()> {
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| write_err(path, e))?;
    fs::rename(tmp, path).map_err(|e| write_err(path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Columns `a` and `b` of every row of a CSV file with a header line (a log this program wrote),
/// parsed; rows that do not parse are left out, and a missing file has no rows.
pub fn read_csv_columns<A: std::str::FromStr, B: std::str::FromStr>(
    path: &Path,
    a: usize,
    b: usize,
) -> Vec<(A, B)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.get(a)?.parse().ok()?, f.get(b)?.parse().ok()?))
        })
        .collect()
}

/// Write `bytes` to `path` atomically: a temp file in the same directory, fsync, rename. On any
/// failure the temp file is removed and `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = create_temp(tmp, path)?;
        f.write_all(bytes).map_err(|e| write_err(path, e))?;
        f.sync_all().map_err(|e| write_err(path, e))
    })
}

/// The identity of an existing file (device, inode): equal for hard links and for every path
/// that resolves, through symbolic links, to the same file.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// An output path that is a symbolic link is refused, never written through nor replaced: the
/// user gives the path of the file meant (or removes the link).
fn refuse_symlink(out: &Path, flag: &str) -> Result<()> {
    if fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(bad(
            out,
            format!(
                "{flag} is a symbolic link; outputs never replace or write through a link (give the path it points to, or remove it)"
            ),
        ));
    }
    Ok(())
}

/// Refuse the output `out` (given as `flag`, e.g. `--out`) when it is a symbolic link or is the
/// same file as one of the command's `inputs` (`(flag, path)`): the same path, a hard link or a
/// link to it. Called before a command reads or computes anything.
pub fn check_output(out: &Path, flag: &str, inputs: &[(&str, &Path)]) -> Result<()> {
    refuse_symlink(out, flag)?;
    let Some(id) = file_id(out) else {
        return Ok(());
    };
    for (in_flag, input) in inputs {
        if file_id(input) == Some(id) {
            return Err(bad(
                out,
                format!(
                    "{flag} is the same file as {in_flag} {}; refusing to overwrite an input",
                    input.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Let `f` write the whole output to the temp path it is given, then move it over `path`
/// atomically. If `f` (or the move) fails, the temp file is removed and `path` is untouched.
/// A `path` that is a symbolic link is refused (see [`check_output`]).
pub fn write_atomic_with(path: &Path, f: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    refuse_symlink(path, "the output path")?;
    if path.is_dir() {
        return Err(bad(path, "output path is a directory"));
    }
    let tmp = temp_path(path)?;
    let out = f(&tmp).and_then(|()| commit(&tmp, path));
    if out.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    out
}
