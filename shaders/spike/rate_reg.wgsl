// rate_reg.wgsl — entry point of spike_rates and spike_online_rates (appended to both; not a kernel
// itself): firing rate of neuron j and the regulariser's gradient (SPEC §3),
//   rate[m, j] = spikes / (T B),   dreg[m, j] = lambda * 2 (rate - target) / (N T B)
// with spikes = spike_count(m, j), which the kernel defines (its spike count over every step and trial).
// CPU twin: src/reference/spiking.rs::loss_with

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let m = gid.y;
    if (j >= dims.n || m >= dims.m) { return; }
    let cnt = f32(dims.t * dims.b);
    let r = spike_count(m, j) / cnt;
    rate[m * dims.n + j] = r;
    dreg[m * dims.n + j] = nets[m].lambda * 2.0 * (r - nets[m].rate_target) / (f32(dims.n) * cnt);
}
