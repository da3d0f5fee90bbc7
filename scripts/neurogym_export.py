#!/usr/bin/env python3
"""Export a NeuroGym task as an snnlab file task (SPEC §8): a training pool, analysis trials and a
ready train config.

    python scripts/neurogym_export.py PerceptualDecisionMaking-v0 --trials 256 --out DIR

writes into DIR:
- train.npz: K trials (--trials) drawn from the task with --seed, the SPEC §6 batch format:
  inputs [K, T, n_in] (f32, NeuroGym's observations), targets (discrete action spaces: class
  indices [K, T] int64, NeuroGym's ground truth, trained with loss "ce"; box spaces: [K, T, n_out]
  f32 with loss "mse") and mask (1 on the trial's own steps, 0 on the padding after a trial that
  is shorter than the longest one).
- analysis.npz: one trial per condition when the task has conditions (a condition is the set of
  scalar values in NeuroGym's trial info, e.g. ground_truth and coh; at most --max-conditions,
  in sorted order), else --analysis-trials seeded trials (seed + 1). Same format.
- conditions.json: the analysis trials' conditions, in order (the recordings' C axis must follow
  it), and how they were chosen.
- train.toml: task = "file" with the two batches, the loss, analysis_steps (the steps every
  analysis trial has) and bin_ms (NeuroGym's dt), ready for `snnlab train --config`.

Needs numpy and neurogym (tested with neurogym 2.2.0; 2.3.x imports torch without declaring it).
Files are written under a temporary name and renamed, so a failed export leaves no half file.
"""
import argparse
import json
import os
import sys


def fail(msg):
    print(f"neurogym_export: {msg}", file=sys.stderr)
    sys.exit(2)


def make_env(name, dt):
    try:
        import neurogym as ngym
    except ImportError as e:
        fail(f"cannot import neurogym ({e}); install it with: pip install 'neurogym==2.2.0'")
    kwargs = {} if dt is None else {"dt": dt}
    try:
        env = ngym.make(name, **kwargs)
    except Exception as e:  # gymnasium raises several kinds for an unknown or bad task
        fail(f"task {name!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    return env.unwrapped, ngym.__version__


def seed_env(env, seed):
    # NeuroGym draws trials from env.rng; its seed() sets it (reset(seed=) in newer versions).
    if hasattr(env, "seed"):
        env.seed(seed)
    else:
        env.reset(seed=seed)


def draw(env):
    """One new trial: (info, observations [T, n_in], ground truth [T] or [T, n_out])."""
    import numpy as np

    info = env.new_trial() or {}
    return info, np.array(env.ob, dtype=np.float32), np.array(env.gt)


def condition_key(info):
    """The trial's scalar settings, as a sorted tuple; None when it has none."""
    import numbers

    import numpy as np

    key = []
    for k, v in sorted(info.items()):
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (bool, numbers.Integral, numbers.Real, str)):
            key.append((k, v))
    return tuple(key) or None


def to_batch(trials, ce):
    import numpy as np

    t_max = max(ob.shape[0] for _, ob, _ in trials)
    n_in = trials[0][1].shape[1]
    b = len(trials)
    inputs = np.zeros((b, t_max, n_in), dtype=np.float32)
    if ce:
        targets = np.zeros((b, t_max), dtype=np.int64)
        mask = np.zeros((b, t_max), dtype=np.float32)
    else:
        n_out = trials[0][2].reshape(trials[0][2].shape[0], -1).shape[1]
        targets = np.zeros((b, t_max, n_out), dtype=np.float32)
        mask = np.zeros((b, t_max, n_out), dtype=np.float32)
    for i, (_, ob, gt) in enumerate(trials):
        t = ob.shape[0]
        inputs[i, :t] = ob
        if ce:
            targets[i, :t] = gt.astype(np.int64)
        else:
            targets[i, :t] = gt.reshape(t, -1)
        mask[i, :t] = 1.0
    return {"inputs": inputs, "targets": targets, "mask": mask}


def write_atomic(path, write):
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_npz(path, arrays):
    import numpy as np

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_atomic(path, write)


def save_text(path, text):
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    write_atomic(path, write)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", help="a NeuroGym task id, e.g. PerceptualDecisionMaking-v0")
    p.add_argument("--trials", type=int, required=True, help="trials in the training pool")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--seed", type=int, default=0, help="seed of the training pool (default 0)")
    p.add_argument("--dt", type=float, help="NeuroGym's dt in ms (default: the task's)")
    p.add_argument("--analysis-trials", type=int, default=16,
                   help="seeded analysis trials of a task without conditions (default 16)")
    p.add_argument("--max-conditions", type=int, default=64,
                   help="most conditions kept as one analysis trial each (default 64)")
    p.add_argument("--condition-draws", type=int, default=2000,
                   help="trials drawn to find every condition (default 2000)")
    p.add_argument("--updates", type=int, default=200, help="updates in train.toml (default 200)")
    a = p.parse_args()
    if a.trials < 1:
        fail(f"--trials {a.trials}: must be at least 1")
    if a.analysis_trials < 1 or a.max_conditions < 1 or a.condition_draws < 1 or a.updates < 1:
        fail("--analysis-trials, --max-conditions, --condition-draws and --updates must be at least 1")

    env, version = make_env(a.task, a.dt)
    import gymnasium

    space = env.action_space
    if isinstance(space, gymnasium.spaces.Discrete):
        ce = True
    elif isinstance(space, gymnasium.spaces.Box):
        ce = False
    else:
        fail(f"task {a.task!r}: action space {space} is neither Discrete nor Box")

    seed_env(env, a.seed)
    train = [draw(env) for _ in range(a.trials)]

    # Analysis trials: the first trial drawn of each condition, conditions in sorted order.
    seed_env(env, a.seed + 1)
    by_condition = {}
    draws = []
    for _ in range(a.condition_draws):
        t = draw(env)
        draws.append(t)
        key = condition_key(t[0])
        if key is None or len(by_condition) > a.max_conditions:
            break
        by_condition.setdefault(key, t)
    if by_condition and len(by_condition) <= a.max_conditions and None not in by_condition:
        keys = sorted(by_condition, key=repr)
        analysis = [by_condition[k] for k in keys]
        chosen = {"kind": "one trial per condition",
                  "conditions": [dict(k) for k in keys]}
    else:
        analysis = draws[: a.analysis_trials]
        while len(analysis) < a.analysis_trials:
            analysis.append(draw(env))
        chosen = {"kind": f"{a.analysis_trials} trials seeded with {a.seed + 1}",
                  "conditions": [dict(condition_key(t[0]) or ()) for t in analysis]}

    os.makedirs(a.out, exist_ok=True)
    save_npz(os.path.join(a.out, "train.npz"), to_batch(train, ce))
    save_npz(os.path.join(a.out, "analysis.npz"), to_batch(analysis, ce))
    chosen.update({"task": a.task, "neurogym": version, "dt_ms": float(env.dt)})
    save_text(os.path.join(a.out, "conditions.json"), json.dumps(chosen, indent=1) + "\n")
    common = min(ob.shape[0] for _, ob, _ in analysis)
    batch_size = min(16, a.trials)
    config = f"""# NeuroGym task {a.task} (neurogym {version}), exported by scripts/neurogym_export.py:
# {a.trials} training trials (seed {a.seed}); analysis trials: {chosen['kind']} (conditions.json).
task = "file"
train_batch = "train.npz"
analysis_batch = "analysis.npz"
loss = "{'ce' if ce else 'mse'}"
# The steps every analysis trial has (a shorter trial's padding is masked out).
analysis_steps = [0, {common - 1}]
# One NeuroGym step (its dt); spiking kinds simulate bin_ms / dt_ms steps per step.
bin_ms = {float(env.dt)}
rule = "bptt"
n_rec = 64
lr = 1e-3
batch_size = {batch_size}
seeds = [1]
updates = {a.updates}
checkpoints = [0, {a.updates // 2}, {a.updates}]
out = "runs/neurogym/{a.task}"
"""
    save_text(os.path.join(a.out, "train.toml"), config)
    print(f"{a.task}: {a.trials} training trials, {len(analysis)} analysis trials "
          f"({chosen['kind']}), loss {'ce' if ce else 'mse'} -> {a.out}")


if __name__ == "__main__":
    main()
