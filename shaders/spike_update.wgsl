// spike_update.wgsl — the per-neuron part of a forward step, shared by spike_step and
// spike_step_tiled (appended to both; not a kernel itself). For neuron j of trial b at step t,
// given its recurrent input rec = (w_rec z[t-1])_j (ignored at t = 0):
//   v[t] = a_v v[t-1] + rec + w_in x[t] - v_th z[t-1]      a[t] = rho a[t-1] + (1-rho) z[t-1]
//   u = v[t] - v_th - beta a[t];  refractory: z = psi = 0, refr -= 1;
//   else z = [u > 0], psi = gamma / v_th * max(0, 1 - |u| / v_th), refr = n_ref after a spike.

fn spike_update(m: u32, t: u32, b: u32, j: u32, rec: f32) {
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
