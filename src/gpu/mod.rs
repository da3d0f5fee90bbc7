//! The wgpu engine: device context, one typed wrapper per WGSL kernel, and the batched rate engine.
pub mod context;
pub mod kernels;
pub mod rate_engine;

pub use context::GpuContext;
pub use rate_engine::{NetLoss, RateEngine};
