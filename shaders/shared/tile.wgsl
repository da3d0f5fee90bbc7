// tile.wgsl — the recurrent product of the tiled step kernels (appended to each, before
// tile_forward.wgsl or tile_backward.wgsl; not a kernel itself). A workgroup of 64 threads
// computes, for its 64 units u = u0 + lid and 8 trials b0 + r,
//   acc[r] = sum_k rec_weight(m, u, k) rec_source(m, b0 + r, k)
// over chunks of 32 inputs k: the weights W[u0..u0+64, k0..k0+32] (load_w_tile, by the direction's
// coalesced order) and s[b0..b0+8, k0..k0+32] go through workgroup memory, so that every weight
// read from memory serves 8 trials and every s value 64 units. Called from uniform control flow
// (it holds workgroup barriers).

const TU: u32 = 64u;   // units per workgroup (one per thread)
const TB: u32 = 8u;    // trials per workgroup (held in registers)
const TK: u32 = 32u;   // inputs per chunk

var<workgroup> s_tile: array<f32, 256>;    // [TB][TK]

fn tile_product(m: u32, u0: u32, b0: u32, lid: u32) -> array<f32, 8> {
    let n = dims.n;
    var acc: array<f32, 8>;
    for (var r = 0u; r < TB; r++) { acc[r] = 0.0; }
    let c = lid % TK;
    let r0 = lid / TK;
    for (var k0 = 0u; k0 < n; k0 += TK) {
        load_w_tile(m, u0, k0, lid);
        for (var q = 0u; q < TB / 2u; q++) {
            let r = r0 + 2u * q;
            var s = 0.0;
            if (b0 + r < dims.b && k0 + c < n) { s = rec_source(m, b0 + r, k0 + c); }
            s_tile[r * TK + c] = s;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let w = w_tile_at(lid, kk);
            for (var r = 0u; r < TB; r++) { acc[r] += w * s_tile[r * TK + kk]; }
        }
        workgroupBarrier();
    }
    return acc;
}
