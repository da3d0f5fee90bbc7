//! The library in-process: gradients against independent references, tasks, similarity,
//! recordings, the paper's checkpoints and training. One test binary.

#[path = "../common/mod.rs"]
mod common;

mod cpu_gradients;
mod cue_task;
mod mante_generator;
mod neural;
mod paper_checkpoint;
mod paper_reach;
mod similarity;
mod spiking_gradients;
mod tasks;
mod train;
mod train_spiking;
