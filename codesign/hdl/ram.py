"""The simple dual-port RAM of the library, and what yosys builds it from.

:func:`sdp_ram` is every read-write memory of the accelerators: one write port, one read port
with a registered (optionally enabled) read.  A memory of two parts is one :func:`sdp_ram` of the
concatenated word (hdl/hadamard.py's complex banks and accumulators) or one per part (the FFT
transpose buffers).

Its resource rule, for the cost model: :func:`bram18` is the number of RAMB18 a depth × width
block memory takes at its cheapest aspect ratio (a RAMB36 counts two; what a
:func:`~codesign.hdl.rom.rom`, block RAM at any size, costs); :func:`ram_style` is what
``yosys synth_xilinx -family xc7`` builds a depth × width :func:`sdp_ram` from — ``"block"`` RAM,
``"distributed"`` (LUT) RAM or ``"logic"`` (flip-flops) — and :func:`ram_bram18` the RAMB18 that
takes (0 unless block RAM).

The choice is yosys' own (``memory_libmap`` of Yosys 0.23 with ``lutrams_xc5v.txt`` and
``brams_xc4v.txt``): each candidate cell type gets a cost, the cheapest wins, a tie goes to
flip-flops, then LUT RAM.  A cell costs 129 (RAMB18), 257 (RAMB36) or 7 … 8 (LUT RAM: RAM32M
32 × 6 and RAM64M 64 × 3 as simple dual port, RAM32X1D … RAM128X1D as dual port; nearly all of
it in proportion to the bits used); a memory deeper than the cell adds ½ per bit of read
multiplexer for each further slice of the cell's depth and ½ per slice for the write decoder;
the registered read adds 2 to every RAM; flip-flops cost 1 per bit.  :func:`ram_style` and
:func:`ram_bram18` evaluate this model; they agree with all 124 yosys runs of :func:`sdp_ram`
made to calibrate them (``synth_xilinx -family xc7 -noiopad -noclkbuf``, widths 1 … 200,
depths 1 … 16384 and 15360 × 31; with or without read enable: no difference) and with the kind
of every one of the 43 RAMs of the default LeNet accelerator.  The measured facts:

* up to 64 words a RAM is LUT RAM at any width (64 × 82: 28 RAM64M; 64 × 200: 67 RAM64M), but
  for the tiniest: flip-flops (1 × 8, 4 × 1);
* 65 … 128 words: LUT RAM unless the width fills block RAM well.  65 … 96 words: block RAM for
  widths 26 … 36, 51 … 72 and from 78 (65 × 25: 15 RAM32M, 65 × 26: one RAMB18; 65 × 50 LUT RAM,
  65 × 51 one RAMB36; 65 × 77 LUT RAM, 65 × 78 three RAMB18); 97 … 128 words: widths 22 … 36
  and from 44 (128 × 21: 14 RAM64M, 128 × 22: one RAMB18; 128 × 40 and 128 × 43 LUT RAM,
  128 × 44 one RAMB36).  So the FFT transpose halves (128 × 24) and a 128 × 48 spectrum bank
  are block RAM, a 120 × 39 or 128 × 40 dense result buffer LUT RAM;
* deeper, LUT RAM only up to a width that narrows with depth: 14 bits at 129 … 192 words
  (129 × 14: 15 RAM32M, 129 × 15: one RAMB18; 168 × 39: one RAMB36), 10 at 193 … 256 (256 × 11:
  one RAMB18), 4 at 512 (512 × 5: one RAMB18), 2 at 1024, none from 2048 (2048 × 1: one RAMB18);
* block RAM takes :func:`bram18`'s count, a RAMB36 wherever one replaces two RAMB18 (128 × 48,
  168 × 39, 1568 × 16, 1024 × 36, 600 × 36, 3000 × 9: one RAMB36; 128 × 82, 256 × 86 and
  1024 × 48: three RAMB18), except where yosys spends more to save read multiplexers, in
  memories of thousands of words and tens of bits: 15360 × 31 takes 31 RAMB18, not 30.
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
