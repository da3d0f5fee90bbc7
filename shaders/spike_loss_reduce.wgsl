// spike_loss_reduce.wgsl — per-network totals:
//   loss_out[m] = ( sum_b part[m, b] / sum(mask),   mean_j (rate[m, j] - target)^2 )
// One workgroup of 64 per network: strided partial sums, then a tree reduction in workgroup memory.
// Bindings: 0 dims (uniform Dims) | 1 part (read) | 2 rate (read) | 3 nets (read) | 4 loss_out (read_write)
// Dispatch: x = M.

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read> rate: array<f32>;
@group(0) @binding(3) var<storage, read> nets: array<NetParams>;
@group(0) @binding(4) var<storage, read_write> loss_out: array<f32>;

var<workgroup> acc_l: array<f32, 64>;
var<workgroup> acc_r: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m = wid.x;
    let target_rate = nets[m].rate_target;
    var sl = 0.0; var sr = 0.0;
    for (var i = li; i < dims.b; i += 64u) { sl += part[m * dims.b + i]; }
    for (var j = li; j < dims.n; j += 64u) { let e = rate[m * dims.n + j] - target_rate; sr += e * e; }
    acc_l[li] = sl; acc_r[li] = sr;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w >>= 1u) {
        if (li < w) { acc_l[li] += acc_l[li + w]; acc_r[li] += acc_r[li + w]; }
        workgroupBarrier();
    }
    if (li == 0u) {
        loss_out[m * 2u] = acc_l[0] * nets[m].inv_mask_sum;
        loss_out[m * 2u + 1u] = acc_r[0] / f32(dims.n);
    }
}
