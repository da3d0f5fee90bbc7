// rate_reg.wgsl — entry point of spike_rates and spike_online_rates (appended to both; not a kernel
// itself): firing rate of neuron j and the regulariser's gradient (SPEC §3),
//   rate[m, j] = spikes / (T B),   dreg[m, j] = lambda * 2 (rate - target) / (N T B_total)
// with spikes = spike_count(m, j), which the kernel defines (its spike count over every step and trial).
// A chunk of a split batch (fixed_rates = 1) keeps the whole batch's rates, set before its chunks,
// so that the chunks' gradients add up to the whole batch's.
// CPU twin: src/reference/spiking.rs::loss_with

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let m = gid.y;
    if (j >= dims.n || m >= dims.m) { return; }
    var r: f32;
    if (dims.fixed_rates != 0u) {
        r = rate[m * dims.n + j];
    } else {
        r = spike_count(m, j) / f32(dims.t * dims.b);
        rate[m * dims.n + j] = r;
    }
    let cnt = f32(dims.t * dims.b_total);
    dreg[m * dims.n + j] = nets[m].lambda * 2.0 * (r - nets[m].rate_target) / (f32(dims.n) * cnt);
}
