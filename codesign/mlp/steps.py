"""The sparse-MLP system's stages: settings → trained-network artifact → map for a board.

``train`` builds the connectivity (z chosen by :func:`~codesign.mlp.cost.explore` when it is
``"auto"``), trains the same network online in float and in fixed point with the same initial
weights and schedule, and writes the artifact (:mod:`codesign.mlp.artifact`).  ``map`` reads
an artifact and writes ``map.json``: the cycle model and resources of its design on a board,
the input of the trainer's generator.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from codesign import data as data_mod
from codesign.artifacts import atomic_directory, check_target, write_json
from codesign.eda.boards import load_board
from codesign.mlp import cost as cost_mod
from codesign.mlp.artifact import formats, load_network, write_network
from codesign.mlp.connectivity import (
    Interleaver,
    check_order,
    dead_neurons,
    interleave,
    junctions,
)
from codesign.mlp.fixedpoint import Activation
from codesign.mlp.settings import MlpSettings
from codesign.mlp.timing import (
    PIPELINE_FILL,
    block_cycle,
    input_latency,
    sequential_clocks,
    speculative_clocks,
    training_clocks,
)
from codesign.mlp.train import (
    FixedArithmetic,
    FloatArithmetic,
    Network,
    Schedule,
    glorot_normal,
    pad_inputs,
    quantize_params,
    train_online,
)
from codesign.progress import progress

__all__ = ["resolve_z", "build_network", "run_train", "run_map", "run_flow", "STAGES", "MAP_FORMAT"]

STAGES = ("train", "map", "generate", "cosim", "synth", "report")

MAP_FORMAT = "codesign-mlp-map"


def resolve_z(s: MlpSettings) -> tuple[tuple[int, ...], dict | None]:
    """The z per junction: the settings' own, or the exploration's choice for the board."""
    n = s.network
    if n.z != "auto":
        return tuple(n.z), None
    budget = cost_mod.Budget(s.map.margin, s.map.max_dsp)
    result = cost_mod.explore(n.layers, n.fo, load_board(s.map.board), budget, s.map.up_in_dsp)
    return tuple(result["chosen"]["z"]), result


def build_network(s: MlpSettings, z) -> tuple[Network, list[dict]]:
    """The junctions and their proved edge orders; per junction its record for the artifact."""
    n = s.network
    js = junctions(n.layers, n.fo, z)
    kind = Interleaver(n.interleaver)
    orders, records = [], []
    for i, j in enumerate(js):
        order = interleave(j, kind, n.seed + i, n.dither, n.repeat_sweeps)
        proof = check_order(j, order, f"junction {i + 1}")
        orders.append(order)
        records.append(
            {
                **j.to_dict(),
                "density": j.density,
                "interleaver": {
                    "kind": kind.value,
                    "seed": n.seed + i,
                    "dither": n.dither,
                    "repeat_sweeps": n.repeat_sweeps,
                },
                "check": proof,
            }
        )
    return Network(js, tuple(orders), Activation(n.activation)), records


def _dataset(s: MlpSettings):
    t = s.train
    ds = data_mod.load(t.data_dir, seed=t.data_seed)
    n = ds.n_train if t.train_images is None else min(t.train_images, ds.n_train)
    return ds, n


def _epochs(result) -> list[dict]:
    return [
        {
            "epoch": e.epoch,
            "eta_exponent": e.eta_exponent,
            "train_accuracy": round(e.train_accuracy, 6),
            "test_accuracy": round(e.test_accuracy, 6),
        }
        for e in result.epochs
    ]


def run_train(s: MlpSettings, out: Path, quiet: bool = False) -> dict:
    """Train in float and fixed point and write the artifact at ``out``; returns its meta."""
    out = check_target(out)
    z, explored = resolve_z(s)
    net, records = build_network(s, z)
    ds, n_train = _dataset(s)
    width = net.layers[0]
    train_x = pad_inputs(ds.train_x[:n_train], width)
    test_x = pad_inputs(ds.test_x, width)
    train_y, test_y = ds.train_y[:n_train], ds.test_y
    pixels = int(np.prod(ds.train_x.shape[1:]))
    for rec, j, order in zip(records, net.junctions, net.orders):
        live = pixels if rec is records[0] else j.n_left
        rec["dead_right_neurons"] = int(dead_neurons(j, order, live).size)
    init = glorot_normal(net, s.train.seed)
    init_q = quantize_params(init)
    schedule = Schedule(s.train.schedule)
    etas = list(s.train.eta_exponents)
    runs = {}
    timing = {}
    with progress("train (float, fixed)", 2 * len(etas) * n_train, quiet) as bar:
        for ops, p0 in ((FloatArithmetic(net), init), (FixedArithmetic(net), init_q)):
            t0 = time.perf_counter()
            runs[ops.name] = train_online(
                net, ops, p0, train_x, train_y, etas, schedule, test_x, test_y, bar,
                threshold=ops.threshold(s.train.threshold),
            )  # fmt: skip
            timing[ops.name] = time.perf_counter() - t0
    fl, fx = runs["float"], runs["fixed"]
    meta = {
        "layers": list(net.layers),
        "activation": net.activation.value,
        "schedule": schedule.value,
        "junctions": records,
        "formats": formats(),
        "inputs": {"pixels": pixels, "padded_to": width, "classes_used": 10},
        "training": {
            "eta_exponents": etas,
            "init": {"kind": "glorot-normal", "seed": s.train.seed, "biases": 0},
            "inputs_per_epoch": n_train,
            "order": "dataset order every epoch; the pipeline flushed at each epoch's end",
        },
        "float": {
            "epochs": _epochs(fl),
            "test_accuracy": round(fl.epochs[-1].test_accuracy, 6),
        },
        "fixed": {
            "epochs": _epochs(fx),
            "test_accuracy": round(fx.epochs[-1].test_accuracy, 6),
            "saturations": dict(sorted(fx.saturations.items())),
        },
        "design": {
            "z": list(z),
            "clocks_per_input": block_cycle(net.junctions),
            "pipeline_fill": PIPELINE_FILL,
            "input_latency_clocks": input_latency(net.junctions),
            "training_clocks": training_clocks(net.junctions, n_train, len(etas)),
            "explored_for": None if explored is None else explored["board"],
        },
        "data": {"name": ds.name, "source": ds.source, "test_images": ds.n_test},
        "settings": {k: v for k, v in s.to_dict().items() if k in ("network", "train", "map")},
    }
    params = {"init_float": init, "init_fixed": init_q, "float": fl.params, "fixed": fx.params}
    write_network(out, meta, net, params)
    meta["seconds"] = timing
    return meta


def run_map(
    network_dir: Path,
    board_name: str,
    out: Path,
    budget=None,
    up_in_dsp=False,
    speculative: bool = False,
) -> dict:
    """The artifact's design on a board (``speculative``: the speculating trainer's): cycle
    model, resources, limits and whether it fits."""
    out = check_target(out)
    art = load_network(network_dir)
    board = load_board(board_name)
    budget = budget or cost_mod.Budget()
    js = art.net.junctions
    c = cost_mod.trainer_cost(js, up_in_dsp, speculative)
    limits = budget.limits(board)
    used = {k: c[k] for k in limits}
    doc = {
        "format": MAP_FORMAT,
        "version": 1,
        "network": {"path": str(Path(network_dir).resolve()), "sha256": art.meta["arrays"]},
        "board": board.to_dict(),
        "budget": {"margin": budget.margin, "max_dsp": budget.max_dsp, "limits": limits},
        "up_in_dsp": up_in_dsp,
        "trainer": "speculating" if speculative else "pipelined",
        "junctions": [j.to_dict() for j in js],
        "cycles": {
            "clocks_per_input": c["clocks_per_input"],
            "pipeline_fill": PIPELINE_FILL,
            "input_latency": input_latency(js),
            "inputs_per_second": board.target_clock_mhz * 1e6 / c["clocks_per_input"],
            "speculative_hit_clocks": speculative_clocks(js, True) if speculative else None,
            "sequential_clocks_per_input": speculative_clocks(js, False)
            if speculative
            else sequential_clocks(js),
        },
        "resources": {**used, "multipliers": c["multipliers"], "memories": c["memories"]},
        "utilisation": {
            k: used[k] / max(1, board.capacity().get(k, 2 * board.bram36)) for k in used
        },
        "fits": all(used[k] <= limits[k] for k in limits),
    }
    with atomic_directory(out) as tmp:
        write_json(tmp / "map.json", doc)
    return doc


def cosim_schedule(s: MlpSettings) -> str:
    """The schedule the flow co-simulates: ``cosim.schedule``, else ``train.schedule`` if the
    generated trainer runs it, else the trainer's first."""
    runs = ("sequential", "speculative") if s.generate.speculative else ("pipelined", "sequential")
    if s.cosim.schedule is not None:
        return s.cosim.schedule
    return s.train.schedule if s.train.schedule in runs else runs[0]


def run_flow(s: MlpSettings, *, force: bool = False, until: str = "report", quiet=False) -> list:
    """train → map → generate → cosim → synth → report under ``s.flow.out``, each stage skipped
    when its inputs and outputs are unchanged (codesign.flow)."""
    from codesign import __version__
    from codesign.flow import FlowError, Step, run_steps, tree_hash

    out = Path(s.flow.out)
    net, mapd, rtl = out / "network", out / "map", out / "rtl"
    cosim_json, synth_dir, report_dir = out / "cosim.json", out / "synth", out / "report"
    base = {"codesign": __version__}
    d = s.to_dict()
    epochs = s.cosim.epochs if s.cosim.epochs is not None else len(s.train.eta_exponents)

    def train_step():
        m = run_train(s, net, quiet)
        return f"float {m['float']['test_accuracy']:.2%}, fixed {m['fixed']['test_accuracy']:.2%}"

    def map_step():
        from codesign.mlp.cost import Budget

        doc = run_map(
            net,
            s.map.board,
            mapd,
            Budget(s.map.margin, s.map.max_dsp),
            s.map.up_in_dsp,
            s.generate.speculative,
        )
        r = doc["resources"]
        return (
            f"{doc['cycles']['clocks_per_input']} clocks per input; DSP {r['dsp']}, LUT "
            f"{r['lut']:,}, RAMB18 {r['bram18']} (estimate); {'fits' if doc['fits'] else 'NO fit'}"
        )

    def generate_step():
        from codesign.mlp.generate import generate_trainer

        man = generate_trainer(
            net, rtl, s.generate.top, s.generate.pixels_per_beat, s.generate.speculative
        )
        c = man["cycle_model"]
        if man["trainer"] == "speculating":
            return (
                f"{man['top']}.v, the speculating trainer: {c['speculative_hit_clocks']} clocks "
                f"per input after a hit, {c['sequential_clocks_per_input']} otherwise"
            )
        return f"{man['top']}.v, {c['clocks_per_input']} clocks per input"

    def cosim_step():
        from codesign.artifacts import write_json
        from codesign.mlp.cosim import cosim_trainer

        r = cosim_trainer(
            rtl,
            epochs=epochs,
            inputs=s.cosim.inputs,
            test_images=s.cosim.test_images,
            simulator=s.cosim.simulator,
            schedule=cosim_schedule(s),
            threshold=s.train.threshold,
        )
        tmp = cosim_json.with_suffix(".json.tmp")
        write_json(tmp, r)
        tmp.replace(cosim_json)
        acc = (
            f", test accuracy RTL {r['test_accuracy_rtl']:.2%} = model"
            if "test_accuracy_rtl" in r
            else ""
        )
        mean = r["epochs"][-1]["mean_clocks_per_input_rtl"]
        pace = "one input" if mean is None else f"{mean:.1f} clocks per input"
        return f"{epochs} epochs × {r['inputs']} inputs bit-exact, {pace} ({r['schedule']}){acc}"

    def synth_step():
        from codesign.eda.synth import synthesise_and_print

        res = synthesise_and_print(rtl, s.map.board, synth_dir)["resources"]
        return ", ".join(
            f"{k.upper()} {res[k]['yosys']}/{res[k]['capacity']}"
            for k in ("lut", "ff", "dsp", "bram36")
        )

    def report_step():
        from codesign.mlp.report import write_mlp_report

        return str(write_mlp_report(report_dir, net, mapd, cosim_json, synth_dir))

    steps = [
        Step(
            "train", lambda: {**base, "s": [d["network"], d["train"], d["map"]]}, [net], train_step
        ),
        Step("map", lambda: {**base, "net": tree_hash(net), "map": d["map"]}, [mapd], map_step),
        Step(
            "generate",
            lambda: {**base, "net": tree_hash(net), "g": d["generate"]},
            [rtl],
            generate_step,
        ),
    ]
    if epochs or s.cosim.test_images:
        steps.append(
            Step(
                "cosim",
                lambda: {**base, "rtl": tree_hash(rtl), "c": d["cosim"]},
                [cosim_json],
                cosim_step,
            )
        )
    if s.synth.enabled:
        steps.append(
            Step(
                "synth",
                lambda: {**base, "rtl": tree_hash(rtl), "b": s.map.board},
                [synth_dir],
                synth_step,
            )
        )
    steps.append(
        Step(
            "report",
            lambda: {**base, **{p.name: tree_hash(p) for p in (net, mapd, cosim_json, synth_dir)}},
            [report_dir],
            report_step,
        )
    )
    names = [x.name for x in steps]
    if until not in names:
        raise FlowError(f"--until {until}: that stage is switched off (stages: {', '.join(names)})")
    return run_steps(steps[: names.index(until) + 1], out / ".flow", force=force)
