// loss_totals.wgsl — the end of the per-network loss reductions (loss_reduce, spike_loss_reduce;
// appended to each, not a kernel itself). The kernel defines const RW (its workgroup size, a power
// of two); each of its threads li passes its strided partial sums of the task loss and of the
// regulariser term, which are summed by a tree in workgroup memory, and thread 0 writes
//   loss_out[m] = ( sum task / sum(mask),   sum reg / reg_count )
// Called from uniform control flow (it holds workgroup barriers).

var<workgroup> acc_l: array<f32, RW>;
var<workgroup> acc_r: array<f32, RW>;

fn write_totals(m: u32, li: u32, task: f32, reg: f32, reg_count: f32) {
    acc_l[li] = task; acc_r[li] = reg;
    workgroupBarrier();
    for (var w = RW / 2u; w > 0u; w >>= 1u) {
        if (li < w) { acc_l[li] += acc_l[li + w]; acc_r[li] += acc_r[li + w]; }
        workgroupBarrier();
    }
    if (li == 0u) {
        loss_out[m * 2u] = acc_l[0] * nets[m].inv_mask_sum;
        loss_out[m * 2u + 1u] = acc_r[0] / reg_count;
    }
}
