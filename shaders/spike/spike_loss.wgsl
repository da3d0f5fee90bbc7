// spike_loss.wgsl — leaky readout, task loss, dE/dy and the readout adjoint of every trial (SPEC §2, §3):
//   y[t] += kappa y[t-1]   (in place, forward in t)
//   l, dy = the task loss of task_loss.wgsl (mse or ce);  part[m, b] = sum_t l
//   gy[t] = dy[t] + kappa gy[t+1]   (backward in t)
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::forward)
// CPU twin: src/reference/spiking.rs::loss_with
// Bindings: 0 dims (uniform Dims) | 1 targets (read) | 2 mask (read) | 3 nets (read NetParams)
//           4 y (read_write) | 5 dy (read_write) | 6 gy (read_write) | 7 part (read_write) [M, B]
// Dispatch: x = ceil(B / 64), y = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x; let m = gid.y;
    if (b >= dims.b || m >= dims.m) { return; }
    let inv = nets[m].inv_mask_sum;
    var total = 0.0;
    for (var t = 0u; t < dims.t; t++) {
        let yb = out_idx(dims, m, t, b, 0u);
        if (t > 0u) {
            for (var k = 0u; k < dims.n_out; k++) { y[yb + k] += dims.kappa * y[yb + k - dims.b * dims.n_out]; }
        }
        let tg = ((m * dims.t + t) * dims.b + b) * dims.k_t;
        total = task_loss(yb, tg, inv, total);
    }
    for (var tt = 0u; tt < dims.t; tt++) {
        let t = dims.t - 1u - tt;
        let yb = out_idx(dims, m, t, b, 0u);
        for (var k = 0u; k < dims.n_out; k++) {
            var g = dy[yb + k];
            if (t + 1u < dims.t) { g += dims.kappa * gy[yb + k + dims.b * dims.n_out]; }
            gy[yb + k] = g;
        }
    }
    part[m * dims.b + b] = total;
}
