"""Throughput benchmark of the pruned spectral LeNet accelerator, per board, against the dense one.

For every board (``boards/``, or ``--boards``): the map stage's chosen design for the pruned
model (the default flow's prune settings), generated, co-simulated in Verilator on the bundled
test images (bit-exact scores, every image's clocks against the cycle model) and synthesised by
yosys; then the same flow on the dense network (density 1.0 in every layer) under the sparse
design's DSP budget (``--max-dsp``), co-simulated as well, and the interval ratio dense ÷ sparse,
both measured in co-simulation.

Run: ``.venv/bin/python benchmarks/throughput.py [--images 20] [--json FILE]``
(``--boards nexys4ddr,vc709``, ``--no-synth``, ``--no-dense``, ``--work DIR``, ``--model DIR``,
``--dense-model DIR``: reuse artifacts).  Long: one Verilator build and one yosys run per design.

``--json FILE`` writes every printed figure (plain keys, numbers as numbers)::

    {"images": int, "accuracy": {"dense_float", "pruned_fixed_point", "drop_pp"},
     "boards": {NAME: {
        "clock_mhz", "target_images": int,
        "sparse": {"parallelism": {layer: str}, "interval_model", "interval_rtl", "latency_rtl",
                   "images_per_second", "bit_exact": bool, "clock_exact": bool,
                   "estimate": {"dsp", "bram36", "lut"},
                   "yosys": {"dsp", "bram36", "lut", "logic_depth", "fits": bool} | null,
                   "images_per_second_per_dsp"},
        "dense": {same keys without "yosys"} | null,
        "dense_over_sparse": float | null}}}

Intervals are clocks between images (the cosim measures the last two images of its last job);
``images_per_second`` = clock_mhz·10⁶ / interval_rtl; ``images_per_second_per_dsp`` uses the
yosys DSP count when synthesised, else the estimate.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from codesign.data import load_bundled
from codesign.eda.boards import list_boards, load_board
from codesign.eda.synth import synthesise
from codesign.errors import CodesignError
from codesign.spectral.cosim import cosim_accelerator
from codesign.spectral.dse import _parallelism
from codesign.spectral.generate import generate_accelerator
from codesign.spectral.mapping import accelerator_cycles, map_model_dir, save_mapping
from codesign.spectral.model import load_model, save_model
from codesign.spectral.prune import prune
from codesign.spectral.settings import PruneSettings


def _model(path: Path | None, work: Path, name: str, settings: PruneSettings) -> Path:
    if path is not None:
        return path
    out = work / name
    if not (out / "model.json").exists():
        t0 = time.perf_counter()
        save_model(prune(load_bundled(0), settings, quiet=True), out)
        print(f"pruned {name} in {time.perf_counter() - t0:.0f} s -> {out}")
    return out


def _design(model_dir: Path, board, work: Path, tag: str, images, labels, jobs: int, synth: bool):
    """Map, generate, co-simulate (and synthesise) one design; its figures."""
    m = map_model_dir(model_dir, board)
    sched = work / f"{tag}-schedule"
    rtl = work / f"{tag}-rtl"
    for d in (sched, rtl, work / f"{tag}-synth"):
        shutil.rmtree(d, ignore_errors=True)
    save_mapping(m, sched)
    generate_accelerator(sched, rtl, model_dir=model_dir)
    t0 = time.perf_counter()
    r = cosim_accelerator(rtl, images, labels, jobs=jobs, model_dir=model_dir)
    wall = time.perf_counter() - t0
    exact = accelerator_cycles(m)
    net = m.design.network["resources"]
    out = {
        "parallelism": _parallelism(m.design.archs),
        "interval_model": exact["interval_cycles"],
        "interval_rtl": r["timing"]["interval_cycles"]["rtl"],
        "latency_rtl": r["timing"]["latency_cycles"]["rtl"],
        "bit_exact": bool(r["bit_exact"]),
        "clock_exact": bool(r["timing"]["exact"]),
        "cosim_seconds": round(wall, 1),
        "estimate": {"dsp": net["dsp"], "bram36": net["bram36"], "lut": net["lut"]},
        "yosys": None,
    }
    out["images_per_second"] = board.target_clock_mhz * 1e6 / out["interval_rtl"]
    dsp = net["dsp"]
    if synth:
        try:
            s = synthesise(rtl, board.name, work / f"{tag}-synth")
            fits = True
        except CodesignError as e:  # does not fit: the report is written all the same
            print(f"  synth: {e}")
            s = json.loads((work / f"{tag}-synth" / "report.json").read_text())
            fits = False
        res = s["resources"]
        out["yosys"] = {
            "dsp": res["dsp"]["yosys"],
            "bram36": res["bram36"]["yosys"],
            "lut": res["lut"]["yosys"],
            "logic_depth": s["logic_depth"],
            "fits": fits and s["fits"],
        }
        dsp = res["dsp"]["yosys"]
    out["images_per_second_per_dsp"] = out["images_per_second"] / max(dsp, 1)
    return out, m


def _row(name: str, tag: str, d: dict) -> str:
    y = d["yosys"]
    syn = (
        f"yosys DSP {y['dsp']} BRAM36 {y['bram36']:g} LUT {y['lut']:,} depth {y['logic_depth']}"
        f" {'fits' if y['fits'] else 'DOES NOT FIT'}"
        if y
        else "no synthesis"
    )
    e = d["estimate"]
    return (
        f"{name:12s} {tag:6s} interval {d['interval_rtl']:>6,} clk (model {d['interval_model']:,})"
        f" {d['images_per_second']:>9,.0f} img/s  bit-exact {d['bit_exact']} clock-exact "
        f"{d['clock_exact']}  est DSP {e['dsp']} BRAM36 {e['bram36']} LUT {e['lut']:,}; {syn}; "
        f"{d['images_per_second_per_dsp']:,.0f} img/s/DSP"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--boards", default=",".join(list_boards()))
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("build/bench/throughput"))
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--dense-model", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--no-dense", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = load_bundled(0)
    x, y = data.test_x[: args.images], data.test_y[: args.images]
    sparse_dir = _model(args.model, args.work, "model", PruneSettings())
    model = load_model(sparse_dir)
    acc = model.metrics["accuracy"]
    result = {
        "images": args.images,
        "accuracy": {
            "dense_float": acc["dense"],
            "pruned_fixed_point": acc["fixed_point"],
            "drop_pp": 100 * (acc["dense"] - acc["fixed_point"]),
        },
        "boards": {},
    }
    print(
        f"accuracy: dense float {acc['dense']:.2%}, pruned fixed point {acc['fixed_point']:.2%} "
        f"({result['accuracy']['drop_pp']:.1f} pp)"
    )
    dense_dir = None
    if not args.no_dense:
        dense_dir = _model(
            args.dense_model,
            args.work,
            "dense-model",
            PruneSettings(density=1.0, dense_density=1.0, retrain_epochs=0),
        )
    for name in args.boards.split(","):
        board = load_board(name)
        entry = {"clock_mhz": board.target_clock_mhz, "dense": None, "dense_over_sparse": None}
        sparse, m = _design(
            sparse_dir, board, args.work, f"{name}-sparse", x, y, args.jobs, not args.no_synth
        )
        entry["sparse"] = sparse
        print(_row(name, "sparse", sparse))
        if dense_dir is not None:
            budget = board.limited(dsp=m.design.network["resources"]["dsp"])
            try:
                dense, _ = _design(
                    dense_dir, budget, args.work, f"{name}-dense", x, y, args.jobs, False
                )
            except CodesignError as e:
                print(f"{name:12s} dense  no design within {budget.budget}: {e}")
            else:
                entry["dense"] = dense
                entry["dense_over_sparse"] = dense["interval_rtl"] / sparse["interval_rtl"]
                print(_row(name, "dense", dense))
                print(
                    f"{name:12s} at {dict(budget.budget)['dsp']} DSP: dense ÷ sparse interval "
                    f"{entry['dense_over_sparse']:.2f}x (both in cosim on {args.images} images)"
                )
        result["boards"][name] = entry
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures: {args.json}")


if __name__ == "__main__":
    main()
