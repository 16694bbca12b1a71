"""The built wheel is a complete toolkit: boards and templates inside the package, so an installed
``codesign`` maps a model from any directory, not only from a checkout."""

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
