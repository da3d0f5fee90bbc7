#!/usr/bin/env python3
"""PyTorch peer of `snnlab bench`: seconds per training update of the rate network of SPEC §1.

One update = forward over T steps + backward + Adam step (torch.optim.Adam defaults, lr 1e-3) of
the mse loss of SPEC §3 (all-ones mask) plus the activity regulariser lambda * mean(h^2)
(lambda = 0.1). Rules: `bptt` (plain autograd through the unrolled network) and `eprop` (the
stop-gradient form of SPEC §4: the recurrent input uses h[t-1].detach(); the leak path keeps its
gradient). Timing is synchronised (torch.cuda.synchronize on cuda), one warm-up update per network
is excluded, and the median of the repeats is reported. With --m M, M networks are trained one
after another and the time of one network's update is reported.

The environment passes through: on a machine whose cores are busy with other work, PyTorch's
OpenMP threads spin-wait and slow down badly; OMP_WAIT_POLICY=PASSIVE avoids that.

Prints one JSON object per (rule, m) on stdout:
  {"rule", "n", "b", "t", "m", "device", "threads", "seconds_per_update", "torch"}

Standalone:  python3 benches/peers/torch_rate.py --n 200 --b 100 --t 300 --rules bptt,eprop
"""

import argparse
import json
import math
import sys
import time

N_IN, N_OUT = 3, 2
ALPHA = 0.1
LAMBDA = 0.1
LR = 1e-3


def csv_list(conv):
    def parse(s):
        try:
            out = [conv(x.strip()) for x in s.split(",") if x.strip()]
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e))
        if not out:
            raise argparse.ArgumentTypeError("empty list")
        return out
    return parse


class RateNet:
    """SPEC §1 rate network, retanh, alpha = 0.1, the paper's initialisation (g0 = 1)."""

    def __init__(self, torch, n, device, gen):
        t = torch
        kw = dict(device=device, dtype=t.float32)
        bound = 1.0 / math.sqrt(n)
        self.w_in = (t.randn(n, N_IN, generator=gen) / math.sqrt(N_IN)).to(**kw).requires_grad_()
        self.b_in = t.zeros(n, **kw).requires_grad_()
        self.w_rec = (1.5 * t.randn(n, n, generator=gen) / math.sqrt(n)).to(**kw).requires_grad_()
        self.w_out = ((t.rand(N_OUT, n, generator=gen) * 2 - 1) * bound).to(**kw).requires_grad_()
        self.b_out = ((t.rand(N_OUT, generator=gen) * 2 - 1) * bound).to(**kw).requires_grad_()
        self.ah0 = t.zeros(n, **kw).requires_grad_()
        self.params = [self.w_in, self.b_in, self.w_rec, self.w_out, self.b_out, self.ah0]
        self.opt = t.optim.Adam(self.params, lr=LR)

    def loss(self, torch, x, target, mask, cut):
        """x [B, T, 3], target/mask [B, T, 2]; cut = e-prop's stop-gradient on h[t-1]."""
        f = lambda a: torch.relu(torch.tanh(a))  # retanh: max(tanh(a), 0), derivative (1-tanh^2)[a>0]
        b, t_steps, _ = x.shape
        # w_in @ x[t] + b_in for every step in one matmul; unbind (one backward node that stacks the
        # step gradients) rather than drive[t] (one full-size zero gradient per step).
        drive = (x @ self.w_in.T + self.b_in).unbind(1)
        ah = self.ah0.expand(b, -1)
        h = f(ah)
        w_rec_t = self.w_rec.T
        hs = []
        for t in range(t_steps):
            h_pre = h.detach() if cut else h
            ah = (1 - ALPHA) * ah + ALPHA * torch.addmm(drive[t], h_pre, w_rec_t)  # = ah + alpha(-ah + ...)
            h = f(ah)
            hs.append(h)
        hs = torch.stack(hs, dim=1)  # [B, T, N]
        y = hs @ self.w_out.T + self.b_out
        task = (mask * (y - target) ** 2).sum() / mask.sum()
        return task + LAMBDA * (hs ** 2).mean()

    def update(self, torch, x, target, mask, cut):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(torch, x, target, mask, cut)
        loss.backward()
        self.opt.step()
        return loss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--b", type=int, default=100)
    ap.add_argument("--t", type=int, default=300)
    ap.add_argument("--rules", type=csv_list(str), default=["bptt", "eprop"])
    ap.add_argument("--m", type=csv_list(int), default=[1], help="networks trained one after another (list)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for r in args.rules:
        if r not in ("bptt", "eprop"):
            ap.error(f"--rules: unknown rule '{r}' (bptt or eprop)")
    if args.repeats < 1 or min(args.m) < 1 or min(args.n, args.b, args.t) < 1:
        ap.error("--n, --b, --t, --m and --repeats must be at least 1")

    try:
        import torch
    except ImportError:
        print("PyTorch is not installed (pip install torch)", file=sys.stderr)
        return 3
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    gen = torch.Generator().manual_seed(args.seed)
    shape_x, shape_y = (args.b, args.t, N_IN), (args.b, args.t, N_OUT)
    for rule in args.rules:
        cut = rule == "eprop"
        for m in args.m:
            nets = [RateNet(torch, args.n, dev, gen) for _ in range(m)]
            batches = [((torch.rand(shape_x, generator=gen) * 2 - 1).to(dev),
                        (torch.rand(shape_y, generator=gen) * 2 - 1).to(dev),
                        torch.ones(shape_y, device=dev)) for _ in range(m)]
            for net, (x, y, mk) in zip(nets, batches):  # warm-up (allocator, kernels)
                net.update(torch, x, y, mk, cut)
            sync()
            times = []
            for _ in range(args.repeats):
                sync()
                t0 = time.perf_counter()
                for net, (x, y, mk) in zip(nets, batches):
                    loss = net.update(torch, x, y, mk, cut)
                    loss.item()  # every update reads its loss back, as snnlab's bench does
                sync()
                times.append((time.perf_counter() - t0) / m)
            print(json.dumps({
                "rule": rule, "n": args.n, "b": args.b, "t": args.t, "m": m,
                "device": args.device, "threads": torch.get_num_threads(),
                "seconds_per_update": sorted(times)[len(times) // 2],  # upper median, as snnlab
                "torch": torch.__version__,
            }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
