"""The generate stage for the whole network: one AXI4-Stream IP core from a schedule artifact.

``generate_accelerator(schedule_dir, out)`` rebuilds every scheduled layer (spectral conv engines
from their memory images, dense units from the model's quantised weights and the map stage's MAC
parallelism), elaborates :func:`codesign.hdl.network.accelerator`, converts it to Verilog and
writes ``out/`` atomically: the Verilog, a self-checking-ready test bench that runs in Icarus and
Verilator alike, the sparse-kernel memory images and ``manifest.json`` with the interface, the
formats and the cycle model's latency and interval (docs/rtl-format.md, docs/accelerator.md).
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign import __version__
from codesign.artifacts import atomic_directory, sha256_file, write_json
from codesign.spectral.generate import (
    GenerateError,
    _fresh_names,
    _normalise,
    layer_from_artifacts,
    schedule_and_model,
)
from codesign.spectral.network import SPECTRAL, weight_key

__all__ = [
    "AcceleratorDesign",
    "accelerator_from_artifacts",
    "generate_accelerator",
    "accelerator_timing",
    "BENCH_MAX_IMAGES",
    "MANIFEST_KIND",
]

MANIFEST_KIND = "accelerator"
BENCH_MAX_IMAGES = 2048
TIMING_IMAGES = 4


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


def accelerator_from_artifacts(schedule_dir: str | Path) -> AcceleratorDesign:
    """Every layer of the schedule artifact, ready to elaborate (raises GenerateError)."""
    sd = Path(schedule_dir)
    sj_path = sd / "schedule.json"
    sj, model = loaded = schedule_and_model(sd)
    q = model.quantized()
    entries = {e["name"]: e for e in sj.get("layers", [])}
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
            timing.append(
                {
                    "kind": "spectral",
                    "layer": d.layer,
                    "fft_units": d.lm.arch.fft_units,
                    "cycles": int(d.lm.schedule.cycles),
                }
            )
        else:
            w = np.asarray(q[f"{name}.weight"], dtype=np.int64)
            mask = model.masks.get(weight_key(layer))
            if mask is not None and mask.all():
                mask = None
            macs = int(e["arch"]["macs"])
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
    return AcceleratorDesign(model, stages, timing, sj, sd)


def accelerator_timing(d: AcceleratorDesign, images: int, per_beat: int = 1) -> dict:
    """The cycle model (:func:`codesign.hdl.timing.network_timing`) for ``images`` images."""
    from codesign.spectral.hdl.timing import network_timing

    return network_timing(d.timing_stages, images=images, cfg=d.cfg, per_beat=per_beat)


def _elaborate(d: AcceleratorDesign, per_beat: int):
    _fresh_names()
    from codesign.spectral.hdl.network import accelerator, accelerator_signals

    sig = accelerator_signals(d.classes, d.cfg, per_beat)
    return sig, accelerator(
        **sig, stages=d.stages, pixels=d.pixels, classes=d.classes, cfg=d.cfg, per_beat=per_beat
    )


def _convert(d: AcceleratorDesign, path: Path, top: str, per_beat: int) -> list[str]:
    from codesign.hdl.rom import convert

    _, inst = _elaborate(d, per_beat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mems = convert(inst, path, top, testbench=False)
    f = path / f"{top}.v"
    f.write_text(_normalise(f.read_text()))
    return mems


_MEANING = {
    "aclk": "clock, rising edge",
    "aresetn": "synchronous reset, active low",
    "s_axis_tdata": "pixels, unsigned, row-major order, the first in the low bits",
    "s_axis_tvalid": "pixel valid",
    "s_axis_tready": "accelerator accepts the pixel",
    "s_axis_tlast": "last pixel of an image (checked; framing is by count)",
    "m_axis_tdata": "class score, two's complement, classes in order",
    "m_axis_tvalid": "score valid",
    "m_axis_tready": "sink accepts the score",
    "m_axis_tlast": "last (tenth) score of an image",
    "m_axis_tuser": "index of the highest score so far; on the tlast beat: the predicted class "
    "(ties to the lower index)",
    "frame_error": "sticky: an s_axis_tlast disagreed with the pixel count; cleared by reset",
}
_INPUTS = {"aclk", "aresetn", "s_axis_tdata", "s_axis_tvalid", "s_axis_tlast", "m_axis_tready"}


def generate_accelerator(
    schedule_dir: str | Path, out: str | Path, top: str = "codesign_accel", pixels_per_beat: int = 1
) -> dict:
    """Write the accelerator's RTL directory ``out`` atomically; returns the manifest."""
    from codesign.spectral.cosim import BENCH_TOP, bench_source

    if not top.isidentifier():
        raise GenerateError(f"--top '{top}': not a Verilog identifier")
    d = accelerator_from_artifacts(schedule_dir)
    cfg = d.cfg
    k = pixels_per_beat
    if k < 1 or d.pixels % k:
        raise GenerateError(
            f"--pixels-per-beat {k}: must divide the {d.pixels} pixels of an "
            f"image (e.g. 1, 2, 4, 8, 16)"
        )
    with atomic_directory(out) as tmp:
        with ThreadPoolExecutor(1) as pool:  # MyHDL elaboration is slow on a deep call stack
            mem_files = pool.submit(_convert, d, tmp, top, k).result()
        bench = f"{BENCH_TOP}.v"
        (tmp / bench).write_text(bench_source(top, d.pixels, d.classes, cfg, k))
        sig, _ = _elaborate(d, k)
        t = accelerator_timing(d, TIMING_IMAGES, k)
        manifest = {
            "format": "codesign-rtl",
            "format_version": 2,
            "kind": MANIFEST_KIND,
            "codesign_version": __version__,
            "top": top,
            "files": [f"{top}.v"],
            "testbench": {"file": bench, "top": BENCH_TOP},
            "memory_images": mem_files,
            "clock": {"port": "aclk", "edge": "rising"},
            "reset": {"port": "aresetn", "active": "low", "synchronous": True},
            "ports": [
                {
                    "name": n,
                    "direction": "input" if n in _INPUTS else "output",
                    "width": len(s),
                    "meaning": _MEANING[n],
                }
                for n, s in sig.items()
            ],
            "s_axis": {
                "pixels_per_beat": k,
                "pixel_bits": cfg.input_bits,
                "image": list(d.input_shape),
                "beats_per_image": d.pixels // k,
                "order": "row-major (c, y, x); in a beat, pixel 0 in the low bits",
                "value": f"activation = pixel / 2**{cfg.input_bits}",
            },
            "m_axis": {
                "beat": "one class score",
                "beats_per_image": d.classes,
                "format": cfg.activation.to_dict(),
                "signed": True,
                "tuser": "predicted class on the tlast beat",
            },
            "layers": [_layer_entry(st) for st in d.stages],
            "model": d.schedule_json["model"],
            "schedule": {
                "path": str(Path(schedule_dir)),
                "sha256": sha256_file(Path(schedule_dir) / "schedule.json"),
            },
            "board": d.schedule_json.get("board"),
            "fixed_point": cfg.to_dict(),
            "cycle_model": {
                "in_first": t["in_first"][0],
                "latency_cycles": t["latency"],
                "interval_cycles": t["interval"],
                "images": TIMING_IMAGES,
                "out_last": t["out_last"],
                "stages": d.timing_stages,
                "model": "codesign/hdl/timing.py",
            },
        }
        write_json(tmp / "manifest.json", manifest)
    return manifest


def _layer_entry(st: dict) -> dict:
    if st["kind"] == "spectral":
        a = st["lm"].arch
        return {
            "name": st["name"],
            "kind": "spectral_conv",
            "pes": a.pes,
            "banks": a.banks,
            "fft_units": a.fft_units,
            "ifft_units": a.ifft_units,
            "cycles_per_tile": int(st["lm"].schedule.cycles),
        }
    w = st["weight"]
    return {
        "name": st["name"],
        "kind": "dense",
        "in": int(w.shape[0]),
        "out": int(w.shape[1]),
        "macs": st["macs"],
        "sparse": st["mask"] is not None,
    }
