// rate_bptt_step.wgsl — one reverse step t of the backward recurrence over delta[t] = dE/dah[t]:
//   g[t]     = S^T dy[t] + (2 lambda / (T B_total N)) h[t] + (cut_next ? 0 : alpha * w_eff^T delta[t+1])
//   delta[t] = g[t] * f'(ah[t]) + (1 - alpha) * delta[t+1]
// S = w_out (exact) or the fixed feedback (eprop-random, readout-fa). With every step cut this is
// e-prop in its stop-gradient form; slot T of delta is zero. One thread per unit and trial sums
// its column of w_eff; the rest is rate_delta.wgsl (appended).
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 w_eff (read) | 4 feedback_t (read) | 5 dy (read) | 6 ah (read) | 7 h (read)
//           8 nets (read) | 9 delta (read_write)
// Dispatch: x = ceil(N / 64), y = B, z = M; steps T-1 … 0 in one pass.

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

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let b = gid.y; let m = gid.z;
    if (j >= dims.n || b >= dims.b || m >= dims.m) { return; }
    var rec = 0.0;
    if (step.cut_next == 0u) {
        let next = state_idx(dims, m, step.t + 1u, b, 0u);   // delta slot t+1 (indexed like the state)
        for (var i = 0u; i < dims.n; i++) { rec += w_eff[(m * dims.n + i) * dims.n + j] * delta[next + i]; }
    }
    delta_update(m, step.t, b, j, rec);
}
