//! snnlab: batched training of rate (and spiking) RNNs with BPTT and e-prop on WGSL kernels, with
//! a CPU twin of every kernel, and similarity of trained networks to neural recordings.

pub mod analysis;
pub mod backend;
pub mod batch;
pub mod bench;
pub mod claim;
pub mod dsa;
pub mod error;
pub mod evaluate;
pub mod gpu;
pub mod io;
pub mod linalg;
pub mod metric;
pub mod model;
pub mod neural;
pub mod one_network;
pub mod optim;
pub mod params;
pub mod reference;
pub mod report;
pub mod reproduce;
pub mod rules;
pub mod similarity;
pub mod spiking;
pub mod stats;
pub mod sweep;
pub mod tasks;
pub mod train;
