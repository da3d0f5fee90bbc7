// spike_readout.wgsl — readout drive of every step before the leak (SPEC §2):
//   y[t, b, k] = w_out[k] . z[t, b] + b_out[k]      (spike_loss.wgsl then adds kappa y[t-1])
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::forward)
// CPU twin: src/reference/spiking.rs::forward
// Bindings: 0 dims (uniform Dims) | 1 params (read) | 2 z (read) | 3 y (read_write)
// Dispatch: x = ceil(T*B*n_out / 64), y = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x; let m = gid.y;
    if (e >= dims.t * dims.b * dims.n_out || m >= dims.m) { return; }
    let k = e % dims.n_out; let tb = e / dims.n_out;
    let pb = m * dims.p_len;
    let zb = (m * dims.t * dims.b + tb) * dims.n;
    let wo = pb + dims.off_w_out + k * dims.n;
    var acc = params[pb + dims.off_b_out + k];
    for (var j = 0u; j < dims.n; j++) { acc += params[wo + j] * z[zb + j]; }
    y[(m * dims.t * dims.b + tb) * dims.n_out + k] = acc;
}
