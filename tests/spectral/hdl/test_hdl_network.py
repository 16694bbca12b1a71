"""The accelerator top level and its AXI4-Stream adapters (codesign.hdl.network, hdl.axis) on a
tiny network (one dense layer over 16-pixel images) in the MyHDL simulator: scores, tlast, the
predicted class on tuser, frame_error, back-pressure and pixels-per-beat, against the fixed-point
model and the cycle model.  The LeNet accelerator in Verilog: tests/test_accelerator.py."""

import numpy as np
import pytest
from myhdl import StopSimulation, instance

from codesign.hdl import sim
from codesign.spectral.fixedpoint import FixedPointConfig, OverflowCounter
from codesign.spectral.fxpmodel import dense_layer_fixed, input_fixed
from codesign.spectral.hdl.network import accelerator, accelerator_signals
from codesign.spectral.hdl.timing import network_timing

CFG = FixedPointConfig()
PIXELS, CLASSES = 16, 5


def _stage(seed=0):
    rng = np.random.default_rng(seed)
    w = rng.integers(-3000, 3000, (PIXELS, CLASSES))
    bias = tuple(int(b) for b in rng.integers(-500, 500, CLASSES))
    return {"kind": "dense", "weight": w, "mask": None, "bias": bias, "macs": 2, "relu": False}


def _run(images, per_beat=1, gap_in=0.0, gap_out=0.0, bad_tlast=None, seed=0):
    return sim.in_thread(_simulate, images, per_beat, gap_in, gap_out, bad_tlast, seed)


def _simulate(images, per_beat, gap_in, gap_out, bad_tlast, seed):
    """Stream ``images`` (uint8 n×16) through the top level; returns beats [(edge, score, last,
    user)], the edges of each image's first beat, and frame_error at the end."""
    st = _stage()
    sig = accelerator_signals(CLASSES, CFG, per_beat)
    dut = accelerator(
        **sig, stages=[st], pixels=PIXELS, classes=CLASSES, cfg=CFG, per_beat=per_beat
    )
    rng = np.random.default_rng(seed)
    beats, firsts, edge = [], [], [0]
    words = images.reshape(len(images), PIXELS // per_beat, per_beat)
    flat = [sum(int(p) << (8 * j) for j, p in enumerate(b)) for img in words for b in img]
    clk = sig["aclk"]

    @instance
    def drive():
        i = 0
        yield clk.posedge
        edge[0] = 1
        sig["aresetn"].next = 1
        while len(beats) < len(images) * CLASSES and edge[0] < 5000:
            if not (sig["s_axis_tvalid"] and not sig["s_axis_tready"]):
                sig["s_axis_tvalid"].next = i < len(flat) and rng.random() >= gap_in
                if i < len(flat):
                    sig["s_axis_tdata"].next = flat[i]
                    sig["s_axis_tlast"].next = (
                        i % (PIXELS // per_beat) == PIXELS // per_beat - 1
                    ) ^ (i == bad_tlast)
            sig["m_axis_tready"].next = rng.random() >= gap_out
            yield clk.posedge
            edge[0] += 1
            if sig["m_axis_tvalid"] and sig["m_axis_tready"]:
                v = int(sig["m_axis_tdata"])
                beats.append(
                    (
                        edge[0],
                        v - (1 << 16) if v >> 15 else v,
                        bool(sig["m_axis_tlast"]),
                        int(sig["m_axis_tuser"]),
                    )
                )
            if sig["s_axis_tvalid"] and sig["s_axis_tready"]:
                if i % (PIXELS // per_beat) == 0:
                    firsts.append(edge[0])
                i += 1
        flags.append(bool(sig["frame_error"]))  # the simulator clears signals when it stops
        raise StopSimulation

    flags = []
    sim.run(dut, sim.clock(clk), drive)
    return beats, firsts, flags[0], st


def _expected(images, st):
    x = input_fixed(images.reshape(len(images), 1, 4, 4).astype(np.uint8), CFG)
    return dense_layer_fixed(
        x,
        {"d.weight": st["weight"], "d.bias": np.array(st["bias"])},
        {"name": "d", "relu": False},
        CFG,
        OverflowCounter(),
    )


def _images(n, seed=3):
    img = np.random.default_rng(seed).integers(0, 256, (n, PIXELS), dtype=np.uint8)
    img[0] = 255  # the brightest image first
    return img


@pytest.mark.parametrize("per_beat", [1, 4])
def test_scores_tlast_and_class_at_the_modelled_clocks(per_beat):
    """Two images: a third would wait for the dense unit's input buffer, which the cycle model
    leaves to the first layer of a network (a conv engine in LeNet)."""
    images = _images(2)
    beats, firsts, frame_error, st = _run(images, per_beat)
    want = _expected(images, st)
    assert [b[1] for b in beats] == list(want.ravel())
    assert [b[2] for b in beats] == [c == CLASSES - 1 for _ in range(2) for c in range(CLASSES)]
    assert [b[3] for b in beats[CLASSES - 1 :: CLASSES]] == list(want.argmax(axis=1))
    assert not frame_error
    t = network_timing(
        [{"kind": "dense", "n_in": PIXELS, "n_out": CLASSES, "macs": 2, "steps": PIXELS}],
        images=2,
        per_beat=per_beat,
    )
    assert firsts == t["in_first"]
    assert [b[0] for b in beats[CLASSES - 1 :: CLASSES]] == t["out_last"]
    assert [b[0] for b in beats[::CLASSES]] == t["out_first"]


def test_tuser_is_the_running_argmax_with_ties_to_the_lower_class():
    images = np.zeros((1, PIXELS), dtype=np.uint8)  # scores = biases
    beats, *_, st = _run(images)
    b = np.array(st["bias"])
    assert [u for *_, u in beats] == [int(np.argmax(b[: c + 1])) for c in range(CLASSES)]


@pytest.mark.parametrize("per_beat", [1, 2])
def test_random_back_pressure_loses_and_duplicates_nothing(per_beat):
    images = _images(4, seed=5)
    beats, _, frame_error, st = _run(images, per_beat, gap_in=0.4, gap_out=0.6, seed=9)
    assert [b[1] for b in beats] == list(_expected(images, st).ravel())
    assert not frame_error


def test_a_wrong_tlast_sets_frame_error_and_framing_holds():
    images = _images(2)
    beats, _, frame_error, st = _run(images, bad_tlast=5)
    assert frame_error
    assert [b[1] for b in beats] == list(_expected(images, st).ravel())


def test_pixels_per_beat_must_divide_the_image():
    sig = accelerator_signals(CLASSES, CFG, 3)
    with pytest.raises(ValueError, match="divide the 16 pixels"):
        accelerator(**sig, stages=[_stage()], pixels=PIXELS, classes=CLASSES, cfg=CFG, per_beat=3)


def test_converted_top_level_lints_clean(tmp_path):
    sig = accelerator_signals(CLASSES, CFG, 4)
    inst = lambda: accelerator(  # noqa: E731
        **sig, stages=[_stage()], pixels=PIXELS, classes=CLASSES, cfg=CFG, per_beat=4
    )
    source = sim.in_thread(lambda: sim.convert(inst(), tmp_path, "tiny", testbench=False))
    assert sim.lint([source], "tiny", tmp_path) == []
