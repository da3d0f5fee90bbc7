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
use std::sync::RwLock;

/// The data root the command line chose (`$SNNLAB_DATA`); `None`: the crate's own.
static DATA_DIR: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Set the root of the bundled data (the CLI does, from `$SNNLAB_DATA`, before running a
/// command; nothing below the CLI reads the environment). `None`: the crate's `data/` folder.
pub fn set_data_dir(dir: Option<PathBuf>) {
    *DATA_DIR.write().unwrap_or_else(|e| e.into_inner()) = dir;
}

/// Root of the bundled data: the folder given to [`set_data_dir`], else the crate's `data/`
/// folder (`concat!(env!("CARGO_MANIFEST_DIR"), "/data")`).
pub fn data_dir() -> PathBuf {
    DATA_DIR
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")))
}
