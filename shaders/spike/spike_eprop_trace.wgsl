// spike_eprop_trace.wgsl — online e-prop, step t: per-synapse eligibility traces and gradient (SPEC §4),
// for postsynaptic j and presynaptic c (c < N: w_rec[j, c]; c >= N: w_in[j, c - N]), every trial b:
//   eps_a[t] = (1-rho) psi[t-1]_j eps_v[t-1]_c + (rho - (1-rho) psi[t-1]_j beta) eps_a[t-1]   (alif)
//   e[t]     = psi[t]_j (eps_v[t]_c - beta eps_a[t]),      ebar[t] = kappa ebar[t-1] + e[t]
//   grad[j, c] += sum_b Lout[t]_j ebar[t],   Lout[t]_j = sum_k S[j, k] dy[t]_k
//   esum[j, c] += sum_b e[t]   (the regulariser's term dreg_j esum is added at the end, by
//                               spike_online_reg_grad.wgsl: dreg depends on the whole trial's rates)
// Traces eps_a, ebar are [M, B, N, N + n_in], esum [M, N, N + n_in]: memory independent of T.
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::gradient, online e-prop)
// CPU twin: src/reference/spiking.rs::grad_eprop_online
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 feedback (read) | 4 dy (read) | 5 psi (read) | 6 esum (read_write) | 7 eps_v (read)
//           8 eps_a (read_write) | 9 ebar (read_write) | 10 grads (read_write)
// Dispatch: x = ceil((N + n_in) / 64), y = N, z = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x; let j = gid.y; let m = gid.z;
    let cn = dims.n + dims.n_in;
    if (c >= cn || j >= dims.n || m >= dims.m) { return; }
    let t = step.t;
    let pb = m * dims.p_len;
    var acc = 0.0;
    var es = 0.0;
    for (var b = 0u; b < dims.b; b++) {
        let ev = eps_v[eps_v_idx(dims, step.parity, m, b, c)];
        let si = ((m * dims.b + b) * dims.n + j) * cn + c;
        var ea = 0.0;
        if (dims.alif != 0u) {
            if (t > 0u) {
                let pp = psi[traj_idx(dims, m, t - 1u, b, j)];
                let ev_old = eps_v[eps_v_idx(dims, 1u - step.parity, m, b, c)];
                ea = (1.0 - dims.rho) * pp * ev_old + (dims.rho - (1.0 - dims.rho) * pp * dims.beta) * eps_a[si];
            }
            eps_a[si] = ea;   // 0 at t = 0: nothing carries over from the previous batch
        }
        let e = psi[traj_idx(dims, m, t, b, j)] * (ev - dims.beta * ea);
        var eb = e;
        if (t > 0u) { eb += dims.kappa * ebar[si]; }
        ebar[si] = eb;
        var lout = 0.0;
        let yb = out_idx(dims, m, t, b, 0u);
        for (var k = 0u; k < dims.n_out; k++) {
            var s = params[pb + dims.off_w_out + k * dims.n + j];
            if (dims.use_feedback != 0u) { s = feedback[(m * dims.n + j) * dims.n_out + k]; }
            lout += s * dy[yb + k];
        }
        acc += lout * eb;
        es += e;
    }
    let ei = (m * dims.n + j) * cn + c;
    if (t == 0u) { esum[ei] = es; } else { esum[ei] += es; }
    grads[synapse_idx(dims, m, j, c)] += acc;
}
