//! A reader for MATLAB v5 / v7 `.mat` files (the format `scipy.io.loadmat` reads): numeric arrays
//! of every class (real part as f64, column-major as stored), structs (nested to any depth), cell
//! arrays, and `miCOMPRESSED` variables (MATLAB's default since v7). Character, sparse and other
//! classes are kept only as their class name. v7.3 files (HDF5) and v4 files are rejected with a
//! message saying so.
//!
//! Layout (MathWorks, "MAT-File Format", R2021b): a 128-byte header (text, subsystem offset,
//! version 0x0100, endian indicator `IM` little / `MI` big) followed by data elements; each
//! element is a tag (type, byte count; or the "small" form with both packed in 4 bytes and up
//! to 4 data bytes) padded to 8 bytes. A variable is a `miMATRIX` element holding: array flags,
//! dimensions, name, then the class's data (real/imaginary parts; or field-name length, field
//! names and one `miMATRIX` per field per element for structs; one per element for cells).

use std::path::Path;

use crate::error::{Result, input_err};

/// A variable's value.
#[derive(Clone, Debug)]
pub enum MatValue {
    /// Numeric or logical array: the real part as f64 in MATLAB's column-major order.
    Numeric {
        dims: Vec<usize>,
        data: Vec<f64>,
        complex: bool,
        class: &'static str,
    },
    /// Struct array: `elems[e][f]` is field `fields[f]` of element `e` (column-major).
    Struct {
        dims: Vec<usize>,
        fields: Vec<String>,
        elems: Vec<Vec<MatValue>>,
    },
    /// Cell array, elements column-major.
    Cell {
        dims: Vec<usize>,
        elems: Vec<MatValue>,
    },
    /// A class this reader does not decode (char, sparse, function handle, …).
    Other {
        dims: Vec<usize>,
        class: &'static str,
    },
}

/// One top-level variable.
#[derive(Clone, Debug)]
pub struct MatVar {
    pub name: String,
    pub value: MatValue,
}

impl MatValue {
    pub fn dims(&self) -> &[usize] {
        match self {
            MatValue::Numeric { dims, .. }
            | MatValue::Struct { dims, .. }
            | MatValue::Cell { dims, .. }
            | MatValue::Other { dims, .. } => dims,
        }
    }

    /// MATLAB's name for the class ("double", "struct", "cell", "char", …).
    pub fn class(&self) -> &'static str {
        match self {
            MatValue::Numeric { class, .. } | MatValue::Other { class, .. } => class,
            MatValue::Struct { .. } => "struct",
            MatValue::Cell { .. } => "cell",
        }
    }

    /// Field `name` of a 1×1 struct.
    pub fn field(&self, name: &str) -> Option<&MatValue> {
        match self {
            MatValue::Struct { fields, elems, .. } if elems.len() == 1 => {
                fields.iter().position(|f| f == name).map(|i| &elems[0][i])
            }
            _ => None,
        }
    }

    /// `[2, 3, 4]` as text.
    pub fn dims_text(&self) -> String {
        format!("{:?}", self.dims())
    }
}

/// Read every variable of a MAT v5/v7 file, within the process's memory budget
/// ([`crate::io::budget`]). Errors name the file.
pub fn read_mat(path: &Path) -> Result<Vec<MatVar>> {
    let bytes = crate::io::budget::read_input(path, "a .mat file")?;
    let limit = crate::io::budget::max_memory().saturating_sub(bytes.len() as u64);
    parse_mat_limited(&bytes, limit).map_err(|e| input_err(path, e))
}

/// Parse the bytes of a MAT v5/v7 file (no memory budget).
pub fn parse_mat(bytes: &[u8]) -> std::result::Result<Vec<MatVar>, String> {
    parse_mat_limited(bytes, u64::MAX)
}

/// Parse the bytes of a MAT v5/v7 file, allocating at most about `limit` bytes: compressed
/// variables are inflated through a cap, numeric data is converted only when its f64 copy fits.
pub fn parse_mat_limited(bytes: &[u8], limit: u64) -> std::result::Result<Vec<MatVar>, String> {
    if bytes.len() >= 4 && bytes[..4].contains(&0) {
        return Err(
            "not a MATLAB v5/v7 .mat file (a MATLAB v4 file? re-save it with save -v7)".into(),
        );
    }
    if bytes.len() < 128 {
        return Err("not a MATLAB v5/v7 .mat file (shorter than its 128-byte header)".into());
    }
    if bytes.starts_with(b"MATLAB 7.3") || bytes.get(512..516) == Some(&b"\x89HDF"[..]) {
        return Err(
            "is a MATLAB v7.3 (HDF5) .mat file, which is not supported; re-save it with save -v7"
                .into(),
        );
    }
    let big = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        _ => return Err("not a MATLAB v5/v7 .mat file (no endian indicator in its header)".into()),
    };
    let mut r = Reader {
        data: &bytes[128..],
        pos: 0,
        big,
    };
    let mut vars = Vec::new();
    let mut left = limit;
    top_level(&mut r, &mut vars, 0, &mut left)?;
    Ok(vars)
}

const MI_INT8: u32 = 1;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MAX_DEPTH: usize = 64;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    big: bool,
}

impl<'a> Reader<'a> {
    fn u32_at(&self, at: usize) -> std::result::Result<u32, String> {
        let b: [u8; 4] = self
            .data
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| "file is truncated".to_string())?;
        Ok(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// Next data element: (type, data bytes). Advances past its padding
    /// (none after a compressed element, as MATLAB writes them).
    fn element(&mut self) -> std::result::Result<(u32, &'a [u8]), String> {
        let first = self.u32_at(self.pos)?;
        if first >> 16 != 0 {
            // Small data element: type and size packed in 4 bytes, data in the next 4.
            let (ty, size) = (first & 0xffff, (first >> 16) as usize);
            if size > 4 {
                return Err(format!("corrupt small data element (size {size})"));
            }
            let start = self.pos + 4;
            let d = self
                .data
                .get(start..start + size)
                .ok_or("file is truncated")?;
            self.pos += 8;
            return Ok((ty, d));
        }
        let size = self.u32_at(self.pos + 4)? as usize;
        let start = self.pos + 8;
        let d = self
            .data
            .get(start..start + size)
            .ok_or("file is truncated")?;
        let padded = if first == MI_COMPRESSED {
            size
        } else {
            size.div_ceil(8) * 8
        };
        self.pos = (start + padded).min(self.data.len());
        Ok((first, d))
    }
}

/// `left`: the bytes this file may still allocate (inflated data and f64 copies).
fn top_level(
    r: &mut Reader,
    vars: &mut Vec<MatVar>,
    depth: usize,
    left: &mut u64,
) -> std::result::Result<(), String> {
    // Stop when fewer than a tag's 8 bytes remain (some writers leave trailing padding).
    while r.data.len().saturating_sub(r.pos) >= 8 {
        let (ty, d) = r.element()?;
        match ty {
            MI_MATRIX => {
                let (name, value) = matrix(d, r.big, depth, left)?;
                vars.push(MatVar { name, value });
            }
            MI_COMPRESSED => {
                if depth > 0 {
                    return Err("nested compressed elements".into());
                }
                let inner = zlib_decompress(d, *left)?;
                *left -= inner.len() as u64;
                let mut ir = Reader {
                    data: &inner,
                    pos: 0,
                    big: r.big,
                };
                top_level(&mut ir, vars, depth + 1, left)?;
            }
            _ => {} // anything else at top level carries no variable
        }
    }
    Ok(())
}

/// Inflate one `miCOMPRESSED` element (a zlib stream; flate2 checks its Adler-32 trailer),
/// streaming: it stops one byte past `limit` instead of inflating a bomb to its full size.
fn zlib_decompress(d: &[u8], limit: u64) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(d)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt compressed element: {e}"))?;
    if out.len() as u64 > limit {
        return Err(crate::io::budget::over_budget(
            &format!(
                "a compressed variable ({} bytes) inflating to more than {limit} bytes",
                d.len()
            ),
            Some(out.len() as u64),
            limit,
        ));
    }
    Ok(out)
}

fn class_name(c: u32) -> &'static str {
    match c {
        1 => "cell",
        2 => "struct",
        3 => "object",
        4 => "char",
        5 => "sparse",
        6 => "double",
        7 => "single",
        8 => "int8",
        9 => "uint8",
        10 => "int16",
        11 => "uint16",
        12 => "int32",
        13 => "uint32",
        14 => "int64",
        15 => "uint64",
        16 => "function_handle",
        17 => "opaque",
        _ => "unknown",
    }
}

/// Parse one `miMATRIX` element's body: (name, value).
fn matrix(
    d: &[u8],
    big: bool,
    depth: usize,
    left: &mut u64,
) -> std::result::Result<(String, MatValue), String> {
    if depth > MAX_DEPTH {
        return Err("structs or cells nested too deeply".into());
    }
    if d.is_empty() {
        // An empty matrix element: MATLAB's [] (e.g. an unset struct field).
        return Ok((
            String::new(),
            MatValue::Numeric {
                dims: vec![0, 0],
                data: vec![],
                complex: false,
                class: "double",
            },
        ));
    }
    let mut r = Reader {
        data: d,
        pos: 0,
        big,
    };
    let (ty, flags) = r.element()?;
    if ty != MI_UINT32 || flags.len() != 8 {
        return Err("corrupt array flags in a matrix element".into());
    }
    let fr = Reader {
        data: flags,
        pos: 0,
        big,
    };
    let f = fr.u32_at(0)?;
    let class_id = f & 0xff;
    let complex = f & 0x800 != 0;
    let logical = f & 0x200 != 0;

    let (ty, dd) = r.element()?;
    if ty != MI_INT32 || dd.len() % 4 != 0 || dd.len() < 8 {
        return Err("corrupt dimensions in a matrix element".into());
    }
    let dr = Reader {
        data: dd,
        pos: 0,
        big,
    };
    let mut dims = Vec::with_capacity(dd.len() / 4);
    for k in 0..dd.len() / 4 {
        let v = dr.u32_at(4 * k)? as i32;
        if v < 0 {
            return Err("negative dimension in a matrix element".into());
        }
        dims.push(v as usize);
    }
    let numel = dims
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or("dimensions overflow")?;

    let (ty, nd) = r.element()?;
    if ty != MI_INT8 {
        return Err("corrupt array name in a matrix element".into());
    }
    let name = String::from_utf8_lossy(nd)
        .trim_end_matches('\0')
        .to_string();

    let class = class_name(class_id);
    let value = match class_id {
        6..=15 => {
            let (ty, re) = r.element()?;
            let need = numel.checked_mul(8).map(|b| b as u64);
            match need {
                Some(b) if b <= *left => *left -= b,
                _ => {
                    return Err(crate::io::budget::over_budget(
                        &format!("variable '{name}' {dims:?}"),
                        need,
                        *left,
                    ));
                }
            }
            let data = numbers(ty, re, big)?;
            if data.len() != numel {
                return Err(format!(
                    "variable '{name}' holds {} numbers for dimensions {dims:?}",
                    data.len()
                ));
            }
            let class = if logical { "logical" } else { class };
            MatValue::Numeric {
                dims,
                data,
                complex,
                class,
            }
        }
        2 | 3 => {
            if class_id == 3 {
                let (ty, _class_name) = r.element()?;
                if ty != MI_INT8 {
                    return Err("corrupt object class name".into());
                }
            }
            let (ty, ld) = r.element()?;
            if ty != MI_INT32 || ld.len() != 4 {
                return Err(format!("struct '{name}': corrupt field-name length"));
            }
            let len = Reader {
                data: ld,
                pos: 0,
                big,
            }
            .u32_at(0)? as usize;
            let (ty, names) = r.element()?;
            if ty != MI_INT8
                || (len == 0 && !names.is_empty())
                || (len > 0 && names.len() % len != 0)
            {
                return Err(format!("struct '{name}': corrupt field names"));
            }
            let fields: Vec<String> = if len == 0 {
                vec![]
            } else {
                names
                    .chunks(len)
                    .map(|c| {
                        String::from_utf8_lossy(c)
                            .trim_end_matches('\0')
                            .to_string()
                    })
                    .collect()
            };
            let mut elems = Vec::new();
            if !fields.is_empty() {
                if numel.saturating_mul(fields.len()).saturating_mul(8) > d.len() {
                    return Err(format!("struct '{name}': file is truncated"));
                }
                for _ in 0..numel {
                    let mut vals = Vec::with_capacity(fields.len());
                    for _ in &fields {
                        let (ty, md) = r.element()?;
                        if ty != MI_MATRIX {
                            return Err(format!(
                                "struct '{name}': a field is not a matrix element"
                            ));
                        }
                        vals.push(matrix(md, big, depth + 1, left)?.1);
                    }
                    elems.push(vals);
                }
            }
            if class_id == 3 {
                MatValue::Other { dims, class }
            } else {
                MatValue::Struct {
                    dims,
                    fields,
                    elems,
                }
            }
        }
        1 => {
            if numel.saturating_mul(8) > d.len() {
                return Err(format!("cell '{name}': file is truncated"));
            }
            let mut elems = Vec::with_capacity(numel);
            for _ in 0..numel {
                let (ty, md) = r.element()?;
                if ty != MI_MATRIX {
                    return Err(format!("cell '{name}': an element is not a matrix element"));
                }
                elems.push(matrix(md, big, depth + 1, left)?.1);
            }
            MatValue::Cell { dims, elems }
        }
        _ => MatValue::Other { dims, class },
    };
    Ok((name, value))
}

/// Numbers of any MAT data type as f64.
fn numbers(ty: u32, d: &[u8], big: bool) -> std::result::Result<Vec<f64>, String> {
    macro_rules! conv {
        ($t:ty) => {{
            const N: usize = std::mem::size_of::<$t>();
            if !d.len().is_multiple_of(N) {
                return Err("numeric data of a size that is not a whole number of elements".into());
            }
            d.chunks_exact(N)
                .map(|c| {
                    let b: [u8; N] = c.try_into().unwrap();
                    (if big {
                        <$t>::from_be_bytes(b)
                    } else {
                        <$t>::from_le_bytes(b)
                    }) as f64
                })
                .collect()
        }};
    }
    Ok(match ty {
        1 => conv!(i8),
        2 => conv!(u8),
        3 => conv!(i16),
        4 => conv!(u16),
        5 => conv!(i32),
        6 => conv!(u32),
        7 => conv!(f32),
        9 => conv!(f64),
        12 => conv!(i64),
        13 => conv!(u64),
        _ => return Err(format!("numeric data of unsupported MAT data type {ty}")),
    })
}
