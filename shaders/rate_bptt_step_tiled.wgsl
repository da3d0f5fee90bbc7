// rate_bptt_step_tiled.wgsl — one reverse step t of the backward recurrence over delta[t] = dE/dah[t]:
//   g[t]     = S^T dy[t] + (2 lambda / (T B_total N)) h[t] + (cut_next ? 0 : alpha * w_eff^T delta[t+1])
//   delta[t] = g[t] * f'(ah[t]) + (1 - alpha) * delta[t+1]
// S = w_out (exact) or the fixed feedback (eprop-random, readout-fa). With every step cut this is
// e-prop in its stop-gradient form; slot T of delta is zero.
// Tiled: a workgroup computes 64 units j × 8 trials, the product w_eff^T delta[t+1] through
// workgroup memory (tile_backward.wgsl, appended: each weight read serves 8 trials); the rest is
// rate_delta.wgsl (appended).
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 w_eff (read) | 4 feedback_t (read) | 5 dy (read) | 6 ah (read) | 7 h (read)
//           8 nets (read) | 9 delta (read_write)
// Dispatch: x = ceil(N / 64), y = ceil(B / 8), z = M; steps T-1 … 0 in one pass.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> w_eff: array<f32>;
@group(0) @binding(4) var<storage, read> feedback_t: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> ah: array<f32>;
@group(0) @binding(7) var<storage, read> h: array<f32>;
@group(0) @binding(8) var<storage, read> nets: array<NetParams>;
@group(0) @binding(9) var<storage, read_write> delta: array<f32>;

fn tile_w(m: u32, k: u32, u: u32) -> f32 { return w_eff[(m * dims.n + k) * dims.n + u]; }
fn tile_s(m: u32, b: u32, k: u32) -> f32 { return delta[state_idx(dims, m, step.t + 1u, b, k)]; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = dims.n;
    let j0 = wg.x * TU; let b0 = wg.y * TB; let m = wg.z;
    let j = j0 + lid;
    let t = step.t;
    var acc: array<f32, 8>;
    if (step.cut_next == 0u) { acc = tile_backward(m, j0, b0, lid); }   // uniform: the whole dispatch
    if (j >= n) { return; }
    for (var r = 0u; r < TB; r++) {
        if (b0 + r >= dims.b) { break; }
        delta_update(m, t, b0 + r, j, acc[r]);
    }
}
