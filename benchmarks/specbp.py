"""Speculative back-propagation benchmark: the CPU trainer's threshold sweep against the
sequential baseline, on the bundled MNIST data (4,000 training / 1,000 test images).

**Software.**  ``codesign.specbp.sweep.run_sweep`` with the reference setup (784-16-16-10, leaky
ReLU 0.01, softmax, cross-entropy, η 0.01, gradients summed and applied every 15 inputs, clipped
at ±5, 10 epochs, seed 0), thresholds 0, 0.05, 0.1, 0.25, 0.5, 1.0, ``--repeats`` rounds (each
round: the baseline — the plain trainer on one thread — then every threshold on two threads;
a threshold's time ratio is the median over rounds of its time ÷ that round's baseline time),
and the numpy reference trained once per threshold to check the same hits and misses and the
weights to float rounding.  Printed: per threshold the hit rate, wall time, ratio, test accuracy
and its change against the baseline, mean ns per hit / miss step, and whether the weights are
bit-identical to the baseline's; then the must-show checks.

``--json FILE`` writes every printed figure to FILE (sorted keys, numbers as numbers):

* ``software``: the sweep's record, as ``codesign specbp sweep`` writes it to ``sweep.json``
  (docs/specbp.md): ``setup`` {``sizes``, ``slope``, ``lr``, ``batch``, ``clip``, ``epochs``,
  ``seed``}, ``data`` {``name``, ``train_images``, ``test_images``}, ``repeats``,
  ``deterministic`` (every round gave the same parameters), ``baseline`` {``seconds`` (median),
  ``seconds_all``, ``test_accuracy``, ``test_accuracy_per_epoch``, ``step_ns`` (mean per input),
  ``phase_ns`` {``forward``, ``speculative_backward``, ``tail``} medians}, ``points`` (one per
  threshold: ``threshold``, ``hit_rate``, ``hits``, ``misses``, ``serial``,
  ``hit_rate_per_epoch``, ``seconds``, ``seconds_all``, ``time_ratio``, ``time_ratios``,
  ``test_accuracy``, ``test_accuracy_per_epoch``, ``accuracy_change`` (fraction, against the
  baseline), ``step_ns`` {``serial``, ``hit``, ``miss``} means or null, ``phase_ns``,
  ``bit_identical_to_baseline``, ``reference`` {``same_outcomes``,
  ``max_abs_weight_difference``});
* ``checks``: ``ratio_at_0_25`` and ``ratio_at_0_25_ok`` (≤ 0.85), ``accuracy_change_at_0_25_pp``
  and ``accuracy_ok`` (within 4 pp), ``threshold_0_bit_identical``, ``reference_agrees``
  (every threshold: same outcomes, weights within 1e-9);
* ``seconds``: the benchmark's own wall time.

Run: ``.venv/bin/python benchmarks/specbp.py [--repeats N] [--quick] [--json FILE]``
(``--quick``: 2 epochs, 2 rounds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codesign.data import load_bundled
from codesign.specbp import Setup
from codesign.specbp.sweep import THRESHOLDS, run_sweep


def software(repeats: int, epochs: int, console: Console) -> dict:
    result = run_sweep(
        Setup(epochs=epochs), load_bundled(), THRESHOLDS, repeats=repeats, check_reference=True
    )
    b = result["baseline"]
    t = Table(
        title=f"software: baseline {b['seconds']:.3f} s (median of {repeats}), "
        f"test {b['test_accuracy']:.2%}, {b['step_ns']:,.0f} ns per input"
    )
    for col in ("threshold", "hit rate", "seconds", "÷ baseline", "test", "Δ pp",
                "ns hit / miss", "= baseline", "reference"):  # fmt: skip
        t.add_column(col, justify="right")
    for p in result["points"]:
        hit, miss = (
            "–" if v is None else f"{v:,.0f}" for v in (p["step_ns"]["hit"], p["step_ns"]["miss"])
        )
        r = p["reference"]
        t.add_row(
            str(p["threshold"]),
            f"{p['hit_rate']:.2%}",
            f"{p['seconds']:.3f}",
            f"{p['time_ratio']:.2f}",
            f"{p['test_accuracy']:.2%}",
            f"{100 * p['accuracy_change']:+.1f}",
            f"{hit} / {miss}",
            "bit-identical" if p["bit_identical_to_baseline"] else "",
            f"{'same' if r['same_outcomes'] else 'DIFFERENT'} outcomes, "
            f"|Δw| ≤ {r['max_abs_weight_difference']:.0e}",
        )
    console.print(t)
    return result


def checks(sw: dict) -> dict:
    by = {p["threshold"]: p for p in sw["points"]}
    q = by.get(0.25)
    out = {
        "threshold_0_bit_identical": bool(by[0.0]["bit_identical_to_baseline"]),
        "reference_agrees": all(
            p["reference"]["same_outcomes"] and p["reference"]["max_abs_weight_difference"] < 1e-9
            for p in sw["points"]
        ),
    }
    if q is not None:
        out["ratio_at_0_25"] = q["time_ratio"]
        out["ratio_at_0_25_ok"] = q["time_ratio"] <= 0.85
        out["accuracy_change_at_0_25_pp"] = 100 * q["accuracy_change"]
        out["accuracy_ok"] = abs(q["accuracy_change"]) <= 0.04
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    console = Console(width=160)
    start = time.perf_counter()
    epochs, repeats = (2, 2) if args.quick else (10, args.repeats)
    sw = software(repeats, epochs, console)
    ck = checks(sw)
    for k, v in ck.items():
        console.print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    result = {"software": sw, "checks": ck, "seconds": time.perf_counter() - start}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        console.print(f"figures: {args.json}")


if __name__ == "__main__":
    main()
