"""Same schedule → the same RTL bytes in any process, whatever its hash seed (MyHDL keeps a
generator's signals in sets of names; codesign.hdl.convert orders them)."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _generate(schedule_dir: Path, out: Path, seed: int) -> None:
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from codesign.cli import main; main()",
            "generate",
            "--schedule",
            str(schedule_dir),
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _files(d: Path) -> dict:
    return {
        p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()
    }


def test_two_processes_with_different_hash_seeds_write_identical_rtl(small_model_dir, tmp_path):
    """On a 60-DSP design (3 and 2 inverse-FFT lanes): small enough to convert quickly, with
    every kind of block the larger designs have."""
    from click.testing import CliRunner

    from codesign.cli import main

    schedule = tmp_path / "schedule"
    r = CliRunner().invoke(
        main,
        ["map", "--model", str(small_model_dir), "--max-dsp", "60", "--out", str(schedule)],
    )
    assert r.exit_code == 0, r.output
    outs = [tmp_path / "a", tmp_path / "b"]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(_generate, [schedule] * 2, outs, [1, 2]))
    a, b = _files(outs[0]), _files(outs[1])
    assert set(a) == set(b) and "codesign_accel.v" in a
    different = [name for name in a if a[name] != b[name]]
    assert different == []
