// spike_loss_reduce.wgsl — per-network totals:
//   loss_out[m] = ( sum_b part[m, b] / sum(mask),   mean_j (rate[m, j] - target)^2 · B / B_total )
// (a chunk of a split batch reports its share B / B_total of the regulariser, so that the
// chunks' losses add up to the whole batch's).
// One workgroup of 64 per network: strided partial sums here, the tree reduction in
// shared/loss_totals.wgsl (appended).
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::forward)
// CPU twin: src/reference/spiking.rs::loss_with
// Bindings: 0 dims (uniform Dims) | 1 part (read) | 2 rate (read) | 3 nets (read NetParams)
//           4 loss_out (read_write)
// Dispatch: x = M.

const RW: u32 = 64u;

@compute @workgroup_size(RW)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m = wid.x;
    let target_rate = nets[m].rate_target;
    var sl = 0.0; var sr = 0.0;
    for (var i = li; i < dims.b; i += RW) { sl += part[m * dims.b + i]; }
    for (var j = li; j < dims.n; j += RW) { let e = rate[m * dims.n + j] - target_rate; sr += e * e; }
    write_totals(m, li, sl, sr, f32(dims.n) * f32(dims.b_total) / f32(dims.b));
}
