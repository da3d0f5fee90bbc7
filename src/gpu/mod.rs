//! The wgpu engine: device context, one typed wrapper per WGSL kernel, and the batched rate and
//! spiking engines.
pub mod context;
pub mod kernels;
pub mod rate_engine;
pub mod spiking_engine;
pub mod spiking_kernels;
pub mod timer;

pub use context::GpuContext;
pub use rate_engine::{NetLoss, RateEngine};
pub use spiking_engine::{EpropForm, SpikeNetLoss, SpikingEngine};
