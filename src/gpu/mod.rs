//! The wgpu engine: device context, the CPU–GPU contract (`abi`), the kernels, the pack core
//! both kinds share (`engine`), and the rate and spiking engines on top of it.
pub mod abi;
pub mod context;
pub mod engine;
pub mod kernels;
pub mod rate_engine;
pub mod spiking_engine;
pub mod timer;

pub use context::GpuContext;
pub use rate_engine::{NetLoss, RateEngine};
pub use spiking_engine::{EpropForm, SpikeMemory, SpikeNetLoss, SpikingEngine};
