"""The spectral designs a schedule artifact describes, read back for generation and co-simulation.

:func:`layer_from_artifacts` rebuilds one scheduled conv layer (its schedule, memory image,
dimensions and biases); :func:`accelerator_from_artifacts` every layer of the network, ready to
elaborate.  Both check that the model artifact the schedule records is unchanged
(:func:`recorded_model`), so RTL is never built or checked against a model it was not mapped
from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.artifacts import sha256_file
from codesign.errors import CodesignError
from codesign.hdl.convert import fresh_names
from codesign.spectral import schedule as sch
from codesign.spectral.arch import arch_from_dict
from codesign.spectral.dse import SpectralTask
from codesign.spectral.hdl.engine import generatable
from codesign.spectral.hdl.timing import spectral_stage
from codesign.spectral.mapping import (
    LayerMap,
    accumulator_addresses,
    kernel_weights,
    memory_image,
    read_layer_arrays,
    read_schedule,
    verify,
)
from codesign.spectral.model import ModelError, load_model
from codesign.spectral.network import SPECTRAL, layer_shapes, weight_key

__all__ = [
    "GenerateError",
    "LayerDesign",
    "AcceleratorDesign",
    "recorded_model",
    "schedule_and_model",
    "layer_from_artifacts",
    "accelerator_from_artifacts",
    "accelerator_timing",
    "elaborate_layer",
    "elaborate_accelerator",
]


class GenerateError(CodesignError, ValueError):
    """A schedule or RTL directory that cannot be used; names the file and the fix."""


@dataclass
class LayerDesign:
    lm: LayerMap
    layer: dict  # C, O, H, W, K, N, pool, relu
    bias: tuple
    model: object
    index: int
    schedule_json: dict


def recorded_model(
    record,
    where: Path,
    since: str,
    fix: str,
    error=GenerateError,
    model_dir: str | Path | None = None,
):
    """The model artifact that the artifact file ``where`` records as ``{path, sha256}`` (path
    relative to ``where``'s directory), checked to be unchanged ``since`` it was recorded (else
    ``error`` naming ``fix``).  ``model_dir`` replaces the recorded path (the artifacts moved
    apart); its model.json must still have the recorded hash."""
    if not isinstance(record, dict) or "sha256" not in record:
        raise error(f"{where}: field 'model' must name the model artifact {{path, sha256}}")
    if "path" not in record:
        raise error(
            f"{where}: a model-only mapping ({record.get('name', 'no model artifact')}): there "
            f"is no model artifact to generate or check RTL from"
        )
    path = Path(model_dir) if model_dir is not None else Path(where).parent / record["path"]
    try:
        model = load_model(path)
    except ModelError as err:
        hint = "" if model_dir is not None else " (pass its directory with --model)"
        raise error(f"{where}: its model artifact cannot be read{hint}: {err}") from None
    if sha256_file(path / "model.json") != record["sha256"]:
        raise error(f"{where}: the model at {path} changed {since}; {fix}")
    return model


def schedule_and_model(schedule_dir: str | Path, model_dir=None) -> tuple[dict, object]:
    """schedule.json (checked) and the model artifact it was mapped from, checked unchanged."""
    sd = Path(schedule_dir)
    sj = read_schedule(sd, GenerateError)
    model = recorded_model(
        sj["model"],
        sd / "schedule.json",
        "since it was mapped",
        "re-run `codesign map`",
        model_dir=model_dir,
    )
    return sj, model


def _check_arrays(path: Path, task: SpectralTask, arch, a: dict, mask) -> None:
    """The layer's arrays agree with the model's mask, with each other and with the validity
    rules of docs/schedule-format.md (the schedule checker), or GenerateError."""
    fix = "re-run `codesign map`"
    O, C, F = task.O, task.C, task.F
    shapes = {"pe_of_group": (O, F), "bank_of": (C, F), "addr_of": (C, F), "acc_addr": (O, F)}
    for k, shape in shapes.items():
        if a[k].shape != shape:
            raise GenerateError(f"{path}: array '{k}' has shape {a[k].shape}, expected {shape}")
    if (
        a["nz"].ndim != 2
        or a["nz"].shape[1:] != (3,)
        or not np.array_equal(a["nz"], sch.nonzeros_from_mask(mask))
    ):
        raise GenerateError(
            f"{path}: array 'nz' is not the model's non-zeros of '{task.name}'; {fix}"
        )
    if not ((a["pe_of_group"] >= 0) & (a["pe_of_group"] < arch.pes)).all():
        raise GenerateError(f"{path}: array 'pe_of_group' names a PE outside 0..{arch.pes - 1}")
    if not ((a["bank_of"] >= 0) & (a["bank_of"] < arch.banks)).all():
        raise GenerateError(f"{path}: array 'bank_of' names a bank outside 0..{arch.banks - 1}")
    if not np.array_equal(a["addr_of"], sch.bank_addresses(a["bank_of"])):
        raise GenerateError(f"{path}: array 'addr_of' disagrees with 'bank_of'; {fix}")
    if not np.array_equal(a["acc_addr"], accumulator_addresses(a["nz"], a["pe_of_group"])):
        raise GenerateError(f"{path}: array 'acc_addr' disagrees with 'pe_of_group'; {fix}")


def layer_from_artifacts(
    schedule_dir: str | Path, name: str, loaded=None, model_dir=None
) -> LayerDesign:
    """The scheduled layer ``name`` with its memory image, dimensions and biases, every array
    checked (:func:`_check_arrays`, the schedule checker, the memory image rebuilt from the
    model's weights); ``loaded``: :func:`schedule_and_model` when the caller has it already."""
    sd = Path(schedule_dir)
    sj_path = sd / "schedule.json"
    sj, model = loaded or schedule_and_model(sd, model_dir)
    entries = {e["name"]: e for e in sj["layers"]}
    spectral = [n for n, e in entries.items() if e["type"] == SPECTRAL]
    if name not in spectral:
        raise GenerateError(
            f"{sj_path}: no spectral conv layer '{name}'; spectral layers: {spectral}"
        )
    e = entries[name]
    if "memory_image" not in e:
        raise GenerateError(
            f"{sj_path}: layer '{name}' has no memory image (a model-only "
            f"mapping such as VGG16 cannot be generated)"
        )
    arch = arch_from_dict(e["arch"])
    why = generatable(arch, e.get("out_channels"), e.get("in_channels"))
    if why:
        fix = next(
            (
                f"--set {name}.{f}=1"
                for f in ("out_words", "in_words", "ifft_units")
                if why.startswith(f)
            ),
            f"--set {name}.ports=1",
        )
        raise GenerateError(f"{sj_path}: layer '{name}' has {why} — map with `{fix}`")
    names = [layer["name"] for layer in model.layers]
    if name not in names or model.layers[names.index(name)]["type"] != SPECTRAL:
        raise GenerateError(f"{sj_path}: the model has no spectral layer '{name}'; re-run map")
    idx = names.index(name)
    ml = model.layers[idx]
    C, O, N, K = ml["in_channels"], ml["out_channels"], ml["fft"], ml["kernel"]
    shape = layer_shapes(model.layers)[idx]
    if arch.fft != N or e["tiles"] != shape["tiles"]:
        raise GenerateError(
            f"{sj_path}: layer '{name}' has fft {arch.fft} and {e['tiles']} tiles; the model "
            f"says {N} and {shape['tiles']}; re-run `codesign map`"
        )
    arrays = read_layer_arrays(sd, e, GenerateError)
    npz = sd / e["arrays"]
    _, H, W = shape["in"]
    task = SpectralTask(
        name, C, O, N, K, e["tiles"], arrays["nz"], tuple(shape["out"]), tuple(shape["in"])
    )
    mask = model.masks.get(weight_key(ml))
    _check_arrays(npz, task, arch, arrays, np.ones((O, C, task.F), bool) if mask is None else mask)
    s = e["schedule"]
    schedule = sch.Schedule(
        cycle=arrays["cycle"],
        pe=arrays["pe"],
        cycles=int(s["cycles_per_tile"]),
        program=arrays["program"],
        stall_cycles=int(s["stall_cycles"]),
        konig=int(s["konig_bound"]),
    )
    problems = verify(task, arch, arrays["pe_of_group"], arrays["bank_of"], schedule)
    if problems:
        raise GenerateError(f"{npz}: the schedule breaks its validity rules: {problems[:3]}")
    image = {
        "fields": {f["name"]: arrays[f"word_{f['name']}"] for f in e["memory_image"]["layout"]},
        "layout": e["memory_image"]["layout"],
        "width": e["memory_image"]["width"],
    }
    bound = {k: int(s[k]) for k in ("pe_bound", "bank_bound", "hazard_bound")}
    bound.update(konig=int(s["konig_bound"]), bound=int(s["lower_bound"]))
    lm = LayerMap(
        task,
        arch,
        arrays["pe_of_group"],
        arrays["bank_of"],
        arrays["addr_of"],
        arrays["acc_addr"],
        schedule,
        bound,
        int(s["dense_cycles_per_tile"]),
        image,
    )
    _check_image(npz, lm, kernel_weights(model)[name])
    q = model.quantized()
    layer = dict(C=C, O=O, H=H, W=W, K=K, N=N, pool=ml["pool"], relu=ml["relu"])
    return LayerDesign(lm, layer, tuple(int(b) for b in q[f"{name}.bias"]), model, idx, sj)


def _check_image(npz: Path, lm: LayerMap, weights) -> None:
    """The stored memory-image words are the ones the schedule and the model's weights give."""
    try:
        want = memory_image(lm, *weights)
    except ValueError as e:
        raise GenerateError(f"{npz}: the memory image cannot be rebuilt: {e}") from None
    if want["layout"] != lm.image["layout"] or want["width"] != lm.image["width"]:
        raise GenerateError(
            f"{npz}: the memory image layout disagrees with the schedule; re-run map"
        )
    for k, v in want["fields"].items():
        if not np.array_equal(v, lm.image["fields"][k]):
            raise GenerateError(
                f"{npz}: memory-image field 'word_{k}' disagrees with the schedule and the "
                f"model's weights; re-run `codesign map`"
            )


@dataclass
class AcceleratorDesign:
    model: object
    stages: list  # hdl.network.accelerator stage dicts
    timing_stages: list  # hdl.timing.network_timing stage dicts
    schedule_json: dict
    schedule_dir: Path

    @property
    def cfg(self):
        return self.model.fixed_point

    @property
    def pace(self) -> int:
        """The first layer's pace (:func:`~codesign.spectral.hdl.timing.network_pace`)."""
        from codesign.spectral.hdl.timing import network_pace

        return network_pace(self.timing_stages, self.cfg)

    @property
    def pixels(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def input_shape(self) -> tuple:
        first = self.stages[0]
        if first["kind"] == "spectral":
            return (first["layer"]["C"], first["layer"]["H"], first["layer"]["W"])
        return (len(first["weight"]),)

    @property
    def classes(self) -> int:
        last = self.stages[-1]
        if last["kind"] != "dense":
            raise GenerateError(
                "the network must end in a dense layer (its outputs are the class scores)"
            )
        return int(last["weight"].shape[1])


def accelerator_from_artifacts(schedule_dir: str | Path, model_dir=None) -> AcceleratorDesign:
    """Every layer of the schedule artifact, ready to elaborate (raises GenerateError);
    ``model_dir``: the model artifact, when not where the schedule records it."""
    sd = Path(schedule_dir)
    sj_path = sd / "schedule.json"
    sj, model = loaded = schedule_and_model(sd, model_dir)
    q = model.quantized()
    entries = {e["name"]: e for e in sj["layers"]}
    stages, timing = [], []
    for layer in model.layers:
        name = layer["name"]
        if name not in entries:
            raise GenerateError(
                f"{sj_path}: no entry for the model's layer '{name}'; re-run `codesign map`"
            )
        e = entries[name]
        if layer["type"] == SPECTRAL:
            d = layer_from_artifacts(sd, name, loaded)
            stages.append(
                {"kind": "spectral", "name": name, "lm": d.lm, "layer": d.layer, "bias": d.bias}
            )
            timing.append(spectral_stage(d.layer, d.lm.arch, d.lm.schedule.cycles))
        else:
            w = np.asarray(q[f"{name}.weight"], dtype=np.int64)
            mask = model.masks.get(weight_key(layer))
            if mask is not None and mask.all():
                mask = None
            if e["type"] != layer["type"]:
                raise GenerateError(
                    f"{sj_path}: layer '{name}' is {e['type']} in the schedule, "
                    f"{layer['type']} in the model; re-run `codesign map`"
                )
            macs = int(e["arch"]["macs"])
            if not 1 <= macs <= w.shape[1]:
                raise GenerateError(
                    f"{sj_path}: layer '{name}' has macs = {macs}; a dense "
                    f"layer of {w.shape[1]} outputs takes 1..{w.shape[1]}"
                )
            steps = int(w.shape[0] if mask is None else mask.sum(axis=0).max())
            stages.append(
                {
                    "kind": "dense",
                    "name": name,
                    "weight": w,
                    "mask": mask,
                    "bias": tuple(int(b) for b in q[f"{name}.bias"]),
                    "macs": macs,
                    "relu": bool(layer["relu"]),
                }
            )
            timing.append(
                {
                    "kind": "dense",
                    "n_in": int(w.shape[0]),
                    "n_out": int(w.shape[1]),
                    "macs": macs,
                    "steps": steps,
                }
            )
    _check_links(timing, [st["name"] for st in stages], sj)
    return AcceleratorDesign(model, stages, timing, sj, sd)


def _check_links(timing: list, names: list, sj: Path) -> None:
    """Each link carries as many words per clock as its consumer takes: the AXI input and the
    dense layers one, a conv engine's ``in_words`` its producer's ``out_words``."""
    given = 1
    for i, st in enumerate(timing):
        spectral = st["kind"] == "spectral"
        takes = st["in_words"] if spectral else 1
        if takes != given:
            fix = (
                f"--set {names[i]}.in_words={given}"
                if spectral
                else f"--set {names[i - 1]}.out_words=1"
            )
            raise GenerateError(
                f"{sj}: layer '{names[i]}' takes {takes} words per clock but its producer sends "
                f"{given}; map with `{fix}`"
            )
        given = st["out_words"] if spectral else 1


def accelerator_timing(d: AcceleratorDesign, images: int, per_beat: int = 1) -> dict:
    """The cycle model (:func:`codesign.spectral.hdl.timing.network_timing`) for ``images``
    images.  The model needs every layer to keep up with its producer (no back-pressure inside
    the network); a design whose layer is slower raises GenerateError with the fix."""
    from codesign.spectral.hdl.timing import network_timing

    try:
        return network_timing(d.timing_stages, images=images, cfg=d.cfg, per_beat=per_beat)
    except ValueError as e:
        raise GenerateError(
            f"{d.schedule_dir / 'schedule.json'}: the cycle model cannot time this design ({e}); "
            f"give the slow layer more parallelism (e.g. --set fc1.macs=2) and map again"
        ) from None


def layer_timing(d: LayerDesign, images: int) -> dict:
    """The engine's cycle model (:func:`codesign.spectral.hdl.timing.engine_timing`) for
    ``images`` images fed back to back from reset: per image the edges of its first input word
    (``in_first``), first and last output, the latency and the interval."""
    from codesign.spectral.hdl.timing import stage_timing

    return stage_timing(
        spectral_stage(d.layer, d.lm.arch, d.lm.schedule.cycles), images, d.model.fixed_point
    )


def elaborate_layer(d: LayerDesign):
    """Signals and instance of the layer's engine (fresh instance names: same Verilog)."""
    fresh_names()
    from myhdl import Signal

    from codesign.hdl.signals import sync_reset
    from codesign.spectral.hdl.engine import engine_signals, spectral_engine

    sig = dict(
        clk=Signal(bool(0)),
        rst=sync_reset(),
        **engine_signals(d.layer, d.model.fixed_point, d.lm.arch.in_words, d.lm.arch.out_words),
    )
    return sig, spectral_engine(**sig, lm=d.lm, layer=d.layer, bias=d.bias, cfg=d.model.fixed_point)


def elaborate_accelerator(d: AcceleratorDesign, per_beat: int):
    """Signals and instance of the whole accelerator (fresh instance names: same Verilog)."""
    fresh_names()
    from codesign.spectral.hdl.network import accelerator, accelerator_signals

    sig = accelerator_signals(d.classes, d.cfg, per_beat)
    return sig, accelerator(
        **sig,
        stages=d.stages,
        pixels=d.pixels,
        classes=d.classes,
        cfg=d.cfg,
        per_beat=per_beat,
        pace=d.pace,
    )
