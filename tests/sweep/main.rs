//! Sweeps (grids, packs, merge statistics, Slurm), resumption after a kill, benchmarks and the
//! figures of reports. One test binary.

#[path = "../common/mod.rs"]
mod common;

mod bench_grid;
mod bench_peer;
mod bench_spiking;
mod cue_sweep;
mod report_figures;
mod resume;
mod slurm;
mod sweep;
mod sweep_grid;
mod sweep_stats;
