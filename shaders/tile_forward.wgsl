// tile_forward.wgsl — shared code of the tiled forward step kernels (appended to rate_step_tiled
// and spike_step_tiled; not a kernel itself). A workgroup of 64 threads computes, for its 64 units
// u = u0 + lid and 8 trials b0 + r, the recurrent product
//   acc[r] = sum_k W[u, k] s[b0 + r, k]
// over chunks of 32 inputs k: W[u0..u0+64, k0..k0+32] and s[b0..b0+8, k0..k0+32] are loaded into
// workgroup memory with coalesced reads (consecutive threads, consecutive k), then every weight
// read from memory serves 8 trials and every s value 64 units. The kernel defines
//   fn tile_w(m: u32, u: u32, k: u32) -> f32   W[u, k] of network m (called with u, k < N)
//   fn tile_s(m: u32, b: u32, k: u32) -> f32   s[b, k] (called with b < B, k < N)
// and calls tile_forward from uniform control flow (it holds workgroup barriers).

const TU: u32 = 64u;   // units per workgroup (one per thread)
const TB: u32 = 8u;    // trials per workgroup (held in registers)
const TK: u32 = 32u;   // inputs per chunk
const WS: u32 = 33u;   // w_tile row stride: TK + 1 keeps the threads' row reads off one bank

var<workgroup> w_tile: array<f32, 2112>;   // [TU][WS]
var<workgroup> s_tile: array<f32, 256>;    // [TB][TK]

fn tile_forward(m: u32, u0: u32, b0: u32, lid: u32) -> array<f32, 8> {
    let n = dims.n;
    var acc: array<f32, 8>;
    for (var r = 0u; r < TB; r++) { acc[r] = 0.0; }
    let c = lid % TK;
    let r0 = lid / TK;
    for (var k0 = 0u; k0 < n; k0 += TK) {
        let k = k0 + c;
        for (var q = 0u; q < TU / 2u; q++) {
            let row = r0 + 2u * q;
            var w = 0.0;
            if (u0 + row < n && k < n) { w = tile_w(m, u0 + row, k); }
            w_tile[row * WS + c] = w;
        }
        for (var q = 0u; q < TB / 2u; q++) {
            let r = r0 + 2u * q;
            var s = 0.0;
            if (b0 + r < dims.b && k < n) { s = tile_s(m, b0 + r, k); }
            s_tile[r * TK + c] = s;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let w = w_tile[lid * WS + kk];
            for (var r = 0u; r < TB; r++) { acc[r] += w * s_tile[r * TK + kk]; }
        }
        workgroupBarrier();
    }
    return acc;
}
