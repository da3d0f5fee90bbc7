// rate_step_tiled.wgsl — one forward step t of every network and trial (SPEC §1):
//   ah[t] = ah[t-1] + alpha * (-ah[t-1] + w_eff @ h[t-1] + w_in @ x[t] + b_in),   h[t] = f(ah[t])
// reading state slot t, writing slot t+1.
// Tiled: a workgroup computes 64 units j × 8 trials b of one network, the recurrent product
// w_eff @ h[t] through workgroup memory (tile_forward.wgsl, appended: every weight read from
// memory serves 8 trials, every h value 64 units); the rest is rate_update.wgsl (appended).
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 w_eff (read) | 4 x (read) | 5 ah (read_write) | 6 h (read_write)
// Dispatch: x = ceil(N / 64), y = ceil(B / 8), z = M; once per step, all steps in one pass.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> w_eff: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> ah: array<f32>;
@group(0) @binding(6) var<storage, read_write> h: array<f32>;

fn tile_w(m: u32, u: u32, k: u32) -> f32 { return w_eff[(m * dims.n + u) * dims.n + k]; }
fn tile_s(m: u32, b: u32, k: u32) -> f32 { return h[state_idx(dims, m, step.t, b, k)]; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = dims.n;
    let j0 = wg.x * TU; let b0 = wg.y * TB; let m = wg.z;
    let j = j0 + lid;
    let t = step.t;
    var acc = tile_forward(m, j0, b0, lid);
    if (j >= n) { return; }
    for (var r = 0u; r < TB; r++) {
        if (b0 + r >= dims.b) { break; }
        rate_update(m, t, b0 + r, j, acc[r]);
    }
}
