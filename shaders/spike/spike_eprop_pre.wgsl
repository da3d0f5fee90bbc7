// spike_eprop_pre.wgsl — online e-prop, step t: presynaptic eligibility traces (SPEC §4)
//   eps_v[t][c] = a_v eps_v[t-1][c] + pre[t][c],   pre = z[t-1] (c < N; 0 at t = 0) | x[t] (c >= N)
// kept in two slots by parity, so that step t's synapse update can still read eps_v[t-1].
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::gradient, online e-prop)
// CPU twin: src/reference/spiking.rs::grad_eprop_online
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 z (read) | 3 x (read)
//           4 eps_v (read_write) [2, M, B, N + n_in]
// Dispatch: x = ceil((N + n_in) / 64), y = B, z = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x; let b = gid.y; let m = gid.z;
    if (c >= dims.n + dims.n_in || b >= dims.b || m >= dims.m) { return; }
    let t = step.t;
    var pre = 0.0;
    if (c < dims.n) {
        if (t > 0u) { pre = z[traj_idx(dims, m, t - 1u, b, c)]; }
    } else {
        pre = x[((m * dims.t + t) * dims.b + b) * dims.n_in + (c - dims.n)];
    }
    var old = 0.0;
    if (t > 0u) { old = eps_v[eps_v_idx(dims, 1u - step.parity, m, b, c)]; }
    eps_v[eps_v_idx(dims, step.parity, m, b, c)] = dims.a_v * old + pre;
}
