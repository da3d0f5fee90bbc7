// eprop_accum.wgsl — online e-prop, step t: accumulate this step's eligibility × learning signal:
//   c <  N        : g_w_rec[j, c]      += sum_b post[b, j] eps_h[b, c]
//   c <  N + n_in : g_w_in[j, c - N]   += sum_b post[b, j] eps_x[b, c - N]
//   c == N + n_in : g_b_in[j]          += eps_b(t) sum_b post[b, j]        eps_b(t) = 1 - (1-alpha)^(t+1)
//   c == N+n_in+1 : g_ah0[j]           += (1-alpha)^(t+1) sum_b post[b, j]  (leak path only)
// (g_w_rec is w.r.t. the effective weight; rec_grad_chain.wgsl maps it to the parameter.)
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::gradient, online e-prop)
// CPU twin: src/reference/rate.rs::grad_eprop_traces
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 post (read)
//           3 eps_h (read) | 4 eps_x (read) | 5 grads (read_write)
// Dispatch: x = ceil((N + n_in + 2) / 64), y = N, z = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x; let j = gid.y; let m = gid.z;
    let n = dims.n; let ni = dims.n_in;
    if (c >= n + ni + 2u || j >= n || m >= dims.m) { return; }
    var acc = 0.0;
    for (var b = 0u; b < dims.b; b++) {
        let pj = post[(m * dims.b + b) * n + j];
        var pre = 1.0;
        if (c < n) { pre = eps_h[(m * dims.b + b) * n + c]; }
        else if (c < n + ni) { pre = eps_x[(m * dims.b + b) * ni + (c - n)]; }
        acc += pj * pre;
    }
    let pb = m * dims.p_len;
    if (c < n) { grads[pb + dims.off_w_rec + j * n + c] += acc; }
    else if (c < n + ni) { grads[pb + dims.off_w_in + j * ni + (c - n)] += acc; }
    else if (c == n + ni) { grads[pb + dims.off_b_in + j] += step.eps_b * acc; }
    else { grads[pb + dims.off_ah0 + j] += step.decay * acc; }
}
