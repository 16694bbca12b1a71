"""The generate stage: a schedule artifact → Verilog, memory images and a manifest.

:func:`generate_accelerator` writes the whole network as one AXI4-Stream IP core (spectral conv
engines from their memory images, dense units from the model's quantised weights and the map
stage's MAC parallelism, :func:`codesign.spectral.hdl.network.accelerator`), with a test bench
that runs in Icarus and Verilator alike (docs/accelerator.md).  :func:`generate_layer` writes one
conv layer's engine (:func:`codesign.spectral.hdl.engine.spectral_engine`) with MyHDL's
co-simulation bench.  Each writes its directory atomically; its ``manifest.json`` records the
interface, the formats and the cycle model's clocks (docs/rtl-format.md).  Same inputs, same
bytes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from codesign import __version__
from codesign.artifacts import atomic_directory, check_target, relative_to, sha256_file, write_json
from codesign.eda.manifest import file_hashes
from codesign.hdl.convert import convert
from codesign.spectral.bench import BENCH_TOP, bench_source
from codesign.spectral.cocotb_bench import write_cocotb_bench
from codesign.spectral.design import (
    AcceleratorDesign,
    GenerateError,
    LayerDesign,
    accelerator_from_artifacts,
    accelerator_timing,
    elaborate_accelerator,
    elaborate_layer,
    layer_from_artifacts,
    layer_timing,
)

__all__ = [
    "GenerateError",
    "generate_accelerator",
    "generate_layer",
    "MANIFEST_FORMAT",
    "MANIFEST_KIND",
]


MANIFEST_FORMAT = "codesign-rtl"


MANIFEST_VERSION = 1


def _ports(sig: dict, d: LayerDesign) -> list:
    cfg = d.model.fixed_point
    act = cfg.activation.name()
    k_in, k_out = d.lm.arch.in_words, d.lm.arch.out_words
    meaning = {
        "clk": "clock, rising edge",
        "rst": "synchronous reset, active high",
        "in_valid": "input word valid",
        "in_ready": "engine accepts an input word",
        "in_x": f"input activation, (c, y, x) raster order, {act}"
        if k_in == 1
        else f"{k_in} input activations (channels c … c+{k_in - 1} of one position, "
        f"(c/{k_in}, y, x) order; word w in bits [{cfg.activation.bits}w, "
        f"{cfg.activation.bits}(w+1)), {act} each",
        "out_valid": "output word valid",
        "out_ready": "consumer accepts the output word",
        "out_o": "output channel"
        if k_out == 1
        else f"output channel of word 0 (a multiple of {k_out})",
        "out_y": "output row (after pooling)",
        "out_x": "output column (after pooling)",
        "out_v": f"output activation (after bias, rounding, ReLU, pooling), {act}"
        if k_out == 1
        else f"{k_out} output activations (channels out_o … out_o+{k_out - 1}; word w in "
        f"bits [{cfg.activation.bits}w, {cfg.activation.bits}(w+1))), {act} each",
    }
    out = []
    for name, s in sig.items():
        signed = bool(getattr(s, "min", 0) is not None and s.min is not None and s.min < 0)
        out.append(
            {
                "name": name,
                "direction": "input"
                if name in ("clk", "rst", "in_valid", "in_x", "out_ready")
                else "output",
                "width": len(s),
                "signed": signed,
                "meaning": meaning[name],
            }
        )
    return out


def _convert_layer(d: LayerDesign, path: Path, top: str) -> tuple[list[str], dict]:
    sig, inst = elaborate_layer(d)
    return convert(inst, path, top, quiet=True), sig


def generate_layer(
    schedule_dir: str | Path, name: str, out: str | Path, model_dir: str | Path | None = None
) -> dict:
    """Write the layer's RTL directory ``out`` atomically; returns the manifest."""
    check_target(out, GenerateError)
    d = layer_from_artifacts(schedule_dir, name, model_dir=model_dir)
    top = f"{name}_engine"
    cfg = d.model.fixed_point
    k_in, k_out = d.lm.arch.in_words, d.lm.arch.out_words
    with atomic_directory(out) as tmp:
        with ThreadPoolExecutor(1) as pool:  # MyHDL elaboration is slow on a deep call stack
            mem_files, sig = pool.submit(_convert_layer, d, tmp, top).result()
        L = d.layer["N"] - d.layer["K"] + 1
        out_h = (d.layer["H"] - d.layer["K"] + 1) // d.layer["pool"]
        out_w = (d.layer["W"] - d.layer["K"] + 1) // d.layer["pool"]
        manifest = {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_VERSION,
            "codesign_version": __version__,
            "top": top,
            "layer": name,
            "files": [f"{top}.v"],
            "testbench": f"tb_{top}.v",
            "memory_images": mem_files,
            "clock": {"port": "clk", "edge": "rising"},
            "reset": {"port": "rst", "active": "high", "synchronous": True},
            "ports": _ports(sig, d),
            "input": {
                "shape": [d.layer["C"], d.layer["H"], d.layer["W"]],
                "order": "c, y, x raster" if k_in == 1 else f"c // {k_in}, y, x, c mod {k_in}",
                "words_per_beat": k_in,
                "format": cfg.activation.to_dict(),
            },
            "output": {
                "shape": [d.layer["O"], out_h, out_w],
                "order": "o, y, x raster" if k_out == 1 else f"o // {k_out}, y, x, o mod {k_out}",
                "words_per_beat": k_out,
                "format": cfg.activation.to_dict(),
            },
            "geometry": {
                "fft": d.layer["N"],
                "kernel": d.layer["K"],
                "tile": L,
                "tiles": d.lm.task.tiles,
                "pool": d.layer["pool"],
                "relu": d.layer["relu"],
            },
            "arch": d.lm.arch.to_dict(),
            "schedule": {
                "cycles_per_tile": int(d.lm.schedule.cycles),
                "sha256": sha256_file(Path(schedule_dir) / "schedule.json"),
            },
            "fixed_point": cfg.to_dict(),
            "expected_cycles": _expected(d, images=EXPECTED_IMAGES),
        }
        manifest["sha256"] = file_hashes(
            tmp, manifest["files"] + manifest["memory_images"] + _bench_files(manifest)
        )
        write_json(tmp / "manifest.json", manifest)
    return manifest


EXPECTED_IMAGES = 16


def _expected(d: LayerDesign, images: int) -> dict:
    """The timing model's clocks for ``images`` back-to-back images fed from reset: edges of each
    image's first input word, first and last output (counted as in :func:`cosim_layer`),
    latency, interval."""
    t = layer_timing(d, images)
    return {
        "images": images,
        "in_first": t["in_first"],
        "out_first": t["out_first"],
        "out_last": t["out_last"],
        "latency": t["latency"],
        "interval": t["interval"],
    }


MANIFEST_KIND = "accelerator"
ACCELERATOR_VERSION = 3  # 3: model and schedule paths relative to the RTL directory


TIMING_IMAGES = 4


def _convert_accelerator(
    d: AcceleratorDesign, path: Path, top: str, per_beat: int
) -> tuple[list[str], dict]:
    sig, inst = elaborate_accelerator(d, per_beat)
    return convert(inst, path, top, quiet=True, testbench=False, initial_values=True), sig


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
    schedule_dir: str | Path,
    out: str | Path,
    top: str = "codesign_accel",
    pixels_per_beat: int = 1,
    model_dir: str | Path | None = None,
) -> dict:
    """Write the accelerator's RTL directory ``out`` atomically; returns the manifest.
    ``model_dir``: the model artifact, when not where the schedule records it.  The manifest
    records the model and the schedule relative to ``out``, so the build can move."""
    if not top.isidentifier():
        raise GenerateError(f"--top '{top}': not a Verilog identifier")
    check_target(out, GenerateError)
    d = accelerator_from_artifacts(schedule_dir, model_dir)
    model_path = (
        Path(model_dir) if model_dir else Path(schedule_dir) / d.schedule_json["model"]["path"]
    )
    here = Path(out).resolve()
    cfg = d.cfg
    k = pixels_per_beat
    if k < 1 or d.pixels % k:
        raise GenerateError(
            f"--pixels-per-beat {k}: must divide the {d.pixels} pixels of an "
            f"image (e.g. 1, 2, 4, 8, 16)"
        )
    with atomic_directory(out) as tmp:
        with ThreadPoolExecutor(1) as pool:  # MyHDL elaboration is slow on a deep call stack
            mem_files, sig = pool.submit(_convert_accelerator, d, tmp, top, k).result()
        bench = f"{BENCH_TOP}.v"
        (tmp / bench).write_text(bench_source(top, d.pixels, d.classes, cfg, k))
        t = accelerator_timing(d, TIMING_IMAGES, k)
        manifest = {
            "format": "codesign-rtl",
            "format_version": ACCELERATOR_VERSION,
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
            "model": {
                "path": relative_to(model_path, here),
                "sha256": d.schedule_json["model"]["sha256"],
            },
            "schedule": {
                "path": relative_to(schedule_dir, here),
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
                "pace_cycles": d.pace,
                "model": "codesign/spectral/hdl/timing.py",
            },
        }
        manifest["cocotb"] = write_cocotb_bench(tmp, manifest, d.model)  # docs/accelerator.md
        manifest["sha256"] = file_hashes(
            tmp,
            manifest["files"]
            + manifest["memory_images"]
            + _bench_files(manifest)
            + manifest["cocotb"]["files"],
        )
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
            "tile_slices": a.tile_slices,
            "in_words": a.in_words,
            "out_words": a.out_words,
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


def _bench_files(manifest: dict) -> list:
    tb = manifest["testbench"]
    return [tb["file"] if isinstance(tb, dict) else tb]
