"""Read-out and inverse-FFT stage: every output channel's N×N tile equals ``irfft2_fixed`` of its
accumulated half spectrum (zero for groups without non-zeros), tagged with (o, ty, tx), at the
documented clocks.  The Hadamard read-out port is played by the test bench with its documented
latency; the whole engine test runs the real one."""

import numpy as np
import pytest
from myhdl import Signal, StopSimulation, always, instance, intbv

from codesign.hdl import sim
from codesign.hdl.signals import format_signal, sync_reset
from codesign.spectral.fixedpoint import FixedPointConfig, OverflowCounter, irfft2_fixed
from codesign.spectral.hdl.inverse import inverse_stage, inverse_stage_timing

CFG = FixedPointConfig()
N, F, RL = 8, 40, 5


def _plan(O, P, seed):
    rng = np.random.default_rng(seed)
    pe_of_group = rng.integers(0, P, (O, F))
    acc_addr = np.zeros((O, F), dtype=np.int64)
    for p in range(P):
        idx = np.flatnonzero(pe_of_group.ravel() == p)
        acc_addr.ravel()[idx] = np.arange(len(idx))
    acc_addr.ravel()[rng.choice(O * F, 5, replace=False)] = -1
    lim = CFG.product.max
    acc = {
        (p, b, a): (int(rng.integers(-lim, lim)), int(rng.integers(-lim, lim)))
        for p in range(P)
        for b in range(2)
        for a in range(O * F)
    }
    return pe_of_group, acc_addr, acc


def _signals(O, P):
    return dict(
        clk=Signal(bool(0)),
        rst=sync_reset(),
        start=Signal(bool(0)),
        start_buf=Signal(bool(0)),
        ty=Signal(intbv(0, min=0, max=8)),
        tx=Signal(intbv(0, min=0, max=8)),
        rd_en=Signal(bool(0)),
        rd_pe=Signal(intbv(0, min=0, max=max(P, 2))),
        rd_addr=Signal(intbv(0, min=0, max=O * F)),
        rd_buf=Signal(bool(0)),
        rd_re=format_signal(CFG.product),
        rd_im=format_signal(CFG.product),
        out_valid=Signal(bool(0)),
        out_o=Signal(intbv(0, min=0, max=max(O, 2))),
        out_ty=Signal(intbv(0, min=0, max=8)),
        out_tx=Signal(intbv(0, min=0, max=8)),
        out_n=Signal(intbv(0, min=0, max=N * N)),
        out_x=format_signal(CFG.product),
        reads_done=Signal(bool(0)),
        done=Signal(bool(0)),
        busy=Signal(bool(0)),
    )


def _simulate(O, P, tiles, seed):
    pe_of_group, acc_addr, acc = _plan(O, P, seed)
    sig = _signals(O, P)
    dut = inverse_stage(
        **sig, O=O, N=N, pe_of_group=pe_of_group, acc_addr=acc_addr, readout_latency=RL, cfg=CFG
    )
    clk = sig["clk"]
    pipe = [None] * (RL - 1)
    out, events, clock = {}, [], [0]

    @always(clk.posedge)
    def readout():
        pipe.insert(
            0,
            acc[(int(sig["rd_pe"]), int(sig["rd_buf"]), int(sig["rd_addr"]))]
            if sig["rd_en"]
            else None,
        )
        v = pipe.pop()
        if v is not None:
            sig["rd_re"].next, sig["rd_im"].next = v

    @always(clk.posedge)
    def monitor():
        clock[0] += 1
        if sig["out_valid"]:
            key = (int(sig["out_o"]), int(sig["out_ty"]), int(sig["out_tx"]))
            out.setdefault(key, []).append((int(sig["out_n"]), int(sig["out_x"])))
        for name in ("start", "reads_done", "done"):
            if sig[name]:
                events.append((name, clock[0]))

    @instance
    def stimulus():
        sig["rst"].next = 1
        yield clk.negedge
        sig["rst"].next = 0
        for ty, tx, buf in tiles:
            yield clk.negedge
            sig["ty"].next, sig["tx"].next, sig["start_buf"].next = ty, tx, buf
            sig["start"].next = 1
            yield clk.negedge
            sig["start"].next = 0
            while not sig["done"]:
                yield clk.negedge
        for _ in range(4):
            yield clk.negedge
        raise StopSimulation

    sim.run(dut, sim.clock(clk), readout, monitor, stimulus)
    return pe_of_group, acc_addr, acc, out, events


@pytest.mark.parametrize("O, P", [(3, 2), (6, 1)])
def test_inverse_stage_matches_irfft2_fixed(O, P):
    tiles = [(2, 5, 1), (0, 1, 0)]
    pe_of_group, acc_addr, acc, out, events = sim.in_thread(_simulate, O, P, tiles, O)
    assert sorted(out) == sorted((o, ty, tx) for ty, tx, _ in tiles for o in range(O))
    for ty, tx, buf in tiles:
        for o in range(O):
            re = np.zeros(F, dtype=np.int64)
            im = np.zeros(F, dtype=np.int64)
            for f in range(F):
                if acc_addr[o, f] >= 0:
                    re[f], im[f] = acc[(pe_of_group[o, f], buf, acc_addr[o, f])]
            want = irfft2_fixed(re.reshape(N, -1), im.reshape(N, -1), CFG, OverflowCounter())
            assert out[(o, ty, tx)] == list(enumerate(want.ravel().tolist()))
    timing = inverse_stage_timing(O, N, RL, CFG)
    starts = [c for n, c in events if n == "start"]
    for name in ("reads_done", "done"):
        seen = [c for n, c in events if n == name]
        assert [s - b for s, b in zip(seen, starts)] == [timing[name]] * len(tiles)


def test_inverse_stage_converts_and_lints(tmp_path):
    pe_of_group, acc_addr, _ = _plan(4, 2, 0)
    inst = lambda: inverse_stage(  # noqa: E731
        **_signals(4, 2),
        O=4,
        N=N,
        pe_of_group=pe_of_group,
        acc_addr=acc_addr,
        readout_latency=RL,
        cfg=CFG,
    )
    source = sim.in_thread(lambda: sim.convert(inst(), tmp_path, "inverse"))
    assert sim.lint([source], "inverse", tmp_path) == []
