//! Model files (SPEC §6): `.safetensors` with f32 tensors and `__metadata__["config"]` holding the
//! JSON of the model's configuration. Rate models ([`RateConfig`]): the tensors of SPEC §1 plus the
//! optional fixed `mask_rec [N, N]` and `feedback [N, n_out]`. Spiking models ([`SpikingConfig`],
//! kind `lif` / `alif`): `w_in`, `w_rec` (zero diagonal), `w_out`, `b_out` of SPEC §2 plus the
//! optional `feedback [N, n_out]`. [`load_any_model`] reads either, by the config's `kind`.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array2, ArrayD, IxDyn};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{bad, write_atomic};
use crate::error::{Error, Result};
use crate::model::{Kind, PARAM_NAMES, RateConfig, RateModel, RateParams};
use crate::params::ParamSet;
use crate::spiking::{SPIKING_PARAM_NAMES, SpikingConfig, SpikingModel, SpikingParams};

const MASK_REC: &str = "mask_rec";
const FEEDBACK: &str = "feedback";

/// A model of either kind, as [`load_any_model`] returns it.
#[derive(Clone, Debug)]
pub enum AnyModel {
    Rate(RateModel),
    Spiking(SpikingModel),
}

/// One tensor ready to serialise: name, shape, little-endian f32 bytes.
type Entry = (String, Vec<usize>, Vec<u8>);

/// The tensor `name` as an entry, after checking its shape is the one the config needs (so that
/// whatever a save writes, the matching load reads back).
fn entry<'a>(
    path: &Path,
    name: &str,
    shape: &[usize],
    want: &[usize],
    values: impl Iterator<Item = &'a f32>,
) -> Result<Entry> {
    if shape != want {
        return Err(Error::Runtime(format!(
            "{}: cannot save: tensor {name} has shape {shape:?}, the config needs {want:?}",
            path.display()
        )));
    }
    Ok((
        name.to_string(),
        shape.to_vec(),
        values.flat_map(|x| x.to_le_bytes()).collect(),
    ))
}

/// Compact JSON, as safetensors writes its header.
fn compact_json<T: Serialize>(v: &T, path: &Path) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| Error::Runtime(format!("{}: cannot encode metadata: {e}", path.display())))
}

/// Serialise `entries` with `config` as `__metadata__["config"]` (and the `extra` entries beside
/// it) and write the file atomically.
fn write_model(
    path: &Path,
    config: &impl Serialize,
    entries: &[Entry],
    extra: &[(String, String)],
) -> Result<()> {
    let config = serde_json::to_string(config)
        .map_err(|e| Error::Runtime(format!("{}: cannot encode config: {e}", path.display())))?;
    let mut views = Vec::with_capacity(entries.len());
    for (name, shape, bytes) in entries {
        let v = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| Error::Runtime(format!("{}: tensor {name}: {e}", path.display())))?;
        views.push((name.clone(), v));
    }
    let mut meta = HashMap::from([("config".to_string(), config)]);
    meta.extend(extra.iter().cloned());
    // safetensors writes `__metadata__` in the HashMap's (per-process random) order: put its
    // entries in key order, in place (same bytes, same length), so that files are reproducible.
    let as_hashed = compact_json(&meta, path)?;
    let in_order = compact_json(
        &meta.iter().collect::<std::collections::BTreeMap<_, _>>(),
        path,
    )?;
    let mut bytes = safetensors::serialize(views, Some(meta)).map_err(|e| {
        Error::Runtime(format!(
            "{}: cannot encode safetensors: {e}",
            path.display()
        ))
    })?;
    if as_hashed != in_order {
        let at = bytes
            .windows(as_hashed.len())
            .position(|w| w == as_hashed.as_bytes())
            .ok_or_else(|| {
                Error::Runtime(format!("{}: cannot order the metadata", path.display()))
            })?;
        bytes[at..at + in_order.len()].copy_from_slice(in_order.as_bytes());
    }
    write_atomic(path, &bytes)
}

/// The entries of a parameter set's tensors, each checked against the shape the config needs.
fn param_entries<P: ParamSet<Scalar = f32>>(
    path: &Path,
    p: &P,
    want: &[Vec<usize>],
) -> Result<Vec<Entry>> {
    p.names()
        .iter()
        .zip(p.tensors())
        .zip(want)
        .map(|((name, (shape, values)), want)| entry(path, name, shape, want, values.iter()))
        .collect()
}

/// A parameter set for `cfg` read from `st`: every tensor present with its exact shape, finite.
fn read_params<P: ParamSet<Scalar = f32>>(
    path: &Path,
    st: &SafeTensors<'_>,
    cfg: &P::Config,
) -> Result<P> {
    let mut p = P::zeros(cfg);
    let shapes: Vec<Vec<usize>> = p.tensors().iter().map(|(s, _)| s.to_vec()).collect();
    for ((name, want), dst) in p.names().iter().zip(shapes).zip(p.tensors_mut()) {
        let t = read_tensor(path, st, name, &want)?;
        dst.copy_from_slice(t.as_slice().expect("read in standard layout"));
    }
    Ok(p)
}

/// Save a rate model atomically. Shapes are checked against the config first.
pub fn save_model(path: &Path, m: &RateModel) -> Result<()> {
    save_model_with(path, m, &[])
}

/// [`save_model`] with more `__metadata__` entries (a checkpoint's run description).
pub fn save_model_with(path: &Path, m: &RateModel, extra: &[(String, String)]) -> Result<()> {
    let cfg = &m.config;
    let n = cfg.n_rec;
    let mut entries = param_entries(path, &m.params, &RateParams::<f32>::shapes(cfg))?;
    for (name, t, want) in [
        (MASK_REC, &m.mask_rec, [n, n]),
        (FEEDBACK, &m.feedback, [n, cfg.n_out]),
    ] {
        if let Some(a) = t {
            entries.push(entry(path, name, a.shape(), &want, a.iter())?);
        }
    }
    write_model(path, cfg, &entries, extra)
}

/// Save a spiking model atomically. Shapes are checked against the config first; values are
/// not (a file with NaN or self-connections is refused when loaded).
pub fn save_spiking_model(path: &Path, m: &SpikingModel) -> Result<()> {
    save_spiking_model_with(path, m, &[])
}

/// [`save_spiking_model`] with more `__metadata__` entries.
pub fn save_spiking_model_with(
    path: &Path,
    m: &SpikingModel,
    extra: &[(String, String)],
) -> Result<()> {
    let cfg = &m.config;
    let mut entries = param_entries(path, &m.params, &SpikingParams::<f32>::shapes(cfg))?;
    if let Some(a) = &m.feedback {
        entries.push(entry(
            path,
            FEEDBACK,
            a.shape(),
            &[cfg.n_rec, cfg.n_out],
            a.iter(),
        )?);
    }
    write_model(path, cfg, &entries, extra)
}

/// A tensor's values as f32: F32 as is, F64 converted; any other dtype is an input error.
fn tensor_f32(path: &Path, name: &str, t: &TensorView<'_>) -> Result<Vec<f32>> {
    let data = t.data();
    match t.dtype() {
        Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()),
        Dtype::F64 => Ok(data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")) as f32)
            .collect()),
        other => Err(bad(
            path,
            format!("tensor {name} has dtype {other:?}, expected F32 (or F64)"),
        )),
    }
}

/// Read tensor `name`, check its shape is `want` and its values finite.
fn read_tensor(
    path: &Path,
    st: &SafeTensors<'_>,
    name: &str,
    want: &[usize],
) -> Result<ArrayD<f32>> {
    let t = st
        .tensor(name)
        .map_err(|_| bad(path, format!("tensor {name} is missing")))?;
    if t.shape() != want {
        return Err(bad(
            path,
            format!("tensor {name} has shape {:?}, expected {want:?}", t.shape()),
        ));
    }
    let v = tensor_f32(path, name, &t)?;
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad(path, format!("tensor {name} contains NaN or infinity")));
    }
    ArrayD::from_shape_vec(IxDyn(want), v).map_err(|e| bad(path, format!("tensor {name}: {e}")))
}

fn read2(path: &Path, st: &SafeTensors<'_>, name: &str, want: &[usize]) -> Result<Array2<f32>> {
    read_tensor(path, st, name, want)?
        .into_dimensionality()
        .map_err(|e| bad(path, format!("tensor {name}: {e}")))
}

/// An optional fixed `[r, c]` tensor: None when the file does not hold it.
fn read_optional(
    path: &Path,
    st: &SafeTensors<'_>,
    name: &str,
    want: [usize; 2],
) -> Result<Option<Array2<f32>>> {
    if st.names().contains(&name) {
        Ok(Some(read2(path, st, name, &want)?))
    } else {
        Ok(None)
    }
}

/// The configuration JSON in a `.safetensors` model file's header (`__metadata__.config`), after
/// the header's length and every tensor's offsets are checked against `bytes` (safetensors does).
pub fn model_config_json(bytes: &[u8]) -> std::result::Result<String, String> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("not a valid safetensors file: {}", super::one_line(e)))?;
    meta.metadata()
        .as_ref()
        .and_then(|m| m.get("config"))
        .cloned()
        .ok_or_else(|| {
            "__metadata__ has no \"config\" entry (the model's configuration JSON)".to_string()
        })
}

/// A model file's bytes and its config JSON, read once whatever the kind.
struct ModelFile {
    bytes: Vec<u8>,
    config: String,
}

/// A model file's `__metadata__` entry `key`, if it has one.
pub fn model_metadata(path: &Path, key: &str) -> Result<Option<String>> {
    let bytes = std::fs::read(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(path, format!("not a valid safetensors file: {e}")))?;
    Ok(meta.metadata().as_ref().and_then(|m| m.get(key)).cloned())
}

impl ModelFile {
    fn read(path: &Path) -> Result<Self> {
        let bytes = super::budget::read_input(path, "a .safetensors model file")?;
        let config = model_config_json(&bytes).map_err(|e| bad(path, e))?;
        Ok(Self { bytes, config })
    }

    /// The config's `kind`; a config without one is a rate model (the rate config's default).
    fn kind(&self, path: &Path) -> Result<Kind> {
        let v: serde_json::Value = serde_json::from_str(&self.config)
            .map_err(|e| bad(path, format!("__metadata__ config: {e}")))?;
        match v.get("kind") {
            None => Ok(Kind::Rate),
            Some(serde_json::Value::String(k)) => k.parse().map_err(|_| {
                bad(
                    path,
                    format!(
                        "__metadata__ config: unknown model kind \"{k}\" (expected rate, lif or alif)"
                    ),
                )
            }),
            Some(other) => Err(bad(
                path,
                format!("__metadata__ config: kind {other} is not a string"),
            )),
        }
    }

    /// Parse (no unknown keys) and validate the config; `validate`'s message gets the file name.
    fn config<C: DeserializeOwned>(
        &self,
        path: &Path,
        validate: impl FnOnce(&C) -> Result<()>,
    ) -> Result<C> {
        let cfg: C = serde_json::from_str(&self.config)
            .map_err(|e| bad(path, format!("__metadata__ config: {e}")))?;
        validate(&cfg).map_err(|e| match e {
            Error::Input(m) => bad(path, format!("__metadata__ {m}")),
            other => other,
        })?;
        Ok(cfg)
    }

    fn tensors(&self, path: &Path) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes)
            .map_err(|e| bad(path, format!("not a valid safetensors file: {e}")))
    }
}

/// Refuse tensors that are neither `required` nor `optional` for the model's kind.
fn reject_unknown(
    path: &Path,
    st: &SafeTensors<'_>,
    required: &[&str],
    optional: &[&str],
) -> Result<()> {
    let mut unknown: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|n| !required.contains(n) && !optional.contains(n))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(bad(
        path,
        format!(
            "unknown tensor{} {} (expected {}, optional {})",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", "),
            required.join(", "),
            optional.join(", ")
        ),
    ))
}

/// Load and validate a rate model: config parses (no unknown keys) and validates; every tensor of
/// SPEC §1 is present with the exact shape, dtype F32 (F64 converted), finite; `mask_rec` is
/// present when the config constrains `w_rec`; no other tensors. A spiking model file is refused
/// by name (the commands that call this run rate networks only).
pub fn load_model(path: &Path) -> Result<RateModel> {
    let file = ModelFile::read(path)?;
    let kind = file.kind(path)?;
    if kind.is_spiking() {
        return Err(bad(
            path,
            format!("is a spiking model (kind \"{kind}\"); this command needs a rate model"),
        ));
    }
    rate_from(path, &file)
}

fn rate_from(path: &Path, file: &ModelFile) -> Result<RateModel> {
    let cfg: RateConfig = file.config(path, RateConfig::validate)?;
    let st = file.tensors(path)?;
    reject_unknown(path, &st, &PARAM_NAMES, &[MASK_REC, FEEDBACK])?;
    let params: RateParams<f32> = read_params(path, &st, &cfg)?;
    let n = cfg.n_rec;
    let mask_rec = read_optional(path, &st, MASK_REC, [n, n])?;
    let feedback = read_optional(path, &st, FEEDBACK, [n, cfg.n_out])?;
    if cfg.constrained() && mask_rec.is_none() {
        return Err(bad(
            path,
            format!(
                "tensor {MASK_REC} [{n}, {n}] is missing but the config constrains w_rec (dale = {}, connectivity = {})",
                cfg.dale, cfg.connectivity
            ),
        ));
    }
    Ok(RateModel {
        config: cfg,
        params,
        mask_rec,
        feedback,
    })
}

/// Load and validate a spiking model (kind `lif` / `alif`): config parses and validates; `w_in`,
/// `w_rec`, `w_out`, `b_out` present with the exact shapes, F32 (F64 converted), finite; `w_rec`
/// has a zero diagonal (SPEC §2: no self-connections); optional `feedback [N, n_out]`; no other
/// tensors.
pub fn load_spiking_model(path: &Path) -> Result<SpikingModel> {
    spiking_from(path, &ModelFile::read(path)?)
}

fn spiking_from(path: &Path, file: &ModelFile) -> Result<SpikingModel> {
    let cfg: SpikingConfig = file.config(path, SpikingConfig::validate)?;
    let st = file.tensors(path)?;
    reject_unknown(path, &st, &SPIKING_PARAM_NAMES, &[FEEDBACK])?;
    let params: SpikingParams<f32> = read_params(path, &st, &cfg)?;
    if let Some((j, w)) = params
        .w_rec
        .diag()
        .iter()
        .enumerate()
        .find(|(_, w)| **w != 0.0)
    {
        return Err(bad(
            path,
            format!(
                "tensor w_rec has w_rec[{j}, {j}] = {w}; a spiking model's w_rec must have a zero diagonal (no self-connections)"
            ),
        ));
    }
    let feedback = read_optional(path, &st, FEEDBACK, [cfg.n_rec, cfg.n_out])?;
    Ok(SpikingModel {
        config: cfg,
        params,
        feedback,
    })
}

/// Load a model of any kind, dispatching on the config's `kind` (`rate`, `lif`, `alif`).
pub fn load_any_model(path: &Path) -> Result<AnyModel> {
    let file = ModelFile::read(path)?;
    Ok(if file.kind(path)?.is_spiking() {
        AnyModel::Spiking(spiking_from(path, &file)?)
    } else {
        AnyModel::Rate(rate_from(path, &file)?)
    })
}
