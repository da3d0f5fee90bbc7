// rate_readout_loss.wgsl — readout, loss terms and dE/dy for every (network, step, trial) (SPEC §1, §3):
//   y[t] = w_out @ h[t] + b_out
//   l, dy = the task loss of task_loss.wgsl (mse or ce)
//   part[m, t, b] = (sum_k l, sum_j h[t]_j^2)   (reduced per network by loss_reduce.wgsl)
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::forward)
// CPU twin: src/reference/rate.rs::loss
// Bindings: 0 dims (uniform Dims) | 1 params (read) | 2 h (read) | 3 targets (read) | 4 mask (read)
//           5 nets (read NetParams) | 6 y (read_write) | 7 dy (read_write) | 8 part (read_write)
// Dispatch: x = ceil(T*B / 64), y = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let tb = gid.x; let m = gid.y;
    if (tb >= dims.t * dims.b || m >= dims.m) { return; }
    let t = tb / dims.b; let b = tb % dims.b;
    let pb = m * dims.p_len;
    let hb = state_idx(dims, m, t + 1u, b, 0u);
    let yb = (m * dims.t * dims.b + tb) * dims.n_out;
    let tg = (m * dims.t * dims.b + tb) * dims.k_t;
    let inv = nets[m].inv_mask_sum;
    var hsq = 0.0;
    for (var j = 0u; j < dims.n; j++) { let v = h[hb + j]; hsq += v * v; }
    for (var k = 0u; k < dims.n_out; k++) {
        var acc = params[pb + dims.off_b_out + k];
        let wo = pb + dims.off_w_out + k * dims.n;
        for (var j = 0u; j < dims.n; j++) { acc += params[wo + j] * h[hb + j]; }
        y[yb + k] = acc;
    }
    let l = task_loss(yb, tg, inv, 0.0);
    let pi = (m * dims.t * dims.b + tb) * 2u;
    part[pi] = l;
    part[pi + 1u] = hsq;
}
