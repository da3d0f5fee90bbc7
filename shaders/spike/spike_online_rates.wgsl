// spike_online_rates.wgsl — online e-prop, end of the trial: firing rates from the running spike
// counts, and the regulariser's gradient dE_reg/dz (SPEC §3):
//   rate[m, j] = sum_b zsum[m, b, j] / (T B),   dreg[m, j] = lambda * 2 (rate - target) / (N T B)
// The entry point is spike/rate_reg.wgsl (appended); this file counts the spikes.
// Rust wrapper: src/gpu/spiking_engine.rs (SpikingEngine::gradient, online e-prop)
// CPU twin: src/reference/spiking.rs::grad_eprop_online
// Bindings: 0 dims (uniform Dims) | 1 zsum (read) | 2 nets (read NetParams) | 3 rate (read_write)
//           4 dreg (read_write)
// Dispatch: x = ceil(N / 64), y = M.

fn spike_count(m: u32, j: u32) -> f32 {
    var s = 0.0;
    for (var b = 0u; b < dims.b; b++) { s += zsum[(m * dims.b + b) * dims.n + j]; }
    return s;
}
