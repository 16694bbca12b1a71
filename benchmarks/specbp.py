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

**Hardware.**  The reference sparse MLP of system 2 (1024-64-32, fan-out (4, 16), z = (128, 32),
sigmoid, the default η schedule; ``codesign mlp train``'s stage) and two generated trainers: the
pipelined trainer (``codesign mlp generate``) and the speculating trainer (``--speculative``).
Three schedules: *pipelined* (the pipelined trainer, stale weights), *sequential* and
*speculative* (both on the speculating trainer: the same hardware; threshold ``--threshold``,
default 0.25 mean output distance = 320 LSB summed).  Per schedule: ``--rtl-epochs`` epochs
(default 1) of the 4,000 training images trained in Verilator from the artifact's initial
weights — every weight and bias after each epoch and every prediction compared with the
fixed-point model of that schedule, and every input's clocks with the cycle model — then the
1,000 test images classified by the RTL-trained trainer; the mean clocks per training input in
RTL (first to last prediction), the hit rate; the fixed-point model trained 10 epochs with the
schedule (test accuracy after each); yosys ``synth_xilinx`` for the Nexys4 DDR of both trainers
(DSP, RAMB36, LUT, FF) beside the estimate.  ``--no-hardware`` skips this part; ``--plot FILE``
draws the side-by-side figure.

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
* ``hardware`` (unless ``--no-hardware``): ``network`` {``layers``, ``fo``, ``z``},
  ``threshold`` (mean), ``threshold_lsb``, ``rtl_epochs``, ``inputs``, ``trainers`` {``pipelined``,
  ``speculating``: {``yosys`` {``dsp``, ``bram36``, ``lut``, ``ff``, ``fits``}, ``estimate``
  {``dsp``, ``bram36``, ``lut``, ``ff``}, ``generate_seconds``}}, ``schedules`` (one record per
  schedule: ``schedule``, ``trainer``, ``bit_exact``, ``clocks_per_input_rtl`` (mean over each RTL
  epoch), ``clocks_per_input_model`` (the same from the cycle model and the model's outcomes),
  ``hit_rate`` (per RTL epoch; null unless speculative), ``test_accuracy_rtl``,
  ``test_accuracy_model`` (after the RTL epochs), ``model_test_accuracy_per_epoch`` (10 epochs),
  ``model_hit_rate_per_epoch``, ``model_clocks_per_input_per_epoch`` (speculative: the cycle
  model over the model's outcomes), ``cosim_seconds``), ``threshold_sweep`` (the speculative
  schedule's model at thresholds 0.05, 0.1, 0.25, 0.5: ``threshold``, ``hit_rate_per_epoch``,
  ``clocks_per_input_per_epoch``, ``clocks_per_input`` (mean over epochs), ``over_sequential``,
  ``test_accuracy_per_epoch``, ``test_accuracy``), ``speculative_over_sequential`` (clocks per
  input, RTL), ``pipelined_over_sequential``;
* ``checks`` adds ``hardware_ratio`` and ``hardware_ratio_ok`` (≤ 0.8) and ``hardware_bit_exact``;
* ``seconds``: the benchmark's own wall time.

Run: ``.venv/bin/python benchmarks/specbp.py [--repeats N] [--quick] [--no-hardware]
[--rtl-epochs N] [--threshold T] [--plot FILE] [--json FILE]`` (``--quick``: software 2 epochs
and 2 rounds, hardware 400 inputs and no synthesis).
"""

from __future__ import annotations

import argparse
import json
import tempfile
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


def _model_runs(art, schedule, threshold):
    """The fixed-point model, 10 epochs (the artifact's η schedule), from the initial words;
    speculative: per epoch the hit rate and the mean clocks between inputs by the cycle model
    (which cosim proves equal to the RTL's, input by input)."""
    import numpy as np

    from codesign import data as data_mod
    from codesign.mlp.timing import speculative_clocks
    from codesign.mlp.train import FixedArithmetic, Schedule, pad_inputs, train_online

    t = art.meta["settings"]["train"]
    ds = data_mod.load(t["data_dir"], seed=t["data_seed"])
    net = art.net
    ops = FixedArithmetic(net)
    w = net.layers[0]
    r = train_online(
        net, ops, art.init_fixed, pad_inputs(ds.train_x, w), ds.train_y,
        list(art.meta["training"]["eta_exponents"]), Schedule(schedule),
        pad_inputs(ds.test_x, w), ds.test_y, threshold=ops.threshold(threshold),
    )  # fmt: skip
    out = {
        "model_test_accuracy_per_epoch": [e.test_accuracy for e in r.epochs],
        "model_hit_rate_per_epoch": None,
        "model_clocks_per_input_per_epoch": None,
    }
    if schedule == "speculative":
        hit, miss = (
            speculative_clocks(net.junctions, True),
            speculative_clocks(net.junctions, False),
        )
        out["model_hit_rate_per_epoch"] = [float((e.outcomes == 1).mean()) for e in r.epochs]
        out["model_clocks_per_input_per_epoch"] = [
            float(np.where(e.outcomes[:-1] == 1, hit, miss).mean()) for e in r.epochs
        ]
    return out


SWEEP_THRESHOLDS = (0.05, 0.1, 0.25, 0.5)


def hardware_sweep(art, console) -> list[dict]:
    """The speculative schedule at several thresholds, in the fixed-point model (10 epochs)."""
    from codesign.mlp.timing import speculative_clocks

    seq = speculative_clocks(art.net.junctions, False)
    rows = []
    for tau in SWEEP_THRESHOLDS:
        m = _model_runs(art, "speculative", tau)
        clocks = m["model_clocks_per_input_per_epoch"]
        rows.append(
            {
                "threshold": tau,
                "hit_rate_per_epoch": m["model_hit_rate_per_epoch"],
                "clocks_per_input_per_epoch": clocks,
                "clocks_per_input": sum(clocks) / len(clocks),
                "over_sequential": sum(clocks) / len(clocks) / seq,
                "test_accuracy_per_epoch": m["model_test_accuracy_per_epoch"],
                "test_accuracy": m["model_test_accuracy_per_epoch"][-1],
            }
        )
    t = Table(title="hardware threshold sweep: the speculative schedule's model, 10 epochs")
    for col in ("threshold", "hit rate (epoch 1 … 10)", "clocks/input", "÷ sequential", "test"):
        t.add_column(col, justify="right")
    for r in rows:
        h = r["hit_rate_per_epoch"]
        t.add_row(
            str(r["threshold"]),
            f"{h[0]:.1%} … {h[-1]:.1%}",
            f"{r['clocks_per_input']:.1f}",
            f"{r['over_sequential']:.3f}",
            f"{r['test_accuracy']:.2%}",
        )
    console.print(t)
    return rows


def hardware(root: Path, threshold: float, rtl_epochs: int, inputs, synth: bool, console):
    from codesign.eda.synth import SynthError, synthesise
    from codesign.mlp.artifact import load_network
    from codesign.mlp.cosim import cosim_trainer
    from codesign.mlp.generate import generate_trainer
    from codesign.mlp.settings import read_settings
    from codesign.mlp.steps import run_train

    s = read_settings()
    net = root / "net"
    run_train(s, net, quiet=True)
    art = load_network(net)
    trainers = {}
    for name, spec in (("pipelined", False), ("speculating", True)):
        t0 = time.perf_counter()
        man = generate_trainer(net, root / name, speculative=spec)
        rec = {"generate_seconds": time.perf_counter() - t0, "estimate": man["estimate"]}
        rec["yosys"] = None
        if synth:
            try:
                rep = synthesise(root / name, "nexys4ddr", root / f"synth-{name}")
            except SynthError:  # does not fit: the report is written all the same
                rep = json.loads((root / f"synth-{name}" / "report.json").read_text())
            res = rep["resources"]
            rec["yosys"] = {k: res[k]["yosys"] for k in ("dsp", "bram36", "lut", "ff")}
            rec["yosys"]["fits"] = rep["fits"]
        trainers[name] = rec
    rows = []
    for schedule, trainer in (
        ("pipelined", "pipelined"),
        ("sequential", "speculating"),
        ("speculative", "speculating"),
    ):
        t0 = time.perf_counter()
        r = cosim_trainer(
            root / trainer, epochs=rtl_epochs, inputs=inputs, test_images=1000,
            schedule=schedule, threshold=threshold, work=root / f"cosim-{schedule}",
        )  # fmt: skip
        rows.append(
            {
                "schedule": schedule,
                "trainer": trainer,
                "bit_exact": r["bit_exact"],
                "clocks_per_input_rtl": [e["mean_clocks_per_input_rtl"] for e in r["epochs"]],
                "clocks_per_input_model": [e["mean_clocks_per_input_model"] for e in r["epochs"]],
                "hit_rate": None
                if schedule != "speculative"
                else [e["hit_rate_model"] for e in r["epochs"]],
                "test_accuracy_rtl": r["test_accuracy_rtl"],
                "test_accuracy_model": r["test_accuracy_model"],
                "cosim_seconds": time.perf_counter() - t0,
                **_model_runs(art, schedule, threshold),
            }
        )
    by = {r["schedule"]: r for r in rows}
    seq = by["sequential"]["clocks_per_input_rtl"][0]
    out = {
        "network": {
            "layers": list(s.network.layers),
            "fo": list(s.network.fo),
            "z": list(s.network.z),
        },
        "threshold": threshold,
        "threshold_lsb": int(round(10 * threshold * 128)),
        "rtl_epochs": rtl_epochs,
        "inputs": inputs or art.meta["training"]["inputs_per_epoch"],
        "trainers": trainers,
        "schedules": rows,
        "threshold_sweep": hardware_sweep(art, console),
        "speculative_over_sequential": by["speculative"]["clocks_per_input_rtl"][0] / seq,
        "pipelined_over_sequential": by["pipelined"]["clocks_per_input_rtl"][0] / seq,
    }
    title = (
        f"hardware: {'-'.join(map(str, s.network.layers))}, z {list(s.network.z)}, threshold "
        f"{threshold}, {rtl_epochs} RTL epoch(s) of {out['inputs']} inputs"
    )
    t = Table(title=title)
    for col in ("schedule", "trainer", "clocks/input RTL", "model", "hit rate", "bit-exact",
                "test RTL", "model 10 epochs", "DSP", "RAMB36", "LUT"):  # fmt: skip
        t.add_column(col, justify="right")
    for r in rows:
        y = trainers[r["trainer"]]["yosys"] or trainers[r["trainer"]]["estimate"]
        t.add_row(
            r["schedule"],
            r["trainer"],
            f"{r['clocks_per_input_rtl'][0]:.1f}",
            f"{r['clocks_per_input_model'][0]:.1f}",
            "–" if r["hit_rate"] is None else f"{r['hit_rate'][0]:.2%}",
            "yes" if r["bit_exact"] else "NO",
            f"{r['test_accuracy_rtl']:.2%}",
            f"{r['model_test_accuracy_per_epoch'][-1]:.2%}",
            str(y["dsp"]),
            f"{y['bram36']:g}",
            f"{y['lut']:,}",
        )
    console.print(t)
    console.print(
        f"speculative ÷ sequential clocks per input (RTL, same trainer): "
        f"{out['speculative_over_sequential']:.3f}; pipelined ÷ sequential: "
        f"{out['pipelined_over_sequential']:.3f}"
        + ("" if synth else "; resources are the cost model's (no synthesis)")
    )
    return out


def plot(hw: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = hw["schedules"]
    names = [r["schedule"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].bar(names, [r["clocks_per_input_rtl"][0] for r in rows], color="tab:blue")
    axes[0].set_ylabel("clocks per training input (RTL)")
    axes[0].set_title("speed")
    for r in rows:
        axes[1].plot(
            range(1, len(r["model_test_accuracy_per_epoch"]) + 1),
            [100 * a for a in r["model_test_accuracy_per_epoch"]],
            "o-",
            label=r["schedule"],
        )
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("test accuracy, fixed-point model (%)")
    axes[1].legend()
    axes[1].set_title("accuracy")
    res = [hw["trainers"][r["trainer"]]["yosys"] or hw["trainers"][r["trainer"]]["estimate"]
           for r in rows]  # fmt: skip
    x = range(len(rows))
    axes[2].bar(list(x), [v["lut"] / 1000 for v in res], 0.6, color="tab:orange")
    axes[2].set_ylabel("LUT (thousands)")
    axes[2].set_xticks(
        list(x),
        [f"{n}\n{v['dsp']} DSP48\n{v['bram36']:g} BRAM36" for n, v in zip(names, res)],
    )
    axes[2].set_title("resources (yosys, Nexys4 DDR)")
    fig.suptitle(
        f"three schedules of the on-chip trainer, threshold {hw['threshold']} "
        f"(speculative ÷ sequential = {hw['speculative_over_sequential']:.2f})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


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
    ap.add_argument("--no-hardware", action="store_true")
    ap.add_argument("--rtl-epochs", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=0.25)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None, help="keep the hardware runs here")
    args = ap.parse_args()
    console = Console(width=160)
    start = time.perf_counter()
    epochs, repeats = (2, 2) if args.quick else (10, args.repeats)
    sw = software(repeats, epochs, console)
    ck = checks(sw)
    result = {"software": sw}
    if not args.no_hardware:
        root = args.work or Path(tempfile.mkdtemp(prefix="codesign-specbp-"))
        hw = hardware(
            root, args.threshold, args.rtl_epochs, 400 if args.quick else None,
            not args.quick, console,
        )  # fmt: skip
        result["hardware"] = hw
        ck["hardware_ratio"] = hw["speculative_over_sequential"]
        ck["hardware_ratio_ok"] = hw["speculative_over_sequential"] <= 0.8
        ck["hardware_bit_exact"] = all(r["bit_exact"] for r in hw["schedules"])
        if args.plot:
            plot(hw, args.plot)
    for k, v in ck.items():
        console.print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    result.update({"checks": ck, "seconds": time.perf_counter() - start})
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        console.print(f"figures: {args.json}")


if __name__ == "__main__":
    main()
