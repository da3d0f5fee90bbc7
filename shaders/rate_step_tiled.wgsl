// rate_step_tiled.wgsl — one forward step t of every network and trial (SPEC §1):
//   ah[t] = ah[t-1] + alpha * (-ah[t-1] + w_eff @ h[t-1] + w_in @ x[t] + b_in),   h[t] = f(ah[t])
// reading state slot t, writing slot t+1.
// Tiled: a workgroup computes 64 units j × 8 trials b of one network. The recurrent product runs
// over chunks of 32 inputs i: w_eff[j0..j0+64, i0..i0+32] and h[t][b0..b0+8, i0..i0+32] are
// loaded into workgroup memory with coalesced reads (consecutive threads, consecutive i), then
// each thread accumulates its unit for all 8 trials from there: every weight read from memory
// serves 8 trials, every h value 64 units.
// Bindings: 0 dims (uniform Dims) | 1 step (uniform Step, dynamic offset) | 2 params (read)
//           3 w_eff (read) | 4 x (read) | 5 ah (read_write) | 6 h (read_write)
// Dispatch: x = ceil(N / 64), y = ceil(B / 8), z = M; once per step, all steps in one pass.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> w_eff: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> ah: array<f32>;
@group(0) @binding(6) var<storage, read_write> h: array<f32>;

const TJ: u32 = 64u;   // units per workgroup (one per thread)
const TB: u32 = 8u;    // trials per workgroup (held in registers)
const TI: u32 = 32u;   // inputs per chunk
const WS: u32 = 33u;   // w_tile row stride: TI + 1 keeps the threads' row reads off one bank

var<workgroup> w_tile: array<f32, 2112>;   // [TJ][WS]
var<workgroup> h_tile: array<f32, 256>;    // [TB][TI]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = dims.n;
    let j0 = wg.x * TJ; let b0 = wg.y * TB; let m = wg.z;
    let j = j0 + lid;
    let t = step.t;
    var acc: array<f32, 8>;
    for (var r = 0u; r < TB; r++) { acc[r] = 0.0; }
    let c = lid % TI;
    let r0 = lid / TI;
    for (var i0 = 0u; i0 < n; i0 += TI) {
        let i = i0 + c;
        for (var k = 0u; k < TJ / 2u; k++) {
            let row = r0 + 2u * k;
            var v = 0.0;
            if (j0 + row < n && i < n) { v = w_eff[(m * n + j0 + row) * n + i]; }
            w_tile[row * WS + c] = v;
        }
        for (var k = 0u; k < TB / 2u; k++) {
            let r = r0 + 2u * k;
            var v = 0.0;
            if (b0 + r < dims.b && i < n) { v = h[state_idx(dims, m, t, b0 + r, i)]; }
            h_tile[r * TI + c] = v;
        }
        workgroupBarrier();
        for (var ii = 0u; ii < TI; ii++) {
            let w = w_tile[lid * WS + ii];
            for (var r = 0u; r < TB; r++) { acc[r] += w * h_tile[r * TI + ii]; }
        }
        workgroupBarrier();
    }
    if (j >= n) { return; }
    let pb = m * dims.p_len;
    let wi = pb + dims.off_w_in + j * dims.n_in;
    for (var r = 0u; r < TB; r++) {
        let b = b0 + r;
        if (b >= dims.b) { break; }
        var drive = params[pb + dims.off_b_in + j] + acc[r];
        let xb = ((m * dims.t + t) * dims.b + b) * dims.n_in;
        for (var i = 0u; i < dims.n_in; i++) { drive += params[wi + i] * x[xb + i]; }
        let prev = ah[state_idx(dims, m, t, b, j)];
        let a = prev + dims.alpha * (drive - prev);
        let at = state_idx(dims, m, t + 1u, b, j);
        ah[at] = a;
        h[at] = act_f(dims.act, a);
    }
}
