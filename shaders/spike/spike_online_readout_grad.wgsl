// spike_online_readout_grad.wgsl — online e-prop, step t: exact readout gradients, accumulated
// forward in time with the filtered spikes of spike_online_out.wgsl:
//   g_w_out[k, j] += sum_b dy[t]_k zbar_j        g_b_out[k] += sum_b dy[t]_k cbar   (= at t = 0)
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::gradient, online e-prop)
// CPU twin: src/reference/spiking.rs::grad_eprop_online
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 dy (read)
//           3 zbar (read) | 4 cbar (read) | 5 grads (read_write)
// Dispatch: x = ceil(n_out * (N + 1) / 64), y = M; once per step.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x; let m = gid.y;
    let w = dims.n + 1u;
    if (e >= dims.n_out * w || m >= dims.m) { return; }
    let k = e / w; let j = e % w;
    let t = step.t;
    var acc = 0.0;
    for (var b = 0u; b < dims.b; b++) {
        var pre = cbar[m * dims.b + b];
        if (j < dims.n) { pre = zbar[(m * dims.b + b) * dims.n + j]; }
        acc += dy[out_idx(dims, m, t, b, k)] * pre;
    }
    var at = m * dims.p_len + dims.off_b_out + k;
    if (j < dims.n) { at = m * dims.p_len + dims.off_w_out + k * dims.n + j; }
    if (t == 0u) { grads[at] = acc; } else { grads[at] += acc; }
}
