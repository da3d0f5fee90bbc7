//! CPU implementation of every kernel: the oracle for the GPU tests and the `--device cpu` backend.
pub mod common;
pub mod rate;
pub mod spiking;
