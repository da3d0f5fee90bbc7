#!/usr/bin/env python3
"""Write the task files of configs/examples/churchland/ (standard library only, no numpy).

A generic delayed reach to 10 targets stands in for the Churchland et al. 2012 paradigm (their
10 conditions; data/neural/churchland2012_tme): target cue (cos, sin of 36 deg x c) on from
step 0, go cue (one step) at step 30, movement onset at step 35; the two outputs follow a
smooth 20-step reach from the origin to the target and hold it. One step = 10 ms, as the data's
bins. The analysis trials are the 10 conditions in the data's order; steps 30..=90 are the data's
61 bins (-50..550 ms from movement onset). The training pool is the same 10 trials.
"""
import io
import math
import struct
import sys
import zipfile

T, C, GO, ONSET, RAMP = 100, 10, 30, 35, 20


def npy(shape, values):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }" % (tuple(shape),)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    body = struct.pack("<%dd" % len(values), *values)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + body


def trials():
    inputs, targets = [], []
    for c in range(C):
        ang = 2 * math.pi * c / C
        for t in range(T):
            inputs += [math.cos(ang), math.sin(ang), 1.0 if t == GO else 0.0]
            s = min(max((t - ONSET) / RAMP, 0.0), 1.0)
            s = s * s * (3 - 2 * s)  # smooth start and stop
            targets += [s * math.cos(ang), s * math.sin(ang)]
    return inputs, targets


def main(out):
    inputs, targets = trials()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("inputs.npy", npy((C, T, 3), inputs))
        z.writestr("targets.npy", npy((C, T, 2), targets))
        z.writestr("mask.npy", npy((C, T, 2), [1.0] * (C * T * 2)))
    with open(out, "wb") as f:
        f.write(buf.getvalue())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "configs/examples/churchland/trials.npz")
