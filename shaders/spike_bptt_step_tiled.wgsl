// spike_bptt_step_tiled.wgsl — one reverse step t of the adjoint recurrence, as spike_bptt_step.wgsl
// computes it (SPEC §4; psi for dz/dv, no gradient through the reset):
//   dz[t] = S gy[t] + dreg + (1-rho) da[t+1] + [not cut_next] w_rec^T dv[t+1]
//   dv[t] = psi[t] dz[t] + a_v dv[t+1]        da[t] = -beta psi[t] dz[t] + rho da[t+1]
// with S = w_out^T, or the feedback matrix (eprop-random, readout-fa). da is kept per neuron in place.
// Tiled like rate_bptt_step_tiled.wgsl: a workgroup computes 64 units i × 8 trials; w_rec[j0..j0+32,
// i0..i0+64] (coalesced: consecutive threads, consecutive i) and dv[t+1][b0..b0+8, j0..j0+32] go
// through workgroup memory, so each weight read serves 8 trials.
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

const TI: u32 = 64u;   // units per workgroup (one per thread)
const TB: u32 = 8u;    // trials per workgroup (held in registers)
const TJ: u32 = 32u;   // postsynaptic units per chunk

var<workgroup> w_tile: array<f32, 2048>;   // [TJ][TI]
var<workgroup> d_tile: array<f32, 256>;    // [TB][TJ]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = dims.n;
    let i0 = wg.x * TI; let b0 = wg.y * TB; let m = wg.z;
    let i = i0 + lid;
    let t = step.t;
    let pb = m * dims.p_len;
    let has_next = t + 1u < dims.t;
    var acc: array<f32, 8>;
    for (var r = 0u; r < TB; r++) { acc[r] = 0.0; }
    if (has_next && step.cut_next == 0u) {   // uniform: the same for the whole dispatch
        let c = lid % TJ;
        let r0 = lid / TJ;
        for (var j0 = 0u; j0 < n; j0 += TJ) {
            for (var jj = 0u; jj < TJ; jj++) {
                var w = 0.0;
                if (j0 + jj < n && i < n) { w = params[pb + dims.off_w_rec + (j0 + jj) * n + i]; }
                w_tile[jj * TI + lid] = w;
            }
            for (var k = 0u; k < TB / 2u; k++) {
                let r = r0 + 2u * k;
                var d = 0.0;
                if (b0 + r < dims.b && j0 + c < n) { d = dv[traj_idx(dims, m, t + 1u, b0 + r, j0 + c)]; }
                d_tile[r * TJ + c] = d;
            }
            workgroupBarrier();
            for (var jj = 0u; jj < TJ; jj++) {
                let w = w_tile[jj * TI + lid];
                for (var r = 0u; r < TB; r++) { acc[r] += w * d_tile[r * TJ + jj]; }
            }
            workgroupBarrier();
        }
    }
    if (i >= n) { return; }
    for (var r = 0u; r < TB; r++) {
        let b = b0 + r;
        if (b >= dims.b) { break; }
        var dz = dreg[m * n + i];
        let yb = out_idx(dims, m, t, b, 0u);
        for (var k = 0u; k < dims.n_out; k++) {
            var s = params[pb + dims.off_w_out + k * n + i];
            if (dims.use_feedback != 0u) { s = feedback[(m * n + i) * dims.n_out + k]; }
            dz += s * gy[yb + k];
        }
        let si = (m * dims.b + b) * n + i;
        var da_next = 0.0; var dv_next = 0.0;
        if (has_next) {
            da_next = da[si];
            dv_next = dv[traj_idx(dims, m, t + 1u, b, i)];
            dz += (1.0 - dims.rho) * da_next + acc[r];
        }
        let p = psi[traj_idx(dims, m, t, b, i)];
        dv[traj_idx(dims, m, t, b, i)] = p * dz + dims.a_v * dv_next;
        da[si] = -dims.beta * p * dz + dims.rho * da_next;
    }
}
