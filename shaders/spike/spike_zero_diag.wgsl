// spike_zero_diag.wgsl — no self-connections (SPEC §2): the w_rec diagonal of every network's
// gradient is set to 0 (so Adam never moves the diagonal of w_rec off 0).
//   grads[m, off_w_rec + j*N + j] = 0
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::gradient)
// CPU twin: src/reference/spiking.rs::grad_backward
// Bindings: 0 dims (uniform Dims) | 1 grads (read_write)
// Dispatch: x = ceil(N / 64), y = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let m = gid.y;
    if (j >= dims.n || m >= dims.m) { return; }
    grads[m * dims.p_len + dims.off_w_rec + j * dims.n + j] = 0.0;
}
