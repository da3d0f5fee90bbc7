// rate_delta.wgsl — the per-unit part of a reverse step, shared by rate_bptt_step and
// rate_bptt_step_tiled (appended to both; not a kernel itself). For unit j of trial b at step t,
// given rec = (w_eff^T delta[t+1])_j (0 when the step's recurrent input is cut):
//   g[t]     = S^T dy[t] + (2 lambda / (T B_total N)) h[t] + alpha * rec
//   delta[t] = g[t] * f'(ah[t]) + (1 - alpha) * delta[t+1]
// with S = w_out (exact) or the fixed feedback (eprop-random, readout-fa); slot T of delta is zero.

fn signal_w(m: u32, k: u32, j: u32) -> f32 {
    if (dims.use_feedback != 0u) { return feedback_t[(m * dims.n_out + k) * dims.n + j]; }
    return params[m * dims.p_len + dims.off_w_out + k * dims.n + j];
}

fn delta_update(m: u32, t: u32, b: u32, j: u32, rec: f32) {
    let yb = ((m * dims.t + t) * dims.b + b) * dims.n_out;
    var g = 0.0;
    for (var k = 0u; k < dims.n_out; k++) { g += signal_w(m, k, j) * dy[yb + k]; }
    let s = state_idx(dims, m, t + 1u, b, j);
    let reg = 2.0 * nets[m].lambda / f32(dims.t * dims.b_total * dims.n);
    g += reg * h[s] + dims.alpha * rec;
    delta[state_idx(dims, m, t, b, j)] = g * act_df(dims.act, ah[s]) + (1.0 - dims.alpha) * delta[s];
}
