"""The cocotb test written beside every generated accelerator (docs/accelerator.md, "cocotb").

:func:`write_cocotb_bench` (called by ``codesign generate``) writes three files into the RTL
directory and returns the manifest's ``cocotb`` field:

* ``test_<top>.py`` (:func:`cocotb_source`): a self-contained cocotb test module — cocotb and
  cocotbext-axi only, no codesign, no numpy — whose one test streams images through ``s_axis``
  with cocotbext-axi's ``AxiStreamSource``, takes the scores from ``m_axis`` with an
  ``AxiStreamSink``, both pausing at random (``set_pause_generator``), and checks every score,
  ``tlast`` and ``tuser`` against the expected scores, that every output is defined at time 0,
  and ``frame_error``.  Run as a script it is its own runner (``cocotb_tools.runner``, Icarus);
* ``Makefile`` (:func:`makefile_source`): the same test through cocotb's makefiles;
* ``cocotb_vectors.json`` (:func:`vectors_text`): the images and their expected scores, from the
  fixed-point model (:mod:`codesign.spectral.fxpmodel`) at generate time, for the first
  :data:`IMAGES` bundled MNIST test images.  :func:`write_vectors` writes the same file for your
  own images, to pass with ``CODESIGN_VECTORS`` / ``--vectors``.

The vectors are JSON rather than ``.npz`` so the test needs no numpy; an image is the hex string
of its pixels, one byte each in the order the stream carries them ((c, y, x) raster), scores
are the signed integers of ``m_axis_tdata`` (``scores[k] / 2**frac`` is the value).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGES",
    "VECTORS",
    "MAKEFILE",
    "VECTORS_FORMAT",
    "REQUIRES",
    "cocotb_module",
    "cocotb_source",
    "makefile_source",
    "vectors_text",
    "expected_scores",
    "default_images",
    "write_vectors",
    "write_cocotb_bench",
]

IMAGES = 4  # bundled test images written at generate time (first image: latency, then intervals)
VECTORS = "cocotb_vectors.json"
MAKEFILE = "Makefile"
VECTORS_FORMAT = "codesign-cocotb-vectors"
REQUIRES = ["cocotb>=2.0", "cocotbext-axi>=0.1.28"]  # tested: cocotb 2.1.0, cocotbext-axi 0.1.28
PAUSE_IN = 0.3  # default probability that the source holds back a beat on a clock
PAUSE_OUT = 0.5  # … that the sink holds tready low


def cocotb_module(manifest: dict) -> str:
    """The cocotb test module's name, ``test_<top>``."""
    return f"test_{manifest['top']}"


def _outputs(manifest: dict) -> list:
    return [p["name"] for p in manifest["ports"] if p["direction"] == "output"]


def cocotb_source(manifest: dict) -> str:
    """The cocotb test module (Python source) for the accelerator ``manifest`` describes."""
    s, m, cm = manifest["s_axis"], manifest["m_axis"], manifest["cycle_model"]
    pixels = int(np.prod(s["image"]))
    memory_dirs = sorted({f.split("/")[0] for f in manifest.get("memory_images", []) if "/" in f})
    constants = {
        "TOP": manifest["top"],
        "SOURCES": list(manifest["files"]),
        "MEMORY_DIRS": memory_dirs,
        "CLOCK": manifest["clock"]["port"],
        "RESET": manifest["reset"]["port"],
        "PIXELS_PER_BEAT": s["pixels_per_beat"],
        "PIXEL_BITS": s["pixel_bits"],
        "IMAGE": list(s["image"]),
        "PIXELS": pixels,
        "CLASSES": m["beats_per_image"],
        "SCORE_BITS": m["format"]["bits"],
        "SCORE_FRAC": m["format"]["frac"],
        "OUTPUTS": _outputs(manifest),
        "LATENCY_CYCLES": cm["latency_cycles"],
        "INTERVAL_CYCLES": cm["interval_cycles"],
        "MODEL_SHA256": manifest["model"]["sha256"],
        "VECTORS": VECTORS,
        "PAUSE_IN": PAUSE_IN,
        "PAUSE_OUT": PAUSE_OUT,
    }
    header = "\n".join(_assignment(k, v) for k, v in constants.items())
    top = manifest["top"]
    return (
        _TEST_DOC.format(top=top, module=cocotb_module(manifest), vectors=VECTORS)
        + _TEST_IMPORTS
        + "# The accelerator, from manifest.json (codesign generate).\n"
        + header
        + "\n"
        + _TEST_BODY
    )


def _assignment(name: str, value) -> str:
    """``NAME = value`` as ruff would format it (double quotes, long lists one item a line)."""
    one = f"{name} = {json.dumps(value)}"
    if len(one) <= 100 or not isinstance(value, list):
        return one
    return f"{name} = [\n" + "".join(f"    {json.dumps(v)},\n" for v in value) + "]"


_TEST_DOC = '''"""cocotb test of `{top}`, the AXI4-Stream accelerator codesign generated here.

Streams images through s_axis with cocotbext-axi's AxiStreamSource and takes the class scores
from m_axis with an AxiStreamSink, both pausing at random, and checks every score (against the
fixed-point model's, from the vectors file), that tlast comes on the last score of each image
only, tuser on every beat (the index of the highest score so far: the predicted class on the
tlast beat), that every output is defined at time 0, and that frame_error stays low.

Written by `codesign generate` (docs/accelerator.md, "cocotb"); needs only cocotb (2.x) and
cocotbext-axi.  Run it from this directory (the ROMs are read from mem/ relative to it):

    python {module}.py [--images N] [--vectors FILE] [--seed S] [--work DIR]
    make [CODESIGN_IMAGES=N] [CODESIGN_VECTORS=FILE] [COCOTB_RANDOM_SEED=S]

or use it in your own flow: cocotb test module `{module}`,
toplevel `{top}`.  Settings (environment variables):

    CODESIGN_VECTORS    the vectors file (default: {vectors} beside this file)
    CODESIGN_IMAGES     how many of its images to stream (default: all)
    CODESIGN_PAUSE_IN   probability that the source holds a beat back on a clock
    CODESIGN_PAUSE_OUT  probability that the sink holds tready low on a clock

and cocotb's COCOTB_RANDOM_SEED for the pauses.
"""

'''

_TEST_IMPORTS = """from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

"""

_TEST_BODY = '''CLOCK_NS = 10
RESET_CYCLES = 4
HERE = Path(__file__).resolve().parent


def setting(name, default, kind):
    """Environment variable ``name`` as ``kind``; ``default`` when unset or empty."""
    value = os.environ.get(name, "").strip()
    return kind(value) if value else default


def load_vectors(path):
    """[(pixels bytes, expected scores, label or None)] from a vectors file."""
    data = json.loads(Path(path).read_text())
    if data.get("format") != "codesign-cocotb-vectors":
        raise ValueError(f"{path}: not a codesign-cocotb-vectors file")
    if data.get("model_sha256") not in (None, MODEL_SHA256):
        raise ValueError(f"{path}: expected scores of another model (model_sha256 differs)")
    out = []
    for i, v in enumerate(data["vectors"]):
        pixels = bytes.fromhex(v["pixels"])
        if len(pixels) != PIXELS or len(v["scores"]) != CLASSES:
            raise ValueError(
                f"{path}: vector {i} has {len(pixels)} pixels and {len(v['scores'])} scores; "
                f"this core takes {PIXELS} pixels and gives {CLASSES} scores"
            )
        out.append((pixels, [int(x) for x in v["scores"]], v.get("label")))
    return out


def running_argmax(scores):
    """What tuser carries on each beat: the index of the highest score so far (ties: lower)."""
    best, out = 0, []
    for k, s in enumerate(scores):
        if s > scores[best]:
            best = k
        out.append(best)
    return out


def signed(bits):
    return bits - (1 << SCORE_BITS) if bits >> (SCORE_BITS - 1) else bits


def pauses(rng, p):
    while True:
        yield rng.random() < p


async def stop_pauses(source):
    """Once the last pixel is out, stop the source's pause generator (one task less a clock)."""
    await source.wait()
    source.clear_pause_generator()


async def check_scores(dut, sink, vectors):
    for i, (_, want, label) in enumerate(vectors):
        frame = await sink.recv(compact=False)
        got = [signed(int(b)) for b in frame.tdata]
        assert len(got) == CLASSES, (
            f"image {i}: tlast on score beat {len(got)}, expected on beat {CLASSES} only"
        )
        for k, (g, w) in enumerate(zip(got, want)):
            assert g == w, (
                f"image {i}, class {k}: score {g} ({g / 2**SCORE_FRAC:+.4f}), expected {w} "
                f"({w / 2**SCORE_FRAC:+.4f}); all scores {got}, expected {want}"
            )
        tuser = [int(u) for u in frame.tuser]
        assert tuser == running_argmax(want), (
            f"image {i}: tuser {tuser}, expected {running_argmax(want)} (highest score so far)"
        )
        dut._log.info("image %d: scores equal, class %d (label %s)", i, tuser[-1], label)


@cocotb.test()
async def stream_images(dut):
    """Images through s_axis, scores out of m_axis, random pauses on both sides."""
    vectors = load_vectors(setting("CODESIGN_VECTORS", HERE / VECTORS, Path))
    n = setting("CODESIGN_IMAGES", len(vectors), int)
    if not 1 <= n <= len(vectors):
        raise ValueError(f"CODESIGN_IMAGES={n}: the vectors file has {len(vectors)} images")
    vectors = vectors[:n]
    p_in = setting("CODESIGN_PAUSE_IN", PAUSE_IN, float)
    p_out = setting("CODESIGN_PAUSE_OUT", PAUSE_OUT, float)
    if not (0 <= p_in < 1 and 0 <= p_out < 1):
        raise ValueError(f"pause probabilities must be in [0, 1): in {p_in}, out {p_out}")
    rng = random.Random(cocotb.RANDOM_SEED)
    clock, reset = getattr(dut, CLOCK), getattr(dut, RESET)

    # The usual bench: reset low, clock, source and sink, all from time 0 (the first rising
    # edge half a period later, once the source's and sink's first values are in).
    reset.value = 0
    Clock(clock, CLOCK_NS, unit="ns").start(start_high=False)
    s_bus, m_bus = AxiStreamBus.from_prefix(dut, "s_axis"), AxiStreamBus.from_prefix(dut, "m_axis")
    source = AxiStreamSource(s_bus, clock, reset, reset_active_level=False, byte_size=PIXEL_BITS)
    sink = AxiStreamSink(m_bus, clock, reset, reset_active_level=False, byte_size=SCORE_BITS)
    source.set_pause_generator(pauses(random.Random(rng.getrandbits(32)), p_in))
    sink.set_pause_generator(pauses(random.Random(rng.getrandbits(32)), p_out))
    await ReadOnly()
    undefined = [p for p in OUTPUTS if not getattr(dut, p).value.is_resolvable]
    assert not undefined, f"outputs not defined at time 0: {undefined}"
    assert dut.m_axis_tvalid.value == 0 and dut.frame_error.value == 0
    await ClockCycles(clock, RESET_CYCLES)
    reset.value = 1

    for pixels, _, _ in vectors:
        source.send_nowait(AxiStreamFrame(pixels))
    cocotb.start_soon(stop_pauses(source))
    beats = PIXELS // PIXELS_PER_BEAT
    clocks = LATENCY_CYCLES + (n - 1) * INTERVAL_CYCLES
    clocks = 2 * (clocks + n * (beats / (1 - p_in) + CLASSES / (1 - p_out))) + 1000
    seed = cocotb.RANDOM_SEED
    dut._log.info("%d images, pauses %.2f in, %.2f out, seed %d", n, p_in, p_out, seed)
    await with_timeout(check_scores(dut, sink, vectors), int(clocks) * CLOCK_NS, "ns")
    await ClockCycles(clock, 20)
    assert sink.empty(), "score beats after the last image's"
    assert dut.frame_error.value == 0, "frame_error set: an s_axis tlast disagreed with the count"


def main(argv=None):
    """Build with Icarus and run this test (cocotb_tools.runner); exit status 0 when it passed."""
    import argparse

    from cocotb_tools.runner import get_results, get_runner

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, help="images to stream (default: all in the file)")
    ap.add_argument("--vectors", help=f"vectors file (default: {VECTORS} beside this file)")
    ap.add_argument("--seed", type=int, help="cocotb's random seed (the pauses)")
    ap.add_argument("--pause-in", type=float, help=f"source pause probability ({PAUSE_IN})")
    ap.add_argument("--pause-out", type=float, help=f"sink pause probability ({PAUSE_OUT})")
    ap.add_argument("--work", help="build and run directory (default: this directory)")
    ap.add_argument("--waves", action="store_true", help="dump waves (FST)")
    a = ap.parse_args(argv)
    os.environ.pop("PYTEST_CURRENT_TEST", None)  # the runner behaves differently under pytest
    work = Path(a.work).resolve() if a.work else HERE
    work.mkdir(parents=True, exist_ok=True)
    for d in MEMORY_DIRS:  # $readmemh reads the ROMs relative to the simulator's directory
        if not (work / d).exists():
            (work / d).symlink_to(HERE / d, target_is_directory=True)
    env = {
        "CODESIGN_IMAGES": a.images,
        "CODESIGN_VECTORS": Path(a.vectors).resolve() if a.vectors else None,
        "CODESIGN_PAUSE_IN": a.pause_in,
        "CODESIGN_PAUSE_OUT": a.pause_out,
    }
    env = {k: str(v) for k, v in env.items() if v is not None}
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))  # the simulator imports this module from here
    runner = get_runner("icarus")
    runner.build(
        sources=[HERE / f for f in SOURCES],
        hdl_toplevel=TOP,
        build_dir=work / "sim_build",
        waves=a.waves,
    )
    results = runner.test(
        test_module=Path(__file__).stem,
        hdl_toplevel=TOP,
        test_dir=work,
        extra_env=env,
        seed=a.seed,
        waves=a.waves,
    )
    tests, failed = get_results(results)
    print(f"{Path(__file__).name}: {tests - failed} of {tests} passed ({results})")
    return 0 if tests and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
'''


def makefile_source(manifest: dict) -> str:
    """A Makefile running the test module through cocotb's makefiles (Icarus)."""
    top, module = manifest["top"], cocotb_module(manifest)
    sources = " ".join(f"$(CURDIR)/{f}" for f in manifest["files"])
    return f"""# cocotb test of {top}, written by `codesign generate` (docs/accelerator.md, cocotb).
#   make                                   all images of {VECTORS}, random pauses
#   make CODESIGN_IMAGES=2 COCOTB_RANDOM_SEED=7 CODESIGN_VECTORS=/path/to/vectors.json
# Needs cocotb 2.x and cocotbext-axi (pip install cocotb cocotbext-axi), cocotb-config on PATH,
# and Icarus Verilog; run it here (the ROMs are read from mem/ relative to this directory).
SIM ?= icarus
TOPLEVEL_LANG ?= verilog
VERILOG_SOURCES += {sources}
COCOTB_TOPLEVEL = {top}
COCOTB_TEST_MODULES = {module}
export CODESIGN_IMAGES CODESIGN_VECTORS CODESIGN_PAUSE_IN CODESIGN_PAUSE_OUT

include $(shell cocotb-config --makefiles)/Makefile.sim
"""


def expected_scores(model, images: np.ndarray) -> np.ndarray:
    """The fixed-point model's scores (signed integers, N × classes) of uint8 ``images``."""
    from codesign.spectral import fxpmodel

    return fxpmodel.run(model.quantized(), model.layers, model.fixed_point, images)


@lru_cache(maxsize=1)
def _bundled(n: int):
    from codesign.data import load_bundled

    d = load_bundled(seed=0)
    return d.test_x[:n].copy(), d.test_y[:n].copy()


def default_images(shape, n: int = IMAGES):
    """(images, labels, source): the first ``n`` bundled MNIST test images for a 1×28×28 input,
    else ``n`` seeded random images of ``shape`` [C, H, W] (labels None)."""
    shape = tuple(shape)
    if shape == (1, 28, 28):
        x, y = _bundled(n)
        return x, y, f"the first {n} images of the bundled MNIST test split (load_bundled(seed=0))"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    return x[:, 0] if shape[0] == 1 else x, None, f"{n} random images (numpy seed 0)"


def _check_images(manifest: dict, images) -> np.ndarray:
    images = np.asarray(images)
    pixels = int(np.prod(manifest["s_axis"]["image"]))
    if images.dtype != np.uint8 or not len(images) or images[0].size != pixels:
        raise ValueError(
            f"images must be uint8, N × {' × '.join(map(str, manifest['s_axis']['image']))} "
            f"({pixels} pixels each), got {images.dtype} {' × '.join(map(str, images.shape))}"
        )
    return images


def vectors_text(manifest: dict, images, scores, labels=None, source: str = "") -> str:
    """The vectors file: images (uint8, N × [C ×] H × W), expected ``scores`` (N × classes)."""
    images = _check_images(manifest, images)
    scores = np.asarray(scores)
    n = len(images)
    classes = manifest["m_axis"]["beats_per_image"]
    if scores.shape != (n, classes):
        raise ValueError(f"scores must be {n} × {classes}, got {scores.shape}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} images")
    head = {
        "format": VECTORS_FORMAT,
        "format_version": 1,
        "top": manifest["top"],
        "image": list(manifest["s_axis"]["image"]),
        "pixel_bits": manifest["s_axis"]["pixel_bits"],
        "classes": classes,
        "score_format": manifest["m_axis"]["format"],
        "model_sha256": manifest["model"]["sha256"],
        "source": source,
        "expected": "codesign.spectral.fxpmodel.run (the fixed-point model), m_axis_tdata as "
        "signed integers; tuser = index of the highest score so far",
    }
    rows = []
    for i in range(n):
        s = [int(v) for v in scores[i]]
        row = {"class": int(np.argmax(s)), "scores": s}
        if labels is not None:
            row["label"] = int(labels[i])
        row["pixels"] = images[i].reshape(-1).tobytes().hex()
        rows.append(json.dumps(row))
    body = json.dumps(head, indent=2)[:-2]
    return body + ',\n  "vectors": [\n    ' + ",\n    ".join(rows) + "\n  ]\n}\n"


def write_vectors(
    rtl_dir: str | Path,
    images,
    out: str | Path,
    labels=None,
    model_dir: str | Path | None = None,
) -> Path:
    """Your own ``images`` (uint8 N × 28 × 28) with the fixed-point model's expected scores, as a
    vectors file ``out`` for the cocotb test of the accelerator in ``rtl_dir`` (its model:
    ``manifest.json`` ``model.path``, or ``model_dir``, checked against the recorded hash)."""
    from codesign.artifacts import sha256_file
    from codesign.eda.manifest import ACCELERATOR, read_manifest
    from codesign.spectral.model import load_model

    man = read_manifest(rtl_dir, ACCELERATOR)
    mdir = Path(model_dir) if model_dir else Path(rtl_dir) / man["model"]["path"]
    if sha256_file(mdir / "model.json") != man["model"]["sha256"]:
        raise ValueError(f"{mdir}: not the model {Path(rtl_dir)} was generated from (sha256)")
    images = _check_images(man.data, images)
    scores = expected_scores(load_model(mdir), images)
    text = vectors_text(man.data, images, scores, labels, source=f"{len(images)} user images")
    Path(out).write_text(text)
    return Path(out)


def write_cocotb_bench(
    rtl_dir: str | Path, manifest: dict, model, images=None, labels=None
) -> dict:
    """Write the test module, the Makefile and the vectors (``images``, default
    :func:`default_images`, scored by ``model``) into ``rtl_dir``; returns the manifest's
    ``cocotb`` field."""
    rtl = Path(rtl_dir)
    source = "your images"
    if images is None:
        images, labels, source = default_images(manifest["s_axis"]["image"])
    scores = expected_scores(model, _check_images(manifest, images))
    module = cocotb_module(manifest)
    files = {
        f"{module}.py": cocotb_source(manifest),
        MAKEFILE: makefile_source(manifest),
        VECTORS: vectors_text(manifest, images, scores, labels, source),
    }
    for name, text in files.items():
        (rtl / name).write_text(text)
    return {
        "test": f"{module}.py",
        "module": module,
        "toplevel": manifest["top"],
        "makefile": MAKEFILE,
        "vectors": VECTORS,
        "images": len(images),
        "simulator": "icarus",
        "requires": list(REQUIRES),
        "files": sorted(files),
    }
