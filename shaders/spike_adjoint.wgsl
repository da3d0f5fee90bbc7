// spike_adjoint.wgsl — the per-neuron part of a reverse step, shared by spike_bptt_step and
// spike_bptt_step_tiled (appended to both; not a kernel itself). For neuron i of trial b at step
// t, given rec = (w_rec^T dv[t+1])_i (0 when the step's recurrent input is cut or t = T-1):
//   dz[t] = S gy[t] + dreg + (1-rho) da[t+1] + rec
//   dv[t] = psi[t] dz[t] + a_v dv[t+1]        da[t] = -beta psi[t] dz[t] + rho da[t+1]
// with S = w_out^T, or the feedback matrix (eprop-random, readout-fa). da is kept per neuron in place.

fn adjoint_update(m: u32, t: u32, b: u32, i: u32, rec: f32) {
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
