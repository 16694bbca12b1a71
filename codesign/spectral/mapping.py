"""The map stage: model artifact → architecture, conflict-free schedules, memory images, reports.

``map_model(model, board)`` is a pure function returning a :class:`Mapping`; ``save_mapping``
writes the schedule artifact (docs/schedule-format.md) atomically and deterministically.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign import __version__
from codesign.artifacts import (
    atomic_directory,
    need,
    read_arrays,
    read_json,
    relative_to,
    save_arrays,
    sha256_file,
    write_json,
)
from codesign.eda.boards import Board
from codesign.nn.sparsity import project
from codesign.spectral import schedule as sch
from codesign.spectral.arch import ArchError, arch_from_dict, check_override_layers
from codesign.spectral.conv import live_bins
from codesign.spectral.dse import (
    DenseTask,
    Design,
    SpectralTask,
    assign,
    evaluate,
    exact_network,
    explore,
    explore_sequential,
    layer_timing,
)
from codesign.spectral.hdl.engine import generatable
from codesign.spectral.hdl.hadamard import WORD_FIELDS, kernel_word_layout
from codesign.spectral.network import DENSE, SPECTRAL, layer_shapes, vgg16_layers, weight_key

__all__ = [
    "accumulator_addresses",
    "read_schedule",
    "read_layer_arrays",
    "kernel_weights",
    "map_model_dir",
    "map_vgg16",
    "LayerMap",
    "Mapping",
    "tasks_from_model",
    "vgg16_tasks",
    "map_tasks",
    "memory_image",
    "describe",
    "model_source",
    "verify",
    "engine_cycles",
    "accelerator_cycles",
    "save_mapping",
    "FORMAT",
    "FORMAT_VERSION",
    "WORD_FIELDS",
]

FORMAT = "codesign-schedule"
FORMAT_VERSION = 2  # 2: model.path relative to the schedule directory
ARRAY_KEYS = ("nz", "cycle", "pe", "program", "pe_of_group", "bank_of", "addr_of", "acc_addr")


@dataclass
class LayerMap:
    """A scheduled spectral layer and its memory images."""

    task: SpectralTask
    arch: object
    pe_of_group: np.ndarray
    bank_of: np.ndarray
    addr_of: np.ndarray
    acc_addr: np.ndarray
    schedule: sch.Schedule
    bound: dict
    dense_bound: int
    image: dict = field(default_factory=dict)

    def report(self) -> dict:
        n = len(self.task.nz)
        s = self.schedule
        return {
            "nonzero": n,
            "cycles_per_tile": int(s.cycles),
            "lower_bound": self.bound["bound"],
            "konig_bound": self.bound["konig"],
            "pe_bound": self.bound["pe_bound"],
            "bank_bound": self.bound["bank_bound"],
            "hazard_bound": self.bound["hazard_bound"],
            "stall_cycles": int(s.stall_cycles),
            "pe_utilisation": sch.utilisation(n, self.arch.pes, s.cycles),
            "dense_cycles_per_tile": self.dense_bound,
            "dense_over_sparse": self.dense_bound / s.cycles if s.cycles else None,
        }


@dataclass
class Mapping:
    """The map stage's result: one design, its scheduled layers and whole-network figures."""

    name: str
    board: Board
    tasks: list
    design: Design
    layers: dict  # name → LayerMap (spectral layers)
    runners_up: list
    source: dict
    weights: dict  # name → (re, im) quantised kernel integers, spectral layers

    def summary(self) -> dict:
        return self.design.network


def tasks_from_model(model) -> list:
    """DSE tasks (non-zeros, shapes) of a loaded :class:`codesign.prune.Model`."""
    tasks = []
    shapes = layer_shapes(model.layers)
    for layer, shape in zip(model.layers, shapes):
        key = weight_key(layer)
        mask = model.masks.get(key)
        if mask is None:
            mask = np.ones(model.params[key].shape, dtype=bool)
        if layer["type"] == SPECTRAL:
            tasks.append(
                SpectralTask(
                    layer["name"],
                    layer["in_channels"],
                    layer["out_channels"],
                    layer["fft"],
                    layer["kernel"],
                    shape["tiles"],
                    sch.nonzeros_from_mask(mask),
                    tuple(shape["out"]),
                    tuple(shape["in"]),
                )
            )
        else:
            tasks.append(
                DenseTask(
                    layer["name"],
                    layer["in_features"],
                    layer["out_features"],
                    int(mask.sum(axis=0).max()),
                    tuple(shape["out"]),
                )
            )
    return tasks


def vgg16_tasks(density: float, seed: int, fft: int = 8) -> list:
    """VGG16's 13 conv layers with synthetic balanced masks at ``density`` (seeded); at density
    1 the non-zeros are left implicit (``nz`` None: every weight), for the exploration only."""
    rng = np.random.default_rng(seed)
    layers = vgg16_layers(fft=fft)
    shapes = layer_shapes(layers, (3, 224, 224))
    tasks = []
    for layer, shape in zip(layers, shapes):
        O, C, N = layer["out_channels"], layer["in_channels"], layer["fft"]
        F = N * (N // 2 + 1)
        nz = (
            sch.nonzeros_from_mask(
                project(rng.random((O, C, F)), density, True, live_bins(N).ravel())
            )
            if density < 1
            else None
        )
        tasks.append(
            SpectralTask(
                layer["name"],
                C,
                O,
                N,
                layer["kernel"],
                shape["tiles"],
                nz,
                tuple(shape["out"]),
                tuple(shape["in"]),
            )
        )
    return tasks


def accumulator_addresses(nz: np.ndarray, pe_of_group: np.ndarray) -> np.ndarray:
    """Local accumulator address of each used group (o, f) in its PE, in (o, f) order; −1 unused."""
    O, F = pe_of_group.shape
    used = np.zeros(O * F, dtype=bool)
    used[nz[:, 0] * F + nz[:, 2]] = True
    acc = np.full(O * F, -1, dtype=np.int64)
    pe = pe_of_group.ravel()
    for p in np.unique(pe[used]):
        idx = np.flatnonzero(used & (pe == p))
        acc[idx] = np.arange(len(idx))
    return acc.reshape(O, F)


def verify(task: SpectralTask, arch, pe_of_group, bank_of, s: sch.Schedule) -> list[str]:
    """Vectorised check of the validity rules of docs/schedule-format.md (run on every mapping)."""
    nz, n = task.nz, len(task.nz)
    bad = []
    if s.program.shape != (arch.pes, s.cycles):
        return [f"program shape {s.program.shape} != (P, cycles) = ({arch.pes}, {s.cycles})"]
    flat = s.program.ravel()
    used = flat[flat >= 0]
    if len(used) != n or not np.array_equal(np.sort(used), np.arange(n)):
        bad.append("not every non-zero is scheduled exactly once")
        return bad
    pe_slot, cyc_slot = np.divmod(np.flatnonzero(s.program.ravel() >= 0), s.cycles)
    order = s.program.ravel()[s.program.ravel() >= 0]
    pe = np.empty(n, np.int64)
    cyc = np.empty(n, np.int64)
    pe[order], cyc[order] = pe_slot, cyc_slot
    if not (np.array_equal(pe, s.pe) and np.array_equal(cyc, s.cycle)):
        bad.append("program disagrees with the per-non-zero pe/cycle arrays")
    if np.any(pe != pe_of_group[nz[:, 0], nz[:, 2]]):
        bad.append("a non-zero runs on a PE that does not own its accumulator group")
    reads = np.bincount(bank_of[nz[:, 1], nz[:, 2]] * s.cycles + cyc)
    if reads.size and reads.max() > arch.ports:
        bad.append(f"a bank is read {reads.max()} times in one clock (ports {arch.ports})")
    if not arch.forwarding and n:
        g = nz[:, 0] * task.F + nz[:, 2]
        o = np.lexsort((cyc, g))
        same = g[o][1:] == g[o][:-1]
        gap = np.diff(cyc[o])[same]
        if gap.size and gap.min() < arch.mac_latency:
            bad.append(
                f"accumulator hazard: updates {gap.min()} clocks apart (latency {arch.mac_latency})"
            )
    return bad


def _dense_bound(task: SpectralTask, arch) -> int:
    """Schedule bound of the same engine with every live weight kept (the dense network as the
    prune stage folds it: ``live_bins`` of each kernel's N·(N/2+1) bins).

    All groups then carry C non-zeros and all spectrum words O reads, so the balanced assignment
    of :func:`codesign.dse.assign` (LPT over equal items) is exactly round-robin.
    """
    live = int(live_bins(arch.fft).sum())
    pe = math.ceil(task.O * live / arch.pes) * task.C
    u = arch.fft_units
    words = math.ceil(task.C / u) * live
    bank = math.ceil(math.ceil(words / (arch.banks // u)) * task.O / arch.ports)
    hazard = 0 if arch.forwarding else (task.C - 1) * arch.mac_latency + 1
    return max(pe, bank, hazard)


def memory_image(lm: LayerMap, w_re: np.ndarray, w_im: np.ndarray) -> dict:
    """Per-PE sparse-kernel memory: one word per schedule slot, laid out by
    :func:`~codesign.spectral.hdl.hadamard.kernel_word_layout` (fields of :data:`WORD_FIELDS`).

    ``first`` marks a group's earliest update in the tile (write instead of accumulate); idle
    slots are all-zero words.  Weights are two's complement in ``weight_bits``.
    """
    task, arch, s = lm.task, lm.arch, lm.schedule
    nz = task.nz
    prog = s.program
    valid = prog >= 0
    idx = np.where(valid, prog, 0)
    o, c, f = nz[idx, 0], nz[idx, 1], nz[idx, 2]
    F = task.F
    group = nz[:, 0] * F + nz[:, 2]
    first_cycle = np.full(task.O * F, np.iinfo(np.int64).max)
    np.minimum.at(first_cycle, group, s.cycle)
    is_first = s.cycle == first_cycle[group]
    wb = arch.weight_bits
    mask = (1 << wb) - 1
    fields_ = {
        "valid": valid.astype(np.int64),
        "first": np.where(valid, is_first[idx], 0).astype(np.int64),
        "bank": np.where(valid, lm.bank_of[c, f], 0),
        "addr": np.where(valid, lm.addr_of[c, f], 0),
        "acc": np.where(valid, lm.acc_addr[o, f], 0),
        "w_re": np.where(valid, w_re[o, c, f], 0) & mask,
        "w_im": np.where(valid, w_im[o, c, f], 0) & mask,
    }
    layout = kernel_word_layout(
        arch.banks, int(lm.addr_of.max()) + 1, int(lm.acc_addr.max()) + 1, wb
    )
    for e in layout:
        v = fields_[e["name"]]
        if v.size and (v.min() < 0 or v.max() >= (1 << e["width"])):
            raise ValueError(f"layer {task.name}: field {e['name']} does not fit {e['width']} bits")
    return {"fields": fields_, "layout": layout, "width": sum(e["width"] for e in layout)}


def _words_hex(image: dict, p: int) -> str:
    digits = -(-image["width"] // 4)
    out = []
    f = image["fields"]
    lay = image["layout"]
    for t in range(f["valid"].shape[1]):
        w = 0
        for e in lay:
            w |= int(f[e["name"]][p, t]) << e["lsb"]
        out.append(f"{w:0{digits}x}")
    return "\n".join(out) + "\n"


def map_tasks(
    name: str,
    tasks: list,
    board: Board,
    overrides: dict | None = None,
    weights: dict | None = None,
    source: dict | None = None,
    progress=None,
    style: str = "pipelined",
) -> Mapping:
    """Explore, then schedule every spectral layer of the chosen design for real and check it.

    ``style``: "pipelined" — one engine per layer, maps on chip (LeNet); "sequential" — one
    engine shared by all layers, maps and kernel chunks in external DRAM (VGG16).
    """
    overrides = overrides or {}
    check_override_layers(overrides, [t.name for t in tasks])
    exp = (
        explore_sequential(tasks, board, overrides)
        if style == "sequential"
        else explore(tasks, board, overrides)
    )
    chosen = exp["chosen"]
    layers, cycles = {}, []
    for task, arch in zip(tasks, chosen.archs):
        if not isinstance(task, SpectralTask):
            cycles.append(None)
            continue
        pe_of_group, bank_of = assign(task, arch)
        bound = sch.lower_bound(
            task.nz,
            pe_of_group,
            bank_of,
            arch.pes,
            arch.banks,
            arch.ports,
            arch.mac_latency,
            arch.forwarding,
        )
        s = sch.schedule_layer(
            task.nz,
            pe_of_group,
            bank_of,
            P=arch.pes,
            B=arch.banks,
            ports=arch.ports,
            latency=arch.mac_latency,
            forwarding=arch.forwarding,
        )
        problems = verify(task, arch, pe_of_group, bank_of, s)
        if problems:
            raise RuntimeError(
                f"layer {task.name}: scheduler produced an invalid schedule: {problems[:3]}"
            )
        dense = _dense_bound(task, arch)
        lm = LayerMap(
            task,
            arch,
            pe_of_group,
            bank_of,
            sch.bank_addresses(bank_of),
            accumulator_addresses(task.nz, pe_of_group),
            s,
            bound,
            dense,
        )
        if weights and task.name in weights:
            lm.image = memory_image(lm, *weights[task.name])
        layers[task.name] = lm
        cycles.append(int(s.cycles))
        if progress:
            progress(task.name)
    design = evaluate(
        tasks, board, chosen.archs, [c if c is not None else 0 for c in cycles], style=style
    )
    return Mapping(
        name, board, tasks, design, layers, exp["runners_up"], source or {}, weights or {}
    )


def engine_cycles(task: SpectralTask, arch, cycles: int) -> dict:
    """Clocks of the generated layer engine (docs/engine.md) for this schedule: the latency of
    one image and the interval between images (:func:`~codesign.spectral.dse.layer_timing`)."""
    t = layer_timing(task, arch, cycles)
    return {
        "latency_cycles": t["latency"],
        "interval_cycles": t["interval"],
        "model": "codesign/spectral/hdl/timing.py",
    }


def accelerator_cycles(m: Mapping) -> dict | None:
    """The generated accelerator's exact latency and interval (docs/accelerator.md) when every
    layer can be generated (pipelined, memory images, :func:`generatable` engines); else None."""
    spectral = [m.layers[t.name] if isinstance(t, SpectralTask) else None for t in m.tasks]
    if any(lm is not None and not lm.image for lm in spectral):
        return None
    cycles = [int(lm.schedule.cycles) if lm else None for lm in spectral]
    t = exact_network(m.tasks, m.design.archs, cycles)
    if t is None:
        return None
    return {
        "latency_cycles": t["latency"],
        "interval_cycles": t["interval"],
        "images_per_second": m.board.target_clock_mhz * 1e6 / t["interval"],
        "model": "codesign/spectral/hdl/timing.py network_timing (equal to the RTL)",
    }


def describe(m: Mapping) -> dict:
    """The JSON description of a mapping (schedule.json without file checksums)."""
    layers = []
    for task, arch, cost in zip(m.tasks, m.design.archs, m.design.costs):
        e = {"name": task.name, "arch": arch.to_dict(), "cost": cost}
        if isinstance(task, SpectralTask):
            lm = m.layers[task.name]
            e.update(
                {
                    "type": SPECTRAL,
                    "in_channels": task.C,
                    "out_channels": task.O,
                    "fft": task.N,
                    "kernel": task.K,
                    "tile": task.N - task.K + 1,
                    "tiles": task.tiles,
                    "bins": task.F,
                    "schedule": lm.report(),
                }
            )
            if lm.image and generatable(arch, task.O, task.C) is None:
                e["engine"] = engine_cycles(task, arch, int(lm.schedule.cycles))
            if lm.image:
                e["memory_image"] = {
                    "layout": lm.image["layout"],
                    "width": lm.image["width"],
                    "depth": int(lm.schedule.cycles),
                    "files": [f"mem/{task.name}_pe{p}.hex" for p in range(arch.pes)],
                }
        else:
            e.update(
                {
                    "type": DENSE,
                    "in_features": task.n_in,
                    "out_features": task.n_out,
                    "nonzero_per_output": task.nnz_per_output,
                }
            )
        if isinstance(task, SpectralTask):
            e["arrays"] = f"layers/{task.name}.npz"
        layers.append(e)
    net = dict(m.design.network)
    exact = accelerator_cycles(m)
    if exact is not None:
        net["accelerator"] = exact
    cap = m.board.capacity()
    net["capacity"] = cap
    net["utilisation"] = {k: net["resources"][k] / cap[k] for k in cap}
    net["fits"] = m.design.fits
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "codesign_version": __version__,
        "model": m.source,
        "board": m.board.to_dict(),
        "layers": layers,
        "network": net,
        "runners_up": [d.row() for d in m.runners_up],
        "modeled": "cycles and resources are model estimates, not measurements",
    }


def save_mapping(m: Mapping, out: str | Path, write_images: bool = True) -> Path:
    """Write the schedule artifact directory atomically; same inputs → byte-identical files."""
    with atomic_directory(out) as tmp:
        (tmp / "layers").mkdir()
        if write_images and any(lm.image for lm in m.layers.values()):
            (tmp / "mem").mkdir()
        for name, lm in m.layers.items():
            arrays = {
                "nz": lm.task.nz,
                "cycle": lm.schedule.cycle,
                "pe": lm.schedule.pe,
                "program": lm.schedule.program,
                "pe_of_group": lm.pe_of_group,
                "bank_of": lm.bank_of,
                "addr_of": lm.addr_of,
                "acc_addr": lm.acc_addr,
            }
            if lm.image:
                arrays.update({f"word_{k}": v for k, v in lm.image["fields"].items()})
                if write_images:
                    for p in range(lm.arch.pes):
                        (tmp / "mem" / f"{name}_pe{p}.hex").write_text(_words_hex(lm.image, p))
            save_arrays(tmp / "layers" / f"{name}.npz", arrays)
        d = json.loads(json.dumps(describe(m)))
        if "path" in d["model"]:  # recorded relative to the artifact, so both can move
            d["model"]["path"] = relative_to(d["model"]["path"], Path(out).resolve())
        write_json(tmp / "schedule.json", d)
    return Path(out)


def model_source(model_dir: Path) -> dict:
    """The model a schedule is mapped from: its directory and the sha256 of its model.json."""
    return {"path": str(model_dir), "sha256": sha256_file(Path(model_dir) / "model.json")}


_SCHEDULE_INTS = (
    "cycles_per_tile",
    "stall_cycles",
    "konig_bound",
    "lower_bound",
    "pe_bound",
    "bank_bound",
    "hazard_bound",
    "dense_cycles_per_tile",
)


def read_schedule(schedule_dir: str | Path, error: type) -> dict:
    """schedule.json of ``schedule_dir``, checked against docs/schedule-format.md: format and
    version, every layer's name, type, architecture and (spectral) schedule figures, arrays file
    and memory image.  Any problem raises ``error`` naming the file, the field and the fix."""
    sd = Path(schedule_dir)
    path = sd / "schedule.json"
    fix = "re-run `codesign map`"
    sj = read_json(path, error, "pass the directory `codesign map --out` wrote")
    if sj.get("format") != FORMAT or sj.get("format_version") != FORMAT_VERSION:
        raise error(
            f"{path}: format {sj.get('format')!r} version {sj.get('format_version')!r}; this "
            f"codesign reads {FORMAT!r} version {FORMAT_VERSION}: {fix}"
        )
    need(sj, "model", dict, path, error, fix=fix)
    need(sj, "network", dict, path, error, fix=fix)
    for i, e in enumerate(need(sj, "layers", list, path, error, fix=fix)):
        w = f"layers[{i}]."
        need(e, "name", str, path, error, w, fix)
        kind = need(e, "type", str, path, error, w, fix)
        arch = need(e, "arch", dict, path, error, w, fix)
        try:
            a = arch_from_dict(arch)
        except (ArchError, KeyError, TypeError, ValueError) as err:
            raise error(
                f"{path}: field '{w}arch' is not a valid architecture ({err}); {fix}"
            ) from None
        for k, v in a.to_dict().items():
            if isinstance(v, bool) or not isinstance(v, int):
                continue
            if v < 1:
                raise error(f"{path}: field '{w}arch.{k}' must be >= 1, got {v}; {fix}")
        if kind == DENSE:
            continue
        if a.fft < 2 or a.fft & (a.fft - 1) or a.banks % a.fft_units:
            raise error(
                f"{path}: field '{w}arch' has fft {a.fft} (a power of two >= 2) and banks "
                f"{a.banks} (a multiple of fft_units {a.fft_units}); {fix}"
            )
        if kind != SPECTRAL:
            raise error(f"{path}: field '{w}type' is {kind!r}, not {SPECTRAL!r} or {DENSE!r}")
        need(e, "tiles", int, path, error, w, fix)
        arrays = need(e, "arrays", str, path, error, w, fix)
        if arrays != f"layers/{e['name']}.npz":
            raise error(f"{path}: field '{w}arrays' is {arrays!r}, not 'layers/{e['name']}.npz'")
        s = need(e, "schedule", dict, path, error, w, fix)
        for k in _SCHEDULE_INTS:
            if need(s, k, int, path, error, f"{w}schedule.", fix) < 0:
                raise error(f"{path}: field '{w}schedule.{k}' must be >= 0, got {s[k]}")
        if "memory_image" in e:
            mi = need(e, "memory_image", dict, path, error, w, fix)
            need(mi, "layout", list, path, error, f"{w}memory_image.", fix)
            need(mi, "width", int, path, error, f"{w}memory_image.", fix)
    return sj


def read_layer_arrays(schedule_dir: str | Path, entry: dict, error: type) -> dict:
    """A spectral layer's arrays (``layers/<name>.npz``), each documented array present."""
    keys = list(ARRAY_KEYS)
    if "memory_image" in entry:
        keys += [f"word_{f['name']}" for f in entry["memory_image"]["layout"]]
    return read_arrays(Path(schedule_dir) / entry["arrays"], keys, error, "re-run `codesign map`")


def kernel_weights(model) -> dict:
    """Each spectral layer's quantised kernel as (re, im) integers of shape (O, C, bins): what
    the memory images hold."""
    q = model.quantized()
    weights = {}
    for layer in model.layers:
        if layer["type"] == SPECTRAL:
            n, O, C = layer["name"], layer["out_channels"], layer["in_channels"]
            weights[n] = (
                q[f"{n}.kernel_re"].reshape(O, C, -1),
                q[f"{n}.kernel_im"].reshape(O, C, -1),
            )
    return weights


def map_model_dir(model_dir: Path, board: Board, overrides: dict | None = None) -> Mapping:
    """The map stage on a model artifact directory: its tasks, its weights, its provenance."""
    from codesign.spectral.model import load_model

    model = load_model(model_dir)
    return map_tasks(
        Path(model_dir).name,
        tasks_from_model(model),
        board,
        overrides,
        kernel_weights(model),
        model_source(Path(model_dir)),
    )


def map_vgg16(density: float, seed: int, board: Board, overrides: dict | None = None):
    """VGG16 (synthetic balanced masks at ``density``) on the shared-engine style, modeled, and
    the best dense spectral design on the same board for comparison: (mapping, dense design)."""
    sparse = map_tasks(
        "vgg16",
        vgg16_tasks(density, seed),
        board,
        overrides,
        source={"name": "vgg16", "density": density, "seed": seed, "synthetic": True},
        style="sequential",
    )
    dense = explore_sequential(vgg16_tasks(1.0, seed), board, overrides)["chosen"]
    return sparse, dense
