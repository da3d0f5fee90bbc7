// spike_bptt_step.wgsl — one reverse step t of the adjoint recurrence (SPEC §4; psi for dz/dv,
// no gradient through the reset), for BPTT and every cut graph (e-prop's factorised form cuts
// every step, tbptt:K some):
//   dz[t] = S gy[t] + dreg + (1-rho) da[t+1] + [not cut_next] w_rec^T dv[t+1]
//   dv[t] = psi[t] dz[t] + a_v dv[t+1]        da[t] = -beta psi[t] dz[t] + rho da[t+1]
// with S = w_out^T, or the feedback matrix (eprop-random, readout-fa). da is kept per neuron in place.
// One thread per neuron and trial sums its column of w_rec; the rest is spike_adjoint.wgsl (appended).
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 feedback (read) | 4 gy (read) | 5 psi (read) | 6 dreg (read) | 7 dv (read_write)
//           8 da (read_write)
// Dispatch: x = ceil(N / 64), y = B, z = M; steps T-1 … 0, all in one pass.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> feedback: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read> psi: array<f32>;
@group(0) @binding(6) var<storage, read> dreg: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;
@group(0) @binding(8) var<storage, read_write> da: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x; let b = gid.y; let m = gid.z;
    if (i >= dims.n || b >= dims.b || m >= dims.m) { return; }
    let t = step.t;
    var rec = 0.0;
    if (t + 1u < dims.t && step.cut_next == 0u) {
        let nb = traj_idx(dims, m, t + 1u, b, 0u);
        let wr = m * dims.p_len + dims.off_w_rec + i;
        for (var j = 0u; j < dims.n; j++) { rec += params[wr + j * dims.n] * dv[nb + j]; }
    }
    adjoint_update(m, t, b, i, rec);
}
