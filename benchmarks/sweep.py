"""Sweep benchmark: the same spectral sweep on one worker and on the default local cluster.

Six design points — densities 0.15, 0.25, 0.5 × boards nexys4ddr, vc707 — each pruned
(shared by the two boards), mapped, generated, co-simulated on ``--images`` test images and
synthesised by yosys, run twice from scratch in fresh directories (each with its own Verilator
build cache, so neither run reuses the other's work): once on a local cluster of one worker
process, once on the default cluster (one single-threaded worker process per core).  Prune
settings are lighter than the flow's (``--epochs``, default 3; 1 retrain epoch; 6 ADMM
iterations) to keep the benchmark near ten minutes on two cores; the stages are the flow's own.

Prints each run's wall time, the ratio parallel ÷ one worker (the issue asks ≤ 0.65), and the
parallel run's results table; the report with the Pareto plots is in ``OUT/parallel/report``.

``--json FILE`` writes every printed figure: ``points`` (6), ``tasks``, ``cores``,
``workers_parallel``, ``seconds_one_worker``, ``seconds_parallel``, ``ratio`` (parallel ÷ one
worker), ``failed_points`` (of the parallel run), ``report`` (its path), and ``rows``: per
point ``point``, ``density``, ``board``, ``status``, ``accuracy_fixed``, ``interval_cycles``,
``images_per_second``, ``dsp_estimate``, ``dsp_yosys``, ``bram36_estimate``,
``bram36_yosys``, ``lut_yosys``, ``cosim_verdict``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from codesign.spectral import sweep as spectral_sweep
from codesign.sweep import run_sweep, write_results, write_sweep_report

COLUMNS = [
    "point",
    "density",
    "board",
    "status",
    "accuracy_fixed",
    "interval_cycles",
    "images_per_second",
    "dsp_estimate",
    "dsp_yosys",
    "bram36_estimate",
    "bram36_yosys",
    "lut_yosys",
    "cosim_verdict",
]


def one_run(out: Path, workers: int, base: dict, points: list[dict]) -> tuple[float, list, int]:
    os.environ["CODESIGN_CACHE"] = str(out / "cache")  # the workers inherit it
    tasks, planned = spectral_sweep.plan(points, base, out)

    def done(task, status, what):
        text = f"{what['seconds']:.0f} s" if status == "ok" else what
        print(f"    {status:6s} {task.label} ({text})", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    rows = run_sweep(tasks, planned, workers=workers, on_done=done)
    seconds = time.perf_counter() - t0
    write_results(out, rows)
    write_sweep_report(out / "report", rows, spectral_sweep.TITLE, spectral_sweep.PLOTS)
    return seconds, rows, len(tasks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="default: a temporary directory")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--images", type=int, default=20, help="co-simulated test images per point")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    root = a.out or Path(tempfile.mkdtemp(prefix="codesign-sweep-"))
    base = {
        "epochs": a.epochs,
        "retrain_epochs": 1,
        "admm_iterations": 6,
        "cosim_images": a.images,
        "synth": not a.no_synth,
    }
    points = [{"density": d, "board": b} for b in ("nexys4ddr", "vc707") for d in (0.15, 0.25, 0.5)]
    cores = os.cpu_count() or 1
    print(f"{len(points)} spectral design points; {cores} cores; out {root}")
    t1, rows1, n_tasks = one_run(root / "one-worker", 1, base, points)
    print(f"one worker:        {t1:7.1f} s")
    tp, rows, _ = one_run(root / "parallel", cores, base, points)
    print(f"{cores} workers (default): {tp:7.1f} s")
    ratio = tp / t1
    print(f"ratio parallel / one worker: {ratio:.2f} (target ≤ 0.65); {n_tasks} tasks")
    print()
    print("  ".join(f"{c:>12s}" for c in COLUMNS))
    for r in rows:
        cells = []
        for c in COLUMNS:
            v = r.get(c)
            cells.append(
                f"{v:12.4g}" if isinstance(v, float) else f"{'' if v is None else v!s:>12s}"
            )
        print("  ".join(cells))
    failed = [r for r in rows if r["status"] != "ok"]
    for r in failed:
        print(f"point {r['point']} failed: {r['error']}")
    report = root / "parallel" / "report" / "report.md"
    print(f"report: {report}")
    if a.json:
        doc = {
            "points": len(points),
            "tasks": n_tasks,
            "cores": cores,
            "workers_parallel": cores,
            "seconds_one_worker": t1,
            "seconds_parallel": tp,
            "ratio": ratio,
            "failed_points": len(failed),
            "report": str(report),
            "rows": [{c: r.get(c) for c in COLUMNS} for r in rows],
        }
        a.json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
