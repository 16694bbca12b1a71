"""The simple dual-port RAM of the library, and what yosys builds it from.

:func:`sdp_ram` is every read-write memory of the accelerators: one write port, one read port,
registered read (optionally enabled).  :func:`bram18` and :func:`lutram` are its resource rule,
as the cost model uses it.
"""

from __future__ import annotations

import math

from myhdl import Signal, always, block, intbv

__all__ = ["sdp_ram", "bram18", "lutram", "ram_bram18", "RAMB18_SHAPES"]


@block
def sdp_ram(clk, we, waddr, wdata, raddr, rdata, *, ren=None, depth: int | None = None):
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
