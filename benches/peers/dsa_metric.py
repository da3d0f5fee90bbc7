#!/usr/bin/env python3
"""`snnlab dsa` against the reference `dsa-metric` package (PyPI) on the same generated pairs.

Pairs: trajectories of noisy random tanh networks (n units, C conditions, T bins), each paired
with (a) an independently drawn network ("unrelated") and (b) a rotated, scaled copy of itself
("rotated", ideal score 0). Both sides fit their own HAVOK DMD from the same arrays with the same
settings (n_delays, rank) and search the orthogonal alignment with the same number of iterations
per start (the package: Adam, 2 restarts, lr 5e-3; snnlab: at most that many Riemannian steps per
start). Scores are DSA angles in radians (smaller = more similar; the search that finds the
smaller angle is the better one).

Each side runs every pair --repeats times (default 3), each run on idle cores: the median time
is reported, and for the package (whose torch initialisation is unseeded) its median and its best
score over those runs (snnlab's search is seeded: one score).
Prints one line per pair and a summary:
  pair kind n  snnlab_s  package_s  ratio  snnlab_score  package_score (best run)
Run through benches/peers/dsa.sh, which makes the venv; the package missing = one line, exit 0.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def dynamics(n, t, c, rng):
    w = rng.standard_normal((n, n)) * 1.3 / np.sqrt(n)
    x = np.zeros((n, t, c))
    for ci in range(c):
        s = rng.standard_normal(n)
        for ti in range(t):
            x[:, ti, ci] = s
            s = np.tanh(w @ s) + 0.1 * rng.standard_normal(n)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--snnlab", required=True)
    ap.add_argument("--sizes", default="10,20,40")
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--n-delays", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of each side per pair; the median time is reported (both sides alike)")
    a = ap.parse_args()
    try:
        import torch
        from DSA import DSA
    except Exception as e:  # noqa: BLE001
        print(f"dsa-metric peer skipped: the package is not importable ({type(e).__name__}: {e})")
        return 0
    torch.set_num_threads(2)
    rng = np.random.default_rng(a.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in a.sizes.split(",")]:
            t, c = 60, 6
            x = dynamics(n, t, c, rng)
            q, _ = np.linalg.qr(rng.standard_normal((n, n)))
            cases = [("unrelated", dynamics(n, t, c, rng)), ("rotated", 2.0 * np.einsum("ij,jtc->itc", q, x))]
            for kind, y in cases:
                xp, yp, jp = (os.path.join(tmp, f) for f in ("x.npy", "y.npy", "o.json"))
                np.save(xp, x)
                np.save(yp, y)
                ours_times, theirs_times, theirs_scores = [], [], []
                for _ in range(a.repeats):
                    # Each timed run starts on idle cores: torch's OpenMP threads spin for a while
                    # after their last parallel region, on the cores snnlab would run on.
                    time.sleep(0.5)
                    t0 = time.perf_counter()
                    subprocess.run(
                        [a.snnlab, "dsa", "--x", xp, "--y", yp, "--n-delays", str(a.n_delays),
                         "--iters", str(a.iters), "--out", jp],
                        check=True, stdout=subprocess.DEVNULL)
                    ours_times.append(time.perf_counter() - t0)
                    ours = json.load(open(jp))["score"]  # deterministic: the same every run
                    # The package wants trials x time x units.
                    time.sleep(0.5)
                    t0 = time.perf_counter()
                    d = DSA(np.transpose(x, (2, 1, 0)).copy(), np.transpose(y, (2, 1, 0)).copy(),
                            n_delays=a.n_delays, score_method="angular", iters=a.iters, lr=5e-3)
                    theirs_scores.append(float(d.fit_score()))
                    theirs_times.append(time.perf_counter() - t0)
                ours_s, theirs_s = float(np.median(ours_times)), float(np.median(theirs_times))
                # The package's torch initialisation is unseeded: its median and best score.
                theirs, theirs_best = float(np.median(theirs_scores)), min(theirs_scores)
                rows.append((kind, n, ours_s, theirs_s, ours, theirs, theirs_best))
                print(f"pair {kind:9s} n={n:3d}  snnlab {ours_s:7.3f} s  package {theirs_s:7.3f} s  "
                      f"ratio {theirs_s / ours_s:6.1f}x  snnlab {ours:.6f} rad  package {theirs:.6f} rad "
                      f"(best run {theirs_best:.6f})",
                      flush=True)
    ours_t = sum(r[2] for r in rows)
    theirs_t = sum(r[3] for r in rows)
    never_worse = all(r[4] <= r[5] + 1e-6 for r in rows)
    never_worse_best = all(r[4] <= r[6] + 1e-6 for r in rows)
    slowest = min(r[3] / r[2] for r in rows)
    print(f"summary: {len(rows)} pairs, mean time per pair snnlab {ours_t / len(rows):.3f} s, "
          f"package {theirs_t / len(rows):.3f} s, ratio {theirs_t / ours_t:.1f}x; "
          f"lowest ratio {slowest:.1f}x; snnlab score <= package median score on every pair: "
          f"{never_worse}, <= its best run's: {never_worse_best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
