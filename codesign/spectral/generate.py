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

from codesign import __version__
from codesign.artifacts import atomic_directory, sha256_file, write_json
from codesign.eda.tools import myhdl_cosim_command, run_tool
from codesign.spectral import schedule as sch
from codesign.spectral.arch import arch_from_dict
from codesign.spectral.dse import SpectralTask
from codesign.spectral.fixedpoint import OverflowCounter
from codesign.spectral.fxpmodel import input_fixed, run, spectral_layer_fixed
from codesign.spectral.mapping import LayerMap
from codesign.spectral.model import ModelError, load_model
from codesign.spectral.network import layer_shapes

__all__ = [
    "GenerateError",
    "recorded_model",
    "schedule_and_model",
    "layer_from_artifacts",
    "generate_layer",
    "cosim_layer",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
]

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


def recorded_model(record: dict, where: Path, since: str, fix: str, error=GenerateError):
    """The model artifact an artifact ``where`` records as ``{path, sha256}``, checked to be
    unchanged ``since`` it was recorded (else ``error`` naming ``fix``)."""
    model_dir = Path(record["path"])
    try:
        model = load_model(model_dir)
    except ModelError as err:
        raise error(f"{where}: its model artifact cannot be read: {err}") from None
    if sha256_file(model_dir / "model.json") != record["sha256"]:
        raise error(f"{where}: the model at {model_dir} changed {since}; {fix}")
    return model


def schedule_and_model(schedule_dir: str | Path) -> tuple[dict, object]:
    """schedule.json and the model artifact it was mapped from, checked to be unchanged."""
    sj_path = Path(schedule_dir) / "schedule.json"
    if not sj_path.is_file():
        raise GenerateError(f"{sj_path}: missing; pass the directory `codesign map --out` wrote")
    sj = json.loads(sj_path.read_text())
    return sj, recorded_model(sj["model"], sj_path, "since it was mapped", "re-run `codesign map`")


def layer_from_artifacts(schedule_dir: str | Path, name: str, loaded=None) -> LayerDesign:
    """The scheduled layer ``name`` with its memory image, dimensions and biases; ``loaded``:
    :func:`schedule_and_model` of ``schedule_dir`` when the caller has it already."""
    sd = Path(schedule_dir)
    sj_path = sd / "schedule.json"
    sj, model = loaded or schedule_and_model(sd)
    entries = {e["name"]: e for e in sj.get("layers", [])}
    spectral = [n for n, e in entries.items() if e.get("type") == "spectral_conv"]
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
    if arch.ifft_units != 1:
        raise GenerateError(
            f"{sj_path}: layer '{name}' has ifft_units = {arch.ifft_units}; the generated engine "
            f"has one read-out/inverse-FFT lane so far — map with `--set {name}.ifft_units=1`"
        )
    arrays = np.load(sd / e["arrays"])
    idx = [layer["name"] for layer in model.layers].index(name)
    ml = model.layers[idx]
    C, O, N, K = ml["in_channels"], ml["out_channels"], ml["fft"], ml["kernel"]
    shape = layer_shapes(model.layers)[idx]
    _, H, W = shape["in"]
    task = SpectralTask(
        name, C, O, N, K, e["tiles"], arrays["nz"], tuple(shape["out"]), tuple(shape["in"])
    )
    s = e["schedule"]
    schedule = sch.Schedule(
        cycle=arrays["cycle"],
        pe=arrays["pe"],
        cycles=int(s["cycles_per_tile"]),
        program=arrays["program"],
        stall_cycles=int(s["stall_cycles"]),
        konig=int(s["konig_bound"]),
    )
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
    q = model.quantized()
    layer = dict(C=C, O=O, H=H, W=W, K=K, N=N, pool=ml["pool"], relu=ml["relu"])
    return LayerDesign(lm, layer, tuple(int(b) for b in q[f"{name}.bias"]), model, idx, sj)


def _fresh_names() -> None:
    """Reset MyHDL's process-wide block-name counters so every elaboration of a design gets the
    same instance names (and so the same Verilog), however many were elaborated before.  MyHDL
    keeps these in module globals with no public reset."""
    import myhdl._block as mb
    import myhdl._simulator as ms

    mb._name_set.clear()
    mb._inst_name_set.clear()
    for b in ms._blocks:
        b.calls = 0


def _engine(d: LayerDesign):
    _fresh_names()
    from myhdl import Signal

    from codesign.hdl.signals import sync_reset
    from codesign.spectral.hdl.engine import engine_signals, spectral_engine

    sig = dict(
        clk=Signal(bool(0)), rst=sync_reset(), **engine_signals(d.layer, d.model.fixed_point)
    )
    return sig, spectral_engine(**sig, lm=d.lm, layer=d.layer, bias=d.bias, cfg=d.model.fixed_point)


def _ports(sig: dict, d: LayerDesign) -> list:
    cfg = d.model.fixed_point
    meaning = {
        "clk": "clock, rising edge",
        "rst": "synchronous reset, active high",
        "in_valid": "input word valid",
        "in_ready": "engine accepts an input word",
        "in_x": f"input activation, (c, y, x) raster order, {cfg.activation.name()}",
        "out_valid": "output word valid",
        "out_ready": "consumer accepts the output word",
        "out_o": "output channel",
        "out_y": "output row (after pooling)",
        "out_x": "output column (after pooling)",
        "out_v": f"output activation (after bias, rounding, ReLU, pooling), "
        f"{cfg.activation.name()}",
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


def _normalise(text: str) -> str:
    """Drop MyHDL's file-path and date header lines so equal designs give equal bytes."""
    return re.sub(r"^// (File|Date):.*\n", "", text, flags=re.M)


def _convert(d: LayerDesign, path: Path, top: str) -> list[str]:
    from codesign.hdl.rom import convert

    sig, inst = _engine(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mems = convert(inst, path, top)
    for f in (path / f"{top}.v", path / f"tb_{top}.v"):
        f.write_text(_normalise(f.read_text()))
    return mems


def generate_layer(schedule_dir: str | Path, name: str, out: str | Path) -> dict:
    """Write the layer's RTL directory ``out`` atomically; returns the manifest."""
    d = layer_from_artifacts(schedule_dir, name)
    top = f"{name}_engine"
    cfg = d.model.fixed_point
    with atomic_directory(out) as tmp:
        with ThreadPoolExecutor(1) as pool:  # MyHDL elaboration is slow on a deep call stack
            mem_files = pool.submit(_convert, d, tmp, top).result()
        sig, _ = _engine(d)
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
                "order": "c, y, x raster",
                "format": cfg.activation.to_dict(),
            },
            "output": {
                "shape": [d.layer["O"], out_h, out_w],
                "order": "o, y, x raster",
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
        write_json(tmp / "manifest.json", manifest)
    return manifest


EXPECTED_IMAGES = 16


def _expected(d: LayerDesign, images: int) -> dict:
    """The timing model's clocks for ``images`` back-to-back images fed from reset: edges of each
    image's first and last output (counted as in :func:`cosim_layer`), latency, interval."""
    from codesign.spectral.hdl.timing import engine_timing

    t = engine_timing(
        d.layer,
        d.lm.arch.fft_units,
        int(d.lm.schedule.cycles),
        images=images,
        cfg=d.model.fixed_point,
    )
    return {
        "images": images,
        "in_first": 2,
        "out_first": t["out_first"],
        "out_last": t["out_last"],
        "latency": t["latency"],
        "interval": t["interval"],
    }


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


_BENCH = """`timescale 1ns/1ps
// Self-checking-free stimulus bench: input words from input.hex, outputs to output.txt.
module bench;
  reg clk = 0, rst = 1, in_valid = 0, out_ready = 1;
  reg signed [{iw}:0] in_x = 0;
  wire in_ready, out_valid;
  wire [{ow}:0] out_o;
  wire [{yw}:0] out_y;
  wire [{xw}:0] out_x;
  wire signed [{vw}:0] out_v;
  reg [{iw}:0] words [0:{nwords}];
  integer i = 0, edges = 0, outputs = 0, fd, accepted;
  {top} dut(clk, rst, in_valid, in_ready, in_x, out_valid, out_ready, out_o, out_y, out_x, out_v);
  always #5 clk = ~clk;
  always @(posedge clk) begin
    edges = edges + 1;
    if (out_valid && out_ready) begin
      $fwrite(fd, "%0d %0d %0d %0d %0d\\n", edges, out_o, out_y, out_x, out_v);
      outputs = outputs + 1;
      if (outputs == {expected}) begin
        $fclose(fd);
        $finish;
      end
    end
  end
  initial begin
    if ($test$plusargs("vcd")) begin
      $dumpfile("wave.vcd");
      $dumpvars(0, bench);
    end
    $readmemh("input.hex", words);
    fd = $fopen("output.txt", "w");
    @(negedge clk);
    rst = 0;
    while (i < {nwords1}) begin
      in_valid = 1;
      in_x = words[i];
      accepted = in_ready;
      @(negedge clk);
      if (accepted) i = i + 1;
    end
    in_valid = 0;
  end
  initial begin
    #{timeout};
    $display("TIMEOUT after %0d edges, %0d outputs", edges, outputs);
    $fclose(fd);
    $finish;
  end
endmodule
"""


def _fast(
    rtl: Path, man: dict, x: np.ndarray, expected: int, work: Path, vcd: str | None = None
) -> tuple[list, int]:
    """Plain Icarus run of the converted engine on ``x`` (no per-clock Python): the input words
    from a $readmemh file, every output with its clock edge written to a file."""
    ports = {p["name"]: p["width"] for p in man["ports"]}
    top = man["top"]
    words = x.reshape(-1)
    bits = ports["in_x"]
    (work / "input.hex").write_text("".join(f"{int(v) & ((1 << bits) - 1):x}\n" for v in words))
    (work / "bench.v").write_text(
        _BENCH.format(
            iw=bits - 1,
            ow=ports["out_o"] - 1,
            yw=ports["out_y"] - 1,
            xw=ports["out_x"] - 1,
            vw=ports["out_v"] - 1,
            nwords=len(words) - 1,
            nwords1=len(words),
            top=top,
            expected=expected,
            timeout=10 * (200_000 * len(x) + 10 * len(words)),
        )
    )
    shutil.copyfile(rtl / f"{top}.v", work / f"{top}.v")
    if (rtl / "mem").is_dir():
        shutil.copytree(rtl / "mem", work / "mem")
    run_tool(
        "iverilog",
        ["-g2005", "-s", "bench", "-o", "bench.vvp", f"{top}.v", "bench.v"],
        cwd=work,
        timeout=300,
    )
    proc = run_tool("vvp", ["-n", "bench.vvp"] + (["+vcd"] if vcd else []), cwd=work, timeout=3600)
    if vcd:
        shutil.copyfile(work / "wave.vcd", vcd)
    if "TIMEOUT" in proc.stdout:
        raise GenerateError(f"{rtl}: simulation timed out: {proc.stdout.strip()}")
    rows = [
        tuple(int(v) for v in line.split())
        for line in (work / "output.txt").read_text().splitlines()
    ]
    return rows, (rows[-1][0] if rows else 0)


def cosim_layer(
    rtl_dir: str | Path,
    schedule_dir: str | Path,
    images: np.ndarray,
    engine: str = "icarus",
    vcd: str | None = None,
) -> dict:
    """Run ``images`` through the layer (Icarus on the converted Verilog, or the MyHDL model)
    and compare every output with the fixed-point model; returns counts and measured clocks."""
    from myhdl import Cosimulation, Simulation, StopSimulation, always, delay, instance

    if vcd and engine != "fast":
        raise GenerateError("--vcd needs --engine fast (the plain Icarus bench writes the VCD)")
    rtl = Path(rtl_dir)
    man_path = rtl / "manifest.json"
    if not man_path.is_file():
        raise GenerateError(f"{man_path}: missing; pass the directory `codesign generate` wrote")
    man = json.loads(man_path.read_text())
    d = layer_from_artifacts(schedule_dir, man["layer"])
    x, want = _reference(d, images)
    top = man["top"]
    per_image = int(np.prod(want.shape[1:]))
    expected = [
        (o, y, xx, int(want[b, o, y, xx]))
        for b in range(want.shape[0])
        for o in range(want.shape[1])
        for y in range(want.shape[2])
        for xx in range(want.shape[3])
    ]
    if engine == "fast":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            rows, edges = _fast(rtl, man, x, len(expected), Path(tmp), vcd)
        got = rows
        marks = {
            "in_first": [2 + b * x[0].size for b in range(len(x))],
            "out_first": [
                rows[b * per_image][0] for b in range(len(x)) if len(rows) > b * per_image
            ],
            "out_last": [
                rows[(b + 1) * per_image - 1][0]
                for b in range(len(x))
                if len(rows) >= (b + 1) * per_image
            ],
        }
        return _report(man, engine, x, got, expected, per_image, edges, marks)
    sig, inst = _engine(d)
    if engine == "icarus":
        args = ["-g2005", "-s", f"tb_{top}", "-o", f"{top}.vvp", f"{top}.v", f"tb_{top}.v"]
        work = Path(rtl)
        run_tool("iverilog", args, cwd=work, timeout=300)
        dut = Cosimulation(myhdl_cosim_command(work / f"{top}.vvp", work), **sig)
    else:
        dut = inst
    clk, got, marks = sig["clk"], [], {"in_first": [], "out_first": [], "out_last": []}
    clock = [0]

    @always(delay(5))
    def tick():
        clk.next = not clk

    @always(clk.posedge)
    def monitor():
        clock[0] += 1
        if sig["out_valid"] and sig["out_ready"]:
            got.append(
                (
                    clock[0],
                    int(sig["out_o"]),
                    int(sig["out_y"]),
                    int(sig["out_x"]),
                    int(sig["out_v"]),
                )
            )
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
                while True:  # in_ready now is what the coming rising edge samples
                    accepted = bool(sig["in_ready"])
                    yield clk.negedge
                    if accepted:
                        break
            sig["in_valid"].next = 0
        limit = clock[0] + 200_000 * len(x)
        while len(got) < want.size and clock[0] < limit:
            yield clk.negedge
        raise StopSimulation

    def simulate():
        Simulation(dut, tick, monitor, stimulus).run(quiet=1)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(simulate).result()
    return _report(man, engine, x, got, expected, per_image, clock[0], marks)


def _report(man, engine, x, got, expected, per_image, cycles, marks) -> dict:
    """Compare outputs ``got`` = [(clock edge, o, y, x, value)] with ``expected``."""
    first_bad = next((i for i, (g, e) in enumerate(zip(got, expected)) if tuple(g[1:]) != e), None)
    if first_bad is None and len(got) != len(expected):
        first_bad = min(len(got), len(expected))
    report = {
        "layer": man["layer"],
        "engine": engine,
        "images": int(len(x)),
        "outputs": len(got),
        "expected": len(expected),
        "bit_exact": first_bad is None,
        "cycles": cycles,
        "marks": marks,
    }
    if first_bad is not None:
        b, r = divmod(first_bad, per_image)
        o, y, xx, _ = expected[first_bad] if first_bad < len(expected) else (None,) * 4
        report["first_mismatch"] = {
            "layer": man["layer"],
            "image": b,
            "channel": o,
            "position": (y, xx),
            "expected": expected[first_bad][3] if first_bad < len(expected) else None,
            "got": tuple(got[first_bad][1:]) if first_bad < len(got) else None,
            "clock": got[first_bad][0] if first_bad < len(got) else None,
        }
    return report
