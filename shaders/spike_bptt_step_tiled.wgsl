// spike_bptt_step_tiled.wgsl — one reverse step t of the adjoint recurrence, as spike_bptt_step.wgsl
// computes it (SPEC §4; psi for dz/dv, no gradient through the reset):
//   dz[t] = S gy[t] + dreg + (1-rho) da[t+1] + [not cut_next] w_rec^T dv[t+1]
//   dv[t] = psi[t] dz[t] + a_v dv[t+1]        da[t] = -beta psi[t] dz[t] + rho da[t+1]
// with S = w_out^T, or the feedback matrix (eprop-random, readout-fa). da is kept per neuron in place.
// Tiled: a workgroup computes 64 units i × 8 trials, the product w_rec^T dv[t+1] through workgroup
// memory (tile_backward.wgsl, appended: each weight read serves 8 trials); the rest is
// spike_adjoint.wgsl (appended).
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 feedback (read) | 4 gy (read) | 5 psi (read) | 6 dreg (read) | 7 dv (read_write)
//           8 da (read_write)
// Dispatch: x = ceil(N / 64), y = ceil(B / 8), z = M; steps T-1 … 0, all in one pass.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> feedback: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read> psi: array<f32>;
@group(0) @binding(6) var<storage, read> dreg: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;
@group(0) @binding(8) var<storage, read_write> da: array<f32>;

fn tile_w(m: u32, k: u32, u: u32) -> f32 { return params[m * dims.p_len + dims.off_w_rec + k * dims.n + u]; }
fn tile_s(m: u32, b: u32, k: u32) -> f32 { return dv[traj_idx(dims, m, step.t + 1u, b, k)]; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i0 = wg.x * TU; let b0 = wg.y * TB; let m = wg.z;
    let i = i0 + lid;
    let t = step.t;
    var acc: array<f32, 8>;
    if (t + 1u < dims.t && step.cut_next == 0u) { acc = tile_backward(m, i0, b0, lid); }   // uniform
    if (i >= dims.n) { return; }
    for (var r = 0u; r < TB; r++) {
        if (b0 + r >= dims.b) { break; }
        adjoint_update(m, t, b0 + r, i, acc[r]);
    }
}
