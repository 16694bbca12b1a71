"""The trainer's arithmetic against hand-worked cases (docs/mlp-fixed-point.md) and against
exact integer math."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codesign.fixed import OverflowCounter
from codesign.mlp.fixedpoint import (
    WORD,
    Activation,
    accumulate,
    activation_table,
    delta_bias,
    mul,
    neuron_sum,
    pixels_to_word,
)

words = st.integers(WORD.min, WORD.max)


def test_word_is_sign_two_integer_seven_fraction_bits():
    assert (WORD.bits, WORD.frac, WORD.min, WORD.max) == (10, 7, -512, 511)


@pytest.mark.parametrize(
    "a, b, p",
    [
        (64, 64, 32),
        (1, 64, 1),
        (-1, 64, 0),
        (-1, 65, -1),
        (511, 511, 511),
        (-512, 511, -512),
        (-512, -512, 511),
        (127, 127, 126),
        (11, 127, 11),
    ],
)
def test_multiply_rounds_half_up_then_saturates(a, b, p):
    assert int(mul(a, b, OverflowCounter(), "t")) == p


@given(words, words)
def test_multiply_equals_exact_rounding(a, b):
    exact = math.floor(a * b / 128 + 0.5)
    assert int(mul(a, b, OverflowCounter(), "t")) == max(-512, min(511, exact))


def test_pixels_enter_as_their_seven_top_bits():
    assert pixels_to_word(np.array([0, 1, 2, 255, 128], np.uint8)).tolist() == [0, 0, 1, 127, 64]


def test_sigmoid_table_by_hand():
    act, der = activation_table(Activation.SIGMOID)
    at = lambda q: (int(act[q - WORD.min]), int(der[q - WORD.min]))
    assert len(act) == len(der) == 1024
    assert at(0) == (64, 31)  # σ′(0)·128 = 32 does not fit 5 bits
    assert at(-512) == (2, 2)
    assert at(511) == (126, 2)
    assert act.max() <= 127 and der.min() >= 1 and der.max() <= 31
    assert (np.diff(act) >= 0).all()
    for q in range(WORD.min, WORD.max + 1, 37):
        s = 1 / (1 + math.exp(-q / 128))
        assert at(q) == (
            min(127, math.floor(128 * s + 0.5)),
            min(31, max(1, math.floor(128 * s * (1 - s) + 0.5))),
        )


def test_clipped_relu_table_never_stops_learning():
    act, der = activation_table(Activation.RELU)
    at = lambda q: (int(act[q - WORD.min]), int(der[q - WORD.min]))
    assert at(-5) == (1, 1) and at(0) == (1, 1) and at(50) == (50, 127) and at(128) == (127, 1)
    assert der.min() == 1


def test_neuron_sum_saturates_once_at_the_end():
    c = OverflowCounter()
    # partial sums would leave the word, the total does not: no saturation
    assert int(neuron_sum(np.array([400, 400, -500]), 10, c, "s")) == 310
    assert c.total == 0
    assert int(neuron_sum(np.array([400, 400]), 0, c, "s")) == 511
    assert c.saturated["s"] == 1


def test_accumulate_saturates_each_add_in_slot_order():
    c = OverflowCounter()
    terms = np.array([300, 300, -300])  # slots of left neuron 0, in order
    occ = np.array([[0], [1], [2]])
    # 300 → sat(600) = 511 → 211: order matters once an add saturates
    assert accumulate(terms, occ, c, "a").tolist() == [211]
    assert c.saturated["a"] == 1


def test_bias_step_is_a_rounded_shift_of_the_negated_delta():
    c = OverflowCounter()
    assert delta_bias(np.array([-90, 90, -512, 0, -4, -3]), 3, c).tolist() == [11, -11, 64, 0, 1, 0]
    assert c.saturated["update: -delta"] == 1  # −(−512) saturates to 511, then 511 >> 3 → 64
    assert delta_bias(np.array([-90]), 0, c).tolist() == [90]
