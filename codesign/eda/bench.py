"""Compiled test benches: Verilator models (cached by their sources) and Icarus programs.

A bench that needs no per-clock Python runs as a compiled Verilator model (``--binary
--timing``, about a million clocks per second) or an Icarus ``vvp`` program, from the same
Verilog.  Verilator models are cached under :func:`cache_root` by the hash of the Verilator
version and every source, so an unchanged design is compiled once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from codesign.eda.tools import find_tool, run_tool

__all__ = [
    "cache_root",
    "default_jobs",
    "verilator_binary",
    "icarus_binary",
    "plusargs",
    "link_memories",
    "events",
]


def cache_root() -> Path:
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


def default_jobs() -> int:
    """Parallel compile jobs and simulations: the machine's cores, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


# the C++ of the model compiled at -O1 instead of Verilator's -Os: on the Nexys4 DDR LeNet
# accelerator (2 cores, Verilator 5.006) the build takes 30 s instead of 56 s and 500 images
# 10.4 s instead of 9.3 s (-O0: 19 s and 134 s)
VERILATOR_OPT = ("-MAKEFLAGS", "OPT_FAST=-O1 OPT_GLOBAL=-O1")


def verilator_binary(sources: list[Path], top: str) -> Path:
    """Compile ``sources`` with top module ``top`` into a Verilator executable, once: the result
    is cached by the hash of the Verilator version and the sources' bytes."""
    h = hashlib.sha256()
    verilator = find_tool("verilator")
    h.update(run_tool("verilator", ["--version"]).stdout.encode())
    h.update(" ".join(VERILATOR_OPT).encode())
    for s in sources:
        h.update(Path(s).read_bytes())
    out = cache_root() / "verilator" / h.hexdigest()[:20]
    exe = out / f"V{top}"
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
                top,
                "-j",
                str(default_jobs()),
                *VERILATOR_OPT,
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


def icarus_binary(sources: list[Path], top: str, out: Path) -> Path:
    """Compile ``sources`` with top module ``top`` into the Icarus program ``out``."""
    run_tool("iverilog", ["-g2005", "-s", top, "-o", str(out), *map(str, sources)], timeout=600)
    return out


def plusargs(values: dict) -> list[str]:
    """``+name`` for True, ``+name=int(value)`` for the rest; None and False left out."""
    out = []
    for k, v in values.items():
        if v is True:
            out.append(f"+{k}")
        elif v is not None and v is not False:
            out.append(f"+{k}={int(v)}")
    return out


def link_memories(rtl: Path, work: Path) -> None:
    """A run directory sees the design's ROM contents: ``work/mem`` → ``rtl/mem`` (the files
    codesign.hdl.rom reads at run time), when there are any."""
    if (Path(rtl) / "mem").is_dir():
        (Path(work) / "mem").symlink_to((Path(rtl) / "mem").resolve(), target_is_directory=True)


def events(path: Path) -> list[list[str]]:
    """The lines a bench run wrote, split (none if it wrote no file)."""
    path = Path(path)
    return [line.split() for line in path.read_text().splitlines()] if path.is_file() else []
