// ah0_grad.wgsl — gradient of the learned initial state ah0 (ah[-1] = ah0, h[-1] = f(ah0)):
//   g[j] = (1 - alpha) sum_b delta[0]_bj + (cut_self ? 0 : alpha f'(ah0_j) sum_b sum_i w_eff[i, j] delta[0]_bi)
// (added to grads when dims.accumulate) with the step-0 entry of the step table (cut_self = recurrent input of step 0 cut).
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::gradient)
// CPU twin: src/reference/rate.rs::grad_backward_with
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 w_eff (read) | 4 delta (read) | 5 grads (read_write)
// Dispatch: x = ceil(N / 64), y = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let m = gid.y;
    if (j >= dims.n || m >= dims.m) { return; }
    var leak = 0.0; var rec = 0.0;
    for (var b = 0u; b < dims.b; b++) {
        let d0 = state_idx(dims, m, 0u, b, 0u);
        leak += delta[d0 + j];
        if (step.cut_self == 0u) {
            for (var i = 0u; i < dims.n; i++) { rec += w_eff[(m * dims.n + i) * dims.n + j] * delta[d0 + i]; }
        }
    }
    let pb = m * dims.p_len;
    let a0 = params[pb + dims.off_ah0 + j];
    let g = (1.0 - dims.alpha) * leak + dims.alpha * act_df(dims.act, a0) * rec;
    let at = pb + dims.off_ah0 + j;
    if (dims.accumulate != 0u) { grads[at] += g; } else { grads[at] = g; }
}
