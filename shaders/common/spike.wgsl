// spike.wgsl — prelude of every spiking-network kernel, after common/pack.wgsl (not a kernel
// itself), and of the shared/ kernels when they run on a spiking pack.
// Layouts (per pack of M networks, all f32, row-major, time-major within a network):
//   params/grads [M, P]        flat w_in | w_rec | w_out | b_out (offsets in Dims)
//   x [M, T, B, n_in]          targets, mask [M, T, B, k_t]   (k_t = n_out for mse, 1 for ce)
//   v, a, z, psi, dv [M, S, B, N]   step t in slot t % S: S = T (whole trajectories, for the
//   y, dy, gy [M, S, B, n_out]      backward sweep), or S = 2 (online e-prop: a ring, flat in T)
//                                   gy = leaky-readout adjoint: gy[t] = dy[t] + kappa gy[t+1]
//   refr, da [M, B, N]         refractory steps left; dE/da of the step being swept back
//   feedback [M, N, n_out]     rate, dreg [M, N]      nets [M] NetParams

// Rust twin: gpu::abi::SpikeDims.
struct Dims {
    m: u32, b: u32, t: u32, n: u32,
    n_in: u32, n_out: u32, k_t: u32, loss: u32,
    p_len: u32, use_feedback: u32, alif: u32, n_ref: u32,
    off_w_in: u32, off_w_rec: u32, off_w_out: u32, off_b_out: u32,
    a_v: f32, rho: f32, kappa: f32, v_th: f32,
    beta: f32, gamma: f32,
    accumulate: u32,  // read by the shared/outer_grad.wgsl: 1 = add to grads
    slots: u32,       // S: time slots of the trajectory buffers (T, or 2 for online e-prop)
    b_total: u32,     // trials in the whole batch (> b when the batch is split into chunks)
    fixed_rates: u32, // 1: rate[] holds the whole batch's rates (its chunks); 0: computed per pass
};

// One entry per time step (bound with a dynamic offset; Rust twin gpu::abi::SpikeStep).
struct Step {
    t: u32,
    cut_next: u32,   // recurrent input of step t+1 cut from the gradient (BPTT sweep)
    parity: u32,     // t % 2: which e-prop presynaptic trace slot is step t's
    _pad: u32,
};

fn traj_idx(d: Dims, m: u32, t: u32, b: u32, j: u32) -> u32 {
    return ((m * d.slots + t % d.slots) * d.b + b) * d.n + j;
}
fn out_idx(d: Dims, m: u32, t: u32, b: u32, k: u32) -> u32 {
    return ((m * d.slots + t % d.slots) * d.b + b) * d.n_out + k;
}

// Index of presynaptic c of trial b in trace slot `parity` of eps_v [2, M, B, N + n_in] (online
// e-prop keeps step t's and step t-1's presynaptic traces).
fn eps_v_idx(d: Dims, parity: u32, m: u32, b: u32, c: u32) -> u32 {
    let cn = d.n + d.n_in;
    return parity * (d.m * d.b * cn) + (m * d.b + b) * cn + c;
}

// e-prop's synapses onto neuron j: presynaptic c < N is neuron c (weight w_rec[j, c]), c >= N is
// input c - N (w_in[j, c - N]). The index of that weight of network m in params and grads.
fn synapse_idx(d: Dims, m: u32, j: u32, c: u32) -> u32 {
    if (c < d.n) { return m * d.p_len + d.off_w_rec + j * d.n + c; }
    return m * d.p_len + d.off_w_in + j * d.n_in + (c - d.n);
}
