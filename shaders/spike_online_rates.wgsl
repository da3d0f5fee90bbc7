// spike_online_rates.wgsl — online e-prop, end of the trial: firing rates from the running spike
// counts, and the regulariser's gradient dE_reg/dz (SPEC §3):
//   rate[m, j] = sum_b zsum[m, b, j] / (T B),   dreg[m, j] = lambda * 2 (rate - target) / (N T B)
// Bindings: 0 dims (uniform Dims) | 1 zsum (read) | 2 nets (read) | 3 rate (read_write) | 4 dreg (read_write)
// Dispatch: x = ceil(N / 64), y = M.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> zsum: array<f32>;
@group(0) @binding(2) var<storage, read> nets: array<NetParams>;
@group(0) @binding(3) var<storage, read_write> rate: array<f32>;
@group(0) @binding(4) var<storage, read_write> dreg: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let m = gid.y;
    if (j >= dims.n || m >= dims.m) { return; }
    var s = 0.0;
    for (var b = 0u; b < dims.b; b++) { s += zsum[(m * dims.b + b) * dims.n + j]; }
    set_rate(m, j, s);
}
