"""Shared fixtures: a small real-MNIST dataset and a quickly pruned model built from it; the
order in which the test files are handed to the xdist workers."""

import warnings
from pathlib import Path

import pytest

from codesign.data import Dataset, load_bundled
from codesign.spectral.admm import AdmmConfig
from codesign.spectral.prune import PruneSettings, prune

# The longest test files, longest first (rough wall seconds, -n 2 on two busy cores).  They are
# handed out first, the rest in collection order behind them (``--no-loadscope-reorder`` in
# pyproject.toml), so that both workers of ``--dist loadfile`` finish at about the same time.
SLOW_FILES = [
    "spectral/test_generate.py",  # (120) layer engines: generate, Icarus, yosys
    "spectral/test_accelerator.py",  # (90) the accelerator: generated twice, Verilator
    "spectral/test_cocotb.py",  # (75) the accelerator: generated, cocotb on Icarus
    "spectral/test_corruption.py",  # (65)
    "spectral/test_spectral_sweep.py",  # (40) a local Dask cluster: prune, generate, cosim
    "mlp/test_mlp_trainer.py",  # (40) the trainer: generated twice, Verilator, Icarus
    "mlp/test_mlp_speculation.py",  # (45) both trainers generated, Verilator, Icarus
    "spectral/hdl/test_hdl_fft.py",  # (60)
    "spectral/hdl/test_hdl_oaa.py",  # (50)
    "spectral/hdl/test_hdl_hadamard.py",  # (40)
    "spectral/hdl/test_hdl_dense.py",  # (35)
    "spectral/hdl/test_hdl_feed.py",  # (30) yosys in the background
    "hdl/test_ram.py",  # (25)
    "eda/test_synth.py",  # (20)
    "spectral/test_determinism.py",  # (20) two processes generating RTL
    "spectral/test_model.py",  # (15)
    "mlp/test_mlp_sweep.py",  # (10) a local Dask cluster, a worker killed
    "mlp/test_mlp_commands.py",  # (20) the flow: generate and Verilator
    "test_packaging.py",  # (20) a wheel built, the kernels compiled from it
    "specbp/test_specbp_sweep.py",  # (10) the sweep command on the bundled data
]


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).parent
    rank = {f: i for i, f in enumerate(SLOW_FILES)}
    stale = [f for f in SLOW_FILES if not (root / f).is_file()]
    if stale:
        warnings.warn(f"tests/conftest.py: SLOW_FILES names missing files {stale}", stacklevel=1)

    def slowness(item):
        try:
            return rank.get(item.path.relative_to(root).as_posix(), len(rank))
        except ValueError:  # a test outside tests/
            return len(rank)

    items.sort(key=slowness)  # stable: a file's own tests keep their order


@pytest.fixture(scope="session")
def mnist():
    return load_bundled(seed=0)


@pytest.fixture(scope="session")
def small_data(mnist):
    """600 training and 200 test images of the bundled split: fast, still real digits."""
    return Dataset(
        name="mnist5k-small",
        train_x=mnist.train_x[:600],
        train_y=mnist.train_y[:600],
        test_x=mnist.test_x[:200],
        test_y=mnist.test_y[:200],
        source=dict(mnist.source, subset="600/200"),
    )


SMALL = PruneSettings(
    epochs=2, retrain_epochs=2, calibration_images=300, admm=AdmmConfig(iterations=8)
)


@pytest.fixture(scope="session")
def small_settings():
    return SMALL


@pytest.fixture(scope="session")
def small_model(small_data):
    return prune(small_data, SMALL, quiet=True)


@pytest.fixture(scope="session")
def small_model_dir(small_model, tmp_path_factory):
    from codesign.spectral.model import save_model

    return save_model(small_model, tmp_path_factory.mktemp("model") / "model")


@pytest.fixture(scope="session")
def small_map_args(small_model_dir) -> list[str]:
    """The `codesign map` arguments of :func:`small_schedule_dir`, bar ``--out``.  conv2 is held
    to four read-out lanes, so that it is slower than conv1 (which the DSE still spreads over
    lanes and tile slices) and the accelerator's runs also check conv1's pacing."""
    pinned = ["conv2.pes=4", "conv2.banks=4", "conv2.ifft_units=4"]
    return ["map", "--model", str(small_model_dir), "--board", "nexys4ddr"] + [
        a for kv in pinned for a in ("--set", kv)
    ]


@pytest.fixture(scope="session")
def small_schedule_dir(small_map_args, tmp_path_factory):
    """`codesign map` on the small pruned LeNet for the Nexys4 DDR board, written to disk."""
    from click.testing import CliRunner

    from codesign.cli import main

    out = tmp_path_factory.mktemp("schedule") / "schedule"
    r = CliRunner().invoke(main, small_map_args + ["--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="session")
def small_accel_dir(small_schedule_dir, tmp_path_factory):
    """The whole accelerator generated once per worker from the small schedule (MyHDL in a fresh
    thread: see codesign.hdl.sim.in_thread).  Read-only: a test that changes files copies it."""
    from codesign.hdl.sim import in_thread
    from codesign.spectral.generate import generate_accelerator

    out = tmp_path_factory.mktemp("accel") / "rtl"
    in_thread(generate_accelerator, small_schedule_dir, out)
    return out


SMALLEST = ("--max-dsp", "35")  # the fastest design within the smallest LeNet design's DSP


@pytest.fixture(scope="session")
def smallest_schedule_dir(small_model_dir, tmp_path_factory):
    """The small LeNet mapped to its smallest design (one PE, bank and lane per engine, one
    MAC per dense layer): converted and compiled in seconds, for the tests that need a real
    accelerator but not a wide one."""
    from click.testing import CliRunner

    from codesign.cli import main

    out = tmp_path_factory.mktemp("smallest") / "schedule"
    r = CliRunner().invoke(
        main, ["map", "--model", str(small_model_dir), "--out", str(out), "--quiet", *SMALLEST]
    )
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="session")
def smallest_accel_dir(smallest_schedule_dir, tmp_path_factory):
    """The accelerator of :func:`smallest_schedule_dir`, generated once per worker; read-only."""
    from codesign.hdl.sim import in_thread
    from codesign.spectral.generate import generate_accelerator

    out = tmp_path_factory.mktemp("smallest-accel") / "rtl"
    in_thread(generate_accelerator, smallest_schedule_dir, out)
    return out


@pytest.fixture(scope="session")
def linked_schedule_dir(small_model_dir, tmp_path_factory):
    """The small pruned LeNet mapped with two read-out lanes and two tile slices in conv1, and
    two forward FFT units (two spectrum write ports) and four read-out lanes in conv2; conv1
    emits two channels per clock, conv2 takes them (one word at the other end of each)."""
    from click.testing import CliRunner

    from codesign.cli import main

    out = tmp_path_factory.mktemp("linked") / "schedule"
    sets = (
        "conv1.ifft_units=2",
        "conv1.pes=2",
        "conv1.banks=2",
        "conv1.tile_slices=2",
        "conv1.out_words=2",
        "conv2.fft_units=2",
        "conv2.banks=4",
        "conv2.ifft_units=4",
        "conv2.pes=4",
        "conv2.in_words=2",
    )
    args = ["map", "--model", str(small_model_dir), "--out", str(out), "--quiet"]
    r = CliRunner().invoke(main, args + [a for s in sets for a in ("--set", s)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="session")
def wide_schedule_dir(small_model_dir, tmp_path_factory):
    """The small LeNet mapped with conv2 forced wide (3 PEs, 4 banks, 2 FFT and 4 inverse-FFT
    units): a model-only design with every interesting case of the schedule format."""
    from click.testing import CliRunner

    from codesign.cli import main

    out = tmp_path_factory.mktemp("wide") / "schedule"
    r = CliRunner().invoke(
        main,
        [
            "map",
            "--model",
            str(small_model_dir),
            "--board",
            "nexys4ddr",
            "--out",
            str(out),
            "--set",
            "conv2.pes=3",
            "--set",
            "conv2.banks=4",
            "--set",
            "conv2.fft_units=2",
            "--set",
            "conv2.ifft_units=4",
        ],
    )
    assert r.exit_code == 0, r.output
    return out
