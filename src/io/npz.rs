//! Reading `.npz`/`.npy` arrays of any numeric dtype, and writing `.npz` files atomically.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn, OwnedRepr, arr0};
use ndarray_npy::{NpzReader, NpzWriter, ReadNpyError, ReadNpyExt, ReadNpzError};

use super::{bad, one_line, write_atomic_with, write_err};
use crate::error::Result;
use crate::model::{PARAM_NAMES, RateParams};
use crate::spiking::{SPIKING_PARAM_NAMES, SpikingParams};

/// An open `.npz` archive that remembers its path (for messages) and its array names (with
/// numpy's `.npy` suffix stripped, so `inputs` finds `inputs.npy` as `np.savez` stores it).
pub(crate) struct Npz {
    pub path: PathBuf,
    reader: NpzReader<BufReader<File>>,
    pub names: Vec<String>,
}

/// Outcome of one attempt to read an array as a given element type.
enum Attempt<T> {
    Done(T),
    WrongDtype(String),
}

/// Map a read failure that is not a dtype mismatch to a one-line input error.
fn read_error(path: &Path, name: &str, e: impl std::fmt::Display) -> crate::error::Error {
    bad(
        path,
        format!("array {name} cannot be read: {}", one_line(e)),
    )
}

impl Npz {
    pub fn open(path: &Path) -> Result<Self> {
        let f = File::open(path).map_err(|e| bad(path, format!("cannot open: {e}")))?;
        if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(bad(path, "is a directory, expected an .npz file"));
        }
        let mut reader = NpzReader::new(BufReader::new(f))
            .map_err(|e| bad(path, format!("not a valid .npz (zip) archive: {e}")))?;
        let names = reader
            .names()
            .map_err(|e| bad(path, format!("not a valid .npz (zip) archive: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            names,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The names in the archive, shortened for an error message.
    pub fn listing(&self) -> String {
        const MAX: usize = 12;
        let mut s = self
            .names
            .iter()
            .take(MAX)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if self.names.len() > MAX {
            s.push_str(&format!(", … ({} arrays in all)", self.names.len()));
        }
        if s.is_empty() {
            s = "none".into();
        }
        s
    }

    fn missing(&self, name: &str) -> crate::error::Error {
        bad(
            &self.path,
            format!("no array named {name} (arrays found: {})", self.listing()),
        )
    }

    fn attempt<T>(&mut self, name: &str) -> Result<Attempt<ArrayD<T>>>
    where
        T: ndarray_npy::ReadableElement,
    {
        match self.reader.by_name::<OwnedRepr<T>, IxDyn>(name) {
            Ok(a) => Ok(Attempt::Done(a)),
            Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(d))) => {
                Ok(Attempt::WrongDtype(one_line(d)))
            }
            Err(e) => Err(read_error(&self.path, name, e)),
        }
    }

    /// Read `name` as f64 from any float (f32, f64), integer (i8..i64, u8..u64) or bool dtype,
    /// in standard (C) layout.
    pub fn read_f64(&mut self, name: &str) -> Result<ArrayD<f64>> {
        if !self.has(name) {
            return Err(self.missing(name));
        }
        macro_rules! try_as {
            ($t:ty) => {
                match self.attempt::<$t>(name)? {
                    Attempt::Done(a) => return Ok(standard(a.mapv(|x| x as f64))),
                    Attempt::WrongDtype(d) => d,
                }
            };
        }
        try_as!(f64);
        try_as!(f32);
        try_as!(i64);
        try_as!(i32);
        try_as!(i16);
        try_as!(i8);
        try_as!(u64);
        try_as!(u32);
        try_as!(u16);
        try_as!(u8);
        let dtype = match self.attempt::<bool>(name)? {
            Attempt::Done(a) => return Ok(standard(a.mapv(|x| if x { 1.0 } else { 0.0 }))),
            Attempt::WrongDtype(d) => d,
        };
        Err(bad(
            &self.path,
            format!(
                "array {name} has unsupported dtype {dtype} (expected a float, integer or bool dtype)"
            ),
        ))
    }

    /// Read `name` if the archive holds it.
    pub fn read_f64_opt(&mut self, name: &str) -> Result<Option<ArrayD<f64>>> {
        if self.has(name) {
            self.read_f64(name).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The same array in standard (row-major) layout, whatever order the file stored it in.
pub(crate) fn standard(a: ArrayD<f64>) -> ArrayD<f64> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// Read one array of an `.npz` file as f64 (float, integer and bool dtypes accepted).
pub fn read_npz_f64(path: &Path, name: &str) -> Result<ArrayD<f64>> {
    Npz::open(path)?.read_f64(name)
}

/// The names of the arrays in an `.npz` file (numpy's `.npy` suffix stripped), in file order.
pub fn npz_names(path: &Path) -> Result<Vec<String>> {
    Ok(Npz::open(path)?.names)
}

/// Read a `.npy` file as f64 (float, integer and bool dtypes accepted).
pub fn read_npy_f64(path: &Path) -> Result<ArrayD<f64>> {
    fn attempt<T: ndarray_npy::ReadableElement>(path: &Path) -> Result<Attempt<ArrayD<T>>> {
        let f = File::open(path).map_err(|e| bad(path, format!("cannot open: {e}")))?;
        match ArrayD::<T>::read_npy(BufReader::new(f)) {
            Ok(a) => Ok(Attempt::Done(a)),
            Err(ReadNpyError::WrongDescriptor(d)) => Ok(Attempt::WrongDtype(one_line(d))),
            Err(e) => Err(bad(path, format!("not a valid .npy file: {}", one_line(e)))),
        }
    }
    if path.is_dir() {
        return Err(bad(path, "is a directory, expected an .npy file"));
    }
    macro_rules! try_as {
        ($t:ty) => {
            match attempt::<$t>(path)? {
                Attempt::Done(a) => return Ok(standard(a.mapv(|x| x as f64))),
                Attempt::WrongDtype(d) => d,
            }
        };
    }
    try_as!(f64);
    try_as!(f32);
    try_as!(i64);
    try_as!(i32);
    try_as!(i16);
    try_as!(i8);
    try_as!(u64);
    try_as!(u32);
    try_as!(u16);
    try_as!(u8);
    let dtype = match attempt::<bool>(path)? {
        Attempt::Done(a) => return Ok(standard(a.mapv(|x| if x { 1.0 } else { 0.0 }))),
        Attempt::WrongDtype(d) => d,
    };
    Err(bad(
        path,
        format!("array has unsupported dtype {dtype} (expected a float, integer or bool dtype)"),
    ))
}

/// Write f32 arrays to an uncompressed `.npz` (as `np.savez` does) atomically.
pub fn write_npz(path: &Path, arrays: &[(&str, ArrayD<f32>)]) -> Result<()> {
    write_npz_of(path, arrays)
}

/// [`write_npz`] for arrays of any element type numpy reads (e.g. f64).
pub fn write_npz_of<T: ndarray_npy::WritableElement>(
    path: &Path,
    arrays: &[(&str, ArrayD<T>)],
) -> Result<()> {
    for (i, (name, _)) in arrays.iter().enumerate() {
        if arrays[..i].iter().any(|(n, _)| n == name) {
            return Err(crate::error::Error::Runtime(format!(
                "{}: array {name} given twice",
                path.display()
            )));
        }
    }
    write_atomic_with(path, |tmp| {
        let f = super::create_temp(tmp, path)?;
        let mut w = NpzWriter::new(std::io::BufWriter::new(f));
        for (name, a) in arrays {
            if let Err(e) = w.add_array(*name, a) {
                // Dropping the writer would try to finish the archive on the failing disk and
                // print zip's debug text of that second error in front of ours: leak it instead
                // (its temporary file is removed by write_atomic_with).
                std::mem::forget(w);
                return Err(write_err(path, format!("array {name}: {e}")));
            }
        }
        let buf = w.finish().map_err(|e| write_err(path, e))?;
        let f = buf.into_inner().map_err(|e| write_err(path, e.error()))?;
        f.sync_all().map_err(|e| write_err(path, e))
    })
}

/// A gradient file (SPEC §6): one array per trained parameter, same name and shape, plus the
/// scalar `loss` as a 0-d array. The fixed `feedback`/`mask_rec` tensors are never written.
pub fn save_grads(path: &Path, g: &RateParams<f32>, loss: f32) -> Result<()> {
    let tensors: [ArrayD<f32>; 6] = [
        g.w_in.clone().into_dyn(),
        g.b_in.clone().into_dyn(),
        g.w_rec.clone().into_dyn(),
        g.w_out.clone().into_dyn(),
        g.b_out.clone().into_dyn(),
        g.ah0.clone().into_dyn(),
    ];
    write_grads(path, &PARAM_NAMES, tensors, loss)
}

/// The gradient file of a spiking model: `w_in`, `w_rec`, `w_out`, `b_out` and `loss`.
pub fn save_spiking_grads(path: &Path, g: &SpikingParams<f32>, loss: f32) -> Result<()> {
    let tensors: [ArrayD<f32>; 4] = [
        g.w_in.clone().into_dyn(),
        g.w_rec.clone().into_dyn(),
        g.w_out.clone().into_dyn(),
        g.b_out.clone().into_dyn(),
    ];
    write_grads(path, &SPIKING_PARAM_NAMES, tensors, loss)
}

fn write_grads<const K: usize>(
    path: &Path,
    names: &[&str; K],
    tensors: [ArrayD<f32>; K],
    loss: f32,
) -> Result<()> {
    let mut arrays: Vec<(&str, ArrayD<f32>)> = names.iter().copied().zip(tensors).collect();
    arrays.push(("loss", arr0(loss).into_dyn()));
    write_npz(path, &arrays)
}
