// spike_online_out.wgsl — online e-prop, step t: readout, loss and dE/dy of this step only, and
// the running sums the readout gradient and the regulariser need (all flat in T):
//   y[t] = kappa y[t-1] + w_out z[t] + b_out;  l, dy[t] by task_loss.wgsl;  part[m, b] += l
//   zbar[j] = kappa zbar[j] + z[t]_j,  cbar = kappa cbar + 1   (so that sum_t gy[t] z[t]^T
//   = sum_t dy[t] zbar[t]^T: the leaky readout's adjoint, run forward)
//   zsum[j] += z[t]_j   (firing rates at the end of the trial)
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::gradient, online e-prop)
// CPU twin: src/reference/spiking.rs::grad_eprop_online
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 z (read) | 4 targets (read) | 5 mask (read) | 6 nets (read NetParams) | 7 y (read_write)
//           8 dy (read_write) | 9 part (read_write) [M, B] | 10 zbar (read_write) [M, B, N]
//           11 zsum (read_write) [M, B, N] | 12 cbar (read_write) [M, B]
// Dispatch: x = ceil(B / 64), y = M; once per step.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x; let m = gid.y;
    if (b >= dims.b || m >= dims.m) { return; }
    let t = step.t;
    let pb = m * dims.p_len;
    let zb = traj_idx(dims, m, t, b, 0u);
    let yb = out_idx(dims, m, t, b, 0u);
    for (var k = 0u; k < dims.n_out; k++) {
        var acc = params[pb + dims.off_b_out + k];
        let wo = pb + dims.off_w_out + k * dims.n;
        for (var j = 0u; j < dims.n; j++) { acc += params[wo + j] * z[zb + j]; }
        if (t > 0u) { acc += dims.kappa * y[out_idx(dims, m, t - 1u, b, k)]; }
        y[yb + k] = acc;
    }
    let tg = ((m * dims.t + t) * dims.b + b) * dims.k_t;
    let l = task_loss(yb, tg, nets[m].inv_mask_sum, 0.0);
    let pi = m * dims.b + b;
    let si = pi * dims.n;
    if (t == 0u) {
        part[pi] = l;
        cbar[pi] = 1.0;
        for (var j = 0u; j < dims.n; j++) { zbar[si + j] = z[zb + j]; zsum[si + j] = z[zb + j]; }
    } else {
        part[pi] += l;
        cbar[pi] = dims.kappa * cbar[pi] + 1.0;
        for (var j = 0u; j < dims.n; j++) { zbar[si + j] = dims.kappa * zbar[si + j] + z[zb + j]; zsum[si + j] += z[zb + j]; }
    }
}
