// step_tiled.wgsl — entry point of the tiled form of the step kernels (rate_step_tiled,
// rate_bptt_step_tiled, spike_step_tiled, spike_bptt_step_tiled; appended after the kernel's file,
// tile.wgsl and tile_forward.wgsl or tile_backward.wgsl; not a kernel itself). A workgroup
// computes 64 units u0 + lid × 8 trials b0 + r of one network: the recurrent products through
// workgroup memory (tile_product), then step_unit for each of its trials.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let u0 = wg.x * TU; let b0 = wg.y * TB; let m = wg.z;
    var acc: array<f32, 8>;
    if (rec_active()) { acc = tile_product(m, u0, b0, lid); }   // uniform: the same for the whole dispatch
    if (u0 + lid >= dims.n) { return; }
    for (var r = 0u; r < TB; r++) {
        if (b0 + r >= dims.b) { break; }
        step_unit(m, b0 + r, u0 + lid, acc[r]);
    }
}
