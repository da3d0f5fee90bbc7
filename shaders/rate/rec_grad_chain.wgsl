// rec_grad_chain.wgsl — chain rule from the effective recurrent weight back to the parameter:
//   g[m, j, i] <- g[m, j, i] * mask_rec[m, j, i] * (dale ? sign(w_rec[m, j, i]) : 1)
// (sign(0) = 0, as d|w|/dw in PyTorch.) Applied in place to the w_rec block of grads.
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::gradient)
// CPU twin: src/model.rs::chain_w_rec_grad
// Bindings: 0 dims (uniform Dims) | 1 params (read) | 2 mask_rec (read) | 3 grads (read_write)
// Dispatch: x = ceil(N*N / 64), y = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let nn = dims.n * dims.n;
    let e = gid.x; let m = gid.y;
    if (e >= nn || m >= dims.m) { return; }
    let at = m * dims.p_len + dims.off_w_rec + e;
    var s = 1.0;
    if (dims.dale != 0u) { s = sign(params[at]); }
    grads[at] = grads[at] * mask_rec[m * nn + e] * s;
}
