// task_loss.wgsl — the task loss of one (step, trial) and its dE/dy (SPEC §3), shared by
// rate_readout_loss, spike_loss and spike_online_out (appended to each; not a kernel itself).
// CPU twin: src/reference/common.rs::task_loss
//   mse: l = mask (y - y*)^2,              dy = 2 mask (y - y*) / sum(mask)
//   ce:  l = mask (logsumexp(y) - y[c]),   dy = mask (softmax(y) - onehot(c)) / sum(mask)
// Uses the caller's globals dims, y, targets, mask and writes dy. yb: first output of this
// (step, trial) in y and dy; tg: its first entry in targets and mask; inv = 1 / sum(mask).
// Returns acc + l, the terms added to acc in order (callers that sum over steps pass their sum).

fn task_loss(yb: u32, tg: u32, inv: f32, acc: f32) -> f32 {
    var l = acc;
    if (dims.loss == 0u) {
        for (var k = 0u; k < dims.n_out; k++) {
            let e = y[yb + k] - targets[tg + k];
            let mk = mask[tg + k];
            l += mk * e * e;
            dy[yb + k] = 2.0 * mk * e * inv;
        }
        return l;
    }
    var mx = -3.4e38;
    for (var k = 0u; k < dims.n_out; k++) { mx = max(mx, y[yb + k]); }
    var s = 0.0;
    for (var k = 0u; k < dims.n_out; k++) { s += exp(y[yb + k] - mx); }
    let lse = mx + log(s);
    let c = u32(targets[tg]);
    let mk = mask[tg];
    for (var k = 0u; k < dims.n_out; k++) {
        dy[yb + k] = mk * inv * (exp(y[yb + k] - lse) - select(0.0, 1.0, k == c));
    }
    return l + mk * (lse - y[yb + c]);
}
