// spike_online_reg_grad.wgsl — online e-prop, end of the trial: the regulariser's part of the
// weight gradients, sum_t dreg_j e[t][j, c] = dreg_j esum[j, c] (dreg is the same at every step):
//   grad[j, c] += dreg[m, j] * esum[m, j, c]     (c < N: w_rec[j, c]; c >= N: w_in[j, c - N])
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::gradient, online e-prop)
// CPU twin: src/reference/spiking.rs::grad_eprop_online
// Bindings: 0 dims (uniform Dims) | 1 dreg (read) | 2 esum (read) | 3 grads (read_write)
// Dispatch: x = ceil((N + n_in) / 64), y = N, z = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x; let j = gid.y; let m = gid.z;
    let cn = dims.n + dims.n_in;
    if (c >= cn || j >= dims.n || m >= dims.m) { return; }
    grads[synapse_idx(dims, m, j, c)] += dreg[m * dims.n + j] * esum[(m * dims.n + j) * cn + c];
}
