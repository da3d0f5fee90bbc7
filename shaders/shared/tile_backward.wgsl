// tile_backward.wgsl — the weight tile of the reverse step kernels (rate_bptt_step_tiled,
// spike_bptt_step_tiled; appended after tile.wgsl; not a kernel itself): the weights are a
// transposed matrix, W[u, k] = M[k, u], so the tile is loaded by rows k of M, consecutive
// threads reading consecutive u.

var<workgroup> w_tile: array<f32, 2048>;   // [TK][TU]

fn load_w_tile(m: u32, u0: u32, k0: u32, lid: u32) {
    let n = dims.n;
    let u = u0 + lid;
    for (var kk = 0u; kk < TK; kk++) {
        var w = 0.0;
        if (k0 + kk < n && u < n) { w = rec_weight(m, u, k0 + kk); }
        w_tile[kk * TU + lid] = w;
    }
}

fn w_tile_at(lid: u32, kk: u32) -> f32 { return w_tile[kk * TU + lid]; }
