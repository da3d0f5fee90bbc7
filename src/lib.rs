//! snnlab: batched training of rate (and spiking) RNNs with BPTT and e-prop on WGSL kernels, with
//! a CPU twin of every kernel, and similarity of trained networks to neural recordings.

pub mod backend;
pub mod batch;
pub mod bench;
pub mod error;
pub mod gpu;
pub mod io;
pub mod model;
pub mod optim;
pub mod reference;
pub mod rules;
pub mod tasks;
pub mod train;
