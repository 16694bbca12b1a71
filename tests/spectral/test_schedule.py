"""Tests of the PE/bank scheduler: hand-worked optima, properties on random layers, the checker."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign.spectral.schedule import (
    Schedule,
    assign_banks,
    assign_pes,
    bank_addresses,
    check_schedule,
    cyclic_bank_map,
    lower_bound,
    nonzeros_from_mask,
    schedule_layer,
    utilisation,
)


def run(nz, peg, bo, P, B, ports=1, latency=1, forwarding=False):
    nz = np.asarray(nz)
    s = schedule_layer(nz, peg, bo, P=P, B=B, ports=ports, latency=latency, forwarding=forwarding)
    errs = check_schedule(
        nz, s, peg, bo, P=P, B=B, ports=ports, latency=latency, forwarding=forwarding
    )
    assert errs == [], errs
    return s


def with_program(s: Schedule, cycle, pe=None) -> Schedule:
    """A copy of s with new clocks (and PEs), its program rebuilt to match."""
    cycle = np.asarray(cycle)
    pe = s.pe if pe is None else np.asarray(pe)
    cycles = int(cycle.max()) + 1
    prog = np.full((s.program.shape[0], cycles), -1)
    prog[pe, cycle] = np.arange(len(cycle))
    return replace(s, cycle=cycle, pe=pe, cycles=cycles, program=prog)


# ----------------------------------------------------------------------------- hand-worked cases


def test_two_pes_two_banks_optimum():
    # PE o owns output channel o; bank = c.  Each PE has 2 MACs, each bank 2 reads -> 2 clocks.
    nz = [(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 1, 1)]
    peg = np.array([[0, 0], [1, 1]])
    bo = np.array([[0, 0], [1, 1]])
    lb = lower_bound(nz, peg, bo, P=2, B=2)
    assert (lb["pe_bound"], lb["bank_bound"], lb["konig"]) == (2, 2, 2)
    s = run(nz, peg, bo, P=2, B=2)
    assert s.cycles == 2 and s.stall_cycles == 0
    assert s.program.shape == (2, 2) and (s.program >= 0).all()  # fully packed
    # in each clock the two PEs read different banks
    banks = bo[np.asarray(nz)[:, 1], np.asarray(nz)[:, 2]]
    for t in range(2):
        assert len(set(banks[s.cycle == t])) == 2


def test_bank_is_the_bottleneck_and_ports_halve_it():
    # 4 PEs each with one MAC, all reading addresses of bank 0.
    nz = [(o, o, 0) for o in range(4)]
    peg = np.arange(4)[:, None]
    bo = np.zeros((4, 1), int)
    lb = lower_bound(nz, peg, bo, P=4, B=2)
    assert (lb["pe_bound"], lb["bank_bound"]) == (1, 4)
    s = run(nz, peg, bo, P=4, B=2)
    assert s.cycles == 4 and sorted(s.cycle) == [0, 1, 2, 3]
    s2 = run(nz, peg, bo, P=4, B=2, ports=2)
    assert s2.cycles == 2 and np.bincount(s2.cycle).tolist() == [2, 2]
    assert utilisation(4, 4, s2.cycles) == 0.5


def test_hazard_needs_bubbles_and_forwarding_removes_them():
    # one group (o=0, f=0) with 3 non-zeros on one PE, each from its own bank
    nz = [(0, 0, 0), (0, 1, 0), (0, 2, 0)]
    peg = np.zeros((1, 1), int)
    bo = np.arange(3)[:, None]
    lb = lower_bound(nz, peg, bo, P=1, B=3, latency=4)
    assert (lb["konig"], lb["hazard_bound"], lb["bound"]) == (3, 9, 9)
    s = run(nz, peg, bo, P=1, B=3, latency=4)
    assert s.cycles == 9 and s.stall_cycles == 6 and s.konig == 3
    assert sorted(s.cycle) == [0, 4, 8]
    assert (s.program[0] >= 0).sum() == 3 and s.program.shape == (1, 9)
    f = run(nz, peg, bo, P=1, B=3, latency=4, forwarding=True)
    assert f.cycles == 3 and f.stall_cycles == 0
    assert lower_bound(nz, peg, bo, P=1, B=3, latency=4, forwarding=True)["hazard_bound"] == 0


def test_two_groups_interleave_without_bubbles():
    # two groups of 3 on one PE, latency 2: ABABAB is optimal and needs no bubble
    nz = [(0, c, 0) for c in range(3)] + [(0, c, 1) for c in range(3)]
    peg = np.zeros((1, 2), int)
    bo = np.arange(6).reshape(3, 2)
    s = run(nz, peg, bo, P=1, B=6, latency=2)
    assert s.cycles == 6 and s.stall_cycles == 0
    grp = np.asarray(nz)[:, 2][np.argsort(s.cycle)]
    assert (grp[1:] != grp[:-1]).all()


def test_empty_layer():
    peg = np.zeros((2, 3), int)
    bo = np.zeros((2, 3), int)
    s = run(np.zeros((0, 3), int), peg, bo, P=4, B=2)
    assert s.cycles == 0 and s.program.shape == (4, 0) and s.stall_cycles == 0
    assert utilisation(0, 4, 0) == 0.0


def test_bad_assignment_is_rejected():
    with pytest.raises(ValueError):
        schedule_layer([(0, 0, 0)], np.array([[5]]), np.array([[0]]), P=2, B=1)


# ----------------------------------------------------------------------------- assignment


def test_assign_pes_keeps_balanced_channels_whole():
    mask = np.zeros((8, 4, 10), bool)
    mask[:, :2, :] = True  # every output channel has 20 non-zeros
    nz = nonzeros_from_mask(mask)
    peg = assign_pes(nz, 8, 10, 4)
    assert (peg == (np.arange(8) % 4)[:, None]).all()


def test_assign_pes_splits_channels_when_that_balances_better():
    mask = np.zeros((2, 8, 4), bool)
    mask[0] = True  # channel 0 has 32 non-zeros, channel 1 none
    nz = nonzeros_from_mask(mask)
    peg = assign_pes(nz, 2, 4, 2)
    loads = np.bincount(peg[nz[:, 0], nz[:, 2]], minlength=2)
    assert loads.tolist() == [16, 16]


@settings(max_examples=60, deadline=None)
@given(
    O=st.integers(1, 12),
    F=st.integers(1, 10),
    lanes=st.integers(1, 6),
    per_lane=st.integers(1, 4),
    density=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**16),
)
def test_assign_pes_gives_each_read_out_lane_its_own_pes(O, F, lanes, per_lane, density, seed):
    """With L read-out lanes every used group (o, f) sits on a PE p ≡ o (mod L), so the lanes,
    reading channels o ≡ lane at once, never meet on one PE; the lanes' own PEs are balanced
    as well as the lane's non-zeros allow (LPT: within the largest item of the average)."""
    P = lanes * per_lane
    rng = np.random.default_rng(seed)
    nz = nonzeros_from_mask(rng.random((O, 3, F)) < density)
    peg = assign_pes(nz, O, F, P, lanes)
    assert peg.shape == (O, F) and peg.min() >= 0 and peg.max() < P
    used = np.zeros((O, F), bool)
    used[nz[:, 0], nz[:, 2]] = True
    o = np.broadcast_to(np.arange(O)[:, None], (O, F))
    assert (peg[used] % lanes == o[used] % lanes).all()
    loads = np.bincount(peg[nz[:, 0], nz[:, 2]], minlength=P)
    group = np.bincount(nz[:, 0] * F + nz[:, 2], minlength=O * F)
    for lane in range(lanes):
        mine = loads[lane::lanes]
        biggest = group.reshape(O, F)[lane::lanes].max(initial=0)
        assert mine.max() <= -(-mine.sum() // per_lane) + biggest


def test_assign_pes_refuses_pes_that_the_lanes_cannot_share():
    nz = nonzeros_from_mask(np.ones((4, 2, 5), bool))
    with pytest.raises(ValueError, match="multiple of the read-out lanes"):
        assign_pes(nz, 4, 5, 6, lanes=4)


@pytest.mark.parametrize("P,B,ports", [(16, 32, 1), (7, 13, 2), (32, 16, 1)])
def test_balanced_assignment_reaches_the_averages(P, B, ports):
    rng = np.random.default_rng(P * 100 + B)
    O, C, F = 32, 32, 40
    nz = nonzeros_from_mask(rng.random((O, C, F)) < 0.25)
    n = len(nz)
    peg, bo = assign_pes(nz, O, F, P), assign_banks(nz, C, F, B)
    lb = lower_bound(nz, peg, bo, P, B, ports)
    assert lb["pe_bound"] <= 1.03 * np.ceil(n / P)
    assert lb["bank_bound"] <= 1.03 * np.ceil(n / (B * ports))
    cyc = lower_bound(nz, peg, cyclic_bank_map(C, F, B), P, B, ports)
    assert lb["bank_bound"] <= cyc["bank_bound"]
    s = run(nz, peg, bo, P, B, ports, latency=3)
    assert s.cycles == lb["konig"] and s.stall_cycles == 0
    assert utilisation(n, P, s.cycles) > 0.96 * n / (P * max(np.ceil(n / P), n / (B * ports)))


def test_bank_maps_and_addresses():
    assert cyclic_bank_map(2, 3, 4).tolist() == [[0, 1, 2], [3, 0, 1]]
    rng = np.random.default_rng(3)
    nz = nonzeros_from_mask(rng.random((5, 6, 12)) < 0.4)
    bo = assign_banks(nz, 6, 12, 5)
    assert bo.shape == (6, 12) and bo.min() >= 0 and bo.max() < 5
    addr = bank_addresses(bo)
    words = np.bincount(bo.ravel(), minlength=5)
    assert words.max() - words.min() <= 12  # bank depths stay comparable
    for b in range(5):
        a = addr[bo == b]  # row-major order within the bank
        assert a.tolist() == list(range(words[b]))


def test_determinism():
    rng = np.random.default_rng(11)
    nz = nonzeros_from_mask(rng.random((12, 9, 40)) < 0.5)
    a = [assign_pes(nz, 12, 40, 5), assign_banks(nz, 9, 40, 7)]
    b = [assign_pes(nz, 12, 40, 5), assign_banks(nz, 9, 40, 7)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    s1 = schedule_layer(nz, a[0], a[1], P=5, B=7, ports=1, latency=5)
    s2 = schedule_layer(nz, b[0], b[1], P=5, B=7, ports=1, latency=5)
    assert np.array_equal(s1.cycle, s2.cycle) and np.array_equal(s1.program, s2.program)
    assert s1.cycles == s2.cycles


# ----------------------------------------------------------------------------- the checker


def _valid_case():
    """4 PEs (one output channel each), 2 banks, 2 groups per PE; latency 2."""
    rng = np.random.default_rng(0)
    nz = nonzeros_from_mask(rng.random((4, 6, 2)) < 0.8)
    peg = np.repeat(np.arange(4)[:, None], 2, axis=1)
    bo = cyclic_bank_map(6, 2, 2)
    s = run(nz, peg, bo, P=4, B=2, latency=2)
    return nz, peg, bo, s


def _check(nz, s, peg, bo, **kw):
    args = dict(P=4, B=2, ports=1, latency=2, forwarding=False) | kw
    return check_schedule(nz, s, peg, bo, **args)


def test_checker_accepts_the_valid_schedule():
    nz, peg, bo, s = _valid_case()
    assert _check(nz, s, peg, bo) == []


def test_checker_catches_a_double_booked_pe():
    nz, peg, bo, s = _valid_case()
    i, j = np.flatnonzero(s.pe == s.pe[0])[:2]
    cyc = s.cycle.copy()
    cyc[j] = cyc[i]
    errs = _check(nz, replace(s, cycle=cyc), peg, bo)
    assert any(e.startswith("PE double-booked") for e in errs)
    assert any("program" in e for e in errs)  # the old program no longer matches


def test_checker_catches_a_bank_clash():
    nz, peg, bo, s = _valid_case()
    bank = bo[nz[:, 1], nz[:, 2]]
    # move a non-zero into a clock where its PE is idle and another PE reads its bank
    for i in range(len(nz)):
        for t in range(s.cycles):
            busy = s.cycle == t
            if (bank[busy] == bank[i]).any() and not (s.pe[busy] == s.pe[i]).any():
                cyc = s.cycle.copy()
                cyc[i] = t
                errs = _check(nz, with_program(s, cyc), peg, bo, latency=1)
                assert [e for e in errs if e.startswith("bank conflict")], errs
                errs2 = _check(nz, with_program(s, cyc), peg, bo, latency=1, ports=2)
                assert not any(e.startswith("bank conflict") for e in errs2), errs2
                return
    pytest.fail("no clash could be constructed")


def test_checker_catches_a_hazard():
    nz, peg, bo, s = _valid_case()
    assert _check(nz, s, peg, bo, latency=2) == []
    # stretch time by 10 and put two non-zeros of one group one clock apart
    key = nz[:, 0] * 2 + nz[:, 2]
    i, j = [int(k) for k in np.flatnonzero(key == key[0])[:2]]
    cyc = s.cycle * 10
    cyc[j] = cyc[i] + 1
    errs = _check(nz, with_program(s, cyc), peg, bo)
    assert [e for e in errs if e.startswith("accumulator hazard")] and len(errs) == 1, errs
    assert _check(nz, with_program(s, cyc), peg, bo, forwarding=True) == []


def test_checker_catches_wrong_pe_missing_nonzero_and_bad_cycles():
    nz, peg, bo, s = _valid_case()
    pe = s.pe.copy()
    pe[0] = (pe[0] + 1) % 4
    t_free = s.cycles  # a fresh clock: no clash, just the wrong PE
    cyc = s.cycle.copy()
    cyc[0] = t_free
    errs = _check(nz, with_program(s, cyc, pe), peg, bo)
    assert any(e.startswith("wrong PE") for e in errs)
    errs = _check(nz, replace(s, cycles=s.cycles + 1), peg, bo)
    assert any(e.startswith("cycles field") for e in errs)
    prog = s.program.copy()
    prog[s.pe[0], s.cycle[0]] = -1  # non-zero 0 dropped from the program
    errs = _check(nz, replace(s, program=prog), peg, bo)
    assert any("not exactly once" in e for e in errs)
    errs = _check(nz[:-1], s, peg, bo)
    assert errs and "shapes" in errs[0]


# ----------------------------------------------------------------------------- properties


@st.composite
def layers(draw):
    O, C = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    N = draw(st.sampled_from([4, 8]))
    F = N * (N // 2 + 1)
    density = draw(st.floats(0.05, 1.0))
    seed = draw(st.integers(0, 2**32 - 1))
    nz = nonzeros_from_mask(np.random.default_rng(seed).random((O, C, F)) < density)
    P, B, ports = draw(st.integers(1, 16)), draw(st.integers(1, 16)), draw(st.integers(1, 2))
    peg = assign_pes(nz, O, F, P)
    bo = assign_banks(nz, C, F, B) if draw(st.booleans()) else cyclic_bank_map(C, F, B)
    return nz, peg, bo, P, B, ports


@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(layers(), st.integers(1, 6), st.booleans())
def test_random_layers_are_valid_and_optimal(layer, latency, forwarding):
    nz, peg, bo, P, B, ports = layer
    lb = lower_bound(nz, peg, bo, P, B, ports, latency, forwarding)
    s = run(nz, peg, bo, P, B, ports, latency, forwarding)
    assert s.cycles >= lb["bound"]
    assert s.konig == lb["konig"]
    assert s.cycles == lb["konig"] + s.stall_cycles
    if lb["hazard_bound"] <= lb["konig"] // 2:
        assert s.stall_cycles == 0
    if forwarding or latency == 1:
        assert s.cycles == lb["konig"]


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(layers())
def test_no_bubbles_at_the_edge_of_the_slack_condition(layer):
    """The largest latency with hazard_bound <= konig // 2: the hardest case that must not stall."""
    nz, peg, bo, P, B, ports = layer
    lb = lower_bound(nz, peg, bo, P, B, ports)
    m = lb["hazard_bound"]  # the largest group, at latency 1
    latency = (lb["konig"] // 2 - 1) // (m - 1) if m > 1 else 0
    if latency < 2:
        return
    assert lower_bound(nz, peg, bo, P, B, ports, latency)["hazard_bound"] <= lb["konig"] // 2
    s = run(nz, peg, bo, P, B, ports, latency)
    assert s.stall_cycles == 0 and s.cycles == lb["konig"]


@pytest.mark.parametrize("seed", [0, 1])
def test_tight_pairs_at_half_the_tile(seed):
    """Groups of two at latency konig//2 - 1 while every bank reads in every clock: the local
    repair alone stalls here, the list-scheduling fallback must still find a bubble-free tile."""
    rng = np.random.default_rng(seed)
    nz = nonzeros_from_mask(rng.random((4, 2, 40)) < 0.96)
    peg, bo = assign_pes(nz, 4, 40, 6), assign_banks(nz, 2, 40, 4)
    lb = lower_bound(nz, peg, bo, 6, 4)
    assert lb["bank_bound"] == lb["konig"] and lb["hazard_bound"] == 2
    latency = lb["konig"] // 2 - 1
    s = run(nz, peg, bo, 6, 4, latency=latency)
    assert s.stall_cycles == 0 and s.cycles == lb["konig"]
