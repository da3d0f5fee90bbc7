// step_simple.wgsl — entry point of the simple form of the step kernels (rate_step, rate_bptt_step,
// spike_step, spike_bptt_step; appended after the kernel's file, not a kernel itself). One thread
// per unit u and trial b sums its recurrent input in order k = 0 … N-1:
//   rec = sum_k rec_weight(m, u, k) rec_source(m, b, k)      (0 unless rec_active())
// then calls step_unit(m, b, u, rec). No workgroup barriers: the fastest form on lavapipe.
// The kernel defines rec_weight (called with u, k < N), rec_source (b < B, k < N), rec_active
// (the same for the whole dispatch) and step_unit.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let u = gid.x; let b = gid.y; let m = gid.z;
    if (u >= dims.n || b >= dims.b || m >= dims.m) { return; }
    var rec = 0.0;
    if (rec_active()) {
        for (var k = 0u; k < dims.n; k++) { rec += rec_weight(m, u, k) * rec_source(m, b, k); }
    }
    step_unit(m, b, u, rec);
}
