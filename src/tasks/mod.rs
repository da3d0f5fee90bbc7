//! The paper's two tasks (data/paper/README.md): the Hatsopoulos 2007 centre-out reach, generated
//! trial by trial from the recorded kinematics ([`reach`]), and the fixed 72-condition Mante 2013
//! batch ([`mante`]); and the evidence-accumulation task of Bellec et al. 2020 ([`cue`]), the
//! e-prop check for spiking LIF/ALIF networks. All produce a [`crate::batch::Batch`].
//!
//! Data files are read at run time, never embedded: see [`data_dir`].

pub mod cue;
pub mod file;
pub mod mante;
pub mod reach;

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::{Array, Dimension};
use ndarray_npy::{NpzReader, ReadNpyError, ReadNpzError, ReadableElement};

use crate::error::{Result, input_err};

/// Root of the bundled data: `$SNNLAB_DATA` when set (and not empty), else the crate's `data/`
/// folder (`concat!(env!("CARGO_MANIFEST_DIR"), "/data")`).
pub fn data_dir() -> PathBuf {
    match std::env::var_os("SNNLAB_DATA") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")),
    }
}

/// Open an `.npz` file; a missing or unreadable file is the user's fault (exit status 2).
pub(crate) fn open_npz(path: &Path) -> Result<NpzReader<File>> {
    let f = File::open(path).map_err(|e| input_err(path, e))?;
    NpzReader::new(f).map_err(|e| input_err(path, format!("not a readable .npz file ({e})")))
}

fn read_as<T, D>(
    npz: &mut NpzReader<File>,
    name: &str,
) -> std::result::Result<Array<T, D>, ReadNpzError>
where
    T: ReadableElement,
    D: Dimension,
{
    npz.by_name(name)
}

fn wrong_dtype(e: &ReadNpzError) -> bool {
    matches!(e, ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_)))
}

/// Read array `name` of any numeric dtype (f64, f32, signed/unsigned integers, bool) as f64, with
/// the number of dimensions of `D`. Errors name the file and the array.
pub(crate) fn read_f64<D: Dimension>(
    npz: &mut NpzReader<File>,
    path: &Path,
    name: &str,
) -> Result<Array<f64, D>> {
    let names = npz
        .names()
        .map_err(|e| input_err(path, format!("not a readable .npz file ({e})")))?;
    if !names.iter().any(|n| n == name) {
        return Err(input_err(path, format!("array '{name}' is missing")));
    }
    macro_rules! attempt {
        ($t:ty, $conv:expr) => {
            match read_as::<$t, D>(npz, name) {
                Ok(a) => return Ok(a.mapv($conv)),
                Err(e) if wrong_dtype(&e) => {}
                Err(e) => return Err(describe(path, name, e)),
            }
        };
    }
    attempt!(f64, |v| v);
    attempt!(f32, |v| v as f64);
    attempt!(i64, |v| v as f64);
    attempt!(i32, |v| v as f64);
    attempt!(i16, |v| v as f64);
    attempt!(i8, |v| v as f64);
    attempt!(u64, |v| v as f64);
    attempt!(u32, |v| v as f64);
    attempt!(u16, |v| v as f64);
    attempt!(u8, |v| v as f64);
    attempt!(bool, |v| v as u8 as f64);
    Err(input_err(
        path,
        format!(
            "array '{name}' has an unsupported dtype (expected a float, integer or bool array)"
        ),
    ))
}

fn describe(path: &Path, name: &str, e: ReadNpzError) -> crate::error::Error {
    match e {
        ReadNpzError::Npy(ReadNpyError::WrongNdim(want, got)) => input_err(
            path,
            format!(
                "array '{name}' has {got} dimensions, expected {}",
                want.map_or("?".into(), |w| w.to_string())
            ),
        ),
        e => input_err(path, format!("array '{name}': {e}")),
    }
}
