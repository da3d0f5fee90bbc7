// loss_reduce.wgsl — per-network totals from the per-(step, trial) parts of rate_readout_loss:
//   loss_out[m] = ( sum_{t,b} part[m,t,b,0] / sum(mask),   sum_{t,b} part[m,t,b,1] / (T*B*N) )
//   (sum(mask) and T*B_total*N are those of the whole batch: chunks' values add up)
// One workgroup of 256 per network: strided partial sums here, the tree reduction in
// shared/loss_totals.wgsl (appended).
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::forward)
// CPU twin: src/reference/rate.rs::loss
// Bindings: 0 dims (uniform Dims) | 1 part (read) | 2 nets (read NetParams) | 3 loss_out (read_write)
// Dispatch: x = M.

const RW: u32 = 256u;

@compute @workgroup_size(RW)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m = wid.x;
    let count = dims.t * dims.b;
    var sl = 0.0; var sh = 0.0;
    for (var i = li; i < count; i += RW) {
        let p = (m * count + i) * 2u;
        sl += part[p]; sh += part[p + 1u];
    }
    write_totals(m, li, sl, sh, f32(dims.t * dims.b_total * dims.n));
}
