"""Design-space exploration: the parallelism of every layer that maximises throughput on a board.

Layers are pipelined image by image, so throughput is set by the slowest layer.  For a target
image initiation interval T, every layer takes its cheapest configuration that meets T (fewest
FFT/IFFT units, PEs and banks for a spectral layer — judged by the schedule's lower bound, which
the scheduler reaches — and fewest MACs for a dense one).  A binary search finds the smallest T
whose whole design fits the board; the runners-up are the designs at a few larger T, and the first
faster design that does not fit.  Forced fields (``--set``, TOML) are kept as given.

Cycles: a spectral layer the generator builds (:func:`~codesign.spectral.hdl.engine.generatable`)
is judged by its engine's exact interval (:func:`layer_timing`, hdl/timing.py), and a design whose
every layer is built gets the exact interval and latency of the whole accelerator
(:func:`exact_network`) — the figures co-simulation reproduces.  Model-only layers (fields forced
outside what the generator builds, the sequential style) keep the analytic model of
:mod:`codesign.spectral.cost`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import numpy as np

from codesign.eda.boards import Board
from codesign.errors import CodesignError
from codesign.spectral import schedule as sch
from codesign.spectral.arch import DenseArch, SpectralArch, apply_overrides, parallelism
from codesign.spectral.conv import live_bins
from codesign.spectral.cost import (
    activation_buffer_cost,
    bram18,
    dense_layer_cost,
    network_cost,
    spectral_layer_cost,
)
from codesign.spectral.hdl.engine import generatable
from codesign.spectral.hdl.hadamard import kernel_word_layout
from codesign.spectral.hdl.timing import network_timing, spectral_stage, stage_timing

__all__ = [
    "SpectralTask",
    "DenseTask",
    "Design",
    "FitError",
    "assign",
    "explore",
    "sweep",
    "explore_sequential",
    "estimate_bound",
    "evaluate",
    "kernel_word_width",
    "pool_of",
    "engine_layer",
    "layer_timing",
    "network_stages",
    "exact_network",
    "FIT_FRACTION",
    "allowed",
]

FIT_FRACTION = {"dsp": 0.8, "bram36": 0.8, "lut": 0.8, "ff": 0.8}  # leave room for routing
KERNEL_SHARE = 0.5  # of the board's block RAM for kernel memories in the sequential style


class FitError(CodesignError, ValueError):
    """Even the smallest design does not fit the board; the message has the numbers."""


@dataclass
class SpectralTask:
    """What the DSE needs to know of a spectral layer."""

    name: str
    C: int
    O: int
    N: int
    K: int
    tiles: int
    nz: np.ndarray  # (n, 3) triples (o, c, f)
    out_shape: tuple
    in_shape: tuple = (1, 1, 1)
    _bounds: dict = field(default_factory=dict, repr=False)
    _stats: tuple | None = field(default=None, repr=False)
    _timing: dict = field(default_factory=dict, repr=False)

    @property
    def F(self) -> int:
        return self.N * (self.N // 2 + 1)

    @property
    def live(self) -> int:
        """Bins a folded kernel may hold (:func:`~codesign.spectral.conv.live_bins`)."""
        return int(live_bins(self.N).sum())

    @property
    def nonzero(self) -> int:
        """Kept weights; ``nz`` None means every live bin of every kernel."""
        return self.O * self.C * self.live if self.nz is None else len(self.nz)


@dataclass
class DenseTask:
    name: str
    n_in: int
    n_out: int
    nnz_per_output: int
    out_shape: tuple


@dataclass
class Design:
    archs: list
    costs: list
    network: dict
    fits: bool
    over: dict  # resource → (used, allowed) for what does not fit

    def row(self) -> dict:
        r = self.network["resources"]
        return {
            "ii_cycles": self.network["ii_cycles"],
            "images_per_second": self.network["images_per_second"],
            "dsp": r["dsp"],
            "bram36": r["bram36"],
            "lut": r["lut"],
            "ff": r["ff"],
            "fits": self.fits,
            "parallelism": _parallelism(self.archs),
        }


def _parallelism(archs) -> dict:
    """Layer → parallelism text; one "all" entry when every layer shares one engine."""
    texts = {a.name: _par(a) for a in archs}
    return (
        {"all": next(iter(texts.values()))}
        if len(archs) > 1
        and len(set(texts.values())) == 1
        and all(type(a) is type(archs[0]) for a in archs)
        and "macs" not in str(texts)
        else texts
    )


def _par(a) -> str:
    return parallelism(a.to_dict())


def assign(task: SpectralTask, arch: SpectralArch) -> tuple[np.ndarray, np.ndarray]:
    """PE of every accumulator group and bank of every spectrum word.

    With several FFT units, unit u writes the channels c ≡ u (mod fft_units) into its own group of
    ``banks / fft_units`` banks, so the units never write one bank in the same clock; with several
    read-out lanes, channel o's groups go to the PEs p ≡ o (mod ifft_units)
    (:func:`~codesign.spectral.schedule.assign_pes`), so the lanes never read one PE at once.
    """
    lanes = arch.ifft_units if arch.pes % arch.ifft_units == 0 else 1
    pe_of_group = sch.assign_pes(task.nz, task.O, task.F, arch.pes, lanes)
    u = arch.fft_units
    if arch.banks % u:
        raise ValueError(
            f"layer {task.name}: banks ({arch.banks}) must be a multiple of fft_units ({u})"
        )
    per = arch.banks // u
    bank_of = np.zeros((task.C, task.F), dtype=np.int64)
    for g in range(u):
        chans = np.arange(g, task.C, u)
        sel = task.nz[task.nz[:, 1] % u == g]
        local = sel.copy()
        local[:, 1] //= u
        bank_of[chans] = sch.assign_banks(local, len(chans), task.F, per) + g * per
    return pe_of_group, bank_of


def _assigned(task: SpectralTask, arch: SpectralArch) -> dict:
    """The assignment's schedule ``bound``, and the memory depths it sets: ``bank_words`` (spectrum
    words of the fullest bank) and ``groups`` (accumulator groups of the fullest PE); cached."""
    key = (
        arch.pes,
        arch.banks,
        arch.ports,
        arch.fft_units,
        arch.ifft_units,
        arch.mac_latency,
        arch.forwarding,
    )
    if key not in task._bounds:
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
        )["bound"]
        nz = np.asarray(task.nz)
        used = np.unique(nz[:, 0] * task.F + nz[:, 2]) if len(nz) else np.zeros(0, dtype=int)
        per_pe = np.bincount(pe_of_group.ravel()[used], minlength=arch.pes)
        task._bounds[key] = {
            "bound": bound,
            "bank_words": int(np.bincount(bank_of.ravel(), minlength=arch.banks).max()),
            "groups": int(per_pe.max()) if len(used) else 1,
        }
    return task._bounds[key]


def _bound(task: SpectralTask, arch: SpectralArch) -> int:
    return _assigned(task, arch)["bound"]


def estimate_bound(task: SpectralTask, arch: SpectralArch) -> int:
    """The schedule bound of perfectly balanced PE and bank loads (never above the real one).

    Cheap: used to rank the many candidates of the sequential exploration; the chosen design is
    then assigned, scheduled and costed for real.  ``task.nz`` None means every weight is kept.
    """
    if task._stats is None:
        if task.nz is None:
            task._stats = (task.nonzero, task.C, task.O, task.C)
        else:
            g = np.bincount(task.nz[:, 0] * task.F + task.nz[:, 2])
            a = np.bincount(task.nz[:, 1] * task.F + task.nz[:, 2])
            task._stats = (len(task.nz), int(g.max()), int(a.max()), int(g.max()))
    n, group, addr, m = task._stats
    u = arch.fft_units
    n_bank_group = n * math.ceil(task.C / u) / task.C
    pe = max(math.ceil(n / arch.pes), group)
    bank = max(
        math.ceil(n_bank_group / (arch.banks // u) / arch.ports), math.ceil(addr / arch.ports)
    )
    hazard = 0 if arch.forwarding else (m - 1) * arch.mac_latency + 1
    return max(pe, bank, hazard)


def kernel_word_width(task: SpectralTask, arch: SpectralArch, cycles: int) -> int:
    """Bits of one sparse-kernel memory word (:func:`kernel_word_layout`), its bank and
    accumulator addresses sized by the assignment (balanced banks and PEs when ``nz`` is None)."""
    if task.nz is None:
        depth = math.ceil(task.C * task.F / arch.banks)
        groups = math.ceil(task.O * task.F / arch.pes)
    else:
        a = _assigned(task, arch)
        depth, groups = a["bank_words"], a["groups"]
    last = kernel_word_layout(arch.banks, depth, groups, arch.weight_bits)[-1]
    return last["lsb"] + last["width"]


def _groups(task: SpectralTask) -> int:
    """Accumulator groups (o, f) holding at least one non-zero: the accumulators' depth."""
    if task.nz is None:
        return task.O * task.live
    if not len(task.nz):
        return task.O * task.F
    nz = np.asarray(task.nz)
    return int(len(np.unique(nz[:, 0] * task.F + nz[:, 2])))


def _spectral_cost(
    task: SpectralTask,
    arch: SpectralArch,
    cycles: int,
    chunks: int = 0,
    bytes_per_cycle: float = 0.0,
) -> dict:
    """The layer's cost; a pipelined layer's memories as deep as its assignment makes them."""
    groups, bank_words = math.ceil(_groups(task) / arch.pes), 0
    if task.nz is not None and not chunks:
        a = _assigned(task, arch)
        groups, bank_words = a["groups"], a["bank_words"]
    return spectral_layer_cost(
        arch,
        task.C,
        task.O,
        task.tiles,
        cycles,
        groups,
        kernel_word_width(task, arch, cycles),
        bank_words=bank_words,
        chunks=chunks,
        nonzero=task.nonzero,
        in_shape=task.in_shape,
        out_shape=task.out_shape,
        dram_bytes_per_cycle=bytes_per_cycle,
        kernel=task.K,
        pool=pool_of(task),
    )


def pool_of(task: SpectralTask) -> int:
    """The layer's max-pool size, from its input and output map heights."""
    H, out_h = task.in_shape[1], task.out_shape[1]
    return max((H - task.K + 1) // out_h, 1) if out_h else 1


def engine_layer(task: SpectralTask) -> dict:
    """The layer dict of the engine's timing model (hdl/timing.py)."""
    C, H, W = task.in_shape
    return dict(C=C, O=task.O, H=H, W=W, K=task.K, N=task.N, pool=pool_of(task))


ENGINE_IMAGES, NETWORK_IMAGES = 3, 4  # images the timing models replay (steady interval)


def layer_timing(task: SpectralTask, arch: SpectralArch, cycles: int) -> dict:
    """``latency`` (first input word to last output of one image) and ``interval`` (between
    images) of the generated engine for ``cycles`` schedule slots per tile
    (:func:`~codesign.spectral.hdl.timing.engine_timing`); cached on the task, as the search asks
    for the same engine many times (only ``fft_units``, ``ifft_units``, ``tile_slices`` and the
    words per beat of the arch change its timing)."""
    key = (arch.fft_units, arch.ifft_units, arch.tile_slices, arch.in_words, arch.out_words, cycles)
    if key not in task._timing:
        t = stage_timing(spectral_stage(engine_layer(task), arch, cycles), ENGINE_IMAGES)
        task._timing[key] = {"latency": t["latency"], "interval": t["interval"]}
    return task._timing[key]


def network_stages(tasks: list, archs: list, cycles: list) -> list | None:
    """The stages of :func:`~codesign.spectral.hdl.timing.network_timing` for a pipelined design
    (``cycles``: schedule slots per tile of each spectral layer), or None when a layer is one the
    generator does not build."""
    stages = []
    for task, arch, c in zip(tasks, archs, cycles):
        if isinstance(task, SpectralTask):
            if generatable(arch, task.O, task.C) is not None:
                return None
            stages.append(spectral_stage(engine_layer(task), arch, c))
        else:
            steps = max(task.nnz_per_output, 1)
            stages.append(
                {
                    "kind": "dense",
                    "n_in": task.n_in,
                    "n_out": task.n_out,
                    "macs": arch.macs,
                    "steps": steps,
                }
            )
    return stages


def exact_network(tasks: list, archs: list, cycles: list) -> dict | None:
    """The generated accelerator's exact ``latency`` and ``interval`` in clocks (AXI source and
    sink never waiting; the first layer paced by a slower later one,
    :func:`~codesign.spectral.hdl.timing.network_pace`), or None when a layer is not generated
    or the timing model cannot replay the design."""
    stages = network_stages(tasks, archs, cycles)
    if stages is None:
        return None
    key = tuple(
        tuple(sorted((k, tuple(v.items()) if isinstance(v, dict) else v) for k, v in st.items()))
        for st in stages
    )
    t = _network_timing(key)
    return None if t is None else {"latency": t[0], "interval": t[1]}


@functools.lru_cache(maxsize=1024)
def _network_timing(key: tuple) -> tuple[int, int] | None:
    """:func:`network_timing` of the stages frozen in ``key``: (latency, interval) or None."""
    stages = [{k: dict(v) if k == "layer" else v for k, v in st} for st in key]
    try:
        t = network_timing(stages, images=NETWORK_IMAGES)
    except ValueError:
        return None
    return t["latency"], t["interval"]


def _forced(overrides: dict, name: str) -> set:
    return set(overrides.get("all", {})) | set(overrides.get(name, {}))


def _spectral_for(task: SpectralTask, T: int, overrides: dict) -> SpectralArch | None:
    """Cheapest spectral engine whose image interval is at most ``T`` clocks (None if none is):
    over the tile slices (1 … a tile row, unless forced), the fewest DSP48E1, then block RAM,
    then LUTs."""
    if "tile_slices" in _forced(overrides, task.name):
        return _spectral_sliced(task, T, overrides)
    best, best_key = None, None
    for S in range(1, _max_slices(task) + 1):
        a = _spectral_sliced(
            task, T, {**overrides, task.name: {**overrides.get(task.name, {}), "tile_slices": S}}
        )
        if a is None:
            continue
        c = _spectral_cost(task, a, _bound(task, a))
        key = (c["dsp"], c["bram18"], c["lut"])
        if best_key is None or key < best_key:
            best, best_key = a, key
    return best


def _max_slices(task: SpectralTask) -> int:
    """Tile slices the engine can have: at most a tile row (hdl/engine.py)."""
    L = task.N - task.K + 1
    return max(1, min(-(-task.in_shape[2] // L), task.tiles))


def _spectral_sliced(task: SpectralTask, T: int, overrides: dict) -> SpectralArch | None:
    """Cheapest spectral engine with the (given or default) tile slices meeting ``T``.

    The analytic per-tile model proposes (:func:`_spectral_tile`); an engine the generator builds
    must also meet ``T`` by its exact interval, else the per-tile target tightens by the excess."""
    S = apply_overrides(SpectralArch(task.name, task.N, 1, 1), overrides).tile_slices
    per_slice = -(-task.tiles // S)
    t_tile = T // per_slice
    while t_tile > 0:
        a = _spectral_tile(task, t_tile, overrides)
        if a is None or generatable(a, task.O, task.C) is not None:
            return a
        excess = layer_timing(task, a, _bound(task, a))["interval"] - T
        if excess <= 0:
            return a
        t_tile -= -(-excess // per_slice)
    return None


def _spectral_tile(task: SpectralTask, t_tile: int, overrides: dict) -> SpectralArch | None:
    """Cheapest spectral engine meeting ``t_tile`` clocks per tile in the analytic model.

    The exploration stays within what ``codesign generate`` builds (at most O read-out /
    inverse-FFT lanes, PEs a multiple of the lanes); forcing fields outside that explores as a
    model only."""
    base = apply_overrides(SpectralArch(task.name, task.N, 1, 1), overrides)
    forced = _forced(overrides, task.name)
    N2 = base.fft * base.fft
    a = base
    if "fft_units" not in forced:
        u = math.ceil(task.C / max(t_tile // N2, 1)) if t_tile >= N2 else None
        u = None if u is None else max(u, base.in_words)  # a unit per word of a beat
        if u is not None and "banks" in forced:  # a unit owns banks / fft_units banks
            u = next((d for d in range(u, base.banks + 1) if base.banks % d == 0), None)
        if u is None or u > task.C:
            return None
        a = replace(a, fft_units=u)
    if "ifft_units" not in forced:
        u = math.ceil(task.O / max(t_tile // N2, 1)) if t_tile >= N2 else None
        k = base.out_words  # a lane per word of a beat: lanes a multiple of the words
        u = None if u is None else -(-u // k) * k
        if u is None or u > task.O:
            return None
        a = replace(a, ifft_units=u)
    if max(math.ceil(task.C / a.fft_units), math.ceil(task.O / a.ifft_units)) * N2 > t_tile:
        return None
    n = task.nonzero
    lanes = a.ifft_units
    start = max(1, math.ceil(n / max(t_tile, 1))) if "pes" not in forced else a.pes
    start = -(-start // lanes) * lanes if "pes" not in forced else start
    limit = max(task.O * task.F, lanes)
    p = start
    while p <= limit:
        cand = replace(a, pes=p)
        if "banks" not in forced:
            b = max(p, cand.fft_units)
            cand = replace(cand, banks=-(-b // cand.fft_units) * cand.fft_units)
        if _bound(task, cand) <= t_tile:
            return cand
        if "pes" in forced:
            return None
        p = p + lanes if p < 64 else -(-(int(p * 1.03) + 1) // lanes) * lanes
    return None


def _dense_for(task: DenseTask, t: int, overrides: dict) -> DenseArch | None:
    a = apply_overrides(DenseArch(task.name, 1), overrides)
    if "macs" in _forced(overrides, task.name):
        return a
    per_mac = t // max(task.nnz_per_output, 1)
    if per_mac < 1:
        return None
    return replace(a, macs=min(task.n_out, math.ceil(task.n_out / per_mac)))


def evaluate(
    tasks: list, board: Board, archs: list, cycles: list | None = None, style: str = "pipelined"
) -> Design:
    """Cost a complete design (``cycles``: real schedule lengths; default: the lower bounds).

    Pipelined: a generated spectral layer's ``ii`` and ``latency`` are its engine's exact ones,
    and the network's are the whole accelerator's (:func:`exact_network`) when every layer is
    generated; the rest is the analytic model."""
    if style == "sequential":
        sched = cycles or [estimate_bound(t, a) for t, a in zip(tasks, archs)]
        return _sequential(tasks, board, archs[0], sched)
    sched = [
        (cycles[i] if cycles else _bound(t, a)) if isinstance(t, SpectralTask) else None
        for i, (t, a) in enumerate(zip(tasks, archs))
    ]
    costs = []
    for i, (task, arch) in enumerate(zip(tasks, archs)):
        if isinstance(task, SpectralTask):
            c = _spectral_cost(task, arch, sched[i])
            if generatable(arch, task.O, task.C) is None:
                t = layer_timing(task, arch, sched[i])
                c["cycles"].update(ii=t["interval"], latency=t["latency"])
            costs.append(c)
        else:
            costs.append(dense_layer_cost(arch, task.n_in, task.n_out, task.nnz_per_output))
    exact = exact_network(tasks, archs, sched)
    # every layer's cost holds its own input buffer (hdl/feed.py, hdl/dense.py)
    net = network_cost(costs, 0, board.target_clock_mhz, exact=exact)
    return _verdict(board, archs, costs, net)


def allowed(board: Board) -> dict:
    """What a design may use of each resource: FIT_FRACTION of the device, or less under the
    user's budget (``Board.limited``)."""
    cap, budget = board.capacity(), dict(board.budget)
    return {k: min(int(cap[k] * FIT_FRACTION[k]), budget.get(k, cap[k])) for k in FIT_FRACTION}


def _verdict(board: Board, archs, costs, net) -> Design:
    used, limit = net["resources"], allowed(board)
    over = {k: (used[k], limit[k]) for k in FIT_FRACTION if used[k] > limit[k]}
    return Design(list(archs), costs, net, not over, over)


def _sequential(tasks: list, board: Board, arch: SpectralArch, sched: list) -> Design:
    """One spectral engine shared by all layers in turn; maps and kernels in external DRAM.

    The engine's kernel memory per PE holds two chunks of ``depth`` words (double buffering),
    ``depth`` the largest power of two ≥ 512 that keeps all kernel memories within
    ``KERNEL_SHARE`` of the block RAM; a layer runs in ``ceil(cycles / depth)`` output-channel
    chunks.  Image time is the sum of the layers' times.
    """
    width = max(kernel_word_width(t, arch, 0) for t in tasks)
    depth = 512
    while arch.pes * bram18(4 * depth, width) <= KERNEL_SHARE * board.bram18:
        depth *= 2
    bpc = board.dram_bytes_per_cycle()
    costs = [
        _spectral_cost(t, arch, sched[i], max(1, math.ceil(sched[i] / depth)), bpc)
        for i, t in enumerate(tasks)
    ]
    ii = sum(c["cycles"]["ii"] for c in costs)
    for c in costs:
        c["cycles"]["latency"] = c["cycles"]["ii"]
    engine = {k: max(c[k] for c in costs) for k in ("dsp", "lut", "ff")}
    mem = {m: max(c["bram18_by_memory"][m] for c in costs) for m in costs[0]["bram18_by_memory"]}
    mem["kernel"] = arch.pes * bram18(2 * depth, width)
    band = max(activation_buffer_cost(t.in_shape, arch.activation_bits, t.N) for t in tasks)
    engine["bram18"] = sum(mem.values()) + band
    engine["bram36"] = math.ceil(engine["bram18"] / 2)
    dram = sum(c["dram_bytes"] for c in costs)
    ips = board.target_clock_mhz * 1e6 / ii
    net = {
        "ii_cycles": ii,
        "latency_cycles": ii,
        "clock_mhz": board.target_clock_mhz,
        "images_per_second": ips,
        "latency_us": ii / board.target_clock_mhz,
        "style": "sequential",
        "memory_plan": "external DRAM",
        "kernel_chunk_depth": depth,
        "dram_bytes_per_image": dram,
        "dram_gbytes_per_s": dram * ips / 1e9,
        "resources": engine,
    }
    return _verdict(board, [replace(arch, name=t.name) for t in tasks], costs, net)


def _sequential_candidates(tasks: list, overrides: dict):
    base = apply_overrides(SpectralArch("all", tasks[0].N, 1, 1), overrides)
    forced = set(overrides.get("all", {}))
    pes = [base.pes] if "pes" in forced else [2**i for i in range(0, 12)]
    units = [base.fft_units] if "fft_units" in forced else [2**i for i in range(0, 7)]
    for p in pes:
        for u in units:
            b = base.banks if "banks" in forced else -(-max(p, u) // u) * u
            iu = base.ifft_units if "ifft_units" in forced else u
            yield replace(base, pes=p, banks=b, fft_units=u, ifft_units=iu)


def explore_sequential(tasks: list, board: Board, overrides: dict | None = None) -> dict:
    """The shared-engine design with the most images/s that fits; runners-up by throughput."""
    overrides = overrides or {}
    if any(not isinstance(t, SpectralTask) for t in tasks):
        raise ValueError("the sequential (shared-engine) style maps spectral conv layers only")
    designs = [
        evaluate(tasks, board, [a] * len(tasks), style="sequential")
        for a in _sequential_candidates(tasks, overrides)
    ]
    fitting = sorted(
        (d for d in designs if d.fits),
        key=lambda d: (d.network["ii_cycles"], d.network["resources"]["dsp"]),
    )
    if not fitting:
        small = min(designs, key=lambda d: d.network["resources"]["bram18"])
        what = ", ".join(f"{k} {u} > {c}" for k, (u, c) in small.over.items())
        raise FitError(
            f"even the smallest design does not fit {board.name} ({board.part}): "
            f"{what}; choose a larger board or prune harder"
        )
    best = fitting[0]
    faster = sorted(
        (d for d in designs if not d.fits and d.network["ii_cycles"] < best.network["ii_cycles"]),
        key=lambda d: d.network["resources"]["dsp"],
    )[:1]
    return {"chosen": best, "runners_up": faster + fitting[1:4], "style": "sequential"}


def _design_at(tasks, board, T: int, overrides: dict) -> Design | None:
    """Every layer's cheapest configuration meeting the image interval ``T``, costed; a conv
    engine feeding another gets the fewest output words per clock that let its output pass
    take at most ``T`` clocks (and its consumer the same input words), unless forced."""
    archs, words = [], 1
    for i, task in enumerate(tasks):
        if isinstance(task, SpectralTask):
            nxt = tasks[i + 1] if i + 1 < len(tasks) else None
            k = _out_words(task, nxt, T)
            if k is None:
                return None
            own = {"in_words": words, "out_words": k, **overrides.get(task.name, {})}
            a = _spectral_for(task, T, {**overrides, task.name: own})
            words = a.out_words if a is not None else 1
        else:
            a = _dense_for(task, T, overrides)
        if a is None:
            return None
        archs.append(a)
    return evaluate(tasks, board, archs)


MAX_LINK_WORDS = 4  # activations per clock a link between two conv engines may carry


def _out_words(task: SpectralTask, nxt, T: int) -> int | None:
    """Output words per clock of a conv engine for the image interval ``T``: 1 unless its
    consumer is a conv engine too and O·Hp·Wp beats would exceed ``T``, else the smallest
    divisor of O (each word from its own lane) that fits, None if none up to
    :data:`MAX_LINK_WORDS` does."""
    if not isinstance(nxt, SpectralTask):
        return 1
    outputs = task.O * math.prod(task.out_shape[1:])
    for k in range(1, MAX_LINK_WORDS + 1):
        if task.O % k == 0 and -(-outputs // k) <= T:
            return k
    return None


def _search_range(tasks: list, overrides: dict) -> tuple[int, int]:
    """Image intervals the search spans: from what one stage needs at full parallelism (a tile's
    N² clocks, a dense output's non-zeros) to the smallest design's — analytic, raised to the
    exact interval of an engine the generator builds."""
    lo = max(
        (
            -(-t.tiles // _max_slices(t)) * t.N * t.N
            if isinstance(t, SpectralTask)
            else t.nnz_per_output
        )
        for t in tasks
    )
    hi = max(
        (
            t.tiles * max(t.nonzero, t.C * t.N * t.N, t.O * t.N * t.N, 1)
            if isinstance(t, SpectralTask)
            else t.n_out * t.nnz_per_output
        )
        for t in tasks
    )
    hi = max(hi, lo)
    for t in tasks:
        a = _spectral_tile(t, hi // t.tiles, overrides) if isinstance(t, SpectralTask) else None
        if a is not None and generatable(a, t.O, t.C) is None:
            hi = max(hi, layer_timing(t, a, _bound(t, a))["interval"])
    return lo, hi


def explore(tasks: list, board: Board, overrides: dict | None = None) -> dict:
    """Best-throughput design that fits ``board``, with runners-up; raises FitError if none fits."""
    overrides = overrides or {}
    lo, hi = _search_range(tasks, overrides)
    smallest = _design_at(tasks, board, hi, overrides)
    if smallest is None or not smallest.fits:
        what = ", ".join(
            f"{k} {u} > {c}" for k, (u, c) in (smallest.over if smallest else {}).items()
        )
        raise FitError(
            f"even the smallest design does not fit {board.name} ({board.part}): "
            f"{what or 'forced parallelism cannot be met'}; choose a larger board "
            f"or prune harder"
        )
    best, best_T = smallest, hi
    a, b = lo, hi
    while a < b:
        mid = (a + b) // 2
        d = _design_at(tasks, board, mid, overrides)
        if d is not None and d.fits:
            b = mid
            best, best_T = d, mid
        else:
            a = mid + 1
    if best_T != a:
        best = _design_at(tasks, board, a, overrides)
    ii = best.network["ii_cycles"]
    runners = []
    for f in (1.25, 1.5, 2.0):
        d = _design_at(tasks, board, int(ii * f), overrides)
        if (
            d is not None
            and d.network["ii_cycles"] != ii
            and all(d.network["ii_cycles"] != r.network["ii_cycles"] for r in runners)
        ):
            runners.append(d)
    faster = _design_at(tasks, board, max(lo, int(ii * 0.8)), overrides) if ii > lo else None
    if faster is not None and faster.network["ii_cycles"] < ii:
        runners.insert(0, faster)
    return {"chosen": best, "runners_up": runners, "style": "pipelined"}


def sweep(tasks: list, board: Board, overrides: dict | None = None, points: int = 12) -> list[dict]:
    """Pipelined designs at ``points`` target IIs spaced geometrically from the fastest design
    that can be built (fitting the board or not) to the smallest one, as :meth:`Design.row`
    rows sorted by ``ii_cycles``, one per distinct II (images/s then falls as II grows)."""
    overrides = overrides or {}
    lo, hi = _search_range(tasks, overrides)
    if _design_at(tasks, board, hi, overrides) is None:
        return []
    a, b = lo, hi
    while a < b:
        mid = (a + b) // 2
        if _design_at(tasks, board, mid, overrides) is None:
            a = mid + 1
        else:
            b = mid
    targets = sorted({int(round(t)) for t in np.geomspace(a, hi, max(points, 2))} | {a, hi})
    rows = {}
    for t in targets:
        d = _design_at(tasks, board, t, overrides)
        if d is not None:
            rows.setdefault(d.network["ii_cycles"], d.row())
    try:  # the chosen design is on the front too
        best = explore(tasks, board, overrides)["chosen"]
        rows[best.network["ii_cycles"]] = best.row()
    except FitError:
        pass
    return [rows[k] for k in sorted(rows)]
