"""Junctions, interleavers and the clash-free checker: hand-worked cases, the reference network,
impossible configurations, and properties over random valid configurations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.mlp.connectivity import (
    ConnectivityError,
    Interleaver,
    Junction,
    check_order,
    dead_neurons,
    interleave,
    junctions,
    occurrences,
)

REFERENCE = ([1024, 64, 32], [4, 16], [128, 32])


def test_reference_network_is_clash_free_with_the_published_figures():
    j1, j2 = junctions(*REFERENCE)
    assert (j1.fi, j2.fi) == (64, 32)
    assert (j1.edges, j2.edges) == (4096, 1024)
    assert (j1.clocks, j2.clocks) == (32, 32)
    assert j1.density == pytest.approx(0.0625) and j2.density == pytest.approx(0.5)
    for kind in Interleaver:
        for i, j in enumerate((j1, j2)):
            proof = check_order(j, interleave(j, kind, seed=i))
            assert proof["clash_free"] and proof["banks_per_clock"] == j.z


def test_start_vector_formula_by_hand():
    """p = 8, z = 4, fo = 2: π[i] = t[i mod p]·z + i mod z with t[a·z+g] = start[s,g] + a."""
    j = Junction(8, 4, 2, 4)
    rng = np.random.default_rng(5)
    start = [rng.integers(0, 2, size=4) for _ in range(2)]
    expected = []
    for i in range(j.edges):
        s, a, g = i // 8, (i % 8) // 4, i % 4
        expected.append(((start[s][g] + a) % 2) * 4 + g)
    assert interleave(j, Interleaver.START, seed=5).tolist() == expected


def test_zero_starts_leave_twelve_hidden_neurons_on_the_padding():
    """The reference RTL's all-zero start vectors: 12 of the 64 hidden neurons see only pixels
    784…1023; random start vectors none."""
    j1 = junctions(*REFERENCE)[0]
    zero = interleave(j1, Interleaver.START_ZERO)
    dead = dead_neurons(j1, zero, 784)
    assert len(dead) == 12
    assert sorted(set(dead % 16)) == [13, 14, 15]
    assert len(dead_neurons(j1, interleave(j1, Interleaver.START, seed=1), 784)) == 0


@pytest.mark.parametrize(
    "args, words",
    [
        ((10, 4, 3, 2), "not an integer"),  # fi = 30/4
        ((12, 6, 2, 5), "p/z"),  # 12/5
        ((8, 4, 2, 16), "larger than"),
        ((8, 4, 5, 4), "exceeds"),
        ((48, 16, 4, 8), "divide one another"),  # fi = 12, z = 8
        ((8, 4, 0, 4), "positive integer"),
    ],
)
def test_impossible_junctions_are_refused(args, words):
    with pytest.raises(ConnectivityError, match=words):
        Junction(*args)


def test_junction_list_lengths_are_checked():
    with pytest.raises(ConnectivityError, match="one value per junction"):
        junctions([16, 8, 4], [2], [4, 4])


def test_checker_names_a_clash_a_wrong_fan_out_and_a_repeated_edge():
    j = Junction(8, 4, 2, 4)
    good = interleave(j, Interleaver.START, seed=0)
    clash = good.copy()
    clash[1] = clash[0] + 4 if clash[0] < 4 else clash[0] - 4  # same bank as lane 0
    with pytest.raises(ConnectivityError, match=r"clock 0 reads bank \d+ from lanes \[0, 1\]"):
        check_order(j, clash)
    with pytest.raises(ConnectivityError, match="outside"):
        check_order(j, np.where(np.arange(j.edges) == 3, 99, good))
    with pytest.raises(ConnectivityError, match="expected 16 integer slots"):
        check_order(j, good[:-1])
    fan = good.copy()
    fan[0] = (fan[0] + 4) % 8  # the same bank, another row: clash-free, fan-out broken
    with pytest.raises(ConnectivityError, match="outgoing edges, not fo = 2"):
        check_order(j, fan)


def test_repeated_edge_is_named():
    """p = 4, fi = 4, z = 2 (two clocks per right neuron): a right neuron that reads the same
    left neuron in its two clocks is clash-free per clock but repeats an edge."""
    j = Junction(4, 2, 2, 2)
    order = np.array([0, 1, 0, 3, 2, 1, 2, 3])  # neuron 0: slots 0..3 = 0, 1, 0, 3
    with pytest.raises(ConnectivityError, match="right neuron 0 has left neuron 0 twice"):
        check_order(j, order)


def test_occurrences_list_each_left_neurons_slots_in_order():
    j = Junction(8, 4, 2, 4)
    order = interleave(j, Interleaver.RANDOM, seed=3)
    occ = occurrences(j, order)
    assert occ.shape == (2, 8)
    for n in range(8):
        assert occ[:, n].tolist() == np.flatnonzero(order == n).tolist()


@st.composite
def configurations(draw):
    """Random valid junctions: n_left = z·rows, fi and z dividing one another."""
    z = 2 ** draw(st.integers(0, 5))
    rows = draw(st.integers(1, 6))
    n_left = z * rows
    fo = draw(st.integers(1, 6))
    edges = n_left * fo
    fis = [
        f
        for f in range(1, edges + 1)
        if edges % f == 0 and (z % f == 0 or f % z == 0) and edges // f >= fo
    ]
    fi = draw(st.sampled_from(fis))
    return Junction(n_left, edges // fi, fo, z)


@settings(max_examples=150, deadline=None)
@given(
    configurations(),
    st.sampled_from(list(Interleaver)),
    st.integers(0, 2**31),
    st.booleans(),
    st.booleans(),
)
def test_every_interleaver_is_clash_free_with_exact_fan_out(j, kind, seed, dither, repeat):
    order = interleave(j, kind, seed, dither, repeat)
    banks = (order % j.z).reshape(j.clocks, j.z)
    assert all(len(set(row)) == j.z for row in banks.tolist())
    assert np.bincount(order, minlength=j.n_left).tolist() == [j.fo] * j.n_left
    if j.n_left % j.fi == 0:  # no right neuron straddles two sweeps: no edge can repeat
        check_order(j, order)
    else:
        try:
            check_order(j, order)
        except ConnectivityError as e:
            assert "twice" in str(e)
    assert np.array_equal(order, interleave(j, kind, seed, dither, repeat))


@settings(max_examples=150, deadline=None)
@given(configurations(), st.integers(0, 2**31), st.data())
def test_checker_finds_any_single_corruption(j, seed, data):
    """Changing one slot's left neuron always breaks the fan-out; the checker says so."""
    order = interleave(j, Interleaver.RANDOM, seed)
    if j.n_left == 1:
        return
    i = data.draw(st.integers(0, j.edges - 1))
    new = data.draw(st.integers(0, j.n_left - 1).filter(lambda n: n != order[i]))
    bad = order.copy()
    bad[i] = new
    with pytest.raises(ConnectivityError):
        check_order(j, bad)
