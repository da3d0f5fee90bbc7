// spike_bptt_step.wgsl — one reverse step t of the adjoint recurrence (SPEC §4; psi for dz/dv,
// no gradient through the reset), for BPTT and every cut graph (e-prop's factorised form cuts
// every step, tbptt:K some):
//   dz[t] = S gy[t] + dreg + (1-rho) da[t+1] + [not cut_next] w_rec^T dv[t+1]
//   dv[t] = psi[t] dz[t] + a_v dv[t+1]        da[t] = -beta psi[t] dz[t] + rho da[t+1]
// with S = w_out^T, or the feedback matrix (eprop-random, readout-fa). da is kept per neuron in
// place. Two kernels: spike_bptt_step (one thread per neuron and trial sums its column of w_rec:
// shared/step_simple.wgsl) and spike_bptt_step_tiled (64 neurons × 8 trials per workgroup:
// shared/tile.wgsl, tile_backward.wgsl, step_tiled.wgsl).
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::gradient)
// CPU twin: src/reference/spiking.rs::grad_backward
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 feedback (read) | 4 gy (read) | 5 psi (read) | 6 dreg (read) | 7 dv (read_write)
//           8 da (read_write)
// Dispatch: x = ceil(N / 64), y = B (simple) or ceil(B / 8) (tiled), z = M; steps T-1 … 0, all
// in one pass.

// The recurrent input of neuron u: (w_rec^T dv[t+1])_u, none at t = T-1 or when cut.
fn rec_weight(m: u32, u: u32, k: u32) -> f32 { return params[m * dims.p_len + dims.off_w_rec + k * dims.n + u]; }
fn rec_source(m: u32, b: u32, k: u32) -> f32 { return dv[traj_idx(dims, m, step.t + 1u, b, k)]; }
fn rec_active() -> bool { return step.t + 1u < dims.t && step.cut_next == 0u; }

// The rest of the step for neuron i of trial b, given rec (0 when inactive).
fn step_unit(m: u32, b: u32, i: u32, rec: f32) {
    let t = step.t;
    let pb = m * dims.p_len;
    var dz = dreg[m * dims.n + i];
    let yb = out_idx(dims, m, t, b, 0u);
    for (var k = 0u; k < dims.n_out; k++) {
        var s = params[pb + dims.off_w_out + k * dims.n + i];
        if (dims.use_feedback != 0u) { s = feedback[(m * dims.n + i) * dims.n_out + k]; }
        dz += s * gy[yb + k];
    }
    let si = (m * dims.b + b) * dims.n + i;
    var da_next = 0.0; var dv_next = 0.0;
    if (t + 1u < dims.t) {
        da_next = da[si];
        dv_next = dv[traj_idx(dims, m, t + 1u, b, i)];
        dz += (1.0 - dims.rho) * da_next + rec;
    }
    let p = psi[traj_idx(dims, m, t, b, i)];
    dv[traj_idx(dims, m, t, b, i)] = p * dz + dims.a_v * dv_next;
    da[si] = -dims.beta * p * dz + dims.rho * da_next;
}
