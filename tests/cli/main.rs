//! The command line and the file formats it reads and writes. One test binary for what used to
//! be one file each under tests/ (each linked wgpu and OpenBLAS on its own).

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod cli_analysis;
mod cli_spiking;
mod cue_analysis;
mod file_task;
mod io;
mod neurogym;
