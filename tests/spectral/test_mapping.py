"""The map stage on the pruned LeNet and on VGG16-shaped layers: optimal, valid, fitting designs."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from codesign.cli import main
from codesign.eda.boards import load_board
from codesign.spectral import schedule as sch
from codesign.spectral.arch import parse_overrides
from codesign.spectral.conv import live_bins
from codesign.spectral.dse import FitError, assign, estimate_bound, explore
from codesign.spectral.mapping import map_tasks, tasks_from_model, verify, vgg16_tasks


@pytest.fixture(scope="module")
def lenet_schedule(small_schedule_dir):
    return json.loads((small_schedule_dir / "schedule.json").read_text())


def test_default_lenet_design_meets_the_targets(lenet_schedule):
    """PE utilisation ≥ 85 % (the read-out lanes want P a multiple of the lanes), cycles = lower
    bound, dense ÷ sparse ≥ 3.5, fits the Nexys4 DDR within the routing margin."""
    spectral = [e for e in lenet_schedule["layers"] if e["type"] == "spectral_conv"]
    assert [e["name"] for e in spectral] == ["conv1", "conv2"]
    for e in spectral:
        s = e["schedule"]
        assert s["cycles_per_tile"] == s["lower_bound"] == s["konig_bound"]
        assert s["stall_cycles"] == 0
        assert s["pe_utilisation"] >= 0.85
        assert s["dense_over_sparse"] >= 3.5
    net = lenet_schedule["network"]
    assert net["fits"] and net["resources"]["dsp"] <= 0.8 * 240
    assert net["resources"]["bram36"] <= 0.8 * 135
    assert lenet_schedule["board"]["part"] == "xc7a100tcsg324-1"
    # every layer is one the generator builds, spread over read-out lanes (and tile slices):
    # far below one lane's floor (6 channels × 64 clocks × 49 tiles of conv1)
    assert all(e["arch"]["pes"] % e["arch"]["ifft_units"] == 0 for e in spectral)
    assert any(e["arch"]["ifft_units"] * e["arch"]["tile_slices"] > 1 for e in spectral)
    assert net["ii_cycles"] < 49 * 6 * 64 / 4
    # the map stage's figures are the generated accelerator's exact ones, which the RTL reproduces
    exact = net["accelerator"]
    assert (net["ii_cycles"], net["latency_cycles"]) == (
        exact["interval_cycles"],
        exact["latency_cycles"],
    )
    assert net["ii_cycles"] == max(e["engine"]["interval_cycles"] for e in spectral)
    assert net["ii_cycles"] == max(e["cost"]["cycles"]["ii"] for e in lenet_schedule["layers"])
    # the dense layers get just the MACs that keep up with that pace, no more: one MAC fewer
    # would take longer than the interval
    for e in lenet_schedule["layers"]:
        if e["type"] == "dense":
            macs, n, k = e["arch"]["macs"], e["out_features"], e["nonzero_per_output"]
            assert -(-n // macs) * k <= net["ii_cycles"]
            assert macs == 1 or -(-n // (macs - 1)) * k > net["ii_cycles"]


def test_vgg16_layers_reach_the_konig_bound():
    """The first VGG16 layers (1,920 to 82k non-zeros) on a shared engine: optimal and valid."""
    tasks = vgg16_tasks(0.25, seed=1)[:3]
    m = map_tasks("vgg16-head", tasks, load_board("vc709"), style="sequential")
    for t in tasks:
        lm = m.layers[t.name]
        assert lm.schedule.cycles == lm.bound["bound"] == lm.bound["konig"]
        assert verify(t, lm.arch, lm.pe_of_group, lm.bank_of, lm.schedule) == []
        assert estimate_bound(t, lm.arch) <= lm.schedule.cycles
    assert m.design.fits and m.design.network["memory_plan"] == "external DRAM"
    assert m.design.network["dram_gbytes_per_s"] < load_board("vc709").dram_gbytes_per_s


def test_vgg16_density_and_dense_tasks():
    sparse = vgg16_tasks(0.25, seed=0)
    assert len(sparse) == 13
    assert [t.C for t in sparse[:3]] == [3, 64, 64] and sparse[-1].O == 512
    # 8 of each kernel's 34 live bins (floor(0.25 · 34)), none outside them
    assert all(len(t.nz) == t.O * t.C * 8 for t in sparse[:4])
    assert not np.isin(sparse[1].nz[:, 2], np.flatnonzero(~live_bins(8).ravel())).any()
    dense = vgg16_tasks(1.0, seed=0)
    assert dense[5].nz is None and dense[5].nonzero == 256 * 256 * 34


def test_verify_catches_broken_schedules(small_model):
    task = tasks_from_model(small_model)[1]
    m = map_tasks(
        "t",
        tasks_from_model(small_model),
        load_board("nexys4ddr"),
        parse_overrides(["conv2.pes=3", "conv2.banks=4"]),
    )
    lm = m.layers["conv2"]
    s = lm.schedule
    assert verify(task, lm.arch, lm.pe_of_group, lm.bank_of, s) == []

    def broken(prog):
        i = np.flatnonzero(prog.ravel() >= 0)
        p = prog.copy()
        return p, i

    p, i = broken(s.program)
    p.ravel()[i[1]] = p.ravel()[i[0]]  # one non-zero twice, another missing
    assert verify(task, lm.arch, lm.pe_of_group, lm.bank_of, replace(s, program=p))
    bank = lm.bank_of.copy()
    bank[:] = 0  # every read from one bank: port conflicts
    assert any("bank" in e for e in verify(task, lm.arch, lm.pe_of_group, bank, s))
    fast = replace(lm.arch, mac_latency=s.cycles)  # no group can be spaced that far
    assert any("hazard" in e for e in verify(task, fast, lm.pe_of_group, lm.bank_of, s))


def test_fft_units_write_disjoint_bank_groups(small_model):
    task = tasks_from_model(small_model)[1]
    from codesign.spectral.arch import SpectralArch

    a = SpectralArch("conv2", 8, pes=4, banks=6, fft_units=3)
    _, bank_of = assign(task, a)
    for c in range(task.C):
        g = c % 3
        assert set(np.unique(bank_of[c])) <= {2 * g, 2 * g + 1}
    with pytest.raises(ValueError, match="multiple of fft_units"):
        assign(task, SpectralArch("conv2", 8, pes=4, banks=5, fft_units=3))


def test_forced_parallelism_and_bigger_board(small_model):
    tasks = tasks_from_model(small_model)
    nexys = explore(tasks, load_board("nexys4ddr"))["chosen"]
    forced = explore(tasks, load_board("nexys4ddr"), {"conv2": {"pes": "8"}})["chosen"]
    assert forced.archs[1].pes == 8
    vc707 = explore(tasks, load_board("vc707"))["chosen"]
    assert vc707.network["ii_cycles"] <= nexys.network["ii_cycles"]


TINY = """name = "tiny"
description = "too small"
part = "xc7a12tcpg238-1"
family = "artix7"
lut = 800
ff = 1600
dsp = 4
bram36 = 2
dram_gbytes_per_s = 1.0
target_clock_mhz = 100.0
[clock]
port = "clk"
pins = ["A1"]
iostandard = "LVCMOS33"
frequency_mhz = 100.0
"""


def test_board_too_small_is_refused_with_numbers(small_model, small_model_dir, tmp_path):
    board = tmp_path / "tiny.toml"
    board.write_text(TINY)
    with pytest.raises(FitError, match=r"does not fit tiny .*dsp \d+ > 3"):
        explore(tasks_from_model(small_model), load_board(board))
    r = CliRunner().invoke(
        main,
        [
            "map",
            "--model",
            str(small_model_dir),
            "--board",
            str(board),
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert r.exit_code != 0 and "does not fit" in r.output
    assert not (tmp_path / "s").exists()


def test_cli_errors_name_the_problem(small_model_dir, tmp_path):
    run = CliRunner().invoke
    r = run(main, ["map", "--model", str(small_model_dir), "--board", "zedboard"])
    assert r.exit_code != 0 and "unknown board 'zedboard'" in r.output
    r = run(main, ["map", "--model", str(small_model_dir), "--set", "conv7.pes=2"])
    assert r.exit_code != 0 and "unknown layers ['conv7']" in r.output
    r = run(main, ["map", "--model", str(tmp_path / "none")])
    assert r.exit_code != 0 and "not a directory" in r.output


def test_scheduler_output_matches_artifact_arrays(small_schedule_dir):
    f = np.load(small_schedule_dir / "layers" / "conv2.npz")
    prog, nz = f["program"], f["nz"]
    layer = json.loads((small_schedule_dir / "schedule.json").read_text())["layers"][1]
    assert prog.shape[1] == layer["schedule"]["cycles_per_tile"]
    assert sorted(prog[prog >= 0].tolist()) == list(range(len(nz)))
    P, lanes = prog.shape[0], layer["arch"]["ifft_units"]
    pe = sch.assign_pes(nz, 16, 40, P, lanes if P % lanes == 0 else 1)
    assert np.array_equal(pe, f["pe_of_group"])


def test_memory_word_layout_is_the_engine_kernel_word(small_schedule_dir):
    """Every layer's memory image packs the fields of the engine's ROM word LSB first, each as
    wide as its largest value needs (the index bits of banks, bank words and accumulators)."""
    sj = json.loads((small_schedule_dir / "schedule.json").read_text())
    for e in (x for x in sj["layers"] if x["type"] == "spectral_conv"):
        f = np.load(small_schedule_dir / e["arrays"])
        need = {
            "valid": 1,
            "first": 1,
            "bank": max(1, math.ceil(math.log2(max(e["arch"]["banks"], 2)))),
            "addr": max(1, math.ceil(math.log2(max(int(f["addr_of"].max()) + 1, 2)))),
            "acc": max(1, math.ceil(math.log2(max(int(f["acc_addr"].max()) + 1, 2)))),
            "w_re": e["arch"]["weight_bits"],
            "w_im": e["arch"]["weight_bits"],
        }
        lay = e["memory_image"]["layout"]
        assert [x["name"] for x in lay] == ["w_im", "w_re", "acc", "addr", "bank", "first", "valid"]
        assert {x["name"]: x["width"] for x in lay} == need
        assert [x["lsb"] for x in lay] == [sum(y["width"] for y in lay[:i]) for i in range(7)]
        assert e["memory_image"]["width"] == sum(need.values())


def test_kernel_word_width_before_assignment_hand_worked():
    """Without a mask (every weight kept) the exploration sizes the word for balanced banks and
    PEs: LeNet conv2 (C = 6, O = 16, 40 bins) on 3 PEs and 4 banks: 60 words a bank (6 bits),
    214 groups a PE (8 bits), bank 2 bits, valid and first, two 16-bit weight parts.  (With a
    mask, the assignment's: tests/spectral/test_dse.py.)"""
    from codesign.spectral.arch import SpectralArch
    from codesign.spectral.dse import SpectralTask, kernel_word_width

    task = SpectralTask("conv2", 6, 16, 8, 5, 9, None, (16, 4, 4))
    arch = SpectralArch("conv2", 8, pes=3, banks=4)
    assert kernel_word_width(task, arch, 0) == 6 + 8 + 2 + 2 + 2 * 16
