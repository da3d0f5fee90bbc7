// rate_step.wgsl — one forward step t of every network and trial (SPEC §1):
//   ah[t] = ah[t-1] + alpha * (-ah[t-1] + w_eff @ h[t-1] + w_in @ x[t] + b_in),   h[t] = f(ah[t])
// reading state slot t, writing slot t+1. One thread per unit and trial sums its row of w_eff;
// the rest is rate_update.wgsl (appended).
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 w_eff (read) | 4 x (read) | 5 ah (read_write) | 6 h (read_write)
// Dispatch: x = ceil(N / 64), y = B, z = M; once per step, all steps in one pass.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> w_eff: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> ah: array<f32>;
@group(0) @binding(6) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let b = gid.y; let m = gid.z;
    if (j >= dims.n || b >= dims.b || m >= dims.m) { return; }
    let hb = state_idx(dims, m, step.t, b, 0u);
    let wr = (m * dims.n + j) * dims.n;
    var rec = 0.0;
    for (var i = 0u; i < dims.n; i++) { rec += w_eff[wr + i] * h[hb + i]; }
    rate_update(m, step.t, b, j, rec);
}
