//! The paper's checkpoints (data/paper/README.md): one `.npz` holding the parameters saved at
//! several updates U under the keys `p{U}_w_in`, …, `p{U}_ah0` and `p{U}_activity_l2_lambda`.

use std::path::Path;

use ndarray::{Array, ArrayD, Dimension};

use super::bad;
use super::npz::Npz;
use crate::error::{Error, Result};
use crate::model::{PARAM_NAMES, RateConfig, RateModel, RateParams};

/// The distinct `p{U}_` prefixes of an archive's names, by increasing U.
fn prefixes_of(names: &[String]) -> Vec<String> {
    let mut us: Vec<u64> = names
        .iter()
        .filter_map(|n| {
            let rest = n.strip_prefix('p')?;
            let (digits, _) = rest.split_once('_')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        })
        .collect();
    us.sort_unstable();
    us.dedup();
    us.into_iter().map(|u| format!("p{u}_")).collect()
}

/// The `p{U}_` prefixes (checkpoints) an `.npz` file holds, by increasing U.
pub fn paper_prefixes(path: &Path) -> Result<Vec<String>> {
    Ok(prefixes_of(&Npz::open(path)?.names))
}

fn missing_key(npz: &Npz, key: &str) -> Error {
    let found = prefixes_of(&npz.names);
    let found = if found.is_empty() {
        format!("no p{{U}}_ prefixes found; arrays: {}", npz.listing())
    } else {
        format!("prefixes found: {}", found.join(", "))
    };
    bad(&npz.path, format!("no array named {key} ({found})"))
}

/// The next of the checkpoint's (key, array) pairs as f32 with `D`'s number of axes.
fn next_f32<'a, D: Dimension>(
    path: &Path,
    arrays: &mut impl Iterator<Item = (&'a String, ArrayD<f64>)>,
) -> Result<Array<f32, D>> {
    let (key, a) = arrays.next().expect("six arrays");
    a.mapv(|x| x as f32)
        .into_dimensionality()
        .map_err(|e| bad(path, format!("array {key}: {e}")))
}

/// Import a paper checkpoint as a rate model: `RateConfig::new(n_in, n_rec, n_out)` (alpha 0.1,
/// retanh) from the shapes of `{prefix}w_in [N, n_in]` and `{prefix}w_out [n_out, N]`; every
/// tensor's shape is checked and its values must be finite. No mask, no feedback.
pub fn import_paper_npz(path: &Path, prefix: &str) -> Result<RateModel> {
    let mut npz = Npz::open(path)?;
    let keys: Vec<String> = PARAM_NAMES.iter().map(|n| format!("{prefix}{n}")).collect();
    if let Some(k) = keys.iter().find(|k| !npz.has(k)) {
        return Err(missing_key(&npz, k));
    }
    let mut arrays = Vec::with_capacity(6);
    for k in &keys {
        arrays.push(npz.read_f64(k)?);
    }
    let dims2 = |i: usize| -> Result<(usize, usize)> {
        match arrays[i].shape() {
            &[a, b] => Ok((a, b)),
            s => Err(bad(
                path,
                format!("array {} has shape {s:?}, expected two axes", keys[i]),
            )),
        }
    };
    let (n_rec, n_in) = dims2(0)?;
    let (n_out, _) = dims2(3)?;
    let cfg = RateConfig::new(n_in, n_rec, n_out);
    cfg.validate().map_err(|e| match e {
        Error::Input(m) => bad(path, format!("{prefix}: {m}")),
        other => other,
    })?;
    for ((k, a), want) in keys
        .iter()
        .zip(&arrays)
        .zip(RateParams::<f32>::shapes(&cfg))
    {
        if a.shape() != want.as_slice() {
            return Err(bad(
                path,
                format!("array {k} has shape {:?}, expected {want:?}", a.shape()),
            ));
        }
        if a.iter().any(|x| !x.is_finite()) {
            return Err(bad(path, format!("array {k} contains NaN or infinity")));
        }
    }
    // In PARAM_NAMES order; a struct literal's fields are evaluated as written.
    let it = &mut keys.iter().zip(arrays);
    let params = RateParams {
        w_in: next_f32(path, it)?,
        b_in: next_f32(path, it)?,
        w_rec: next_f32(path, it)?,
        w_out: next_f32(path, it)?,
        b_out: next_f32(path, it)?,
        ah0: next_f32(path, it)?,
    };
    if let Some(name) = params.first_non_finite() {
        // finite in f64 but out of f32 range
        return Err(bad(path, format!("array {prefix}{name} overflows f32")));
    }
    Ok(RateModel {
        config: cfg,
        params,
        mask_rec: None,
        feedback: None,
    })
}

/// The adaptive regulariser weight `{prefix}activity_l2_lambda` saved with a checkpoint, if the
/// file holds it. It must be a single finite number.
pub fn paper_lambda(path: &Path, prefix: &str) -> Result<Option<f64>> {
    let mut npz = Npz::open(path)?;
    let key = format!("{prefix}activity_l2_lambda");
    let Some(a) = npz.read_f64_opt(&key)? else {
        return Ok(None);
    };
    if a.len() != 1 {
        return Err(bad(
            path,
            format!("array {key} has shape {:?}, expected a scalar", a.shape()),
        ));
    }
    let v = a.iter().next().copied().unwrap_or(f64::NAN);
    if !v.is_finite() {
        return Err(bad(path, format!("array {key} is not a finite number")));
    }
    Ok(Some(v))
}
