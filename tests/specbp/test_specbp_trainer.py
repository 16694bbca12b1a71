"""The compiled two-thread trainer against the numpy reference, the plain trainer and itself;
its refusals; the kernel build."""

import numpy as np
import pytest

from codesign.eda.tools import ToolError
from codesign.native import NATIVE_DIR_ENV, build_library
from codesign.specbp import (
    Outcome,
    Setup,
    SpecbpError,
    accuracy,
    pixels,
    train,
    train_reference,
)


def _params_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases))


@pytest.fixture(scope="module")
def digits(small_data):
    return small_data.train_x, small_data.train_y


@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.25])
def test_equals_the_reference(digits, threshold):
    x, y = digits
    setup = Setup(epochs=2)
    ref = train_reference(setup, pixels(x), y, threshold)
    run = train(setup, x, y, threshold=threshold)
    assert np.array_equal(run.outcomes, ref.outcomes)  # the same hits and misses
    for a, b in zip(run.params.weights + run.params.biases, ref.params.weights + ref.params.biases):
        assert np.abs(a - b).max() < 1e-11  # float rounding: BLAS sums in another order
    seen = ~np.isnan(ref.distances)
    assert np.array_equal(seen, ~np.isnan(run.distances))
    assert np.allclose(run.distances[seen], ref.distances[seen], rtol=0, atol=1e-12)


def test_threshold_zero_is_bit_identical_to_the_plain_trainer(digits):
    setup = Setup(epochs=2)
    plain = train(setup, *digits, speculate=False, threads=1)
    spec = train(setup, *digits, threshold=0.0, threads=2)
    assert _params_equal(plain.params, spec.params)
    assert not np.any(spec.outcomes == Outcome.HIT)
    assert np.all(plain.outcomes == Outcome.SERIAL)


@pytest.mark.parametrize("threshold", [0.0, 0.005, 0.02])
def test_one_thread_and_two_threads_compute_the_same(digits, threshold):
    """Hits, misses and serial inputs alike (a miss's ordinary pass must read its own input,
    not the stored one the speculative pass read on the same thread)."""
    setup = Setup(epochs=2)
    one = train(setup, *digits, threshold=threshold, threads=1)
    two = train(setup, *digits, threshold=threshold, threads=2)
    again = train(setup, *digits, threshold=threshold, threads=2, pin=False)
    assert _params_equal(one.params, two.params) and _params_equal(two.params, again.params)
    assert np.array_equal(one.outcomes, two.outcomes)
    assert np.any(two.outcomes == Outcome.MISS)
    assert threshold == 0 or np.any(two.outcomes == Outcome.HIT)


def test_times_and_test_accuracy_are_recorded(small_data):
    setup = Setup(epochs=2)
    test = (pixels(small_data.test_x), small_data.test_y)
    seen = []
    run = train(
        setup, small_data.train_x, small_data.train_y, threshold=0.25, test=test,
        on_epoch=lambda e, r: seen.append(e),
    )  # fmt: skip
    assert seen == [0, 1] and len(run.test_accuracy) == 2
    assert run.test_accuracy[-1] == accuracy(run.params, *test, setup.slope)
    assert run.test_accuracy[-1] > 0.15  # above chance after 1,200 inputs at η 0.01
    assert np.all(run.step_ns > 0) and np.all(run.epoch_seconds > 0)
    hits = run.outcomes == Outcome.HIT
    assert np.all(run.phase_ns[..., 1][hits] > 0)  # the speculative pass ran for every hit
    assert not np.isnan(run.step_mean_ns(Outcome.HIT))
    assert np.isnan(run.step_mean_ns(Outcome.MISS))  # threshold 0.25: nothing misses


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"threads": 3}, "1 or 2 threads"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
    ],
)
def test_refusals(digits, kw, match):
    with pytest.raises(SpecbpError, match=match):
        train(Setup(epochs=1), *digits, **kw)


def test_input_errors(digits):
    x, y = digits
    with pytest.raises(SpecbpError, match="uint8"):
        train(Setup(epochs=1), x.astype(np.float64), y)
    with pytest.raises(SpecbpError, match="784 neurons"):
        train(Setup(epochs=1), x[:, :20], y)
    with pytest.raises(SpecbpError, match="one label per image"):
        train(Setup(epochs=1), x, y[:-1])
    bad = y.copy()
    bad[5] = 10
    with pytest.raises(SpecbpError, match="label is outside"):
        train(Setup(epochs=1), x, bad)


def test_build_library_caches_and_reports_compiler_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(NATIVE_DIR_ENV, str(tmp_path / "lib"))
    good = tmp_path / "good.c"
    good.write_text("int answer(void) { return 42; }\n")
    lib = build_library(good)
    assert lib.parent == tmp_path / "lib" and lib.is_file()
    assert build_library(good) == lib  # the same source and flags: not rebuilt
    good.write_text("int answer(void) { return 43; }\n")
    assert build_library(good) != lib  # an edited source: a new library
    bad = tmp_path / "bad.c"
    bad.write_text("int broken(void) { return }\n")
    with pytest.raises(ToolError, match="expected expression"):
        build_library(bad)
    assert not [p for p in (tmp_path / "lib").iterdir() if p.name.startswith(".")]
