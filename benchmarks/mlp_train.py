"""Sparse-MLP benchmark: accuracy against density, and the trainer's cost against z, per board.

Three tables, on the bundled MNIST data (``load_bundled``: 4,000 training / 1,000 test images)
and the reference layers (1024, 64, 32), sigmoid, the ``start`` interleaver, Glorot-normal
start (seed 0) and the pipelined schedule — the defaults of ``codesign.mlp.settings``:

1. **Accuracy against density.**  Per fan-out ``fo`` (default: (2, 8), the reference (4, 16),
   (8, 16), (16, 32) and the fully connected (64, 32)), the network is built and trained exactly
   as the ``codesign mlp train`` stage does (``build_network`` on ``read_settings`` with
   ``network.fo`` and ``network.z`` overridden, ``glorot_normal``, ``quantize_params``,
   ``pad_inputs``, then ``train_online`` once with ``FloatArithmetic`` from the float start
   and once with ``FixedArithmetic`` from the quantised start, test images evaluated after every
   epoch).  Printed: z, weights (edges), density, clocks per input, float and fixed-point test
   accuracy after the last epoch, fixed-point saturations and the wall time of each run.
   *z*: training does not depend on z except through the edge order it induces, so each point
   gets the z that keeps the reference's speed — per junction the smallest z the ``Junction``
   accepts (``cost.z_candidates``) that streams its edges in at most as many clocks as the
   reference's busiest junction (32), else the largest it accepts; this gives the reference
   its own z (128, 32), and the fully connected network (1024, 64) at 64 + 4 clocks per input.
   *η schedule*: the settings' default ``train.eta_exponents`` (``L`` = 10 entries, one per
   epoch) resampled to ``--epochs N``: epoch ``e`` (0-based) uses entry
   ``⌊e·(L−1)/(N−1) + ½⌋`` (entry 0 for ``N = 1``).  ``N = L`` is the schedule itself; any
   ``N`` starts at the first η and ends at the last one, a longer run holds each η
   proportionally longer (``--eta`` gives the exponents explicitly instead).
   *Saturations*: the total of ``TrainResult.saturations`` — the count the artifact stores as
   ``fixed.saturations``, of the training passes only (the per-epoch test evaluation counts
   apart) — and, beside it, those of one test pass of the final weights.
2. **Cost against z** of the reference network, z = (512, 64), (256, 64), (128, 32), (64, 16),
   (32, 8), (16, 4) (``cost.trainer_cost`` on ``connectivity.junctions``): clocks per
   junction and per input (the cycle model, ``timing.block_cycle``), an input's latency and the
   clocks of one epoch (flush included), multipliers (feed-forward, back-propagation, update),
   DSP48, LUT, flip-flops and RAMB18.
3. **z per board**: ``cost.explore`` for every board of ``eda.boards.list_boards()`` with the
   settings' budget (margin 0.8, no DSP cap, update multipliers in LUTs), for the reference
   fan-out (the chosen z and its cost) and, more briefly, for every fan-out of table 1.

``--json FILE`` writes every printed figure to FILE (sorted keys, numbers as numbers):

* ``data``: ``name``, ``seed`` (of the split), ``train_images`` (used per epoch),
  ``test_images``;
* ``settings``: ``layers``, ``activation``, ``schedule``, ``interleaver``, ``init_seed``,
  ``epochs``, ``eta_exponents`` (one per epoch, η = 2^-k), ``default_eta_exponents``,
  ``reference_clocks`` (the per-junction clock budget of the z rule), ``quick`` (bool);
* ``accuracy``: one record per fan-out — ``fo``, ``z``, ``fi``, ``edges`` (per junction),
  ``weights`` (all edges), ``biases``, ``density`` (per junction, fo / n_right),
  ``density_total`` (weights ÷ the fully connected network's), ``dead_right_neurons`` (per
  junction), ``clocks_per_input``, ``float_test_accuracy`` and ``fixed_test_accuracy`` (after
  the last epoch, fractions), ``float_train_accuracy`` and ``fixed_train_accuracy`` (online,
  last epoch), ``float_epochs`` and ``fixed_epochs`` (test accuracy after every epoch),
  ``saturations`` (training passes, the stage's figure), ``saturations_by_point`` {datapath
  point: count}, ``test_pass_saturations`` (one test pass of the final weights),
  ``float_seconds`` and ``fixed_seconds`` (wall time of each ``train_online`` call, its
  per-epoch test evaluation included);
* ``z_sweep``: one record per z — ``z``, ``clocks_per_junction``, ``clocks_per_input``,
  ``input_latency_clocks``, ``epoch_clocks`` (the training images, flush included),
  ``epoch_ms_at_100mhz``, ``mult_ff``, ``mult_bp``, ``mult_up``, ``mult_total``,
  ``mult_per_junction`` [{``ff``, ``bp``, ``up``}], ``dsp``, ``lut``, ``flipflops``,
  ``bram18``;
* ``boards``: one record per board for the reference fan-out — ``board``, ``clock_mhz``,
  ``limits`` {``lut``, ``ff``, ``dsp``, ``bram18``}, ``points`` (z combinations), ``fitting``
  (how many fit), ``z`` (chosen), ``clocks_per_input``, ``dsp``, ``lut``, ``flipflops``,
  ``bram18``, ``inputs_per_second`` (at the board's clock), ``front`` [{``z``,
  ``clocks_per_input``, ``dsp``, ``lut``, ``flipflops``, ``bram18``, ``fits``}];
* ``boards_by_fo``: one record per board and fan-out — ``board``, ``fo``, ``fits`` (bool),
  ``z`` and ``clocks_per_input`` (null when nothing fits), ``dsp``, ``lut``, ``bram18``;
* ``seconds``: wall time of the whole benchmark.

Run: ``.venv/bin/python benchmarks/mlp_train.py [--epochs 10] [--quick] [--json FILE]
[--fo 4,16 --fo 2,8 ...] [--no-full]``.  The default (10 epochs on all 4,000 images, five
fan-outs) takes about 1.5 minutes, a third of it the fully connected runs; ``--quick`` trains 3
epochs on the first 1,000 training images (about 13 s).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from codesign.data import load_bundled
from codesign.eda.boards import list_boards, load_board
from codesign.fixed import OverflowCounter
from codesign.mlp.connectivity import dead_neurons, junctions
from codesign.mlp.cost import Budget, ExploreError, explore, trainer_cost, z_candidates
from codesign.mlp.settings import read_settings
from codesign.mlp.steps import build_network
from codesign.mlp.timing import PIPELINE_FILL, block_cycle, input_latency, training_clocks
from codesign.mlp.train import (
    FixedArithmetic,
    FloatArithmetic,
    Schedule,
    glorot_normal,
    pad_inputs,
    predict,
    quantize_params,
    train_online,
)

DEFAULT_FO = [(2, 8), (4, 16), (8, 16), (16, 32)]
SWEEP_Z = [(512, 64), (256, 64), (128, 32), (64, 16), (32, 8), (16, 4)]
QUICK = {"epochs": 3, "train_images": 1000}


def resample(base: list[int], n: int) -> list[int]:
    """``base`` (one entry per epoch) stretched or shrunk to ``n`` epochs, ends kept."""
    if n == 1:
        return [base[0]]
    return [base[math.floor(e * (len(base) - 1) / (n - 1) + 0.5)] for e in range(n)]


def same_speed_z(layers, fo, clocks: int) -> tuple[int, ...]:
    """Per junction the smallest accepted z streaming its edges in ≤ ``clocks`` clocks, else
    the largest accepted z."""
    out = []
    for i, f in enumerate(fo):
        cands = z_candidates(layers[i], layers[i + 1], f)
        fast = [z for z in cands if layers[i] * f / z <= clocks]
        out.append(min(fast) if fast else max(cands))
    return tuple(out)


def pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two integers 'a,b', got {text!r}") from None
    return a, b


def accuracy_point(fo, z, etas, ds, n_train, fc_weights) -> dict:
    s = read_settings(**{"network.fo": list(fo), "network.z": list(z)})
    net, _ = build_network(s, z)
    width = net.layers[0]
    train_x, train_y = pad_inputs(ds.train_x[:n_train], width), ds.train_y[:n_train]
    test_x, test_y = pad_inputs(ds.test_x, width), ds.test_y
    pixels = int(np.prod(ds.train_x.shape[1:]))
    schedule = Schedule(s.train.schedule)
    init = glorot_normal(net, s.train.seed)
    runs, secs = {}, {}
    for ops, p0 in ((FloatArithmetic(net), init), (FixedArithmetic(net), quantize_params(init))):
        print(f"  training fo={fo} z={z} ({ops.name}) ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        runs[ops.name] = train_online(
            net, ops, p0, train_x, train_y, etas, schedule, test_x, test_y
        )
        secs[ops.name] = time.perf_counter() - t0
    fl, fx = runs["float"], runs["fixed"]
    fresh = FixedArithmetic(net, OverflowCounter())
    final = float(np.mean(predict(net, fresh, fx.params, test_x) == test_y))
    assert final == fx.epochs[-1].test_accuracy, (final, fx.epochs[-1].test_accuracy)
    js = net.junctions
    weights = sum(j.edges for j in js)
    return {
        "fo": list(fo),
        "z": list(z),
        "fi": [j.fi for j in js],
        "edges": [j.edges for j in js],
        "weights": weights,
        "biases": sum(j.n_right for j in js),
        "density": [j.density for j in js],
        "density_total": weights / fc_weights,
        "dead_right_neurons": [
            int(dead_neurons(j, o, pixels if i == 0 else j.n_left).size)
            for i, (j, o) in enumerate(zip(js, net.orders))
        ],
        "clocks_per_input": block_cycle(js),
        "float_test_accuracy": fl.epochs[-1].test_accuracy,
        "fixed_test_accuracy": fx.epochs[-1].test_accuracy,
        "float_train_accuracy": fl.epochs[-1].train_accuracy,
        "fixed_train_accuracy": fx.epochs[-1].train_accuracy,
        "float_epochs": [e.test_accuracy for e in fl.epochs],
        "fixed_epochs": [e.test_accuracy for e in fx.epochs],
        "saturations": int(sum(fx.saturations.values())),
        "saturations_by_point": {k: int(v) for k, v in sorted(fx.saturations.items())},
        "test_pass_saturations": int(fresh.counter.total),
        "float_seconds": secs["float"],
        "fixed_seconds": secs["fixed"],
    }


def sweep_point(layers, fo, z, n_train) -> dict:
    js = junctions(layers, fo, z)
    c = trainer_cost(js)
    assert c["clocks_per_input"] == block_cycle(js)
    m = c["multipliers"]
    epoch = training_clocks(js, n_train, 1)
    return {
        "z": list(z),
        "clocks_per_junction": [j.clocks for j in js],
        "clocks_per_input": c["clocks_per_input"],
        "input_latency_clocks": input_latency(js),
        "epoch_clocks": epoch,
        "epoch_ms_at_100mhz": epoch / 100e6 * 1e3,
        "mult_ff": m["ff"],
        "mult_bp": m["bp"],
        "mult_up": m["up"],
        "mult_total": m["ff"] + m["bp"] + m["up"],
        "mult_per_junction": m["per_junction"],
        "dsp": c["dsp"],
        "lut": c["lut"],
        "flipflops": c["ff"],
        "bram18": c["bram18"],
    }


def _design(p: dict) -> dict:
    return {
        "z": p["z"],
        "clocks_per_input": p["clocks_per_input"],
        "dsp": p["dsp"],
        "lut": p["lut"],
        "flipflops": p["ff"],
        "bram18": p["bram18"],
        "fits": p["fits"],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None, help="epochs (default 10; --quick 3)")
    ap.add_argument("--eta", default=None, help="η exponents per epoch, e.g. 3,3,4 (overrides)")
    ap.add_argument("--train-images", type=int, default=None, help="first N (default all)")
    ap.add_argument("--quick", action="store_true", help="3 epochs on 1,000 training images")
    ap.add_argument("--fo", type=pair, action="append", help="fan-outs a,b (repeatable)")
    ap.add_argument("--no-full", action="store_true", help="skip the fully connected network")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    a = ap.parse_args(argv)
    t_start = time.perf_counter()

    s0 = read_settings()
    layers = list(s0.network.layers)
    base = list(s0.train.eta_exponents)
    if a.eta is not None:
        etas = [int(x) for x in a.eta.split(",")]
    else:
        n = a.epochs if a.epochs is not None else (QUICK["epochs"] if a.quick else len(base))
        if n < 1:
            ap.error("--epochs must be ≥ 1")
        etas = resample(base, n)
    read_settings(**{"train.eta_exponents": etas})  # checked as the stage would
    ds = load_bundled(a.data_seed)
    n_train = a.train_images or (QUICK["train_images"] if a.quick else ds.n_train)
    n_train = min(n_train, ds.n_train)
    ref_js = junctions(layers, s0.network.fo, s0.network.z)
    ref_clocks = block_cycle(ref_js) - PIPELINE_FILL
    fos = [tuple(f) for f in (a.fo or DEFAULT_FO)]
    full = (layers[1], layers[2])
    if not a.no_full and full not in fos:
        fos.append(full)
    fc_weights = sum(layers[i] * layers[i + 1] for i in range(len(layers) - 1))

    print(
        f"data: bundled MNIST (seed {a.data_seed}), {n_train} train / {ds.n_test} test; "
        f"layers {tuple(layers)}, {s0.network.activation}, {s0.train.schedule} schedule, "
        f"{s0.network.interleaver} interleaver, init seed {s0.train.seed}"
    )
    print(f"epochs {len(etas)}, eta exponents {etas} (default {base})")
    print(
        f"z per point: the fewest lanes that keep every junction within {ref_clocks} clocks "
        "(the reference's busiest)"
    )
    print()
    print("1. accuracy against density (test accuracy on the test images after the last epoch)")
    hdr = (
        f"{'fo':>8s} {'z':>10s} {'weights':>7s} {'density':>13s} {'of FC':>6s} {'clk/in':>6s} "
        f"{'float':>6s} {'fixed':>6s} {'fix-flt':>7s} {'sat trn':>8s} {'sat tst':>8s} "
        f"{'float s':>7s} {'fixed s':>7s}"
    )
    print(hdr, flush=True)
    acc = []
    for fo in fos:
        z = same_speed_z(layers, fo, ref_clocks)
        r = accuracy_point(fo, z, etas, ds, n_train, fc_weights)
        acc.append(r)
        dens = "/".join(f"{d:.1%}" for d in r["density"])
        print(
            f"{str(tuple(fo)):>8s} {str(tuple(z)):>10s} {r['weights']:7d} {dens:>13s} "
            f"{r['density_total']:6.1%} {r['clocks_per_input']:6d} "
            f"{r['float_test_accuracy']:6.1%} {r['fixed_test_accuracy']:6.1%} "
            f"{100 * (r['fixed_test_accuracy'] - r['float_test_accuracy']):+5.1f}pp "
            f"{r['saturations']:8d} {r['test_pass_saturations']:8d} "
            f"{r['float_seconds']:7.1f} {r['fixed_seconds']:7.1f}",
            flush=True,
        )
    print("   per epoch (test accuracy, float | fixed):")
    for r in acc:
        curve = " ".join(f"{x:.3f}" for x in r["float_epochs"])
        fcurve = " ".join(f"{x:.3f}" for x in r["fixed_epochs"])
        print(f"   {str(tuple(r['fo'])):>8s}  {curve} | {fcurve}")
    print(
        "   fixed-point saturations: training passes by datapath point; one test pass of the "
        "final weights"
    )
    for r in acc:
        parts = ", ".join(f"{k} {v}" for k, v in r["saturations_by_point"].items() if v)
        print(f"   {str(tuple(r['fo'])):>8s}  {parts or 'none'}; test {r['test_pass_saturations']}")
    print()

    fo_ref = tuple(s0.network.fo)
    print(f"2. cost against z, reference network fo = {fo_ref} ({n_train} inputs per epoch)")
    print(
        f"{'z':>10s} {'clk j1/j2':>10s} {'clk/in':>6s} {'latency':>7s} {'epoch clk':>9s} "
        f"{'ms@100':>7s} {'FF':>4s} {'BP':>4s} {'UP':>4s} {'mults':>5s} {'DSP':>4s} "
        f"{'LUT':>7s} {'flipflop':>8s} {'RAMB18':>6s}"
    )
    sweep = []
    for z in SWEEP_Z:
        r = sweep_point(layers, fo_ref, z, n_train)
        sweep.append(r)
        cj = "/".join(str(c) for c in r["clocks_per_junction"])
        print(
            f"{str(z):>10s} {cj:>10s} {r['clocks_per_input']:6d} "
            f"{r['input_latency_clocks']:7d} {r['epoch_clocks']:9d} "
            f"{r['epoch_ms_at_100mhz']:7.2f} {r['mult_ff']:4d} {r['mult_bp']:4d} "
            f"{r['mult_up']:4d} {r['mult_total']:5d} {r['dsp']:4d} {r['lut']:7d} "
            f"{r['flipflops']:8d} {r['bram18']:6d}"
        )
    print()

    budget = Budget(s0.map.margin, s0.map.max_dsp)
    print(
        f"3. z per board (cost.explore, margin {budget.margin}, "
        f"max DSP {budget.max_dsp}, update multipliers in LUTs), fo = {fo_ref}"
    )
    print(
        f"{'board':12s} {'MHz':>4s} {'limits LUT/DSP/RAMB18':>22s} {'fit':>7s} {'z':>10s} "
        f"{'clk/in':>6s} {'DSP':>4s} {'LUT':>7s} {'RAMB18':>6s} {'inputs/s':>10s}"
    )
    boards, by_fo = [], []
    for name in list_boards():
        board = load_board(name)
        e = explore(layers, fo_ref, board, budget, s0.map.up_in_dsp)
        c = e["chosen"]
        ips = board.target_clock_mhz * 1e6 / c["clocks_per_input"]
        fitting = sum(
            p["fits"] for p in _all_points(layers, fo_ref, budget.limits(board), s0.map.up_in_dsp)
        )
        boards.append(
            {
                "board": name,
                "clock_mhz": board.target_clock_mhz,
                "limits": e["limits"],
                "points": e["points"],
                "fitting": fitting,
                "z": c["z"],
                "clocks_per_input": c["clocks_per_input"],
                "dsp": c["dsp"],
                "lut": c["lut"],
                "flipflops": c["ff"],
                "bram18": c["bram18"],
                "inputs_per_second": ips,
                "front": [_design(p) for p in e["front"]],
            }
        )
        lim = e["limits"]
        lims = f"{lim['lut']}/{lim['dsp']}/{lim['bram18']}"
        fit = f"{fitting}/{e['points']}"
        print(
            f"{name:12s} {board.target_clock_mhz:4.0f} {lims:>22s} {fit:>7s} "
            f"{str(tuple(c['z'])):>10s} "
            f"{c['clocks_per_input']:6d} {c['dsp']:4d} {c['lut']:7d} {c['bram18']:6d} "
            f"{ips:10,.0f}"
        )
        for fo in fos:
            try:
                ch = explore(layers, fo, board, budget, s0.map.up_in_dsp)["chosen"]
                rec = {"board": name, "fo": list(fo), "fits": True, "z": ch["z"]}
                rec.update({k: ch[k] for k in ("clocks_per_input", "dsp", "lut", "bram18")})
            except ExploreError:
                rec = {"board": name, "fo": list(fo), "fits": False, "z": None}
                rec.update(dict.fromkeys(("clocks_per_input", "dsp", "lut", "bram18")))
            by_fo.append(rec)
    print("   fastest z per board and fan-out (z, clocks per input; '-' = nothing fits):")
    print(f"   {'fo':>8s} " + " ".join(f"{b['board']:>20s}" for b in boards))
    for fo in fos:
        cells = []
        for b in boards:
            r = next(x for x in by_fo if x["board"] == b["board"] and x["fo"] == list(fo))
            cells.append(
                f"{str(tuple(r['z'])) + ' ' + str(r['clocks_per_input']):>20s}"
                if r["fits"]
                else f"{'-':>20s}"
            )
        print(f"   {str(fo):>8s} " + " ".join(cells))
    seconds = time.perf_counter() - t_start
    print()
    print(f"wall time {seconds:.1f} s")

    if a.json is not None:
        doc = {
            "data": {
                "name": ds.name,
                "seed": a.data_seed,
                "train_images": n_train,
                "test_images": ds.n_test,
            },
            "settings": {
                "layers": layers,
                "activation": s0.network.activation,
                "schedule": s0.train.schedule,
                "interleaver": s0.network.interleaver,
                "init_seed": s0.train.seed,
                "epochs": len(etas),
                "eta_exponents": etas,
                "default_eta_exponents": base,
                "reference_clocks": ref_clocks,
                "quick": a.quick,
            },
            "accuracy": acc,
            "z_sweep": sweep,
            "boards": boards,
            "boards_by_fo": by_fo,
            "seconds": seconds,
        }
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(f"wrote {a.json}")


def _all_points(layers, fo, limits, up_in_dsp):
    """Every z combination's cost and fit (``explore`` reports only the count and front)."""
    per = [z_candidates(layers[i], layers[i + 1], fo[i]) for i in range(len(fo))]
    for zs in itertools.product(*per):
        c = trainer_cost(junctions(layers, fo, zs), up_in_dsp)
        yield {"z": zs, "fits": all(c[k] <= limits[k] for k in limits)}


if __name__ == "__main__":
    main()
