//! Reading `.npz`/`.npy` arrays of any numeric dtype, and writing `.npz` files atomically.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array, ArrayD, Dimension, IxDyn, OwnedRepr, arr0};
use ndarray_npy::{NpzReader, NpzWriter, ReadNpyError, ReadNpyExt, ReadNpzError};

use super::{bad, budget, one_line, write_atomic_with, write_err};
use crate::error::Result;
use crate::params::ParamSet;

/// An open `.npz` archive that remembers its path (for messages) and its array names (with
/// numpy's `.npy` suffix stripped, so `inputs` finds `inputs.npy` as `np.savez` stores it).
pub(crate) struct Npz {
    pub path: PathBuf,
    reader: NpzReader<BufReader<File>>,
    /// The same archive, for checking an entry's header and real length before ndarray-npy
    /// allocates what the header claims.
    zip: zip::ZipArchive<BufReader<File>>,
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
        let (f, _) = budget::open_input(path, "an .npz file")?;
        let zip = zip::ZipArchive::new(BufReader::new(f))
            .map_err(|e| bad(path, format!("not a valid .npz (zip) archive: {e}")))?;
        let (f, _) = budget::open_input(path, "an .npz file")?;
        let mut reader = NpzReader::new(BufReader::new(f))
            .map_err(|e| bad(path, format!("not a valid .npz (zip) archive: {e}")))?;
        let names = reader
            .names()
            .map_err(|e| bad(path, format!("not a valid .npz (zip) archive: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            zip,
            names,
        })
    }

    /// Check array `name`'s header against the bytes its entry really inflates to (read with a
    /// cap, so a zip bomb stops at the claimed size) and against the memory budget.
    fn check_entry(&mut self, name: &str) -> Result<()> {
        let entry = if self.zip.index_for_name(name).is_some() {
            name.to_string()
        } else {
            format!("{name}.npy")
        };
        let what = format!("array {name}");
        let mut f = self
            .zip
            .by_name(&entry)
            .map_err(|e| read_error(&self.path, name, e))?;
        let h = read_npy_header(&mut f).map_err(|e| bad(&self.path, format!("{what}: {e}")))?;
        if !h.is_readable_dtype() {
            // ndarray-npy refuses it from the header alone, naming the dtype.
            return Ok(());
        }
        let claimed = h
            .elements()
            .and_then(|n| n.checked_mul(h.item_size))
            .ok_or_else(|| {
                bad(
                    &self.path,
                    budget::over_budget(&what, None, budget::max_memory()),
                )
            })?;
        // Fail early on a shape over the budget, then count the real bytes up to one past it.
        h.check(&what, claimed, budget::max_memory())
            .map_err(|e| bad(&self.path, e))?;
        let real = std::io::copy(&mut (&mut f).take(claimed + 1), &mut std::io::sink())
            .map_err(|e| read_error(&self.path, name, e))?;
        h.check(&what, real, budget::max_memory())
            .map_err(|e| bad(&self.path, e))
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
        self.check_entry(name)?;
        let entry = &mut NpzEntry { npz: self, name };
        read_any_dtype(entry)?.map_err(|dtype| {
            bad(
                &self.path,
                format!(
                    "array {name} has unsupported dtype {dtype} (expected a float, integer or bool dtype)"
                ),
            )
        })
    }

    /// [`Npz::read_f64`] with the number of dimensions of `D` checked.
    pub fn read_f64_as<D: Dimension>(&mut self, name: &str) -> Result<Array<f64, D>> {
        let a = self.read_f64(name)?;
        let got = a.ndim();
        a.into_dimensionality::<D>().map_err(|_| {
            let want = D::NDIM.map_or("?".into(), |w| w.to_string());
            bad(
                &self.path,
                format!("array {name} has {got} dimensions, expected {want}"),
            )
        })
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
    let (mut f, len) = budget::open_input(path, "an .npy file")?;
    check_npy_stream(&mut f, len, "array", budget::max_memory()).map_err(|e| bad(path, e))?;
    read_any_dtype(&mut NpyFile(path))?.map_err(|dtype| {
        bad(
            path,
            format!(
                "array has unsupported dtype {dtype} (expected a float, integer or bool dtype)"
            ),
        )
    })
}

/// Where an array is read from as one element type after another until its dtype matches.
trait TypedSource {
    fn attempt<T: ndarray_npy::ReadableElement>(&mut self) -> Result<Attempt<ArrayD<T>>>;
}

/// One array of an open `.npz` archive.
struct NpzEntry<'a> {
    npz: &'a mut Npz,
    name: &'a str,
}

impl TypedSource for NpzEntry<'_> {
    fn attempt<T: ndarray_npy::ReadableElement>(&mut self) -> Result<Attempt<ArrayD<T>>> {
        self.npz.attempt(self.name)
    }
}

/// A `.npy` file, opened afresh for each attempt.
struct NpyFile<'a>(&'a Path);

impl TypedSource for NpyFile<'_> {
    fn attempt<T: ndarray_npy::ReadableElement>(&mut self) -> Result<Attempt<ArrayD<T>>> {
        let path = self.0;
        let (f, _) = budget::open_input(path, "an .npy file")?;
        match ArrayD::<T>::read_npy(BufReader::new(f)) {
            Ok(a) => Ok(Attempt::Done(a)),
            Err(ReadNpyError::WrongDescriptor(d)) => Ok(Attempt::WrongDtype(one_line(d))),
            Err(e) => Err(bad(path, format!("not a valid .npy file: {}", one_line(e)))),
        }
    }
}

/// The array as f64 (standard layout) from whichever float, integer or bool dtype it has, tried
/// in this order; the inner `Err` is the dtype when it is none of them.
fn read_any_dtype(src: &mut impl TypedSource) -> Result<std::result::Result<ArrayD<f64>, String>> {
    macro_rules! try_as {
        ($t:ty) => {
            match src.attempt::<$t>()? {
                Attempt::Done(a) => return Ok(Ok(standard(a.mapv(|x| x as f64)))),
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
    Ok(match src.attempt::<bool>()? {
        Attempt::Done(a) => Ok(standard(a.mapv(|x| if x { 1.0 } else { 0.0 }))),
        Attempt::WrongDtype(dtype) => Err(dtype),
    })
}

/// What an `.npy` header says: where the data starts, the bytes per element and the shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    pub data_offset: u64,
    pub descr: String,
    /// Bytes per element as the descr says (`<f8`: 8); 0 where it does not say (`|O`).
    pub item_size: u64,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
}

/// The most header bytes read before parsing (numpy writes headers of 64-byte multiples; a
/// header longer than this is refused rather than read).
pub const MAX_NPY_HEADER: u64 = 1 << 16;

/// Parse the header at the start of `bytes` (a prefix of an `.npy` file or array entry of at
/// least the header's length). Only the sizes are interpreted here; ndarray-npy decodes the data.
pub fn parse_npy_header(bytes: &[u8]) -> std::result::Result<NpyHeader, String> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err("not an .npy array (no \\x93NUMPY magic)".into());
    }
    let (len, start) = match bytes[6] {
        1 => (u64::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10u64),
        2 | 3 if bytes.len() >= 12 => (
            u64::from(u32::from_le_bytes([
                bytes[8], bytes[9], bytes[10], bytes[11],
            ])),
            12,
        ),
        v => return Err(format!(".npy format version {v} is not supported")),
    };
    if len > MAX_NPY_HEADER {
        return Err(format!(".npy header of {len} bytes is too long"));
    }
    let text = bytes
        .get(start as usize..(start + len) as usize)
        .ok_or("the .npy header is truncated")?;
    let text = std::str::from_utf8(text).map_err(|_| "the .npy header is not text")?;
    let value_of = |key: &str| -> std::result::Result<&str, String> {
        let at = text
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("the .npy header has no '{key}'"))?;
        let rest = text[at + key.len() + 2..].trim_start();
        rest.strip_prefix(':')
            .map(str::trim_start)
            .ok_or_else(|| format!("the .npy header's '{key}' has no value"))
    };
    let descr_v = value_of("descr")?;
    let quote = descr_v.chars().next().filter(|c| *c == '\'' || *c == '"');
    let descr = quote
        .and_then(|q| descr_v[1..].split(q).next())
        .ok_or("the .npy header's descr is not a simple dtype string")?
        .to_string();
    let item_size: u64 = descr
        .trim_start_matches(['<', '>', '|', '='])
        .get(1..)
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    let fortran_order = value_of("fortran_order")?.starts_with("True");
    let shape_v = value_of("shape")?;
    let inner = shape_v
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("the .npy header's shape is not a tuple")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<u64>()
                .map_err(|_| format!("the .npy header's shape has a bad dimension '{s}'"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(NpyHeader {
        data_offset: start + len,
        descr,
        item_size,
        fortran_order,
        shape,
    })
}

impl NpyHeader {
    /// Is the dtype one that [`Npz::read_f64`] converts (floats, integers, bool)?
    pub fn is_readable_dtype(&self) -> bool {
        matches!(
            self.descr.trim_start_matches(['<', '>', '|', '=']),
            "f8" | "f4" | "i8" | "i4" | "i2" | "i1" | "u8" | "u4" | "u2" | "u1" | "b1"
        )
    }

    /// Elements claimed by the shape (`None`: the product overflows).
    pub fn elements(&self) -> Option<u64> {
        budget::product(&self.shape)
    }

    /// Check the shape against `data_len`, the bytes that really follow the header, and the
    /// memory needed to read it as f64 against `limit`.
    pub fn check(&self, what: &str, data_len: u64, limit: u64) -> std::result::Result<(), String> {
        if self.item_size == 0 {
            return Err(format!("{what}: unsupported dtype {}", self.descr));
        }
        let raw = self.elements().and_then(|n| n.checked_mul(self.item_size));
        if raw != Some(data_len) {
            let claim = match raw {
                Some(r) => format!("{r} bytes"),
                None => "more than 2^64 bytes".into(),
            };
            return Err(format!(
                "{what}: header claims shape {:?} of {} ({claim}) but {data_len} bytes of data follow",
                self.shape, self.descr
            ));
        }
        // The raw elements, their f64 copy, and a reordered copy for Fortran order.
        let copies = if self.fortran_order { 3 } else { 2 };
        let need = self
            .elements()
            .and_then(|n| n.checked_mul(8 * copies))
            .and_then(|b| b.checked_add(data_len));
        budget::check_within(what, need, limit)
    }
}

/// Read the header of an `.npy` stream (at most [`MAX_NPY_HEADER`] bytes are read from it).
pub fn read_npy_header(r: &mut impl Read) -> std::result::Result<NpyHeader, String> {
    let mut head = [0u8; 12];
    let mut got = 0;
    while got < 12 {
        match r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("cannot read: {}", one_line(e))),
        }
    }
    let first = parse_npy_header(&head[..got]).err();
    // Lengths only: an error other than truncation is final.
    match first {
        Some(e) if !e.contains("truncated") => return Err(e),
        _ => {}
    }
    let len = match head[6] {
        1 => u64::from(u16::from_le_bytes([head[8], head[9]])) + 10,
        _ => u64::from(u32::from_le_bytes([head[8], head[9], head[10], head[11]])) + 12,
    };
    let mut bytes = head[..got].to_vec();
    r.take(len.saturating_sub(got as u64))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {}", one_line(e)))?;
    parse_npy_header(&bytes)
}

/// Check one `.npy` stream that holds exactly `total_len` bytes against `limit`.
pub fn check_npy_stream(
    r: &mut impl Read,
    total_len: u64,
    what: &str,
    limit: u64,
) -> std::result::Result<NpyHeader, String> {
    let h = read_npy_header(r).map_err(|e| format!("{what}: {e}"))?;
    if !h.is_readable_dtype() {
        // Refused by ndarray-npy from the header alone, naming the dtype.
        return Ok(h);
    }
    h.check(what, total_len.saturating_sub(h.data_offset), limit)?;
    Ok(h)
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
    // The archive is built in memory and then written out in one piece: zip never writes to
    // the disk itself, so a full disk is one error of ours, never zip's drop-time debug text of
    // a second failure printed in front of it (issue 16). Costs one copy of the output in RAM.
    let mut w = NpzWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, a) in arrays {
        w.add_array(*name, a)
            .map_err(|e| write_err(path, format!("array {name}: {e}")))?;
    }
    let bytes = w.finish().map_err(|e| write_err(path, e))?.into_inner();
    write_atomic_with(path, |tmp| {
        use std::io::Write;
        let mut f = super::create_temp(tmp, path)?;
        f.write_all(&bytes).map_err(|e| write_err(path, e))?;
        f.sync_all().map_err(|e| write_err(path, e))
    })
}

/// A gradient file (SPEC §6): one array per trained parameter, same name and shape, plus the
/// scalar `loss` as a 0-d array. The fixed tensors (`feedback`, `mask_rec`) are never written.
pub fn save_grads<P: ParamSet<Scalar = f32>>(path: &Path, g: &P, loss: f32) -> Result<()> {
    let mut arrays: Vec<(&str, ArrayD<f32>)> = g
        .named()
        .into_iter()
        .map(|(name, shape, values)| {
            let a = ArrayD::from_shape_vec(shape, values.to_vec())
                .expect("a parameter's values fill its shape");
            (name, a)
        })
        .collect();
    arrays.push(("loss", arr0(loss).into_dyn()));
    write_npz(path, &arrays)
}
