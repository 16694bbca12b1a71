"""Co-simulation of the generated accelerator against the fixed-point model.

The converted Verilog runs under a plain Verilog test bench (``codesign_bench.v``, written by
``codesign generate``) that needs no per-clock Python, so the same bench runs in Verilator (the
fast path: a compiled model, about a million clocks per second) and in Icarus.  The bench reads
pixels from ``pixels.hex`` and writes one line per AXI4-Stream event to ``events.txt``::

    I <edge>                          first pixel of an image accepted
    O <edge> <tdata> <tlast> <tuser>  a score beat accepted (tdata as unsigned bits)
    R <edge>                          reset injected (aresetn low for the next two edges)
    E <edge> <frame_error>            every expected beat seen
    T <edge>                          time-out

Plusargs: ``+images=N``, ``+gap_in=P`` / ``+gap_out=P`` (percent of clocks with ``tvalid`` /
``tready`` low, from a seeded xorshift generator, ``+seed=S``), ``+reset_at=E``, ``+timeout=E``,
``+bad_tlast=K`` (flip ``tlast`` on beat K), ``+vcd``.  Edge 1 samples reset; edge 2 is the
first that can accept a pixel.  Several runs of one compiled bench may go in parallel, each on
its own slice of the images (each from reset, so each slice's clocks follow the cycle model).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from codesign.eda.tools import find_tool, run_tool
from codesign.spectral.fixedpoint import FixedPointConfig
from codesign.spectral.generate import GenerateError

__all__ = [
    "BENCH_TOP",
    "bench_source",
    "cosim_accelerator",
    "run_bench",
    "read_inputs",
    "CosimError",
]

BENCH_TOP = "codesign_bench"
MAX_BENCH_IMAGES = 4096


class CosimError(GenerateError):
    """An RTL directory or input file that cannot be co-simulated; names the file and the fix."""


_BENCH = """`timescale 1ns/1ps
// Test bench of the codesign accelerator `{top}` (Icarus and Verilator --binary --timing).
// Pixels from pixels.hex, AXI4-Stream events to events.txt; see codesign/cosim.py.
module {bench};
  localparam PIXELS = {pixels};
  localparam PER_BEAT = {per_beat};
  localparam BEATS = PIXELS / PER_BEAT;
  localparam CLASSES = {classes};
  localparam MAX_WORDS = PIXELS * {max_images};
  reg aclk = 0;
  reg aresetn = 0;
  reg [{tmsb}:0] s_axis_tdata = 0;
  reg [{tmsb}:0] beat;
  reg s_axis_tvalid = 0;
  reg s_axis_tlast = 0;
  reg m_axis_tready = 0;
  wire s_axis_tready, m_axis_tvalid, m_axis_tlast, frame_error;
  wire [{smsb}:0] m_axis_tdata;
  wire [{umsb}:0] m_axis_tuser;
  reg [{pmsb}:0] pixels [0:MAX_WORDS-1];
  integer images, gap_in, gap_out, reset_at, timeout, seed, bad_tlast, fd;
  integer edges = 0, next = 0, beats = 0, hold = 0, j;
  reg [31:0] rng;

  {top} dut(.aclk(aclk), .aresetn(aresetn),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .s_axis_tlast(s_axis_tlast), .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast), .m_axis_tuser(m_axis_tuser),
    .frame_error(frame_error));

  always #5 aclk = ~aclk;

  function [31:0] xorshift(input [31:0] x);
    reg [31:0] y;
    begin
      y = x ^ (x << 13);
      y = y ^ (y >> 17);
      xorshift = y ^ (y << 5);
    end
  endfunction

  initial begin
    if (!$value$plusargs("images=%d", images)) images = 1;
    if (!$value$plusargs("gap_in=%d", gap_in)) gap_in = 0;
    if (!$value$plusargs("gap_out=%d", gap_out)) gap_out = 0;
    if (!$value$plusargs("reset_at=%d", reset_at)) reset_at = -1;
    if (!$value$plusargs("timeout=%d", timeout)) timeout = 0;
    if (!$value$plusargs("seed=%d", seed)) seed = 1;
    if (!$value$plusargs("bad_tlast=%d", bad_tlast)) bad_tlast = -1;
    rng = 32'h2545F491 ^ seed;
    if (rng == 0) rng = 1;
    $readmemh("pixels.hex", pixels, 0, images * PIXELS - 1);
    fd = $fopen("events.txt", "w");
    if ($test$plusargs("vcd")) begin
      $dumpfile("wave.vcd");
      $dumpvars(0, {bench});
    end
  end

  always @(posedge aclk) begin
    edges = edges + 1;
    if (m_axis_tvalid && m_axis_tready) begin
      $fwrite(fd, "O %0d %0d %0d %0d\\n", edges, m_axis_tdata, m_axis_tlast, m_axis_tuser);
      beats = beats + 1;
      if (m_axis_tlast) $fflush(fd);
    end
    if (s_axis_tvalid && s_axis_tready) begin
      if (next % BEATS == 0) $fwrite(fd, "I %0d\\n", edges);
      next = next + 1;
    end
    if (beats == images * CLASSES) begin
      $fwrite(fd, "E %0d %0d\\n", edges, frame_error);
      $fclose(fd);
      $finish;
    end
    if (timeout > 0 && edges >= timeout) begin
      $fwrite(fd, "T %0d\\n", edges);
      $fclose(fd);
      $finish;
    end
    rng = xorshift(rng);
    if (edges == reset_at) begin
      $fwrite(fd, "R %0d\\n", edges);
      hold = 2;
      next = 0;
      beats = 0;
    end
    if (hold > 0) begin
      hold = hold - 1;
      aresetn <= 0;
      s_axis_tvalid <= 0;
      m_axis_tready <= 0;
    end else begin
      aresetn <= 1;
      if (!(s_axis_tvalid && !s_axis_tready)) begin
        s_axis_tvalid <= next < images * BEATS && rng % 100 >= gap_in;
        for (j = 0; j < PER_BEAT; j = j + 1)
          beat[j * {pbits} +: {pbits}] = pixels[next * PER_BEAT + j];
        s_axis_tdata <= beat;
        s_axis_tlast <= (next % BEATS == BEATS - 1) ^ (next == bad_tlast);
      end
      m_axis_tready <= (rng >> 8) % 100 >= gap_out;
    end
  end
endmodule
"""


def bench_source(
    top: str, pixels: int, classes: int, cfg: FixedPointConfig, per_beat: int = 1
) -> str:
    """The test bench Verilog for an accelerator with these port widths."""
    return _BENCH.format(
        top=top,
        bench=BENCH_TOP,
        pixels=pixels,
        classes=classes,
        max_images=MAX_BENCH_IMAGES,
        pmsb=cfg.input_bits - 1,
        per_beat=per_beat,
        pbits=cfg.input_bits,
        tmsb=cfg.input_bits * per_beat - 1,
        smsb=cfg.activation.bits - 1,
        umsb=max(classes - 1, 1).bit_length() - 1,
    )


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
    mp = rtl / "manifest.json"
    if not mp.is_file():
        raise CosimError(f"{mp}: missing; pass the directory `codesign generate --out` wrote")
    man = json.loads(mp.read_text())
    if man.get("kind") != "accelerator":
        raise CosimError(
            f"{mp}: a single-layer engine (layer '{man.get('layer')}'); this "
            f"command co-simulates a whole accelerator (`codesign generate` "
            f"without --layer); for an engine pass --schedule"
        )
    for f in man["files"] + [man["testbench"]["file"]]:
        if not (rtl / f).is_file():
            raise CosimError(
                f"{rtl / f}: listed in manifest.json but missing; re-run `codesign generate`"
            )
    return man


def _cache_root() -> Path:
    """``$CODESIGN_CACHE``, else ``~/.cache/codesign``, else (no writable home) the temp dir."""
    root = os.environ.get("CODESIGN_CACHE")
    if root:
        return Path(root)
    try:
        home = Path.home() / ".cache" / "codesign"
        home.mkdir(parents=True, exist_ok=True)
        return home
    except (OSError, RuntimeError):
        return Path(tempfile.gettempdir()) / "codesign-cache"


def _build_verilator(rtl: Path, man: dict) -> Path:
    """Compile the bench and design with Verilator once; cached by the sources' hash."""
    sources = [rtl / f for f in man["files"]] + [rtl / man["testbench"]["file"]]
    h = hashlib.sha256()
    verilator = find_tool("verilator")
    h.update(run_tool("verilator", ["--version"]).stdout.encode())
    for s in sources:
        h.update(s.read_bytes())
    out = _cache_root() / "verilator" / h.hexdigest()[:20]
    exe = out / f"V{BENCH_TOP}"
    if exe.is_file():
        return exe
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
    try:
        run_tool(
            "verilator",
            [
                "--binary",
                "--timing",
                "-Wno-fatal",
                "-Wno-lint",
                "-Wno-style",
                "--top-module",
                BENCH_TOP,
                "-j",
                str(_jobs()),
                "--Mdir",
                str(tmp),
                *map(str, sources),
            ],
            timeout=1800,
            program=verilator,
        )
        try:
            os.rename(tmp, out)
        except OSError:  # another process built it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return exe


def _build_icarus(rtl: Path, man: dict, work: Path) -> Path:
    sources = [rtl / f for f in man["files"]] + [rtl / man["testbench"]["file"]]
    run_tool(
        "iverilog",
        ["-g2005", "-s", BENCH_TOP, "-o", str(work / "bench.vvp"), *map(str, sources)],
        timeout=600,
    )
    return work / "bench.vvp"


def _jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def run_bench(
    rtl: Path,
    man: dict,
    images: np.ndarray,
    work: Path,
    exe: Path | None,
    plusargs: dict,
    poll=None,
) -> list[list[str]]:
    """One run of the test bench in ``work`` (created): Verilator model ``exe``, or Icarus when
    None; ``plusargs`` as in the module docstring (None/False values left out).  Returns the
    events, one split line each."""
    work.mkdir(parents=True)
    if (rtl / "mem").is_dir():  # the ROM contents, read at run time from mem/ (hdl/rom.py)
        (work / "mem").symlink_to((rtl / "mem").resolve(), target_is_directory=True)
    (work / "pixels.hex").write_text("".join(f"{int(p):02x}\n" for p in images.reshape(-1)))
    args = [f"+images={len(images)}"]
    for k, v in plusargs.items():
        if v is True:
            args.append(f"+{k}")
        elif v is not None and v is not False:
            args.append(f"+{k}={int(v)}")
    if exe is not None:
        run_tool("verilator", args, cwd=work, program=exe, poll=poll, timeout=7200)
    else:
        run_tool(
            "vvp", ["-n", _build_icarus(rtl, man, work), *args], cwd=work, poll=poll, timeout=7200
        )
    return _events(work / "events.txt")


def _model_of(man: dict, mp: Path):
    from codesign.spectral.generate import recorded_model

    return recorded_model(
        man["model"],
        mp,
        "after this RTL was generated",
        "re-run `codesign map` and `codesign generate`",
        CosimError,
    )


def _events(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.is_file() else []


def signed_signal(v: int, bits: int) -> int:
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
) -> dict:
    """Run ``images`` (uint8 N×H×W) through the generated accelerator and compare every score
    beat, ``tlast`` and the predicted class with the fixed-point model; with no gaps and no
    reset, also every image's first-pixel, first-score and last-score clock edge with the cycle
    model.  Returns a report dict (``bit_exact``, ``timing``, accuracies, clocks, speed)."""
    import time

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
    model = _model_of(man, rtl / "manifest.json")
    cfg = model.fixed_point
    pixels = int(np.prod(man["s_axis"]["image"]))
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] * images.shape[2] != pixels:
        raise CosimError(
            f"images must be uint8 N×H×W with {pixels} pixels each, got "
            f"{images.dtype} {images.shape}"
        )
    n = len(images)
    if n < 1:
        raise CosimError("no images to simulate")
    want = run(model.quantized(), model.layers, cfg, images)
    single = vcd is not None or reset_at is not None or bad_tlast is not None
    k = 1 if single else max(1, min(jobs or _jobs(), n))
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
    exe = _build_verilator(rtl, man) if simulator == "verilator" else None
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
                sum(1 for e in _events(w / "events.txt") if e[0] == "O" and e[3] == "1")
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
            if signed_signal(int(e[2]), bits) != want[img, c]:
                mismatches += 1
                first_bad = first_bad or {
                    "image": img,
                    "class": c,
                    "edge": int(e[1]),
                    "expected": int(want[img, c]),
                    "got": signed_signal(int(e[2]), bits),
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
            got = signed_signal(data, bits)
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
            for key in ("in_first", "out_first", "out_last"):
                if rtl[key] != m[key] and timing_bad is None:
                    i = next(
                        (i for i, (x, y) in enumerate(zip(rtl[key], m[key])) if x != y),
                        min(len(rtl[key]), len(m[key])),
                    )
                    timing_bad = {
                        "edge_of": key,
                        "image": a + i,
                        "rtl": rtl[key][i] if i < len(rtl[key]) else None,
                        "model": m[key][i] if i < len(m[key]) else None,
                    }
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
