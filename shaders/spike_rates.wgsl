// spike_rates.wgsl — firing rates and the regulariser's gradient (SPEC §3):
//   rate[m, j] = mean_{t,b} z[t, b, j]
//   dreg[m, j] = lambda * 2 (rate - target) / (N T B)    (= dE_reg/dz[t, b, j] at every t, b)
// Bindings: 0 dims (uniform Dims) | 1 z (read) | 2 nets (read) | 3 rate (read_write) | 4 dreg (read_write)
// Dispatch: x = ceil(N / 64), y = M.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> nets: array<NetParams>;
@group(0) @binding(3) var<storage, read_write> rate: array<f32>;
@group(0) @binding(4) var<storage, read_write> dreg: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let m = gid.y;
    if (j >= dims.n || m >= dims.m) { return; }
    var s = 0.0;
    for (var tb = 0u; tb < dims.t * dims.b; tb++) { s += z[(m * dims.t * dims.b + tb) * dims.n + j]; }
    set_rate(m, j, s);
}
