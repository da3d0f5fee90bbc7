// spike_online_reg_grad.wgsl — online e-prop, end of the trial: the regulariser's part of the
// weight gradients, sum_t dreg_j e[t][j, c] = dreg_j esum[j, c] (dreg is the same at every step):
//   grad[j, c] += dreg[m, j] * esum[m, j, c]     (c < N: w_rec[j, c]; c >= N: w_in[j, c - N])
// Bindings: 0 dims (uniform Dims) | 1 dreg (read) | 2 esum (read) | 3 grads (read_write)
// Dispatch: x = ceil((N + n_in) / 64), y = N, z = M.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> dreg: array<f32>;
@group(0) @binding(2) var<storage, read> esum: array<f32>;
@group(0) @binding(3) var<storage, read_write> grads: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x; let j = gid.y; let m = gid.z;
    let cn = dims.n + dims.n_in;
    if (c >= cn || j >= dims.n || m >= dims.m) { return; }
    var at = m * dims.p_len + dims.off_w_rec + j * dims.n + c;
    if (c >= dims.n) { at = m * dims.p_len + dims.off_w_in + j * dims.n_in + (c - dims.n); }
    grads[at] += dreg[m * dims.n + j] * esum[(m * dims.n + j) * cn + c];
}
