//! Batch files (SPEC §6): `inputs [B, T, n_in]`, `targets` and an optional `mask`.

use std::path::Path;

use ndarray::{Array3, ArrayD, Axis, Ix3};

use super::bad;
use super::npz::Npz;
use crate::batch::{Batch, IoDims, LossKind};
use crate::error::Result;

/// Bring `a` to three axes: as is when it has three, with a trailing axis of 1 when it has two
/// and `two_ok`; anything else is an error naming the array and its shape.
fn to3(
    path: &Path,
    name: &str,
    a: ArrayD<f64>,
    two_ok: bool,
    expected: &str,
) -> Result<Array3<f64>> {
    let a = match a.ndim() {
        3 => a,
        2 if two_ok => a.insert_axis(Axis(2)),
        _ => {
            return Err(bad(
                path,
                format!("{name} has shape {:?}, expected {expected}", a.shape()),
            ));
        }
    };
    a.into_dimensionality::<Ix3>()
        .map_err(|e| bad(path, format!("{name}: {e}")))
}

/// Load and validate a batch for a model with config `cfg` (rate or spiking) and loss `loss`.
///
/// - `inputs [B, T, n_in]`, f32 or f64 (any numeric dtype is accepted and converted).
/// - `targets`: `[B, T, n_out]` floats for mse; class indices `[B, T]` (or `[B, T, 1]`) for ce,
///   as any integer dtype or as floats holding integers. Stored as f64, ce as `[B, T, 1]`.
/// - `mask` (optional, default all ones): `[B, T, n_out]` for mse, `[B, T]` for ce; float,
///   integer or bool. When `mask` is absent, `output_mask` (the name the paper's task file uses)
///   is taken instead.
pub fn load_batch<C: IoDims + ?Sized>(path: &Path, cfg: &C, loss: LossKind) -> Result<Batch> {
    let batch = read_batch(path, loss)?;
    batch.validate(cfg, &path.display().to_string())?;
    Ok(batch)
}

/// Read a batch file as [`load_batch`] does, with the shapes of its arrays checked against each
/// other only (the caller validates it against a model, or infers the model's widths from it).
pub fn read_batch(path: &Path, loss: LossKind) -> Result<Batch> {
    let mut npz = Npz::open(path)?;
    for required in ["inputs", "targets"] {
        if !npz.has(required) {
            return Err(bad(
                path,
                format!(
                    "no array named {required} in the batch (arrays found: {})",
                    npz.listing()
                ),
            ));
        }
    }
    let inputs = to3(
        path,
        "inputs",
        npz.read_f64("inputs")?,
        false,
        "[B, T, n_in]",
    )?;
    let (t_expected, two_ok) = match loss {
        LossKind::Mse => ("[B, T, n_out] for --loss mse", false),
        LossKind::Ce => ("[B, T] class indices for --loss ce", true),
    };
    let targets = to3(
        path,
        "targets",
        npz.read_f64("targets")?,
        two_ok,
        t_expected,
    )?;
    if loss == LossKind::Ce && targets.shape()[2] != 1 {
        return Err(bad(
            path,
            format!(
                "targets has shape {:?}, expected {t_expected}",
                targets.shape()
            ),
        ));
    }
    let mask_name = ["mask", "output_mask"].into_iter().find(|n| npz.has(n));
    let mask = match mask_name {
        Some(name) => {
            let m_expected = match loss {
                LossKind::Mse => "[B, T, n_out] for --loss mse",
                LossKind::Ce => "[B, T] for --loss ce",
            };
            let m = to3(path, name, npz.read_f64(name)?, two_ok, m_expected)?;
            if loss == LossKind::Ce && m.shape()[2] != 1 {
                return Err(bad(
                    path,
                    format!("{name} has shape {:?}, expected {m_expected}", m.shape()),
                ));
            }
            m
        }
        None => Array3::ones(targets.raw_dim()),
    };
    Ok(Batch {
        inputs,
        targets,
        mask,
        loss,
    })
}
