"""An MLP sweep on a real local cluster of two worker processes, one of them killed in the
middle of a training task: the task runs again, every point is in the results once, and no
half-written artifact is left."""

import os
import signal
import threading
import time

import pytest
from distributed import Client, LocalCluster

from codesign.mlp import sweep as mlp_sweep
from codesign.sweep import run_sweep, write_results

POINTS = [
    {"fo": [4, 16], "board": "nexys4ddr"},
    {"fo": [4, 16], "board": "arty-a7-35t"},
    {"fo": [2, 8], "z": [64, 16], "board": "nexys4ddr"},
]
BASE = {"eta_exponents": [3, 3, 4]}


@pytest.fixture
def cluster():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as c,
        Client(c) as client,
    ):
        yield client


def _kill_one_training_worker(client, killed: list):
    """Wait until a worker is running a training task; kill its process (SIGKILL)."""
    deadline = time.time() + 60
    while time.time() < deadline and not killed:
        busy = {w: keys for w, keys in client.processing().items() if keys}
        for worker, keys in busy.items():
            if any(str(k).startswith("train-") for k in keys):
                time.sleep(1.0)  # well inside the training (several seconds)
                pid = client.run(os.getpid, workers=[worker])[worker]
                os.kill(pid, signal.SIGKILL)
                killed.append((worker, pid))
                return
        time.sleep(0.1)


def test_a_killed_worker_loses_nothing(tmp_path, cluster):
    tasks, points = mlp_sweep.plan(POINTS, BASE, tmp_path)
    assert len(tasks) == 2 + 3  # two trainings (fo 4,16 shared by two boards), three maps
    killed, done = [], []
    killer = threading.Thread(target=_kill_one_training_worker, args=(cluster, killed))
    killer.start()
    rows = run_sweep(tasks, points, client=cluster, on_done=lambda t, s, w: done.append(t.key))
    killer.join()
    assert killed, "no training task was seen running"
    assert [r["point"] for r in rows] == [0, 1, 2]
    assert all(r["status"] == "ok" for r in rows), rows
    assert sorted(done) == sorted(tasks)  # each task reported once
    assert rows[0]["accuracy_fixed"] == rows[1]["accuracy_fixed"] > 0.5
    assert rows[0]["clocks_per_input"] == rows[2]["clocks_per_input"] == 36  # 4096/128, 2048/64
    assert rows[2]["weights"] == 1024 * 2 + 64 * 8
    assert rows[1]["fits_estimate"] is False  # the reference z on the Arty: 224 DSP of 90
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []
    csv_path, _ = write_results(tmp_path, rows)
    assert csv_path.read_text().count("\n") == 4
