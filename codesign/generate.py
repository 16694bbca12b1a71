"""The generate stage (one spectral conv layer) and its co-simulation.

``generate_layer(schedule_dir, layer, out)`` rebuilds the scheduled layer from the schedule
artifact and its model artifact, elaborates :func:`codesign.hdl.engine.spectral_engine`, converts
it to Verilog and writes ``out/`` atomically: the Verilog, MyHDL's co-simulation test bench, the
sparse-kernel memory images and ``manifest.json`` (docs/rtl-format.md).  ``cosim_layer`` runs the
converted Verilog in Icarus through MyHDL's ``Cosimulation`` (or the MyHDL model itself) on real
images and compares every output with the fixed-point model, bit for bit.
"""
from __future__ import annotations

import json
import re
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from . import schedule as sch
from ._io import atomic_directory, sha256_file, write_json
from .arch import arch_from_dict
from .dse import SpectralTask
from .fixedpoint import OverflowCounter
from .fxpmodel import input_fixed, run, spectral_layer_fixed
from .mapping import LayerMap
from .model import ModelError, load_model

__all__ = ["GenerateError", "layer_from_artifacts", "generate_layer", "cosim_layer",
           "MANIFEST_FORMAT", "MANIFEST_VERSION"]

MANIFEST_FORMAT = "codesign-rtl"
MANIFEST_VERSION = 1


class GenerateError(ValueError):
    """A schedule or RTL directory that cannot be used; names the file and the fix."""


@dataclass
class LayerDesign:
    lm: LayerMap
    layer: dict  # C, O, H, W, K, N, pool, relu
    bias: tuple
    model: object
    index: int
    schedule_json: dict


def layer_from_artifacts(schedule_dir: str | Path, name: str) -> LayerDesign:
    """The scheduled layer ``name`` with its memory image, dimensions and biases."""
    sd = Path(schedule_dir)
    sj_path = sd / "schedule.json"
    if not sj_path.is_file():
        raise GenerateError(f"{sj_path}: missing; pass the directory `codesign map --out` wrote")
    sj = json.loads(sj_path.read_text())
    entries = {e["name"]: e for e in sj.get("layers", [])}
    spectral = [n for n, e in entries.items() if e.get("type") == "spectral_conv"]
    if name not in spectral:
        raise GenerateError(f"{sj_path}: no spectral conv layer '{name}'; spectral layers: "
                            f"{spectral}")
    e = entries[name]
    if "memory_image" not in e:
        raise GenerateError(f"{sj_path}: layer '{name}' has no memory image (a model-only "
                            f"mapping such as VGG16 cannot be generated)")
    arch = arch_from_dict(e["arch"])
    if arch.ifft_units != 1:
        raise GenerateError(
            f"{sj_path}: layer '{name}' has ifft_units = {arch.ifft_units}; the generated engine "
            f"has one read-out/inverse-FFT lane so far — map with `--set {name}.ifft_units=1`")
    model_dir = Path(sj["model"]["path"])
    try:
        model = load_model(model_dir)
    except ModelError as err:
        raise GenerateError(f"{sj_path}: its model artifact cannot be read: {err}") from None
    if sha256_file(model_dir / "model.json") != sj["model"]["sha256"]:
        raise GenerateError(f"{sj_path}: the model at {model_dir} changed since it was mapped; "
                            f"re-run `codesign map`")
    arrays = np.load(sd / e["arrays"])
    idx = [layer["name"] for layer in model.layers].index(name)
    ml = model.layers[idx]
    C, O, N, K = ml["in_channels"], ml["out_channels"], ml["fft"], ml["kernel"]
    from .network import layer_shapes
    shape = layer_shapes(model.layers)[idx]
    _, H, W = shape["in"]
    task = SpectralTask(name, C, O, N, K, e["tiles"], arrays["nz"], tuple(shape["out"]),
                        tuple(shape["in"]))
    s = e["schedule"]
    schedule = sch.Schedule(cycle=arrays["cycle"], pe=arrays["pe"],
                            cycles=int(s["cycles_per_tile"]), program=arrays["program"],
                            stall_cycles=int(s["stall_cycles"]), konig=int(s["konig_bound"]))
    image = {"fields": {f["name"]: arrays[f"word_{f['name']}"]
                        for f in e["memory_image"]["layout"]},
             "layout": e["memory_image"]["layout"], "width": e["memory_image"]["width"]}
    bound = {k: int(s[k]) for k in ("pe_bound", "bank_bound", "hazard_bound")}
    bound.update(konig=int(s["konig_bound"]), bound=int(s["lower_bound"]))
    lm = LayerMap(task, arch, arrays["pe_of_group"], arrays["bank_of"], arrays["addr_of"],
                  arrays["acc_addr"], schedule, bound, int(s["dense_cycles_per_tile"]), image)
    q = model.quantized()
    layer = dict(C=C, O=O, H=H, W=W, K=K, N=N, pool=ml["pool"], relu=ml["relu"])
    return LayerDesign(lm, layer, tuple(int(b) for b in q[f"{name}.bias"]), model, idx, sj)


def _engine(d: LayerDesign):
    from myhdl import Signal
    from .hdl.engine import engine_signals, spectral_engine
    from .hdl.fft import _reset
    sig = dict(clk=Signal(bool(0)), rst=_reset(), **engine_signals(d.layer, d.model.fixed_point))
    return sig, spectral_engine(**sig, lm=d.lm, layer=d.layer, bias=d.bias,
                                cfg=d.model.fixed_point)


def _ports(sig: dict, d: LayerDesign) -> list:
    cfg = d.model.fixed_point
    meaning = {
        "clk": "clock, rising edge", "rst": "synchronous reset, active high",
        "in_valid": "input word valid", "in_ready": "engine accepts an input word",
        "in_x": f"input activation, (c, y, x) raster order, {cfg.activation.name()}",
        "out_valid": "output word valid", "out_ready": "consumer accepts the output word",
        "out_o": "output channel", "out_y": "output row (after pooling)",
        "out_x": "output column (after pooling)",
        "out_v": f"output activation (after bias, rounding, ReLU, pooling), "
                 f"{cfg.activation.name()}"}
    out = []
    for name, s in sig.items():
        signed = bool(getattr(s, "min", 0) is not None and s.min is not None and s.min < 0)
        out.append({"name": name, "direction": "input" if name in
                    ("clk", "rst", "in_valid", "in_x", "out_ready") else "output",
                    "width": len(s), "signed": signed, "meaning": meaning[name]})
    return out


def _normalise(text: str) -> str:
    """Drop MyHDL's file-path and date header lines so equal designs give equal bytes."""
    return re.sub(r"^// (File|Date):.*\n", "", text, flags=re.M)


def _convert(d: LayerDesign, path: Path, top: str) -> None:
    sig, inst = _engine(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inst.convert(hdl="Verilog", path=str(path), name=top)
    for f in (path / f"{top}.v", path / f"tb_{top}.v"):
        f.write_text(_normalise(f.read_text()))


def generate_layer(schedule_dir: str | Path, name: str, out: str | Path) -> dict:
    """Write the layer's RTL directory ``out`` atomically; returns the manifest."""
    d = layer_from_artifacts(schedule_dir, name)
    top = f"{name}_engine"
    cfg = d.model.fixed_point
    with atomic_directory(out) as tmp:
        with ThreadPoolExecutor(1) as pool:  # MyHDL elaboration is slow on a deep call stack
            pool.submit(_convert, d, tmp, top).result()
        (tmp / "mem").mkdir()
        src = Path(schedule_dir) / "mem"
        mem_files = []
        for p in range(d.lm.arch.pes):
            f = f"{name}_pe{p}.hex"
            shutil.copyfile(src / f, tmp / "mem" / f)
            mem_files.append(f"mem/{f}")
        sig, _ = _engine(d)
        L = d.layer["N"] - d.layer["K"] + 1
        out_h = (d.layer["H"] - d.layer["K"] + 1) // d.layer["pool"]
        out_w = (d.layer["W"] - d.layer["K"] + 1) // d.layer["pool"]
        manifest = {
            "format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION,
            "codesign_version": __version__, "top": top, "layer": name,
            "files": [f"{top}.v"], "testbench": f"tb_{top}.v", "memory_images": mem_files,
            "clock": {"port": "clk", "edge": "rising"},
            "reset": {"port": "rst", "active": "high", "synchronous": True},
            "ports": _ports(sig, d),
            "input": {"shape": [d.layer["C"], d.layer["H"], d.layer["W"]],
                      "order": "c, y, x raster", "format": cfg.activation.to_dict()},
            "output": {"shape": [d.layer["O"], out_h, out_w], "order": "o, y, x raster",
                       "format": cfg.activation.to_dict()},
            "geometry": {"fft": d.layer["N"], "kernel": d.layer["K"], "tile": L,
                         "tiles": d.lm.task.tiles, "pool": d.layer["pool"],
                         "relu": d.layer["relu"]},
            "arch": d.lm.arch.to_dict(),
            "schedule": {"cycles_per_tile": int(d.lm.schedule.cycles),
                         "sha256": sha256_file(Path(schedule_dir) / "schedule.json")},
            "fixed_point": cfg.to_dict(),
        }
        write_json(tmp / "manifest.json", manifest)
    return manifest


def _reference(d: LayerDesign, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The layer's fixed-point input maps and expected outputs for uint8 MNIST ``images``."""
    cfg = d.model.fixed_point
    q = d.model.quantized()
    if d.index == 0:
        x = input_fixed(images, cfg)
    else:
        _, acts = run(q, d.model.layers[: d.index], cfg, images, keep=True)
        x = acts[d.model.layers[d.index - 1]["name"]]
    want = spectral_layer_fixed(x, q, d.model.layers[d.index], cfg, OverflowCounter())
    return x, want


def cosim_layer(rtl_dir: str | Path, schedule_dir: str | Path, images: np.ndarray,
                engine: str = "icarus", vcd: str | None = None) -> dict:
    """Run ``images`` through the layer (Icarus on the converted Verilog, or the MyHDL model)
    and compare every output with the fixed-point model; returns counts and measured clocks."""
    from myhdl import Cosimulation, Simulation, StopSimulation, always, delay, instance
    from .tools import find_myhdl_vpi, find_tool, run_tool

    rtl = Path(rtl_dir)
    man_path = rtl / "manifest.json"
    if not man_path.is_file():
        raise GenerateError(f"{man_path}: missing; pass the directory `codesign generate` wrote")
    man = json.loads(man_path.read_text())
    d = layer_from_artifacts(schedule_dir, man["layer"])
    x, want = _reference(d, images)
    top = man["top"]
    sig, inst = _engine(d)
    if engine == "icarus":
        args = ["-g2005", "-s", f"tb_{top}", "-o", f"{top}.vvp", f"{top}.v", f"tb_{top}.v"]
        work = Path(rtl)
        run_tool("iverilog", args, cwd=work, timeout=300)
        cmd = [find_tool("vvp"), "-n", "-m", find_myhdl_vpi(), str(work / f"{top}.vvp")]
        if vcd:
            cmd.append(f"+vcd={vcd}")
        dut = Cosimulation(cmd, **sig)
    else:
        dut = inst
    clk, got, marks = sig["clk"], [], {"in_first": [], "out_first": [], "out_last": []}
    clock = [0]
    per_image = int(np.prod(want.shape[1:]))

    @always(delay(5))
    def tick():
        clk.next = not clk

    @always(clk.posedge)
    def monitor():
        clock[0] += 1
        if sig["out_valid"] and sig["out_ready"]:
            got.append((int(sig["out_o"]), int(sig["out_y"]), int(sig["out_x"]),
                        int(sig["out_v"])))
            if len(got) % per_image == 1 or per_image == 1:
                marks["out_first"].append(clock[0])
            if len(got) % per_image == 0:
                marks["out_last"].append(clock[0])

    @instance
    def stimulus():
        sig["rst"].next = 1
        yield clk.negedge
        sig["rst"].next = 0
        sig["out_ready"].next = 1
        for b in range(len(x)):
            marks["in_first"].append(clock[0] + 1)
            for v in x[b].ravel():
                sig["in_valid"].next = 1
                sig["in_x"].next = int(v)
                yield clk.negedge
                while not sig["in_ready"]:
                    yield clk.negedge
            sig["in_valid"].next = 0
        limit = clock[0] + 200_000 * len(x)
        while len(got) < want.size and clock[0] < limit:
            yield clk.negedge
        raise StopSimulation

    def simulate():
        Simulation(dut, tick, monitor, stimulus).run(quiet=1)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(simulate).result()
    expected = [(o, y, xx, int(want[b, o, y, xx])) for b in range(want.shape[0])
                for o in range(want.shape[1]) for y in range(want.shape[2])
                for xx in range(want.shape[3])]
    first_bad = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), None)
    report = {"layer": man["layer"], "engine": engine, "images": int(len(x)),
              "outputs": len(got), "expected": len(expected),
              "bit_exact": first_bad is None and len(got) == len(expected),
              "cycles": clock[0], "marks": marks}
    if first_bad is not None:
        b, r = divmod(first_bad, per_image)
        report["first_mismatch"] = {"image": b, "index": r, "expected": expected[first_bad],
                                    "got": got[first_bad]}
    return report
