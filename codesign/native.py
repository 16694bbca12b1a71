"""Compiled kernels: C sources shipped in the package, built once with the system C compiler.

A kernel source ``foo.c`` is compiled with ``cc`` (located by :mod:`codesign.eda.tools`, so
``CODESIGN_CC`` overrides it) into ``libfoo-<digest>.so``, where the digest covers the source
and the compiler flags: an edited source is rebuilt, an unchanged one never.  Libraries live
in ``CODESIGN_NATIVE_DIR`` if set, else in ``<sys.prefix>/share/codesign/native`` (the virtual
environment that ``scripts/setup.sh`` builds them into), else, when that is not writable, in
``~/.cache/codesign/native``.  Builds are atomic (temporary file, then rename), so concurrent
test workers never load a half-written library.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from codesign.eda.tools import ToolError, run_tool

__all__ = ["NATIVE_DIR_ENV", "build_library", "load_library", "native_dir"]

NATIVE_DIR_ENV = "CODESIGN_NATIVE_DIR"
BASE_FLAGS = ("-O3", "-ffp-contract=off", "-fPIC", "-shared", "-std=c11", "-Wall", "-Werror")
"""``-ffp-contract=off``: no fused multiply-add, so every machine rounds each product and sum
as the C source (and the numpy reference) says."""


def native_dir() -> Path:
    """The directory compiled libraries are kept in (created if missing)."""
    override = os.environ.get(NATIVE_DIR_ENV)
    candidates = [Path(override)] if override else []
    candidates += [
        Path(sys.prefix) / "share" / "codesign" / "native",
        Path.home() / ".cache" / "codesign" / "native",
    ]
    for place in candidates:
        try:
            place.mkdir(parents=True, exist_ok=True)
        except OSError:
            if override and place == candidates[0]:
                raise ToolError(
                    f"{NATIVE_DIR_ENV}={override!r} cannot be created; fix or unset it"
                ) from None
            continue
        if os.access(place, os.W_OK):
            return place
        if override and place == candidates[0]:
            raise ToolError(f"{NATIVE_DIR_ENV}={override!r} is not writable; fix or unset it")
    raise ToolError(f"no writable directory for compiled kernels; set {NATIVE_DIR_ENV} to one")


def build_library(source: Path, flags: tuple[str, ...] = ()) -> Path:
    """Compile ``source`` into a shared library unless the same build exists; return its path."""
    source = Path(source)
    text = source.read_bytes()
    all_flags = (*BASE_FLAGS, *flags)
    digest = hashlib.sha256(text + "\0".join(all_flags).encode()).hexdigest()[:16]
    target = native_dir() / f"lib{source.stem}-{digest}.so"
    if target.is_file():
        return target
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        run_tool("cc", [*all_flags, "-o", tmp, str(source), "-lm"])
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load_library(source: Path, flags: tuple[str, ...] = ()) -> ctypes.CDLL:
    """Build (if needed) and load ``source``; ctypes releases the GIL during every call."""
    return ctypes.CDLL(str(build_library(source, flags)))
