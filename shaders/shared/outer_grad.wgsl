// outer_grad.wgsl — weight gradients as sums of outer products over every (step, trial) sample s:
//   grads[m, dst + r*C + c] (+)= scale * sum_s a[m, s, r] * p[m, s, c]   (p = 1 when job.ones != 0;
//   += when dims.accumulate, for the second and later chunks of a split batch)
// Jobs: w_rec (a = delta, p = h[t-1], scale alpha), w_in (delta, x, alpha), b_in (delta, 1, alpha),
// w_out (dy, h[t], 1), b_out (dy, 1, 1). Row s of a network starts at base + s*stride.
// Rust wrapper: src/gpu/engine.rs (the weight gradients of both engines)
// CPU twin: src/reference/rate.rs::grad_backward_with
// Bindings: 0 dims (uniform Dims) | 1 job (uniform OuterJob, dynamic offset) | 2 a (read)
//           3 p (read) | 4 grads (read_write)
// Dispatch: x = ceil(R*C / 64), y = M.

struct OuterJob {
    rows: u32, cols: u32, samples: u32, ones: u32,
    a_net: u32, a_off: u32, a_stride: u32, p_net: u32,
    p_off: u32, p_stride: u32, dst: u32, scale: f32,
};

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x; let m = gid.y;
    if (e >= job.rows * job.cols || m >= dims.m) { return; }
    let r = e / job.cols; let c = e % job.cols;
    var acc = 0.0;
    let ab = m * job.a_net + job.a_off + r;
    let pb = m * job.p_net + job.p_off + c;
    if (job.ones != 0u) {
        for (var s = 0u; s < job.samples; s++) { acc += a[ab + s * job.a_stride]; }
    } else {
        for (var s = 0u; s < job.samples; s++) { acc += a[ab + s * job.a_stride] * p[pb + s * job.p_stride]; }
    }
    let at = m * dims.p_len + job.dst + e;
    if (dims.accumulate != 0u) { grads[at] += job.scale * acc; } else { grads[at] = job.scale * acc; }
}
