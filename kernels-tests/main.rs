//! The GPU kernel tests, one binary (`cargo test --test gpu`): the rate and the spiking kernels
//! against the CPU implementation on an adapter (lavapipe in CI; without one these tests fail),
//! and the shaders against the CPU–GPU contract by naga reflection (no device needed).

mod common;
mod gpu_spiking;
mod gpu_vs_cpu;
mod shaders_validate;
