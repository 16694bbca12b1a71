"""A link between two conv engines that carries several channels per clock (arch ``out_words``
of the producer, ``in_words`` of the consumer), in the whole generated accelerator."""

import json
import shutil

import pytest

from codesign.hdl.sim import in_thread
from codesign.spectral.cosim import cosim_accelerator, verdict
from codesign.spectral.design import accelerator_from_artifacts
from codesign.spectral.generate import GenerateError, generate_accelerator
from codesign.spectral.hdl.timing import network_timing


def test_a_two_word_link_between_the_engines_in_the_accelerator(
    linked_schedule_dir, mnist, tmp_path
):
    """The whole accelerator with conv1 → conv2 carrying two channels per clock: bit-exact in
    Verilator at every clock edge of the cycle model, and again under random back-pressure at
    both ends; the link's 864 words take 432 clocks."""
    man = in_thread(generate_accelerator, linked_schedule_dir, tmp_path / "rtl")
    conv1 = next(x for x in man["layers"] if x["name"] == "conv1")
    assert (conv1["in_words"], conv1["out_words"]) == (1, 2)
    link = network_timing(man["cycle_model"]["stages"], images=1)["stages"][0]
    assert link["out_last"][0] - link["out_first"][0] + 1 == 6 * 12 * 12 // 2
    r = cosim_accelerator(tmp_path / "rtl", mnist.test_x[:4], mnist.test_y[:4], jobs=1)
    assert r["bit_exact"] and r["classes_equal_model"], r["first_mismatch"]
    assert r["timing"]["exact"] and verdict(r) is None, r["timing"]["first_difference"]
    r = cosim_accelerator(tmp_path / "rtl", mnist.test_x[4:6], gap_in=40, gap_out=60, seed=3)
    assert r["bit_exact"] and not r["frame_error"], r["first_mismatch"]


def test_a_link_whose_ends_disagree_is_refused_with_the_fix(linked_schedule_dir, tmp_path):
    """conv1 emits two words per clock; a conv2 edited to take one is refused before anything
    is converted, naming the layer and the --set that fixes it."""
    copy = tmp_path / "schedule"
    shutil.copytree(linked_schedule_dir, copy)
    sj = json.loads((copy / "schedule.json").read_text())
    next(e for e in sj["layers"] if e["name"] == "conv2")["arch"]["in_words"] = 1
    (copy / "schedule.json").write_text(json.dumps(sj))
    with pytest.raises(GenerateError, match=r"'conv2' takes 1 words.*conv2\.in_words=2"):
        accelerator_from_artifacts(copy)
