// rec_effective.wgsl — effective recurrent weight of every network (SPEC §1, Dale's law / sparsity):
//   w_eff[m, j, i] = dale ? |w_rec[m, j, i]| * mask_rec[m, j, i] : w_rec[m, j, i] * mask_rec[m, j, i]
// (mask_rec is all ones for an unconstrained network.)
// Rust wrapper: src/gpu/rate_engine.rs (RateEngine::forward)
// CPU twin: src/model.rs::effective_w_rec
// Bindings: 0 dims (uniform Dims) | 1 params (read) | 2 mask_rec (read) | 3 w_eff (read_write)
// Dispatch: x = ceil(N*N / 64), y = M.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let nn = dims.n * dims.n;
    let e = gid.x; let m = gid.y;
    if (e >= nn || m >= dims.m) { return; }
    var w = params[m * dims.p_len + dims.off_w_rec + e];
    if (dims.dale != 0u) { w = abs(w); }
    w_eff[m * nn + e] = w * mask_rec[m * nn + e];
}
