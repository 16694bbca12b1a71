"""Deterministic conversion of a MyHDL design to Verilog, with its ROM contents beside it.

Equal designs must give equal bytes, whatever else the process elaborated before and whenever
it runs: :func:`fresh_names` resets MyHDL's process-wide instance-name counters before an
elaboration, and :func:`convert` drops the file-path and date lines of MyHDL's header and writes
every :func:`codesign.hdl.rom.rom`'s contents to ``mem/rom_<hash>.hex``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from codesign.hdl.rom import write_images

__all__ = ["fresh_names", "normalise", "convert"]


def fresh_names() -> None:
    """Reset MyHDL's process-wide block-name counters so every elaboration of a design gets the
    same instance names (and so the same Verilog), however many were elaborated before.  MyHDL
    keeps these in module globals with no public reset."""
    import myhdl._block as mb
    import myhdl._simulator as ms

    mb._name_set.clear()
    mb._inst_name_set.clear()
    for b in ms._blocks:
        b.calls = 0


def normalise(text: str) -> str:
    """Drop MyHDL's file-path and date header lines so equal designs give equal bytes."""
    return re.sub(r"^// (File|Date):.*\n", "", text, flags=re.M)


def convert(inst, path: str | Path, name: str, *, quiet: bool = False, **kw) -> list[str]:
    """``inst.convert(hdl="Verilog", path=path, name=name, **kw)``, headers normalised, then each
    ROM's contents to ``path/mem/rom_<hash>.hex``; ``quiet`` silences MyHDL's conversion
    warnings.  Returns the memory files written, relative to ``path``, sorted."""
    path = Path(path)
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        inst.convert(hdl="Verilog", path=str(path), name=name, **kw)
    for f in (path / f"{name}.v", path / f"tb_{name}.v"):
        if f.is_file():
            f.write_text(normalise(f.read_text()))
    return write_images(inst, path)
