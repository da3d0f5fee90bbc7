// rate_bptt_step.wgsl — one reverse step t of the backward recurrence over delta[t] = dE/dah[t]:
//   g[t]     = S^T dy[t] + (2 lambda / (T B_total N)) h[t] + (cut_next ? 0 : alpha * w_eff^T delta[t+1])
//   delta[t] = g[t] * f'(ah[t]) + (1 - alpha) * delta[t+1]
// S = w_out (exact) or the fixed feedback (eprop-random, readout-fa). With every step cut this is
// e-prop in its stop-gradient form; slot T of delta is zero. Two kernels: rate_bptt_step (one
// thread per unit and trial sums its column of w_eff: shared/step_simple.wgsl) and
// rate_bptt_step_tiled (64 units × 8 trials per workgroup: shared/tile.wgsl, tile_backward.wgsl,
// step_tiled.wgsl).
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::gradient)
// CPU twin: src/reference/rate.rs::grad_backward_with
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 w_eff (read) | 4 feedback_t (read) | 5 dy (read) | 6 ah (read) | 7 h (read)
//           8 nets (read NetParams) | 9 delta (read_write)
// Dispatch: x = ceil(N / 64), y = B (simple) or ceil(B / 8) (tiled), z = M; steps T-1 … 0 in
// one pass.

// The recurrent input of unit u: (w_eff^T delta[t+1])_u (delta slot t+1, indexed like the state).
fn rec_weight(m: u32, u: u32, k: u32) -> f32 { return w_eff[(m * dims.n + k) * dims.n + u]; }
fn rec_source(m: u32, b: u32, k: u32) -> f32 { return delta[state_idx(dims, m, step.t + 1u, b, k)]; }
fn rec_active() -> bool { return step.cut_next == 0u; }

fn signal_w(m: u32, k: u32, j: u32) -> f32 {
    if (dims.use_feedback != 0u) { return feedback_t[(m * dims.n_out + k) * dims.n + j]; }
    return params[m * dims.p_len + dims.off_w_out + k * dims.n + j];
}

// The rest of the step for unit j of trial b, given rec (0 when the step's recurrent input is cut).
fn step_unit(m: u32, b: u32, j: u32, rec: f32) {
    let t = step.t;
    let yb = ((m * dims.t + t) * dims.b + b) * dims.n_out;
    var g = 0.0;
    for (var k = 0u; k < dims.n_out; k++) { g += signal_w(m, k, j) * dy[yb + k]; }
    let s = state_idx(dims, m, t + 1u, b, j);
    let reg = 2.0 * nets[m].lambda / f32(dims.t * dims.b_total * dims.n);
    g += reg * h[s] + dims.alpha * rec;
    delta[state_idx(dims, m, t, b, j)] = g * act_df(dims.act, ah[s]) + (1.0 - dims.alpha) * delta[s];
}
