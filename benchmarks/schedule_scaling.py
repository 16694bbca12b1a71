"""Scaling of the PE/bank scheduler on random 25%-dense layers, from LeNet conv2 to a VGG16 layer.

Prints, per layer: non-zeros, the König bound, the hazard bound, the schedule length, bubbles,
PE utilisation, wall and CPU time of scheduling, the peak memory it allocated (tracemalloc, in a
second run since tracing slows numpy down), and checks every schedule with the independent checker.

    PYTHONPATH=. python benchmarks/schedule_scaling.py [--latency 4] [--only vgg] [--no-check]
                                                       [--no-memory]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from codesign.spectral.schedule import (
    assign_banks,
    assign_pes,
    check_schedule,
    lower_bound,
    nonzeros_from_mask,
    schedule_layer,
    utilisation,
)

LAYERS = [  # name, O, C, F, P, B, ports
    ("lenet-conv2", 16, 6, 40, 16, 8, 1),
    ("lenet-conv2-16banks", 16, 6, 40, 16, 16, 1),
    ("vgg-conv3_x", 256, 256, 40, 128, 256, 1),
    ("vgg-conv4_x", 512, 512, 40, 256, 512, 1),
    ("vgg-conv4_x-2port", 512, 512, 40, 256, 256, 2),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--density", type=float, default=0.25)
    ap.add_argument("--latency", type=int, default=4)
    ap.add_argument("--forwarding", action="store_true")
    ap.add_argument("--only", default="", help="run only layers whose name contains this")
    ap.add_argument("--no-check", action="store_true", help="skip check_schedule")
    ap.add_argument("--no-memory", action="store_true", help="skip the traced run for peak memory")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(f"density {a.density}, latency {a.latency}, forwarding {a.forwarding}")
    print(
        f"{'layer':20s} {'n':>9s} {'P':>4s} {'B':>5s} {'ports':>5s} {'konig':>7s} {'hazard':>6s} "
        f"{'cycles':>7s} {'stall':>5s} {'util':>7s} {'wall s':>7s} {'cpu s':>6s} {'peak MB':>8s} "
        "check"
    )
    for name, O, C, F, P, B, ports in LAYERS:
        if a.only not in name:
            continue
        rng = np.random.default_rng(a.seed)
        nz = nonzeros_from_mask(rng.random((O, C, F)) < a.density)
        pe_of_group, bank_of = assign_pes(nz, O, F, P), assign_banks(nz, C, F, B)
        lb = lower_bound(nz, pe_of_group, bank_of, P, B, ports, a.latency, a.forwarding)
        kw = dict(P=P, B=B, ports=ports, latency=a.latency, forwarding=a.forwarding)
        t0, c0 = time.perf_counter(), time.process_time()
        s = schedule_layer(nz, pe_of_group, bank_of, **kw)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = float("nan")
        if not a.no_memory:  # a second, traced run (tracing slows numpy)
            tracemalloc.start()
            schedule_layer(nz, pe_of_group, bank_of, **kw)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        if a.no_check:
            verdict = "skipped"
        else:
            errs = check_schedule(
                nz,
                s,
                pe_of_group,
                bank_of,
                P=P,
                B=B,
                ports=ports,
                latency=a.latency,
                forwarding=a.forwarding,
            )
            verdict = "ok" if not errs else f"INVALID: {errs[0]}"
        print(
            f"{name:20s} {len(nz):9d} {P:4d} {B:5d} {ports:5d} {lb['konig']:7d} "
            f"{lb['hazard_bound']:6d} {s.cycles:7d} {s.stall_cycles:5d} "
            f"{utilisation(len(nz), P, s.cycles):7.4f} {dt:7.3f} {cpu:6.3f} {peak:8.1f} "
            f"{verdict}",
            flush=True,
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MB (includes the masks, triples and the checker)")


if __name__ == "__main__":
    main()
