// pack.wgsl — prelude prepended to every kernel of both kinds, before the kind's own
// (common/rate.wgsl or common/spike.wgsl; not a kernel itself). The binding declarations follow the
// preludes: src/gpu/kernels.rs generates them from the kernel's entry in gpu::abi::KERNELS.

// Per network (Rust twin gpu::abi::NetParams, bound as the storage array `nets`): 1/sum(mask) of
// the whole batch, regulariser weight, Adam learning rate, target firing rate (spiking only).
struct NetParams { inv_mask_sum: f32, lambda: f32, lr: f32, rate_target: f32 };
