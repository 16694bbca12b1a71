"""Deterministic conversion of a MyHDL design to Verilog, with its ROM contents beside it.

Equal designs must give equal bytes, whatever else the process elaborated before, whenever it
runs and whatever its hash seed: :func:`fresh_names` resets MyHDL's process-wide instance-name
counters before an elaboration and makes MyHDL list a generator's signals in name order (it
keeps them in sets of names, whose order follows ``PYTHONHASHSEED``: the order of reset
assignments and sensitivity lists in the Verilog did too); :func:`convert` drops the file-path
and date lines of MyHDL's header and writes every :func:`codesign.hdl.rom.rom`'s contents to
``mem/rom_<hash>.hex``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from codesign.hdl.rom import write_images

__all__ = ["fresh_names", "normalise", "convert"]


class _NameOrderedSet(set):
    """A set of signal names that iterates in name order (so does the Verilog written from it)."""

    def __iter__(self):
        return iter(sorted(set.__iter__(self)))


def _name_ordered_visitor():
    """MyHDL's signal-name visitor with name-ordered sets (MyHDL has no option for this)."""
    import myhdl._instance as mi

    base = mi._SigNameVisitor
    if getattr(base, "name_ordered", False):
        return
    ordered = type(
        "NameOrderedSigNameVisitor",
        (base,),
        {
            "name_ordered": True,
            "__init__": lambda self, symdict: (
                base.__init__(self, symdict),
                setattr(self, "inputs", _NameOrderedSet()),
                setattr(self, "outputs", _NameOrderedSet()),
                setattr(self, "inouts", _NameOrderedSet()),
            )[0],
        },
    )
    mi._SigNameVisitor = ordered


def fresh_names() -> None:
    """Make the next elaboration give the same Verilog in any process: reset MyHDL's
    process-wide block-name counters (module globals with no public reset), so instance names
    do not depend on what was elaborated before, and order each generator's signals by name."""
    import myhdl._block as mb
    import myhdl._simulator as ms

    _name_ordered_visitor()
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
