// spike_rates.wgsl — firing rates and the regulariser's gradient (SPEC §3):
//   rate[m, j] = mean_{t,b} z[t, b, j]
//   dreg[m, j] = lambda * 2 (rate - target) / (N T B)    (= dE_reg/dz[t, b, j] at every t, b)
// The entry point is spike/rate_reg.wgsl (appended); this file counts the spikes.
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::forward)
// CPU twin: src/reference/spiking.rs::spike_counts
// Bindings: 0 dims (uniform Dims) | 1 z (read) | 2 nets (read NetParams) | 3 rate (read_write)
//           4 dreg (read_write)
// Dispatch: x = ceil(N / 64), y = M.

fn spike_count(m: u32, j: u32) -> f32 {
    var s = 0.0;
    for (var tb = 0u; tb < dims.t * dims.b; tb++) { s += z[(m * dims.t * dims.b + tb) * dims.n + j]; }
    return s;
}
