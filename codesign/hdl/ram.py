"""The simple dual-port RAM of the library, and what yosys builds it from.

:func:`sdp_ram` is every read-write memory of the accelerators: one write port, one read port with
a registered (optionally enabled) read.  A memory of two parts (a complex word) is one
:func:`sdp_ram` of the concatenated word, or one per part.

Its resource rule, for the cost model: :func:`bram18` is the number of RAMB18 a depth × width
block memory takes at its cheapest aspect ratio (a RAMB36 counts two); :func:`ram_style` is what
``yosys synth_xilinx -family xc7`` builds an :func:`sdp_ram` from — ``"block"`` RAM,
``"distributed"`` (LUT) RAM or ``"logic"`` (flip-flops) — and :func:`ram_bram18` the RAMB18 it
takes (0 unless block RAM).  :func:`~codesign.hdl.rom.rom` memories are block RAM whatever their
size (``rom_style = "block"``): they cost :func:`bram18`.

The choice is yosys' own (``memory_libmap``, Yosys 0.23, libraries ``lutrams_xc5v.txt`` and
``brams_xc4v.txt``): every candidate cell type gets a cost and the cheapest wins.  A cell costs 129
(RAMB18), 257 (RAMB36) or 8 (a LUT RAM: RAM32M = 32 × 6, RAM64M = 64 × 3, RAM128X1D = 128 × 1 …;
7/8 of it in proportion to the bits used); a memory deeper than the cell adds ½ per bit of read
multiplexer for each further slice of the cell's depth and ½ per slice of write decoder;
flip-flops cost 1 per bit.  :func:`ram_style` evaluates that cost model, and matched every one of
120 yosys runs of :func:`sdp_ram` (``synth_xilinx -family xc7 -noiopad -noclkbuf``; cells
RAMB18E1/RAMB36E1 against RAM32M/RAM64M/RAM128X1D; read enable or not made no difference),
widths 1 … 200 and depths 1 … 16384.  The measured facts:

* up to 64 words, a RAM is LUT RAM at every width (64 × 82: 28 RAM64M; 64 × 200: 67 RAM64M), so
  small accumulators never take block RAM; 1 word (and 4 × 1) is flip-flops;
* 65 … 128 words: LUT RAM unless the width fills block RAM well — 65 × 25 is 15 RAM32M but
  65 × 26 one RAMB18, 65 × 50 LUT RAM but 65 × 51 one RAMB36, 65 × 77 LUT RAM but 65 × 78 three
  RAMB18; 128 × 21 is 14 RAM64M but 128 × 22 one RAMB18, 128 × 43 LUT RAM but 128 × 44 one
  RAMB36 (so the FFT transpose halves, 128 × 24, and the spectrum bank, 128 × 48, are block RAM;
  a 120 × 39 dense result buffer is 26 RAM64M);
* deeper, the widest LUT RAM narrows: 14 bits at 129 … 192 words (129 × 15 is one RAMB18),
  10 at 256, 4 at 512, 2 at 1024, none from 2048 (2048 × 1 is one RAMB18);
* block RAM comes at :func:`bram18`'s count — RAMB36 where one replaces two RAMB18 (128 × 48,
  1568 × 16, 1024 × 36 one RAMB36; 128 × 82 and 256 × 86 three RAMB18; 1024 × 48 three RAMB18).
  Only for memories of thousands of words and tens of bits does the model expect yosys to spend a
  RAMB18 or two more to save read multiplexers (15360 × 31: 31, not 30).
"""

from __future__ import annotations

import math

from myhdl import Signal, always, block, intbv

__all__ = ["sdp_ram", "bram18", "ram_style", "ram_bram18", "RAMB18_SHAPES"]

# depth × width of a RAMB18: simple dual port 512 × 36, true dual port 1024 × 18 … 16384 × 1
RAMB18_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))
RAMB36_SHAPES = tuple((2 * d, w) for d, w in RAMB18_SHAPES[1:]) + ((512, 72), (1024, 36))
# yosys' candidates in its order (a tie goes to the first: flip-flops, then LUT RAM): (kind, cost
# per cell, the part of it in proportion to the bits used, RAMB18 per cell, cell shapes)
_CELLS = (
    ("distributed", 8, 8, 0, ((32, 4), (64, 2), (128, 1))),  # dual port: RAM32X1D … RAM128X1D
    ("distributed", 7, 7, 0, ((32, 2), (64, 1))),  # quad port, one read port used
    ("distributed", 8, 7, 0, ((32, 6), (64, 3))),  # simple dual port: RAM32M, RAM64M
    ("block", 129, 0, 1, RAMB18_SHAPES),
    ("block", 257, 0, 2, RAMB36_SHAPES),
)
# the registered read (LUT RAM: an output register; block RAM: its own), scored alike: 1 × 2
_READ_REGISTER = 2.0


@block
def sdp_ram(clk, we, waddr, wdata, raddr, rdata, ren=None, *, depth: int | None = None):
    """Simple dual-port RAM of ``depth`` words (default ``raddr.max``), registered read.

    Each clock: ``mem[waddr] ← wdata`` if ``we``; ``rdata ← mem[raddr]`` (the word before this
    clock's write) if ``ren`` — every clock when ``ren`` is None.  A word holds ``rdata``'s range:
    a write value of a wider signal must fit it when written."""
    depth = raddr.max if depth is None else depth
    mem = [Signal(intbv(0, min=rdata.min, max=rdata.max)) for _ in range(depth)]

    if ren is None:

        @always(clk.posedge)
        def access():
            if we:
                mem[waddr].next = wdata
            rdata.next = mem[raddr]
    else:

        @always(clk.posedge)
        def access():
            if we:
                mem[waddr].next = wdata
            if ren:
                rdata.next = mem[raddr]

    return access


def bram18(depth: int, width: int) -> int:
    """RAMB18 primitives for a depth × width block memory (cheapest aspect ratio; 0 for an empty
    one)."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in RAMB18_SHAPES)


def _cost(depth: int, width: int, cost: int, scaled: int, shape: tuple[int, int]):
    """yosys' cost of building the memory from cells of one shape, and the number of cells."""
    d, w = shape
    slices = math.ceil(depth / d)
    cells = slices * math.ceil(width / w)
    c = float((cost - scaled) * cells)  # in yosys' order of operations
    c += scaled * slices * width / w
    c += (slices - 1) * width * 0.5  # read multiplexer
    c += (slices if slices > 1 else 0) * 0.5  # write decoder
    return c + _READ_REGISTER, cells


def _mapping(depth: int, width: int) -> tuple[str, int]:
    """yosys' cheapest mapping of a depth × width :func:`sdp_ram`: its kind and RAMB18."""
    best, kind, ramb18 = float(depth * width), "logic", 0
    for k, cost, scaled, per_cell, shapes in _CELLS:
        for shape in shapes:
            c, cells = _cost(depth, width, cost, scaled, shape)
            if c < best:
                best, kind, ramb18 = c, k, cells * per_cell
    return kind, ramb18


def ram_style(depth: int, width: int) -> str:
    """What yosys synth_xilinx builds a depth × width :func:`sdp_ram` from: ``"block"``,
    ``"distributed"`` (LUT RAM) or ``"logic"`` (flip-flops) — the cheapest by its cost model
    (flip-flops: 1 per bit)."""
    return _mapping(depth, width)[0] if depth > 0 and width > 0 else "logic"


def ram_bram18(depth: int, width: int) -> int:
    """RAMB18 of a depth × width :func:`sdp_ram` as yosys builds it (a RAMB36 counts two; 0
    unless block RAM): :func:`bram18`'s count but where yosys spends more to save multiplexers."""
    return _mapping(depth, width)[1] if depth > 0 and width > 0 else 0
