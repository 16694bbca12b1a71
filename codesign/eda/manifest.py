"""The one reader of a generated RTL directory's ``manifest.json`` (docs/rtl-format.md).

``codesign generate`` writes the manifest; synthesis, export and co-simulation read it here, so
every one of them accepts and refuses the same directories with the same messages.  A file the
manifest names must be a relative path inside the directory (safe to put unquoted into Tcl, bash
and YAML) and must exist; the manifest's ``sha256`` table (file → hash, written by ``codesign
generate``) must match every file it lists, so an edited, truncated or swapped file (a ROM image,
the Verilog) is named before any tool runs.  Three kinds are known: a whole ``accelerator``
(format version 2 or 3, an AXI4-Stream core with its own test bench), a single ``layer engine``
(format version 1) and a ``trainer`` (an on-chip training core, docs/mlp-trainer.md, which
carries its own resource ``estimate``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from codesign.artifacts import sha256_file
from codesign.errors import CodesignError

__all__ = [
    "Manifest",
    "ManifestError",
    "read_manifest",
    "file_hashes",
    "MANIFEST",
    "FORMAT",
    "ACCELERATOR",
    "LAYER_ENGINE",
    "TRAINER",
]

MANIFEST = "manifest.json"
FORMAT = "codesign-rtl"
ACCELERATOR = "accelerator"
LAYER_ENGINE = "layer engine"
TRAINER = "trainer"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIX = "re-run `codesign generate`"


class ManifestError(CodesignError, ValueError):
    """An RTL directory whose manifest cannot be used; names the file, the field and the fix."""


@dataclass(frozen=True)
class Manifest:
    """A checked manifest: ``data`` as written, plus the fields every reader needs."""

    dir: Path
    path: Path
    raw: bytes
    data: dict
    kind: str
    top: str
    files: list
    memory_images: list
    error: type = field(default=ManifestError, repr=False)

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    def testbench(self) -> tuple[str, str]:
        """(file, top module) of an accelerator's own test bench, checked."""
        tb = self.data.get("testbench")
        top = tb.get("top") if isinstance(tb, dict) else None
        if not isinstance(top, str) or not _IDENT.fullmatch(top):
            raise self.error(f"{self.path}: field 'testbench' must be {{file, top}}, got {tb!r}")
        return _relpath(tb.get("file"), self.path, "testbench.file", self.error), tb["top"]

    def stream(self) -> dict:
        """The accelerator's AXI4-Stream description, checked: clock port, image shape and
        8-bit pixels (what the test bench's ``pixels.hex`` holds)."""
        err, mp = self.error, self.path
        for key in ("clock", "s_axis", "m_axis", "cycle_model", "board"):
            if not isinstance(self.data.get(key, {}), dict):
                raise err(f"{mp}: field '{key}' must be an object, got {self.data[key]!r}")
        clock = self.data.get("clock", {}).get("port", "aclk")
        if not isinstance(clock, str) or not _IDENT.fullmatch(clock):
            raise err(f"{mp}: field 'clock.port' must be a port name, got {clock!r}")
        s_axis = self.data.get("s_axis", {})
        image = s_axis.get("image")
        if not (
            isinstance(image, list)
            and len(image) == 3
            and all(isinstance(v, int) and v > 0 for v in image)
        ):
            raise err(f"{mp}: field 's_axis.image' must be [C, H, W], got {image!r}")
        if s_axis.get("pixel_bits", 8) != 8:
            raise err(
                f"{mp}: field 's_axis.pixel_bits' is {s_axis['pixel_bits']}; the bench's "
                f"pixels.hex holds 8-bit pixels"
            )
        return {"clock": clock, "image": image, "s_axis": s_axis}


def _relpath(value, mp: Path, where: str, err: type) -> str:
    if not isinstance(value, str) or not value:
        raise err(f"{mp}: field '{where}' must be a file name, got {value!r}")
    parts = value.split("/")
    if (
        value.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or not all(_NAME.fullmatch(p) for p in parts)
    ):
        raise err(
            f"{mp}: field '{where}' is '{value}'; expected a relative path inside the RTL "
            f"directory of letters, digits, '_', '.', '-' and '/'; {_FIX}"
        )
    return value


def _kind(m: dict, mp: Path, err: type) -> str:
    if m.get("kind") in (ACCELERATOR, TRAINER):
        return m["kind"]
    if m.get("format_version") == 1 and "layer" in m:
        return LAYER_ENGINE
    raise err(
        f'{mp}: field \'kind\' is {m.get("kind")!r}, expected "accelerator" or "trainer" (or '
        f"a layer engine's manifest, format_version 1 with 'layer'); {_FIX}"
    )


def read_manifest(
    rtl_dir: str | Path, want: str | None = None, *, error: type = ManifestError
) -> Manifest:
    """The checked manifest of ``rtl_dir``; ``want``: the kind the caller needs (None: any).
    Problems raise ``error`` (a :class:`ManifestError` by default) naming file, field and fix."""
    rtl = Path(rtl_dir)
    mp = rtl / MANIFEST
    if not rtl.is_dir():
        raise error(f"{rtl}: not a directory; pass the directory `codesign generate --out` wrote")
    if not mp.is_file():
        raise error(
            f"{mp}: missing (file not found); {rtl} is not a generated RTL directory — pass "
            f"the directory `codesign generate --out` wrote"
        )
    raw = mp.read_bytes()
    try:
        m = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise error(f"{mp}: not valid JSON ({e}); {_FIX}") from None
    if not isinstance(m, dict):
        raise error(f"{mp}: expected a JSON object; {_FIX}")
    kind = _kind(m, mp, error)
    if want is not None and kind != want:
        raise error(
            f"{mp}: a {kind} (layer '{m.get('layer')}'), but this command needs a whole "
            f"accelerator (`codesign generate` without --layer)"
            if want == ACCELERATOR
            else f"{mp}: a {kind}, but this command needs a {want}"
        )
    top = m.get("top")
    if not isinstance(top, str) or not _IDENT.fullmatch(top):
        raise error(f"{mp}: field 'top' must be a Verilog module name, got {top!r}")
    named = {}
    for key in ("files", "memory_images"):
        names = m.get(key, [] if key == "memory_images" else None) or []
        if not isinstance(names, list) or (key == "files" and not names):
            raise error(f"{mp}: field '{key}' must list the {key.replace('_', ' ')}, got {names!r}")
        named[key] = [_relpath(x, mp, f"{key}[{i}]", error) for i, x in enumerate(names)]
        for x in named[key]:
            if not (rtl / x).is_file():
                raise error(
                    f"{rtl / x}: listed in {MANIFEST} (field '{key}' names '{x}') but missing; "
                    f"{_FIX}"
                )
    _check_hashes(m, rtl, mp, error)
    return Manifest(rtl, mp, raw, m, kind, top, named["files"], named["memory_images"], error)


def file_hashes(rtl_dir: str | Path, names) -> dict:
    """``{name: sha256}`` of the files ``names`` (relative to ``rtl_dir``): the manifest's
    ``sha256`` table."""
    return {n: sha256_file(Path(rtl_dir) / n) for n in sorted(names)}


def _check_hashes(m: dict, rtl: Path, mp: Path, error: type) -> None:
    table = m.get("sha256")
    if table is None:
        if m.get("kind") == ACCELERATOR and m.get("format_version", 0) >= 3:
            raise error(f"{mp}: field 'sha256' is missing (format 3 always has it); {_FIX}")
        return
    if not isinstance(table, dict):
        raise error(f"{mp}: field 'sha256' must map file names to hashes, got {table!r}")
    for name, want in sorted(table.items()):
        f = rtl / _relpath(name, mp, f"sha256.{name}", error)
        if not f.is_file():
            raise error(f"{f}: listed in {MANIFEST} (field 'sha256') but missing; {_FIX}")
        if sha256_file(f) != want:
            raise error(
                f"{f}: changed since `codesign generate` wrote it (sha256 differs from "
                f"{MANIFEST}); {_FIX}"
            )
