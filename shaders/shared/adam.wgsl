// adam.wgsl — Adam with PyTorch defaults (beta1 0.9, beta2 0.999, eps 1e-8), every parameter of
// every network, each network with its own learning rate (nets[m].lr):
//   mo = b1 mo + (1-b1) g;  ve = b2 ve + (1-b2) g^2;  p -= lr/bc1 * mo / (sqrt(ve)/sqrt(bc2) + eps)
// Rust wrapper: src/gpu/engine.rs (the Adam step of both engines)
// CPU twin: src/optim.rs::adam_step
// Bindings: 0 dims (uniform Dims) | 1 hyper (uniform AdamStep) | 2 grads (read) | 3 nets (read NetParams)
//           4 params (read_write) | 5 mo (read_write) | 6 ve (read_write)
// Dispatch: x = ceil(P / 64), y = M.

struct AdamStep { bc1: f32, sqrt_bc2: f32, beta1: f32, beta2: f32, eps: f32, _pad0: f32, _pad1: f32, _pad2: f32 };

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x; let m = gid.y;
    if (e >= dims.p_len || m >= dims.m) { return; }
    let i = m * dims.p_len + e;
    let g = grads[i];
    let mm = hyper.beta1 * mo[i] + (1.0 - hyper.beta1) * g;
    let vv = hyper.beta2 * ve[i] + (1.0 - hyper.beta2) * g * g;
    mo[i] = mm; ve[i] = vv;
    let lr = nets[m].lr;
    params[i] -= (lr / hyper.bc1) * mm / (sqrt(vv) / hyper.sqrt_bc2 + hyper.eps);
}
