"""Read-only memories whose contents live in ``$readmemh`` files beside the Verilog.

:func:`rom` is a registered ROM, block RAM unless told ``style="logic"`` (LUTs: what
:func:`rom_style` chooses for one at most :data:`LUT_ROM_DEPTH` deep, one LUT6 per bit where a
block RAM would take a RAMB18 or two); its Verilog (``verilog_code``, because MyHDL can neither
attach the ``rom_style`` attribute nor load a memory from a file) reads
``mem/rom_<hash of the contents>.hex``, relative to the directory the tools run in (yosys also
looks beside the source file).  A file keeps every tool fast: an ``initial`` block of element
assignments costs yosys minutes for the dense layers' tens of thousands of weights, a ``case`` ROM
costs Verilator as long.  :func:`write_images` writes the files of all a design's ROMs
(:func:`codesign.hdl.convert.convert` calls it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from myhdl import always, block

from codesign.hdl.ram import bram18

__all__ = [
    "rom",
    "roms",
    "write_images",
    "image_name",
    "rom_style",
    "rom_bram18",
    "rom_luts",
    "MEMORY_DIR",
    "LUT_ROM_DEPTH",
]

MEMORY_DIR = "mem"
LUT_ROM_DEPTH = 64  # a LUT6 holds 64 words of one bit


def rom_style(depth: int, width: int) -> str:
    """What a ``depth`` × ``width`` ROM is built from: ``"logic"`` (one LUT6 per bit) when it
    is at most :data:`LUT_ROM_DEPTH` deep, else ``"block"`` RAM."""
    return "logic" if 0 < depth <= LUT_ROM_DEPTH else "block"


def rom_bram18(depth: int, width: int) -> int:
    """RAMB18 of a :func:`rom` of :func:`rom_style` (its cheapest aspect ratio if block RAM)."""
    return 0 if rom_style(depth, width) == "logic" else bram18(depth, width)


def rom_luts(depth: int, width: int) -> int:
    """LUTs of a :func:`rom` of :func:`rom_style`: one LUT6 per bit if logic, else none."""
    return width if rom_style(depth, width) == "logic" else 0


def image_name(words, width: int) -> str:
    """``mem/rom_<hash>.hex``: named by its contents, so equal designs name their files alike
    (and equal ROMs share one)."""
    h = hashlib.sha256(f"{width}:".encode() + ",".join(map(str, map(int, words))).encode())
    return f"{MEMORY_DIR}/rom_{h.hexdigest()[:16]}.hex"


@block
def rom(clk, slot, word, *, words: tuple, style: str = "block"):
    """``word`` ← ``words[slot]``, registered (0 past the end of ``words``); ``style``: the
    ``rom_style`` yosys and Vivado build it with, ``"block"`` or ``"logic"``."""
    if style not in ("block", "logic"):
        raise ValueError(f"rom style must be 'block' or 'logic', got {style!r}")
    msb, last = len(word) - 1, len(words) - 1  # noqa: F841 (substituted into verilog_code)
    file = image_name(words, len(word))  # noqa: F841

    @always(clk.posedge)
    def fetch():
        if slot < len(words):
            word.next = words[slot]
        else:
            word.next = 0

    word.driven = "reg"
    slot.read = True  # by verilog_code
    return fetch


rom.verilog_code = """generate if (1) begin: ${word}_rom
    (* rom_style = "$style" *) reg [$msb:0] contents [0:$last];
    initial $$readmemh("$file", contents);
    always @(posedge $clk) $word <= contents[$slot];
end endgenerate"""


def roms(inst):
    """Every :func:`rom` block in the design tree under ``inst``."""
    if getattr(inst, "func", None) is rom.func:
        yield inst
    for sub in getattr(inst, "subs", ()):
        yield from roms(sub)


def write_images(inst, path: str | Path) -> list[str]:
    """Each ROM's contents under ``inst`` to ``path/mem/rom_<hash>.hex`` (one word per line, hex
    digits of its width).  Returns the memory files written, relative to ``path``, sorted."""
    files = set()
    for r in roms(inst):
        width = len(r.kwargs["word"] if "word" in r.kwargs else r.args[2])
        words = r.kwargs["words"]
        rel = image_name(words, width)
        f = Path(path) / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("".join(f"{int(w):0{-(-width // 4)}x}\n" for w in words))
        files.add(rel)
    return sorted(files)
