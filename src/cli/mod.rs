//! The command line below `main.rs` (which parses, dispatches and maps errors to exit codes): one
//! module per command or command family, each with its clap arguments and its body, and the
//! edge's own pieces — the environment, process set-up, and the CLI names of domain enums.

pub(crate) mod analyze;
pub(crate) mod bench;
pub(crate) mod devices;
pub(crate) mod dsa;
pub(crate) mod environment;
pub(crate) mod evaluate;
pub(crate) mod forward;
pub(crate) mod grad;
pub(crate) mod import;
pub(crate) mod process;
pub(crate) mod procrustes;
pub(crate) mod reproduce;
pub(crate) mod sweep;
pub(crate) mod train;
pub(crate) mod values;

mod single_network;
mod task_choice;
