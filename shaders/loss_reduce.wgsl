// loss_reduce.wgsl — per-network totals from the per-(step, trial) parts of rate_readout_loss:
//   loss_out[m] = ( sum_{t,b} part[m,t,b,0] / sum(mask),   sum_{t,b} part[m,t,b,1] / (T*B*N) )
//   (sum(mask) and T*B_total*N are those of the whole batch: chunks' values add up)
// One workgroup of 256 per network: strided partial sums, then a tree reduction in workgroup memory.
// Bindings: 0 dims (uniform Dims) | 1 part (read) | 2 nets (read) | 3 loss_out (read_write)
// Dispatch: x = M.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read> nets: array<NetParams>;
@group(0) @binding(3) var<storage, read_write> loss_out: array<f32>;

var<workgroup> acc_l: array<f32, 256>;
var<workgroup> acc_h: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m = wid.x;
    let count = dims.t * dims.b;
    var sl = 0.0; var sh = 0.0;
    for (var i = li; i < count; i += 256u) {
        let p = (m * count + i) * 2u;
        sl += part[p]; sh += part[p + 1u];
    }
    acc_l[li] = sl; acc_h[li] = sh;
    workgroupBarrier();
    for (var w = 128u; w > 0u; w >>= 1u) {
        if (li < w) { acc_l[li] += acc_l[li + w]; acc_h[li] += acc_h[li + w]; }
        workgroupBarrier();
    }
    if (li == 0u) {
        loss_out[m * 2u] = acc_l[0] * nets[m].inv_mask_sum;
        loss_out[m * 2u + 1u] = acc_h[0] / f32(dims.t * dims.b_total * dims.n);
    }
}
