//! The scalar type and the matrix products the CPU kernels are built on. Below the model and
//! the CPU reference, which both use it; it depends on neither.

pub mod narrow;
pub mod packed;
mod real;

pub use packed::PackedB;
pub use real::Real;
