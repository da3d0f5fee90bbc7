// rate.wgsl — prelude of every rate-network kernel, after common/pack.wgsl (not a kernel itself).
// Layouts (per pack of M networks, all f32, row-major, time-major within a network):
//   params/grads [M, P]            flat w_in | b_in | w_rec | w_out | b_out | ah0 (offsets in Dims)
//   x [M, T, B, n_in]   targets, mask [M, T, B, k_t]   (k_t = n_out for mse, 1 for ce)
//   ah, h, delta [M, T+1, B, N]    slot s of ah/h holds step s-1 (slot 0 = initial state);
//                                  slot t of delta holds dE/dah[t] (slot T stays 0)
//   y, dy [M, T, B, n_out]         w_eff, mask_rec [M, N, N]    feedback_t [M, n_out, N]
//   nets [M]                       NetParams of each network
// A batch too large for one binding runs as chunks of b trials: loss parts and gradients are
// normalised by the whole batch (b_total trials, sum(mask)) and summed over chunks.

// Rust twin: gpu::abi::Dims.
struct Dims {
    m: u32, b: u32, t: u32, n: u32,
    n_in: u32, n_out: u32, k_t: u32, act: u32,
    loss: u32, p_len: u32, dale: u32, use_feedback: u32,
    off_w_in: u32, off_b_in: u32, off_w_rec: u32, off_w_out: u32,
    off_b_out: u32, off_ah0: u32, alpha: f32,
    b_total: u32,     // trials in the whole batch (> b when the batch is split into chunks)
    accumulate: u32,  // 1: add this chunk's weight gradients to grads instead of overwriting
    _pad0: u32, _pad1: u32, _pad2: u32,
};

// One entry per time step (bound with a dynamic offset; Rust twin gpu::abi::Step).
struct Step {
    t: u32,
    cut_self: u32,   // recurrent input of step t cut from the gradient
    cut_next: u32,   // recurrent input of step t+1 cut from the gradient
    _pad: u32,
    decay: f32,      // (1-alpha)^(t+1): d ah[t] / d ah0 along the leak
    eps_b: f32,      // 1 - (1-alpha)^(t+1): e-prop trace of b_in
    _pad2: vec2<f32>,
};

fn act_f(code: u32, x: f32) -> f32 {
    switch code {
        case 0u: { return max(tanh(x), 0.0); }
        case 1u: { return tanh(x); }
        case 2u: { return max(x, 0.0); }
        default: { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }
    }
}

fn act_df(code: u32, x: f32) -> f32 {
    switch code {
        case 0u: { if (x > 0.0) { let t = tanh(x); return 1.0 - t * t; } return 0.0; }
        case 1u: { let t = tanh(x); return 1.0 - t * t; }
        case 2u: { return select(0.0, 1.0, x > 0.0); }
        default: { return 1.0 / (1.0 + exp(-x)); }
    }
}

// Index of unit j of trial b in state slot s of network m ([M, T+1, B, N] buffers).
fn state_idx(d: Dims, m: u32, s: u32, b: u32, j: u32) -> u32 {
    return ((m * (d.t + 1u) + s) * d.b + b) * d.n + j;
}
