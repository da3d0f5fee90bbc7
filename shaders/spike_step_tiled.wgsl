// spike_step_tiled.wgsl — one forward step t of every LIF/ALIF network and trial (SPEC §2), as
// spike_step.wgsl computes it:
//   v[t] = a_v v[t-1] + w_rec z[t-1] + w_in x[t] - v_th z[t-1]      a[t] = rho a[t-1] + (1-rho) z[t-1]
//   u = v[t] - v_th - beta a[t];  refractory: z = psi = 0, refr -= 1;
//   else z = [u > 0], psi = gamma / v_th * max(0, 1 - |u| / v_th), refr = n_ref after a spike.
// Tiled like rate_step_tiled.wgsl: a workgroup computes 64 units j × 8 trials b of one network; the
// recurrent product runs over chunks of 32 presynaptic units i, w_rec[j0..j0+64, i0..i0+32] and
// z[t-1][b0..b0+8, i0..i0+32] loaded into workgroup memory with coalesced reads (consecutive
// threads, consecutive i), so every weight read from memory serves 8 trials.
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

const TJ: u32 = 64u;   // units per workgroup (one per thread)
const TB: u32 = 8u;    // trials per workgroup (held in registers)
const TI: u32 = 32u;   // presynaptic units per chunk
const WS: u32 = 33u;   // w_tile row stride: TI + 1 keeps the threads' row reads off one bank

var<workgroup> w_tile: array<f32, 2112>;   // [TJ][WS]
var<workgroup> z_tile: array<f32, 256>;    // [TB][TI]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = dims.n;
    let j0 = wg.x * TJ; let b0 = wg.y * TB; let m = wg.z;
    let j = j0 + lid;
    let t = step.t;
    let pb = m * dims.p_len;
    var acc: array<f32, 8>;
    for (var r = 0u; r < TB; r++) { acc[r] = 0.0; }
    if (t > 0u) {   // uniform: the same for the whole dispatch
        let c = lid % TI;
        let r0 = lid / TI;
        for (var i0 = 0u; i0 < n; i0 += TI) {
            let i = i0 + c;
            for (var k = 0u; k < TJ / 2u; k++) {
                let row = r0 + 2u * k;
                var w = 0.0;
                if (j0 + row < n && i < n) { w = params[pb + dims.off_w_rec + (j0 + row) * n + i]; }
                w_tile[row * WS + c] = w;
            }
            for (var k = 0u; k < TB / 2u; k++) {
                let r = r0 + 2u * k;
                var s = 0.0;
                if (b0 + r < dims.b && i < n) { s = z[traj_idx(dims, m, t - 1u, b0 + r, i)]; }
                z_tile[r * TI + c] = s;
            }
            workgroupBarrier();
            for (var ii = 0u; ii < TI; ii++) {
                let w = w_tile[lid * WS + ii];
                for (var r = 0u; r < TB; r++) { acc[r] += w * z_tile[r * TI + ii]; }
            }
            workgroupBarrier();
        }
    }
    if (j >= n) { return; }
    let wi = pb + dims.off_w_in + j * dims.n_in;
    for (var r = 0u; r < TB; r++) {
        let b = b0 + r;
        if (b >= dims.b) { break; }
        var drive = 0.0;
        let xb = ((m * dims.t + t) * dims.b + b) * dims.n_in;
        for (var i = 0u; i < dims.n_in; i++) { drive += params[wi + i] * x[xb + i]; }
        var vp = 0.0; var ap = 0.0; var zp = 0.0;
        let ri = (m * dims.b + b) * n + j;
        var rf = refr[ri];
        if (t == 0u) {
            rf = 0u;
        } else {
            let pi = traj_idx(dims, m, t - 1u, b, j);
            vp = v[pi]; ap = a[pi]; zp = z[pi];
            drive += acc[r];
        }
        let vn = dims.a_v * vp + drive - dims.v_th * zp;
        var an = 0.0;
        if (dims.alif != 0u) { an = dims.rho * ap + (1.0 - dims.rho) * zp; }
        var zn = 0.0; var pn = 0.0;
        if (rf > 0u) {
            rf -= 1u;
        } else {
            let u = vn - dims.v_th - dims.beta * an;
            pn = dims.gamma / dims.v_th * max(0.0, 1.0 - abs(u) / dims.v_th);
            if (u > 0.0) { zn = 1.0; rf = dims.n_ref; }
        }
        let at = traj_idx(dims, m, t, b, j);
        v[at] = vn; a[at] = an; z[at] = zn; psi[at] = pn;
        refr[ri] = rf;
    }
}
