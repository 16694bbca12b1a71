"""The co-simulation stage: generated Verilog against the fixed-point model, bit and clock exact.

:func:`cosim_accelerator` runs the whole accelerator's plain Verilog test bench
(:mod:`codesign.spectral.bench`) in Verilator or Icarus, several slices of the images in
parallel, and compares every score beat, ``tlast``, the predicted class and, without gaps or
resets, every image's clock edges with :func:`codesign.spectral.hdl.timing.network_timing`.
:func:`cosim_layer` runs one layer engine (plain Icarus from files, MyHDL's ``Cosimulation`` of
the Verilog, or the MyHDL model) against the layer's fixed-point model.  :func:`verdict` is the
one pass/fail rule of a report.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from codesign.artifacts import need
from codesign.eda.bench import default_jobs
from codesign.eda.manifest import ACCELERATOR, LAYER_ENGINE, read_manifest
from codesign.eda.tools import myhdl_cosim_command, run_tool
from codesign.spectral.bench import MAX_BENCH_IMAGES, events, run_bench, verilator_model
from codesign.spectral.design import (
    GenerateError,
    LayerDesign,
    elaborate_layer,
    layer_from_artifacts,
    layer_timing,
    recorded_model,
)
from codesign.spectral.fixedpoint import OverflowCounter
from codesign.spectral.fxpmodel import input_fixed, run, spectral_layer_fixed
from codesign.spectral.generate import ACCELERATOR_VERSION

__all__ = [
    "CosimError",
    "cosim_accelerator",
    "cosim_layer",
    "read_inputs",
    "verdict",
]


class CosimError(GenerateError):
    """An RTL directory or input file that cannot be co-simulated; names the file and the fix."""


def read_inputs(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (uint8, N×H×W) and optional labels from ``.npy`` (images only) or ``.npz``
    (``images``, optional ``labels``)."""
    p = Path(path)
    if not p.is_file():
        raise CosimError(f"{p}: inputs file not found")
    try:
        data = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise CosimError(f"{p}: not a numpy .npy/.npz file ({e})") from None
    labels = None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if "images" not in data.files:
                raise CosimError(
                    f"{p}: an .npz needs an 'images' array (N×28×28 uint8) and "
                    f"optionally 'labels'; found {data.files}"
                )
            images = data["images"]
            labels = data["labels"] if "labels" in data.files else None
    else:
        images = data
    if images.dtype != np.uint8 or images.ndim != 3:
        raise CosimError(
            f"{p}: images must be uint8 N×H×W, got {images.dtype} "
            f"{'×'.join(map(str, images.shape))}"
        )
    if labels is not None and (
        labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer)
    ):
        raise CosimError(
            f"{p}: labels must be {len(images)} integers, got {labels.dtype} {labels.shape}"
        )
    return images, labels


def _load_manifest(rtl: Path) -> dict:
    m = read_manifest(rtl, ACCELERATOR, error=CosimError)
    if m.get("format_version") != ACCELERATOR_VERSION:
        raise CosimError(
            f"{m.path}: format version {m.get('format_version')!r}; this codesign co-simulates "
            f"version {ACCELERATOR_VERSION} (paths relative to the RTL directory): re-run "
            f"`codesign generate`"
        )
    m.testbench()
    m.stream()
    need(m.data, "model", dict, m.path, CosimError, fix="re-run `codesign generate`")
    cycle = need(m.data, "cycle_model", dict, m.path, CosimError, fix="re-run `codesign generate`")
    need(cycle, "stages", list, m.path, CosimError, "cycle_model.", "re-run `codesign generate`")
    return m.data


def _model_of(man: dict, mp: Path, model_dir=None):
    return recorded_model(
        man["model"],
        mp,
        "after this RTL was generated",
        "re-run `codesign map` and `codesign generate`",
        CosimError,
        model_dir,
    )


def _to_signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def cosim_accelerator(
    rtl_dir: str | Path,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    simulator: str = "verilator",
    gap_in: int = 0,
    gap_out: int = 0,
    seed: int = 1,
    reset_at: int | None = None,
    vcd: str | None = None,
    jobs: int | None = None,
    quiet: bool = True,
    bad_tlast: int | None = None,
    model_dir: str | Path | None = None,
    source: str | None = None,
) -> dict:
    """Run ``images`` (uint8 N×H×W) through the generated accelerator and compare every score
    beat, ``tlast`` and the predicted class with the fixed-point model; with no gaps and no
    reset, also every image's first-pixel, first-score and last-score clock edge with the cycle
    model.  ``model_dir``: the model artifact, when not where the manifest records it; ``source``:
    the images' file, named in errors.  Returns
    a report dict (``bit_exact``, ``timing``, accuracies, clocks, speed)."""

    from codesign.progress import progress
    from codesign.spectral.fxpmodel import run
    from codesign.spectral.hdl.timing import network_timing

    rtl = Path(rtl_dir)
    man = _load_manifest(rtl)
    if simulator not in ("verilator", "icarus"):
        raise CosimError(f"--simulator '{simulator}': choose verilator or icarus")
    for name, v in (("--gap-in", gap_in), ("--gap-out", gap_out)):
        if not 0 <= v <= 90:
            raise CosimError(f"{name} {v}: a percentage of clocks from 0 to 90")
    model = _model_of(man, rtl / "manifest.json", model_dir)
    cfg = model.fixed_point
    pixels = int(np.prod(man["s_axis"]["image"]))
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] * images.shape[2] != pixels:
        raise CosimError(
            f"{source + ': ' if source else ''}images must be uint8 N×H×W with {pixels} "
            f"pixels each, got "
            f"{images.dtype} {images.shape}"
        )
    n = len(images)
    if n < 1:
        raise CosimError("no images to simulate")
    want = run(model.quantized(), model.layers, cfg, images)
    single = vcd is not None or reset_at is not None or bad_tlast is not None
    k = 1 if single else max(1, min(jobs or default_jobs(), n))
    k = max(k, -(-n // MAX_BENCH_IMAGES))
    bounds = np.linspace(0, n, k + 1).astype(int)
    chunks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    stages = man["cycle_model"]["stages"]
    timed = gap_in == 0 and gap_out == 0 and reset_at is None
    per_beat = man["s_axis"].get("pixels_per_beat", 1)
    models = {
        m: network_timing(stages, images=m, cfg=cfg, per_beat=per_beat)
        for m in {b - a for a, b in chunks}
    }
    slow = 1 / max(0.05, (1 - gap_in / 100) * (1 - gap_out / 100))
    t0 = time.monotonic()
    exe = verilator_model(rtl, man) if simulator == "verilator" else None
    build_s = time.monotonic() - t0
    t1 = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="codesign-cosim-") as tmp,
        progress(f"cosim {simulator}", n, quiet) as bar,
    ):
        works = [Path(tmp) / f"chunk{i}" for i in range(len(chunks))]
        done = [0]

        def poll():
            total = sum(
                sum(1 for e in events(w / "events.txt") if e[0] == "O" and e[3] == "1")
                for w in works
            )
            if total > done[0]:
                bar.advance(n=total - done[0])
                done[0] = total

        def simulate(i: int):
            a, b = chunks[i]
            last = models[b - a]["out_last"][-1] + (reset_at or 0)
            args = {
                "gap_in": gap_in,
                "gap_out": gap_out,
                "seed": seed,
                "timeout": int((last + 10_000) * 2 * slow),
                "reset_at": reset_at,
                "bad_tlast": bad_tlast,
                "vcd": bool(vcd),
            }
            events = run_bench(rtl, man, images[a:b], works[i], exe, args, poll)
            if vcd:
                shutil.copyfile(works[i] / "wave.vcd", vcd)
            return events

        with ThreadPoolExecutor(len(chunks)) as pool:
            results = list(pool.map(simulate, range(len(chunks))))
        poll()
    wall = time.monotonic() - t1
    if reset_at is not None and not any(e[0] == "R" for e in results[0]):
        end = max((int(e[1]) for e in results[0]), default=0)
        raise CosimError(
            f"--reset-at {reset_at}: the run ended at clock edge {end}, before it; choose an "
            f"edge inside the run"
        )
    return _check(
        man,
        results,
        chunks,
        want,
        labels,
        models,
        timed,
        cfg,
        simulator,
        dict(build_seconds=build_s, wall_seconds=wall, chunks=len(chunks)),
    )


EDGES = ("in_first", "out_first", "out_last")


def first_difference(rtl: dict, model: dict, first_image: int = 0) -> dict | None:
    """The first image edge (of :data:`EDGES`) where the RTL's list differs from the cycle
    model's, or None; a list cut short differs at its end."""
    for key in EDGES:
        a, b = rtl[key], model[key]
        if a != b:
            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            return {
                "edge_of": key,
                "image": first_image + i,
                "rtl": a[i] if i < len(a) else None,
                "model": b[i] if i < len(b) else None,
            }
    return None


def _check(man, results, chunks, want, labels, models, timed, cfg, simulator, run_info) -> dict:
    """Compare each chunk's events with the model's scores and the cycle model's edges."""
    bits = cfg.activation.bits
    classes = want.shape[1]
    n = len(want)
    pred = np.full(n, -1, dtype=np.int64)
    mismatches, first_bad, timing_bad, clocks = 0, None, None, 0
    timed_out, frame_error, pre_reset = False, False, 0
    lat_rtl = ii_rtl = None
    for (a, b), ev in zip(chunks, results):
        cut = max((i for i, e in enumerate(ev) if e[0] == "R"), default=-1)
        before = [e for e in ev[:cut] if e[0] == "O"] if cut >= 0 else []
        after = ev[cut + 1 :]
        beats = [tuple(int(v) for v in e[1:]) for e in after if e[0] == "O"]
        starts = [int(e[1]) for e in after if e[0] == "I"]
        timed_out |= any(e[0] == "T" for e in after)
        frame_error |= any(e[0] == "E" and e[2] != "0" for e in after)
        clocks += max((int(e[1]) for e in ev), default=0)
        pre_reset += len(before)
        expect = [(img, c) for img in range(a, b) for c in range(classes)]
        for j, e in enumerate(before):  # beats before a reset: a correct prefix, nothing else
            img, c = expect[j % len(expect)]
            if _to_signed(int(e[2]), bits) != want[img, c]:
                mismatches += 1
                first_bad = first_bad or {
                    "image": img,
                    "class": c,
                    "edge": int(e[1]),
                    "expected": int(want[img, c]),
                    "got": _to_signed(int(e[2]), bits),
                    "before_reset": True,
                }
        for j, (img, c) in enumerate(expect):
            if j >= len(beats):
                mismatches += len(expect) - j
                first_bad = first_bad or {
                    "image": img,
                    "class": c,
                    "expected": int(want[img, c]),
                    "got": None,
                    "beats_received": len(beats),
                }
                break
            edge, data, last, user = beats[j]
            got = _to_signed(data, bits)
            ok = got == want[img, c] and bool(last) == (c == classes - 1)
            if c == classes - 1:
                pred[img] = user
                ok = ok and user == int(np.argmax(want[img]))
            if not ok:
                mismatches += 1
                first_bad = first_bad or {
                    "image": img,
                    "class": c,
                    "edge": edge,
                    "expected": int(want[img, c]),
                    "got": got,
                    "tlast": bool(last),
                    "tuser": user,
                    "expected_class": int(np.argmax(want[img])),
                }
        if len(beats) > len(expect):
            mismatches += len(beats) - len(expect)
            first_bad = first_bad or {"extra_beats": len(beats) - len(expect)}
        if timed:
            m = models[b - a]
            rtl = {
                "in_first": starts,
                "out_first": [beats[i * classes][0] for i in range(len(beats) // classes)],
                "out_last": [
                    beats[i * classes + classes - 1][0] for i in range(len(beats) // classes)
                ],
            }
            timing_bad = timing_bad or first_difference(rtl, m, first_image=a)
            if rtl["out_last"] and starts:
                lat_rtl = rtl["out_last"][0] - starts[0] + 1
            if len(rtl["out_last"]) > 1:
                ii_rtl = rtl["out_last"][-1] - rtl["out_last"][-2]
    model_pred = want.argmax(axis=1)
    report = {
        "simulator": simulator,
        "images": n,
        "scores": int(want.size),
        "bit_exact": mismatches == 0 and not timed_out,
        "score_mismatches": mismatches,
        "first_mismatch": first_bad,
        "classes_equal_model": bool((pred == model_pred).all()),
        "timed_out": timed_out,
        "frame_error": frame_error,
        "beats_before_reset": pre_reset,
        "clocks": clocks,
        **run_info,
    }
    if labels is not None:
        labels = np.asarray(labels)
        report["accuracy_rtl"] = float((pred == labels).mean())
        report["accuracy_model"] = float((model_pred == labels).mean())
    m = models[max(models)]
    report["timing"] = {
        "checked": timed,
        "exact": timed and timing_bad is None,
        "first_difference": timing_bad,
        "latency_cycles": {"rtl": lat_rtl, "model": m["latency"]},
        "interval_cycles": {"rtl": ii_rtl, "model": m["interval"]},
    }
    w = run_info["wall_seconds"]
    report["images_per_minute"] = n / w * 60 if w > 0 else None
    report["clocks_per_second"] = clocks / w if w > 0 else None
    return report


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


def _beat_values(x: np.ndarray, k: int, bits: int) -> list[list[int]]:
    """Input maps (images, C, H, W) as the engine's beats, per image in (c // k, y, x) order:
    word w of a beat (channel c + w) in bits [w·b, (w + 1)·b), two's complement."""
    n, C, H, W = x.shape
    g = x.reshape(n, C // k, k, H, W).transpose(0, 1, 3, 4, 2).reshape(n, -1, k)
    mask = (1 << bits) - 1
    return [
        [sum((int(v) & mask) << (w * bits) for w, v in enumerate(beat)) for beat in img]
        for img in g
    ]


def _words(rows: list, k: int, bits: int) -> list:
    """Output beats [(edge, o, y, x, value)] as words [(edge, o + w, y, x, word w)]."""
    if k == 1:
        return rows
    out = []
    for edge, o, y, xx, v in rows:
        for w in range(k):
            u = (v >> (w * bits)) & ((1 << bits) - 1)
            out.append((edge, o + w, y, xx, u - (1 << bits) if u >> (bits - 1) else u))
    return out


_BENCH = """`timescale 1ns/1ps
// Self-checking-free stimulus bench: input words from input.hex, outputs to output.txt, the
// edge that takes each image's first word to input.txt.
module bench;
  reg clk = 0, rst = 1, in_valid = 0, out_ready = 1;
  reg signed [{iw}:0] in_x = 0;
  wire in_ready, out_valid;
  wire [{ow}:0] out_o;
  wire [{yw}:0] out_y;
  wire [{xw}:0] out_x;
  wire signed [{vw}:0] out_v;
  reg [{iw}:0] words [0:{nwords}];
  integer i = 0, edges = 0, outputs = 0, fd, fi, accepted;
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
    fi = $fopen("input.txt", "w");
    @(negedge clk);
    rst = 0;
    while (i < {nwords1}) begin
      in_valid = 1;
      in_x = words[i];
      accepted = in_ready;
      @(negedge clk);
      if (accepted && i % {per_image} == 0) $fwrite(fi, "%0d\\n", edges);
      if (accepted) i = i + 1;
    end
    in_valid = 0;
    $fclose(fi);
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
    rtl: Path, man: dict, beats: list, expected: int, work: Path, vcd: str | None = None
) -> tuple[list, int]:
    """Plain Icarus run of the converted engine on the input ``beats`` (per image, unsigned
    integers; no per-clock Python): the beats from a $readmemh file, every output beat with its
    clock edge written to a file."""
    ports = {p["name"]: p["width"] for p in man["ports"]}
    top = man["top"]
    words = [v for image in beats for v in image]
    bits = ports["in_x"]
    (work / "input.hex").write_text("".join(f"{v & ((1 << bits) - 1):x}\n" for v in words))
    (work / "bench.v").write_text(
        _BENCH.format(
            iw=bits - 1,
            ow=ports["out_o"] - 1,
            yw=ports["out_y"] - 1,
            xw=ports["out_x"] - 1,
            vw=ports["out_v"] - 1,
            nwords=len(words) - 1,
            nwords1=len(words),
            per_image=len(beats[0]),
            top=top,
            expected=expected,
            timeout=10 * (200_000 * len(beats) + 10 * len(words)),
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
        raise CosimError(f"{rtl}: simulation timed out: {proc.stdout.strip()}")
    rows = [
        tuple(int(v) for v in line.split())
        for line in (work / "output.txt").read_text().splitlines()
    ]
    starts = [int(v) for v in (work / "input.txt").read_text().split()]
    return rows, starts, (rows[-1][0] if rows else 0)


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
        raise CosimError("--vcd needs --engine fast (the plain Icarus bench writes the VCD)")
    rtl = Path(rtl_dir)
    man = read_manifest(rtl, LAYER_ENGINE, error=CosimError).data
    d = layer_from_artifacts(schedule_dir, man["layer"])
    x, want = _reference(d, images)
    top = man["top"]
    k_in, k_out = d.lm.arch.in_words, d.lm.arch.out_words
    bits = d.model.fixed_point.activation.bits
    beats = _beat_values(x, k_in, bits)
    per_image = int(np.prod(want.shape[1:]))
    per_beats = per_image // k_out  # output beats per image
    expected = [  # beat by beat: channel groups of k_out outer, then raster, then the word
        (g * k_out + w, y, xx, int(want[b, g * k_out + w, y, xx]))
        for b in range(want.shape[0])
        for g in range(want.shape[1] // k_out)
        for y in range(want.shape[2])
        for xx in range(want.shape[3])
        for w in range(k_out)
    ]
    if engine == "fast":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            rows, starts, edges = _fast(rtl, man, beats, len(expected) // k_out, Path(tmp), vcd)
        marks = {
            "in_first": starts,
            "out_first": [
                rows[b * per_beats][0] for b in range(len(x)) if len(rows) > b * per_beats
            ],
            "out_last": [
                rows[(b + 1) * per_beats - 1][0]
                for b in range(len(x))
                if len(rows) >= (b + 1) * per_beats
            ],
        }
        got = _words(rows, k_out, bits)
        return _report(man, engine, x, got, expected, per_image, edges, marks, d)
    sig, inst = elaborate_layer(d)
    if engine == "icarus":
        args = ["-g2005", "-s", f"tb_{top}", "-o", f"{top}.vvp", f"{top}.v", f"tb_{top}.v"]
        work = Path(rtl)
        run_tool("iverilog", args, cwd=work, timeout=300)
        dut = Cosimulation(myhdl_cosim_command(work / f"{top}.vvp", work), **sig)
    else:
        dut = inst
    clk, rows, marks = sig["clk"], [], {"in_first": [], "out_first": [], "out_last": []}
    clock = [0]

    @always(delay(5))
    def tick():
        clk.next = not clk

    @always(clk.posedge)
    def monitor():
        clock[0] += 1
        if sig["out_valid"] and sig["out_ready"]:
            rows.append(
                (
                    clock[0],
                    int(sig["out_o"]),
                    int(sig["out_y"]),
                    int(sig["out_x"]),
                    int(sig["out_v"]),
                )
            )
            if len(rows) % per_beats == 1 or per_beats == 1:
                marks["out_first"].append(clock[0])
            if len(rows) % per_beats == 0:
                marks["out_last"].append(clock[0])

    @instance
    def stimulus():
        sig["rst"].next = 1
        yield clk.negedge
        sig["rst"].next = 0
        sig["out_ready"].next = 1
        for b in range(len(x)):
            for j, v in enumerate(x[b].ravel() if k_in == 1 else beats[b]):
                sig["in_valid"].next = 1
                sig["in_x"].next = int(v)
                while True:  # in_ready now is what the coming rising edge samples
                    accepted = bool(sig["in_ready"])
                    yield clk.negedge
                    if accepted:
                        break
                if j == 0:
                    marks["in_first"].append(clock[0])
            sig["in_valid"].next = 0
        limit = clock[0] + 200_000 * len(x)
        while len(rows) < want.size // k_out and clock[0] < limit:
            yield clk.negedge
        raise StopSimulation

    def simulate():
        Simulation(dut, tick, monitor, stimulus).run(quiet=1)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(simulate).result()
    got = _words(rows, k_out, bits)
    return _report(man, engine, x, got, expected, per_image, clock[0], marks, d)


def _report(man, engine, x, got, expected, per_image, cycles, marks, d) -> dict:
    """Compare outputs ``got`` = [(clock edge, o, y, x, value)] with ``expected`` and the edges
    ``marks`` (each image's first input word, first and last output) with the cycle model."""
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
    model = layer_timing(d, len(x))
    bad = first_difference(marks, model)
    report["timing"] = {
        "checked": True,
        "exact": bad is None,
        "first_difference": bad,
        "model": {k: model[k] for k in EDGES},
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


def verdict(report: dict) -> str | None:
    """The one pass/fail rule of a :func:`cosim_accelerator` or :func:`cosim_layer` report: None
    when every output is bit-exact, no framing error was flagged and (where compared) every
    clock edge equals the cycle model; else what failed first."""
    if not report["bit_exact"]:
        return f"RTL disagrees with the fixed-point model: {report['first_mismatch']}"
    if report.get("frame_error"):
        return "RTL raised frame_error on correctly framed input"
    timing = report.get("timing")
    if timing and timing["checked"] and not timing["exact"]:
        return f"RTL clocks differ from the cycle model: {timing['first_difference']}"
    return None
