"""The threshold sweep: hit rate, wall time against the sequential baseline and test accuracy per
threshold, every time ratio measured in the same run (docs/specbp.md, ``sweep.json``).

Each of ``repeats`` rounds trains the baseline (the plain trainer, one thread) and then every
threshold (two threads), so slow and fast moments of the machine fall on all of them alike; a
threshold's ratio is the median over the rounds of its time ÷ that round's baseline time.
Training is deterministic, so every round gives the same parameters (checked); per-step times
are those of each configuration's round of median wall time.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from codesign.artifacts import atomic_directory, check_target, write_json
from codesign.specbp.reference import (
    Outcome,
    Setup,
    SpecbpError,
    pixels,
    train_reference,
)
from codesign.specbp.trainer import Run, train

__all__ = ["FORMAT", "THRESHOLDS", "run_sweep", "write_sweep"]

THRESHOLDS = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)
FORMAT = "codesign-specbp-sweep/1"


def _same(a: Run, b: Run) -> bool:
    return all(
        np.array_equal(x, y)
        for x, y in zip(a.params.weights + a.params.biases, b.params.weights + b.params.biases)
    )


def _step_means(run: Run) -> dict:
    out = {}
    for o in Outcome:
        v = run.step_mean_ns(o)
        out[o.name.lower()] = None if np.isnan(v) else round(v, 1)
    return out


def _phases(run: Run) -> dict:
    """Median forward / speculative backward / serial-tail time (ns) over the inputs that ran
    each phase."""
    names = ("forward", "speculative_backward", "tail")
    out = {}
    for k, name in enumerate(names):
        v = run.phase_ns[..., k]
        v = v[v > 0]
        out[name] = float(np.median(v)) if v.size else None
    return out


def run_sweep(
    setup: Setup,
    data,
    thresholds=THRESHOLDS,
    *,
    repeats: int = 3,
    check_reference: bool = False,
    progress=None,
) -> dict:
    """Sweep ``thresholds`` on ``data`` (a :class:`codesign.data.Dataset`); the figures as a
    JSON-ready dict (keys in docs/specbp.md)."""
    thresholds = [float(t) for t in thresholds]
    if not thresholds or any(not t >= 0 for t in thresholds):
        raise SpecbpError(f"thresholds {thresholds}: give one or more values ≥ 0")
    if repeats < 1:
        raise SpecbpError(f"repeats = {repeats}: must be at least 1")
    test = (pixels(data.test_x), data.test_y)
    first: dict = {}
    seconds: dict = {"baseline": [], **{t: [] for t in thresholds}}
    timing: dict = {"baseline": [], **{t: [] for t in thresholds}}
    deterministic = True
    for _ in range(repeats):
        for key in ["baseline", *thresholds]:
            if key == "baseline":
                kw = {"speculate": False, "threads": 1}
            else:
                kw = {"threshold": key}
            run = train(setup, data.train_x, data.train_y, test=test, **kw)
            seconds[key].append(run.seconds)
            timing[key].append({"step_ns": _step_means(run), "phase_ns": _phases(run)})
            if key in first:
                deterministic &= _same(first[key], run)
            else:
                first[key] = run
            if progress is not None:
                progress()
    base = first["baseline"]

    def median_round(key) -> dict:  # per-step figures of the round of median wall time
        order = sorted(range(repeats), key=lambda r: seconds[key][r])
        return timing[key][order[(repeats - 1) // 2]]

    points = []
    for t in thresholds:
        run = first[t]
        ratios = [s / b for s, b in zip(seconds[t], seconds["baseline"])]
        point = {
            "threshold": t,
            "hit_rate": run.hit_rate,
            "hits": int(np.sum(run.outcomes == Outcome.HIT)),
            "misses": int(np.sum(run.outcomes == Outcome.MISS)),
            "serial": int(np.sum(run.outcomes == Outcome.SERIAL)),
            "hit_rate_per_epoch": [float(np.mean(e == Outcome.HIT)) for e in run.outcomes],
            "seconds": statistics.median(seconds[t]),
            "seconds_all": seconds[t],
            "time_ratio": statistics.median(ratios),
            "time_ratios": ratios,
            "test_accuracy": run.test_accuracy[-1],
            "test_accuracy_per_epoch": run.test_accuracy,
            "accuracy_change": run.test_accuracy[-1] - base.test_accuracy[-1],
            **median_round(t),
            "bit_identical_to_baseline": _same(run, base),
        }
        if check_reference:
            ref = train_reference(setup, pixels(data.train_x), data.train_y, t)
            point["reference"] = {
                "same_outcomes": bool(np.array_equal(ref.outcomes, run.outcomes)),
                "max_abs_weight_difference": float(
                    max(
                        np.abs(a - b).max()
                        for a, b in zip(
                            ref.params.weights + ref.params.biases,
                            run.params.weights + run.params.biases,
                        )
                    )
                ),
            }
            if progress is not None:
                progress()
        points.append(point)
    return {
        "format": FORMAT,
        "setup": {
            "sizes": list(setup.sizes),
            "slope": setup.slope,
            "lr": setup.lr,
            "batch": setup.batch,
            "clip": setup.clip,
            "epochs": setup.epochs,
            "seed": setup.seed,
        },
        "data": {
            "name": data.name,
            "train_images": len(data.train_y),
            "test_images": len(data.test_y),
        },
        "repeats": repeats,
        "deterministic": bool(deterministic),
        "baseline": {
            "seconds": statistics.median(seconds["baseline"]),
            "seconds_all": seconds["baseline"],
            "test_accuracy": base.test_accuracy[-1],
            "test_accuracy_per_epoch": base.test_accuracy,
            "step_ns": median_round("baseline")["step_ns"]["serial"],
            "phase_ns": median_round("baseline")["phase_ns"],
        },
        "points": points,
    }


def sweep_steps(repeats: int, thresholds, check_reference: bool) -> int:
    """How many times :func:`run_sweep` calls ``progress``."""
    n = len(list(thresholds))
    return repeats * (n + 1) + (n if check_reference else 0)


def write_sweep(result: dict, out: Path) -> Path:
    """``out/sweep.json``, ``out/specbp.png`` and ``out/report.md``, written atomically."""
    out = check_target(out, SpecbpError)
    with atomic_directory(out) as tmp:
        write_json(tmp / "sweep.json", result)
        _plot(result, tmp / "specbp.png")
        (tmp / "report.md").write_text(_report(result))
    return out


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = result["points"]
    t = [p["threshold"] for p in pts]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(t, [100 * p["test_accuracy"] for p in pts], "o-", label="test accuracy")
    left.axhline(100 * result["baseline"]["test_accuracy"], ls="--", c="gray", label="baseline")
    left.set_xlabel("threshold")
    left.set_ylabel("test accuracy after the last epoch (%)")
    twin = left.twinx()
    twin.plot(t, [p["time_ratio"] for p in pts], "s-", c="tab:red", label="time ÷ baseline")
    twin.plot(t, [p["hit_rate"] for p in pts], "^:", c="tab:green", label="hit rate")
    twin.set_ylabel("wall time ÷ baseline, hit rate")
    lines = left.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    left.legend(lines[0] + more[0], lines[1] + more[1], loc="lower right", fontsize=8)
    left.set_title("accuracy and training time against the threshold")
    epochs = range(1, len(result["baseline"]["test_accuracy_per_epoch"]) + 1)
    right.plot(
        epochs, [100 * a for a in result["baseline"]["test_accuracy_per_epoch"]], "k--",
        label="baseline",
    )  # fmt: skip
    for p in pts:
        acc = [100 * a for a in p["test_accuracy_per_epoch"]]
        right.plot(epochs, acc, label=str(p["threshold"]))
    right.set_xlabel("epoch")
    right.set_ylabel("test accuracy (%)")
    right.legend(title="threshold", fontsize=8)
    right.set_title("test accuracy per epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def _report(result: dict) -> str:
    b = result["baseline"]
    s = result["setup"]
    lines = [
        "# Speculative back-propagation: threshold sweep",
        "",
        f"MLP {'-'.join(map(str, s['sizes']))}, leaky ReLU {s['slope']}, softmax, cross-entropy, "
        f"learning rate {s['lr']}, gradients summed and applied every {s['batch']} inputs, "
        f"clipped at ±{s['clip']}, {s['epochs']} epochs on {result['data']['train_images']:,} "
        f"{result['data']['name']} images; test accuracy on {result['data']['test_images']:,}.",
        "",
        f"Baseline (plain trainer, one thread): {b['seconds']:.3f} s, test accuracy "
        f"{b['test_accuracy']:.2%}, {b['step_ns']:,.0f} ns per input. Times are medians of "
        f"{result['repeats']} rounds; ratios are per round, then the median.",
        "",
        "| threshold | hit rate | wall time (s) | ÷ baseline | test accuracy | Δ accuracy "
        "| ns per hit / miss | bit-identical to baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in result["points"]:
        hit, miss = (
            "–" if v is None else f"{v:,.0f}" for v in (p["step_ns"]["hit"], p["step_ns"]["miss"])
        )
        lines.append(
            f"| {p['threshold']} | {p['hit_rate']:.2%} | {p['seconds']:.3f} | "
            f"{p['time_ratio']:.2f} | {p['test_accuracy']:.2%} | "
            f"{100 * p['accuracy_change']:+.1f} pp | "
            f"{hit} / {miss} | "
            f"{'yes' if p['bit_identical_to_baseline'] else 'no'} |"
        )
    lines += ["", "![accuracy and time against the threshold](specbp.png)", ""]
    return "\n".join(lines)
