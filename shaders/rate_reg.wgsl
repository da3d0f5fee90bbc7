// rate_reg.wgsl — firing rate of unit j and the regulariser's gradient (SPEC §3), shared by
// spike_rates and spike_online_rates (appended to both; not a kernel itself).
// CPU twin: the rate regulariser in src/reference/spiking.rs.
//   rate[m, j] = spikes / (T B),   dreg[m, j] = lambda * 2 (rate - target) / (N T B)
// Uses the caller's globals dims, nets and writes rate and dreg.

fn set_rate(m: u32, j: u32, spikes: f32) {
    let cnt = f32(dims.t * dims.b);
    let r = spikes / cnt;
    rate[m * dims.n + j] = r;
    dreg[m * dims.n + j] = nets[m].lambda * 2.0 * (r - nets[m].rate_target) / (f32(dims.n) * cnt);
}
