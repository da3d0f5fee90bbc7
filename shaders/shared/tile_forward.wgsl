// tile_forward.wgsl — the weight tile of the forward step kernels (rate_step_tiled,
// spike_step_tiled; appended after tile.wgsl; not a kernel itself): W[u, k] is row-major in u, so
// the tile is loaded row by row, consecutive threads reading consecutive k.

const WS: u32 = 33u;   // w_tile row stride: TK + 1 keeps the threads' row reads off one bank

var<workgroup> w_tile: array<f32, 2112>;   // [TU][WS]

fn load_w_tile(m: u32, u0: u32, k0: u32, lid: u32) {
    let n = dims.n;
    let c = lid % TK;
    let r0 = lid / TK;
    let k = k0 + c;
    for (var q = 0u; q < TU / 2u; q++) {
        let row = r0 + 2u * q;
        var w = 0.0;
        if (u0 + row < n && k < n) { w = rec_weight(m, u0 + row, k); }
        w_tile[row * WS + c] = w;
    }
}

fn w_tile_at(lid: u32, kk: u32) -> f32 { return w_tile[lid * WS + kk]; }
