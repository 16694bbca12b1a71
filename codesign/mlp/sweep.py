"""The sparse-MLP system's design points for ``codesign sweep``: train → map per point.

Point keys (docs/sweep.md): the ``[network]`` and ``[train]`` settings of
:mod:`codesign.mlp.settings` by name (``layers``, ``fo``, ``z``, ``interleaver``, ``dither``,
``repeat_sweeps``, ``activation``, ``eta_exponents``, ``schedule``, ``seed``, ``train_images``,
``data_dir``, ``data_seed``; ``network_seed`` for the interleaver's ``seed``) and the ``[map]``
ones (``board``, ``margin``, ``max_dsp``, ``up_in_dsp``).  Points with the same network and
training share one training task (with ``z = "auto"`` the board is part of it).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import partial
from pathlib import Path

from codesign import __version__
from codesign.mlp.connectivity import ConnectivityError, junctions
from codesign.mlp.settings import MapSettings, NetworkSettings, SettingsError, TrainSettings
from codesign.sweep import Point, SweepError, TaskGraph, flow_task, stage_figures

__all__ = ["KEYS", "plan", "PLOTS", "TITLE", "FIGURES"]

_RENAMED = {"network_seed": ("network", "seed")}
KEYS = (
    {k for k in NetworkSettings.__dataclass_fields__ if k != "seed"}
    | set(TrainSettings.__dataclass_fields__)
    | set(MapSettings.__dataclass_fields__)
    | set(_RENAMED)
)
TITLE = "Sparse-MLP trainer sweep"
FIGURES = [
    "z",
    "weights",
    "accuracy_float",
    "accuracy_fixed",
    "clocks_per_input",
    "inputs_per_second",
    "dsp",
    "lut_estimate",
    "fits_estimate",
]
PLOTS = [
    {
        "name": "accuracy_vs_rate",
        "x": "inputs_per_second",
        "y": "accuracy_fixed",
        "x_label": "training inputs/s at the board clock",
        "y_label": "fixed-point accuracy",
        "x_max": True,
        "y_max": True,
    },
    {
        "name": "rate_vs_dsp",
        "x": "dsp",
        "y": "inputs_per_second",
        "x_label": "DSP48 (estimate)",
        "y_label": "training inputs/s at the board clock",
        "x_max": False,
        "y_max": True,
    },
]


def _settings(point: dict, where: str):
    from codesign.mlp.settings import read_settings

    over = {}
    for k, v in point.items():
        if k not in KEYS:
            raise SweepError(f"{where}: unknown key {k!r}; MLP points take {sorted(KEYS)}")
        if k in _RENAMED:
            table, name = _RENAMED[k]
        elif k in NetworkSettings.__dataclass_fields__:
            table, name = "network", k
        elif k in TrainSettings.__dataclass_fields__:
            table, name = "train", k
        else:
            table, name = "map", k
        over[f"{table}.{name}"] = v
    try:
        s = read_settings(None, **over)
        if s.network.z != "auto":
            junctions(s.network.layers, s.network.fo, s.network.z)
    except (SettingsError, ConnectivityError) as e:
        raise SweepError(f"{where}: {e}") from None
    return s


def _train(directory: str, *, settings, identity: dict) -> dict:
    from codesign.mlp.steps import run_train

    d = Path(directory)
    net = d / "network"

    def run():
        run_train(settings, net, quiet=True)
        return "trained"

    status = flow_task(d, "train", {"codesign": __version__, **identity}, [net], run)
    m = json.loads((net / "network.json").read_text())
    return {
        "network": str(net),
        "status": status,
        "z": m["design"]["z"],
        "weights": sum(j["edges"] for j in m["junctions"]),
        "accuracy_float": m["float"]["test_accuracy"],
        "accuracy_fixed": m["fixed"]["test_accuracy"],
        "saturations": sum(m["fixed"]["saturations"].values()),
    }


def _map(directory: str, up: dict, *, board: str, margin: float, max_dsp, up_in_dsp: bool):
    from codesign.flow import tree_hash
    from codesign.mlp.cost import Budget
    from codesign.mlp.steps import run_map

    d = Path(directory)
    net, out = Path(up["network"]), d / "map"

    def run():
        run_map(net, board, out, Budget(margin, max_dsp), up_in_dsp)
        return "mapped"

    inputs = {
        "codesign": __version__,
        "network": tree_hash(net),
        "board": board,
        "budget": [margin, max_dsp, up_in_dsp],
    }
    status = flow_task(d, "map", inputs, [out], run)
    m = json.loads((out / "map.json").read_text())
    r = m["resources"]
    return {
        "status": status,
        "clocks_per_input": m["cycles"]["clocks_per_input"],
        "inputs_per_second": m["cycles"]["inputs_per_second"],
        "dsp": r["dsp"],
        "lut_estimate": r["lut"],
        "bram18_estimate": r["bram18"],
        "fits_estimate": m["fits"],
    }


def plan(points: list[dict], base: dict, out: Path, where: str = "sweep"):
    """The task graph and the points of a sweep under ``out``."""
    from codesign.eda.boards import load_board

    graph = TaskGraph(out)
    planned = []
    for i, p in enumerate(points):
        s = _settings({**base, **p}, f"{where}: point {i}")
        load_board(s.map.board)
        train_part = {"network": asdict(s.network), "train": asdict(s.train)}
        if s.network.z == "auto":
            train_part["map"] = asdict(s.map)
        fo = ",".join(map(str, s.network.fo))
        k = {
            "train": graph.add(
                "train",
                (train_part,),
                f"train fo={fo} z={s.network.z}",
                (),
                partial(_train, settings=s, identity=train_part),
            )
        }
        k["map"] = graph.add(
            "map",
            (k["train"], asdict(s.map)),
            f"map {s.map.board} fo={fo}",
            (k["train"],),
            partial(
                _map,
                board=s.map.board,
                margin=s.map.margin,
                max_dsp=s.map.max_dsp,
                up_in_dsp=s.map.up_in_dsp,
            ),
        )
        shown = dict(p)
        shown.setdefault("board", s.map.board)
        row = partial(stage_figures, k, drop=("network",))
        planned.append(Point(i, shown, list(k.values()), row))
    return graph.tasks, planned
