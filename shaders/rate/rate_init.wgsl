// rate_init.wgsl — initial state of every trial: ah[-1] = ah0, h[-1] = f(ah0) (state slot 0).
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::forward)
// CPU twin: src/reference/rate.rs::forward_with
// Bindings: 0 dims (uniform Dims) | 1 params (read) | 2 ah (read_write) | 3 h (read_write)
// Dispatch: x = ceil(N / 64), y = B, z = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x; let b = gid.y; let m = gid.z;
    if (j >= dims.n || b >= dims.b || m >= dims.m) { return; }
    let a = params[m * dims.p_len + dims.off_ah0 + j];
    let at = state_idx(dims, m, 0u, b, j);
    ah[at] = a;
    h[at] = act_f(dims.act, a);
}
