"""The ping-pong loader (codesign.hdl.buffers): words counted into alternate halves, a loaded
half holding ``in_ready`` low until unloaded, and the pace — an image's first word no sooner
than ``pace`` clocks after the previous one's — in MyHDL and, converted, in Icarus."""

import pytest
from myhdl import ResetSignal, Signal, StopSimulation, always_seq, block, instance, intbv

from codesign.hdl import sim
from codesign.hdl.buffers import pingpong_loader
from codesign.hdl.signals import uint_signal

WORDS = 12


def _signals() -> dict:
    return {
        "clk": Signal(bool(0)),
        "rst": ResetSignal(0, active=1, isasync=False),
        "in_valid": Signal(bool(0)),
        "in_ready": Signal(bool(0)),
        "load_buf": Signal(bool(0)),
        "count": uint_signal(WORDS),
        "loaded": Signal(intbv(0)[2:]),
        "unload": Signal(bool(0)),
        "unload_buf": Signal(bool(0)),
    }


def _first_words(engine: str, pace: int, hold: int, tmp_path) -> list[int]:
    """Edges at which each image's first word is taken: the source always valid; each loaded
    half unloaded ``hold`` clocks after it fills (a consumer that takes that long)."""
    s = _signals()

    @block
    def consumer(clk, rst, loaded, unload, unload_buf):
        ages = [Signal(intbv(0, min=0, max=hold + 2)) for _ in range(2)]

        @always_seq(clk.posedge, reset=rst)
        def seq():
            unload.next = False
            for b in range(2):
                if loaded[b] and not (unload and unload_buf == b):
                    if ages[b] == hold:
                        unload.next = True
                        unload_buf.next = b
                        ages[b].next = 0
                    else:
                        ages[b].next = ages[b] + 1

        return seq

    dut = sim.device(
        engine,
        lambda **k: pingpong_loader(**k, words=WORDS, pace=pace),
        s,
        tmp_path,
        f"loader_p{pace}",
    )
    firsts: list[int] = []

    @instance
    def bench():
        s["rst"].next = 1
        yield s["clk"].posedge
        s["rst"].next = 0
        s["in_valid"].next = 1
        edge = 0
        while len(firsts) < 5:
            yield s["clk"].negedge  # mid-clock: this clock's values settled
            taken = bool(s["in_ready"]) and int(s["count"]) == 0
            yield s["clk"].posedge
            edge += 1
            if taken:
                firsts.append(edge)
        raise StopSimulation

    sim.run(
        dut,
        consumer(s["clk"], s["rst"], s["loaded"], s["unload"], s["unload_buf"]),
        sim.clock(s["clk"]),
        bench,
    )
    return firsts


@pytest.mark.parametrize("engine", sim.ENGINES)
@pytest.mark.parametrize(
    "pace, hold, spacing",
    [
        (0, 1, WORDS),  # images back to back
        (WORDS, 1, WORDS),  # a pace of one image's words changes nothing
        (30, 1, 30),  # paced
        (30, 50, None),  # a slow consumer, slower than the pace: its rate, not the pace
    ],
)
def test_images_are_taken_at_the_pace(engine, pace, hold, spacing, tmp_path):
    firsts = _first_words(engine, pace, hold, tmp_path)
    gaps = [b - a for a, b in zip(firsts, firsts[1:])]
    if spacing is not None:
        assert gaps == [spacing] * 4, firsts
    else:
        assert min(gaps) >= 30 and gaps[-1] > 30, firsts
