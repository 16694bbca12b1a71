"""Ping-pong buffers shared by the layer units: the input loader and the buffer-bit address.

A unit that takes one image while it computes the previous one keeps two halves of its input
memory; :func:`pingpong_loader` counts the words of each image into half ``load_buf`` and holds
the half ``loaded`` until the unit ``unload``s it (docs/engine.md, hdl/dense.py).
"""

from __future__ import annotations

from myhdl import Signal, always_comb, always_seq, block, concat, intbv

__all__ = ["pingpong_loader", "buffer_address"]


@block
def pingpong_loader(
    clk,
    rst,
    in_valid,
    in_ready,
    load_buf,
    count,
    loaded,
    unload,
    unload_buf,
    *,
    words: int,
    pace: int = 0,
):
    """Counts input words (``count``, 0 … words−1) into half ``load_buf``; a full half is
    ``loaded`` until ``unload`` with ``unload_buf``; ``in_ready`` is low while the half to fill
    is still loaded.  ``pace`` > ``words``: an image's first word is taken no sooner than
    ``pace`` clocks after the previous image's first word (the rate of a slower layer further
    on, so that it never holds its producer back); smaller, no effect."""
    if pace > words:
        gap = Signal(intbv(0, min=0, max=pace))

        @always_comb
        def ready():
            in_ready.next = not loaded[load_buf] and (count != 0 or gap == 0)

        @always_seq(clk.posedge, reset=rst)
        def hold():
            if in_valid and in_ready and count == 0:
                gap.next = pace - 1
            elif gap > 0:
                gap.next = gap - 1
    else:
        hold = ()

        @always_comb
        def ready():
            in_ready.next = not loaded[load_buf]

    @always_seq(clk.posedge, reset=rst)
    def fill():
        v = intbv(0)[2:]
        v[:] = loaded
        if in_valid and in_ready:
            if count == words - 1:
                count.next = 0
                v[int(load_buf)] = 1
                load_buf.next = not load_buf
            else:
                count.next = count + 1
        if unload:
            v[int(unload_buf)] = 0
        loaded.next = v

    return ready, hold, fill


@block
def buffer_address(buf, index, addr):
    """A ping-pong memory address: the buffer bit above the word index."""

    @always_comb
    def join():
        addr.next = concat(buf, index)

    return join
