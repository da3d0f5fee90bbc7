// spike_eprop_trace.wgsl — online e-prop, step t: per-synapse eligibility traces and gradient (SPEC §4),
// for postsynaptic j and presynaptic c (c < N: w_rec[j, c]; c >= N: w_in[j, c - N]), every trial b:
//   eps_a[t] = (1-rho) psi[t-1]_j eps_v[t-1]_c + (rho - (1-rho) psi[t-1]_j beta) eps_a[t-1]   (alif)
//   e[t]     = psi[t]_j (eps_v[t]_c - beta eps_a[t]),      ebar[t] = kappa ebar[t-1] + e[t]
//   grad[j, c] += sum_b Lout[t]_j ebar[t],   Lout[t]_j = sum_k S[j, k] dy[t]_k
//   esum[j, c] += sum_b e[t]   (the regulariser's term dreg_j esum is added at the end, by
//                               spike_online_finish.wgsl: dreg depends on the whole trial's rates)
// Traces eps_a, ebar are [M, B, N, N + n_in], esum [M, N, N + n_in]: memory independent of T.
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 feedback (read) | 4 dy (read) | 5 psi (read) | 6 esum (read_write) | 7 eps_v (read)
//           8 eps_a (read_write) | 9 ebar (read_write) | 10 grads (read_write)
// Dispatch: x = ceil((N + n_in) / 64), y = N, z = M.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> feedback: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> psi: array<f32>;
@group(0) @binding(6) var<storage, read_write> esum: array<f32>;
@group(0) @binding(7) var<storage, read> eps_v: array<f32>;
@group(0) @binding(8) var<storage, read_write> eps_a: array<f32>;
@group(0) @binding(9) var<storage, read_write> ebar: array<f32>;
@group(0) @binding(10) var<storage, read_write> grads: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x; let j = gid.y; let m = gid.z;
    let cn = dims.n + dims.n_in;
    if (c >= cn || j >= dims.n || m >= dims.m) { return; }
    let t = step.t;
    let pb = m * dims.p_len;
    let slot = dims.m * dims.b * cn;
    var acc = 0.0;
    var es = 0.0;
    for (var b = 0u; b < dims.b; b++) {
        let pe = (m * dims.b + b) * cn + c;
        let ev = eps_v[step.parity * slot + pe];
        let si = ((m * dims.b + b) * dims.n + j) * cn + c;
        var ea = 0.0;
        if (dims.alif != 0u) {
            if (t > 0u) {
                let pp = psi[traj_idx(dims, m, t - 1u, b, j)];
                let ev_old = eps_v[(1u - step.parity) * slot + pe];
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
    var at = pb + dims.off_w_rec + j * dims.n + c;
    if (c >= dims.n) { at = pb + dims.off_w_in + j * dims.n_in + (c - dims.n); }
    grads[at] += acc;
}
