// spike_step.wgsl — one forward step t of every LIF/ALIF network and trial (SPEC §2):
//   v[t] = a_v v[t-1] + w_rec z[t-1] + w_in x[t] - v_th z[t-1]      a[t] = rho a[t-1] + (1-rho) z[t-1]
//   u = v[t] - v_th - beta a[t];  refractory: z = psi = 0, refr -= 1;
//   else z = [u > 0], psi = gamma / v_th * max(0, 1 - |u| / v_th), refr = n_ref after a spike.
// Two kernels: spike_step (one thread per neuron and trial sums its row of w_rec:
// shared/step_simple.wgsl) and spike_step_tiled (64 neurons × 8 trials per workgroup through
// workgroup memory: shared/tile.wgsl, tile_forward.wgsl, step_tiled.wgsl).
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::forward)
// CPU twin: src/reference/spiking.rs::forward
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 x (read) | 4 v (read_write) | 5 a (read_write) | 6 z (read_write)
//           7 psi (read_write) | 8 refr (read_write u32) refractory counters
// Dispatch: x = ceil(N / 64), y = B (simple) or ceil(B / 8) (tiled), z = M; once per step, all
// steps in one pass.

// The recurrent input of neuron u: (w_rec z[t-1])_u, none at t = 0.
fn rec_weight(m: u32, u: u32, k: u32) -> f32 { return params[m * dims.p_len + dims.off_w_rec + u * dims.n + k]; }
fn rec_source(m: u32, b: u32, k: u32) -> f32 { return z[traj_idx(dims, m, step.t - 1u, b, k)]; }
fn rec_active() -> bool { return step.t > 0u; }

// The rest of the step for neuron j of trial b, given its recurrent input rec (ignored at t = 0).
fn step_unit(m: u32, b: u32, j: u32, rec: f32) {
    let t = step.t;
    let pb = m * dims.p_len;
    var drive = 0.0;
    let xb = ((m * dims.t + t) * dims.b + b) * dims.n_in;
    let wi = pb + dims.off_w_in + j * dims.n_in;
    for (var i = 0u; i < dims.n_in; i++) { drive += params[wi + i] * x[xb + i]; }
    var vp = 0.0; var ap = 0.0; var zp = 0.0;
    let ri = (m * dims.b + b) * dims.n + j;
    var r = refr[ri];
    if (t == 0u) {
        r = 0u;
    } else {
        let pi = traj_idx(dims, m, t - 1u, b, j);
        vp = v[pi]; ap = a[pi]; zp = z[pi];
        drive += rec;
    }
    let vn = dims.a_v * vp + drive - dims.v_th * zp;
    var an = 0.0;
    if (dims.alif != 0u) { an = dims.rho * ap + (1.0 - dims.rho) * zp; }
    var zn = 0.0; var pn = 0.0;
    if (r > 0u) {
        r -= 1u;
    } else {
        let u = vn - dims.v_th - dims.beta * an;
        pn = dims.gamma / dims.v_th * max(0.0, 1.0 - abs(u) / dims.v_th);
        if (u > 0.0) { zn = 1.0; r = dims.n_ref; }
    }
    let at = traj_idx(dims, m, t, b, j);
    v[at] = vn; a[at] = an; z[at] = zn; psi[at] = pn;
    refr[ri] = r;
}
