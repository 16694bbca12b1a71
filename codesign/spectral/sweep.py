"""The spectral system's design points for ``codesign sweep``: prune → map → generate → cosim →
synth per point, one task per stage, shared wherever the settings upstream are the same.

Point keys (``[base]``, ``[grid]`` or ``[[points]]`` of a sweep file, docs/sweep.md):
``density``, ``dense_density``, ``layer_density`` ({layer: density}), ``balanced``,
``epochs``, ``retrain_epochs``, ``admm_iterations``, ``seed``, ``data`` (an IDX directory) —
the prune stage's; ``board`` and ``set`` (``["conv2.pes=2", …]``) — the map stage's;
``cosim_images`` (0: no co-simulation), ``simulator``; ``synth`` (false: no yosys).  Each task
writes under ``OUT/tasks/<stage>-<digest>/`` and reports its figures from its artifact, so a
task skipped as up to date reports the same figures as when it ran.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from codesign import __version__
from codesign.flow import tree_hash
from codesign.spectral.settings import PruneSettings
from codesign.sweep import Point, SweepError, TaskGraph, flow_task, stage_figures

__all__ = ["KEYS", "plan", "PLOTS", "TITLE", "FIGURES"]

_PRUNE = PruneSettings()
KEYS = {
    "density": (float, _PRUNE.density),
    "dense_density": (float, _PRUNE.dense_density),
    "layer_density": (dict, {}),
    "balanced": (bool, _PRUNE.balanced),
    "epochs": (int, _PRUNE.epochs),
    "retrain_epochs": (int, _PRUNE.retrain_epochs),
    "admm_iterations": (int, _PRUNE.admm.iterations),
    "seed": (int, _PRUNE.seed),
    "data": (str, None),
    "board": (str, "nexys4ddr"),
    "set": (list, []),
    "max_dsp": (int, 0),
    "max_bram36": (int, 0),
    "cosim_images": (int, 100),
    "simulator": (str, "verilator"),
    "synth": (bool, True),
}
TITLE = "Spectral accelerator sweep"
FIGURES = [
    "accuracy_float",
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
PLOTS = [
    {
        "name": "accuracy_vs_rate",
        "x": "images_per_second",
        "y": "accuracy_fixed",
        "x_label": "images/s at the board clock",
        "y_label": "fixed-point accuracy",
        "x_max": True,
        "y_max": True,
    },
    {
        "name": "rate_vs_dsp",
        "x": "dsp",
        "y": "images_per_second",
        "x_label": "DSP48 (yosys, else estimate)",
        "y_label": "images/s at the board clock",
        "x_max": False,
        "y_max": True,
    },
]


def _settings(point: dict, where: str) -> dict:
    s = {}
    for k, v in point.items():
        if k not in KEYS:
            raise SweepError(f"{where}: unknown key {k!r}; spectral points take {sorted(KEYS)}")
        typ = KEYS[k][0]
        ok = isinstance(v, typ) and not (isinstance(v, bool) and typ is not bool)
        if typ is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            raise SweepError(f"{where}: {k} = {v!r} must be {typ.__name__}")
        s[k] = v
    for k, (_, default) in KEYS.items():
        s.setdefault(k, default)
    for k in ("density", "dense_density"):
        if not 0 < s[k] <= 1:
            raise SweepError(f"{where}: {k} = {s[k]} must be in (0, 1]")
    for k in ("epochs", "admm_iterations"):
        if s[k] < 1:
            raise SweepError(f"{where}: {k} must be at least 1")
    for k in ("max_dsp", "max_bram36"):
        if s[k] < 0:
            raise SweepError(f"{where}: {k} = {s[k]} must be ≥ 0 (0: the board's capacity)")
    if s["simulator"] not in ("verilator", "icarus"):
        raise SweepError(f"{where}: simulator must be 'verilator' or 'icarus'")
    return s


def _prune_settings(s: dict) -> PruneSettings:
    from dataclasses import replace

    p = PruneSettings(
        density=float(s["density"]),
        dense_density=float(s["dense_density"]),
        layer_density={k: float(v) for k, v in s["layer_density"].items()},
        balanced=s["balanced"],
        epochs=s["epochs"],
        retrain_epochs=s["retrain_epochs"],
        seed=s["seed"],
    )
    return replace(p, admm=replace(p.admm, iterations=s["admm_iterations"]))


def _prune(directory: str, *, settings: PruneSettings, data: str | None) -> dict:
    from codesign.spectral.steps import run_prune

    d = Path(directory)
    model = d / "model"
    data_id = data if data is None else tree_hash(Path(data))

    def run():
        run_prune(model, settings, data, True)
        return "pruned"

    status = flow_task(
        d,
        "prune",
        {"codesign": __version__, "settings": repr(settings), "data": data_id},
        [model],
        run,
    )
    acc = json.loads((model / "model.json").read_text())["accuracy"]
    return {
        "model": str(model),
        "status": status,
        "accuracy_float": acc["pruned"],
        "accuracy_dense": acc["dense"],
        "accuracy_fixed": acc["fixed_point"],
    }


def _map(directory: str, up: dict, *, board: str, sets: list, budget: dict) -> dict:
    from codesign.spectral.steps import run_map

    d = Path(directory)
    sched, model = d / "schedule", Path(up["model"])

    def run():
        run_map(str(model), board, sched, 0.25, 0, None, tuple(sets), True, budget)
        return "mapped"

    status = flow_task(
        d,
        "map",
        {
            "codesign": __version__,
            "model": tree_hash(model),
            "board": board,
            "set": sorted(sets),
            "budget": sorted(budget.items()),
        },
        [sched],
        run,
    )
    n = json.loads((sched / "schedule.json").read_text())["network"]
    r = n["resources"]
    return {
        "schedule": str(sched),
        "status": status,
        "interval_cycles": n["accelerator"]["interval_cycles"],
        "images_per_second": n["accelerator"]["images_per_second"],
        "clock_mhz": n["clock_mhz"],
        "dsp_estimate": r["dsp"],
        "bram36_estimate": r["bram36"],
        "lut_estimate": r["lut"],
        "fits_estimate": n["fits"],
    }


def _generate(directory: str, up: dict) -> dict:
    from codesign.spectral.steps import run_generate

    d = Path(directory)
    rtl, sched = d / "rtl", Path(up["schedule"])

    def run():
        run_generate(sched, rtl, "codesign_accel")
        return "generated"

    status = flow_task(
        d, "generate", {"codesign": __version__, "schedule": tree_hash(sched)}, [rtl], run
    )
    man = json.loads((rtl / "manifest.json").read_text())
    return {
        "rtl": str(rtl),
        "status": status,
        "rtl_interval": man["cycle_model"]["interval_cycles"],
    }


def _cosim(directory: str, up: dict, *, images: int, simulator: str) -> dict:
    from codesign.artifacts import write_json
    from codesign.spectral.cosim import verdict
    from codesign.spectral.steps import run_cosim

    d = Path(directory)
    rtl, report = Path(up["rtl"]), d / "cosim.json"

    def run():
        r = run_cosim(rtl, images, None, simulator=simulator, quiet=True)
        tmp = d / ".cosim.json.tmp"
        write_json(tmp, r)
        tmp.replace(report)
        return "co-simulated"

    status = flow_task(
        d,
        "cosim",
        {"codesign": __version__, "rtl": tree_hash(rtl), "images": images, "sim": simulator},
        [report],
        run,
    )
    r = json.loads(report.read_text())
    failed = verdict(r)
    return {
        "status": status,
        "cosim_images": r["images"],
        "cosim_verdict": failed or "bit- and clock-exact",
        "accuracy_rtl": r["accuracy_rtl"],
    }


def _synth(directory: str, up: dict, *, board: str) -> dict:
    from codesign.eda.synth import SynthError
    from codesign.spectral.steps import run_synth

    d = Path(directory)
    rtl, out = Path(up["rtl"]), d / "synth"

    def run():
        try:
            run_synth(rtl, board, out)
        except SynthError:  # does not fit: a finding of the sweep, its report written
            if not (out / "report.json").is_file():
                raise
            return "does not fit"
        return "synthesised"

    status = flow_task(
        d, "synth", {"codesign": __version__, "rtl": tree_hash(rtl), "board": board}, [out], run
    )
    rep = json.loads((out / "report.json").read_text())
    res = rep["resources"]
    return {
        "status": status,
        "dsp_yosys": res["dsp"]["yosys"],
        "bram36_yosys": res["bram36"]["yosys"],
        "lut_yosys": res["lut"]["yosys"],
        "ff_yosys": res["ff"]["yosys"],
        "fits_yosys": rep["fits"],
    }


def _row(keys: dict, results: dict) -> dict:
    """A point's figures from its tasks' results."""
    row = stage_figures(keys, results, drop=("model", "schedule", "rtl"))
    row["dsp"] = row.get("dsp_yosys", row.get("dsp_estimate"))
    return row


def plan(points: list[dict], base: dict, out: Path, where: str = "sweep"):
    """The task graph and the points of a sweep under ``out``."""
    from codesign.eda.boards import load_board

    graph = TaskGraph(out)
    planned = []
    for i, p in enumerate(points):
        s = _settings({**base, **p}, f"{where}: point {i}")
        load_board(s["board"])  # an unknown board fails before any task runs
        ps = _prune_settings(s)
        data_id = s["data"] if s["data"] is None else str(Path(s["data"]).resolve())
        k = {}
        k["prune"] = graph.add(
            "prune",
            (repr(ps), data_id),
            f"prune density={s['density']:g}",
            (),
            partial(_prune, settings=ps, data=s["data"]),
        )
        budget = {r: s[f"max_{r}"] for r in ("dsp", "bram36") if s[f"max_{r}"]}
        k["map"] = graph.add(
            "map",
            (k["prune"], s["board"], sorted(s["set"]), sorted(budget.items())),
            f"map {s['board']} density={s['density']:g}",
            (k["prune"],),
            partial(_map, board=s["board"], sets=list(s["set"]), budget=budget),
        )
        k["generate"] = graph.add(
            "generate",
            (k["map"],),
            f"generate {s['board']} density={s['density']:g}",
            (k["map"],),
            _generate,
        )
        if s["cosim_images"]:
            k["cosim"] = graph.add(
                "cosim",
                (k["generate"], s["cosim_images"], s["simulator"]),
                f"cosim {s['cosim_images']} images {s['board']} density={s['density']:g}",
                (k["generate"],),
                partial(_cosim, images=s["cosim_images"], simulator=s["simulator"]),
            )
        if s["synth"]:
            k["synth"] = graph.add(
                "synth",
                (k["generate"], s["board"]),
                f"synth {s['board']} density={s['density']:g}",
                (k["generate"],),
                partial(_synth, board=s["board"]),
            )
        shown = dict(p)
        shown.setdefault("board", s["board"])
        shown.setdefault("density", s["density"])
        planned.append(Point(i, shown, list(k.values()), partial(_row, k)))
    return graph.tasks, planned
