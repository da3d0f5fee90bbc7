// spike_step_tiled.wgsl — one forward step t of every LIF/ALIF network and trial (SPEC §2), as
// spike_step.wgsl computes it:
//   v[t] = a_v v[t-1] + w_rec z[t-1] + w_in x[t] - v_th z[t-1]      a[t] = rho a[t-1] + (1-rho) z[t-1]
//   u = v[t] - v_th - beta a[t];  refractory: z = psi = 0, refr -= 1;
//   else z = [u > 0], psi = gamma / v_th * max(0, 1 - |u| / v_th), refr = n_ref after a spike.
// Tiled: a workgroup computes 64 units j × 8 trials b of one network, the recurrent product
// w_rec z[t-1] through workgroup memory (tile_forward.wgsl, appended: every weight read serves 8
// trials); the rest is spike_update.wgsl (appended).
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 x (read) | 4 v (read_write) | 5 a (read_write) | 6 z (read_write)
//           7 psi (read_write) | 8 refr (read_write, u32 counters)
// Dispatch: x = ceil(N / 64), y = ceil(B / 8), z = M; once per step, all steps in one pass.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> a: array<f32>;
@group(0) @binding(6) var<storage, read_write> z: array<f32>;
@group(0) @binding(7) var<storage, read_write> psi: array<f32>;
@group(0) @binding(8) var<storage, read_write> refr: array<u32>;

fn tile_w(m: u32, u: u32, k: u32) -> f32 { return params[m * dims.p_len + dims.off_w_rec + u * dims.n + k]; }
fn tile_s(m: u32, b: u32, k: u32) -> f32 { return z[traj_idx(dims, m, step.t - 1u, b, k)]; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j0 = wg.x * TU; let b0 = wg.y * TB; let m = wg.z;
    let j = j0 + lid;
    let t = step.t;
    var acc: array<f32, 8>;
    if (t > 0u) { acc = tile_forward(m, j0, b0, lid); }   // uniform: the same for the whole dispatch
    if (j >= dims.n) { return; }
    for (var r = 0u; r < TB; r++) {
        if (b0 + r >= dims.b) { break; }
        spike_update(m, t, b0 + r, j, acc[r]);
    }
}
