// eprop_trace.wgsl — online e-prop, step t (SPEC §4): presynaptic eligibility traces and the
// postsynaptic factor, for every network and trial:
//   eps_h[i] = (1-alpha) eps_h[i] + alpha h[t-1]_i        eps_x[i] = (1-alpha) eps_x[i] + alpha x[t]_i
//   post[j]  = L[t]_j f'(ah[t]_j),   L[t] = S^T dy[t] + (2 lambda / (T B_total N)) h[t]
// so that e[t][j, i] = f'(ah[t]_j) eps[t]_i and grad w[j, i] += sum_b post[j] eps[i] (eprop_accum.wgsl).
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::gradient, online e-prop)
// CPU twin: src/reference/rate.rs::grad_eprop_traces
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 feedback_t (read) | 4 dy (read) | 5 ah (read) | 6 h (read) | 7 x (read) | 8 nets (read NetParams)
//           9 eps_h (read_write) [M, B, N] | 10 eps_x (read_write) [M, B, n_in] | 11 post (read_write) [M, B, N]
// Dispatch: x = ceil(max(N, n_in) / 64), y = B, z = M.

fn signal_w(m: u32, k: u32, j: u32) -> f32 {
    if (dims.use_feedback != 0u) { return feedback_t[(m * dims.n_out + k) * dims.n + j]; }
    return params[m * dims.p_len + dims.off_w_out + k * dims.n + j];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = gid.x; let b = gid.y; let m = gid.z;
    if (b >= dims.b || m >= dims.m) { return; }
    let t = step.t;
    let leak = 1.0 - dims.alpha;
    if (n < dims.n) {
        let e = (m * dims.b + b) * dims.n + n;
        eps_h[e] = leak * eps_h[e] + dims.alpha * h[state_idx(dims, m, t, b, n)];
        let yb = ((m * dims.t + t) * dims.b + b) * dims.n_out;
        var l = 0.0;
        for (var k = 0u; k < dims.n_out; k++) { l += signal_w(m, k, n) * dy[yb + k]; }
        let s = state_idx(dims, m, t + 1u, b, n);
        l += 2.0 * nets[m].lambda / f32(dims.t * dims.b_total * dims.n) * h[s];
        post[e] = l * act_df(dims.act, ah[s]);
    }
    if (n < dims.n_in) {
        let e = (m * dims.b + b) * dims.n_in + n;
        eps_x[e] = leak * eps_x[e] + dims.alpha * x[((m * dims.t + t) * dims.b + b) * dims.n_in + n];
    }
}
