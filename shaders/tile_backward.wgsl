// tile_backward.wgsl — shared code of the tiled reverse step kernels (appended to
// rate_bptt_step_tiled and spike_bptt_step_tiled; not a kernel itself). A workgroup of 64 threads
// computes, for its 64 units u = u0 + lid and 8 trials b0 + r, the transposed product
//   acc[r] = sum_k W[k, u] s[b0 + r, k]
// over chunks of 32 rows k: W[k0..k0+32, u0..u0+64] (coalesced: consecutive threads, consecutive
// u) and s[b0..b0+8, k0..k0+32] go through workgroup memory, so each weight read serves 8 trials.
// The kernel defines
//   fn tile_w(m: u32, k: u32, u: u32) -> f32   W[k, u] of network m (called with k, u < N)
//   fn tile_s(m: u32, b: u32, k: u32) -> f32   s[b, k] (called with b < B, k < N)
// and calls tile_backward from uniform control flow (it holds workgroup barriers).

const TU: u32 = 64u;   // units per workgroup (one per thread)
const TB: u32 = 8u;    // trials per workgroup (held in registers)
const TK: u32 = 32u;   // rows per chunk

var<workgroup> w_tile: array<f32, 2048>;   // [TK][TU]
var<workgroup> s_tile: array<f32, 256>;    // [TB][TK]

fn tile_backward(m: u32, u0: u32, b0: u32, lid: u32) -> array<f32, 8> {
    let n = dims.n;
    let u = u0 + lid;
    var acc: array<f32, 8>;
    for (var r = 0u; r < TB; r++) { acc[r] = 0.0; }
    let c = lid % TK;
    let r0 = lid / TK;
    for (var k0 = 0u; k0 < n; k0 += TK) {
        for (var kk = 0u; kk < TK; kk++) {
            var w = 0.0;
            if (k0 + kk < n && u < n) { w = tile_w(m, k0 + kk, u); }
            w_tile[kk * TU + lid] = w;
        }
        for (var q = 0u; q < TB / 2u; q++) {
            let r = r0 + 2u * q;
            var s = 0.0;
            if (b0 + r < dims.b && k0 + c < n) { s = tile_s(m, b0 + r, k0 + c); }
            s_tile[r * TK + c] = s;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let w = w_tile[kk * TU + lid];
            for (var r = 0u; r < TB; r++) { acc[r] += w * s_tile[r * TK + kk]; }
        }
        workgroupBarrier();
    }
    return acc;
}
