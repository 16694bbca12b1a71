"""The whole accelerator: generated from the default schedule, run in Verilator (and Icarus) on
real MNIST images, compared with the fixed-point model beat by beat and clock by clock."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from codesign.cli import main
from codesign.eda.tools import ToolNotFound
from codesign.spectral import fxpmodel
from codesign.spectral.bench import run_bench
from codesign.spectral.cosim import CosimError, cosim_accelerator, read_inputs
from codesign.spectral.design import accelerator_from_artifacts
from codesign.spectral.generate import GenerateError, generate_accelerator
from codesign.spectral.hdl.timing import network_pace, network_timing, stage_interval


@pytest.fixture(scope="module")
def accel(small_accel_dir):
    return small_accel_dir


@pytest.fixture(scope="module")
def man(accel):
    return json.loads((accel / "manifest.json").read_text())


def test_manifest_describes_the_axi_interface_and_the_cycle_model(man, small_schedule_dir):
    ports = {p["name"]: p for p in man["ports"]}
    assert [p["name"] for p in man["ports"]] == [
        "aclk",
        "aresetn",
        "s_axis_tdata",
        "s_axis_tvalid",
        "s_axis_tready",
        "s_axis_tlast",
        "m_axis_tdata",
        "m_axis_tvalid",
        "m_axis_tready",
        "m_axis_tlast",
        "m_axis_tuser",
        "frame_error",
    ]
    assert ports["s_axis_tdata"]["width"] == 8 and ports["s_axis_tdata"]["direction"] == "input"
    assert ports["m_axis_tdata"]["width"] == 16 and ports["m_axis_tuser"]["width"] == 4
    assert man["reset"] == {"port": "aresetn", "active": "low", "synchronous": True}
    assert man["s_axis"]["beats_per_image"] == 784 and man["m_axis"]["beats_per_image"] == 10
    assert man["s_axis"]["pixels_per_beat"] == 1
    assert [x["name"] for x in man["layers"]] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    d = accelerator_from_artifacts(small_schedule_dir)
    t = network_timing(d.timing_stages, images=4)
    assert man["cycle_model"]["latency_cycles"] == t["latency"]
    assert man["cycle_model"]["interval_cycles"] == t["interval"]
    # conv2 is slower than conv1: conv1's loader is paced at conv2's interval, so the bit- and
    # clock-exact runs here also check the pacing in the RTL
    own = [stage_interval(st) for st in d.timing_stages]
    assert man["cycle_model"]["pace_cycles"] == network_pace(d.timing_stages) == max(own[1:])
    assert max(own[1:]) > own[0] and t["interval"] == max(own)
    # the DSE spreads conv1 over several read-out lanes and tile slices: far below one lane's
    # floor (6 channels × 64 clocks × 49 tiles), above what its tile slices can do at one
    # sample per clock per FFT unit (64 clocks × ⌈49 / slices⌉ tiles)
    conv1 = next(x for x in man["layers"] if x["name"] == "conv1")
    assert conv1["ifft_units"] * conv1["tile_slices"] > 1
    assert 64 * -(-49 // conv1["tile_slices"]) <= t["interval"] < 49 * 6 * 64 / 4


def test_real_images_bit_exact_at_the_modelled_clocks(accel, mnist):
    x, y = mnist.test_x[:8], mnist.test_y[:8]
    r = cosim_accelerator(accel, x, y, jobs=2)
    assert r["bit_exact"] and r["score_mismatches"] == 0, r["first_mismatch"]
    assert r["classes_equal_model"] and not r["frame_error"]
    assert r["accuracy_rtl"] == r["accuracy_model"]
    assert r["timing"]["exact"], r["timing"]["first_difference"]
    assert r["timing"]["latency_cycles"]["rtl"] == r["timing"]["latency_cycles"]["model"]
    assert r["timing"]["interval_cycles"]["rtl"] == r["timing"]["interval_cycles"]["model"]
    assert r["chunks"] == 2


@pytest.mark.parametrize("gap_in,gap_out,seed", [(30, 70, 1), (80, 20, 2)])
def test_random_back_pressure_loses_and_duplicates_nothing(accel, mnist, gap_in, gap_out, seed):
    r = cosim_accelerator(
        accel, mnist.test_x[8:13], gap_in=gap_in, gap_out=gap_out, seed=seed, jobs=1
    )
    assert r["bit_exact"], r["first_mismatch"]
    assert r["classes_equal_model"] and not r["timing"]["checked"]


def test_reset_mid_image_and_mid_packet_recovers(accel, mnist, man):
    x = mnist.test_x[:2]
    mid_input = cosim_accelerator(accel, x, reset_at=400)  # 398 pixels of image 0 taken
    assert mid_input["bit_exact"], mid_input["first_mismatch"]
    first_score = man["cycle_model"]["out_last"][0] - 9
    mid_packet = cosim_accelerator(accel, x, reset_at=first_score + 3)
    assert mid_packet["beats_before_reset"] == 4  # the reset cut image 0's scores
    assert mid_packet["bit_exact"] and mid_packet["classes_equal_model"]


def test_saturation_corners_from_a_user_file(accel, tmp_path):
    """All-white, all-black, a checkerboard and a bright square: the extremes of the inputs."""
    imgs = np.zeros((4, 28, 28), dtype=np.uint8)
    imgs[0] = 255
    imgs[2] = (np.indices((28, 28)).sum(axis=0) % 2) * 255
    imgs[3, 4:24, 4:24] = 255
    f = tmp_path / "corners.npz"
    np.savez(f, images=imgs, labels=np.array([0, 1, 2, 3]))
    rep = tmp_path / "report.json"
    r = CliRunner().invoke(
        main,
        [
            "cosim",
            "--rtl",
            str(accel),
            "--inputs",
            str(f),
            "--images",
            "4",
            "--report",
            str(rep),
            "--quiet",
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads(rep.read_text())
    assert report["bit_exact"] and report["images"] == 4 and report["timing"]["exact"]


def test_a_wrong_tlast_raises_frame_error_without_losing_framing(accel, mnist):
    r = cosim_accelerator(accel, mnist.test_x[:1], bad_tlast=100)
    assert r["frame_error"] and r["bit_exact"]


def test_a_mismatch_names_the_image_class_and_clock(accel, mnist, monkeypatch):
    real = fxpmodel.run

    def off_by_one(*a, **kw):
        out = real(*a, **kw).copy()
        out[1, 7] += 1
        return out

    monkeypatch.setattr(fxpmodel, "run", off_by_one)
    r = cosim_accelerator(accel, mnist.test_x[:2], jobs=1)
    assert not r["bit_exact"] and r["score_mismatches"] == 1
    bad = r["first_mismatch"]
    assert (bad["image"], bad["class"]) == (1, 7) and bad["got"] == bad["expected"] - 1
    assert bad["edge"] > 0 and bad["tlast"] is False


def test_icarus_compiles_and_runs_the_same_bench(accel, man, mnist, tmp_path):
    """Icarus is about 300 times slower than Verilator (a whole image: benchmarks/
    cosim_network.py); here it runs the bench until the first image is in."""
    events = run_bench(accel, man, mnist.test_x[:1], tmp_path / "run", None, {"timeout": 800})
    assert events[0] == ["I", "2"] and events[-1] == ["T", "800"]


def test_a_refused_generation_leaves_the_output_as_it_was(accel, small_schedule_dir, tmp_path):
    """A bad top name is refused before anything is written over an existing output.  (Same
    schedule → same bytes, in any process: tests/spectral/test_determinism.py.)"""
    again = tmp_path / "again"
    shutil.copytree(accel, again, symlinks=True)
    before = {p: p.read_bytes() for p in sorted(again.rglob("*")) if p.is_file()}
    with pytest.raises(GenerateError, match="Verilog identifier"):
        generate_accelerator(small_schedule_dir, again, top="1bad")
    assert {p: p.read_bytes() for p in sorted(again.rglob("*")) if p.is_file()} == before


def test_errors_name_the_file_and_the_fix(accel, wide_schedule_dir, tmp_path, monkeypatch):
    with pytest.raises(GenerateError, match="ifft_units=1"):
        generate_accelerator(wide_schedule_dir, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(CosimError, match="manifest.json: missing"):
        cosim_accelerator(tmp_path, np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(CosimError, match="784 pixels"):
        cosim_accelerator(accel, np.zeros((1, 14, 14), np.uint8))
    np.save(tmp_path / "f.npy", np.zeros((2, 28, 28), np.float32))
    with pytest.raises(CosimError, match="uint8"):
        read_inputs(tmp_path / "f.npy")
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CODESIGN_VERILATOR", str(tmp_path / "no-verilator"))
    with pytest.raises(ToolNotFound, match="CODESIGN_VERILATOR"):
        cosim_accelerator(accel, np.zeros((1, 28, 28), np.uint8))
