// rate_update.wgsl — the per-unit part of a forward step, shared by rate_step and rate_step_tiled
// (appended to both; not a kernel itself). For unit j of trial b at step t, given its recurrent
// input rec = (w_eff h[t-1])_j, reading state slot t and writing slot t+1:
//   ah[t] = ah[t-1] + alpha * (-ah[t-1] + rec + w_in @ x[t] + b_in),   h[t] = f(ah[t])

fn rate_update(m: u32, t: u32, b: u32, j: u32, rec: f32) {
    let pb = m * dims.p_len;
    var drive = params[pb + dims.off_b_in + j] + rec;
    let xb = ((m * dims.t + t) * dims.b + b) * dims.n_in;
    let wi = pb + dims.off_w_in + j * dims.n_in;
    for (var i = 0u; i < dims.n_in; i++) { drive += params[wi + i] * x[xb + i]; }
    let prev = ah[state_idx(dims, m, t, b, j)];
    let a = prev + dims.alpha * (drive - prev);
    let at = state_idx(dims, m, t + 1u, b, j);
    ah[at] = a;
    h[at] = act_f(dims.act, a);
}
