// spike_step.wgsl — one forward step t of every LIF/ALIF network and trial (SPEC §2):
//   v[t] = a_v v[t-1] + w_rec z[t-1] + w_in x[t] - v_th z[t-1]      a[t] = rho a[t-1] + (1-rho) z[t-1]
//   u = v[t] - v_th - beta a[t];  refractory: z = psi = 0, refr -= 1;
//   else z = [u > 0], psi = gamma / v_th * max(0, 1 - |u| / v_th), refr = n_ref after a spike.
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 x (read) | 4 v (read_write) | 5 a (read_write) | 6 z (read_write)
//           7 psi (read_write) | 8 refr (read_write, u32 counters)
// Dispatch: x = ceil(N / 64), y = B, z = M; once per step, all steps in one pass.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> a: array<f32>;
@group(0) @binding(6) var<storage, read_write> z: array<f32>;
@group(0) @binding(7) var<storage, read_write> psi: array<f32>;
@group(0) @binding(8) var<storage, read_write> refr: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let b = gid.y; let m = gid.z;
    if (j >= dims.n || b >= dims.b || m >= dims.m) { return; }
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
        let zb = traj_idx(dims, m, t - 1u, b, 0u);
        let wr = pb + dims.off_w_rec + j * dims.n;
        for (var i = 0u; i < dims.n; i++) { drive += params[wr + i] * z[zb + i]; }
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
