//! Model files (SPEC §6): `.safetensors` with the f32 tensors of SPEC §1, the optional fixed
//! tensors `mask_rec [N, N]` and `feedback [N, n_out]`, and `__metadata__["config"]` holding the
//! JSON of [`RateConfig`].

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayD, IxDyn};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use super::{bad, write_atomic};
use crate::error::{Error, Result};
use crate::model::{RateConfig, RateModel, RateParams, PARAM_NAMES};

const MASK_REC: &str = "mask_rec";
const FEEDBACK: &str = "feedback";

fn f32_bytes<'a>(values: impl Iterator<Item = &'a f32>) -> Vec<u8> {
    values.flat_map(|x| x.to_le_bytes()).collect()
}

/// Save a model atomically. Shapes are checked against the config first, so that whatever this
/// writes, [`load_model`] reads back.
pub fn save_model(path: &Path, m: &RateModel) -> Result<()> {
    let cfg = &m.config;
    let n = cfg.n_rec;
    let mut entries: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let shapes = RateParams::<f32>::shapes(cfg);
    let p = &m.params;
    let views: [(&[usize], Box<dyn Iterator<Item = &f32>>); 6] = [
        (p.w_in.shape(), Box::new(p.w_in.iter())),
        (p.b_in.shape(), Box::new(p.b_in.iter())),
        (p.w_rec.shape(), Box::new(p.w_rec.iter())),
        (p.w_out.shape(), Box::new(p.w_out.iter())),
        (p.b_out.shape(), Box::new(p.b_out.iter())),
        (p.ah0.shape(), Box::new(p.ah0.iter())),
    ];
    for ((name, want), (shape, it)) in PARAM_NAMES.iter().zip(shapes.iter()).zip(views) {
        if shape != want.as_slice() {
            return Err(Error::Runtime(format!(
                "{}: cannot save: tensor {name} has shape {shape:?}, the config needs {want:?}",
                path.display()
            )));
        }
        entries.push((name.to_string(), shape.to_vec(), f32_bytes(it)));
    }
    for (name, t, want) in [(MASK_REC, &m.mask_rec, [n, n]), (FEEDBACK, &m.feedback, [n, cfg.n_out])] {
        if let Some(a) = t {
            if a.shape() != want {
                return Err(Error::Runtime(format!(
                    "{}: cannot save: tensor {name} has shape {:?}, the config needs {want:?}",
                    path.display(),
                    a.shape()
                )));
            }
            entries.push((name.to_string(), a.shape().to_vec(), f32_bytes(a.iter())));
        }
    }
    let config = serde_json::to_string(cfg)
        .map_err(|e| Error::Runtime(format!("{}: cannot encode config: {e}", path.display())))?;
    let mut views = Vec::with_capacity(entries.len());
    for (name, shape, bytes) in &entries {
        let v = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| Error::Runtime(format!("{}: tensor {name}: {e}", path.display())))?;
        views.push((name.clone(), v));
    }
    let meta = HashMap::from([("config".to_string(), config)]);
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Runtime(format!("{}: cannot encode safetensors: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

/// A tensor's values as f32: F32 as is, F64 converted; any other dtype is an input error.
fn tensor_f32(path: &Path, name: &str, t: &TensorView<'_>) -> Result<Vec<f32>> {
    let data = t.data();
    match t.dtype() {
        Dtype::F32 => Ok(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        Dtype::F64 => Ok(data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")) as f32)
            .collect()),
        other => Err(bad(path, format!("tensor {name} has dtype {other:?}, expected F32 (or F64)"))),
    }
}

/// Read tensor `name`, check its shape is `want` and its values finite.
fn read_tensor(path: &Path, st: &SafeTensors<'_>, name: &str, want: &[usize]) -> Result<ArrayD<f32>> {
    let t = st.tensor(name).map_err(|_| bad(path, format!("tensor {name} is missing")))?;
    if t.shape() != want {
        return Err(bad(path, format!("tensor {name} has shape {:?}, expected {want:?}", t.shape())));
    }
    let v = tensor_f32(path, name, &t)?;
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad(path, format!("tensor {name} contains NaN or infinity")));
    }
    ArrayD::from_shape_vec(IxDyn(want), v).map_err(|e| bad(path, format!("tensor {name}: {e}")))
}

fn as2(path: &Path, name: &str, a: ArrayD<f32>) -> Result<Array2<f32>> {
    a.into_dimensionality().map_err(|e| bad(path, format!("tensor {name}: {e}")))
}

fn as1(path: &Path, name: &str, a: ArrayD<f32>) -> Result<Array1<f32>> {
    a.into_dimensionality().map_err(|e| bad(path, format!("tensor {name}: {e}")))
}

/// Load and validate a model: config parses (no unknown keys) and validates; every tensor of
/// SPEC §1 is present with the exact shape, dtype F32 (F64 converted), finite; `mask_rec` is
/// present when the config constrains `w_rec`; no other tensors.
pub fn load_model(path: &Path) -> Result<RateModel> {
    if path.is_dir() {
        return Err(bad(path, "is a directory, expected a .safetensors model file"));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(path, format!("not a valid safetensors file: {e}")))?;
    let config_json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("config"))
        .ok_or_else(|| bad(path, "__metadata__ has no \"config\" entry (the model's configuration JSON)"))?;
    let cfg: RateConfig = serde_json::from_str(config_json)
        .map_err(|e| bad(path, format!("__metadata__ config: {e}")))?;
    cfg.validate().map_err(|e| match e {
        Error::Input(m) => bad(path, format!("__metadata__ {m}")),
        other => other,
    })?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(path, format!("not a valid safetensors file: {e}")))?;

    let mut unknown: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|n| !PARAM_NAMES.contains(n) && *n != MASK_REC && *n != FEEDBACK)
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(bad(
            path,
            format!(
                "unknown tensor{} {} (expected {}, optional {MASK_REC}, {FEEDBACK})",
                if unknown.len() > 1 { "s" } else { "" },
                unknown.join(", "),
                PARAM_NAMES.join(", ")
            ),
        ));
    }

    let shapes = RateParams::<f32>::shapes(&cfg);
    let get = |i: usize| read_tensor(path, &st, PARAM_NAMES[i], &shapes[i]);
    let params = RateParams {
        w_in: as2(path, PARAM_NAMES[0], get(0)?)?,
        b_in: as1(path, PARAM_NAMES[1], get(1)?)?,
        w_rec: as2(path, PARAM_NAMES[2], get(2)?)?,
        w_out: as2(path, PARAM_NAMES[3], get(3)?)?,
        b_out: as1(path, PARAM_NAMES[4], get(4)?)?,
        ah0: as1(path, PARAM_NAMES[5], get(5)?)?,
    };
    let n = cfg.n_rec;
    let names = st.names();
    let optional = |name: &str, want: [usize; 2]| -> Result<Option<Array2<f32>>> {
        if names.contains(&name) {
            let a = read_tensor(path, &st, name, &want)?;
            Ok(Some(as2(path, name, a)?))
        } else {
            Ok(None)
        }
    };
    let mask_rec = optional(MASK_REC, [n, n])?;
    let feedback = optional(FEEDBACK, [n, cfg.n_out])?;
    if cfg.constrained() && mask_rec.is_none() {
        return Err(bad(
            path,
            format!(
                "tensor {MASK_REC} [{n}, {n}] is missing but the config constrains w_rec (dale = {}, connectivity = {})",
                cfg.dale, cfg.connectivity
            ),
        ));
    }
    Ok(RateModel { config: cfg, params, mask_rec, feedback })
}
