// rate_step.wgsl — one forward step t of every network and trial (SPEC §1):
//   ah[t] = ah[t-1] + alpha * (-ah[t-1] + w_eff @ h[t-1] + w_in @ x[t] + b_in),   h[t] = f(ah[t])
// reading state slot t, writing slot t+1. Two kernels: rate_step (one thread per unit and trial
// sums its row of w_eff: shared/step_simple.wgsl) and rate_step_tiled (64 units × 8 trials per
// workgroup through workgroup memory: shared/tile.wgsl, tile_forward.wgsl, step_tiled.wgsl).
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::forward)
// CPU twin: src/reference/rate.rs::forward_with
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 w_eff (read) | 4 x (read) | 5 ah (read_write) | 6 h (read_write)
// Dispatch: x = ceil(N / 64), y = B (simple) or ceil(B / 8) (tiled), z = M; once per step, all
// steps in one pass.

// The recurrent input of unit u: sum_k rec_weight(u, k) rec_source(b, k) = (w_eff h[t-1])_u.
fn rec_weight(m: u32, u: u32, k: u32) -> f32 { return w_eff[(m * dims.n + u) * dims.n + k]; }
fn rec_source(m: u32, b: u32, k: u32) -> f32 { return h[state_idx(dims, m, step.t, b, k)]; }
fn rec_active() -> bool { return true; }

// The rest of the step for unit j of trial b, given its recurrent input rec.
fn step_unit(m: u32, b: u32, j: u32, rec: f32) {
    let t = step.t;
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
