// spike_step.wgsl — one forward step t of every LIF/ALIF network and trial (SPEC §2):
//   v[t] = a_v v[t-1] + w_rec z[t-1] + w_in x[t] - v_th z[t-1]      a[t] = rho a[t-1] + (1-rho) z[t-1]
//   u = v[t] - v_th - beta a[t];  refractory: z = psi = 0, refr -= 1;
//   else z = [u > 0], psi = gamma / v_th * max(0, 1 - |u| / v_th), refr = n_ref after a spike.
// One thread per neuron and trial sums its row of w_rec; the rest is spike_update.wgsl (appended).
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
    var rec = 0.0;
    if (t > 0u) {
        let zb = traj_idx(dims, m, t - 1u, b, 0u);
        let wr = m * dims.p_len + dims.off_w_rec + j * dims.n;
        for (var i = 0u; i < dims.n; i++) { rec += params[wr + i] * z[zb + i]; }
    }
    spike_update(m, t, b, j, rec);
}
