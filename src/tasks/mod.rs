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

use std::path::PathBuf;

/// Root of the bundled data: `$SNNLAB_DATA` when set (and not empty), else the crate's `data/`
/// folder (`concat!(env!("CARGO_MANIFEST_DIR"), "/data")`).
pub fn data_dir() -> PathBuf {
    match std::env::var_os("SNNLAB_DATA") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")),
    }
}
