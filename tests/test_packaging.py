"""The built wheel is a complete toolkit: boards and templates inside the package, so an installed
``codesign`` maps a model from any directory, not only from a checkout."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    """The wheel ``pip wheel .`` builds, unpacked as a site directory of its own."""
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("codesign-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def test_the_wheel_holds_the_boards_and_templates(wheel_site):
    eda = wheel_site / "codesign" / "eda"
    boards = {p.name for p in (eda / "board_files").glob("*.toml")}
    assert boards == {p.name for p in (ROOT / "boards").glob("*.toml")}
    for p in (ROOT / "boards").glob("*.toml"):
        assert (eda / "board_files" / p.name).read_bytes() == p.read_bytes()
    templates = {p.name for p in (ROOT / "codesign/eda/templates").iterdir()}
    assert templates and templates == {p.name for p in (eda / "templates").iterdir()}


def test_installed_codesign_maps_from_another_directory(wheel_site, small_model_dir, tmp_path):
    """The wheel's own code (not the checkout's) runs `codesign map` with cwd outside the repo."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import codesign; "
        "assert codesign.__file__.startswith(sys.argv[1]), codesign.__file__; "
        "from codesign.cli import main; "
        "main(['map', '--model', sys.argv[2], '--board', 'nexys4ddr', '--out', 'sched', "
        "'--quiet'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(wheel_site), str(small_model_dir)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "sched" / "schedule.json").is_file()
    assert "fits nexys4ddr" in proc.stdout


def test_the_wheel_holds_the_kernel_source_and_trains(wheel_site, tmp_path):
    """The installed package compiles its C kernels on first use and trains with them."""
    src = wheel_site / "codesign" / "specbp" / "kernels.c"
    assert src.read_bytes() == (ROOT / "codesign/specbp/kernels.c").read_bytes()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import numpy as np; "
        "from codesign.specbp import Setup, train; "
        "rng = np.random.default_rng(0); x = rng.integers(0, 256, (50, 784), dtype=np.uint8); "
        "r = train(Setup(epochs=1), x, rng.integers(0, 10, 50), threshold=0.1); "
        "print(r.outcomes.size)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(wheel_site)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "CODESIGN_NATIVE_DIR": str(tmp_path / "lib")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "50" and list((tmp_path / "lib").glob("libkernels-*.so"))
